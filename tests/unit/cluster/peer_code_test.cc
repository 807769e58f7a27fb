// Code packages between nodes: the node token (bound to one digest, expiring, made only with the
// cluster's secret.key) and CodeStore::Ensure (fetches what is missing, trusts only the digest).
#include "cluster/peer_code.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../support/test_state.h"
#include "cluster/node_registry.h"
#include "common/encoding.h"
#include "common/fake_clock.h"
#include "store/zip.h"

namespace alto::cluster {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const SecretBox> Box(char fill) {
  return std::make_shared<const SecretBox>(std::string(SecretBox::kKeyBytes, fill));
}

std::string Digest(std::string_view bytes) { return HexEncode(Sha256(bytes)); }

class PeerCodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-peer-code-" + RandomHex(6));
    fs::create_directories(dir_);
    ts_ = std::make_unique<testing::TestState>(dir_ / "alto.db");
  }
  void TearDown() override {
    ts_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<testing::TestState> ts_;
  FakeClock clock_;
};

TEST_F(PeerCodeTest, TokenIsBoundToItsDigestItsKeyAndItsLifetime) {
  PeerCode code(ts_->state(), Box('k'), "self", clock_, {});
  PeerCode other_cluster(ts_->state(), Box('x'), "other", clock_, {});
  const std::string a = Digest("a"), b = Digest("b");
  auto token = code.MakeToken(a);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(code.TokenValid(*token, a));
  EXPECT_FALSE(code.TokenValid(*token, b));           // another package
  EXPECT_FALSE(other_cluster.TokenValid(*token, a));  // another secret.key
  EXPECT_FALSE(code.TokenValid("", a));
  EXPECT_FALSE(code.TokenValid("not base64 !", a));
  EXPECT_FALSE(code.TokenValid(std::string(5000, 'A'), a));
  std::string flipped = *token;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(code.TokenValid(flipped, a));
  clock_.Advance(std::chrono::seconds(59));
  EXPECT_TRUE(code.TokenValid(*token, a));
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_FALSE(code.TokenValid(*token, a));  // expired
}

TEST_F(PeerCodeTest, FetchWithNoPeersSaysSo) {
  PeerCode code(ts_->state(), Box('k'), "self", clock_, {});
  auto zip = code.FetchZip(Digest("missing"));
  ASSERT_FALSE(zip.ok());
  EXPECT_EQ(zip.error().code, Errc::kNotFound);
  EXPECT_NE(zip.error().message.find("asked 0"), std::string::npos) << zip.error().message;
}

TEST_F(PeerCodeTest, NodesAreListedFromTheState) {
  ASSERT_TRUE(
      ts_->state()->Put(std::string(kNodesPrefix) + "n1", R"({"url":"http://h1:9000"})").ok());
  ASSERT_TRUE(ts_->state()->Put(std::string(kNodesPrefix) + "n2", "not json").ok());
  auto nodes = ListNodes(*ts_->state());
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);  // the malformed entry is skipped
  EXPECT_EQ((*nodes)[0].id, "n1");
  EXPECT_EQ((*nodes)[0].url, "http://h1:9000");
}

class FakeSource final : public CodeSource {
 public:
  Result<std::string> FetchZip(std::string_view hex) override {
    ++calls;
    if (reply.empty()) return MakeError(Errc::kNotFound, "no peer has " + std::string(hex));
    return reply;
  }
  std::string reply;
  int calls = 0;
};

TEST(CodeStoreEnsure, FetchesWhatIsMissingAndTrustsOnlyTheDigest) {
  fs::path root = fs::temp_directory_path() / ("alto-code-ensure-" + RandomHex(6));
  FakeSource source;
  CodeStore store(root, &source);
  fs::create_directories(root / "src");
  { std::ofstream(root / "src" / "app.py") << "def handler(e, c):\n    return 1\n"; }
  auto zip = ZipDirectory(root / "src");
  ASSERT_TRUE(zip.ok());
  fs::remove_all(root / "src");
  ASSERT_TRUE(store.Init().ok());
  const std::string hex = Digest(*zip);
  // Not on any peer: kNotFound, nothing stored.
  EXPECT_EQ(store.Ensure(hex).error().code, Errc::kNotFound);
  EXPECT_FALSE(fs::exists(store.CodeDir(hex)));
  // A peer that sends other bytes is refused.
  source.reply = "not the package";
  EXPECT_FALSE(store.Ensure(hex).ok());
  EXPECT_FALSE(fs::exists(store.CodeDir(hex)));
  // The right bytes are kept and extracted; a second Ensure asks nobody.
  source.reply = *zip;
  ASSERT_TRUE(store.Ensure(hex).ok());
  EXPECT_TRUE(fs::exists(store.CodeDir(hex) / "app.py"));
  int calls = source.calls;
  ASSERT_TRUE(store.Ensure(hex).ok());
  EXPECT_EQ(source.calls, calls);
  EXPECT_EQ(*store.ReadZip(hex), *zip);
  // Names that are not digests never become paths.
  EXPECT_EQ(store.Ensure("../etc").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(store.Ensure(std::string(64, 'A')).error().code, Errc::kInvalidArgument);
  fs::remove_all(root);
}

}  // namespace
}  // namespace alto::cluster
