// The certificate and key of a TLS listener (OpenSSL through Asio): TLS 1.2 and later only,
// OpenSSL's default ciphers, no compression, no renegotiation. Reload() reads the files again
// and swaps in a new context, so that a renewed certificate takes effect without a restart: new
// connections get the new context, connections already open keep the one they started with.
//
// Kept free of Asio's SSL headers (a forward declaration) so that only src/http/*.cc pays their
// compile time.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace alto::http {

class TlsContext {
 public:
  // Reads a PEM certificate chain (the server's certificate first) and its PEM private key. The
  // error names the file at fault and OpenSSL's reason.
  static Result<std::shared_ptr<TlsContext>> Load(std::filesystem::path cert_file,
                                                  std::filesystem::path key_file);

  // Reads the files again. On success new connections use the new certificate; on failure the
  // current one stays in use and the error says why.
  Status Reload();

  // The context a new connection is set up with. Shared: an open connection holds its own, so a
  // reload never pulls a context from under it.
  std::shared_ptr<boost::asio::ssl::context> Current() const;

  // The current certificate in a few words, for logs: subject, serial, expiry.
  std::string Describe() const;

  const std::filesystem::path& cert_file() const { return cert_file_; }
  const std::filesystem::path& key_file() const { return key_file_; }

 private:
  TlsContext(std::filesystem::path cert_file, std::filesystem::path key_file);

  std::filesystem::path cert_file_;
  std::filesystem::path key_file_;
  // Guards current_ and description_: Reload may run on another thread than the accepts (the
  // tests do; alto server reloads on its I/O thread); a lock per accepted connection costs
  // nothing next to a handshake.
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  std::string description_;
};

}  // namespace alto::http
