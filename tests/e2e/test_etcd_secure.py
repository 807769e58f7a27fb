"""Alto on an etcd that is locked down as production clusters are: client URLs over TLS that
require a client certificate, and etcd's own authentication enabled. The server reaches it with
--state-ca/--state-cert/--state-key and ALTO_STATE_USER/ALTO_STATE_PASSWORD; a wrong password,
a missing CA or a missing client certificate stops the start with an error that says what failed.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_etcd_secure -v
"""

import json
import os
import shutil
import tempfile
import unittest

import harness
from harness import AltoServer, EtcdServer, ROLE, run_cmd, zip_files

PASSWORD = "s3cret-Pass"


def openssl(*args):
    out = run_cmd(["openssl"] + list(args))
    if out.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), out.stderr))


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    files = {n: os.path.join(d, n) for n in ("ca.key", "ca.crt", "server.key", "server.crt", "client.key",
                                              "client.crt", "cn-client.key", "cn-client.crt", "ext.cnf",
                                              "other-ca.key", "other-ca.crt")}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=alto-test-ca",
            "-keyout", files["ca.key"], "-out", files["ca.crt"])
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=someone-else",
            "-keyout", files["other-ca.key"], "-out", files["other-ca.crt"])
    with open(files["ext.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    # etcd's JSON gateway refuses a client certificate with a CommonName once auth is enabled
    # (CVE-2018-16886): Alto's client certificate has none; cn-client shows the refusal.
    for who, subject in (("server", "/CN=127.0.0.1"), ("client", "/O=alto-node"), ("cn-client", "/CN=alto-node")):
        csr = os.path.join(d, who + ".csr")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", files[who + ".key"],
                "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", files["ca.crt"], "-CAkey", files["ca.key"], "-CAcreateserial",
                "-days", "2", "-extfile", files["ext.cnf"], "-out", files[who + ".crt"])
    return files


class SecureEtcdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="alto-e2e-pki-")
        cls.pki = make_pki(cls.pki_dir)
        cls.etcd = EtcdServer(tls={"ca": cls.pki["ca.crt"], "cert": cls.pki["server.crt"],
                                   "key": cls.pki["server.key"]})
        try:
            cls.etcd.start()
            for args in (("user", "add", "root:" + PASSWORD), ("auth", "enable")):
                out = cls.etcd.etcdctl(*args)
                if out.returncode != 0:
                    raise RuntimeError("etcdctl %s: %s" % (" ".join(args), out.stderr))
        except BaseException:
            cls.tearDownClass()
            raise
        cls.state = "etcd://%s/secure-test" % cls.etcd.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.etcd.cleanup()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def tls_args(self, ca="ca.crt", cert="client.crt", key="client.key"):
        args = []
        if ca:
            args += ["--state-ca", self.pki[ca]]
        if cert:
            args += ["--state-cert", self.pki[cert], "--state-key", self.pki[key]]
        return args

    def start_failure(self, args, user="root", password=PASSWORD):
        """Runs a server that must refuse to start; returns its output."""
        data = tempfile.mkdtemp(prefix="alto-e2e-")
        try:
            env = {"ALTO_STATE_USER": user, "ALTO_STATE_PASSWORD": password}
            out = run_cmd([harness.ALTO_BIN, "server", "--listen", "127.0.0.1:0", "--data-dir",
                           os.path.join(data, "data"), "--state", self.state] + args, env=env, timeout=60)
            self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
            return out.stdout + out.stderr
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_functions_work_over_tls_with_auth(self):
        saved = {k: os.environ.get(k) for k in ("ALTO_STATE_USER", "ALTO_STATE_PASSWORD")}
        os.environ.update({"ALTO_STATE_USER": "root", "ALTO_STATE_PASSWORD": PASSWORD})
        server = AltoServer(name="secure", state=self.state, extra_args=self.tls_args())
        try:
            server.start()
            lam = server.client()
            code = zip_files({"app.py": b"def handler(event, context):\n    return {'secure': event}\n"})
            lam.create_function(FunctionName="over-tls", Runtime="python3.12", Handler="app.handler",
                                Role=ROLE, Code={"ZipFile": code})
            body = json.loads(lam.invoke(FunctionName="over-tls", Payload=b'{"n":1}')["Payload"].read())
            self.assertEqual(body, {"secure": {"n": 1}})
            # The function is in etcd, under the namespace, readable only with credentials.
            out = self.etcd.etcdctl("get", "--prefix", "--keys-only", "/secure-test/", user="root:" + PASSWORD)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("over-tls", out.stdout)
            denied = self.etcd.etcdctl("get", "--prefix", "--keys-only", "/secure-test/")
            self.assertNotIn("over-tls", denied.stdout)
            # It survives a restart of the node on the same etcd.
            server.stop()
            server.start()
            self.assertEqual(server.client().get_function(FunctionName="over-tls")["Configuration"]["FunctionName"],
                             "over-tls")
        finally:
            server.cleanup()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_wrong_password_is_a_clear_start_error(self):
        text = self.start_failure(self.tls_args(), password="not-the-password")
        self.assertIn(self.etcd.endpoint, text)
        self.assertRegex(text.lower(), r"auth|password|credential")

    def test_untrusted_server_certificate_is_refused(self):
        text = self.start_failure(self.tls_args(ca="other-ca.crt"))
        self.assertIn(self.etcd.endpoint, text)
        self.assertRegex(text.lower(), r"certificate|verify|tls|handshake")

    def test_plain_http_to_a_tls_etcd_fails_clearly(self):
        text = self.start_failure([])
        self.assertIn(self.etcd.endpoint, text)

    def test_client_certificate_with_a_common_name_gets_advice(self):
        text = self.start_failure(self.tls_args(cert="cn-client.crt", key="cn-client.key"))
        self.assertIn(self.etcd.endpoint, text)
        self.assertIn("without a CN", text)

    def test_missing_client_certificate_is_refused(self):
        text = self.start_failure(self.tls_args(cert=None))
        self.assertIn(self.etcd.endpoint, text)


if __name__ == "__main__":
    unittest.main()
