// Qualifiers, ARNs, weighted alias routing (with a fake random source), the resolver, and the
// store's versions, aliases and sealed secrets.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/qualifier.h"
#include "api/resolver.h"
#include "api/validation.h"
#include "common/encoding.h"
#include "invoke/function_catalog.h"
#include "store/secret_box.h"
#include "store/store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

TEST(Qualifier, Kinds) {
  struct {
    const char* q;
    QualifierKind kind;
  } cases[] = {{"", QualifierKind::kLatest},       {"$LATEST", QualifierKind::kLatest},
               {"1", QualifierKind::kVersion},     {"42", QualifierKind::kVersion},
               {"live", QualifierKind::kAlias},    {"v2", QualifierKind::kAlias},
               {"2-canary", QualifierKind::kAlias}};
  for (const auto& c : cases) EXPECT_EQ(KindOf(c.q), c.kind) << c.q;
}

TEST(Qualifier, AliasNames) {
  struct {
    std::string name;
    bool ok;
  } cases[] = {{"live", true},
               {"LIVE_2-x", true},
               {"123", false},
               {"", false},
               {"a.b", false},
               {"$LATEST", false},
               {"1a", true},
               {std::string(128, 'a'), true},
               {std::string(129, 'a'), false}};
  for (const auto& c : cases) EXPECT_EQ(IsValidAliasName(c.name), c.ok) << c.name;
}

TEST(Qualifier, QualifiedNamesAndArns) {
  struct {
    const char* raw;
    const char* name;
    const char* qualifier;
  } ok[] = {
      {"fn:3", "fn", "3"},
      {"fn:live", "fn", "live"},
      {"arn:aws:lambda:eu-west-1:123456789012:function:fn:live", "fn", "live"},
      {"arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", "fn", "$LATEST"},
      {"000000000000:function:fn:12", "fn", "12"},
  };
  for (const auto& c : ok) {
    auto r = ParseFunctionRef(c.raw);
    ASSERT_TRUE(r.ok()) << c.raw;
    EXPECT_EQ(r->name, c.name);
    EXPECT_EQ(r->qualifier, c.qualifier);
  }
  for (const char* bad : {"fn:", "fn:a.b", "arn:aws:lambda:us-east-1:000000000000:fn:x",
                          "arn:aws:s3:us-east-1:000000000000:function:fn", "fn:$latest"}) {
    EXPECT_FALSE(ParseFunctionRef(bad).ok()) << bad;
  }
  AccountInfo a;
  EXPECT_EQ(FunctionArn(a, "fn", "live"), "arn:aws:lambda:us-east-1:000000000000:function:fn:live");
  EXPECT_EQ(FunctionArn(a, "fn"), "arn:aws:lambda:us-east-1:000000000000:function:fn");
}

TEST(WeightedRouting, PicksTheAdditionalVersionBelowItsWeight) {
  struct {
    std::string additional;
    double weight;
    double u;
    const char* want;
  } cases[] = {
      {"", 0.0, 0.0, "1"},     {"2", 0.2, 0.0, "2"}, {"2", 0.2, 0.1999, "2"}, {"2", 0.2, 0.2, "1"},
      {"2", 0.2, 0.9999, "1"}, {"2", 0.0, 0.0, "1"}, {"2", 1.0, 0.9999, "2"}, {"", 0.5, 0.1, "1"},
  };
  for (const auto& c : cases) {
    AliasConfig a;
    a.function_version = "1";
    a.additional_version = c.additional;
    a.additional_weight = c.weight;
    EXPECT_EQ(PickVersion(a, c.u), c.want) << c.additional << " w=" << c.weight << " u=" << c.u;
  }
  // The default source draws in [0, 1).
  auto random = DefaultRandomSource();
  for (int i = 0; i < 1000; ++i) {
    double u = random();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(WeightedRouting, RoutingConfigShapeAndTargets) {
  struct {
    const char* routing;
    const char* version;
    bool ok;
  } cases[] = {
      {R"({"AdditionalVersionWeights":{"2":0.1}})", "1", true},
      {R"({"AdditionalVersionWeights":{}})", "1", true},
      {R"({})", "$LATEST", true},
      {R"(null)", "1", true},
      {R"({"AdditionalVersionWeights":{"2":1.1}})", "1", false},
      {R"({"AdditionalVersionWeights":{"2":-0.1}})", "1", false},
      {R"({"AdditionalVersionWeights":{"x":0.1}})", "1", false},
      {R"({"AdditionalVersionWeights":{"2":0.1,"3":0.1}})", "1", false},
      {R"({"AdditionalVersionWeights":{"2":"0.1"}})", "1", false},
      {R"({"AdditionalVersionWeights":{"1":0.1}})", "1", false},        // same as primary
      {R"({"AdditionalVersionWeights":{"2":0.1}})", "$LATEST", false},  // $LATEST + routing
      {R"({})", "live", false},                                         // not a version
  };
  for (const auto& c : cases) {
    AliasConfig a;
    a.function_version = c.version;
    auto st = ApplyRoutingConfig(json::parse(c.routing), a);
    if (st) st = ValidateAliasTargets(a);
    EXPECT_EQ(st.ok(), c.ok) << c.routing << " on " << c.version;
  }
}

class VersionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-versions-" + RandomHex(6));
    fs::create_directories(dir_);
    auto box = SecretBox::LoadOrCreate(dir_ / "secret.key");
    ASSERT_TRUE(box.ok()) << box.error().message;
    box_ = *box;
    store_ = Open(box_);
  }
  void TearDown() override {
    store_.reset();
    states_.clear();
    fs::remove_all(dir_);
  }
  // A store on a fresh connection to the test's state, sealing secrets with `box`.
  std::unique_ptr<MetadataStore> Open(std::shared_ptr<const SecretBox> box) {
    states_.push_back(std::make_unique<testing::TestState>(dir_ / "alto.db"));
    return OpenStateFunctionStore(states_.back()->Take(), "000000000000", std::move(box));
  }
  std::vector<std::unique_ptr<testing::TestState>> states_;
  static FunctionConfig Fn(const std::string& name, const std::string& sha) {
    FunctionConfig f;
    f.name = name;
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.revision_id = NewUuid();
    f.code_sha256_hex = sha;
    return f;
  }
  Result<FunctionConfig> Publish(const std::string& name) {
    auto latest = store_->GetFunction(name);
    if (!latest) return latest.error();
    FunctionConfig snap = *latest;
    snap.revision_id = NewUuid();
    return store_->PublishVersion(snap, latest->revision_id);
  }
  Status SetCode(const std::string& name, const std::string& sha) {
    auto latest = store_->GetFunction(name);
    FunctionConfig u = *latest;
    u.code_sha256_hex = sha;
    u.revision_id = NewUuid();
    return store_->UpdateFunction(u, latest->revision_id);
  }
  std::string ReadAllDbFiles() {
    std::string all;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("alto.db", 0) != 0) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      all += ss.str();
    }
    return all;
  }

  fs::path dir_;
  std::shared_ptr<const SecretBox> box_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(VersionStoreTest, PublishNumbersSnapshotsAndNeverReuses) {
  ASSERT_TRUE(store_->CreateFunction(Fn("f", "aa")).ok());
  auto v1 = Publish("f");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, "1");
  auto again = Publish("f");  // unchanged: the same version
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, "1");
  ASSERT_TRUE(SetCode("f", "bb").ok());
  auto v2 = Publish("f");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, "2");
  EXPECT_EQ(store_->GetFunctionVersion("f", "1")->code_sha256_hex, "aa");
  EXPECT_EQ(store_->GetFunctionVersion("f", "2")->code_sha256_hex, "bb");
  // A stale snapshot of $LATEST is refused.
  FunctionConfig stale = *store_->GetFunction("f");
  EXPECT_EQ(store_->PublishVersion(stale, "not-the-revision").error().code, Errc::kConflict);

  AliasConfig live;
  live.function = "f";
  live.name = "live";
  live.function_version = "1";
  live.additional_version = "2";
  live.additional_weight = 0.1;
  live.revision_id = "r1";
  ASSERT_TRUE(store_->PutAlias(live, true, "").ok());
  EXPECT_EQ(store_->PutAlias(live, true, "").error().code, Errc::kConflict);
  EXPECT_EQ(store_->DeleteVersion("f", "1").error().code, Errc::kConflict);
  EXPECT_EQ(store_->DeleteVersion("f", "2").error().code, Errc::kConflict);
  live.additional_version.clear();
  live.revision_id = "r2";
  EXPECT_EQ(store_->PutAlias(live, false, "stale").error().code, Errc::kPreconditionFailed);
  ASSERT_TRUE(store_->PutAlias(live, false, "r1").ok());
  ASSERT_TRUE(store_->DeleteVersion("f", "2").ok());
  ASSERT_TRUE(SetCode("f", "cc").ok());
  EXPECT_EQ(Publish("f")->version, "3");  // 2 is not reused
  auto versions = store_->ListVersions("f");
  ASSERT_TRUE(versions.ok());
  std::vector<std::string> got;
  for (const auto& v : *versions) got.push_back(v.version);
  EXPECT_EQ(got, (std::vector<std::string>{"$LATEST", "1", "3"}));
  auto alias = store_->GetAlias("f", "live");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->function_version, "1");
  EXPECT_TRUE(alias->additional_version.empty());

  ASSERT_TRUE(store_->DeleteFunction("f").ok());
  EXPECT_EQ(store_->GetAlias("f", "live").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->GetFunctionVersion("f", "1").error().code, Errc::kNotFound);
}

TEST_F(VersionStoreTest, SecretsAreSealedAtRest) {
  const std::string secret = "hunter2-" + RandomHex(8);
  FunctionConfig f = Fn("s", "aa");
  f.environment = {{"PLAIN", "visible-value"}, {"TOKEN", secret}};
  f.secret_names = {"TOKEN"};
  ASSERT_TRUE(store_->CreateFunction(f).ok());
  ASSERT_TRUE(Publish("s").ok());
  EXPECT_EQ(store_->GetFunction("s")->environment.at("TOKEN"), secret);
  EXPECT_EQ(store_->GetFunctionVersion("s", "1")->environment.at("TOKEN"), secret);
  std::string raw = ReadAllDbFiles();
  EXPECT_NE(raw.find("visible-value"), std::string::npos);  // the check can see plaintext
  EXPECT_EQ(raw.find(secret), std::string::npos);
  // Another key cannot open it.
  fs::remove(dir_ / "other.key");
  auto other = SecretBox::LoadOrCreate(dir_ / "other.key");
  ASSERT_TRUE(other.ok());
  auto s2 = Open(*other);
  EXPECT_FALSE(s2->GetFunction("s").ok());
  // The same key file, loaded again, can.
  auto same = SecretBox::LoadOrCreate(dir_ / "secret.key");
  ASSERT_TRUE(same.ok());
  auto s3 = Open(*same);
  EXPECT_EQ(s3->GetFunction("s")->environment.at("TOKEN"), secret);
  EXPECT_EQ(fs::status(dir_ / "secret.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST(SecretBoxTest, SealOpenAndTamper) {
  SecretBox box(std::string(32, 'k'));
  auto sealed = box.Seal("value", "fn/VAR");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->find("value"), std::string::npos);
  EXPECT_EQ(*box.Open(*sealed, "fn/VAR"), "value");
  EXPECT_FALSE(box.Open(*sealed, "fn/OTHER").ok());  // bound to its variable
  std::string bad = *sealed;
  bad[14] ^= 1;
  EXPECT_FALSE(box.Open(bad, "fn/VAR").ok());
  EXPECT_NE(*box.Seal("value", "fn/VAR"), *sealed);  // fresh nonce each time
}

TEST_F(VersionStoreTest, ResolverRoutesAliasesWithTheInjectedSource) {
  ASSERT_TRUE(store_->CreateFunction(Fn("r", "aa")).ok());
  ASSERT_TRUE(Publish("r").ok());
  ASSERT_TRUE(SetCode("r", "bb").ok());
  ASSERT_TRUE(Publish("r").ok());
  AliasConfig live;
  live.function = "r";
  live.name = "live";
  live.function_version = "1";
  live.additional_version = "2";
  live.additional_weight = 0.2;
  ASSERT_TRUE(store_->PutAlias(live, true, "").ok());

  asio::io_context io;
  asio::thread_pool pool(1);
  FunctionCatalog catalog(*store_, pool);
  std::vector<double> draws = {0.0, 0.19, 0.2, 0.5, 0.99};
  size_t next = 0;
  FunctionResolver resolver(catalog, AccountInfo{},
                            [&] { return draws.at(next++ % draws.size()); });
  struct Case {
    std::string name, qualifier;
    bool route;
    std::string want;  // executed version, or "!" + error kind
    std::string arn_suffix;
  };
  std::vector<Case> cases = {
      {"r", "", true, "$LATEST", ":function:r"},
      {"r", "$LATEST", true, "$LATEST", ":function:r:$LATEST"},
      {"r:1", "", true, "1", ":function:r:1"},
      {"r", "2", true, "2", ":function:r:2"},
      {"r", "live", true, "2", ":function:r:live"},   // u=0.0
      {"r", "live", true, "2", ":function:r:live"},   // u=0.19
      {"r", "live", true, "1", ":function:r:live"},   // u=0.2
      {"r", "live", true, "1", ":function:r:live"},   // u=0.5
      {"r:live", "", true, "1", ":function:r:live"},  // u=0.99
      {"r", "live", false, "1", ":function:r:live"},  // a read: the primary, no draw
      {"r", "9", true, "!notfound", ""},
      {"r", "nope", true, "!notfound", ""},
      {"r:1", "2", true, "!invalid", ""},
      {"zz", "", true, "!notfound", ""},
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (const auto& c : cases) {
          auto r = co_await resolver.Resolve(c.name, c.qualifier, c.route);
          if (c.want[0] == '!') {
            EXPECT_FALSE(r.ok()) << c.name << " " << c.qualifier;
            if (!r.ok()) {
              EXPECT_EQ(r.error().code,
                        c.want == "!notfound" ? Errc::kNotFound : Errc::kInvalidArgument);
            }
            continue;
          }
          EXPECT_TRUE(r.ok()) << c.name << " " << c.qualifier;
          if (!r.ok()) continue;
          EXPECT_EQ(r->executed_version, c.want) << c.name << " " << c.qualifier;
          EXPECT_EQ(r->function.version, c.want);
          EXPECT_TRUE(r->invoked_arn.ends_with(c.arn_suffix)) << r->invoked_arn;
        }
      },
      asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(next, 5u);  // one draw per routed alias invocation
}

}  // namespace
}  // namespace alto
