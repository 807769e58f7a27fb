// An invocation whose answer is read while the function writes it (function URLs in
// RESPONSE_STREAM mode, InvokeWithResponseStream). The invocation runs in its own coroutine; the
// caller reads body() and, once it has ended, result(). A runtime that answers unstreamed leaves
// body() empty and its answer in result().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <optional>

#include "http/body_stream.h"
#include "invoke/invoker.h"

namespace alto {

class StreamedInvocation {
 public:
  static std::shared_ptr<StreamedInvocation> Start(Invoker& invoker, InvokeRequest request,
                                                   boost::asio::any_io_executor executor);

  http::BodyStream& body() { return *body_; }
  std::shared_ptr<http::BodyStream> body_ptr() { return body_; }
  // Set before body() ends; empty while the invocation runs.
  const std::optional<Result<InvokeResponse>>& result() const { return result_; }
  // Ended, and the runtime streamed its answer into body().
  bool streamed() const { return result_ && *result_ && (*result_)->streamed; }

 private:
  explicit StreamedInvocation(boost::asio::any_io_executor executor);
  static boost::asio::awaitable<void> Run(std::shared_ptr<StreamedInvocation> self,
                                          Invoker& invoker, InvokeRequest request);

  std::shared_ptr<http::BodyStream> body_;
  std::optional<Result<InvokeResponse>> result_;
};

}  // namespace alto
