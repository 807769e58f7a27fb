#include "common/encoding.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <set>

namespace alto {
namespace {

TEST(Base64, KnownVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < all.size(); n += 37) {
    auto enc = Base64Encode(all.substr(0, n));
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, all.substr(0, n));
  }
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("abc").has_value());       // not a multiple of 4
  EXPECT_FALSE(Base64Decode("ab!d").has_value());      // bad character
  EXPECT_FALSE(Base64Decode("a===").has_value());      // too much padding
  EXPECT_FALSE(Base64Decode("ab=c").has_value());      // data after padding
  EXPECT_FALSE(Base64Decode("Zg==Zg==").has_value());  // padding in the middle
}

TEST(Sha256, MatchesKnownDigest) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Base64Encode(Sha256("")), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(Uuid, HasVersion4Shape) {
  auto a = NewUuid();
  auto b = NewUuid();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
}

TEST(Uuid, ManyAreDistinctAndWellFormed) {
  // More than one pooled block of random bytes.
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = NewUuid();
    ASSERT_EQ(id.size(), 36u);
    for (size_t p = 0; p < id.size(); ++p) {
      if (p == 8 || p == 13 || p == 18 || p == 23) {
        EXPECT_EQ(id[p], '-') << id;
      } else {
        EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(id[p])) && !std::isupper(id[p])) << id;
      }
    }
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(RandomHex, ForkedChildDrawsDifferentBytes) {
  RandomHex(4);  // the parent's pool now holds unused bytes the child must not repeat
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string h = RandomHex(16);
    _exit(write(fds[1], h.data(), h.size()) == static_cast<ssize_t>(h.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string child(32, '\0');
  ASSERT_EQ(read(fds[0], child.data(), child.size()), 32);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_NE(RandomHex(16), child);
}

TEST(Percent, DecodesAndEncodes) {
  EXPECT_EQ(PercentDecode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
  EXPECT_EQ(PercentDecode("%24LATEST"), "$LATEST");
  EXPECT_EQ(PercentDecode("bad%zzend%4"), "bad%zzend%4");
  EXPECT_EQ(PercentEncode("a b:c"), "a%20b%3Ac");
}

}  // namespace
}  // namespace alto
