// Destination ARNs of asynchronous invocations (OnSuccess/OnFailure, dead-letter queues), as pure
// functions: the API validates them and the async invoker delivers to them, and neither the
// validation code nor its fuzz harness should need the whole invoker to parse an ARN.
#pragma once

#include <string>
#include <string_view>

#include "api/function_json.h"
#include "common/result.h"

namespace alto {

// Destination ARNs Alto can deliver to: an Alto function or an Alto queue (SQS-style ARN).
struct Destination {
  enum class Kind { kFunction, kQueue } kind;
  std::string name;
};
Result<Destination> ParseDestinationArn(std::string_view arn);
std::string QueueArn(const AccountInfo& account, const std::string& name);
bool IsValidQueueName(std::string_view name);

}  // namespace alto
