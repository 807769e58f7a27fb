// Concurrency accounting, as Lambda's account and reserved concurrency: the node runs at most
// `node_limit` executions at once; a function with a reservation owns that many slots (and no
// more), and the functions without one share what the reservations leave. Pure bookkeeping on
// the scheduler's executor; table-tested.
#pragma once

#include <string>
#include <unordered_map>

#include "common/result.h"

namespace alto {

class ConcurrencyLimits {
 public:
  // min_unreserved: slots a reservation may never take from the shared pool (Lambda keeps 100).
  ConcurrencyLimits(int node_limit, int min_unreserved);

  int node_limit() const { return node_limit_; }
  int min_unreserved() const { return min_unreserved_; }
  int reserved_total() const { return reserved_total_; }
  // Slots shared by the functions without a reservation.
  int unreserved_limit() const { return node_limit_ - reserved_total_; }
  int unreserved_running() const { return unreserved_running_; }
  int running_total() const { return running_total_; }
  int running(const std::string& function) const;
  int reservation(const std::string& function) const;  // -1: none

  // Whether `function` may reserve `reserved` slots (-1 removes the reservation).
  Status CheckReservation(const std::string& function, int reserved) const;
  // Records a reservation already validated and stored (or loaded at start). Executions running
  // when it changes keep the slots they hold; the new limit applies to the next ones.
  void SetReservation(const std::string& function, int reserved);

  // Claims one execution slot; kThrottled with Lambda's Reason when over a limit.
  Status TryAcquire(const std::string& function);
  void Release(const std::string& function);

 private:
  struct Entry {
    int reserved = -1;
    int running = 0;
    int running_unreserved = 0;  // slots taken from the shared pool
  };
  int node_limit_;
  int min_unreserved_;
  int reserved_total_ = 0;
  int unreserved_running_ = 0;
  int running_total_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

// The node's default concurrency limit: one execution per 128 MB the node offers sandboxes
// (the smallest function), at least 10.
int DefaultNodeConcurrency(int64_t memory_capacity_mb);
// The shared pool a reservation may not take: Lambda keeps 100 of 1,000; a small node keeps 10%.
int DefaultMinUnreserved(int node_limit);

}  // namespace alto
