// The `alto` command: `alto server` runs the platform; `alto fn ...` drives it.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/admin_commands.h"
#include "cli/backup.h"
#include "cli/client_commands.h"
#include "common/rate_limited_sink.h"
#include "server/server.h"

namespace fs = std::filesystem;

namespace {

fs::path DefaultDataDir() {
  if (::geteuid() == 0) return "/var/lib/alto";
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe): single-threaded here
  return fs::path(home ? home : "/tmp") / ".local/share/alto";
}

fs::path DefaultRuntimesDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path() / "runtimes";
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"Alto: serverless functions on your own machines"};
  app.require_subcommand(1);

  alto::ServerConfig server;
  std::string data_dir, state_dir, runtimes_dir, ready_file, log_level = "info";
  std::string tls_cert, tls_key;
  int keep_alive_s = 300;
  auto* srv = app.add_subcommand("server", "Run the Alto server");
  srv->add_option("--listen", server.listen, "host:port to serve the API on")
      ->capture_default_str();
  auto* tls_cert_opt = srv->add_option(
      "--tls-cert", tls_cert,
      "PEM certificate chain (server certificate first): the API then speaks HTTPS only, TLS "
      "1.2+; read again on SIGHUP");
  auto* tls_key_opt = srv->add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  tls_cert_opt->needs(tls_key_opt);
  tls_key_opt->needs(tls_cert_opt);
  srv->add_option("--data-dir", data_dir, "Durable state (default /var/lib/alto as root)");
  srv->add_option("--state-dir", state_dir, "Volatile sandbox state (default /run/alto as root)");
  srv->add_option("--state", server.state_url,
                  "Where control-plane state lives: sqlite (the data dir's alto.db, the default) "
                  "or etcd://host:port[,host:port...][/namespace] (etcd v3; a namespace keeps "
                  "this cluster's keys apart in a shared etcd)")
      ->capture_default_str();
  srv->add_option("--code-dir", server.code_dir,
                  "Function packages by SHA-256 (default DATA_DIR/code); servers on one etcd "
                  "fetch the packages they lack from each other");
  srv->add_option("--advertise-url", server.advertise_url,
                  "With --state etcd://...: how the other nodes reach this one's API "
                  "(default: the listen address; this host's name for 0.0.0.0 or ::)");
  srv->add_option("--state-ca", server.state_tls.ca_file,
                  "etcd: CA bundle to verify etcd's certificate (switches to TLS)");
  srv->add_option("--state-cert", server.state_tls.cert_file,
                  "etcd: client certificate (PEM) for etcd's client-certificate auth");
  srv->add_option("--state-key", server.state_tls.key_file, "etcd: private key of --state-cert");
  srv->add_option("--driver", server.driver, "Sandbox driver: auto, oci or process")
      ->capture_default_str();
  srv->add_option("--idle-timeout", keep_alive_s, "Seconds an idle warm sandbox is kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  srv->add_option("--runtimes-dir", runtimes_dir, "Folder holding the language runtimes");
  srv->add_option("--ready-file", ready_file,
                  "Write host:port here once listening (https://host:port with TLS)");
  srv->add_option("--region", server.region, "Region in ARNs")->capture_default_str();
  srv->add_option("--async-retry-scale", server.async_retry_scale,
                  "Multiply async retry delays (1 min, 2 min, backoff) by this; for tests")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  srv->add_option("--max-connections", server.max_connections,
                  "Open connections the API listener serves; the excess gets 503 at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  srv->add_option("--max-connections-per-client", server.max_connections_per_client,
                  "Open connections per client address; the excess gets 503 (0: no cap)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  srv->add_option("--header-timeout", server.header_timeout_s,
                  "Seconds for a request head to arrive whole (408 after), and for a new "
                  "connection's first byte")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  srv->add_option("--keepalive-timeout", server.keepalive_timeout_s,
                  "Seconds an idle keep-alive connection is kept open")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  srv->add_option("--body-timeout", server.body_timeout_s,
                  "Seconds a request body may stall before 408")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  srv->add_option("--write-timeout", server.write_timeout_s,
                  "Seconds a client may read nothing of a response before it is cut off")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  srv->add_option("--runtime-api-max-connections", server.runtime_api_max_connections,
                  "Connections each sandbox may hold to its Runtime API; the excess gets 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  srv->add_option("--memory-capacity-mb", server.memory_capacity_mb,
                  "Memory for sandboxes; over it invokes get 429 (default 80% of RAM)")
      ->check(CLI::NonNegativeNumber);
  srv->add_option("--max-concurrency", server.node_concurrency,
                  "Concurrent executions on this node; over it invokes get 429 "
                  "(default: memory capacity / 128 MB)")
      ->check(CLI::Range(0, 1000000));
  srv->add_option("--stem-runtimes", server.stem_runtimes,
                  "Runtimes to keep stem cells (pre-started generic sandboxes) ready for from the "
                  "start, e.g. provided.al2023,python3.12")
      ->delimiter(',');
  srv->add_option("--stem-floor", server.stem_floor, "Stem cells kept for each --stem-runtimes")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  srv->add_option("--stem-ceiling", server.stem_ceiling,
                  "Most stem cells per runtime as cold starts ask for them (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  srv->add_option("--sandbox-subnet", server.sandbox_subnet,
                  "Private IPv4 range for sandboxes' addresses, one /24 per server; none: "
                  "sandboxes get loopback only")
      ->capture_default_str();
  srv->add_option("--sandbox-allow-net", server.sandbox_allow,
                  "A private CIDR sandboxes may reach (repeatable; private ranges are blocked)");
  srv->add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  alto::cli::ClientOptions client;
  if (const char* ep = std::getenv("ALTO_ENDPOINT"))
    client.endpoint = ep;  // NOLINT(concurrency-mt-unsafe)
  auto* fn = app.add_subcommand("fn", "Manage and invoke functions");
  fn->add_option("--endpoint", client.endpoint, "Alto API endpoint (env ALTO_ENDPOINT)")
      ->capture_default_str();
  fn->require_subcommand(1);

  alto::cli::DeployArgs deploy;
  auto* dep = fn->add_subcommand("deploy", "Create or update a function from a directory or zip");
  dep->add_option("path", deploy.path, "Directory or .zip")->required();
  dep->add_option("--name", deploy.name, "Function name")->required();
  dep->add_option("--runtime", deploy.runtime,
                  "python3.12, nodejs20.x, java17, provided.al2023, ...");
  dep->add_option("--handler", deploy.handler, "e.g. app.handler");
  dep->add_option("--memory", deploy.memory_mb, "MemorySize in MB (128-10240)");
  dep->add_option("--timeout", deploy.timeout_s, "Timeout in seconds (1-900)");
  dep->add_option("--description", deploy.description, "Description");
  dep->add_option("--network", deploy.network,
                  "NetworkMode: default (outbound through Alto's bridge) or none (loopback only)");
  dep->add_option("--env", deploy.env, "Environment variable KEY=VALUE (repeatable)");
  dep->add_option("--secret", deploy.secrets,
                  "Secret environment variable KEY=VALUE: encrypted at rest, never shown");
  dep->add_flag("--publish", deploy.publish, "Publish a version of what was deployed");
  dep->add_option("--alias", deploy.alias,
                  "With --publish: point this alias at the new version (created if absent)");
  dep->add_option("--weight", deploy.weight_percent,
                  "With --alias: canary, send this percentage to the new version instead")
      ->check(CLI::Range(0.0, 100.0));

  std::string name, payload;
  bool show_log = false;
  int limit = 10;
  auto* inv = fn->add_subcommand("invoke", "Invoke a function and print its result");
  inv->add_option("name", name)->required();
  inv->add_option("--payload", payload, "JSON event, or @file");
  inv->add_flag("--log", show_log, "Print the invocation's log tail to stderr");
  bool async = false;
  inv->add_flag("--async", async,
                "Queue the event (InvocationType Event) and print its request id");
  auto* stats = fn->add_subcommand("stats", "Show a function's async queue and delivery counters");
  stats->add_option("name", name)->required();

  auto* queue = app.add_subcommand("queue", "Alto's durable queues (destinations, dead letters)");
  queue->add_option("--endpoint", client.endpoint, "Alto API endpoint (env ALTO_ENDPOINT)")
      ->capture_default_str();
  queue->require_subcommand(1);
  auto* qcreate = queue->add_subcommand("create", "Create a queue and print its ARN");
  qcreate->add_option("name", name)->required();
  queue->add_subcommand("ls", "List queues");
  int qmax = 10;
  bool peek = false;
  auto* qread =
      queue->add_subcommand("read", "Print and remove messages, oldest first, one JSON per line");
  qread->add_option("name", name)->required();
  qread->add_option("--max", qmax, "At most this many")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  qread->add_flag("--peek", peek, "Leave the messages in the queue");
  fn->add_subcommand("ls", "List functions");
  auto* get = fn->add_subcommand("get", "Show a function's configuration");
  get->add_option("name", name)->required();
  auto* rm = fn->add_subcommand("rm", "Delete a function");
  rm->add_option("name", name)->required();
  std::string description, alias_name, alias_version, alias_weight;
  auto* publish = fn->add_subcommand("publish", "Publish $LATEST as a new immutable version");
  publish->add_option("name", name)->required();
  publish->add_option("--description", description, "The version's description");
  auto* alias = fn->add_subcommand("alias", "Create or update an alias; `alias ls NAME` lists");
  alias->add_option("name", name, "Function");
  alias->add_option("alias", alias_name, "Alias name");
  alias->add_option("--version", alias_version, "The version the alias points to");
  alias->add_option("--weight", alias_weight,
                    "VERSION=FRACTION: also send this fraction to VERSION (e.g. 2=0.1)");
  alias->add_option("--description", description, "The alias's description");
  auto* alias_ls = alias->add_subcommand("ls", "List a function's aliases");
  std::string ls_name;
  alias_ls->add_option("name", ls_name)->required();
  auto* logs = fn->add_subcommand("logs", "Show recent invocations' logs");
  logs->add_option("name", name)->required();
  logs->add_option("--limit", limit, "How many invocations")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));

  alto::cli::UrlArgs url;
  auto* urlcmd = fn->add_subcommand("url", "Print a function's URL (create it with --create)");
  urlcmd->add_option("name", url.name)->required();
  urlcmd->add_option("--qualifier", url.qualifier, "Alias the URL points at");
  urlcmd->add_flag("--create", url.create, "Create the URL (AuthType NONE) if there is none");
  urlcmd->add_option("--cors-origin", url.cors_origins,
                     "Allowed CORS origin (repeatable; with --create sets the URL's Cors)");

  // The admin API: accounts, access keys, the audit log.
  auto add_endpoint = [&](CLI::App* cmd) {
    cmd->add_option("--endpoint", client.endpoint, "Alto API endpoint (env ALTO_ENDPOINT)")
        ->capture_default_str();
  };
  auto* account = app.add_subcommand("account", "Accounts (tenants)");
  add_endpoint(account);
  account->require_subcommand(1);
  account->add_subcommand("ls", "List the accounts you can see");
  std::string account_name;
  account->add_subcommand("create", "Create an account (admin account's administrators only)")
      ->add_option("name", account_name, "1-64 of A-Z a-z 0-9 . _ -, not all digits")
      ->required();
  account->add_subcommand("rm", "Delete an account without resources, and its keys")
      ->add_option("account", account_name, "Account id or name")
      ->required();
  alto::cli::KeyArgs key_args;
  auto* key = app.add_subcommand("key", "Access keys (SigV4 credentials)");
  add_endpoint(key);
  key->require_subcommand(1);
  auto* key_create = key->add_subcommand("create", "Create a key and print its secret (once)");
  key_create->add_option("--account", key_args.account, "Account id or name (default: yours)");
  key_create->add_option("--policy", key_args.policy_file,
                         "IAM-style policy document (JSON file); without it: an administrator key");
  key_create->add_option("--description", key_args.description, "What the key is for");
  auto* key_ls = key->add_subcommand("ls", "List keys (never their secrets)");
  key_ls->add_option("--account", key_args.account, "Account id or name (default: yours)");
  auto* key_rm = key->add_subcommand("rm", "Delete a key: it stops working at once");
  key_rm->add_option("id", key_args.id)->required();
  auto* key_disable = key->add_subcommand("disable", "Disable a key: it stops working at once");
  key_disable->add_option("id", key_args.id)->required();
  auto* key_enable = key->add_subcommand("enable", "Enable a disabled key");
  key_enable->add_option("id", key_args.id)->required();
  alto::cli::AuditArgs audit_args;
  auto* audit = app.add_subcommand("audit", "Read the audit log of control-plane changes");
  add_endpoint(audit);
  audit->add_option("--since", audit_args.since, "90s, 10m, 2h, 7d, or epoch milliseconds");
  audit->add_option("--account", audit_args.account, "Only this account");
  audit->add_option("--max", audit_args.max, "At most this many entries")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));

  alto::cli::BackupOptions backup_opts;
  std::string backup_data_dir;
  auto* backup = app.add_subcommand(
      "backup", "Copy a data dir consistently into DIR (new or empty), also while its server runs");
  backup->add_option("dir", backup_opts.target, "Where the backup goes")->required();
  backup->add_option("--data-dir", backup_data_dir, "The data dir (default as `alto server`)");
  backup
      ->add_option("--state", backup_opts.state_url,
                   "The server's --state: with etcd://... the state is not in alto.db, and "
                   "the backup says how to save it with etcdctl")
      ->capture_default_str();
  alto::cli::RestoreOptions restore_opts;
  std::string restore_data_dir;
  auto* restore = app.add_subcommand(
      "restore", "Fill an empty or absent data dir from a backup, verified whole first");
  restore->add_option("dir", restore_opts.source, "The backup")->required();
  restore->add_option("--data-dir", restore_data_dir,
                      "The data dir to fill (default as `alto server`)");

  CLI11_PARSE(app, argc, argv);

  if (backup->parsed()) {
    backup_opts.data_dir = backup_data_dir.empty() ? DefaultDataDir() : fs::path(backup_data_dir);
    return alto::cli::BackupCommand(backup_opts);
  }
  if (restore->parsed()) {
    restore_opts.data_dir =
        restore_data_dir.empty() ? DefaultDataDir() : fs::path(restore_data_dir);
    return alto::cli::RestoreCommand(restore_opts);
  }

  if (account->got_subcommand("ls")) return alto::cli::AccountList(client);
  if (account->got_subcommand("create")) return alto::cli::AccountCreate(client, account_name);
  if (account->got_subcommand("rm")) return alto::cli::AccountRemove(client, account_name);
  if (key->got_subcommand("create")) return alto::cli::KeyCreate(client, key_args);
  if (key->got_subcommand("ls")) return alto::cli::KeyList(client, key_args);
  if (key->got_subcommand("rm")) return alto::cli::KeyRemove(client, key_args);
  if (key->got_subcommand("disable")) return alto::cli::KeySetActive(client, key_args, false);
  if (key->got_subcommand("enable")) return alto::cli::KeySetActive(client, key_args, true);
  if (audit->parsed()) return alto::cli::AuditRead(client, audit_args);

  if (srv->parsed()) {
    // At most 50 lines a second after a burst of 1,000 (see rate_limited_sink.h).
    auto sink = std::make_shared<alto::RateLimitedSink>(
        std::make_shared<spdlog::sinks::stdout_color_sink_mt>(), 50, 1000);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
    spdlog::set_level(spdlog::level::from_str(log_level));
    server.data_dir = data_dir.empty() ? DefaultDataDir() : fs::path(data_dir);
    server.state_dir = !state_dir.empty() ? fs::path(state_dir)
                       : ::geteuid() == 0 ? fs::path("/run/alto")
                                          : server.data_dir / "run";
    server.runtimes_dir = runtimes_dir.empty() ? DefaultRuntimesDir() : fs::path(runtimes_dir);
    server.ready_file = ready_file;
    server.tls_cert = tls_cert;
    server.tls_key = tls_key;
    server.keep_alive = std::chrono::seconds(keep_alive_s);
    return alto::RunServer(server);
  }
  if (fn->got_subcommand("deploy")) return alto::cli::FnDeploy(client, deploy);
  if (fn->got_subcommand("invoke"))
    return alto::cli::FnInvoke(client, name, payload, show_log, async);
  if (fn->got_subcommand("stats")) return alto::cli::FnStats(client, name);
  if (queue->got_subcommand("create")) return alto::cli::QueueCreate(client, name);
  if (queue->got_subcommand("ls")) return alto::cli::QueueList(client);
  if (queue->got_subcommand("read")) return alto::cli::QueueRead(client, name, qmax, peek);
  if (fn->got_subcommand("ls")) return alto::cli::FnList(client);
  if (fn->got_subcommand("get")) return alto::cli::FnGet(client, name);
  if (fn->got_subcommand("rm")) return alto::cli::FnRemove(client, name);
  if (fn->got_subcommand("logs")) return alto::cli::FnLogs(client, name, limit);
  if (fn->got_subcommand("publish")) return alto::cli::FnPublish(client, name, description);
  if (fn->got_subcommand("alias")) {
    if (alias->got_subcommand("ls")) return alto::cli::FnAliasList(client, ls_name);
    if (name.empty() || alias_name.empty() || alias_version.empty()) {
      std::fprintf(stderr,
                   "alto: error: usage: alto fn alias NAME ALIAS --version V [--weight V2=0.1]"
                   " | alto fn alias ls NAME\n");
      return 2;
    }
    return alto::cli::FnAlias(client, name, alias_name, alias_version, alias_weight, description);
  }
  if (fn->got_subcommand("url")) return alto::cli::FnUrl(client, url);
  return 1;
}
