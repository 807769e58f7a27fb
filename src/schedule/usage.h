// Per-function resource use of ended sandboxes, for metering and charge-back: the CPU time the
// sandbox's processes used (init included) and the memory the node held for it over its life.
// Sandboxes end on the blocking pool, so updates take a lock; /metrics reads a snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace alto {

struct SandboxUsage {
  uint64_t sandboxes = 0;          // sandboxes ended
  double cpu_seconds = 0;          // their processes' CPU time
  double reserved_gb_seconds = 0;  // MemorySize x lifetime: what the node held for them
  int64_t peak_memory_bytes = 0;   // the highest peak of any of them
};

class UsageLedger {
 public:
  void Add(const std::string& function, const SandboxUsage& u) {
    std::lock_guard lock(mu_);
    SandboxUsage& total = by_function_[function];
    total.sandboxes += u.sandboxes;
    total.cpu_seconds += u.cpu_seconds;
    total.reserved_gb_seconds += u.reserved_gb_seconds;
    if (u.peak_memory_bytes > total.peak_memory_bytes)
      total.peak_memory_bytes = u.peak_memory_bytes;
  }
  std::map<std::string, SandboxUsage> Snapshot() const {
    std::lock_guard lock(mu_);
    return by_function_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, SandboxUsage> by_function_;
};

}  // namespace alto
