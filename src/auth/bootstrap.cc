#include "auth/bootstrap.h"

#include <fcntl.h>
#include <unistd.h>

namespace alto::auth {

namespace {

Status WriteSecretFile(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return SysError("open " + tmp.string());
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()) || !synced) {
    ::unlink(tmp.c_str());
    return SysError("write " + tmp.string(), n < 0 ? err : EIO);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return SysError("rename to " + path.string());
  return {};
}

}  // namespace

Result<BootstrapResult> EnsureAdminKey(KeyStore& keys, const std::string& env_id,
                                       const std::string& env_secret,
                                       const std::filesystem::path& credentials_file) {
  BootstrapResult out;
  out.credentials_file = credentials_file;
  auto existing = keys.ListKeys(std::string(kAdminAccountId));
  if (!existing) return existing.error();
  for (const auto& k : *existing) {
    if (k.policy_json.empty()) {
      out.access_key_id = k.id;
      return out;  // the admin account already has an administrator key
    }
  }
  if (env_id.empty() != env_secret.empty())
    return MakeError(
        Errc::kInvalidArgument,
        "set both ALTO_ADMIN_ACCESS_KEY_ID and ALTO_ADMIN_SECRET_ACCESS_KEY, or neither");
  auto key = keys.CreateKey(std::string(kAdminAccountId), {}, "admin key made at first start",
                            env_id, env_secret);
  if (!key) return key.error();
  std::string text =
      "[alto]\naws_access_key_id = " + key->id + "\naws_secret_access_key = " + key->secret + "\n";
  if (auto st = WriteSecretFile(credentials_file, text); !st) return st.error();
  out.created = true;
  out.access_key_id = key->id;
  return out;
}

}  // namespace alto::auth
