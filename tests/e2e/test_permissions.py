"""Resource-based policies: AddPermission, GetPolicy and RemovePermission with Lambda's shapes and
errors, and their enforcement: a key of another account may do on a function exactly what the
function's (or its alias's) policy grants it, nothing else, and loses it the moment the statement
goes.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_permissions -v
"""

import json
import os
import re
import sys
import threading
import unittest

import boto3
import botocore.exceptions
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import REGION, AltoTestCase, zip_files  # noqa: E402

PY_ECHO = "def handler(event, context):\n    return {'echo': event}\n"
ADMIN_ACCOUNT = "000000000000"


def client_with(server, key_id, secret):
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def code_of(exc):
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


class PermissionsTest(AltoTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A second account (made with the CLI) with an administrator key of its own.
        out = harness.run_cmd([harness.ALTO_BIN, "account", "--endpoint", cls.server.endpoint, "create",
                               "team-b-%d" % os.getpid()])
        assert out.returncode == 0, out.stderr
        cls.account_b = re.search(r"\b(\d{12})\b", out.stdout).group(1)
        assert re.match(r"^\d{12}$", cls.account_b), out.stdout
        status, _, body = cls.server.request("POST", "/v1/keys", json.dumps({"Account": cls.account_b}).encode())
        assert status == 201, body
        key = json.loads(body)
        assert key["Account"] == cls.account_b, key
        cls.b = client_with(cls.server, key["AccessKeyId"], key["SecretAccessKey"])
        cls.b_key = key["AccessKeyId"]
        cls.b_secret = key["SecretAccessKey"]

    def new_function(self, prefix="perm"):
        name = self.unique(prefix)
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        return name

    def arn(self, name, qualifier=None):
        return "arn:aws:lambda:%s:%s:function:%s%s" % (REGION, ADMIN_ACCOUNT, name,
                                                       ":" + qualifier if qualifier else "")

    def policy(self, name, **kw):
        got = self.lam.get_policy(FunctionName=name, **kw)
        return json.loads(got["Policy"]), got["RevisionId"]

    def assert_client_error(self, fn, code, status, message_re=None):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn()
        self.assertEqual(code_of(cm.exception), (code, status), str(cm.exception))
        if message_re:
            self.assertRegex(cm.exception.response["Error"]["Message"], message_re)
        return cm.exception

    def assert_b_denied(self, fn, action):
        exc = self.assert_client_error(fn, "AccessDeniedException", 403)
        msg = exc.response["Error"]["Message"]
        self.assertIn("User: arn:aws:iam::%s:user/%s is not authorized to perform: %s" %
                      (self.account_b, self.b_key, action), msg)
        self.assertIn("because no resource-based policy allows the %s action" % action, msg)

    def b_invoke(self, name, **kw):
        resp = self.b.invoke(FunctionName=name, Payload=b'{"from":"b"}', **kw)
        self.assertEqual(resp["StatusCode"], 200)
        return json.loads(resp["Payload"].read())

    # -- the operations -----------------------------------------------------------------------------

    def test_add_get_remove_round_trip_with_lambdas_shapes(self):
        name = self.new_function()
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404,
                                 "No policy is associated with the given resource.")
        resp = self.lam.add_permission(FunctionName=name, StatementId="b-invoke", Action="lambda:InvokeFunction",
                                       Principal=self.account_b)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 201)
        first = {"Sid": "b-invoke", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % self.account_b},
                 "Action": "lambda:InvokeFunction", "Resource": self.arn(name)}
        self.assertEqual(json.loads(resp["Statement"]), first)
        resp = self.lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::my-bucket",
                                       SourceAccount=ADMIN_ACCOUNT)
        second = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                  "Action": "lambda:InvokeFunction", "Resource": self.arn(name),
                  "Condition": {"StringEquals": {"AWS:SourceAccount": ADMIN_ACCOUNT},
                                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}}}
        self.assertEqual(json.loads(resp["Statement"]), second)
        self.lam.add_permission(FunctionName=name, StatementId="anyone", Action="lambda:GetFunction", Principal="*")
        doc, revision = self.policy(name)
        self.assertEqual(doc, {"Version": "2012-10-17", "Id": "default", "Statement": [
            first, second, {"Sid": "anyone", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetFunction",
                            "Resource": self.arn(name)}]})
        self.assertRegex(revision, r"^[0-9a-f-]{36}$")
        # The function ARN names it as well as the name does.
        self.assertEqual(self.policy(self.arn(name))[0], doc)

        resp = self.lam.remove_permission(FunctionName=name, StatementId="b-invoke")
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        doc2, revision2 = self.policy(name)
        self.assertEqual([s["Sid"] for s in doc2["Statement"]], ["s3", "anyone"])
        self.assertNotEqual(revision2, revision)
        self.assert_client_error(lambda: self.lam.remove_permission(FunctionName=name, StatementId="b-invoke"),
                                 "ResourceNotFoundException", 404,
                                 r"^Statement b-invoke is not found in resource policy\.$")
        self.lam.remove_permission(FunctionName=name, StatementId="s3")
        self.lam.remove_permission(FunctionName=name, StatementId="anyone")
        # The last statement gone, the policy is gone.
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404)
        self.assert_client_error(lambda: self.lam.remove_permission(FunctionName=name, StatementId="s3"),
                                 "ResourceNotFoundException", 404, "No policy is associated with the given resource.")

    def test_duplicate_sid_conflicts_and_changes_nothing(self):
        name = self.new_function()
        self.lam.add_permission(FunctionName=name, StatementId="one", Action="lambda:InvokeFunction", Principal="*")
        before = self.policy(name)
        self.assert_client_error(
            lambda: self.lam.add_permission(FunctionName=name, StatementId="one", Action="lambda:GetFunction",
                                            Principal=self.account_b),
            "ResourceConflictException", 409,
            r"^The statement id \(one\) provided already exists\. Please provide a new statement id, or remove "
            r"the existing statement\.$")
        self.assertEqual(self.policy(name), before)

    def test_revision_id_is_a_precondition(self):
        name = self.new_function()
        self.lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*")
        _, revision = self.policy(name)
        self.assert_client_error(
            lambda: self.lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction",
                                            Principal="*", RevisionId="00000000-0000-0000-0000-000000000000"),
            "PreconditionFailedException", 412)
        self.assertEqual(self.policy(name)[1], revision)
        self.lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction", Principal="*",
                                RevisionId=revision)
        self.assert_client_error(
            lambda: self.lam.remove_permission(FunctionName=name, StatementId="a", RevisionId=revision),
            "PreconditionFailedException", 412)
        doc, now = self.policy(name)
        self.assertEqual(len(doc["Statement"]), 2)
        self.lam.remove_permission(FunctionName=name, StatementId="a", RevisionId=now)
        self.assertEqual([s["Sid"] for s in self.policy(name)[0]["Statement"]], ["b"])

    def test_bad_input_is_refused_and_stores_nothing(self):
        name = self.new_function()
        path = "/2015-03-31/functions/%s/policy" % name
        ok = {"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "*"}
        cases = [
            (dict(ok, StatementId="has space"), 400, "ValidationException"),
            (dict(ok, StatementId="x" * 101), 400, "ValidationException"),
            ({k: v for k, v in ok.items() if k != "StatementId"}, 400, "ValidationException"),
            ({k: v for k, v in ok.items() if k != "Action"}, 400, "ValidationException"),
            ({k: v for k, v in ok.items() if k != "Principal"}, 400, "ValidationException"),
            (dict(ok, Action="s3:GetObject"), 400, "ValidationException"),
            (dict(ok, Principal="not a principal"), 400, "InvalidParameterValueException"),
            (dict(ok, Principal="12345"), 400, "InvalidParameterValueException"),
            (dict(ok, Principal="arn:aws:iam::111122223333:user/*"), 400, "InvalidParameterValueException"),
            (dict(ok, SourceArn="not-an-arn"), 400, "ValidationException"),
            (dict(ok, SourceAccount="12"), 400, "ValidationException"),
            (dict(ok, FunctionUrlAuthType="SOMETIMES"), 400, "ValidationException"),
            (dict(ok, Principal=["*"]), 400, "InvalidParameterValueException"),
            (dict(ok, Unknown="x"), 400, "InvalidParameterValueException"),
        ]
        for body, status, etype in cases:
            with self.subTest(body=body):
                self.assertLambdaError(self.server.request("POST", path, json.dumps(body).encode()), status, etype)
        for raw in (b"{", b"[]", b'"x"'):
            with self.subTest(raw=raw):
                self.assertEqual(self.server.request("POST", path, raw)[0], 400)
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404)
        # Missing function, version and alias: 404, nothing stored.
        self.assertLambdaError(self.server.request("POST", "/2015-03-31/functions/%s-nope/policy" % name,
                                                   json.dumps(ok).encode()), 404, "ResourceNotFoundException")
        for q in ("7", "no-such-alias"):
            self.assertLambdaError(self.server.request("POST", path + "?Qualifier=" + q, json.dumps(ok).encode()),
                                   404, "ResourceNotFoundException")
        self.assertLambdaError(self.server.request("DELETE", path + "/bad%20sid"), 400, "ValidationException")

    def test_policy_length_is_limited_to_20kb(self):
        name = self.new_function()
        long_arn = "arn:aws:s3:::" + "b" * 900
        added = 0
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            for i in range(40):
                self.lam.add_permission(FunctionName=name, StatementId="s%d" % i, Action="lambda:InvokeFunction",
                                        Principal="s3.amazonaws.com", SourceArn=long_arn)
                added += 1
        self.assertEqual(code_of(cm.exception), ("PolicyLengthExceededException", 400))
        self.assertIn("bigger than the limit (20480)", str(cm.exception))
        policy = self.lam.get_policy(FunctionName=name)["Policy"]
        self.assertLessEqual(len(policy), 20480)
        self.assertEqual(len(json.loads(policy)["Statement"]), added)
        self.assertGreater(added, 10)

    def test_concurrent_add_permission_loses_nothing(self):
        name = self.new_function()
        errors = []

        # boto3 makes clients unsafely from threads: one each, made here.
        clients = [self.server.client() for _ in range(12)]

        def add(i):
            try:
                clients[i].add_permission(FunctionName=name, StatementId="c%d" % i, Action="lambda:InvokeFunction",
                                 Principal="*")
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        sids = sorted(s["Sid"] for s in self.policy(name)[0]["Statement"])
        self.assertEqual(sids, sorted("c%d" % i for i in range(12)))

    # -- enforcement --------------------------------------------------------------------------------

    def test_other_account_invokes_only_what_the_policy_grants(self):
        name = self.new_function()
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Payload=b"{}"), "lambda:InvokeFunction")
        self.assert_b_denied(lambda: self.b.get_function(FunctionName=name), "lambda:GetFunction")
        self.assert_client_error(lambda: self.b.list_functions(), "AccessDeniedException", 403)
        # Nor may it grant itself anything.
        self.assert_b_denied(lambda: self.b.add_permission(FunctionName=name, StatementId="me",
                                                           Action="lambda:*", Principal=self.account_b),
                             "lambda:AddPermission")
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404)

        self.lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction",
                                Principal=self.account_b)
        self.assertEqual(self.b_invoke(name), {"echo": {"from": "b"}})
        self.assertEqual(self.b_invoke(self.arn(name)), {"echo": {"from": "b"}})
        # Invoke only.
        self.assert_b_denied(lambda: self.b.get_function(FunctionName=name), "lambda:GetFunction")
        self.assert_b_denied(lambda: self.b.update_function_code(FunctionName=name,
                                                                 ZipFile=zip_files({"app.py": PY_ECHO})),
                             "lambda:UpdateFunctionCode")
        self.assert_b_denied(lambda: self.b.delete_function(FunctionName=name), "lambda:DeleteFunction")
        self.assert_b_denied(lambda: self.b.get_policy(FunctionName=name), "lambda:GetPolicy")
        self.assert_b_denied(lambda: self.b.remove_permission(FunctionName=name, StatementId="b"),
                             "lambda:RemovePermission")
        self.assertIn(name, self.function_names())
        # Revoked at once.
        self.lam.remove_permission(FunctionName=name, StatementId="b")
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Payload=b"{}"), "lambda:InvokeFunction")

    def test_principal_forms_and_conditions(self):
        name = self.new_function()
        # Another account's principal does not admit B; a SourceArn condition never holds for a key.
        self.lam.add_permission(FunctionName=name, StatementId="other", Action="lambda:InvokeFunction",
                                Principal="444455556666")
        self.lam.add_permission(FunctionName=name, StatementId="svc", Action="lambda:InvokeFunction",
                                Principal="*", SourceArn="arn:aws:s3:::bucket")
        self.lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:InvokeFunction",
                                Principal="*", SourceAccount="444455556666")
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Payload=b"{}"), "lambda:InvokeFunction")
        # The root ARN form, with B's own SourceAccount, does.
        self.lam.add_permission(FunctionName=name, StatementId="root", Action="lambda:InvokeFunction",
                                Principal="arn:aws:iam::%s:root" % self.account_b, SourceAccount=self.account_b)
        self.assertEqual(self.b_invoke(name), {"echo": {"from": "b"}})
        self.lam.remove_permission(FunctionName=name, StatementId="root")
        # lambda:* grants every action on the function.
        self.lam.add_permission(FunctionName=name, StatementId="all", Action="lambda:*", Principal=self.account_b)
        self.assertEqual(self.b.get_function(FunctionName=name)["Configuration"]["FunctionName"], name)
        self.assertNotIn("Tags", self.b.get_function(FunctionName=name))

    def test_qualifier_scoped_permission_allows_only_that_alias(self):
        name = self.new_function()
        self.lam.publish_version(FunctionName=name)
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        resp = self.lam.add_permission(FunctionName=name, StatementId="live", Action="lambda:InvokeFunction",
                                       Principal=self.account_b, Qualifier="live")
        self.assertEqual(json.loads(resp["Statement"])["Resource"], self.arn(name, "live"))
        self.assertEqual(self.policy(name, Qualifier="live")[0]["Statement"][0]["Sid"], "live")
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404)
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name, Qualifier="1"),
                                 "ResourceNotFoundException", 404)

        self.assertEqual(self.b_invoke(name, Qualifier="live"), {"echo": {"from": "b"}})
        self.assertEqual(self.b_invoke(self.arn(name, "live")), {"echo": {"from": "b"}})
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Payload=b"{}"), "lambda:InvokeFunction")
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Qualifier="1", Payload=b"{}"),
                             "lambda:InvokeFunction")
        # The alias's policy goes with the alias: one made again under the name starts without it.
        self.lam.delete_alias(FunctionName=name, Name="live")
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name, Qualifier="live"),
                                 "ResourceNotFoundException", 404)
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Qualifier="live", Payload=b"{}"),
                             "lambda:InvokeFunction")
        # A version's policy goes with DeleteFunction of that version.
        self.lam.delete_alias(FunctionName=name, Name="live")
        self.lam.add_permission(FunctionName=name, StatementId="v1", Action="lambda:InvokeFunction",
                                Principal=self.account_b, Qualifier="1")
        self.assertEqual(self.b_invoke(name, Qualifier="1"), {"echo": {"from": "b"}})
        self.lam.delete_function(FunctionName=name, Qualifier="1")
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name, Qualifier="1"),
                                 "ResourceNotFoundException", 404)

    def test_permissions_vanish_with_delete_function(self):
        name = self.new_function()
        self.lam.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction",
                                Principal=self.account_b)
        self.assertEqual(self.b_invoke(name), {"echo": {"from": "b"}})
        self.lam.delete_function(FunctionName=name)
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        self.assert_client_error(lambda: self.lam.get_policy(FunctionName=name), "ResourceNotFoundException", 404)
        self.assert_b_denied(lambda: self.b.invoke(FunctionName=name, Payload=b"{}"), "lambda:InvokeFunction")

    def test_function_url_with_aws_iam_for_another_account(self):
        name = self.new_function("permurl")
        self.lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
        status, _, body = self.server.request("POST", "/v1/keys", json.dumps({"Account": self.account_b}).encode())
        self.assertEqual(status, 201, body)
        key = json.loads(body)
        path = "/url/%s/hello" % name

        def b_get():
            h = harness.sign_headers("GET", self.server.host, self.server.port, path, b"",
                                     key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
            return harness.http_request(self.server.host, self.server.port, "GET", path, headers=h,
                                        signed=False)[0]

        self.assertEqual(b_get(), 403)
        # Invoke through the API is not the URL's action.
        self.lam.add_permission(FunctionName=name, StatementId="api", Action="lambda:InvokeFunction",
                                Principal=self.account_b)
        self.assertEqual(b_get(), 403)
        self.lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                                Principal=self.account_b, FunctionUrlAuthType="AWS_IAM")
        self.assertEqual(b_get(), 200)
        self.lam.remove_permission(FunctionName=name, StatementId="url")
        self.assertEqual(b_get(), 403)

    def test_only_the_admin_account_makes_accounts(self):
        body = json.dumps({"Name": "from-b-%d" % os.getpid()}).encode()
        h = harness.sign_headers("POST", self.server.host, self.server.port, "/v1/accounts", body,
                                 key_id=self.b_key, secret=self.b_secret)
        status, _, out = harness.http_request(self.server.host, self.server.port, "POST", "/v1/accounts", body,
                                              headers=h, signed=False)
        self.assertEqual(status, 403, out)
        status, _, out = self.server.request("GET", "/v1/accounts")
        self.assertNotIn(b"from-b-", out)
        # And names stay unique.
        dup = harness.run_cmd([harness.ALTO_BIN, "account", "--endpoint", self.server.endpoint, "create",
                               "team-b-%d" % os.getpid()])
        self.assertNotEqual(dup.returncode, 0, dup.stdout)

    def test_changes_are_audited(self):
        name = self.new_function()
        self.lam.add_permission(FunctionName=name, StatementId="audited", Action="lambda:InvokeFunction",
                                Principal=self.account_b)
        self.assert_b_denied(lambda: self.b.remove_permission(FunctionName=name, StatementId="audited"),
                             "lambda:RemovePermission")
        status, _, body = self.server.request("GET", "/v1/audit")
        self.assertEqual(status, 200, body)
        entries = [(e["Account"], e["Action"], e["Status"]) for e in json.loads(body)["Entries"]
                   if e["Resource"] == self.arn(name)]
        self.assertIn((ADMIN_ACCOUNT, "lambda:AddPermission", 201), entries)
        self.assertIn((self.account_b, "lambda:RemovePermission", 403), entries)


if __name__ == "__main__":
    unittest.main()
