#include "common/json.h"

namespace alto {

using nlohmann::json;

int JsonDepth(std::string_view text, int stop_after) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, which may be a quote
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stop_after) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;  // unbalanced text is the parser's to reject
        break;
      default:
        break;
    }
  }
  return deepest;
}

// nlohmann's input adapters stop at a NUL byte and take what came before it as the whole text,
// so "1\0<anything>" would pass as JSON and its tail be copied on verbatim. Valid JSON never holds
// a raw NUL (inside strings it must be escaped), so any NUL makes the text malformed.
namespace {
bool HasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }
}  // namespace

Result<json> ParseJson(std::string_view text, int max_depth) {
  if (HasNul(text)) return MakeError(Errc::kInvalidArgument, "malformed JSON (a NUL byte)");
  // The scan comes first so that no DOM deeper than the limit is ever built.
  if (JsonDepth(text, max_depth) > max_depth) {
    return MakeError(Errc::kInvalidArgument,
                     "JSON nesting exceeds the limit of " + std::to_string(max_depth) + " levels");
  }
  auto j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(Errc::kInvalidArgument, "malformed JSON");
  return j;
}

bool IsJson(std::string_view text) {
  return !HasNul(text) && json::accept(text.begin(), text.end());
}

std::string DumpJson(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string JsonOrString(std::string_view text) {
  if (IsJson(text)) return std::string(text);
  return DumpJson(json(std::string(text)));
}

}  // namespace alto
