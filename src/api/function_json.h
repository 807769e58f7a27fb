// Lambda's FunctionConfiguration JSON for a stored function.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "store/function.h"

namespace alto {

struct AccountInfo {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";  // fixed: Alto has one account per node
};

std::string FunctionArn(const AccountInfo& account, const std::string& name,
                        const std::string& qualifier = "");
nlohmann::json FunctionConfigurationJson(const FunctionConfig& f, const AccountInfo& account);

}  // namespace alto
