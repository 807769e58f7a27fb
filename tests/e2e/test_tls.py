"""TLS on the API listener (issue 15 part 7): `--tls-cert`/`--tls-key`, SIGHUP reload, TLS 1.2+.

The aws CLI and boto3 talk to an https endpoint that they verify against the test's own
self-signed certificate (made with the openssl CLI); without the CA bundle they refuse it. The
hostile-input table of test_hostile runs inside TLS on the API listener, plaintext HTTP and TLS 1.1
to the TLS port get no answer and leave the server serving, a silent connection is closed after
the header timeout, and SIGHUP swaps the certificate for new connections (a bad file keeps the old
one). Without TLS on a non-loopback address the server prints a loud warning.

Run: cd tests/e2e && ALTO_BUILD_DIR=/path/to/build python3 -m unittest -v test_tls
"""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hostile_cases as hc  # noqa: E402
from harness import AltoServer, AltoTestCase, ROLE, probe_zip, run_cmd, wait_until, zip_files  # noqa: E402
from hostile_cases import parse_responses  # noqa: E402
from test_hostile import WEB_APP, judge  # noqa: E402

HEADER_TIMEOUT_S = 2
CASE_TIMEOUT_S = 4
WORKERS = 6


def make_cert(directory, name):
    """A self-signed P-256 certificate for localhost and 127.0.0.1: (cert path, key path)."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    out = run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                   "-nodes", "-days", "1", "-subj", "/CN=localhost",
                   "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                  timeout=30)
    assert out.returncode == 0, out.stderr
    return cert, key


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def unverified_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_der(addr):
    """The certificate a new connection is served, DER."""
    with socket.create_connection(addr, timeout=10) as raw:
        with unverified_context().wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def aws_env_without_ca():
    """The aws CLI's environment with no CA bundle of the caller's leaking in."""
    env = dict(os.environ)
    env.update(harness.AWS_ENV)
    for k in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        env.pop(k, None)
    return env


def aws(endpoint, *args, ca_bundle=None):
    argv = [shutil.which("aws") or "aws", "--endpoint-url", endpoint]
    if ca_bundle:
        argv += ["--ca-bundle", ca_bundle]
    return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=harness.CLI_TIMEOUT_S,
                          env=aws_env_without_ca(), stdin=subprocess.DEVNULL)


def tls_exchange(addr, raw, ctx, timeout=3.0, want=1, linger=0.3):
    """hostile_cases.exchange inside TLS: sends raw on a fresh TLS connection and reads until the
    server closes, `want` responses came and then `linger` s of silence, or timeout."""
    t0 = time.monotonic()
    res = {"data": b"", "closed": False, "reset": False, "error": None}
    try:
        raw_sock = socket.create_connection(addr, timeout=timeout)
    except OSError as e:
        res["error"] = "connect: %s" % e
        res["elapsed"] = time.monotonic() - t0
        return res
    try:
        s = ctx.wrap_socket(raw_sock, server_hostname="localhost")
    except (OSError, ssl.SSLError) as e:
        raw_sock.close()
        res["error"] = "handshake: %s" % e
        res["elapsed"] = time.monotonic() - t0
        return res
    try:
        try:
            s.sendall(raw)
        except (OSError, ssl.SSLError) as e:
            res["error"] = "send: %s" % e.__class__.__name__
        deadline = t0 + timeout
        data = b""
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            enough = len(parse_responses(data)) >= want
            s.settimeout(min(linger, deadline - now) if enough else deadline - now)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                if enough:
                    break
                continue
            except (ConnectionResetError, ConnectionAbortedError, ssl.SSLError):
                res["closed"] = res["reset"] = True
                break
            if not chunk:
                res["closed"] = True
                break
            data += chunk
        res["data"] = data
    finally:
        s.close()
    res["elapsed"] = time.monotonic() - t0
    return res


class TlsCertDir:
    """A temporary directory holding the server's certificate and key (and spares)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="alto-tls-")
        self.cert, self.key = make_cert(self.path, "server")

    def flags(self):
        return ["--tls-cert", self.cert, "--tls-key", self.key]

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class TlsServerTest(AltoTestCase):
    """One server with --tls-cert/--tls-key; clients verify against its certificate."""

    @classmethod
    def setUpClass(cls):
        cls.certs = TlsCertDir()
        cls.server_options = {"extra_args": cls.certs.flags() + ["--header-timeout", str(HEADER_TIMEOUT_S)],
                              "ca_bundle": cls.certs.cert}
        try:
            super().setUpClass()
        except BaseException:
            cls.certs.cleanup()
            raise
        cls.addr = (cls.server.host, cls.server.port)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.certs.cleanup()

    def verified_context(self):
        return ssl.create_default_context(cafile=self.certs.cert)

    def assertServing(self, why):
        status, _, body = self.server.request("GET", "/2015-03-31/functions", timeout=10)
        self.assertEqual(status, 200, "after %s: %r" % (why, body[:300]))

    def test_ready_file_and_log_say_https(self):
        self.assertEqual(self.server.scheme, "https")
        self.assertIn("listening on https://", self.server.log_text())
        self.assertIn("TLS certificate: CN=localhost", self.server.log_text())
        self.assertNotIn("WITHOUT TLS", self.server.log_text())

    def test_aws_cli_with_ca_bundle(self):
        out = aws("https://localhost:%d" % self.server.port, "lambda", "list-functions",
                  ca_bundle=self.certs.cert)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Functions", json.loads(out.stdout))

    def test_aws_cli_without_ca_bundle_refuses_the_certificate(self):
        out = aws("https://localhost:%d" % self.server.port, "lambda", "list-functions")
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("CERTIFICATE_VERIFY_FAILED", out.stderr)

    def test_alto_cli_over_https(self):
        endpoint = "https://localhost:%d" % self.server.port
        env = aws_env_without_ca()
        env["AWS_CA_BUNDLE"] = self.certs.cert
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", endpoint, "ls"], env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(harness.ADMIN_KEY_ID, out.stdout)
        # Without the CA the server's certificate is refused, with the reason.
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", endpoint, "ls"], env=aws_env_without_ca())
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("certificate verify failed", out.stderr)
        # Plain http to the TLS port gets no answer it could mistake for one.
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", "http://localhost:%d" % self.server.port,
                               "ls"], env=env)
        self.assertNotEqual(out.returncode, 0, out.stdout)

    def test_boto3_creates_and_invokes(self):
        name = self.unique("tls-probe")
        self.create(name, "python3.12", "probe.handler", probe_zip(), Timeout=30)
        resp, body, log = self.invoke(name, {"env": ["AWS_LAMBDA_FUNCTION_NAME"]})
        self.assertEqual(resp["StatusCode"], 200, body)
        self.assertNotIn("FunctionError", resp, body)
        self.assertEqual(body["env"]["AWS_LAMBDA_FUNCTION_NAME"], name)
        url = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        self.assertRegex(url, r"^https://[a-z0-9]{32}\.lambda-url\.us-east-1\.localhost:%d/$" % self.server.port)
        status, _, out = self.server.request("GET", "/url/%s/" % name, timeout=60)
        self.assertEqual(status, 200, out)
        self.lam.delete_function(FunctionName=name)

    def test_hostile_cases_inside_tls(self):
        """test_hostile's API-listener table, each case on its own TLS connection."""
        fn = self.unique("tls-web")
        self.lam.create_function(FunctionName=fn, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": zip_files({"app.py": WEB_APP})}, Timeout=30)
        hostport = ("%s:%d" % self.addr).encode()
        ctx = {"T": b"/2015-03-31/functions", "P": b"/2015-03-31/functions/%s/invocations" % fn.encode(),
               "H": hostport, "ok": 403}  # unsigned: through HTTP (inside TLS) to the auth gate
        cases = hc.expand(hc.generic_cases() + hc.size_cases(), "api", ctx)
        tls = self.verified_context()
        failures_before = self.handshake_failures()
        # The function answers before the cases start (the first invoke starts a sandbox).
        status, _, body = self.server.request("POST", ctx["P"].decode(), b"{}", timeout=120)
        self.assertEqual(status, 200, body)

        def one(case):
            res = tls_exchange(self.addr, case["raw"], tls, timeout=case["timeout"] or CASE_TIMEOUT_S,
                               want=1 + len(case["then"]))
            return case, judge(case, res)

        failures = []
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            for case, why in pool.map(one, cases):
                if why:
                    failures.append("%s [%s]: %s" % (case["name"], case["category"], why))
        self.assertServing("the hostile cases")
        self.assertFalse(failures, "%d of %d cases failed inside TLS:\n  %s"
                         % (len(failures), len(cases), "\n  ".join(failures)))
        self.assertEqual(self.handshake_failures(), failures_before, "no case failed its handshake")
        self.lam.delete_function(FunctionName=fn)

    def handshake_failures(self):
        return self.server.metric('alto_http_tls_handshake_failures_total{listener="api"}') or 0

    def test_plaintext_and_tls11_get_no_answer_and_are_counted(self):
        before = self.handshake_failures()
        with socket.create_connection(self.addr, timeout=10) as s:
            s.sendall(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertNotIn(b"HTTP/", data)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(self.certs.cert)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, which is the point
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(self.addr, timeout=10) as raw:
            with self.assertRaises(ssl.SSLError) as cm:
                old.wrap_socket(raw, server_hostname="localhost")
        self.assertIn("PROTOCOL_VERSION", str(cm.exception))
        self.assertServing("plaintext and TLS 1.1")
        self.assertEqual(self.handshake_failures() - before, 2)
        self.assertIn("TLS handshake with 127.0.0.1 failed", self.server.log_text())

    def test_silent_connection_is_closed_after_the_header_timeout(self):
        t0 = time.monotonic()
        with socket.create_connection(self.addr, timeout=HEADER_TIMEOUT_S + 10) as s:
            self.assertEqual(s.recv(4096), b"")
        took = time.monotonic() - t0
        self.assertGreater(took, HEADER_TIMEOUT_S - 0.5)
        self.assertLess(took, HEADER_TIMEOUT_S + 5)
        self.assertServing("a silent connection")


class TlsReloadTest(unittest.TestCase):
    """SIGHUP reads the files again: new connections see the new certificate; a bad file keeps
    the old one."""

    def setUp(self):
        self.certs = TlsCertDir()
        self.server = AltoServer(name="TlsReloadTest", extra_args=self.certs.flags(), ca_bundle=self.certs.cert)
        self.server.start()
        self.addr = (self.server.host, self.server.port)

    def tearDown(self):
        try:
            if self.server.proc is not None:
                self.server.stop()
        finally:
            self.server.cleanup()
            self.certs.cleanup()

    def hangup_and_wait(self, line, count):
        self.server.proc.send_signal(signal.SIGHUP)
        ok = wait_until(lambda: self.server.log_text().count(line) >= count, timeout=10)
        self.assertTrue(ok, "no %r in the log after SIGHUP\n%s" % (line, self.server.log_tail()))

    def test_sighup_serves_the_new_certificate_and_keeps_it_on_a_bad_file(self):
        first = der(self.certs.cert)
        self.assertEqual(peer_der(self.addr), first)
        # A renewal replaces the files, then signals.
        new_cert, new_key = make_cert(self.certs.path, "renewed")
        shutil.copyfile(new_key, self.certs.key)
        shutil.copyfile(new_cert, self.certs.cert)
        self.hangup_and_wait("TLS certificate reloaded", 1)
        self.assertEqual(peer_der(self.addr), der(new_cert))
        self.assertNotEqual(der(new_cert), first)
        out = aws("https://localhost:%d" % self.server.port, "lambda", "list-functions", ca_bundle=new_cert)
        self.assertEqual(out.returncode, 0, out.stderr)

        with open(self.certs.cert, "w") as f:
            f.write("garbage\n")
        self.hangup_and_wait("TLS certificate NOT reloaded", 1)
        self.assertIn("certificate %s: no start line" % self.certs.cert, self.server.log_text())
        self.assertEqual(peer_der(self.addr), der(new_cert), "the previous certificate stays in use")
        self.assertTrue(self.server.alive())


class TlsStartupTest(unittest.TestCase):
    """Bad TLS flags stop the server at start with a clear reason; plaintext on a non-loopback
    address starts with a loud warning."""

    def setUp(self):
        self.certs = TlsCertDir()

    def tearDown(self):
        self.certs.cleanup()

    def start_fails(self, extra_args):
        server = AltoServer(name="TlsStartupTest", extra_args=extra_args)
        try:
            with self.assertRaises(harness.ServerStartError):
                server.start()
            return server.log_text(), server.returncode
        finally:
            server.cleanup()

    def test_missing_and_bad_files_are_named(self):
        missing = os.path.join(self.certs.path, "missing.pem")
        log, rc = self.start_fails(["--tls-cert", missing, "--tls-key", self.certs.key])
        self.assertEqual(rc, 2, log)
        self.assertIn("certificate %s: No such file or directory" % missing, log)
        log, rc = self.start_fails(["--tls-cert", self.certs.key, "--tls-key", self.certs.key])
        self.assertIn("certificate %s: no start line" % self.certs.key, log)
        other_cert, other_key = make_cert(self.certs.path, "other")
        log, rc = self.start_fails(["--tls-cert", self.certs.cert, "--tls-key", other_key])
        self.assertIn("private key %s does not match the certificate" % other_key, log)

    def test_cert_without_key_is_a_usage_error(self):
        out = run_cmd([harness.ALTO_BIN, "server", "--tls-cert", self.certs.cert], timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--tls-key", out.stdout + out.stderr)

    def test_plaintext_on_a_public_address_warns(self):
        server = AltoServer(name="TlsStartupTest")
        command = server.command
        server.command = lambda listen: command("0.0.0.0:0")
        try:
            server.start()
            log = server.log_text()
            self.assertIn("The API listens on 0.0.0.0 WITHOUT TLS", log)
            self.assertGreaterEqual(log.count("*" * 72), 2, log)
            server.stop()
        finally:
            server.cleanup()
        loopback = AltoServer(name="TlsStartupTest")
        try:
            loopback.start()
            self.assertNotIn("WITHOUT TLS", loopback.log_text())
            loopback.stop()
        finally:
            loopback.cleanup()


if __name__ == "__main__":
    unittest.main()
