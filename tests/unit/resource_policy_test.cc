#include "api/resource_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/encoding.h"
#include "store/store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kArn = "arn:aws:lambda:us-east-1:000000000000:function:f";
constexpr const char* kB = "111122223333";

ordered_json Statement(const std::string& body, const std::string& arn = kArn) {
  auto req = ParseAddPermission(body);
  EXPECT_TRUE(req.ok()) << body << ": " << (req ? "" : req.error().message);
  auto s = BuildStatement(*req, arn);
  EXPECT_TRUE(s.ok());
  return *s;
}

PolicyDoc DocWith(std::initializer_list<std::string> bodies) {
  PolicyDoc doc;
  for (const auto& b : bodies) {
    auto st = AddStatement(doc, Statement(b));
    EXPECT_TRUE(st.ok()) << b << ": " << (st ? "" : st.error().message);
  }
  return doc;
}

auth::Caller Key(const std::string& account, bool admin = true) {
  auth::Caller c;
  c.account_id = account;
  c.access_key_id = "AKIA" + account;
  c.admin = admin;
  return c;
}

TEST(ResourcePolicy, BuildsLambdasStatementShapes) {
  EXPECT_EQ(
      Statement(
          R"({"StatementId":"s1","Action":"lambda:InvokeFunction","Principal":"111122223333"})")
          .dump(),
      R"({"Sid":"s1","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
      R"("Action":"lambda:InvokeFunction","Resource":")" +
          std::string(kArn) + R"("})");
  EXPECT_EQ(Statement(R"({"StatementId":"s","Action":"lambda:*","Principal":"*"})")["Principal"],
            "*");
  EXPECT_EQ(
      Statement(
          R"({"StatementId":"s","Action":"*","Principal":"arn:aws:iam::111122223333:role/r"})")
          ["Principal"]
              .dump(),
      R"({"AWS":"arn:aws:iam::111122223333:role/r"})");
  auto s3 = Statement(R"({"StatementId":"s3","Action":"lambda:InvokeFunction",)"
                      R"("Principal":"s3.amazonaws.com","SourceArn":"arn:aws:s3:::bucket",)"
                      R"("SourceAccount":"111122223333"})",
                      std::string(kArn) + ":prod");
  EXPECT_EQ(s3["Principal"].dump(), R"({"Service":"s3.amazonaws.com"})");
  EXPECT_EQ(s3["Resource"], std::string(kArn) + ":prod");
  EXPECT_EQ(s3["Condition"].dump(), R"({"StringEquals":{"AWS:SourceAccount":"111122223333"},)"
                                    R"("ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}})");
  auto url = Statement(R"({"StatementId":"u","Action":"lambda:InvokeFunctionUrl","Principal":"*",)"
                       R"("FunctionUrlAuthType":"AWS_IAM","PrincipalOrgID":"o-abcdefghij"})");
  EXPECT_EQ(url["Condition"].dump(), R"({"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij",)"
                                     R"("lambda:FunctionUrlAuthType":"AWS_IAM"}})");
}

TEST(ResourcePolicy, RefusesBadRequests) {
  struct Case {
    const char* body;
    const char* reason;  // "" for InvalidParameterValueException
  };
  const Case cases[] = {
      {R"({"Action":"lambda:InvokeFunction","Principal":"*"})", "ValidationException"},
      {R"({"StatementId":"","Action":"lambda:InvokeFunction","Principal":"*"})",
       "ValidationException"},
      {R"({"StatementId":"bad sid","Action":"lambda:InvokeFunction","Principal":"*"})",
       "ValidationException"},
      {R"({"StatementId":"s","Principal":"*"})", "ValidationException"},
      {R"({"StatementId":"s","Action":"s3:GetObject","Principal":"*"})", "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:Invoke*","Principal":"*"})", "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction"})", "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"12345"})", ""},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"arn:aws:iam::1:root"})",
       ""},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"arn:aws:iam::111122223333:user/*"})",
       ""},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"Bad Service"})", ""},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","SourceArn":"nope"})",
       "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","SourceAccount":"12"})",
       "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","FunctionUrlAuthType":"X"})",
       "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","PrincipalOrgID":"org"})",
       "ValidationException"},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":7})", ""},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","Bogus":"1"})", ""},
      {R"([1,2])", ""},
      {R"({"StatementId":)", ""},
  };
  for (const auto& c : cases) {
    auto r = ParseAddPermission(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << c.body;
    EXPECT_EQ(r.error().reason, c.reason) << c.body << ": " << r.error().message;
  }
  EXPECT_TRUE(IsValidStatementId(std::string(100, 'a')));
  EXPECT_FALSE(IsValidStatementId(std::string(101, 'a')));
  EXPECT_TRUE(IsValidStatementId("a-b_c.D9"));
  EXPECT_FALSE(IsValidStatementId("a/b"));
}

TEST(ResourcePolicy, MatchesPrincipalActionAndConditions) {
  const std::string a = "000000000000";
  struct Case {
    const char* body;
    std::string account;
    const char* action;
    bool allowed;
  };
  const std::string root = R"("Principal":"arn:aws:iam::111122223333:root")";
  const Case cases[] = {
      // Principal: account id, root ARN, the key's own ARN, "*"; another account is not matched.
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"111122223333"})", kB,
       "lambda:InvokeFunction", true},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"111122223333"})",
       "444455556666", "lambda:InvokeFunction", false},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"arn:aws:iam::111122223333:root"})",
       kB, "lambda:InvokeFunction", true},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"arn:aws:iam::111122223333:user/AKIA111122223333"})",
       kB, "lambda:InvokeFunction", true},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"arn:aws:iam::111122223333:user/someone-else"})",
       kB, "lambda:InvokeFunction", false},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*"})", "444455556666",
       "lambda:InvokeFunction", true},
      // A service principal never names a key.
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"s3.amazonaws.com"})", kB,
       "lambda:InvokeFunction", false},
      // Action: exact (case-insensitive) or wildcard; nothing else.
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"111122223333"})", kB,
       "lambda:GetFunction", false},
      {R"({"StatementId":"s","Action":"lambda:invokefunction","Principal":"111122223333"})", kB,
       "lambda:InvokeFunction", true},
      {R"({"StatementId":"s","Action":"lambda:*","Principal":"111122223333"})", kB,
       "lambda:DeleteFunction", true},
      {R"({"StatementId":"s","Action":"*","Principal":"111122223333"})", kB, "lambda:GetFunction",
       true},
      {R"({"StatementId":"s","Action":"lambda:*","Principal":"111122223333"})", kB,
       "sqs:SendMessage", false},
      // Conditions: SourceAccount must be the caller's; SourceArn never holds for a plain key.
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","SourceAccount":"111122223333"})",
       kB, "lambda:InvokeFunction", true},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","SourceAccount":"444455556666"})",
       kB, "lambda:InvokeFunction", false},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","SourceArn":"arn:aws:s3:::b"})",
       kB, "lambda:InvokeFunction", false},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","PrincipalOrgID":"o-abcdefghij"})",
       kB, "lambda:InvokeFunction", false},
      {R"({"StatementId":"s","Action":"lambda:InvokeFunction","Principal":"*","EventSourceToken":"t"})",
       kB, "lambda:InvokeFunction", false},
  };
  for (const auto& c : cases) {
    PolicyDoc doc = DocWith({c.body});
    EXPECT_EQ(ResourcePolicyAllows(doc, Key(c.account), c.action), c.allowed)
        << c.body << " for " << c.account << " doing " << c.action;
    // Whether the key is an administrator of its account changes nothing here.
    EXPECT_EQ(ResourcePolicyAllows(doc, Key(c.account, false), c.action), c.allowed);
  }
  // An empty document allows nothing, and a caller without an account nothing either.
  EXPECT_FALSE(ResourcePolicyAllows(PolicyDoc{}, Key(kB), "lambda:InvokeFunction"));
  EXPECT_FALSE(
      ResourcePolicyAllows(DocWith({R"({"StatementId":"s","Action":"lambda:*","Principal":"*"})"}),
                           Key(""), "lambda:InvokeFunction"));
  // Function URL statements hold only with the URL's auth type in the context.
  PolicyDoc url = DocWith({R"({"StatementId":"u","Action":"lambda:InvokeFunctionUrl",)"
                           R"("Principal":"111122223333","FunctionUrlAuthType":"AWS_IAM"})"});
  EXPECT_FALSE(ResourcePolicyAllows(url, Key(kB), "lambda:InvokeFunctionUrl"));
  EXPECT_TRUE(ResourcePolicyAllows(url, Key(kB), "lambda:InvokeFunctionUrl",
                                   {{"lambda:functionurlauthtype", "AWS_IAM"}}));
  EXPECT_FALSE(ResourcePolicyAllows(url, Key(kB), "lambda:InvokeFunctionUrl",
                                    {{"lambda:functionurlauthtype", "NONE"}}));
}

TEST(ResourcePolicy, ServicePrincipals) {
  PolicyDoc doc = DocWith({R"({"StatementId":"s3","Action":"lambda:InvokeFunction",)"
                           R"("Principal":"s3.amazonaws.com","SourceArn":"arn:aws:s3:::bucket-*",)"
                           R"("SourceAccount":"111122223333"})"});
  EXPECT_TRUE(ServicePrincipalAllows(doc, "s3.amazonaws.com", "arn:aws:s3:::bucket-1", kB,
                                     "lambda:InvokeFunction"));
  EXPECT_FALSE(ServicePrincipalAllows(doc, "s3.amazonaws.com", "arn:aws:s3:::other", kB,
                                      "lambda:InvokeFunction"));
  EXPECT_FALSE(ServicePrincipalAllows(doc, "s3.amazonaws.com", "arn:aws:s3:::bucket-1",
                                      "444455556666", "lambda:InvokeFunction"));
  EXPECT_FALSE(ServicePrincipalAllows(doc, "s3.amazonaws.com", "", kB, "lambda:InvokeFunction"));
  EXPECT_FALSE(ServicePrincipalAllows(doc, "sns.amazonaws.com", "arn:aws:s3:::bucket-1", kB,
                                      "lambda:InvokeFunction"));
  EXPECT_FALSE(ServicePrincipalAllows(doc, "s3.amazonaws.com", "arn:aws:s3:::bucket-1", kB,
                                      "lambda:GetFunction"));
  // An account principal never names a service.
  PolicyDoc account =
      DocWith({R"({"StatementId":"a","Action":"lambda:*","Principal":"111122223333"})"});
  EXPECT_FALSE(
      ServicePrincipalAllows(account, "s3.amazonaws.com", "", "", "lambda:InvokeFunction"));
  PolicyDoc unconditioned = DocWith(
      {R"({"StatementId":"e","Action":"lambda:InvokeFunction","Principal":"events.amazonaws.com"})"});
  EXPECT_TRUE(ServicePrincipalAllows(unconditioned, "events.amazonaws.com", "", "",
                                     "lambda:InvokeFunction"));
}

TEST(ResourcePolicy, DuplicateSidsAndRemoval) {
  PolicyDoc doc = DocWith({R"({"StatementId":"a","Action":"lambda:*","Principal":"111122223333"})",
                           R"({"StatementId":"b","Action":"lambda:GetFunction","Principal":"*"})"});
  auto dup =
      AddStatement(doc, Statement(R"({"StatementId":"a","Action":"lambda:*","Principal":"*"})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::kConflict);
  EXPECT_EQ(dup.error().message,
            "The statement id (a) provided already exists. Please provide a new statement id, or "
            "remove the existing statement.");
  EXPECT_EQ(doc.statements.size(), 2u);
  auto missing = RemoveStatement(doc, "zz");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "Statement zz is not found in resource policy.");
  ASSERT_TRUE(RemoveStatement(doc, "a").ok());
  ASSERT_EQ(doc.statements.size(), 1u);
  EXPECT_EQ(doc.statements[0]["Sid"], "b");
  // The evaluation view follows: "a" no longer grants DeleteFunction.
  EXPECT_FALSE(ResourcePolicyAllows(doc, Key(kB), "lambda:DeleteFunction"));
  EXPECT_TRUE(ResourcePolicyAllows(doc, Key(kB), "lambda:GetFunction"));
}

TEST(ResourcePolicy, TwentyKilobyteLimit) {
  PolicyDoc doc;
  size_t added = 0;
  Status last;
  // More statements than IAM's 100-statement cap fit under Lambda's size limit: size alone bounds.
  while (true) {
    last = AddStatement(
        doc, Statement(R"({"StatementId":"s)" + std::to_string(added) +
                       R"(","Action":"lambda:InvokeFunction","Principal":"111122223333"})"));
    if (!last.ok()) break;
    ++added;
    ASSERT_LE(PolicyDocJson(doc).size(), kMaxResourcePolicyBytes);
  }
  EXPECT_EQ(last.error().code, Errc::kTooLarge);
  EXPECT_NE(last.error().message.find("is bigger than the limit (20480)"), std::string::npos)
      << last.error().message;
  EXPECT_GT(added, 100u);
  EXPECT_EQ(doc.statements.size(), added);  // the refused one is not kept
  EXPECT_EQ(doc.policy.statements.size(), added);
  // Still evaluates, and still reads back.
  EXPECT_TRUE(ResourcePolicyAllows(doc, Key(kB), "lambda:InvokeFunction"));
  auto again = ParsePolicyDoc(PolicyDocJson(doc));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->statements.size(), added);
  // A stored document over the limit is refused on reading.
  EXPECT_FALSE(ParsePolicyDoc(std::string(kMaxResourcePolicyBytes + 1, ' ')).ok());
}

TEST(ResourcePolicy, DocumentRoundTrip) {
  PolicyDoc doc = DocWith(
      {R"({"StatementId":"a","Action":"lambda:InvokeFunction","Principal":"111122223333"})",
       R"({"StatementId":"b","Action":"lambda:InvokeFunction","Principal":"s3.amazonaws.com",)"
       R"("SourceArn":"arn:aws:s3:::bkt","SourceAccount":"111122223333"})"});
  const std::string text = PolicyDocJson(doc);
  EXPECT_TRUE(
      text.starts_with(R"({"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"a",)"))
      << text;
  auto again = ParsePolicyDoc(text);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(PolicyDocJson(*again), text);  // byte for byte, key order kept
  EXPECT_EQ(again->policy, doc.policy);
  // Not documents: refused, never a crash.
  for (
      const char* bad :
      {"", "{", "[]", R"({"Version":"2008-10-17","Statement":[]})", R"({"Version":"2012-10-17"})",
       R"({"Version":"2012-10-17","Statement":[1]})",
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*"}]})",
       R"({"Version":"2012-10-17","Statement":[{"Sid":"x","Effect":"Permit","Principal":"*","Action":"*"}]})"}) {
    EXPECT_FALSE(ParsePolicyDoc(bad).ok()) << bad;
  }
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-policy-" + RandomHex(6));
    fs::create_directories(dir_);
    states_.push_back(std::make_unique<testing::TestState>(dir_ / "alto.db"));
    s_ = OpenStateFunctionStore(states_.back()->Take(), "000000000000");
    FunctionConfig f;
    f.name = "f";
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.revision_id = NewUuid();
    f.code_sha256_hex = "ab";
    ASSERT_TRUE(s_->CreateFunction(f).ok());
  }
  void TearDown() override {
    s_.reset();
    states_.clear();
    fs::remove_all(dir_);
  }
  // Adds statement `sid` to (f, qualifier) as AddPermission does.
  Status Add(const std::string& sid, const std::string& qualifier = "") {
    auto statement = Statement(R"({"StatementId":")" + sid +
                               R"(","Action":"lambda:InvokeFunction","Principal":"*"})");
    return s_->ChangePolicy(
        "f", qualifier, [&](const StoredPolicy* current) -> Result<std::optional<StoredPolicy>> {
          PolicyDoc doc;
          if (current) {
            auto read = ParsePolicyDoc(current->document);
            if (!read) return read.error();
            doc = std::move(*read);
          }
          if (auto st = AddStatement(doc, statement); !st) return st.error();
          return std::optional<StoredPolicy>(StoredPolicy{PolicyDocJson(doc), NewUuid()});
        });
  }
  size_t Count(const std::string& qualifier = "") {
    auto p = s_->GetPolicy("f", qualifier);
    if (!p) return 0;
    return ParsePolicyDoc(p->document)->statements.size();
  }
  fs::path dir_;
  std::vector<std::unique_ptr<testing::TestState>> states_;
  std::unique_ptr<MetadataStore> s_;
};

TEST_F(PolicyStoreTest, ConcurrentChangesAreNotLost) {
  // A writer that commits between another's read and its write: the loser retries on the fresh
  // policy, so both statements are kept.
  bool interfered = false;
  auto outer =
      Statement(R"({"StatementId":"outer","Action":"lambda:InvokeFunction","Principal":"*"})");
  auto st = s_->ChangePolicy(
      "f", "", [&](const StoredPolicy* current) -> Result<std::optional<StoredPolicy>> {
        if (!interfered) {
          interfered = true;
          EXPECT_TRUE(Add("inner").ok());
        }
        PolicyDoc doc;
        if (current) doc = *ParsePolicyDoc(current->document);
        if (auto added = AddStatement(doc, outer); !added) return added.error();
        return std::optional<StoredPolicy>(StoredPolicy{PolicyDocJson(doc), NewUuid()});
      });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(Count(), 2u);

  // And threads racing on one store.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (!Add("t" + std::to_string(t) + "-" + std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(), 32u);
}

TEST_F(PolicyStoreTest, PerQualifierAndGoneWithWhatItBelongsTo) {
  auto latest = s_->GetFunction("f");
  auto v1 = s_->PublishVersion(*latest, latest->revision_id);
  ASSERT_TRUE(v1.ok());
  AliasConfig alias;
  alias.function = "f";
  alias.name = "prod";
  alias.function_version = "1";
  alias.revision_id = NewUuid();
  ASSERT_TRUE(s_->PutAlias(alias, true, "").ok());

  EXPECT_EQ(s_->GetPolicy("f", "").error().code, Errc::kNotFound);
  ASSERT_TRUE(Add("fn").ok());
  ASSERT_TRUE(Add("ver", "1").ok());
  ASSERT_TRUE(Add("al", "prod").ok());
  EXPECT_EQ(Count(), 1u);
  EXPECT_EQ(Count("$LATEST"), 1u);  // the same policy as the function's
  EXPECT_EQ(Count("1"), 1u);
  EXPECT_EQ(Count("prod"), 1u);
  // Nothing is written for a qualifier or function that does not exist.
  EXPECT_EQ(Add("x", "2").error().code, Errc::kNotFound);
  EXPECT_EQ(Add("x", "staging").error().code, Errc::kNotFound);
  EXPECT_EQ(s_->GetPolicy("f", "2").error().code, Errc::kNotFound);
  EXPECT_EQ(s_->ChangePolicy("nope", "",
                             [](const StoredPolicy*) -> Result<std::optional<StoredPolicy>> {
                               return std::optional<StoredPolicy>(StoredPolicy{"{}", "r"});
                             })
                .error()
                .code,
            Errc::kNotFound);

  // DeleteAlias takes the alias's policy; an alias made again under the name starts without one.
  ASSERT_TRUE(s_->DeleteAlias("f", "prod").ok());
  EXPECT_EQ(s_->GetPolicy("f", "prod").error().code, Errc::kNotFound);
  ASSERT_TRUE(s_->PutAlias(alias, true, "").ok());
  EXPECT_EQ(s_->GetPolicy("f", "prod").error().code, Errc::kNotFound);
  ASSERT_TRUE(s_->DeleteAlias("f", "prod").ok());
  // DeleteVersion takes the version's.
  ASSERT_TRUE(s_->DeleteVersion("f", "1").ok());
  EXPECT_EQ(s_->GetPolicy("f", "1").error().code, Errc::kNotFound);
  EXPECT_EQ(Count(), 1u);
  // DeleteFunction takes the rest; a new function of the name starts without a policy.
  ASSERT_TRUE(s_->DeleteFunction("f").ok());
  EXPECT_EQ(s_->GetPolicy("f", "").error().code, Errc::kNotFound);
  ASSERT_TRUE(s_->CreateFunction(*latest).ok());
  EXPECT_EQ(s_->GetPolicy("f", "").error().code, Errc::kNotFound);
}

TEST_F(PolicyStoreTest, AnErrorFromTheChangeWritesNothing) {
  ASSERT_TRUE(Add("a").ok());
  const auto before = s_->GetPolicy("f", "");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(Add("a").error().code, Errc::kConflict);
  const auto after = s_->GetPolicy("f", "");
  EXPECT_EQ(after->document, before->document);
  EXPECT_EQ(after->revision_id, before->revision_id);
  // Deleting the last statement deletes the policy.
  ASSERT_TRUE(
      s_->ChangePolicy("f", "",
                       [](const StoredPolicy* current) -> Result<std::optional<StoredPolicy>> {
                         EXPECT_NE(current, nullptr);
                         return std::optional<StoredPolicy>();
                       })
          .ok());
  EXPECT_EQ(s_->GetPolicy("f", "").error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace alto
