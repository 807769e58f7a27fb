"""Reserved concurrency end to end (issue 4): PutFunctionConcurrency / GetFunctionConcurrency /
DeleteFunctionConcurrency through boto3, and the throttling they cause on parallel invokes.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_concurrency -v
"""

import http.client
import json
import os
import sys
import threading
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
            conn.request("POST", INVOKE_PATH % name, json.dumps(payload).encode())
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
