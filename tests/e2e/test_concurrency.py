"""Reserved concurrency end to end (issue 4): PutFunctionConcurrency / GetFunctionConcurrency /
DeleteFunctionConcurrency through boto3, and the throttling they cause on parallel invokes.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_concurrency -v
"""

import http.client
import json
import os
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AltoServer, AltoTestCase, zip_files  # noqa: E402

INVOKE_PATH = "/2015-03-31/functions/%s/invocations"
CONCURRENCY_PATH = "/2017-10-31/functions/%s/concurrency"
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"

# Holds its sandbox for the requested time so parallel callers overlap.
PY_SLEEP = '''
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0)}
'''


class ReservedConcurrencyTest(AltoTestCase):

    def deploy_sleeper(self):
        name = self.unique("sleep")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SLEEP}), Timeout=30)
        return name

    def raw_invoke(self, name, payload, timeout=60):
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)
        try:
            body = json.dumps(payload).encode()
            conn.request("POST", INVOKE_PATH % name, body,
                         self.server.sign("POST", INVOKE_PATH % name, body))
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def test_put_get_delete_through_boto3(self):
        name = self.deploy_sleeper()
        self.assertNotIn("ReservedConcurrentExecutions", self.lam.get_function_concurrency(FunctionName=name))
        self.assertNotIn("Concurrency", self.lam.get_function(FunctionName=name))

        put = self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
        self.assertEqual(put["ReservedConcurrentExecutions"], 3)
        self.assertEqual(self.lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"], 3)
        self.assertEqual(self.lam.get_function(FunctionName=name)["Concurrency"], {"ReservedConcurrentExecutions": 3})

        resp = self.lam.delete_function_concurrency(FunctionName=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertNotIn("ReservedConcurrentExecutions", self.lam.get_function_concurrency(FunctionName=name))
        # Unreserved again: an invoke runs.
        status, _, body = self.raw_invoke(name, {"sleep": 0})
        self.assertEqual(status, 200, body)

    def test_bad_values_are_refused_and_change_nothing(self):
        name = self.deploy_sleeper()
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
        for body in (b'{"ReservedConcurrentExecutions": -1}', b'{"ReservedConcurrentExecutions": "two"}',
                     b'{"ReservedConcurrentExecutions": 1000000}', b'{}', b'not json'):
            res = self.server.request("PUT", CONCURRENCY_PATH % name, body,
                                      {"Content-Type": "application/json"})
            self.assertLambdaError(res, 400, "InvalidParameterValueException")
        self.assertEqual(self.lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"], 5)
        res = self.server.request("PUT", CONCURRENCY_PATH % "no-such-function",
                                  b'{"ReservedConcurrentExecutions": 1}', {"Content-Type": "application/json"})
        self.assertLambdaError(res, 404, "ResourceNotFoundException")

    def test_zero_throttles_every_invoke(self):
        name = self.deploy_sleeper()
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        status, headers, body = self.raw_invoke(name, {"sleep": 0})
        self.assertEqual(status, 429, body)
        self.assertEqual(headers.get("x-amzn-ErrorType"), "TooManyRequestsException")
        self.assertEqual(json.loads(body)["Reason"], RESERVED_REASON)
        self.assertTrue(headers.get("Retry-After"), "429 without Retry-After")
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.lam.invoke(FunctionName=name, Payload=b"{}")
        self.assertEqual(ctx.exception.response["Error"]["Code"], "TooManyRequestsException")

    def test_reserved_two_with_fifty_parallel_callers(self):
        name = self.deploy_sleeper()
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
        callers = 50
        start = threading.Barrier(callers)

        def call(_):
            start.wait(timeout=30)
            return self.raw_invoke(name, {"sleep": 4})

        with ThreadPoolExecutor(max_workers=callers) as pool:
            results = list(pool.map(call, range(callers), timeout=120))
        ok = [r for r in results if r[0] == 200]
        throttled = [r for r in results if r[0] == 429]
        self.assertEqual(len(ok), 2, [(s, b[:200]) for s, _, b in results if s not in (200, 429)])
        self.assertEqual(len(throttled), callers - 2)
        for status, headers, body in throttled:
            self.assertEqual(headers.get("x-amzn-ErrorType"), "TooManyRequestsException")
            self.assertEqual(json.loads(body)["Reason"], RESERVED_REASON)
        for status, _, body in ok:
            self.assertEqual(json.loads(body), {"slept": 4})
        # The slots are given back: the next invokes run.
        for _ in range(3):
            status, _, body = self.raw_invoke(name, {"sleep": 0})
            self.assertEqual(status, 200, body)


def metric(server, name, function=None):
    """A value from /metrics (None when absent)."""
    status, _, body = server.request("GET", "/metrics")
    assert status == 200, body
    label = '{function="%s"}' % function if function else ""
    for line in body.decode().splitlines():
        if line.startswith(name + label + " "):
            return float(line.split()[-1])
    return None


class BurstTest(AltoTestCase):
    """Scale-out (issue 4): an invocation that finds no idle sandbox takes the first one free."""

    def deploy_sleeper(self):
        name = self.unique("burst")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SLEEP}), Timeout=30)
        return name

    def burst(self, name, callers, sleep):
        start = threading.Barrier(callers)

        def call(_):
            start.wait(timeout=30)
            return ReservedConcurrencyTest.raw_invoke(self, name, {"sleep": sleep})

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=callers) as pool:
            results = list(pool.map(call, range(callers), timeout=120))
        elapsed = time.monotonic() - t0
        bad = [(s, b[:200]) for s, _, b in results if s != 200]
        self.assertEqual(bad, [])
        for _, _, body in results:
            self.assertEqual(json.loads(body), {"slept": sleep})
        return elapsed, metric(self.server, "alto_cold_starts_total", name)

    def test_short_calls_reuse_sandboxes_as_they_free_up(self):
        name = self.deploy_sleeper()
        callers = 40
        _, cold = self.burst(name, callers, 0)
        # Starts in flight are bounded (4 on the node): the first sandboxes up serve the callers
        # still waiting, instead of a sandbox being started for each of them.
        self.assertGreaterEqual(cold, 1)
        self.assertLessEqual(cold, callers // 2, "a sandbox was started per caller")

    def test_callers_that_hold_a_sandbox_each_get_their_own(self):
        name = self.deploy_sleeper()
        callers, sleep = 6, 3
        elapsed, cold = self.burst(name, callers, sleep)
        self.assertEqual(cold, callers)
        # Run side by side, not one after another in fewer sandboxes (that would take 2 x 3 s).
        self.assertLess(elapsed, 2 * sleep - 0.5)


    def test_another_functions_first_caller_is_not_queued_behind_a_burst(self):
        burst, other = self.deploy_sleeper(), self.deploy_sleeper()
        callers, hold = 40, 4
        start = threading.Barrier(callers + 1)
        done = {}

        def call(i):
            start.wait(timeout=30)
            if i == callers:  # the other function's caller comes while the burst's starts run
                time.sleep(0.1)
                name, sleep = other, 0
            else:
                name, sleep = burst, hold
            status, _, body = ReservedConcurrencyTest.raw_invoke(self, name, {"sleep": sleep})
            done[i] = time.monotonic()
            return status, body

        with ThreadPoolExecutor(max_workers=callers + 1) as pool:
            results = list(pool.map(call, range(callers + 1), timeout=120))
        self.assertEqual([s for s, _ in results], [200] * (callers + 1), results)
        # The burst's last sandbox was ready about `hold` seconds before its caller's answer.
        last_burst_sandbox = max(done[i] for i in range(callers)) - hold
        self.assertLess(done[callers], last_burst_sandbox,
                        "the other function's caller waited for the whole burst's starts")


class NodeConcurrencyTest(AltoTestCase):
    """A node-wide limit of 4 executions, 1 of which a reservation may never take."""

    server_options = {"extra_args": ("--max-concurrency", "4", "--idle-timeout", "2")}

    def deploy_sleeper(self):
        name = self.unique("node")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SLEEP}), Timeout=30)
        return name

    def test_account_settings_show_the_limits(self):
        settings = self.lam.get_account_settings()["AccountLimit"]
        self.assertEqual(settings["ConcurrentExecutions"], 4)
        name = self.deploy_sleeper()
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        try:
            self.assertEqual(self.lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"], 3)
            self.assertEqual(metric(self.server, "alto_concurrency_unreserved_limit"), 3)
        finally:
            self.lam.delete_function_concurrency(FunctionName=name)
        self.assertEqual(self.lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"], 4)

    def test_reservation_cannot_take_the_minimum_unreserved(self):
        name = self.deploy_sleeper()
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidParameterValueException")
        self.assertIn("UnreservedConcurrentExecution", ctx.exception.response["Error"]["Message"])
        self.assertNotIn("ReservedConcurrentExecutions", self.lam.get_function_concurrency(FunctionName=name))

    def test_over_the_node_limit_callers_get_429_not_a_hang(self):
        names = [self.deploy_sleeper() for _ in range(2)]
        callers = 10
        start = threading.Barrier(callers)

        def call(i):
            start.wait(timeout=30)
            t0 = time.monotonic()
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
            try:
                body = json.dumps({"sleep": 3}).encode()
                conn.request("POST", INVOKE_PATH % names[i % 2], body,
                             self.server.sign("POST", INVOKE_PATH % names[i % 2], body))
                resp = conn.getresponse()
                return resp.status, dict(resp.getheaders()), resp.read(), time.monotonic() - t0
            finally:
                conn.close()

        with ThreadPoolExecutor(max_workers=callers) as pool:
            results = list(pool.map(call, range(callers), timeout=120))
        ok = [r for r in results if r[0] == 200]
        throttled = [r for r in results if r[0] == 429]
        self.assertEqual((len(ok), len(throttled)), (4, 6), [(r[0], r[2][:200]) for r in results])
        for status, headers, body, elapsed in throttled:
            self.assertEqual(json.loads(body)["Reason"], "ConcurrentInvocationLimitExceeded")
            self.assertEqual(headers.get("Retry-After"), "1")
            self.assertLess(elapsed, 2.5, "a throttled call waited for a slot instead of failing fast")
        throttles = sum(metric(self.server, "alto_throttles_total", n) or 0 for n in names)
        self.assertEqual(throttles, 6)

    def test_scale_to_zero_after_keep_alive_and_cold_warm_counts(self):
        name = self.deploy_sleeper()
        for _ in range(3):
            self.invoke(name, {"sleep": 0})
        stats = json.loads(self.server.request("GET", "/v1/functions/%s/stats" % name)[2])
        self.assertEqual((stats["Invocations"]["Cold"], stats["Invocations"]["Warm"]), (1, 2), stats)
        self.assertGreater(stats["Invocations"]["AverageInitDurationMs"], 0)
        self.assertEqual(metric(self.server, "alto_cold_starts_total", name), 1)
        # Idle for longer than --idle-timeout 2: the function scales to zero.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and metric(self.server, "alto_sandboxes_live") != 0:
            time.sleep(0.25)
        self.assertEqual(metric(self.server, "alto_sandboxes_live"), 0, "the idle sandbox was not reaped")
        self.invoke(name, {"sleep": 0})
        self.assertEqual(metric(self.server, "alto_cold_starts_total", name), 2)
        out = self.server.alto("stats", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"Cold\s+2\b")
        self.assertRegex(out.stdout, r"Warm\s+2\b")


class ReservedConcurrencyRestartTest(unittest.TestCase):

    def test_setting_survives_restart(self):
        server = AltoServer(name="reserved-restart")
        try:
            server.start()
            lam = server.client()
            lam.create_function(FunctionName="keep", Runtime="python3.12", Handler="app.handler",
                                Role="arn:aws:iam::000000000000:role/any",
                                Code={"ZipFile": zip_files({"app.py": PY_SLEEP})})
            lam.put_function_concurrency(FunctionName="keep", ReservedConcurrentExecutions=7)
            server.stop()
            server.start()
            lam = server.client()
            self.assertEqual(lam.get_function_concurrency(FunctionName="keep")["ReservedConcurrentExecutions"], 7)
        finally:
            if server.proc is not None:
                server.stop()
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
