"""Hostile input on every listener (issue 14 item 7: "one request must never take Alto down").

Raw-socket cases from hostile_cases.py against the control API, function URLs by path and by Host,
and the Runtime API from inside a sandbox; each asserts the exact status (or the set the spec
allows), that the connection is closed where the spec says so, and that the server still answers.
Then the header/idle/body timeouts, the connection caps, slowloris, and fd exhaustion under a
lowered RLIMIT_NOFILE. A table of outcomes by category and listener is printed at the end.

Run: cd tests/e2e && ALTO_BUILD_DIR=/path/to/build python3 -m unittest -v test_hostile
"""
import base64
import collections
import concurrent.futures
import contextlib
import json
import os
import re
import resource
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hostile_cases as hc  # noqa: E402
from harness import AltoServer, AltoTestCase, ROLE, zip_files  # noqa: E402
from hostile_cases import exchange, parse_responses  # noqa: E402

# -- every server flag this module uses, in one place -----------------------------------------------
HEADER_TIMEOUT_S = 2
KEEPALIVE_TIMEOUT_S = 3
BODY_TIMEOUT_S = 2
SLOWLORIS_HEADER_TIMEOUT_S = 8
CAP_TOTAL = 40
CAP_PER_CLIENT = 15
FD_LIMIT = 256
SERVER_FLAGS = {
    "raw": [],  # the defaults: 64 KiB heads, 200 fields, 8 KiB request line, 16 KiB on the Runtime API
    "timeouts": ["--header-timeout", str(HEADER_TIMEOUT_S), "--keepalive-timeout", str(KEEPALIVE_TIMEOUT_S),
                 "--body-timeout", str(BODY_TIMEOUT_S)],
    "caps": ["--max-connections", str(CAP_TOTAL), "--max-connections-per-client", str(CAP_PER_CLIENT),
             "--header-timeout", "60"],
    "slowloris": ["--header-timeout", str(SLOWLORIS_HEADER_TIMEOUT_S)],
    "fd": [],
}
# Flags a class needs before it means anything (a binary without them skips that class only).
NEEDED_FLAGS = {
    "timeouts": ["--header-timeout", "--keepalive-timeout", "--body-timeout"],
    "caps": ["--max-connections", "--max-connections-per-client"],
    "slowloris": ["--header-timeout"],
    "runtime_cap": ["--runtime-api-max-connections"],
}
RUNTIME_API_MAX_CONNECTIONS = 8  # the default of --runtime-api-max-connections
CASE_TIMEOUT_S = 4
WORKERS = 6

_HELP = None


def server_help():
    global _HELP
    if _HELP is None:
        out = subprocess.run([harness.ALTO_BIN, "server", "--help"], capture_output=True, text=True, timeout=30)
        _HELP = out.stdout + out.stderr
    return _HELP


def require_flags(kind):
    missing = [f for f in NEEDED_FLAGS[kind] if f not in server_help()]
    if missing:
        raise unittest.SkipTest("this alto server has no %s (the HTTP hardening is not merged in this build)"
                                % ", ".join(missing))


# -- outcomes table ----------------------------------------------------------------------------------
OUTCOMES = []  # (category, listener, name, passed, detail)
FIGURES = {}


def tearDownModule():
    if not OUTCOMES:
        return
    table = collections.OrderedDict()
    for cat, listener, _, passed, _ in OUTCOMES:
        row = table.setdefault(cat, collections.Counter())
        row[listener, "n"] += 1
        row[listener, "ok"] += int(passed)
    listeners = [l for l in hc.LISTENERS + ("other",) if any((l, "n") in r for r in table.values())]
    out = ["", "hostile cases: passed/cases by category and listener",
           "%-18s" % "category" + "".join("%12s" % l for l in listeners) + "%12s" % "total"]
    tot = collections.Counter()
    for cat in sorted(table, key=lambda c: (hc.CATEGORIES + (c,)).index(c)):
        row = table[cat]
        cells, n, ok = [], 0, 0
        for l in listeners:
            if (l, "n") in row:
                cells.append("%5d/%-6d" % (row[l, "ok"], row[l, "n"]))
                n += row[l, "n"]
                ok += row[l, "ok"]
                tot[l, "n"] += row[l, "n"]
                tot[l, "ok"] += row[l, "ok"]
            else:
                cells.append("%12s" % "-")
        out.append("%-18s" % cat + "".join("%12s" % c for c in cells) + "%5d/%-6d" % (ok, n))
    out.append("%-18s" % "total" + "".join("%12s" % ("%5d/%-6d" % (tot[l, "ok"], tot[l, "n"])) for l in listeners)
               + "%5d/%-6d" % (sum(v for (l, k), v in tot.items() if k == "ok"),
                               sum(v for (l, k), v in tot.items() if k == "n")))
    for k, v in FIGURES.items():
        out.append("%s: %s" % (k, v))
    sys.stderr.write("\n".join(out) + "\n")


# -- helpers -----------------------------------------------------------------------------------------

REFUSED_POLLS = 0  # /metrics polls a connection cap refused (each counts in the refusal metric)


def metrics(server):
    """{(name, frozenset(labels)): value} from /metrics (retried while a connection cap still refuses it:
    connections a test just closed take a moment to leave the server's count)."""
    global REFUSED_POLLS
    for _ in range(50):
        status, _, body = server.request("GET", "/metrics", timeout=10)
        if status != 503:
            break
        REFUSED_POLLS += 1
        time.sleep(0.1)
    assert status == 200, body
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[m.group(1), labels] = float(m.group(3))
    return out


def metric(server, name, **labels):
    want = set(labels.items())
    got = [v for (n, ls), v in metrics(server).items() if n == name and want <= set(ls)]
    return sum(got) if got else None


def judge(case, res):
    """None when the case passed, else why not."""
    resps = parse_responses(res["data"])
    if not resps:
        return "no response (closed=%s reset=%s error=%s after %.1fs; %d bytes: %r)" % (
            res["closed"], res.get("reset"), res["error"], res["elapsed"], len(res["data"]), res["data"][:120])
    status, headers, body = resps[0]
    if status not in case["expect"]:
        return "status %d, expected %s; body %r" % (status, "/".join(map(str, case["expect"])), body[:200])
    for i, statuses in enumerate(case["then"]):
        if len(resps) <= i + 1:
            return "response %d missing (expected %s)" % (i + 2, statuses)
        if resps[i + 1][0] not in statuses:
            return "response %d: status %d, expected %s" % (i + 2, resps[i + 1][0], statuses)
    if case["single"] and len(resps) > 1:
        return "a smuggled request was answered: statuses %s" % [r[0] for r in resps]
    if case["close"] and not res["closed"]:
        return "status %d but the connection stayed open" % status
    if case["etype"] and not headers.get("x-amzn-errortype", "").startswith(case["etype"]):
        return "x-amzn-ErrorType %r, expected %s" % (headers.get("x-amzn-errortype"), case["etype"])
    if status >= 400 and case["category"] not in ("json", "utf8", "names", "parameters") and len(body) > 2048:
        return "a %d with a %d-byte body (expected a short one)" % (status, len(body))
    return None


def alive_raw(host_port):
    # /healthz: the one API path that answers without a signature.
    return ("GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host_port).encode()


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def timed_gets(server, n):
    """n sequential GET /2015-03-31/functions on fresh connections; latencies in ms."""
    raw = alive_raw("%s:%d" % (server.host, server.port))
    lat, failures = [], []
    for _ in range(n):
        t = time.monotonic()
        r = exchange((server.host, server.port), raw, timeout=10)
        lat.append((time.monotonic() - t) * 1000)
        resps = parse_responses(r["data"])
        if not resps or resps[0][0] != 200:
            failures.append(r)
    return lat, failures


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def connect_from(source, addr, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(addr)
    return s


def read_until_close(s, timeout):
    """(bytes, closed) read from s until EOF/reset or timeout."""
    s.settimeout(0.2)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


WEB_APP = r'''
import json

def handler(event, context):
    if not isinstance(event, dict):
        return {"statusCode": 200, "body": "not an object"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"path": event.get("rawPath"), "n": len(event.get("body") or "")})}
'''

RUNTIME_PROBE = hc.RAW_CLIENT_SRC + r'''
import base64, json, os, zlib

def addr():
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    return host.strip("[]"), int(port)

def alive():
    raw = ("GET /2018-06-01/hostile-alive HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
           % os.environ["AWS_LAMBDA_RUNTIME_API"]).encode()
    r = exchange(addr(), raw, timeout=3)
    return r["data"].split(b"\r\n", 1)[0].decode("latin-1")

def cap(n):
    socks, out = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect(addr())
        except OSError as e:
            out.append("connect failed: %s" % e)
            s.close()
            continue
        socks.append(s)
    time.sleep(1.0)
    for s in socks:
        s.settimeout(0.5)
        try:
            d = s.recv(4096)
            out.append(d.split(b"\r\n", 1)[0].decode("latin-1") if d else "closed")
        except socket.timeout:
            out.append("open")
        except OSError as e:
            out.append("error: %s" % e.__class__.__name__)
    # A connection under the cap still serves.
    used = "none open"
    for s, kind in zip(socks, out):
        if kind == "open":
            s.settimeout(3)
            s.sendall(("GET /2018-06-01/hostile HTTP/1.1\r\nHost: %s\r\n\r\n"
                       % os.environ["AWS_LAMBDA_RUNTIME_API"]).encode())
            try:
                used = s.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError as e:
                used = "error: %s" % e
            break
    for s in socks:
        s.close()
    time.sleep(0.5)
    return {"kinds": out, "under_cap": used, "alive_after": alive()}

def handler(event, context):
    op = event.get("op")
    if op == "env":
        return {"api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
    if op == "cap":
        return cap(event.get("n", 20))
    if op == "last":  # the results of a run whose invocation the server ended early
        with open("/tmp/hostile-last.json") as f:
            return json.load(f)
    results = []
    for c in event["cases"]:
        raw = zlib.decompress(base64.b64decode(c["raw"]))
        r = exchange(addr(), raw, timeout=c["timeout"], want=c["want"])
        results.append({"data": base64.b64encode(r["data"][:16384]).decode(), "closed": r["closed"],
                        "reset": r["reset"], "error": r["error"], "elapsed": r["elapsed"], "alive": alive()})
        with open("/tmp/hostile-last.json", "w") as f:
            json.dump(results, f)
    return results
'''


class HostileRawTest(AltoTestCase):
    """The case table, on a server with the default limits."""

    server_options = {"extra_args": SERVER_FLAGS["raw"]}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = cls.unique("hostile-web")
        cls.lam.create_function(FunctionName=cls.fn, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zip_files({"app.py": WEB_APP})}, Timeout=30)
        url = cls.lam.create_function_url_config(FunctionName=cls.fn, AuthType="NONE")["FunctionUrl"]
        m = re.match(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:\d+/$", url)
        assert m, url
        cls.url_host = "%s.lambda-url.us-east-1.localhost:%d" % (m.group(1), cls.server.port)
        cls.addr = (cls.server.host, cls.server.port)
        cls.hostport = ("%s:%d" % cls.addr).encode()
        cls.contexts = {
            "api": {"T": b"/2015-03-31/functions", "P": b"/2015-03-31/functions/%s/invocations" % cls.fn.encode(),
                    # Unsigned: a well-framed request gets through HTTP to the auth gate's 403.
                    "H": cls.hostport, "ok": 403},
            "url_path": {"T": b"/url/%s/echo" % cls.fn.encode(), "P": b"/url/%s/echo" % cls.fn.encode(),
                         "H": cls.hostport, "ok": 200},
            "url_host": {"T": b"/echo", "P": b"/echo", "H": cls.url_host.encode(), "ok": 200},
        }
        # The function answers before the cases start (the first invoke starts a sandbox).
        status, _, body = cls.server.request("GET", "/url/%s/echo" % cls.fn, timeout=120)
        assert status == 200, body

    def assertAlive(self, why):
        status, _, body = self.server.request("GET", "/2015-03-31/functions", timeout=10)
        self.assertEqual(status, 200, "after %s: %r" % (why, body[:300]))
        status, _, body = self.server.request("POST", "/url/%s/echo" % self.fn, b"{}", timeout=60)
        self.assertEqual(status, 200, "function URL after %s: %r" % (why, body[:300]))

    def run_host_cases(self, listener, cases):
        """Runs cases in parallel; each is followed by a liveness request. Returns the failures."""
        live = alive_raw(self.hostport.decode())

        def one(case):
            res = exchange(self.addr, case["raw"], timeout=case["timeout"] or CASE_TIMEOUT_S,
                           want=1 + len(case["then"]))
            why = judge(case, res)
            after = parse_responses(exchange(self.addr, live, timeout=10)["data"])
            if not after or after[0][0] != 200:
                why = (why + "; " if why else "") + "the server did not answer the next request (%s)" % (
                    after[0][0] if after else "no response")
            return case, why

        failures = []
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            for case, why in pool.map(one, cases):
                OUTCOMES.append((case["category"], listener, case["name"], why is None, why))
                if why:
                    failures.append("%s/%s [%s]: %s" % (listener, case["name"], case["category"], why))
        self.assertAlive("the %s cases" % listener)
        return failures

    def check_listener(self, listener):
        cases = hc.expand(hc.generic_cases() + hc.size_cases(), listener, self.contexts[listener])
        failures = self.run_host_cases(listener, cases)
        if failures:
            self.fail("%d of %d %s cases failed:\n  %s" % (
            len(failures), len(cases), listener, "\n  ".join(failures)))

    def test_api_listener(self):
        self.check_listener("api")

    def test_url_by_path(self):
        self.check_listener("url_path")

    def test_url_by_host(self):
        self.check_listener("url_host")

    def test_api_validation(self):
        cases = [dict(c, listener="api") for c in hc.api_level_cases(self.fn, self.hostport)]
        failures = self.run_host_cases("api", cases)
        if failures:
            self.fail("%d of %d API validation cases failed:\n  %s" % (
            len(failures), len(cases), "\n  ".join(failures)))

    def test_bad_requests_are_counted(self):
        before = metric(self.server, "alto_http_rejected_requests_total", listener="api", status="400") or 0
        res = exchange(self.addr, b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=CASE_TIMEOUT_S)
        self.assertTrue(res["data"].startswith(b"HTTP/1.1 400"), res)
        after = metric(self.server, "alto_http_rejected_requests_total", listener="api", status="400")
        self.assertIsNotNone(after, "/metrics has no alto_http_rejected_requests_total{listener=\"api\",status=\"400\"}")
        self.assertEqual(after, before + 1)
        self.assertIsNotNone(metric(self.server, "alto_http_connections_open", listener="api"),
                             "/metrics has no alto_http_connections_open{listener=\"api\"}")

    def test_async_deep_payload(self):
        payload = b"[" * 100000 + b"]" * 100000
        status, headers, body = self.server.request(
            "POST", "/2015-03-31/functions/%s/invocations" % self.fn, payload,
            {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}, timeout=30)
        self.assertEqual(status, 202, body[:300])
        time.sleep(2)
        self.assertTrue(self.server.alive(), "the server exited after a 100,000-deep async payload")
        self.assertAlive("a 100,000-deep async payload")
        OUTCOMES.append(("json", "api", "async_100000_deep", True, None))

    # -- the Runtime API, from inside a sandbox ---------------------------------------------------

    def runtime_probe(self):
        if getattr(type(self), "probe", None):
            return type(self).probe, type(self).probe_api
        name = self.unique("hostile-rt")
        self.create(name, "python3.12", "probe.handler", zip_files({"probe.py": RUNTIME_PROBE}), Timeout=240,
                    MemorySize=512)
        lam = self.server.client(read_timeout=300)
        _, body, _ = self.invoke(name, {"op": "env"}, client=lam)
        self.assertIn("api", body, body)
        type(self).probe, type(self).probe_api = name, body["api"]
        return name, body["api"]

    def test_runtime_api_from_inside(self):
        name, api = self.runtime_probe()
        ctx = {"T": b"/2018-06-01/hostile", "P": b"/2018-06-01/hostile", "H": api.encode(), "ok": 404}
        cases = hc.expand(hc.generic_cases() + hc.size_cases(), "runtime", ctx)
        lam = self.server.client(read_timeout=300)
        failures, batch, size, ended_early = [], [], 0, []

        def judge_all(batch, body):
            self.assertEqual(len(body), len(batch), body)
            for case, r in zip(batch, body):
                r["data"] = base64.b64decode(r["data"])
                why = judge(case, r)
                if not r["alive"].startswith("HTTP/1.1 404"):
                    why = (why + "; " if why else "") + "the Runtime API did not answer the next request (%r)" % (
                        r["alive"],)
                OUTCOMES.append((case["category"], "runtime", case["name"], why is None, why))
                if why:
                    failures.append("runtime/%s [%s]: %s" % (case["name"], case["category"], why))

        def payload(batch):
            return {"cases": [{"raw": base64.b64encode(zlib.compress(c["raw"], 9)).decode(),
                               "timeout": c["timeout"] or CASE_TIMEOUT_S, "want": 1 + len(c["then"])}
                              for c in batch]}

        def flush():
            if not batch:
                return
            resp, body, _ = self.invoke(name, payload(batch), client=lam, tail=False)
            self.assertNotIn("FunctionError", resp, "the runtime probe failed: %r" % (
                (body,) if isinstance(body, dict) else body[:3000],))
            judge_all(batch, body)
            batch.clear()

        # A 413 on any Runtime API request ends the invocation in flight (Function.ResponseSizeTooLarge),
        # whatever the path: those cases run one per invocation, and their results are fetched after.
        oversize = [c for c in cases if 413 in c["expect"]]
        cases = [c for c in cases if 413 not in c["expect"]]
        for case in oversize:
            resp, body, _ = self.invoke(name, payload([case]), client=lam, tail=False)
            if "FunctionError" in resp:
                ended_early.append("%s: %s" % (case["name"], body.get("errorType") if isinstance(body, dict) else body))
                time.sleep((case["timeout"] or CASE_TIMEOUT_S) + 4)  # the handler runs on, then polls /next
                resp, body, _ = self.invoke(name, {"op": "last"}, client=lam, tail=False)
                self.assertNotIn("FunctionError", resp, body)
            judge_all([case], body)
        for case in cases:
            compressed = len(zlib.compress(case["raw"], 9))
            if batch and (len(batch) >= 20 or size + compressed > 2 << 20):
                flush()
                size = 0
            batch.append(case)
            size += compressed
        flush()

        # The sandbox still runs its function.
        resp, body, _ = self.invoke(name, {"op": "env"}, client=lam)
        self.assertNotIn("FunctionError", resp, body)
        self.assertAlive("the runtime cases")
        if ended_early:
            FIGURES["runtime 413s that ended the invocation"] = "; ".join(ended_early)
            sys.stderr.write("\n[runtime] a 413 ended the probe's own invocation: %s\n" % ended_early)
        if failures:
            self.fail("%d of %d Runtime API cases failed:\n  %s" % (
                len(failures), len(cases) + len(oversize), "\n  ".join(failures)))

    def test_runtime_api_connection_cap(self):
        require_flags("runtime_cap")
        name, _ = self.runtime_probe()
        lam = self.server.client(read_timeout=300)
        resp, body, _ = self.invoke(name, {"op": "cap", "n": 20}, client=lam)
        self.assertNotIn("FunctionError", resp, body)
        kinds = collections.Counter(k.split(" ")[1] if k.startswith("HTTP/") else k for k in body["kinds"])
        # The runtime's own connection counts too: at most 8 of ours stay open, and the rest are refused.
        self.assertEqual(kinds["503"] + kinds["open"], 20, body)
        self.assertLessEqual(kinds["open"], RUNTIME_API_MAX_CONNECTIONS, body)
        self.assertGreaterEqual(kinds["open"], RUNTIME_API_MAX_CONNECTIONS - 3, body)
        self.assertTrue(body["under_cap"].startswith("HTTP/1.1 404"), body)
        self.assertTrue(body["alive_after"].startswith("HTTP/1.1 404"), body)
        OUTCOMES.append(("connections", "runtime", "connection_cap", True, None))
        # ... and the function's own invocations still complete.
        resp, body, _ = self.invoke(name, {"op": "env"}, client=lam)
        self.assertNotIn("FunctionError", resp, body)


class HostileTimeoutsTest(AltoTestCase):
    server_options = {"extra_args": SERVER_FLAGS["timeouts"]}

    @classmethod
    def setUpClass(cls):
        require_flags("timeouts")
        super().setUpClass()
        cls.addr = (cls.server.host, cls.server.port)

    def connect(self):
        return socket.create_connection(self.addr, timeout=5)

    def assertAnswers(self):
        status, _, body = self.server.request("GET", "/2015-03-31/functions", timeout=10)
        self.assertEqual(status, 200, body)

    def timeouts(self, kind):
        return metric(self.server, "alto_http_timeouts_total", listener="api", kind=kind) or 0

    def test_incomplete_head_gets_408(self):
        before = self.timeouts("header")
        with self.connect() as s:
            t0 = time.monotonic()
            s.sendall(b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n")
            data, closed = read_until_close(s, HEADER_TIMEOUT_S + 5)
            elapsed = time.monotonic() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:200])
        self.assertTrue(closed, "the connection stayed open after the 408")
        self.assertGreater(elapsed, HEADER_TIMEOUT_S - 0.5)
        self.assertLess(elapsed, HEADER_TIMEOUT_S + 3)
        self.assertEqual(self.timeouts("header"), before + 1)
        self.assertAnswers()

    def test_trickling_head_gets_408_at_the_deadline(self):
        # A byte every 300 ms never lets the head finish: the deadline counts from the first byte.
        with self.connect() as s:
            t0 = time.monotonic()
            s.sendall(b"G")
            data, closed = b"", False
            for byte in b"ET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if time.monotonic() - t0 > HEADER_TIMEOUT_S + 5:
                    break
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                r, _, _ = select.select([s], [], [], 0.3)
                if r:
                    break
            data, closed = read_until_close(s, 3)
            elapsed = time.monotonic() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:200])
        self.assertTrue(closed)
        self.assertLess(elapsed, HEADER_TIMEOUT_S + 4)
        self.assertAnswers()

    def test_silent_connection_closed_without_answer(self):
        with self.connect() as s:
            t0 = time.monotonic()
            data, closed = read_until_close(s, HEADER_TIMEOUT_S + 5)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "a connection that sent nothing was still open after %.1f s" % elapsed)
        self.assertEqual(data, b"", "a connection that sent nothing got an answer")
        self.assertGreater(elapsed, HEADER_TIMEOUT_S - 0.5)
        self.assertLess(elapsed, HEADER_TIMEOUT_S + 3)
        self.assertAnswers()

    def test_idle_keepalive_closed_silently(self):
        before = self.timeouts("idle")
        with self.connect() as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            data = b""
            while not parse_responses(data):
                chunk = s.recv(65536)
                self.assertTrue(chunk, "closed before the response")
                data += chunk
            self.assertEqual(parse_responses(data)[0][0], 200)
            t0 = time.monotonic()
            rest, closed = read_until_close(s, KEEPALIVE_TIMEOUT_S + 5)
            elapsed = time.monotonic() - t0
        self.assertTrue(closed, "an idle keep-alive connection was still open after %.1f s" % elapsed)
        self.assertEqual(rest, b"", "an idle keep-alive connection got bytes: %r" % rest[:200])
        self.assertGreater(elapsed, KEEPALIVE_TIMEOUT_S - 0.5)
        self.assertLess(elapsed, KEEPALIVE_TIMEOUT_S + 3)
        self.assertEqual(self.timeouts("idle"), before + 1)
        self.assertAnswers()

    def test_stalled_body_gets_408(self):
        before = self.timeouts("body")
        with self.connect() as s:
            s.sendall(b"PUT /2015-03-31/functions/x/configuration HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 100\r\n\r\n{\"Timeout\":")
            t0 = time.monotonic()
            data, closed = read_until_close(s, BODY_TIMEOUT_S + 5)
            elapsed = time.monotonic() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:200])
        self.assertTrue(closed)
        self.assertGreater(elapsed, BODY_TIMEOUT_S - 0.5)
        self.assertLess(elapsed, BODY_TIMEOUT_S + 3)
        self.assertEqual(self.timeouts("body"), before + 1)
        self.assertAnswers()


class HostileConnectionCapsTest(AltoTestCase):
    server_options = {"extra_args": SERVER_FLAGS["caps"]}

    @classmethod
    def setUpClass(cls):
        require_flags("caps")
        super().setUpClass()
        cls.addr = (cls.server.host, cls.server.port)

    def assertRefused(self, s, reason):
        data, closed = read_until_close(s, 3)
        resps = parse_responses(data)
        self.assertTrue(resps, "the connection over the %s cap got no answer (closed=%s)" % (reason, closed))
        status, headers, body = resps[0]
        self.assertEqual(status, 503, body)
        self.assertEqual(headers.get("connection", "").lower(), "close", headers)
        json.loads(body)
        self.assertTrue(closed, "the refused connection stayed open")

    def open_conns(self, source, n):
        socks = [connect_from(source, self.addr) for _ in range(n)]
        time.sleep(0.3)
        for s in socks:  # under the cap: accepted, nothing said
            r, _, _ = select.select([s], [], [], 0)
            self.assertFalse(r, "a connection under the cap got an answer or was closed")
        return socks

    def close_all(self, socks):
        for s in socks:
            s.close()
        wait = harness.wait_until(lambda: (metric(self.server, "alto_http_connections_open", listener="api") or 0) <= 2,
                                  10, 0.2)
        self.assertTrue(wait, "alto_http_connections_open did not come down after the clients closed")

    def test_per_client_cap(self):
        before = metric(self.server, "alto_http_connections_refused_total", listener="api", reason="per_client") or 0
        socks = self.open_conns("127.0.0.2", CAP_PER_CLIENT)
        try:
            with connect_from("127.0.0.2", self.addr) as extra:
                self.assertRefused(extra, "per-client")
            # Another client is not affected.
            status, _, body = self.server.request("GET", "/2015-03-31/functions", timeout=10)
            self.assertEqual(status, 200, body)
            # Ours, and the /metrics request itself (a closing connection or two may still count).
            self.assertIn(metric(self.server, "alto_http_connections_open", listener="api"),
                          [CAP_PER_CLIENT + 1, CAP_PER_CLIENT + 2, CAP_PER_CLIENT + 3])
        finally:
            self.close_all(socks)
        self.assertEqual(metric(self.server, "alto_http_connections_refused_total", listener="api",
                                reason="per_client"), before + 1)
        with connect_from("127.0.0.2", self.addr) as s:  # the client may connect again
            s.sendall(alive_raw("x"))
            data, _ = read_until_close(s, 5)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])

    def test_total_cap(self):
        before = metric(self.server, "alto_http_connections_refused_total", listener="api", reason="total") or 0
        polls_before = REFUSED_POLLS
        socks = []
        try:
            left, ip = CAP_TOTAL, 3
            while left:
                n = min(left, CAP_PER_CLIENT)
                socks += self.open_conns("127.0.0.%d" % ip, n)
                left -= n
                ip += 1
            with connect_from("127.0.0.%d" % ip, self.addr) as extra:
                self.assertRefused(extra, "total")
            with connect_from("127.0.0.1", self.addr) as extra:
                self.assertRefused(extra, "total")
        finally:
            self.close_all(socks)
        # Our two, and any /metrics poll made while the closed connections were still counted.
        refused = metric(self.server, "alto_http_connections_refused_total", listener="api", reason="total")
        self.assertEqual(refused, before + 2 + (REFUSED_POLLS - polls_before))
        status, _, body = self.server.request("GET", "/2015-03-31/functions", timeout=10)
        self.assertEqual(status, 200, body)


class HostileSlowlorisTest(AltoTestCase):
    server_options = {"extra_args": SERVER_FLAGS["slowloris"]}
    SLOW = 1000
    SOURCES = ["127.0.0.%d" % i for i in range(2, 6)]  # 250 each, under the default per-client cap

    @classmethod
    def setUpClass(cls):
        require_flags("slowloris")
        soft, _ = raise_nofile()
        if soft < cls.SLOW + 200:
            raise unittest.SkipTest("RLIMIT_NOFILE %d is too low for %d connections" % (soft, cls.SLOW))
        super().setUpClass()

    def test_slowloris(self):
        addr = (self.server.host, self.server.port)
        base, fails = timed_gets(self.server, 200)
        self.assertFalse(fails, fails[:3])
        socks, died = [], []
        t_open = time.monotonic()
        for i in range(self.SLOW):
            s = connect_from(self.SOURCES[i % len(self.SOURCES)], addr)
            s.sendall(b"G")
            socks.append(s)
        opened = time.monotonic() - t_open
        stop = threading.Event()
        trickle = b"ET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nX-Slow-Loris: " + b"a" * 1000

        def trickler():
            for pos in range(len(trickle)):
                if stop.wait(1.0):
                    return
                for i, s in enumerate(socks):
                    if i in died:
                        continue
                    try:
                        s.send(trickle[pos:pos + 1])
                    except OSError:
                        died.append(i)

        th = threading.Thread(target=trickler, daemon=True)
        th.start()
        try:
            loaded, fails = timed_gets(self.server, 200)
            measured_at = time.monotonic() - t_open
            early_deaths = len(died)
            self.assertFalse(fails, "%d of 200 requests failed under slowloris: %r" % (len(fails), fails[:3]))
            figures = ("p50 %.1f ms / p99 %.1f ms without, p50 %.1f ms / p99 %.1f ms with %d slow connections "
                       "(opened in %.1f s, measured by %.1f s)" % (
                           percentile(base, 50), percentile(base, 99), percentile(loaded, 50),
                           percentile(loaded, 99), self.SLOW, opened, measured_at))
            FIGURES["slowloris latency"] = figures
            sys.stderr.write("\n[slowloris] %s\n" % figures)
            self.assertLess(measured_at, SLOWLORIS_HEADER_TIMEOUT_S, "the measurement outlived the slow connections")
            self.assertEqual(early_deaths, 0, "slow connections closed before the header timeout")
            # After the header timeout: a 408 and the close, on a sample.
            sample = socks[::20]
            remaining = t_open + SLOWLORIS_HEADER_TIMEOUT_S + 4 - time.monotonic()
            time.sleep(max(0, remaining - 3))
            outcomes = collections.Counter()
            for s in sample:
                data, closed = read_until_close(s, max(0.5, t_open + SLOWLORIS_HEADER_TIMEOUT_S + 6 - time.monotonic()))
                outcomes["408+close" if data.startswith(b"HTTP/1.1 408") and closed else
                         "%r closed=%s" % (data[:12], closed)] += 1
            self.assertEqual(dict(outcomes), {"408+close": len(sample)}, outcomes)
            timeouts = metric(self.server, "alto_http_timeouts_total", listener="api", kind="header")
            self.assertIsNotNone(timeouts)
            self.assertGreaterEqual(timeouts, self.SLOW * 0.9)
        finally:
            stop.set()
            th.join(5)
            for s in socks:
                s.close()
        after, fails = timed_gets(self.server, 20)
        self.assertFalse(fails)


class FdLimitedServer(AltoServer):
    """An alto server started under a lowered RLIMIT_NOFILE (AltoServer._spawn, plus the limit)."""

    def __init__(self, soft=FD_LIMIT, hard=FD_LIMIT, **kw):
        super().__init__(**kw)
        self.nofile = (soft, hard)

    def _spawn(self, listen):
        if self._log_file:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")
        cmdline = " ".join(self.command(listen))
        self._log_file.write(("$ prlimit --nofile=%d:%d %s\n" % (self.nofile + (cmdline,))).encode())
        self._log_file.flush()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ready_file)
        self.proc = subprocess.Popen(
            self.command(listen), stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.tmp or harness.REPO_ROOT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HostileFdExhaustionTest(unittest.TestCase):
    CONNS = 600

    def test_emfile_backs_off(self):
        raise_nofile()
        server = FdLimitedServer(name="HostileFdExhaustion", extra_args=SERVER_FLAGS["fd"])
        with server:
            with open("/proc/%d/limits" % server.proc.pid) as f:
                limits = f.read()
            self.assertRegex(limits, r"Max open files\s+%d\s+%d" % (FD_LIMIT, FD_LIMIT))
            addr = (server.host, server.port)
            log0 = os.path.getsize(server.log_path)
            cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
            socks = []
            try:
                for i in range(self.CONNS):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.bind(("127.0.0.%d" % (2 + i % 3), 0))
                    s.connect_ex(addr)
                    socks.append(s)
                time.sleep(5)
                cpu1, t1 = cpu_seconds(server.proc.pid), time.monotonic()
                log1 = os.path.getsize(server.log_path)
                self.assertTrue(server.alive(), "the server died of fd exhaustion")
            finally:
                for s in socks:
                    s.close()
            cpu = (cpu1 - cpu0) / (t1 - t0)
            grown = log1 - log0
            FIGURES["fd exhaustion"] = ("%d connections against %d fds for %.1f s: server CPU %.0f%%, log +%d bytes"
                                        % (self.CONNS, FD_LIMIT, t1 - t0, cpu * 100, grown))
            sys.stderr.write("\n[fd] %s\n" % FIGURES["fd exhaustion"])
            answered = harness.wait_until(lambda: self._answers(server), 20, 0.5)
            self.assertTrue(answered, "the server did not answer again after the connections closed")
            self.assertLess(grown, 64 * 1024, "the log grew by %d bytes during fd exhaustion" % grown)
            self.assertLess(cpu, 0.5, "the server used %.0f%% CPU during fd exhaustion" % (cpu * 100))
            text = server.log_text()
            # The server refuses connections once its descriptors are nearly all in use (keeping
            # headroom), and backs off if accept fails with EMFILE anyway: either is logged.
            emfile = [l for l in text.splitlines()
                      if re.search(r"(?i)too many open files|emfile|descriptors nearly exhausted", l)]
            self.assertTrue(emfile, "nothing in the log says the server ran out of fds")
            self.assertLessEqual(len(emfile), 20, "one line per failed accept? %d lines" % len(emfile))

    def test_soft_limit_raised_to_hard(self):
        hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 8192)
        with FdLimitedServer(soft=256, hard=hard, name="HostileFdRaise") as server:
            with open("/proc/%d/limits" % server.proc.pid) as f:
                limits = f.read()
        self.assertRegex(limits, r"Max open files\s+%d\s+%d" % (hard, hard),
                         "the server did not raise its soft RLIMIT_NOFILE to the hard limit")

    @staticmethod
    def _answers(server):
        try:
            r = exchange((server.host, server.port), alive_raw("x"), timeout=3)
        except OSError:
            return False
        resps = parse_responses(r["data"])
        return bool(resps) and resps[0][0] == 200


if __name__ == "__main__":
    unittest.main()
