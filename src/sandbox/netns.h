// Per-sandbox network namespaces. In the oci driver each sandbox gets a namespace of its own
// with only a loopback interface; Alto creates the sandbox's Runtime API socket *inside* it
// (127.0.0.1:9001, as Lambda's emulator uses) and accepts on it from outside, so the runtime
// reaches its own endpoint and nothing else: no other sandbox, no host port.
#pragma once

#include <filesystem>

#include "common/result.h"
#include "sandbox/unique_fd.h"

namespace alto {

constexpr uint16_t kSandboxRuntimeApiPort = 9001;

// Creates the namespace, pins it with a bind mount at pin_path (so runc can join it by path and
// a restarted server can find it), and returns the listening socket created in it.
Result<UniqueFd> CreateIsolatedNetns(const std::filesystem::path& pin_path, uint16_t port);
// Unmounts and removes a pin; harmless if absent.
void RemoveNetnsPin(const std::filesystem::path& pin_path);

}  // namespace alto
