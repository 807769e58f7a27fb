// Encryption at rest for secret environment values: AES-256-GCM (OpenSSL libcrypto) with a
// 32-byte key kept in a 0600 file in the data directory. Each value gets a fresh 96-bit nonce;
// the additional data binds a sealed value to its function and variable, so a value copied
// into another record does not open.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace alto {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  // Reads the key file, creating it (0600, random key) when absent.
  static Result<std::shared_ptr<const SecretBox>> LoadOrCreate(const std::filesystem::path& file);
  // nonce (12) || ciphertext || tag (16)
  Result<std::string> Seal(std::string_view plaintext, std::string_view aad) const;
  Result<std::string> Open(std::string_view sealed, std::string_view aad) const;

 private:
  std::string key_;
};

}  // namespace alto
