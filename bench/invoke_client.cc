// invoke_client: a small HTTP/1.1 keep-alive load client for Alto's benchmarks.
//
// Sends N requests (METHOD PATH with a body) to host:port over C keep-alive connections (one
// thread each; C=1 means strictly sequential), bounded by both N and a time limit, and prints one
// JSON line: latency percentiles in microseconds and requests per second.
//
// For cold-start measurements, --before-* sends an untimed request on the same connection before
// every timed one (e.g. UpdateFunctionConfiguration, which retires the warm sandboxes), and
// --log-tail asks Alto for the log tail (X-Amz-Log-Type: Tail) and reports the REPORT line's
// Init Duration.
//
// With --sign KEY_ID:SECRET every request is SigV4-signed (auth::SignRequest, as Alto's own CLI
// signs). The timed request is signed once and the same bytes are replayed: SigV4 has no nonce, a
// signed request stays valid for the server's 5-minute window, and signing per request would
// measure the client's HMACs instead of the server's verification. A connection re-signs its
// copy (outside the timing) once it is 4 minutes old. Untimed before-requests, whose bodies
// differ, are signed each time.
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "auth/sigv4.h"
#include "http/message.h"
#include "http_lite.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string method = "POST";
  std::string path = "/";
  std::string body = "{}";
  std::vector<std::string> headers;
  long requests = 1000;
  long warmup = 0;
  int connections = 1;
  double time_limit_s = 60;
  int timeout_ms = 30000;
  bool log_tail = false;
  std::string before_method = "PUT";
  std::string before_path;  // empty: no before-request
  std::string before_body;  // "{i}" is replaced by a counter unique within the process
  int pause_ms = 0;         // sleep between the before-request and the timed one
  std::string label;
  bool print_samples = false;
  alto::auth::Credentials credentials;  // empty key id: requests go unsigned
  std::string region = "us-east-1";
  std::string service = "lambda";
};

// Re-sign a replayed request this long after signing it, a minute before the server's 5-minute
// window would refuse it.
constexpr auto kResignAfter = std::chrono::seconds(240);

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s --target HOST:PORT [options]\n"
      "  --target HOST:PORT       server to load (IPv4 literal, e.g. 127.0.0.1:8080)\n"
      "  --method M               request method (default POST)\n"
      "  --path P                 request path (default /)\n"
      "  --body S | --body-file F request body (default {})\n"
      "  --header 'K: V'          extra request header (repeatable)\n"
      "  -n, --requests N         measured requests, total over all connections (default 1000)\n"
      "  --warmup W               unmeasured requests before measuring (default 0)\n"
      "  -c, --connections C      parallel keep-alive connections, one thread each (default 1)\n"
      "  --time-limit S           stop measuring after S seconds (default 60)\n"
      "  --timeout-ms MS          per-request receive timeout (default 30000)\n"
      "  --log-tail               send X-Amz-Log-Type: Tail; report the REPORT line's Init "
      "Duration\n"
      "  --before-path P          before each request, send an untimed request to P on the same "
      "connection\n"
      "  --before-method M        its method (default PUT)\n"
      "  --before-body S          its body; {i} is replaced by a unique counter\n"
      "  --pause-ms MS            sleep MS between the before-request and the timed request\n"
      "  --label S                label copied into the JSON output\n"
      "  --samples                also print every latency sample (us) in the JSON\n"
      "  --sign KEY_ID:SECRET     SigV4-sign every request with this access key\n"
      "  --region R               the signature's region (default us-east-1)\n"
      "  --service S              the signature's service (default lambda)\n",
      argv0);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) Usage(argv[0]);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--target") {
      if (!bench::SplitHostPort(need(i), o.host, o.port)) Usage(argv[0]);
    } else if (a == "--method") {
      o.method = need(i);
    } else if (a == "--path") {
      o.path = need(i);
    } else if (a == "--body") {
      o.body = need(i);
    } else if (a == "--body-file") {
      std::ifstream f(need(i), std::ios::binary);
      std::ostringstream ss;
      ss << f.rdbuf();
      o.body = ss.str();
    } else if (a == "--header") {
      o.headers.push_back(need(i));
    } else if (a == "-n" || a == "--requests") {
      o.requests = std::atol(need(i).c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atol(need(i).c_str());
    } else if (a == "-c" || a == "--connections") {
      o.connections = std::max(1, std::atoi(need(i).c_str()));
    } else if (a == "--time-limit") {
      o.time_limit_s = std::atof(need(i).c_str());
    } else if (a == "--timeout-ms") {
      o.timeout_ms = std::atoi(need(i).c_str());
    } else if (a == "--log-tail") {
      o.log_tail = true;
    } else if (a == "--before-path") {
      o.before_path = need(i);
    } else if (a == "--before-method") {
      o.before_method = need(i);
    } else if (a == "--before-body") {
      o.before_body = need(i);
    } else if (a == "--pause-ms") {
      o.pause_ms = std::atoi(need(i).c_str());
    } else if (a == "--label") {
      o.label = need(i);
    } else if (a == "--samples") {
      o.print_samples = true;
    } else if (a == "--sign") {
      std::string v = need(i);
      size_t colon = v.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == v.size()) Usage(argv[0]);
      o.credentials.access_key_id = v.substr(0, colon);
      o.credentials.secret_access_key = v.substr(colon + 1);
    } else if (a == "--region") {
      o.region = need(i);
    } else if (a == "--service") {
      o.service = need(i);
    } else {
      Usage(argv[0]);
    }
  }
  if (o.port == 0 || o.requests < 0 || o.warmup < 0 || o.time_limit_s <= 0) Usage(argv[0]);
  return o;
}

// The request's bytes, SigV4-signed (now) when the options carry credentials. The Host sent is
// the one signed.
std::string BuildRequest(const Options& o, const std::string& method, const std::string& path,
                         const std::string& host_hdr, const std::vector<std::string>& extra,
                         const std::string& body) {
  alto::http::Request req;
  req.method = method;
  req.target = path;
  size_t q = path.find('?');
  req.path = path.substr(0, q);
  req.query = q == std::string::npos ? "" : path.substr(q + 1);
  req.headers.push_back({"Host", host_hdr});
  req.headers.push_back({"Content-Type", "application/json"});
  for (const auto& h : extra) {
    size_t colon = h.find(':');
    std::string value = colon == std::string::npos ? "" : h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    req.headers.push_back({h.substr(0, colon), value});
  }
  if (!o.credentials.access_key_id.empty()) {
    req.body = body;  // hashed into the signature (Lambda sends no x-amz-content-sha256)
    alto::auth::SignRequest(req, o.credentials, o.region, o.service, std::time(nullptr),
                            alto::auth::PathStyle::kDoubleEncoded);
  }
  std::string r = method + " " + path + " HTTP/1.1\r\n";
  for (const auto& h : req.headers) r += h.name + ": " + h.value + "\r\n";
  // Neither is signed: SigV4 never signs User-Agent, and botocore adds Content-Length after
  // signing too.
  r += "User-Agent: alto-bench\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

int StatusOf(const std::string& head) {
  // "HTTP/1.1 200 OK"
  size_t sp = head.find(' ');
  return sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
}

std::string Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // '=' padding, whitespace
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// "Init Duration: 12.34 ms" in a REPORT line; negative when absent.
double InitDurationMs(const std::string& log) {
  size_t p = log.find("Init Duration:");
  if (p == std::string::npos) return -1;
  return std::strtod(log.c_str() + p + 14, nullptr);
}

class Connection {
 public:
  Connection(const Options& o) : o_(o) {}
  ~Connection() { Close(); }

  bool Open() {
    Close();
    sockaddr_in addr;
    if (!bench::MakeAddr(o_.host, o_.port, addr)) return false;
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    bench::SetNoDelay(fd_);
    timeval tv{o_.timeout_ms / 1000, (o_.timeout_ms % 1000) * 1000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return false;
    }
    reader_ = std::make_unique<bench::Reader>(fd_);
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    reader_.reset();
  }

  // One exchange; reconnects first if needed. Returns the status (0 on a transport error).
  int Exchange(const std::string& request, std::string& head, std::string& body) {
    if (fd_ < 0 && !Open()) return 0;
    if (!bench::SendAll(fd_, request) || !reader_->ReadMessage(head, body)) {
      Close();
      return 0;
    }
    std::string conn = bench::HeaderValue(head, "Connection");
    if (strcasecmp(conn.c_str(), "close") == 0) Close();
    return StatusOf(head);
  }

 private:
  const Options& o_;
  int fd_ = -1;
  std::unique_ptr<bench::Reader> reader_;
};

struct ThreadResult {
  std::vector<double> latency_us;
  std::vector<double> init_ms;
  long errors = 0;
  long function_errors = 0;
  long before_errors = 0;
  std::string first_error;
};

std::atomic<long> g_counter{0};

std::string ExpandCounter(std::string s) {
  long v = g_counter.fetch_add(1);
  const std::string key = "{i}";
  for (size_t p; (p = s.find(key)) != std::string::npos;)
    s.replace(p, key.size(), std::to_string(v));
  return s;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  const std::string host_hdr = o.host + ":" + std::to_string(o.port);
  std::vector<std::string> extra = o.headers;
  if (o.log_tail) extra.push_back("X-Amz-Log-Type: Tail");
  const bool has_before = !o.before_path.empty();
  const bool signing = !o.credentials.access_key_id.empty();
  // Signed once here; each connection replays its own copy (see the file comment).
  struct Signed {
    std::string bytes;
    SteadyClock::time_point at;
  };
  auto sign_now = [&] {
    return Signed{BuildRequest(o, o.method, o.path, host_hdr, extra, o.body), SteadyClock::now()};
  };
  const Signed first = sign_now();

  std::atomic<long> warm_left{o.warmup};
  std::atomic<long> left{o.requests};
  std::atomic<bool> stop{false};
  std::vector<ThreadResult> results(static_cast<size_t>(o.connections));
  std::barrier sync(o.connections + 1);
  SteadyClock::time_point deadline;  // written before the barrier releases the workers

  auto one = [&](Connection& conn, Signed& request, ThreadResult& r, bool measured) {
    std::string head, body;
    if (has_before) {
      std::string before = BuildRequest(o, o.before_method, o.before_path, host_hdr, o.headers,
                                        ExpandCounter(o.before_body));
      int st = conn.Exchange(before, head, body);
      if (st < 200 || st > 299) {
        ++r.before_errors;
        if (r.first_error.empty())
          r.first_error =
              "before-request status " + std::to_string(st) + ": " + body.substr(0, 200);
      }
    }
    if (o.pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
    if (signing && SteadyClock::now() - request.at > kResignAfter) request = sign_now();
    auto t0 = SteadyClock::now();
    int st = conn.Exchange(request.bytes, head, body);
    auto t1 = SteadyClock::now();
    if (!measured) return;
    if (st < 200 || st > 299) {
      ++r.errors;
      if (r.first_error.empty())
        r.first_error = "status " + std::to_string(st) + ": " + body.substr(0, 200);
      return;
    }
    if (!bench::HeaderValue(head, "X-Amz-Function-Error").empty()) {
      ++r.function_errors;
      if (r.first_error.empty()) r.first_error = "function error: " + body.substr(0, 200);
    }
    r.latency_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (o.log_tail) {
      std::string log = Base64Decode(bench::HeaderValue(head, "X-Amz-Log-Result"));
      double init = InitDurationMs(log);
      if (init >= 0) r.init_ms.push_back(init);
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < o.connections; ++t) {
    threads.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<size_t>(t)];
      r.latency_us.reserve(static_cast<size_t>(o.requests / o.connections + 1));
      Connection conn(o);
      Signed request = first;
      conn.Open();
      // Warm-up is bounded by the time limit too.
      auto warm_deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                    std::chrono::duration<double>(o.time_limit_s));
      while (warm_left.fetch_sub(1) > 0 && SteadyClock::now() < warm_deadline)
        one(conn, request, r, false);
      sync.arrive_and_wait();  // everyone warmed up
      sync.arrive_and_wait();  // deadline set
      while (!stop.load(std::memory_order_relaxed) && left.fetch_sub(1) > 0) {
        if (SteadyClock::now() >= deadline) {
          stop = true;
          break;
        }
        one(conn, request, r, true);
      }
    });
  }
  sync.arrive_and_wait();
  auto start = SteadyClock::now();
  deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                         std::chrono::duration<double>(o.time_limit_s));
  sync.arrive_and_wait();
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();

  std::vector<double> all, inits;
  long errors = 0, ferrors = 0, berrors = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.latency_us.begin(), r.latency_us.end());
    inits.insert(inits.end(), r.init_ms.begin(), r.init_ms.end());
    errors += r.errors;
    ferrors += r.function_errors;
    berrors += r.before_errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::vector<double> samples = all;
  std::sort(all.begin(), all.end());
  std::sort(inits.begin(), inits.end());
  double sum = 0;
  for (double v : all) sum += v;
  const long ok = static_cast<long>(all.size());

  std::string out = "{";
  char buf[512];
  if (!o.label.empty()) out += "\"label\":\"" + JsonEscape(o.label) + "\",";
  std::snprintf(
      buf, sizeof buf,
      "\"requests\":%ld,\"ok\":%ld,\"errors\":%ld,\"function_errors\":%ld,\"before_errors\":%ld,"
      "\"connections\":%d,\"signed\":%s,\"time_limited\":%s,\"elapsed_s\":%.3f,\"rps\":%.1f,"
      "\"min_us\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":"
      "%.1f",
      ok + errors, ok, errors, ferrors, berrors, o.connections, signing ? "true" : "false",
      stop.load() ? "true" : "false", elapsed,
      elapsed > 0 ? static_cast<double>(ok) / elapsed : 0.0, all.empty() ? 0.0 : all.front(),
      ok ? sum / static_cast<double>(ok) : 0.0, Percentile(all, 0.50), Percentile(all, 0.90),
      Percentile(all, 0.99), all.empty() ? 0.0 : all.back());
  out += buf;
  if (o.log_tail) {
    std::snprintf(buf, sizeof buf,
                  ",\"init_n\":%zu,\"init_p50_ms\":%.2f,\"init_p99_ms\":%.2f,\"init_max_ms\":%.2f",
                  inits.size(), Percentile(inits, 0.50), Percentile(inits, 0.99),
                  inits.empty() ? 0.0 : inits.back());
    out += buf;
  }
  if (!first_error.empty()) out += ",\"first_error\":\"" + JsonEscape(first_error) + "\"";
  if (o.print_samples) {
    out += ",\"samples_us\":[";
    for (size_t i = 0; i < samples.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%.1f", i ? "," : "", samples[i]);
      out += buf;
    }
    out += "]";
  }
  out += "}";
  std::puts(out.c_str());
  return (errors || berrors || ok == 0) && o.requests > 0 ? 1 : 0;
}
