"""Versions, aliases with weighted routing, qualifiers and secret environment values (issue 6
parts 2-5), through boto3, the aws CLI, raw HTTP and the alto CLI, against a real `alto server`.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_versions -v
"""

import base64
import glob
import http.client
import json
import os
import stat
import sys
import time
import unittest
import urllib.parse

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ACCOUNT, REGION, ROLE, AltoTestCase, code_sha256, wait_until, zip_files  # noqa: E402

FN_PATH = "/2015-03-31/functions/%s"
INVOKE_PATH = FN_PATH + "/invocations"

# Says which code ran (MARK is replaced per deployment) and which version the sandbox is.
PY_MARK = '''
import os
def handler(event, context):
    names = event.get("env", []) if isinstance(event, dict) else []
    return {"mark": "MARK", "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
            "arn": context.invoked_function_arn,
            "env": {k: os.environ.get(k) for k in names}}
'''


def mark_zip(mark):
    return zip_files({"app.py": PY_MARK.replace("MARK", mark)})


def arn(name, qualifier=None):
    base = "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, name)
    return base + ":" + qualifier if qualifier else base


def error_code(exc):
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


class VersionsTest(AltoTestCase):

    def deploy(self, mark="v1", **kw):
        name = self.unique("ver")
        self.create(name, "python3.12", "app.handler", mark_zip(mark), Timeout=30, **kw)
        return name

    def run_mark(self, name, qualifier=None):
        kw = {"Qualifier": qualifier} if qualifier else {}
        resp, body, _ = self.invoke(name, {}, tail=False, **kw)
        self.assertNotIn("FunctionError", resp, body)
        return resp["ExecutedVersion"], body

    def expect_error(self, code, status, fn, **kw):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(**kw)
        self.assertEqual(error_code(cm.exception), (code, status), cm.exception.response)
        return cm.exception

    # -- versions ----------------------------------------------------------------------------------

    def test_publish_is_an_immutable_snapshot(self):
        name = self.deploy("one", Description="first")
        zip_one, zip_two = mark_zip("one"), mark_zip("two")
        v1 = self.lam.publish_version(FunctionName=name, Description="release 1")
        self.assertEqual(v1["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(v1["Version"], "1")
        self.assertEqual(v1["FunctionArn"], arn(name, "1"))
        self.assertEqual(v1["Description"], "release 1")
        self.assertEqual(v1["CodeSha256"], code_sha256(zip_one))
        # Unchanged $LATEST: Lambda hands back the existing version.
        again = self.lam.publish_version(FunctionName=name)
        self.assertEqual(again["Version"], "1")
        self.assertEqual(again["RevisionId"], v1["RevisionId"])

        upd = self.lam.update_function_code(FunctionName=name, ZipFile=zip_two)
        self.assertEqual(upd["Version"], "$LATEST")
        self.assertEqual(upd["CodeSha256"], code_sha256(zip_two))
        # The version still has the old code and runs it; $LATEST runs the new one.
        got = self.lam.get_function_configuration(FunctionName=name, Qualifier="1")
        self.assertEqual(got["CodeSha256"], code_sha256(zip_one))
        self.assertEqual(got["FunctionArn"], arn(name, "1"))
        self.assertEqual(got["Description"], "release 1")
        self.assertEqual(self.lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Version"], "1")
        executed, body = self.run_mark(name, "1")
        self.assertEqual((executed, body["mark"], body["version"]), ("1", "one", "1"))
        self.assertEqual(body["arn"], arn(name, "1"))
        executed, body = self.run_mark(name)
        self.assertEqual((executed, body["mark"], body["version"]), ("$LATEST", "two", "$LATEST"))
        # The version's own code, downloadable from GetFunction's Code.Location.
        loc = self.lam.get_function(FunctionName=name, Qualifier="1")["Code"]["Location"]
        path = urllib.parse.urlsplit(loc)
        status, _, data = self.server.request("GET", path.path + "?" + path.query, signed=False)  # presigned
        self.assertEqual((status, code_sha256(data)), (200, code_sha256(zip_one)))

        # CodeSha256 and RevisionId preconditions.
        self.expect_error("InvalidParameterValueException", 400, self.lam.publish_version,
                          FunctionName=name, CodeSha256=code_sha256(zip_one))
        self.expect_error("PreconditionFailedException", 412, self.lam.publish_version,
                          FunctionName=name, RevisionId=v1["RevisionId"])
        v2 = self.lam.publish_version(FunctionName=name, CodeSha256=code_sha256(zip_two),
                                      RevisionId=upd["RevisionId"])
        self.assertEqual(v2["Version"], "2")

        # ListVersionsByFunction: $LATEST then versions, paged by Marker.
        listed = self.lam.list_versions_by_function(FunctionName=name)["Versions"]
        self.assertEqual([v["Version"] for v in listed], ["$LATEST", "1", "2"])
        self.assertEqual(listed[0]["FunctionArn"], arn(name, "$LATEST"))
        seen, marker = [], None
        for _ in range(10):
            page = self.lam.list_versions_by_function(FunctionName=name, MaxItems=1,
                                                      **({"Marker": marker} if marker else {}))
            self.assertEqual(len(page["Versions"]), 1)
            seen += [v["Version"] for v in page["Versions"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        self.assertEqual(seen, ["$LATEST", "1", "2"])
        # ListFunctions still lists the function once.
        self.assertEqual(self.function_names().count(name), 1)

    def test_publish_flag_and_configuration_snapshot(self):
        name = self.deploy("cfg", Environment={"Variables": {"COLOR": "blue"}}, Publish=True)
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"], "1")
        self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"COLOR": "red"}})
        body = self.invoke(name, {"env": ["COLOR"]}, tail=False, Qualifier="1")[1]
        self.assertEqual(body["env"]["COLOR"], "blue")
        body = self.invoke(name, {"env": ["COLOR"]}, tail=False)[1]
        self.assertEqual(body["env"]["COLOR"], "red")
        up = self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("cfg2"), Publish=True)
        self.assertEqual(up["Version"], "2")
        self.assertEqual(up["Environment"]["Variables"]["COLOR"], "red")

    def test_qualified_names_and_arns(self):
        name = self.deploy("q")
        self.lam.publish_version(FunctionName=name)
        for fn_name in (name + ":1", arn(name, "1"), "%s:function:%s:1" % (ACCOUNT, name)):
            executed, body = self.run_mark(fn_name)
            self.assertEqual(executed, "1", fn_name)
            self.assertEqual(self.lam.get_function_configuration(FunctionName=fn_name)["Version"], "1")
        executed, _ = self.run_mark(name + ":$LATEST")
        self.assertEqual(executed, "$LATEST")
        # The name's qualifier and the Qualifier parameter must agree.
        status, headers, body = self.server.request("POST", INVOKE_PATH % (name + ":1") + "?Qualifier=2", b"{}")
        self.assertLambdaError((status, headers, body), 400, "InvalidParameterValueException")
        status, headers, body = self.server.request("POST", INVOKE_PATH % name + "?Qualifier=9", b"{}")
        self.assertLambdaError((status, headers, body), 404, "ResourceNotFoundException",
                               "Function not found: " + arn(name, "9"))
        self.expect_error("ResourceNotFoundException", 404, self.lam.get_function, FunctionName=name,
                          Qualifier="nosuchalias")
        # The aws CLI with --qualifier.
        out = self.server.aws("lambda", "get-function-configuration", "--function-name", name,
                              "--qualifier", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["FunctionArn"], arn(name, "1"))
        outfile = os.path.join(self.server.tmp, "out-%s.json" % name)
        out = self.server.aws("lambda", "invoke", "--function-name", name, "--qualifier", "1", outfile)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["ExecutedVersion"], "1")
        with open(outfile) as f:
            self.assertEqual(json.load(f)["mark"], "q")

    def test_delete_rules(self):
        name = self.deploy("d1")
        self.lam.publish_version(FunctionName=name)
        self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("d2"))
        self.lam.publish_version(FunctionName=name)
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        # A version an alias points to (either way) cannot go.
        for v in ("1", "2"):
            exc = self.expect_error("ResourceConflictException", 409, self.lam.delete_function,
                                    FunctionName=name, Qualifier=v)
            self.assertIn("live", str(exc))
        self.expect_error("InvalidParameterValueException", 400, self.lam.delete_function,
                          FunctionName=name, Qualifier="$LATEST")
        self.lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
        resp = self.lam.delete_function(FunctionName=name, Qualifier="1")
        self.assertIn(resp["ResponseMetadata"]["HTTPStatusCode"], (200, 204))
        self.expect_error("ResourceNotFoundException", 404, self.lam.get_function, FunctionName=name,
                          Qualifier="1")
        self.expect_error("ResourceNotFoundException", 404, self.lam.delete_function,
                          FunctionName=name, Qualifier="1")
        self.assertEqual(self.run_mark(name, "live")[0], "2")
        # Numbers are not reused after a delete.
        self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("d3"))
        self.assertEqual(self.lam.publish_version(FunctionName=name)["Version"], "3")
        # Deleting the function removes its versions and aliases.
        self.lam.delete_function(FunctionName=name)
        self.create(name, "python3.12", "app.handler", mark_zip("again"))
        self.expect_error("ResourceNotFoundException", 404, self.lam.get_alias, FunctionName=name, Name="live")
        self.assertEqual([v["Version"] for v in self.lam.list_versions_by_function(FunctionName=name)["Versions"]],
                         ["$LATEST"])
        self.assertEqual(self.lam.publish_version(FunctionName=name)["Version"], "1")

    # -- aliases -----------------------------------------------------------------------------------

    def test_alias_crud_and_validation(self):
        name = self.deploy("a1")
        self.lam.publish_version(FunctionName=name)
        self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("a2"))
        self.lam.publish_version(FunctionName=name)

        created = self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                        Description="prod")
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertEqual(created["AliasArn"], arn(name, "live"))
        self.assertEqual((created["Name"], created["FunctionVersion"], created["Description"]),
                         ("live", "1", "prod"))
        got = self.lam.get_alias(FunctionName=name, Name="live")
        self.assertEqual(got["RevisionId"], created["RevisionId"])
        self.assertEqual(self.run_mark(name, "live"), ("1", {"mark": "a1", "version": "1",
                                                             "arn": arn(name, "live"), "env": {}}))
        self.assertEqual(self.lam.get_function_configuration(FunctionName=name, Qualifier="live")["Version"], "1")

        self.expect_error("ResourceConflictException", 409, self.lam.create_alias, FunctionName=name,
                          Name="live", FunctionVersion="2")
        self.expect_error("ResourceNotFoundException", 404, self.lam.create_alias, FunctionName=name,
                          Name="beta", FunctionVersion="7")
        # All digits is not an alias name (it would read as a version).
        self.expect_error("InvalidParameterValueException", 400, self.lam.create_alias, FunctionName=name,
                          Name="123", FunctionVersion="1")
        self.expect_error("InvalidParameterValueException", 400, self.lam.create_alias, FunctionName=name,
                          Name="beta", FunctionVersion="$LATEST",
                          RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
        self.expect_error("InvalidParameterValueException", 400, self.lam.create_alias, FunctionName=name,
                          Name="beta", FunctionVersion="1",
                          RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
        status, headers, body = self.server.request(
            "POST", FN_PATH % name + "/aliases",
            {"Name": "beta", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}})
        self.assertLambdaError((status, headers, body), 400, "InvalidParameterValueException")

        upd = self.lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                    RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
                                    RevisionId=got["RevisionId"])
        self.assertEqual(upd["RoutingConfig"]["AdditionalVersionWeights"], {"2": 0.25})
        self.assertNotEqual(upd["RevisionId"], got["RevisionId"])
        self.assertEqual(upd["Description"], "prod")
        self.expect_error("PreconditionFailedException", 412, self.lam.update_alias, FunctionName=name,
                          Name="live", FunctionVersion="2", RevisionId=got["RevisionId"])

        self.lam.create_alias(FunctionName=name, Name="latest", FunctionVersion="$LATEST")
        self.assertEqual(self.run_mark(name, "latest")[0], "$LATEST")
        listed = self.lam.list_aliases(FunctionName=name)["Aliases"]
        self.assertEqual([a["Name"] for a in listed], ["latest", "live"])
        only2 = self.lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]
        self.assertEqual([a["Name"] for a in only2], ["live"])
        # The aws CLI sees the same.
        out = self.server.aws("lambda", "list-aliases", "--function-name", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(sorted(a["Name"] for a in json.loads(out.stdout)["Aliases"]), ["latest", "live"])

        resp = self.lam.delete_alias(FunctionName=name, Name="latest")
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.expect_error("ResourceNotFoundException", 404, self.lam.get_alias, FunctionName=name, Name="latest")
        self.expect_error("ResourceNotFoundException", 404, self.lam.invoke, FunctionName=name, Qualifier="latest")

    def test_weighted_alias_routes_twenty_percent(self):
        name = self.deploy("old")
        self.lam.publish_version(FunctionName=name)
        self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("new"))
        self.lam.publish_version(FunctionName=name)
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
        total, counts = 2000, {"1": 0, "2": 0}
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
        deadline = time.monotonic() + 300
        try:
            for _ in range(total):
                self.assertLess(time.monotonic(), deadline, "2,000 invokes took over 300 s")
                target = INVOKE_PATH % name + "?Qualifier=live"
                conn.request("POST", target, b"{}", self.server.sign("POST", target, b"{}"))
                resp = conn.getresponse()
                body = json.loads(resp.read())
                self.assertEqual(resp.status, 200, body)
                executed = resp.getheader("X-Amz-Executed-Version")
                # The header tells the truth: the code that ran is that version's.
                self.assertEqual(body["mark"], {"1": "old", "2": "new"}[executed])
                self.assertEqual(body["version"], executed)
                counts[executed] += 1
        finally:
            conn.close()
        share = counts["2"] / total
        print("\n[weighted alias] version 2 ran %d of %d invokes (%.1f%%)" % (counts["2"], total, share * 100))
        self.assertGreaterEqual(share, 0.17)
        self.assertLessEqual(share, 0.23)

    def test_async_invoke_through_alias(self):
        name = self.deploy("first")
        self.lam.publish_version(FunctionName=name)
        self.lam.update_function_code(FunctionName=name, ZipFile=mark_zip("second"))
        self.lam.publish_version(FunctionName=name)
        # Weight 1.0: every event goes to the additional version, deterministically.
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}})
        queue = "q" + name.replace("-", "")[:40]
        self.lam.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={"OnSuccess": {"Destination": "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, queue)}})
        resp = self.lam.invoke(FunctionName=name, Qualifier="live", InvocationType="Event", Payload=b'{"n":1}')
        self.assertEqual(resp["StatusCode"], 202)

        def read():
            status, _, body = self.server.request("GET", "/v1/queues/%s/messages?max=10&consume=true" % queue)
            self.assertEqual(status, 200, body)
            return json.loads(body)["Messages"]
        messages = wait_until(read, timeout=90, interval=0.2)
        self.assertTrue(messages, "no OnSuccess record arrived")
        record = json.loads(messages[0]["Body"])
        self.assertEqual(record["responseContext"]["executedVersion"], "2")
        self.assertEqual(record["requestContext"]["functionArn"], arn(name, "live"))
        self.assertEqual(record["responsePayload"]["mark"], "second")
        self.assertEqual(record["responsePayload"]["arn"], arn(name, "live"))

    # -- secrets -----------------------------------------------------------------------------------

    def test_secret_values_are_sealed_and_redacted(self):
        name = self.unique("sec")
        secret = "s3cr3t-%s-VALUE" % os.urandom(6).hex()
        status, headers, body = self.server.request("POST", "/2015-03-31/functions", {
            "FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": base64.b64encode(mark_zip("s")).decode()},
            "Environment": {"Variables": {"PLAIN": "visible", "TOKEN": secret}, "Secrets": ["TOKEN"]}})
        self.assertEqual(status, 201, body)
        self.assertNotIn(secret.encode(), body)
        cfg = self.lam.get_function_configuration(FunctionName=name)
        self.assertEqual(cfg["Environment"]["Variables"]["PLAIN"], "visible")
        self.assertNotEqual(cfg["Environment"]["Variables"]["TOKEN"], secret)
        # The function sees the real value.
        env = self.invoke(name, {"env": ["TOKEN", "PLAIN"]}, tail=False)[1]["env"]
        self.assertEqual(env, {"TOKEN": secret, "PLAIN": "visible"})

        # A get-then-update round trip through boto3 (which cannot send Secrets) keeps the secret.
        variables = dict(cfg["Environment"]["Variables"], EXTRA="x")
        upd = self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
        self.assertNotIn(secret, json.dumps(upd))
        env = self.invoke(name, {"env": ["TOKEN", "EXTRA"]}, tail=False)[1]["env"]
        self.assertEqual(env, {"TOKEN": secret, "EXTRA": "x"})
        # A published version carries it too.
        self.lam.publish_version(FunctionName=name)
        env = self.invoke(name, {"env": ["TOKEN"]}, tail=False, Qualifier="1")[1]["env"]
        self.assertEqual(env["TOKEN"], secret)
        self.assertNotIn(secret, json.dumps(self.lam.list_versions_by_function(FunctionName=name)["Versions"]))
        self.assertNotIn(secret, json.dumps(self.lam.get_function(FunctionName=name, Qualifier="1"),
                                            default=str))
        # The redaction marker is no value of its own.
        status, headers, body = self.server.request(
            "PUT", FN_PATH % name + "/configuration",
            {"Environment": {"Variables": {"OTHER": cfg["Environment"]["Variables"]["TOKEN"]}, "Secrets": ["OTHER"]}})
        self.assertLambdaError((status, headers, body), 400, "InvalidParameterValueException")

        # Nothing prints it: the alto CLI, the aws CLI, the server log.
        out = self.server.alto("get", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(secret, out.stdout + out.stderr)
        self.assertIn("TOKEN", out.stdout)
        out = self.server.aws("lambda", "get-function-configuration", "--function-name", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(secret, out.stdout)
        self.assertNotIn(secret, self.server.log_text())

        # At rest: no database file holds the value; the key file is private.
        data = self.server.data_dir
        files = glob.glob(os.path.join(data, "alto.db*"))
        self.assertTrue(files)
        for path in files:
            with open(path, "rb") as f:
                self.assertNotIn(secret.encode(), f.read(), path)
        key = os.path.join(data, "secret.key")
        st = os.stat(key)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_size, 32)

    def test_environment_limits(self):
        name = self.deploy("env")
        # Lambda measures {"K":"V"} as JSON text: 4 KB in all.
        self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"BIG": "x" * 4086}})
        exc = self.expect_error("InvalidParameterValueException", 400, self.lam.update_function_configuration,
                                FunctionName=name, Environment={"Variables": {"BIG": "x" * 4087}})
        self.assertIn("4KB", str(exc))
        exc = self.expect_error("InvalidParameterValueException", 400, self.lam.update_function_configuration,
                                FunctionName=name, Environment={"Variables": {"AWS_REGION": "x"}})
        self.assertIn("AWS_REGION", str(exc))

    # -- the alto CLI ------------------------------------------------------------------------------

    def test_cli_publish_alias_and_canary_deploy(self):
        name = self.unique("cli")
        src = os.path.join(self.server.tmp, name)
        os.makedirs(src)
        with open(os.path.join(src, "app.py"), "w") as f:
            f.write(PY_MARK.replace("MARK", "c1"))
        secret = "cli-secret-%s" % os.urandom(4).hex()
        out = self.server.alto("deploy", src, "--name", name, "--runtime", "python3.12", "--handler",
                               "app.handler", "--secret", "API_KEY=" + secret, "--publish", "--alias", "live")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("version 1", out.stdout)
        self.assertNotIn(secret, out.stdout + out.stderr)
        self.assertEqual(self.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"], "1")
        body = self.invoke(name, {"env": ["API_KEY"]}, tail=False, Qualifier="live")[1]
        self.assertEqual(body["env"]["API_KEY"], secret)

        # Canary: publish version 2 and shift 10% of live to it.
        with open(os.path.join(src, "app.py"), "w") as f:
            f.write(PY_MARK.replace("MARK", "c2"))
        out = self.server.alto("deploy", src, "--name", name, "--publish", "--alias", "live", "--weight", "10")
        self.assertEqual(out.returncode, 0, out.stderr)
        alias = self.lam.get_alias(FunctionName=name, Name="live")
        self.assertEqual(alias["FunctionVersion"], "1")
        self.assertEqual(alias["RoutingConfig"]["AdditionalVersionWeights"], {"2": 0.1})

        # Promote with `alto fn alias`, then list.
        out = self.server.alto("alias", name, "live", "--version", "2")
        self.assertEqual(out.returncode, 0, out.stderr)
        alias = self.lam.get_alias(FunctionName=name, Name="live")
        self.assertEqual(alias["FunctionVersion"], "2")
        self.assertNotIn("RoutingConfig", alias)
        out = self.server.alto("alias", name, "beta", "--version", "1", "--weight", "2=0.3")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.lam.get_alias(FunctionName=name, Name="beta")["RoutingConfig"],
                         {"AdditionalVersionWeights": {"2": 0.3}})
        out = self.server.alto("alias", "ls", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["beta -> 1 (+ version 2 at 30%)", "live -> 2"])
        out = self.server.alto("publish", name, "--description", "same again")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("version 2", out.stdout)

        # Clear errors and non-zero exits.
        out = self.server.alto("alias", name, "gamma", "--version", "9")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)
        out = self.server.alto("alias", name, "gamma", "--version", "1", "--weight", "2=1.5")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--weight", out.stderr)
        out = self.server.alto("publish", "no-such-fn")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("ResourceNotFoundException", out.stderr)
        out = self.server.alto("deploy", src, "--name", name, "--alias", "live")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--publish", out.stderr)


if __name__ == "__main__":
    unittest.main()
