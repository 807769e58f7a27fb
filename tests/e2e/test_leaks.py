"""Nothing of a sandbox outlives it (privileged: root and the oci driver).

200 sandboxes are created and destroyed, ending every way a sandbox ends: the runtime exits at
once or after one invocation, an invocation times out, a configuration update retires a warm
sandbox, idle sandboxes are reaped. Then no container, cgroup, mount, netns pin, bundle or
process of them may remain. Then the
server is killed with -9 while sandboxes run, restarted on the same directories, and the same must
hold for what the crash left.
"""
import concurrent.futures
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, zip_files  # noqa: E402

CRASH_AT_ONCE = "#!/bin/sh\necho crashing\nexit 3\n"

ONE_SHOT = r'''#!/usr/bin/python3
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
c.request("GET", "/2018-06-01/runtime/invocation/next")
r = c.getresponse(); r.read()
rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'"one"')
c.getresponse().read()
os._exit(0)
'''

ECHO = r'''#!/usr/bin/python3
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'"echo"')
    c.getresponse().read()
'''

SLEEPER = r'''#!/usr/bin/python3
import http.client, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    time.sleep(120)
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'"late"')
    c.getresponse().read()
'''

SANDBOXES = 200
PARALLEL = 4
PHASE_LIMIT_S = 420
CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_dirs(cid):
    """Every cgroup directory of sandbox cid, in any v1 controller or in the v2 tree."""
    found = []
    for ctrl in sorted(os.listdir(CGROUP_ROOT)):
        for path in (os.path.join(CGROUP_ROOT, ctrl, "alto", cid), os.path.join(CGROUP_ROOT, "alto", cid)):
            if os.path.isdir(path) and path not in found:
                found.append(path)
    return found


def mounts_under(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]


def sandbox_mounts(server):
    """Mounts below the server's state dir that belong to sandboxes: not the state tmpfs itself,
    nor the read-only views of the code store, runtimes and alto-init that sandboxes bind from
    (sandboxes/host/, one set per server for as long as it runs)."""
    state_tmpfs = os.path.realpath(server.sandboxes_dir)
    views = os.path.join(state_tmpfs, "host") + "/"
    return [m for m in mounts_under(server.state_dir) if m != state_tmpfs and not m.startswith(views)]


def zombie_children(pid):
    """Exited, unreaped children of pid (with a subreaper server: orphans nobody waits for)."""
    found = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for k in kids:
            try:
                with open("/proc/%d/stat" % k) as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2] == "Z":
                found.append(k)
    return found


def processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


class IdWatcher(threading.Thread):
    """Records every sandbox id that appears in the server's bundles dir (each lives > 50 ms)."""

    def __init__(self, state_dir):
        super().__init__(daemon=True)
        self.bundles = os.path.join(state_dir, "sandboxes", "bundles")
        self.ids = set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.ids.update(os.listdir(self.bundles))
            except OSError:
                pass
            time.sleep(0.01)


class SandboxLeakTest(AltoTestCase):
    server_options = {"idle_timeout": 2}

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or harness.runc_path() is None:
            raise unittest.SkipTest("leak tests need root and runc")
        super().setUpClass()
        if not cls.server.isolating:
            raise unittest.SkipTest("the process driver creates no containers")

    def assertNothingLeft(self, server, ids, why):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (server.runc_list() or os.listdir(os.path.join(server.sandboxes_dir, "bundles"))):
            time.sleep(0.5)  # teardown runs after the invoke has answered
        self.assertEqual(server.runc_list(), [], why + ": containers left")
        for sub in ("bundles", "netns"):
            d = os.path.join(server.sandboxes_dir, sub)
            self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [], why + ": %s left" % sub)
        # The state tmpfs and the views stay while the server runs; nothing else may be mounted.
        self.assertEqual(sandbox_mounts(server), [], why + ": mounts left")
        self.assertEqual(processes_mentioning(server.runc_root), [], why + ": runc processes left")
        left = {cid: cgroup_dirs(cid) for cid in ids if cgroup_dirs(cid)}
        self.assertEqual(left, {}, why + ": cgroups left")
        self.assertEqual(zombie_children(server.proc.pid), [], why + ": unreaped processes left")

    def test_200_sandboxes_leave_nothing(self):
        crash = self.unique("crash")
        self.create(crash, "provided.al2023", "x", zip_files({"bootstrap": (CRASH_AT_ONCE, 0o755)}))
        oneshot = self.unique("oneshot")
        self.create(oneshot, "provided.al2023", "x", zip_files({"bootstrap": (ONE_SHOT, 0o755)}))
        # Other ways a sandbox ends: its invocation times out; it idles past --idle-timeout; its
        # function's configuration changes (the old revision's sandboxes retire).
        slow = self.unique("slow")
        self.create(slow, "provided.al2023", "x", zip_files({"bootstrap": (SLEEPER, 0o755)}), Timeout=1)
        echo = self.unique("echo")
        self.create(echo, "provided.al2023", "x", zip_files({"bootstrap": (ECHO, 0o755)}))
        kinds = [oneshot, crash, oneshot, crash, slow, echo]
        watcher = IdWatcher(self.server.state_dir)
        watcher.start()
        deadline = time.monotonic() + PHASE_LIMIT_S

        def one(i):
            if time.monotonic() > deadline or len(watcher.ids) >= SANDBOXES:
                return "skipped"
            if i % 40 == 39:
                self.lam.update_function_configuration(FunctionName=echo, Environment={"Variables": {"ROUND": str(i)}})
            resp, body, _ = self.invoke(kinds[i % len(kinds)], {}, tail=False)
            return body.get("errorType") if isinstance(body, dict) else body

        try:
            # Each invoke needs a fresh sandbox (every runtime is dead after one invocation), but a
            # one-shot runtime may exit just after it was handed the next invoke (which then fails
            # with Runtime.ExitError): invoke until 200 distinct sandboxes were seen.
            with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
                results = list(pool.map(one, range(SANDBOXES * 2)))
        finally:
            time.sleep(0.2)
            watcher.stop.set()
            watcher.join(5)
        done = [r for r in results if r != "skipped"]
        self.assertGreaterEqual(len(watcher.ids), SANDBOXES,
                                "%d sandboxes in %d invokes within %d s" % (len(watcher.ids), len(done), PHASE_LIMIT_S))
        self.assertEqual(set(done), {"Runtime.ExitError", "one", "Sandbox.Timedout", "echo"}, results)
        self.assertGreaterEqual(done.count("one"), SANDBOXES // 4, results)
        self.assertGreaterEqual(done.count("Sandbox.Timedout"), SANDBOXES // 10, results)
        self.assertNothingLeft(self.server, watcher.ids, "after %d sandboxes" % SANDBOXES)

    def test_kill_9_then_restart_leaves_nothing(self):
        first = AltoServer(name="leak-crashing")
        with first:
            lam = first.client()
            names = []
            for i in range(3):
                name = self.unique("sleeper")
                lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                    Code={"ZipFile": zip_files({"bootstrap": (SLEEPER, 0o755)})}, Timeout=300)
                names.append(name)
            pool = concurrent.futures.ThreadPoolExecutor(len(names))
            futures = [pool.submit(lambda n=n: lam.invoke(FunctionName=n, Payload=b"{}")) for n in names]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(first.runc_list()) < len(names):
                time.sleep(0.2)
            ids = first.runc_list()
            self.assertEqual(len(ids), len(names), "sandboxes running before the crash")
            time.sleep(1)  # the runtimes are inside their invocation
            self.assertTrue(all(cgroup_dirs(cid) for cid in ids))
            self.assertTrue(sandbox_mounts(first), "a running sandbox holds no mount?")
            first.kill9()
            for f in futures:
                try:
                    f.result(timeout=60)
                except Exception:  # noqa: BLE001 - the server died under the call
                    pass
            pool.shutdown(wait=True)
            # The crash left its sandboxes behind; the restart must remove them.
            self.assertEqual(sorted(first.runc_list()), sorted(ids), "kill -9 should leave the containers running")
            second = AltoServer(name="leak-restarted", data_dir=first.data_dir, state_dir=first.state_dir)
            with second:
                self.assertNothingLeft(second, ids, "after kill -9 and restart")
                # The restarted server still serves the functions it had.
                got = second.client().get_function(FunctionName=names[0])
                self.assertEqual(got["Configuration"]["FunctionName"], names[0])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


class DetachedRuncTest(AltoTestCase):
    """Warm sandboxes keep no runc process (default idle timeout: they stay warm)."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or harness.runc_path() is None:
            raise unittest.SkipTest("needs root and runc")
        super().setUpClass()
        if not cls.server.isolating:
            raise unittest.SkipTest("the process driver uses no runc")

    def test_warm_sandboxes_keep_no_runc_process(self):
        # runc runs detached: once a sandbox runs, only its own processes remain (issue 4).
        name = self.unique("warm")
        self.create(name, "provided.al2023", "x", zip_files({"bootstrap": (ECHO, 0o755)}))
        for _ in range(3):
            _, body, _ = self.invoke(name, {}, tail=False)
            self.assertEqual(body, "echo")
        self.assertTrue(self.server.runc_list(), "a warm sandbox should be running")
        # A stem cell refilling the pool may be starting right now: its `runc run --detach` exits
        # once the container runs. One that stays is the leak.
        deadline = time.monotonic() + 15
        while True:
            runs = [p for p in processes_mentioning(self.server.runc_root) if b"\0run\0" in cmdline(p)]
            if not runs or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(runs, [], "runc run processes alive beside warm sandboxes")
        self.assertEqual(zombie_children(self.server.proc.pid), [], "unreaped processes")


if __name__ == "__main__":
    unittest.main()
