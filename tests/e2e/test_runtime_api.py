"""The Runtime API (2018-06-01) seen from inside a sandbox.

The function under test is a custom runtime whose bootstrap is a Python script. It speaks the
Runtime API itself, performs protocol checks chosen by the event's "mode", and returns what it
observed as its response; the tests assert on that.
"""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

PROBE_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, json, os, socket, sys, time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)
PORT = int(PORT)
PREFIX = "/2018-06-01/runtime"
LIMIT = 6 * 1024 * 1024 + 100
ACKS = {}


def call(method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, parsed body or text) or ("exception", repr)."""
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        c.request(method, PREFIX + path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode("utf-8", "replace")
    except socket.timeout:
        return "timeout", None
    except Exception as e:
        return "exception", repr(e)
    finally:
        c.close()


def raw_chunked(path, chunks, trailers, content_type="application/json"):
    """POST with Transfer-Encoding: chunked and trailers, on a raw socket; returns the status."""
    s = socket.create_connection((HOST, PORT), timeout=10)
    try:
        head = ("POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
                "Trailer: %s\r\n\r\n" % (PREFIX, path, API, content_type, ", ".join(k for k, _ in trailers)))
        s.sendall(head.encode())
        for ch in chunks:
            s.sendall(b"%x\r\n%s\r\n" % (len(ch), ch))
        s.sendall(b"0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in trailers) + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            more = s.recv(4096)
            if not more:
                break
            data += more
        return int(data.split()[1]) if data.startswith(b"HTTP/") else "no response"
    except Exception as e:
        return "exception: %r" % e
    finally:
        s.close()


# Before the first /next: answering is an invalid transition.
INIT = {"early_response": call("POST", "/invocation/not-yet/response", b"{}")}

conn = http.client.HTTPConnection(HOST, PORT)  # the long-poll connection: no timeout
while True:
    conn.request("GET", PREFIX + "/invocation/next")
    resp = conn.getresponse()
    raw_event = resp.read()
    now_ms = int(time.time() * 1000)
    if resp.status != 200:
        print("GET /next returned %d: %r" % (resp.status, raw_event), flush=True)
        sys.exit(1)
    headers = {k.lower(): v for k, v in resp.getheaders()}
    rid = headers.get("lambda-runtime-aws-request-id", "")
    event = json.loads(raw_event or b"null")
    mode = event.get("mode") if isinstance(event, dict) else None
    print("runtime-probe: mode=%s request=%s" % (mode, rid), flush=True)
    out = None  # a JSON-able result, answered normally at the end

    if mode == "headers":
        out = {"headers": headers, "now_ms": now_ms, "init": INIT, "event": event,
               "env": {k: os.environ.get(k) for k in event.get("env", [])}, "cwd": os.getcwd()}
        try:
            open("/var/task/written", "w").write("x")
            out["task_writable"] = True
        except OSError:
            out["task_writable"] = False
        try:
            with open("/tmp/probe", "w") as f:
                f.write("x")
            out["tmp_writable"] = os.path.getsize("/tmp/probe") == 1
        except OSError:
            out["tmp_writable"] = False
    elif mode == "wrong_id":
        out = {"response": call("POST", "/invocation/%s-not-mine/response" % rid, b'{"x":1}'),
               "error": call("POST", "/invocation/00000000-0000-0000-0000-000000000000/error",
                             b'{"errorType":"X","errorMessage":"y"}'),
               "init_error_late": call("POST", "/init/error", b'{"errorType":"Late","errorMessage":"too late"}')}
    elif mode == "double_next":
        out = {"second_next": call("GET", "/invocation/next", timeout=5)}
    elif mode == "chunked":
        parts = [b'{"chunked": ', b'"yes", ', b'"parts": ', b"[1, 2, 3]}"]
        c = http.client.HTTPConnection(HOST, PORT, timeout=10)
        try:
            c.request("POST", PREFIX + "/invocation/%s/response" % rid, body=iter(parts),
                      headers={"Content-Type": "application/json"}, encode_chunked=True)
            r = c.getresponse()
            ACKS["chunked"] = [r.status, r.read().decode()]
        except Exception as e:
            ACKS["chunked"] = ["exception", repr(e)]
        finally:
            c.close()
        continue
    elif mode == "chunked_trailers":
        parts = [b'{"trailers": ', b'"accepted"', b"}"]
        ACKS["chunked_trailers"] = raw_chunked("/invocation/%s/response" % rid, parts,
                                               [("X-Alto-Checksum", "abc123")])
        continue
    elif mode == "chunked_error":
        doc = b'{"errorType": "Custom.ChunkedError", "errorMessage": "sent in chunks"}'
        ACKS["chunked_error"] = raw_chunked("/invocation/%s/error" % rid, [doc[:20], doc[20:]],
                                            [("Lambda-Runtime-Function-Error-Type", "Custom.ChunkedError")])
        continue
    elif mode == "exact_limit":
        body = b'"' + b"a" * (LIMIT - 2) + b'"'
        ACKS["exact_limit"] = call("POST", "/invocation/%s/response" % rid, body, {"Content-Type": "application/json"})
        continue
    elif mode == "over_limit":
        body = b'"' + b"a" * (LIMIT - 1) + b'"'
        ACKS["over_limit"] = call("POST", "/invocation/%s/response" % rid, body, {"Content-Type": "application/json"})
        continue
    elif mode == "acks":
        out = ACKS
    else:
        out = {"unknown_mode": mode}

    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    c.request("POST", PREFIX + "/invocation/%s/response" % rid, body=json.dumps(out),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
'''

INIT_ERROR_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, json, os, sys, time
print("init about to fail", flush=True)
c = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=10)
c.request("POST", "/2018-06-01/runtime/init/error",
          body=json.dumps({"errorType": "Runtime.CustomInitFailure", "errorMessage": "init failed on purpose",
                           "stackTrace": ["bootstrap:1"]}),
          headers={"Lambda-Runtime-Function-Error-Type": "Runtime.CustomInitFailure",
                   "Content-Type": "application/json"})
r = c.getresponse()
print("init-error-ack %d %s" % (r.status, r.read().decode()), flush=True)
if os.environ.get("STAY_ALIVE"):
    while True:
        time.sleep(60)
sys.exit(1)
'''

TRACE_RE = r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}(;.*)?$"


class RuntimeApiTest(AltoTestCase):
    TIMEOUT = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = "rapi-probe"
        cls.fn_arn = "arn:aws:lambda:us-east-1:%s:function:%s" % (harness.ACCOUNT, cls.fn)
        cls.lam.create_function(FunctionName=cls.fn, Runtime="provided.al2023", Handler="probe.handle",
                                Role=harness.ROLE, Timeout=cls.TIMEOUT, MemorySize=256,
                                Environment={"Variables": {"USER_VAR": "user-value"}},
                                Code={"ZipFile": zip_files({"bootstrap": (PROBE_BOOTSTRAP, 0o755)})})

    def call(self, mode, invoke_args=None, **extra):
        payload = dict(extra, mode=mode)
        t_before = int(time.time() * 1000)
        resp, body, log = self.invoke(self.fn, payload, **(invoke_args or {}))
        return resp, body, log, t_before

    def test_next_headers(self):
        cc = {"custom": {"k": "v"}, "env": {"e": "1"}, "client": {"installation_id": "i-1"}}
        resp, body, log, t_before = self.call(
            "headers", env=["AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
                            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "USER_VAR", "AWS_EXECUTION_ENV"],
            invoke_args={"ClientContext": base64.b64encode(json.dumps(cc).encode()).decode()})
        self.assertNotIn("FunctionError", resp, body)
        h = body["headers"]
        rid = h.get("lambda-runtime-aws-request-id")
        self.assertRegex(rid or "", r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertIn("START RequestId: %s " % rid, log, "the /next request id must be the invocation's")
        self.assertRegex(h.get("lambda-runtime-deadline-ms", ""), r"^\d+$")
        remaining = int(h["lambda-runtime-deadline-ms"]) - body["now_ms"]
        self.assertGreater(remaining, 0)
        self.assertLessEqual(remaining, self.TIMEOUT * 1000 + 50)
        self.assertGreater(remaining, self.TIMEOUT * 1000 - 3000)
        self.assertGreaterEqual(int(h["lambda-runtime-deadline-ms"]), t_before + self.TIMEOUT * 1000 - 50)
        self.assertEqual(h.get("lambda-runtime-invoked-function-arn"), self.fn_arn)
        self.assertRegex(h.get("lambda-runtime-trace-id", ""), TRACE_RE)
        self.assertEqual(json.loads(h.get("lambda-runtime-client-context", "null")), cc)
        self.assertEqual(body["event"]["mode"], "headers", "the event body is delivered verbatim")
        # Answering before any /next was an invalid state transition.
        status, err = body["init"]["early_response"]
        self.assertEqual(status, 403, err)
        self.assertEqual(err.get("errorType"), "InvalidStateTransition")
        # The sandbox environment.
        env = body["env"]
        self.assertRegex(env["AWS_LAMBDA_RUNTIME_API"], r"^[0-9.]+:\d+$")
        self.assertEqual(env["_HANDLER"], "probe.handle")
        if self.server.isolating:
            self.assertEqual(env["LAMBDA_TASK_ROOT"], "/var/task")
            self.assertEqual(body["cwd"], "/var/task")
            self.assertFalse(body["task_writable"], "/var/task must be read-only")
        else:
            self.assertEqual(body["cwd"], env["LAMBDA_TASK_ROOT"])
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], self.fn)
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256")
        self.assertEqual(env["AWS_REGION"], "us-east-1")
        self.assertEqual(env["USER_VAR"], "user-value")
        self.assertIsNone(env["AWS_EXECUTION_ENV"], "AWS_EXECUTION_ENV is not set for provided runtimes")
        self.assertTrue(body["tmp_writable"], "/tmp must be writable")

        # A plain invoke (no client context) carries no client-context header.
        _, body2, _, _ = self.call("headers")
        self.assertNotIn("lambda-runtime-client-context", body2["headers"])
        self.assertNotEqual(body2["headers"]["lambda-runtime-aws-request-id"], rid)

    def test_wrong_request_id_is_400(self):
        resp, body, log, _ = self.call("wrong_id")
        self.assertNotIn("FunctionError", resp, body)
        for key in ("response", "error"):
            status, err = body[key]
            self.assertEqual(status, 400, "%s: %r" % (key, err))
            self.assertEqual(err.get("errorType"), "InvalidRequestID", err)
        # /init/error once init is over is an invalid transition.
        status, err = body["init_error_late"]
        self.assertEqual(status, 403, err)
        self.assertEqual(err.get("errorType"), "InvalidStateTransition")
        # The real answer still went through, and the sandbox keeps working.
        _, body2, _, _ = self.call("headers")
        self.assertIn("headers", body2)

    def test_second_next_before_answering_is_403(self):
        resp, body, log, _ = self.call("double_next")
        self.assertNotIn("FunctionError", resp, body)
        status, err = body["second_next"]
        self.assertEqual(status, 403, "a second /next while busy must fail at once, got %r %r" % (status, err))
        self.assertEqual(err.get("errorType"), "InvalidStateTransition")

    def test_chunked_response(self):
        resp, body, log, _ = self.call("chunked")
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"chunked": "yes", "parts": [1, 2, 3]})
        _, acks, _, _ = self.call("acks")
        self.assertEqual(acks["chunked"][0], 202, acks)

    def test_chunked_response_with_trailers(self):
        resp, body, log, _ = self.call("chunked_trailers")
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"trailers": "accepted"})
        _, acks, _, _ = self.call("acks")
        self.assertEqual(acks["chunked_trailers"], 202, acks)

    def test_chunked_error_with_trailers(self):
        resp, body, log, _ = self.call("chunked_error")
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertEqual(body, {"errorType": "Custom.ChunkedError", "errorMessage": "sent in chunks"})
        _, acks, _, _ = self.call("acks")
        self.assertEqual(acks["chunked_error"], 202, acks)

    def test_response_at_the_size_limit_is_accepted(self):
        limit = 6 * 1024 * 1024 + 100
        resp, body, log, _ = self.call("exact_limit")
        self.assertNotIn("FunctionError", resp, str(body)[:300])
        self.assertIsInstance(body, str)
        self.assertEqual(len(body), limit - 2)
        _, acks, _, _ = self.call("acks")
        self.assertEqual(acks["exact_limit"][0], 202, acks)

    def test_response_over_the_size_limit_is_413(self):
        resp, body, log, _ = self.call("over_limit")
        self.assertEqual(resp.get("FunctionError"), "Unhandled", str(body)[:300])
        self.assertEqual(body.get("errorType"), "Function.ResponseSizeTooLarge", body)
        self.assertIn("6291556", body.get("errorMessage", ""))
        _, acks, _, _ = self.call("acks")
        status, err = acks.get("over_limit", [None, None])
        self.assertEqual(status, 413, "the runtime should see 413 RequestEntityTooLarge, got %r %r" % (status, err))
        self.assertEqual(err.get("errorType"), "RequestEntityTooLarge")

    def test_sandbox_sees_only_its_own_invocations(self):
        other = "rapi-other"
        self.lam.create_function(FunctionName=other, Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                 Code={"ZipFile": zip_files({"bootstrap": (PROBE_BOOTSTRAP, 0o755)})})
        seen = {}
        for fn in (self.fn, other, self.fn, other):
            resp, body, log = self.invoke(fn, {"mode": "headers"})
            h = body["headers"]
            self.assertEqual(h["lambda-runtime-invoked-function-arn"],
                             "arn:aws:lambda:us-east-1:%s:function:%s" % (harness.ACCOUNT, fn))
            self.assertIn("START RequestId: %s " % h["lambda-runtime-aws-request-id"], log)
            seen.setdefault(fn, set()).add(h["lambda-runtime-aws-request-id"])
        self.assertFalse(seen[self.fn] & seen[other])


class InitErrorTest(AltoTestCase):
    def test_init_error_is_returned_to_the_first_invoke(self):
        name = "init-fails"
        self.lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                 Code={"ZipFile": zip_files({"bootstrap": (INIT_ERROR_BOOTSTRAP, 0o755)})})
        for attempt in range(2):
            t0 = time.monotonic()
            resp, body, log = self.invoke(name, {})
            self.assertLess(time.monotonic() - t0, 10)
            self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
            self.assertEqual(body.get("errorType"), "Runtime.CustomInitFailure", body)
            self.assertEqual(body.get("errorMessage"), "init failed on purpose")
            self.assertIn("init about to fail", log, "output written during init belongs in the log tail")

    def test_init_error_without_exit(self):
        # The runtime posts init/error but does not exit: the invoke must still get the error
        # promptly (not wait for the timeout).
        name = "init-fails-alive"
        self.lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                 Timeout=30, Environment={"Variables": {"STAY_ALIVE": "1"}},
                                 Code={"ZipFile": zip_files({"bootstrap": (INIT_ERROR_BOOTSTRAP, 0o755)})})
        t0 = time.monotonic()
        resp, body, log = self.invoke(name, {})
        self.assertLess(time.monotonic() - t0, 10, "the init error was not returned promptly")
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertEqual(body.get("errorType"), "Runtime.CustomInitFailure", body)

    def test_python_runtime_init_error(self):
        # The shipped Python runtime reports import failures through /init/error.
        name = "py-init-fails"
        self.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=harness.ROLE,
                                 Code={"ZipFile": zip_files({"app.py": "raise KeyError('at import')\n"})})
        resp, body, log = self.invoke(name, {})
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertEqual(body.get("errorType"), "KeyError", body)
        self.assertIn("at import", body.get("errorMessage", ""))


if __name__ == "__main__":
    import unittest

    unittest.main()
