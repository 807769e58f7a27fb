// The CLI's endpoint parser: schemes, ports, IPv6 brackets, and what a listen address refuses.
#include <gtest/gtest.h>

#include "http/client.h"

namespace alto::http {
namespace {

TEST(ParseEndpoint, SchemesAndPorts) {
  auto plain = ParseEndpoint("http://127.0.0.1:9000/");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, 9000);
  EXPECT_FALSE(plain->tls);
  auto bare = ParseEndpoint("localhost:8443");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->tls);
  auto tls = ParseEndpoint("https://alto.example:443");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->host, "alto.example");
  EXPECT_EQ(tls->HostHeader(), "alto.example:443");
  auto v6 = ParseEndpoint("https://[::1]:9443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->HostHeader(), "[::1]:9443");
}

TEST(ParseEndpoint, RefusesWhatIsNotAnEndpoint) {
  for (const char* bad :
       {"", "localhost", "http://:9000", "host:0", "host:65536", "host:9x", "https://host:"}) {
    EXPECT_FALSE(ParseEndpoint(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseEndpoint("127.0.0.1:0", /*allow_port_zero=*/true).ok());
  auto listen = ParseEndpoint("https://0.0.0.0:9443", /*allow_port_zero=*/true);
  ASSERT_FALSE(listen.ok());
  EXPECT_NE(listen.error().message.find("--tls-cert"), std::string::npos);
}

}  // namespace
}  // namespace alto::http
