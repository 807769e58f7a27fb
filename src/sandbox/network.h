// Outbound networking for oci sandboxes: an Alto bridge per server, a veth per sandbox, NAT out,
// and nftables rules that keep sandboxes away from the host, from each other, from link-local
// metadata addresses and from private networks (docs/sandbox.md, step 1).
//
// Several servers share a host: each one holds a /24 "slice" of --sandbox-subnet, claimed with
// flock on /run/alto-net/<key>.lock for the server's lifetime (the kernel drops the lock when
// the process dies, even on kill -9). Every kernel object is named after the slice key (bridge
// altob<key>, veths altov<address>, nftables table inet alto_<key>), so whoever next claims a
// free slice, or sweeps orphans at start, knows exactly what to delete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

struct Ipv4Net {
  uint32_t addr = 0;  // host byte order, masked to the prefix
  int prefix = 0;
  bool Contains(uint32_t ip) const;
};

// "10.213.0.0/16" -> {0x0ad50000, 16}. Host bits must be zero.
Result<Ipv4Net> ParseIpv4Net(const std::string& text);
std::string FormatIpv4(uint32_t addr);
std::string FormatIpv4Net(const Ipv4Net& net);
// Nameserver addresses listed in a resolv.conf text (IPv4 only).
std::vector<uint32_t> ParseNameservers(const std::string& resolv_conf);

struct NetworkOptions {
  std::string subnet = "10.213.0.0/16";  // split in /24 slices, one per server
  std::vector<std::string> allow;        // private CIDRs sandboxes may reach anyway
  std::filesystem::path state_dir;       // records the slice for the next start
  std::filesystem::path lock_dir = "/run/alto-net";
};

// The nftables ruleset of one slice (pure, for tests and for `nft -f`).
struct RulesetInput {
  std::string table, bridge;
  Ipv4Net slice, subnet;
  std::vector<Ipv4Net> allow;
  std::vector<uint32_t> nameservers;
};
std::string BuildRuleset(const RulesetInput& in);

class SandboxNetwork;

// One sandbox's attachment: its veth and address. Destruction deletes the veth (both ends) and
// frees the address. Blocking.
class NetworkLease {
 public:
  NetworkLease(std::shared_ptr<SandboxNetwork> net, uint32_t addr, std::string veth);
  ~NetworkLease();
  NetworkLease(const NetworkLease&) = delete;
  NetworkLease& operator=(const NetworkLease&) = delete;
  uint32_t address() const { return addr_; }
  const std::string& veth() const { return veth_; }

 private:
  std::shared_ptr<SandboxNetwork> net_;
  uint32_t addr_;
  std::string veth_;
};

// One /24 slice: its bridge, rules and addresses (at most 253 sandboxes).
class SandboxNetwork : public std::enable_shared_from_this<SandboxNetwork> {
 public:
  // Claims a slice, sweeps what dead servers left, creates the bridge and the rules. The first
  // slice of a server prefers the one its state dir had last time and records its own; further
  // ones take any free slice. Blocking.
  static Result<std::shared_ptr<SandboxNetwork>> Create(const NetworkOptions& options,
                                                        bool first = true);
  ~SandboxNetwork();  // removes the rules and the bridge; the lock goes with the fd
  SandboxNetwork(const SandboxNetwork&) = delete;
  SandboxNetwork& operator=(const SandboxNetwork&) = delete;

  // Gives the namespace pinned at `pin` an eth0 on the bridge, an address and a default route.
  Result<std::unique_ptr<NetworkLease>> Attach(const std::filesystem::path& pin);
  // The host's resolv.conf to bind into sandboxes (empty when none fits).
  const std::filesystem::path& resolv_conf() const { return resolv_conf_; }
  const std::string& bridge() const { return bridge_; }
  const Ipv4Net& slice() const { return slice_; }
  uint32_t gateway() const { return slice_.addr + 1; }

 private:
  friend class NetworkLease;
  SandboxNetwork() = default;
  Status Setup(const NetworkOptions& options, bool first);
  void Release(uint32_t addr, const std::string& veth);

  std::string ip_, nft_;  // tool paths
  Ipv4Net slice_;
  std::string key_, bridge_, table_;
  int bridge_index_ = 0;  // the veths' master
  UniqueFd lock_;
  std::filesystem::path resolv_conf_;
  bool created_ = false;
  std::mutex mu_;
  std::vector<bool> used_;  // by host index within the slice
  uint32_t next_ = 2;       // next-fit, so a freed address (and veth name) rests a while
};

// Every slice one server holds. It starts with one and claims another whenever all are full, so a
// server is not capped at one /24: a Linux bridge takes at most 1024 ports, and a slice a bridge
// each keeps both limits away. Slices are kept until the server stops (an idle bridge and its
// rules cost next to nothing). Thread-safe; blocking.
class SandboxNetworks {
 public:
  static Result<std::unique_ptr<SandboxNetworks>> Create(const NetworkOptions& options);

  // An address in the first slice with one free, else in a newly claimed slice. Throttled when
  // every slice of --sandbox-subnet is in use (here or by other servers).
  Result<std::unique_ptr<NetworkLease>> Attach(const std::filesystem::path& pin);
  const std::filesystem::path& resolv_conf() const { return resolv_conf_; }
  size_t slice_count() const;

 private:
  explicit SandboxNetworks(NetworkOptions options) : options_(std::move(options)) {}
  std::vector<std::shared_ptr<SandboxNetwork>> Snapshot() const;

  const NetworkOptions options_;
  std::filesystem::path resolv_conf_;
  mutable std::mutex mu_;  // guards slices_
  std::vector<std::shared_ptr<SandboxNetwork>> slices_;
  std::mutex grow_mu_;  // one claim at a time
};

}  // namespace alto
