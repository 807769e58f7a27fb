// `alto server`: wires the store, driver, scheduler, invoker and API together and runs them
// until SIGTERM/SIGINT, then drains in-flight invocations and exits.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace alto {

struct ServerConfig {
  std::string listen = "127.0.0.1:9000";
  // The API listener's certificate chain and private key (PEM), read again on SIGHUP; with them
  // the listener speaks HTTPS only. Both empty: plaintext.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path data_dir;
  // The state core: "sqlite" (data_dir/alto.db) or etcd://host:port[,...][/namespace]. etcd's user
  // and password come from ALTO_STATE_USER / ALTO_STATE_PASSWORD (never the command line).
  std::string state_url = "sqlite";
  // Function packages by SHA-256 (default data_dir/code). Servers on one etcd fetch the packages
  // they lack from each other (cluster/peer_code.h); a folder they share works too.
  std::filesystem::path code_dir;
  // How the other nodes of a cluster reach this node's API (http(s)://host:port). Empty: the
  // listen address, with this machine's host name for a wildcard one.
  std::string advertise_url;
  struct {
    std::string ca_file, cert_file, key_file;
  } state_tls;
  std::filesystem::path state_dir;  // volatile state: sandboxes' bundles, netns pins, runc state
  std::string driver = "auto";      // auto | oci | process
  std::chrono::milliseconds keep_alive{std::chrono::minutes(5)};
  std::chrono::seconds drain_timeout{std::chrono::seconds(900)};
  std::filesystem::path runtimes_dir;
  std::filesystem::path ready_file;  // written with host:port (https://host:port) once listening
  std::string region = "us-east-1";
  int64_t memory_capacity_mb = 0;
  int node_concurrency = 0;
  std::vector<std::string> stem_runtimes;  // stem cells kept ready from the start
  int stem_floor = 1;
  int stem_ceiling = 4;                          // 0: one execution per 128 MB of memory capacity
  std::string sandbox_subnet = "10.213.0.0/16";  // oci sandboxes' network; "none": loopback only
  std::vector<std::string> sandbox_allow;        // private CIDRs sandboxes may reach anyway
  // The API listener's defences against hostile or broken clients (see http::ServerOptions).
  size_t max_connections = 4096;
  size_t max_connections_per_client = 512;
  double header_timeout_s = 10;
  double keepalive_timeout_s = 60;
  double body_timeout_s = 30;
  double write_timeout_s = 60;
  size_t runtime_api_max_connections = 8;  // per sandbox
  double async_retry_scale = 1.0;  // shrinks async retry spacing (tests)  // sandbox memory the
                                   // node offers; 0: 80% of physical
};

// Returns the process exit code.
int RunServer(const ServerConfig& config);

}  // namespace alto
