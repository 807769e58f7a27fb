// Function URLs' payload format 2.0 (api/http_event.h), both ways: a request (method, path,
// query, headers, body) becomes the event JSON, and a function's output becomes the HTTP response
// the server writes, buffered or in the streamed HTTP-integration framing; CORS and the URL host.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "api/http_event.h"
#include "check.h"

namespace {

// The server writes names and values into the response head as they are: a CR, LF or NUL in
// either would let a function's output end the head early and forge headers or a second
// response. A name must also be a non-empty token.
void CheckHeaders(const alto::http::Response& r) {
  FUZZ_CHECK(r.status >= 100 && r.status <= 599, "the status is a valid HTTP status");
  for (const auto& h : r.headers) {
    FUZZ_CHECK(!h.name.empty(), "a header has a name");
    for (char c : h.name) {
      FUZZ_CHECK(c > 32 && c < 127 && c != ':', "a header name is a token");
    }
    for (char c : h.value) {
      FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0', "a header value holds no CR, LF or NUL");
    }
  }
}

// A Cors list as the API stores it: CreateFunctionUrlConfig refuses control characters in its
// items (function_url_api.cc), so a stored config holds none.
std::vector<std::string> List(FuzzedDataProvider& in) {
  std::vector<std::string> out(in.ConsumeIntegralInRange<size_t>(0, 3));
  for (auto& s : out) {
    s = in.ConsumeRandomLengthString(32);
    for (char& c : s) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint8_t mode = in.ConsumeIntegral<uint8_t>() % 3;
  if (mode == 0) {
    // Output -> response: what a function returns is untrusted by the gateway.
    std::string output = in.ConsumeRemainingBytesAsString();
    auto r = alto::InterpretUrlResult(output);
    if (r.ok()) CheckHeaders(*r);
    if (auto s = alto::InterpretStreamedResult(output)) CheckHeaders(*s);
    return 0;
  }
  alto::http::Request req;
  req.method = in.ConsumeRandomLengthString(16);
  req.path = in.ConsumeRandomLengthString(128);
  req.query = in.ConsumeRandomLengthString(128);
  req.remote_ip = "127.0.0.1";
  const size_t headers = in.ConsumeIntegralInRange<size_t>(0, 12);
  for (size_t i = 0; i < headers; ++i) {
    alto::http::Header h;
    h.name = in.ConsumeRandomLengthString(32);
    h.value = in.ConsumeRandomLengthString(128);
    // As the server hands them over: Beast refuses CR, LF and NUL in a request's field values,
    // and CORS echoes Origin back.
    for (char& c : h.value) {
      if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    }
    req.headers.push_back(std::move(h));
  }
  if (mode == 1) {
    alto::UrlEventContext ctx{"000000000000", "abcdefghijklmnopqrstuvwxyz012345", "us-east-1",
                              "req-1", in.ConsumeIntegral<int64_t>() / 1000};
    req.body = in.ConsumeRemainingBytesAsString();
    std::string event = alto::BuildUrlEvent(req, req.path, ctx);
    auto j = nlohmann::json::parse(event, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j.is_object(), "the event is a JSON object");
    FUZZ_CHECK(j["version"] == "2.0", "the event is payload format 2.0");
    FUZZ_CHECK(j["headers"].is_object(), "the event's headers are an object");
    (void)alto::UrlIdFromHost(req.HeaderValue("host"));
    return 0;
  }
  // CORS, from a fuzzed configuration, on the request and on a function's response.
  alto::CorsConfig cors;
  cors.present = in.ConsumeBool();
  cors.allow_credentials = in.ConsumeBool();
  cors.allow_headers = List(in);
  cors.allow_methods = List(in);
  cors.allow_origins = List(in);
  cors.expose_headers = List(in);
  cors.max_age = in.ConsumeIntegralInRange<int>(-1, 86400);
  if (alto::IsCorsPreflight(cors, req)) {
    (void)alto::CorsPreflightResponse(cors, req);
  }
  auto r = alto::InterpretUrlResult(in.ConsumeRemainingBytesAsString());
  if (r.ok()) {
    alto::AddCorsHeaders(cors, req, *r);
    CheckHeaders(*r);
  }
  return 0;
}
