// auth_bench: what SigV4 verification costs per API request, in-process, single thread.
//
// There is no switch that turns verification off in the server (and there must not be one), so
// the cost on the warm invoke path is measured here, on the same code the server runs: a real
// SQLite key store in a temp dir, auth::Authenticator::Authenticate as lambda_api.cc calls it,
// and a typical signed Invoke request (the headers botocore sends, a 1 KB JSON body). bench/run
// runs it in the same run as its warm invokes and puts the figure next to their p50.
//
// Every case is timed in batches of ~5 ms, in rounds of one batch per case, bounded by a time
// budget and a batch count. A batch is timed by this thread's CPU clock: on a shared machine the
// wall clock also counts the time the thread waited for a CPU, which is not the cost of the code.
// The median batch is reported (it ignores batches that cache or frequency effects of neighbours
// disturbed), with the fastest batch and the wall-clock median next to it.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/key_store.h"
#include "auth/sigv4.h"
#include "common/time.h"
#include "http/message.h"
#include "state/sqlite/sqlite_state.h"
#include "store/secret_box.h"

namespace {

namespace auth = alto::auth;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// Shaped like an IAM key pair (20 and 40 characters); the values only ever live in the temp dir.
constexpr const char* kKeyId = "AKIAALTOBENCH0000000";
constexpr const char* kSecret = "bench/Secret+Key/For+auth_bench/00000000";
constexpr const char* kRegion = "us-east-1";
constexpr const char* kPath = "/2015-03-31/functions/bench-noop/invocations";
// Lambda's limit for a synchronous invoke's request payload.
constexpr size_t kMaxPayload = 6 * 1024 * 1024;

// Keeps the optimizer from dropping or hoisting work whose result is otherwise unused.
template <class T>
inline void Keep(const T& value) {
  asm volatile("" : : "r"(&value) : "memory");
}

struct Options {
  double seconds_per_case = 0.5;
  int max_batches = 200;
  std::string json_file;
};

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--seconds-per-case S] [--max-batches N] [--json FILE]\n"
               "  --seconds-per-case S  time budget per case (default 0.5, at most 10)\n"
               "  --max-batches N       batches per case at most (default 200)\n"
               "  --json FILE           also write every figure as one JSON line to FILE\n",
               argv0);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage(argv[0]);
    if (a == "--seconds-per-case") {
      o.seconds_per_case = std::atof(argv[++i]);
    } else if (a == "--max-batches") {
      o.max_batches = std::atoi(argv[++i]);
    } else if (a == "--json") {
      o.json_file = argv[++i];
    } else {
      Usage(argv[0]);
    }
  }
  if (!(o.seconds_per_case > 0 && o.seconds_per_case <= 10) || o.max_batches < 1) Usage(argv[0]);
  return o;
}

struct Figure {
  std::string key;                // JSON name
  std::string label;              // table row
  std::function<void()> op;       // one call
  long per_batch = 1;             // calls per batch (~5 ms of CPU)
  std::vector<double> cpu, wall;  // per call, each batch
  long ops = 0;
  double median_ns = 0;       // per call, thread CPU time, median batch
  double min_ns = 0;          // per call, thread CPU time, fastest batch
  double wall_median_ns = 0;  // per call, wall clock, median batch
};

double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// How many calls fill ~5 ms of CPU (one warm-up call first, which also fills caches).
void Calibrate(Figure& f) {
  f.op();
  for (f.per_batch = 1;; f.per_batch *= 2) {
    double c0 = ThreadCpuNs();
    for (long i = 0; i < f.per_batch; ++i) f.op();
    double ns = ThreadCpuNs() - c0;
    if (ns >= 5e6 || f.per_batch >= (1L << 24)) break;
    if (ns < 5e5) f.per_batch *= 5;  // x10 with the loop's x2
  }
}

void RunBatch(Figure& f) {
  auto w0 = SteadyClock::now();
  double c0 = ThreadCpuNs();
  for (long i = 0; i < f.per_batch; ++i) f.op();
  double c1 = ThreadCpuNs();
  auto w1 = SteadyClock::now();
  const auto n = static_cast<double>(f.per_batch);
  f.cpu.push_back((c1 - c0) / n);
  f.wall.push_back(std::chrono::duration<double, std::nano>(w1 - w0).count() / n);
  f.ops += f.per_batch;
}

// Rounds of one batch per case, until the budget (seconds_per_case per case) or the batch count
// runs out. Interleaved, so that drift on a shared machine (frequency, neighbours on the sibling
// hyperthread) hits every case alike and the cases stay comparable with each other.
void RunInterleaved(const Options& o, std::vector<Figure>& figures) {
  for (auto& f : figures) Calibrate(f);
  auto deadline = SteadyClock::now() +
                  std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
                      o.seconds_per_case * static_cast<double>(figures.size())));
  for (int round = 0; round < o.max_batches && (round == 0 || SteadyClock::now() < deadline);
       ++round) {
    for (auto& f : figures) RunBatch(f);
  }
  for (auto& f : figures) {
    f.median_ns = Median(f.cpu);
    f.min_ns = *std::min_element(f.cpu.begin(), f.cpu.end());
    f.wall_median_ns = Median(f.wall);
  }
}

// A JSON body of exactly `size` bytes: {"payload":"xxxx..."}.
std::string JsonBody(size_t size) {
  const std::string head = "{\"payload\":\"", tail = "\"}";
  std::string body = head;
  body.append(size - head.size() - tail.size(), 'x');
  body += tail;
  return body;
}

// An Invoke request as the server's HTTP layer hands it to LambdaApi::Handle, signed as botocore
// signs it: host, content-type and x-amz-date signed; user-agent (never signed), accept-encoding
// and content-length added after signing, as botocore's transport adds them.
alto::http::Request SignedInvoke(const std::string& body) {
  alto::http::Request req;
  req.method = "POST";
  req.target = kPath;
  req.path = kPath;
  req.remote_ip = "127.0.0.1";
  req.headers = {{"Host", "127.0.0.1:9000"},
                 {"Content-Type", "application/json"},
                 {"User-Agent",
                  "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 "
                  "lang/python#3.12.1 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11"}};
  req.body = body;
  auth::SignRequest(req, {kKeyId, kSecret, {}}, kRegion, "lambda", std::time(nullptr),
                    auth::PathStyle::kDoubleEncoded);
  req.headers.push_back({"Accept-Encoding", "identity"});
  req.headers.push_back({"Content-Length", std::to_string(body.size())});
  return req;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "alto-auth-bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string FormatRate(double per_s) {
  char buf[32];
  if (per_s >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", per_s / 1e6);
  } else if (per_s >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f k", per_s / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", per_s);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  double load0[3] = {0, 0, 0}, load1[3] = {0, 0, 0};
  getloadavg(load0, 3);

  TempDir dir;
  auto box = alto::SecretBox::LoadOrCreate(dir.path() / "secret.key");
  if (!box) {
    std::fprintf(stderr, "secret box: %s\n", box.error().message.c_str());
    return 1;
  }
  alto::SystemClock clock;
  // Never run: the key store's watch and the lease timer only matter across nodes and time.
  boost::asio::io_context io;
  auto state =
      alto::state::OpenSqliteState((dir.path() / "alto.db").string(), clock, io.get_executor());
  if (!state) {
    std::fprintf(stderr, "state: %s\n", state.error().message.c_str());
    return 1;
  }
  auto store =
      auth::OpenStateKeyStore(std::move(*state), *box, io.get_executor(), clock.WallMillis());
  if (!store) {
    std::fprintf(stderr, "key store: %s\n", store.error().message.c_str());
    return 1;
  }
  auto& keys = **store;
  if (auto k =
          keys.CreateKey(std::string(auth::kAdminAccountId), {}, "auth_bench", kKeyId, kSecret);
      !k) {
    std::fprintf(stderr, "create key: %s\n", k.error().message.c_str());
    return 1;
  }
  auth::Authenticator authenticator(keys, clock);

  const std::string small_body = JsonBody(1024), large_body = JsonBody(kMaxPayload);
  // Signed now; every case below finishes well inside the 5-minute window (at most ~12 cases of
  // at most 10 s each), so the signature stays valid without re-signing.
  const alto::http::Request small = SignedInvoke(small_body), large = SignedInvoke(large_body);
  for (const auto* req : {&small, &large}) {
    auto r = authenticator.Authenticate(*req, "lambda", auth::PathStyle::kDoubleEncoded);
    if (auto* f = std::get_if<auth::AuthFailure>(&r)) {
      std::fprintf(stderr, "the signed request does not verify: %s\n", f->message.c_str());
      return 1;
    }
  }
  auto claim = std::get<auth::SigV4Claim>(auth::ParseSigV4(small));
  const auto signing_key = auth::DeriveSigningKey(kSecret, claim.scope_date, kRegion, "lambda");
  auth::SigningKeyCache cache;

  // The server builds a fresh Request per request; so does every case that handles one (a copy),
  // and the copy alone is the baseline to subtract.
  auto authenticate = [&](const alto::http::Request& req) {
    return [&, r = &req] {
      alto::http::Request copy = *r;
      auto res = authenticator.Authenticate(copy, "lambda", auth::PathStyle::kDoubleEncoded);
      Keep(res);
    };
  };
  auto copy_only = [](const alto::http::Request& req) {
    return [r = &req] {
      alto::http::Request copy = *r;
      Keep(copy);
    };
  };
  std::vector<Figure> f;
  auto add = [&](std::string key, std::string label, std::function<void()> op) {
    Figure x;
    x.key = std::move(key);
    x.label = std::move(label);
    x.op = std::move(op);
    f.push_back(std::move(x));
  };
  add("authenticate_1k", "(a) Authenticate, 1 KB body", authenticate(small));
  add("authenticate_6m", "(b) Authenticate, 6 MiB body", authenticate(large));
  add("copy_1k", "(c) copy of the 1 KB request only", copy_only(small));
  add("copy_6m", "(c) copy of the 6 MiB request only", copy_only(large));
  add("derive_key", "(d) signing key derivation, uncached", [&] {
    auto k = auth::DeriveSigningKey(kSecret, claim.scope_date, kRegion, "lambda");
    Keep(k);
  });
  add("cached_key", "    signing key from the cache (hit)", [&] {
    auto k = cache.Get(kKeyId, kSecret, claim.scope_date, kRegion, "lambda");
    Keep(k);
  });
  // Where (a)'s time goes.
  add("parse", "    ParseSigV4 (Authorization header)", [&] {
    auto c = auth::ParseSigV4(small);
    Keep(c);
  });
  add("key_lookup", "    KeyStore::Find (in memory)", [&] {
    auto k = keys.Find(kKeyId);
    Keep(k);
  });
  add("verify_1k", "    Verify, key given (canonical req., HMAC, compare, body hash)", [&] {
    auto e = auth::Verify(small, claim, signing_key, auth::PathStyle::kDoubleEncoded);
    Keep(e);
  });
  add("sha256_1k", "    SHA-256 of the 1 KB body", [&] {
    auto h = auth::Sha256Hex(small.body);
    Keep(h);
  });
  RunInterleaved(o, f);
  getloadavg(load1, 3);

  auto by_key = [&](const std::string& k) -> const Figure& {
    return *std::find_if(f.begin(), f.end(), [&](const Figure& x) { return x.key == k; });
  };
  const double net_1k = by_key("authenticate_1k").median_ns - by_key("copy_1k").median_ns;
  const double net_6m = by_key("authenticate_6m").median_ns - by_key("copy_6m").median_ns;
  const double saved = by_key("derive_key").median_ns - by_key("cached_key").median_ns;

  std::string signed_headers;
  for (const auto& h : claim.signed_headers)
    signed_headers += (signed_headers.empty() ? "" : ";") + h;
  std::printf("SigV4 verification, in-process, 1 thread (POST %s, signed: %s)\n", kPath,
              signed_headers.c_str());
  std::printf(
      "load average %.2f at start, %.2f at end; ns/op: thread CPU time, median batch (fastest "
      "batch, wall-clock median beside)\n",
      load0[0], load1[0]);
  std::printf("%-62s %10s %10s %10s %11s %9s\n", "case", "ns/op", "fastest", "wall", "ops/s/core",
              "calls");
  for (const auto& x : f) {
    std::printf("%-62s %10.0f %10.0f %10.0f %11s %9ld\n", x.label.c_str(), x.median_ns, x.min_ns,
                x.wall_median_ns, FormatRate(1e9 / x.median_ns).c_str(), x.ops);
  }
  std::printf("%-62s %10.0f %10s %10s %11s\n", "(a) - (c): verification of a 1 KB Invoke", net_1k,
              "", "", FormatRate(1e9 / net_1k).c_str());
  std::printf("%-62s %10.0f %10s %10s %11s\n", "(b) - (c): verification of a 6 MiB Invoke", net_6m,
              "", "", FormatRate(1e9 / net_6m).c_str());
  std::printf("%-62s %10.0f\n", "(d) - cache hit: what the signing-key cache saves per request",
              saved);

  if (!o.json_file.empty()) {
    FILE* out = std::fopen(o.json_file.c_str(), "w");
    if (out == nullptr) {
      std::perror(o.json_file.c_str());
      return 1;
    }
    std::fprintf(out, "{\"label\":\"auth-bench\"");
    for (const auto& x : f) {
      std::fprintf(out, ",\"%s_ns\":%.1f,\"%s_min_ns\":%.1f,\"%s_wall_ns\":%.1f", x.key.c_str(),
                   x.median_ns, x.key.c_str(), x.min_ns, x.key.c_str(), x.wall_median_ns);
    }
    std::fprintf(out,
                 ",\"verify_net_1k_ns\":%.1f,\"verify_net_6m_ns\":%.1f,\"cache_saves_ns\":%.1f,"
                 "\"load_start\":%.2f,\"load_end\":%.2f}\n",
                 net_1k, net_6m, saved, load0[0], load1[0]);
    std::fclose(out);
  }
  return 0;
}
