// The HTTP server with TLS (ServerOptions::tls), over real loopback sockets: a verifying client
// gets its answers, old protocol versions and plaintext are refused without harm, the header
// timeout covers the handshake, the hostile-input statuses, timeouts and caps hold inside TLS,
// and a reload swaps the certificate for new connections only. Certificates are made here with
// OpenSSL's API; the client is OpenSSL on a blocking socket with receive and send timeouts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "http/body_stream.h"
#include "http/server.h"
#include "http/tls.h"

namespace alto::http {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "alto-tls-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct CertFiles {
  fs::path cert;
  fs::path key;
};

// A self-signed P-256 certificate for localhost and 127.0.0.1, valid for a day, with the given
// serial, written as PEM to dir/name.crt and dir/name.key.
CertFiles MakeCert(const fs::path& dir, const std::string& name, long serial) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  EXPECT_TRUE(key);
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x.get(), subject);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(x.get(), san, -1);
  X509_EXTENSION_free(san);
  EXPECT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);
  CertFiles files{dir / (name + ".crt"), dir / (name + ".key")};
  std::FILE* f = std::fopen(files.cert.c_str(), "w");
  PEM_write_X509(f, x.get());
  std::fclose(f);
  f = std::fopen(files.key.c_str(), "w");
  PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return files;
}

// The body of /stream. A function, not a capturing lambda: a coroutine's frame keeps its
// parameters, while a lambda's captures die with the lambda object.
asio::awaitable<void> Produce(std::shared_ptr<BodyStream> stream) {
  for (const char* piece : {"one", "two", "three"}) co_await stream->Write(piece);
  stream->Finish();
}

// Echoes the path and body size; /big answers 1 MiB, /stream a streamed body of three chunks,
// /upload reads its body as a stream (ServerOptions::stream_request).
asio::awaitable<Response> Handle(Request r) {
  if (r.path == "/big") {
    Response res;
    res.body = std::string(1 << 20, 'x');
    co_return res;
  }
  if (r.path == "/stream") {
    auto stream = std::make_shared<BodyStream>(co_await asio::this_coro::executor);
    asio::co_spawn(co_await asio::this_coro::executor, Produce(stream), asio::detached);
    Response res;
    res.stream = stream;
    co_return res;
  }
  size_t size = r.body.size();
  if (r.body_source) {
    for (;;) {
      auto piece = co_await r.body_source->Next();
      if (!piece) co_return JsonResponse(400, "{}");
      if (!*piece) break;
      size += (*piece)->size();
    }
  }
  co_return JsonResponse(200,
                         "{\"path\":\"" + r.path + "\",\"body\":" + std::to_string(size) + "}");
}

class Fixture {
 public:
  explicit Fixture(ServerOptions options, std::shared_ptr<TlsContext> tls) : tls_(std::move(tls)) {
    options.tls = tls_;
    options.stream_request = [](const Request& r) { return r.path == "/upload"; };
    server_ = std::make_unique<Server>(io_.get_executor(), Handle, std::move(options));
    auto port = server_->Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    port_ = *port;
    server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fixture() {
    asio::post(io_, [this] { server_->Stop(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  int Connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }

  const Server& server() const { return *server_; }
  TlsContext& tls() { return *tls_; }

 private:
  std::shared_ptr<TlsContext> tls_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

struct ClientOptions {
  fs::path ca;  // empty: no verification
  int min_version = 0;
  int max_version = 0;
  bool any_security_level = false;  // let the client offer what OpenSSL's defaults refuse
};

// A blocking TLS client on one connection.
class Client {
 public:
  Client(const Fixture& f, const ClientOptions& o) : fd_(f.Connect()) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (o.min_version) SSL_CTX_set_min_proto_version(ctx_.get(), o.min_version);
    if (o.max_version) SSL_CTX_set_max_proto_version(ctx_.get(), o.max_version);
    if (o.any_security_level) {
      SSL_CTX_set_security_level(ctx_.get(), 0);
      SSL_CTX_set_cipher_list(ctx_.get(), "DEFAULT:@SECLEVEL=0");
    }
    if (!o.ca.empty()) {
      EXPECT_EQ(SSL_CTX_load_verify_locations(ctx_.get(), o.ca.c_str(), nullptr), 1);
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    }
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_tlsext_host_name(ssl_.get(), "localhost");
    if (!o.ca.empty()) SSL_set1_host(ssl_.get(), "localhost");
    SSL_set_fd(ssl_.get(), fd_);
  }
  ~Client() {
    ssl_.reset();
    ::close(fd_);
  }

  // Empty on success, else OpenSSL's reason.
  std::string Handshake() {
    ERR_clear_error();
    if (SSL_connect(ssl_.get()) == 1) return {};
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    const long verify = SSL_get_verify_result(ssl_.get());
    return std::string(buf) +
           (verify != X509_V_OK ? std::string(" / ") + X509_verify_cert_error_string(verify) : "");
  }

  bool Send(const std::string& data) {
    return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }

  // One response: its head, then Content-Length bytes (or until the end for a chunked one).
  std::string ReadResponse() {
    std::string out;
    char buf[16384];
    for (;;) {
      const size_t head_end = out.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const size_t cl = out.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) {
          const size_t want = head_end + 4 + std::stoul(out.substr(cl + 16));
          if (out.size() >= want) return out;
        } else if (out.find("\r\n0\r\n\r\n", head_end) != std::string::npos) {
          return out;
        }
      }
      const int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n <= 0) {
        last_read_error_ = SSL_get_error(ssl_.get(), n);
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
  }

  // Reads to the end of the session; true when it ended with the server's close_notify.
  bool ReadToCleanEnd() {
    char buf[4096];
    for (;;) {
      const int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) continue;
      last_read_error_ = SSL_get_error(ssl_.get(), n);
      return last_read_error_ == SSL_ERROR_ZERO_RETURN;
    }
  }

  long PeerSerial() const {
    X509Ptr peer(SSL_get1_peer_certificate(ssl_.get()));
    return peer ? ASN1_INTEGER_get(X509_get0_serialNumber(peer.get())) : -1;
  }
  std::string Protocol() const { return SSL_get_version(ssl_.get()); }
  int fd() const { return fd_; }

 private:
  int fd_;
  CtxPtr ctx_;
  SslPtr ssl_;
  int last_read_error_ = 0;
};

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

// Everything the server sends on a plain socket until it closes (or 5 s pass).
std::string ReadAllPlain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class HttpTls : public ::testing::Test {
 protected:
  void SetUp() override {
    // OpenSSL writes to its socket with write(): a handshake on a connection the server closed
    // (a refused one) would raise SIGPIPE. alto ignores it the same way in main().
    ::signal(SIGPIPE, SIG_IGN);
    first_ = MakeCert(dir_.path(), "first", 1);
    auto tls = TlsContext::Load(first_.cert, first_.key);
    ASSERT_TRUE(tls.ok()) << tls.error().message;
    tls_ = *tls;
  }

  // One request on a new verified connection; returns the status (0: none).
  int Request(Fixture& f, const std::string& raw) {
    Client c(f, {.ca = first_.cert});
    if (!c.Handshake().empty()) return 0;
    c.Send(raw);
    return StatusOf(c.ReadResponse());
  }

  TempDir dir_;
  CertFiles first_;
  std::shared_ptr<TlsContext> tls_;
};

TEST_F(HttpTls, VerifyingClientIsServedWithKeepAliveAndCloseNotify) {
  Fixture f(ServerOptions{}, tls_);
  Client c(f, {.ca = first_.cert});
  ASSERT_EQ(c.Handshake(), "");
  EXPECT_EQ(c.PeerSerial(), 1);
  ASSERT_TRUE(c.Send("GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string got = c.ReadResponse();
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_NE(got.find("\"path\":\"/a\""), std::string::npos) << got;
  ASSERT_TRUE(
      c.Send("POST /b HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
             "Connection: close\r\n\r\nhello"));
  got = c.ReadResponse();
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_NE(got.find("\"body\":5"), std::string::npos) << got;
  EXPECT_TRUE(c.ReadToCleanEnd()) << "the session ends with close_notify, not a bare TCP close";
  EXPECT_EQ(f.server().stats().tls_handshake_failures.load(), 0u);
}

TEST_F(HttpTls, LargeStreamedAndUploadedBodiesCrossTls) {
  Fixture f(ServerOptions{}, tls_);
  Client c(f, {.ca = first_.cert});
  ASSERT_EQ(c.Handshake(), "");
  ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string got = c.ReadResponse();
  EXPECT_EQ(StatusOf(got), 200);
  EXPECT_EQ(got.size() - got.find("\r\n\r\n") - 4, 1u << 20);
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  got = c.ReadResponse();
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
  EXPECT_NE(got.find("3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"), std::string::npos) << got;
  const std::string body(300000, 'u');
  ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  got = c.ReadResponse();
  EXPECT_NE(got.find("\"body\":300000"), std::string::npos) << got;
}

TEST_F(HttpTls, OldProtocolsAreRefusedAndTls12And13Served) {
  Fixture f(ServerOptions{}, tls_);
  {
    Client old(f, {.ca = first_.cert,
                   .min_version = TLS1_1_VERSION,
                   .max_version = TLS1_1_VERSION,
                   .any_security_level = true});
    const std::string error = old.Handshake();
    EXPECT_NE(error.find("alert protocol version"), std::string::npos)
        << "the server, not the client, refuses TLS 1.1: " << error;
  }
  {
    Client v12(f, {.ca = first_.cert, .max_version = TLS1_2_VERSION});
    ASSERT_EQ(v12.Handshake(), "");
    EXPECT_EQ(v12.Protocol(), "TLSv1.2");
    v12.Send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_EQ(StatusOf(v12.ReadResponse()), 200);
  }
  {
    Client v13(f, {.ca = first_.cert, .min_version = TLS1_3_VERSION});
    ASSERT_EQ(v13.Handshake(), "");
    EXPECT_EQ(v13.Protocol(), "TLSv1.3");
  }
  std::this_thread::sleep_for(100ms);  // the server has seen the failure through
  EXPECT_EQ(f.server().stats().tls_handshake_failures.load(), 1u);
}

TEST_F(HttpTls, ClientThatDoesNotTrustTheCertificateFails) {
  Fixture f(ServerOptions{}, tls_);
  const CertFiles other = MakeCert(dir_.path(), "other", 7);
  Client c(f, {.ca = other.cert});
  const std::string error = c.Handshake();
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
}

TEST_F(HttpTls, PlaintextRequestGetsNoHttpAnswerAndTheServerGoesOn) {
  Fixture f(ServerOptions{}, tls_);
  int fd = f.Connect();
  const std::string req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  const std::string got = ReadAllPlain(fd);
  ::close(fd);
  EXPECT_EQ(got.find("HTTP/"), std::string::npos) << got;
  EXPECT_EQ(Request(f, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), 200);
  EXPECT_EQ(f.server().stats().tls_handshake_failures.load(), 1u);
}

TEST_F(HttpTls, HandshakeAndFirstHeadAreHeldToTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout = 300ms;
  Fixture f(o, tls_);
  auto t0 = std::chrono::steady_clock::now();
  int silent = f.Connect();
  EXPECT_EQ(ReadAllPlain(silent), "") << "a connection that never starts a handshake";
  ::close(silent);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);

  t0 = std::chrono::steady_clock::now();
  int partial = f.Connect();
  const std::string hello_start("\x16\x03\x01\x01\x00\x01", 6);  // a ClientHello's first bytes
  ::send(partial, hello_start.data(), hello_start.size(), MSG_NOSIGNAL);
  EXPECT_EQ(ReadAllPlain(partial), "") << "a handshake that stalls";
  ::close(partial);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);

  // The handshake and the first request's head share one clock from the accept.
  t0 = std::chrono::steady_clock::now();
  Client idle(f, {.ca = first_.cert});
  ASSERT_EQ(idle.Handshake(), "");
  EXPECT_TRUE(idle.ReadToCleanEnd()) << "closed with close_notify once the time is up";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);

  EXPECT_EQ(Request(f, "GET / HTTP/1.1\r\nHost: a\r\n"), 408) << "an incomplete head";
  EXPECT_EQ(f.server().stats().timeouts[ListenerStats::kHeader].load(), 4u);
  EXPECT_EQ(f.server().stats().tls_handshake_failures.load(), 0u)
      << "a handshake that times out counts as a header timeout only";
}

TEST_F(HttpTls, HostileHeadsGetTheirStatusesInsideTls) {
  ServerOptions o;
  o.body_timeout = 300ms;
  o.keepalive_timeout = 300ms;
  Fixture f(o, tls_);
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(Request(f, "GET /\r\n\r\n"), 400) << "HTTP/0.9";
  EXPECT_EQ(Request(f, "GET / HTTP/1.1\r\n\r\n"), 400) << "no Host";
  EXPECT_EQ(Request(f, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(Request(f, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"), 414);
  EXPECT_EQ(Request(f, "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(70000, 'a') + "\r\n\r\n"),
            431);
  EXPECT_EQ(Request(f, post + "Content-Length: 9000000\r\n\r\n"), 413);
  EXPECT_EQ(Request(f, post + "Transfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(Request(f, post + "Content-Length: 10\r\n\r\nabc"), 408) << "a stalled body";
  EXPECT_EQ(f.server().stats().timeouts[ListenerStats::kBody].load(), 1u);

  Client c(f, {.ca = first_.cert});
  ASSERT_EQ(c.Handshake(), "");
  c.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(c.ReadResponse()), 200);
  EXPECT_TRUE(c.ReadToCleanEnd()) << "an idle keep-alive connection is closed";
  EXPECT_EQ(f.server().stats().timeouts[ListenerStats::kIdle].load(), 1u);
}

TEST_F(HttpTls, ConnectionsOverTheCapsAreClosedWithoutAnswer) {
  ServerOptions o;
  o.max_connections = 3;
  o.max_connections_per_client = 2;
  Fixture f(o, tls_);
  Client a(f, {.ca = first_.cert}), b(f, {.ca = first_.cert});
  ASSERT_EQ(a.Handshake(), "");
  ASSERT_EQ(b.Handshake(), "");
  {
    Client over(f, {.ca = first_.cert});
    EXPECT_NE(over.Handshake(), "");
  }
  EXPECT_EQ(f.server().stats().refused_per_client.load(), 1u);
  EXPECT_EQ(f.server().stats().answered[6].load(), 0u) << "no 503 is counted as answered";
  a.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(a.ReadResponse()), 200) << "the connections within the caps go on";
}

TEST_F(HttpTls, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  Fixture f(ServerOptions{}, tls_);
  Client before(f, {.ca = first_.cert});
  ASSERT_EQ(before.Handshake(), "");
  before.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(before.ReadResponse()), 200);

  // A renewal overwrites the files in place.
  const CertFiles second = MakeCert(dir_.path(), "second", 2);
  fs::copy_file(second.cert, first_.cert, fs::copy_options::overwrite_existing);
  fs::copy_file(second.key, first_.key, fs::copy_options::overwrite_existing);
  auto st = f.tls().Reload();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_NE(f.tls().Describe().find("serial 02"), std::string::npos) << f.tls().Describe();

  Client after(f, {.ca = second.cert});
  ASSERT_EQ(after.Handshake(), "");
  EXPECT_EQ(after.PeerSerial(), 2);
  after.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(after.ReadResponse()), 200);

  before.Send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(before.ReadResponse()), 200) << "an open connection keeps its session";
  EXPECT_EQ(before.PeerSerial(), 1);
}

TEST_F(HttpTls, FailedReloadKeepsTheCurrentCertificate) {
  Fixture f(ServerOptions{}, tls_);
  { std::ofstream(first_.cert) << "not a certificate\n"; }
  auto st = f.tls().Reload();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(first_.cert.string()), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("no start line"), std::string::npos) << st.error().message;
  Client check(f, {});
  ASSERT_EQ(check.Handshake(), "");
  EXPECT_EQ(check.PeerSerial(), 1);
  check.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(StatusOf(check.ReadResponse()), 200);
}

TEST(HttpTlsLoad, ErrorsNameTheFileAndTheReason) {
  TempDir dir;
  const CertFiles a = MakeCert(dir.path(), "a", 1);
  const CertFiles b = MakeCert(dir.path(), "b", 2);
  auto missing = TlsContext::Load(dir.path() / "nope.crt", a.key);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope.crt: No such file or directory"), std::string::npos)
      << missing.error().message;
  auto mismatched = TlsContext::Load(a.cert, b.key);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.error().message.find("does not match"), std::string::npos)
      << mismatched.error().message;
  auto key_as_cert = TlsContext::Load(a.key, a.key);
  ASSERT_FALSE(key_as_cert.ok());
  EXPECT_NE(key_as_cert.error().message.find("certificate " + a.key.string()), std::string::npos)
      << key_as_cert.error().message;
  auto ok = TlsContext::Load(a.cert, a.key);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_NE((*ok)->Describe().find("CN=localhost"), std::string::npos) << (*ok)->Describe();
}

}  // namespace
}  // namespace alto::http
