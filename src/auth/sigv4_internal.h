// Helpers shared by the sigv4*.cc files; not part of the public interface.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/sigv4.h"

namespace alto::auth::internal {

// Without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view s);
// Calls fn(name, value) for each non-empty '&'-separated pair of a raw query, decoded as
// http::Request::QueryParam decodes: percent-escapes in both, '+' a space in values only.
void ForEachQueryPair(std::string_view query,
                      const std::function<void(std::string, std::string)>& fn);
// X-Amz-Expires within 1..kMaxPresignExpires.
std::optional<SigV4Error> CheckExpires(int64_t expires_s);

}  // namespace alto::auth::internal
