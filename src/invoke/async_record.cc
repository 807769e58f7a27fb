#include "invoke/async_record.h"

#include <nlohmann/json.hpp>

#include "common/json.h"
#include "common/time.h"

namespace alto {

using nlohmann::json;

std::string AsyncRecordJson(const AsyncRecordContext& c, std::string_view payload,
                            std::string_view response) {
  json response_context = {{"statusCode", 200}, {"executedVersion", c.executed_version}};
  if (c.function_error) response_context["functionError"] = "Unhandled";
  // The small fields Alto owns go through the DOM; the payload and the response are appended to
  // its text.
  json head = {{"version", "1.0"},
               {"timestamp", FormatIsoMillis(c.timestamp_ms)},
               {"requestContext",
                {{"requestId", c.request_id},
                 {"functionArn", c.function_arn},
                 {"condition", c.condition},
                 {"approximateInvokeCount", c.approximate_invoke_count}}},
               {"responseContext", response_context}};
  std::string out = DumpJson(head);
  out.pop_back();  // the closing brace
  out += ",\"requestPayload\":";
  out += JsonOrString(payload);
  if (!response.empty()) {
    out += ",\"responsePayload\":";
    out += JsonOrString(response);
  }
  out += '}';
  return out;
}

}  // namespace alto
