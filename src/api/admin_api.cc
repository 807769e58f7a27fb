#include "api/admin_api.h"

#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "common/blocking.h"
#include "common/json.h"
#include "common/time.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

http::Response Json(int status, const json& body) {
  return http::JsonResponse(status, DumpJson(body));
}

json KeyJson(const auth::AccessKey& k) {
  json out = {{"AccessKeyId", k.id},
              {"Account", k.account_id},
              {"Status", k.active ? "Active" : "Inactive"},
              {"Description", k.description},
              {"CreateDate", FormatLambdaTimestamp(k.created_ms)},
              {"Admin", k.policy_json.empty()}};
  if (!k.policy_json.empty()) out["Policy"] = k.policy_json;
  return out;
}

}  // namespace

Result<std::string> AdminApi::AccountFor(const std::string& named, const auth::Caller& p) const {
  if (named.empty() || named == p.account_id) return p.account_id;
  // Keys of other accounts are the admin account's administrators' business only.
  if (p.account_id != auth::kAdminAccountId || !p.admin)
    return MakeError(Errc::kNotFound, "Account not found: " + named);
  auto a = d_.keys.GetAccount(named);
  if (!a) return a.error();
  return a->id;
}

asio::awaitable<http::Response> AdminApi::Handle(const RouteMatch& m, const http::Request& req,
                                                 const auth::Caller& p) {
  switch (m.op) {
    case Op::kAdminListAccounts: {
      auto all = co_await RunBlocking(d_.blocking, [&] { return d_.keys.ListAccounts(); });
      if (!all) co_return LambdaErrorFrom(all.error());
      json out = {{"Accounts", json::array()}};
      for (const auto& a : *all) {
        if (p.account_id != auth::kAdminAccountId && a.id != p.account_id) continue;
        out["Accounts"].push_back(
            {{"Id", a.id}, {"Name", a.name}, {"CreateDate", FormatLambdaTimestamp(a.created_ms)}});
      }
      co_return Json(200, out);
    }
    case Op::kAdminCreateAccount:
      co_return co_await CreateAccount(req, p);
    case Op::kAdminDeleteAccount:
      co_return co_await DeleteAccount(m, p);
    case Op::kAdminListKeys:
      co_return co_await ListKeys(req, p);
    case Op::kAdminCreateKey:
      co_return co_await CreateKey(req, p);
    case Op::kAdminUpdateKey:
      co_return co_await UpdateKey(m, req, p);
    case Op::kAdminDeleteKey:
      co_return co_await DeleteKey(m, p);
    case Op::kAdminReadAudit:
      co_return co_await ReadAudit(req, p);
    default:
      co_return LambdaError(404, "UnknownOperationException", "Unknown operation");
  }
}

namespace {

// Accounts are made and closed by the admin account's administrators only, as AWS Organizations'
// management account does.
std::optional<http::Response> RefuseAccountChange(const auth::Caller& p, std::string_view what) {
  if (p.account_id == auth::kAdminAccountId && p.admin) return std::nullopt;
  return LambdaError(403, "AccessDeniedException",
                     "User: " + p.Arn() + " may not " + std::string(what) +
                         ": only administrators of the admin account manage accounts");
}

}  // namespace

asio::awaitable<http::Response> AdminApi::CreateAccount(const http::Request& req,
                                                        const auth::Caller& p) {
  if (auto refused = RefuseAccountChange(p, "create accounts")) co_return std::move(*refused);
  auto body = ParseJson(req.body.empty() ? std::string_view("{}") : req.body, kApiJsonDepth);
  if (!body || !body->is_object())
    co_return LambdaError(400, "InvalidParameterValueException",
                          "The request body must be a JSON object");
  std::string name;
  for (const auto& [k, v] : body->items()) {
    if (k == "Name" && v.is_string()) {
      name = v.get<std::string>();
    } else {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "Unknown or invalid field '" + k + "' (Name: string)");
    }
  }
  if (name.empty())
    co_return LambdaError(400, "InvalidParameterValueException", "Name is required");
  auto a = co_await RunBlocking(d_.blocking, [&] { return d_.keys.CreateAccount(name); });
  if (!a) {
    if (a.error().code == Errc::kConflict)
      co_return LambdaError(409, "ResourceConflictException", a.error().message);
    co_return LambdaErrorFrom(a.error());
  }
  co_return Json(
      201,
      {{"Id", a->id}, {"Name", a->name}, {"CreateDate", FormatLambdaTimestamp(a->created_ms)}});
}

asio::awaitable<http::Response> AdminApi::DeleteAccount(const RouteMatch& m,
                                                        const auth::Caller& p) {
  if (auto refused = RefuseAccountChange(p, "delete accounts")) co_return std::move(*refused);
  auto st = co_await RunBlocking(d_.blocking, [&] { return d_.keys.DeleteAccount(m.name); });
  if (!st) {
    if (st.error().code == Errc::kInvalidArgument)
      co_return LambdaError(400, "InvalidParameterValueException", st.error().message);
    if (st.error().code == Errc::kPreconditionFailed)
      co_return LambdaError(409, "ResourceConflictException", st.error().message);
    co_return LambdaErrorFrom(st.error());
  }
  co_return http::Response{204, {}, {}, nullptr};
}

asio::awaitable<http::Response> AdminApi::CreateKey(const http::Request& req,
                                                    const auth::Caller& p) {
  auto body = ParseJson(req.body.empty() ? std::string_view("{}") : req.body, kApiJsonDepth);
  if (!body || !body->is_object())
    co_return LambdaError(400, "InvalidParameterValueException",
                          "The request body must be a JSON object");
  std::string named, policy, description;
  for (const auto& [k, v] : body->items()) {
    if (k == "Account" && v.is_string()) {
      named = v.get<std::string>();
    } else if (k == "Policy" && v.is_string()) {
      policy = v.get<std::string>();
    } else if (k == "Policy" && v.is_object()) {
      policy = DumpJson(v);
    } else if (k == "Description" && v.is_string() &&
               v.get_ref<const std::string&>().size() <= 256) {
      description = v.get<std::string>();
    } else {
      co_return LambdaError(400, "InvalidParameterValueException",
                            "Unknown or invalid field '" + k +
                                "' (Account: string, Policy: a policy document, Description: "
                                "string of at most 256 characters)");
    }
  }
  auto account = AccountFor(named, p);
  if (!account) co_return LambdaErrorFrom(account.error());
  // A key cannot hand out more than it has: only administrators make administrator keys.
  if (policy.empty() && !p.admin)
    co_return LambdaError(
        403, "AccessDeniedException",
        "User: " + p.Arn() + " may not create an administrator key (one without a Policy)");
  auto key = co_await RunBlocking(d_.blocking,
                                  [&] { return d_.keys.CreateKey(*account, policy, description); });
  if (!key) {
    if (key.error().code == Errc::kInvalidArgument)
      co_return LambdaError(400, "MalformedPolicyDocumentException", key.error().message);
    co_return LambdaErrorFrom(key.error());
  }
  json out = KeyJson(*key);
  out["SecretAccessKey"] = key->secret;  // shown once, here
  co_return Json(201, out);
}

asio::awaitable<http::Response> AdminApi::ListKeys(const http::Request& req,
                                                   const auth::Caller& p) {
  auto account = AccountFor(req.QueryParam("Account").value_or(""), p);
  if (!account) co_return LambdaErrorFrom(account.error());
  auto keys = d_.keys.ListKeys(*account);
  if (!keys) co_return LambdaErrorFrom(keys.error());
  json out = {{"AccessKeys", json::array()}};
  for (const auto& k : *keys) out["AccessKeys"].push_back(KeyJson(k));
  co_return Json(200, out);
}

asio::awaitable<http::Response> AdminApi::UpdateKey(const RouteMatch& m, const http::Request& req,
                                                    const auth::Caller& p) {
  auto body = ParseJson(req.body, kApiJsonDepth);
  std::string status;
  if (body && body->is_object()) status = body->value("Status", "");
  if (status != "Active" && status != "Inactive")
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Status must be Active or Inactive");
  auto key = d_.keys.Find(m.name);
  if (!key || !AccountFor(key->account_id, p))
    co_return LambdaError(404, "ResourceNotFoundException", "Access key not found: " + m.name);
  auto st = co_await RunBlocking(d_.blocking,
                                 [&] { return d_.keys.SetActive(m.name, status == "Active"); });
  if (!st) co_return LambdaErrorFrom(st.error());
  d_.auth.Forget(m.name);
  key = d_.keys.Find(m.name);
  co_return Json(200, key ? KeyJson(*key) : json::object());
}

asio::awaitable<http::Response> AdminApi::DeleteKey(const RouteMatch& m, const auth::Caller& p) {
  auto key = d_.keys.Find(m.name);
  if (!key || !AccountFor(key->account_id, p))
    co_return LambdaError(404, "ResourceNotFoundException", "Access key not found: " + m.name);
  if (key->id == p.access_key_id)
    co_return LambdaError(409, "ResourceConflictException",
                          "A key cannot delete itself: sign the request with another key");
  auto st = co_await RunBlocking(d_.blocking, [&] { return d_.keys.DeleteKey(m.name); });
  if (!st) co_return LambdaErrorFrom(st.error());
  d_.auth.Forget(m.name);
  co_return http::Response{204, {}, {}, nullptr};
}

asio::awaitable<http::Response> AdminApi::ReadAudit(const http::Request& req,
                                                    const auth::Caller& p) {
  auth::AuditQuery q;
  auto num = [&](const char* name, int64_t& out) {
    auto v = req.QueryParam(name);
    if (!v) return true;
    if (v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string::npos)
      return false;
    out = std::stoll(*v);
    return true;
  };
  int64_t limit = 1000;
  if (!num("Since", q.since_ms) || !num("After", q.after_seq) || !num("MaxItems", limit) ||
      limit < 1 || limit > 10000)
    co_return LambdaError(400, "InvalidParameterValueException",
                          "Since, After and MaxItems (1-10000) are non-negative integers");
  q.limit = static_cast<size_t>(limit);
  auto account = AccountFor(req.QueryParam("Account").value_or(""), p);
  if (!account) co_return LambdaErrorFrom(account.error());
  // The admin account's administrators see every account unless they name one.
  q.account_id = (p.account_id == auth::kAdminAccountId && p.admin && !req.QueryParam("Account"))
                     ? std::string()
                     : *account;
  auto entries = co_await RunBlocking(d_.blocking, [&] { return d_.audit.Read(q); });
  if (!entries) co_return LambdaErrorFrom(entries.error());
  json out = {{"Entries", json::array()}};
  for (const auto& e : entries->entries) {
    json j = {{"Seq", e.seq},
              {"Time", FormatLambdaTimestamp(e.time_ms)},
              {"TimeMs", e.time_ms},
              {"Account", e.account_id},
              {"AccessKeyId", e.access_key_id},
              {"Action", e.action},
              {"Resource", e.resource},
              {"SourceIp", e.source_ip},
              {"Status", e.status}};
    if (!e.error_type.empty()) j["ErrorType"] = e.error_type;
    out["Entries"].push_back(std::move(j));
  }
  if (entries->next_after > 0) out["NextAfter"] = entries->next_after;
  co_return Json(200, out);
}

}  // namespace alto
