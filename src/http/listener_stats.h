// Counters of the HTTP listeners (connections, refusals, timeouts, the statuses the server
// answers itself) and their Prometheus text for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace alto::http {

// Counters of one listener (or of a family of listeners, such as every sandbox's Runtime API),
// for /metrics. Shared between servers, so plain atomics.
struct ListenerStats {
  enum Timeout { kHeader, kIdle, kBody, kWrite, kTimeoutKinds };
  // The statuses the server itself answers (handlers answer the rest).
  static constexpr std::array<int, 8> kStatuses = {400, 408, 413, 414, 431, 501, 503, 505};

  std::atomic<int64_t> open{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused_total{0};       // over max_connections
  std::atomic<uint64_t> refused_per_client{0};  // over max_connections_per_client
  std::atomic<uint64_t> refused_fds{0};         // the process's descriptors nearly all in use
  std::atomic<uint64_t> accept_errors{0};       // EMFILE, ENFILE, ENOBUFS...
  std::atomic<uint64_t> shed{0};                // idle connections closed to free a descriptor
  // Failed TLS handshakes on a TLS listener; one that runs out of time counts as a header timeout.
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::array<std::atomic<uint64_t>, kTimeoutKinds> timeouts{};
  std::array<std::atomic<uint64_t>, kStatuses.size()> answered{};

  void CountStatus(int status);
};

// Prometheus text for listeners, by label: alto_http_connections_open{listener="api"}, ...
std::string ListenerMetrics(const std::vector<std::pair<std::string, const ListenerStats*>>& all);

}  // namespace alto::http
