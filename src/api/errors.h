// Lambda's error shape: status, `x-amzn-ErrorType` header, `{"Type","Message"}` body.
#pragma once

#include <string_view>

#include "common/result.h"
#include "http/message.h"

namespace alto {

http::Response LambdaError(int status, std::string_view type, std::string_view message,
                           std::string_view fault = "User");
// Maps an internal Error to the closest Lambda error.
http::Response LambdaErrorFrom(const Error& error);

}  // namespace alto
