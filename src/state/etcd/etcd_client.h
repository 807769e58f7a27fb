// The transport of the etcd backend: HTTP/1.1 keep-alive connections to etcd's JSON gateway, and
// the client that the store and its watches share (endpoints, TLS, auth token, connection pool).
// Internal to src/state/etcd/.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "state/etcd/etcd_state.h"

namespace alto::state::etcd {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// The largest answer read in one response: a whole Range page. Range pages adapt to it (a page
// over it is asked again smaller), so it bounds memory without bounding what a Range can return.
inline constexpr size_t kMaxResponseBytes = 32 * 1024 * 1024;
// The largest message of a watch stream (one revision's events).
inline constexpr size_t kMaxStreamMessageBytes = 64 * 1024 * 1024;

struct HostPort {
  std::string host;
  std::string port;
  std::string text;  // as the user wrote it, for messages
};

// "host:port" or "[v6]:port", port 1..65535.
Result<HostPort> ParseHostPort(std::string_view text);

struct HttpReply {
  int status = 0;
  std::string body;
};

// One connection to one member, bound to an executor; not thread-safe (one user at a time).
class EtcdConn {
 public:
  EtcdConn(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls);
  ~EtcdConn();
  EtcdConn(const EtcdConn&) = delete;
  EtcdConn& operator=(const EtcdConn&) = delete;

  boost::asio::awaitable<Status> Connect(const HostPort& to, Deadline deadline, bool keepalive);
  bool IsOpen() const;
  // An idle keep-alive connection that has become readable was closed (or broken) by the server:
  // etcd restarted. Checked before reusing one, so a restart costs no failed call.
  bool LooksClosed() const;
  void Close();
  const HostPort& peer() const { return peer_; }

  // One request, the whole answer (kTooLarge past kMaxResponseBytes). Transport failures are
  // kUnavailable (kTimeout past the deadline) and leave the connection closed.
  boost::asio::awaitable<Result<HttpReply>> Post(std::string_view target, std::string body,
                                                 const std::string& token, Deadline deadline);
  // A streamed answer: sends the request and reads the response head (its status); then
  // NextLine() returns each newline-delimited message of the body, waiting without a deadline.
  boost::asio::awaitable<Result<int>> StartStream(std::string_view target, std::string body,
                                                  const std::string& token, Deadline deadline);
  boost::asio::awaitable<Result<std::string>> NextLine();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HostPort peer_;
};

// Shared by a store and its watches (which may outlive it).
class EtcdClient {
 public:
  static Result<std::shared_ptr<EtcdClient>> Create(EtcdOptions options);
  ~EtcdClient();

  const EtcdOptions& options() const { return options_; }
  std::shared_ptr<boost::asio::ssl::context> tls() const { return tls_; }
  std::string Describe() const;
  Deadline NewDeadline() const { return Clock::now() + options_.request_timeout; }

  // POSTs a JSON body on conn (connecting it first when closed, trying each endpoint in turn)
  // and returns the parsed answer; etcd's errors become Errc values. When the request failed in
  // flight, an idempotent call is retried once on a fresh connection; a write is not (it may
  // have been applied), it is kUnavailable. An expired auth token is renewed and the call
  // retried.
  boost::asio::awaitable<Result<nlohmann::json>> Call(EtcdConn& conn, std::string_view path,
                                                      const nlohmann::json& body, bool idempotent,
                                                      Deadline deadline);
  // Connects conn to the first endpoint that answers, starting with the last one that did.
  boost::asio::awaitable<Status> ConnectAny(EtcdConn& conn, Deadline deadline, bool keepalive);
  boost::asio::awaitable<Status> Authenticate(EtcdConn& conn, Deadline deadline);
  std::string Token() const;

  // Runs fn on a pooled connection (reused across calls, one per concurrent caller) and blocks
  // until it finishes.
  template <class T>
  Result<T> Blocking(std::function<boost::asio::awaitable<Result<T>>(EtcdConn&)> fn);

 private:
  struct Pooled;
  explicit EtcdClient(EtcdOptions options);
  std::unique_ptr<Pooled> Acquire();
  void Release(std::unique_ptr<Pooled> conn);
  // Runs the coroutine fn returns on a pooled connection's io_context until it completes.
  Status RunPooled(std::function<boost::asio::awaitable<void>(EtcdConn&)> fn);

  EtcdOptions options_;
  std::vector<HostPort> endpoints_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::atomic<size_t> preferred_{0};
  mutable std::mutex mu_;
  std::string token_;                          // guarded by mu_
  std::vector<std::unique_ptr<Pooled>> idle_;  // guarded by mu_
};

template <class T>
Result<T> EtcdClient::Blocking(std::function<boost::asio::awaitable<Result<T>>(EtcdConn&)> fn) {
  Result<T> out = MakeError(Errc::kInternal, "etcd call did not complete");
  Status ran =
      RunPooled([&](EtcdConn& conn) -> boost::asio::awaitable<void> { out = co_await fn(conn); });
  if (!ran) return ran.error();
  return out;
}

// etcd's int64s come as JSON strings (sometimes numbers); an absent field is zero.
int64_t JsonInt(const nlohmann::json& object, const char* field);

}  // namespace alto::state::etcd
