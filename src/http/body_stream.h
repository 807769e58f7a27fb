// A bounded pipe of body bytes between two coroutines on one executor: a streamed response on its
// way from a function's runtime (the producer) to an HTTP client (the consumer). The producer waits
// while the consumer is behind, so a fast function cannot queue an unbounded body in Alto.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

namespace alto::http {

class BodyStream {
 public:
  explicit BodyStream(boost::asio::any_io_executor executor, size_t high_water = 1 << 20);
  BodyStream(const BodyStream&) = delete;
  BodyStream& operator=(const BodyStream&) = delete;

  // Producer. The content type of what follows; set before the first Write.
  void SetContentType(std::string type) { content_type_ = std::move(type); }
  // Queues a chunk, waiting first while more than high_water bytes are queued. False once the
  // consumer has abandoned the stream (the chunk is dropped) or the stream is finished.
  boost::asio::awaitable<bool> Write(std::string chunk);
  // Producer: the end. A non-empty `error` says the body is incomplete (a mid-stream failure);
  // the consumer reads what was queued, then sees the end with failed() true. Only the first
  // call counts.
  void Finish(std::string error = {});

  // Consumer. The next chunk, or nullopt at the end (check failed()).
  boost::asio::awaitable<std::optional<std::string>> Read();
  // Consumer: gone (the client disconnected); queued data is dropped and writers return false.
  void Abandon();

  const std::string& content_type() const { return content_type_; }
  // Whether anything was ever written, or Finish called: the producer has taken the stream.
  bool started() const { return started_; }
  bool finished() const { return finished_; }
  bool abandoned() const { return abandoned_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t bytes_written() const { return bytes_written_; }

 private:
  std::deque<std::string> chunks_;
  size_t queued_ = 0;
  size_t high_water_;
  size_t bytes_written_ = 0;
  boost::asio::steady_timer readable_;  // wakes a waiting Read
  boost::asio::steady_timer writable_;  // wakes a waiting Write
  std::string content_type_;
  std::string error_;
  bool started_ = false;
  bool finished_ = false;
  bool abandoned_ = false;
};

}  // namespace alto::http
