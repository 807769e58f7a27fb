// IAM-style policy documents: parsed, validated and evaluated the way IAM does, so that an
// identity policy or a function's resource policy written for AWS means the same thing here.
// Pure: no I/O, no globals. Documents are untrusted input: sizes, counts and JSON depth are capped
// and WildcardMatch is O(pattern * value) at worst.
//
// Supported: Version 2012-10-17 and 2008-10-17 (IAM's default when Version is absent); Effect,
// Action/NotAction, Resource/NotResource, Principal/NotPrincipal (AWS and Service), Sid, Id;
// condition operators of the String*, Arn*, Numeric* families, Bool and Null, each with an
// "IfExists" suffix (except Null).
// Refused with a clear error: ForAnyValue:/ForAllValues: set operators, Date*, IpAddress,
// Binary* operators, Federated/CanonicalUser principals, and policy variables ("${...}") in
// 2012-10-17 documents. Variables are refused rather than left literal because a literal
// "${aws:username}" never matches: harmless in an Allow, but it would silently disable a Deny.
// In 2008-10-17 documents "${" is literal text, as in IAM.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto::auth {

// IAM's limit for customer managed policies (IAM does not count whitespace; we count every byte,
// which is stricter and keeps the parser's input bounded).
constexpr size_t kIdentityPolicyMaxBytes = 6144;
// Lambda's limit for a function's resource-based policy.
constexpr size_t kResourcePolicyMaxBytes = 20480;
constexpr size_t kMaxStatements = 100;
// Per list: actions, resources, principals of one type, values of one condition key.
constexpr size_t kMaxListEntries = 100;

struct Condition {  // one operator/key/values triple, e.g. StringEquals aws:SourceAccount [...]
  std::string op;   // as written, e.g. "StringLikeIfExists"
  std::string key;  // as written; compared case-insensitively
  std::vector<std::string> values;  // JSON booleans and numbers are kept as their text
  bool operator==(const Condition&) const = default;
};

struct Principal {                   // resource policies only
  bool any = false;                  // "*" or {"AWS":"*"}
  std::vector<std::string> aws;      // account ids, root ARNs, role/user ARNs
  std::vector<std::string> service;  // "s3.amazonaws.com", ...
  bool operator==(const Principal&) const = default;
};

struct Statement {
  std::string sid;
  bool allow = false;
  std::vector<std::string> actions, not_actions;  // exactly one of them is set
  // Exactly one in identity policies; resource policies may omit both, meaning the resource the
  // policy is attached to (so any requested resource matches).
  std::vector<std::string> resources, not_resources;
  std::optional<Principal> principal, not_principal;
  std::vector<Condition> conditions;  // all must hold
  bool operator==(const Statement&) const = default;
};

struct Policy {
  std::string version;  // "2012-10-17" or "2008-10-17"
  std::string id;       // the optional top-level Id
  std::vector<Statement> statements;
  bool operator==(const Policy&) const = default;
};

enum class PolicyKind { kIdentity, kResource };

// Errors are kInvalidArgument with a message naming the problem and where, e.g.
// "Statement[1].Effect must be Allow or Deny, not 'Permit'" (statement indexes from 0).
Result<Policy> ParsePolicy(std::string_view json_text, PolicyKind kind);

// A canonical document: fixed key order, every list as an array. ParsePolicy(PolicyJson(p)) == p
// for any p that ParsePolicy produced.
std::string PolicyJson(const Policy& p);

// What a request asks for.
struct AccessRequest {
  std::string action;             // "lambda:InvokeFunction", matched case-insensitively
  std::string resource;           // ARN, e.g. arn:aws:lambda:us-east-1:123456789012:function:f
  std::string principal_account;  // caller's account id (empty for a service principal)
  std::string principal_arn;      // arn:aws:iam::123:user/u or arn:aws:sts::123:assumed-role/R/s
  std::string principal_service;  // e.g. s3.amazonaws.com when a service invokes
  // Condition keys in lowercase: aws:sourcearn, aws:sourceaccount, lambda:functionurlauthtype...
  // aws:principalaccount, aws:principalarn and aws:principalservicename default to the fields
  // above when absent.
  std::map<std::string, std::string> context;
};

enum class Decision { kAllow, kExplicitDeny, kImplicitDeny };

// IAM evaluation: any matching Deny -> kExplicitDeny; else any matching Allow -> kAllow; else
// kImplicitDeny. Policies should come from ParsePolicy; in a hand-built one, a condition operator
// Evaluate does not know counts as met in a Deny and unmet in an Allow (errs towards denying).
Decision Evaluate(const Policy& p, const AccessRequest& r);  // identity policy: Principal ignored
// Resource policy: a statement matches only if its Principal matches the caller (a statement
// without Principal or NotPrincipal matches no one).
Decision EvaluateResource(const Policy& p, const AccessRequest& r);

// Both policies combined as IAM does. Any explicit deny wins. Same account (principal_account ==
// resource_account, non-empty): allowed if either policy allows. Cross-account: both must allow.
// A service principal has no identity policy: the resource policy alone decides.
// Either pointer may be null (absent: allows nothing, denies nothing).
Decision Authorize(const Policy* identity, const Policy* resource, const AccessRequest& r,
                   std::string_view resource_account);

// IAM wildcard match: '*' any run (including ':' and '/'), '?' exactly one character, everything
// else literal; ASCII case folding when case_insensitive. O(pattern * value) at worst.
bool WildcardMatch(std::string_view pattern, std::string_view value, bool case_insensitive = false);

// ArnLike/ArnEquals matching: the six colon-separated parts are matched separately (the last may
// contain ':'), so a '*' in the region part cannot swallow the account part.
bool ArnMatch(std::string_view pattern, std::string_view arn);

}  // namespace alto::auth
