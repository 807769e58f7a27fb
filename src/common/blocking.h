// Runs blocking work (SQLite, file I/O, process spawning, runc) on the blocking pool and resumes
// the calling coroutine on its own executor, so the I/O threads never block.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>

namespace alto {

// The caller is resumed by a post straight to its own executor: the completion never queues on
// the pool behind later work (with co_spawn it did, so under a burst of sandbox starts every
// caller resumed only once the whole queue had drained).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> RunBlocking(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  auto ex = co_await boost::asio::this_coro::executor;
  using Out = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;
  Out out{};
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
      [&](auto handler) {
        boost::asio::post(pool, [&, handler = std::move(handler),
                                 work = boost::asio::make_work_guard(ex)]() mutable {
          if constexpr (std::is_void_v<R>) {
            f();
          } else {
            out.emplace(f());
          }
          boost::asio::post(work.get_executor(), std::move(handler));
          work.reset();
        });
      },
      boost::asio::use_awaitable);
  if constexpr (!std::is_void_v<R>) co_return std::move(*out);
}

}  // namespace alto
