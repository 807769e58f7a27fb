"""What a function can and cannot do inside an oci sandbox: a custom runtime probes its own
sandbox (process status, blocked syscalls, read-only code, network) and returns what it saw."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

PROBE = r'''#!/usr/bin/python3
import ctypes, errno, http.client, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def syscall(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), "OK") if r < 0 else "OK"

def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out

def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]

def connect(host, port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((host, port))
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
    finally:
        s.close()

def probe():
    st = status()
    return {
        "uid": os.getuid(), "pid": os.getpid(), "Seccomp": st.get("Seccomp"), "NoNewPrivs": st.get("NoNewPrivs"),
        "CapEff": st.get("CapEff"), "CapBnd": st.get("CapBnd"),
        # x86-64 syscall numbers of what the profile must refuse
        "unshare_newuser": syscall(272, 0x10000000), "unshare_newnet": syscall(272, 0x40000000),
        "mount": syscall(165, 0, 0, 0, 0, 0), "setns": syscall(308, 0, 0), "keyctl": syscall(250, 0, 0),
        "bpf": syscall(321, 0, 0, 0), "ptrace": syscall(101, 0, 0, 0, 0), "reboot": syscall(169, 0, 0, 0, 0),
        "io_uring_setup": syscall(425, 1, 0), "perf_event_open": syscall(298, 0, 0, 0, 0, 0),
        "userfaultfd": syscall(323, 0), "init_module": syscall(175, 0, 0, 0), "clock_settime": syscall(227, 0, 0),
        "write_task": write("/var/task/x"), "write_root": write("/x"), "write_tmp": write("/tmp/x"),
        "write_proc_sys": write("/proc/sys/kernel/hostname"),
        "kcore_size": os.stat("/proc/kcore").st_size if os.path.exists("/proc/kcore") else -1,
        "timer_list": open("/proc/timer_list").read(4096) if os.path.exists("/proc/timer_list") else "",
        "outside": connect("169.254.169.254", 80), "host_api": connect(os.environ["ALTO_TEST_HOST"], int(os.environ["ALTO_TEST_PORT"])),
        "nofile": open("/proc/self/limits").read().count("Max open files            1024"),
    }

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=json.dumps(probe()).encode())
    c.getresponse().read()
'''


class SandboxIsolationTest(AltoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.server.isolating:
            raise unittest.SkipTest("the process driver isolates nothing")

    def test_sandbox_contains_its_function(self):
        name = self.unique("probe")
        host, port = self.server.endpoint.replace("http://", "").split(":")
        self.create(name, "provided.al2023", "probe", zip_files({"bootstrap": (PROBE, 0o755)}),
                    Environment={"Variables": {"ALTO_TEST_HOST": host, "ALTO_TEST_PORT": port}})
        resp, seen, _ = self.invoke(name, {})
        self.assertNotIn("FunctionError", resp, seen)
        self.assertNotEqual(seen["uid"], 0)
        self.assertNotEqual(seen["pid"], 1, "the runtime must not be the sandbox's PID 1")
        self.assertEqual(seen["Seccomp"], "2")
        self.assertEqual(seen["NoNewPrivs"], "1")
        self.assertEqual(seen["CapEff"], "0000000000000000")
        self.assertEqual(seen["CapBnd"], "0000000000000000")
        for call in ("unshare_newuser", "unshare_newnet", "mount", "setns", "keyctl", "bpf", "ptrace", "reboot",
                     "io_uring_setup", "perf_event_open", "userfaultfd", "init_module", "clock_settime"):
            self.assertEqual(seen[call], "EPERM", call)
        self.assertEqual(seen["write_task"], "EROFS")
        self.assertEqual(seen["write_root"], "EROFS")
        self.assertEqual(seen["write_tmp"], "OK")
        self.assertIn(seen["write_proc_sys"], ("EROFS", "EACCES"))
        self.assertIn(seen["kcore_size"], (0, -1), "/proc/kcore must be masked (or absent)")
        self.assertEqual(seen["timer_list"], "", "/proc/timer_list must be masked")
        self.assertNotEqual(seen["outside"], "OK", "no route out of the sandbox yet")
        self.assertNotEqual(seen["host_api"], "OK", "the sandbox reached Alto's API port")
        self.assertEqual(seen["nofile"], 1, "RLIMIT_NOFILE must be 1024")


if __name__ == "__main__":
    unittest.main()
