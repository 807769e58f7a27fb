#include "common/encoding.h"

#include <gtest/gtest.h>

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

TEST(Percent, DecodesAndEncodes) {
  EXPECT_EQ(PercentDecode("arn%3Aaws%3Alambda"), "arn:aws:lambda");
  EXPECT_EQ(PercentDecode("%24LATEST"), "$LATEST");
  EXPECT_EQ(PercentDecode("bad%zzend%4"), "bad%zzend%4");
  EXPECT_EQ(PercentEncode("a b:c"), "a%20b%3Ac");
}

}  // namespace
}  // namespace alto
