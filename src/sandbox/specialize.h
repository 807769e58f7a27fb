// Steps that turn a stem cell (an oci sandbox started before its function was known) into a
// given function's sandbox: its code mounted read-only at /var/task through mount propagation,
// its cgroup limits, and the command and environment handed to alto-init.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace alto {

// Makes `dir` a shared mount point (a bind mount of itself), so that a mount made on it later
// propagates into a container that bound it with "rslave".
Status MakeSharedMountPoint(const std::filesystem::path& dir);
// Mounts code_dir read-only (nosuid, nodev) on `target`, through `stage`: the read-only flag is
// a property of a mount, and the copy that propagates into the container is cloned from the
// mount placed on target, so that mount must already be read-only.
Status MountReadOnlyOnto(const std::filesystem::path& code_dir, const std::filesystem::path& stage,
                         const std::filesystem::path& target);
// Unmounts everything at and below dir (lazily); harmless when nothing is mounted.
void UnmountTree(const std::filesystem::path& dir);

// The first three fields of each line of /proc/self/mounts.
struct MountEntry {
  std::string source, target, type;
};
std::vector<MountEntry> ReadMounts();

// Sets a running container's memory limit (no swap), CPU shares and CFS quota by writing its cgroup
// (v1 or v2) directly: `runc update` costs ~5 ms on the cold path.
Status SetCgroupLimits(const std::string& cgroup_path, int64_t memory_bytes, int64_t cpu_shares,
                       int64_t cpu_quota_us, int64_t cpu_period_us);

// Whether a runtime's stem cells run a zygote: the language runtime itself is started ahead
// (`alto-init --zygote`) and reads the function's environment from the spec fd when it comes
// (python: bootstrap.py --zygote-fd=N), so its interpreter start-up is off the cold path.
bool RuntimeHasZygote(std::string_view runtime);
// Whether a function can be given to an already running zygote: variables read only at process
// start (LD_* by the dynamic loader, PYTHON* by the interpreter) cannot take effect there.
bool FitsZygote(const std::vector<std::string>& env);

// alto-init's --spec-fd records: "A<arg>\0" per argument, "E<name=value>\0" per variable.
std::string EncodeInitSpec(const std::vector<std::string>& args,
                           const std::vector<std::string>& env);

}  // namespace alto
