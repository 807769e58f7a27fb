"""Every oci sandbox runs in a user namespace, whatever the modes of the directories the server
was given (issue 15 part 9). A data dir other users cannot search (0700, as `mktemp -d` makes it)
once left freshly started sandboxes without a user namespace (host uid 993, the full uid map)
while stem cells had one (host uid 100993): now both kinds get the same isolation, also when the
server runs under a restrictive umask (027). A state dir that the sandboxes' user-namespace root
cannot reach is refused at start with a message naming it.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_userns -v
"""

import os
import shutil
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, zip_files  # noqa: E402

# /proc/PID/uid_map of a process in the host's user namespace, and of one in a sandbox's: container
# ids 0-65535 are host ids 100000-165535, so the function's uid 993 is host uid 100993.
FULL_MAP = ["0", "0", "4294967295"]
SANDBOX_MAP = ["0", "100000", "65536"]
SANDBOX_HOST_UID = 100993

APP = r'''
import os

def handler(event, context):
    return {"uid": os.getuid(), "uid_map": open("/proc/self/uid_map").read().split(),
            "gid_map": open("/proc/self/gid_map").read().split()}
'''

needs_oci = unittest.skipUnless(os.geteuid() == 0 and harness.runc_path(), "user namespaces need the oci driver")


def container_pids(cid):
    for procs in ("/sys/fs/cgroup/pids/alto/%s/cgroup.procs" % cid, "/sys/fs/cgroup/alto/%s/cgroup.procs" % cid):
        if os.path.exists(procs):
            with open(procs) as f:
                return [int(p) for p in f.read().split()]
    return []


def memory_limit_of(cid):
    for path in ("/sys/fs/cgroup/memory/alto/%s/memory.limit_in_bytes" % cid, "/sys/fs/cgroup/alto/%s/memory.max" % cid):
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read().strip())
    return None


def host_view(pid):
    """(real host uid, uid_map fields) of a process; None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            uid = int([line for line in f if line.startswith("Uid:")][0].split()[1])
        with open("/proc/%d/uid_map" % pid) as f:
            return uid, f.read().split()
    except (OSError, IndexError):
        return None


def private_dir(parent):
    """A directory made as `mktemp -d` makes it: mode 0700, so others cannot search it."""
    d = tempfile.mkdtemp(prefix="private-", dir=parent)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, oct(os.stat(d).st_mode)
    return d


class ColdAndStemCase(AltoTestCase):
    """A server with python3.12 stem cells, on the directories server_dirs(base) gives, started
    under `umask` if set; check_cold_and_stem() invokes a function cold and another from a stem
    cell and checks that both, and every other stem, run in the user namespace."""

    umask = None

    @classmethod
    def server_dirs(cls, base):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        # The base (logs, and the dirs of server_dirs) is searchable by others.
        cls.base = tempfile.mkdtemp(prefix="alto-e2e-userns-")
        os.chmod(cls.base, 0o711)
        cls.server_options = dict(cls.server_dirs(cls.base), driver="oci",
                                  extra_args=("--stem-runtimes", "python3.12", "--stem-floor", "1"))
        old_umask = os.umask(cls.umask) if cls.umask is not None else None
        try:
            super().setUpClass()
        except BaseException:
            cls.remove_base()
            raise
        finally:
            if old_umask is not None:
                os.umask(old_umask)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.remove_base()

    @classmethod
    def remove_base(cls):
        if os.environ.get("ALTO_E2E_KEEP"):
            sys.stderr.write("[test_userns] kept %s\n" % cls.base)
            return
        harness.unmount_under(cls.base)
        shutil.rmtree(cls.base, ignore_errors=True)

    def assertInUserNamespace(self, out, what):
        self.assertEqual(out["uid"], 993, (what, out))
        self.assertEqual(out["uid_map"], SANDBOX_MAP, (what, out))
        self.assertEqual(out["gid_map"], SANDBOX_MAP, (what, out))

    def check_cold_and_stem(self):
        ok = harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") >= 1, 30, 0.1)
        self.assertTrue(ok, "no stem cell ready: %r" % self.server.metric("alto_stem_cells_ready"))

        # Cold: a PYTHON* variable is read at interpreter start only, so the running zygote of a
        # stem cannot take this function: it gets a sandbox of its own, started now.
        cold = self.unique("cold")
        self.create(cold, "python3.12", "app.handler", zip_files({"app.py": APP}),
                    Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}})
        misses = self.server.metric("alto_stem_pool_misses_total")
        _, out, log = self.invoke(cold, {})
        self.assertEqual(self.server.metric("alto_stem_pool_misses_total"), misses + 1, log)
        self.assertInUserNamespace(out, "cold sandbox")

        # From a stem cell, given a memory size no stem has, to tell its container apart.
        ok = harness.wait_until(lambda: self.server.metric("alto_stem_cells_ready") >= 1, 30, 0.1)
        self.assertTrue(ok, "no stem cell ready for the second function")
        warm = self.unique("stem")
        self.create(warm, "python3.12", "app.handler", zip_files({"app.py": APP}), MemorySize=320)
        hits = self.server.metric("alto_stem_pool_hits_total")
        _, out, log = self.invoke(warm, {})
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), hits + 1, log)
        self.assertInUserNamespace(out, "stem cell")

        # Seen from the host: every process of both sandboxes runs in the user namespace as host
        # uid 100993.
        fresh = self.server.runc_list()
        self.assertEqual(len(fresh), 1, self.server.runc_list(stems=True))
        served = [c for c in self.server.runc_list(stems=True) if c.startswith("alto-stem-")
                  and memory_limit_of(c) == 320 * 1024 * 1024]
        self.assertEqual(len(served), 1, self.server.runc_list(stems=True))
        for cid in fresh + served:
            views = [v for v in map(host_view, container_pids(cid)) if v is not None]
            self.assertTrue(views, "no process in sandbox %s" % cid)
            for uid, uid_map in views:
                self.assertNotEqual(uid_map, FULL_MAP, "sandbox %s runs in the host's user namespace" % cid)
                self.assertEqual((uid, uid_map), (SANDBOX_HOST_UID, SANDBOX_MAP), cid)
        # So do the stems waiting for the next function, once started (while runc starts one, its
        # cgroup briefly holds runc's own init, outside the namespace), or until they are gone.
        for cid in self.server.runc_list(stems=True):
            if cid in fresh + served:
                continue

            def settled(cid=cid):
                views = [v for v in map(host_view, container_pids(cid)) if v is not None]
                return views and all(v == (SANDBOX_HOST_UID, SANDBOX_MAP) for v in views)

            ok = harness.wait_until(lambda: settled() or cid not in self.server.runc_list(stems=True), 20, 0.1)
            self.assertTrue(ok, "stem %s: %r" % (cid, [host_view(p) for p in container_pids(cid)]))
        self.assertNotIn("without a user namespace", self.server.log_text())


@needs_oci
class PrivateDataDirTest(ColdAndStemCase):
    """A 0700 data dir (its state dir elsewhere, reachable): cold sandboxes and stem cells alike
    run in the user namespace, and the data dir keeps its mode."""

    @classmethod
    def server_dirs(cls, base):
        cls.data_dir = private_dir(base)
        return {"data_dir": cls.data_dir, "state_dir": os.path.join(base, "state")}

    def test_cold_and_stem_sandboxes_run_in_a_user_namespace(self):
        self.check_cold_and_stem()
        self.assertEqual(stat.S_IMODE(os.stat(self.data_dir).st_mode), 0o700, "the server changed the data dir's mode")


@needs_oci
class RestrictiveUmaskTest(ColdAndStemCase):
    """A server started under umask 027 (common hardening) creates its data and state dirs: the
    directories it makes on the sandboxes' way (state dir, bundles, mount points in the root,
    the code store) are still searchable by the user namespace's root."""

    umask = 0o027

    @classmethod
    def server_dirs(cls, base):
        return {"data_dir": os.path.join(base, "data"), "state_dir": os.path.join(base, "state")}

    def test_cold_and_stem_sandboxes_run_in_a_user_namespace(self):
        self.check_cold_and_stem()
        modes = {d: stat.S_IMODE(os.stat(os.path.join(self.base, d)).st_mode) for d in ("data", "state")}
        self.assertEqual(modes, {"data": 0o750, "state": 0o711})


@needs_oci
class UnreachableStateDirTest(unittest.TestCase):
    """A state dir the sandboxes' user-namespace root cannot search: the server refuses to start
    and says which directory and what to do, rather than run sandboxes less isolated."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="alto-e2e-userns-")
        os.chmod(self.base, 0o711)
        self.addCleanup(shutil.rmtree, self.base, True)
        self.addCleanup(harness.unmount_under, self.base)

    def test_server_refuses_a_state_dir_others_cannot_search(self):
        state_dir = private_dir(self.base)
        server = AltoServer(name="userns-refused", driver="oci", data_dir=os.path.join(self.base, "data"),
                            state_dir=state_dir)
        try:
            with self.assertRaises(harness.ServerStartError):
                server.start()
        finally:
            server.cleanup()
        self.assertEqual(server.returncode, 1, server.log_tail())
        expected = ("[error] sandbox driver: sandboxes could not reach their bundles in %s/sandboxes/bundles: %s is "
                    "not searchable by other users, and a sandbox's root is host uid 100000 in its user namespace; "
                    "make it searchable (chmod o+x %s) or choose another --state-dir" % (state_dir, state_dir, state_dir))
        lines = [line for line in server.log_text().splitlines() if "sandbox driver:" in line]
        self.assertEqual(len(lines), 1, server.log_tail())
        self.assertTrue(lines[0].endswith(expected), "%r\ndoes not end with\n%r" % (lines[0], expected))
        # Nothing is left mounted, and the directory the user gave keeps its mode.
        self.assertEqual(stat.S_IMODE(os.stat(state_dir).st_mode), 0o700)
        real = os.path.realpath(state_dir)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        self.assertEqual([p for p in points if (p + "/").startswith(real + "/")], [])


if __name__ == "__main__":
    unittest.main()
