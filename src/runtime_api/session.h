// The Runtime API (2018-06-01) of one sandbox, served on that sandbox's own listening socket,
// and the watch over its process (exit, log output). It hands one invocation at a time to the
// runtime's GET /next and completes it from /response, /error, /init/error, a deadline or the
// process's exit.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/body_stream.h"
#include "http/server.h"
#include "sandbox/unique_fd.h"

namespace alto {

// Lambda's limit on what a runtime may post (6 MiB + 100 bytes).
constexpr size_t kMaxRuntimeResponseBytes = 6 * 1024 * 1024 + 100;
// Lambda's limit on a streamed response (200 MiB).
constexpr size_t kMaxStreamedResponseBytes = 200 * 1024 * 1024;

struct Invocation {
  std::string request_id;
  std::string payload;
  std::chrono::steady_clock::time_point deadline;
  int64_t deadline_epoch_ms = 0;
  int timeout_s = 3;
  std::string invoked_function_arn;
  std::string trace_id;
  std::string client_context;  // decoded JSON text
  // Where a streamed answer goes as it arrives (function URLs in RESPONSE_STREAM mode,
  // InvokeWithResponseStream); without one, a streamed answer is collected whole.
  std::shared_ptr<http::BodyStream> sink;
};

enum class OutcomeKind {
  kSuccess,
  kFunctionError,  // /error, or a platform-detected failure of the function (exit, timeout...)
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::kSuccess;
  std::string body;             // the function's response, or the error document
  std::string error_type;       // for errors
  bool sandbox_broken = false;  // the sandbox must not be reused (timeout, exit, init failure)
  bool streamed = false;        // the body went to the invocation's sink, not into `body`
  std::string log;              // what the function printed during the invocation
  double duration_ms = 0;
  double init_duration_ms = 0;      // > 0 on the invocation that paid for a cold start
  int64_t max_memory_used_mb = -1;  // the sandbox's peak so far, as Lambda's REPORT shows
};

struct SessionOptions {
  std::string function_name;
  std::string function_version;
  int memory_mb = 128;
  // How a wait status reads in a Runtime.ExitError ("exit status 1", "signal: killed").
  std::function<std::string(int)> describe_exit;
  // Reaps the process after its pidfd fired; returns the wait status.
  std::function<int()> reap;
  // Peak memory of the sandbox in bytes (-1 unknown), read when an invocation completes.
  std::function<int64_t()> peak_memory;
  // Whether the sandbox's memory limit killed it, read once when the runtime has exited: the
  // exit is then reported as Runtime.OutOfMemory instead of Runtime.ExitError.
  std::function<bool()> oom_killed;
  // False for a provisioned sandbox: it was initialised ahead of demand, and Lambda's REPORT
  // shows no Init Duration for its first invocation.
  bool report_init = true;
  // The sandbox's Runtime API listener: connections it serves at once (the official runtime
  // interface clients hold one; an extension or two may add theirs), beyond which a function's
  // connections get 503, so that no function takes more of the server than its share; and where
  // its counters go (one ListenerStats shared by every sandbox, for /metrics).
  size_t runtime_api_max_connections = 8;
  std::shared_ptr<http::ListenerStats> runtime_api_stats;
};

class RuntimeSession : public std::enable_shared_from_this<RuntimeSession> {
 public:
  RuntimeSession(boost::asio::any_io_executor executor, UniqueFd listener, UniqueFd output,
                 int pidfd, SessionOptions options);
  ~RuntimeSession();
  RuntimeSession(const RuntimeSession&) = delete;
  RuntimeSession& operator=(const RuntimeSession&) = delete;

  void Start();
  // Runs one invocation to completion. Only one at a time per session.
  boost::asio::awaitable<Outcome> Invoke(Invocation invocation);
  // Stops serving; a pending invocation completes as failed.
  void Close();
  bool alive() const;
  // The runtime has finished its init (asked for its first event).
  bool initialized() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace alto
