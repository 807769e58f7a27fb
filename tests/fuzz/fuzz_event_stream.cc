// The event-stream encoder (InvokeWithResponseStream's framing). The input is cut into string
// headers and a payload; the harness encodes them and decodes the frame with its own reader,
// which checks the prelude, both CRC32s, and that headers and payload come back unchanged.
#include <fuzzer/FuzzedDataProvider.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "api/event_stream.h"
#include "check.h"

namespace {

uint32_t U32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

uint32_t Crc(const std::string& s, size_t n) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(n)));
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// An independent reader of one message, as the SDKs' decoders read it.
void Decode(const std::string& frame, const Headers& headers, const std::string& payload) {
  FUZZ_CHECK(frame.size() >= 16, "a frame has a prelude and a message CRC");
  const uint32_t total = U32(frame, 0);
  const uint32_t headers_len = U32(frame, 4);
  FUZZ_CHECK(total == frame.size(), "the total length is the frame's size");
  FUZZ_CHECK(U32(frame, 8) == Crc(frame, 8), "the prelude CRC");
  FUZZ_CHECK(U32(frame, total - 4) == Crc(frame, total - 4), "the message CRC");
  FUZZ_CHECK(16 + static_cast<size_t>(headers_len) <= total, "the headers fit the frame");
  size_t at = 12;
  const size_t end = 12 + headers_len;
  Headers decoded;
  while (at < end) {
    const size_t name_len = static_cast<uint8_t>(frame[at]);
    FUZZ_CHECK(at + 1 + name_len + 3 <= end, "a header name and its type fit");
    std::string name = frame.substr(at + 1, name_len);
    at += 1 + name_len;
    FUZZ_CHECK(frame[at] == 7, "headers are strings (type 7)");
    const size_t value_len = (static_cast<size_t>(static_cast<uint8_t>(frame[at + 1])) << 8) |
                             static_cast<uint8_t>(frame[at + 2]);
    at += 3;
    FUZZ_CHECK(at + value_len <= end, "a header value fits");
    decoded.emplace_back(std::move(name), frame.substr(at, value_len));
    at += value_len;
  }
  FUZZ_CHECK(at == end, "the headers end where the prelude says");
  FUZZ_CHECK(decoded == headers, "the headers come back unchanged");
  FUZZ_CHECK(frame.compare(end, total - 4 - end, payload) == 0 && total - 4 - end == payload.size(),
             "the payload comes back unchanged");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Headers headers;
  const size_t count = in.ConsumeIntegralInRange<size_t>(0, 6);
  for (size_t i = 0; i < count; ++i) {
    // The format's limits: names up to 255 bytes, string values up to 65535. The encoder's
    // callers use fixed names and short values; beyond these limits the format cannot carry
    // a header at all.
    std::string name = in.ConsumeRandomLengthString(255);
    std::string value = in.ConsumeRandomLengthString(65535);
    headers.emplace_back(std::move(name), std::move(value));
  }
  const bool event = in.ConsumeBool();
  std::string payload = in.ConsumeRemainingBytesAsString();
  if (event && headers.size() >= 2) {
    const std::string frame = alto::EncodeEvent(headers[0].second, headers[1].second, payload);
    Decode(frame,
           {{":event-type", headers[0].second},
            {":content-type", headers[1].second},
            {":message-type", "event"}},
           payload);
  } else {
    Decode(alto::EncodeEventStreamMessage(headers, payload), headers, payload);
  }
  return 0;
}
