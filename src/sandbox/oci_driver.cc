// The `oci` driver: each sandbox is an OCI bundle run by runc. The bundle is built here from an
// allow-list of fields (never from user JSON). Steps, in order (docs/sandbox.md):
//   1. a network namespace holding the sandbox's Runtime API socket on loopback, and unless the
//      function's NetworkMode is none an eth0 on Alto's bridge (sandbox/network.h)
//   2. a bundle: empty read-only root, read-only binds of the host's runtime directories,
//      the code read-only at /var/task, the runtime read-only at /var/runtime, tmpfs /tmp
//   3. user (container 0-65535 = host 100000-165535), pid, ipc, uts, mount and cgroup
//      namespaces; the netns from step 1. Every sandbox has the user namespace: what runc mounts
//      is reachable from it by construction (HostViews, CheckBundlesReachable), or the server
//      refuses to start
//   4. cgroup limits: memory = MemorySize with no swap, pids, CPU shares and quota by memory
//   5. no capabilities, no new privileges, a non-root uid, rlimits, masked /proc paths
//   6. `runc run --detach`, its stdout/stderr (and fd 3) being the function's log pipe. runc
//      exits once the container runs; the server is a child subreaper, so the container's init
//      (alto-init) is reparented to it: Alto watches it with a pidfd and reaps it with waitpid,
//      getting alto-init's real exit status. No runc process stays alive per sandbox.
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/encoding.h"
#include "sandbox/netns.h"
#include "sandbox/network.h"
#include "sandbox/runtimes.h"
#include "sandbox/sandbox.h"
#include "sandbox/sealed_exe.h"
#include "sandbox/specialize.h"
#include "sandbox/state_tmpfs.h"

namespace alto {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kSandboxUid = 993;  // Lambda's sbx_user1051 has uid 993
constexpr int kSandboxGid = 990;
// User namespace: container ids 0-65535 are host ids 100000-165535, so the function's uid 993
// is host uid 100993, which owns nothing on the host, and the sandbox's root is not host root.
constexpr int64_t kHostIdBase = 100000;
constexpr int64_t kMappedIds = 65536;
// CPU: Lambda gives one vCPU at 1,769 MB. The CFS quota follows that proportion over a 100 ms
// period, with a floor of half a CPU so that small functions still start in reasonable time.
constexpr int64_t kCpuPeriodUs = 100000;
constexpr int64_t kCpuQuotaFloorUs = kCpuPeriodUs / 2;

int64_t CpuQuotaUs(int memory_mb) {
  return std::max<int64_t>(kCpuQuotaFloorUs, int64_t{memory_mb} * kCpuPeriodUs / 1769);
}

json RoBind(const std::string& src, const std::string& dst) {
  return {{"destination", dst},
          {"type", "bind"},
          {"source", src},
          {"options", {"rbind", "ro", "nosuid", "nodev"}}};
}

// Host paths a runtime needs, bound read-only. /etc is an allow-list, not the whole directory.
const std::vector<std::string>& HostReadOnlyPaths() {
  static const std::vector<std::string> paths = {
      "/usr",
      "/etc/ld.so.cache",
      "/etc/ld.so.conf",
      "/etc/ld.so.conf.d",
      "/etc/alternatives",
      "/etc/ssl",
      "/etc/ca-certificates",
      "/etc/java-17-openjdk",
      "/etc/localtime",
      "/etc/hosts",
      "/etc/nsswitch.conf",
      "/etc/mime.types",
  };
  return paths;
}

constexpr const char* kInitInSandbox = "/var/rapid/init";

// alto-init's command line up to the runtime's command. alto-init installs the seccomp filter
// itself (see src/sandbox/init/alto_init.cc); runc would compile the same profile again in every
// container. The runtime writes its log straight into Alto's pipe (fd 3, passed with
// --preserve-fds): runc's own stdio proxy would copy it asynchronously, and a line printed before
// the result could then arrive after it and land in the wrong invocation's log.
std::vector<std::string> InitCommand(std::initializer_list<std::string> options) {
  std::vector<std::string> args = {kInitInSandbox, "--seccomp", "--stdio-fd=3"};
  args.insert(args.end(), options);
  return args;
}
constexpr int kStemStartTimeoutMs = 10000;
constexpr int kRuncStartTimeoutMs = 30000;

// Waits for the byte a stem's alto-init writes on its spec socket when it starts.
Status AwaitInitReady(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  if (n < 0) return SysError("wait for stem cell init");
  if (n == 0) return MakeError(Errc::kTimeout, "stem cell init did not start within 10 s");
  char byte = 0;
  ssize_t got;
  while ((got = ::read(fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  if (got != 1 || byte != 'R') return MakeError(Errc::kInternal, "stem cell exited while starting");
  return {};
}

// Lambda gives one vCPU at 1,769 MB; shares follow the same proportion (1024 = one CPU).
int64_t CpuShares(int memory_mb) { return std::max<int64_t>(2, int64_t{memory_mb} * 1024 / 1769); }

bool IsCgroupV2() {
  struct statfs fs {};
  return ::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// Host paths a sandbox binds from, as the user namespace's root reaches them (HostViews::Map).
struct BindSources {
  fs::path code;      // mounted at /var/task
  fs::path runtimes;  // holds the runtime's directory, mounted at /var/runtime
  fs::path init;      // alto-init
};

json BuildConfig(const SandboxSpec& spec, const RuntimeInfo& rt, const fs::path& netns_pin,
                 const std::string& runtime_api, const BindSources& from) {
  const std::string task_root = "/var/task";
  const std::string runtime_dir = "/var/runtime";
  json mounts = json::array();
  mounts.push_back({{"destination", "/proc"},
                    {"type", "proc"},
                    {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back({{"destination", "/dev"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=64k"}}});
  mounts.push_back({{"destination", "/dev/shm"},
                    {"type", "tmpfs"},
                    {"source", "shm"},
                    {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}});
  mounts.push_back(
      {{"destination", "/tmp"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options",
        {"nosuid", "nodev", "mode=1777", "size=" + std::to_string(spec.ephemeral_storage_mb) + "m",
         // One inode per 16 KiB, as ext4 (Lambda's /tmp) has by default.
         "nr_inodes=" + std::to_string(int64_t{spec.ephemeral_storage_mb} * 64)}}});
  for (const auto& p : HostReadOnlyPaths()) {
    std::error_code ec;
    if (fs::exists(p, ec) && !fs::is_symlink(p, ec)) mounts.push_back(RoBind(p, p));
  }
  mounts.push_back(RoBind(from.code.string(), task_root));
  if (!rt.dir.empty()) mounts.push_back(RoBind((from.runtimes / rt.dir).string(), runtime_dir));
  mounts.push_back(RoBind(from.init.string(), kInitInSandbox));
  std::vector<std::string> args = InitCommand({"--"});
  for (auto& a : ExpandArgv(rt, runtime_dir, task_root, spec.memory_mb))
    args.push_back(std::move(a));

  const int64_t memory = int64_t{spec.memory_mb} * 1024 * 1024;
  const int64_t shares = CpuShares(spec.memory_mb);
  const json id_map =
      json::array({{{"containerID", 0}, {"hostID", kHostIdBase}, {"size", kMappedIds}}});
  json caps = json::array();
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", kSandboxUid}, {"gid", kSandboxGid}}},
        {"args", args},
        {"env", BaseRuntimeEnv(spec, task_root, runtime_dir, runtime_api)},
        {"cwd", task_root},
        {"capabilities",
         {{"bounding", caps},
          {"effective", caps},
          {"inheritable", caps},
          {"permitted", caps},
          {"ambient", caps}}},
        {"rlimits",
         {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}},
          {{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "localhost"},
      {"mounts", mounts},
      {"linux",
       {{"namespaces",
         {{{"type", "user"}},
          {{"type", "pid"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          {{"type", "cgroup"}},
          {{"type", "network"}, {"path", netns_pin.string()}}}},
        {"uidMappings", id_map},
        {"gidMappings", id_map},
        {"cgroupsPath", "/alto/" + spec.id},
        {"resources",
         {{"devices", {{{"allow", false}, {"access", "rwm"}}}},
          {"memory", {{"limit", memory}, {"swap", memory}}},
          {"pids", {{"limit", 1024}}},
          {"cpu",
           {{"shares", shares}, {"quota", CpuQuotaUs(spec.memory_mb)}, {"period", kCpuPeriodUs}}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
  // cgroup v2 can kill the whole sandbox at an OOM, not only the biggest process (v1 cannot;
  // there the runtime is the usual victim, and its death ends the sandbox through alto-init).
  if (IsCgroupV2()) config["linux"]["resources"]["unified"] = {{"memory.oom.group", "1"}};
  return config;
}

// Whether the sandboxes' root may search a directory or run a file: as others, or as its group.
bool SandboxRootMaySearch(const struct stat& st) {
  return (st.st_mode & S_IXOTH) != 0 ||
         (static_cast<int64_t>(st.st_gid) == kHostIdBase && (st.st_mode & S_IXGRP) != 0);
}

// runc prepares a sandbox's root as the user namespace's root (host uid and gid kHostIdBase),
// which has no rights on the host's files beyond their group's or others': every directory on
// the way to the bundles must be searchable by it. Checked once, at start: a server that could
// only run sandboxes without the user namespace refuses to start rather than run them less
// isolated. Only the state dir and its parents are the user's choice on that way.
Status CheckBundlesReachable(const fs::path& bundles) {
  std::error_code ec;
  const fs::path real = fs::canonical(bundles, ec);
  if (ec) return SysError("resolve " + bundles.string(), ec.value());
  for (fs::path d = real;; d = d.parent_path()) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) return SysError("stat " + d.string());
    if (!SandboxRootMaySearch(st)) {
      std::string message = "sandboxes could not reach their bundles in " + bundles.string();
      message += ": " + d.string() + " is not searchable by other users, and a sandbox's root is ";
      message += "host uid " + std::to_string(kHostIdBase) + " in its user namespace; ";
      message += "make it searchable (chmod o+x " + d.string() + ") or choose another --state-dir";
      return MakeError(Errc::kUnsupported, std::move(message));
    }
    if (d == d.root_path()) return {};
  }
}

// The host paths sandboxes bind from that Alto does not place itself: the code store (below the
// data dir), the runtimes and alto-init (next to the binary by default). Any of them may lie below
// a directory others cannot search, such as a data dir made by `mktemp -d` (0700) or a build in
// /root, and the user namespace's root could not mount from there (runc 1.1 opens bind sources
// on the host's side, but older versions and other runtimes do not). Each is bound read-only,
// once, below the state tmpfs, in a directory only root and the sandboxes' root group may search
// (not every local user: the code store holds every function's code), and sandboxes bind from
// there. The user's directories keep their modes.
class HostViews {
 public:
  struct Source {
    fs::path host;
    std::string name;  // the view's name below the views' directory
  };
  static Result<std::unique_ptr<HostViews>> Create(const fs::path& dir,
                                                   const std::vector<Source>& sources) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return SysError("create " + dir.string(), ec.value());
    if (::chown(dir.c_str(), 0, kHostIdBase) != 0) return SysError("chown " + dir.string());
    if (::chmod(dir.c_str(), 0710) != 0) return SysError("chmod " + dir.string());
    std::unique_ptr<HostViews> views(new HostViews);
    for (const auto& s : sources) {
      if (s.host.empty()) continue;
      View v{fs::absolute(s.host).lexically_normal(), dir / s.name};
      UnmountTree(v.view);  // left by a server that was killed, on the tmpfs it takes over
      const bool is_dir = fs::is_directory(v.host, ec);
      if (is_dir) {
        fs::create_directories(v.view, ec);
        if (ec) return SysError("create " + v.view.string(), ec.value());
      } else if (!fs::exists(v.view, ec)) {
        std::ofstream touch(v.view);
        if (!touch) return MakeError(Errc::kInternal, "create " + v.view.string());
      }
      if (::mount(v.host.c_str(), v.view.c_str(), nullptr, MS_BIND, nullptr) != 0)
        return SysError("bind " + v.host.string() + " on " + v.view.string());
      views->views_.push_back(v);  // unmounted by the destructor from here on
      if (::mount(nullptr, v.view.c_str(), nullptr,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
        return SysError("remount read-only " + v.view.string());
      }
      // The view lends the way to the source, not rights on the source itself.
      struct stat st {};
      if (::stat(v.host.c_str(), &st) != 0) return SysError("stat " + v.host.string());
      if (!SandboxRootMaySearch(st)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        std::string message = "sandboxes could not use " + v.host.string() + " (mode ";
        message += mode;
        message += "): others may not search or run it, and a sandbox's root is host uid ";
        message += std::to_string(kHostIdBase) + " in its user namespace; ";
        message += "make it usable (chmod o+x " + v.host.string() + ")";
        return MakeError(Errc::kUnsupported, std::move(message));
      }
    }
    return views;
  }
  // A tmpfs Alto mounted would take the views with it, but the state dir may be on a tmpfs of the
  // host's (/run), where they would stay. Lazily, so that a file open below one cannot keep the
  // server from exiting.
  ~HostViews() {
    for (const auto& v : views_) ::umount2(v.view.c_str(), MNT_DETACH);
  }
  HostViews(const HostViews&) = delete;
  HostViews& operator=(const HostViews&) = delete;

  // `path` through the view of the source holding it; unchanged if none does.
  fs::path Map(const fs::path& path) const {
    const fs::path p = fs::absolute(path).lexically_normal();
    for (const auto& v : views_) {
      const fs::path rel = p.lexically_relative(v.host);
      if (rel.empty() || *rel.begin() == "..") continue;
      return rel == "." ? v.view : v.view / rel;
    }
    return path;
  }

 private:
  HostViews() = default;
  struct View {
    fs::path host, view;
  };
  std::vector<View> views_;
};

// Creates root/rel and the directories between, each mode 0755 whatever the server's umask
// (027 is common hardening): they are root-owned, so the sandbox's processes, and runc as the
// user namespace's root, pass through them with the rights of others.
Status CreateSearchableDirs(const fs::path& root, const fs::path& rel) {
  fs::path dir = root;
  for (const auto& part : rel) {
    dir /= part;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      if (::chmod(dir.c_str(), 0755) != 0) return SysError("chmod " + dir.string());
    } else if (errno != EEXIST) {
      return SysError("create " + dir.string());
    }
  }
  return {};
}

// runc creates missing mount points itself, but inside a user namespace it may not write to the
// root-owned (and read-only) root: create them all beforehand. /tmp keeps mode 1777, which runc
// copies onto the tmpfs mounted over it.
Status CreateMountPoints(const json& config, const fs::path& rootfs) {
  std::error_code ec;
  for (const auto& m : config["mounts"]) {
    const std::string dst = m.value("destination", "");
    if (dst.empty() || dst.starts_with("/dev/")) continue;  // /dev is a tmpfs of the sandbox
    const fs::path rel = fs::path(dst).relative_path();
    fs::path target = rootfs / rel;
    const std::string src = m.value("source", "");
    bool is_file = m.value("type", "") == "bind" && !fs::is_directory(src, ec);
    if (auto st = CreateSearchableDirs(rootfs, is_file ? rel.parent_path() : rel); !st) return st;
    if (is_file && !fs::exists(target, ec)) {
      std::ofstream touch(target);
      if (!touch) return MakeError(Errc::kInternal, "create " + target.string());
    }
    if (dst == "/tmp") ::chmod(target.c_str(), 01777);
  }
  return {};
}

// What tearing a container down needs, shared by the driver and every sandbox's resources.
struct RuncSetup {
  std::shared_ptr<const SealedExecutable> sealed;  // null: runc runs from its installed path
  std::string runc;                                // what to execute: the sealed copy's path
  fs::path root;                                   // runc --root
  std::vector<std::string> background;             // argv prefix: run in the background CPU group
  std::vector<fs::path> cgroup_roots;  // every mounted cgroup hierarchy (v1 controllers, v2)
};

// Mount points of every cgroup hierarchy: one per v1 controller (or group of them), the v2
// unified one, and named ones such as name=systemd, all of which runc puts a container in.
std::vector<fs::path> CgroupRoots() {
  std::vector<fs::path> roots;
  for (const auto& m : ReadMounts()) {
    if (m.type == "cgroup" || m.type == "cgroup2") roots.emplace_back(m.target);
  }
  return roots;
}

class OciResources final : public SandboxResources {
 public:
  OciResources(std::shared_ptr<const RuncSetup> runc, std::string id, fs::path bundle,
               fs::path netns)
      : runc_(std::move(runc)),
        id_(std::move(id)),
        bundle_(std::move(bundle)),
        netns_(std::move(netns)) {}
  // Runs once the sandbox's init has been killed and reaped (Sandbox's destructor), or when a
  // start failed.
  ~OciResources() override {
    peak_memory_ = UniqueFd();
    DeleteContainer();
    UnmountTree(bundle_ / "task");  // a stem cell's code mount point
    network_.reset();
    RemoveNetnsPin(netns_);
    std::error_code ec;
    fs::remove_all(bundle_, ec);
  }
  // cgroup v1 memory.max_usage_in_bytes, or v2 memory.peak (Linux 5.19+).
  // Read after every invocation (the REPORT line's Max Memory Used): one pread on a file opened
  // once, not an open, read and close through the cgroup filesystem, which was 9-10% of the
  // server's CPU per warm invoke.
  int64_t PeakMemoryBytes() const override {
    if (!peak_memory_.valid()) return -1;
    char buf[32];
    ssize_t n = ::pread(peak_memory_.get(), buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = '\0';
    return std::strtoll(buf, nullptr, 10);
  }
  // Once the container runs (runc has made its cgroup).
  void OpenPeakMemoryCounter() {
    for (const std::string& path :
         {"/sys/fs/cgroup/memory/alto/" + id_ + "/memory.max_usage_in_bytes",
          "/sys/fs/cgroup/alto/" + id_ + "/memory.peak"}) {
      peak_memory_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (peak_memory_.valid()) return;
    }
  }
  // cgroup v1 cpuacct.usage (ns) or v2 cpu.stat usage_usec: the whole sandbox, init included.
  int64_t CpuTimeNanos() const override {
    for (const char* dir : {"/sys/fs/cgroup/cpuacct/alto/", "/sys/fs/cgroup/cpu,cpuacct/alto/"}) {
      std::ifstream in(dir + id_ + "/cpuacct.usage");
      int64_t ns = 0;
      if (in >> ns) return ns;
    }
    std::ifstream in("/sys/fs/cgroup/alto/" + id_ + "/cpu.stat");
    std::string key;
    int64_t value = 0;
    while (in >> key >> value) {
      if (key == "usage_usec") return value * 1000;
    }
    return -1;
  }
  // cgroup v1 memory.oom_control or v2 memory.events, "oom_kill N". The cgroup outlives the
  // container's processes (a detached container stays until it is deleted), until teardown.
  bool OomKilled() const override {
    for (const std::string& path : {"/sys/fs/cgroup/memory/alto/" + id_ + "/memory.oom_control",
                                    "/sys/fs/cgroup/alto/" + id_ + "/memory.events"}) {
      std::ifstream in(path);
      std::string key;
      int64_t value = 0;
      while (in >> key >> value) {
        if (key == "oom_kill") return value > 0;
      }
    }
    return false;
  }
  void SetNetwork(std::unique_ptr<NetworkLease> lease) { network_ = std::move(lease); }

 private:
  // Once the container's init is reaped its pid namespace is gone, and with it every process
  // of the container; what is left is what `runc delete` removes for a stopped container: its
  // cgroup in each hierarchy and its state directory. Doing that here saves a Go process per
  // sandbox (`runc delete --force`: 4.3 ms of CPU each, perf stat, plus the shell that puts it
  // in the background CPU group). If a cgroup is still busy, for instance because the start
  // failed half-way and left a process, `runc delete --force` does it all, killing included.
  void DeleteContainer() {
    bool stopped = true;
    for (const auto& root : runc_->cgroup_roots) {
      const fs::path dir = root / "alto" / id_;
      if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        stopped = false;
        break;
      }
    }
    if (stopped) {
      std::error_code ec;
      fs::remove_all(runc_->root / id_, ec);
      if (!ec) return;
    }
    std::vector<std::string> argv = runc_->background;
    argv.insert(argv.end(),
                {runc_->runc, "--root", runc_->root.string(), "delete", "--force", id_});
    (void)RunCommand(argv);
  }

  std::shared_ptr<const RuncSetup> runc_;
  UniqueFd peak_memory_;
  std::string id_;
  fs::path bundle_;
  fs::path netns_;
  std::unique_ptr<NetworkLease> network_;

 public:
  // Stem cells only: where the code goes, and the pipe alto-init reads its command from.
  UniqueFd spec_writer;
  std::string runtime;
  fs::path bundle() const { return bundle_; }
  const std::string& id() const { return id_; }
};

// The background group's weight against the default 1024 of every other group.
constexpr int kBackgroundCpuShares = 256;

class OciDriver final : public Driver {
 public:
  OciDriver(DriverOptions options, std::string runc,
            std::shared_ptr<const SealedExecutable> sealed_runc)
      : options_(std::move(options)) {
    std::string path = sealed_runc ? sealed_runc->path() : std::move(runc);
    setup_ = std::make_shared<RuncSetup>(RuncSetup{std::move(sealed_runc), std::move(path),
                                                   RuncRoot(), BackgroundPrefix(), CgroupRoots()});
  }
  std::string_view name() const override { return "oci"; }

  Status Init() {
    auto state = StateTmpfs::Ensure(SandboxesDir());
    if (!state) return state.error();
    state_ = std::move(state.value());
    std::error_code ec;
    for (const auto& d : {RuncRoot(), BundlesDir(), NetnsDir()}) {
      fs::create_directories(d, ec);
      if (ec) return SysError("create " + d.string(), ec.value());
      // Bundles must be searchable (not listable) by the user namespace's root.
      ::chmod(d.c_str(), d == BundlesDir() ? 0711 : 0700);
    }
    // The views below have the bundles' parents.
    if (auto st = CheckBundlesReachable(BundlesDir()); !st) return st;
    auto views = HostViews::Create(ViewsDir(), {{options_.code_root, "code"},
                                                {options_.runtimes_dir, "runtimes"},
                                                {options_.init_path, "alto-init"}});
    if (!views) return views.error();
    views_ = std::move(views.value());
    if (options_.sandbox_subnet != "none") {
      NetworkOptions no;
      no.subnet = options_.sandbox_subnet;
      no.allow = options_.sandbox_allow;
      no.state_dir = options_.state_dir;
      auto net = SandboxNetworks::Create(no);
      if (!net) return net.error();
      network_ = std::move(net.value());
    }
    return {};
  }

  Result<std::unique_ptr<Sandbox>> Start(const SandboxSpec& spec) override {
    const RuntimeInfo* rt = FindRuntime(spec.runtime);
    if (!rt) return MakeError(Errc::kInvalidArgument, "unknown runtime " + spec.runtime);
    fs::path pin = NetnsDir() / spec.id;
    auto listener = CreateIsolatedNetns(pin, kSandboxRuntimeApiPort);
    if (!listener) return listener.error();
    fs::path bundle = BundlesDir() / spec.id;
    // From here on the resources object owns the netns pin and the bundle.
    auto resources = std::make_unique<OciResources>(setup_, spec.id, bundle, pin);
    const bool networked = spec.network && network_;
    if (networked) {
      auto lease = network_->Attach(pin);
      if (!lease) return lease.error();
      resources->SetNetwork(std::move(lease.value()));
    }
    if (auto st = WriteBundle(spec, *rt, bundle, pin, networked); !st) return st.error();
    auto child = StartRunc(spec.id, bundle, -1);
    if (!child) return child.error();
    resources->OpenPeakMemoryCounter();
    return std::make_unique<Sandbox>(spec.id, std::move(child.value()), std::move(listener.value()),
                                     std::move(resources), true);
  }

  // A stem cell is the same bundle with an empty shared mount point as /var/task (bound
  // "rslave", so the code mounted there later appears inside), the stem's default limits, and
  // alto-init waiting on fd 4 for the command.
  Result<std::unique_ptr<Sandbox>> StartStem(const std::string& runtime,
                                             const fs::path& runtimes_dir) override {
    const RuntimeInfo* rt = FindRuntime(runtime);
    if (!rt) return MakeError(Errc::kInvalidArgument, "unknown runtime " + runtime);
    SandboxSpec spec;
    spec.id = "alto-stem-" + RandomHex(8);
    spec.runtime = runtime;
    spec.memory_mb = kStemMemoryMb;
    spec.ephemeral_storage_mb = kStemEphemeralStorageMb;
    spec.runtimes_dir = runtimes_dir;
    fs::path pin = NetnsDir() / spec.id;
    auto listener = CreateIsolatedNetns(pin, kSandboxRuntimeApiPort);
    if (!listener) return listener.error();
    fs::path bundle = BundlesDir() / spec.id;
    auto resources = std::make_unique<OciResources>(setup_, spec.id, bundle, pin);
    spec.code_dir = bundle / "task";
    std::error_code ec;
    fs::create_directories(spec.code_dir, ec);
    if (ec) return SysError("create " + spec.code_dir.string(), ec.value());
    // Until the code is mounted over it, this is the stem's /var/task (alto-init's cwd) with
    // its own mode, whatever the umask made it.
    if (::chmod(spec.code_dir.c_str(), 0755) != 0)
      return SysError("chmod " + spec.code_dir.string());
    if (auto st = MakeSharedMountPoint(spec.code_dir); !st) return st.error();
    // Stems are networked whenever sandboxes can be; NetworkMode none functions never take one.
    const bool networked = network_ != nullptr;
    if (networked) {
      auto lease = network_->Attach(pin);
      if (!lease) return lease.error();
      resources->SetNetwork(std::move(lease.value()));
    }
    if (auto st = WriteBundle(spec, *rt, bundle, pin, networked, /*stem=*/true); !st)
      return st.error();
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      return SysError("socketpair");
    UniqueFd reader(fds[0]);
    resources->spec_writer = UniqueFd(fds[1]);
    resources->runtime = runtime;
    // fd 4 in the child comes from a dup2, which needs a different source number.
    if (reader.get() == 4) reader = UniqueFd(::fcntl(4, F_DUPFD_CLOEXEC, 10));
    auto child = StartRunc(spec.id, bundle, reader.get(), /*background=*/true);
    if (!child) return child.error();
    resources->OpenPeakMemoryCounter();
    reader = UniqueFd();
    const int writer = resources->spec_writer.get();
    auto stem = std::make_unique<Sandbox>(spec.id, std::move(child.value()),
                                          std::move(listener.value()), std::move(resources), true);
    // Hand the stem out only once its init runs: until then runc may still be writing the
    // cgroup limits and building the mounts that Specialize changes.
    if (auto st = AwaitInitReady(writer, kStemStartTimeoutMs); !st) return st.error();
    return stem;
  }

  Status Specialize(Sandbox& stem, const SandboxSpec& spec) override {
    auto* res = dynamic_cast<OciResources*>(stem.resources());
    if (!res || !res->spec_writer.valid()) {
      return MakeError(Errc::kInvalidArgument, "sandbox " + stem.id() + " is not a stem cell");
    }
    const RuntimeInfo* rt = FindRuntime(spec.runtime);
    if (!rt || spec.runtime != res->runtime ||
        spec.ephemeral_storage_mb != kStemEphemeralStorageMb || !spec.network ||
        (RuntimeHasZygote(spec.runtime) && !FitsZygote(spec.env))) {
      return MakeError(Errc::kInvalidArgument, "function does not fit stem cell " + stem.id());
    }
    const fs::path bundle = res->bundle();
    if (auto st = MountReadOnlyOnto(spec.code_dir, bundle / "stage", bundle / "task"); !st)
      return st;
    if (auto st =
            SetCgroupLimits("/alto/" + res->id(), int64_t{spec.memory_mb} * 1024 * 1024,
                            CpuShares(spec.memory_mb), CpuQuotaUs(spec.memory_mb), kCpuPeriodUs);
        !st) {
      return st;
    }
    std::vector<std::string> args;
    for (auto& a : ExpandArgv(*rt, "/var/runtime", "/var/task", spec.memory_mb))
      args.push_back(std::move(a));
    std::string runtime_api = "127.0.0.1:" + std::to_string(kSandboxRuntimeApiPort);
    const std::string data =
        EncodeInitSpec(args, BaseRuntimeEnv(spec, "/var/task", "/var/runtime", runtime_api));
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(res->spec_writer.get(), data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("hand the function to stem cell " + stem.id());
      off += static_cast<size_t>(n);
    }
    res->spec_writer = UniqueFd();  // EOF: alto-init starts the runtime
    return {};
  }

  void CleanupStale() override {
    auto list = RunCommand({setup_->runc, "--root", RuncRoot().string(), "list", "-q"});
    if (list && list->exit_code == 0) {
      std::istringstream ids(list->output);
      for (std::string id; std::getline(ids, id);) {
        if (id.empty()) continue;
        spdlog::info("removing leftover sandbox {}", id);
        (void)RunCommand({setup_->runc, "--root", RuncRoot().string(), "delete", "--force", id});
      }
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(NetnsDir(), ec)) RemoveNetnsPin(e.path());
    for (const auto& e : fs::directory_iterator(BundlesDir(), ec)) {
      UnmountTree(e.path() / "task");  // never delete through a stem cell's code mount
      fs::remove_all(e.path(), ec);
    }
  }

 private:
  // Everything per sandbox lives on one tmpfs (sandbox/state_tmpfs.h).
  fs::path SandboxesDir() const { return options_.state_dir / "sandboxes"; }
  fs::path RuncRoot() const { return SandboxesDir() / "runc"; }
  fs::path BundlesDir() const { return SandboxesDir() / "bundles"; }
  fs::path NetnsDir() const { return SandboxesDir() / "netns"; }
  fs::path ViewsDir() const { return SandboxesDir() / "host"; }

  // Starts the container with `runc run --detach` and returns its init (alto-init) as our own
  // child: runc exits once the container runs, and the init, orphaned, is reparented to the
  // server, a child subreaper (MakeOciDriver). No runc process stays per sandbox. Blocking.
  Result<ChildProcess> StartRunc(const std::string& id, const fs::path& bundle, int spec_fd,
                                 bool background = false) {
    const fs::path pid_file = bundle / "init.pid";
    SpawnOptions so;
    if (background) so.argv = setup_->background;
    // No --keep needed: a detached container is only deleted by `runc delete`, so its cgroup
    // outlives its processes and an OOM kill can still be read from it until teardown.
    // --no-new-keyring: a session keyring per container is charged to the owner's key quota
    // (kernel.keys.maxkeys, 200 by default), and every sandbox's root is the same host uid in the
    // user namespace: past ~200 sandboxes starts would fail. Seccomp denies the keyring
    // syscalls inside anyway.
    so.argv.insert(so.argv.end(),
                   {setup_->runc, "--root", RuncRoot().string(), "run", "--detach", "--pid-file",
                    pid_file.string(), "--no-new-keyring", "--preserve-fds",
                    spec_fd >= 0 ? "2" : "1", "--bundle", bundle.string(), id});
    // Detached without a terminal, runc hands its own stdio (our pipe) to the container.
    so.output_also_on_fd3 = true;
    so.fd4 = spec_fd;
    so.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    const auto t0 = std::chrono::steady_clock::now();
    auto runc = ChildProcess::Spawn(so);
    if (!runc) return runc.error();
    UniqueFd output = runc->TakeOutput();
    // runc returns once the container runs; a runc stuck beyond that is killed, not waited for
    // forever on the blocking pool.
    pollfd p{runc->pidfd(), POLLIN, 0};
    int ready;
    while ((ready = ::poll(&p, 1, kRuncStartTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (ready == 0) runc->Kill();
    const int status = runc->Wait();
    spdlog::debug(
        "runc run --detach {}: {} us", id,
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    if (ready == 0) return MakeError(Errc::kTimeout, "runc run " + id + " did not return in 30 s");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      // The container may hold the pipe's write end: read what runc said without blocking.
      std::string said(4096, '\0');
      const int flags = ::fcntl(output.get(), F_GETFL);
      ::fcntl(output.get(), F_SETFL, flags | O_NONBLOCK);
      ssize_t n = ::read(output.get(), said.data(), said.size());
      said.resize(n > 0 ? static_cast<size_t>(n) : 0);
      return MakeError(Errc::kInternal,
                       "runc run " + id + ": " + DescribeWaitStatus(status) + ": " + said);
    }
    std::ifstream in(pid_file);
    pid_t pid = -1;
    if (!(in >> pid) || pid <= 0)
      return MakeError(Errc::kInternal, "runc run " + id + ": no pid in " + pid_file.string());
    return ChildProcess::Adopt(pid, std::move(output));
  }

  Status WriteBundle(const SandboxSpec& spec, const RuntimeInfo& rt, const fs::path& bundle,
                     const fs::path& pin, bool networked, bool stem = false) {
    std::error_code ec;
    fs::path rootfs = bundle / "rootfs";
    fs::create_directories(rootfs, ec);
    if (ec) return SysError("create " + rootfs.string(), ec.value());
    // Whatever the umask: runc reaches the root as the user namespace's root. The bundle is not
    // listable by others (its config holds the function's environment, mode 0600 anyway).
    if (::chmod(bundle.c_str(), 0711) != 0) return SysError("chmod " + bundle.string());
    if (::chmod(rootfs.c_str(), 0755) != 0) return SysError("chmod " + rootfs.string());
    // Merged-/usr hosts: /bin, /lib... are symlinks into /usr; mirror them in the root.
    for (const char* top : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
      fs::path host = fs::path("/") / top;
      if (fs::is_symlink(host, ec))
        fs::create_symlink(fs::read_symlink(host, ec), rootfs / top, ec);
    }
    std::string runtime_api = "127.0.0.1:" + std::to_string(kSandboxRuntimeApiPort);
    const BindSources from{views_->Map(spec.code_dir), views_->Map(spec.runtimes_dir),
                           views_->Map(options_.init_path)};
    json config = BuildConfig(spec, rt, pin, runtime_api, from);
    // Name resolution for networked sandboxes: the host's resolv.conf, read-only.
    if (networked && !network_->resolv_conf().empty())
      config["mounts"].push_back(RoBind(network_->resolv_conf().string(), "/etc/resolv.conf"));
    if (stem && RuntimeHasZygote(spec.runtime)) {
      // The runtime starts now, with the environment every function of it shares (the same task
      // root, runtime dir and Runtime API address in every oci sandbox), and waits for the rest.
      std::vector<std::string> args = InitCommand({"--spec-fd=4", "--zygote", "--"});
      for (auto& a : ExpandArgv(rt, "/var/runtime", "/var/task", spec.memory_mb))
        args.push_back(std::move(a));
      args.push_back("--zygote-fd=4");
      config["process"]["args"] = args;
      config["process"]["env"] = BaseRuntimeEnv(
          spec, "/var/task", "/var/runtime", "127.0.0.1:" + std::to_string(kSandboxRuntimeApiPort));
    } else if (stem) {
      config["process"]["args"] = InitCommand({"--spec-fd=4"});
      config["process"]["env"] = {"PATH=/usr/bin:/bin"};
    }
    if (stem) {
      for (auto& m : config["mounts"]) {
        if (m["destination"] == "/var/task") m["options"].push_back("rslave");
      }
    }
    if (auto st = CreateMountPoints(config, rootfs); !st) return st;
    // The config holds the function's environment (secrets): readable by root only.
    fs::path config_path = bundle / "config.json";
    std::ofstream out(config_path);
    ::chmod(config_path.c_str(), 0600);
    out << config.dump();
    out.close();
    if (!out) return MakeError(Errc::kInternal, "write " + config_path.string());
    return {};
  }

  // Work done ahead of or after demand (a stem cell's runc run, every runc delete) runs in a
  // cgroup v1 CPU group of low weight, so that on a busy host it yields the CPUs to invocations
  // and the cold starts they wait on. The container's own processes leave it for their sandbox's
  // cgroup. Containment does not wait on it: a sandbox is killed through its init first.
  // Returns the argv prefix that starts a command in the group; empty without cgroup v1 cpu.
  static std::vector<std::string> BackgroundPrefix() {
    const fs::path group = "/sys/fs/cgroup/cpu/alto-background";
    std::error_code ec;
    if (!fs::exists("/sys/fs/cgroup/cpu/cpu.shares", ec)) return {};
    fs::create_directories(group, ec);
    std::ofstream shares(group / "cpu.shares");
    shares << kBackgroundCpuShares;
    shares.close();
    if (ec || !shares) {
      spdlog::warn("no background CPU group at {}: stem cells start at normal priority",
                   group.string());
      return {};
    }
    return {"/bin/sh", "-c", "echo $$ > " + (group / "cgroup.procs").string() + " && exec \"$@\"",
            "sh"};
  }

  DriverOptions options_;
  std::unique_ptr<StateTmpfs> state_;         // declared first: unmounted last
  std::shared_ptr<const RuncSetup> setup_;    // runc's path, root and teardown needs
  std::unique_ptr<HostViews> views_;          // after state_: unmounted before it
  std::unique_ptr<SandboxNetworks> network_;  // null with --sandbox-subnet none
};

std::string FindExecutable(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates) {
    for (const char* dir :
         {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/", "/usr/local/bin/", "/usr/local/sbin/"}) {
      std::string p = std::string(dir) + c;
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
  }
  return {};
}

// runc versions with known container escapes. A distribution may backport a fix into an older
// version, so its changelog is consulted before refusing.
Status CheckRuncVersion(const std::string& runc, const std::string& version_output) {
  int major = 0, minor = 0, patch = 0;
  if (std::sscanf(version_output.c_str(), "runc version %d.%d.%d", &major, &minor, &patch) != 3) {
    spdlog::warn("cannot read the version of {}: {}", runc, version_output.substr(0, 80));
    return {};
  }
  auto older_than = [&](int a, int b, int c) {
    return std::tie(major, minor, patch) < std::tie(a, b, c);
  };
  std::string changelog;
  if (auto log = RunCommand({"/bin/zcat", "/usr/share/doc/runc/changelog.Debian.gz"});
      log && log->exit_code == 0) {
    changelog = log->output;
  }
  // CVE-2019-5736 (overwrite the host runc binary through /proc/self/exe): fixed in 1.0.0-rc7.
  if (older_than(1, 0, 0)) {
    return MakeError(Errc::kUnsupported,
                     runc + " " + version_output.substr(0, 40) +
                         " is vulnerable to CVE-2019-5736; install runc 1.1.12 or later");
  }
  // CVE-2024-21626 (leaked fd to the host's cgroupfs as the working directory): fixed in 1.1.12.
  if (older_than(1, 1, 12) && changelog.find("CVE-2024-21626") == std::string::npos) {
    return MakeError(Errc::kUnsupported,
                     runc + " " + version_output.substr(0, 40) +
                         " is vulnerable to CVE-2024-21626 and carries no fix for it; "
                         "install runc 1.1.12 or later");
  }
  // CVE-2025-31133 family (symlinked /dev/null or /dev/console during masking): these need an
  // attacker-controlled root filesystem. Alto's bundles have an empty read-only root of its own,
  // read-only binds and a fresh /dev tmpfs, so nothing is there to race; still say so.
  if (older_than(1, 2, 8) && changelog.find("CVE-2025-31133") == std::string::npos) {
    spdlog::warn(
        "{} lacks the fixes for CVE-2025-31133/-52565/-52881; Alto's bundle layout leaves these "
        "attacks nothing to race, but upgrading runc is advised",
        runc);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Driver>> MakeOciDriver(const DriverOptions& options) {
  if (::geteuid() != 0) {
    return MakeError(Errc::kUnsupported,
                     "the oci driver needs root; use --driver process for development");
  }
  std::string runc = options.runc_path.empty() ? FindExecutable({"runc"}) : options.runc_path;
  if (runc.empty()) return MakeError(Errc::kUnsupported, "runc not found (apt-get install runc)");
  auto version = RunCommand({runc, "--version"});
  if (!version || version->exit_code != 0) {
    return MakeError(Errc::kUnsupported, runc + " --version failed: " +
                                             (version ? version->output : version.error().message));
  }
  if (auto st = CheckRuncVersion(runc, version->output); !st) return st.error();
  if (::access(options.init_path.c_str(), X_OK) != 0) {
    return MakeError(Errc::kUnsupported,
                     "sandbox init " + options.init_path.string() + " not found next to alto");
  }
  // Sandboxes' inits outlive `runc run --detach` and must become our children (StartRunc).
  if (auto st = BecomeChildSubreaper(); !st) return st.error();
  // Every runc runs from one sealed copy, so that no `runc init` copies itself (sealed_exe.h).
  std::shared_ptr<const SealedExecutable> sealed;
  if (auto copy = SealedExecutable::Copy(runc)) {
    sealed = std::make_shared<const SealedExecutable>(std::move(copy.value()));
  } else {
    spdlog::warn("runc runs from {}, so each sandbox start copies it: {}", runc,
                 copy.error().message);
  }
  auto driver = std::make_unique<OciDriver>(options, runc, std::move(sealed));
  if (auto st = driver->Init(); !st) return st.error();
  return std::unique_ptr<Driver>(std::move(driver));
}

}  // namespace alto
