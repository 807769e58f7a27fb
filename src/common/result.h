// Expected failures are values: Result<T> holds a T or an Error (code, message, errno).
// Exceptions are used only at the edges (CLI argument parsing, third-party throws we catch).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace alto {

enum class Errc {
  kInvalidArgument,  // the caller sent something wrong
  kNotFound,
  kConflict,
  kPreconditionFailed,  // a RevisionId no longer matches
  kTooLarge,
  kUnsupported,
  kUnavailable,  // temporarily cannot serve (draining)
  kThrottled,    // over a capacity or concurrency limit: retry later
  kTimeout,
  kInternal,  // a bug or an environment failure (I/O, syscalls)
};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  int sys_errno = 0;   // errno at the failure site, 0 when not a system error
  std::string reason;  // a machine-readable refinement (e.g. Lambda's throttling Reason)
};

// Builds an Error from errno with the context of the failing call (crun's convention).
Error SysError(std::string context);
Error SysError(std::string context, int err);
inline Error MakeError(Errc code, std::string message) {
  return Error{code, std::move(message), 0, {}};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace alto
