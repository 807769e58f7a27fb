// Byte encodings used across the API: base64, hex, SHA-256, UUIDs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace alto {

std::string Base64Encode(std::string_view bytes);
// Returns nullopt on characters outside the standard alphabet or bad padding.
std::optional<std::string> Base64Decode(std::string_view text);
std::string HexEncode(std::string_view bytes);
std::string Sha256(std::string_view bytes);  // raw 32 bytes
std::string NewUuid();                       // random RFC 4122 v4, lower case
std::string RandomHex(size_t bytes);
std::string PercentDecode(std::string_view text);
std::string PercentEncode(std::string_view text);  // everything but unreserved characters

}  // namespace alto
