// Sandbox driver interface. A driver turns a SandboxSpec into a running sandbox: the function's
// runtime process, plus a listening socket that only this sandbox can reach, on which Alto serves
// the sandbox's own Runtime API. Two drivers: `oci` (runc, isolated) and `process` (none).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sandbox/process.h"
#include "sandbox/unique_fd.h"

namespace alto {

struct SandboxSpec {
  std::string id;  // unique per sandbox; also the container id
  std::string function_name;
  std::string function_version;
  std::string runtime;  // Lambda runtime name, looked up in the runtime table
  int memory_mb = 128;
  int ephemeral_storage_mb = 512;
  bool network = true;                 // false: NetworkMode none, loopback only
  std::filesystem::path code_dir;      // extracted package on the host
  std::filesystem::path runtimes_dir;  // host folder holding runtimes/<lang>
  // Environment without the path variables, which the driver adds (paths differ per driver).
  std::vector<std::string> env;
};

// Driver-specific teardown (containers, mounts, files), in the destructor, which runs once the
// sandbox's init is dead and reaped. Runs on a thread pool, never on the I/O thread.
class SandboxResources {
 public:
  virtual ~SandboxResources() = default;
  // Peak memory of the whole sandbox since it started, in bytes; -1 when unknown.
  virtual int64_t PeakMemoryBytes() const { return -1; }
  // True when the kernel's OOM killer killed a process of the sandbox (its memory limit).
  virtual bool OomKilled() const { return false; }
  // CPU time used by every process of the sandbox since it started, in ns; -1 when unknown.
  virtual int64_t CpuTimeNanos() const { return -1; }
};

// A started sandbox. Destruction kills every process in it and releases what it holds; it
// blocks (it may run `runc delete`), so it must happen off the I/O threads.
class Sandbox {
 public:
  Sandbox(std::string id, ChildProcess child, UniqueFd runtime_api_listener,
          std::unique_ptr<SandboxResources> resources, bool exit_code_encodes_signal);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& id() const { return id_; }
  ChildProcess& process() { return child_; }
  UniqueFd TakeRuntimeApiListener() { return std::move(listener_); }
  int64_t PeakMemoryBytes() const { return resources_ ? resources_->PeakMemoryBytes() : -1; }
  SandboxResources* resources() { return resources_.get(); }
  bool OomKilled() const { return resources_ && resources_->OomKilled(); }
  int64_t CpuTimeNanos() const { return resources_ ? resources_->CpuTimeNanos() : -1; }
  // "exit status 1", "signal: killed", as Lambda's Runtime.ExitError message says.
  std::string DescribeExit(int wait_status) const;

 private:
  std::string id_;
  ChildProcess child_;
  UniqueFd listener_;
  std::unique_ptr<SandboxResources> resources_;
  bool exit_code_encodes_signal_;
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string_view name() const = 0;
  // Blocking: run on the blocking pool.
  virtual Result<std::unique_ptr<Sandbox>> Start(const SandboxSpec& spec) = 0;
  // Removes whatever a previous run of the server left (after a crash or kill -9).
  virtual void CleanupStale() = 0;

  // Stem cells (issue 4): a sandbox started for a runtime before its function is known, with
  // namespaces, cgroup, Runtime API socket and init already up; Specialize gives it a function's
  // code, limits, command and environment. Drivers without them answer kUnsupported. Blocking.
  virtual Result<std::unique_ptr<Sandbox>> StartStem(const std::string& runtime,
                                                     const std::filesystem::path& runtimes_dir) {
    (void)runtime;
    (void)runtimes_dir;
    return MakeError(Errc::kUnsupported, "this driver has no stem cells");
  }
  virtual Status Specialize(Sandbox& stem, const SandboxSpec& spec) {
    (void)stem;
    (void)spec;
    return MakeError(Errc::kUnsupported, "this driver has no stem cells");
  }
};

// What a stem cell is started with; a function fits a stem when these match its own.
constexpr int kStemMemoryMb = 128;
constexpr int kStemEphemeralStorageMb = 512;

struct DriverOptions {
  std::filesystem::path state_dir;  // e.g. /run/alto: bundles, netns mounts, runc state
  std::string runc_path;            // empty: search for runc, then crun
  std::filesystem::path init_path;  // alto-init, PID 1 of oci sandboxes
  // oci: host directories sandboxes bind from, each bound once below state_dir (oci_driver.cc)
  std::filesystem::path code_root;     // the code store: each package's extracted tree
  std::filesystem::path runtimes_dir;  // runtimes/<lang>
  // oci: sandboxes' outbound network (sandbox/network.h); "none" gives every sandbox loopback only.
  std::string sandbox_subnet = "10.213.0.0/16";
  std::vector<std::string> sandbox_allow;  // private CIDRs sandboxes may reach anyway
};

std::unique_ptr<Driver> MakeProcessDriver(const DriverOptions& options);
Result<std::unique_ptr<Driver>> MakeOciDriver(const DriverOptions& options);

// The environment every runtime sees (Lambda's reserved variables) plus the user's.
std::vector<std::string> BaseRuntimeEnv(const SandboxSpec& spec, const std::string& task_root,
                                        const std::string& runtime_dir,
                                        const std::string& runtime_api_address);

}  // namespace alto
