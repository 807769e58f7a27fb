// The Runtime API of one sandbox, driven over real loopback HTTP by a "runtime" thread.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/client.h"
#include "runtime_api/session.h"
#include "sandbox/listen.h"

namespace alto {
namespace {

namespace asio = boost::asio;

struct Harness {
  asio::io_context io;
  uint16_t port = 0;
  std::shared_ptr<RuntimeSession> session;

  Harness() {
    auto sock = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(sock.ok());
    port = sock->port;
    session = std::make_shared<RuntimeSession>(io.get_executor(), std::move(sock->fd), UniqueFd(),
                                               -1, SessionOptions{});
    session->Start();
  }

  http::Response Call(const std::string& method, const std::string& path, std::string body = {},
                      std::vector<http::Header> headers = {}) {
    http::Request r;
    r.method = method;
    r.target = "/2018-06-01/runtime/" + path;
    r.body = std::move(body);
    r.headers = std::move(headers);
    auto res = http::Fetch({"127.0.0.1", port}, r);
    if (!res.ok()) {
      http::Response failed;
      failed.status = -1;  // the server closed the connection
      return failed;
    }
    return res.value();
  }

  // Runs one invocation; the session stays open until the runtime thread says it is done.
  Outcome Run(Invocation inv, const std::atomic<bool>& runtime_done) {
    Outcome out;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          out = co_await session->Invoke(std::move(inv));
          asio::steady_timer t(io);
          for (int i = 0; i < 500 && !runtime_done; ++i) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(asio::use_awaitable);
          }
          session->Close();
        },
        asio::detached);
    io.run_for(std::chrono::seconds(10));
    return out;
  }
};

Invocation MakeInvocation(std::chrono::milliseconds budget = std::chrono::seconds(5)) {
  Invocation inv;
  inv.request_id = "req-1";
  inv.payload = R"({"ping":1})";
  inv.deadline = std::chrono::steady_clock::now() + budget;
  inv.deadline_epoch_ms = 1700000000000;
  inv.timeout_s = 1;
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
  inv.trace_id = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0";
  return inv;
}

TEST(RuntimeSession, DeliversEventAndReturnsResponse) {
  Harness h;
  int wrong_id_status = 0, busy_next_status = 0, ok_status = 0, again_status = 0;
  http::Response next;
  std::atomic<bool> done{false};
  std::thread runtime([&] {
    next = h.Call("GET", "invocation/next");
    busy_next_status = h.Call("GET", "invocation/next").status;
    wrong_id_status = h.Call("POST", "invocation/nope/response", "1").status;
    ok_status = h.Call("POST", "invocation/req-1/response", R"("pong")").status;
    again_status = h.Call("POST", "invocation/req-1/response", R"("twice")").status;
    done = true;
  });
  Outcome out = h.Run(MakeInvocation(), done);
  runtime.join();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, R"({"ping":1})");
  EXPECT_EQ(next.HeaderValue("Lambda-Runtime-Aws-Request-Id"), "req-1");
  EXPECT_EQ(next.HeaderValue("Lambda-Runtime-Deadline-Ms"), "1700000000000");
  EXPECT_EQ(next.HeaderValue("Lambda-Runtime-Invoked-Function-Arn"),
            "arn:aws:lambda:us-east-1:000000000000:function:f");
  EXPECT_FALSE(next.HeaderValue("Lambda-Runtime-Trace-Id").empty());
  EXPECT_EQ(busy_next_status, 403);
  EXPECT_EQ(wrong_id_status, 400);
  EXPECT_EQ(ok_status, 202);
  EXPECT_EQ(again_status, 400);
  EXPECT_EQ(out.kind, OutcomeKind::kSuccess);
  EXPECT_EQ(out.body, R"("pong")");
  EXPECT_FALSE(out.sandbox_broken);
  EXPECT_GT(out.init_duration_ms, 0.0);
}

TEST(RuntimeSession, ReportsFunctionErrors) {
  Harness h;
  std::atomic<bool> done{false};
  std::thread runtime([&] {
    h.Call("GET", "invocation/next");
    h.Call("POST", "invocation/req-1/error",
           R"({"errorMessage":"boom","errorType":"ValueError","stackTrace":[]})",
           {{"Lambda-Runtime-Function-Error-Type", "ValueError"}});
    done = true;
  });
  Outcome out = h.Run(MakeInvocation(), done);
  runtime.join();
  EXPECT_EQ(out.kind, OutcomeKind::kFunctionError);
  EXPECT_EQ(out.error_type, "ValueError");
  auto doc = nlohmann::json::parse(out.body);
  EXPECT_EQ(doc["errorMessage"], "boom");
}

TEST(RuntimeSession, ReturnsInitErrorToFirstInvoke) {
  Harness h;
  int status = 0;
  std::atomic<bool> done{false};
  std::thread runtime([&] {
    status =
        h.Call(
             "POST", "init/error",
             R"({"errorMessage":"Unable to import module 'app'","errorType":"Runtime.ImportModuleError"})")
            .status;
    done = true;
  });
  Outcome out = h.Run(MakeInvocation(), done);
  runtime.join();
  EXPECT_EQ(status, 202);
  EXPECT_EQ(out.kind, OutcomeKind::kFunctionError);
  EXPECT_EQ(out.error_type, "Runtime.ImportModuleError");
  EXPECT_TRUE(out.sandbox_broken);
}

TEST(RuntimeSession, TimesOutAndMarksSandboxBroken) {
  Harness h;
  std::atomic<bool> done{false};
  std::thread runtime([&] {
    h.Call("GET", "invocation/next");
    done = true;
  });
  Outcome out = h.Run(MakeInvocation(std::chrono::milliseconds(200)), done);
  runtime.join();
  EXPECT_EQ(out.kind, OutcomeKind::kFunctionError);
  EXPECT_EQ(out.error_type, "Sandbox.Timedout");
  EXPECT_NE(out.body.find("Task timed out after 1.00 seconds"), std::string::npos);
  EXPECT_TRUE(out.sandbox_broken);
}

TEST(RuntimeSession, RefusesOversizedResponse) {
  Harness h;
  int status = 0;
  std::atomic<bool> done{false};
  std::thread runtime([&] {
    h.Call("GET", "invocation/next");
    status =
        h.Call("POST", "invocation/req-1/response", std::string(kMaxRuntimeResponseBytes + 1, 'x'))
            .status;
    done = true;
  });
  Outcome out = h.Run(MakeInvocation(), done);
  runtime.join();
  // 413, or a reset when the server closes while the client is still sending.
  EXPECT_TRUE(status == 413 || status == -1) << status;
  EXPECT_EQ(out.error_type, "Function.ResponseSizeTooLarge");
}

}  // namespace
}  // namespace alto
