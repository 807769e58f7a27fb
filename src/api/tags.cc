#include "api/tags.h"

#include <nlohmann/json.hpp>

namespace alto {

namespace {

Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

// Lambda counts characters, not bytes: a UTF-8 string's code points are its bytes that do not
// continue a sequence.
size_t CharCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool HasReservedPrefix(std::string_view key) {
  if (key.size() < 4) return false;
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  return lower(key[0]) == 'a' && lower(key[1]) == 'w' && lower(key[2]) == 's' && key[3] == ':';
}

}  // namespace

Status ValidateTagKey(std::string_view key) {
  const size_t n = CharCount(key);
  if (n < 1 || n > kMaxTagKeyChars) {
    return Invalid(
        "1 validation error detected: Value at 'tags' failed to satisfy constraint: Map keys must "
        "satisfy constraint: [Member must have length less than or equal to 128, Member must have "
        "length greater than or equal to 1]");
  }
  if (HasReservedPrefix(key)) {
    return Invalid(
        "Invalid tag key. Customers cannot set or remove tag keys starting with aws: "
        "(case insensitive)");
  }
  return {};
}

Status CheckTagCount(const FunctionTags& merged) {
  if (merged.size() > kMaxTagsPerResource) {
    return Invalid("Number of tags exceeds resource tag limit. A resource can have at most " +
                   std::to_string(kMaxTagsPerResource) + " tags; this request would leave it " +
                   std::to_string(merged.size()));
  }
  return {};
}

Status ValidateTags(const FunctionTags& tags) {
  for (const auto& [key, value] : tags) {
    if (auto st = ValidateTagKey(key); !st) return st;
    if (CharCount(value) > kMaxTagValueChars) {
      // The value is not echoed: tags may hold what their owner would rather not see in logs.
      return Invalid(
          "1 validation error detected: Value at 'tags' failed to satisfy constraint: Map value "
          "must satisfy constraint: [Member must have length less than or equal to 256, Member "
          "must have length greater than or equal to 0] (key '" +
          key + "')");
    }
  }
  return CheckTagCount(tags);
}

Result<FunctionTags> TagsFromJson(const nlohmann::json& value) {
  if (!value.is_object()) return Invalid("Tags must be a map of tag keys to string values");
  FunctionTags tags;
  for (const auto& [key, v] : value.items()) {
    if (v.is_null()) {
      tags[key] = "";
    } else if (v.is_string()) {
      tags[key] = v.get<std::string>();
    } else {
      return Invalid("The value of tag '" + key + "' must be a string");
    }
  }
  if (auto st = ValidateTags(tags); !st) return st.error();
  return tags;
}

}  // namespace alto
