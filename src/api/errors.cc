#include "api/errors.h"

#include "common/json.h"

namespace alto {

http::Response LambdaError(int status, std::string_view type, std::string_view message,
                           std::string_view fault) {
  nlohmann::json body = {{"Type", fault}, {"Message", message}};
  // Messages quote what the caller sent (names, values), which may be invalid UTF-8.
  http::Response r = http::JsonResponse(status, DumpJson(body));
  r.Set("x-amzn-ErrorType", std::string(type));
  return r;
}

http::Response LambdaErrorFrom(const Error& e) {
  switch (e.code) {
    case Errc::kInvalidArgument:
      return LambdaError(400, "InvalidParameterValueException", e.message);
    case Errc::kNotFound:
      return LambdaError(404, "ResourceNotFoundException", e.message);
    case Errc::kConflict:
      return LambdaError(409, "ResourceConflictException", e.message);
    case Errc::kPreconditionFailed:
      return LambdaError(412, "PreconditionFailedException", e.message);
    case Errc::kTooLarge:
      return LambdaError(413, "RequestTooLargeException", e.message);
    case Errc::kUnsupported:
      return LambdaError(415, "UnsupportedMediaTypeException", e.message);
    case Errc::kThrottled: {
      nlohmann::json body = {
          {"Type", "User"},
          {"Message", e.message},
          {"Reason", e.reason.empty() ? "ConcurrentInvocationLimitExceeded" : e.reason}};
      http::Response r = http::JsonResponse(429, DumpJson(body));
      r.Set("x-amzn-ErrorType", "TooManyRequestsException");
      r.Set("Retry-After", "1");
      return r;
    }
    case Errc::kUnavailable: {
      // The state core (etcd) is out of reach: the write did not happen; retrying later works.
      http::Response r = LambdaError(503, "ServiceException", e.message, "Service");
      r.Set("Retry-After", "1");
      return r;
    }
    case Errc::kTimeout:
    case Errc::kInternal:
      break;
  }
  return LambdaError(500, "ServiceException", e.message, "Service");
}

}  // namespace alto
