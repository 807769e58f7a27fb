#include "invoke/invoker.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/encoding.h"

namespace alto {

Invoker::Invoker(Scheduler& scheduler, FunctionLogs& logs, InvocationMetrics& metrics,
                 const Clock& clock)
    : scheduler_(scheduler), logs_(logs), metrics_(metrics), clock_(clock) {}

std::string NewTraceId(int64_t epoch_ms) {
  // One draw of 20 random bytes: 12 for the root's id, 8 for the parent's.
  const std::string random = RandomHex(20);
  char secs[16];
  snprintf(secs, sizeof secs, "%08llx", static_cast<unsigned long long>(epoch_ms / 1000));
  std::string id;
  id.reserve(96);
  id.append("Root=1-").append(secs).append("-").append(random, 0, 24);
  id.append(";Parent=").append(random, 24, 16).append(";Sampled=0");
  return id;
}

int LineageHop(std::string_view trace) {
  size_t pos = trace.find(std::string("Lineage=") + std::string(kAltoLineagePrefix));
  if (pos == std::string_view::npos) return -1;
  pos += 8 + kAltoLineagePrefix.size();
  int hop = 0;
  bool any = false;
  while (pos < trace.size() && trace[pos] >= '0' && trace[pos] <= '9' && hop < 1000000) {
    hop = hop * 10 + (trace[pos++] - '0');
    any = true;
  }
  return any ? hop : -1;
}

namespace {
// Appends a number as printf's %.2f (or %d) would, without printf's per-call overhead.
void AppendFixed2(std::string& out, double v) {
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2).ptr;
  out.append(buf, end);
}
void AppendInt(std::string& out, long long v) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}
}  // namespace

std::string ReportLine(const std::string& request_id, double duration_ms, int memory_mb,
                       int64_t max_memory_used_mb, double init_ms) {
  std::string line;
  line.reserve(160 + request_id.size());
  line.append("REPORT RequestId: ").append(request_id).append("\tDuration: ");
  AppendFixed2(line, duration_ms);
  line.append(" ms\tBilled Duration: ");
  AppendInt(line, static_cast<long long>(BilledMillis(duration_ms)));
  line.append(" ms\tMemory Size: ");
  AppendInt(line, memory_mb);
  line.append(" MB\t");
  if (max_memory_used_mb >= 0) {
    line.append("Max Memory Used: ");
    AppendInt(line, max_memory_used_mb);
    line.append(" MB\t");
  }
  if (init_ms > 0) {
    line.append("Init Duration: ");
    AppendFixed2(line, init_ms);
    line.append(" ms\t");
  }
  line += '\n';
  return line;
}

boost::asio::awaitable<Result<InvokeResponse>> Invoker::Invoke(InvokeRequest req) {
  struct InFlight {
    size_t& n;
    explicit InFlight(size_t& c) : n(c) { ++n; }
    ~InFlight() { --n; }
  } in_flight(in_flight_);

  const auto& f = req.function;
  auto lease = co_await scheduler_.Acquire(f);
  if (!lease) {
    if (lease.error().code == Errc::kThrottled) {
      metrics_.RecordThrottle(f.name);
    } else {
      metrics_.RecordPlatformError(f.name);
    }
    co_return lease.error();
  }
  if (req.before_handoff) {
    const bool go = co_await req.before_handoff();
    if (!go) {
      scheduler_.Release(std::move(lease.value()), true);
      co_return MakeError(Errc::kConflict, "the invocation was abandoned before it started");
    }
  }
  const bool cold = lease.value()->cold;
  Invocation inv;
  inv.request_id = req.request_id.empty() ? NewUuid() : std::move(req.request_id);
  inv.payload = std::move(req.payload);
  inv.timeout_s = f.timeout_s;
  inv.deadline = clock_.Now() + std::chrono::seconds(f.timeout_s);
  int64_t now_ms = clock_.WallMillis();
  inv.deadline_epoch_ms = now_ms + int64_t{f.timeout_s} * 1000;
  inv.invoked_function_arn = req.invoked_arn;
  inv.trace_id =
      NewTraceId(now_ms) + ";Lineage=" + std::string(kAltoLineagePrefix) + std::to_string(req.hop);
  inv.client_context = std::move(req.client_context);
  inv.sink = std::move(req.sink);
  const std::string request_id = inv.request_id;

  Outcome outcome = co_await lease.value()->session->Invoke(std::move(inv));
  scheduler_.Release(std::move(lease.value()), !outcome.sandbox_broken);
  metrics_.RecordInvocation(f.name, cold, outcome.kind != OutcomeKind::kSuccess,
                            outcome.init_duration_ms, outcome.duration_ms, f.memory_mb);

  InvokeResponse res;
  res.request_id = request_id;
  res.function_error = outcome.kind != OutcomeKind::kSuccess;
  res.error_type = outcome.error_type;
  res.streamed = outcome.streamed;
  res.body = std::move(outcome.body);
  res.executed_version = f.version;
  res.log = "START RequestId: " + request_id + " Version: " + f.version + "\n";
  res.log += outcome.log;
  if (!res.log.empty() && res.log.back() != '\n') res.log += '\n';
  if (outcome.error_type == "Sandbox.Timedout") {
    res.log += FormatIsoMillis(clock_.WallMillis()) + " " + request_id + " Task timed out after " +
               std::to_string(f.timeout_s) + ".00 seconds\n";
  }
  res.log += "END RequestId: " + request_id + "\n";
  res.log += ReportLine(request_id, outcome.duration_ms, f.memory_mb, outcome.max_memory_used_mb,
                        outcome.init_duration_ms);
  logs_.Record(f.name, InvocationLog{request_id, now_ms, res.log});
  co_return res;
}

}  // namespace alto
