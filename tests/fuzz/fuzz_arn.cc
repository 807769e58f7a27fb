// Qualifier and ARN parsers: function references (name, name:qualifier, partial and full ARNs),
// qualifier kinds and alias names, and destination ARNs (functions and queues). Pure functions
// of one string, so each input is fed to all of them, and accepted values are checked against
// what the parsers promise.
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/qualifier.h"
#include "api/validation.h"
#include "check.h"
#include "invoke/destination.h"

namespace {

bool NameChars(std::string_view s) {
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);

  auto ref = alto::ParseFunctionRef(s);
  if (ref.ok()) {
    FUZZ_CHECK(alto::IsValidFunctionName(ref->name), "a parsed reference has a valid name");
    FUZZ_CHECK(s.find(ref->name) != std::string_view::npos, "the name is part of the input");
    FUZZ_CHECK(ref->qualifier.empty() || s.ends_with(":" + ref->qualifier),
               "the qualifier ends the input");
  }

  const auto kind = alto::KindOf(s);
  if (kind == alto::QualifierKind::kVersion) {
    FUZZ_CHECK(alto::IsVersionNumber(s), "a version qualifier is a version number");
  }
  if (alto::IsValidAliasName(s)) {
    FUZZ_CHECK(!s.empty() && s.size() <= 128 && NameChars(s), "alias names: 1-128 [a-zA-Z0-9-_]");
    FUZZ_CHECK(kind == alto::QualifierKind::kAlias, "a valid alias name is an alias qualifier");
  }

  auto dest = alto::ParseDestinationArn(s);
  if (dest.ok()) {
    FUZZ_CHECK(!dest->name.empty() || dest->kind == alto::Destination::Kind::kFunction,
               "a queue destination has a name");
    if (dest->kind == alto::Destination::Kind::kQueue) {
      FUZZ_CHECK(alto::IsValidQueueName(dest->name), "a queue destination has a valid name");
      // The ARN Alto shows for that queue parses back to it.
      auto again = alto::ParseDestinationArn(alto::QueueArn(alto::AccountInfo{}, dest->name));
      FUZZ_CHECK(again.ok() && again->name == dest->name, "a queue ARN round-trips");
    }
  }
  if (alto::IsValidQueueName(s)) {
    FUZZ_CHECK(!s.empty() && s.size() <= 80 && NameChars(s), "queue names: 1-80 [a-zA-Z0-9-_]");
  }
  return 0;
}
