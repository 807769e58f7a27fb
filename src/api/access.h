// Lambda-side authorization: which IAM action and resource each operation is, and the answers
// (Lambda's error shapes) for a request that fails authentication or authorization.
#pragma once

#include <optional>
#include <string>

#include "api/function_json.h"
#include "api/routes.h"
#include "auth/authenticator.h"
#include "http/message.h"

namespace alto {

struct AccessTarget {
  std::string action;    // lambda:GetFunction, sqs:SendMessage, ...
  std::string resource;  // an ARN, or "*" for account-wide operations (ListFunctions)
};

// The action and resource a matched operation needs. CreateFunction's resource is the function
// it would create, read from the body's FunctionName.
AccessTarget TargetOf(const RouteMatch& m, const http::Request& req, const AccountInfo& account);

// A change to the control plane (recorded in the audit log): every operation but reads,
// invocations and queue traffic.
bool IsControlPlaneChange(Op op, std::string_view method);

// nullopt when the principal may do it; else the 403 AccessDeniedException to send.
std::optional<http::Response> CheckAccess(const auth::Caller& p, const AccessTarget& t);

// A node serves the Lambda resources of one account (`served`). A caller of any other account,
// even its administrator, may use none of them: nullopt for the served account's callers and for
// the admin API (which scopes itself), else the 403 AccessDeniedException to send. Checked before
// CheckAccess, so another account's admin key never passes as an administrator here.
std::optional<http::Response> CheckAccount(const auth::Caller& p, Op op, const AccessTarget& t,
                                           const AccountInfo& served);

// Lambda's rest-json answer to a request that failed authentication.
http::Response LambdaAuthError(const auth::AuthFailure& f);

}  // namespace alto
