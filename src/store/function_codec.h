// The stored text of a function version (used by the state-backed store and by the migration of
// the SQLite tables that held functions before the state core).
#pragma once

#include <string>

#include "common/result.h"
#include "store/function.h"
#include "store/secret_box.h"

namespace alto {

// Secret values are sealed with `secrets`; storing a function with secrets and no SecretBox fails.
Result<std::string> EncodeFunction(const FunctionConfig& f, const SecretBox* secrets);
Result<FunctionConfig> DecodeFunction(const std::string& text, const SecretBox* secrets);

}  // namespace alto
