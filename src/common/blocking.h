// Runs blocking work (SQLite, file I/O, process spawning, runc) on the blocking pool and resumes
// the calling coroutine on its own executor, so the I/O threads never block.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>

namespace alto {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> RunBlocking(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    co_await boost::asio::co_spawn(
        pool,
        [&]() -> boost::asio::awaitable<void> {
          f();
          co_return;
        },
        boost::asio::use_awaitable);
  } else {
    std::optional<R> out;
    co_await boost::asio::co_spawn(
        pool,
        [&]() -> boost::asio::awaitable<void> {
          out.emplace(f());
          co_return;
        },
        boost::asio::use_awaitable);
    co_return std::move(*out);
  }
}

}  // namespace alto
