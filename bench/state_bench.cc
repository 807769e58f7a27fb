// The state core's write path: sequential single-key puts (each a Txn with one put, what
// StateStore::Put sends) on the etcd backend (JSON gateway through Beast), on etcd's own gRPC
// path (bench/etcd_grpc_put.py: Python grpcio, one HTTP/2 channel) against the same etcd, and on
// the SQLite backend. Starts its own etcd (the unit tests' EtcdProcess) on free loopback ports.
//
// usage: state_bench [--seconds S]   (S per phase, default 5; the whole run stays under 60 s)
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "etcd_fixture.h"
#include "state/etcd/etcd_state.h"
#include "state/sqlite/sqlite_state.h"

namespace {

using namespace alto;
using namespace alto::state;
using Clock = std::chrono::steady_clock;

struct Figures {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  size_t ops = 0;
};

Result<Figures> PutLoop(StateStore& store, std::chrono::seconds duration) {
  const std::string value(100, 'v');
  for (int i = 0; i < 50; ++i) {  // warm-up: connections, pages
    auto r = store.Put("bench/warm", value);
    if (!r) return r.error();
  }
  std::vector<double> lat;
  auto start = Clock::now();
  auto end = start + duration;
  // Bounded by count as well as time, so a very fast backend cannot fill memory.
  for (size_t i = 0; Clock::now() < end && i < 2'000'000; ++i) {
    auto t0 = Clock::now();
    auto r = store.Put("bench/" + std::to_string(i % 1000), value);
    if (!r) return r.error();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  Figures f;
  f.ops = lat.size();
  f.ops_per_s = lat.size() / total;
  f.p50_us = lat[lat.size() / 2];
  f.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
  return f;
}

Result<Figures> GrpcBaseline(const std::string& script, const std::string& endpoint, size_t ops) {
  std::string cmd = "/usr/bin/python3 " + script + " " + endpoint + " " + std::to_string(ops);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return MakeError(Errc::kInternal, "popen failed");
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) return MakeError(Errc::kUnavailable, "the gRPC baseline failed (python3-grpcio?)");
  auto j = ParseJson(out);
  if (!j || !j->is_object()) return MakeError(Errc::kInternal, "gRPC baseline said: " + out);
  Figures f;
  f.ops = ops;
  f.ops_per_s = j->value("ops_per_s", 0.0);
  f.p50_us = j->value("p50_us", 0.0);
  f.p99_us = j->value("p99_us", 0.0);
  return f;
}

void Print(const char* name, const Result<Figures>& f) {
  if (!f) {
    std::printf("%-34s  failed: %s\n", name, f.error().message.c_str());
    return;
  }
  std::printf("%-34s %10.0f %10.0f %10.0f %8zu\n", name, f->ops_per_s, f->p50_us, f->p99_us,
              f->ops);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: state_bench [--seconds S]\n");
      return 2;
    }
  }
  if (seconds < 1 || seconds > 15) {
    std::fprintf(stderr, "--seconds must be 1..15 (the run stays under a minute)\n");
    return 2;
  }
  auto phase = std::chrono::seconds(seconds);
  std::string script = (std::filesystem::path(ALTO_BENCH_SOURCE_DIR) / "etcd_grpc_put.py").string();

  state::testing::EtcdProcess etcd;
  if (!etcd.ok()) {
    std::fprintf(stderr, "etcd did not start: %s\n", etcd.error().c_str());
    return 1;
  }
  EtcdOptions options;
  options.endpoints = {etcd.endpoint()};
  auto store = OpenEtcdState(options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  std::printf("sequential single-key puts (Txn with one put, 100-byte values), %d s a phase\n",
              seconds);
  std::printf("%-34s %10s %10s %10s %8s\n", "path", "ops/s", "p50 us", "p99 us", "ops");
  auto gateway = PutLoop(**store, phase);
  Print("etcd backend (JSON gateway, Beast)", gateway);
  size_t grpc_ops = gateway ? std::max<size_t>(200, gateway->ops) : 1000;
  Print("etcd gRPC (Python grpcio)", GrpcBaseline(script, etcd.endpoint(), grpc_ops));

  // SQLite in a temp dir, on the real clock.
  char tmpl[] = "/tmp/alto-state-bench.XXXXXX";
  if (::mkdtemp(tmpl)) {
    boost::asio::io_context timer_io;
    auto guard = boost::asio::make_work_guard(timer_io);
    std::thread timer([&] { timer_io.run(); });
    SystemClock clock;
    {
      auto sqlite = OpenSqliteState(std::string(tmpl) + "/alto.db", clock, timer_io.get_executor());
      if (sqlite) {
        Print("sqlite backend", PutLoop(**sqlite, phase));
      } else {
        Print("sqlite backend", sqlite.error());
      }
    }
    guard.reset();
    timer_io.stop();
    timer.join();
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
  }
  return 0;
}
