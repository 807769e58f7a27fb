// Lambda's FunctionConfiguration JSON for a stored function.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "store/function.h"

namespace alto {

struct AccountInfo {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";  // fixed: Alto has one account per node
};

// What the API shows instead of a secret environment value. Sent back in an update (a
// get-then-update round trip), it keeps the stored value.
inline constexpr std::string_view kSecretRedacted = "<redacted: secret>";

std::string FunctionArn(const AccountInfo& account, const std::string& name,
                        const std::string& qualifier = "");
// arn_qualifier: the qualifier of FunctionArn; by default a published version's number, none for
// $LATEST (Lambda's unqualified ARN).
nlohmann::json FunctionConfigurationJson(const FunctionConfig& f, const AccountInfo& account,
                                         const std::string& arn_qualifier = "");
nlohmann::json AliasConfigurationJson(const AliasConfig& a, const AccountInfo& account);

}  // namespace alto
