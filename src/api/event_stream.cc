#include "api/event_stream.h"

#include <zlib.h>

#include <cstdint>

namespace alto {

namespace {

void PutU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

uint32_t Crc32(std::string_view data) {
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

}  // namespace

std::string EncodeEventStreamMessage(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view payload) {
  constexpr uint8_t kStringType = 7;
  std::string encoded_headers;
  for (const auto& [name, value] : headers) {
    encoded_headers.push_back(static_cast<char>(name.size()));
    encoded_headers += name;
    encoded_headers.push_back(static_cast<char>(kStringType));
    encoded_headers.push_back(static_cast<char>(value.size() >> 8));
    encoded_headers.push_back(static_cast<char>(value.size()));
    encoded_headers += value;
  }
  // prelude (total length, headers length, prelude CRC) + headers + payload + message CRC
  const size_t total = 12 + encoded_headers.size() + payload.size() + 4;
  std::string out;
  out.reserve(total);
  PutU32(out, static_cast<uint32_t>(total));
  PutU32(out, static_cast<uint32_t>(encoded_headers.size()));
  PutU32(out, Crc32(out));
  out += encoded_headers;
  out += payload;
  PutU32(out, Crc32(out));
  return out;
}

std::string EncodeEvent(std::string_view event_type, std::string_view content_type,
                        std::string_view payload) {
  return EncodeEventStreamMessage({{":event-type", std::string(event_type)},
                                   {":content-type", std::string(content_type)},
                                   {":message-type", "event"}},
                                  payload);
}

}  // namespace alto
