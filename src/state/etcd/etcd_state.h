// The etcd v3 backend of the state core: a thin translation of StateStore onto an etcd cluster,
// spoken through etcd's JSON gateway (see etcd_state.cc for why not gRPC).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "state/state.h"

namespace alto::state {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // host:port of each member's client URL
  // TLS when ca_file is set (the server is verified against it); cert_file and key_file add a
  // client certificate.
  std::string ca_file, cert_file, key_file;
  // etcd's own authentication when user is set.
  std::string user, password;
  // The bound of every call: connecting (over every endpoint), sending and reading the answer.
  std::chrono::milliseconds request_timeout{5000};
};

// "etcd://h1:2379,h2:2379" (hosts may be names, IPv4 or [IPv6]). kInvalidArgument, naming what
// is wrong, for anything else.
Result<EtcdOptions> ParseEtcdUrl(std::string_view url);

// Connects and checks that a member answers (and authenticates when options.user is set):
// kUnavailable naming the endpoints when none does.
Result<std::unique_ptr<StateStore>> OpenEtcdState(EtcdOptions options);

}  // namespace alto::state
