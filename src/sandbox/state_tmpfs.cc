#include "sandbox/state_tmpfs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <string>

#include "sandbox/specialize.h"

namespace alto {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMountSource = "alto-state";

bool IsTmpfs(const fs::path& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && st.f_type == TMPFS_MAGIC;
}

// True if `dir` itself is a mount point whose source is Alto's tmpfs.
bool IsAltoMount(const fs::path& dir) {
  for (const auto& m : ReadMounts()) {
    if (m.source == kMountSource && m.type == "tmpfs" && m.target == dir.string()) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<StateTmpfs>> StateTmpfs::Ensure(const fs::path& dir_in) {
  std::error_code ec;
  fs::create_directories(dir_in, ec);
  if (ec) return SysError("create " + dir_in.string(), ec.value());
  const fs::path dir = fs::canonical(dir_in, ec);
  if (ec) return SysError("resolve " + dir_in.string(), ec.value());
  if (IsAltoMount(dir)) return std::unique_ptr<StateTmpfs>(new StateTmpfs(dir, true));
  if (IsTmpfs(dir)) return std::unique_ptr<StateTmpfs>(new StateTmpfs(dir, false));
  // mode 0711: the sandboxes' user-namespace root must traverse it to reach bundles, not list it.
  if (::mount(kMountSource, dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711") != 0)
    return SysError("mount a tmpfs for sandbox state at " + dir.string());
  return std::unique_ptr<StateTmpfs>(new StateTmpfs(dir, true));
}

StateTmpfs::~StateTmpfs() {
  // Every sandbox is gone by now (the driver outlives the scheduler). Lazy, so that a mount a
  // crashed teardown left inside cannot keep the server from exiting.
  if (owned_) ::umount2(dir_.c_str(), MNT_DETACH);
}

}  // namespace alto
