"""Stem cells (issue 4): generic sandboxes started per runtime before any function needs them,
specialised with a function's code, limits and environment on its first invoke; the pool is
refilled after use and adapts to the cold-start rate.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_stem_cells -v
"""

import http.client
import json
import os
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

# A custom runtime in shell + python: reports what it sees of its sandbox.
BOOTSTRAP = r'''#!/usr/bin/python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    r = urllib.request.urlopen(api + "next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    r.read()
    try:
        open("/var/task/written", "w")
        wrote = "yes"
    except OSError as e:
        wrote = e.strerror
    out = {"cwd": os.getcwd(), "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
           "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "color": os.environ.get("COLOR"),
           "files": sorted(os.listdir("/var/task")), "write_task": wrote, "pid": os.getpid()}
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", json.dumps(out).encode(), method="POST")).read()
'''


def memory_limit_of(server, container_id):
    for path in ("/sys/fs/cgroup/memory/alto/%s/memory.limit_in_bytes" % container_id,
                 "/sys/fs/cgroup/alto/%s/memory.max" % container_id):
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read().strip())
    return None


@unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "stem cells need the oci driver (root, runc)")
class PrewarmedStemTest(AltoTestCase):
    server_options = {"driver": "oci", "extra_args": ("--stem-runtimes", "provided.al2023", "--stem-floor", "1")}

    def wait_ready_stems(self, n, timeout=20):
        ok = harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") == n, timeout, 0.1)
        self.assertTrue(ok, "stem cells ready: %r, wanted %d" % (self.server.metric("alto_stem_cells_ready"), n))

    def test_first_invoke_is_served_by_a_stem_and_the_pool_refills(self):
        self.wait_ready_stems(1)
        stems_before = self.server.runc_list(stems=True)
        hits = self.server.metric("alto_stem_pool_hits_total")
        name = self.unique("stem")
        self.create(name, "provided.al2023", "x", zip_files({"bootstrap": (BOOTSTRAP, 0o755)}),
                    MemorySize=512, Environment={"Variables": {"COLOR": "teal"}})
        _, out, log = self.invoke(name, {})
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), hits + 1, log)
        # Specialised: its own code read-only at /var/task as cwd, its environment, its limits.
        self.assertEqual(out["cwd"], "/var/task")
        self.assertEqual(out["files"], ["bootstrap"])
        self.assertEqual(out["write_task"], "Read-only file system")
        self.assertEqual((out["name"], out["memory"], out["color"]), (name, "512", "teal"))
        self.assertIn("Init Duration", log)
        # The container that served it was one of the stems, and now has the function's memory.
        serving = [c for c in self.server.runc_list(stems=True) if c in stems_before]
        self.assertEqual(len(serving), 1, (stems_before, self.server.runc_list(stems=True)))
        self.assertEqual(memory_limit_of(self.server, serving[0]), 512 * 1024 * 1024)
        # Warm from now on: same process.
        _, again, _ = self.invoke(name, {})
        self.assertEqual(again["pid"], out["pid"])
        # The pool is refilled with a new stem.
        self.wait_ready_stems(1)
        self.assertNotIn(serving[0], [c for c in self.server.runc_list(stems=True) if c.startswith("alto-stem-")
                                      and c not in stems_before])

    def test_two_functions_never_share_a_stem(self):
        a, b = self.unique("sa"), self.unique("sb")
        for n in (a, b):
            self.create(n, "provided.al2023", "x", zip_files({"bootstrap": (BOOTSTRAP, 0o755)}))
        _, out_a, _ = self.invoke(a, {})
        _, out_b, _ = self.invoke(b, {})
        self.assertEqual((out_a["name"], out_b["name"]), (a, b))


@unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "stem cells need the oci driver (root, runc)")
class StemRefillInBurstTest(AltoTestCase):
    """Refilling the pool waits until no caller waits for a start. A server of its own with an
    empty pool (floor 0): nothing is under way when the burst comes, and its first start is a
    whole one, so every caller has arrived before any start ends."""

    server_options = {"driver": "oci", "extra_args": ("--stem-runtimes", "provided.al2023", "--stem-floor", "0")}

    def snapshot(self):
        """(stem cells started, function sandboxes live) from one /metrics answer: the scheduler
        renders it in one go on its thread, so the pair is consistent."""
        status, _, body = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200, body)
        values = {}
        for line in body.decode().splitlines():
            if line.startswith(("alto_stem_cells_started_total ", "alto_sandboxes_live ")):
                values[line.split()[0]] = float(line.split()[-1])
        return values["alto_stem_cells_started_total"], values["alto_sandboxes_live"]

    def test_refills_wait_while_callers_queue_for_starts(self):
        # 20 callers each hold a sandbox 3 s, with 4 starts at a time: five waves of starts.
        # A refill during them would take CPU from the callers' starts, so none may begin
        # before the last caller has its sandbox; then the pool refills to the cold starts seen.
        callers = 20
        name = self.unique("stem-burst")
        with open(harness.HELLO_PROVIDED_BOOTSTRAP, "rb") as f:
            self.create(name, "provided.al2023", "bootstrap", zip_files({"bootstrap": (f.read(), 0o755)}),
                        Environment={"Variables": {"HELLO_HOLD_MS": "3000"}})
        started_before, live_before = self.snapshot()
        release = threading.Barrier(callers)

        def call(_):
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
            try:
                conn.connect()
                release.wait(30)  # all at once: the slots fill before the first start ends
                target = "/2015-03-31/functions/%s/invocations" % name
                conn.request("POST", target, b"{}", self.server.sign("POST", target, b"{}"))
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

        samples, done = [], threading.Event()

        def watch():
            while not done.is_set():
                samples.append(self.snapshot())
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with ThreadPoolExecutor(max_workers=callers) as pool:
                results = list(pool.map(call, range(callers), timeout=90))
        finally:
            done.set()
            watcher.join(10)
        self.assertEqual([s for s, _ in results], [200] * callers, results[:2])
        self.assertEqual(max(live for _, live in samples) - live_before, callers)  # one sandbox each
        # Samples are in time order; once served, sandboxes may be reaped (live falls again).
        served = 0
        for started, live in samples:
            served = max(served, live - live_before)
            if started > started_before:
                self.assertEqual(served, callers, "a stem cell started while callers waited for starts")
                break
        # Afterwards the pool refills (its target follows the cold starts just seen).
        ok = harness.wait_until(lambda: self.snapshot()[0] > started_before, 30, 0.1)
        self.assertTrue(ok, "the stem pool was not refilled after the burst")


# A Python handler that reports what the interpreter saw, including at import time.
PY_APP = r'''
import os, sys, time
IMPORT_COLOR = os.environ.get("COLOR")

def handler(event, context):
    return {"import_color": IMPORT_COLOR, "color": os.environ.get("COLOR"), "cwd": os.getcwd(),
            "path0": sys.path[0], "tz": time.tzname[0], "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "memory": context.memory_limit_in_mb, "argv": sys.argv, "pid": os.getpid(),
            "lang": os.environ.get("LANG"), "zygote_vars": [k for k in os.environ if "ZYGOTE" in k]}
'''


@unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "stem cells need the oci driver (root, runc)")
class PythonZygoteStemTest(AltoTestCase):
    """Python stems run a zygote: the interpreter and the runtime are up before the function is
    known, and take its environment and code when it comes."""
    server_options = {"driver": "oci", "extra_args": ("--stem-runtimes", "python3.12", "--stem-floor", "1")}

    def wait_ready_stems(self, n, timeout=30):
        # At least n: the pool grows with the cold starts of the other tests.
        ok = harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") >= n, timeout, 0.1)
        self.assertTrue(ok, "stem cells ready: %r" % self.server.metric("alto_stem_cells_ready"))

    def test_zygote_takes_the_function_environment_and_code(self):
        self.wait_ready_stems(1)
        # The stem's interpreter is already running before any function exists.
        stems = self.server.runc_list(stems=True)
        self.assertTrue(stems)
        hits = self.server.metric("alto_stem_pool_hits_total")
        name = self.unique("zyg")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_APP}), MemorySize=256,
                    Environment={"Variables": {"COLOR": "amber"}})
        _, out, log = self.invoke(name, {})
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), hits + 1, log)
        self.assertEqual(out["import_color"], "amber", "the environment is in place before user code loads")
        self.assertEqual(out["color"], "amber")
        self.assertEqual((out["cwd"], out["path0"]), ("/var/task", "/var/task"))
        self.assertEqual((out["name"], out["memory"]), (name, 256))
        self.assertEqual(out["tz"], "UTC")
        self.assertEqual(out["lang"], "en_US.UTF-8")
        self.assertEqual(out["zygote_vars"], [])
        self.assertFalse(any("zygote" in a for a in out["argv"]), out["argv"])
        init = [float(x) for x in __import__("re").findall(r"Init Duration: ([0-9.]+) ms", log)]
        self.assertEqual(len(init), 1, log)
        # Warm afterwards, in the same process.
        _, again, _ = self.invoke(name, {})
        self.assertEqual(again["pid"], out["pid"])

    def test_interpreter_variables_bypass_the_zygote(self):
        self.wait_ready_stems(1)
        misses = self.server.metric("alto_stem_pool_misses_total")
        name = self.unique("zygpp")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_APP, "extra/note.txt": "x"}),
                    Environment={"Variables": {"COLOR": "red", "PYTHONDONTWRITEBYTECODE": "1"}})
        _, out, _ = self.invoke(name, {})
        # PYTHON* is read at interpreter start only: a fresh sandbox, not the running zygote.
        self.assertEqual(self.server.metric("alto_stem_pool_misses_total"), misses + 1)
        self.assertEqual(out["color"], "red")

    def test_two_functions_get_two_zygotes(self):
        a, b = self.unique("za"), self.unique("zb")
        for n, color in ((a, "a"), (b, "b")):
            self.create(n, "python3.12", "app.handler", zip_files({"app.py": PY_APP}),
                        Environment={"Variables": {"COLOR": color}})
        self.wait_ready_stems(1)
        _, out_a, _ = self.invoke(a, {})
        self.wait_ready_stems(1)
        _, out_b, _ = self.invoke(b, {})
        self.assertEqual((out_a["import_color"], out_b["import_color"]), ("a", "b"))


@unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "stem cells need the oci driver (root, runc)")
class AdaptiveStemTest(AltoTestCase):
    """No stems at start; cold starts of a runtime make the pool grow (ceiling 2)."""
    server_options = {"driver": "oci", "extra_args": ("--stem-ceiling", "2")}

    def test_pool_follows_cold_starts(self):
        self.assertEqual(self.server.metric("alto_stem_cells_ready"), 0)
        first = self.unique("ad")
        self.create(first, "provided.al2023", "x", zip_files({"bootstrap": (BOOTSTRAP, 0o755)}))
        self.invoke(first, {})
        self.assertEqual(self.server.metric("alto_stem_pool_misses_total"), 1)
        self.assertTrue(harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") == 1, 20, 0.1))
        second = self.unique("ad")
        self.create(second, "provided.al2023", "x", zip_files({"bootstrap": (BOOTSTRAP, 0o755)}))
        _, out, _ = self.invoke(second, {})
        self.assertEqual(out["name"], second)
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), 1)
        # Two cold starts in the window: the pool grows to the ceiling of 2.
        self.assertTrue(harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") == 2, 20, 0.1))


if __name__ == "__main__":
    unittest.main()
