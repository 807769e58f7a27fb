#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include "auth/policy.h"

namespace alto::auth {
namespace {

constexpr const char* kAccount = "123456789012";
constexpr const char* kOther = "111122223333";
constexpr const char* kFn = "arn:aws:lambda:us-east-1:123456789012:function:app-orders";

Policy MustParse(std::string_view text, PolicyKind kind = PolicyKind::kIdentity) {
  auto p = ParsePolicy(text, kind);
  EXPECT_TRUE(p.ok()) << text << "\n-> " << (p.ok() ? "" : p.error().message);
  return p.ok() ? *p : Policy{};
}

// A caller from `account` (an IAM user there) asking for `action` on `resource`.
AccessRequest Req(std::string action, std::string resource = kFn,
                  std::map<std::string, std::string> context = {}, std::string account = kAccount) {
  AccessRequest r;
  r.action = std::move(action);
  r.resource = std::move(resource);
  r.principal_arn = "arn:aws:iam::" + account + ":user/key-AKID";
  r.principal_account = std::move(account);
  r.context = std::move(context);
  return r;
}

AccessRequest ServiceReq(std::string service, std::map<std::string, std::string> context = {}) {
  AccessRequest r;
  r.action = "lambda:InvokeFunction";
  r.resource = kFn;
  r.principal_service = std::move(service);
  r.context = std::move(context);
  return r;
}

std::string Identity(const std::string& statements) {
  return R"({"Version":"2012-10-17","Statement":[)" + statements + "]}";
}

const char* Name(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "Allow";
    case Decision::kExplicitDeny:
      return "ExplicitDeny";
    case Decision::kImplicitDeny:
      return "ImplicitDeny";
  }
  return "?";
}

struct EvalCase {
  const char* what;
  std::string policy;
  AccessRequest request;
  Decision want;
};

void RunIdentity(const std::vector<EvalCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const Policy p = MustParse(c.policy);
    EXPECT_STREQ(Name(Evaluate(p, c.request)), Name(c.want));
  }
}

void RunResource(const std::vector<EvalCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const Policy p = MustParse(c.policy, PolicyKind::kResource);
    EXPECT_STREQ(Name(EvaluateResource(p, c.request)), Name(c.want));
  }
}

// ---- Identity policies: actions and resources ----

TEST(AuthPolicyEvaluate, ActionsAndResources) {
  const std::string invoke =
      Identity(R"({"Effect":"Allow","Action":"lambda:Invoke*",)"
               R"("Resource":"arn:aws:lambda:*:123456789012:function:app-*"})");
  const std::string all = Identity(R"({"Effect":"Allow","Action":"*","Resource":"*"})");
  const std::string deny_delete = Identity(
      R"({"Effect":"Allow","Action":"lambda:*","Resource":"*"},)"
      R"({"Effect":"Deny","Action":["lambda:DeleteFunction","lambda:PutFunction*"],"Resource":"*"})");
  const std::string s3_only =
      Identity(R"({"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"})");
  const std::string not_action = Identity(
      R"({"Effect":"Allow","NotAction":["lambda:DeleteFunction","iam:*"],"Resource":"*"})");
  const std::string not_resource =
      Identity(R"({"Effect":"Allow","Action":"lambda:*",)"
               R"("NotResource":"arn:aws:lambda:*:*:function:secret-*"})");
  const std::string deny_not_action =
      Identity(R"({"Effect":"Allow","Action":"*","Resource":"*"},)"
               R"({"Effect":"Deny","NotAction":"lambda:Get*","Resource":"*"})");
  const std::string question =
      Identity(R"({"Effect":"Allow","Action":"lambda:Get?unction","Resource":"*"})");

  RunIdentity({
      {"Invoke* matches InvokeFunction", invoke, Req("lambda:InvokeFunction"), Decision::kAllow},
      {"Invoke* matches InvokeAsync", invoke, Req("lambda:InvokeAsync"), Decision::kAllow},
      {"Invoke* does not match GetFunction", invoke, Req("lambda:GetFunction"),
       Decision::kImplicitDeny},
      {"action is case-insensitive", invoke, Req("LAMBDA:invokefunction"), Decision::kAllow},
      {"service prefix must match", invoke, Req("lambdax:InvokeFunction"), Decision::kImplicitDeny},
      {"region wildcard", invoke,
       Req("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:app-x"),
       Decision::kAllow},
      {"other account's function", invoke,
       Req("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:111122223333:function:app-x"),
       Decision::kImplicitDeny},
      {"name outside app-*", invoke,
       Req("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:web"),
       Decision::kImplicitDeny},
      {"resources are case-sensitive", invoke,
       Req("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:App-x"),
       Decision::kImplicitDeny},
      {"'*' in a resource spans ':' (qualified ARN)", invoke,
       Req("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:app-x:live"),
       Decision::kAllow},
      {"* allows anything", all, Req("iam:CreateUser", "arn:aws:iam::123456789012:user/u"),
       Decision::kAllow},
      {"explicit deny beats allow", deny_delete, Req("lambda:DeleteFunction"),
       Decision::kExplicitDeny},
      {"deny with a wildcard", deny_delete, Req("lambda:PutFunctionConcurrency"),
       Decision::kExplicitDeny},
      {"allow where no deny matches", deny_delete, Req("lambda:GetFunction"), Decision::kAllow},
      {"default deny", s3_only, Req("lambda:InvokeFunction"), Decision::kImplicitDeny},
      {"s3 allowed", s3_only, Req("s3:GetObject", "arn:aws:s3:::b/k/x.txt"), Decision::kAllow},
      {"NotAction allows the rest", not_action, Req("lambda:InvokeFunction"), Decision::kAllow},
      {"NotAction excludes its actions", not_action, Req("lambda:DeleteFunction"),
       Decision::kImplicitDeny},
      {"NotAction wildcard excludes", not_action, Req("iam:PassRole"), Decision::kImplicitDeny},
      {"NotResource allows the rest", not_resource, Req("lambda:InvokeFunction"), Decision::kAllow},
      {"NotResource excludes", not_resource,
       Req("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:secret-1"),
       Decision::kImplicitDeny},
      {"Deny NotAction denies everything else", deny_not_action, Req("lambda:InvokeFunction"),
       Decision::kExplicitDeny},
      {"Deny NotAction spares its actions", deny_not_action, Req("lambda:GetPolicy"),
       Decision::kAllow},
      {"? is one character", question, Req("lambda:GetFunction"), Decision::kAllow},
      {"? is not zero characters", question, Req("lambda:Getunction"), Decision::kImplicitDeny},
  });
}

// ---- Conditions ----

TEST(AuthPolicyEvaluate, Conditions) {
  auto with = [](const std::string& condition, const char* effect = "Allow") {
    return Identity(std::string(R"({"Effect":")") + effect +
                    R"(","Action":"lambda:InvokeFunction","Resource":"*","Condition":)" +
                    condition + "}");
  };
  const std::string source_account =
      with(R"({"StringEquals":{"aws:SourceAccount":["111122223333","444455556666"]}})");
  const std::string source_arn = with(R"({"ArnLike":{"aws:SourceArn":"arn:aws:s3:::bucket-*"}})");
  const std::string if_exists =
      with(R"({"StringLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::bucket-*"}})");
  const std::string upper_key = with(R"({"StringEquals":{"AWS:SOURCEACCOUNT":"111122223333"}})");
  const std::string not_equals =
      with(R"({"StringNotEquals":{"aws:SourceAccount":"999999999999"}})");
  const std::string two_keys =
      with(R"({"StringEquals":{"aws:SourceAccount":"111122223333"},)"
           R"("ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:topic"}})");
  const std::string ignore_case =
      with(R"({"StringEqualsIgnoreCase":{"lambda:FunctionUrlAuthType":"none"}})");
  const std::string secure = with(R"({"Bool":{"aws:SecureTransport":false}})", "Deny");
  const std::string null_check = with(R"({"Null":{"aws:SourceArn":"true"}})", "Deny");
  const std::string numeric = with(R"({"NumericLessThan":{"s3:max-keys":10}})");
  const std::string principal_key =
      with(R"({"StringEquals":{"aws:PrincipalAccount":"123456789012"}})");

  const std::map<std::string, std::string> acct{{"aws:sourceaccount", kOther}};
  RunIdentity({
      {"StringEquals matches one of its values", source_account,
       Req("lambda:InvokeFunction", kFn, acct), Decision::kAllow},
      {"StringEquals second value", source_account,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourceaccount", "444455556666"}}),
       Decision::kAllow},
      {"StringEquals other value", source_account,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourceaccount", "999999999999"}}),
       Decision::kImplicitDeny},
      {"a missing key without IfExists fails the statement", source_account,
       Req("lambda:InvokeFunction"), Decision::kImplicitDeny},
      {"condition keys are case-insensitive", upper_key, Req("lambda:InvokeFunction", kFn, acct),
       Decision::kAllow},
      {"ArnLike wildcard", source_arn,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourcearn", "arn:aws:s3:::bucket-logs"}}),
       Decision::kAllow},
      {"ArnLike non-matching", source_arn,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourcearn", "arn:aws:s3:::other"}}),
       Decision::kImplicitDeny},
      {"ArnLike is case-sensitive", source_arn,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourcearn", "arn:aws:s3:::Bucket-logs"}}),
       Decision::kImplicitDeny},
      {"ArnLike on a missing key", source_arn, Req("lambda:InvokeFunction"),
       Decision::kImplicitDeny},
      {"IfExists holds when the key is missing", if_exists, Req("lambda:InvokeFunction"),
       Decision::kAllow},
      {"IfExists checks a present key", if_exists,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourcearn", "arn:aws:s3:::other"}}),
       Decision::kImplicitDeny},
      {"negated operator holds when the key is missing (as IAM documents)", not_equals,
       Req("lambda:InvokeFunction"), Decision::kAllow},
      {"negated operator with the excluded value", not_equals,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourceaccount", "999999999999"}}),
       Decision::kImplicitDeny},
      {"keys and operators are ANDed: both hold", two_keys,
       Req("lambda:InvokeFunction", kFn,
           {{"aws:sourceaccount", kOther},
            {"aws:sourcearn", "arn:aws:sns:us-east-1:111122223333:topic"}}),
       Decision::kAllow},
      {"keys and operators are ANDed: one fails", two_keys,
       Req("lambda:InvokeFunction", kFn,
           {{"aws:sourceaccount", kOther},
            {"aws:sourcearn", "arn:aws:sns:us-east-1:999999999999:topic"}}),
       Decision::kImplicitDeny},
      {"ArnEquals matches part by part: '*' cannot swallow the account part", two_keys,
       Req("lambda:InvokeFunction", kFn,
           {{"aws:sourceaccount", kOther},
            {"aws:sourcearn", "arn:aws:sns:us-east-1:999999999999:111122223333:topic"}}),
       Decision::kImplicitDeny},
      {"StringEqualsIgnoreCase", ignore_case,
       Req("lambda:InvokeFunction", kFn, {{"lambda:functionurlauthtype", "NONE"}}),
       Decision::kAllow},
      {"Bool (JSON false) denies plain HTTP", secure,
       Req("lambda:InvokeFunction", kFn, {{"aws:securetransport", "false"}}),
       Decision::kExplicitDeny},
      {"Bool spares TLS", secure,
       Req("lambda:InvokeFunction", kFn, {{"aws:securetransport", "true"}}),
       Decision::kImplicitDeny},
      {"Null true: key absent", null_check, Req("lambda:InvokeFunction"), Decision::kExplicitDeny},
      {"Null true: key present", null_check,
       Req("lambda:InvokeFunction", kFn, {{"aws:sourcearn", "arn:aws:s3:::b"}}),
       Decision::kImplicitDeny},
      {"NumericLessThan holds", numeric, Req("lambda:InvokeFunction", kFn, {{"s3:max-keys", "9"}}),
       Decision::kAllow},
      {"NumericLessThan fails", numeric, Req("lambda:InvokeFunction", kFn, {{"s3:max-keys", "10"}}),
       Decision::kImplicitDeny},
      {"Numeric on a non-number", numeric,
       Req("lambda:InvokeFunction", kFn, {{"s3:max-keys", "nine"}}), Decision::kImplicitDeny},
      {"aws:PrincipalAccount defaults to the caller's account", principal_key,
       Req("lambda:InvokeFunction"), Decision::kAllow},
  });
}

TEST(AuthPolicyEvaluate, UnknownOperatorInHandBuiltPolicyErrsTowardsDeny) {
  Statement allow;
  allow.allow = true;
  allow.actions = {"*"};
  allow.resources = {"*"};
  Statement deny = allow;
  deny.allow = false;
  deny.actions = {"lambda:DeleteFunction"};
  deny.conditions = {Condition{"DateGreaterThan", "aws:CurrentTime", {"2020-01-01T00:00:00Z"}}};
  Policy p{"2012-10-17", "", {allow, deny}};
  EXPECT_EQ(Evaluate(p, Req("lambda:DeleteFunction")), Decision::kExplicitDeny);
  p.statements[0].conditions = deny.conditions;
  EXPECT_EQ(Evaluate(p, Req("lambda:GetFunction")), Decision::kImplicitDeny);
}

// ---- Resource policies ----

TEST(AuthPolicyEvaluate, ResourcePolicyPrincipals) {
  auto grant = [](const std::string& principal, const std::string& extra = "") {
    return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":)" + principal +
           R"(,"Action":"lambda:InvokeFunction","Resource":")" + kFn + "\"" + extra + "}]}";
  };
  const std::string by_id = grant(R"({"AWS":"111122223333"})");
  const std::string by_root = grant(R"({"AWS":["arn:aws:iam::111122223333:root"]})");
  const std::string anyone = grant(R"("*")");
  const std::string anyone_aws = grant(R"({"AWS":"*"})");
  const std::string by_role = grant(R"({"AWS":"arn:aws:iam::111122223333:role/team/Deployer"})");
  const std::string by_user = grant(R"({"AWS":"arn:aws:iam::111122223333:user/alice"})");
  const std::string s3 =
      grant(R"({"Service":"s3.amazonaws.com"})",
            R"(,"Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"},)"
            R"("ArnLike":{"AWS:SourceArn":"arn:aws:s3:::uploads-*"}})");
  const std::string implicit_resource =
      R"({"Statement":{"Effect":"Allow",)"
      R"("Principal":{"AWS":"111122223333"},"Action":"lambda:*"}})";
  const std::string deny_others = std::string(R"({"Version":"2012-10-17","Statement":[)") +
                                  R"({"Effect":"Allow","Principal":"*","Action":"lambda:*"},)" +
                                  R"({"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},)" +
                                  R"("Action":"lambda:DeleteFunction"}]})";

  auto user = [](const std::string& account, const std::string& arn = "") {
    AccessRequest r = Req("lambda:InvokeFunction", kFn, {}, account);
    if (!arn.empty()) r.principal_arn = arn;
    return r;
  };
  const std::map<std::string, std::string> from_bucket{
      {"aws:sourceaccount", kAccount}, {"aws:sourcearn", "arn:aws:s3:::uploads-2024"}};

  RunResource({
      {"account id grants its principals", by_id, user(kOther), Decision::kAllow},
      {"account id: other account", by_id, user("999999999999"), Decision::kImplicitDeny},
      {"account id: not a service", by_id, ServiceReq("s3.amazonaws.com"), Decision::kImplicitDeny},
      {"root ARN grants the account", by_root, user(kOther), Decision::kAllow},
      {"root ARN: other account", by_root, user(kAccount), Decision::kImplicitDeny},
      {"* grants anyone", anyone, user("999999999999"), Decision::kAllow},
      {"* grants services too", anyone, ServiceReq("sns.amazonaws.com"), Decision::kAllow},
      {"{AWS:*} grants anyone", anyone_aws, user("999999999999"), Decision::kAllow},
      {"role ARN grants its sessions", by_role,
       user(kOther, "arn:aws:sts::111122223333:assumed-role/Deployer/ci-42"), Decision::kAllow},
      {"role ARN: another role's session", by_role,
       user(kOther, "arn:aws:sts::111122223333:assumed-role/Other/ci-42"), Decision::kImplicitDeny},
      {"role ARN: same name, other account", by_role,
       user("999999999999", "arn:aws:sts::999999999999:assumed-role/Deployer/ci-42"),
       Decision::kImplicitDeny},
      {"role ARN: not another principal of the account", by_role, user(kOther),
       Decision::kImplicitDeny},
      {"user ARN exact", by_user, user(kOther, "arn:aws:iam::111122223333:user/alice"),
       Decision::kAllow},
      {"user ARN: other user", by_user, user(kOther, "arn:aws:iam::111122223333:user/bob"),
       Decision::kImplicitDeny},
      {"service principal with source conditions", s3, ServiceReq("s3.amazonaws.com", from_bucket),
       Decision::kAllow},
      {"service principal: other bucket", s3,
       ServiceReq("s3.amazonaws.com",
                  {{"aws:sourceaccount", kAccount}, {"aws:sourcearn", "arn:aws:s3:::evil"}}),
       Decision::kImplicitDeny},
      {"service principal: no source (confused deputy guard)", s3, ServiceReq("s3.amazonaws.com"),
       Decision::kImplicitDeny},
      {"service principal: other service", s3, ServiceReq("sns.amazonaws.com", from_bucket),
       Decision::kImplicitDeny},
      {"service principal: not an account caller", s3,
       Req("lambda:InvokeFunction", kFn, from_bucket), Decision::kImplicitDeny},
      {"omitted Resource means the attached resource", implicit_resource,
       Req("lambda:GetFunction", kFn, {}, kOther), Decision::kAllow},
      {"NotPrincipal Deny hits others", deny_others,
       [&] {
         AccessRequest r = user(kOther);
         r.action = "lambda:DeleteFunction";
         return r;
       }(),
       Decision::kExplicitDeny},
      {"NotPrincipal Deny spares the named account", deny_others,
       [&] {
         AccessRequest r = user(kAccount);
         r.action = "lambda:DeleteFunction";
         return r;
       }(),
       Decision::kAllow},
  });
}

TEST(AuthPolicyEvaluate, IdentityEvaluationIgnoresResourcePolicyOnlyRules) {
  // A resource policy evaluated as identity: statements without Resource match nothing there.
  const Policy p =
      MustParse(R"({"Statement":{"Effect":"Allow","Principal":"*","Action":"lambda:*"}})",
                PolicyKind::kResource);
  EXPECT_EQ(Evaluate(p, Req("lambda:InvokeFunction")), Decision::kImplicitDeny);
  EXPECT_EQ(EvaluateResource(p, Req("lambda:InvokeFunction")), Decision::kAllow);
}

// ---- Combining identity and resource policies ----

TEST(AuthPolicyAuthorize, SameAccountAndCrossAccount) {
  const Policy id_allow =
      MustParse(Identity(R"({"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"})"));
  const Policy id_deny =
      MustParse(Identity(R"({"Effect":"Deny","Action":"lambda:*","Resource":"*"})"));
  const Policy id_other =
      MustParse(Identity(R"({"Effect":"Allow","Action":"s3:*","Resource":"*"})"));
  auto resource = [](const std::string& effect, const std::string& principal) {
    return MustParse(R"({"Version":"2012-10-17","Statement":[{"Effect":")" + effect +
                         R"(","Principal":)" + principal +
                         R"(,"Action":"lambda:InvokeFunction"}]})",
                     PolicyKind::kResource);
  };
  const Policy res_same = resource("Allow", R"({"AWS":"123456789012"})");
  const Policy res_other = resource("Allow", R"({"AWS":"111122223333"})");
  const Policy res_deny = resource("Deny", R"("*")");
  const Policy res_s3 = resource("Allow", R"({"Service":"s3.amazonaws.com"})");

  const AccessRequest same = Req("lambda:InvokeFunction");
  const AccessRequest cross = Req("lambda:InvokeFunction", kFn, {}, kOther);
  const AccessRequest service = ServiceReq("s3.amazonaws.com");

  struct {
    const char* what;
    const Policy* identity;
    const Policy* resource;
    const AccessRequest& request;
    std::string_view resource_account;
    Decision want;
  } cases[] = {
      {"same account: identity alone allows", &id_allow, nullptr, same, kAccount, Decision::kAllow},
      {"same account: resource alone allows", nullptr, &res_same, same, kAccount, Decision::kAllow},
      {"same account: resource allows, identity silent", &id_other, &res_same, same, kAccount,
       Decision::kAllow},
      {"same account: neither allows", &id_other, &res_other, same, kAccount,
       Decision::kImplicitDeny},
      {"same account: resource deny beats identity allow", &id_allow, &res_deny, same, kAccount,
       Decision::kExplicitDeny},
      {"same account: identity deny beats resource allow", &id_deny, &res_same, same, kAccount,
       Decision::kExplicitDeny},
      {"no policies", nullptr, nullptr, same, kAccount, Decision::kImplicitDeny},
      {"cross-account: identity alone is not enough", &id_allow, nullptr, cross, kAccount,
       Decision::kImplicitDeny},
      {"cross-account: resource alone is not enough", nullptr, &res_other, cross, kAccount,
       Decision::kImplicitDeny},
      {"cross-account: resource grants another account", &id_allow, &res_same, cross, kAccount,
       Decision::kImplicitDeny},
      {"cross-account: both allow", &id_allow, &res_other, cross, kAccount, Decision::kAllow},
      {"cross-account: identity deny", &id_deny, &res_other, cross, kAccount,
       Decision::kExplicitDeny},
      {"unknown resource account counts as cross-account", &id_allow, nullptr, same, "",
       Decision::kImplicitDeny},
      {"service principal: the resource policy decides", nullptr, &res_s3, service, kAccount,
       Decision::kAllow},
      {"service principal: identity policy does not apply", &id_deny, &res_s3, service, kAccount,
       Decision::kAllow},
      {"service principal: not granted", &id_allow, &res_same, service, kAccount,
       Decision::kImplicitDeny},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_STREQ(Name(Authorize(c.identity, c.resource, c.request, c.resource_account)),
                 Name(c.want));
  }
}

// ---- Parse errors ----

std::string Nested(int depth) {
  return std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']');
}

TEST(AuthPolicyParse, RefusesMalformedDocuments) {
  constexpr auto kId = PolicyKind::kIdentity;
  constexpr auto kRes = PolicyKind::kResource;
  const std::string ok_stmt = R"({"Effect":"Allow","Action":"lambda:*","Resource":"*"})";
  auto stmt = [](const std::string& body) { return Identity("{" + body + "}"); };
  const std::string allow = R"("Effect":"Allow",)";
  std::string many_statements;
  for (size_t i = 0; i <= kMaxStatements; ++i) many_statements += (i ? "," : "") + ok_stmt;
  std::string many_actions;
  for (size_t i = 0; i <= kMaxListEntries; ++i)
    many_actions += std::string(i ? "," : "") + "\"a:b\"";

  struct {
    std::string text;
    PolicyKind kind;
    std::string message;  // a part of the expected message
  } cases[] = {
      {"", kId, "not valid JSON"},
      {"{", kId, "not valid JSON"},
      {R"({"Statement":[)" + ok_stmt + "],}", kId, "not valid JSON"},
      {R"({"Statement":)" + Nested(100) + "}", kId, "nesting exceeds the limit of 64"},
      {"[]", kId, "policy document must be an object, not array"},
      {R"("x")", kId, "must be an object, not string"},
      {R"({"Version":"2020-01-01","Statement":[)" + ok_stmt + "]}", kId,
       "Version must be 2012-10-17 or 2008-10-17, not '2020-01-01'"},
      {R"({"Version":2012,"Statement":[)" + ok_stmt + "]}", kId, "Version must be a string"},
      {R"({"Version":"2012-10-17","Statement":[)" + ok_stmt + R"(],"Extra":1})", kId,
       "unknown key 'Extra'"},
      {R"({"Version":"2012-10-17","Id":5,"Statement":[)" + ok_stmt + "]}", kId,
       "Id must be a string"},
      {R"({"Version":"2012-10-17"})", kId, "Statement is missing"},
      {R"({"Version":"2012-10-17","Statement":[]})", kId, "Statement must not be empty"},
      {R"({"Version":"2012-10-17","Statement":"x"})", kId,
       "Statement must be an object or an array, not string"},
      {R"({"Version":"2012-10-17","Statement":[)" + many_statements + "]}", kId,
       "Statement has 101 entries, over the limit of 100"},
      {Identity(ok_stmt + ",7"), kId, "Statement[1] must be an object, not number"},
      {stmt(R"("Action":"lambda:*","Resource":"*")"), kId, "Statement[0].Effect is missing"},
      {Identity(ok_stmt + R"(,{"Effect":"Permit","Action":"lambda:*","Resource":"*"})"), kId,
       "Statement[1].Effect must be Allow or Deny, not 'Permit'"},
      {stmt(R"("Effect":"allow","Action":"lambda:*","Resource":"*")"), kId,
       "Statement[0].Effect must be Allow or Deny, not 'allow'"},
      {stmt(R"("Effect":true,"Action":"lambda:*","Resource":"*")"), kId,
       "Statement[0].Effect must be Allow or Deny, not boolean"},
      {R"({"Statement":{"Effect":"Permit","Action":"lambda:*","Resource":"*"}})", kId,
       "Statement.Effect must be Allow or Deny"},
      {stmt(allow + R"("Action":"lambda:*","NotAction":"s3:*","Resource":"*")"), kId,
       "Statement[0] has both Action and NotAction"},
      {stmt(allow + R"("Resource":"*")"), kId, "Statement[0] needs Action or NotAction"},
      {stmt(allow + R"("Action":7,"Resource":"*")"), kId,
       "Statement[0].Action must be a string or an array of strings, not number"},
      {stmt(allow + R"("Action":["lambda:Get*",{}],"Resource":"*")"), kId,
       "Statement[0].Action[1] must be a string, not object"},
      {stmt(allow + R"("Action":[],"Resource":"*")"), kId,
       "Statement[0].Action must not be an empty array"},
      {stmt(allow + R"("Action":[)" + many_actions + R"(],"Resource":"*")"), kId,
       "Statement[0].Action has 101 entries, over the limit of 100"},
      {stmt(allow + R"("Action":"InvokeFunction","Resource":"*")"), kId,
       "Statement[0].Action 'InvokeFunction' must be '*' or 'service:action'"},
      {stmt(allow + R"("NotAction":["s3:*",":Get"],"Resource":"*")"), kId,
       "Statement[0].NotAction[1] ':Get' must be '*' or 'service:action'"},
      {stmt(allow + R"("Action":"lambda:","Resource":"*")"), kId, "'lambda:' must be '*'"},
      {stmt(allow + R"("Action":"*:Get","Resource":"*")"), kId, "'*:Get' must be '*'"},
      {stmt(allow + R"("Action":"lambda:Invoke Function","Resource":"*")"), kId,
       "must be '*' or 'service:action'"},
      {stmt(allow + R"("Action":"lambda:*","Resource":"*","NotResource":"*")"), kId,
       "Statement[0] has both Resource and NotResource"},
      {stmt(allow + R"("Action":"lambda:*")"), kId, "Statement[0] needs Resource or NotResource"},
      {stmt(allow + R"("Action":"lambda:*","Resource":"function:f")"), kId,
       "Statement[0].Resource 'function:f' must be '*' or an ARN"},
      {stmt(allow + R"("Action":"lambda:*","Resource":"arn:aws:lambda:us-east-1:1")"), kId,
       "must be '*' or an ARN"},
      {stmt(allow + R"("Action":"lambda:*","Resource":"*","Actions":"x")"), kId,
       "Statement[0] has an unknown key 'Actions'"},
      {stmt(allow + R"("Sid":1,"Action":"lambda:*","Resource":"*")"), kId,
       "Statement[0].Sid must be a string"},
      {stmt(allow + R"("Principal":"*","Action":"lambda:*","Resource":"*")"), kId,
       "Statement[0].Principal is not allowed in an identity policy"},
      {stmt(allow + R"("NotPrincipal":"*","Action":"lambda:*","Resource":"*")"), kId,
       "Statement[0].NotPrincipal is not allowed in an identity policy"},
      {stmt(allow + R"("Action":"lambda:*","Resource":"arn:aws:s3:::b/${aws:username}/*")"), kId,
       "uses a policy variable ('${...}'), which is not supported"},
      // Resource policies.
      {stmt(allow + R"("Action":"lambda:*")"), kRes,
       "Statement[0] needs Principal or NotPrincipal in a resource policy"},
      {stmt(allow + R"("Principal":"*","NotPrincipal":"*","Action":"lambda:*")"), kRes,
       "Statement[0] has both Principal and NotPrincipal"},
      {stmt(allow + R"("Principal":"everyone","Action":"lambda:*")"), kRes,
       "Statement[0].Principal must be '*' or an object"},
      {stmt(allow + R"("Principal":{},"Action":"lambda:*")"), kRes,
       "Statement[0].Principal must name at least one principal"},
      {stmt(allow + R"("Principal":{"AWS":["123456789012","alice"]},"Action":"lambda:*")"), kRes,
       "Statement[0].Principal.AWS[1] 'alice' must be '*', a 12-digit account id"},
      {stmt(allow + R"("Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"a:b")"),
       kRes, "without wildcards"},
      {stmt(allow + R"("Principal":{"Service":"s3 amazonaws"},"Action":"lambda:*")"), kRes,
       "Statement[0].Principal.Service 's3 amazonaws' must be a service principal"},
      {stmt(allow + R"("Principal":{"Federated":"cognito-identity.amazonaws.com"},)" +
            R"("Action":"lambda:*")"),
       kRes, "Statement[0].Principal.Federated principals are not supported"},
      {stmt(allow + R"("Principal":{"Robot":"x"},"Action":"lambda:*")"), kRes,
       "unknown principal type 'Robot'"},
      // Condition blocks.
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":"x")"), kId,
       "Statement[0].Condition must be an object"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}})"),
       kId, "Statement[0].Condition has an unknown operator 'StringEqualz'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*",)" +
            R"("Condition":{"ForAnyValue:StringEquals":{"a:b":"c"}})"),
       kId, "set operators (ForAnyValue:/ForAllValues:) are not supported"},
      {stmt(allow + R"("Action":"a:b","Resource":"*",)" +
            R"("Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}})"),
       kId, "operator 'DateGreaterThan' is not supported"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}})"),
       kId, "unknown operator 'NullIfExists'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":"x"})"), kId,
       "Statement[0].Condition.StringEquals must be an object of {key: values}"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{}})"), kId,
       "Statement[0].Condition.StringEquals must name at least one condition key"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{"a:b":{}}})"),
       kId, "Statement[0].Condition.StringEquals.a:b must be a string or an array"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{"a:b":[]}})"),
       kId, "Statement[0].Condition.StringEquals.a:b must not be an empty array"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{"a:b":[null]}})"),
       kId, "Statement[0].Condition.StringEquals.a:b[0] must be a string, not null"},
      {stmt(allow +
            R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{"nocolon":"x"}})"),
       kId, "invalid condition key 'nocolon'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"StringEquals":{"a:b c":"x"}})"),
       kId, "invalid condition key 'a:b c'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"Bool":{"a:b":"yes"}})"), kId,
       "Statement[0].Condition.Bool.a:b must be true or false, not 'yes'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"NumericEquals":{"a:b":"ten"}})"),
       kId, "must be a number, not 'ten'"},
      {stmt(allow + R"("Action":"a:b","Resource":"*","Condition":{"NumericEquals":{"a:b":"nan"}})"),
       kId, "must be a number, not 'nan'"},
      // Quoted values are cut short.
      {stmt(allow + R"("Action":"a:b","Resource":")" + std::string(100, 'x') + "\""), kId,
       "Statement[0].Resource '" + std::string(64, 'x') + "...' must be '*' or an ARN"},
      {stmt(allow + R"("Action":"a:b","Resource":"*",)" +
            R"("Condition":{"StringEquals":{"aws:username":"${aws:username}"}})"),
       kId, "uses a policy variable"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 300));
    auto p = ParsePolicy(c.text, c.kind);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, Errc::kInvalidArgument);
    EXPECT_NE(p.error().message.find(c.message), std::string::npos)
        << "message: " << p.error().message << "\nwanted: " << c.message;
  }
}

TEST(AuthPolicyParse, SizeLimits) {
  const std::string doc = Identity(R"({"Effect":"Allow","Action":"lambda:*","Resource":"*"})");
  const std::string at_limit = doc + std::string(kIdentityPolicyMaxBytes - doc.size(), ' ');
  EXPECT_TRUE(ParsePolicy(at_limit, PolicyKind::kIdentity).ok());
  auto over = ParsePolicy(at_limit + " ", PolicyKind::kIdentity);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("6145 bytes, over the limit of 6144 for an identity policy"),
            std::string::npos)
      << over.error().message;

  const std::string res = R"({"Statement":{"Effect":"Allow","Principal":"*","Action":"a:b"}})";
  const std::string res_at_limit = res + std::string(kResourcePolicyMaxBytes - res.size(), ' ');
  EXPECT_TRUE(ParsePolicy(res_at_limit, PolicyKind::kResource).ok());
  auto res_over = ParsePolicy(res_at_limit + " ", PolicyKind::kResource);
  ASSERT_FALSE(res_over.ok());
  EXPECT_NE(res_over.error().message.find("over the limit of 20480 for a resource policy"),
            std::string::npos)
      << res_over.error().message;
}

TEST(AuthPolicyParse, AcceptsIamForms) {
  // No Version means 2008-10-17, where "${" is plain text.
  const Policy old = MustParse(
      R"({"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${x}"}})");
  EXPECT_EQ(old.version, "2008-10-17");
  ASSERT_EQ(old.statements.size(), 1u);
  EXPECT_EQ(old.statements[0].resources, std::vector<std::string>{"arn:aws:s3:::b/${x}"});
  EXPECT_EQ(Evaluate(old, Req("s3:GetObject", "arn:aws:s3:::b/${x}")), Decision::kAllow);

  const Policy p = MustParse(
      R"({"Version":"2012-10-17","Id":"doc","Statement":[{"Sid":"S1","Effect":"Deny",)"
      R"("NotAction":["iam:*","sts:AssumeRole"],"NotResource":"*",)"
      R"("Condition":{"StringEquals":{"aws:SourceAccount":["1","2"]},"Bool":{"aws:x":true},)"
      R"("NumericGreaterThanIfExists":{"a:n":1.5}}}]})");
  EXPECT_EQ(p.id, "doc");
  const Statement& s = p.statements.at(0);
  EXPECT_EQ(s.sid, "S1");
  EXPECT_FALSE(s.allow);
  EXPECT_TRUE(s.actions.empty());
  EXPECT_EQ(s.not_actions, (std::vector<std::string>{"iam:*", "sts:AssumeRole"}));
  EXPECT_EQ(s.not_resources, std::vector<std::string>{"*"});
  ASSERT_EQ(s.conditions.size(), 3u);
  // Keys are kept as written; JSON booleans and numbers as their text.
  EXPECT_EQ(s.conditions[0], (Condition{"Bool", "aws:x", {"true"}}));
  EXPECT_EQ(s.conditions[1], (Condition{"NumericGreaterThanIfExists", "a:n", {"1.5"}}));
  EXPECT_EQ(s.conditions[2], (Condition{"StringEquals", "aws:SourceAccount", {"1", "2"}}));

  const Policy r = MustParse(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
      R"("Principal":{"AWS":["*","arn:aws:iam::123456789012:root"],"Service":"s3.amazonaws.com"},)"
      R"("Action":"lambda:InvokeFunction"}]})",
      PolicyKind::kResource);
  const Principal& pr = *r.statements.at(0).principal;
  EXPECT_TRUE(pr.any);
  EXPECT_EQ(pr.aws, std::vector<std::string>{"arn:aws:iam::123456789012:root"});
  EXPECT_EQ(pr.service, std::vector<std::string>{"s3.amazonaws.com"});
  EXPECT_TRUE(r.statements[0].resources.empty());
}

// ---- WildcardMatch ----

TEST(AuthPolicyWildcard, Matches) {
  struct {
    const char* pattern;
    const char* value;
    bool ci;
    bool want;
  } cases[] = {
      {"", "", false, true},
      {"", "a", false, false},
      {"*", "", false, true},
      {"*", "arn:aws:s3:::b/k", false, true},
      {"a*", "a", false, true},
      {"a*b", "a:x/y:b", false, true},
      {"a*b", "a:x/y:bc", false, false},
      {"a?c", "abc", false, true},
      {"a?c", "ac", false, false},
      {"a?c", "abbc", false, false},
      {"*a*b*c*", "xxaxxbxxcxx", false, true},
      {"*a*b*c*", "xxaxxcxxbxx", false, false},
      {"ab*ab*ab", "abababab", false, true},
      {"**", "x", false, true},
      {"abc", "ABC", false, false},
      {"abc", "ABC", true, true},
      {"lambda:invoke*", "Lambda:InvokeFunction", true, true},
      {"exact", "exact", false, true},
      {"exact", "exactly", false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(WildcardMatch(c.pattern, c.value, c.ci), c.want)
        << "'" << c.pattern << "' vs '" << c.value << "' ci=" << c.ci;
  }
}

double MillisecondsFor(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(AuthPolicyWildcard, PathologicalPatternsAreFast) {
  // A backtracking matcher that retries every star is exponential here.
  std::string stars;
  for (int i = 0; i < 200; ++i) stars += "a*";
  const std::string value(10000, 'a');
  EXPECT_LT(MillisecondsFor([&] {
              EXPECT_FALSE(WildcardMatch(stars + "b", value));
              EXPECT_TRUE(WildcardMatch(stars, value));
              EXPECT_FALSE(WildcardMatch(stars + "b", value, true));
            }),
            50);
  // The algorithm's true worst case, O(pattern * value): each retry of the star rescans the
  // 200-character run (2M steps, about 2 ms optimized). The bound only rules out blow-ups.
  const std::string long_run = "*" + std::string(200, 'a') + "b";
  EXPECT_LT(MillisecondsFor([&] { EXPECT_FALSE(WildcardMatch(long_run, value)); }), 1000);
}

TEST(AuthPolicyWildcard, ArnMatchIsSegmentAware) {
  EXPECT_TRUE(
      ArnMatch("arn:aws:sns:*:111122223333:topic", "arn:aws:sns:us-east-1:111122223333:topic"));
  // A plain wildcard match would let the region '*' swallow "us-east-1:999999999999".
  EXPECT_TRUE(WildcardMatch("arn:aws:sns:*:111122223333:topic",
                            "arn:aws:sns:us-east-1:999999999999:111122223333:topic"));
  EXPECT_FALSE(ArnMatch("arn:aws:sns:*:111122223333:topic",
                        "arn:aws:sns:us-east-1:999999999999:111122223333:topic"));
  // The last part may hold ':' and a '*' there spans it.
  EXPECT_TRUE(ArnMatch("arn:aws:lambda:us-east-1:123456789012:function:*",
                       "arn:aws:lambda:us-east-1:123456789012:function:f:live"));
  EXPECT_TRUE(ArnMatch("arn:aws:s3:::bucket-?", "arn:aws:s3:::bucket-1"));
  EXPECT_TRUE(ArnMatch("*", "anything"));
  EXPECT_FALSE(ArnMatch("arn:aws:s3:::b", "not-an-arn"));
  EXPECT_FALSE(ArnMatch("arn:aws:*", "arn:aws:s3:::b"));
  EXPECT_FALSE(ArnMatch("arn:aws:s3:::B", "arn:aws:s3:::b"));
}

// ---- PolicyJson ----

TEST(AuthPolicyJson, CanonicalForm) {
  const Policy p = MustParse(
      R"({ "Statement": { "Resource": "arn:aws:lambda:*:123456789012:function:*",)"
      R"( "Action": "lambda:InvokeFunction", "Effect": "Allow" }, "Version": "2012-10-17" })");
  EXPECT_EQ(PolicyJson(p), R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                           R"("Action":["lambda:InvokeFunction"],)"
                           R"("Resource":["arn:aws:lambda:*:123456789012:function:*"]}]})");
}

TEST(AuthPolicyJson, RoundTrips) {
  struct {
    std::string text;
    PolicyKind kind;
  } docs[] = {
      {R"({"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"A","Effect":"Allow",)"
       R"("Action":["lambda:Invoke*","lambda:Get*"],"Resource":"*",)"
       R"("Condition":{"StringLike":{"aws:SourceArn":["arn:aws:s3:::a-*","arn:aws:s3:::b"]},)"
       R"("Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10}}},)"
       R"({"Effect":"Deny","NotAction":"iam:*","NotResource":["arn:aws:s3:::b/*"]}]})",
       PolicyKind::kIdentity},
      {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"lambda:*"},)"
       R"({"Effect":"Allow","Principal":{"AWS":["*","123456789012"],"Service":"s3.amazonaws.com"},)"
       R"("Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:1:function:f"},)"
       R"({"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/R"},)"
       R"("Action":"lambda:DeleteFunction","Condition":{"Null":{"aws:SourceArn":"false"}}}]})",
       PolicyKind::kResource},
  };
  for (const auto& d : docs) {
    SCOPED_TRACE(d.text);
    const Policy p = MustParse(d.text, d.kind);
    const std::string canonical = PolicyJson(p);
    const Policy again = MustParse(canonical, d.kind);
    EXPECT_EQ(again, p);
    EXPECT_EQ(PolicyJson(again), canonical);
  }
}

}  // namespace
}  // namespace alto::auth
