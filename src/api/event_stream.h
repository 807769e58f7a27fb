// AWS event-stream framing (application/vnd.amazon.eventstream), as InvokeWithResponseStream
// answers with it: each message is a length-prefixed, CRC32-checked record of typed headers and a
// payload. Pure functions; the SDKs' decoders check both CRCs, so the tests decode with botocore.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace alto {

// One message whose headers are all strings (type 7), in the order given.
std::string EncodeEventStreamMessage(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view payload);

// An `event` message of the given :event-type and :content-type.
std::string EncodeEvent(std::string_view event_type, std::string_view content_type,
                        std::string_view payload);

}  // namespace alto
