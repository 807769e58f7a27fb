#include "api/url_gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/http_event.h"
#include "api/resource_policy.h"
#include "api/validation.h"
#include "auth/policy.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"
#include "invoke/streamed_invocation.h"

namespace alto {

namespace asio = boost::asio;

Status UrlCatalog::Load(const std::function<bool(const std::string&)>& function_exists) {
  auto all = store_.ListAll();
  if (!all) return all.error();
  for (auto& u : *all) {
    if (!function_exists(u.function)) {
      if (auto st = store_.DeleteAll(u.function); !st) return st;
      continue;
    }
    Put(std::make_shared<const FunctionUrlConfig>(std::move(u)));
  }
  return {};
}

UrlCatalog::Ptr UrlCatalog::ById(const std::string& url_id) const {
  auto it = by_id_.find(url_id);
  return it == by_id_.end() ? nullptr : it->second;
}

UrlCatalog::Ptr UrlCatalog::For(const std::string& function, const std::string& qualifier) const {
  auto it = id_by_key_.find(Key(function, qualifier));
  return it == id_by_key_.end() ? nullptr : ById(it->second);
}

std::vector<UrlCatalog::Ptr> UrlCatalog::ListFor(const std::string& function) const {
  std::vector<Ptr> out;
  for (const auto& [id, p] : by_id_) {
    if (p->function == function) out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const Ptr& a, const Ptr& b) { return a->qualifier < b->qualifier; });
  return out;
}

void UrlCatalog::Put(Ptr p) {
  auto& id = id_by_key_[Key(p->function, p->qualifier)];
  if (!id.empty() && id != p->url_id) by_id_.erase(id);  // re-created: a new url id
  id = p->url_id;
  by_id_[p->url_id] = std::move(p);
}

void UrlCatalog::Drop(const std::string& function, const std::string& qualifier) {
  auto it = id_by_key_.find(Key(function, qualifier));
  if (it == id_by_key_.end()) return;
  by_id_.erase(it->second);
  id_by_key_.erase(it);
}

asio::awaitable<Status> UrlCatalog::Create(FunctionUrlConfig u) {
  auto st = co_await RunBlocking(blocking_, [&] { return store_.Create(u); });
  if (st) Put(std::make_shared<const FunctionUrlConfig>(std::move(u)));
  co_return st;
}

asio::awaitable<Status> UrlCatalog::Update(FunctionUrlConfig u) {
  auto st = co_await RunBlocking(blocking_, [&] { return store_.Update(u); });
  if (st) Put(std::make_shared<const FunctionUrlConfig>(std::move(u)));
  co_return st;
}

asio::awaitable<Status> UrlCatalog::Delete(std::string function, std::string qualifier) {
  auto st = co_await RunBlocking(blocking_, [&] { return store_.Delete(function, qualifier); });
  if (st) Drop(function, qualifier);
  co_return st;
}

asio::awaitable<Status> UrlCatalog::DeleteAll(std::string function) {
  auto st = co_await RunBlocking(blocking_, [&] { return store_.DeleteAll(function); });
  if (st) {
    for (const auto& p : ListFor(function)) Drop(p->function, p->qualifier);
  }
  co_return st;
}

namespace {

constexpr std::string_view kPathPrefix = "/url/";

http::Response UrlError(int status, std::string_view type, std::string_view message) {
  http::Response r = http::JsonResponse(status, DumpJson(nlohmann::json{{"Message", message}}));
  if (!type.empty()) r.Set("x-amzn-ErrorType", std::string(type));
  return r;
}

struct Target {
  UrlCatalog::Ptr config;
  std::string raw_path;
};

// Path form: /url/<function>[/<alias>]/rest. The second segment is an alias only when that
// (function, alias) has a URL; otherwise it is part of the function's path.
Target FromPath(const UrlCatalog& urls, std::string_view path) {
  path.remove_prefix(kPathPrefix.size());
  size_t slash = path.find('/');
  std::string function = PercentDecode(path.substr(0, slash));
  std::string_view rest = slash == std::string_view::npos ? "" : path.substr(slash);
  if (rest.size() > 1) {
    size_t next = rest.find('/', 1);
    std::string alias =
        PercentDecode(rest.substr(1, next == std::string_view::npos ? next : next - 1));
    if (auto p = urls.For(function, alias)) {
      return {p, std::string(next == std::string_view::npos ? "" : rest.substr(next))};
    }
  }
  return {urls.For(function, ""), std::string(rest)};
}

http::Response InvokeFailure(const std::string& url_id, const Error& e) {
  if (e.code == Errc::kThrottled) {
    http::Response res = UrlError(429, "TooManyRequestsException", "Rate Exceeded.");
    res.Set("Retry-After", "1");
    return res;
  }
  spdlog::warn("function url {}: {}", url_id, e.message);
  return UrlError(502, "", "Internal Server Error");
}

// The response for a function's whole (unstreamed) answer, or for a failed invocation.
http::Response BufferedResponse(const std::string& url_id, const Result<InvokeResponse>& result,
                                bool stream_mode) {
  if (!result) return InvokeFailure(url_id, result.error());
  if (result->function_error) return UrlError(502, "", "Internal Server Error");
  if (stream_mode) {
    // A runtime may post the HTTP-integration framing unstreamed.
    if (auto r = InterpretStreamedResult(result->body)) return std::move(*r);
  }
  auto r = InterpretUrlResult(result->body);
  if (!r) {
    spdlog::info("function url {}: bad response: {}", url_id, r.error().message);
    return UrlError(502, "", "Internal Server Error");
  }
  return std::move(r.value());
}

}  // namespace

// RESPONSE_STREAM: the invocation runs on its own while the response goes out as the function
// writes it. The status and headers come from the HTTP-integration prelude when the runtime
// streams with it; an answer the runtime did not stream is served as a buffered one.
asio::awaitable<http::Response> UrlGateway::InvokeStreamed(std::string url_id, InvokeRequest ir) {
  auto ex = co_await asio::this_coro::executor;
  auto call = StreamedInvocation::Start(d_.invoker, std::move(ir), ex);
  std::string head;
  bool ended = false;
  for (;;) {
    auto piece = co_await call->body().Read();
    if (!piece) {
      ended = true;
      break;
    }
    head += *piece;
    if (call->body().content_type() != kHttpIntegrationContentType) break;
    if (head.find(kStreamPreludeDelimiter) != std::string::npos) break;
    if (head.size() > kMaxStreamPreludeBytes) break;
  }
  if (ended && !call->streamed()) {
    // Not streamed (or failed before a byte): the buffered rules apply.
    if (!call->result()) co_return UrlError(502, "", "Internal Server Error");
    co_return BufferedResponse(url_id, *call->result(), true);
  }
  if (ended && call->body().failed()) co_return UrlError(502, "", "Internal Server Error");
  http::Response res;
  if (call->body().content_type() == kHttpIntegrationContentType) {
    size_t cut = head.find(kStreamPreludeDelimiter);
    std::optional<http::Response> parsed;
    if (cut != std::string::npos)
      parsed = ParseStreamPrelude(std::string_view(head).substr(0, cut));
    if (!parsed) {
      spdlog::info("function url {}: streamed response without a valid prelude", url_id);
      call->body().Abandon();
      co_return UrlError(502, "", "Internal Server Error");
    }
    res = std::move(*parsed);
    res.body = head.substr(cut + kStreamPreludeDelimiter.size());
  } else {
    res.status = 200;
    res.Set("Content-Type", call->body().content_type());
    res.body = std::move(head);
  }
  if (!ended) res.stream = call->body_ptr();
  co_return res;
}

asio::awaitable<bool> UrlGateway::IamAllows(const FunctionUrlConfig& url,
                                            const http::Request& req) const {
  if (url.auth_type != "AWS_IAM" || !d_.auth) co_return false;
  auto who = d_.auth->Authenticate(req, "lambda", auth::PathStyle::kDoubleEncoded);
  auto* p = std::get_if<auth::Caller>(&who);
  if (!p) co_return false;
  auth::AccessRequest r;
  r.action = "lambda:InvokeFunctionUrl";
  r.resource = FunctionArn(d_.account, url.function, url.qualifier.empty() ? "" : url.qualifier);
  r.principal_account = p->account_id;
  r.principal_arn = p->Arn();
  r.context["lambda:functionurlauthtype"] = "AWS_IAM";
  const bool identity_allows =
      p->admin || (p->policy && auth::Evaluate(*p->policy, r) == auth::Decision::kAllow);
  if (p->account_id == d_.account.account_id) co_return identity_allows;
  // Another account's key: the function's (or alias's) resource policy must allow it too.
  if (!identity_allows || !d_.store || !d_.blocking) co_return false;
  auto stored = co_await RunBlocking(
      *d_.blocking, [&] { return d_.store->GetPolicy(url.function, url.qualifier); });
  if (!stored) co_return false;
  auto doc = ParsePolicyDoc(stored->document);
  co_return doc&& ResourcePolicyAllows(*doc, *p, r.action, r.context);
}

bool UrlGateway::Claims(const http::Request& req) const {
  return req.path.starts_with(kPathPrefix) || UrlIdFromHost(req.HeaderValue("Host")).has_value();
}

asio::awaitable<http::Response> UrlGateway::Handle(http::Request req) {
  const std::string request_id = NewUuid();
  Target t;
  if (auto id = UrlIdFromHost(req.HeaderValue("Host"))) {
    t.config = d_.urls.ById(*id);
    t.raw_path = req.path;
  } else {
    t = FromPath(d_.urls, req.path);
  }
  if (t.raw_path.empty()) t.raw_path = "/";

  http::Response res;
  bool preflight = false;
  bool iam_ok = true;
  if (t.config && t.config->auth_type != "NONE") iam_ok = co_await IamAllows(*t.config, req);
  if (!t.config) {
    res = UrlError(404, "ResourceNotFoundException", "Function URL not found");
  } else if (!iam_ok) {
    // As Lambda: no detail on why (unsigned, unknown key, no permission).
    res = UrlError(403, "AccessDeniedException", "Forbidden");
  } else if (IsCorsPreflight(t.config->cors, req)) {
    preflight = true;
    res = CorsPreflightResponse(t.config->cors, req);
  } else if (!admitting_) {
    res = UrlError(503, "ServiceException", "The server is shutting down");
  } else if (req.body.size() > kMaxUrlRequestBytes) {
    res = UrlError(413, "RequestEntityTooLargeException",
                   "Request must be smaller than " + std::to_string(kMaxUrlRequestBytes) +
                       " bytes for the InvokeFunction operation");
  } else {
    // An alias URL follows the alias's weighted routing, as sync and async invokes do.
    auto f = co_await d_.resolver.Resolve(t.config->function, t.config->qualifier);
    if (!f) {
      res = f.error().code == Errc::kNotFound
                ? UrlError(404, "ResourceNotFoundException", f.error().message)
                : UrlError(500, "ServiceException", "Internal error");
    } else {
      UrlEventContext ctx{d_.account.account_id, t.config->url_id, d_.account.region, request_id,
                          d_.clock.WallMillis()};
      InvokeRequest ir;
      ir.payload = BuildUrlEvent(req, t.raw_path, ctx);
      if (ir.payload.size() > kMaxUrlRequestBytes) {
        // A binary body grows by a third in base64; the limit applies to the event.
        res = UrlError(413, "RequestEntityTooLargeException",
                       std::to_string(ir.payload.size()) +
                           " byte payload is too large for the RequestResponse invocation type "
                           "(limit " +
                           std::to_string(kMaxUrlRequestBytes) + " bytes)");
      } else {
        ir.invoked_arn = f->invoked_arn;
        ir.function = std::move(f->function);
        ir.request_id = request_id;
        if (t.config->invoke_mode == "RESPONSE_STREAM") {
          res = co_await InvokeStreamed(t.config->url_id, std::move(ir));
        } else {
          auto result = co_await d_.invoker.Invoke(std::move(ir));
          res = BufferedResponse(t.config->url_id, result, false);
        }
      }
    }
  }
  if (t.config && !preflight) AddCorsHeaders(t.config->cors, req, res);
  res.Set("x-amzn-RequestId", request_id);
  co_return res;
}

}  // namespace alto
