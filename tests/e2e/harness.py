"""End-to-end test harness for Alto.

How to run (from the repository root, with the pyenv python3 that has boto3 and the aws CLI):

    cd /work/main && python3 -m unittest discover -s tests/e2e -t tests/e2e -v

One module:            python3 -m unittest discover -s tests/e2e -t tests/e2e -p test_errors.py -v
                  or   python3 -m unittest tests.e2e.test_errors -v          (from the repo root)
One test:              cd tests/e2e && python3 -m unittest test_errors.ControlErrorsTest.test_zipfile_not_a_zip -v

Environment:
    ALTO_BUILD_DIR   build directory holding `alto`, `runtimes/` and `examples/` (default: <repo>/build)
    ALTO_E2E_DRIVER  sandbox driver passed to every server (default: the server's own default, `oci` as root)
    ALTO_E2E_KEEP=1  keep each server's temporary directory (its path is printed) for post-mortems
    ALTO_E2E_STATE   `etcd`: every server keeps its state in one etcd (Debian's etcd, started by
                     the harness on free ports with a temp dir, stopped at exit), each server under
                     a namespace of its own tied to its data dir (a restart on the same data dir
                     finds its state again); default: the embedded SQLite

Every server gets a private temporary --data-dir and --state-dir (the state dir holds runc state;
two servers sharing one would clean up each other's sandboxes). Every HTTP call and every process
wait in this suite is bounded.
"""

import base64
import contextlib
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.path.abspath(os.path.join(REPO_ROOT, os.environ.get("ALTO_BUILD_DIR", "build")))
ALTO_BIN = os.path.join(BUILD_DIR, "alto")
EXAMPLES_DIR = os.path.join(REPO_ROOT, "examples")
BUILT_EXAMPLES_DIR = os.path.join(BUILD_DIR, "examples")

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 60
CLI_TIMEOUT_S = 90

ROLE = "arn:aws:iam::000000000000:role/any"
ACCOUNT = "000000000000"
REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_PAGER": "",
}

# Every server the harness starts makes this its admin key at first start, and every client
# (aws CLI, boto3, the alto CLI, raw requests through sign_headers) signs with it.
ADMIN_KEY_ID = "test"
ADMIN_SECRET = "test"
os.environ.setdefault("ALTO_ADMIN_ACCESS_KEY_ID", ADMIN_KEY_ID)
os.environ.setdefault("ALTO_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
for _k, _v in AWS_ENV.items():
    os.environ.setdefault(_k, _v)


def sign_headers(method, host, port, path, body=b"", headers=None, key_id=ADMIN_KEY_ID, secret=ADMIN_SECRET,
                 service="lambda", region=REGION):
    """headers plus X-Amz-Date and a SigV4 Authorization for a request to host:port, as botocore
    signs (path as sent on the wire, query included)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    if isinstance(body, str):
        body = body.encode()
    out = dict(headers or {})
    if not any(k.lower() == "host" for k in out):
        out["Host"] = "%s:%d" % (host, port)
    req = AWSRequest(method=method, url="http://%s:%d%s" % (host, port, path), data=body or b"", headers=out)
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(req)
    return dict(req.headers.items())


# Set when a server refused `--listen 127.0.0.1:0` and the harness had to pick a port itself.
PORT_ZERO_FALLBACKS = []

LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


class EtcdServer:
    """A real etcd (Debian's /usr/bin/etcd) on free loopback ports with a temporary data dir."""

    def __init__(self, tls=None):
        """tls: {"ca", "cert", "key"} files: the client URL is https and requires a client
        certificate signed by that CA (--client-cert-auth)."""
        self.dir = tempfile.mkdtemp(prefix="alto-etcd-")
        self.proc = None
        self.client_port = self.peer_port = None
        self.tls = tls

    def start(self, attempts=5):
        for _ in range(attempts):
            self.client_port, self.peer_port = free_port(), free_port()
            if self._launch():
                return self
            self.stop()  # a port race: try other ports
        raise RuntimeError("etcd did not start; see %s/etcd.log" % self.dir)

    def start_again(self):
        """After stop(): the same data and ports, as an etcd restart."""
        if not self._launch():
            raise RuntimeError("etcd did not restart; see %s/etcd.log" % self.dir)
        return self

    def _launch(self):
        client_url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.client_port)
        peer_url = "http://127.0.0.1:%d" % self.peer_port
        tls_args = []
        if self.tls:
            tls_args = ["--cert-file", self.tls["cert"], "--key-file", self.tls["key"],
                        "--trusted-ca-file", self.tls["ca"], "--client-cert-auth"]
        with open(os.path.join(self.dir, "etcd.log"), "ab") as log:
            self.proc = subprocess.Popen(
                ["etcd", "--name", "alto-e2e", "--data-dir", os.path.join(self.dir, "data"),
                 "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", "alto-e2e=" + peer_url, "--log-level", "warn"] + tls_args,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return wait_until(self.healthy, 15)

    def etcdctl(self, *args, user=None):
        """etcdctl against this member (with the client certificate under TLS)."""
        cmd = ["etcdctl", "--endpoints", ("https://" if self.tls else "http://") + self.endpoint]
        if self.tls:
            cmd += ["--cacert", self.tls["ca"], "--cert", self.tls["cert"], "--key", self.tls["key"]]
        if user:
            cmd += ["--user", user]
        return run_cmd(cmd + list(args), env={"ETCDCTL_API": "3"})

    def healthy(self):
        if self.proc.poll() is not None:
            return False
        try:
            if self.tls:
                import ssl
                ctx = ssl.create_default_context(cafile=self.tls["ca"])
                ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
                conn = http.client.HTTPSConnection("127.0.0.1", self.client_port, timeout=1, context=ctx)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=1)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.client_port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_SHARED_ETCD = None


def shared_etcd():
    """The etcd every server of this test process uses under ALTO_E2E_STATE=etcd."""
    global _SHARED_ETCD
    if _SHARED_ETCD is None:
        import atexit
        _SHARED_ETCD = EtcdServer().start()
        atexit.register(_SHARED_ETCD.cleanup)
    return _SHARED_ETCD


def runc_path():
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"):
        p = os.path.join(d, "runc")
        if os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


class AltoServer:
    """An `alto server` on a free port with a private temporary data and state dir.

    Use as a context manager, or call start()/stop(). stop() sends SIGTERM and asserts exit code 0
    (kill -9 after STOP_TIMEOUT_S). Pass data_dir/state_dir to restart on the dirs of an earlier
    server (the temp dir then belongs to that earlier server).
    """

    def __init__(self, driver=None, idle_timeout=None, data_dir=None, state_dir=None, extra_args=(),
                 allow_port_fallback=True, name="alto", ca_bundle=None, state=None):
        self.name = name
        # With --tls-cert: the CA file the clients of this server trust (boto3, aws, request()).
        self.ca_bundle = ca_bundle
        self.scheme = "http"  # "https" when the ready file says so
        self.owns_tmp = data_dir is None
        self.tmp = tempfile.mkdtemp(prefix="alto-e2e-") if self.owns_tmp else None
        if self.tmp:
            # Searchable (not listable) by others: the state dir is below it, and a sandbox's
            # user-namespace root, with no rights on host files beyond "others", reaches its bundle
            # there (a server refuses a state dir it could not reach).
            os.chmod(self.tmp, 0o711)
        base = self.tmp if self.owns_tmp else os.path.dirname(os.path.abspath(data_dir))
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.state_dir = state_dir or os.path.join(self.data_dir, "run")
        # --state: given, or under ALTO_E2E_STATE=etcd a namespace of the shared etcd named after
        # the data dir (so a restart on it finds the same state).
        self.state = state
        if self.state is None and os.environ.get("ALTO_E2E_STATE") == "etcd":
            ns = hashlib.sha256(os.path.abspath(self.data_dir).encode()).hexdigest()[:16]
            self.state = "etcd://%s/e2e-%s" % (shared_etcd().endpoint, ns)
        self.driver = driver if driver is not None else os.environ.get("ALTO_E2E_DRIVER")
        self.idle_timeout = idle_timeout
        self.extra_args = list(extra_args)
        self.allow_port_fallback = allow_port_fallback
        self.log_path = os.path.join(base, "%s-%d.log" % (name, int(time.time() * 1000)))
        self.ready_file = os.path.join(base, "ready-%d" % int(time.time() * 1e6))
        self.proc = None
        self.host = None
        self.port = None
        self.returncode = None
        self._log_file = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def command(self, listen):
        cmd = [ALTO_BIN, "server", "--listen", listen, "--data-dir", self.data_dir, "--state-dir",
               self.state_dir, "--ready-file", self.ready_file]
        if self.driver:
            cmd += ["--driver", self.driver]
        if self.idle_timeout is not None:
            cmd += ["--idle-timeout", str(self.idle_timeout)]
        if self.state:
            cmd += ["--state", self.state]
        return cmd + self.extra_args

    def _spawn(self, listen):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ready_file)
        if self._log_file:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(("$ %s\n" % " ".join(self.command(listen))).encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(self.command(listen), stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmp or REPO_ROOT)

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if os.path.exists(self.ready_file):
                with open(self.ready_file) as f:
                    text = f.read().strip()
                if text:
                    scheme, sep, rest = text.partition("://")
                    self.scheme = scheme if sep else "http"
                    host, _, port = (rest if sep else text).rpartition(":")
                    return host, int(port)
            if self.proc.poll() is not None:
                return None
            time.sleep(0.02)
        raise ServerStartError("alto server did not write %s within %d s\n%s"
                               % (self.ready_file, READY_TIMEOUT_S, self.log_tail()))

    def start(self):
        if not os.access(ALTO_BIN, os.X_OK):
            raise ServerStartError("%s is not built (set ALTO_BUILD_DIR)" % ALTO_BIN)
        self._spawn("127.0.0.1:0")
        got = self._wait_ready()
        if got is None and self.allow_port_fallback and "bad port" in self.log_text():
            # Server bug (documented by test_lifecycle.ListenTest): port 0 is refused. Keep the
            # rest of the suite meaningful by choosing a free port here.
            PORT_ZERO_FALLBACKS.append(self.log_path)
            self.proc.wait(timeout=5)
            self._spawn("127.0.0.1:%d" % free_port())
            got = self._wait_ready()
        if got is None:
            rc = self.proc.wait(timeout=5)
            self.returncode = rc
            self._finish()
            raise ServerStartError("alto server exited with %s before it was ready\n%s" % (rc, self.log_tail()))
        self.host, self.port = got
        self.returncode = None
        return self

    def stop(self, timeout=STOP_TIMEOUT_S, expect_code=0):
        """SIGTERM, wait, and assert the exit code. Returns the exit code."""
        if self.proc is None:
            return self.returncode
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.returncode = "timeout"
                self._finish()
                raise AssertionError("alto server did not exit within %d s of SIGTERM (killed)\n%s"
                                     % (timeout, self.log_tail()))
        else:
            rc = self.proc.returncode
        self.returncode = rc
        self._finish()
        if expect_code is not None and rc != expect_code:
            raise AssertionError("alto server exited with %r after SIGTERM, expected %r\n%s"
                                 % (rc, expect_code, self.log_tail()))
        return rc

    def wait_exit(self, timeout=STOP_TIMEOUT_S, expect_code=0):
        """Wait (without signalling) for the server to exit; assert its exit code."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self._finish()
            raise AssertionError("alto server still running after %d s (killed)\n%s" % (timeout, self.log_tail()))
        self.returncode = rc
        self._finish()
        if expect_code is not None and rc != expect_code:
            raise AssertionError("alto server exited with %r, expected %r\n%s" % (rc, expect_code, self.log_tail()))
        return rc

    def kill9(self):
        """Simulate a crash: SIGKILL the server, leaving its sandboxes behind."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self._finish()

    def _finish(self):
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        """Stop (kill -9 if needed), remove leftover sandboxes of this state dir, delete the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop(timeout=10, expect_code=None)
            except AssertionError:
                pass
        self.remove_leftover_sandboxes()
        if self.owns_tmp and self.tmp:
            if os.environ.get("ALTO_E2E_KEEP"):
                sys.stderr.write("[harness] kept %s\n" % self.tmp)
                return
            unmount_under(self.tmp)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def remove_leftover_sandboxes(self):
        for cid in self.runc_list(stems=True):
            run_cmd([runc_path(), "--root", self.runc_root, "delete", "--force", cid], timeout=30)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.dump_log("start failed")
            self.cleanup()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                self.dump_log("test failed: %s" % exc_type.__name__)
            if self.proc is not None:
                self.stop()
        finally:
            self.cleanup()
        return False

    # -- inspection --------------------------------------------------------------------------------

    @property
    def endpoint(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    @property
    def isolating(self):
        """True when sandboxes are real containers (oci): /var/task, limits, namespaces."""
        return (self.driver or "oci") != "process" and os.geteuid() == 0

    @property
    def sandboxes_dir(self):
        """The server's per-sandbox state (a tmpfs Alto mounts): runc/, bundles/, netns/."""
        return os.path.join(self.state_dir, "sandboxes")

    @property
    def runc_root(self):
        return os.path.join(self.sandboxes_dir, "runc")

    def runc_list(self, stems=False):
        """Container ids runc knows under this server's state dir; function sandboxes only
        unless stems (the generic stem cells the server keeps ready per runtime)."""
        rc = runc_path()
        if rc is None or not os.path.isdir(self.runc_root):
            return []
        out = run_cmd([rc, "--root", self.runc_root, "list", "-q"], timeout=30)
        ids = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        return ids if stems else [i for i in ids if not i.startswith("alto-stem-")]

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=8000):
        text = self.log_text()
        return "----- %s (%s) -----\n%s\n----- end of server log -----" % (self.name, self.log_path, text[-n:])

    def dump_log(self, why=""):
        sys.stderr.write("\n[harness] %s\n%s\n" % (why, self.log_tail()))

    # -- clients -----------------------------------------------------------------------------------

    def metric(self, name, function=None):
        """A value from /metrics: `name` or `name{function="..."}`; None when absent."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, body
        key = name if function is None else '%s{function="%s"}' % (name, function)
        for line in body.decode().splitlines():
            if line.startswith(key + " "):
                return float(line.split()[-1])
        return None

    def client(self, **kw):
        return lambda_client(self.endpoint, verify=self.ca_bundle, **kw)

    def request(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT_S, signed=True):
        tls = None
        if self.scheme == "https":
            import ssl
            tls = ssl.create_default_context(cafile=self.ca_bundle)
        return http_request(self.host, self.port, method, path, body, headers, timeout, signed, tls=tls)

    def sign(self, method, path, body=b"", headers=None, **kw):
        return sign_headers(method, self.host, self.port, path, body, headers, **kw)

    def aws(self, *args, **kw):
        if self.ca_bundle:
            args = ("--ca-bundle", self.ca_bundle) + args
        return aws_cli(self.endpoint, *args, **kw)

    def alto(self, *args, **kw):
        return alto_cli(*args, endpoint=self.endpoint, **kw)


def unmount_under(path):
    """Lazily unmount anything still mounted below path (netns pins a crashed server left)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    for p in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        run_cmd(["umount", "-l", p], timeout=10)


# -- test-case base ---------------------------------------------------------------------------------


class AltoTestCase(unittest.TestCase):
    """Shares one server per class (setUpClass); prints the server log when a test fails."""

    server_options = {}
    server = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = AltoServer(name=cls.__name__, **cls.server_options)
        try:
            cls.server.start()
        except BaseException:
            cls.server.cleanup()
            raise
        cls.lam = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        server, cls.server = cls.server, None
        if server is not None:
            try:
                if server.proc is not None:
                    server.stop()
            finally:
                server.cleanup()
        super().tearDownClass()

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before:
            server = type(self).server
            if server is not None:
                server.dump_log("%s failed" % self.id())
        return out

    # helpers shared by the modules

    _counter = 0

    @classmethod
    def unique(cls, prefix):
        AltoTestCase._counter += 1
        return "%s-%d-%d" % (prefix, os.getpid() % 10000, AltoTestCase._counter)

    def create(self, name, runtime, handler, zip_bytes, client=None, **kw):
        client = client or self.lam
        resp = client.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                                      Code={"ZipFile": zip_bytes}, **kw)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 201, resp)
        return resp

    def invoke(self, name, payload=None, tail=True, client=None, **kw):
        """boto3 Invoke; returns (response, parsed body or raw bytes, decoded log or None)."""
        client = client or self.lam
        args = {"FunctionName": name}
        if payload is not None:
            args["Payload"] = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        if tail:
            args["LogType"] = "Tail"
        args.update(kw)
        resp = client.invoke(**args)
        raw = resp["Payload"].read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        log = base64.b64decode(resp["LogResult"]).decode("utf-8", "replace") if "LogResult" in resp else None
        return resp, body, log

    def function_names(self):
        names = []
        marker = None
        for _ in range(1000):
            kw = {"Marker": marker} if marker else {}
            page = self.lam.list_functions(**kw)
            names += [f["FunctionName"] for f in page["Functions"]]
            marker = page.get("NextMarker")
            if not marker:
                return names
        self.fail("ListFunctions never ended")

    def assertLambdaError(self, res, status, error_type, message_re=None):
        """res = (status, headers, body) from http_request: Lambda's error shape."""
        got_status, headers, body = res
        self.assertEqual(got_status, status, "status; body=%r" % body[:500])
        header = headers.get("x-amzn-ErrorType") or ""
        self.assertEqual(re.split("[:#]", header)[0], error_type, "x-amzn-ErrorType header; body=%r" % body[:500])
        self.assertTrue(headers.get("x-amzn-RequestId"), "x-amzn-RequestId header missing")
        try:
            doc = json.loads(body)
        except ValueError:
            self.fail("error body is not JSON: %r" % body[:500])
        self.assertIsInstance(doc, dict, body[:500])
        self.assertIn(doc.get("Type"), ("User", "Service"), "body Type: %r" % doc)
        self.assertIsInstance(doc.get("Message"), str, "body Message: %r" % doc)
        self.assertTrue(doc["Message"].strip(), "empty Message: %r" % doc)
        if message_re:
            self.assertRegex(doc["Message"], message_re)
        return doc


# -- HTTP --------------------------------------------------------------------------------------------


class Headers:
    """Case-insensitive view of response headers."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        for k, v in self.pairs:
            if k.lower() == name.lower():
                return v
        return default

    def __contains__(self, name):
        return self.get(name) is not None

    def __repr__(self):
        return repr(self.pairs)


def http_request(host, port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT_S, signed=True, tls=None):
    """One raw HTTP/1.1 request (HTTPS with tls, an ssl.SSLContext), signed with the admin key
    unless signed=False. Returns (status, Headers, body bytes)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    if signed:
        headers = sign_headers(method, host, port, path, body or b"", headers)
    if tls is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, Headers(resp.getheaders()), data
    finally:
        conn.close()


def http_request_tolerant(host, port, method, path, body, headers=None, timeout=HTTP_TIMEOUT_S):
    """Like http_request, for bodies a server may refuse before reading them: a response written
    early (before the whole body was sent, e.g. a 413) is still read and returned. Returns
    (status, Headers, body) or raises AssertionError if the server closed without any response."""
    import select

    head = "%s %s HTTP/1.1\r\nContent-Length: %d\r\nConnection: close\r\n" % (method, path, len(body))
    for k, v in sign_headers(method, host, port, path, body, headers).items():
        head += "%s: %s\r\n" % (k, v)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall((head + "\r\n").encode())
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while view and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break  # the server answered early
            if writable:
                try:
                    n = sock.send(view[:1 << 20])
                except (BrokenPipeError, ConnectionResetError):
                    break
                view = view[n:]
        data = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", hdr)
                if m and len(rest) >= int(m.group(1)):
                    break
        if not data.startswith(b"HTTP/"):
            raise AssertionError("the server closed the connection without an HTTP response (%d of %d body bytes "
                                 "sent)" % (len(body) - len(view), len(body)))
        hdr, _, rest = data.partition(b"\r\n\r\n")
        lines = hdr.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        pairs = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
        return status, Headers(pairs), rest
    finally:
        sock.close()


# -- zips --------------------------------------------------------------------------------------------


def zip_files(files):
    """files: {name: str|bytes | (str|bytes, mode) | ("symlink", target)} -> zip bytes.

    Entries are written exactly as named (no normalisation), so hostile names can be built.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, spec in files.items():
            mode = 0o644
            if isinstance(spec, tuple) and spec[0] == "symlink":
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = (0o120777 << 16)
                z.writestr(info, spec[1])
                continue
            if isinstance(spec, tuple):
                spec, mode = spec
            data = spec.encode() if isinstance(spec, str) else spec
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = ((0o100000 | mode) << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def zip_file(path, arcname=None, mode=None):
    """A zip holding one file (keeping its executable bit unless mode is given)."""
    with open(path, "rb") as f:
        data = f.read()
    if mode is None:
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
    return zip_files({arcname or os.path.basename(path): (data, mode)})


def zip_dir(path):
    """A zip of a directory tree, paths relative to it, executable bits kept."""
    files = {}
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(root, n)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if os.path.islink(full):
                files[rel] = ("symlink", os.readlink(full))
                continue
            with open(full, "rb") as f:
                files[rel] = (f.read(), 0o755 if os.access(full, os.X_OK) else 0o644)
    return zip_files(files)


def code_sha256(zip_bytes):
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


# -- clients -----------------------------------------------------------------------------------------


def lambda_client(endpoint, validate=True, read_timeout=60, verify=None):
    import boto3
    from botocore.config import Config

    # Retries disabled: total_max_attempts=1 means the first attempt only (the legacy spelling
    # retries={'max_attempts': N} counts retries, not attempts).
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout,
                 connect_timeout=10, parameter_validation=validate)
    return boto3.client("lambda", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test", config=cfg, verify=verify)


def run_cmd(argv, timeout=CLI_TIMEOUT_S, env=None, cwd=None, input=None):
    """subprocess.run with a bound; returns CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("command timed out after %ss: %s\nstdout=%s\nstderr=%s"
                             % (timeout, " ".join(map(str, argv)), e.stdout, e.stderr))


def aws_cli(endpoint, *args, timeout=CLI_TIMEOUT_S, cwd=None):
    """`aws --endpoint-url ENDPOINT <args>` with test credentials; returns CompletedProcess."""
    argv = [shutil.which("aws") or "aws", "--endpoint-url", endpoint] + list(args)
    return run_cmd(argv, timeout=timeout, env=AWS_ENV, cwd=cwd)


def aws_cli_is_v2():
    out = run_cmd([shutil.which("aws") or "aws", "--version"], timeout=30)
    return (out.stdout + out.stderr).startswith("aws-cli/2")


def alto_cli(*args, endpoint=None, timeout=CLI_TIMEOUT_S, cwd=None, env=None):
    """`alto fn [--endpoint E] <args>`; returns CompletedProcess."""
    argv = [ALTO_BIN, "fn"]
    if endpoint:
        argv += ["--endpoint", endpoint]
    return run_cmd(argv + list(args), timeout=timeout, cwd=cwd, env=env)


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# -- function sources used by several modules ---------------------------------------------------------

HELLO_PYTHON_DIR = os.path.join(EXAMPLES_DIR, "hello-python")
HELLO_NODE_DIR = os.path.join(EXAMPLES_DIR, "hello-node")
HELLO_JAVA_DIR = os.path.join(BUILT_EXAMPLES_DIR, "hello-java")
HELLO_PROVIDED_BOOTSTRAP = os.path.join(BUILT_EXAMPLES_DIR, "hello-provided", "bootstrap")

# A Python function that reports which sandbox ran it: a per-process id and a warm counter.
PY_PROBE = r'''
import json, os, time, uuid
SANDBOX = uuid.uuid4().hex
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    event = event if isinstance(event, dict) else {}
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    print("probe-log: count=%d sandbox=%s" % (COUNT, SANDBOX))
    return {
        "pid": os.getpid(),
        "sandbox": SANDBOX,
        "count": COUNT,
        "env": {k: os.environ.get(k) for k in event.get("env", [])},
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
    }
'''


def probe_zip():
    return zip_files({"probe.py": PY_PROBE})
