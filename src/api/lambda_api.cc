#include "api/lambda_api.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/access.h"
#include "api/errors.h"
#include "api/routes.h"
#include "api/tags.h"
#include "api/validation.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr size_t kMaxListPage = 50;
constexpr size_t kLogTailBytes = 4096;
constexpr const char* kRevisionMismatch =
    "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
    "API to "
    "retrieve the latest Revision Id";

http::Response Json(int status, const json& body) {
  return http::JsonResponse(status, DumpJson(body));
}

http::Response NoContent() {
  http::Response r;
  r.status = 204;
  return r;
}

// Control-plane bodies are JSON; anything declaring another media type is refused.
bool AcceptableJsonContentType(std::string_view ct) {
  if (ct.empty()) return true;
  auto semi = ct.find(';');
  std::string_view base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return http::IEquals(base, "application/json") || base.starts_with("application/x-amz-json") ||
         http::IEquals(base, "binary/octet-stream") ||
         http::IEquals(base, "application/octet-stream");
}

Result<json> ParseBody(const std::string& body) { return ParseRequestObject(body); }

// Reads the base64 ZipFile out of a Code object (CreateFunction) or the body (UpdateFunctionCode).
Result<std::string> ZipFrom(const json& obj) {
  if (!obj.is_object()) return MakeError(Errc::kInvalidArgument, "Code must be an object");
  if (obj.contains("ImageUri")) {
    return MakeError(Errc::kInvalidArgument,
                     "Container image packages are not supported yet; upload a ZipFile");
  }
  if (obj.contains("S3Bucket") || obj.contains("S3Key")) {
    return MakeError(Errc::kInvalidArgument,
                     "S3 code locations are not supported yet; upload a ZipFile");
  }
  auto it = obj.find("ZipFile");
  if (it == obj.end() || !it->is_string())
    return MakeError(Errc::kInvalidArgument, "Code.ZipFile is required");
  auto zip = Base64Decode(it->get_ref<const std::string&>());
  if (!zip) return MakeError(Errc::kInvalidArgument, "Code.ZipFile is not valid base64");
  if (zip->empty())
    return MakeError(Errc::kInvalidArgument, "Could not unzip uploaded file: the package is empty");
  return std::move(*zip);
}

bool BoolField(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

asio::awaitable<http::Response> LambdaApi::Handle(http::Request req) {
  auto route = MatchRoute(req.method, req.path);
  http::Response res;
  // Health probes are the one thing a caller without a key may ask.
  if (route.match && route.match->op == Op::kHealth) {
    res = Json(200, {{"status", "ok"}});
    res.Set("x-amzn-RequestId", NewUuid());
    co_return res;
  }
  auto who = d_.auth.Authenticate(req, "lambda", auth::PathStyle::kDoubleEncoded);
  std::optional<PendingAudit> audit;
  if (auto* failure = std::get_if<auth::AuthFailure>(&who)) {
    res = LambdaAuthError(*failure);
  } else if (!route.match) {
    res = route.miss == RouteMiss::kWrongMethod
              ? LambdaError(405, "MethodNotAllowedException",
                            "Method " + req.method + " is not allowed on " + req.path)
              : LambdaError(404, "UnknownOperationException",
                            "Unknown operation " + req.method + " " + req.path);
  } else {
    auto& principal = std::get<auth::Caller>(who);
    AccessTarget target = TargetOf(*route.match, req, d_.account);
    if (IsControlPlaneChange(route.match->op, req.method))
      audit = PendingAudit{principal, target, req.remote_ip};
    // Another account's caller: refused by CheckAccount unless a function's resource-based
    // policy grants it the operation (permissions_api.cc).
    auto denied = CheckAccount(principal, route.match->op, target, d_.account);
    if (denied) {
      denied = co_await CrossAccountAccess(principal, target, std::move(*denied));
    } else {
      denied = CheckAccess(principal, target);
    }
    if (denied) {
      res = std::move(*denied);
    } else {
      Ctx c{std::move(req), *route.match, {}, std::move(principal)};
      res = co_await Dispatch(c);
    }
  }
  // Invoke answers with the invocation's own request id (the one in its log and context).
  if (res.HeaderValue("x-amzn-RequestId").empty()) res.Set("x-amzn-RequestId", NewUuid());
  if (audit && audit_) co_await Audit(*audit, res);
  co_return res;
}

asio::awaitable<http::Response> LambdaApi::Dispatch(Ctx& c) {
  http::Response res;
  try {
    switch (c.match.op) {
      case Op::kCreateFunction:
        res = co_await CreateFunction(c);
        break;
      case Op::kListFunctions:
        res = co_await ListFunctions(c);
        break;
      case Op::kGetFunction:
        res = co_await GetFunction(c, false);
        break;
      case Op::kGetFunctionConfiguration:
        res = co_await GetFunction(c, true);
        break;
      case Op::kDeleteFunction:
        res = co_await DeleteFunction(c);
        break;
      case Op::kUpdateFunctionConfiguration:
        res = co_await UpdateFunctionConfiguration(c);
        break;
      case Op::kUpdateFunctionCode:
        res = co_await UpdateFunctionCode(c);
        break;
      case Op::kInvoke:
        res = co_await Invoke(c);
        break;
      case Op::kInvokeWithResponseStream:
        res = co_await InvokeWithResponseStream(c);
        break;
      case Op::kGetAccountSettings:
        res = co_await GetAccountSettings(c);
        break;
      case Op::kNativeFunctionLogs:
        res = co_await FunctionLogsNative(c);
        break;
      case Op::kNativeFunctionCode:
        res = co_await FunctionCodeNative(c);
        break;
      case Op::kInvokeAsyncLegacy: {
        // No co_await inside a conditional expression: GCC 12 miscompiles it.
        auto f = co_await LoadQualified(c, true);
        if (f) {
          res = co_await InvokeEvent(c, *f, true);
        } else {
          res = LambdaErrorFrom(f.error());
        }
        break;
      }
      case Op::kPublishVersion:
        res = co_await PublishVersion(c);
        break;
      case Op::kListVersionsByFunction:
        res = co_await ListVersions(c);
        break;
      case Op::kListAliases:
        res = co_await ListAliases(c);
        break;
      case Op::kCreateAlias:
      case Op::kGetAlias:
      case Op::kUpdateAlias:
      case Op::kDeleteAlias:
        res = co_await AliasOp(c);
        break;
      case Op::kPutEventInvokeConfig:
        res = co_await PutEventInvokeConfig(c, false);
        break;
      case Op::kUpdateEventInvokeConfig:
        res = co_await PutEventInvokeConfig(c, true);
        break;
      case Op::kGetEventInvokeConfig:
        res = co_await GetEventInvokeConfig(c, false);
        break;
      case Op::kListEventInvokeConfigs:
        res = co_await GetEventInvokeConfig(c, true);
        break;
      case Op::kDeleteEventInvokeConfig:
        res = co_await DeleteEventInvokeConfig(c);
        break;
      case Op::kNativeFunctionStats:
        res = co_await FunctionStatsNative(c);
        break;
      case Op::kNativeListQueues:
      case Op::kNativeCreateQueue:
      case Op::kNativeSendMessage:
      case Op::kNativeReadMessages:
        res = co_await QueuesNative(c);
        break;
      case Op::kMetrics:
        res = co_await Metrics(c);
        break;
      case Op::kPutProvisionedConcurrencyConfig:
      case Op::kGetProvisionedConcurrencyConfig:
      case Op::kDeleteProvisionedConcurrencyConfig:
        res = co_await ProvisionedConcurrencyOp(c);
        break;
      case Op::kPutFunctionConcurrency:
      case Op::kGetFunctionConcurrency:
      case Op::kDeleteFunctionConcurrency:
        res = co_await FunctionConcurrency(c);
        break;
      case Op::kTagResource:
      case Op::kUntagResource:
      case Op::kListTags:
        res = co_await TagsOp(c);
        break;
      case Op::kAddPermission:
      case Op::kGetPolicy:
      case Op::kRemovePermission:
        res = co_await PermissionsOp(c);
        break;
      case Op::kCreateFunctionUrlConfig:
      case Op::kGetFunctionUrlConfig:
      case Op::kUpdateFunctionUrlConfig:
      case Op::kDeleteFunctionUrlConfig:
      case Op::kListFunctionUrlConfigs:
        res = co_await FunctionUrlConfigOp(c);
        break;
      case Op::kHealth:
        res = Json(200, {{"status", "ok"}});
        break;
      case Op::kAdminListAccounts:
      case Op::kAdminCreateAccount:
      case Op::kAdminDeleteAccount:
      case Op::kAdminListKeys:
      case Op::kAdminCreateKey:
      case Op::kAdminUpdateKey:
      case Op::kAdminDeleteKey:
      case Op::kAdminReadAudit:
        if (admin_) {
          res = co_await admin_->Handle(c.match, c.req, c.principal);
        } else {
          res = LambdaError(404, "UnknownOperationException", "The admin API is not enabled");
        }
        break;
    }
  } catch (const std::exception& e) {
    // An exception here is a bug: answer like Lambda does and keep serving.
    spdlog::error("{} failed: {}", OpName(c.match.op), e.what());
    res = LambdaError(500, "ServiceException", "Internal error", "Service");
  }
  co_return res;
}

asio::awaitable<void> LambdaApi::Audit(const PendingAudit& a, const http::Response& res) {
  auth::AuditEntry e;
  e.time_ms = d_.clock.WallMillis();
  e.account_id = a.principal.account_id;
  e.access_key_id = a.principal.access_key_id;
  e.action = a.target.action;
  e.resource = a.target.resource;
  e.source_ip = a.source_ip;
  e.status = res.status;
  if (res.status >= 300) e.error_type = std::string(res.HeaderValue("x-amzn-ErrorType"));
  // Durable before the answer goes out, like the change it records.
  auto st = co_await RunBlocking(d_.blocking, [&] { return audit_->Append(e); });
  if (!st) spdlog::error("audit log: {}", st.error().message);
}

Result<FunctionRef> LambdaApi::RequestRef(const Ctx& c) const {
  auto ref = ParseFunctionRef(c.match.name);
  if (!ref) return ref.error();
  if (auto st = CheckRefScope(*ref, d_.account.region, d_.account.account_id, c.match.name); !st)
    return st.error();
  if (auto q = c.req.QueryParam("Qualifier"); q && !q->empty()) {
    if (!ref->qualifier.empty() && ref->qualifier != *q) {
      return MakeError(
          Errc::kInvalidArgument,
          "The derived qualifier from the function name does not match the specified qualifier.");
    }
    ref->qualifier = *q;
  }
  return ref;
}

asio::awaitable<Result<FunctionConfig>> LambdaApi::Load(Ctx& c) {
  auto ref = RequestRef(c);
  if (!ref) co_return ref.error();
  c.ref = std::move(ref.value());
  if (!c.ref.qualifier.empty() && c.ref.qualifier != "$LATEST") {
    co_return MakeError(Errc::kNotFound, "Function not found: " +
                                             FunctionArn(d_.account, c.ref.name, c.ref.qualifier));
  }
  auto f = co_await d_.catalog.Get(c.ref.name);
  if (!f && f.error().code == Errc::kNotFound) {
    co_return MakeError(Errc::kNotFound,
                        "Function not found: " + FunctionArn(d_.account, c.ref.name));
  }
  co_return f;
}

asio::awaitable<Result<ResolvedFunction>> LambdaApi::LoadQualified(Ctx& c, bool route) {
  std::string qualifier;
  if (auto q = c.req.QueryParam("Qualifier")) qualifier = *q;
  auto r = co_await d_.resolver.Resolve(c.match.name, std::move(qualifier), route);
  if (!r) co_return r.error();
  c.ref = FunctionRef{r->name, r->qualifier};
  co_return r;
}

asio::awaitable<http::Response> LambdaApi::CreateFunction(Ctx& c) {
  if (!AcceptableJsonContentType(c.req.HeaderValue("Content-Type"))) {
    co_return LambdaError(415, "UnsupportedMediaTypeException", "The request body must be JSON");
  }
  if (c.req.body.size() > kMaxCreateRequestBytes) {
    co_return LambdaError(413, "RequestTooLargeException",
                          "Request must be smaller than " + std::to_string(kMaxCreateRequestBytes) +
                              " bytes for the CreateFunction operation");
  }
  // Parsing, decoding, hashing and unzipping a 50 MB package is blocking work.
  bool publish = false;
  auto created = co_await RunBlocking(d_.blocking, [&]() -> Result<FunctionConfig> {
    auto body = ParseBody(c.req.body);
    if (!body) return body.error();
    auto f = ConfigFromCreateRequest(*body);
    if (!f) return f.error();
    FunctionTags tags;
    if (auto it = body->find("Tags"); it != body->end() && !it->is_null()) {
      auto read = TagsFromJson(*it);
      if (!read) return read.error();
      tags = std::move(*read);
    }
    publish = BoolField(*body, "Publish");
    auto code = body->find("Code");
    if (code == body->end()) return MakeError(Errc::kInvalidArgument, "Code is required");
    auto zip = ZipFrom(*code);
    if (!zip) return zip.error();
    if (d_.store.GetFunction(f->name)) {
      return MakeError(Errc::kConflict, "Function already exist: " + f->name);
    }
    auto stored = d_.code.Put(*zip);
    if (!stored) return stored.error();
    f->code_sha256_hex = stored->sha256_hex;
    f->code_size = stored->size;
    f->last_modified_ms = d_.clock.WallMillis();
    f->revision_id = NewUuid();
    if (auto st = d_.store.CreateFunction(*f, tags); !st) return st.error();
    return std::move(f.value());
  });
  if (!created) co_return LambdaErrorFrom(created.error());
  spdlog::info("created function {} ({}, {} bytes)", created->name, created->runtime,
               created->code_size);
  if (!created->dead_letter_arn.empty())
    (void)co_await EnsureDestination(created->dead_letter_arn, true);
  Remember(*created);
  if (publish) {
    auto v = co_await Publish(*created, nullptr);
    if (!v) co_return LambdaErrorFrom(v.error());
    co_return Json(201, FunctionConfigurationJson(*v, d_.account));
  }
  co_return Json(201, FunctionConfigurationJson(*created, d_.account));
}

asio::awaitable<http::Response> LambdaApi::ListFunctions(Ctx& c) {
  size_t max_items = kMaxListPage;
  if (auto m = c.req.QueryParam("MaxItems")) {
    char* end = nullptr;
    long v = std::strtol(m->c_str(), &end, 10);
    if (m->empty() || *end != '\0' || v < 1 || v > 10000) {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "MaxItems must be between 1 and 10000");
    }
    max_items = std::min(static_cast<size_t>(v), kMaxListPage);
  }
  std::string after;
  if (auto marker = c.req.QueryParam("Marker"); marker && !marker->empty()) {
    auto decoded = Base64Decode(*marker);
    if (!decoded || !IsValidFunctionName(*decoded)) {
      co_return LambdaError(400, "InvalidParameterValueException", "Invalid Marker");
    }
    after = *decoded;
  }
  auto page = co_await RunBlocking(d_.blocking,
                                   [&] { return d_.store.ListFunctions(after, max_items + 1); });
  if (!page) co_return LambdaErrorFrom(page.error());
  json out = {{"Functions", json::array()}};
  for (size_t i = 0; i < page->size() && i < max_items; ++i) {
    out["Functions"].push_back(FunctionConfigurationJson((*page)[i], d_.account));
  }
  if (page->size() > max_items) out["NextMarker"] = Base64Encode((*page)[max_items - 1].name);
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::GetFunction(Ctx& c, bool configuration_only) {
  auto r = co_await LoadQualified(c, false);
  if (!r) co_return LambdaErrorFrom(r.error());
  const FunctionConfig* f = &r->function;
  json config = FunctionConfigurationJson(*f, d_.account, r->qualifier);
  if (configuration_only) co_return Json(200, config);
  std::string host(c.req.HeaderValue("Host"));
  if (host.empty()) host = "127.0.0.1";
  // A presigned URL, as Lambda's: signed with the caller's own key for 10 minutes, so it is
  // useless to whoever lacks it and stops working when the key is disabled.
  std::string code_path = "/v1/functions/" + PercentEncode(f->name) + "/code";
  std::string code_query = "Qualifier=" + PercentEncode(f->version);
  std::string presigned = d_.auth.Presign(c.principal, "GET", host, code_path, code_query,
                                          d_.account.region, "lambda", 600);
  json out = {{"Configuration", config},
              {"Code",
               {{"RepositoryType", "S3"},
                {"Location", std::string(urls_ && urls_->https() ? "https://" : "http://") + host +
                                 code_path + "?" + presigned}}}};
  // The function's tags, whichever version was asked for, and only to a caller who may ListTags
  // it (Lambda's rule since 2024: GetFunction alone does not reveal tags); Lambda leaves Tags out
  // when there are none. A function deleted since it was resolved just shows none.
  AccessTarget list_tags{"lambda:ListTags", FunctionArn(d_.account, f->name)};
  if (c.principal.account_id != d_.account.account_id || CheckAccess(c.principal, list_tags)) {
    out["TagsError"] = {
        {"ErrorCode", "AccessDeniedException"},
        {"Message", "User: " + c.principal.Arn() +
                        " is not authorized to perform: lambda:ListTags on "
                        "resource: " +
                        list_tags.resource + " because no identity-based policy allows it"}};
  } else {
    auto tags = co_await RunBlocking(d_.blocking, [&] { return d_.store.ListTags(f->name); });
    if (tags && !tags->empty()) out["Tags"] = *tags;
  }
  if (f->reserved_concurrency >= 0) {
    out["Concurrency"] = {{"ReservedConcurrentExecutions", f->reserved_concurrency}};
  }
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::DeleteFunction(Ctx& c) {
  auto r = co_await LoadQualified(c, false);
  if (!r) co_return LambdaErrorFrom(r.error());
  if (c.ref.qualifier == "$LATEST") {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "$LATEST version cannot be deleted without deleting the function.");
  }
  if (r->via_alias) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Deletion of aliases is not supported by DeleteFunction; use "
                          "DeleteAlias: " +
                              r->invoked_arn);
  }
  if (!c.ref.qualifier.empty()) co_return co_await DeleteVersion(c, *r);
  const FunctionConfig* f = &r->function;
  auto st = co_await RunBlocking(d_.blocking, [&] { return d_.store.DeleteFunction(f->name); });
  if (!st) co_return LambdaErrorFrom(st.error());
  Forget(f->name);
  if (auto dropped = co_await RunBlocking(
          d_.blocking, [&] { return d_.async_store.DropFunctionEvents(f->name); });
      !dropped) {
    spdlog::error("dropping {}'s pending events: {}", f->name, dropped.error().message);
  }
  if (urls_) {
    if (auto dropped = co_await urls_->DeleteAll(f->name); !dropped) {
      spdlog::error("dropping {}'s function URLs: {}", f->name, dropped.error().message);
    }
  }
  if (provisioned_) {
    if (auto dropped =
            co_await RunBlocking(d_.blocking, [&] { return provisioned_->DeleteAll(f->name); });
        !dropped) {
      spdlog::error("dropping {}'s provisioned concurrency: {}", f->name, dropped.error().message);
    }
  }
  d_.scheduler.Retire(f->name);
  d_.scheduler.limits().SetReservation(f->name, -1);
  d_.metrics.Forget(f->name);
  d_.logs.Forget(f->name);
  spdlog::info("deleted function {}", f->name);
  co_return NoContent();
}

asio::awaitable<http::Response> LambdaApi::UpdateFunctionConfiguration(Ctx& c) {
  if (!AcceptableJsonContentType(c.req.HeaderValue("Content-Type"))) {
    co_return LambdaError(415, "UnsupportedMediaTypeException", "The request body must be JSON");
  }
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto body = ParseBody(c.req.body);
  if (!body) co_return LambdaErrorFrom(body.error());
  if (auto rev = body->find("RevisionId");
      rev != body->end() && rev->is_string() && *rev != f->revision_id) {
    co_return LambdaErrorFrom(MakeError(Errc::kPreconditionFailed, kRevisionMismatch));
  }
  FunctionConfig updated = *f;
  if (auto st = ApplyConfigUpdate(updated, *body); !st) co_return LambdaErrorFrom(st.error());
  updated.revision_id = NewUuid();
  updated.last_modified_ms = d_.clock.WallMillis();
  auto st = co_await RunBlocking(d_.blocking,
                                 [&] { return d_.store.UpdateFunction(updated, f->revision_id); });
  if (!st) co_return LambdaErrorFrom(st.error());
  if (!updated.dead_letter_arn.empty())
    (void)co_await EnsureDestination(updated.dead_letter_arn, true);
  Remember(updated);
  d_.scheduler.RetireVersion(updated.name, "$LATEST");
  co_return Json(200, FunctionConfigurationJson(updated, d_.account));
}

asio::awaitable<http::Response> LambdaApi::UpdateFunctionCode(Ctx& c) {
  if (!AcceptableJsonContentType(c.req.HeaderValue("Content-Type"))) {
    co_return LambdaError(415, "UnsupportedMediaTypeException", "The request body must be JSON");
  }
  if (c.req.body.size() > kMaxCreateRequestBytes) {
    co_return LambdaError(413, "RequestTooLargeException",
                          "Request must be smaller than " + std::to_string(kMaxCreateRequestBytes) +
                              " bytes for the UpdateFunctionCode operation");
  }
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  bool dry_run = false, publish = false;
  auto updated = co_await RunBlocking(d_.blocking, [&]() -> Result<FunctionConfig> {
    auto body = ParseBody(c.req.body);
    if (!body) return body.error();
    if (auto rev = body->find("RevisionId");
        rev != body->end() && rev->is_string() && *rev != f->revision_id) {
      return MakeError(Errc::kPreconditionFailed, kRevisionMismatch);
    }
    auto zip = ZipFrom(*body);
    if (!zip) return zip.error();
    auto stored = d_.code.Put(*zip);
    if (!stored) return stored.error();
    FunctionConfig u = *f;
    u.code_sha256_hex = stored->sha256_hex;
    u.code_size = stored->size;
    u.revision_id = NewUuid();
    u.last_modified_ms = d_.clock.WallMillis();
    dry_run = BoolField(*body, "DryRun");
    publish = BoolField(*body, "Publish");
    if (dry_run) return u;
    if (auto st = d_.store.UpdateFunction(u, f->revision_id); !st) return st.error();
    return u;
  });
  if (!updated) co_return LambdaErrorFrom(updated.error());
  if (dry_run) co_return Json(200, FunctionConfigurationJson(*updated, d_.account));  // not stored
  Remember(*updated);
  d_.scheduler.RetireVersion(updated->name, "$LATEST");
  if (publish) {
    auto v = co_await Publish(*updated, nullptr);
    if (!v) co_return LambdaErrorFrom(v.error());
    co_return Json(200, FunctionConfigurationJson(*v, d_.account));
  }
  co_return Json(200, FunctionConfigurationJson(*updated, d_.account));
}

std::optional<http::Response> LambdaApi::CheckInvokeInput(const Ctx& c, const std::string& type,
                                                          std::string& client_context) const {
  if (auto log_type = c.req.HeaderValue("X-Amz-Log-Type");
      !log_type.empty() && !http::IEquals(log_type, "None") && !http::IEquals(log_type, "Tail")) {
    return LambdaError(400, "InvalidParameterValueException",
                       "Value '" + std::string(log_type) +
                           "' at 'logType' failed to satisfy constraint: Member must satisfy enum "
                           "value set: [Tail, None]");
  }
  const size_t limit = type == "Event" ? kMaxAsyncPayloadBytes : kMaxSyncPayloadBytes;
  if (c.req.body.size() > limit) {
    return LambdaError(413, "RequestTooLargeException",
                       std::to_string(c.req.body.size()) + " byte payload is too large for the " +
                           type + " invocation type (limit " + std::to_string(limit) + " bytes)");
  }
  // The payload passes through as bytes: validated without a DOM (iterative) and at any depth,
  // as Lambda accepts any JSON document; nothing in Alto parses it (async records splice it).
  if (!c.req.body.empty() && !IsJson(c.req.body)) {
    return LambdaError(400, "InvalidRequestContentException",
                       "Could not parse request body into json: Could not parse payload into json");
  }
  if (auto cc = c.req.HeaderValue("X-Amz-Client-Context"); !cc.empty()) {
    auto decoded = Base64Decode(cc);
    if (cc.size() > kMaxClientContextBytes || !decoded || !IsJson(*decoded)) {
      return LambdaError(
          400, "InvalidRequestContentException",
          "Client context must be a valid Base64-encoded JSON object of at most 3583 bytes");
    }
    client_context = std::move(*decoded);
  }
  return std::nullopt;
}

std::string EncodedLogTail(std::string_view log) {
  if (log.size() > kLogTailBytes) log.remove_prefix(log.size() - kLogTailBytes);
  return Base64Encode(log);
}

asio::awaitable<http::Response> LambdaApi::Invoke(Ctx& c) {
  if (!admitting_) {
    co_return LambdaError(503, "ServiceException", "The server is shutting down", "Service");
  }
  std::string type(c.req.HeaderValue("X-Amz-Invocation-Type"));
  if (type.empty()) type = "RequestResponse";
  if (type != "RequestResponse" && type != "DryRun" && type != "Event") {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Unsupported invocation type: " + type);
  }
  std::string client_context;
  if (auto bad = CheckInvokeInput(c, type, client_context)) co_return *bad;
  auto f = co_await LoadQualified(c, true);
  if (!f) co_return LambdaErrorFrom(f.error());
  if (type == "Event") co_return co_await InvokeEvent(c, *f, false);
  if (type == "DryRun") {
    http::Response r;
    r.status = 204;
    r.Set("X-Amz-Executed-Version", f->executed_version);
    co_return r;
  }
  InvokeRequest ir;
  ir.invoked_arn = f->invoked_arn;
  ir.function = std::move(f->function);
  ir.payload = c.req.body.empty() ? std::string("{}") : std::move(c.req.body);
  ir.client_context = std::move(client_context);
  auto result = co_await d_.invoker.Invoke(std::move(ir));
  if (!result) co_return LambdaErrorFrom(result.error());
  http::Response r;
  r.status = 200;
  r.body = std::move(result->body);
  r.Set("Content-Type", "application/json");
  r.Set("X-Amz-Executed-Version", result->executed_version);
  r.Set("x-amzn-RequestId", result->request_id);
  if (result->function_error) r.Set("X-Amz-Function-Error", "Unhandled");
  if (http::IEquals(c.req.HeaderValue("X-Amz-Log-Type"), "Tail")) {
    r.Set("X-Amz-Log-Result", EncodedLogTail(result->log));
  }
  co_return r;
}

asio::awaitable<http::Response> LambdaApi::GetAccountSettings(Ctx&) {
  auto all = co_await RunBlocking(d_.blocking, [&] { return d_.store.ListFunctions("", 100000); });
  if (!all) co_return LambdaErrorFrom(all.error());
  int64_t code_size = 0;
  for (const auto& f : *all) code_size += f.code_size;
  json out = {{"AccountLimit",
               {{"TotalCodeSize", int64_t{80} * 1024 * 1024 * 1024},
                {"CodeSizeUnzipped", 262144000},
                {"CodeSizeZipped", 52428800},
                {"ConcurrentExecutions", d_.scheduler.limits().node_limit()},
                {"UnreservedConcurrentExecutions", d_.scheduler.limits().unreserved_limit()}}},
              {"AccountUsage", {{"TotalCodeSize", code_size}, {"FunctionCount", all->size()}}}};
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::FunctionLogsNative(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  size_t limit = 20;
  if (auto l = c.req.QueryParam("limit"))
    limit = std::clamp<size_t>(std::strtoul(l->c_str(), nullptr, 10), 1, 100);
  json out = {{"FunctionName", f->name}, {"Invocations", json::array()}};
  for (const auto& log : d_.logs.Recent(f->name, limit)) {
    out["Invocations"].push_back(
        {{"RequestId", log.request_id}, {"Timestamp", log.timestamp_ms}, {"Log", log.text}});
  }
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::FunctionCodeNative(Ctx& c) {
  auto resolved = co_await LoadQualified(c, false);
  if (!resolved) co_return LambdaErrorFrom(resolved.error());
  const FunctionConfig* f = &resolved->function;
  auto zip = co_await RunBlocking(d_.blocking, [&]() -> Result<std::string> {
    if (auto st = d_.code.Ensure(f->code_sha256_hex); !st) return st.error();
    return d_.code.ReadZip(f->code_sha256_hex);
  });
  if (!zip) co_return LambdaErrorFrom(zip.error());
  http::Response r;
  r.body = std::move(zip.value());
  r.Set("Content-Type", "application/zip");
  co_return r;
}

}  // namespace alto
