#include "api/resource_policy.h"

#include <algorithm>
#include <cctype>

#include "api/validation.h"
#include "common/json.h"

namespace alto {

using nlohmann::ordered_json;

namespace {

const std::string kVersion = "2012-10-17";

Error Invalid(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

// Lambda's ValidationException for a value that fails the model's constraint.
Error Validation(std::string_view value, std::string_view field, std::string_view constraint) {
  Error e = Invalid("1 validation error detected: Value '" + std::string(value.substr(0, 256)) +
                    "' at '" + std::string(field) +
                    "' failed to satisfy constraint: " + std::string(constraint));
  e.reason = "ValidationException";
  return e;
}

Error Missing(std::string_view field) {
  Error e = Invalid("1 validation error detected: Value null at '" + std::string(field) +
                    "' failed to satisfy constraint: Member must not be null");
  e.reason = "ValidationException";
  return e;
}

bool AllOf(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
bool IsAccountId(std::string_view s) { return s.size() == 12 && AllOf(s, IsDigit); }

// Lambda's Action pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*]).
bool IsValidAction(std::string_view a) {
  if (a == "*" || a == "lambda:*") return true;
  if (!a.starts_with("lambda:") || a.size() == 7) return false;
  return AllOf(a.substr(7), IsAlpha);
}

// An IAM principal ARN: arn:aws:iam::<12 digits>:root, user/..., role/... (no wildcards).
bool IsIamPrincipalArn(std::string_view s) {
  constexpr std::string_view kPrefix = "arn:aws:iam::";
  if (!s.starts_with(kPrefix)) return false;
  s.remove_prefix(kPrefix.size());
  if (s.size() < 14 || !IsAccountId(s.substr(0, 12)) || s[12] != ':') return false;
  std::string_view rest = s.substr(13);
  if (rest == "root") return true;
  if (!rest.starts_with("user/") && !rest.starts_with("role/")) return false;
  const size_t name = rest.find('/') + 1;
  if (name >= rest.size() || rest.size() > 512) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    return IsAlnum(c) || c == '/' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' ||
           c == '_' || c == '-';
  });
}

// A service principal such as s3.amazonaws.com: lowercase DNS-like, with at least one dot.
bool IsServicePrincipal(std::string_view s) {
  if (s.empty() || s.size() > 256 || s.find('.') == std::string_view::npos) return false;
  if (s.front() == '.' || s.back() == '.') return false;
  return AllOf(s,
               [](char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '.' || c == '-'; });
}

// Lambda's SourceArn pattern, loosely: six colon-separated parts, the first "arn".
bool IsSourceArn(std::string_view s) {
  if (!s.starts_with("arn:") || s.size() > 1024) return false;
  if (std::count(s.begin(), s.end(), ':') < 5) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

// One statement as an auth::Statement (parsed on its own, so IAM's statement-count cap does not
// bound a document that Lambda bounds by size alone), Resource dropped (see PolicyDoc::policy).
Result<auth::Statement> ParseStatementForEvaluation(const ordered_json& s, size_t index) {
  ordered_json one = {{"Version", kVersion}, {"Statement", s}};
  auto p = auth::ParsePolicy(one.dump(-1, ' ', false, ordered_json::error_handler_t::replace),
                             auth::PolicyKind::kResource);
  if (!p) {
    return Invalid("policy statement " + std::to_string(index) +
                   " is invalid: " + p.error().message);
  }
  auth::Statement st = std::move(p->statements.front());
  st.resources.clear();
  st.not_resources.clear();
  return st;
}

bool Allows(const PolicyDoc& doc, const auth::AccessRequest& r) {
  return auth::EvaluateResource(doc.policy, r) == auth::Decision::kAllow;
}

}  // namespace

bool IsValidStatementId(std::string_view sid) {
  return !sid.empty() && sid.size() <= 100 &&
         AllOf(sid, [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

Result<PermissionRequest> ParseAddPermission(std::string_view body) {
  auto parsed = ParseRequestObject(body);
  if (!parsed) return parsed.error();
  PermissionRequest r;
  const std::pair<const char*, std::string*> fields[] = {
      {"StatementId", &r.statement_id},
      {"Action", &r.action},
      {"Principal", &r.principal},
      {"SourceArn", &r.source_arn},
      {"SourceAccount", &r.source_account},
      {"PrincipalOrgID", &r.principal_org_id},
      {"EventSourceToken", &r.event_source_token},
      {"FunctionUrlAuthType", &r.function_url_auth_type},
      {"RevisionId", &r.revision_id},
  };
  for (const auto& item : parsed->items()) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in the lambda.
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    auto f = std::find_if(std::begin(fields), std::end(fields),
                          [&](const auto& f) { return key == f.first; });
    if (f == std::end(fields)) {
      return Invalid("Unknown field '" + key.substr(0, 64) +
                     "' in the AddPermission request (expected StatementId, Action, Principal, "
                     "SourceArn, SourceAccount, PrincipalOrgID, EventSourceToken, "
                     "FunctionUrlAuthType, RevisionId)");
    }
    if (value.is_null()) continue;
    if (!value.is_string()) return Invalid(std::string(f->first) + " must be a string");
    *f->second = value.get<std::string>();
  }
  if (r.statement_id.empty()) return Missing("statementId");
  if (!IsValidStatementId(r.statement_id)) {
    return Validation(r.statement_id, "statementId",
                      r.statement_id.size() > 100
                          ? "Member must have length less than or equal to 100"
                          : "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)");
  }
  if (r.action.empty()) return Missing("action");
  if (!IsValidAction(r.action)) {
    return Validation(r.action, "action",
                      "Member must satisfy regular expression pattern: "
                      "(lambda:[*]|lambda:[a-zA-Z]+|[*])");
  }
  if (r.principal.empty()) return Missing("principal");
  if (r.principal != "*" && !IsAccountId(r.principal) && !IsIamPrincipalArn(r.principal) &&
      !IsServicePrincipal(r.principal)) {
    return Invalid("The provided principal was invalid. Please check the principal and try again.");
  }
  if (!r.source_arn.empty() && !IsSourceArn(r.source_arn)) {
    return Validation(r.source_arn, "sourceArn",
                      "Member must satisfy regular expression pattern: "
                      "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:"
                      "(\\d{12})?:(.*)");
  }
  if (!r.source_account.empty() && !IsAccountId(r.source_account)) {
    return Validation(r.source_account, "sourceAccount",
                      "Member must satisfy regular expression pattern: ^\\d{12}$");
  }
  if (!r.principal_org_id.empty()) {
    std::string_view o = r.principal_org_id;
    const bool ok = o.starts_with("o-") && o.size() >= 12 && o.size() <= 34 &&
                    AllOf(o.substr(2), [](char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); });
    if (!ok) {
      return Validation(o, "principalOrgID",
                        "Member must satisfy regular expression pattern: ^o-[a-z0-9]{10,32}$");
    }
  }
  if (!r.event_source_token.empty() &&
      (r.event_source_token.size() > 256 || !AllOf(r.event_source_token, [](char c) {
         return IsAlnum(c) || c == '.' || c == '_' || c == '-';
       }))) {
    return Validation(r.event_source_token, "eventSourceToken",
                      "Member must satisfy regular expression pattern: ^[a-zA-Z0-9._\\-]+$");
  }
  if (!r.function_url_auth_type.empty() && r.function_url_auth_type != "NONE" &&
      r.function_url_auth_type != "AWS_IAM") {
    return Validation(r.function_url_auth_type, "functionUrlAuthType",
                      "Member must satisfy enum value set: [AWS_IAM, NONE]");
  }
  if (r.revision_id.size() > 128) return Invalid("RevisionId is too long");
  return r;
}

Result<ordered_json> BuildStatement(const PermissionRequest& r, std::string_view resource_arn) {
  ordered_json s = ordered_json::object();
  s["Sid"] = r.statement_id;
  s["Effect"] = "Allow";
  if (r.principal == "*") {
    s["Principal"] = "*";
  } else if (IsAccountId(r.principal)) {
    s["Principal"] = {{"AWS", "arn:aws:iam::" + r.principal + ":root"}};
  } else if (IsIamPrincipalArn(r.principal)) {
    s["Principal"] = {{"AWS", r.principal}};
  } else if (IsServicePrincipal(r.principal)) {
    s["Principal"] = {{"Service", r.principal}};
  } else {
    return Invalid("The provided principal was invalid. Please check the principal and try again.");
  }
  s["Action"] = r.action;
  s["Resource"] = std::string(resource_arn);
  ordered_json cond = ordered_json::object();
  if (!r.source_account.empty()) cond["StringEquals"]["AWS:SourceAccount"] = r.source_account;
  if (!r.principal_org_id.empty()) cond["StringEquals"]["aws:PrincipalOrgID"] = r.principal_org_id;
  if (!r.event_source_token.empty())
    cond["StringEquals"]["lambda:EventSourceToken"] = r.event_source_token;
  if (!r.function_url_auth_type.empty())
    cond["StringEquals"]["lambda:FunctionUrlAuthType"] = r.function_url_auth_type;
  if (!r.source_arn.empty()) cond["ArnLike"]["AWS:SourceArn"] = r.source_arn;
  if (!cond.empty()) s["Condition"] = std::move(cond);
  return s;
}

Result<PolicyDoc> ParsePolicyDoc(std::string_view text) {
  if (text.size() > kMaxResourcePolicyBytes) {
    return Invalid("policy document is " + std::to_string(text.size()) +
                   " bytes, over the limit of " + std::to_string(kMaxResourcePolicyBytes));
  }
  // Depth-checked first (ParseJson), then read again keeping the statements' key order.
  auto checked = ParseJson(text, kApiJsonDepth);
  if (!checked) return Invalid("policy document is not valid JSON: " + checked.error().message);
  const ordered_json j = ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Invalid("policy document must be an object");
  auto version = j.find("Version");
  if (version == j.end() || *version != kVersion)
    return Invalid("policy Version must be 2012-10-17");
  PolicyDoc doc;
  if (auto id = j.find("Id"); id != j.end()) {
    if (!id->is_string()) return Invalid("policy Id must be a string");
    doc.id = id->get<std::string>();
  }
  auto statements = j.find("Statement");
  if (statements == j.end() || !statements->is_array())
    return Invalid("policy Statement must be an array");
  doc.policy.version = kVersion;
  doc.policy.id = doc.id;
  for (size_t i = 0; i < statements->size(); ++i) {
    const ordered_json& s = (*statements)[i];
    if (!s.is_object())
      return Invalid("policy statement " + std::to_string(i) + " is not an object");
    // Lambda's statements always carry a Sid (RemovePermission names them by it).
    auto sid = s.find("Sid");
    if (sid == s.end() || !sid->is_string())
      return Invalid("policy statement " + std::to_string(i) + " has no Sid");
    auto st = ParseStatementForEvaluation(s, i);
    if (!st) return st.error();
    doc.statements.push_back(s);
    doc.policy.statements.push_back(std::move(*st));
  }
  return doc;
}

std::string PolicyDocJson(const PolicyDoc& doc) {
  ordered_json j = ordered_json::object();
  j["Version"] = kVersion;
  j["Id"] = doc.id;
  j["Statement"] = ordered_json::array();
  for (const auto& s : doc.statements) j["Statement"].push_back(s);
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Status AddStatement(PolicyDoc& doc, ordered_json statement) {
  if (!statement.is_object() || !statement.contains("Sid") || !statement["Sid"].is_string())
    return Invalid("a policy statement needs a Sid");
  const std::string sid = statement["Sid"].get<std::string>();
  for (const auto& s : doc.statements) {
    if (s.value("Sid", "") == sid) {
      return MakeError(Errc::kConflict, "The statement id (" + sid +
                                            ") provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.");
    }
  }
  auto parsed = ParseStatementForEvaluation(statement, doc.statements.size());
  if (!parsed) return parsed.error();
  doc.statements.push_back(std::move(statement));
  const size_t size = PolicyDocJson(doc).size();
  if (size > kMaxResourcePolicyBytes) {
    doc.statements.pop_back();
    return MakeError(Errc::kTooLarge, "The final policy size (" + std::to_string(size) +
                                          ") is bigger than the limit (" +
                                          std::to_string(kMaxResourcePolicyBytes) + ").");
  }
  doc.policy.statements.push_back(std::move(*parsed));
  return {};
}

Status RemoveStatement(PolicyDoc& doc, std::string_view sid) {
  for (size_t i = 0; i < doc.statements.size(); ++i) {
    if (doc.statements[i].value("Sid", "") == sid) {
      doc.statements.erase(doc.statements.begin() + static_cast<ptrdiff_t>(i));
      doc.policy.statements.erase(doc.policy.statements.begin() + static_cast<ptrdiff_t>(i));
      return {};
    }
  }
  return MakeError(Errc::kNotFound,
                   "Statement " + std::string(sid) + " is not found in resource policy.");
}

bool ResourcePolicyAllows(const PolicyDoc& doc, const auth::Caller& caller, std::string_view action,
                          const std::map<std::string, std::string>& context) {
  if (caller.account_id.empty()) return false;
  auth::AccessRequest r;
  r.action = std::string(action);
  r.principal_account = caller.account_id;
  r.principal_arn = caller.Arn();
  r.context = context;
  // A key acts for its own account and for no resource of a service.
  r.context["aws:sourceaccount"] = caller.account_id;
  r.context.erase("aws:sourcearn");
  return Allows(doc, r);
}

bool ServicePrincipalAllows(const PolicyDoc& doc, std::string_view service,
                            std::string_view source_arn, std::string_view source_account,
                            std::string_view action) {
  if (service.empty()) return false;
  auth::AccessRequest r;
  r.action = std::string(action);
  r.principal_service = std::string(service);
  if (!source_arn.empty()) r.context["aws:sourcearn"] = std::string(source_arn);
  if (!source_account.empty()) r.context["aws:sourceaccount"] = std::string(source_account);
  return Allows(doc, r);
}

}  // namespace alto
