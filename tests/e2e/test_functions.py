"""Functions end to end: every runtime, the issue's aws CLI commands, and the control API."""

import base64
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ROLE, AltoTestCase, code_sha256, zip_dir, zip_file, zip_files  # noqa: E402

# A custom runtime written as a Python script (the sandbox has the host's /usr): it logs one line
# per event and answers {"provided": <event>}.
PY_BOOTSTRAP_HELLO = r'''#!/usr/bin/python3
import http.client, json, os, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
while True:
    c = http.client.HTTPConnection(host, int(port))
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    event = json.loads(r.read() or b"null")
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    print("provided-python: handling %s" % rid, flush=True)
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid,
              body=json.dumps({"provided": event}), headers={"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()
'''

PY_VERSIONED = '''
def handler(event, context):
    print("versioned-log v%d")
    return {"version": %d}
'''

# The pause lets the server read the output before the response arrives, so this test checks the
# 4 KB truncation alone; test_log_tail_holds_exactly_this_invocations_output checks attribution.
NOISY = '''
import time
def handler(event, context):
    for i in range(400):
        print("noise line %04d " % i + "x" * 40)
    print("last-line-marker")
    time.sleep(0.1)
    return {"ok": True}
'''


TAGGED = '''
def handler(event, context):
    tag = event["tag"]
    for i in range(event.get("lines", 0)):
        print("filler %s %04d %s" % (tag, i, "y" * 60))
    print("marker-%s" % tag)
    return {"tag": tag}
'''


class RuntimesTest(AltoTestCase):
    """Create, invoke and read the log tail of a function in every supported runtime."""

    def check_invoke(self, name, expected, own_log_line=None, payload=None):
        payload = payload if payload is not None else {"name": "x"}
        resp, body, log = self.invoke(name, payload)
        self.assertEqual(resp["StatusCode"], 200)
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, expected)
        self.assertEqual(resp["ExecutedVersion"], "$LATEST")
        raw_b64 = resp["LogResult"]
        self.assertLessEqual(len(base64.b64decode(raw_b64)), 4096)
        self.assertRegex(log, r"START RequestId: [0-9a-f-]{36} Version: \$LATEST")
        rid = log.split("START RequestId: ")[1].split()[0]
        self.assertIn("END RequestId: " + rid, log)
        self.assertRegex(log, r"REPORT RequestId: %s\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms\t"
                              r"Memory Size: 128 MB" % rid)
        used = re.search(r"Max Memory Used: (\d+) MB", log)
        self.assertIsNotNone(used, "REPORT has no Max Memory Used: %r" % log)
        self.assertGreater(int(used.group(1)), 0)
        if self.server.isolating:  # the cgroup caps the whole sandbox at its MemorySize
            self.assertLessEqual(int(used.group(1)), 128)
        self.assertLess(log.index("START RequestId"), log.index("END RequestId"))
        self.assertLess(log.index("END RequestId"), log.index("REPORT RequestId"))
        if own_log_line:
            self.assertIn(own_log_line, log, "the function's own output is missing from its log tail "
                                             "(see test_log_tail_holds_exactly_this_invocations_output)")
        # Raw HTTP: the same invoke's headers.
        status, headers, raw = self.server.request(
            "POST", "/2015-03-31/functions/%s/invocations" % name, json.dumps(payload),
            {"X-Amz-Log-Type": "Tail"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers.get("X-Amz-Executed-Version"), "$LATEST")
        self.assertIsNone(headers.get("X-Amz-Function-Error"))
        self.assertEqual(json.loads(raw), expected)
        self.assertIn("REPORT RequestId", base64.b64decode(headers.get("X-Amz-Log-Result")).decode())
        return resp, log

    def test_python312(self):
        name = self.unique("py312")
        cfg = self.create(name, "python3.12", "app.handler", zip_dir(harness.HELLO_PYTHON_DIR))
        self.assertEqual(cfg["Runtime"], "python3.12")
        self.check_invoke(name, {"message": "Hello, x!", "runtime": "python"}, "hello-python: greeting x")

    def test_python311(self):
        name = self.unique("py311")
        self.create(name, "python3.11", "app.handler", zip_dir(harness.HELLO_PYTHON_DIR))
        self.check_invoke(name, {"message": "Hello, x!", "runtime": "python"}, "hello-python: greeting x")

    def test_nodejs20(self):
        name = self.unique("node20")
        self.create(name, "nodejs20.x", "index.handler", zip_dir(harness.HELLO_NODE_DIR))
        self.check_invoke(name, {"message": "Hello, x!", "runtime": "nodejs"}, "hello-node: greeting x")

    def test_java17(self):
        self.assertTrue(os.path.isfile(os.path.join(harness.HELLO_JAVA_DIR, "lib", "hello.jar")),
                        "build/examples/hello-java/lib/hello.jar is not built")
        name = self.unique("java17")
        self.create(name, "java17", "example.Hello::handleRequest", zip_dir(harness.HELLO_JAVA_DIR),
                    MemorySize=512)
        resp, body, log = self.invoke(name, {"name": "x"})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"message": "Hello, x!", "runtime": "java"})
        self.assertEqual(resp["ExecutedVersion"], "$LATEST")
        self.assertIn("hello-java: greeting x", log)
        self.assertIn("Memory Size: 512 MB", log)
        self.assertLessEqual(len(base64.b64decode(resp["LogResult"])), 4096)

    def test_provided_al2023_native_bootstrap(self):
        self.assertTrue(os.access(harness.HELLO_PROVIDED_BOOTSTRAP, os.X_OK), "hello-provided is not built")
        name = self.unique("provided")
        self.create(name, "provided.al2023", "unused.handler",
                    zip_file(harness.HELLO_PROVIDED_BOOTSTRAP, "bootstrap", 0o755))
        self.check_invoke(name, {"message": "Hello from a custom runtime!", "event": {"name": "x"}})

    def test_provided_al2_script_bootstrap(self):
        name = self.unique("provided2")
        self.create(name, "provided.al2", "x", zip_files({"bootstrap": (PY_BOOTSTRAP_HELLO, 0o755)}))
        self.check_invoke(name, {"provided": {"name": "x"}}, "provided-python: handling")

    def test_log_result_is_last_4kb(self):
        name = self.unique("noisy")
        self.create(name, "python3.12", "noisy.handler", zip_files({"noisy.py": NOISY}))
        resp, body, log = self.invoke(name, {})
        self.assertEqual(body, {"ok": True})
        raw = base64.b64decode(resp["LogResult"])
        self.assertLessEqual(len(raw), 4096)
        self.assertGreater(len(raw), 3000, "the tail should be (nearly) full with 24 KB of output")
        self.assertIn("REPORT RequestId", log)
        self.assertIn("last-line-marker", log)
        self.assertTrue(log.rstrip("\t\n").split("\n")[-1].startswith("REPORT RequestId"), log[-300:])
        self.assertNotIn("noise line 0000", log, "the log tail must be the LAST 4 KB")

    def test_log_tail_holds_exactly_this_invocations_output(self):
        # Each invocation prints a unique marker (after some filler) right before returning. Its log
        # tail must contain its own marker and nothing printed by another invocation. Four callers
        # in parallel (four sandboxes) keep the server busy, as in production.
        name = self.unique("tagged")
        self.create(name, "python3.12", "tagged.handler", zip_files({"tagged.py": TAGGED}))
        clients = [self.server.client() for _ in range(4)]

        def caller(k):
            wrong = []
            for i in range(40):
                tag = "t%d%02d" % (k, i)
                resp, body, log = self.invoke(name, {"tag": tag, "lines": 40 if i % 2 else 0}, client=clients[k])
                if body != {"tag": tag}:
                    wrong.append("%s: bad result %r" % (tag, body))
                    continue
                problems = []
                if "marker-%s\n" % tag not in log:
                    problems.append("own marker missing")
                others = sorted(set(re.findall(r"(?:marker-|filler )(t\d{3})", log)) - {tag})
                if others:
                    problems.append("holds output of %s" % others)
                if problems:
                    wrong.append("%s: %s" % (tag, ", ".join(problems)))
            return wrong

        with ThreadPoolExecutor(max_workers=4) as pool:
            wrong = sum(pool.map(caller, range(4), timeout=120), [])
        self.assertEqual(wrong, [], "%d of 160 log tails were wrong (output attributed to the wrong invocation)"
                         % len(wrong))

    def test_invoke_without_tail_has_no_log_result(self):
        name = self.unique("notail")
        self.create(name, "python3.12", "app.handler", zip_dir(harness.HELLO_PYTHON_DIR))
        status, headers, raw = self.server.request("POST", "/2015-03-31/functions/%s/invocations" % name, b"")
        self.assertEqual(status, 200, raw)
        self.assertIsNone(headers.get("X-Amz-Log-Result"))
        self.assertEqual(json.loads(raw), {"message": "Hello, world!", "runtime": "python"})

    def test_invoke_request_id_matches_log(self):
        # Lambda returns the invocation's request id as the Invoke response's x-amzn-RequestId (the
        # id in START/END/REPORT and context.aws_request_id), so callers can find the logs.
        name = self.unique("reqid")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        resp, body, log = self.invoke(name, {})
        rid = log.split("START RequestId: ")[1].split()[0]
        self.assertEqual(body["request_id"], rid, "context.aws_request_id vs log")
        self.assertEqual(resp["ResponseMetadata"]["RequestId"], rid,
                         "Invoke x-amzn-RequestId should be the invocation's request id")


class AwsCliIssueCommandTest(AltoTestCase):
    """The exact commands from the issue, run with the aws CLI."""

    def test_issue_commands(self):
        work = tempfile.mkdtemp(prefix="alto-cli-", dir=self.server.tmp)
        zip_bytes = zip_dir(harness.HELLO_PYTHON_DIR)
        with open(os.path.join(work, "hello.zip"), "wb") as f:
            f.write(zip_bytes)
        out = self.server.aws("lambda", "create-function", "--function-name", "hello", "--runtime", "python3.12",
                              "--handler", "app.handler", "--zip-file", "fileb://hello.zip", "--role", ROLE, cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        cfg = json.loads(out.stdout)
        self.assertEqual(cfg["FunctionName"], "hello")
        self.assertEqual(cfg["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:hello")
        self.assertEqual(cfg["Runtime"], "python3.12")
        self.assertEqual(cfg["Handler"], "app.handler")
        self.assertEqual(cfg["Role"], ROLE)
        self.assertEqual(cfg["CodeSha256"], code_sha256(zip_bytes))
        self.assertEqual(cfg["CodeSize"], len(zip_bytes))
        self.assertEqual(cfg["State"], "Active")
        self.assertEqual(cfg["LastUpdateStatus"], "Successful")
        self.assertEqual(cfg["Version"], "$LATEST")
        self.assertEqual(cfg["MemorySize"], 128)
        self.assertEqual(cfg["Timeout"], 3)
        self.assertRegex(cfg["LastModified"], harness.LAST_MODIFIED_RE)

        args = ["lambda", "invoke", "--function-name", "hello", "--payload", '{"name":"x"}']
        if harness.aws_cli_is_v2():
            args += ["--cli-binary-format", "raw-in-base64-out"]
        out = self.server.aws(*(args + ["out.json"]), cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        meta = json.loads(out.stdout)
        self.assertEqual(meta["StatusCode"], 200)
        self.assertEqual(meta["ExecutedVersion"], "$LATEST")
        self.assertNotIn("FunctionError", meta)
        with open(os.path.join(work, "out.json")) as f:
            self.assertEqual(json.load(f), {"message": "Hello, x!", "runtime": "python"})

        out = self.server.aws("lambda", "invoke", "--function-name", "hello", "--payload", '{"name":"y"}',
                              "--log-type", "Tail", "out2.json", cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        log = base64.b64decode(json.loads(out.stdout)["LogResult"]).decode()
        self.assertIn("hello-python: greeting y", log)

        out = self.server.aws("lambda", "get-function", "--function-name", "hello", cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["Configuration"]["CodeSha256"], code_sha256(zip_bytes))

        out = self.server.aws("lambda", "list-functions", cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("hello", [f["FunctionName"] for f in json.loads(out.stdout)["Functions"]])

        out = self.server.aws("lambda", "delete-function", "--function-name", "hello", cwd=work)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = self.server.aws("lambda", "get-function", "--function-name", "hello", cwd=work)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)


class ControlApiTest(AltoTestCase):
    """Get/GetConfiguration/Update*/Delete/DryRun through boto3."""

    def test_get_function_and_configuration(self):
        name = self.unique("getfn")
        zip_bytes = zip_dir(harness.HELLO_PYTHON_DIR)
        created = self.create(name, "python3.12", "app.handler", zip_bytes, Description="described",
                              MemorySize=256, Timeout=10, Environment={"Variables": {"K1": "v1"}})
        got = self.lam.get_function(FunctionName=name)
        self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 200)
        cfg = got["Configuration"]
        for key in ("FunctionName", "FunctionArn", "Runtime", "Handler", "CodeSha256", "CodeSize", "RevisionId",
                    "LastModified", "MemorySize", "Timeout", "Description", "Version"):
            self.assertEqual(cfg[key], created[key], key)
        self.assertEqual(cfg["FunctionArn"], "arn:aws:lambda:us-east-1:%s:function:%s" % (harness.ACCOUNT, name))
        self.assertEqual(cfg["MemorySize"], 256)
        self.assertEqual(cfg["Timeout"], 10)
        self.assertEqual(cfg["Description"], "described")
        self.assertEqual(cfg["Environment"]["Variables"], {"K1": "v1"})
        self.assertEqual(cfg["CodeSha256"], code_sha256(zip_bytes))
        self.assertEqual(len(base64.b64decode(cfg["CodeSha256"])), 32)
        self.assertEqual(cfg["State"], "Active")
        self.assertEqual(cfg["LastUpdateStatus"], "Successful")
        self.assertEqual(cfg["PackageType"], "Zip")
        self.assertRegex(cfg["LastModified"], harness.LAST_MODIFIED_RE)
        self.assertEqual(got["Code"]["RepositoryType"], "S3")
        self.assertTrue(got["Code"]["Location"])

        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["CodeSha256"], cfg["CodeSha256"])
        self.assertEqual(conf["RevisionId"], cfg["RevisionId"])
        self.assertEqual(conf["FunctionName"], name)

        # The name can also be given as an ARN.
        by_arn = self.lam.get_function_configuration(FunctionName=cfg["FunctionArn"])
        self.assertEqual(by_arn["FunctionName"], name)

    def test_update_function_code(self):
        name = self.unique("updcode")
        zip1 = zip_files({"v.py": PY_VERSIONED % (1, 1)})
        zip2 = zip_files({"v.py": PY_VERSIONED % (2, 2)})
        c1 = self.create(name, "python3.12", "v.handler", zip1)
        _, body, log = self.invoke(name, {})
        self.assertEqual(body, {"version": 1})
        time.sleep(0.01)
        u = self.lam.update_function_code(FunctionName=name, ZipFile=zip2)
        self.assertEqual(u["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(u["CodeSha256"], code_sha256(zip2))
        self.assertNotEqual(u["CodeSha256"], c1["CodeSha256"])
        self.assertEqual(u["CodeSize"], len(zip2))
        self.assertNotEqual(u["RevisionId"], c1["RevisionId"])
        self.assertEqual(u["LastUpdateStatus"], "Successful")
        _, body, log = self.invoke(name, {})
        self.assertEqual(body, {"version": 2}, "the new code must run after UpdateFunctionCode (warm sandbox retired)")
        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["CodeSha256"], code_sha256(zip2))
        self.assertEqual(conf["RevisionId"], u["RevisionId"])

    def test_update_function_code_dry_run_changes_nothing(self):
        name = self.unique("upddry")
        zip1 = zip_files({"v.py": PY_VERSIONED % (1, 1)})
        zip2 = zip_files({"v.py": PY_VERSIONED % (2, 2)})
        c1 = self.create(name, "python3.12", "v.handler", zip1)
        u = self.lam.update_function_code(FunctionName=name, ZipFile=zip2, DryRun=True)
        self.assertEqual(u["CodeSha256"], code_sha256(zip2))
        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["CodeSha256"], c1["CodeSha256"])
        self.assertEqual(conf["RevisionId"], c1["RevisionId"])
        _, body, _ = self.invoke(name, {})
        self.assertEqual(body, {"version": 1})

    def test_update_function_configuration(self):
        name = self.unique("updcfg")
        c1 = self.create(name, "python3.12", "probe.handler", harness.probe_zip(), Timeout=3)
        _, body, _ = self.invoke(name, {"env": ["GREETING"]})
        self.assertEqual(body["env"], {"GREETING": None})
        self.assertLessEqual(body["remaining_ms"], 3000)

        u = self.lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"GREETING": "hola"}}, Timeout=20, MemorySize=256,
            Description="updated")
        self.assertEqual(u["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(u["Timeout"], 20)
        self.assertEqual(u["MemorySize"], 256)
        self.assertEqual(u["Description"], "updated")
        self.assertEqual(u["Environment"]["Variables"], {"GREETING": "hola"})
        self.assertNotEqual(u["RevisionId"], c1["RevisionId"])
        self.assertEqual(u["CodeSha256"], c1["CodeSha256"])

        _, body, log = self.invoke(name, {"env": ["GREETING", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]})
        self.assertEqual(body["env"], {"GREETING": "hola", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
        self.assertEqual(body["memory"], 256)
        self.assertGreater(body["remaining_ms"], 15000, "the new Timeout (20 s) must reach the function's deadline")
        self.assertLessEqual(body["remaining_ms"], 20000)
        self.assertIn("Memory Size: 256 MB", log)

        conf = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(conf["Timeout"], 20)
        self.assertEqual(conf["RevisionId"], u["RevisionId"])

    def test_update_with_stale_revision_id_is_refused(self):
        name = self.unique("revid")
        c1 = self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        self.lam.update_function_configuration(FunctionName=name, Timeout=5)
        with self.assertRaises(self.lam.exceptions.PreconditionFailedException) as cm:
            self.lam.update_function_configuration(FunctionName=name, Timeout=6, RevisionId=c1["RevisionId"])
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 412)
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["Timeout"], 5)

    def test_delete_function(self):
        name = self.unique("delfn")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        self.invoke(name, {})  # leave a warm sandbox behind
        d = self.lam.delete_function(FunctionName=name)
        self.assertIn(d["ResponseMetadata"]["HTTPStatusCode"], (200, 204))
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException) as cm:
            self.lam.get_function(FunctionName=name)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.invoke(FunctionName=name, Payload=b"{}")
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.delete_function(FunctionName=name)
        self.assertNotIn(name, self.function_names())
        status, headers, body = self.server.request("GET", "/2015-03-31/functions/%s" % name)
        self.assertLambdaError((status, headers, body), 404, "ResourceNotFoundException", name)
        # The name is free again.
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        _, body, _ = self.invoke(name, {})
        self.assertEqual(body["count"], 1, "a re-created function must not reuse the deleted one's sandbox")

    def test_dry_run(self):
        name = self.unique("dryrun")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        resp = self.lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
        self.assertEqual(resp["StatusCode"], 204)
        self.assertEqual(resp["Payload"].read(), b"")
        status, headers, body = self.server.request("POST", "/2015-03-31/functions/%s/invocations" % name, b"{}",
                                                    {"X-Amz-Invocation-Type": "DryRun"})
        self.assertEqual(status, 204)
        self.assertEqual(body, b"")
        # DryRun did not run the function: the first real invoke is the sandbox's first.
        _, body, _ = self.invoke(name, {})
        self.assertEqual(body["count"], 1)
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.invoke(FunctionName=name + "-missing", InvocationType="DryRun")


    def test_signatures_are_verified(self):
        # This test once pinned the opposite (issue 15): a made-up signature and someone else's key
        # were accepted. Both are refused now; test_auth covers the rest.
        status, headers, body = self.server.request("GET", "/2015-03-31/functions", headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/lambda/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
            "X-Amz-Date": "20200101T000000Z"}, signed=False)
        self.assertEqual((status, headers.get("x-amzn-ErrorType")), (403, "UnrecognizedClientException"), body)
        import boto3
        import botocore.exceptions
        from botocore.config import Config

        wrong_key = boto3.client("lambda", endpoint_url=self.server.endpoint, region_name="eu-west-3",
                                 aws_access_key_id="AKIDSOMEONEELSE", aws_secret_access_key="not-the-secret",
                                 config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            wrong_key.list_functions()
        self.assertEqual(cm.exception.response["Error"]["Code"], "UnrecognizedClientException")


NODE_CALLBACK = '''
exports.handler = (event, context, callback) => {
  console.log("node-callback log");
  callback(null, {style: "callback", fn: context.functionName, mem: String(context.memoryLimitInMB),
                  rid: context.awsRequestId, remaining: context.getRemainingTimeInMillis(),
                  arn: context.invokedFunctionArn});
};
'''

NODE_PROMISE = '''
exports.handler = (event) => new Promise((resolve) => setTimeout(() => resolve({style: "promise", got: event}), 10));
'''

PY_CONTEXT = '''
def handler(event, context):
    return {"fn": context.function_name, "mem": context.memory_limit_in_mb, "version": context.function_version,
            "rid": context.aws_request_id, "arn": context.invoked_function_arn,
            "remaining": context.get_remaining_time_in_millis(), "group": context.log_group_name}
'''


class RuntimeFeaturesTest(AltoTestCase):
    """Handler styles and the context object of the shipped runtimes."""

    def test_node_callback_handler_and_context(self):
        name = self.unique("nodecb")
        self.create(name, "nodejs20.x", "index.handler", zip_files({"index.js": NODE_CALLBACK}), Timeout=7,
                    MemorySize=192)
        resp, body, log = self.invoke(name, {})
        self.assertNotIn("FunctionError", resp, body)
        rid = log.split("START RequestId: ")[1].split()[0]
        self.assertEqual(body["style"], "callback")
        self.assertEqual(body["fn"], name)
        self.assertEqual(body["mem"], "192")
        self.assertEqual(body["rid"], rid)
        self.assertEqual(body["arn"], "arn:aws:lambda:us-east-1:%s:function:%s" % (harness.ACCOUNT, name))
        self.assertTrue(0 < body["remaining"] <= 7000, body)

    def test_node_promise_handler(self):
        name = self.unique("nodepromise")
        self.create(name, "nodejs20.x", "lib/handler.handler", zip_files({"lib/handler.js": NODE_PROMISE}))
        resp, body, _ = self.invoke(name, {"k": [1, 2]})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"style": "promise", "got": {"k": [1, 2]}})

    def test_python_context(self):
        name = self.unique("pyctx")
        self.create(name, "python3.11", "ctx.handler", zip_files({"ctx.py": PY_CONTEXT}), Timeout=9, MemorySize=160)
        resp, body, log = self.invoke(name, {})
        self.assertNotIn("FunctionError", resp, body)
        rid = log.split("START RequestId: ")[1].split()[0]
        self.assertEqual(body["fn"], name)
        self.assertEqual(body["mem"], 160)
        self.assertEqual(body["version"], "$LATEST")
        self.assertEqual(body["rid"], rid)
        self.assertEqual(body["arn"], "arn:aws:lambda:us-east-1:%s:function:%s" % (harness.ACCOUNT, name))
        self.assertEqual(body["group"], "/aws/lambda/" + name)
        self.assertTrue(7000 < body["remaining"] <= 9000, body)

    def test_python_returns_non_object_json(self):
        name = self.unique("pyscalar")
        self.create(name, "python3.12", "s.handler",
                    zip_files({"s.py": "def handler(e, c):\n    return e if e is not None else 'none'\n"}))
        for payload, expected in ((b'"a string"', "a string"), (b"42", 42), (b"[1, 2]", [1, 2]), (b"null", "none")):
            with self.subTest(payload=payload):
                resp, body, _ = self.invoke(name, payload, tail=False)
                self.assertEqual(body, expected)


class ListPaginationTest(AltoTestCase):
    """Seven functions on a fresh server; MaxItems=3 gives exactly three pages."""

    def test_pagination(self):
        names = ["page-%02d" % i for i in range(7)]
        z = harness.probe_zip()
        for n in reversed(names):
            self.create(n, "python3.12", "probe.handler", z)
        seen, pages, marker = [], [], None
        for _ in range(10):
            kw = {"MaxItems": 3}
            if marker:
                kw["Marker"] = marker
            page = self.lam.list_functions(**kw)
            pages.append(page)
            self.assertLessEqual(len(page["Functions"]), 3)
            seen += [f["FunctionName"] for f in page["Functions"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        self.assertEqual(len(pages), 3, [len(p["Functions"]) for p in pages])
        self.assertEqual([len(p["Functions"]) for p in pages], [3, 3, 1])
        self.assertIn("NextMarker", pages[0])
        self.assertIn("NextMarker", pages[1])
        self.assertNotIn("NextMarker", pages[2])
        self.assertEqual(sorted(seen), names)
        self.assertEqual(len(seen), len(set(seen)), "a function was listed twice")
        for f in pages[0]["Functions"]:
            self.assertEqual(f["Runtime"], "python3.12")
            self.assertEqual(f["CodeSha256"], code_sha256(z))

        # Without MaxItems: one page with everything.
        everything = self.lam.list_functions()
        self.assertEqual(sorted(f["FunctionName"] for f in everything["Functions"]), names)
        self.assertNotIn("NextMarker", everything)

        # boto3's paginator follows Marker/NextMarker too.
        got = []
        for page in self.lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}):
            got += [f["FunctionName"] for f in page["Functions"]]
        self.assertEqual(sorted(got), names)

        # The aws CLI auto-paginates.
        out = self.server.aws("lambda", "list-functions", "--page-size", "2")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(sorted(f["FunctionName"] for f in json.loads(out.stdout)["Functions"]), names)

    def test_bad_max_items(self):
        for bad in ("0", "abc", "-1"):
            with self.subTest(MaxItems=bad):
                res = self.server.request("GET", "/2015-03-31/functions?MaxItems=" + bad)
                self.assertLambdaError(res, 400, "InvalidParameterValueException")


if __name__ == "__main__":
    import unittest

    unittest.main()
