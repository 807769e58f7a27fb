#include "auth/policy.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <system_error>
#include <utility>

#include "common/json.h"

namespace alto::auth {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr std::string_view kVersion2012 = "2012-10-17";
constexpr std::string_view kVersion2008 = "2008-10-17";

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What the caller sent, for an error message: short, and without control characters that could
// break a log line or a header.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  size_t n = std::min(s.size(), kMax);
  // Cut at a character boundary, not inside a UTF-8 sequence.
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string out = "'";
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (n < s.size()) out += "...";
  out += "'";
  return out;
}

Error Bad(std::string message) { return MakeError(Errc::kInvalidArgument, std::move(message)); }

std::string At(const std::string& where, size_t i) { return where + "[" + std::to_string(i) + "]"; }

// "where.name": the path of a member, for messages.
std::string Member(const std::string& where, std::string_view name) {
  std::string out = where;
  out += '.';
  out += name;
  return out;
}

// An ARN's six parts: arn:partition:service:region:account:resource (the resource may hold ':').
using ArnParts = std::array<std::string_view, 6>;

bool SplitArn(std::string_view s, ArnParts& parts) {
  for (size_t i = 0; i < 5; ++i) {
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    parts[i] = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  parts[5] = s;
  return parts[0] == "arn";
}

// ---- Condition operators ----

enum class Op {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kArnEquals,
  kArnNotEquals,
  kArnLike,
  kArnNotLike,
  kNumericEquals,
  kNumericNotEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kBool,
  kNull,
};

constexpr std::pair<std::string_view, Op> kOperators[] = {
    {"StringEquals", Op::kStringEquals},
    {"StringNotEquals", Op::kStringNotEquals},
    {"StringEqualsIgnoreCase", Op::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", Op::kStringNotEqualsIgnoreCase},
    {"StringLike", Op::kStringLike},
    {"StringNotLike", Op::kStringNotLike},
    {"ArnEquals", Op::kArnEquals},
    {"ArnNotEquals", Op::kArnNotEquals},
    {"ArnLike", Op::kArnLike},
    {"ArnNotLike", Op::kArnNotLike},
    {"NumericEquals", Op::kNumericEquals},
    {"NumericNotEquals", Op::kNumericNotEquals},
    {"NumericLessThan", Op::kNumericLessThan},
    {"NumericLessThanEquals", Op::kNumericLessThanEquals},
    {"NumericGreaterThan", Op::kNumericGreaterThan},
    {"NumericGreaterThanEquals", Op::kNumericGreaterThanEquals},
    {"Bool", Op::kBool},
    {"Null", Op::kNull},
};

// IAM operators we do not evaluate: named so the error says "not supported", not "unknown".
constexpr std::string_view kUnsupportedOperators[] = {
    "DateEquals",         "DateNotEquals",   "DateLessThan",
    "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
    "IpAddress",          "NotIpAddress",    "BinaryEquals",
};

struct OpSpec {
  Op op;
  bool if_exists;
};

std::optional<OpSpec> LookupOperator(std::string_view name) {
  constexpr std::string_view kIfExists = "IfExists";
  bool if_exists = false;
  if (name.size() > kIfExists.size() && name.ends_with(kIfExists)) {
    if_exists = true;
    name.remove_suffix(kIfExists.size());
  }
  for (const auto& [n, op] : kOperators) {
    if (n == name) {
      if (op == Op::kNull && if_exists) return std::nullopt;  // IAM has no NullIfExists
      return OpSpec{op, if_exists};
    }
  }
  return std::nullopt;
}

// Negated operators hold when the value matches none of the policy's values, and, as IAM
// documents, when the key is absent from the request.
bool IsNegated(Op op) {
  switch (op) {
    case Op::kStringNotEquals:
    case Op::kStringNotEqualsIgnoreCase:
    case Op::kStringNotLike:
    case Op::kArnNotEquals:
    case Op::kArnNotLike:
    case Op::kNumericNotEquals:
      return true;
    default:
      return false;
  }
}

bool IsNumeric(Op op) {
  switch (op) {
    case Op::kNumericEquals:
    case Op::kNumericNotEquals:
    case Op::kNumericLessThan:
    case Op::kNumericLessThanEquals:
    case Op::kNumericGreaterThan:
    case Op::kNumericGreaterThanEquals:
      return true;
    default:
      return false;
  }
}

std::optional<double> ParseNumber(std::string_view s) {
  // Plain decimal numbers only: from_chars would also take "inf" and "nan".
  const std::string_view digits = s.starts_with('-') ? s.substr(1) : s;
  if (digits.empty() || digits[0] < '0' || digits[0] > '9') return std::nullopt;
  double d = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return d;
}

// Whether the request's value matches one policy value, for the positive form of `op`.
bool ValueMatches(Op op, std::string_view pattern, std::string_view value) {
  switch (op) {
    case Op::kStringEquals:
    case Op::kStringNotEquals:
      return pattern == value;
    case Op::kStringEqualsIgnoreCase:
    case Op::kStringNotEqualsIgnoreCase:
      return EqualsIgnoreCase(pattern, value);
    case Op::kStringLike:
    case Op::kStringNotLike:
      return WildcardMatch(pattern, value);
    // IAM documents ArnEquals as ArnLike: both take wildcards, part by part.
    case Op::kArnEquals:
    case Op::kArnNotEquals:
    case Op::kArnLike:
    case Op::kArnNotLike:
      return ArnMatch(pattern, value);
    case Op::kBool:
      return EqualsIgnoreCase(pattern, value);
    case Op::kNumericEquals:
    case Op::kNumericNotEquals:
    case Op::kNumericLessThan:
    case Op::kNumericLessThanEquals:
    case Op::kNumericGreaterThan:
    case Op::kNumericGreaterThanEquals: {
      const auto want = ParseNumber(pattern);
      const auto got = ParseNumber(value);
      if (!want || !got) return false;
      if (op == Op::kNumericLessThan) return *got < *want;
      if (op == Op::kNumericLessThanEquals) return *got <= *want;
      if (op == Op::kNumericGreaterThan) return *got > *want;
      if (op == Op::kNumericGreaterThanEquals) return *got >= *want;
      return *got == *want;
    }
    case Op::kNull:
      break;  // decided on presence, in ConditionHolds
  }
  return false;
}

// ---- Parsing ----

struct ParseContext {
  PolicyKind kind;
  bool variables;  // 2012-10-17: "${" starts a policy variable, which we refuse
};

Status CheckNoVariable(const ParseContext& ctx, std::string_view s, const std::string& where) {
  if (ctx.variables && s.find("${") != std::string_view::npos) {
    return Bad(where + " " + Quote(s) +
               " uses a policy variable ('${...}'), which is not supported");
  }
  return {};
}

// A string or a non-empty array of strings: IAM accepts both wherever a list goes.
Result<std::vector<std::string>> StringList(const json& j, const std::string& where) {
  std::vector<std::string> out;
  if (j.is_string()) {
    out.push_back(j.get_ref<const std::string&>());
    return out;
  }
  if (!j.is_array()) {
    return Bad(where + " must be a string or an array of strings, not " + j.type_name());
  }
  if (j.empty()) return Bad(where + " must not be an empty array");
  if (j.size() > kMaxListEntries) {
    return Bad(where + " has " + std::to_string(j.size()) + " entries, over the limit of " +
               std::to_string(kMaxListEntries));
  }
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) return Bad(At(where, i) + " must be a string, not " + j[i].type_name());
    out.push_back(j[i].get_ref<const std::string&>());
  }
  return out;
}

// The name of one entry of a list for messages: "X.Action" for a lone string, else "X.Action[i]".
std::string EntryName(const json& j, const std::string& where, size_t i) {
  return j.is_array() ? At(where, i) : where;
}

bool ValidAction(std::string_view a) {
  if (a == "*") return true;
  const size_t colon = a.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  const std::string_view service = a.substr(0, colon);
  const std::string_view name = a.substr(colon + 1);
  return std::all_of(service.begin(), service.end(),
                     [](char c) { return IsAlnum(c) || c == '-'; }) &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlnum(c) || c == '*' || c == '?'; });
}

Result<std::vector<std::string>> ParseActions(const json& j, const std::string& where) {
  auto list = StringList(j, where);
  if (!list.ok()) return list.error();
  for (size_t i = 0; i < list->size(); ++i) {
    if (!ValidAction((*list)[i])) {
      return Bad(EntryName(j, where, i) + " " + Quote((*list)[i]) +
                 " must be '*' or 'service:action' (e.g. 'lambda:InvokeFunction')");
    }
  }
  return list;
}

Result<std::vector<std::string>> ParseResources(const ParseContext& ctx, const json& j,
                                                const std::string& where) {
  auto list = StringList(j, where);
  if (!list.ok()) return list.error();
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string& r = (*list)[i];
    ArnParts parts;
    if (r != "*" && !SplitArn(r, parts)) {
      return Bad(EntryName(j, where, i) + " " + Quote(r) +
                 " must be '*' or an ARN (arn:partition:service:region:account:resource)");
    }
    if (auto st = CheckNoVariable(ctx, r, EntryName(j, where, i)); !st.ok()) return st.error();
  }
  return list;
}

bool ValidAwsPrincipal(std::string_view s) {
  if (IsAccountId(s)) return true;
  ArnParts parts;
  if (!SplitArn(s, parts)) return false;
  // No wildcards: IAM allows only the lone "*" (handled by the caller).
  return (parts[2] == "iam" || parts[2] == "sts") && IsAccountId(parts[4]) && !parts[5].empty() &&
         s.find_first_of("*?") == std::string_view::npos;
}

bool ValidServicePrincipal(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '.' || c == '-'; });
}

Result<Principal> ParsePrincipal(const json& j, const std::string& where) {
  Principal p;
  if (j.is_string()) {
    if (j.get_ref<const std::string&>() == "*") {
      p.any = true;
      return p;
    }
    return Bad(where + " must be '*' or an object such as {\"AWS\": ...}, not " +
               Quote(j.get_ref<const std::string&>()));
  }
  if (!j.is_object()) return Bad(where + " must be '*' or an object, not " + j.type_name());
  if (j.empty()) return Bad(where + " must name at least one principal");
  for (const auto& [type, value] : j.items()) {
    const std::string at = Member(where, type);
    if (type == "AWS") {
      auto list = StringList(value, at);
      if (!list.ok()) return list.error();
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string& a = (*list)[i];
        if (a == "*") {
          p.any = true;
        } else if (ValidAwsPrincipal(a)) {
          p.aws.push_back(a);
        } else {
          return Bad(EntryName(value, at, i) + " " + Quote(a) +
                     " must be '*', a 12-digit account id or an IAM/STS ARN without wildcards");
        }
      }
    } else if (type == "Service") {
      auto list = StringList(value, at);
      if (!list.ok()) return list.error();
      for (size_t i = 0; i < list->size(); ++i) {
        if (!ValidServicePrincipal((*list)[i])) {
          return Bad(EntryName(value, at, i) + " " + Quote((*list)[i]) +
                     " must be a service principal such as 's3.amazonaws.com'");
        }
        p.service.push_back((*list)[i]);
      }
    } else if (type == "Federated" || type == "CanonicalUser") {
      return Bad(at + " principals are not supported");
    } else {
      return Bad(where + " has an unknown principal type " + Quote(type) +
                 " (expected AWS or Service)");
    }
  }
  return p;
}

// Condition values: a scalar or a non-empty array of scalars. IAM takes JSON booleans and numbers
// too ("Bool": {"aws:SecureTransport": false}); they are kept as their JSON text.
Result<std::vector<std::string>> ConditionValues(const json& j, const std::string& where) {
  auto scalar = [](const json& v) -> std::optional<std::string> {
    if (v.is_string()) return v.get_ref<const std::string&>();
    if (v.is_boolean() || v.is_number()) return DumpJson(v);
    return std::nullopt;
  };
  std::vector<std::string> out;
  if (!j.is_array()) {
    auto s = scalar(j);
    if (!s) return Bad(where + " must be a string or an array of strings, not " + j.type_name());
    out.push_back(std::move(*s));
    return out;
  }
  if (j.empty()) return Bad(where + " must not be an empty array");
  if (j.size() > kMaxListEntries) {
    return Bad(where + " has " + std::to_string(j.size()) + " values, over the limit of " +
               std::to_string(kMaxListEntries));
  }
  for (size_t i = 0; i < j.size(); ++i) {
    auto s = scalar(j[i]);
    if (!s) return Bad(At(where, i) + " must be a string, not " + j[i].type_name());
    out.push_back(std::move(*s));
  }
  return out;
}

Status CheckOperatorName(std::string_view op, const std::string& where) {
  if (op.starts_with("ForAnyValue:") || op.starts_with("ForAllValues:")) {
    return Bad(where + " " + Quote(op) +
               ": set operators (ForAnyValue:/ForAllValues:) are not supported");
  }
  std::string_view base = op;
  if (base.ends_with("IfExists")) base.remove_suffix(8);
  for (std::string_view u : kUnsupportedOperators) {
    if (base == u) return Bad(where + " operator " + Quote(op) + " is not supported");
  }
  if (!LookupOperator(op)) return Bad(where + " has an unknown operator " + Quote(op));
  return {};
}

Status ParseConditions(const ParseContext& ctx, const json& j, const std::string& where,
                       std::vector<Condition>& out) {
  if (!j.is_object()) {
    return Bad(where + " must be an object of {operator: {key: values}}, not " + j.type_name());
  }
  for (const auto& [op, keys] : j.items()) {
    if (auto st = CheckOperatorName(op, where); !st.ok()) return st;
    const OpSpec spec = *LookupOperator(op);
    const std::string at = Member(where, op);
    if (!keys.is_object()) {
      return Bad(at + " must be an object of {key: values}, not " + keys.type_name());
    }
    if (keys.empty()) return Bad(at + " must name at least one condition key");
    for (const auto& [key, vals] : keys.items()) {
      // Printable ASCII only: the key goes into the paths of later messages.
      if (key.empty() || key.find(':') == std::string::npos || key.size() > 256 ||
          !std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
        return Bad(at + " has an invalid condition key " + Quote(key) +
                   " (expected 'service:name', e.g. 'aws:SourceArn')");
      }
      const std::string kat = Member(at, key);
      auto values = ConditionValues(vals, kat);
      if (!values.ok()) return values.error();
      for (size_t i = 0; i < values->size(); ++i) {
        const std::string& v = (*values)[i];
        const std::string vat = EntryName(vals, kat, i);
        if ((spec.op == Op::kBool || spec.op == Op::kNull) && !EqualsIgnoreCase(v, "true") &&
            !EqualsIgnoreCase(v, "false")) {
          return Bad(vat + " must be true or false, not " + Quote(v));
        }
        if (IsNumeric(spec.op) && !ParseNumber(v)) {
          return Bad(vat + " must be a number, not " + Quote(v));
        }
        if (auto st = CheckNoVariable(ctx, v, vat); !st.ok()) return st;
      }
      out.push_back(Condition{op, key, std::move(*values)});
    }
  }
  return {};
}

constexpr std::string_view kStatementKeys[] = {"Sid",       "Effect",       "Action",
                                               "NotAction", "Resource",     "NotResource",
                                               "Principal", "NotPrincipal", "Condition"};

Result<Statement> ParseStatement(const ParseContext& ctx, const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where + " must be an object, not " + j.type_name());
  for (const auto& [k, v] : j.items()) {
    if (std::find(std::begin(kStatementKeys), std::end(kStatementKeys), k) ==
        std::end(kStatementKeys)) {
      return Bad(where + " has an unknown key " + Quote(k));
    }
  }
  Statement s;
  auto find = [&j](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };

  if (const json* sid = find("Sid")) {
    if (!sid->is_string()) return Bad(where + ".Sid must be a string, not " + sid->type_name());
    s.sid = sid->get_ref<const std::string&>();
  }

  const json* effect = find("Effect");
  if (!effect) return Bad(where + ".Effect is missing (Allow or Deny)");
  if (!effect->is_string()) {
    return Bad(where + ".Effect must be Allow or Deny, not " + effect->type_name());
  }
  const std::string& e = effect->get_ref<const std::string&>();
  if (e != "Allow" && e != "Deny") {
    return Bad(where + ".Effect must be Allow or Deny, not " + Quote(e));
  }
  s.allow = e == "Allow";

  const json* action = find("Action");
  const json* not_action = find("NotAction");
  if (action && not_action) return Bad(where + " has both Action and NotAction");
  if (!action && !not_action) return Bad(where + " needs Action or NotAction");
  auto actions = action ? ParseActions(*action, where + ".Action")
                        : ParseActions(*not_action, where + ".NotAction");
  if (!actions.ok()) return actions.error();
  (action ? s.actions : s.not_actions) = std::move(*actions);

  const json* resource = find("Resource");
  const json* not_resource = find("NotResource");
  if (resource && not_resource) return Bad(where + " has both Resource and NotResource");
  if (!resource && !not_resource && ctx.kind == PolicyKind::kIdentity) {
    return Bad(where + " needs Resource or NotResource");
  }
  if (resource || not_resource) {
    auto resources = resource ? ParseResources(ctx, *resource, where + ".Resource")
                              : ParseResources(ctx, *not_resource, where + ".NotResource");
    if (!resources.ok()) return resources.error();
    (resource ? s.resources : s.not_resources) = std::move(*resources);
  }

  const json* principal = find("Principal");
  const json* not_principal = find("NotPrincipal");
  if (ctx.kind == PolicyKind::kIdentity) {
    if (principal) return Bad(where + ".Principal is not allowed in an identity policy");
    if (not_principal) return Bad(where + ".NotPrincipal is not allowed in an identity policy");
  } else {
    if (principal && not_principal) return Bad(where + " has both Principal and NotPrincipal");
    if (!principal && !not_principal) {
      return Bad(where + " needs Principal or NotPrincipal in a resource policy");
    }
    auto p = principal ? ParsePrincipal(*principal, where + ".Principal")
                       : ParsePrincipal(*not_principal, where + ".NotPrincipal");
    if (!p.ok()) return p.error();
    (principal ? s.principal : s.not_principal) = std::move(*p);
  }

  if (const json* condition = find("Condition")) {
    if (auto st = ParseConditions(ctx, *condition, where + ".Condition", s.conditions); !st.ok()) {
      return st.error();
    }
  }
  return s;
}

// ---- Evaluation ----

bool AnyMatches(const std::vector<std::string>& patterns, std::string_view value,
                bool case_insensitive) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return WildcardMatch(p, value, case_insensitive);
  });
}

const std::string* ContextValue(const AccessRequest& r, std::string_view key) {
  const std::string lower = ToLower(key);
  if (auto it = r.context.find(lower); it != r.context.end()) return &it->second;
  auto nonempty = [](const std::string& s) { return s.empty() ? nullptr : &s; };
  if (lower == "aws:principalaccount") return nonempty(r.principal_account);
  if (lower == "aws:principalarn") return nonempty(r.principal_arn);
  if (lower == "aws:principalservicename") return nonempty(r.principal_service);
  return nullptr;
}

bool ConditionHolds(const Condition& c, const AccessRequest& r, bool in_allow) {
  const auto spec = LookupOperator(c.op);
  if (!spec) return !in_allow;
  const std::string* value = ContextValue(r, c.key);
  if (spec->op == Op::kNull) {
    // "Null": "true" holds when the key is absent, "false" when present.
    return std::any_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
      return EqualsIgnoreCase(v, "true") == (value == nullptr);
    });
  }
  if (!value) return spec->if_exists || IsNegated(spec->op);
  if (IsNumeric(spec->op) && !ParseNumber(*value)) return false;
  const bool any = std::any_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
    return ValueMatches(spec->op, v, *value);
  });
  return IsNegated(spec->op) ? !any : any;
}

// Whether one AWS principal entry of a policy names the caller.
bool AwsPrincipalMatches(std::string_view entry, const AccessRequest& r) {
  // An account id or its root ARN: every principal of that account.
  if (IsAccountId(entry)) return r.principal_account == entry;
  ArnParts want;
  if (!SplitArn(entry, want)) return false;
  if (want[2] == "iam" && want[5] == "root") return r.principal_account == want[4];
  if (!r.principal_arn.empty() && r.principal_arn == entry) return true;
  // A role names its sessions: arn:P:iam::A:role/path/R matches arn:P:sts::A:assumed-role/R/S
  // (the session ARN drops the role's path).
  ArnParts got;
  if (want[2] != "iam" || !want[5].starts_with("role/") || !SplitArn(r.principal_arn, got)) {
    return false;
  }
  if (got[1] != want[1] || got[2] != "sts" || got[4] != want[4]) return false;
  std::string_view session = got[5];
  if (!session.starts_with("assumed-role/")) return false;
  session.remove_prefix(13);
  const size_t slash = session.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view role = want[5].substr(want[5].rfind('/') + 1);
  return session.substr(0, slash) == role;
}

bool PrincipalMatches(const Principal& p, const AccessRequest& r) {
  if (p.any) return true;
  if (!r.principal_service.empty()) {
    for (const std::string& s : p.service) {
      if (EqualsIgnoreCase(s, r.principal_service)) return true;
    }
  }
  return std::any_of(p.aws.begin(), p.aws.end(),
                     [&](const std::string& a) { return AwsPrincipalMatches(a, r); });
}

bool StatementMatches(const Statement& s, const AccessRequest& r, bool resource_policy) {
  // Action names are case-insensitive in IAM, service prefix and action alike.
  if (!s.actions.empty()) {
    if (!AnyMatches(s.actions, r.action, true)) return false;
  } else if (!s.not_actions.empty()) {
    if (AnyMatches(s.not_actions, r.action, true)) return false;
  } else {
    return false;
  }

  if (!s.resources.empty()) {
    if (!AnyMatches(s.resources, r.resource, false)) return false;
  } else if (!s.not_resources.empty()) {
    if (AnyMatches(s.not_resources, r.resource, false)) return false;
  } else if (!resource_policy) {
    return false;  // only a resource policy may leave its resource implicit
  }

  if (resource_policy) {
    if (s.principal) {
      if (!PrincipalMatches(*s.principal, r)) return false;
    } else if (s.not_principal) {
      if (PrincipalMatches(*s.not_principal, r)) return false;
    } else {
      return false;
    }
  }

  return std::all_of(s.conditions.begin(), s.conditions.end(),
                     [&](const Condition& c) { return ConditionHolds(c, r, s.allow); });
}

Decision EvaluateStatements(const Policy& p, const AccessRequest& r, bool resource_policy) {
  bool allowed = false;
  for (const Statement& s : p.statements) {
    if (!StatementMatches(s, r, resource_policy)) continue;
    if (!s.allow) return Decision::kExplicitDeny;
    allowed = true;
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

// ---- Serialization ----

ojson StringArray(const std::vector<std::string>& v) {
  ojson a = ojson::array();
  for (const std::string& s : v) a.push_back(s);
  return a;
}

ojson PrincipalJson(const Principal& p) {
  if (p.any && p.aws.empty() && p.service.empty()) return "*";
  ojson o = ojson::object();
  if (p.any || !p.aws.empty()) {
    ojson aws = ojson::array();
    if (p.any) aws.push_back("*");
    for (const std::string& a : p.aws) aws.push_back(a);
    o["AWS"] = std::move(aws);
  }
  if (!p.service.empty()) o["Service"] = StringArray(p.service);
  return o;
}

}  // namespace

bool WildcardMatch(std::string_view pattern, std::string_view value, bool case_insensitive) {
  // Greedy matching that backtracks only to the most recent '*': a later star can always absorb
  // what an earlier one would have, so earlier choices never need revisiting. Each retry advances
  // the star's start by one, hence O(pattern * value) at worst. '?' matches one byte (one
  // character for ASCII, which ARNs and action names are).
  size_t p = 0;
  size_t v = 0;
  size_t star = std::string_view::npos;
  size_t star_v = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_v = v;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == value[v] ||
                                      (case_insensitive && Lower(pattern[p]) == Lower(value[v])))) {
      ++p;
      ++v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++star_v;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool ArnMatch(std::string_view pattern, std::string_view arn) {
  if (pattern == "*") return true;
  ArnParts want;
  ArnParts got;
  if (!SplitArn(pattern, want) || !SplitArn(arn, got)) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!WildcardMatch(want[i], got[i])) return false;
  }
  return true;
}

Result<Policy> ParsePolicy(std::string_view json_text, PolicyKind kind) {
  const bool identity = kind == PolicyKind::kIdentity;
  const size_t max_bytes = identity ? kIdentityPolicyMaxBytes : kResourcePolicyMaxBytes;
  if (json_text.size() > max_bytes) {
    return Bad("policy document is " + std::to_string(json_text.size()) +
               " bytes, over the limit of " + std::to_string(max_bytes) + " for " +
               (identity ? "an identity" : "a resource") + " policy");
  }
  auto doc = ParseJson(json_text, kApiJsonDepth);
  if (!doc.ok()) return Bad("policy document is not valid JSON: " + doc.error().message);
  const json& j = *doc;
  if (!j.is_object())
    return Bad(std::string("policy document must be an object, not ") + j.type_name());
  for (const auto& [k, v] : j.items()) {
    if (k != "Version" && k != "Id" && k != "Statement") {
      return Bad("policy document has an unknown key " + Quote(k) +
                 " (expected Version, Id, Statement)");
    }
  }

  Policy p;
  // IAM reads a document without Version as 2008-10-17.
  p.version = std::string(kVersion2008);
  if (auto it = j.find("Version"); it != j.end()) {
    if (!it->is_string())
      return Bad(std::string("Version must be a string, not ") + it->type_name());
    const std::string& v = it->get_ref<const std::string&>();
    if (v != kVersion2012 && v != kVersion2008) {
      return Bad("Version must be 2012-10-17 or 2008-10-17, not " + Quote(v));
    }
    p.version = v;
  }
  if (auto it = j.find("Id"); it != j.end()) {
    if (!it->is_string()) return Bad(std::string("Id must be a string, not ") + it->type_name());
    p.id = it->get_ref<const std::string&>();
  }

  const ParseContext ctx{kind, p.version == kVersion2012};
  auto it = j.find("Statement");
  if (it == j.end()) return Bad("Statement is missing");
  const json& st = *it;
  if (st.is_object()) {
    auto s = ParseStatement(ctx, st, "Statement");
    if (!s.ok()) return s.error();
    p.statements.push_back(std::move(*s));
    return p;
  }
  if (!st.is_array()) {
    return Bad(std::string("Statement must be an object or an array, not ") + st.type_name());
  }
  if (st.empty()) return Bad("Statement must not be empty");
  if (st.size() > kMaxStatements) {
    return Bad("Statement has " + std::to_string(st.size()) + " entries, over the limit of " +
               std::to_string(kMaxStatements));
  }
  for (size_t i = 0; i < st.size(); ++i) {
    auto s = ParseStatement(ctx, st[i], At("Statement", i));
    if (!s.ok()) return s.error();
    p.statements.push_back(std::move(*s));
  }
  return p;
}

std::string PolicyJson(const Policy& p) {
  ojson doc = ojson::object();
  doc["Version"] = p.version;
  if (!p.id.empty()) doc["Id"] = p.id;
  ojson statements = ojson::array();
  for (const Statement& s : p.statements) {
    ojson o = ojson::object();
    if (!s.sid.empty()) o["Sid"] = s.sid;
    o["Effect"] = s.allow ? "Allow" : "Deny";
    if (s.principal) o["Principal"] = PrincipalJson(*s.principal);
    if (s.not_principal) o["NotPrincipal"] = PrincipalJson(*s.not_principal);
    if (!s.actions.empty()) o["Action"] = StringArray(s.actions);
    if (!s.not_actions.empty()) o["NotAction"] = StringArray(s.not_actions);
    if (!s.resources.empty()) o["Resource"] = StringArray(s.resources);
    if (!s.not_resources.empty()) o["NotResource"] = StringArray(s.not_resources);
    if (!s.conditions.empty()) {
      ojson cond = ojson::object();
      for (const Condition& c : s.conditions) cond[c.op][c.key] = StringArray(c.values);
      o["Condition"] = std::move(cond);
    }
    statements.push_back(std::move(o));
  }
  doc["Statement"] = std::move(statements);
  // A policy is a few levels deep, so dumping cannot recurse far; invalid UTF-8 cannot occur
  // (the parser refuses it) but would be replaced rather than throw.
  return doc.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

Decision Evaluate(const Policy& p, const AccessRequest& r) {
  return EvaluateStatements(p, r, /*resource_policy=*/false);
}

Decision EvaluateResource(const Policy& p, const AccessRequest& r) {
  return EvaluateStatements(p, r, /*resource_policy=*/true);
}

Decision Authorize(const Policy* identity, const Policy* resource, const AccessRequest& r,
                   std::string_view resource_account) {
  const Decision res = resource ? EvaluateResource(*resource, r) : Decision::kImplicitDeny;
  // A service principal has no identity policy; only the resource policy can grant it anything.
  if (r.principal_account.empty() && !r.principal_service.empty()) return res;
  const Decision id = identity ? Evaluate(*identity, r) : Decision::kImplicitDeny;
  if (id == Decision::kExplicitDeny || res == Decision::kExplicitDeny) {
    return Decision::kExplicitDeny;
  }
  const bool same_account = !r.principal_account.empty() && r.principal_account == resource_account;
  const bool allowed = same_account ? (id == Decision::kAllow || res == Decision::kAllow)
                                    : (id == Decision::kAllow && res == Decision::kAllow);
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

}  // namespace alto::auth
