"""Function tags (issue 15 part 5): TagResource, UntagResource, ListTags and CreateFunction's Tags,
with Lambda's limits, through boto3, the aws CLI and raw HTTP, against a real `alto server`.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_tags -v
"""

import json
import os
import re
import sys
import time
import unittest
import urllib.parse

import boto3
import botocore.exceptions
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ACCOUNT, REGION, ROLE, AltoServer, AltoTestCase, zip_files  # noqa: E402

PY_ECHO = "def handler(event, context):\n    return {'echo': event}\n"
TAGS_PATH = "/2017-03-31/tags/%s"


def arn_of(name):
    return "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, name)


def code_of(exc):
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


class TagsTest(AltoTestCase):

    def make_function(self, **kw):
        name = self.unique("tags")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}), **kw)
        return name

    def assertRefused(self, call, code, status, message_re=None):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            call()
        self.assertEqual(code_of(cm.exception), (code, status), cm.exception.response)
        if message_re:
            self.assertRegex(cm.exception.response["Error"]["Message"], message_re)
        return cm.exception

    def test_create_with_tags_shows_in_get_function(self):
        name = self.make_function(Tags={"team": "core", "env": ""})
        got = self.lam.get_function(FunctionName=name)
        self.assertEqual(got["Tags"], {"team": "core", "env": ""})
        self.assertNotIn("TagsError", got)
        # The function's tags whichever version is asked for; ListTags agrees.
        self.assertEqual(self.lam.get_function(FunctionName=name, Qualifier="$LATEST")["Tags"],
                         {"team": "core", "env": ""})
        self.assertEqual(self.lam.list_tags(Resource=arn_of(name))["Tags"], {"team": "core", "env": ""})
        # Lambda leaves Tags out of GetFunction for an untagged function; ListTags answers {}.
        bare = self.make_function()
        self.assertNotIn("Tags", self.lam.get_function(FunctionName=bare))
        self.assertEqual(self.lam.list_tags(Resource=arn_of(bare))["Tags"], {})

    def test_tag_untag_list_round_trip(self):
        name = self.make_function(Tags={"a": "1"})
        arn = arn_of(name)
        revision = self.lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
        resp = self.lam.tag_resource(Resource=arn, Tags={"b": "2", "a": "one"})
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertEqual(self.lam.list_tags(Resource=arn)["Tags"], {"a": "one", "b": "2"})
        resp = self.lam.untag_resource(Resource=arn, TagKeys=["a", "never-there"])
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertEqual(self.lam.list_tags(Resource=arn)["Tags"], {"b": "2"})
        self.assertEqual(self.lam.get_function(FunctionName=name)["Tags"], {"b": "2"})
        # Tags are not configuration: the revision stays, and a published version runs as before.
        self.assertEqual(self.lam.get_function(FunctionName=name)["Configuration"]["RevisionId"], revision)
        version = self.lam.publish_version(FunctionName=name)["Version"]
        self.assertEqual(self.lam.get_function(FunctionName=name, Qualifier=version)["Tags"], {"b": "2"})

    def test_raw_http_shapes(self):
        name = self.make_function()
        path = TAGS_PATH % urllib.parse.quote(arn_of(name), safe="")
        status, _, body = self.server.request("POST", path, json.dumps({"Tags": {"k": "v"}}).encode(),
                                              {"Content-Type": "application/json"})
        self.assertEqual((status, body), (204, b""))
        status, _, body = self.server.request("GET", path)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"Tags": {"k": "v"}})
        status, _, body = self.server.request("DELETE", path + "?tagKeys=k&tagKeys=x")
        self.assertEqual((status, body), (204, b""))
        self.assertEqual(json.loads(self.server.request("GET", path)[2]), {"Tags": {}})
        # Without tagKeys, or without Tags, there is nothing to do: refused.
        self.assertLambdaError(self.server.request("DELETE", path), 400, "InvalidParameterValueException")
        self.assertLambdaError(self.server.request("POST", path, b"{}", {"Content-Type": "application/json"}),
                               400, "InvalidParameterValueException")

    def test_aws_cli(self):
        name = self.make_function()
        arn = arn_of(name)
        out = self.server.aws("lambda", "tag-resource", "--resource", arn, "--tags", "owner=cli,stage=test")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = self.server.aws("lambda", "list-tags", "--resource", arn)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"Tags": {"owner": "cli", "stage": "test"}})
        out = self.server.aws("lambda", "untag-resource", "--resource", arn, "--tag-keys", "owner")
        self.assertEqual(out.returncode, 0, out.stderr)
        out = self.server.aws("lambda", "get-function", "--function-name", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["Tags"], {"stage": "test"})

    def test_limits_and_reserved_prefix_change_nothing(self):
        name = self.make_function(Tags={"keep": "me"})
        arn = arn_of(name)
        invalid = "InvalidParameterValueException"
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"aws:team": "x"}), invalid, 400,
                           "aws:")
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"AWS:Team": "x", "ok": "1"}),
                           invalid, 400)
        self.assertRefused(lambda: self.lam.untag_resource(Resource=arn, TagKeys=["aws:createdBy"]), invalid, 400)
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"k" * 129: "x"}), invalid, 400)
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"k": "v" * 257}), invalid, 400)
        # 49 more make 50: fine. One more after that is over the limit, even in a request of one.
        self.lam.tag_resource(Resource=arn, Tags={"t%02d" % i: "v" for i in range(49)})
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"one-more": "x"}), invalid, 400,
                           "limit")
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"t%02d" % i: "v" for i in range(51)}),
                           invalid, 400)
        tags = self.lam.list_tags(Resource=arn)["Tags"]
        self.assertEqual(len(tags), 50)
        self.assertEqual(tags["keep"], "me")
        self.assertNotIn("one-more", tags)
        # Replacing an existing key's value does not count as a new tag.
        self.lam.tag_resource(Resource=arn, Tags={"keep": "changed"})
        self.assertEqual(self.lam.list_tags(Resource=arn)["Tags"]["keep"], "changed")

    def test_arn_forms(self):
        name = self.make_function()
        self.lam.publish_version(FunctionName=name)
        invalid = "InvalidParameterValueException"
        # Versions and aliases carry no tags of their own; a bare name is no ARN.
        self.assertRefused(lambda: self.lam.list_tags(Resource=arn_of(name) + ":1"), invalid, 400)
        self.assertRefused(lambda: self.lam.tag_resource(Resource=arn_of(name) + ":1", Tags={"a": "b"}),
                           invalid, 400)
        self.assertRefused(lambda: self.lam.list_tags(Resource=name), invalid, 400)
        # Another region's or account's ARN names no function here.
        other_region = "arn:aws:lambda:eu-west-1:%s:function:%s" % (ACCOUNT, name)
        other_account = "arn:aws:lambda:%s:111111111111:function:%s" % (REGION, name)
        for arn in (other_region, other_account):
            self.assertRefused(lambda: self.lam.tag_resource(Resource=arn, Tags={"a": "b"}),
                               "ResourceNotFoundException", 404)
        self.assertEqual(self.lam.list_tags(Resource=arn_of(name))["Tags"], {})
        missing = arn_of(self.unique("missing"))
        self.assertRefused(lambda: self.lam.list_tags(Resource=missing), "ResourceNotFoundException", 404)
        self.assertRefused(lambda: self.lam.tag_resource(Resource=missing, Tags={"a": "b"}),
                           "ResourceNotFoundException", 404)
        self.assertRefused(lambda: self.lam.untag_resource(Resource=missing, TagKeys=["a"]),
                           "ResourceNotFoundException", 404)

    def test_bad_tags_on_create_create_nothing(self):
        bad = [{"aws:x": "1"}, {"": "v"}, {"k": "v" * 257}, {"t%02d" % i: "v" for i in range(51)}]
        for tags in bad:
            name = self.unique("badtags")
            self.assertRefused(lambda: self.create(name, "python3.12", "app.handler",
                                                   zip_files({"app.py": PY_ECHO}), Tags=tags),
                               "InvalidParameterValueException", 400)
            self.assertRefused(lambda: self.lam.get_function(FunctionName=name), "ResourceNotFoundException", 404)
        self.assertFalse([n for n in self.function_names() if n.startswith("badtags")])

    def test_deleted_with_the_function(self):
        name = self.make_function(Tags={"a": "1"})
        self.lam.delete_function(FunctionName=name)
        self.assertRefused(lambda: self.lam.list_tags(Resource=arn_of(name)), "ResourceNotFoundException", 404)
        # A new function of the same name starts untagged.
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        self.assertEqual(self.lam.list_tags(Resource=arn_of(name))["Tags"], {})

    def test_get_function_shows_tags_only_to_who_may_list_them(self):
        name = self.make_function(Tags={"secret-ish": "x"})
        key_policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*"}]}
        path = os.path.join(self.server.tmp, "policy-%d.json" % time.monotonic_ns())
        with open(path, "w") as f:
            json.dump(key_policy, f)
        out = harness.run_cmd([harness.ALTO_BIN, "key", "--endpoint", self.server.endpoint, "create",
                               "--policy", path])
        self.assertEqual(out.returncode, 0, out.stderr)
        key_id = re.search(r"AccessKeyId\s+(\S+)", out.stdout).group(1)
        secret = re.search(r"SecretAccessKey\s+(\S+)", out.stdout).group(1)
        c = boto3.client("lambda", endpoint_url=self.server.endpoint, region_name=REGION, aws_access_key_id=key_id,
                         aws_secret_access_key=secret,
                         config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        got = c.get_function(FunctionName=name)
        self.assertNotIn("Tags", got)
        self.assertEqual(got["TagsError"]["ErrorCode"], "AccessDeniedException")
        self.assertIn("lambda:ListTags", got["TagsError"]["Message"])
        self.assertRefused(lambda: c.list_tags(Resource=arn_of(name)), "AccessDeniedException", 403)
        self.assertRefused(lambda: c.tag_resource(Resource=arn_of(name), Tags={"a": "b"}),
                           "AccessDeniedException", 403, "lambda:TagResource")

    def test_survive_a_restart(self):
        name = self.make_function(Tags={"durable": "yes"})
        self.lam.tag_resource(Resource=arn_of(name), Tags={"added": "later"})
        second = AltoServer(data_dir=self.server.data_dir, state_dir=self.server.state_dir, name="tags-restart")
        self.server.stop()
        try:
            second.start()
            lam = second.client()
            self.assertEqual(lam.list_tags(Resource=arn_of(name))["Tags"], {"durable": "yes", "added": "later"})
            self.assertEqual(lam.get_function(FunctionName=name)["Tags"], {"durable": "yes", "added": "later"})
        finally:
            second.stop()
            self.server.start()  # tearDownClass stops it again
            type(self).lam = self.server.client()  # it listens on a new port


if __name__ == "__main__":
    unittest.main()
