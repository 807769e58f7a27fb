#include "sandbox/specialize.h"

#include <sys/mount.h>

#include <fstream>
#include <sstream>

namespace alto {

namespace fs = std::filesystem;

Status MakeSharedMountPoint(const fs::path& dir) {
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return SysError("bind " + dir.string());
  if (::mount(nullptr, dir.c_str(), nullptr, MS_SHARED, nullptr) != 0) {
    Error e = SysError("make-shared " + dir.string());
    ::umount2(dir.c_str(), MNT_DETACH);
    return e;
  }
  return {};
}

Status MountReadOnlyOnto(const fs::path& code_dir, const fs::path& stage, const fs::path& target) {
  std::error_code ec;
  fs::create_directories(stage, ec);
  if (ec) return SysError("create " + stage.string(), ec.value());
  if (::mount(code_dir.c_str(), stage.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return SysError("bind " + code_dir.string());
  // Private first: the staging mount must not propagate anywhere itself.
  ::mount(nullptr, stage.c_str(), nullptr, MS_PRIVATE, nullptr);
  if (::mount(nullptr, stage.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    Error e = SysError("remount read-only " + stage.string());
    ::umount2(stage.c_str(), MNT_DETACH);
    return e;
  }
  Status st;
  if (::mount(stage.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
    st = SysError("bind code onto " + target.string());
  ::umount2(stage.c_str(), MNT_DETACH);
  return st;
}

void UnmountTree(const fs::path& dir) {
  // Each call removes the top mount; a shared self-bind plus the code make two.
  for (int i = 0; i < 8 && ::umount2(dir.c_str(), MNT_DETACH) == 0; ++i) {
  }
}

std::vector<MountEntry> ReadMounts() {
  std::vector<MountEntry> out;
  std::ifstream mounts("/proc/self/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    MountEntry m;
    if (fields >> m.source >> m.target >> m.type) out.push_back(std::move(m));
  }
  return out;
}

namespace {
bool WriteFile(const fs::path& p, const std::string& value) {
  std::ofstream out(p);
  if (!out) return false;
  out << value;
  out.close();
  return static_cast<bool>(out);
}
}  // namespace

Status SetCgroupLimits(const std::string& cgroup_path, int64_t memory_bytes, int64_t cpu_shares,
                       int64_t cpu_quota_us, int64_t cpu_period_us) {
  const fs::path v1_mem = fs::path("/sys/fs/cgroup/memory") / cgroup_path.substr(1);
  std::error_code ec;
  if (fs::exists(v1_mem / "memory.limit_in_bytes", ec)) {
    // memsw >= limit at every step: raise memsw first, or lower the limit first.
    const std::string bytes = std::to_string(memory_bytes);
    bool raising = true;
    std::ifstream cur(v1_mem / "memory.limit_in_bytes");
    int64_t current = 0;
    if (cur >> current) raising = memory_bytes >= current;
    const bool has_memsw = fs::exists(v1_mem / "memory.memsw.limit_in_bytes", ec);
    bool ok = true;
    if (raising && has_memsw) ok = WriteFile(v1_mem / "memory.memsw.limit_in_bytes", bytes);
    ok = ok && WriteFile(v1_mem / "memory.limit_in_bytes", bytes);
    if (!raising && has_memsw) ok = ok && WriteFile(v1_mem / "memory.memsw.limit_in_bytes", bytes);
    if (!ok) return SysError("set memory limit of " + v1_mem.string());
    for (const char* cpu : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
      fs::path shares = fs::path(cpu) / cgroup_path.substr(1) / "cpu.shares";
      if (fs::exists(shares, ec)) {
        const fs::path dir = shares.parent_path();
        if (!WriteFile(shares, std::to_string(cpu_shares)) ||
            !WriteFile(dir / "cpu.cfs_period_us", std::to_string(cpu_period_us)) ||
            !WriteFile(dir / "cpu.cfs_quota_us", std::to_string(cpu_quota_us))) {
          return SysError("set CPU limits of " + dir.string());
        }
        break;
      }
    }
    return {};
  }
  const fs::path v2 = fs::path("/sys/fs/cgroup") / cgroup_path.substr(1);
  if (fs::exists(v2 / "memory.max", ec)) {
    if (!WriteFile(v2 / "memory.max", std::to_string(memory_bytes)) ||
        !WriteFile(v2 / "memory.swap.max", "0")) {
      return SysError("set memory limit of " + v2.string());
    }
    // cgroup v2 weight from v1 shares, as runc converts it.
    int64_t weight = 1 + ((cpu_shares - 2) * 9999) / 262142;
    if (!WriteFile(v2 / "cpu.weight", std::to_string(weight)) ||
        !WriteFile(v2 / "cpu.max",
                   std::to_string(cpu_quota_us) + " " + std::to_string(cpu_period_us))) {
      return SysError("set CPU limits of " + v2.string());
    }
    return {};
  }
  return MakeError(Errc::kInternal, "no cgroup found for " + cgroup_path);
}

bool RuntimeHasZygote(std::string_view runtime) { return runtime.starts_with("python3"); }

bool FitsZygote(const std::vector<std::string>& env) {
  for (const auto& kv : env) {
    std::string_view name(kv);
    name = name.substr(0, name.find('='));
    if (name.starts_with("LD_") || name.starts_with("PYTHON")) return false;
  }
  return true;
}

std::string EncodeInitSpec(const std::vector<std::string>& args,
                           const std::vector<std::string>& env) {
  std::string out;
  auto add = [&out](char kind, const std::string& value) {
    out += kind;
    out += value;
    out += '\0';
  };
  for (const auto& a : args) add('A', a);
  for (const auto& e : env) add('E', e);
  return out;
}

}  // namespace alto
