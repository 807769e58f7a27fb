#include "store/secret_box.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

namespace alto {

namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Closes a descriptor at scope exit (store code does not depend on the sandbox's UniqueFd).
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Error CryptoError(const char* what) { return MakeError(Errc::kInternal, std::string(what)); }

Result<std::string> ReadAll(int fd) {
  std::string out;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read secret key");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<std::shared_ptr<const SecretBox>> SecretBox::LoadOrCreate(
    const std::filesystem::path& file) {
  // O_EXCL: of two servers starting at once on one data dir, one creates and the other reads.
  Fd created(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (created.fd >= 0) {
    std::string key(kKeyBytes, '\0');
    if (RAND_bytes(U(key), static_cast<int>(key.size())) != 1)
      return CryptoError("RAND_bytes failed");
    if (::write(created.fd, key.data(), key.size()) != static_cast<ssize_t>(key.size()) ||
        ::fsync(created.fd) != 0) {
      auto err = SysError("write " + file.string());
      ::unlink(file.c_str());
      return err;
    }
    return std::make_shared<const SecretBox>(std::move(key));
  }
  if (errno != EEXIST) return SysError("create " + file.string());
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return SysError("open " + file.string());
  struct stat st {};
  if (::fstat(fd.fd, &st) == 0 && (st.st_mode & 077) != 0) {
    return MakeError(Errc::kInvalidArgument,
                     file.string() + " is readable by others: chmod 600 it (it encrypts secrets)");
  }
  auto key = ReadAll(fd.fd);
  if (!key) return key.error();
  if (key->size() != kKeyBytes) {
    return MakeError(Errc::kInvalidArgument,
                     file.string() + " must hold exactly 32 bytes (an AES-256 key)");
  }
  return std::make_shared<const SecretBox>(std::move(key.value()));
}

Result<std::string> SecretBox::Seal(std::string_view plaintext, std::string_view aad) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  if (RAND_bytes(U(out), kNonceBytes) != 1) return CryptoError("RAND_bytes failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(out)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), U(out) + kNonceBytes, &len, U(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), U(out) + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          U(out) + kNonceBytes + plaintext.size()) != 1) {
    return CryptoError("AES-256-GCM encryption failed");
  }
  return out;
}

Result<std::string> SecretBox::Open(std::string_view sealed, std::string_view aad) const {
  if (sealed.size() < kNonceBytes + kTagBytes) return CryptoError("sealed secret is truncated");
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  std::string out(n, '\0');
  std::string tag(sealed.substr(kNonceBytes + n));
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(sealed)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), U(out), &len, U(sealed) + kNonceBytes, static_cast<int>(n)) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), U(out) + len, &len) != 1) {
    return CryptoError("a secret does not decrypt with this secret.key (wrong key or tampered)");
  }
  return out;
}

}  // namespace alto
