#include "http/listener_stats.h"

namespace alto::http {

void ListenerStats::CountStatus(int status) {
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) {
      answered[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

std::string ListenerMetrics(const std::vector<std::pair<std::string, const ListenerStats*>>& all) {
  std::string m;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    m.append("# HELP ").append(name).append(" ").append(help).append("\n");
    m.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  };
  auto sample = [&](std::string_view name, const std::string& labels, auto value) {
    m.append(name).append("{").append(labels).append("} ").append(std::to_string(value));
    m.append("\n");
  };
  auto each = [&](auto&& fn) {
    for (const auto& [listener, s] : all) fn("listener=\"" + listener + "\"", *s);
  };
  family("alto_http_connections_open", "gauge", "Open HTTP connections.");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_connections_open", l, s.open.load());
  });
  family("alto_http_connections_accepted_total", "counter", "HTTP connections accepted.");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_connections_accepted_total", l, s.accepted.load());
  });
  family("alto_http_connections_refused_total", "counter",
         "Connections answered 503 and closed at once (closed without an answer on a TLS "
         "listener): over the listener's cap (total), over the cap per client address "
         "(per_client), or with the process's file descriptors nearly all in use (fds).");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_connections_refused_total", l + ",reason=\"total\"", s.refused_total.load());
    sample("alto_http_connections_refused_total", l + ",reason=\"per_client\"",
           s.refused_per_client.load());
    sample("alto_http_connections_refused_total", l + ",reason=\"fds\"", s.refused_fds.load());
  });
  family("alto_http_accept_errors_total", "counter",
         "Failed accepts (EMFILE, ENFILE, ...); the accept loop backs off after each.");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_accept_errors_total", l, s.accept_errors.load());
  });
  family("alto_http_connections_shed_total", "counter",
         "Idle connections closed to free a file descriptor.");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_connections_shed_total", l, s.shed.load());
  });
  family("alto_http_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed (a client of TLS 1.1 or older, plaintext HTTP, a client that "
         "does not trust the certificate, a connection closed mid-handshake); one that does not "
         "finish within the header timeout counts as a header timeout instead.");
  each([&](const std::string& l, const ListenerStats& s) {
    sample("alto_http_tls_handshake_failures_total", l, s.tls_handshake_failures.load());
  });
  family("alto_http_timeouts_total", "counter",
         "Connections closed by a timeout: header (a head not complete in time, or nothing sent "
         "on a new connection, or its TLS handshake not done in time), idle (keep-alive), body (a "
         "stalled body), write (a client that "
         "reads nothing).");
  static constexpr std::array<const char*, ListenerStats::kTimeoutKinds> kKinds = {"header", "idle",
                                                                                   "body", "write"};
  each([&](const std::string& l, const ListenerStats& s) {
    for (size_t k = 0; k < kKinds.size(); ++k) {
      sample("alto_http_timeouts_total", l + ",kind=\"" + kKinds[k] + "\"", s.timeouts[k].load());
    }
  });
  family("alto_http_rejected_requests_total", "counter",
         "Requests the server answered itself with an error status, before any handler.");
  each([&](const std::string& l, const ListenerStats& s) {
    for (size_t i = 0; i < ListenerStats::kStatuses.size(); ++i) {
      sample("alto_http_rejected_requests_total",
             l + ",status=\"" + std::to_string(ListenerStats::kStatuses[i]) + "\"",
             s.answered[i].load());
    }
  });
  return m;
}

}  // namespace alto::http
