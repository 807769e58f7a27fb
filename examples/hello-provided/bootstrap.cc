// A custom-runtime function (Lambda's `provided` runtimes): an executable `bootstrap` that speaks
// the Runtime API itself. It answers every event with a greeting that echoes the event. Written
// on raw sockets so it has no dependencies and starts in microseconds; it is also the no-op
// function the benchmarks use.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

int Connect(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(host_port.c_str() + colon + 1)));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP response with a Content-Length body. Returns false on a broken connection.
bool ReadResponse(int fd, std::string& buffer, std::string& headers, std::string& body) {
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buffer.append(tmp, static_cast<size_t>(n));
  }
  headers = buffer.substr(0, end + 2);
  size_t length = 0;
  for (size_t pos = 0; pos < headers.size();) {
    size_t eol = headers.find("\r\n", pos);
    std::string line = headers.substr(pos, eol - pos);
    if (strncasecmp(line.c_str(), "content-length:", 15) == 0)
      length = std::strtoul(line.c_str() + 15, nullptr, 10);
    pos = eol + 2;
  }
  buffer.erase(0, end + 4);
  while (buffer.size() < length) {
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buffer.append(tmp, static_cast<size_t>(n));
  }
  body = buffer.substr(0, length);
  buffer.erase(0, length);
  return true;
}

std::string Header(const std::string& headers, const char* name) {
  size_t len = std::strlen(name);
  for (size_t pos = 0; pos < headers.size();) {
    size_t eol = headers.find("\r\n", pos);
    if (strncasecmp(headers.c_str() + pos, name, len) == 0 && headers[pos + len] == ':') {
      size_t v = pos + len + 1;
      while (headers[v] == ' ') ++v;
      return headers.substr(v, eol - v);
    }
    pos = eol + 2;
  }
  return {};
}

}  // namespace

int main() {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api) {
    std::fprintf(stderr, "AWS_LAMBDA_RUNTIME_API is not set\n");
    return 1;
  }
  int fd = Connect(api);
  if (fd < 0) {
    std::fprintf(stderr, "cannot connect to the Runtime API at %s\n", api);
    return 1;
  }
  // HELLO_STREAM=1: answer with Lambda's streaming protocol (a chunked POST in the
  // HTTP-integration framing, as a RESPONSE_STREAM function URL reads it), in two chunks.
  const char* stream_env = std::getenv("HELLO_STREAM");
  const bool stream = stream_env && std::string(stream_env) == "1";
  // HELLO_HOLD_MS=N: hold each invocation N ms before answering, like a function that works:
  // concurrent callers then each need a sandbox of their own (bench/scale_bench's scale-out).
  const char* hold_env = std::getenv("HELLO_HOLD_MS");
  const int hold_ms = hold_env ? std::atoi(hold_env) : 0;
  std::string buffer, headers, event, ack;
  const std::string next =
      std::string("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: ") + api + "\r\n\r\n";
  for (;;) {
    if (!SendAll(fd, next) || !ReadResponse(fd, buffer, headers, event)) return 1;
    std::string id = Header(headers, "Lambda-Runtime-Aws-Request-Id");
    if (hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    std::string result = R"({"message":"Hello from a custom runtime!","event":)" +
                         (event.empty() ? "null" : event) + "}";
    std::string post =
        "POST /2018-06-01/runtime/invocation/" + id + "/response HTTP/1.1\r\nHost: " + api;
    if (stream) {
      static const std::string kPrelude =
          std::string(R"({"statusCode":200,"headers":{"content-type":"application/json"}})") +
          std::string(8, '\0');
      auto chunk = [](const std::string& data) {
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        return size + data + "\r\n";
      };
      post +=
          "\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked"
          "\r\nContent-Type: application/vnd.awslambda.http-integration-response\r\n\r\n" +
          chunk(kPrelude) + chunk(result) + "0\r\n\r\n";
    } else {
      post +=
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(result.size()) +
          "\r\n\r\n" + result;
    }
    if (!SendAll(fd, post) || !ReadResponse(fd, buffer, headers, ack)) return 1;
  }
}
