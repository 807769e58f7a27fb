"""Helpers for bench/scale_bench: processes, HTTP, percentiles, wrk, memory, the runc baseline.

Standard library, plus botocore for SigV4 (the signer the e2e harness and boto3 use): every
request to Alto's API is signed with the bench's admin key. Everything started here is
registered with a Cleanup so that the bench leaves no process, container, mount or temp dir
behind, also on Ctrl-C.
"""
import http.client
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile


# The admin key every bench server makes at its first start (ALTO_ADMIN_*), and signs with.
# Throwaway values: each server's data dir is a temp dir that lives as long as the run.
BENCH_KEY_ID = "AKIAALTOBENCH0000000"
BENCH_SECRET = "bench/Secret+Key/For+scale_bench/000000"
REGION = "us-east-1"
# invoke_client's arguments to sign with that key.
CLIENT_SIGN = ["--sign", f"{BENCH_KEY_ID}:{BENCH_SECRET}", "--region", REGION]


def sign_headers(endpoint, method, path, body=b"", headers=None):
    """headers plus Host, X-Amz-Date and a SigV4 Authorization for a request to endpoint
    ("host:port"), signed as botocore signs (tests/e2e/harness.py sign_headers). The Host is the
    one http.client then sends: it adds none of its own when the headers carry one."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    out = dict(headers or {})
    out["Host"] = endpoint
    req = AWSRequest(method=method, url=f"http://{endpoint}{path}", data=body or b"", headers=out)
    SigV4Auth(Credentials(BENCH_KEY_ID, BENCH_SECRET), "lambda", REGION).add_auth(req)
    return dict(req.headers.items())


def log(msg):
    print(f"[scale_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    v = sorted(values)
    rank = max(1, -(-len(v) * p // 100))  # ceil(n * p / 100)
    return v[int(rank) - 1]


def wait_file(path, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(endpoint, method, path, body=None, headers=None, timeout=60, signed=False):
    """One request on a fresh connection, SigV4-signed with the bench key when signed: (status,
    headers dict (lower-case), body bytes)."""
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if signed:
            h = sign_headers(endpoint, method, path, data, h)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def zip_bytes(files):
    """files: {name: (bytes, mode)} -> zip archive bytes with Unix modes."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            z.writestr(info, data)
    return buf.getvalue()


def zip_dir(path):
    files = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if f.endswith(".pyc"):
                continue
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                files[os.path.relpath(full, path)] = (fh.read(), os.stat(full).st_mode & 0o777)
    return zip_bytes(files)


class Cleanup:
    """Tears down, in reverse order, everything the bench started."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.steps = []

    def add(self, fn):
        self.steps.append(fn)

    def run(self):
        while self.steps:
            fn = self.steps.pop()
            try:
                fn()
            except Exception as e:  # keep cleaning up
                log(f"cleanup step failed: {e}")
        # Anything still mounted under the temp dir (netns pins), deepest first.
        try:
            with open("/proc/self/mounts") as f:
                mounts = [l.split()[1] for l in f if l.split()[1].startswith(self.tmp + "/")]
            for m in sorted(mounts, reverse=True):
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def stop_process(proc, term_wait=5.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(term_wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def runc_delete_all(runc, root):
    if not os.path.isdir(root):
        return
    ids = subprocess.run([runc, "--root", root, "list", "-q"], capture_output=True, text=True).stdout
    for cid in ids.split():
        subprocess.run([runc, "--root", root, "delete", "--force", cid], capture_output=True)


class Alto:
    """An `alto server --driver oci` on 127.0.0.1 with private data and state dirs."""

    def __init__(self, binary, runc, tmp, name, extra_args, cleanup):
        self.runc = runc
        self.dir = os.path.join(tmp, name)
        self.state = os.path.join(self.dir, "run")
        self.runc_root = os.path.join(self.state, "sandboxes", "runc")
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "server.log")
        ready = os.path.join(self.dir, "ready")
        args = [binary, "server", "--listen", "127.0.0.1:0", "--data-dir",
                os.path.join(self.dir, "data"), "--state-dir", self.state, "--ready-file", ready,
                "--driver", "oci", "--log-level", os.environ.get("ALTO_LOG_LEVEL", "info")] + list(extra_args)
        self.args = args
        self.logf = open(self.log_path, "ab")
        env = dict(os.environ, ALTO_ADMIN_ACCESS_KEY_ID=BENCH_KEY_ID,
                   ALTO_ADMIN_SECRET_ACCESS_KEY=BENCH_SECRET)
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        cleanup.add(self.stop)
        if not wait_file(ready, self.proc, 30):
            with open(self.log_path, errors="replace") as f:
                sys.stderr.write(f.read()[-3000:])
            raise SystemExit(f"alto server ({name}) did not start")
        with open(ready) as f:
            self.endpoint = f.readline().strip()
        if not self.endpoint.startswith("127.0.0.1:"):
            raise SystemExit(f"server is not on 127.0.0.1: {self.endpoint}")
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            # SIGTERM drains and tears every sandbox down: hundreds take a while.
            stop_process(self.proc, term_wait=90)
        runc_delete_all(self.runc, self.runc_root)
        self.logf.close()

    def call(self, method, path, body=None, headers=None, timeout=60):
        return request(self.endpoint, method, path, body, headers, timeout, signed=True)

    def create_function(self, name, runtime, handler, zip_data, memory=128, extra=None):
        import base64

        body = {"FunctionName": name, "Runtime": runtime, "Handler": handler,
                "Role": "arn:aws:iam::000000000000:role/x", "MemorySize": memory, "Timeout": 60,
                "Code": {"ZipFile": base64.b64encode(zip_data).decode()}}
        body.update(extra or {})
        st, _, out = self.call("POST", "/2015-03-31/functions", body)
        if st != 201:
            raise SystemExit(f"CreateFunction {name}: {st} {out[:300]!r}")

    def invoke(self, name, payload=b"{}", timeout=60):
        return self.call("POST", f"/2015-03-31/functions/{name}/invocations", payload,
                         timeout=timeout)

    def metrics(self):
        """/metrics as {'name' or 'name{labels}': value}."""
        st, _, out = self.call("GET", "/metrics", timeout=20)
        m = {}
        if st != 200:
            return m
        for line in out.decode(errors="replace").splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, val = line.rpartition(" ")
            try:
                m[key] = float(val)
            except ValueError:
                pass
        return m

    def containers(self):
        """runc's view of this server's sandboxes: [{id, pid, status}]."""
        p = subprocess.run([self.runc, "--root", self.runc_root, "list", "--format", "json"],
                           capture_output=True, text=True)
        out = p.stdout.strip()
        if p.returncode != 0:
            log(f"runc list: exit {p.returncode}: {p.stderr.strip()[:300]}")
        if not out or out == "null":
            return []
        return json.loads(out)

    def warnings(self):
        with open(self.log_path, errors="replace") as f:
            return [l.rstrip() for l in f if re.search(r"\[(warning|error|critical)\]", l)]


def fn_metric(m, name, fn):
    return m.get(f'{name}{{function="{fn}"}}', 0.0)


# --- wrk ---------------------------------------------------------------------------------------

WRK_LUA = """wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""


def write_wrk_script(path, sign_for=None):
    """WRK_LUA into path; with sign_for ("host:port") also a SigV4 signature for that server (and
    its Host, which wrk then sends as signed). wrk replays the same signed request, valid for the
    server's 5-minute window: write the script afresh before each run."""
    text = WRK_LUA
    if sign_for:
        h = sign_headers(sign_for, "POST", "/2015-03-31/functions/bench-noop/invocations", b"{}",
                         {"Content-Type": "application/json"})
        for k, v in h.items():
            if '"' in v or "\\" in v:
                raise ValueError(f"header {k} cannot go into a Lua string: {v!r}")
            text += f'wrk.headers["{k}"] = "{v}"\n'
    with open(path, "w") as f:
        f.write(text)


def _wrk_time(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return None
    scale = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]
    return float(m.group(1)) * scale


def run_wrk(url, connections, seconds, script):
    """wrk --latency: {rps, p50_us, p99_us, requests, non2xx, socket_errors}."""
    threads = min(connections, 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout",
           "10s", "--latency", "-s", script, url]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    except subprocess.TimeoutExpired:
        return {"error": "wrk timed out"}
    r = {"connections": connections, "threads": threads}
    for line in out.splitlines():
        line = line.strip()
        m = re.match(r"(50|99)(?:\.0+)?%\s+(\S+)", line)
        if m:
            r[f"p{m.group(1)}_us"] = _wrk_time(m.group(2))
        m = re.match(r"Requests/sec:\s+([\d.]+)", line)
        if m:
            r["rps"] = float(m.group(1))
        m = re.match(r"(\d+) requests in", line)
        if m:
            r["requests"] = int(m.group(1))
        m = re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line)
        if m:
            r["non2xx"] = int(m.group(1))
        m = re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line)
        if m:
            r["socket_errors"] = sum(int(x) for x in m.groups())
    r.setdefault("non2xx", 0)
    r.setdefault("socket_errors", 0)
    if "rps" not in r:
        r["error"] = out[-300:]
    return r


def start_nginx(tmp, name, workers, cleanup, upstream=None):
    """nginx answering 200 itself, or with upstream ("127.0.0.1:port") a reverse proxy to it over
    keep-alive connections."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    for _ in range(8):
        port = free_port()
        upstream_block, location = "", 'return 200 "{}";'
        if upstream:
            upstream_block = f"  upstream backend {{ server {upstream}; keepalive 64; }}"
            location = ('proxy_pass http://backend; proxy_http_version 1.1; '
                        'proxy_set_header Connection "";')
        conf = f"""daemon off;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
{upstream_block}
  server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }}
}}
"""
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        proc = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cleanup.add(lambda p=proc: stop_process(p))
        for _ in range(60):
            try:
                if request(f"127.0.0.1:{port}", "GET", "/", timeout=2)[0] == 200:
                    return proc, f"127.0.0.1:{port}"
            except OSError:
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        stop_process(proc)
    raise SystemExit(f"nginx ({name}) did not start")


# --- memory ------------------------------------------------------------------------------------


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def meminfo_kb():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def process_tree():
    """{pid: (ppid, comm)} of every process."""
    tree = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        tree[int(d)] = (ppid, comm)
    return tree


def descendants(tree, root):
    children = {}
    for pid, (ppid, _) in tree.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def memory_cgroup(pid):
    """(cgroup dir, usage file) of a process's memory cgroup, v1 or v2."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None, None
    for line in lines:
        _, ctrl, path = line.split(":", 2)
        if "memory" in ctrl.split(","):
            return f"/sys/fs/cgroup/memory{path}", "memory.usage_in_bytes"
    for line in lines:
        if line.startswith("0::"):
            return "/sys/fs/cgroup" + line[3:], "memory.current"
    return None, None


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# Where cgroup v1 mounts the cpuacct controller (alone, or joined with cpu).
CPUACCT_MOUNTS = ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct")


def platform_cpu_ms(pid):
    """CPU-ms spent by Alto itself: the server's threads, the children it has reaped (runc, ip,
    the background-group shell) and every sandbox cgroup under /alto (runc's in-container init,
    alto-init, the function). Unlike the host-wide figure, other work on the machine is not
    counted; kernel worker threads (e.g. network namespace cleanup) are not either."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total_ms = ticks * 1000 / os.sysconf("SC_CLK_TCK")
    for base in (os.path.join(m, "alto") for m in CPUACCT_MOUNTS):
        if os.path.isdir(base):
            for e in os.scandir(base):
                ns = read_int(os.path.join(e.path, "cpuacct.usage")) if e.is_dir() else None
                total_ms += (ns or 0) / 1e6
            return total_ms
    if os.path.isdir("/sys/fs/cgroup/alto"):
        for e in os.scandir("/sys/fs/cgroup/alto"):
            try:
                with open(os.path.join(e.path, "cpu.stat")) as f:
                    for line in f:
                        if line.startswith("usage_usec "):
                            total_ms += int(line.split()[1]) / 1000
            except OSError:
                pass
    return total_ms


def cgroup_pids(cg):
    try:
        with open(os.path.join(cg, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# --- runc baseline -----------------------------------------------------------------------------


class RuncBaseline:
    """`runc run` of a program in a bundle like Alto's (as bench/run builds it): an empty
    read-only root with /usr and an /etc allow-list bound read-only, the program at /var/task,
    tmpfs /tmp, /dev, /dev/shm, new pid/ipc/uts/mount/cgroup/network namespaces, 128 MB, uid 993,
    no capabilities."""

    def __init__(self, runc, tmp, program, cleanup):
        self.runc = runc
        self.dir = os.path.join(tmp, "baseline")
        self.root = os.path.join(self.dir, "runc-root")
        self.cg_parent = "alto-scale-bench-" + os.path.basename(tmp).rsplit(".", 1)[-1]
        rootfs, task = os.path.join(self.dir, "rootfs"), os.path.join(self.dir, "task")
        for d in (rootfs, task, self.root):
            os.makedirs(d, exist_ok=True)
        os.chmod(rootfs, 0o755)
        os.chmod(task, 0o755)
        shutil.copy2(program, os.path.join(task, "bootstrap"))
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink("/" + top):
                os.symlink(os.readlink("/" + top), os.path.join(rootfs, top))
        mounts = [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=64k"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=512m"]}]
        for p in ("/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                  "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/localtime",
                  "/etc/hosts", "/etc/nsswitch.conf", "/etc/mime.types"):
            if os.path.exists(p) and not os.path.islink(p):
                mounts.append({"destination": p, "type": "bind", "source": p,
                               "options": ["rbind", "ro", "nosuid", "nodev"]})
        mounts.append({"destination": "/var/task", "type": "bind", "source": task,
                       "options": ["rbind", "ro", "nosuid", "nodev"]})
        self.config = {
            "ociVersion": "1.0.2",
            "process": {"terminal": False, "user": {"uid": 993, "gid": 990},
                        "args": ["/var/task/bootstrap"],
                        "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9"],
                        "cwd": "/var/task",
                        "capabilities": {k: [] for k in ("bounding", "effective", "inheritable",
                                                         "permitted", "ambient")},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                        "noNewPrivileges": True},
            "root": {"path": rootfs, "readonly": True},
            "hostname": "localhost",
            "mounts": mounts,
            "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount",
                                                           "cgroup", "network")],
                      "resources": {"devices": [{"allow": False, "access": "rwm"}],
                                    "memory": {"limit": 134217728, "swap": 134217728},
                                    "pids": {"limit": 1024}, "cpu": {"shares": 74}},
                      "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys",
                                      "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"],
                      "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                        "/proc/sysrq-trigger"]}}
        self.bundle = os.path.join(self.dir, "bundle")
        os.makedirs(self.bundle)
        cleanup.add(self.cleanup)

    def run_once(self, i, args=("/var/task/bootstrap",),
                 marker_text=b"cannot connect to the Runtime API", ok_rc=1):
        """ms from launching `runc run` until the program prints marker_text (its work is done;
        teardown not counted, as Alto tears down off the invoke path), and ms to runc's exit.
        The default program is the no-op bootstrap, which exits 1 once it finds no Runtime API
        (nothing listens in the fresh netns). (None, None, output) on failure."""
        cid = f"scale-base-{i}"
        self.config["process"]["args"] = list(args)
        self.config["linux"]["cgroupsPath"] = f"/{self.cg_parent}/{cid}"
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(self.config, f)
        t0 = time.perf_counter()
        proc = subprocess.Popen(["timeout", "20", self.runc, "--root", self.root, "run",
                                 "--bundle", self.bundle, cid], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        marker = None
        out = []
        for line in proc.stdout:
            out.append(line)
            if marker is None and marker_text in line:
                marker = time.perf_counter()
        rc = proc.wait()
        t1 = time.perf_counter()
        # runc's own failures also exit 1 (like the bootstrap): require the marker as well.
        if rc != ok_rc or marker is None or any(b"level=error" in l for l in out):
            subprocess.run([self.runc, "--root", self.root, "delete", "--force", cid],
                           capture_output=True)
            return None, None, b"".join(out)[:300]
        return (marker - t0) * 1000, (t1 - t0) * 1000, None

    def detached_burst(self, n, parallel, time_limit):
        """Containers started per second by `runc run --detach` of this bundle (the program:
        sleep), `parallel` at a time as Alto starts sandboxes, n in all: the most a runtime that
        uses runc can start here. Also runc's CPU-ms per start: the runc processes reaped here and
        the containers' cgroups (runc init; the sleeps are idle). The containers are deleted afterwards, untimed. Returns a dict."""
        bundles = []
        for i in range(n):
            cid = f"scale-burst-{i}"
            cfg = json.loads(json.dumps(self.config))
            cfg["process"]["args"] = ["/usr/bin/sleep", "120"]
            cfg["linux"]["cgroupsPath"] = f"/{self.cg_parent}/{cid}"
            d = os.path.join(self.dir, "bursts", cid)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            bundles.append((cid, d))
        deadline = time.monotonic() + time_limit

        def start(b):
            if time.monotonic() > deadline:
                return "time limit"
            # Not a pipe: the detached container inherits runc's stdio and would hold it open.
            err = os.path.join(b[1], "stderr")
            with open(err, "wb") as f:
                p = subprocess.run([self.runc, "--root", self.root, "run", "--detach", "--bundle",
                                    b[1], b[0]], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=f, timeout=30)
            if p.returncode == 0:
                return None
            with open(err, errors="replace") as f:
                return f.read()[-200:] or f"exit {p.returncode}"

        def containers_cpu_ms():  # runc init and the sleeps, in the containers' parent cgroup
            for base in CPUACCT_MOUNTS:
                ns = read_int(os.path.join(base, self.cg_parent, "cpuacct.usage"))
                if ns is not None:
                    return ns / 1e6
            return 0.0

        k0 = containers_cpu_ms()
        c0 = os.times()
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
            errors = [e for e in ex.map(start, bundles) if e]
        span = time.perf_counter() - t0
        c1 = os.times()
        cpu_ms = (c1.children_user - c0.children_user + c1.children_system - c0.children_system) * 1000
        cpu_ms += containers_cpu_ms() - k0
        ok = n - len(errors)
        with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
            list(ex.map(lambda b: subprocess.run([self.runc, "--root", self.root, "delete", "--force",
                                                  b[0]], capture_output=True), bundles))
        return {"n": n, "parallel": parallel, "ok": ok, "errors": errors[:3], "span_s": span,
                "per_s": ok / span if span > 0 else None,
                "runc_cpu_ms_per_start": cpu_ms / ok if ok else None}

    def cleanup(self):
        runc_delete_all(self.runc, self.root)
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            if not os.path.isdir(base):
                continue
            for ctrl in [""] + os.listdir(base):
                d = os.path.join(base, ctrl, self.cg_parent)
                if os.path.isdir(d):
                    for sub in os.listdir(d):
                        if os.path.isdir(os.path.join(d, sub)):
                            try:
                                os.rmdir(os.path.join(d, sub))
                            except OSError:
                                pass
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
