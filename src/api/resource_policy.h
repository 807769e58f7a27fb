// Lambda's resource-based policies (AddPermission, GetPolicy, RemovePermission): the document of
// one function or one of its qualifiers, the statements AddPermission builds in Lambda's exact
// shape, and the checks that decide whether a caller of another account, or a service, may act on
// the function. Pure: no I/O; the document is stored by MetadataStore (store.h).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "auth/caller.h"
#include "auth/policy.h"
#include "common/result.h"

namespace alto {

// Lambda's limit on a function's (or qualifier's) policy document, in bytes as stored.
inline constexpr size_t kMaxResourcePolicyBytes = auth::kResourcePolicyMaxBytes;  // 20480

// A function's or one qualifier's resource-based policy.
struct PolicyDoc {
  std::string id = "default";
  // Lambda's shape, in the order added: {"Sid","Effect","Principal","Action","Resource",
  // "Condition"?}.
  std::vector<nlohmann::ordered_json> statements;
  // The same statements parsed for evaluation. Their Resource is left implicit: a document
  // belongs to exactly one resource (the key it is stored under).
  auth::Policy policy{.version = "2012-10-17", .id = "default", .statements = {}};
};

// AddPermission's request body.
struct PermissionRequest {
  std::string statement_id;
  std::string action;
  std::string principal;
  std::string source_arn;
  std::string source_account;
  std::string principal_org_id;
  std::string event_source_token;
  std::string function_url_auth_type;
  std::string revision_id;  // empty: no precondition
};

// Errors of this file are kInvalidArgument; Error::reason is "ValidationException" when Lambda
// answers with that type (a value failing its modeled constraint), else the type is
// InvalidParameterValueException.
Result<PermissionRequest> ParseAddPermission(std::string_view body);

// Lambda's statement ids: 1-100 of [a-zA-Z0-9-_.].
bool IsValidStatementId(std::string_view sid);

// The statement AddPermission adds, in Lambda's shape. resource_arn is the function's ARN,
// qualified when the permission is for a version or alias.
Result<nlohmann::ordered_json> BuildStatement(const PermissionRequest& r,
                                              std::string_view resource_arn);

// A stored document (what PolicyDocJson wrote). kInvalidArgument when it is not one.
Result<PolicyDoc> ParsePolicyDoc(std::string_view text);
// {"Version":"2012-10-17","Id":"default","Statement":[...]}: compact, keys in Lambda's order.
std::string PolicyDocJson(const PolicyDoc& doc);

// Appends a statement: kConflict (Lambda's ResourceConflictException message) when its Sid is
// taken, kTooLarge (PolicyLengthExceededException) when the document would exceed 20480 bytes,
// kInvalidArgument when IAM's parser refuses it. doc is unchanged on any error.
Status AddStatement(PolicyDoc& doc, nlohmann::ordered_json statement);
// kNotFound ("Statement <sid> is not found in resource policy.") when no statement has that Sid.
Status RemoveStatement(PolicyDoc& doc, std::string_view sid);

// Whether the document lets `caller` (a key of some account) do `action` (e.g.
// lambda:InvokeFunction) on the resource it belongs to: an Allow statement whose Principal names
// the caller's account (its id, arn:aws:iam::<id>:root, the caller's own ARN, or "*"), whose
// Action matches (IAM wildcards, case-insensitive) and whose conditions hold. A plain account
// caller has aws:SourceAccount = its account and no aws:SourceArn, so a statement conditioned on
// a SourceArn never admits it. `context` adds condition keys (lowercase), e.g.
// lambda:functionurlauthtype for function URLs.
bool ResourcePolicyAllows(const PolicyDoc& doc, const auth::Caller& caller, std::string_view action,
                          const std::map<std::string, std::string>& context = {});

// Whether the document lets a service (e.g. "s3.amazonaws.com") do `action` for a source:
// source_arn / source_account are what the service acts for (empty when unknown), checked
// against the statement's ArnLike AWS:SourceArn and StringEquals AWS:SourceAccount.
bool ServicePrincipalAllows(const PolicyDoc& doc, std::string_view service,
                            std::string_view source_arn, std::string_view source_account,
                            std::string_view action);

}  // namespace alto
