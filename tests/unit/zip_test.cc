#include "store/zip.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/encoding.h"

namespace alto {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string path;
  std::string data;
  unsigned type = AE_IFREG;
  std::string link;
  int perm = 0644;
};

// Builds zip bytes with arbitrary (also hostile) entries.
std::string MakeZip(const std::vector<Entry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  std::string out;
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, e.perm);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
    archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
    archive_write_header(a, ae);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class ZipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("alto-zip-" + RandomHex(6));
    fs::create_directories(dir_ / "out");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ZipTest, PathSafety) {
  EXPECT_TRUE(IsSafeRelativePath("a/b.py"));
  EXPECT_TRUE(IsSafeRelativePath("a/../b.py"));
  EXPECT_FALSE(IsSafeRelativePath("../b.py"));
  EXPECT_FALSE(IsSafeRelativePath("a/../../b"));
  EXPECT_FALSE(IsSafeRelativePath("/etc/passwd"));
  EXPECT_FALSE(IsSafeRelativePath(""));
}

TEST_F(ZipTest, ExtractsFilesModesAndInsideSymlinks) {
  auto zip = MakeZip({{"app.py", "print(1)\n"},
                      {"bin/tool", "#!/bin/sh\n", AE_IFREG, "", 0700},
                      {"lib/", "", AE_IFDIR, "", 0755},
                      {"link.py", "", AE_IFLNK, "app.py", 0777}});
  auto st = ExtractZip(zip, dir_ / "out");
  ASSERT_TRUE(st.ok()) << st.error().message;
  std::ifstream in(dir_ / "out/app.py");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "print(1)\n");
  struct stat s {};
  ASSERT_EQ(stat((dir_ / "out/bin/tool").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0755u);
  ASSERT_EQ(stat((dir_ / "out/app.py").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0644u);
  EXPECT_TRUE(fs::is_symlink(dir_ / "out/link.py"));
}

TEST_F(ZipTest, RefusesHostileEntries) {
  const std::vector<std::vector<Entry>> hostile = {
      {{"../escape.py", "x"}},
      {{"/abs.py", "x"}},
      {{"ok/../../escape.py", "x"}},
      {{"evil", "", AE_IFLNK, "/etc/passwd", 0777}},
      {{"evil", "", AE_IFLNK, "../../etc/passwd", 0777}},
      {{"dir", "", AE_IFLNK, ".", 0777}, {"dir/../../x", "y"}},
      // Each target is inside lexically, but l climbs out through d/up (fuzz_zip found it).
      {{"d/up", "", AE_IFLNK, "..", 0777}, {"l", "", AE_IFLNK, "d/up/..", 0777}},
      {{"l", "", AE_IFLNK, "d/up/..", 0777}, {"d/up", "", AE_IFLNK, "..", 0777}},
  };
  for (size_t i = 0; i < hostile.size(); ++i) {
    fs::path out = dir_ / ("h" + std::to_string(i));
    fs::create_directories(out);
    auto st = ExtractZip(MakeZip(hostile[i]), out);
    EXPECT_FALSE(st.ok()) << "case " << i;
    if (!st.ok()) EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(dir_ / "escape.py"));
}

TEST_F(ZipTest, RefusesNonZipAndEnforcesSizeLimit) {
  EXPECT_FALSE(ExtractZip("hello world, no zip here", dir_ / "out").ok());
  ExtractLimits small;
  small.max_total_bytes = 1000;
  auto st = ExtractZip(MakeZip({{"big.bin", std::string(5000, 'z')}}), dir_ / "out", small);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("Unzipped size"), std::string::npos);
}

TEST_F(ZipTest, ZipDirectoryRoundTrips) {
  fs::create_directories(dir_ / "src/pkg");
  std::ofstream(dir_ / "src/app.py") << "x = 1\n";
  std::ofstream(dir_ / "src/pkg/mod.py") << "y = 2\n";
  auto zip = ZipDirectory(dir_ / "src");
  ASSERT_TRUE(zip.ok()) << zip.error().message;
  ASSERT_TRUE(ExtractZip(*zip, dir_ / "out").ok());
  EXPECT_TRUE(fs::exists(dir_ / "out/app.py"));
  EXPECT_TRUE(fs::exists(dir_ / "out/pkg/mod.py"));
  EXPECT_FALSE(ZipDirectory(dir_ / "missing").ok());
}

}  // namespace
}  // namespace alto
