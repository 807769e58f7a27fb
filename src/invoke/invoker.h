// The synchronous invocation path: take a sandbox, run the event in it under the function's
// deadline, give the sandbox back (or destroy it when broken), and record the invocation's log.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "http/body_stream.h"
#include "invoke/function_logs.h"
#include "invoke/invocation_metrics.h"
#include "schedule/scheduler.h"
#include "store/function.h"

namespace alto {

struct InvokeRequest {
  FunctionConfig function;
  std::string payload;
  std::string client_context;  // decoded JSON text
  std::string invoked_arn;
  std::string request_id;  // empty: a new one; async events keep theirs across attempts
  int hop = 0;  // recursion depth, carried in the trace header's Lineage for the runtime's SDK
  // Where a streamed answer goes as it arrives; see Invocation::sink.
  std::shared_ptr<http::BodyStream> sink;
  // Awaited once a sandbox is leased, right before the event is handed to it; false abandons the
  // invocation (the sandbox goes back unused, Invoke returns kConflict). The async path records
  // its attempt here, so that only an attempt that reached a sandbox can count as one that was
  // running when the server died.
  std::function<boost::asio::awaitable<bool>()> before_handoff;
};

struct InvokeResponse {
  std::string request_id;
  bool function_error = false;
  std::string error_type;
  bool streamed = false;  // the body went to the request's sink; `body` holds only an error
  std::string body;
  std::string executed_version;
  std::string log;  // START..REPORT
};

class Invoker {
 public:
  Invoker(Scheduler& scheduler, FunctionLogs& logs, InvocationMetrics& metrics, const Clock& clock);
  boost::asio::awaitable<Result<InvokeResponse>> Invoke(InvokeRequest request);
  size_t in_flight() const { return in_flight_; }

 private:
  Scheduler& scheduler_;
  FunctionLogs& logs_;
  InvocationMetrics& metrics_;
  const Clock& clock_;
  size_t in_flight_ = 0;
};

// Lambda counts recursion in the trace header's Lineage=<hash>:<count>; Alto's hash is "alto".
constexpr std::string_view kAltoLineagePrefix = "616c746f:";
// The hop count in an X-Amzn-Trace-Id header sent back by a function's SDK; -1 when absent.
int LineageHop(std::string_view trace_header);

// Lambda's X-Ray trace header for a new trace.
std::string NewTraceId(int64_t epoch_ms);
// The REPORT line of an invocation.
std::string ReportLine(const std::string& request_id, double duration_ms, int memory_mb,
                       int64_t max_memory_used_mb, double init_ms);

}  // namespace alto
