// The typed stores on the state core: what they keep beside a function, and that races between
// writers resolve the way one SQL transaction did before (no lost update, no orphan).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "state/state.h"
#include "store/function_url.h"
#include "store/provisioned.h"
#include "store/store.h"
#include "support/test_state.h"

namespace alto {
namespace {

namespace fs = std::filesystem;
constexpr const char* kAccount = "000000000000";

class StateStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-state-stores-" + RandomHex(6));
    fs::create_directories(dir_);
    ts_ = std::make_unique<testing::TestState>(dir_ / "alto.db");
    functions_ = OpenStateFunctionStore(ts_->state(), kAccount);
    urls_ = OpenStateFunctionUrlStore(ts_->state(), kAccount);
    provisioned_ = OpenStateProvisionedStore(ts_->state(), kAccount);
  }
  void TearDown() override {
    functions_.reset();
    urls_.reset();
    provisioned_.reset();
    ts_.reset();
    fs::remove_all(dir_);
  }
  static FunctionConfig Fn(const std::string& name, const std::string& sha = "ab") {
    FunctionConfig f;
    f.name = name;
    f.runtime = "python3.12";
    f.handler = "app.handler";
    f.revision_id = NewUuid();
    f.code_sha256_hex = sha;
    return f;
  }
  static FunctionUrlConfig Url(const std::string& fn, const std::string& qualifier) {
    FunctionUrlConfig u;
    u.url_id = RandomHex(16);
    u.function = fn;
    u.qualifier = qualifier;
    return u;
  }
  std::vector<std::string> KeysUnder(const std::string& prefix) {
    std::vector<std::string> out;
    auto r = ts_->state()->Range(prefix);
    EXPECT_TRUE(r.ok());
    if (r) {
      for (const auto& kv : r->kvs) out.push_back(kv.key);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<testing::TestState> ts_;
  std::unique_ptr<MetadataStore> functions_;
  std::unique_ptr<FunctionUrlStore> urls_;
  std::unique_ptr<ProvisionedStore> provisioned_;
};

TEST_F(StateStoresTest, UrlsBelongToTheirFunction) {
  EXPECT_EQ(urls_->Create(Url("ghost", "")).error().code, Errc::kNotFound);
  ASSERT_TRUE(functions_->CreateFunction(Fn("f")).ok());
  auto u = Url("f", "");
  ASSERT_TRUE(urls_->Create(u).ok());
  EXPECT_EQ(urls_->Create(Url("f", "")).error().code, Errc::kConflict);
  ASSERT_TRUE(urls_->Create(Url("f", "live")).ok());
  u.auth_type = "AWS_IAM";
  ASSERT_TRUE(urls_->Update(u).ok());
  EXPECT_EQ(urls_->Update(Url("f", "other")).error().code, Errc::kNotFound);
  auto all = urls_->ListAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  std::set<std::string> auth;
  for (const auto& x : *all) auth.insert(x.qualifier + ":" + x.auth_type);
  EXPECT_EQ(auth, (std::set<std::string>{":AWS_IAM", "live:NONE"}));
  ASSERT_TRUE(urls_->Delete("f", "live").ok());
  EXPECT_EQ(urls_->Delete("f", "live").error().code, Errc::kNotFound);
}

TEST_F(StateStoresTest, ProvisionedConfigsPutReplaceDelete) {
  EXPECT_EQ(provisioned_->Put({"ghost", "1", 2, 0}).error().code, Errc::kNotFound);
  ASSERT_TRUE(functions_->CreateFunction(Fn("f")).ok());
  ASSERT_TRUE(provisioned_->Put({"f", "1", 2, 10}).ok());
  ASSERT_TRUE(provisioned_->Put({"f", "1", 5, 20}).ok());
  ASSERT_TRUE(provisioned_->Put({"f", "live", 1, 30}).ok());
  auto all = provisioned_->ListAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].qualifier, "1");
  EXPECT_EQ((*all)[0].requested, 5);
  ASSERT_TRUE(provisioned_->Delete("f", "1").ok());
  EXPECT_EQ(provisioned_->Delete("f", "1").error().code, Errc::kNotFound);
}

TEST_F(StateStoresTest, DeleteFunctionLeavesNothingBehind) {
  ASSERT_TRUE(functions_->CreateFunction(Fn("f"), {{"team", "a"}}).ok());
  ASSERT_TRUE(functions_->CreateFunction(Fn("f2")).ok());  // a neighbour whose name extends f's
  auto latest = functions_->GetFunction("f");
  ASSERT_TRUE(functions_->PublishVersion(*latest, latest->revision_id).ok());
  AliasConfig a{"f", "live", "1", "", "", 0.0, NewUuid()};
  ASSERT_TRUE(functions_->PutAlias(a, true, "").ok());
  ASSERT_TRUE(urls_->Create(Url("f", "live")).ok());
  ASSERT_TRUE(provisioned_->Put({"f", "live", 1, 0}).ok());
  ASSERT_TRUE(urls_->Create(Url("f2", "")).ok());
  auto before = ts_->state()->CurrentRevision();
  ASSERT_TRUE(functions_->DeleteFunction("f").ok());
  // One transaction: one revision.
  EXPECT_EQ(*ts_->state()->CurrentRevision(), *before + 1);
  EXPECT_EQ(KeysUnder("/acct/000000000000/fn/f/"), std::vector<std::string>{});
  EXPECT_EQ(KeysUnder("/acct/000000000000/functions/f"),
            std::vector<std::string>{"/acct/000000000000/functions/f2"});
  EXPECT_EQ(urls_->ListAll()->size(), 1u);
  // A new function of the old name starts from nothing: version 1 again, no tags.
  ASSERT_TRUE(functions_->CreateFunction(Fn("f")).ok());
  EXPECT_TRUE(functions_->ListTags("f")->empty());
  auto again = functions_->GetFunction("f");
  auto v = functions_->PublishVersion(*again, again->revision_id);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->version, "1");
}

TEST_F(StateStoresTest, ConcurrentPublishesGetDistinctNumbers) {
  ASSERT_TRUE(functions_->CreateFunction(Fn("f", "0")).ok());
  // Each thread changes the code and publishes; only one can win each $LATEST revision, the others
  // retry from the new $LATEST: every version number is used once, and none twice.
  constexpr int kThreads = 4, kEach = 10;
  std::mutex mu;
  std::vector<std::string> numbers;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach;) {
        auto latest = functions_->GetFunction("f");
        ASSERT_TRUE(latest.ok());
        FunctionConfig next = *latest;
        next.code_sha256_hex = std::to_string(t) + "-" + std::to_string(i);
        next.revision_id = NewUuid();
        if (!functions_->UpdateFunction(next, latest->revision_id).ok()) continue;
        auto v = functions_->PublishVersion(next, next.revision_id);
        if (!v.ok()) continue;  // another thread updated $LATEST in between: try again
        std::lock_guard lock(mu);
        numbers.push_back(v->version);
        ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> distinct(numbers.begin(), numbers.end());
  EXPECT_EQ(distinct.size(), numbers.size());
  EXPECT_EQ(numbers.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(functions_->ListVersions("f")->size(), static_cast<size_t>(kThreads * kEach + 1));
}

TEST_F(StateStoresTest, AVersionAnAliasPointsToCannotGo) {
  ASSERT_TRUE(functions_->CreateFunction(Fn("f")).ok());
  auto latest = functions_->GetFunction("f");
  ASSERT_TRUE(functions_->PublishVersion(*latest, latest->revision_id).ok());
  EXPECT_EQ(functions_->PutAlias({"f", "a", "7", "", "", 0.0, "r"}, true, "").error().code,
            Errc::kNotFound);
  ASSERT_TRUE(functions_->PutAlias({"f", "a", "1", "", "", 0.0, "r"}, true, "").ok());
  EXPECT_EQ(functions_->DeleteVersion("f", "1").error().code, Errc::kConflict);
  // An update names the revision it read.
  EXPECT_EQ(
      functions_->PutAlias({"f", "a", "$LATEST", "", "", 0.0, "r2"}, false, "stale").error().code,
      Errc::kPreconditionFailed);
  ASSERT_TRUE(functions_->PutAlias({"f", "a", "$LATEST", "", "", 0.0, "r2"}, false, "r").ok());
  ASSERT_TRUE(functions_->DeleteVersion("f", "1").ok());
  EXPECT_EQ(functions_->DeleteVersion("f", "1").error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace alto
