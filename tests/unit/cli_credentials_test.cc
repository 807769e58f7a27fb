#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/admin_commands.h"
#include "cli/credentials.h"
#include "common/encoding.h"

namespace alto::cli {
namespace {

namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-creds-" + RandomHex(6));
    fs::create_directories(dir_ / ".aws");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  fs::path dir_;
};

TEST_F(CredentialsTest, EnvironmentWinsOverFiles) {
  Write(".aws/credentials", "[default]\naws_access_key_id = FILE\naws_secret_access_key = F\n");
  auto c = LoadCredentials({{"HOME", dir_.string()},
                            {"AWS_ACCESS_KEY_ID", "ENV"},
                            {"AWS_SECRET_ACCESS_KEY", "E"},
                            {"AWS_SESSION_TOKEN", "T"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "ENV");
  EXPECT_EQ(c->credentials.session_token, "T");
  EXPECT_EQ(c->region, "us-east-1");
}

TEST_F(CredentialsTest, ProfileFromTheSharedFileAndRegionFromConfig) {
  Write(".aws/credentials",
        "# comment\n[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n"
        "[dev]\n  aws_access_key_id =  DEV \naws_secret_access_key=dev/secret+x\n");
  Write(".aws/config", "[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n");
  auto d = LoadCredentials({{"HOME", dir_.string()}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->credentials.access_key_id, "D");
  EXPECT_EQ(d->region, "eu-west-1");
  auto dev = LoadCredentials({{"HOME", dir_.string()}, {"AWS_PROFILE", "dev"}});
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->credentials.access_key_id, "DEV");
  EXPECT_EQ(dev->credentials.secret_access_key, "dev/secret+x");
  EXPECT_EQ(dev->region, "ap-south-1");
  auto region_env = LoadCredentials(
      {{"HOME", dir_.string()}, {"AWS_PROFILE", "dev"}, {"AWS_DEFAULT_REGION", "us-west-2"}});
  EXPECT_EQ(region_env->region, "us-west-2");
}

TEST_F(CredentialsTest, ExplicitFilesAndAMissingProfileIsAClearError) {
  Write("creds", "[alto]\naws_access_key_id = A\naws_secret_access_key = a\n");
  auto c = LoadCredentials(
      {{"AWS_SHARED_CREDENTIALS_FILE", (dir_ / "creds").string()}, {"AWS_PROFILE", "alto"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "A");
  auto missing = LoadCredentials(
      {{"AWS_SHARED_CREDENTIALS_FILE", (dir_ / "creds").string()}, {"AWS_PROFILE", "nope"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("[nope]"), std::string::npos);
  // Half a pair in the environment is not a pair: the file is used.
  auto half = LoadCredentials({{"AWS_ACCESS_KEY_ID", "X"},
                               {"AWS_SHARED_CREDENTIALS_FILE", (dir_ / "creds").string()},
                               {"AWS_PROFILE", "alto"}});
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->credentials.access_key_id, "A");
}

TEST(ParseSinceTest, RelativeAbsoluteAndMalformed) {
  EXPECT_EQ(ParseSince("", 1000000), 0);
  EXPECT_EQ(ParseSince("90s", 1000000), 910000);
  EXPECT_EQ(ParseSince("10m", 1000000), 400000);
  EXPECT_EQ(ParseSince("2h", 100000000), 100000000 - 7200000);
  EXPECT_EQ(ParseSince("1d", 1000), 0);  // never before the epoch
  EXPECT_EQ(ParseSince("1700000000000", 5), 1700000000000);
  EXPECT_EQ(ParseSince("10x", 1000), -1);
  EXPECT_EQ(ParseSince("m", 1000), -1);
  EXPECT_EQ(ParseSince("10mm", 1000), -1);
  EXPECT_EQ(ParseSince("99999999999999999999", 1000), -1);
}

}  // namespace
}  // namespace alto::cli
