"""One request must never take Alto down (issue 14, items 1, 2 and 6).

Deeply nested JSON (100,000 levels) from a client or from a function, invalid UTF-8 in a path,
a bogus X-Amz-Log-Type, and a poison async event that is in its sandbox whenever the server dies.
Deep documents are never parsed here either: Python's json module would hit its recursion limit.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest -v test_deep_json
"""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, ROLE, zip_files  # noqa: E402
from test_async import INVOKE_PATH, create_queue, read_queue, stats, wait_stats  # noqa: E402

DEPTH = 100000
DEEP_OBJECT = '{"a":' * DEPTH + "1" + "}" * DEPTH  # ~600 KB, under the 1 MiB Event limit
DEEP_ARRAY = "[" * DEPTH + "]" * DEPTH
FUNCTIONS = "/2015-03-31/functions"
SERVER_ARGS = ("--async-retry-scale", "0.01")

# A custom runtime, so that the function can answer with bytes no JSON library would produce.
# The event picks what it does: {"mode": ...}; anything it cannot parse (a deep payload) is echoed
# as its length. For a function URL the mode is the query string's.
BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, json, os, time
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"
DEPTH = 100000

def post(path, body):
    c = http.client.HTTPConnection(API, timeout=30)
    c.request("POST", PREFIX + path, body=body, headers={"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()

while True:
    c = http.client.HTTPConnection(API, timeout=None)
    c.request("GET", PREFIX + "/invocation/next")
    r = c.getresponse()
    body = r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.close()
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        post("/invocation/%s/response" % rid, json.dumps({"len": len(body)}))
        continue
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode is None and isinstance(event, dict):
        mode = (event.get("queryStringParameters") or {}).get("mode")
    if mode == "deep_array":
        post("/invocation/%s/response" % rid, "[" * DEPTH + "]" * DEPTH)
    elif mode == "deep_url_object":
        post("/invocation/%s/response" % rid, '{"statusCode":200,"body":' + "[" * DEPTH + "]" * DEPTH + "}")
    elif mode == "deep_error":
        post("/invocation/%s/error" % rid, '{"errorMessage":' + "[" * DEPTH + "]" * DEPTH + "}")
    elif mode == "sleep":
        time.sleep(event.get("s", 60))
        post("/invocation/%s/response" % rid, '{"slept":true}')
    else:
        post("/invocation/%s/response" % rid, json.dumps({"echo": event}))
'''


def create_bootstrap_function(lam, name, timeout=30):
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="x", Role=ROLE, Timeout=timeout,
                        Code={"ZipFile": zip_files({"bootstrap": (BOOTSTRAP, 0o755)})})


def wait_messages(server, queue, count, timeout):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += read_queue(server, queue)
        if len(got) < count:
            time.sleep(0.2)
    return got


class DeepJsonTest(AltoTestCase):
    server_options = {"extra_args": SERVER_ARGS}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = "deep-json"
        create_bootstrap_function(cls.lam, cls.fn)

    def assertAlive(self, server=None):
        server = server or self.server
        self.assertTrue(server.alive(), "the server died\n" + server.log_tail())
        status, _, body = server.request("GET", "%s/%s" % (FUNCTIONS, self.fn))
        self.assertEqual(status, 200, body[:300])

    def test_control_plane_refuses_deep_bodies_naming_the_limit(self):
        deep_env = ('{"FunctionName":"deep-env","Runtime":"python3.12","Handler":"a.b","Role":"%s",'
                    '"Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"Environment":{"Variables":%s}}'
                    % (ROLE, DEEP_OBJECT))
        res = self.server.request("POST", FUNCTIONS, deep_env.encode(), {"Content-Type": "application/json"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException", r"limit of 64 levels")
        res = self.server.request("GET", "%s/deep-env" % FUNCTIONS)
        self.assertEqual(res[0], 404)
        # 64 levels is within the limit (and then refused for what it is, not for its depth).
        ok_depth = '{"a":' * 61 + "1" + "}" * 61
        res = self.server.request("POST", FUNCTIONS, deep_env.replace(DEEP_OBJECT, ok_depth).encode(),
                                  {"Content-Type": "application/json"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        self.assertNotIn("levels", json.loads(res[2])["Message"])

        body = '{"MaximumRetryAttempts":1,"DestinationConfig":%s}' % DEEP_ARRAY
        for method in ("PUT", "POST"):
            res = self.server.request(method, "/2019-09-25/functions/%s/event-invoke-config" % self.fn,
                                      body.encode(), {"Content-Type": "application/json"})
            self.assertLambdaError(res, 400, "InvalidParameterValueException", r"limit of 64 levels")
        res = self.server.request("PUT", "%s/%s/configuration" % (FUNCTIONS, self.fn),
                                  ('{"Environment":%s}' % DEEP_OBJECT).encode(), {"Content-Type": "application/json"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException", r"limit of 64 levels")
        self.assertAlive()

    def test_sync_invoke_passes_a_deep_payload_through(self):
        # The payload is bytes to Alto: validated without a DOM, at any depth, as Lambda does.
        for payload in (DEEP_OBJECT, DEEP_ARRAY):
            status, headers, body = self.server.request("POST", INVOKE_PATH % self.fn, payload.encode())
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(json.loads(body), {"len": len(payload)})
        res = self.server.request("POST", INVOKE_PATH % self.fn, DEEP_OBJECT[:-1].encode())
        self.assertLambdaError(res, 400, "InvalidRequestContentException")
        self.assertAlive()

    def test_function_answering_with_deep_json(self):
        # Sync: the response passes through as bytes.
        status, _, body = self.server.request("POST", INVOKE_PATH % self.fn, b'{"mode":"deep_array"}')
        self.assertEqual(status, 200)
        self.assertEqual(body, DEEP_ARRAY.encode())
        # A deep error document is wrapped, not parsed.
        status, headers, body = self.server.request("POST", INVOKE_PATH % self.fn, b'{"mode":"deep_error"}')
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("X-Amz-Function-Error"), "Unhandled")
        self.assertTrue(body.startswith(b"{"), body[:200])
        self.assertAlive()
        # Function URL: a deep array passes through; a deep object with statusCode is refused.
        self.lam.create_function_url_config(FunctionName=self.fn, AuthType="NONE")
        status, _, body = self.server.request("GET", "/url/%s/?mode=deep_array" % self.fn)
        self.assertEqual(status, 200)
        self.assertEqual(body, DEEP_ARRAY.encode())
        status, _, body = self.server.request("GET", "/url/%s/?mode=deep_url_object" % self.fn)
        self.assertEqual(status, 502, body[:300])
        self.assertAlive()
        # InvokeWithResponseStream, a deep answer and a deep error.
        for mode in ("deep_array", "deep_error"):
            status, _, body = self.server.request(
                "POST", "/2021-11-15/functions/%s/response-streaming-invocations" % self.fn,
                ('{"mode":"%s"}' % mode).encode())
            self.assertEqual(status, 200, body[:300])
            self.assertIn(b"InvokeComplete", body)
        self.assertAlive()

    def test_invalid_utf8_name_and_bogus_log_type_are_400(self):
        for method, path in (("GET", "%s/%%ff%%fe" % FUNCTIONS), ("GET", "%s/%%ff%%fe/configuration" % FUNCTIONS),
                             ("POST", "%s/%%ff%%fe/invocations" % FUNCTIONS), ("DELETE", "%s/%%ff%%fe" % FUNCTIONS)):
            with self.subTest(method=method, path=path):
                res = self.server.request(method, path, b"{}" if method == "POST" else None)
                doc = self.assertLambdaError(res, 400, "InvalidParameterValueException")
                self.assertIn("\ufffd", doc["Message"])
        res = self.server.request("POST", INVOKE_PATH % self.fn, b"{}", {"X-Amz-Log-Type": "Bogus"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException", "Bogus")
        for ok in ("None", "Tail"):
            status, _, _ = self.server.request("POST", INVOKE_PATH % self.fn, b"{}", {"X-Amz-Log-Type": ok})
            self.assertEqual(status, 200)
        self.assertAlive()


class DeepAsyncTest(unittest.TestCase):
    """Deep async payloads: delivered, spliced into records, and survived across a kill -9."""

    def assertAlive(self, server, fn):
        self.assertTrue(server.alive(), "the server died\n" + server.log_tail())
        status, _, body = server.request("GET", "%s/%s" % (FUNCTIONS, fn))
        self.assertEqual(status, 200, body[:300])

    def test_async_deep_payloads_reach_their_destination_and_survive_a_restart(self):
        first = AltoServer(name="deep-async-0", extra_args=SERVER_ARGS)
        servers = [first]
        try:
            server = first.start()
            lam = server.client()
            q = "deep-ok"
            qarn = create_queue(server, q)
            fn = "deep-async"
            create_bootstrap_function(lam, fn)
            lam.put_function_event_invoke_config(FunctionName=fn,
                                                 DestinationConfig={"OnSuccess": {"Destination": qarn}})
            for payload in (DEEP_OBJECT, DEEP_ARRAY):
                status, _, body = server.request("POST", INVOKE_PATH % fn, payload.encode(),
                                                 {"X-Amz-Invocation-Type": "Event"})
                self.assertEqual(status, 202, body[:300])
            msgs = wait_messages(server, q, 2, 60)
            self.assertAlive(server, fn)
            self.assertEqual(len(msgs), 2, "deep events did not reach OnSuccess")
            seen = set()
            for m in msgs:
                rec = m["Body"]
                payload = DEEP_OBJECT if ('"requestPayload":' + DEEP_OBJECT) in rec else DEEP_ARRAY
                # The payload's bytes are spliced into the record, unchanged.
                self.assertIn('"requestPayload":' + payload, rec)
                self.assertIn('"condition":"Success"', rec)
                self.assertIn('"responsePayload":{"len": %d}' % len(payload), rec)  # the function's bytes
                seen.add(payload[0])
            self.assertEqual(seen, {"{", "["})

            # A deep event queued when the server dies: the next server delivers it and keeps
            # answering.
            status, _, _ = server.request("POST", INVOKE_PATH % fn, DEEP_OBJECT.encode(),
                                          {"X-Amz-Invocation-Type": "Event"})
            self.assertEqual(status, 202)
            server.kill9()
            server = AltoServer(data_dir=first.data_dir, state_dir=first.state_dir, name="deep-async-1",
                                extra_args=SERVER_ARGS)
            servers.append(server)
            server.start()
            msgs = wait_messages(server, q, 1, 60)
            self.assertAlive(server, fn)
            self.assertEqual(len(msgs), 1)
            self.assertIn('"requestPayload":' + DEEP_OBJECT, msgs[0]["Body"])
            time.sleep(1)
            self.assertAlive(server, fn)
            self.assertEqual(server.stop(), 0)
        except BaseException:
            for s in servers[-2:]:
                s.dump_log("deep async test failed")
            raise
        finally:
            for s in reversed(servers[1:]):
                s.cleanup()
            first.cleanup()


class PoisonEventTest(unittest.TestCase):
    """An event in its sandbox whenever the server dies ends in OnFailure and the DLQ."""

    def test_poison_event_is_failed_after_the_retry_budget_not_redelivered(self):
        first = AltoServer(name="poison-0", extra_args=SERVER_ARGS)
        servers = [first]
        try:
            server = first.start()
            lam = server.client()
            fail_q, dlq = "poison-failed", "poison-dlq"
            fail_arn, dlq_arn = create_queue(server, fail_q), create_queue(server, dlq)
            fn = "poison"
            create_bootstrap_function(lam, fn, timeout=120)
            lam.update_function_configuration(FunctionName=fn, DeadLetterConfig={"TargetArn": dlq_arn})
            lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1,
                                                 DestinationConfig={"OnFailure": {"Destination": fail_arn}})
            payload = b'{"mode":"sleep","s":100}'
            status, headers, _ = server.request("POST", INVOKE_PATH % fn, payload, {"X-Amz-Invocation-Type": "Event"})
            self.assertEqual(status, 202)
            rid = headers.get("x-amzn-RequestId")

            # Two attempts (the first and the one retry), each killed while in its sandbox.
            for attempt in (1, 2):
                s = wait_stats(server, fn, lambda s: s["InFlight"] == 1, 30)
                self.assertEqual(s["InFlight"], 1, "attempt %d never started: %s" % (attempt, s))
                time.sleep(3)  # past the cold start: the event is in the sandbox, sleeping
                server.kill9()
                server = AltoServer(data_dir=first.data_dir, state_dir=first.state_dir,
                                    name="poison-%d" % attempt, extra_args=SERVER_ARGS)
                servers.append(server)
                server.start()
                if attempt == 1:
                    self.assertEqual(read_queue(server, fail_q), [], "failed after one interruption")

            failed = wait_messages(server, fail_q, 1, 30)
            self.assertEqual(len(failed), 1, "the poison event did not reach OnFailure")
            rec = json.loads(failed[0]["Body"])
            self.assertEqual(rec["requestContext"]["requestId"], rid)
            self.assertEqual(rec["requestContext"]["condition"], "RetriesExhausted")
            self.assertEqual(rec["requestContext"]["approximateInvokeCount"], 2)
            self.assertEqual(rec["requestPayload"], json.loads(payload))
            self.assertEqual(rec["responsePayload"]["errorType"], "Alto.ServerStopped")
            self.assertIn("server stopped", rec["responsePayload"]["errorMessage"])
            dead = wait_messages(server, dlq, 1, 10)
            self.assertEqual(len(dead), 1)
            self.assertEqual(dead[0]["Body"], payload.decode())
            self.assertEqual(dead[0]["Attributes"]["RequestID"], rid)
            self.assertIn("server stopped", dead[0]["Attributes"]["ErrorMessage"])
            self.assertEqual(dead[0]["Attributes"]["Condition"], "RetriesExhausted")

            # Not delivered again: nothing queued, nothing in flight, no invocation on this server.
            time.sleep(2)
            s = stats(server, fn)
            self.assertEqual((s["QueueDepth"], s["InFlight"]), (0, 0), s)
            status, _, body = server.request("GET", "/v1/functions/%s/logs" % fn)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["Invocations"], [])
            self.assertEqual(server.stop(), 0)
        except BaseException:
            for s in servers[-2:]:
                s.dump_log("poison test failed")
            raise
        finally:
            for s in reversed(servers[1:]):
                s.cleanup()
            first.cleanup()


if __name__ == "__main__":
    unittest.main()
