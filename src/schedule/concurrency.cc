#include "schedule/concurrency.h"

#include <algorithm>

namespace alto {

ConcurrencyLimits::ConcurrencyLimits(int node_limit, int min_unreserved)
    : node_limit_(std::max(1, node_limit)),
      min_unreserved_(std::clamp(min_unreserved, 0, std::max(1, node_limit))) {}

int ConcurrencyLimits::running(const std::string& function) const {
  auto it = entries_.find(function);
  return it == entries_.end() ? 0 : it->second.running;
}

int ConcurrencyLimits::reservation(const std::string& function) const {
  auto it = entries_.find(function);
  return it == entries_.end() ? -1 : it->second.reserved;
}

Status ConcurrencyLimits::CheckReservation(const std::string& function, int reserved) const {
  if (reserved < 0) return {};
  int others = reserved_total_ - std::max(0, reservation(function));
  if (node_limit_ - others - reserved < min_unreserved_) {
    return MakeError(Errc::kInvalidArgument,
                     "Specified ReservedConcurrentExecutions for function decreases account's "
                     "UnreservedConcurrentExecution below its minimum value of [" +
                         std::to_string(min_unreserved_) + "].");
  }
  return {};
}

void ConcurrencyLimits::SetReservation(const std::string& function, int reserved) {
  Entry& e = entries_[function];
  reserved_total_ -= std::max(0, e.reserved);
  e.reserved = reserved < 0 ? -1 : reserved;
  reserved_total_ += std::max(0, e.reserved);
  if (e.reserved < 0 && e.running == 0) entries_.erase(function);
}

Status ConcurrencyLimits::TryAcquire(const std::string& function) {
  Entry& e = entries_[function];
  const bool reserved = e.reserved >= 0;
  if (reserved ? e.running >= e.reserved : unreserved_running_ >= unreserved_limit()) {
    if (e.running == 0 && e.reserved < 0) entries_.erase(function);
    Error err = MakeError(Errc::kThrottled, "Rate Exceeded.");
    err.reason = reserved ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                          : "ConcurrentInvocationLimitExceeded";
    return err;
  }
  ++e.running;
  ++running_total_;
  if (!reserved) {
    ++e.running_unreserved;
    ++unreserved_running_;
  }
  return {};
}

void ConcurrencyLimits::Release(const std::string& function) {
  auto it = entries_.find(function);
  if (it == entries_.end() || it->second.running == 0) return;
  Entry& e = it->second;
  --e.running;
  --running_total_;
  // A slot taken from the shared pool goes back there, even if a reservation came since.
  if (e.running_unreserved > e.running) {
    --e.running_unreserved;
    --unreserved_running_;
  }
  if (e.running == 0 && e.reserved < 0) entries_.erase(it);
}

int DefaultNodeConcurrency(int64_t memory_capacity_mb) {
  return static_cast<int>(std::max<int64_t>(10, memory_capacity_mb / 128));
}

int DefaultMinUnreserved(int node_limit) { return std::min(100, std::max(1, node_limit / 10)); }

}  // namespace alto
