// Boost's assertions stay live while fuzzing (-UNDEBUG), routed here by
// BOOST_ENABLE_ASSERT_HANDLER so that one known false alarm can be told apart from real ones.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

namespace {

// Beast before Boost 1.86 asserts n >= 5 when a chunk header arrives split as "0\r\n", "\r",
// "\n"; the code after the assertion handles it (returns need_more). Upstream relaxed the
// assertion: boostorg/beast#2861. Debian 12 ships Boost 1.81.
bool KnownFalseAlarm(const char* expr, const char* file) {
  return std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "http/impl/basic_parser.ipp");
}

}  // namespace

void assertion_failed(const char* expr, const char* function, const char* file, long line) {
  if (KnownFalseAlarm(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(const char* expr, const char* msg, const char* function, const char* file,
                          long line) {
  if (KnownFalseAlarm(expr, file)) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost
