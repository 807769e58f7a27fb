#include "invoke/streamed_invocation.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace alto {

StreamedInvocation::StreamedInvocation(boost::asio::any_io_executor executor)
    : body_(std::make_shared<http::BodyStream>(executor)) {}

std::shared_ptr<StreamedInvocation> StreamedInvocation::Start(
    Invoker& invoker, InvokeRequest request, boost::asio::any_io_executor executor) {
  auto self = std::shared_ptr<StreamedInvocation>(new StreamedInvocation(executor));
  request.sink = self->body_;
  boost::asio::co_spawn(executor, Run(self, invoker, std::move(request)), boost::asio::detached);
  return self;
}

boost::asio::awaitable<void> StreamedInvocation::Run(std::shared_ptr<StreamedInvocation> self,
                                                     Invoker& invoker, InvokeRequest request) {
  self->result_ = co_await invoker.Invoke(std::move(request));
  // The result is set first: a reader that sees the end can always read it.
  const auto& r = *self->result_;
  if (!r) {
    self->body_->Finish(r.error().message);
  } else if (r->function_error) {
    self->body_->Finish(r->error_type.empty() ? std::string("Unhandled") : r->error_type);
  } else {
    self->body_->Finish();
  }
}

}  // namespace alto
