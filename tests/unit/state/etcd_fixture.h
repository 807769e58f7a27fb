// A real etcd for tests: /usr/bin/etcd on free loopback ports over a temp data dir, killed and
// removed at destruction. A missing etcd is a failure, not a skip: scripts/install-deps installs
// it (etcd-server).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"
#include "state/state.h"

namespace alto::state::testing {

class EtcdProcess {
 public:
  // Starts etcd and waits (bounded) until it answers; ok() tells whether it did, error() why not.
  EtcdProcess();
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // "127.0.0.1:port", the client endpoint.
  std::string endpoint() const;

  // Kills etcd (SIGKILL: a crash, not a clean stop) and waits for it to exit.
  void Stop();
  // Starts it again on the same data dir and ports.
  Status Start();
  Status Restart() {
    Stop();
    return Start();
  }
  // etcd's compaction API: history up to revision is discarded (physically, before returning).
  Status Compact(Revision revision);

 private:
  Status StartOnce();

  std::string dir_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace alto::state::testing
