// The one JSON entry point. nlohmann's parser, accept() and destructor are iterative (3.11), but
// copying and dumping a DOM recurse once per nesting level: a tree 100,000 levels deep overflows
// the stack when copied or serialized. So every DOM Alto builds comes from ParseJson, which
// refuses text nested deeper than a limit before building anything, and bytes Alto only passes on
// (payloads, function responses) are validated with IsJson and spliced, never parsed.
#pragma once

#include <climits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace alto {

// Control-plane request bodies and the records Alto itself writes and reads back: real ones are a
// handful of levels deep.
constexpr int kApiJsonDepth = 64;
// Documents a function produces that Alto must look inside (error documents, function URL
// responses, stream preludes): generous, yet far from what recursive copy/dump can overflow.
constexpr int kFunctionJsonDepth = 512;

// The deepest nesting of arrays and objects in `text` (0 for a scalar), brackets inside strings
// not counted. Linear, no recursion; stops scanning once the depth exceeds stop_after.
int JsonDepth(std::string_view text, int stop_after = INT_MAX);

// Parses `text` (strict JSON, no comments) into a DOM no deeper than max_depth.
// kInvalidArgument, naming the limit, when it is deeper; kInvalidArgument when malformed.
Result<nlohmann::json> ParseJson(std::string_view text, int max_depth = kApiJsonDepth);

// Whether `text` is one JSON value (valid UTF-8 in strings), at any depth, without building a DOM.
bool IsJson(std::string_view text);

// Serializes without ever throwing: invalid UTF-8 in strings becomes U+FFFD.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

// `text` itself when it is JSON (its bytes preserved), else `text` as a JSON string: what a record
// that carries a payload or a response splices in.
std::string JsonOrString(std::string_view text);

}  // namespace alto
