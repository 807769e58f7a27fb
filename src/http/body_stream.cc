#include "http/body_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace alto::http {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

BodyStream::BodyStream(asio::any_io_executor executor, size_t high_water)
    : high_water_(high_water), readable_(executor), writable_(executor) {}

asio::awaitable<bool> BodyStream::Write(std::string chunk) {
  started_ = true;
  while (!abandoned_ && !finished_ && queued_ > high_water_) {
    writable_.expires_at(asio::steady_timer::time_point::max());
    co_await writable_.async_wait(kTuple);
  }
  if (abandoned_ || finished_) co_return false;
  if (chunk.empty()) co_return true;
  bytes_written_ += chunk.size();
  queued_ += chunk.size();
  chunks_.push_back(std::move(chunk));
  readable_.cancel();
  co_return true;
}

void BodyStream::Finish(std::string error) {
  if (finished_) return;
  started_ = true;
  finished_ = true;
  error_ = std::move(error);
  readable_.cancel();
  writable_.cancel();
}

asio::awaitable<std::optional<std::string>> BodyStream::Read() {
  while (chunks_.empty() && !finished_ && !abandoned_) {
    readable_.expires_at(asio::steady_timer::time_point::max());
    co_await readable_.async_wait(kTuple);
  }
  if (chunks_.empty() || abandoned_) co_return std::nullopt;
  std::string chunk = std::move(chunks_.front());
  chunks_.pop_front();
  queued_ -= chunk.size();
  writable_.cancel();
  co_return chunk;
}

void BodyStream::Abandon() {
  abandoned_ = true;
  chunks_.clear();
  queued_ = 0;
  readable_.cancel();
  writable_.cancel();
}

}  // namespace alto::http
