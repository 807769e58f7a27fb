#include "sandbox/sealed_exe.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

namespace alto {

Result<SealedExecutable> SealedExecutable::Copy(const std::filesystem::path& source) {
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return SysError("open " + source.string());
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return SysError("stat " + source.string());
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Errc::kInvalidArgument, source.string() + " is not a regular file");
  }
  const std::string name = source.filename().string();
  UniqueFd out(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!out.valid()) return SysError("memfd_create for " + source.string());
  off_t offset = 0;
  while (offset < st.st_size) {
    const ssize_t n =
        ::sendfile(out.get(), in.get(), &offset, static_cast<size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("copy " + source.string() + " into a memfd");
    if (n == 0) {
      return MakeError(Errc::kInternal, source.string() + " shrank while it was being copied");
    }
  }
  if (::fchmod(out.get(), 0555) != 0) return SysError("chmod the memfd copy of " + name);
  // The set runc checks for (RUNC_MEMFD_SEALS): with all four, nobody can change the copy.
  constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (::fcntl(out.get(), F_ADD_SEALS, kSeals) != 0)
    return SysError("seal the memfd copy of " + name);
  std::string path = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(out.get());
  return SealedExecutable(std::move(out), std::move(path));
}

}  // namespace alto
