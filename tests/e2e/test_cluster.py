"""Two Alto servers on one etcd (a real etcd from Debian, started here): what one node's API changes,
the other node serves, because each node follows the state rather than its own handlers. And when
etcd goes away, writes answer 503 with Retry-After while functions already known keep running;
when it returns, everything resumes."""

import collections
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
import time
import unittest

import harness
from harness import AltoServer, EtcdServer, ROLE, wait_until, zip_files
from test_async import create_queue, queue_arn, read_queue, send_events


def handler_zip(tag):
    return zip_files({"app.py": ("def handler(event, context):\n    return {'tag': %r}\n" % tag).encode()})


class TwoNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdServer().start()
        state = "etcd://%s/cluster-test" % cls.etcd.endpoint
        # Each node keeps its own code packages (its data dir's code/), and fetches from the other
        # the packages uploaded there.
        cls.a = AltoServer(name="node-a", state=state)
        cls.b = AltoServer(name="node-b", state=state)
        try:
            cls.a.start()
            # Nodes on one state share the data dir's secret.key (it seals the access keys).
            os.makedirs(cls.b.data_dir, exist_ok=True)
            shutil.copy(os.path.join(cls.a.data_dir, "secret.key"), os.path.join(cls.b.data_dir, "secret.key"))
            cls.b.start()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.lam_a, cls.lam_b = cls.a.client(), cls.b.client()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            s.cleanup()
        cls.etcd.cleanup()

    def invoke_tag(self, lam, name, **kw):
        resp = lam.invoke(FunctionName=name, **kw)
        body = json.loads(resp["Payload"].read())
        return body.get("tag") if isinstance(body, dict) else body

    def eventually(self, predicate, what, timeout=10):
        self.assertTrue(wait_until(predicate, timeout, interval=0.1), what)

    def test_changes_on_one_node_are_served_by_the_other(self):
        name = "cluster-fn"
        self.lam_a.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                   Role=ROLE, Code={"ZipFile": handler_zip("v1")})
        self.assertEqual(self.invoke_tag(self.lam_b, name), "v1")
        # An update on A retires B's sandboxes of the old code.
        self.lam_a.update_function_code(FunctionName=name, ZipFile=handler_zip("v2"))
        self.eventually(lambda: self.invoke_tag(self.lam_b, name) == "v2", "B still runs the old code")
        # Versions and aliases made on A resolve on B.
        self.lam_a.publish_version(FunctionName=name)
        self.lam_a.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        self.assertEqual(self.invoke_tag(self.lam_b, name, Qualifier="live"), "v2")
        # A URL made on A answers on B.
        self.lam_a.create_function_url_config(FunctionName=name, AuthType="NONE")
        self.eventually(lambda: self.b.request("GET", "/url/%s/" % name, signed=False)[0] == 200,
                        "B does not serve the URL made on A")
        # A reservation set on A is enforced on B.
        self.lam_a.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        self.eventually(lambda: self.b.request("POST", "/2015-03-31/functions/%s/invocations" % name,
                                               b"{}")[0] == 429, "B ignores A's reservation of 0")
        self.lam_a.delete_function_concurrency(FunctionName=name)
        # Deleted on A: gone on B, URL included.
        self.lam_a.delete_function(FunctionName=name)
        self.eventually(lambda: self.b.request("POST", "/2015-03-31/functions/%s/invocations" % name,
                                               b"{}")[0] == 404, "B still invokes a deleted function")
        self.eventually(lambda: self.b.request("GET", "/url/%s/" % name, signed=False)[0] == 404,
                        "B still serves a deleted function's URL")

    def test_code_uploaded_to_one_node_runs_on_the_other(self):
        name = "cluster-code"
        zip_bytes = handler_zip("from-a")
        digest = hashlib.sha256(zip_bytes).hexdigest()
        self.lam_a.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                   Role=ROLE, Code={"ZipFile": zip_bytes})
        b_code = os.path.join(self.b.data_dir, "code", digest + ".zip")
        self.assertFalse(os.path.exists(b_code), "B has the package before it needed it")
        # B's first invocation fetches the package from A, checks its digest and keeps it.
        self.assertEqual(self.invoke_tag(self.lam_b, name), "from-a")
        with open(b_code, "rb") as f:
            self.assertEqual(f.read(), zip_bytes)
        self.assertIn("fetched from node", self.b.log_text())
        # GetFunction's Code.Location on B serves the same bytes (a new version's code, this time).
        self.lam_a.update_function_code(FunctionName=name, ZipFile=handler_zip("second"))
        location = self.lam_b.get_function(FunctionName=name)["Code"]["Location"]
        with urllib.request.urlopen(location, timeout=30) as resp:
            self.assertEqual(resp.read(), handler_zip("second"))

    def test_peer_code_route_needs_a_node_token(self):
        name = "cluster-token"
        zip_bytes = handler_zip("secret-code")
        digest = hashlib.sha256(zip_bytes).hexdigest()
        self.lam_a.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                   Role=ROLE, Code={"ZipFile": zip_bytes})
        path = "/v1/internal/code/" + digest
        for headers in ({}, {"X-Alto-Node-Token": "bm90LWEtdG9rZW4="}, {"X-Alto-Node-Token": "x" * 5000}):
            status, _, body = self.a.request("GET", path, headers=headers, signed=False)
            self.assertEqual(status, 403, body)
            self.assertNotIn(zip_bytes, body)
        # A SigV4-signed request of the admin is no node token either.
        status, _, body = self.a.request("GET", path)
        self.assertEqual(status, 403, body)
        status, _, _ = self.a.request("GET", "/v1/internal/code/../../etc/passwd", signed=False)
        self.assertIn(status, (400, 404))

    def test_etcd_down_writes_refused_known_functions_run(self):
        name = "cluster-outage"
        self.lam_a.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                                   Role=ROLE, Code={"ZipFile": handler_zip("up")})
        self.assertEqual(self.invoke_tag(self.lam_a, name), "up")  # known to A now
        self.etcd.stop()
        try:
            status, headers, body = self.a.request(
                "POST", "/2015-03-31/functions",
                json.dumps({"FunctionName": "cluster-refused", "Runtime": "python3.12",
                            "Handler": "app.handler", "Role": ROLE,
                            "Code": {"ZipFile": __import__("base64").b64encode(handler_zip("x")).decode()}}).encode(),
                timeout=60)
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("x-amzn-ErrorType"), "ServiceException", body)
            self.assertEqual(headers.get("Retry-After"), "1")
            self.assertIn(self.etcd.endpoint, body.decode())
            # The function A already knows keeps running.
            self.assertEqual(self.invoke_tag(self.lam_a, name), "up")
        finally:
            self.etcd.start_again()
        # Back: writes work, and B follows again.
        self.eventually(lambda: self.a.request("DELETE", "/2015-03-31/functions/%s" % name)[0] == 204,
                        "writes do not resume after etcd returns", timeout=30)
        self.eventually(lambda: self.b.request("POST", "/2015-03-31/functions/%s/invocations" % name,
                                               b"{}")[0] == 404, "B did not follow after etcd returned",
                        timeout=30)


# Slow enough that some events are in a sandbox on node A (claimed on A's lease) when A is killed.
PY_SLOW_ECHO = '''
import time
def handler(event, context):
    time.sleep(0.3)
    return {"id": event["id"]}
'''


class SharedAsyncQueueTest(unittest.TestCase):
    """Two nodes on one etcd share the async queue: node A acknowledges events with 202 and is
    killed -9 right after; node B runs every one of them, those A had in a sandbox included once
    A's lease ran out (their claims vanish with it). 0 lost."""

    N = 60

    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdServer().start()
        state = "etcd://%s/async-cluster" % cls.etcd.endpoint
        cls.code_dir = tempfile.mkdtemp(prefix="alto-e2e-code-")
        args = ("--code-dir", cls.code_dir, "--async-retry-scale", "0.01")
        cls.a = AltoServer(name="async-a", state=state, extra_args=args)
        cls.b = AltoServer(name="async-b", state=state, extra_args=args)
        try:
            cls.a.start()
            # The access keys in the shared state are sealed with A's secret.key: B needs it too.
            os.makedirs(cls.b.data_dir, exist_ok=True)
            shutil.copy2(os.path.join(cls.a.data_dir, "secret.key"),
                         os.path.join(cls.b.data_dir, "secret.key"))
            cls.b.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            s.cleanup()
        cls.etcd.cleanup()
        shutil.rmtree(cls.code_dir, ignore_errors=True)

    def test_events_of_a_killed_node_run_on_the_other(self):
        lam_a = self.a.client()
        create_queue(self.a, "cluster-done")
        lam_a.create_function(FunctionName="cluster-async", Runtime="python3.12",
                              Handler="app.handler", Role=ROLE,
                              Code={"ZipFile": zip_files({"app.py": PY_SLOW_ECHO.encode()})})
        lam_a.put_function_event_invoke_config(
            FunctionName="cluster-async",
            DestinationConfig={"OnSuccess": {"Destination": queue_arn("cluster-done")}})
        ids = ["c-%03d" % i for i in range(self.N)]
        results = send_events(self.a, "cluster-async", [{"id": i} for i in ids], threads=8)
        self.assertEqual([r[1] for r in results], [202] * self.N, results[:3])
        self.a.kill9()
        t0 = time.monotonic()
        seen = collections.Counter()
        counts = collections.Counter()
        deadline = t0 + 90
        while time.monotonic() < deadline and not all(seen[i] for i in ids):
            batch = read_queue(self.b, "cluster-done")
            for m in batch:
                rec = json.loads(m["Body"])
                seen[rec["requestPayload"]["id"]] += 1
                counts[rec["requestContext"]["approximateInvokeCount"]] += 1
            if not batch:
                time.sleep(0.2)
        lost = [i for i in ids if not seen[i]]
        print("\n  %d events acknowledged by A, A killed; B delivered %d distinct in %.1f s "
              "(records by approximateInvokeCount: %s)"
              % (self.N, self.N - len(lost), time.monotonic() - t0, dict(sorted(counts.items()))))
        self.assertEqual(lost, [], "events lost with node A")


if __name__ == "__main__":
    unittest.main()
