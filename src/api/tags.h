// Lambda's rules for resource tags as pure functions: reading a Tags map from a request and the
// limits on keys, values and their number.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "common/result.h"
#include "store/function.h"

namespace alto {

constexpr size_t kMaxTagsPerResource = 50;
constexpr size_t kMaxTagKeyChars = 128;
constexpr size_t kMaxTagValueChars = 256;

// A tag key a caller may set or remove: 1-128 characters, not starting with `aws:` in any case
// (AWS reserves that prefix for the tags it sets itself).
Status ValidateTagKey(std::string_view key);
// Every key and value of `tags` is within Lambda's limits, and there are at most 50 of them.
Status ValidateTags(const FunctionTags& tags);
// The count limit alone, for the tags a resource would have after a TagResource merges.
Status CheckTagCount(const FunctionTags& merged);
// A `Tags` request field: an object of strings (a null value is an empty one), validated.
Result<FunctionTags> TagsFromJson(const nlohmann::json& value);

}  // namespace alto
