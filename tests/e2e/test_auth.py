"""Accounts, access keys and SigV4 (issue 15): nobody gets in without a key.

Every request to a real `alto server` is verified: the aws CLI, boto3 and the alto CLI with the
admin key work; a wrong secret, an unknown key, no signature, a tampered body, a replay outside
the window and malformed Authorization headers are refused with Lambda's modeled errors and change
nothing; keys with a policy are held to it; disabled and deleted keys stop at once; Code.Location
is presigned; control-plane changes land in the audit log; a data dir from before accounts keeps
its functions.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_auth -v
"""

import datetime
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import REGION, ROLE, AltoServer, AltoTestCase, zip_files  # noqa: E402
from hostile_cases import parse_responses, sign_raw  # noqa: E402

FUNCTIONS = "/2015-03-31/functions"
PY_ECHO = "def handler(event, context):\n    return {'echo': event}\n"


def client_with(server, key_id, secret, **cfg):
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **cfg))


def code_of(exc):
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def create_body(name):
    import base64
    return json.dumps({"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
                       "Code": {"ZipFile": base64.b64encode(zip_files({"app.py": PY_ECHO})).decode()}})


class SigV4Test(AltoTestCase):
    """Signatures: what gets in and what is refused, with the error each SDK expects."""

    def assert_refused(self, res, error_type, message_re=None):
        status, headers, body = res
        self.assertEqual(status, 403, body[:300])
        self.assertEqual(re.split("[:#]", headers.get("x-amzn-ErrorType") or "")[0], error_type, body[:300])
        doc = json.loads(body)
        if message_re:
            self.assertRegex(doc.get("Message") or doc.get("message"), message_re)

    def raw(self, method, path, body=b"", extra_headers=(), signed_headers=None, when=None, key_id="test",
            secret="test", service="lambda", tamper=None):
        """A raw request signed by the test's own signer (hostile_cases.sign_raw); `tamper` edits the
        raw bytes after signing."""
        import socket
        host = ("%s:%d" % (self.server.host, self.server.port)).encode()
        headers = [b"Host: " + host] + list(extra_headers)
        if body:
            headers.append(b"Content-Type: application/json")
        auth = sign_raw(method.encode(), path.encode(), headers, body, key_id=key_id, secret=secret,
                        service=service, when=when)
        head = b"%s %s HTTP/1.1\r\nConnection: close\r\n" % (method.encode(), path.encode())
        for h in headers + auth:
            head += h + b"\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        data = head + body
        if tamper:
            data = tamper(data)
        with socket.create_connection((self.server.host, self.server.port), timeout=30) as s:
            s.sendall(data)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        resps = parse_responses(out)
        self.assertTrue(resps, "no HTTP answer: %r" % out[:300])
        status, hdrs, rbody = resps[0]
        return status, harness.Headers(list(hdrs.items())), rbody

    def test_admin_key_works_with_boto3_aws_cli_and_alto(self):
        name = self.unique("ok")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        _, body, _ = self.invoke(name, {"a": 1})
        self.assertEqual(body, {"echo": {"a": 1}})
        out = self.server.aws("lambda", "get-function", "--function-name", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = self.server.alto("ls")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(name, out.stdout)

    def test_our_signer_agrees_with_the_server(self):
        # The raw signer the refusal tests build on must itself get through, or they prove nothing.
        status, _, body = self.raw("GET", FUNCTIONS + "?MaxItems=5")
        self.assertEqual(status, 200, body)

    def test_unsigned_request_is_refused_and_creates_nothing(self):
        name = self.unique("unsigned")
        res = self.server.request("POST", FUNCTIONS, create_body(name), {"Content-Type": "application/json"},
                                  signed=False)
        self.assert_refused(res, "MissingAuthenticationTokenException", "Missing Authentication Token")
        self.assertNotIn(name, self.function_names())
        # Every operation, not just create: invoke, list, metrics, the native routes.
        for method, path in (("GET", FUNCTIONS), ("POST", FUNCTIONS + "/x/invocations"), ("GET", "/metrics"),
                             ("GET", "/v1/queues"), ("GET", "/v1/keys"), ("GET", "/nope")):
            self.assert_refused(self.server.request(method, path, signed=False),
                                "MissingAuthenticationTokenException")
        status, _, body = self.server.request("GET", "/healthz", signed=False)
        self.assertEqual(status, 200, body)

    def test_wrong_secret_is_refused(self):
        name = self.unique("wrongsecret")
        bad = client_with(self.server, "test", "not-the-secret")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            bad.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zip_files({"app.py": PY_ECHO})})
        self.assertEqual(code_of(cm.exception), ("InvalidSignatureException", 403))
        self.assertRegex(str(cm.exception), "The request signature we calculated does not match")
        for call in (lambda: bad.list_functions(), lambda: bad.invoke(FunctionName="x")):
            with self.assertRaises(bad.exceptions.ClientError) as cm:
                call()
            self.assertEqual(code_of(cm.exception), ("InvalidSignatureException", 403))
        self.assertNotIn(name, self.function_names())

    def test_unknown_key_is_refused(self):
        bad = client_with(self.server, "AKIANOSUCHKEY0000000", "whatever")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            bad.list_functions()
        self.assertEqual(code_of(cm.exception), ("UnrecognizedClientException", 403))
        out = harness.run_cmd([harness.shutil.which("aws") or "aws", "--endpoint-url", self.server.endpoint,
                               "lambda", "list-functions"],
                              env={"AWS_ACCESS_KEY_ID": "AKIANOSUCHKEY0000000", "AWS_SECRET_ACCESS_KEY": "x"})
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("UnrecognizedClientException", out.stderr)

    def test_tampered_body_is_refused(self):
        name = self.unique("tamper")
        body = create_body(name).encode()
        # The same length, so only the signature can tell.
        res = self.raw("POST", FUNCTIONS, body, tamper=lambda d: d.replace(b'"app.handler"', b'"app.handlex"'))
        self.assert_refused(res, "InvalidSignatureException", "signature we calculated does not match")
        self.assertNotIn(name, self.function_names())
        status, _, rbody = self.raw("POST", FUNCTIONS, body)  # untampered, it goes through
        self.assertEqual(status, 201, rbody)

    def test_replay_outside_the_window_is_refused(self):
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=16)
        self.assert_refused(self.raw("GET", FUNCTIONS, when=old), "InvalidSignatureException", "Signature expired")
        future = datetime.datetime.utcnow() + datetime.timedelta(minutes=16)
        self.assert_refused(self.raw("GET", FUNCTIONS, when=future), "InvalidSignatureException",
                            "Signature (expired|not yet current)")
        recent = datetime.datetime.utcnow() - datetime.timedelta(minutes=4)
        status, _, body = self.raw("GET", FUNCTIONS, when=recent)
        self.assertEqual(status, 200, body)

    def test_malformed_authorization_headers(self):
        def with_auth(value):
            def edit(data):
                return re.sub(rb"Authorization: [^\r]*", b"Authorization: " + value, data)
            return edit

        def auth_edit(fn):
            def edit(data):
                m = re.search(rb"Authorization: ([^\r]*)", data)
                return data[:m.start(1)] + fn(m.group(1)) + data[m.end(1):]
            return edit

        cases = {
            "no Signature": auth_edit(lambda a: re.sub(rb", Signature=[0-9a-f]+", b"", a)),
            "no Credential": auth_edit(lambda a: re.sub(rb"Credential=[^,]+, ", b"", a)),
            "no SignedHeaders": auth_edit(lambda a: re.sub(rb"SignedHeaders=[^,]+, ", b"", a)),
            "duplicate Credential": auth_edit(lambda a: a + b", Credential=test/20260101/us-east-1/lambda/aws4_request"),
            "scope of 4 parts": auth_edit(lambda a: a.replace(b"/lambda/aws4_request", b"/aws4_request")),
            "bad terminator": auth_edit(lambda a: a.replace(b"aws4_request", b"aws5_request")),
            "scope date differs": auth_edit(lambda a: re.sub(rb"(Credential=test/)\d{8}", rb"\g<1>20200101", a)),
            "garbage": with_auth(b"nonsense, of=no, use"),
        }
        for what, edit in cases.items():
            with self.subTest(what):
                self.assert_refused(self.raw("GET", FUNCTIONS, tamper=edit), "IncompleteSignatureException")
        with self.subTest("empty"):
            self.assertEqual(self.raw("GET", FUNCTIONS, tamper=with_auth(b""))[0], 403)
        with self.subTest("wrong algorithm"):
            res = self.raw("GET", FUNCTIONS, tamper=auth_edit(lambda a: a.replace(b"AWS4-HMAC-SHA256", b"AWS4-HMAC-SHA1")))
            self.assertEqual(res[0], 403, res[2])
            self.assertIn(res[1].get("x-amzn-ErrorType").split(":")[0],
                          ("IncompleteSignatureException", "InvalidSignatureException"))
        with self.subTest("wrong service in the scope"):
            self.assert_refused(self.raw("GET", FUNCTIONS, service="s3"), "IncompleteSignatureException",
                                "lambda")
        with self.subTest("a signed header that is absent"):
            res = self.raw("GET", FUNCTIONS, extra_headers=[b"X-Extra: 1"],
                           tamper=lambda d: d.replace(b"X-Extra: 1\r\n", b""))
            self.assertEqual(res[0], 403, res[2])
        with self.subTest("a different region is fine (clients sign with their configured one)"):
            bad_region = boto3.client("lambda", endpoint_url=self.server.endpoint, region_name="eu-west-1",
                                      aws_access_key_id="test", aws_secret_access_key="test")
            self.assertIn("Functions", bad_region.list_functions())

    def test_code_location_is_presigned(self):
        name = self.unique("loc")
        zip_bytes = zip_files({"app.py": PY_ECHO})
        self.create(name, "python3.12", "app.handler", zip_bytes)
        loc = self.lam.get_function(FunctionName=name)["Code"]["Location"]
        self.assertIn("X-Amz-Signature=", loc)
        self.assertRegex(loc, r"X-Amz-Expires=600(&|$)")
        with urllib.request.urlopen(loc, timeout=30) as r:  # no credentials: the URL is enough
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), zip_bytes)
        tampered = re.sub(r"X-Amz-Signature=([0-9a-f])", lambda m: "X-Amz-Signature=" + ("1" if m.group(1) != "1" else "2"),
                          loc)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(tampered, timeout=30)
        self.assertEqual(cm.exception.code, 403)
        other = loc.replace("/functions/%s/" % name, "/functions/%s-other/" % name)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(other, timeout=30)
        self.assertEqual(cm.exception.code, 403)
        longer = loc.replace("X-Amz-Expires=600", "X-Amz-Expires=604801")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(longer, timeout=30)
        self.assertEqual(cm.exception.code, 403)


class KeysAndPoliciesTest(AltoTestCase):
    """Keys made through the admin API: policies enforced, disable and delete take effect at once."""

    def make_key(self, policy=None, description="e2e"):
        args = ["create", "--description", description]
        if policy is not None:
            path = os.path.join(self.server.tmp, "policy-%d.json" % time.monotonic_ns())
            with open(path, "w") as f:
                f.write(policy if isinstance(policy, str) else json.dumps(policy))
            args += ["--policy", path]
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", self.server.endpoint] + args)
        return out

    def new_key(self, policy=None):
        out = self.make_key(policy)
        self.assertEqual(out.returncode, 0, out.stderr)
        key_id = re.search(r"AccessKeyId\s+(\S+)", out.stdout).group(1)
        secret = re.search(r"SecretAccessKey\s+(\S+)", out.stdout).group(1)
        return key_id, secret

    def key_cmd(self, *args):
        return harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", self.server.endpoint] + list(args))

    def test_read_only_key_cannot_create(self):
        key_id, secret = self.new_key({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"}]})
        ro = client_with(self.server, key_id, secret)
        self.assertIn("Functions", ro.list_functions())
        name = self.unique("ro")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            ro.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                               Code={"ZipFile": zip_files({"app.py": PY_ECHO})})
        self.assertEqual(code_of(cm.exception), ("AccessDeniedException", 403))
        self.assertIn("lambda:CreateFunction", str(cm.exception))
        self.assertIn(name, str(cm.exception))
        self.assertNotIn(name, self.function_names())
        # Nor mint itself a better key.
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", self.server.endpoint, "create"],
                              env={"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("AccessDeniedException", out.stderr)

    def test_policy_scopes_invoke_to_matching_functions_and_deny_wins(self):
        allowed, other = self.unique("app-a"), self.unique("zz-b")
        for n in (allowed, other):
            self.create(n, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        key_id, secret = self.new_key({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:Invoke*",
             "Resource": "arn:aws:lambda:*:*:function:app-*"},
            {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:*-denied"}]})
        c = client_with(self.server, key_id, secret)
        self.assertEqual(json.loads(c.invoke(FunctionName=allowed, Payload=b'{"x":1}')["Payload"].read()),
                         {"echo": {"x": 1}})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.invoke(FunctionName=other, Payload=b"{}")
        self.assertEqual(code_of(cm.exception), ("AccessDeniedException", 403))
        denied = self.unique("app-x") + "-denied"
        self.create(denied, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.invoke(FunctionName=denied, Payload=b"{}")
        self.assertEqual(code_of(cm.exception), ("AccessDeniedException", 403))
        self.assertIn("explicit deny", str(cm.exception))

    def test_function_url_with_aws_iam_verifies_sigv4_and_the_policy(self):
        name = self.unique("iamurl")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        self.lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
        path = "/url/%s/hello?x=1" % name
        status, _, body = self.server.request("GET", path, signed=False)
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body), {"Message": "Forbidden"})
        status, _, body = self.server.request("GET", path)  # signed with the admin key
        self.assertEqual(status, 200, body)
        bad = harness.sign_headers("GET", self.server.host, self.server.port, path, b"", secret="wrong")
        self.assertEqual(harness.http_request(self.server.host, self.server.port, "GET", path, headers=bad,
                                              signed=False)[0], 403)
        allowed_id, allowed_secret = self.new_key({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": "arn:aws:lambda:*:*:function:%s" % name}]})
        other_id, other_secret = self.new_key({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})
        for key_id, secret, want in ((allowed_id, allowed_secret, 200), (other_id, other_secret, 403)):
            h = harness.sign_headers("GET", self.server.host, self.server.port, path, b"", key_id=key_id,
                                     secret=secret)
            status, _, body = harness.http_request(self.server.host, self.server.port, "GET", path, headers=h,
                                                   signed=False)
            self.assertEqual(status, want, (key_id, body))

    def test_bad_policy_documents_are_refused(self):
        for doc in ("{not json", json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Permit", "Action": "*", "Resource": "*"}]}),
                    json.dumps({"Version": "1999-01-01", "Statement": []})):
            with self.subTest(doc=doc[:40]):
                before = self.key_cmd("ls").stdout
                out = self.make_key(doc)
                self.assertNotEqual(out.returncode, 0, out.stdout)
                self.assertIn("MalformedPolicyDocument", out.stderr)
                self.assertEqual(self.key_cmd("ls").stdout, before, "a refused key was stored")

    def test_disable_enable_and_delete_take_effect_at_once(self):
        key_id, secret = self.new_key()
        c = client_with(self.server, key_id, secret)
        self.assertIn("Functions", c.list_functions())
        self.assertEqual(self.key_cmd("disable", key_id).returncode, 0)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.list_functions()
        self.assertEqual(code_of(cm.exception), ("UnrecognizedClientException", 403))
        self.assertIn("Inactive", self.key_cmd("ls").stdout)
        self.assertEqual(self.key_cmd("enable", key_id).returncode, 0)
        self.assertIn("Functions", c.list_functions())
        out = self.key_cmd("rm", key_id)
        self.assertEqual(out.returncode, 0, out.stderr)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.list_functions()
        self.assertEqual(code_of(cm.exception), ("UnrecognizedClientException", 403))
        self.assertNotIn(key_id, self.key_cmd("ls").stdout)
        # The key in use cannot delete itself.
        out = self.key_cmd("rm", "test")
        self.assertNotEqual(out.returncode, 0)

    def test_key_list_never_shows_secrets(self):
        key_id, secret = self.new_key()
        out = self.key_cmd("ls")
        self.assertIn(key_id, out.stdout)
        self.assertNotIn(secret, out.stdout)
        status, _, body = self.server.request("GET", "/v1/keys")
        self.assertEqual(status, 200, body)
        self.assertNotIn(secret.encode(), body)
        self.assertNotIn(b"SecretAccessKey", body)

    def test_audit_log_records_changes(self):
        t0 = int(time.time() * 1000)
        name = self.unique("audited")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        self.lam.delete_function(FunctionName=name)
        key_id, secret = self.new_key({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}]})
        with self.assertRaises(botocore.exceptions.ClientError):
            client_with(self.server, key_id, secret).delete_function(FunctionName=name)
        out = harness.run_cmd([harness.ALTO_BIN, "audit", "--endpoint", self.server.endpoint, "--since", str(t0)])
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(any("lambda:CreateFunction" in l and name in l and " 201" in l and "test" in l for l in lines),
                        out.stdout)
        self.assertTrue(any("lambda:DeleteFunction" in l and name in l and " 204" in l for l in lines), out.stdout)
        self.assertTrue(any("iam:CreateAccessKey" in l for l in lines), out.stdout)
        self.assertTrue(any("lambda:DeleteFunction" in l and key_id in l and "403 AccessDeniedException" in l
                            for l in lines), out.stdout)
        self.assertTrue(all("127.0.0.1" in l for l in lines), out.stdout)
        # Reads are not changes.
        self.assertFalse(any("lambda:ListFunctions" in l for l in lines), out.stdout)


class AccountsTest(AltoTestCase):
    """Other accounts: made and closed by the admin account, and never a way into its functions."""

    def alto(self, *args, env=None):
        return harness.run_cmd([harness.ALTO_BIN, args[0], "--endpoint", self.server.endpoint] + list(args[1:]),
                               env=env)

    def new_account_key(self, name):
        out = self.alto("account", "create", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        account_id = re.search(r"Id\s+(\d{12})", out.stdout).group(1)
        out = self.alto("key", "create", "--account", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        key_id = re.search(r"AccessKeyId\s+(\S+)", out.stdout).group(1)
        secret = re.search(r"SecretAccessKey\s+(\S+)", out.stdout).group(1)
        return account_id, key_id, secret

    def test_another_accounts_administrator_cannot_touch_this_accounts_functions(self):
        mine = self.unique("mine")
        self.create(mine, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        account_id, key_id, secret = self.new_account_key(self.unique("tenant"))
        self.assertNotEqual(account_id, "000000000000")
        other = client_with(self.server, key_id, secret)
        attempts = {
            "list": lambda: other.list_functions(),
            "get": lambda: other.get_function(FunctionName=mine),
            "invoke": lambda: other.invoke(FunctionName=mine, Payload=b"{}"),
            "update": lambda: other.update_function_configuration(FunctionName=mine, Timeout=9),
            "delete": lambda: other.delete_function(FunctionName=mine),
            "create": lambda: other.create_function(
                FunctionName=self.unique("theirs"), Runtime="python3.12", Handler="app.handler", Role=ROLE,
                Code={"ZipFile": zip_files({"app.py": PY_ECHO})}),
        }
        for what, attempt in attempts.items():
            with self.subTest(what):
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    attempt()
                self.assertEqual(code_of(cm.exception), ("AccessDeniedException", 403))
                self.assertIn(account_id, str(cm.exception))
        # Nothing changed, and the function still answers its own account.
        conf = self.lam.get_function_configuration(FunctionName=mine)
        self.assertNotEqual(conf["Timeout"], 9)
        self.assertEqual(json.loads(self.lam.invoke(FunctionName=mine, Payload=b'{"a":1}')["Payload"].read()),
                         {"echo": {"a": 1}})
        self.assertEqual(len([f for f in self.function_names() if f.startswith("theirs")]), 0)
        # Nor is the admin API a way up: it sees only its own account and cannot make accounts.
        env = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
        out = self.alto("account", "ls", env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([l.split("\t")[0] for l in out.stdout.splitlines()], [account_id])
        out = self.alto("account", "create", self.unique("sneaky"), env=env)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("AccessDeniedException", out.stderr)
        out = self.alto("key", "create", "--account", "admin", env=env)
        self.assertNotEqual(out.returncode, 0)

    def test_account_create_ls_rm(self):
        name = self.unique("team")
        account_id, key_id, secret = self.new_account_key(name)
        out = self.alto("account", "ls")
        self.assertIn(account_id + "\t" + name, out.stdout)
        # Names are unique; bad names and the admin account are refused with clear errors.
        for bad, expect in ((name, "already exists"), ("123456789012", "not all digits"),
                            ("has space", "1-64 characters")):
            out = self.alto("account", "create", bad)
            self.assertNotEqual(out.returncode, 0, bad)
            self.assertIn(expect, out.stderr)
        out = self.alto("account", "rm", "admin")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cannot be deleted", out.stderr)
        self.assertIn("Functions", self.lam.list_functions())
        # Deleting the account deletes its keys: they stop working at once.
        out = self.alto("account", "rm", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(account_id, self.alto("account", "ls").stdout)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            client_with(self.server, key_id, secret).list_functions()
        self.assertEqual(code_of(cm.exception), ("UnrecognizedClientException", 403))
        out = self.alto("account", "rm", name)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("not found", out.stderr)


class CredentialChainTest(AltoTestCase):
    """The alto CLI reads credentials as the aws CLI does."""

    def test_profile_from_shared_credentials_file(self):
        with tempfile.TemporaryDirectory() as d:
            creds = os.path.join(d, "credentials")
            with open(creds, "w") as f:
                f.write("[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                        "[dev]\naws_access_key_id = test\naws_secret_access_key = test\n")
            env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": creds,
                   "AWS_PROFILE": "dev"}
            out = harness.alto_cli("ls", endpoint=self.server.endpoint, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            env["AWS_PROFILE"] = "default"
            out = harness.alto_cli("ls", endpoint=self.server.endpoint, env=env)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("UnrecognizedClientException", out.stderr)
            env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(d, "absent")
            out = harness.alto_cli("ls", endpoint=self.server.endpoint, env=env)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("no AWS credentials", out.stderr)


class FirstStartTest(unittest.TestCase):
    """Without ALTO_ADMIN_* the first start makes a key and writes it 0600; a data dir from before
    accounts existed keeps its functions."""

    def test_generated_admin_key_and_credentials_file(self):
        env_id = os.environ.pop("ALTO_ADMIN_ACCESS_KEY_ID")
        env_secret = os.environ.pop("ALTO_ADMIN_SECRET_ACCESS_KEY")
        server = AltoServer(name="FirstStart")
        try:
            server.start()
        finally:
            os.environ["ALTO_ADMIN_ACCESS_KEY_ID"], os.environ["ALTO_ADMIN_SECRET_ACCESS_KEY"] = env_id, env_secret
        try:
            path = os.path.join(server.data_dir, "credentials")
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            text = open(path).read()
            key_id = re.search(r"aws_access_key_id = (AKIA[A-Z2-7]{16})", text).group(1)
            secret = re.search(r"aws_secret_access_key = (\S{40})", text).group(1)
            self.assertIn(key_id, server.log_text())
            self.assertNotIn(secret, server.log_text(), "the secret must not reach the log")
            self.assertIn("AWS_SHARED_CREDENTIALS_FILE=%s" % path, server.log_text())
            # The test key was not made: only the generated one gets in.
            with self.assertRaises(botocore.exceptions.ClientError):
                server.client().list_functions()
            self.assertIn("Functions", client_with(server, key_id, secret).list_functions())
            out = harness.alto_cli("ls", endpoint=server.endpoint,
                                   env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                                        "AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "alto"})
            self.assertEqual(out.returncode, 0, out.stderr)
            # The secret is sealed in the store, not kept in clear.
            db = open(os.path.join(server.data_dir, "alto.db"), "rb").read()
            self.assertNotIn(secret.encode(), db)
        finally:
            server.stop()
            server.cleanup()

    def test_data_dir_from_before_accounts_keeps_its_functions(self):
        server = AltoServer(name="Migration")
        server.start()
        try:
            lam = server.client()
            name = "premigration"
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zip_files({"app.py": PY_ECHO})})
            server.stop()
            # What the previous release left: the same store without accounts, keys (in the
            # state core now, which a server only reads at start) or the audit table, and no
            # credentials file.
            db = sqlite3.connect(os.path.join(server.data_dir, "alto.db"))
            db.execute("DELETE FROM state_kv WHERE CAST(key AS TEXT) LIKE '/accounts/%'"
                       " OR CAST(key AS TEXT) LIKE '/account-names/%'"
                       " OR CAST(key AS TEXT) LIKE '/access-keys/%'"
                       " OR CAST(key AS TEXT) LIKE '/audit/%'")
            # Its audit log was a table of its own.
            db.execute("CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL,"
                       " account TEXT NOT NULL, access_key TEXT NOT NULL, action TEXT NOT NULL,"
                       " resource TEXT NOT NULL, source TEXT NOT NULL, status INTEGER NOT NULL,"
                       " error_type TEXT NOT NULL)")
            for i in range(250):
                db.execute("INSERT INTO audit_log(time_ms, account, access_key, action, resource, source, status,"
                           " error_type) VALUES(?,?,?,?,?,?,?,?)",
                           (1700000000000 + i, "000000000000", "old-key", "lambda:CreateFunction",
                            "arn:aws:lambda:us-east-1:000000000000:function:legacy-%d" % i, "10.0.0.1", 201, ""))
            db.commit()
            db.close()
            os.unlink(os.path.join(server.data_dir, "credentials"))
            server.start()
            lam = server.client()  # a new port
            fns = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
            self.assertIn(name, fns)
            conf = lam.get_function(FunctionName=name)["Configuration"]
            self.assertEqual(conf["FunctionArn"], "arn:aws:lambda:%s:000000000000:function:%s" % (REGION, name))
            out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"m":1}')["Payload"].read())
            self.assertEqual(out, {"echo": {"m": 1}})
            # The old audit entries moved into the state core, in order, and the table is gone.
            audit = harness.run_cmd([harness.ALTO_BIN, "audit", "--endpoint", server.endpoint, "--since", "0"])
            self.assertEqual(audit.returncode, 0, audit.stderr)
            legacy = [l for l in audit.stdout.splitlines() if "old-key" in l]
            self.assertEqual(len(legacy), 250, audit.stdout[-2000:])
            self.assertIn("legacy-0", legacy[0])
            self.assertIn("legacy-249", legacy[-1])
            db = sqlite3.connect(os.path.join(server.data_dir, "alto.db"))
            self.assertEqual(db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='audit_log'").fetchone()[0], 0)
            db.close()
        finally:
            if server.proc is not None:
                server.stop()
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
