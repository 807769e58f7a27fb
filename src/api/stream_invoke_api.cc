// InvokeWithResponseStream: the function's answer goes to the caller as AWS event-stream
// PayloadChunk events while the function writes it, then one InvokeComplete event.
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/event_stream.h"
#include "api/lambda_api.h"
#include "common/encoding.h"
#include "common/json.h"
#include "invoke/streamed_invocation.h"

namespace alto {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

// InvokeComplete's payload: ErrorCode and ErrorDetails for a failed invocation, LogResult when
// the caller asked for the log's tail.
std::string CompletionOf(const std::optional<Result<InvokeResponse>>& result, bool tail) {
  json done = json::object();
  if (!result) {
    done["ErrorCode"] = "ServiceException";
    done["ErrorDetails"] = "The invocation ended without a result";
  } else if (!*result) {
    done["ErrorCode"] = "ServiceException";
    done["ErrorDetails"] = result->error().message;
  } else {
    const auto& r = **result;
    if (r.function_error) {
      done["ErrorCode"] = r.error_type.empty() ? std::string("Unhandled") : r.error_type;
      // The error document the runtime session rebuilt (bounded depth).
      auto doc = ParseJson(r.body, kFunctionJsonDepth);
      done["ErrorDetails"] = doc && doc->is_object() && doc->contains("errorMessage") &&
                                     (*doc)["errorMessage"].is_string()
                                 ? (*doc)["errorMessage"].get<std::string>()
                                 : r.body;
    }
    if (tail) done["LogResult"] = EncodedLogTail(r.log);
  }
  return DumpJson(done);
}

// Frames the function's stream into `out`: a PayloadChunk per piece (starting with `first`, read
// already), then InvokeComplete. A caller that leaves abandons the function's stream too.
asio::awaitable<void> FrameEvents(std::shared_ptr<StreamedInvocation> call,
                                  std::shared_ptr<http::BodyStream> out,
                                  std::optional<std::string> first, bool tail) {
  std::optional<std::string> piece = std::move(first);
  while (piece) {
    bool sent =
        co_await out->Write(EncodeEvent("PayloadChunk", "application/octet-stream", *piece));
    if (!sent) {
      call->body().Abandon();
      co_return;
    }
    piece = co_await call->body().Read();
  }
  const auto& result = call->result();
  if (result && *result && !(*result)->streamed && !(*result)->function_error &&
      !(*result)->body.empty()) {
    // A runtime that answered unstreamed: its whole answer is one chunk.
    bool sent = co_await out->Write(
        EncodeEvent("PayloadChunk", "application/octet-stream", (*result)->body));
    if (!sent) co_return;
  }
  co_await out->Write(
      EncodeEvent("InvokeComplete", "application/json", CompletionOf(result, tail)));
  out->Finish();
}

}  // namespace

asio::awaitable<http::Response> LambdaApi::InvokeWithResponseStream(Ctx& c) {
  if (!admitting_) {
    co_return LambdaError(503, "ServiceException", "The server is shutting down", "Service");
  }
  std::string type(c.req.HeaderValue("X-Amz-Invocation-Type"));
  if (type.empty()) type = "RequestResponse";
  if (type != "RequestResponse" && type != "DryRun") {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Unsupported invocation type for a streamed invocation: " + type);
  }
  std::string client_context;
  if (auto bad = CheckInvokeInput(c, type, client_context)) co_return *bad;
  auto f = co_await LoadQualified(c, true);
  if (!f) co_return LambdaErrorFrom(f.error());
  if (type == "DryRun") {
    http::Response r;
    r.status = 204;
    r.Set("X-Amz-Executed-Version", f->executed_version);
    co_return r;
  }
  const std::string executed_version = f->executed_version;
  InvokeRequest ir;
  ir.invoked_arn = f->invoked_arn;
  ir.function = std::move(f->function);
  ir.payload = c.req.body.empty() ? std::string("{}") : std::move(c.req.body);
  ir.client_context = std::move(client_context);
  ir.request_id = NewUuid();
  const std::string request_id = ir.request_id;
  auto ex = co_await asio::this_coro::executor;
  auto call = StreamedInvocation::Start(d_.invoker, std::move(ir), ex);
  // Wait for the first bytes: until then a throttle or a platform error is still an API error.
  auto first = co_await call->body().Read();
  if (!first && call->result() && !*call->result())
    co_return LambdaErrorFrom(call->result()->error());
  std::string content_type = first ? call->body().content_type() : "application/json";
  auto out = std::make_shared<http::BodyStream>(ex);
  const bool tail = http::IEquals(c.req.HeaderValue("X-Amz-Log-Type"), "Tail");
  asio::co_spawn(ex, FrameEvents(call, out, std::move(first), tail), asio::detached);
  http::Response r;
  r.status = 200;
  r.Set("Content-Type", content_type);
  r.Set("X-Amz-Executed-Version", executed_version);
  r.Set("x-amzn-RequestId", request_id);
  r.stream = std::move(out);
  co_return r;
}

}  // namespace alto
