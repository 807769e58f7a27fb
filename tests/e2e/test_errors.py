"""Negative tests: every error the issue lists, over raw HTTP and through boto3, plus function errors."""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ROLE, AltoTestCase, zip_files  # noqa: E402

FUNCTIONS_PATH = "/2015-03-31/functions"
APP_PY = 'def handler(event, context):\n    return {"ok": True, "event": event}\n'
ECHO_LEN_PY = ('def handler(event, context):\n'
               '    return {"len": len(event) if isinstance(event, str) else None}\n')


def b64(data):
    return base64.b64encode(data).decode()


class ControlErrorsTest(AltoTestCase):
    """Control-plane errors: status, x-amzn-ErrorType, {"Type","Message"}, boto3 exception, no leftovers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nv = cls.server.client(validate=False)  # lets out-of-range values reach the server
        cls.good_zip = zip_files({"app.py": APP_PY})

    # -- helpers --

    def code_entries(self):
        d = os.path.join(self.server.data_dir, "code")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def setUp(self):
        self.code_before = self.code_entries()

    def assert_nothing_written(self, name):
        self.assertNotIn(name, self.function_names(), "a rejected create left a function behind")
        after = self.code_entries()
        self.assertEqual(after, self.code_before, "a rejected request left files in the code store")
        self.assertFalse([e for e in after if e.startswith(".extract") or ".tmp" in e], after)

    def create_body(self, name, runtime="python3.12", handler="app.handler", zip_bytes=None, **extra):
        body = {"FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": ROLE,
                "Code": {"ZipFile": b64(self.good_zip if zip_bytes is None else zip_bytes)}}
        body.update(extra)
        return body

    def raw_create(self, body, content_type="application/json"):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        return self.server.request("POST", FUNCTIONS_PATH, data, {"Content-Type": content_type})

    def assert_create_rejected(self, name, status, error_type, boto_exc=None, message_re=None, client=None,
                               **fields):
        """Raw create and boto3 create are both refused, and nothing is stored."""
        zip_bytes = fields.pop("zip_bytes", None)
        res = self.raw_create(self.create_body(name, zip_bytes=zip_bytes, **fields))
        doc = self.assertLambdaError(res, status, error_type, message_re)
        self.assert_nothing_written(name)
        client = client or self.nv
        exc = getattr(client.exceptions, boto_exc or error_type)
        kw = {"FunctionName": name, "Runtime": fields.pop("Runtime", "python3.12"),
              "Handler": fields.pop("Handler", "app.handler"), "Role": ROLE,
              "Code": {"ZipFile": self.good_zip if zip_bytes is None else zip_bytes}}
        kw.update(fields)
        with self.assertRaises(exc) as cm:
            client.create_function(**kw)
        err = cm.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(err["Error"]["Code"], error_type)
        self.assertTrue(err["Error"]["Message"])
        self.assert_nothing_written(name)
        return doc

    # -- request-level --

    def test_malformed_json_body(self):
        for body in (b'{"FunctionName": ', b"not json at all", b'{"FunctionName": "x",}'):
            with self.subTest(body=body):
                res = self.raw_create(body)
                self.assertLambdaError(res, 400, "InvalidParameterValueException")
        res = self.raw_create(b'["a", "list"]')
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        self.assert_nothing_written("x")

    def test_malformed_json_on_update_configuration_changes_nothing(self):
        name = self.unique("badupd")
        created = self.create(name, "python3.12", "app.handler", self.good_zip, Timeout=7)
        res = self.server.request("PUT", "%s/%s/configuration" % (FUNCTIONS_PATH, name), b'{"Timeout": 9',
                                  {"Content-Type": "application/json"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["Timeout"], 7)
        self.assertEqual(conf["RevisionId"], created["RevisionId"])

    def test_unsupported_media_type(self):
        name = self.unique("textplain")
        res = self.raw_create(self.create_body(name), content_type="text/plain")
        self.assertLambdaError(res, 415, "UnsupportedMediaTypeException")
        self.assert_nothing_written(name)

        client = self.server.client()

        def force_text_plain(request, **_):
            # Replaced, not added: botocore's headers append on assignment, and urllib3 would
            # then send the two values folded into one line that no longer matches the signature.
            del request.headers["Content-Type"]
            request.headers["Content-Type"] = "text/plain"

        client.meta.events.register("before-sign.lambda.CreateFunction", force_text_plain)
        with self.assertRaises(client.exceptions.UnsupportedMediaTypeException) as cm:
            client.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                   Code={"ZipFile": self.good_zip})
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 415)
        self.assert_nothing_written(name)

    def test_create_request_too_large(self):
        name = self.unique("hugecreate")
        limit = 69905067
        for extra in (1, 64 * 1024):  # just over the limit, and well over it
            with self.subTest(over_by=extra):
                body = (b'{"FunctionName":"%s","Code":{"ZipFile":"' % name.encode() + b"A" * (limit + extra) + b'"}}')
                res = harness.http_request_tolerant(self.server.host, self.server.port, "POST", FUNCTIONS_PATH,
                                                    body, {"Content-Type": "application/json"})
                self.assertLambdaError(res, 413, "RequestTooLargeException")
                self.assert_nothing_written(name)

    # -- code packages --

    def test_zipfile_not_a_zip(self):
        name = self.unique("notzip")
        self.assert_create_rejected(name, 400, "InvalidParameterValueException",
                                    zip_bytes=b"this is plainly not a zip archive")
        res = self.raw_create(dict(self.create_body(name), Code={"ZipFile": "%%% not base64 %%%"}))
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        res = self.raw_create(dict(self.create_body(name), Code={}))
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        self.assert_nothing_written(name)

    def test_zip_entry_with_dotdot(self):
        for i, entry in enumerate(("../evil.txt", "sub/../../evil.txt", "../../../../../../tmp/alto-e2e-evil.txt")):
            with self.subTest(entry=entry):
                name = self.unique("dotdot%d" % i)
                z = zip_files({"app.py": APP_PY, entry: "escaped!"})
                self.assert_create_rejected(name, 400, "InvalidParameterValueException", zip_bytes=z)
        for p in (os.path.join(self.server.data_dir, "code", "evil.txt"), os.path.join(self.server.data_dir, "evil.txt"),
                  "/tmp/alto-e2e-evil.txt"):
            self.assertFalse(os.path.exists(p), "%s was written outside the package" % p)

    def test_zip_entry_with_absolute_path(self):
        target = os.path.join(self.server.tmp, "absolute-escape.txt")
        name = self.unique("abspath")
        z = zip_files({"app.py": APP_PY, target: "escaped!"})
        self.assert_create_rejected(name, 400, "InvalidParameterValueException", zip_bytes=z)
        self.assertFalse(os.path.exists(target), "an absolute zip entry was written to the host")

    def test_zip_symlink_pointing_out(self):
        for i, target in enumerate(("/etc/passwd", "../../../../../../etc/passwd", "sub/../../outside")):
            with self.subTest(target=target):
                name = self.unique("symout%d" % i)
                z = zip_files({"app.py": APP_PY, "passwd": ("symlink", target)})
                self.assert_create_rejected(name, 400, "InvalidParameterValueException", zip_bytes=z)

    def test_zip_symlink_inside_is_accepted(self):
        # Control for the test above: a link that stays inside the package is fine.
        name = self.unique("symin")
        z = zip_files({"app.py": APP_PY, "alias.py": ("symlink", "app.py")})
        self.create(name, "python3.12", "alias.handler", z)
        _, body, _ = self.invoke(name, {"a": 1})
        self.assertEqual(body, {"ok": True, "event": {"a": 1}})

    # -- configuration values --

    def test_unknown_runtime(self):
        for i, runtime in enumerate(("python2.7", "cobol85", "nodejs99.x")):
            with self.subTest(runtime=runtime):
                self.assert_create_rejected(self.unique("rt%d" % i), 400, "InvalidParameterValueException",
                                            Runtime=runtime)

    def test_bad_function_names(self):
        for name in ("bad name!", "a" * 65, "semi;colon", "dollar$"):
            with self.subTest(name=name):
                self.assert_create_rejected(name, 400, "InvalidParameterValueException")
        # Lookups with a malformed name are a 400 too (not a 404 or a 500).
        res = self.server.request("GET", "%s/%s" % (FUNCTIONS_PATH, "bad%20name%21"))
        self.assertLambdaError(res, 400, "InvalidParameterValueException")
        # Boundary: 64 characters is legal.
        ok = "b" * 64
        self.create(ok, "python3.12", "app.handler", self.good_zip)
        self.assertIn(ok, self.function_names())
        self.lam.delete_function(FunctionName=ok)

    def test_duplicate_create(self):
        name = self.unique("dup")
        first = self.create(name, "python3.12", "app.handler", self.good_zip)
        self.code_before = self.code_entries()
        other_zip = zip_files({"app.py": APP_PY.replace('"ok": True', '"ok": "second"')})
        res = self.raw_create(self.create_body(name, zip_bytes=other_zip))
        self.assertLambdaError(res, 409, "ResourceConflictException", name)
        with self.assertRaises(self.lam.exceptions.ResourceConflictException) as cm:
            self.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                     Code={"ZipFile": other_zip})
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 409)
        # The original function is untouched, and the rejected package was not stored.
        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["CodeSha256"], first["CodeSha256"])
        self.assertEqual(conf["RevisionId"], first["RevisionId"])
        self.assertEqual(self.code_entries(), self.code_before)
        _, body, _ = self.invoke(name, {})
        self.assertEqual(body, {"ok": True, "event": {}})
        self.assertEqual(self.function_names().count(name), 1)

    def test_missing_function(self):
        name = self.unique("ghost")
        path = "%s/%s" % (FUNCTIONS_PATH, name)
        calls = [("GET", path, None), ("GET", path + "/configuration", None), ("DELETE", path, None),
                 ("POST", path + "/invocations", b"{}"),
                 ("PUT", path + "/code", json.dumps({"ZipFile": b64(self.good_zip)}).encode()),
                 ("PUT", path + "/configuration", b'{"Timeout": 5}')]
        for method, p, body in calls:
            with self.subTest(method=method, path=p):
                res = self.server.request(method, p, body, {"Content-Type": "application/json"} if body else None)
                self.assertLambdaError(res, 404, "ResourceNotFoundException", "Function not found")
        nf = self.lam.exceptions.ResourceNotFoundException
        for call in (lambda: self.lam.get_function(FunctionName=name),
                     lambda: self.lam.get_function_configuration(FunctionName=name),
                     lambda: self.lam.delete_function(FunctionName=name),
                     lambda: self.lam.invoke(FunctionName=name, Payload=b"{}"),
                     lambda: self.lam.update_function_code(FunctionName=name, ZipFile=self.good_zip),
                     lambda: self.lam.update_function_configuration(FunctionName=name, Timeout=5)):
            with self.assertRaises(nf) as cm:
                call()
            self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assert_nothing_written(name)

    def test_reserved_environment_variable(self):
        for key in ("AWS_REGION", "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY_ID", "LAMBDA_TASK_ROOT"):
            with self.subTest(key=key):
                self.assert_create_rejected(self.unique("resenv"), 400, "InvalidParameterValueException",
                                            message_re="[Rr]eserved.*" + key, Environment={"Variables": {key: "x"}})
        # _HANDLER is reserved and also breaks the name pattern [a-zA-Z]([a-zA-Z0-9_])+: either message is fine.
        self.assert_create_rejected(self.unique("resenv"), 400, "InvalidParameterValueException",
                                    Environment={"Variables": {"_HANDLER": "x"}})
        # On update too, and the function keeps its environment.
        name = self.unique("resenvupd")
        self.create(name, "python3.12", "app.handler", self.good_zip, Environment={"Variables": {"MINE": "1"}})
        with self.assertRaises(self.lam.exceptions.InvalidParameterValueException):
            self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"AWS_REGION": "x"}})
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"],
                         {"MINE": "1"})

    def test_environment_over_4kb(self):
        big = {"BIG": "x" * 4200}
        self.assert_create_rejected(self.unique("bigenv"), 400, "InvalidParameterValueException",
                                    message_re="4KB", Environment={"Variables": big})
        many = {"K%03d" % i: "v" * 40 for i in range(100)}  # 100 x 44 bytes
        self.assert_create_rejected(self.unique("manyenv"), 400, "InvalidParameterValueException",
                                    Environment={"Variables": many})
        name = self.unique("bigenvupd")
        created = self.create(name, "python3.12", "app.handler", self.good_zip)
        with self.assertRaises(self.lam.exceptions.InvalidParameterValueException):
            self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": big})
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["RevisionId"], created["RevisionId"])

    def test_memory_size_bounds(self):
        for mem in (64, 127, 10241, 20000):
            with self.subTest(MemorySize=mem):
                self.assert_create_rejected(self.unique("mem%d" % mem), 400, "InvalidParameterValueException",
                                            MemorySize=mem)
        for mem in (128, 10240):
            name = self.unique("memok%d" % mem)
            self.assertEqual(self.create(name, "python3.12", "app.handler", self.good_zip, MemorySize=mem)["MemorySize"],
                             mem)
            self.lam.delete_function(FunctionName=name)

    def test_timeout_bounds(self):
        for t in (0, 901, -1):
            with self.subTest(Timeout=t):
                self.assert_create_rejected(self.unique("to%d" % abs(t)), 400, "InvalidParameterValueException",
                                            Timeout=t)
        for t in (1, 900):
            name = self.unique("took%d" % t)
            self.assertEqual(self.create(name, "python3.12", "app.handler", self.good_zip, Timeout=t)["Timeout"], t)
            self.lam.delete_function(FunctionName=name)
        name = self.unique("toupd")
        self.create(name, "python3.12", "app.handler", self.good_zip, Timeout=5)
        with self.assertRaises(self.nv.exceptions.InvalidParameterValueException):
            self.nv.update_function_configuration(FunctionName=name, Timeout=901)
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["Timeout"], 5)

    def test_wrong_field_types(self):
        self.assert_create_rejected(self.unique("types"), 400, "InvalidParameterValueException",
                                    MemorySize="lots")

    # -- invoke --

    def test_invoke_payload_too_large(self):
        name = self.unique("bigpayload")
        self.create(name, "python3.12", "echo.handler", zip_files({"echo.py": ECHO_LEN_PY}))
        limit = 6 * 1024 * 1024
        too_big = b'"' + b"a" * (limit - 1) + b'"'  # valid JSON, limit + 1 bytes
        res = self.server.request("POST", "%s/%s/invocations" % (FUNCTIONS_PATH, name), too_big)
        self.assertLambdaError(res, 413, "RequestTooLargeException")
        with self.assertRaises(self.lam.exceptions.RequestTooLargeException) as cm:
            self.lam.invoke(FunctionName=name, Payload=too_big)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 413)
        # Exactly 6 MiB is allowed.
        just_right = b'"' + b"a" * (limit - 2) + b'"'
        resp, body, _ = self.invoke(name, just_right, tail=False)
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"len": limit - 2})

    def test_invoke_invalid_json_payload(self):
        name = self.unique("badpayload")
        self.create(name, "python3.12", "app.handler", self.good_zip)
        for payload in (b"{not json", b'{"a": 1', b"\xff\xfe"):
            with self.subTest(payload=payload):
                res = self.server.request("POST", "%s/%s/invocations" % (FUNCTIONS_PATH, name), payload)
                self.assertLambdaError(res, 400, "InvalidRequestContentException")
        with self.assertRaises(self.lam.exceptions.InvalidRequestContentException) as cm:
            self.lam.invoke(FunctionName=name, Payload=b"{not json")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_invoke_unsupported_invocation_type(self):
        name = self.unique("badtype")
        self.create(name, "python3.12", "app.handler", self.good_zip)
        res = self.server.request("POST", "%s/%s/invocations" % (FUNCTIONS_PATH, name), b"{}",
                                  {"X-Amz-Invocation-Type": "Sometimes"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException")


# -- function-level errors ---------------------------------------------------------------------------

PY_RAISES = '''
def handler(event, context):
    print("about to raise")
    raise ValueError("boom: %s" % event.get("why"))
'''

PY_SYNTAX_ERROR = 'def handler(event, context)\n    return 1\n'

NODE_THROWS = '''
exports.handler = async (event) => {
  console.log("node about to throw");
  throw new TypeError("nope: " + event.why);
};
'''

PY_BIG_RESPONSE = '''
def handler(event, context):
    return "x" * (7 * 1024 * 1024)
'''

PY_MEMORY_HOG = '''
def handler(event, context):
    if event.get("hog"):
        chunks = []
        for _ in range(64):
            chunks.append(b"x" * (16 * 1024 * 1024))  # 1 GiB in total, well over 128 MB
        return {"survived": len(chunks)}
    return {"ok": True}
'''

SH_EXIT_1 = '#!/bin/sh\necho "bootstrap failing on purpose"\nexit 1\n'
SH_KILL_9 = '#!/bin/sh\necho "bootstrap about to kill -9 itself"\nkill -9 $$\nsleep 2\necho "still alive after kill -9"\nexit 0\n'


class FunctionErrorsTest(AltoTestCase):
    """Errors inside functions: 200 + X-Amz-Function-Error: Unhandled + the error document."""

    def assertFunctionError(self, name, error_type, payload=None, message_re=None, max_seconds=20):
        t0 = time.monotonic()
        resp, body, log = self.invoke(name, payload if payload is not None else {})
        elapsed = time.monotonic() - t0
        self.assertEqual(resp["StatusCode"], 200)
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body.get("errorType"), error_type, body)
        self.assertIsInstance(body.get("errorMessage"), str, body)
        if message_re:
            self.assertRegex(body["errorMessage"], message_re)
        self.assertLess(elapsed, max_seconds)
        self.assertIn("REPORT RequestId", log)
        return body, log, elapsed

    def test_python_handler_raises(self):
        name = self.unique("pyraise")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_RAISES}))
        body, log, _ = self.assertFunctionError(name, "ValueError", {"why": "testing"}, "^boom: testing$")
        self.assertIsInstance(body.get("stackTrace"), list)
        # Raw HTTP: status 200 and the header.
        status, headers, raw = self.server.request("POST", "/2015-03-31/functions/%s/invocations" % name,
                                                   b'{"why": "raw"}')
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("X-Amz-Function-Error"), "Unhandled")
        self.assertEqual(headers.get("X-Amz-Executed-Version"), "$LATEST")
        self.assertEqual(json.loads(raw)["errorMessage"], "boom: raw")
        # The failure did not break the sandbox: it is reused.
        _, log2 = self.assertFunctionError(name, "ValueError", {"why": "again"})[:2]
        self.assertNotIn("Init Duration", log2)

    def test_node_handler_throws(self):
        name = self.unique("nodethrow")
        self.create(name, "nodejs20.x", "index.handler", zip_files({"index.js": NODE_THROWS}))
        self.assertFunctionError(name, "TypeError", {"why": "testing"}, "nope: testing")

    def test_missing_module(self):
        for runtime, handler, files in (("python3.12", "nosuchmodule.handler", {"app.py": PY_RAISES}),
                                        ("nodejs20.x", "nosuchmodule.handler", {"index.js": NODE_THROWS})):
            with self.subTest(runtime=runtime):
                name = self.unique("nomod")
                self.create(name, runtime, handler, zip_files(files))
                self.assertFunctionError(name, "Runtime.ImportModuleError", message_re="nosuchmodule")
                # Still the same answer on the next invoke (init fails again), and no hang.
                self.assertFunctionError(name, "Runtime.ImportModuleError")

    def test_missing_handler_attribute(self):
        for runtime, handler, files in (("python3.12", "app.nosuchhandler", {"app.py": PY_RAISES}),
                                        ("nodejs20.x", "index.nosuchhandler", {"index.js": NODE_THROWS})):
            with self.subTest(runtime=runtime):
                name = self.unique("nohandler")
                self.create(name, runtime, handler, zip_files(files))
                self.assertFunctionError(name, "Runtime.HandlerNotFound", message_re="nosuchhandler")

    def test_python_syntax_error(self):
        name = self.unique("syntax")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SYNTAX_ERROR}))
        self.assertFunctionError(name, "Runtime.UserCodeSyntaxError")

    def test_timeout(self):
        name = self.unique("timeout")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip(), Timeout=1)
        self.invoke(name, {})  # warm: the timeout must hit the handler, not the cold start
        body, log, elapsed = self.assertFunctionError(name, "Sandbox.Timedout", {"sleep": 10},
                                                      r"Task timed out after 1\.00 seconds", max_seconds=6)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertIn("Task timed out after 1.00 seconds", log)
        # The next invoke works, in a fresh sandbox (the timed-out one was killed).
        resp, body2, log2 = self.invoke(name, {})
        self.assertNotIn("FunctionError", resp, body2)
        self.assertEqual(body2["count"], 1)
        self.assertIn("Init Duration", log2)

    def test_custom_runtime_exit_1(self):
        name = self.unique("exit1")
        self.create(name, "provided.al2023", "x", zip_files({"bootstrap": (SH_EXIT_1, 0o755)}))
        body, log, _ = self.assertFunctionError(name, "Runtime.ExitError", message_re="exit status 1", max_seconds=10)
        self.assertIn("bootstrap failing on purpose", log)
        self.assertFunctionError(name, "Runtime.ExitError", max_seconds=10)

    def test_custom_runtime_killed_by_signal(self):
        name = self.unique("kill9")
        self.create(name, "provided.al2023", "x", zip_files({"bootstrap": (SH_KILL_9, 0o755)}), Timeout=10)
        body, log, elapsed = self.assertFunctionError(name, "Runtime.ExitError", max_seconds=10)
        self.assertIn("bootstrap about to kill -9 itself", log)
        self.assertNotIn("still alive after kill -9", log,
                         "kill -9 $$ had no effect: the bootstrap runs as PID 1 of its PID namespace")
        self.assertRegex(body["errorMessage"], "signal: killed")

    def test_response_too_large(self):
        name = self.unique("bigresp")
        self.create(name, "python3.12", "big.handler", zip_files({"big.py": PY_BIG_RESPONSE}))
        body, _, _ = self.assertFunctionError(name, "Function.ResponseSizeTooLarge", message_re="6291556")
        self.assertFunctionError(name, "Function.ResponseSizeTooLarge")

    def test_memory_limit_enforced(self):
        if not self.server.isolating:
            self.skipTest("the process driver enforces no memory limit")
        name = self.unique("memhog")
        self.create(name, "python3.12", "hog.handler", zip_files({"hog.py": PY_MEMORY_HOG}), MemorySize=128,
                    Timeout=20)
        resp, body, log = self.invoke(name, {"hog": True})
        self.assertEqual(resp.get("FunctionError"), "Unhandled", "a 1 GiB allocation succeeded under 128 MB: %r" % body)
        self.assertIn(body.get("errorType"), ("Runtime.ExitError", "Runtime.OutOfMemory", "MemoryError"), body)
        resp, body, _ = self.invoke(name, {})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"ok": True})


if __name__ == "__main__":
    import unittest

    unittest.main()
