#include "sandbox/network.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/validation.h"

namespace alto {
namespace {

TEST(Ipv4Net, ParsesAndFormats) {
  auto n = ParseIpv4Net("10.213.0.0/16");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->addr, 0x0ad50000u);
  EXPECT_EQ(n->prefix, 16);
  EXPECT_EQ(FormatIpv4Net(*n), "10.213.0.0/16");
  EXPECT_TRUE(n->Contains(0x0ad5ff01u));
  EXPECT_FALSE(n->Contains(0x0ad60001u));
  for (const char* bad :
       {"10.213.0.1/16", "10.213.0.0", "300.1.1.1/8", "10.0.0.0/33", "x/8", "10.0.0.0/8 "}) {
    EXPECT_FALSE(ParseIpv4Net(bad).ok()) << bad;
  }
}

TEST(Nameservers, ReadsIpv4Servers) {
  auto ns = ParseNameservers(
      "# c\nnameserver 10.255.255.53\nsearch x\nnameserver ::1\n"
      "nameserver 1.1.1.1\n");
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_EQ(FormatIpv4(ns[0]), "10.255.255.53");
  EXPECT_EQ(FormatIpv4(ns[1]), "1.1.1.1");
}

TEST(Ruleset, BlocksHostSandboxesAndPrivateNetsAndMasqueradesOut) {
  RulesetInput in{"alto_0ad505",
                  "altob0ad505",
                  *ParseIpv4Net("10.213.5.0/24"),
                  *ParseIpv4Net("10.213.0.0/16"),
                  {*ParseIpv4Net("192.168.7.0/24")},
                  ParseNameservers("nameserver 10.255.255.53\nnameserver 127.0.0.53\n")};
  std::string r = BuildRuleset(in);
  EXPECT_NE(r.find("delete table inet alto_0ad505"), std::string::npos);
  EXPECT_NE(r.find("hook input"), std::string::npos);
  EXPECT_NE(r.find("iifname \"altob0ad505\" reject"), std::string::npos);
  EXPECT_NE(r.find("oifname \"altob0ad505\" reject"), std::string::npos);
  EXPECT_NE(r.find("169.254.0.0/16"), std::string::npos);
  EXPECT_NE(r.find("10.213.0.0/16"), std::string::npos);
  EXPECT_NE(r.find("ip daddr 10.255.255.53 meta l4proto { tcp, udp } th dport 53 accept"),
            std::string::npos);
  EXPECT_EQ(r.find("127.0.0.53"), std::string::npos);
  EXPECT_NE(r.find("ip daddr 192.168.7.0/24 accept"), std::string::npos);
  // Exceptions come before the private-range reject, or they would never match.
  EXPECT_LT(r.find("192.168.7.0/24 accept"), r.find("192.168.0.0/16"));
  EXPECT_NE(r.find("ip saddr 10.213.5.0/24 oifname != \"altob0ad505\" masquerade"),
            std::string::npos);
}

TEST(NetworkMode, DefaultNoneAndInvalid) {
  using nlohmann::json;
  json body = {{"FunctionName", "f"},
               {"Runtime", "python3.12"},
               {"Handler", "app.handler"},
               {"Role", "arn:aws:iam::000000000000:role/x"}};
  auto f = ConfigFromCreateRequest(body);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->network_mode, "default");
  body["NetworkMode"] = "none";
  f = ConfigFromCreateRequest(body);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->network_mode, "none");
  body["NetworkMode"] = "bridge";
  EXPECT_FALSE(ConfigFromCreateRequest(body).ok());
  body["NetworkMode"] = 3;
  EXPECT_FALSE(ConfigFromCreateRequest(body).ok());
  body.erase("NetworkMode");
  FunctionConfig g = *ConfigFromCreateRequest(body);
  ASSERT_TRUE(ApplyConfigUpdate(g, json{{"NetworkMode", "none"}}).ok());
  EXPECT_EQ(g.network_mode, "none");
  EXPECT_FALSE(ApplyConfigUpdate(g, json{{"NetworkMode", "off"}}).ok());
  EXPECT_EQ(g.network_mode, "none");
}

}  // namespace
}  // namespace alto
