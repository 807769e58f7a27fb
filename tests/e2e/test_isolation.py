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

# More calls the profile must refuse, beyond the headline ones (x86-64 numbers).
MORE_DENIED = {
    "swapon": (167, 0, 0), "swapoff": (168, 0), "umount2": (166, 0, 0), "pivot_root": (155, 0, 0),
    "chroot": (161, 0), "kexec_load": (246, 0, 0, 0, 0), "kexec_file_load": (320, 0, 0, 0, 0, 0),
    "open_by_handle_at": (304, 0, 0, 0), "name_to_handle_at": (303, 0, 0, 0, 0, 0),
    "delete_module": (176, 0, 0), "finit_module": (313, 0, 0, 0), "fsopen": (430, 0, 0),
    "fsmount": (432, 0, 0, 0), "open_tree": (428, 0, 0, 0), "move_mount": (429, 0, 0, 0, 0, 0),
    "mount_setattr": (442, 0, 0, 0, 0, 0), "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0),
    "acct": (163, 0), "settimeofday": (164, 0, 0), "clock_adjtime": (305, 0, 0), "adjtimex": (159, 0),
    "iopl": (172, 3), "ioperm": (173, 0, 1024, 1), "quotactl": (179, 0, 0, 0, 0),
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0), "process_vm_writev": (311, 1, 0, 0, 0, 0, 0),
    "syslog": (103, 3, 0, 0), "sethostname": (170, 0, 0), "setdomainname": (171, 0, 0), "kcmp": (312, 1, 1, 0, 0, 0),
    "ptrace_attach_init": (101, 16, 1, 0, 0), "unshare_newns": (272, 0x20000), "unshare_newpid": (272, 0x20000000),
    "memfd_secret": (447, 0), "lookup_dcookie": (212, 0, 0, 0), "vhangup": (153,),
}

def clone_newuser():
    # A raw clone: if it were allowed the child would return here, so it leaves at once.
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(56), ctypes.c_long(0x10000000 | 17), ctypes.c_long(0), ctypes.c_long(0),
                     ctypes.c_long(0), ctypes.c_long(0))
    if r == 0:
        os._exit(0)
    return errno.errorcode.get(ctypes.get_errno(), "OK") if r < 0 else "OK"

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
        "uid_map": open("/proc/self/uid_map").read().split(), "gid_map": open("/proc/self/gid_map").read().split(),
        "more_denied": {name: syscall(*call) for name, call in MORE_DENIED.items()},
        "clone_newuser": clone_newuser(), "clone3": syscall(435, 0, 0),
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
        for call, got in seen["more_denied"].items():
            self.assertIn(got, ("EPERM", "ENOSYS"), call)
        self.assertEqual(seen["clone_newuser"], "EPERM")
        self.assertEqual(seen["clone3"], "ENOSYS")
        # The user namespace: container ids 0-65535 are host ids 100000-165535, so the function's
        # uid 993 is host uid 100993 (test_userns: whatever the data dir's mode).
        self.assertEqual(seen["uid_map"], ["0", "100000", "65536"])
        self.assertEqual(seen["gid_map"], ["0", "100000", "65536"])
        # Seen from the host, the warm sandbox's processes run as unprivileged host uids.
        host_uids = set()
        for cid in self.server.runc_list():
            procs = "/sys/fs/cgroup/pids/alto/%s/cgroup.procs" % cid
            if not os.path.exists(procs):
                procs = "/sys/fs/cgroup/alto/%s/cgroup.procs" % cid
            with open(procs) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    with open("/proc/%s/status" % pid) as f:
                        uid_line = [line for line in f if line.startswith("Uid:")][0]
                except (OSError, IndexError):
                    continue
                host_uids.add(int(uid_line.split()[1]))
        self.assertIn(100993, host_uids)
        self.assertTrue(all(u >= 100000 for u in host_uids), host_uids)


if __name__ == "__main__":
    unittest.main()
