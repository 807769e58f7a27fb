// AddPermission, GetPolicy and RemovePermission: a function's resource-based policy (one per
// function and one per version or alias, as on Lambda), stored beside the function in the state
// core (MetadataStore::ChangePolicy), and its enforcement on callers of other accounts.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/lambda_api.h"
#include "api/qualifier.h"
#include "api/resource_policy.h"
#include "common/blocking.h"
#include "common/encoding.h"
#include "common/json.h"

namespace alto {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr const char* kNoPolicy = "No policy is associated with the given resource.";
constexpr const char* kPolicyRevisionMismatch =
    "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to "
    "retrieve the latest Revision Id";

// Lambda's error for each failure of these operations: as every operation's, but for a named
// validation error and the policy's own length limit.
http::Response PolicyError(const Error& e) {
  if (e.code == Errc::kInvalidArgument && !e.reason.empty())
    return LambdaError(400, e.reason, e.message);
  if (e.code == Errc::kTooLarge)
    return LambdaError(400, "PolicyLengthExceededException", e.message);
  return LambdaErrorFrom(e);
}

}  // namespace

asio::awaitable<http::Response> LambdaApi::PermissionsOp(Ctx& c) {
  // The input first, as Lambda validates it: a bad body or statement id is a 400 whether or not
  // the function exists.
  PermissionRequest req;
  if (c.match.op == Op::kAddPermission) {
    auto parsed = ParseAddPermission(c.req.body);
    if (!parsed) co_return PolicyError(parsed.error());
    req = std::move(*parsed);
  }
  const std::string& sid = c.match.statement_id;
  if (c.match.op == Op::kRemovePermission && !IsValidStatementId(sid)) {
    co_return LambdaError(400, "ValidationException",
                          "1 validation error detected: Value '" + sid.substr(0, 256) +
                              "' at 'statementId' failed to satisfy constraint: Member must "
                              "satisfy regular expression pattern: ([a-zA-Z0-9-_.]+) and have "
                              "length 1 to 100");
  }
  auto ref = RequestRef(c);
  if (!ref) co_return LambdaErrorFrom(ref.error());
  std::string qualifier = ref->qualifier;
  // The function and the version or alias must exist, for every operation.
  auto r = co_await d_.resolver.Resolve(ref->name, qualifier, /*route=*/false);
  if (!r) co_return LambdaErrorFrom(r.error());
  const std::string name = r->name;
  // The canonical qualifier: the alias's name, the version's number, "" for $LATEST.
  if (r->via_alias) {
    qualifier = r->qualifier;
  } else if (KindOf(qualifier) == QualifierKind::kVersion) {
    qualifier = r->executed_version;
  } else {
    qualifier.clear();
  }
  c.ref.name = name;
  c.ref.qualifier = qualifier;
  const std::string arn = FunctionArn(d_.account, name, qualifier);

  if (c.match.op == Op::kGetPolicy) {
    auto p = co_await RunBlocking(d_.blocking, [&] { return d_.store.GetPolicy(name, qualifier); });
    if (!p) co_return PolicyError(p.error());
    co_return http::JsonResponse(
        200, DumpJson(json{{"Policy", p->document}, {"RevisionId", p->revision_id}}));
  }

  if (c.match.op == Op::kAddPermission) {
    auto statement = BuildStatement(req, arn);
    if (!statement) co_return PolicyError(statement.error());
    auto st = co_await RunBlocking(d_.blocking, [&] {
      return d_.store.ChangePolicy(
          name, qualifier, [&](const StoredPolicy* current) -> Result<std::optional<StoredPolicy>> {
            if (!req.revision_id.empty() && (!current || current->revision_id != req.revision_id))
              return MakeError(Errc::kPreconditionFailed, kPolicyRevisionMismatch);
            PolicyDoc doc;
            if (current) {
              auto read = ParsePolicyDoc(current->document);
              if (!read)
                return MakeError(Errc::kInternal, "stored policy: " + read.error().message);
              doc = std::move(*read);
            }
            if (auto added = AddStatement(doc, *statement); !added) return added.error();
            return std::optional<StoredPolicy>(StoredPolicy{PolicyDocJson(doc), NewUuid()});
          });
    });
    if (!st) co_return PolicyError(st.error());
    spdlog::info("added permission {} to {}", req.statement_id, arn);
    co_return http::JsonResponse(
        201, DumpJson(json{
                 {"Statement", statement->dump(-1, ' ', false, json::error_handler_t::replace)}}));
  }

  // RemovePermission
  std::string revision;
  if (auto q = c.req.QueryParam("RevisionId")) revision = *q;
  auto st = co_await RunBlocking(d_.blocking, [&] {
    return d_.store.ChangePolicy(
        name, qualifier, [&](const StoredPolicy* current) -> Result<std::optional<StoredPolicy>> {
          if (!current) return MakeError(Errc::kNotFound, kNoPolicy);
          if (!revision.empty() && current->revision_id != revision)
            return MakeError(Errc::kPreconditionFailed, kPolicyRevisionMismatch);
          auto doc = ParsePolicyDoc(current->document);
          if (!doc) return MakeError(Errc::kInternal, "stored policy: " + doc.error().message);
          if (auto removed = RemoveStatement(*doc, sid); !removed) return removed.error();
          if (doc->statements.empty()) return std::optional<StoredPolicy>();
          return std::optional<StoredPolicy>(StoredPolicy{PolicyDocJson(*doc), NewUuid()});
        });
  });
  if (!st) co_return PolicyError(st.error());
  spdlog::info("removed permission {} from {}", sid, arn);
  http::Response res;
  res.status = 204;
  co_return res;
}

asio::awaitable<std::optional<http::Response>> LambdaApi::CrossAccountAccess(
    const auth::Caller& p, const AccessTarget& t, http::Response refusal) {
  auto deny = [&] {
    return LambdaError(403, "AccessDeniedException",
                       "User: " + p.Arn() + " is not authorized to perform: " + t.action +
                           " on resource: " + t.resource +
                           " because no resource-based policy allows the " + t.action + " action");
  };
  // Only a function of this node has a resource policy: account-wide operations, queues and
  // the rest are refused outright.
  const std::string prefix =
      "arn:aws:lambda:" + d_.account.region + ":" + d_.account.account_id + ":function:";
  if (!t.resource.starts_with(prefix)) co_return refusal;
  std::string name = t.resource.substr(prefix.size());
  std::string qualifier;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    qualifier = name.substr(colon + 1);
    name.resize(colon);
  }
  if (!IsValidFunctionName(name) || name.find(':') != std::string::npos ||
      (!qualifier.empty() && !IsVersionNumber(qualifier) && !IsValidAliasName(qualifier)))
    co_return deny();
  auto stored =
      co_await RunBlocking(d_.blocking, [&] { return d_.store.GetPolicy(name, qualifier); });
  if (!stored) {
    if (stored.error().code != Errc::kNotFound)
      spdlog::error("resource policy of {}: {}", t.resource, stored.error().message);
    co_return deny();
  }
  auto doc = ParsePolicyDoc(stored->document);
  if (!doc) {
    spdlog::error("resource policy of {}: {}", t.resource, doc.error().message);
    co_return deny();
  }
  if (!ResourcePolicyAllows(*doc, p, t.action)) co_return deny();
  // Across accounts IAM wants both: the resource policy and the caller's own (an administrator
  // key has none to satisfy).
  co_return CheckAccess(p, t);
}

}  // namespace alto
