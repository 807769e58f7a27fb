// Per-sandbox network namespaces. In the oci driver each sandbox gets a namespace of its own
// with a loopback interface (and, unless its function's NetworkMode is none, an eth0 on Alto's
// bridge: sandbox/network.h); Alto creates the sandbox's Runtime API socket *inside* it
// (127.0.0.1:9001, as Lambda's emulator uses) and accepts on it from outside, so the runtime
// reaches its own endpoint; the rules of sandbox/network.h keep it from other sandboxes and
// host ports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

constexpr uint16_t kSandboxRuntimeApiPort = 9001;

// Creates the namespace, pins it with a bind mount at pin_path (so runc can join it by path and
// a restarted server can find it), and returns the listening socket created in it.
Result<UniqueFd> CreateIsolatedNetns(const std::filesystem::path& pin_path, uint16_t port);
// Unmounts and removes a pin; harmless if absent.
void RemoveNetnsPin(const std::filesystem::path& pin_path);
// Inside the namespace pinned at pin_path: gives `ifname` addr/prefix, brings it up and adds a
// default route via gateway (addresses in host byte order).
Status ConfigureNetnsInterface(const std::filesystem::path& pin_path, const std::string& ifname,
                               uint32_t addr, int prefix, uint32_t gateway);

}  // namespace alto
