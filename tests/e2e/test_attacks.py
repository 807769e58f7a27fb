"""Functions that attack their own sandbox (privileged: root and the oci driver).

Each function is a custom runtime (a Python bootstrap) that runs the attack named in its event and
returns what it observed. The assertions are on real behaviour: the limits hold inside, the host
and Alto keep answering, neighbours keep working, and the caller sees Lambda's error shapes.
"""
import base64
import concurrent.futures
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

ATTACKER = r'''#!/usr/bin/python3
import errno, http.client, json, os, resource, signal, subprocess, time

def fork_count(ev):
    # Start sleepers until the pids limit refuses one; then stop them all.
    kids, err = [], None
    for _ in range(ev.get("max", 3000)):
        try:
            kids.append(subprocess.Popen(["/usr/bin/sleep", "60"]))
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e))
            break
    for k in kids:
        k.kill()
    for k in kids:
        k.wait()
    return {"started": len(kids), "error": err}

def fork_bomb(ev):
    # The classic shell bomb, in the background; the runtime itself waits for its timeout.
    subprocess.Popen(["/bin/sh", "-c", "b() { b | b & }; b"])
    time.sleep(ev.get("sleep", 600))
    return {"survived": True}

def hog(ev):
    blocks = []
    for _ in range(ev["mb"] // 16):
        blocks.append(b"x" * (16 << 20))
    return {"allocated_mb": len(blocks) * 16}

def spin(ev):
    # Several processes spin for a while; CPU time over wall time shows the quota.
    seconds, n = ev.get("seconds", 3), ev.get("procs", 2)
    t0, c0 = time.monotonic(), os.times()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            os._exit(0)
        pids.append(pid)
    for p in pids:
        os.waitpid(p, 0)
    c1 = os.times()
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    return {"cpu": cpu, "wall": time.monotonic() - t0}

def fill_tmp(ev):
    st = os.statvfs("/tmp")
    out = {"size_mb": st.f_blocks * st.f_frsize // (1 << 20), "files": st.f_files}
    chunk, written = b"\0" * (1 << 20), 0
    try:
        with open("/tmp/fill", "wb") as f:
            while written < (64 << 30):
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as e:
        out["fill_error"] = errno.errorcode.get(e.errno, str(e))
    out["written_mb"] = written // (1 << 20)
    os.unlink("/tmp/fill")
    made = 0
    try:
        os.mkdir("/tmp/inodes")
        while made < 10 ** 7:
            os.close(os.open("/tmp/inodes/%d" % made, os.O_CREAT | os.O_WRONLY, 0o600))
            made += 1
    except OSError as e:
        out["inode_error"] = errno.errorcode.get(e.errno, str(e))
    out["inodes_made"] = made
    for i in range(made):
        os.unlink("/tmp/inodes/%d" % i)
    return out

def open_files(ev):
    fds, err = [], None
    for _ in range(ev.get("count", 2000)):
        try:
            fds.append(os.open("/var/task/bootstrap", os.O_RDONLY))
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e))
            break
    for fd in fds:
        os.close(fd)
    return {"opened": len(fds), "error": err, "limit": resource.getrlimit(resource.RLIMIT_NOFILE)}

def tmp_size(ev):
    st = os.statvfs("/tmp")
    return {"size_mb": st.f_blocks * st.f_frsize // (1 << 20), "inodes": st.f_files}

def echo(ev):
    return {"echo": ev.get("value")}

OPS = {f.__name__: f for f in (fork_count, fork_bomb, hog, spin, fill_tmp, open_files, tmp_size, echo)}

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    ev = json.loads(r.read() or b"{}")
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    out = json.dumps(OPS[ev["op"]](ev)).encode()
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=out)
    c.getresponse().read()
'''

OOM_MESSAGE = re.compile(r"^RequestId: [0-9a-f-]+ Error: Runtime exited with error: signal: killed$")


def cgroup_file(controller, cid, name):
    """A host-side cgroup file of sandbox cid (v1 layout, then v2)."""
    for path in ("/sys/fs/cgroup/%s/alto/%s/%s" % (controller, cid, name), "/sys/fs/cgroup/alto/%s/%s" % (cid, name)):
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
    return None


class SandboxAttackTest(AltoTestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or harness.runc_path() is None:
            raise unittest.SkipTest("attack tests need root and runc")
        super().setUpClass()
        if not cls.server.isolating:
            raise unittest.SkipTest("the process driver isolates nothing")

    def attacker(self, prefix, **kw):
        name = self.unique(prefix)
        kw.setdefault("Timeout", 30)
        self.create(name, "provided.al2023", "attack", zip_files({"bootstrap": (ATTACKER, 0o755)}), **kw)
        return name

    def assertNeighbourWorks(self, neighbour, value):
        resp, body, _ = self.invoke(neighbour, {"op": "echo", "value": value})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"echo": value})

    def test_pids_limit_contains_processes(self):
        name = self.attacker("forkcount", MemorySize=512)
        resp, body, _ = self.invoke(name, {"op": "fork_count", "max": 3000})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body["error"], "EAGAIN", body)
        # 1024 tasks in the sandbox: alto-init and the runtime take two of them.
        self.assertGreater(body["started"], 900, body)
        self.assertLessEqual(body["started"], 1022, body)

    def test_fork_bomb_is_contained(self):
        neighbour = self.attacker("bomb-neighbour")
        self.assertNeighbourWorks(neighbour, 1)
        bomb = self.attacker("bomb", MemorySize=512, Timeout=15)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            t0 = time.monotonic()
            fut = pool.submit(self.invoke, bomb, {"op": "fork_bomb"})
            time.sleep(4)  # the bomb is at its limit by now
            self.assertFalse(fut.done(), "the bomb's invoke ended early: %r" % (fut.result(),))
            for i in range(3):  # Alto and another sandbox keep answering during the bomb
                self.assertNeighbourWorks(neighbour, 10 + i)
                self.assertIn(bomb, self.function_names())
            resp, body, _ = fut.result(timeout=120)
            elapsed = time.monotonic() - t0
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertEqual(body.get("errorType"), "Sandbox.Timedout", body)
        self.assertLess(elapsed, 15 + 45, "the bomb's invoke hung past its timeout")
        self.assertNeighbourWorks(neighbour, 99)

    def test_memory_hog_is_oom_killed(self):
        neighbour = self.attacker("oom-neighbour", MemorySize=128)
        hog = self.attacker("oom", MemorySize=128)
        resp, body, _ = self.invoke(hog, {"op": "hog", "mb": 1024})
        self.assertEqual(resp.get("FunctionError"), "Unhandled", "1 GiB allocated under 128 MB: %r" % body)
        self.assertEqual(body.get("errorType"), "Runtime.OutOfMemory", body)
        self.assertRegex(body.get("errorMessage", ""), OOM_MESSAGE)
        self.assertNeighbourWorks(neighbour, "after oom")
        # Within the limit, the same function works again in a fresh sandbox.
        resp, body, _ = self.invoke(hog, {"op": "hog", "mb": 32})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body, {"allocated_mb": 32})

    def cpu_of_sandboxes(self):
        """(quota, nr_throttled) of every container, stem cells included: a function may be
        served by a specialised stem, which keeps its stem id."""
        out = {}
        for cid in self.server.runc_list(stems=True):
            quota = cgroup_file("cpu", cid, "cpu.cfs_quota_us")
            stat = cgroup_file("cpu", cid, "cpu.stat") or ""
            throttled = re.search(r"nr_throttled (\d+)", stat)
            if quota is not None:
                out[cid] = (int(quota), int(throttled.group(1)) if throttled else 0)
        return out

    def test_cpu_is_throttled_to_its_quota(self):
        # 128 MB is below the floor: the quota is half a CPU (50 ms per 100 ms period).
        name = self.attacker("spin", MemorySize=128)
        before = self.cpu_of_sandboxes()
        resp, body, _ = self.invoke(name, {"op": "spin", "seconds": 3, "procs": 3})
        self.assertNotIn("FunctionError", resp, body)
        ratio = body["cpu"] / body["wall"]
        self.assertGreater(body["cpu"], 0.3, body)
        self.assertLessEqual(ratio, 0.5 * 1.2, "3 spinning processes used %.2f CPUs under a 0.5 CPU quota" % ratio)
        # The host's view agrees: exactly one sandbox (the spinner's) was throttled during the
        # call, and its quota is half a CPU.
        after = self.cpu_of_sandboxes()
        throttled = {cid: q for cid, (q, n) in after.items() if n > before.get(cid, (0, 0))[1]}
        self.assertEqual(list(throttled.values()), [50000], (before, after))

    def test_bigger_functions_get_more_cpu(self):
        name = self.attacker("spin-big", MemorySize=3538)  # two vCPUs as Lambda counts them
        before = self.cpu_of_sandboxes()
        resp, body, _ = self.invoke(name, {"op": "spin", "seconds": 1, "procs": 1})
        self.assertNotIn("FunctionError", resp, body)
        big = lambda sandboxes: [c for c, (q, _) in sandboxes.items() if q == 200000]
        self.assertEqual(big(before), [])
        self.assertEqual(len(big(self.cpu_of_sandboxes())), 1, self.cpu_of_sandboxes())

    def test_tmp_fills_up_inside_not_on_the_host(self):
        # /tmp is a tmpfs charged to the sandbox's memory: give it more memory than /tmp holds.
        name = self.attacker("filltmp", MemorySize=1024, EphemeralStorage={"Size": 512})
        before = os.statvfs(self.server.data_dir)
        resp, body, _ = self.invoke(name, {"op": "fill_tmp"})
        after = os.statvfs(self.server.data_dir)
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body["size_mb"], 512, body)
        self.assertEqual(body.get("fill_error"), "ENOSPC", body)
        self.assertGreaterEqual(body["written_mb"], 500, body)
        self.assertEqual(body.get("inode_error"), "ENOSPC", body)
        self.assertLessEqual(body["inodes_made"], body["files"], body)
        used_mb = (before.f_bavail - after.f_bavail) * before.f_frsize / (1 << 20)
        self.assertLess(used_mb, 256, "the host's disk lost %d MB while the sandbox filled /tmp" % used_mb)
        # The sandbox is still usable afterwards.
        self.assertNeighbourWorks(name, "after fill")

    def test_ephemeral_storage_sizes_tmp(self):
        name = self.attacker("ephemeral", MemorySize=256, EphemeralStorage={"Size": 1024})
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["EphemeralStorage"], {"Size": 1024})
        _, body, _ = self.invoke(name, {"op": "tmp_size"})
        self.assertEqual(body, {"size_mb": 1024, "inodes": 1024 * 64})
        got = self.lam.update_function_configuration(FunctionName=name, EphemeralStorage={"Size": 2048})
        self.assertEqual(got["EphemeralStorage"], {"Size": 2048})
        _, body, _ = self.invoke(name, {"op": "tmp_size"})
        self.assertEqual(body["size_mb"], 2048, "the update must reach new sandboxes")
        # boto3 checks the range itself: send these over raw HTTP.
        zipped = base64.b64encode(zip_files({"bootstrap": (ATTACKER, 0o755)})).decode()
        for bad in (511, 10241):
            res = self.server.request("PUT", "/2015-03-31/functions/%s/configuration" % name,
                                      json.dumps({"EphemeralStorage": {"Size": bad}}).encode(),
                                      {"Content-Type": "application/json"})
            self.assertLambdaError(res, 400, "InvalidParameterValueException", "EphemeralStorage")
            res = self.server.request("POST", "/2015-03-31/functions", json.dumps({
                "FunctionName": self.unique("ephemeral-bad"), "Runtime": "provided.al2023", "Handler": "x",
                "Role": harness.ROLE, "Code": {"ZipFile": zipped}, "EphemeralStorage": {"Size": bad}}).encode(),
                {"Content-Type": "application/json"})
            self.assertLambdaError(res, 400, "InvalidParameterValueException", "EphemeralStorage")
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name)["EphemeralStorage"], {"Size": 2048})

    def test_open_files_stop_at_the_rlimit(self):
        name = self.attacker("emfile")
        resp, body, _ = self.invoke(name, {"op": "open_files", "count": 2000})
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body["error"], "EMFILE", body)
        self.assertEqual(body["limit"], [1024, 1024], body)
        self.assertGreater(body["opened"], 1000, body)
        self.assertLess(body["opened"], 1024, body)

    def function_names(self):
        names, marker = [], None
        while True:
            kw = {"Marker": marker} if marker else {}
            page = self.lam.list_functions(**kw)
            names += [f["FunctionName"] for f in page["Functions"]]
            marker = page.get("NextMarker")
            if not marker:
                return names


if __name__ == "__main__":
    unittest.main()
