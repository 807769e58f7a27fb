#include "http/tls.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>

namespace alto::http {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

namespace {

// A certificate chain or a key is a few KiB; the bound keeps a path such as /dev/zero from
// hanging a reload.
constexpr size_t kMaxPemBytes = 1 << 20;

// "certificate FILE: No such file or directory": the caller's mistake, not Alto's.
Error FileError(const fs::path& path, const char* what, int err) {
  Error e = SysError(std::string(what) + " " + path.string(), err);
  e.code = Errc::kInvalidArgument;
  return e;
}

Result<std::string> ReadPem(const fs::path& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) return FileError(path, what, errno);
  std::string text;
  char buf[16384];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= kMaxPemBytes)
    text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);  // NOLINT(cert-err33-c): read-only, nothing to lose
  if (failed) return FileError(path, what, err);
  if (text.size() > kMaxPemBytes) {
    return MakeError(Errc::kInvalidArgument,
                     std::string(what) + " " + path.string() + ": larger than 1 MiB, not PEM");
  }
  return text;
}

// OpenSSL's reason for a failure, as "reason (library)", and empties its error queue so that a
// later failure does not report this one. The first error queued is preferred over ec: Asio
// reports a PEM that does not parse with the generic "PEM lib" and leaves the reason (such as
// "no start line") in the queue.
std::string OpenSslReason(const boost::system::error_code& ec) {
  const unsigned long queued = ::ERR_peek_error();
  std::string reason;
  if (queued != 0) {
    reason =
        boost::system::error_code(static_cast<int>(queued), boost::asio::error::get_ssl_category())
            .message();
  } else if (ec) {
    reason = ec.message();
  }
  ::ERR_clear_error();
  return reason.empty() ? "unknown OpenSSL error" : reason;
}

std::string DescribeCertificate(SSL_CTX* ctx) {
  X509* cert = ::SSL_CTX_get0_certificate(ctx);
  if (!cert) return "no certificate";
  std::string out;
  if (BIO* bio = ::BIO_new(::BIO_s_mem())) {
    if (::X509_NAME_print_ex(bio, ::X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long len = ::BIO_get_mem_data(bio, &data);
      out.assign(data, static_cast<size_t>(len));
    }
    ::BIO_free(bio);
  }
  if (BIGNUM* serial = ::ASN1_INTEGER_to_BN(::X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = ::BN_bn2hex(serial)) {
      out.append(", serial ").append(hex);
      ::OPENSSL_free(hex);
    }
    ::BN_free(serial);
  }
  const ASN1_TIME* not_after = ::X509_get0_notAfter(cert);
  if (BIO* bio = ::BIO_new(::BIO_s_mem())) {
    if (::ASN1_TIME_print(bio, not_after) == 1) {
      char* data = nullptr;
      const long len = ::BIO_get_mem_data(bio, &data);
      out.append(", valid until ").append(data, static_cast<size_t>(len));
    }
    ::BIO_free(bio);
  }
  if (::X509_cmp_current_time(not_after) < 0) out.append(" (EXPIRED)");
  return out;
}

Result<std::shared_ptr<ssl::context>> Build(const fs::path& cert_file, const fs::path& key_file) {
  auto cert = ReadPem(cert_file, "certificate");
  if (!cert) return cert.error();
  auto key = ReadPem(key_file, "private key");
  if (!key) return key.error();
  // Without a passphrase callback OpenSSL would prompt on the terminal, and a reload would hang.
  if (key->find("ENCRYPTED") != std::string::npos) {
    return MakeError(Errc::kInvalidArgument,
                     "private key " + key_file.string() +
                         ": encrypted with a passphrase; Alto needs an unencrypted key (keep the "
                         "file readable by its user only)");
  }

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  ::ERR_clear_error();
  // TLS 1.2 and 1.3 only; no compression (CRIME), no renegotiation (a client-driven CPU cost and
  // a source of past bugs). Ciphers and groups are OpenSSL's defaults.
  ::SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  ::SSL_CTX_set_options(
      h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
  ::SSL_CTX_set_options(h, SSL_OP_NO_CLIENT_RENEGOTIATION);
#endif
  // An idle keep-alive connection then holds no record buffers (about 34 KiB each), which matters
  // at thousands of open connections.
  ::SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
  ctx->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });

  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(*cert), ec);
  if (ec) {
    return MakeError(Errc::kInvalidArgument,
                     "certificate " + cert_file.string() + ": " + OpenSslReason(ec));
  }
  ctx->use_private_key(boost::asio::buffer(*key), ssl::context::pem, ec);
  // OpenSSL compares the key with the certificate as it loads it.
  const bool mismatch =
      ec && ERR_GET_LIB(static_cast<unsigned long>(ec.value())) == ERR_LIB_X509 &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (ec && !mismatch) {
    return MakeError(Errc::kInvalidArgument,
                     "private key " + key_file.string() + ": " + OpenSslReason(ec));
  }
  if (mismatch || ::SSL_CTX_check_private_key(h) != 1) {
    return MakeError(Errc::kInvalidArgument, "private key " + key_file.string() +
                                                 " does not match the certificate in " +
                                                 cert_file.string() + ": " + OpenSslReason(ec));
  }
  return ctx;
}

}  // namespace

TlsContext::TlsContext(fs::path cert_file, fs::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

Result<std::shared_ptr<TlsContext>> TlsContext::Load(fs::path cert_file, fs::path key_file) {
  std::shared_ptr<TlsContext> tls(new TlsContext(std::move(cert_file), std::move(key_file)));
  if (auto st = tls->Reload(); !st) return st.error();
  return tls;
}

Status TlsContext::Reload() {
  auto ctx = Build(cert_file_, key_file_);
  if (!ctx) return ctx.error();
  std::string description = DescribeCertificate((*ctx)->native_handle());
  std::lock_guard lock(mu_);
  current_ = std::move(*ctx);
  description_ = std::move(description);
  return {};
}

std::shared_ptr<ssl::context> TlsContext::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string TlsContext::Describe() const {
  std::lock_guard lock(mu_);
  return description_;
}

}  // namespace alto::http
