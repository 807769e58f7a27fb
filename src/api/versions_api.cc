// PublishVersion, ListVersionsByFunction, deleting a version, and aliases with weighted routing.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "api/qualifier.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr size_t kMaxListPage = 50;
constexpr const char* kRevisionMismatch =
    "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
    "API to retrieve the latest Revision Id";

http::Response Json(int status, const json& body) {
  return http::JsonResponse(status, DumpJson(body));
}

Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

Result<json> ParseObject(const std::string& body) { return ParseRequestObject(body); }

// Reads an optional string field; a present field of another type is an error.
Status ReadString(const json& body, const char* field, std::optional<std::string>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) return Invalid(std::string("Value for '") + field + "' must be a string");
  out = it->get<std::string>();
  return {};
}

// MaxItems (1-10000, at most 50 returned) and Marker (base64 of the last key of a page).
struct Page {
  size_t max_items = kMaxListPage;
  std::string after;
};

Result<Page> ReadPage(const http::Request& req) {
  Page p;
  if (auto m = req.QueryParam("MaxItems")) {
    char* end = nullptr;
    long v = std::strtol(m->c_str(), &end, 10);
    if (m->empty() || *end != '\0' || v < 1 || v > 10000) {
      return Invalid("MaxItems must be between 1 and 10000");
    }
    p.max_items = std::min(static_cast<size_t>(v), kMaxListPage);
  }
  if (auto marker = req.QueryParam("Marker"); marker && !marker->empty()) {
    auto decoded = Base64Decode(*marker);
    if (!decoded || decoded->empty()) return Invalid("Invalid Marker");
    p.after = *decoded;
  }
  return p;
}

// Keeps the items after page.after (by key) and at most max_items of them; the next marker.
template <class T, class Key>
std::string Paginate(std::vector<T>& items, const Page& page, Key key) {
  if (!page.after.empty()) {
    auto it =
        std::find_if(items.begin(), items.end(), [&](const T& x) { return key(x) == page.after; });
    items.erase(items.begin(), it == items.end() ? items.end() : it + 1);
  }
  if (items.size() <= page.max_items) return {};
  items.resize(page.max_items);
  return Base64Encode(key(items.back()));
}

std::string CodeSha256Base64(const FunctionConfig& f, const AccountInfo& a) {
  return FunctionConfigurationJson(f, a)["CodeSha256"].get<std::string>();
}

}  // namespace

asio::awaitable<Result<FunctionConfig>> LambdaApi::Publish(const FunctionConfig& latest,
                                                           const std::string* description) {
  FunctionConfig snapshot = latest;
  snapshot.revision_id = NewUuid();
  snapshot.last_modified_ms = d_.clock.WallMillis();
  if (description) snapshot.description = *description;
  auto v = co_await RunBlocking(
      d_.blocking, [&] { return d_.store.PublishVersion(snapshot, latest.revision_id); });
  if (!v) co_return v.error();
  Remember(*v);
  spdlog::info("published {} version {}", v->name, v->version);
  co_return v;
}

asio::awaitable<http::Response> LambdaApi::PublishVersion(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  if (!c.ref.qualifier.empty()) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "PublishVersion takes an unqualified function name");
  }
  auto body = ParseObject(c.req.body);
  if (!body) co_return LambdaErrorFrom(body.error());
  std::optional<std::string> sha, description, revision;
  for (auto st :
       {ReadString(*body, "CodeSha256", sha), ReadString(*body, "Description", description),
        ReadString(*body, "RevisionId", revision)}) {
    if (!st) co_return LambdaErrorFrom(st.error());
  }
  if (revision && *revision != f->revision_id) {
    co_return LambdaErrorFrom(MakeError(Errc::kPreconditionFailed, kRevisionMismatch));
  }
  if (sha && !sha->empty()) {
    std::string current = CodeSha256Base64(*f, d_.account);
    if (*sha != current) {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "CodeSHA256 (" + *sha +
                                ") is different from current CodeSHA256 in $LATEST (" + current +
                                "). Please try again");
    }
  }
  if (description && description->size() > 256) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Description must be at most 256 characters");
  }
  const std::string* desc = description ? &*description : nullptr;
  auto v = co_await Publish(*f, desc);
  if (!v) co_return LambdaErrorFrom(v.error());
  co_return Json(201, FunctionConfigurationJson(*v, d_.account));
}

asio::awaitable<http::Response> LambdaApi::ListVersions(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto page = ReadPage(c.req);
  if (!page) co_return LambdaErrorFrom(page.error());
  const std::string name = f->name;
  auto versions = co_await RunBlocking(d_.blocking, [&] { return d_.store.ListVersions(name); });
  if (!versions) co_return LambdaErrorFrom(versions.error());
  std::string next = Paginate(
      *versions, *page, [](const FunctionConfig& v) -> const std::string& { return v.version; });
  json out = {{"Versions", json::array()}};
  for (const auto& v : *versions) {
    out["Versions"].push_back(FunctionConfigurationJson(v, d_.account, v.version));
  }
  if (!next.empty()) out["NextMarker"] = next;
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::DeleteVersion(Ctx& c, const ResolvedFunction& r) {
  const std::string name = r.name, version = r.executed_version;
  auto st =
      co_await RunBlocking(d_.blocking, [&] { return d_.store.DeleteVersion(name, version); });
  if (!st) {
    if (st.error().code == Errc::kNotFound) {
      co_return LambdaError(404, "ResourceNotFoundException",
                            "Function not found: " + r.invoked_arn);
    }
    co_return LambdaErrorFrom(st.error());
  }
  d_.catalog.ForgetVersion(name, version);
  d_.scheduler.RetireVersion(name, version);
  if (auto gone = co_await ForgetProvisioned(name, version); !gone) {
    spdlog::warn("delete version {}:{}: provisioned concurrency: {}", name, version,
                 gone.error().message);
  }
  spdlog::info("deleted function {} version {}", name, version);
  http::Response res;
  res.status = 204;
  co_return res;
}

asio::awaitable<http::Response> LambdaApi::ListAliases(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  auto page = ReadPage(c.req);
  if (!page) co_return LambdaErrorFrom(page.error());
  const std::string name = f->name;
  auto aliases = co_await RunBlocking(d_.blocking, [&] { return d_.store.ListAliases(name); });
  if (!aliases) co_return LambdaErrorFrom(aliases.error());
  if (auto v = c.req.QueryParam("FunctionVersion"); v && !v->empty()) {
    std::erase_if(*aliases, [&](const AliasConfig& a) {
      return a.function_version != *v && a.additional_version != *v;
    });
  }
  std::string next =
      Paginate(*aliases, *page, [](const AliasConfig& a) -> const std::string& { return a.name; });
  json out = {{"Aliases", json::array()}};
  for (const auto& a : *aliases) out["Aliases"].push_back(AliasConfigurationJson(a, d_.account));
  if (!next.empty()) out["NextMarker"] = next;
  co_return Json(200, out);
}

asio::awaitable<http::Response> LambdaApi::AliasOp(Ctx& c) {
  auto f = co_await Load(c);
  if (!f) co_return LambdaErrorFrom(f.error());
  const std::string fn = f->name;
  const Op op = c.match.op;
  std::string alias_name = c.match.alias;
  json body = json::object();
  if (op == Op::kCreateAlias || op == Op::kUpdateAlias) {
    auto parsed = ParseObject(c.req.body);
    if (!parsed) co_return LambdaErrorFrom(parsed.error());
    body = std::move(parsed.value());
  }
  if (op == Op::kCreateAlias) {
    std::optional<std::string> n;
    if (auto st = ReadString(body, "Name", n); !st) co_return LambdaErrorFrom(st.error());
    alias_name = n.value_or("");
  }
  if (!IsValidAliasName(alias_name)) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "1 validation error detected: Value '" + alias_name +
                              "' at 'name' failed to satisfy constraint: Member must satisfy "
                              "regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)");
  }
  const std::string alias_arn = FunctionArn(d_.account, fn, alias_name);

  if (op == Op::kGetAlias) {
    auto a = co_await d_.catalog.GetAlias(fn, alias_name);
    if (!a && a.error().code == Errc::kNotFound) {
      co_return LambdaError(404, "ResourceNotFoundException", "Alias not found: " + alias_arn);
    }
    if (!a) co_return LambdaErrorFrom(a.error());
    co_return Json(200, AliasConfigurationJson(*a, d_.account));
  }
  if (op == Op::kDeleteAlias) {
    auto st =
        co_await RunBlocking(d_.blocking, [&] { return d_.store.DeleteAlias(fn, alias_name); });
    if (!st && st.error().code == Errc::kNotFound) {
      co_return LambdaError(404, "ResourceNotFoundException", "Alias not found: " + alias_arn);
    }
    if (!st) co_return LambdaErrorFrom(st.error());
    d_.catalog.ForgetAlias(fn, alias_name);
    if (auto gone = co_await ForgetProvisioned(fn, alias_name); !gone) {
      spdlog::warn("delete alias {}: provisioned concurrency: {}", alias_arn, gone.error().message);
    }
    // The alias's function URL goes with it, as in Lambda.
    if (urls_ && urls_->For(fn, alias_name)) {
      if (auto gone = co_await urls_->Delete(fn, alias_name); !gone) {
        spdlog::warn("delete alias {}: its function URL: {}", alias_arn, gone.error().message);
      }
    }
    http::Response r;
    r.status = 204;
    co_return r;
  }

  // Create or update: build the new alias, then check it.
  AliasConfig alias;
  std::string expected_revision;
  if (op == Op::kUpdateAlias) {
    auto existing =
        co_await RunBlocking(d_.blocking, [&] { return d_.store.GetAlias(fn, alias_name); });
    if (!existing && existing.error().code == Errc::kNotFound) {
      co_return LambdaError(404, "ResourceNotFoundException", "Alias not found: " + alias_arn);
    }
    if (!existing) co_return LambdaErrorFrom(existing.error());
    alias = *existing;
    expected_revision = existing->revision_id;
  }
  alias.function = fn;
  alias.name = alias_name;
  std::optional<std::string> version, description, revision;
  for (auto st :
       {ReadString(body, "FunctionVersion", version), ReadString(body, "Description", description),
        ReadString(body, "RevisionId", revision)}) {
    if (!st) co_return LambdaErrorFrom(st.error());
  }
  if (op == Op::kCreateAlias && !version) {
    co_return LambdaError(400, "InvalidParameterValueException", "FunctionVersion is required");
  }
  if (revision && *revision != expected_revision) {
    co_return LambdaErrorFrom(MakeError(Errc::kPreconditionFailed, kRevisionMismatch));
  }
  if (version) alias.function_version = *version;
  if (description) alias.description = *description;
  if (alias.description.size() > 256) {
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Description must be at most 256 characters");
  }
  if (auto rc = body.find("RoutingConfig"); rc != body.end()) {
    if (auto st = ApplyRoutingConfig(*rc, alias); !st) co_return LambdaErrorFrom(st.error());
  }
  if (auto st = ValidateAliasTargets(alias); !st) co_return LambdaErrorFrom(st.error());
  // Both targets must exist.
  const std::string* targets[] = {&alias.function_version, &alias.additional_version};
  for (const std::string* v : targets) {
    if (v->empty()) continue;
    auto target = co_await d_.catalog.GetVersion(fn, *v);
    if (!target && target.error().code == Errc::kNotFound) {
      co_return LambdaError(404, "ResourceNotFoundException",
                            "Function not found: " + FunctionArn(d_.account, fn, *v));
    }
    if (!target) co_return LambdaErrorFrom(target.error());
  }
  alias.revision_id = NewUuid();
  const bool create = op == Op::kCreateAlias;
  auto st = co_await RunBlocking(
      d_.blocking, [&] { return d_.store.PutAlias(alias, create, expected_revision); });
  if (!st && st.error().code == Errc::kConflict) {
    co_return LambdaError(409, "ResourceConflictException", "Alias already exists: " + alias_arn);
  }
  if (!st && st.error().code == Errc::kNotFound) {
    co_return LambdaError(404, "ResourceNotFoundException", "Alias not found: " + alias_arn);
  }
  if (!st && st.error().code == Errc::kPreconditionFailed) {
    co_return LambdaErrorFrom(MakeError(Errc::kPreconditionFailed, kRevisionMismatch));
  }
  if (!st) co_return LambdaErrorFrom(st.error());
  d_.catalog.RememberAlias(alias);
  // Provisioned concurrency of the alias follows it to its new version.
  const std::string scope_function = alias.function;
  if (int requested = d_.scheduler.provisioned(scope_function + ":" + alias.name).requested;
      requested > 0) {
    if (auto st = co_await ApplyProvisioned(scope_function, alias.name, requested); !st) {
      spdlog::warn("alias {}: provisioned concurrency: {}", alias.name, st.error().message);
    }
  }
  co_return Json(create ? 201 : 200, AliasConfigurationJson(alias, d_.account));
}

}  // namespace alto
