"""Sandbox networking (oci driver, root): outbound through Alto's bridge and NAT works; the host's
ports, other sandboxes, link-local metadata addresses and private networks do not answer;
NetworkMode none leaves only loopback; a kill -9 leaves nothing a restart does not remove.

There is no internet here, so "the outside" is a network namespace this module creates (a peer
at 198.51.100.x reached through a veth from the host), which also answers on a link-local and a
private address routed to it from the host: the host reaching them is the control that makes
each "the sandbox cannot" assertion mean something."""
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, run_cmd, zip_files  # noqa: E402

PEER_PORT = 8080
CONNECT_TIMEOUT_S = 3

PROBE = r'''#!/usr/bin/python3
import errno, http.client, json, os, socket, threading

def connect(host, port, send):
    s = socket.socket()
    s.settimeout(%(timeout)d)
    try:
        s.connect((host, port))
        if send:
            s.sendall(send.encode())
            return "OK:" + s.recv(200).decode()
        return "OK"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
    finally:
        s.close()

def interfaces():
    return sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:])

def gateway():
    for line in open("/proc/net/route").read().splitlines()[1:]:
        f = line.split()
        if f[1] == "00000000":
            return socket.inet_ntoa(int(f[2], 16).to_bytes(4, "little"))
    return None

def my_addr(gw):
    if not gw:
        return None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((gw, 9))
    return s.getsockname()[0]

listener = []

def serve(srv):
    while True:
        c, _ = srv.accept()
        c.sendall(b"sandbox")
        c.close()

def handle(event):
    gw = gateway()
    out = {"ifaces": interfaces(), "gw": gw, "addr": my_addr(gw)}
    if event.get("listen") and not listener:
        srv = socket.socket()
        srv.bind(("0.0.0.0", 0))
        srv.listen(16)
        listener.append(srv.getsockname()[1])
        threading.Thread(target=serve, args=(srv,), daemon=True).start()
    out["port"] = listener[0] if listener else None
    out["connect"] = {k: connect(h, p, s) for k, (h, p, s) in event.get("targets", {}).items()}
    out["resolv"] = open("/etc/resolv.conf").read() if os.path.exists("/etc/resolv.conf") else None
    if event.get("resolve"):
        try:
            out["resolved"] = sorted({a[4][0] for a in socket.getaddrinfo(event["resolve"], 443, socket.AF_INET)})
        except OSError as e:
            out["resolved"] = "error: %%s" %% e
    return out

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    event = json.loads(r.read() or b"{}")
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", "/2018-06-01/runtime/invocation/%%s/response" %% rid, body=json.dumps(handle(event)).encode())
    c.getresponse().read()
''' % {"timeout": CONNECT_TIMEOUT_S}

PEER_SERVER = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, addr = s.accept()
    try:
        c.recv(100)
        c.sendall(("peer:" + addr[0]).encode())
    except OSError:
        pass
    c.close()
'''


def probe_zip():
    return zip_files({"bootstrap": (PROBE, 0o755)})


def sh(*argv, check=True):
    r = run_cmd(list(argv), timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (" ".join(argv), r.stdout, r.stderr))
    return r


def host_connect(host, port, send=None):
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as s:
            if send:
                s.sendall(send.encode())
                return "OK:" + s.recv(200).decode()
            return "OK"
    except OSError as e:
        return repr(e)


def link_names():
    out = sh("ip", "-o", "link", "show").stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def nft_tables():
    return sh("nft", "list", "tables", "inet").stdout.split()


def network_unavailable():
    if os.geteuid() != 0 or harness.runc_path() is None:
        return "needs root and runc"
    if (os.environ.get("ALTO_E2E_DRIVER") or "oci") != "oci":
        return "needs the oci driver"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            return tool + " not installed"
    return None


class Peer:
    """A network namespace outside every sandbox subnet, routed from the host, with a TCP server
    that answers "peer:<source address it saw>" on its own, a link-local and a private address."""

    def __init__(self):
        n = os.getpid() % 12
        self.ns = "altotest-peer-%d" % os.getpid()
        self.host_if = "atph%d" % os.getpid()
        self.peer_if = "atpp%d" % os.getpid()
        # TEST-NET-2, high in the range: this machine's package proxy lives in TEST-NET-3.
        self.host_ip = "198.51.100.%d" % (200 + 4 * n + 1)
        self.peer_ip = "198.51.100.%d" % (200 + 4 * n + 2)
        self.link_local = "169.254.77.%d" % (n + 1)
        self.private = "172.31.254.%d" % (n + 1)
        self.proc = None

    def start(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if, "netns", self.ns)
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        for cmd in (["addr", "add", self.peer_ip + "/30", "dev", self.peer_if],
                    ["addr", "add", self.link_local + "/32", "dev", self.peer_if],
                    ["addr", "add", self.private + "/32", "dev", self.peer_if],
                    ["link", "set", self.peer_if, "up"], ["link", "set", "lo", "up"],
                    ["route", "add", "default", "via", self.host_ip]):
            sh("ip", "-n", self.ns, *cmd)
        for dst in (self.link_local, self.private):
            sh("ip", "route", "add", dst + "/32", "via", self.peer_ip)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "/usr/bin/python3", "-c", PEER_SERVER,
                                      str(PEER_PORT)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError("peer server did not start: %r" % line)

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for dst in (self.link_local, self.private):
            sh("ip", "route", "del", dst + "/32", check=False)
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


class HostListener:
    """A TCP server on every host address (0.0.0.0), the kind of host service a sandbox must not
    reach."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.close()

    def close(self):
        self.sock.close()


def host_addresses():
    out = sh("ip", "-4", "-o", "addr", "show").stdout
    addrs = []
    for line in out.splitlines():
        f = line.split()
        if f[1] != "lo":
            addrs.append(f[3].split("/")[0])
    return addrs


class NetworkTestBase(AltoTestCase):
    server_options = {"extra_args": ("--driver", "oci")}

    @classmethod
    def setUpClass(cls):
        why = network_unavailable()
        if why:
            raise unittest.SkipTest(why)
        cls.peer = Peer()
        try:
            cls.peer.start()
        except BaseException:
            cls.peer.stop()
            raise
        try:
            super().setUpClass()
        except BaseException:
            cls.peer.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.peer.stop()

    def create_probe(self, name, **kw):
        self.create(name, "provided.al2023", "probe", probe_zip(), Timeout=60, **kw)

    def probe(self, name, **event):
        resp, seen, _ = self.invoke(name, event)
        self.assertNotIn("FunctionError", resp, seen)
        return seen

    def network_mode(self, name):
        # boto3 drops response fields it does not know: read the Alto extension from the raw JSON.
        status, _, body = self.server.request("GET", "/2015-03-31/functions/%s/configuration" % name)
        self.assertEqual(status, 200, body)
        return json.loads(body).get("NetworkMode")

    def create_raw(self, name, **extra):
        body = {"FunctionName": name, "Runtime": "provided.al2023", "Handler": "probe", "Role": harness.ROLE,
                "Timeout": 60, "Code": {"ZipFile": base64.b64encode(probe_zip()).decode()}}
        body.update(extra)
        return self.server.request("POST", "/2015-03-31/functions", json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})


class SandboxNetworkTest(NetworkTestBase):
    def test_outbound_reaches_the_outside_through_nat(self):
        name = self.unique("net-out")
        self.create_probe(name)
        self.assertEqual(self.network_mode(name), "default")
        seen = self.probe(name, targets={"peer": [self.peer.peer_ip, PEER_PORT, "hi"]})
        self.assertIn("eth0", seen["ifaces"])
        self.assertIn("lo", seen["ifaces"])
        self.assertTrue(seen["addr"].startswith("10.213."), seen)
        self.assertTrue(seen["gw"].endswith(".1"), seen)
        # The peer saw the host's address on its link, not the sandbox's: masqueraded.
        self.assertEqual(seen["connect"]["peer"], "OK:peer:" + self.peer.host_ip, seen)
        if os.path.exists("/etc/resolv.conf"):
            with open("/etc/resolv.conf") as f:
                self.assertEqual(seen["resolv"], f.read())

    def test_names_resolve_through_the_hosts_resolvers(self):
        name_to_resolve = "deb.debian.org"
        with open("/etc/hosts") as f:
            in_hosts = name_to_resolve in f.read()
        try:
            want = sorted({a[4][0] for a in socket.getaddrinfo(name_to_resolve, 443, socket.AF_INET)})
        except OSError:
            want = None
        if in_hosts or not want:
            self.skipTest("the host resolves no name through DNS")
        name = self.unique("net-dns")
        self.create_probe(name)
        seen = self.probe(name, resolve=name_to_resolve)
        self.assertEqual(seen["resolved"], want, seen)

    def test_host_ports_are_out_of_reach(self):
        listener = HostListener()
        try:
            name = self.unique("net-host")
            self.create_probe(name)
            gw = self.probe(name)["gw"]
            addrs = [gw, self.peer.host_ip] + host_addresses()
            for a in addrs:  # control: the service answers on every host address
                self.assertEqual(host_connect(a, listener.port), "OK", a)
            targets = {"%s:%d" % (a, listener.port): [a, listener.port, ""] for a in addrs}
            targets["api-bridge"] = [gw, self.server.port, ""]
            targets["api-loopback"] = ["127.0.0.1", self.server.port, ""]
            seen = self.probe(name, targets=targets)
            for k, v in seen["connect"].items():
                self.assertNotEqual(v, "OK", "the sandbox reached host port " + k)
        finally:
            listener.close()

    def test_other_sandboxes_are_out_of_reach(self):
        a, b = self.unique("net-a"), self.unique("net-b")
        self.create_probe(a)
        self.create_probe(b)
        seen_a = self.probe(a, listen=True)
        target = [seen_a["addr"], seen_a["port"], "x"]
        self.assertEqual(host_connect(seen_a["addr"], seen_a["port"], "x"), "OK:sandbox")  # control
        seen_b = self.probe(b, targets={"a": target})
        self.assertNotEqual(seen_b["addr"], seen_a["addr"])
        self.assertFalse(seen_b["connect"]["a"].startswith("OK"), seen_b)

    def test_metadata_and_private_addresses_are_out_of_reach(self):
        name = self.unique("net-meta")
        self.create_probe(name)
        for addr in (self.peer.link_local, self.peer.private):  # control: routed, answering
            self.assertTrue(host_connect(addr, PEER_PORT, "x").startswith("OK:peer:"), addr)
        seen = self.probe(name, targets={
            "metadata": ["169.254.169.254", 80, ""],
            "link_local": [self.peer.link_local, PEER_PORT, "x"],
            "private": [self.peer.private, PEER_PORT, "x"],
            "peer": [self.peer.peer_ip, PEER_PORT, "x"]})
        self.assertTrue(seen["connect"]["peer"].startswith("OK:peer:"), seen)
        for k in ("metadata", "link_local", "private"):
            self.assertFalse(seen["connect"][k].startswith("OK"), "%s: %s" % (k, seen["connect"][k]))

    def test_network_mode_none_has_only_loopback(self):
        name = self.unique("net-none")
        status, _, body = self.create_raw(name, NetworkMode="none")
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["NetworkMode"], "none")
        self.assertEqual(self.network_mode(name), "none")
        seen = self.probe(name, targets={"peer": [self.peer.peer_ip, PEER_PORT, "x"]})
        # It answered, so its own Runtime API (on its loopback) works.
        self.assertEqual(seen["ifaces"], ["lo"])
        self.assertIsNone(seen["gw"])
        self.assertEqual(seen["connect"]["peer"], "ENETUNREACH")
        self.assertIsNone(seen["resolv"])
        # Back to default: the next sandbox (a new revision) has eth0 again.
        status, _, body = self.server.request("PUT", "/2015-03-31/functions/%s/configuration" % name,
                                              json.dumps({"NetworkMode": "default"}).encode(),
                                              {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        seen = self.probe(name, targets={"peer": [self.peer.peer_ip, PEER_PORT, "x"]})
        self.assertIn("eth0", seen["ifaces"])
        self.assertTrue(seen["connect"]["peer"].startswith("OK:peer:"), seen)

    def test_network_mode_is_validated(self):
        self.assertLambdaError(self.create_raw(self.unique("net-bad"), NetworkMode="bridge"), 400,
                               "InvalidParameterValueException", "NetworkMode")
        name = self.unique("net-upd")
        self.create_probe(name)
        self.assertLambdaError(self.server.request("PUT", "/2015-03-31/functions/%s/configuration" % name,
                                                   json.dumps({"NetworkMode": 7}).encode(),
                                                   {"Content-Type": "application/json"}),
                               400, "InvalidParameterValueException")
        self.assertEqual(self.network_mode(name), "default")

    def test_cli_deploy_network_none(self):
        name = self.unique("net-cli")
        with harness.tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bootstrap")
            with open(path, "w") as f:
                f.write(PROBE)
            os.chmod(path, 0o755)
            r = self.server.alto("deploy", d, "--name", name, "--runtime", "provided.al2023",
                                 "--handler", "probe", "--network", "none")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(self.network_mode(name), "none")
            r = self.server.alto("deploy", d, "--name", name, "--runtime", "provided.al2023",
                                 "--handler", "probe", "--network", "sideways")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("NetworkMode", r.stdout + r.stderr)
        self.assertEqual(self.network_mode(name), "none")
        seen = self.probe(name)
        self.assertEqual(seen["ifaces"], ["lo"])


# The leftover tests count veths per sandbox: no stem cells (each has its own veth) on the side.
NO_STEMS = ("--driver", "oci", "--stem-ceiling", "0")


class StemCellNetworkTest(NetworkTestBase):
    """A stem cell is started with its network attached; a function it serves is networked like
    any other, and a NetworkMode none function never takes one."""

    server_options = {"extra_args": ("--driver", "oci", "--stem-runtimes", "provided.al2023")}

    def wait_for_stem(self):
        deadline = time.monotonic() + 30
        while self.server.metric("alto_stem_cells_ready") < 1:
            self.assertLess(time.monotonic(), deadline, "no stem cell became ready")
            time.sleep(0.05)

    def test_function_served_by_a_stem_is_networked(self):
        self.wait_for_stem()
        hits = self.server.metric("alto_stem_pool_hits_total")
        name = self.unique("net-stem")
        self.create_probe(name)
        seen = self.probe(name, targets={"peer": [self.peer.peer_ip, PEER_PORT, "hi"]})
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), hits + 1)
        self.assertIn("eth0", seen["ifaces"])
        self.assertEqual(seen["connect"]["peer"], "OK:peer:" + self.peer.host_ip, seen)

    def test_network_mode_none_never_takes_a_stem(self):
        self.wait_for_stem()
        hits = self.server.metric("alto_stem_pool_hits_total")
        name = self.unique("net-stem-none")
        status, _, body = self.create_raw(name, NetworkMode="none")
        self.assertEqual(status, 201, body)
        seen = self.probe(name)
        self.assertEqual(seen["ifaces"], ["lo"], seen)
        self.assertEqual(self.server.metric("alto_stem_pool_hits_total"), hits)


class NetworkLeftoversTest(unittest.TestCase):
    """Two servers side by side get separate slices; a kill -9 leaves veths and rules that the
    restart (and only it) removes; a clean stop removes the bridge and the rules."""

    @classmethod
    def setUpClass(cls):
        why = network_unavailable()
        if why:
            raise unittest.SkipTest(why)

    def deploy_and_invoke(self, server, count):
        lam = server.client()
        for i in range(count):
            name = "leftover-%d-%d" % (os.getpid() % 10000, i)
            lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="probe", Role=harness.ROLE,
                                Code={"ZipFile": probe_zip()}, Timeout=60)
            resp = lam.invoke(FunctionName=name, Payload=b"{}")
            self.assertNotIn("FunctionError", resp)
            json.loads(resp["Payload"].read())

    def slice_key(self, server):
        with open(os.path.join(server.state_dir, "network-slice")) as f:
            a, b, c, _ = f.read().split("/")[0].split(".")
        return "%02x%02x%02x" % (int(a), int(b), int(c))

    def objects(self, key):
        links = [n for n in link_names() if n in ("altob" + key,) or n.startswith("altov" + key)]
        return links, nft_tables().count("alto_" + key)

    def test_kill9_then_restart_removes_leftovers(self):
        a = AltoServer(name="net-a", extra_args=NO_STEMS)
        b = AltoServer(name="net-b", extra_args=NO_STEMS)
        try:
            a.start()
            b.start()
            ka, kb = self.slice_key(a), self.slice_key(b)
            self.assertNotEqual(ka, kb, "two live servers share a slice")
            self.deploy_and_invoke(a, 2)
            self.deploy_and_invoke(b, 1)
            links_a, tables_a = self.objects(ka)
            self.assertEqual(len([n for n in links_a if n.startswith("altov")]), 2, links_a)
            self.assertEqual(tables_a, 1)
            a.kill9()
            self.assertEqual(len(self.objects(ka)[0]), 3, "the dead server's objects are there to clean")
            restarted = AltoServer(name="net-a2", data_dir=a.data_dir, state_dir=a.state_dir,
                                   extra_args=NO_STEMS)
            try:
                restarted.start()
                self.assertEqual(self.slice_key(restarted), ka)
                links, tables = self.objects(ka)
                self.assertEqual(links, ["altob" + ka], "veths of the dead server remain")
                self.assertEqual(tables, 1)
                # The neighbour lost nothing.
                links_b, tables_b = self.objects(kb)
                self.assertEqual(len(links_b), 2, links_b)
                self.assertEqual(tables_b, 1)
                restarted.stop()
            finally:
                restarted.cleanup()
            self.assertEqual(self.objects(ka), ([], 0), "a clean stop leaves the bridge or rules")
            b.stop()
            self.assertEqual(self.objects(kb), ([], 0))
        finally:
            for s in (a, b):
                s.cleanup()

    def test_another_server_sweeps_a_dead_servers_slice(self):
        a = AltoServer(name="net-dead", extra_args=NO_STEMS)
        c = AltoServer(name="net-sweeper", extra_args=NO_STEMS)
        try:
            a.start()
            ka = self.slice_key(a)
            self.deploy_and_invoke(a, 1)
            self.assertEqual(len(self.objects(ka)[0]), 2)
            a.kill9()
            c.start()  # a different state dir: it may not reuse the slice, but must clean it
            kc = self.slice_key(c)
            if kc != ka:
                self.assertEqual(self.objects(ka), ([], 0), "the dead server's bridge, veths or rules remain")
            else:
                self.assertEqual(self.objects(ka)[0], ["altob" + ka])
            c.stop()
        finally:
            a.remove_leftover_sandboxes()
            for s in (a, c):
                s.cleanup()


class SliceGrowthTest(NetworkTestBase):
    """A /24 slice holds 253 sandboxes: past that the server claims another slice (a bridge of its
    own) instead of refusing starts, and sandboxes there are networked and isolated like any."""

    HELD = 262  # with probe A, more than one slice's 253 addresses
    # Long enough that every caller holds its sandbox at once even when starts are slow: CI runs
    # this beside another e2e module on 2 cores, where 262 starts took longer than 15 s and the
    # first sandboxes were free again (reused) before the last callers arrived.
    HOLD_MS = 40000
    server_options = {"extra_args": ("--driver", "oci", "--stem-ceiling", "0", "--max-concurrency", "300",
                                     "--memory-capacity-mb", str(300 * 128))}

    def held_invoke(self, name):
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=120)
        try:
            target = "/2015-03-31/functions/%s/invocations" % name
            sent = time.monotonic()
            conn.request("POST", target, b"{}", self.server.sign("POST", target, b"{}"))
            resp = conn.getresponse()
            return resp.status, resp.read(), sent, time.monotonic()
        finally:
            conn.close()

    def test_a_full_slice_claims_another(self):
        a, b, filler = self.unique("slice-a"), self.unique("slice-b"), self.unique("slice-fill")
        self.create_probe(a)
        self.create_probe(b)
        with open(harness.HELLO_PROVIDED_BOOTSTRAP, "rb") as f:
            self.create(filler, "provided.al2023", "bootstrap", zip_files({"bootstrap": (f.read(), 0o755)}),
                        Timeout=90, Environment={"Variables": {"HELLO_HOLD_MS": str(self.HOLD_MS)}})
        seen_a = self.probe(a, listen=True)
        # HELD callers at once, each holding its sandbox: every one needs a sandbox of its own.
        with ThreadPoolExecutor(max_workers=self.HELD) as pool:
            results = list(pool.map(lambda _: self.held_invoke(filler), range(self.HELD), timeout=240))
        failed = [(s, body[:200]) for s, body, _, _ in results if s != 200]
        self.assertEqual(failed, [], "callers past one slice's 253 addresses were refused")
        # The premise: every caller was in flight while the first still held its sandbox.
        last_sent, first_done = max(r[2] for r in results), min(r[3] for r in results)
        self.assertLess(last_sent, first_done, "the callers did not overlap; the test proves nothing")
        claimed = [line for line in self.server.log_text().splitlines() if "claimed" in line]
        self.assertTrue(claimed, "no second slice was claimed")
        # The fillers now idle warm: B needs an address, and slice A's are all taken.
        seen_b = self.probe(b, targets={"peer": [self.peer.peer_ip, PEER_PORT, "hi"],
                                        "a": [seen_a["addr"], seen_a["port"], "x"]})
        slice_of = lambda addr: addr.rsplit(".", 1)[0]  # noqa: E731
        self.assertNotEqual(slice_of(seen_b["addr"]), slice_of(seen_a["addr"]), (seen_a, seen_b))
        self.assertEqual(seen_b["gw"], slice_of(seen_b["addr"]) + ".1", seen_b)
        self.assertEqual(seen_b["connect"]["peer"], "OK:peer:" + self.peer.host_ip, seen_b)
        self.assertEqual(host_connect(seen_a["addr"], seen_a["port"], "x"), "OK:sandbox")  # control
        self.assertFalse(seen_b["connect"]["a"].startswith("OK"), seen_b)


if __name__ == "__main__":
    unittest.main()
