#include "api/access.h"

#include "api/errors.h"
#include "api/validation.h"
#include "auth/policy.h"
#include "common/json.h"
#include "invoke/destination.h"

namespace alto {

namespace {

// The IAM action of each operation, as Lambda's authorization reference names them. Alto's native
// routes borrow the action of the AWS operation they stand beside.
std::string_view ActionOf(Op op) {
  switch (op) {
    case Op::kInvoke:
    case Op::kInvokeWithResponseStream:
      return "lambda:InvokeFunction";
    case Op::kInvokeAsyncLegacy:
      return "lambda:InvokeAsync";
    case Op::kNativeFunctionCode:
    case Op::kNativeFunctionStats:
      return "lambda:GetFunction";
    case Op::kNativeFunctionLogs:
      return "logs:GetLogEvents";
    case Op::kNativeListQueues:
      return "sqs:ListQueues";
    case Op::kNativeCreateQueue:
      return "sqs:CreateQueue";
    case Op::kNativeSendMessage:
      return "sqs:SendMessage";
    case Op::kNativeReadMessages:
      return "sqs:ReceiveMessage";
    case Op::kMetrics:
      return "cloudwatch:GetMetricData";
    case Op::kGetProvisionedConcurrencyConfig:
      return "lambda:GetProvisionedConcurrencyConfig";
    case Op::kAdminListAccounts:
      return "organizations:ListAccounts";
    case Op::kAdminCreateAccount:
      return "organizations:CreateAccount";
    case Op::kAdminDeleteAccount:
      return "organizations:CloseAccount";
    case Op::kAdminListKeys:
      return "iam:ListAccessKeys";
    case Op::kAdminCreateKey:
      return "iam:CreateAccessKey";
    case Op::kAdminUpdateKey:
      return "iam:UpdateAccessKey";
    case Op::kAdminDeleteKey:
      return "iam:DeleteAccessKey";
    case Op::kAdminReadAudit:
      return "cloudtrail:LookupEvents";
    default:
      return {};
  }
}

bool AccountWide(Op op) {
  switch (op) {
    case Op::kListFunctions:
    case Op::kGetAccountSettings:
    case Op::kNativeListQueues:
    case Op::kMetrics:
    case Op::kHealth:
    case Op::kAdminListAccounts:
    case Op::kAdminCreateAccount:
    case Op::kAdminListKeys:
    case Op::kAdminCreateKey:
    case Op::kAdminReadAudit:
      return true;
    default:
      return false;
  }
}

bool AdminApiOp(Op op) {
  switch (op) {
    case Op::kAdminListAccounts:
    case Op::kAdminCreateAccount:
    case Op::kAdminDeleteAccount:
    case Op::kAdminListKeys:
    case Op::kAdminCreateKey:
    case Op::kAdminUpdateKey:
    case Op::kAdminDeleteKey:
    case Op::kAdminReadAudit:
      return true;
    default:
      return false;
  }
}

bool QueueOp(Op op) {
  return op == Op::kNativeCreateQueue || op == Op::kNativeSendMessage ||
         op == Op::kNativeReadMessages;
}

bool TagOp(Op op) {
  return op == Op::kTagResource || op == Op::kUntagResource || op == Op::kListTags;
}

}  // namespace

AccessTarget TargetOf(const RouteMatch& m, const http::Request& req, const AccountInfo& account) {
  AccessTarget t;
  std::string_view action = ActionOf(m.op);
  t.action = action.empty() ? "lambda:" + std::string(OpName(m.op)) : std::string(action);
  if (AccountWide(m.op)) {
    t.resource = "*";
    return t;
  }
  if (m.op == Op::kAdminDeleteAccount) {
    t.resource = "arn:aws:organizations::" + std::string(auth::kAdminAccountId) + ":account/" +
                 m.name.substr(0, 128);
    return t;
  }
  if (m.op == Op::kAdminUpdateKey || m.op == Op::kAdminDeleteKey) {
    t.resource = "arn:aws:iam::" + account.account_id + ":user/" + m.name;
    return t;
  }
  if (QueueOp(m.op)) {
    t.resource = QueueArn(account, m.name);
    return t;
  }
  // The tag operations name their resource by ARN: authorized on that ARN as given, so a policy
  // sees exactly what Lambda's would (bounded like the names below; the operation itself refuses
  // any ARN but an unqualified function of this account and region).
  if (TagOp(m.op) && m.name.starts_with("arn:")) {
    t.resource = m.name.substr(0, 512);
    return t;
  }
  std::string name = m.name;
  std::string qualifier;
  if (m.op == Op::kCreateFunction) {
    auto body = ParseJson(req.body, kApiJsonDepth);
    if (body && body->is_object()) {
      if (auto it = body->find("FunctionName"); it != body->end() && it->is_string())
        name = it->get<std::string>();
    }
  } else if (auto ref = ParseFunctionRef(m.name)) {
    name = ref->name;
    qualifier = ref->qualifier;
  }
  if (auto q = req.QueryParam("Qualifier"); q && !q->empty()) qualifier = *q;
  if (!m.alias.empty()) qualifier = m.alias;
  // Names come from the request unvalidated: bounded so policy matching stays cheap (a name this
  // long fails the operation's own validation anyway).
  if (name.size() > 256) name.resize(256);
  if (qualifier.size() > 256) qualifier.resize(256);
  t.resource = "arn:aws:lambda:" + account.region + ":" + account.account_id + ":function:" + name;
  if (!qualifier.empty() && qualifier != "$LATEST") t.resource += ":" + qualifier;
  return t;
}

bool IsControlPlaneChange(Op op, std::string_view method) {
  if (method == "GET" || method == "HEAD") return false;
  switch (op) {
    case Op::kInvoke:
    case Op::kInvokeWithResponseStream:
    case Op::kInvokeAsyncLegacy:
    case Op::kNativeSendMessage:
    case Op::kNativeReadMessages:
      return false;
    default:
      return true;
  }
}

std::optional<http::Response> CheckAccess(const auth::Caller& p, const AccessTarget& t) {
  if (p.admin) return std::nullopt;
  auth::AccessRequest r;
  r.action = t.action;
  r.resource = t.resource;
  r.principal_account = p.account_id;
  r.principal_arn = p.Arn();
  auto decision = p.policy ? auth::Evaluate(*p.policy, r) : auth::Decision::kImplicitDeny;
  if (decision == auth::Decision::kAllow) return std::nullopt;
  std::string why = decision == auth::Decision::kExplicitDeny
                        ? "with an explicit deny in an identity-based policy"
                        : "because no identity-based policy allows the " + t.action + " action";
  return LambdaError(403, "AccessDeniedException",
                     "User: " + p.Arn() + " is not authorized to perform: " + t.action +
                         " on resource: " + t.resource + " " + why);
}

std::optional<http::Response> CheckAccount(const auth::Caller& p, Op op, const AccessTarget& t,
                                           const AccountInfo& served) {
  if (p.account_id == served.account_id || AdminApiOp(op)) return std::nullopt;
  std::string message = "User: " + p.Arn() + " is not authorized to perform: " + t.action +
                        " on resource: " + t.resource;
  if (t.resource == "*") {
    message += " because account " + p.account_id +
               " has no Lambda resources on this node (it serves account " + served.account_id +
               ")";
  } else {
    message += " because no resource-based policy allows the " + t.action + " action";
  }
  return LambdaError(403, "AccessDeniedException", message);
}

http::Response LambdaAuthError(const auth::AuthFailure& f) {
  switch (f.kind) {
    case auth::AuthFailureKind::kMissingToken:
      return LambdaError(403, "MissingAuthenticationTokenException", f.message);
    case auth::AuthFailureKind::kUnknownKey:
      return LambdaError(403, "UnrecognizedClientException", f.message);
    case auth::AuthFailureKind::kIncomplete:
      return LambdaError(403, "IncompleteSignatureException", f.message);
    case auth::AuthFailureKind::kInvalidSignature:
      return LambdaError(403, "InvalidSignatureException", f.message);
    case auth::AuthFailureKind::kExpired:
      return LambdaError(403, "AccessDeniedException", f.message);
  }
  return LambdaError(403, "AccessDeniedException", f.message);
}

}  // namespace alto
