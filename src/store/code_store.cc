#include "store/code_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/encoding.h"
#include "store/zip.h"

namespace alto {

namespace fs = std::filesystem;

bool IsCodeDigest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

CodeStore::CodeStore(fs::path root, CodeSource* source) : root_(std::move(root)), source_(source) {}

Status CodeStore::Init() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return SysError("create " + root_.string(), ec.value());
  // Searchable, not listable, whatever the umask: oci sandboxes' user-namespace root reaches each
  // package's tree (mode 0755) through it, with the rights of others.
  if (::chmod(root_.c_str(), 0711) != 0) return SysError("chmod " + root_.string());
  return {};
}

fs::path CodeStore::CodeDir(std::string_view hex) const { return root_ / std::string(hex); }

namespace {
Status WriteFileDurably(const fs::path& path, std::string_view bytes) {
  fs::path tmp = path;
  tmp += ".tmp-" + RandomHex(4);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SysError("create " + tmp.string());
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      auto err = SysError("write " + tmp.string());
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    auto err = SysError("fsync " + tmp.string());
    ::close(fd);
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return SysError("rename " + tmp.string());
  return {};
}
}  // namespace

Result<StoredCode> CodeStore::Put(std::string_view zip) {
  std::string digest = Sha256(zip);
  StoredCode out{HexEncode(digest), Base64Encode(digest), static_cast<int64_t>(zip.size())};
  fs::path dir = CodeDir(out.sha256_hex);
  fs::path zip_path = root_ / (out.sha256_hex + ".zip");
  std::error_code ec;
  if (fs::is_directory(dir, ec) && fs::exists(zip_path, ec)) return out;  // already stored

  fs::path tmp = root_ / (".extract-" + out.sha256_hex + "-" + RandomHex(4));
  fs::create_directory(tmp, ec);
  if (ec) return SysError("mkdir " + tmp.string(), ec.value());
  ::chmod(tmp.c_str(), 0755);
  if (auto st = ExtractZip(zip, tmp); !st) {
    fs::remove_all(tmp, ec);
    return st.error();
  }
  if (auto st = WriteFileDurably(zip_path, zip); !st) {
    fs::remove_all(tmp, ec);
    return st.error();
  }
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    // A concurrent upload of the same bytes won the race: its tree is identical.
    int err = errno;
    fs::remove_all(tmp, ec);
    if (err != ENOTEMPTY && err != EEXIST) return SysError("rename " + dir.string(), err);
  }
  return out;
}

Result<std::string> CodeStore::ReadZip(std::string_view hex) const {
  std::ifstream in(root_ / (std::string(hex) + ".zip"), std::ios::binary);
  if (!in) return MakeError(Errc::kNotFound, "code package " + std::string(hex) + " missing");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status CodeStore::Ensure(std::string_view hex) {
  if (!IsCodeDigest(hex))
    return MakeError(Errc::kInvalidArgument,
                     "not a code digest: " + std::string(hex.substr(0, 80)));
  std::error_code ec;
  if (fs::is_directory(CodeDir(hex), ec) && fs::exists(root_ / (std::string(hex) + ".zip"), ec))
    return {};
  if (!source_)
    return MakeError(Errc::kNotFound,
                     "code package " + std::string(hex) + " missing from " + root_.string());
  auto zip = source_->FetchZip(hex);
  if (!zip) return zip.error();
  // A peer is trusted no further than the digest: the bytes must be the package named.
  if (HexEncode(Sha256(*zip)) != hex)
    return MakeError(Errc::kInternal,
                     "a peer sent bytes that are not code package " + std::string(hex));
  auto stored = Put(*zip);
  if (!stored) return stored.error();
  return {};
}

void CodeStore::GarbageCollect(const std::vector<std::string>& keep) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    std::string name = e.path().filename().string();
    std::string stem = name.ends_with(".zip") ? name.substr(0, name.size() - 4) : name;
    bool leftover = name.starts_with(".extract-") || name.find(".tmp-") != std::string::npos;
    if (leftover || std::find(keep.begin(), keep.end(), stem) == keep.end()) {
      fs::remove_all(e.path(), ec);
    }
  }
}

}  // namespace alto
