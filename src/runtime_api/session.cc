#include "runtime_api/session.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json.h"
#include "http/server.h"

namespace alto {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxLogBytes = 256 * 1024;  // per invocation; older output is dropped

namespace {

http::Response RuntimeError(int status, std::string_view type, std::string_view message) {
  nlohmann::json j = {{"errorType", type}, {"errorMessage", message}};
  return http::JsonResponse(status, DumpJson(j));  // messages quote the runtime's bytes
}

http::Response Accepted() { return http::JsonResponse(202, R"({"status":"OK"})"); }

std::string ErrorDocument(std::string_view type, std::string_view message) {
  return DumpJson(nlohmann::json{{"errorType", type}, {"errorMessage", message}});
}

// A runtime's error document (/error, /init/error, a streamed error trailer) is the function's:
// parsed with the function-document depth limit, since it is copied and dumped; one that is not
// JSON or is nested deeper is treated as a plain body (discarded, then wrapped).
nlohmann::json ParseErrorDocument(std::string_view body) {
  auto doc = ParseJson(body, kFunctionJsonDepth);
  if (!doc) return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(*doc);
}

void AppendCapped(std::string& log, std::string_view data) {
  log.append(data);
  if (log.size() > kMaxLogBytes) log.erase(0, log.size() - kMaxLogBytes);
}

constexpr std::string_view kResponseModeHeader = "Lambda-Runtime-Function-Response-Mode";
constexpr std::string_view kErrorTypeHeader = "Lambda-Runtime-Function-Error-Type";
constexpr std::string_view kErrorBodyHeader = "Lambda-Runtime-Function-Error-Body";

double MillisSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

struct RuntimeSession::Impl : std::enable_shared_from_this<RuntimeSession::Impl> {
  Impl(asio::any_io_executor ex, UniqueFd out, int pidfd, SessionOptions opts)
      : executor(ex),
        alive(std::make_shared<Impl*>(this)),
        server(
            ex,
            [weak = std::weak_ptr<Impl*>(alive)](http::Request r) {
              return Dispatch(weak, std::move(r));
            },
            ServerOptions(opts)),
        output(ex),
        exit_watch(ex),
        next_wake(ex),
        done_wake(ex),
        options(std::move(opts)),
        started_at(Clock::now()),
        init_reported(!options.report_init) {
    int fd = out.Release();
    if (fd >= 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      output.assign(fd);
    }
    // The pidfd stays owned by the ChildProcess; watch a duplicate.
    int dup = ::fcntl(pidfd, F_DUPFD_CLOEXEC, 0);
    if (dup >= 0) exit_watch.assign(dup);
  }

  // The HTTP server's connections can outlive this object by a completion or two (a request read
  // just as the sandbox is torn down): they reach it only through this token, never by `this`.
  static asio::awaitable<http::Response> Dispatch(std::weak_ptr<Impl*> weak, http::Request r) {
    auto token = weak.lock();
    if (!token) co_return RuntimeError(500, "Runtime.Unknown", "Sandbox is shutting down");
    co_return co_await (*token)->Handle(std::move(r));
  }

  // Reads the constructor's options: the member is not built yet when the server is.
  http::ServerOptions ServerOptions(const SessionOptions& session) {
    http::ServerOptions o;
    o.name = "runtime";
    o.body_limit = kMaxRuntimeResponseBytes;
    // A runtime's requests are small but for its response body; its heads are a few hundred
    // bytes (Lambda-Runtime-Function-Error-Type, the error body header, trace ids).
    o.header_limit = 16 * 1024;
    o.max_connections = session.runtime_api_max_connections;
    if (session.runtime_api_stats) o.stats = session.runtime_api_stats;
    // A streaming function may pause between writes as long as its own timeout lets it: the
    // invocation's deadline bounds the body, not a fixed body timeout.
    o.body_timeout = std::chrono::milliseconds(0);
    o.stream_request = [](const http::Request& r) {
      return r.method == "POST" && r.path.ends_with("/response") &&
             r.HeaderValue(kResponseModeHeader) == "streaming";
    };
    o.stream_body_limit = kMaxStreamedResponseBytes;
    o.too_large = [weak = std::weak_ptr<Impl*>(alive)](std::string_view target) {
      auto token = weak.lock();
      if (!token) return RuntimeError(500, "Runtime.Unknown", "Sandbox is shutting down");
      return (*token)->TooLarge(target);
    };
    return o;
  }

  // Only an oversized /response ends the invocation as Function.ResponseSizeTooLarge (as in
  // Lambda); an oversized request to any other path is refused and changes nothing.
  http::Response TooLarge(std::string_view target) {
    std::string msg = "Response payload size exceeded maximum allowed payload size (" +
                      std::to_string(kMaxRuntimeResponseBytes) + " bytes).";
    const std::string_view path = target.substr(0, target.find('?'));
    if (current && !outcome && path.ends_with("/response"))
      Complete(OutcomeKind::kFunctionError, ErrorDocument("Function.ResponseSizeTooLarge", msg),
               "Function.ResponseSizeTooLarge", false);
    return RuntimeError(413, "RequestEntityTooLarge",
                        "Exceeded maximum allowed payload size (" +
                            std::to_string(kMaxRuntimeResponseBytes) + " bytes).");
  }

  enum class Phase { kInit, kIdle, kBusy, kDead };

  asio::any_io_executor executor;
  std::shared_ptr<Impl*> alive;  // see Dispatch
  http::Server server;
  asio::posix::stream_descriptor output;
  asio::posix::stream_descriptor exit_watch;
  asio::steady_timer next_wake;  // wakes a parked GET /next
  asio::steady_timer done_wake;  // wakes Invoke: outcome ready, or deadline
  SessionOptions options;
  Clock::time_point started_at;
  std::optional<double> init_duration_ms;
  bool init_reported = false;
  Phase phase = Phase::kInit;
  bool next_parked = false;
  bool streaming = false;  // a streamed /response is being read
  bool closed = false;
  std::optional<Invocation> pending;          // handed to the next GET /next
  std::optional<Invocation> current;          // taken by the runtime, not answered yet
  std::optional<Clock::time_point> taken_at;  // when the runtime took the current invocation
  std::optional<Outcome> outcome;
  std::optional<Outcome> init_error;
  std::string exit_description;
  std::string exit_error_type = "Runtime.ExitError";  // Runtime.OutOfMemory after an OOM kill
  std::string unattributed_log;                       // init output, and output between invocations
  std::string current_log;
  bool answer_drained = false;  // see DrainAnswered

  void Complete(OutcomeKind kind, std::string body, std::string error_type, bool broken) {
    if (outcome) return;
    Outcome o;
    o.kind = kind;
    o.body = std::move(body);
    o.error_type = std::move(error_type);
    o.sandbox_broken = broken;
    outcome = std::move(o);
    done_wake.cancel();
  }

  void AppendLog(std::string_view data) {
    AppendCapped(current ? current_log : unattributed_log, data);
  }

  // Output written before the runtime posted its result is already in the pipe: read it now so
  // it lands in this invocation's log.
  // Returns false at end of file.
  bool DrainOutput() {
    if (!output.is_open()) return false;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(output.native_handle(), buf, sizeof buf);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      AppendLog(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

  // The runtime answered: what it wrote before is this invocation's output, what it writes after
  // is the next one's. Invoke need not read the pipe again (one syscall less per invocation).
  void DrainAnswered() {
    DrainOutput();
    answer_drained = true;
  }

  // Waits for readability and reads synchronously: an asynchronous read could hold bytes taken
  // from the pipe while the invocation they belong to completes, moving them to the next one.
  asio::awaitable<void> ReadOutput() {
    auto self = shared_from_this();
    while (output.is_open()) {
      auto [ec] = co_await output.async_wait(asio::posix::descriptor_base::wait_read, kTuple);
      if (ec) break;
      if (!DrainOutput()) break;  // EOF: every writer is gone
    }
  }

  asio::awaitable<void> WatchExit() {
    auto self = shared_from_this();
    auto [ec] = co_await exit_watch.async_wait(asio::posix::descriptor_base::wait_read, kTuple);
    if (ec || closed) co_return;
    int status = options.reap ? options.reap() : 0;
    exit_description = options.describe_exit ? options.describe_exit(status) : "exited";
    if (options.oom_killed && options.oom_killed()) exit_error_type = "Runtime.OutOfMemory";
    DrainOutput();
    OnDead();
  }

  void OnDead() {
    phase = Phase::kDead;
    if ((current || pending) && !outcome) {
      if (init_error && !current) {
        Complete(init_error->kind, init_error->body, init_error->error_type, true);
      } else {
        const auto& id = current ? current->request_id : pending->request_id;
        Complete(OutcomeKind::kFunctionError,
                 ErrorDocument(
                     exit_error_type,
                     "RequestId: " + id + " Error: Runtime exited with error: " + exit_description),
                 exit_error_type, true);
      }
    }
    next_wake.cancel();
    server.Stop();
  }

  asio::awaitable<http::Response> Handle(http::Request req) {
    auto self = shared_from_this();
    static constexpr std::string_view kPrefix = "/2018-06-01/runtime/";
    std::string_view path = req.path;
    if (!path.starts_with(kPrefix)) co_return RuntimeError(404, "NotFound", "Unknown path");
    path.remove_prefix(kPrefix.size());
    if (path == "invocation/next" && req.method == "GET") co_return co_await Next();
    if (path == "init/error" && req.method == "POST") co_return InitError(req);
    static constexpr std::string_view kInvocation = "invocation/";
    if (path.starts_with(kInvocation) && req.method == "POST") {
      path.remove_prefix(kInvocation.size());
      size_t slash = path.find('/');
      if (slash != std::string_view::npos) {
        std::string id(path.substr(0, slash));
        std::string_view action = path.substr(slash + 1);
        if (action == "response" && req.body_source)
          co_return co_await RespondStreaming(std::move(id), std::move(req));
        if (action == "response") co_return Respond(id, req);
        if (action == "error") co_return ReportError(id, req);
      }
    }
    co_return RuntimeError(404, "NotFound", "Unknown path or method");
  }

  asio::awaitable<http::Response> Next() {
    if (phase == Phase::kDead || closed)
      co_return RuntimeError(500, "Runtime.Unknown", "Sandbox is shutting down");
    if (current && !outcome) {
      co_return RuntimeError(403, "InvalidStateTransition",
                             "State transition from Busy to Next is not allowed: answer " +
                                 current->request_id + " first");
    }
    if (next_parked)
      co_return RuntimeError(403, "InvalidStateTransition", "Another /next is already waiting");
    if (!init_duration_ms) init_duration_ms = MillisSince(started_at);
    phase = Phase::kIdle;
    next_parked = true;
    while (!pending && !closed && phase != Phase::kDead) {
      next_wake.expires_at(Clock::time_point::max());
      co_await next_wake.async_wait(kTuple);
    }
    next_parked = false;
    if (!pending) co_return RuntimeError(500, "Runtime.Unknown", "Sandbox is shutting down");
    current = std::move(pending);
    pending.reset();
    phase = Phase::kBusy;
    taken_at = Clock::now();
    // Output from here on belongs to this invocation.
    http::Response res;
    res.status = 200;
    res.body = std::move(current->payload);  // handed out once: /next cannot take it again
    res.headers.reserve(6);
    res.headers.push_back({"Content-Type", "application/json"});
    res.headers.push_back({"Lambda-Runtime-Aws-Request-Id", current->request_id});
    res.headers.push_back(
        {"Lambda-Runtime-Deadline-Ms", std::to_string(current->deadline_epoch_ms)});
    res.headers.push_back({"Lambda-Runtime-Invoked-Function-Arn", current->invoked_function_arn});
    res.headers.push_back({"Lambda-Runtime-Trace-Id", current->trace_id});
    if (!current->client_context.empty())
      res.headers.push_back({"Lambda-Runtime-Client-Context", current->client_context});
    co_return res;
  }

  std::optional<http::Response> CheckAnswerable(const std::string& id) {
    if (phase == Phase::kInit) {
      return RuntimeError(403, "InvalidStateTransition", "No invocation has been handed out yet");
    }
    if (!Answering(id) || streaming) {
      return RuntimeError(400, "InvalidRequestID", "Invalid request ID: " + id);
    }
    return std::nullopt;
  }

  bool Answering(const std::string& id) const {
    return current && current->request_id == id && !outcome;
  }

  // A streamed answer: the body goes on to the invocation's sink as it arrives, and the
  // invocation completes when the body ends, as a function error when the trailers name one
  // (Lambda's mid-stream error). An invocation without a sink (the Invoke API) gets it whole,
  // under the buffered limit.
  asio::awaitable<http::Response> RespondStreaming(std::string id, http::Request req) {
    if (auto bad = CheckAnswerable(id)) co_return *bad;
    streaming = true;
    auto sink = current->sink;
    std::string content_type(req.HeaderValue("Content-Type"));
    if (sink)
      sink->SetContentType(content_type.empty() ? "application/octet-stream" : content_type);
    std::string whole;
    size_t total = 0;
    for (;;) {
      auto piece = co_await req.body_source->Next();
      if (!Answering(id)) {
        // Timed out or torn down while the body was arriving.
        co_return RuntimeError(400, "InvalidRequestID", "Invalid request ID: " + id);
      }
      if (!piece) {
        streaming = false;
        if (piece.error().code == Errc::kTooLarge) {
          std::string msg = "Response payload size exceeded maximum allowed payload size (" +
                            std::to_string(kMaxStreamedResponseBytes) + " bytes).";
          Complete(OutcomeKind::kFunctionError, ErrorDocument("Function.ResponseSizeTooLarge", msg),
                   "Function.ResponseSizeTooLarge", false);
          co_return RuntimeError(413, "RequestEntityTooLarge", msg);
        }
        Complete(OutcomeKind::kFunctionError,
                 ErrorDocument("Runtime.TruncatedResponse",
                               "The runtime's streamed response ended before its last chunk"),
                 "Runtime.TruncatedResponse", false);
        co_return RuntimeError(400, "TruncatedResponse", "Response ended before its last chunk");
      }
      if (!*piece) break;
      total += (*piece)->size();
      if (sink) {
        // false: the caller is gone. The function runs on, as on Lambda; its output is dropped.
        co_await sink->Write(std::move(**piece));
        if (!Answering(id))
          co_return RuntimeError(400, "InvalidRequestID", "Invalid request ID: " + id);
      } else if (total > kMaxRuntimeResponseBytes) {
        streaming = false;
        co_return TooLarge(req.target);
      } else {
        whole += **piece;
      }
    }
    streaming = false;
    DrainAnswered();
    std::string error_type = req.body_source->Trailer(kErrorTypeHeader);
    if (!error_type.empty()) {
      auto decoded = Base64Decode(req.body_source->Trailer(kErrorBodyHeader));
      auto doc = ParseErrorDocument(decoded.value_or(""));
      // The same document /error would give (a streamed request's `body` is empty).
      Complete(OutcomeKind::kFunctionError, CallerErrorBody(req, doc, error_type), error_type,
               false);
    } else {
      Complete(OutcomeKind::kSuccess, std::move(whole), "", false);
    }
    outcome->streamed = sink != nullptr;
    co_return Accepted();
  }

  http::Response Respond(const std::string& id, http::Request& req) {
    if (auto bad = CheckAnswerable(id)) return *bad;
    auto mode = req.HeaderValue(kResponseModeHeader);
    if (!mode.empty() && mode != "streaming") {
      Complete(OutcomeKind::kFunctionError,
               ErrorDocument("Runtime.InvalidResponseModeHeader",
                             "Invalid response mode header: " + std::string(mode)),
               "Runtime.InvalidResponseModeHeader", false);
      return RuntimeError(400, "InvalidFunctionResponseMode",
                          "Invalid response mode: " + std::string(mode));
    }
    DrainAnswered();
    Complete(OutcomeKind::kSuccess, std::move(req.body), "", false);
    return Accepted();
  }

  static std::string ErrorTypeOf(const http::Request& req, const nlohmann::json& doc,
                                 std::string_view fallback) {
    std::string type(req.HeaderValue(kErrorTypeHeader));
    if (type.empty() && doc.is_object() && doc.contains("errorType") &&
        doc["errorType"].is_string()) {
      type = doc["errorType"].get<std::string>();
    }
    return type.empty() ? std::string(fallback) : type;
  }

  // The error document the caller sees: the runtime's JSON as posted (minus the X-Ray cause), or
  // a document wrapping a non-JSON body.
  static std::string CallerErrorBody(const http::Request& req, nlohmann::json& doc,
                                     const std::string& type) {
    if (doc.is_object()) {
      doc.erase("errorCause");
      return DumpJson(doc);
    }
    return ErrorDocument(type, req.body);
  }

  http::Response ReportError(const std::string& id, http::Request& req) {
    if (auto bad = CheckAnswerable(id)) return *bad;
    auto doc = ParseErrorDocument(req.body);
    std::string type = ErrorTypeOf(req, doc, "Unhandled");
    DrainAnswered();
    Complete(OutcomeKind::kFunctionError, CallerErrorBody(req, doc, type), type, false);
    return Accepted();
  }

  http::Response InitError(http::Request& req) {
    if (phase != Phase::kInit) {
      return RuntimeError(403, "InvalidStateTransition", "Init has already completed");
    }
    auto doc = ParseErrorDocument(req.body);
    std::string type = ErrorTypeOf(req, doc, "Runtime.Unknown");
    Outcome o;
    o.kind = OutcomeKind::kFunctionError;
    o.body = CallerErrorBody(req, doc, type);
    o.error_type = type;
    o.sandbox_broken = true;
    init_error = o;
    if (!init_duration_ms) init_duration_ms = MillisSince(started_at);
    if (pending && !outcome) Complete(o.kind, o.body, o.error_type, true);
    return Accepted();
  }

  asio::awaitable<Outcome> Invoke(Invocation inv) {
    auto self = shared_from_this();
    auto begin = Clock::now();
    taken_at.reset();
    const std::string id = inv.request_id;
    const int timeout_s = inv.timeout_s;
    outcome.reset();
    answer_drained = false;
    current_log.clear();
    if (init_error) {
      Complete(init_error->kind, init_error->body, init_error->error_type, true);
    } else if (phase == Phase::kDead || closed) {
      Complete(OutcomeKind::kFunctionError,
               ErrorDocument(exit_error_type,
                             "RequestId: " + id + " Error: Runtime exited with error: " +
                                 (exit_description.empty() ? "exited" : exit_description)),
               exit_error_type, true);
    } else {
      auto deadline = inv.deadline;
      pending = std::move(inv);
      next_wake.cancel();
      done_wake.expires_at(deadline);
      while (!outcome) {
        auto [ec] = co_await done_wake.async_wait(kTuple);
        if (!ec && !outcome) {
          char secs[32];
          snprintf(secs, sizeof secs, "%d.00", timeout_s);
          Complete(OutcomeKind::kFunctionError,
                   ErrorDocument(
                       "Sandbox.Timedout",
                       "RequestId: " + id + " Error: Task timed out after " + secs + " seconds"),
                   "Sandbox.Timedout", true);
        } else if (closed && !outcome) {
          Complete(OutcomeKind::kFunctionError,
                   ErrorDocument("Sandbox.Failure", "Sandbox was shut down"), "Sandbox.Failure",
                   true);
        }
      }
    }
    if (!answer_drained) DrainOutput();
    Outcome result = std::move(*outcome);
    outcome.reset();
    result.log = std::move(unattributed_log);
    result.log += current_log;
    unattributed_log.clear();
    current_log.clear();
    pending.reset();
    current.reset();
    streaming = false;
    if (phase == Phase::kBusy) phase = Phase::kIdle;
    // Lambda reports init and invocation separately: Duration starts when the runtime took the
    // event (or at the call, when it never did).
    result.duration_ms = MillisSince(taken_at.value_or(begin));
    if (options.peak_memory) {
      int64_t peak = options.peak_memory();
      if (peak >= 0) result.max_memory_used_mb = (peak + (1 << 20) - 1) >> 20;
    }
    if (!init_reported && init_duration_ms) {
      result.init_duration_ms = *init_duration_ms;
      init_reported = true;
    }
    co_return result;
  }

  void Close() {
    if (closed) return;
    closed = true;
    next_wake.cancel();
    done_wake.cancel();
    server.Stop();
    boost::system::error_code ignored;
    output.close(ignored);
    exit_watch.close(ignored);
  }
};

RuntimeSession::RuntimeSession(asio::any_io_executor executor, UniqueFd listener, UniqueFd output,
                               int pidfd, SessionOptions options)
    : impl_(std::make_shared<Impl>(executor, std::move(output), pidfd, std::move(options))) {
  if (auto st = impl_->server.Adopt(listener.Release()); !st) {
    spdlog::error("runtime api: {}", st.error().message);
  }
}

RuntimeSession::~RuntimeSession() { Close(); }

void RuntimeSession::Start() {
  impl_->server.Start();
  if (impl_->output.is_open()) asio::co_spawn(impl_->executor, impl_->ReadOutput(), asio::detached);
  if (impl_->exit_watch.is_open())
    asio::co_spawn(impl_->executor, impl_->WatchExit(), asio::detached);
}

asio::awaitable<Outcome> RuntimeSession::Invoke(Invocation invocation) {
  co_return co_await impl_->Invoke(std::move(invocation));
}

void RuntimeSession::Close() { impl_->Close(); }

bool RuntimeSession::initialized() const {
  return alive() && impl_->init_duration_ms.has_value() && !impl_->init_error;
}

bool RuntimeSession::alive() const { return impl_->phase != Impl::Phase::kDead && !impl_->closed; }

}  // namespace alto
