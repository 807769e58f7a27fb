// The real HTTP server (alto::http::Server) fed raw bytes over loopback: request heads, framing
// (Content-Length, chunked, trailers, pipelining), Expect, limits. One server runs for the whole
// process on its own io_context thread; each input is one connection that sends the bytes, half
// closes, and reads until the server closes. ASan and UBSan watch the server thread; the harness
// checks that whatever comes back starts like an HTTP/1.x response.
//
// An input that starts with 0x16 (a TLS handshake record) goes to a second listener of the same
// server code with TLS on instead (a throwaway self-signed certificate): handshakes that are
// malformed, cut short or complete must never hurt the server. OpenSSL is not instrumented, so
// this covers Alto's side of the handshake (its failures, timeouts and closes), not OpenSSL's
// parser; the plaintext listener answers such inputs with a 400 anyway. Nothing is checked of
// what a TLS listener sends back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "check.h"
#include "http/server.h"
#include "http/tls.h"

namespace {

namespace asio = boost::asio;

// Echoes what the server parsed, so a response exists for every complete request and its size
// depends on the parse.
asio::awaitable<alto::http::Response> Echo(alto::http::Request req) {
  alto::http::Response res;
  res.status = 200;
  res.body = req.method + " " + req.path + " " + std::to_string(req.body.size()) + " " +
             std::to_string(req.headers.size());
  res.headers.push_back({"Content-Type", "text/plain"});
  co_return res;
}

// A TLS context with a fresh self-signed P-256 certificate (the files are removed once read).
std::shared_ptr<alto::http::TlsContext> ThrowawayTls() {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "alto-fuzz-tls-XXXXXX").string();
  FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  const fs::path dir = tmpl;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 365);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  std::FILE* f = std::fopen((dir / "cert.pem").c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen((dir / "key.pem").c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  auto tls = alto::http::TlsContext::Load(dir / "cert.pem", dir / "key.pem");
  fs::remove_all(dir);
  FUZZ_CHECK(tls.ok(), "the throwaway certificate loads");
  return *tls;
}

alto::http::ServerOptions TlsOptions() {
  alto::http::ServerOptions o;
  o.tls = ThrowawayTls();
  o.name = "api-tls";
  return o;
}

struct Fixture {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  alto::http::Server server{io.get_executor(), Echo, alto::http::ServerOptions{}};
  alto::http::Server tls_server{io.get_executor(), Echo, TlsOptions()};
  uint16_t port = 0;
  uint16_t tls_port = 0;
  std::thread thread;

  Fixture() {
    auto bound = server.Listen("127.0.0.1", 0);
    FUZZ_CHECK(bound.ok(), "the server listens on 127.0.0.1:0");
    port = *bound;
    server.Start();
    auto tls_bound = tls_server.Listen("127.0.0.1", 0);
    FUZZ_CHECK(tls_bound.ok(), "the TLS server listens on 127.0.0.1:0");
    tls_port = *tls_bound;
    tls_server.Start();
    thread = std::thread([this] { io.run(); });
    // Never joined: libFuzzer ends the process with exit(), and the server must outlive every
    // input, so the fixture is leaked on purpose.
    thread.detach();
  }
};

Fixture& TheFixture() {
  static Fixture* f = new Fixture();
  return *f;
}

void SetTimeout(int fd, int option, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

// "HTTP/1.x NNN" where the status is three digits.
bool LooksLikeResponse(const std::string& r) {
  if (r.size() < 12) return false;
  if (r.compare(0, 7, "HTTP/1.") != 0 || (r[7] != '0' && r[7] != '1') || r[8] != ' ') return false;
  for (int i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(r[i]))) return false;
  }
  return r.size() == 12 || r[12] == ' ' || r[12] == '\r';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& fx = TheFixture();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket()");
  const bool tls = size > 0 && data[0] == 0x16;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(tls ? fx.tls_port : fx.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Bounded both ways: a server that stops reading or never answers costs an input about a
  // second, not the whole run.
  SetTimeout(fd, SO_SNDTIMEO, 1000);
  SetTimeout(fd, SO_RCVTIMEO, 1000);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;  // transient (ephemeral ports, backlog): not the server's bug
  }
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered early (413, bad request) and closed
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string response;
  char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    // The first response is what is checked; the rest only has to be drained.
    if (response.size() < 64) response.append(buf, static_cast<size_t>(n));
  }
  // An abortive close: no TIME_WAIT per input, so millions of inputs never run out of ports.
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
  if (!response.empty() && !tls) {
    FUZZ_CHECK(LooksLikeResponse(response), "a response starts with HTTP/1.x and a 3-digit status");
  }
  return 0;
}
