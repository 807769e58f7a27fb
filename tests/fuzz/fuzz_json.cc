// The JSON entry point (common/json.h): ParseJson's depth limit, checked by a linear scan before
// any DOM is built, must agree with the DOM it lets through; IsJson must agree with nlohmann's
// own validator; DumpJson never throws and round-trips; JsonOrString always yields JSON.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "check.h"
#include "common/json.h"

namespace {

using nlohmann::json;

// Nesting depth of a DOM, without recursion (the harness must not be what overflows).
int DomDepth(const json& root) {
  int deepest = 0;
  std::vector<std::pair<const json*, int>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d + 1);
    for (const auto& child : *j) todo.emplace_back(&child, d + 1);
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks a depth limit around the real ones' scale.
  const int max_depth = data[0] % 72;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  // nlohmann's validator stops reading at a NUL byte (it takes "1\0<tail>" for "1"); a raw NUL
  // is never valid JSON, and Alto's entry points refuse it.
  const bool valid = text.find('\0') == std::string_view::npos && json::accept(text);
  FUZZ_CHECK(alto::IsJson(text) == valid, "IsJson agrees with nlohmann's validator, NUL aside");

  auto parsed = alto::ParseJson(text, max_depth);
  if (parsed.ok()) {
    FUZZ_CHECK(valid, "ParseJson accepts only valid JSON");
    FUZZ_CHECK(DomDepth(*parsed) <= max_depth, "ParseJson's DOM is within the depth limit");
    FUZZ_CHECK(alto::JsonDepth(text) == DomDepth(*parsed), "JsonDepth is the DOM's depth");
    std::string dumped = alto::DumpJson(*parsed);
    auto again = alto::ParseJson(dumped, max_depth);
    FUZZ_CHECK(again.ok() && *again == *parsed, "DumpJson round-trips");
  } else if (valid && max_depth >= 0) {
    FUZZ_CHECK(alto::JsonDepth(text) > max_depth, "valid JSON is refused only for its depth");
  }

  std::string spliced = alto::JsonOrString(text);
  FUZZ_CHECK(alto::IsJson(spliced), "JsonOrString yields JSON");
  if (valid) FUZZ_CHECK(spliced == text, "JsonOrString keeps JSON's bytes");
  return 0;
}
