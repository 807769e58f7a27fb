#include "server/server.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cstring>
#include <fstream>
#include <limits>

#include "api/admin_api.h"
#include "api/errors.h"
#include "api/lambda_api.h"
#include "api/resolver.h"
#include "api/state_follower.h"
#include "api/url_gateway.h"
#include "api/validation.h"
#include "auth/audit_log.h"
#include "auth/authenticator.h"
#include "auth/bootstrap.h"
#include "auth/key_store.h"
#include "cluster/node_registry.h"
#include "cluster/peer_code.h"
#include "common/encoding.h"
#include "common/time.h"
#include "http/client.h"
#include "http/server.h"
#include "http/tls.h"
#include "invoke/async_invoker.h"
#include "invoke/function_catalog.h"
#include "invoke/invoker.h"
#include "sandbox/sandbox.h"
#include "schedule/scheduler.h"
#include "state/open_state.h"
#include "store/async_store.h"
#include "store/code_store.h"
#include "store/function_url.h"
#include "store/provisioned.h"
#include "store/store.h"

namespace alto {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

Result<std::unique_ptr<Driver>> MakeDriver(const ServerConfig& cfg, const CodeStore& code) {
  DriverOptions o;
  o.state_dir = cfg.state_dir;
  o.code_root = fs::absolute(code.root());
  o.runtimes_dir = fs::absolute(cfg.runtimes_dir);
  o.sandbox_subnet = cfg.sandbox_subnet;
  o.sandbox_allow = cfg.sandbox_allow;
  std::error_code ec;
  o.init_path = fs::read_symlink("/proc/self/exe", ec).parent_path() / "alto-init";
  std::string which = cfg.driver;
  if (which == "auto") which = ::geteuid() == 0 ? "oci" : "process";
  if (which == "oci") return MakeOciDriver(o);
  if (which == "process") {
    spdlog::warn("*****************************************************************");
    spdlog::warn("* sandbox driver 'process': functions run as plain processes of *");
    spdlog::warn("* this user with NO isolation. Use it for development only.     *");
    spdlog::warn("*****************************************************************");
    return MakeProcessDriver(o);
  }
  return MakeError(Errc::kInvalidArgument,
                   "unknown driver '" + cfg.driver + "' (oci, process or auto)");
}

// Service managers start processes with a soft RLIMIT_NOFILE of 1024, which a thousand idle
// connections exhaust. The hard limit is the process's to take; below what the connection caps
// need, say so at start rather than in the middle of an incident.
void RaiseFdLimit(size_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    spdlog::warn("getrlimit(RLIMIT_NOFILE): {}", std::strerror(errno));
    return;
  }
  const rlim_t before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      spdlog::warn("raising the file descriptor limit from {} to {}: {}", before, lim.rlim_max,
                   std::strerror(errno));
      lim.rlim_cur = before;
    } else {
      spdlog::info("file descriptor limit raised from {} to {}", before, lim.rlim_cur);
    }
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
    spdlog::warn(
        "file descriptor limit {} is below the {} the connection caps need (--max-connections "
        "plus sandboxes and stores); raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower "
        "--max-connections: past it, new connections wait until descriptors free up",
        lim.rlim_cur, needed);
  }
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// The claim holder of this node's async store: the host and the data dir, hashed into a key part.
std::string NodeIdentity(const std::string& data_dir) {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = 0;
  const std::string h(host);
  const bool plain = !h.empty() && h.size() <= 64 &&
                     h.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789.-") == std::string::npos;
  return plain ? h + "-" + HexEncode(Sha256(data_dir)).substr(0, 16)
               : HexEncode(Sha256(h + "\n" + data_dir)).substr(0, 32);
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Whether a listen host is reachable from this machine only: 127.0.0.0/8, ::1 (or ::1 mapping
// an IPv4 loopback address), localhost.
// The URL peers reach this node at, from what it listens on: a wildcard address names no host,
// so this machine's name stands in.
std::string AdvertiseUrlFor(std::string host, uint16_t port, bool tls) {
  if (host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty()) {
    char name[256] = {};
    host = ::gethostname(name, sizeof name - 1) == 0 && name[0] ? name : "127.0.0.1";
  }
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

bool IsLoopback(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).is_loopback();
  return addr.is_loopback();
}

// Plaintext off the machine is worth more than a log line: the API carries function code,
// payloads and secret environment values, and anyone on the path can read or change them.
void WarnPlaintext(const std::string& host) {
  const std::string lines[] = {
      "The API listens on " + host + " WITHOUT TLS: requests and responses,",
      "function code, payloads and secret environment values cross the",
      "network in plaintext, readable and changeable on the way. Pass",
      "--tls-cert and --tls-key, or listen on 127.0.0.1 behind a proxy",
      "that terminates TLS.",
  };
  spdlog::warn("{:*<72}", "");
  for (const auto& line : lines) spdlog::warn("* {:<68} *", line);
  spdlog::warn("{:*<72}", "");
}

// SIGHUP reads the certificate and key again (a renewal replaces the files, then signals): new
// connections get the new certificate, open ones keep theirs, and a bad file keeps the old one.
asio::awaitable<void> ReloadOnHangup(asio::signal_set& signals, http::TlsContext& tls) {
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    if (auto st = tls.Reload()) {
      spdlog::info("SIGHUP: TLS certificate reloaded: {}", tls.Describe());
    } else {
      spdlog::error("SIGHUP: TLS certificate NOT reloaded, still serving {}: {}", tls.Describe(),
                    st.error().message);
    }
  }
}

}  // namespace

int RunServer(const ServerConfig& cfg) {
  auto endpoint = http::ParseEndpoint(cfg.listen, /*allow_port_zero=*/true);
  if (!endpoint) {
    spdlog::error("--listen: {}", endpoint.error().message);
    return 2;
  }
  std::shared_ptr<http::TlsContext> tls;
  if (!cfg.tls_cert.empty() || !cfg.tls_key.empty()) {
    auto loaded = http::TlsContext::Load(cfg.tls_cert, cfg.tls_key);
    if (!loaded) {
      spdlog::error("--tls-cert/--tls-key: {}", loaded.error().message);
      return 2;
    }
    tls = *loaded;
    spdlog::info("TLS certificate: {}", tls->Describe());
  } else if (!IsLoopback(endpoint->host)) {
    WarnPlaintext(endpoint->host);
  }
  std::error_code ec;
  // The state dir's directories that Alto creates are searchable (not listable) by others
  // whatever the umask: oci sandboxes' user-namespace root reaches its bundles through them. Those
  // that exist keep their modes (the oci driver refuses a state dir it could not reach), and so
  // does a data dir the state dir is in.
  std::vector<fs::path> created;
  const fs::path data_dir = fs::absolute(cfg.data_dir).lexically_normal();
  for (fs::path p = fs::absolute(cfg.state_dir).lexically_normal(); !fs::exists(p, ec);
       p = p.parent_path()) {
    const fs::path rel = data_dir.lexically_relative(p);
    if (!rel.empty() && *rel.begin() != "..") break;  // p is the data dir or one of its parents
    created.push_back(p);
    if (p == p.root_path()) break;
  }
  for (const auto& dir : {cfg.data_dir, cfg.state_dir}) {
    fs::create_directories(dir, ec);
    if (ec) {
      spdlog::error("cannot create {}: {}", dir.string(), ec.message());
      return 1;
    }
  }
  for (const auto& dir : created) {
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, ec);
    if (ec) {
      spdlog::error("cannot chmod {}: {}", dir.string(), ec.message());
      return 1;
    }
  }
  if (!fs::is_directory(cfg.runtimes_dir, ec)) {
    spdlog::error("runtimes directory {} not found (build the project, or pass --runtimes-dir)",
                  cfg.runtimes_dir.string());
    return 1;
  }
  // Secret environment values are sealed with this key: created 0600 on the first start.
  auto secrets = SecretBox::LoadOrCreate(cfg.data_dir / "secret.key");
  if (!secrets) {
    spdlog::error("secret key: {}", secrets.error().message);
    return 1;
  }
  SystemClock clock;
  // The state core (state/state.h). Its lease timer and the key store's watch run on the I/O
  // thread once serving starts.
  asio::io_context io(1);
  const std::string db_path = (cfg.data_dir / "alto.db").string();
  state::StateLocation where;
  where.url = cfg.state_url;
  where.sqlite_path = db_path;
  where.ca_file = cfg.state_tls.ca_file;
  where.cert_file = cfg.state_tls.cert_file;
  where.key_file = cfg.state_tls.key_file;
  where.user = Env("ALTO_STATE_USER");
  where.password = Env("ALTO_STATE_PASSWORD");
  ::unsetenv("ALTO_STATE_PASSWORD");  // NOLINT(concurrency-mt-unsafe): no other thread yet
  auto opened = state::OpenState(where, clock, io.get_executor());
  if (!opened) {
    spdlog::error("state: {}", opened.error().message);
    return 1;
  }
  spdlog::info("state: {}", (*opened)->Describe());
  std::shared_ptr<state::StateStore> state = std::move(*opened);
  if (auto moved = MigrateLegacyFunctionTables(db_path, *state, std::string(auth::kAdminAccountId));
      !moved) {
    spdlog::error("state: {}", moved.error().message);
    return 1;
  } else if (*moved > 0) {
    spdlog::info("state: moved {} functions from the tables of an earlier Alto into the state core",
                 *moved);
  }
  if (auto moved = auth::MigrateLegacyKeyTables(db_path, *state); !moved) {
    spdlog::error("state: {}", moved.error().message);
    return 1;
  } else if (*moved > 0) {
    spdlog::info(
        "state: moved {} accounts and access keys from the tables of an earlier Alto into "
        "the state core",
        *moved);
  }
  auto keys = auth::OpenStateKeyStore(state, *secrets, io.get_executor(), clock.WallMillis());
  if (!keys) {
    spdlog::error("key store: {}", keys.error().message);
    return 1;
  }
  auto admin =
      auth::EnsureAdminKey(**keys, Env("ALTO_ADMIN_ACCESS_KEY_ID"),
                           Env("ALTO_ADMIN_SECRET_ACCESS_KEY"), cfg.data_dir / "credentials");
  if (!admin) {
    spdlog::error("admin key: {}", admin.error().message);
    return 1;
  }
  // Read once: the helpers Alto runs (runc, ip) must not inherit the admin secret. No other
  // thread runs yet, so changing the environment is safe here.
  ::unsetenv("ALTO_ADMIN_ACCESS_KEY_ID");      // NOLINT(concurrency-mt-unsafe)
  ::unsetenv("ALTO_ADMIN_SECRET_ACCESS_KEY");  // NOLINT(concurrency-mt-unsafe)
  if (admin->created) {
    spdlog::info(
        "created the admin account's access key {}; its secret is in {} (0600, profile "
        "[alto]). Use it with the aws CLI and alto:",
        admin->access_key_id, admin->credentials_file.string());
    spdlog::info("  export AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE=alto",
                 admin->credentials_file.string());
  }
  auth::Authenticator authenticator(**keys, clock);
  auto audit_log = auth::OpenStateAuditLog(state);
  if (auto moved = auth::MigrateLegacyAuditLog(db_path, *audit_log, *state); !moved) {
    spdlog::error("audit log: {}", moved.error().message);
    return 1;
  } else if (*moved > 0) {
    spdlog::info("audit log: moved {} entries of an earlier Alto into the state core", *moved);
  }
  auto store = OpenStateFunctionStore(state, std::string(auth::kAdminAccountId), *secrets);
  if (auto moved = MigrateLegacyAsyncTables(db_path, state, std::string(auth::kAdminAccountId));
      !moved) {
    spdlog::error("state: {}", moved.error().message);
    return 1;
  } else if (*moved > 0) {
    spdlog::info(
        "state: moved {} async events, queue messages, queues and event invoke configs from the "
        "tables of an earlier Alto into the state core",
        *moved);
  }
  StateAsyncOptions async_options;
  // This node's identity for its claims: stable across its restarts (its data dir on this host),
  // distinct between the nodes sharing an etcd.
  async_options.node = NodeIdentity(fs::absolute(cfg.data_dir).string());
  auto async_store =
      OpenStateAsyncStore(state, std::string(auth::kAdminAccountId), std::move(async_options));
  if (!async_store) {
    spdlog::error("async store: {}", async_store.error().message);
    return 1;
  }
  auto url_store = OpenStateFunctionUrlStore(state, std::string(auth::kAdminAccountId));
  auto provisioned_store = OpenStateProvisionedStore(state, std::string(auth::kAdminAccountId));
  // In a cluster (state on etcd), a package uploaded to another node is fetched from it when
  // this node first needs it. Peers over https are verified against this node's own --tls-cert
  // (nodes of one cluster share a certificate or its CA).
  const bool clustered = cfg.state_url != "sqlite";
  const std::string node_id = RandomHex(8);
  http::FetchOptions peer_fetch;
  if (!cfg.tls_cert.empty()) peer_fetch.ca_file = cfg.tls_cert.string();
  peer_fetch.timeout = std::chrono::seconds(120);
  cluster::PeerCode peer_code(state, *secrets, node_id, clock, peer_fetch);
  CodeStore code(cfg.code_dir.empty() ? cfg.data_dir / "code" : cfg.code_dir,
                 clustered ? &peer_code : nullptr);
  if (auto st = code.Init(); !st) {
    spdlog::error("code store: {}", st.error().message);
    return 1;
  }
  if (auto refs = store->ReferencedCode()) code.GarbageCollect(*refs);

  // Each connection holds one descriptor; sandboxes, their Runtime API listeners and the stores
  // hold about a thousand more on a busy node.
  RaiseFdLimit(cfg.max_connections + 1024);

  auto driver = MakeDriver(cfg, code);
  if (!driver) {
    spdlog::error("sandbox driver: {}", driver.error().message);
    return 1;
  }
  (*driver)->CleanupStale();

  constexpr int kBlockingThreads = 4;  // cold starts and specialisations run here
  asio::thread_pool blocking(kBlockingThreads);
  asio::thread_pool background(4);  // stem refills and teardown (Scheduler)
  SchedulerOptions so;
  so.keep_alive = cfg.keep_alive;
  so.runtimes_dir = fs::absolute(cfg.runtimes_dir);
  so.region = cfg.region;
  so.memory_capacity_mb = cfg.memory_capacity_mb;
  so.node_concurrency = cfg.node_concurrency;
  so.stem_runtimes = cfg.stem_runtimes;
  so.stem_floor = cfg.stem_floor;
  so.stem_ceiling = cfg.stem_ceiling;
  so.max_parallel_starts = kBlockingThreads;
  so.runtime_api_max_connections = cfg.runtime_api_max_connections;
  auto runtime_api_stats = std::make_shared<http::ListenerStats>();
  so.runtime_api_stats = runtime_api_stats;
  Scheduler scheduler(io.get_executor(), blocking, background, **driver, code, so);
  // The follower watches from just after what the start-up reads below see.
  auto start_revision = state->CurrentRevision();
  if (!start_revision) {
    spdlog::error("state: {}", start_revision.error().message);
    return 1;
  }
  if (auto all = store->ListFunctions("", std::numeric_limits<int>::max())) {
    for (const auto& f : *all) {
      if (f.reserved_concurrency >= 0)
        scheduler.limits().SetReservation(f.name, f.reserved_concurrency);
    }
  }
  spdlog::info("concurrency: {} executions on this node, {} unreserved",
               scheduler.limits().node_limit(), scheduler.limits().unreserved_limit());
  FunctionLogs logs;
  InvocationMetrics invocation_metrics;
  Invoker invoker(scheduler, logs, invocation_metrics, clock);
  AccountInfo account;
  account.region = cfg.region;
  FunctionCatalog catalog(*store, blocking);
  AsyncOptions ao;
  ao.retry_time_scale = cfg.async_retry_scale;
  AsyncInvoker async(io.get_executor(), blocking, **async_store, catalog, invoker, clock, account,
                     ao);
  FunctionResolver resolver(catalog, account);
  LambdaApi api(LambdaApiDeps{*store, catalog, resolver, code, scheduler, invoker, **async_store,
                              async, logs, invocation_metrics, blocking, clock, account,
                              authenticator});
  UrlCatalog urls(*url_store, blocking);
  // Blocking reads before serving starts: the I/O thread is not running yet.
  if (auto st = urls.Load([&](const std::string& fn) {
        auto f = store->GetFunction(fn);
        return f.ok() || f.error().code != Errc::kNotFound;
      });
      !st) {
    spdlog::error("function urls: {}", st.error().message);
    return 1;
  }
  api.AttachUrls(&urls);
  StateFollower follower(StateFollowerDeps{
      state, io.get_executor(), blocking, catalog, urls, scheduler, invocation_metrics, logs,
      [&api](std::string fn, std::string qualifier, int requested) {
        return api.ApplyProvisioned(std::move(fn), std::move(qualifier), requested);
      },
      [&api] { return api.RestoreProvisioned(); }});
  if (auto st = follower.Start(*start_revision + 1); !st) {
    spdlog::error("state watch: {}", st.error().message);
    return 1;
  }
  AdminApi admin_api(AdminApiDeps{**keys, authenticator, *audit_log, blocking});
  api.AttachAdmin(&admin_api, audit_log.get());
  api.AttachProvisioned(provisioned_store.get());
  UrlGateway gateway(UrlGatewayDeps{urls, resolver, invoker, clock, account, &authenticator,
                                    store.get(), &blocking});

  http::ServerOptions ho;
  ho.body_limit = kMaxCreateRequestBytes + 1024;
  ho.max_connections = cfg.max_connections;
  ho.max_connections_per_client = cfg.max_connections_per_client;
  ho.header_timeout = Millis(cfg.header_timeout_s);
  ho.keepalive_timeout = Millis(cfg.keepalive_timeout_s);
  ho.body_timeout = Millis(cfg.body_timeout_s);
  ho.write_timeout = Millis(cfg.write_timeout_s);
  ho.tls = tls;  // the Runtime API listeners, inside sandboxes, stay plaintext
  ho.too_large = [](std::string_view) {
    auto r = LambdaError(
        413, "RequestTooLargeException",
        "Request must be smaller than " + std::to_string(kMaxCreateRequestBytes) + " bytes");
    r.Set("x-amzn-RequestId", NewUuid());
    return r;
  };
  http::Server server(
      io.get_executor(),
      [&api, &gateway, clustered, &peer_code, &code, &blocking](http::Request r) {
        // Function URLs (by Host or /url/...) share the listener with the API, and so do the
        // peers' code fetches.
        if (gateway.Claims(r)) return gateway.Handle(std::move(r));
        if (clustered && cluster::PeerCode::Claims(r))
          return peer_code.Serve(std::move(r), code, blocking);
        return api.Handle(std::move(r));
      },
      ho);
  api.AttachMetrics([&server, runtime_api_stats] {
    return http::ListenerMetrics({{"api", &server.stats()}, {"runtime", runtime_api_stats.get()}});
  });
  auto port = server.Listen(endpoint->host, endpoint->port);
  if (!port) {
    spdlog::error("{}", port.error().message);
    return 1;
  }
  urls.set_port(*port, tls != nullptr);
  std::unique_ptr<cluster::NodeRegistry> registry;
  if (clustered) {
    std::string url = cfg.advertise_url.empty()
                          ? AdvertiseUrlFor(endpoint->host, *port, tls != nullptr)
                          : cfg.advertise_url;
    auto registered = cluster::NodeRegistry::Register(state, {node_id, url}, io.get_executor(),
                                                      blocking, std::chrono::seconds(10));
    if (!registered) {
      spdlog::error("cluster: cannot register this node: {}", registered.error().message);
      return 1;
    }
    registry = std::move(*registered);
    spdlog::info("cluster: node {} at {}", node_id, url);
  }
  server.Start();
  scheduler.Start();
  asio::co_spawn(io, api.RestoreProvisioned(), asio::detached);
  async.Start();  // resumes every event a previous run left undelivered
  std::string bound = endpoint->host + ":" + std::to_string(*port);
  spdlog::info("alto server listening on {}://{} (driver {}, data {})", tls ? "https" : "http",
               bound, (*driver)->name(), cfg.data_dir.string());
  if (!cfg.ready_file.empty()) {
    fs::path tmp = cfg.ready_file;
    tmp += ".tmp";
    // host:port as before for plaintext; the scheme tells a reader that it must speak TLS.
    std::ofstream(tmp) << (tls ? "https://" : "") << bound << "\n";
    fs::rename(tmp, cfg.ready_file, ec);
  }

  asio::signal_set hangup(io);
  if (tls) {
    hangup.add(SIGHUP);
    asio::co_spawn(io, ReloadOnHangup(hangup, *tls), asio::detached);
  }
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    spdlog::info("signal {}: draining {} in-flight invocation(s)", sig, invoker.in_flight());
    api.StopAdmitting();
    gateway.StopAdmitting();
    server.StopAccepting();
    async.Stop();  // queued events stay in the store for the next start
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(io);
          auto give_up = std::chrono::steady_clock::now() + cfg.drain_timeout;
          while ((invoker.in_flight() > 0 || !async.idle()) &&
                 std::chrono::steady_clock::now() < give_up) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::use_awaitable);
          }
          scheduler.Shutdown();
          server.Stop();
          // Let the closes above run their completions, then stop.
          t.expires_after(std::chrono::milliseconds(100));
          co_await t.async_wait(asio::use_awaitable);
          io.stop();
        },
        asio::detached);
  });

  io.run();
  blocking.join();
  background.join();  // sandbox teardowns finish before the process exits
  spdlog::info("alto server stopped");
  return 0;
}

}  // namespace alto
