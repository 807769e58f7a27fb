"""Two Alto servers on one etcd (a real etcd from Debian, started here): what one node's API changes,
the other node serves, because each node follows the state rather than its own handlers. And when
etcd goes away, writes answer 503 with Retry-After while functions already known keep running;
when it returns, everything resumes."""

import json
import shutil
import tempfile
import time
import unittest

import harness
from harness import AltoServer, EtcdServer, ROLE, wait_until, zip_files


def handler_zip(tag):
    return zip_files({"app.py": ("def handler(event, context):\n    return {'tag': %r}\n" % tag).encode()})


class TwoNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdServer().start()
        state = "etcd://%s/cluster-test" % cls.etcd.endpoint
        # Code packages are not replicated between nodes yet: the nodes share a code folder, as
        # they would a shared filesystem.
        cls.code_dir = tempfile.mkdtemp(prefix="alto-e2e-code-")
        args = ("--code-dir", cls.code_dir)
        cls.a = AltoServer(name="node-a", state=state, extra_args=args)
        cls.b = AltoServer(name="node-b", state=state, extra_args=args)
        try:
            cls.a.start()
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
        shutil.rmtree(cls.code_dir, ignore_errors=True)

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


if __name__ == "__main__":
    unittest.main()
