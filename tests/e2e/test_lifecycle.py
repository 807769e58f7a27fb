"""Server lifecycle: restart, warm reuse, concurrency, drain, idle reaping, stale cleanup, the alto CLI."""

import json
import os
import signal
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, zip_dir, zip_file, zip_files  # noqa: E402

# A custom runtime that answers invocations and, once its Runtime API goes away (the server
# crashed), keeps its container alive: the leftover a restart must clean up.
STUBBORN_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
try:
    while True:
        c = http.client.HTTPConnection(host, int(port))
        c.request("GET", "/2018-06-01/runtime/invocation/next")
        r = c.getresponse()
        r.read()
        rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
        c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'{"stubborn": true}')
        c.getresponse().read()
        c.close()
except BaseException:
    while True:
        time.sleep(60)
'''

SLEEPY = '''
import time
def handler(event, context):
    time.sleep(float(event.get("sleep", 0)))
    return {"done": True, "slept": event.get("sleep", 0)}
'''

HELLO_PY_RESULT = {"message": "Hello, x!", "runtime": "python"}
HELLO_NODE_RESULT = {"message": "Hello, x!", "runtime": "nodejs"}
HELLO_PROVIDED_RESULT = {"message": "Hello from a custom runtime!", "event": {"name": "x"}}


def uses_runc(server):
    return server.isolating and harness.runc_path()


class ListenTest(unittest.TestCase):
    def test_listen_on_port_zero_picks_a_free_port(self):
        # The brief's contract: --listen 127.0.0.1:0 binds an ephemeral port and writes it to the
        # ready file. No fallback here.
        servers = []
        try:
            for i in range(2):
                s = AltoServer(allow_port_fallback=False, name="port0-%d" % i)
                servers.append(s)
                try:
                    s.start()
                except harness.ServerStartError as e:
                    self.fail("alto server refused --listen 127.0.0.1:0: %s" % str(e)[:600])
                self.assertGreater(s.port, 0)
                status, _, body = s.request("GET", "/2015-03-31/functions")
                self.assertEqual(status, 200, body)
            self.assertNotEqual(servers[0].port, servers[1].port)
        finally:
            for s in servers:
                try:
                    if s.proc is not None:
                        s.stop()
                finally:
                    s.cleanup()

    def test_sigterm_idle_server_exits_zero(self):
        with AltoServer(name="sigterm") as s:
            status, _, _ = s.request("GET", "/2015-03-31/functions")
            self.assertEqual(status, 200)
            t0 = time.monotonic()
            self.assertEqual(s.stop(), 0)
            self.assertLess(time.monotonic() - t0, 5, "an idle server should stop promptly")


class RestartTest(unittest.TestCase):
    def test_restart_finds_every_function(self):
        first = AltoServer(name="restart-1")
        second = third = None
        try:
            first.start()
            lam = first.client()
            specs = {
                "keep-py": ("python3.12", "app.handler", zip_dir(harness.HELLO_PYTHON_DIR), HELLO_PY_RESULT),
                "keep-node": ("nodejs20.x", "index.handler", zip_dir(harness.HELLO_NODE_DIR), HELLO_NODE_RESULT),
                "keep-provided": ("provided.al2023", "x", zip_file(harness.HELLO_PROVIDED_BOOTSTRAP, "bootstrap", 0o755),
                                  HELLO_PROVIDED_RESULT),
            }
            configs = {}
            for name, (runtime, handler, z, expected) in specs.items():
                configs[name] = lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler,
                                                    Role=harness.ROLE, Code={"ZipFile": z},
                                                    Environment={"Variables": {"MARK": name.upper().replace("-", "_")}})
                out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"name":"x"}')["Payload"].read())
                self.assertEqual(out, expected)
            self.assertEqual(first.stop(), 0)

            second = AltoServer(data_dir=first.data_dir, state_dir=first.state_dir, name="restart-2").start()
            lam2 = second.client()
            listed = {f["FunctionName"]: f for f in lam2.list_functions()["Functions"]}
            self.assertEqual(set(listed), set(specs))
            for name, (runtime, handler, z, expected) in specs.items():
                f = listed[name]
                for key in ("CodeSha256", "CodeSize", "RevisionId", "LastModified", "Runtime", "Handler",
                            "Environment", "FunctionArn"):
                    self.assertEqual(f[key], configs[name][key], "%s.%s after restart" % (name, key))
                resp = lam2.invoke(FunctionName=name, Payload=b'{"name":"x"}')
                self.assertNotIn("FunctionError", resp)
                self.assertEqual(json.loads(resp["Payload"].read()), expected, name)

            # Changes made after a restart survive the next one too.
            lam2.delete_function(FunctionName="keep-node")
            lam2.update_function_configuration(FunctionName="keep-py", Timeout=11)
            self.assertEqual(second.stop(), 0)
            third = AltoServer(data_dir=first.data_dir, state_dir=first.state_dir, name="restart-3").start()
            lam3 = third.client()
            names = sorted(f["FunctionName"] for f in lam3.list_functions()["Functions"])
            self.assertEqual(names, ["keep-provided", "keep-py"])
            self.assertEqual(lam3.get_function_configuration(FunctionName="keep-py")["Timeout"], 11)
            out = json.loads(lam3.invoke(FunctionName="keep-py", Payload=b'{"name":"x"}')["Payload"].read())
            self.assertEqual(out, HELLO_PY_RESULT)
            self.assertEqual(third.stop(), 0)
        except BaseException:
            for s in (first, second, third):
                if s is not None:
                    s.dump_log("restart test failed")
            raise
        finally:
            for s in (third, second):
                if s is not None:
                    s.cleanup()
            first.cleanup()


class WarmAndConcurrentTest(AltoTestCase):
    def test_warm_reuse(self):
        name = self.unique("warm")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        r1, b1, log1 = self.invoke(name, {})
        r2, b2, log2 = self.invoke(name, {})
        self.assertEqual(b1["count"], 1)
        self.assertEqual(b2["count"], 2, "the second invoke must run in the same (warm) process")
        self.assertEqual(b2["sandbox"], b1["sandbox"])
        self.assertEqual(b2["pid"], b1["pid"])
        self.assertRegex(log1, r"Init Duration: [0-9.]+ ms")
        self.assertNotIn("Init Duration", log2)

    def test_concurrent_invokes_run_in_parallel_sandboxes(self):
        n = 8
        name = self.unique("conc")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip(), Timeout=30)
        clients = [self.server.client() for _ in range(n)]

        def one(i):
            resp = clients[i].invoke(FunctionName=name, Payload=json.dumps({"sleep": 1}))
            return resp.get("FunctionError"), json.loads(resp["Payload"].read())

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(one, range(n), timeout=60))
        elapsed = time.monotonic() - t0
        for err, body in results:
            self.assertIsNone(err, body)
            self.assertIn("sandbox", body)
        sandboxes = {body["sandbox"] for _, body in results}
        request_ids = {body["request_id"] for _, body in results}
        self.assertEqual(len(request_ids), n)
        self.assertGreaterEqual(len(sandboxes), 2, "concurrent invokes of one function must use parallel sandboxes")
        self.assertLess(elapsed, n * 0.6, "%d one-second invokes took %.1f s: they were not run in parallel"
                        % (n, elapsed))
        # Every invocation was counted exactly once across the sandboxes.
        per_sandbox = {}
        for _, body in results:
            per_sandbox.setdefault(body["sandbox"], []).append(body["count"])
        for counts in per_sandbox.values():
            self.assertEqual(sorted(counts), list(range(1, len(counts) + 1)))


class DrainTest(unittest.TestCase):
    def test_sigterm_drains_in_flight_invocation(self):
        with AltoServer(name="drain") as s:
            lam = s.client()
            lam.create_function(FunctionName="sleepy", Runtime="python3.12", Handler="sleepy.handler",
                                Role=harness.ROLE, Code={"ZipFile": zip_files({"sleepy.py": SLEEPY})}, Timeout=30)
            warm = json.loads(lam.invoke(FunctionName="sleepy", Payload=b'{"sleep": 0}')["Payload"].read())
            self.assertEqual(warm, {"done": True, "slept": 0})

            result = {}

            def slow():
                try:
                    resp = s.client().invoke(FunctionName="sleepy", Payload=b'{"sleep": 2}')
                    result["error"] = resp.get("FunctionError")
                    result["body"] = json.loads(resp["Payload"].read())
                except Exception as e:  # reported below
                    result["exception"] = e

            t = threading.Thread(target=slow, daemon=True)
            t0 = time.monotonic()
            t.start()
            time.sleep(0.6)
            self.assertTrue(t.is_alive(), "the 2 s invoke finished too early")
            s.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # While draining, new work is not admitted (connection refused, or a 503).
            try:
                status, _, body = s.request("POST", "/2015-03-31/functions/sleepy/invocations", b'{"sleep": 0}',
                                            timeout=10)
                self.assertNotEqual(status, 200, "a new invocation was accepted during drain: %r" % body)
            except OSError:
                pass
            t.join(timeout=30)
            self.assertFalse(t.is_alive(), "the in-flight invoke never returned")
            self.assertNotIn("exception", result, result)
            self.assertIsNone(result.get("error"), result)
            self.assertEqual(result.get("body"), {"done": True, "slept": 2})
            self.assertGreaterEqual(time.monotonic() - t0, 1.9)
            s.wait_exit(timeout=20, expect_code=0)
            if uses_runc(s):
                self.assertEqual(s.runc_list(stems=True), [], "sandboxes left running after a clean shutdown")


class IdleReapTest(AltoTestCase):
    server_options = {"idle_timeout": 1}

    def test_idle_sandbox_is_reaped(self):
        name = self.unique("idle")
        self.create(name, "python3.12", "probe.handler", harness.probe_zip())
        _, b1, log1 = self.invoke(name, {})
        _, b2, log2 = self.invoke(name, {})
        self.assertIn("Init Duration", log1)
        self.assertNotIn("Init Duration", log2, "an immediate second invoke must be warm")
        self.assertEqual(b2["sandbox"], b1["sandbox"])
        if uses_runc(self.server):
            self.assertEqual(len(self.server.runc_list()), 1)
            gone = harness.wait_until(lambda: self.server.runc_list() == [], timeout=6, interval=0.2)
            self.assertTrue(gone, "the idle sandbox was not reaped: %r" % self.server.runc_list())
        else:
            time.sleep(3)
        _, b3, log3 = self.invoke(name, {})
        self.assertRegex(log3, r"Init Duration: [0-9.]+ ms", "after the idle timeout the invoke must be cold again")
        self.assertNotEqual(b3["sandbox"], b1["sandbox"])
        self.assertEqual(b3["count"], 1)


@unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "needs root and runc (oci driver)")
class StaleCleanupTest(unittest.TestCase):
    def test_restart_cleans_sandboxes_left_by_a_crash(self):
        first = AltoServer(driver="oci", name="crash-1")
        second = None
        try:
            first.start()
            lam = first.client()
            lam.create_function(FunctionName="stubborn", Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                Code={"ZipFile": zip_files({"bootstrap": (STUBBORN_BOOTSTRAP, 0o755)})})
            out = json.loads(lam.invoke(FunctionName="stubborn", Payload=b"{}")["Payload"].read())
            self.assertEqual(out, {"stubborn": True})
            ids = first.runc_list()
            self.assertEqual(len(ids), 1, ids)
            state = json.loads(harness.run_cmd([harness.runc_path(), "--root", first.runc_root, "state", ids[0]],
                                               timeout=30).stdout)
            init_pid = state["pid"]
            self.assertTrue(os.path.exists("/proc/%d" % init_pid))

            first.kill9()
            time.sleep(0.5)
            self.assertIn(ids[0], first.runc_list(), "the crash should leave the warm sandbox behind")
            self.assertTrue(os.path.exists("/proc/%d" % init_pid), "the leftover sandbox process should still run")

            second = AltoServer(driver="oci", data_dir=first.data_dir, state_dir=first.state_dir, name="crash-2").start()
            self.assertEqual(second.runc_list(stems=True), [],
                             "the restarted server did not clean the leftover sandbox")
            self.assertTrue(harness.wait_until(lambda: not os.path.exists("/proc/%d" % init_pid), timeout=10),
                            "the leftover sandbox's process is still running")
            for sub in ("bundles", "netns"):
                d = os.path.join(first.sandboxes_dir, sub)
                self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [], "leftover %s" % sub)
            # And the function still works.
            out = json.loads(second.client().invoke(FunctionName="stubborn", Payload=b"{}")["Payload"].read())
            self.assertEqual(out, {"stubborn": True})
            self.assertEqual(second.stop(), 0)
        except BaseException:
            for s in (first, second):
                if s is not None:
                    s.dump_log("stale cleanup test failed")
            raise
        finally:
            if second is not None:
                second.cleanup()
            first.cleanup()


class CliTest(AltoTestCase):
    """The alto CLI: deploy, invoke, ls, get, logs, rm, and its failures."""

    def alto(self, *args, **kw):
        return self.server.alto(*args, **kw)

    def test_cli_round_trip(self):
        name = self.unique("cli")
        out = self.alto("deploy", harness.HELLO_PYTHON_DIR, "--name", name, "--runtime", "python3.12",
                        "--handler", "app.handler")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("deployed " + name, out.stdout)

        out = self.alto("invoke", name, "--payload", '{"name":"cli"}')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"message": "Hello, cli!", "runtime": "python"})

        payload_file = os.path.join(self.server.tmp, "payload.json")
        with open(payload_file, "w") as f:
            json.dump({"name": "file"}, f)
        out = self.alto("invoke", name, "--payload", "@" + payload_file)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"message": "Hello, file!", "runtime": "python"})

        out = self.alto("invoke", name, "--payload", '{"name":"logged"}', "--log")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("hello-python: greeting logged", out.stderr)
        self.assertIn("REPORT RequestId", out.stderr)

        out = self.alto("ls")
        self.assertEqual(out.returncode, 0, out.stderr)
        line = [ln for ln in out.stdout.splitlines() if ln.split() and ln.split()[0] == name]
        self.assertEqual(len(line), 1, out.stdout)
        self.assertIn("python3.12", line[0])

        out = self.alto("get", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        cfg = json.loads(out.stdout)
        self.assertEqual(cfg["FunctionName"], name)
        self.assertEqual(cfg["Handler"], "app.handler")

        out = self.alto("logs", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("hello-python: greeting cli", out.stdout)
        self.assertIn("hello-python: greeting file", out.stdout)
        self.assertIn("END RequestId", out.stdout)

        # Deploying again updates the code and the given configuration.
        out = self.alto("deploy", harness.HELLO_PYTHON_DIR, "--name", name, "--runtime", "python3.12",
                        "--handler", "app.handler", "--timeout", "9", "--memory", "256", "--env", "FOO=bar")
        self.assertEqual(out.returncode, 0, out.stderr)
        cfg = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(cfg["Timeout"], 9)
        self.assertEqual(cfg["MemorySize"], 256)
        self.assertEqual(cfg["Environment"]["Variables"], {"FOO": "bar"})

        out = self.alto("rm", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(name, self.function_names())
        out = self.alto("get", name)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)

    def test_cli_deploy_zip_and_endpoint_from_env(self):
        name = self.unique("clizip")
        zpath = os.path.join(self.server.tmp, "node.zip")
        with open(zpath, "wb") as f:
            f.write(zip_dir(harness.HELLO_NODE_DIR))
        out = self.alto("deploy", zpath, "--name", name, "--runtime", "nodejs20.x", "--handler", "index.handler")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = harness.alto_cli("invoke", name, "--payload", '{"name":"env"}', env={"ALTO_ENDPOINT": self.server.endpoint})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"message": "Hello, env!", "runtime": "nodejs"})

    def test_cli_failures(self):
        missing = self.unique("nosuchfn")
        out = self.alto("invoke", missing, "--payload", "{}")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)
        self.assertIn(missing, out.stderr)

        out = self.alto("rm", missing)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)

        port = harness.free_port()
        t0 = time.monotonic()
        out = harness.alto_cli("ls", endpoint="http://127.0.0.1:%d" % port, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("alto: error", out.stderr)
        self.assertLess(time.monotonic() - t0, 20)

        out = self.alto("deploy", harness.HELLO_PYTHON_DIR, "--name", self.unique("badrt"), "--runtime", "cobol",
                        "--handler", "app.handler")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("InvalidParameterValueException", out.stderr)

        out = self.alto("deploy", os.path.join(self.server.tmp, "no-such-dir"), "--name", self.unique("nodir"),
                        "--runtime", "python3.12", "--handler", "app.handler")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("alto: error", out.stderr)

        name = self.unique("clierr")
        self.create(name, "python3.12", "app.handler",
                    zip_files({"app.py": "def handler(e, c):\n    raise RuntimeError('cli sees this')\n"}))
        out = self.alto("invoke", name, "--payload", "{}")
        self.assertEqual(out.returncode, 3, out.stderr)
        self.assertEqual(json.loads(out.stdout)["errorMessage"], "cli sees this")

        out = self.alto("invoke", name, "--payload", "{not json")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("JSON", out.stderr)


if __name__ == "__main__":
    unittest.main()


class MemoryAdmissionTest(AltoTestCase):
    """The sum of sandboxes' MemorySize never exceeds --memory-capacity-mb: over it, an invoke
    is throttled with Lambda's 429 instead of starting another sandbox."""

    server_options = {"extra_args": ("--memory-capacity-mb", "256")}

    def test_second_concurrent_sandbox_is_throttled_then_admitted(self):
        name = self.unique("admit")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": SLEEPY}), MemorySize=256, Timeout=10)
        host, port = self.server.endpoint.replace("http://", "").split(":")
        path = "/2015-03-31/functions/%s/invocations" % name
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(harness.http_request, host, int(port), "POST", path, json.dumps({"sleep": 2}).encode())
            deadline = time.time() + 10
            throttled = None
            while time.time() < deadline:
                time.sleep(0.2)
                res = harness.http_request(host, int(port), "POST", path, b'{"sleep": 0}')
                if res[0] == 429:
                    throttled = res
                    break
            self.assertIsNotNone(throttled, "no invoke was throttled while the only 256 MB slot was busy")
            doc = self.assertLambdaError(throttled, 429, "TooManyRequestsException")
            self.assertEqual(doc.get("Reason"), "ConcurrentInvocationLimitExceeded")
            self.assertTrue(throttled[1].get("Retry-After"))
            status, _, body = slow.result(timeout=30)
            self.assertEqual(status, 200, body)
        # Once the slot is free the warm sandbox serves again.
        status, _, body = harness.http_request(host, int(port), "POST", path, b'{"sleep": 0}')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["done"], True)
