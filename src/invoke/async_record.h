// Lambda's invocation record (what OnSuccess/OnFailure destinations receive), built without ever
// parsing the payload or the response: both are spliced in as bytes when they are JSON, else as
// JSON strings. A payload of any depth or size therefore costs one linear validation, never a
// recursive copy of a DOM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace alto {

struct AsyncRecordContext {
  int64_t timestamp_ms = 0;
  std::string request_id;
  std::string function_arn;
  std::string condition;  // Success, RetriesExhausted, EventAgeExceeded, ...
  int approximate_invoke_count = 0;
  std::string executed_version;
  bool function_error = false;
};

// `response` empty: the record has no responsePayload.
std::string AsyncRecordJson(const AsyncRecordContext& context, std::string_view payload,
                            std::string_view response);

}  // namespace alto
