// Qualifiers (`$LATEST`, a version number, an alias) and weighted alias routing, as pure functions.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/function.h"

namespace alto {

enum class QualifierKind { kLatest, kVersion, kAlias };
// "" and "$LATEST" are kLatest, all digits kVersion, anything else an alias name.
QualifierKind KindOf(std::string_view qualifier);
bool IsVersionNumber(std::string_view s);
// Lambda's alias names: 1-128 of [a-zA-Z0-9-_], not all digits.
bool IsValidAliasName(std::string_view name);

// A uniform draw in [0, 1): injected so routing is testable with a fake.
using RandomSource = std::function<double()>;
RandomSource DefaultRandomSource();

// The version an alias sends one invocation to, given a draw u in [0, 1): the additional version
// when u < its weight, else the alias's FunctionVersion.
const std::string& PickVersion(const AliasConfig& alias, double u);

// Reads RoutingConfig {"AdditionalVersionWeights": {"N": w}} into alias (an empty map or null
// clears the routing). Checks the shape only; the caller checks that the version exists.
Status ApplyRoutingConfig(const nlohmann::json& routing, AliasConfig& alias);
// The rules between FunctionVersion and the routing (Lambda's messages).
Status ValidateAliasTargets(const AliasConfig& alias);

}  // namespace alto
