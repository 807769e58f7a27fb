#!/usr/bin/env python3
"""Cold start cost of each isolation layer (issue 3), side by side in one run.

Starts a private `alto server --driver oci` (temp dirs), lets it build a sandbox for a function,
copies that sandbox's config.json (Alto's full configuration) and then times `runc run` of one
command (default /usr/bin/true, as the sandbox's uid) in bundles that differ by one layer each:

  minimal          runc's minimal bundle: read-only root with /usr bound, /proc, pid/mount/ipc/uts
                   namespaces, no limits, no seccomp, root user
  alto full        Alto's config.json as the server wrote it (a new netns instead of Alto's pinned
                   one, since the pin belongs to the live sandbox)
  alto -userns     ... without the user namespace and its id mappings
  alto -netns      ... without a network namespace
  alto -seccomp    ... without the seccomp filter
  alto -cgroups    ... without resource limits (memory, pids, cpu)
  alto -masking    ... without masked and read-only /proc paths

and, end to end, `alto invoke (cold)`: the client-side latency of invokes that each need a new
sandbox (a Python runtime that exits after one invocation), next to `runc run` of
`python3 -c pass` in Alto's full config.

Rounds are interleaved (one run of every variant per round) so that load from other processes
spreads over all rows. Prints p50/p99 in ms. Needs root, runc and a built tree.

usage: sudo bench/isolation_bench.py [-n ROUNDS] [--build-dir DIR] [--json FILE]
"""

import argparse
import copy
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

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

WARM = r'''#!/usr/bin/python3
import http.client, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=b'"warm"')
    c.getresponse().read()
'''

RUN_TIMEOUT_S = 20
BENCH_CGROUP = "/alto-isobench/run"
BUDGET_S = 300


def log(msg):
    sys.stderr.write("[isolation-bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def percentile(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def minimal_config(args):
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/usr/bin:/bin"], "cwd": "/"},
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts")]},
    }


def variants(alto, args):
    """name -> config, each Alto variant one layer less than the full configuration."""
    full = copy.deepcopy(alto)
    full["process"]["args"] = args
    full["linux"]["cgroupsPath"] = BENCH_CGROUP  # not the live sandbox's cgroup
    for ns in full["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns.pop("path", None)  # a fresh netns (Alto's own pin belongs to its live sandbox)
    out = {"minimal": minimal_config(args), "alto full": full}
    v = copy.deepcopy(full)
    v["linux"]["namespaces"] = [n for n in v["linux"]["namespaces"] if n["type"] != "user"]
    v["linux"].pop("uidMappings", None)
    v["linux"].pop("gidMappings", None)
    out["alto -userns"] = v
    v = copy.deepcopy(full)
    v["linux"]["namespaces"] = [n for n in v["linux"]["namespaces"] if n["type"] != "network"]
    out["alto -netns"] = v
    v = copy.deepcopy(full)
    v["linux"].pop("seccomp", None)
    out["alto -seccomp"] = v
    v = copy.deepcopy(full)
    v["linux"]["resources"] = {"devices": full["linux"]["resources"].get("devices", [])}
    out["alto -cgroups"] = v
    v = copy.deepcopy(full)
    v["linux"].pop("maskedPaths", None)
    v["linux"].pop("readonlyPaths", None)
    out["alto -masking"] = v
    return out


def make_bundle(path, config, template_rootfs):
    os.makedirs(path)
    if template_rootfs:
        shutil.copytree(template_rootfs, os.path.join(path, "rootfs"), symlinks=True)
    else:
        rootfs = os.path.join(path, "rootfs")
        os.makedirs(rootfs)
        for top in ("bin", "sbin", "lib", "lib64"):
            if os.path.islink("/" + top):
                os.symlink(os.readlink("/" + top), os.path.join(rootfs, top))
        for d in ("proc", "usr"):
            os.makedirs(os.path.join(rootfs, d))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)


def time_runc(runc, root, bundle, cid):
    t0 = time.perf_counter()
    p = subprocess.run([runc, "--root", root, "run", "--bundle", bundle, cid], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        raise RuntimeError("runc run %s failed (%d): %s" % (bundle, p.returncode, p.stderr.decode()[-500:]))
    return ms


def invoke_ms(server, name):
    path = "/2015-03-31/functions/%s/invocations" % name
    headers = server.sign("POST", path, b"{}")  # before the clock starts: the server is timed
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    t0 = time.perf_counter()
    conn.request("POST", path, body=b"{}", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    ms = (time.perf_counter() - t0) * 1000
    conn.close()
    if resp.status != 200 or resp.getheader("X-Amz-Function-Error"):
        raise RuntimeError("invoke %s: %d %r" % (name, resp.status, body[:300]))
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="rounds (default 30)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--json", help="also write the samples as JSON")
    opts = ap.parse_args()
    os.environ["ALTO_BUILD_DIR"] = os.path.abspath(opts.build_dir)
    import harness  # noqa: E402 - reads ALTO_BUILD_DIR at import

    if os.geteuid() != 0 or harness.runc_path() is None:
        sys.exit("needs root and runc")
    runc = harness.runc_path()
    work = tempfile.mkdtemp(prefix="alto-isobench-")
    os.chmod(work, 0o711)
    runc_root = os.path.join(work, "runc")
    samples = {}
    server = harness.AltoServer(name="isolation-bench")
    try:
        server.start()
        lam = server.client()
        for name, src in (("bench-warm", WARM), ("bench-cold", ONE_SHOT)):
            lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="x", Role=harness.ROLE,
                                Code={"ZipFile": harness.zip_files({"bootstrap": (src, 0o755)})}, MemorySize=1769)
        invoke_ms(server, "bench-warm")  # its sandbox stays warm: copy its bundle
        (cid,) = server.runc_list()
        live = os.path.join(server.sandboxes_dir, "bundles", cid)
        with open(os.path.join(live, "config.json")) as f:
            alto_config = json.load(f)
        log("Alto's config: namespaces %s" % [n["type"] for n in alto_config["linux"]["namespaces"]])
        bundles = {}
        for args_name, args in (("true", ["/usr/bin/true"]), ("python", ["/usr/bin/python3", "-c", "pass"])):
            for vname, config in variants(alto_config, args).items():
                if args_name == "python" and vname not in ("minimal", "alto full"):
                    continue
                label = "%s: %s" % (vname, " ".join(args))
                path = os.path.join(work, "b%d" % len(bundles))
                make_bundle(path, config, None if vname == "minimal" else os.path.join(live, "rootfs"))
                bundles[label] = path
                samples[label] = []
        cold_label = "alto invoke (cold, python one-shot runtime)"
        samples[cold_label] = []
        deadline = time.monotonic() + BUDGET_S
        for i in range(opts.n):
            if time.monotonic() > deadline:
                log("time budget spent after %d rounds" % i)
                break
            for label, path in bundles.items():
                samples[label].append(time_runc(runc, runc_root, path, "isobench-%d" % os.getpid()))
            samples[cold_label].append(invoke_ms(server, "bench-cold"))
        rows = [(label, percentile(v, 50), percentile(v, 99), len(v)) for label, v in samples.items()]
        width = max(len(r[0]) for r in rows)
        print("%-*s  %8s  %8s  %4s" % (width, "cold start", "p50 ms", "p99 ms", "n"))
        for label, p50, p99, n in rows:
            print("%-*s  %8.1f  %8.1f  %4d" % (width, label, p50, p99, n))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(samples, f)
    finally:
        try:
            server.stop(expect_code=None)
        except AssertionError:
            pass
        server.cleanup()
        subprocess.run([runc, "--root", runc_root, "delete", "--force", "isobench-%d" % os.getpid()],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        shutil.rmtree(work, ignore_errors=True)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            for d in ("/sys/fs/cgroup/%s%s" % (ctrl, BENCH_CGROUP), "/sys/fs/cgroup/%s/alto-isobench" % ctrl):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
