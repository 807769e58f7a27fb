#include "sandbox/network.h"

#include <fcntl.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "sandbox/netns.h"
#include "sandbox/process.h"
#include "sandbox/rtnl.h"

namespace alto {

namespace fs = std::filesystem;

namespace {

constexpr int kSlicePrefix = 24;
constexpr const char* kBridgePrefix = "altob";
constexpr const char* kVethPrefix = "altov";
constexpr const char* kTablePrefix = "alto_";

std::string FindTool(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

Status Run(const std::vector<std::string>& argv) {
  auto r = RunCommand(argv);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return MakeError(Errc::kInternal, cmd + ": " + r->output);
  }
  return {};
}

std::string Hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, v);
  return buf;
}

// A slice's key: the top 24 bits of its network address in hex ("0ad505" for 10.213.5.0/24).
std::string SliceKey(uint32_t slice_addr) { return Hex(slice_addr >> 8, 6); }

bool IsHexKey(const std::string& s) {
  return s.size() == 6 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

UniqueFd TryLock(const fs::path& lock_dir, const std::string& key) {
  UniqueFd fd(::open((lock_dir / (key + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return {};
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
  return fd;
}

// Deletes what a server holding slice `key` created: its veths, its bridge, its rules.
// A crashed server can leave up to 253 veths: deleted over one netlink socket, not an `ip` each.
void RemoveSliceObjects(const std::string& nft, const std::string& key,
                        const std::vector<std::string>& links) {
  if (auto rtnl = RtnlSocket::Open()) {
    for (const auto& l : links) {
      if (l.starts_with(std::string(kVethPrefix) + key)) (void)rtnl->DeleteLink(l);
    }
    (void)rtnl->DeleteLink(kBridgePrefix + key);
  } else {
    spdlog::warn("network: cannot sweep slice {}: {}", key, rtnl.error().message);
  }
  (void)RunCommand({nft, "delete", "table", "inet", kTablePrefix + key});
}

std::vector<std::string> ListLinks(const std::string& ip) {
  std::vector<std::string> names;
  auto r = RunCommand({ip, "-o", "link", "show"});
  if (!r || r->exit_code != 0) return names;
  std::istringstream in(r->output);
  for (std::string line; std::getline(in, line);) {
    // "12: altov0ad50502@if3: <...>"
    auto a = line.find(": ");
    if (a == std::string::npos) continue;
    auto name = line.substr(a + 2);
    name = name.substr(0, name.find_first_of(":@ "));
    if (name.starts_with("alto")) names.push_back(name);
  }
  return names;
}

std::vector<std::string> ListTables(const std::string& nft) {
  std::vector<std::string> keys;
  auto r = RunCommand({nft, "list", "tables", "inet"});
  if (!r || r->exit_code != 0) return keys;
  std::istringstream in(r->output);
  for (std::string line; std::getline(in, line);) {
    const std::string prefix = std::string("table inet ") + kTablePrefix;
    if (line.starts_with(prefix)) keys.push_back(line.substr(prefix.size()));
  }
  return keys;
}

// The resolv.conf sandboxes get: with systemd-resolved's stub (127.0.0.53, unreachable from a
// sandbox) the file listing the real upstream servers, else the host's own.
fs::path PickResolvConf() {
  std::error_code ec;
  fs::path etc = fs::canonical("/etc/resolv.conf", ec);
  if (ec) return {};
  if (etc.string().find("stub-resolv") != std::string::npos &&
      fs::exists("/run/systemd/resolve/resolv.conf", ec)) {
    return "/run/systemd/resolve/resolv.conf";
  }
  return etc;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

bool Ipv4Net::Contains(uint32_t ip) const {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (ip & mask) == addr;
}

Result<Ipv4Net> ParseIpv4Net(const std::string& text) {
  unsigned a, b, c, d;
  int prefix = -1;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u/%d%c", &a, &b, &c, &d, &prefix, &tail) != 5 ||
      a > 255 || b > 255 || c > 255 || d > 255 || prefix < 0 || prefix > 32) {
    return MakeError(Errc::kInvalidArgument, "not an IPv4 CIDR: '" + text + "'");
  }
  Ipv4Net n{(a << 24) | (b << 16) | (c << 8) | d, prefix};
  if (!n.Contains(n.addr)) {
    return MakeError(Errc::kInvalidArgument, "host bits set in '" + text + "'");
  }
  return n;
}

std::string FormatIpv4(uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." +
         std::to_string((v >> 8) & 255) + "." + std::to_string(v & 255);
}

std::string FormatIpv4Net(const Ipv4Net& n) {
  return FormatIpv4(n.addr) + "/" + std::to_string(n.prefix);
}

std::vector<uint32_t> ParseNameservers(const std::string& text) {
  std::vector<uint32_t> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    if (auto n = ParseIpv4Net(value + "/32")) out.push_back(n->addr);
  }
  return out;
}

std::string BuildRuleset(const RulesetInput& in) {
  const std::string br = "\"" + in.bridge + "\"";
  const std::string reject = "reject with icmpx type admin-prohibited";
  std::ostringstream r;
  // Re-declaring then deleting makes the load replace any older copy, atomically.
  r << "table inet " << in.table << " {}\n"
    << "delete table inet " << in.table << "\n"
    << "table inet " << in.table
    << " {\n"
    // Priority just before the usual filter tables: a drop here is final for the packet.
    << "  chain input {\n"
    << "    type filter hook input priority filter - 1; policy accept;\n"
    // Replies to connections the host opened may pass; nothing a sandbox opens.
    << "    iifname " << br << " ct state established,related accept\n"
    << "    iifname " << br << " " << reject << "  # no host port, on any address\n"
    << "  }\n"
    << "  chain forward {\n"
    << "    type filter hook forward priority filter - 1; policy accept;\n"
    << "    iifname " << br << " meta nfproto ipv6 " << reject << "\n"
    << "    iifname " << br << " ip saddr != " << FormatIpv4Net(in.slice) << " drop  # spoofed\n"
    << "    iifname " << br << " oifname " << br << " " << reject << "  # sandbox to sandbox\n";
  for (uint32_t ns : in.nameservers) {
    if ((ns >> 24) == 127) continue;  // the host's own stub resolver is out of reach anyway
    r << "    iifname " << br << " ip daddr " << FormatIpv4(ns) << " meta l4proto { tcp, udp } "
      << "th dport 53 accept  # DNS\n";
  }
  for (const auto& a : in.allow)
    r << "    iifname " << br << " ip daddr " << FormatIpv4Net(a) << " accept\n";
  r << "    iifname " << br << " ip daddr { " << FormatIpv4Net(in.subnet)
    << ", 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, "
       "192.0.0.0/24, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/3 } "
    << reject
    << "\n"
    // Nothing may open a connection into a sandbox (other servers' sandboxes, the outside).
    << "    oifname " << br << " ct state established,related accept\n"
    << "    oifname " << br << " drop\n"
    << "  }\n"
    << "  chain postrouting {\n"
    << "    type nat hook postrouting priority srcnat; policy accept;\n"
    << "    ip saddr " << FormatIpv4Net(in.slice) << " oifname != " << br << " masquerade\n"
    << "  }\n"
    << "}\n";
  return r.str();
}

NetworkLease::NetworkLease(std::shared_ptr<SandboxNetwork> net, uint32_t addr, std::string veth)
    : net_(std::move(net)), addr_(addr), veth_(std::move(veth)) {}

NetworkLease::~NetworkLease() { net_->Release(addr_, veth_); }

Result<std::shared_ptr<SandboxNetwork>> SandboxNetwork::Create(const NetworkOptions& options,
                                                               bool first) {
  std::shared_ptr<SandboxNetwork> net(new SandboxNetwork());
  if (auto st = net->Setup(options, first); !st) return st.error();
  return net;
}

Status SandboxNetwork::Setup(const NetworkOptions& o, bool first) {
  ip_ = FindTool("ip");
  nft_ = FindTool("nft");
  if (ip_.empty()) return MakeError(Errc::kUnsupported, "ip not found (apt-get install iproute2)");
  if (nft_.empty()) {
    return MakeError(Errc::kUnsupported,
                     "nft not found (apt-get install nftables), or pass --sandbox-subnet none to "
                     "give sandboxes no network");
  }
  auto subnet = ParseIpv4Net(o.subnet);
  if (!subnet) return subnet.error();
  if (subnet->prefix < 8 || subnet->prefix > kSlicePrefix) {
    return MakeError(Errc::kInvalidArgument,
                     "--sandbox-subnet needs a prefix between /8 and /24: " + o.subnet);
  }
  std::vector<Ipv4Net> allow;
  for (const auto& a : o.allow) {
    auto n = ParseIpv4Net(a);
    if (!n) return n.error();
    allow.push_back(*n);
  }
  std::error_code ec;
  fs::create_directories(o.lock_dir, ec);
  if (ec) return SysError("create " + o.lock_dir.string(), ec.value());

  // Claim a slice: the one this state dir had last time (so its leftovers are ours to clean),
  // else the first free one from a point that depends on the state dir.
  const uint32_t count = uint32_t{1} << (kSlicePrefix - subnet->prefix);
  const fs::path record = o.state_dir / "network-slice";
  std::vector<uint32_t> order;
  if (auto prev = ParseIpv4Net(ReadFile(record)); first && prev && subnet->Contains(prev->addr))
    order.push_back((prev->addr - subnet->addr) >> 8);
  const uint32_t start =
      static_cast<uint32_t>(Fnv1a(fs::absolute(o.state_dir).lexically_normal().string()) % count);
  for (uint32_t i = 0; i < count; ++i) order.push_back((start + i) % count);
  for (uint32_t idx : order) {
    uint32_t addr = subnet->addr + (idx << 8);
    if (auto fd = TryLock(o.lock_dir, SliceKey(addr)); fd.valid()) {
      lock_ = std::move(fd);
      slice_ = {addr, kSlicePrefix};
      break;
    }
  }
  if (!lock_.valid()) {
    return MakeError(Errc::kUnavailable, "every /24 of --sandbox-subnet " + o.subnet +
                                             " is held, by this or another alto server");
  }
  key_ = SliceKey(slice_.addr);
  bridge_ = kBridgePrefix + key_;
  table_ = kTablePrefix + key_;
  used_.assign(256, false);
  if (first) std::ofstream(record) << FormatIpv4Net(slice_) << "\n";

  // Sweep: objects of slices nobody holds were left by a server that died (ours included).
  auto links = ListLinks(ip_);
  std::set<std::string> keys = {key_};
  for (const auto& l : links) {
    for (const char* p : {kBridgePrefix, kVethPrefix}) {
      if (l.starts_with(p) && l.size() >= 11 && IsHexKey(l.substr(5, 6)))
        keys.insert(l.substr(5, 6));
    }
  }
  for (const auto& k : ListTables(nft_))
    if (IsHexKey(k)) keys.insert(k);
  for (const auto& k : keys) {
    UniqueFd other;
    if (k != key_) {
      other = TryLock(o.lock_dir, k);
      if (!other.valid()) continue;  // a live server's
    }
    spdlog::info("network: removing leftovers of slice {}", k);
    RemoveSliceObjects(nft_, k, links);
  }

  // The bridge, holding the gateway address; no IPv6 on it (nothing to reach there).
  created_ = true;
  if (auto st = Run({ip_, "link", "add", bridge_, "type", "bridge"}); !st) return st;
  std::ofstream("/proc/sys/net/ipv6/conf/" + bridge_ + "/disable_ipv6") << "1\n";
  const std::string gw = FormatIpv4(gateway()) + "/" + std::to_string(kSlicePrefix);
  if (auto st = Run({ip_, "addr", "add", gw, "dev", bridge_}); !st) return st;
  if (auto st = Run({ip_, "link", "set", bridge_, "up"}); !st) return st;
  bridge_index_ = static_cast<int>(::if_nametoindex(bridge_.c_str()));
  if (bridge_index_ == 0) return SysError("if_nametoindex " + bridge_);

  // NAT needs forwarding; it is host-wide (as Docker does), so only ever switched on.
  if (ReadFile("/proc/sys/net/ipv4/ip_forward").starts_with("0")) {
    spdlog::info("network: enabling net.ipv4.ip_forward for sandboxes' outbound traffic");
    std::ofstream("/proc/sys/net/ipv4/ip_forward") << "1\n";
  }

  resolv_conf_ = PickResolvConf();
  RulesetInput rules{table_, bridge_, slice_, *subnet, allow, {}};
  if (!resolv_conf_.empty()) rules.nameservers = ParseNameservers(ReadFile(resolv_conf_));
  const fs::path rules_file = o.state_dir / "network.nft";
  std::ofstream(rules_file) << BuildRuleset(rules);
  if (auto st = Run({nft_, "-f", rules_file.string()}); !st) return st;
  spdlog::info("network: sandboxes on {} via bridge {} ({}), NAT out", FormatIpv4Net(slice_),
               bridge_, FormatIpv4(gateway()));
  return {};
}

SandboxNetwork::~SandboxNetwork() {
  if (!created_) return;
  (void)RunCommand({nft_, "delete", "table", "inet", table_});
  if (auto rtnl = RtnlSocket::Open()) (void)rtnl->DeleteLink(bridge_);
}

Result<std::unique_ptr<NetworkLease>> SandboxNetwork::Attach(const fs::path& pin) {
  const auto t0 = std::chrono::steady_clock::now();
  uint32_t host = 0;
  {
    std::lock_guard lock(mu_);
    for (uint32_t i = 0; i < 253 && host == 0; ++i) {
      uint32_t h = 2 + (next_ - 2 + i) % 253;  // .2 .. .254
      if (!used_[h]) host = h;
    }
    if (host == 0)
      return MakeError(Errc::kThrottled, "no free sandbox address in " + FormatIpv4Net(slice_));
    used_[host] = true;
    next_ = host + 1 > 254 ? 2 : host + 1;
  }
  const uint32_t addr = slice_.addr + host;
  // From here the lease owns the address and (once made) the veth.
  auto lease = std::make_unique<NetworkLease>(shared_from_this(), addr, kVethPrefix + Hex(addr, 8));
  UniqueFd ns(::open(pin.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return SysError("open netns " + pin.string());
  // A socket per call: Attach runs on several pool threads at once.
  auto rtnl = RtnlSocket::Open();
  if (!rtnl) return rtnl.error();
  auto st = rtnl->AddVeth(lease->veth(), bridge_index_, "eth0", ns.get());
  if (!st && st.error().code == Errc::kConflict) {
    // A veth of an earlier sandbox whose namespace the kernel has not finished tearing down.
    (void)rtnl->DeleteLink(lease->veth());
    st = rtnl->AddVeth(lease->veth(), bridge_index_, "eth0", ns.get());
  }
  if (!st) {
    return MakeError(Errc::kInternal, "add veth " + lease->veth() + " on " + bridge_ +
                                          " with peer eth0 in netns " + pin.string() + ": " +
                                          st.error().message);
  }
  // Port isolation: the bridge forwards nothing between two sandboxes' ports.
  std::ofstream iso("/sys/class/net/" + lease->veth() + "/brport/isolated");
  iso << "1\n";
  iso.close();
  if (!iso) return MakeError(Errc::kInternal, "cannot isolate bridge port " + lease->veth());
  if (auto c = ConfigureNetnsInterface(pin, "eth0", addr, kSlicePrefix, gateway()); !c)
    return c.error();
  spdlog::debug(
      "network: attached {} in {} us", lease->veth(),
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
  return lease;
}

void SandboxNetwork::Release(uint32_t addr, const std::string& veth) {
  // Deleting one end deletes the pair; gone already if the namespace died first.
  auto rtnl = RtnlSocket::Open();
  Status st = rtnl ? rtnl->DeleteLink(veth) : Status(rtnl.error());
  if (!st && st.error().code != Errc::kNotFound)
    spdlog::warn("network: cannot delete veth {}: {}", veth, st.error().message);
  std::lock_guard lock(mu_);
  used_[addr - slice_.addr] = false;
}

Result<std::unique_ptr<SandboxNetworks>> SandboxNetworks::Create(const NetworkOptions& options) {
  std::unique_ptr<SandboxNetworks> nets(new SandboxNetworks(options));
  auto first = SandboxNetwork::Create(options, /*first=*/true);
  if (!first) return first.error();
  nets->resolv_conf_ = (*first)->resolv_conf();
  nets->slices_.push_back(std::move(first.value()));
  return nets;
}

std::vector<std::shared_ptr<SandboxNetwork>> SandboxNetworks::Snapshot() const {
  std::lock_guard lock(mu_);
  return slices_;
}

size_t SandboxNetworks::slice_count() const {
  std::lock_guard lock(mu_);
  return slices_.size();
}

Result<std::unique_ptr<NetworkLease>> SandboxNetworks::Attach(const fs::path& pin) {
  size_t tried = 0;
  for (;;) {
    const auto slices = Snapshot();
    for (size_t i = tried; i < slices.size(); ++i) {
      auto lease = slices[i]->Attach(pin);
      if (lease || lease.error().code != Errc::kThrottled) return lease;
    }
    tried = slices.size();
    std::lock_guard grow(grow_mu_);
    if (slice_count() > tried) continue;  // another start claimed one meanwhile: try it
    // Addresses freed in the slices tried meanwhile are found by the next start.
    auto more = SandboxNetwork::Create(options_, /*first=*/false);
    if (!more) {
      if (more.error().code != Errc::kUnavailable) return more.error();
      return MakeError(Errc::kThrottled, "no free sandbox address: all " + std::to_string(tried) +
                                             " slices of " + options_.subnet +
                                             " this server holds are full, and " +
                                             more.error().message);
    }
    spdlog::info("network: the {} slices held are full; claimed {} (bridge {})", tried,
                 FormatIpv4Net((*more)->slice()), (*more)->bridge());
    std::lock_guard lock(mu_);
    slices_.push_back(std::move(more.value()));
  }
}

}  // namespace alto
