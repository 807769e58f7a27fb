"""Function URLs: config CRUD through boto3, and real HTTP requests (curl and a browser-like
client) through both the Host-header form and the /url/<function>/ path form, into a Python
function that answers with Lambda's payload format 2.0 response shapes."""

import base64
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import AltoServer, AltoTestCase, ROLE, run_cmd, zip_files

WEB_APP = r'''
import base64, json

def handler(event, context):
    path = event.get("rawPath", "/")
    if path == "/echo":
        return {"statusCode": 200, "headers": {"content-type": "application/json", "x-app": "web"},
                "body": json.dumps(event)}
    if path == "/binary":
        data = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event.get("body", "").encode()
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "isBase64Encoded": True, "body": base64.b64encode(data[::-1]).decode()}
    if path == "/set-cookies":
        return {"statusCode": 200, "cookies": ["session=s3cr3t; Path=/", "theme=dark; Path=/"],
                "body": "set"}
    if path == "/read-cookies":
        return {"statusCode": 200, "body": json.dumps(event.get("cookies", []))}
    if path == "/redirect":
        return {"statusCode": 302, "headers": {"Location": "echo?from=redirect"}}
    if path == "/server-error":
        return {"statusCode": 500, "headers": {"content-type": "text/plain"}, "body": "it broke"}
    if path == "/raise":
        raise RuntimeError("handler failed on purpose")
    if path == "/plain-object":
        return {"message": "hi", "n": 1}
    if path == "/plain-string":
        return "Hello"
    if path == "/bad-status":
        return {"statusCode": "two hundred"}
    return {"statusCode": 404, "body": "no route " + path}
'''

# A custom runtime that answers with the Runtime API's streaming protocol, as Lambda's Node.js
# runtime does for RESPONSE_STREAM URLs: a chunked POST with the streaming mode header, the HTTP
# integration JSON prelude, 8 NUL bytes, then the body.
STREAMING_BOOTSTRAP = r"""#!/bin/bash
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  curl -sS -D /tmp/h -o /tmp/ev "$API/invocation/next" || exit 1
  ID=$(grep -i '^lambda-runtime-aws-request-id:' /tmp/h | cut -d' ' -f2 | tr -d '\r')
  { printf '{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["s=1"]}'
    printf '\0\0\0\0\0\0\0\0'
    printf 'part1 '
    printf 'part2'; } |
    curl -sS -X POST -H 'Lambda-Runtime-Function-Response-Mode: streaming' \
      -H 'Transfer-Encoding: chunked' \
      -H 'Content-Type: application/vnd.awslambda.http-integration-response' \
      --data-binary @- "$API/invocation/$ID/response" >/dev/null || exit 1
done
"""

URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")


class FunctionUrlTest(AltoTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = "web-url"
        cls.lam.create_function(FunctionName=cls.fn, Runtime="python3.12", Handler="app.handler",
                                Role=ROLE, Code={"ZipFile": zip_files({"app.py": WEB_APP})}, Timeout=30)
        cfg = cls.lam.create_function_url_config(
            FunctionName=cls.fn, AuthType="NONE",
            Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                  "AllowHeaders": ["content-type", "x-custom"], "ExposeHeaders": ["x-app"],
                  "MaxAge": 300, "AllowCredentials": True})
        cls.url = cfg["FunctionUrl"]
        m = URL_RE.match(cls.url)
        assert m, cls.url
        cls.url_id = m.group(1)
        cls.host = "%s.lambda-url.us-east-1.localhost" % cls.url_id

    # -- helpers ---------------------------------------------------------------------------------

    def by_host(self, method, path, body=None, headers=None):
        """A request in the Host-header form (connecting to 127.0.0.1, no DNS needed)."""
        h = {"Host": "%s:%d" % (self.host, self.server.port)}
        h.update(headers or {})
        return self.server.request(method, path, body, h)

    def by_path(self, method, path, body=None, headers=None):
        return self.server.request(method, "/url/%s%s" % (self.fn, path), body, headers)

    def curl(self, *args):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("curl not installed")
        out = subprocess.run([curl, "-sS", "--max-time", "60", "--resolve",
                              "%s:%d:127.0.0.1" % (self.host, self.server.port)] + list(args),
                             capture_output=True, timeout=90)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def invocations(self):
        status, _, body = self.server.request("GET", "/v1/functions/%s/logs?limit=100" % self.fn)
        self.assertEqual(status, 200, body)
        return len(json.loads(body)["Invocations"])

    # -- requests ------------------------------------------------------------------------------

    def test_get_with_query_string_curl(self):
        out = self.curl("-i", self.url + "echo?a=1&b=two%20words&a=3",
                        "-H", "X-Multi: one", "-H", "X-Multi: two", "-A", "curl-e2e/1.0")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"x-app: web", head.lower())
        ev = json.loads(body)
        self.assertEqual(ev["version"], "2.0")
        self.assertEqual(ev["routeKey"], "$default")
        self.assertEqual(ev["rawPath"], "/echo")
        self.assertEqual(ev["rawQueryString"], "a=1&b=two%20words&a=3")
        self.assertEqual(ev["queryStringParameters"], {"a": "1,3", "b": "two words"})
        self.assertEqual(ev["headers"]["x-multi"], "one,two")
        self.assertEqual(ev["headers"]["host"], "%s:%d" % (self.host, self.server.port))
        rc = ev["requestContext"]
        self.assertEqual(rc["http"]["method"], "GET")
        self.assertEqual(rc["http"]["path"], "/echo")
        self.assertEqual(rc["http"]["sourceIp"], "127.0.0.1")
        self.assertEqual(rc["http"]["userAgent"], "curl-e2e/1.0")
        self.assertEqual(rc["apiId"], self.url_id)
        self.assertEqual(rc["domainPrefix"], self.url_id)
        self.assertEqual(rc["stage"], "$default")
        self.assertRegex(rc["time"], r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")
        self.assertIsInstance(rc["timeEpoch"], int)
        self.assertRegex(rc["requestId"], r"^[0-9a-f-]{36}$")
        self.assertFalse(ev["isBase64Encoded"])

    def test_post_json(self):
        status, headers, body = self.by_host("POST", "/echo", {"order": 7, "items": ["a", "b"]})
        self.assertEqual(status, 200, body)
        ev = json.loads(body)
        self.assertFalse(ev["isBase64Encoded"])
        self.assertEqual(json.loads(ev["body"]), {"order": 7, "items": ["a", "b"]})
        self.assertEqual(ev["requestContext"]["http"]["method"], "POST")
        self.assertEqual(ev["headers"]["content-type"], "application/json")

    def test_post_binary_round_trip_curl(self):
        data = os.urandom(4096) + b"\x00\xff\x00"
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            out = self.curl("--data-binary", "@" + f.name, "-H", "Content-Type: application/octet-stream",
                            self.url + "binary")
        self.assertEqual(out, data[::-1])

    def test_path_form_binary_and_echo(self):
        data = bytes(range(256))
        status, headers, body = self.by_path("POST", "/binary", data, {"Content-Type": "image/png"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/octet-stream")
        self.assertEqual(body, data[::-1])
        status, _, body = self.by_path("GET", "/echo?x=1")
        self.assertEqual(status, 200, body)
        ev = json.loads(body)
        self.assertEqual(ev["rawPath"], "/echo")  # the /url/<function> prefix is not the function's
        self.assertEqual(ev["queryStringParameters"], {"x": "1"})

    def test_browser_like_client_cookies_and_redirect(self):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = "http://127.0.0.1:%d/url/%s" % (self.server.port, self.fn)
        with opener.open(base + "/set-cookies", timeout=60) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(sorted(r.headers.get_all("Set-Cookie")),
                             ["session=s3cr3t; Path=/", "theme=dark; Path=/"])
        self.assertEqual(sorted(c.name for c in jar), ["session", "theme"])
        with opener.open(base + "/read-cookies", timeout=60) as r:
            self.assertEqual(sorted(json.loads(r.read())), ["session=s3cr3t", "theme=dark"])
        # 302 with a relative Location: the client follows it to /echo, cookies and all.
        with opener.open(base + "/redirect", timeout=60) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.geturl().endswith("/url/%s/echo?from=redirect" % self.fn), r.geturl())
            ev = json.loads(r.read())
        self.assertEqual(ev["queryStringParameters"], {"from": "redirect"})
        self.assertEqual(sorted(ev["cookies"]), ["session=s3cr3t", "theme=dark"])

    def test_redirect_status_and_location(self):
        status, headers, _ = self.by_host("GET", "/redirect")
        self.assertEqual(status, 302)
        self.assertEqual(headers.get("Location"), "echo?from=redirect")

    def test_function_500_passes_through(self):
        status, headers, body = self.by_host("GET", "/server-error")
        self.assertEqual(status, 500)
        self.assertEqual(body, b"it broke")
        self.assertEqual(headers.get("content-type"), "text/plain")

    def test_function_error_is_502(self):
        status, headers, body = self.by_host("GET", "/raise")
        self.assertEqual(status, 502)
        self.assertIn(b"Internal Server Error", body)
        self.assertNotIn(b"on purpose", body)  # the error document is not leaked to the client
        self.assertTrue(headers.get("x-amzn-RequestId"))

    def test_invalid_response_is_502(self):
        status, _, _ = self.by_host("GET", "/bad-status")
        self.assertEqual(status, 502)

    def test_plain_values_are_200_json(self):
        status, headers, body = self.by_host("GET", "/plain-object")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(json.loads(body), {"message": "hi", "n": 1})
        status, headers, body = self.by_path("GET", "/plain-string")
        self.assertEqual(status, 200)
        self.assertEqual(body, b'"Hello"')

    def test_cors_preflight_answered_without_invoking(self):
        before = self.invocations()
        status, headers, body = self.by_host("OPTIONS", "/echo", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example")
        self.assertEqual(headers.get("Access-Control-Allow-Methods"), "GET, POST")
        self.assertEqual(headers.get("Access-Control-Allow-Headers"), "content-type, x-custom")
        self.assertEqual(headers.get("Access-Control-Max-Age"), "300")
        self.assertEqual(headers.get("Access-Control-Allow-Credentials"), "true")
        self.assertEqual(self.invocations(), before, "a preflight must not invoke the function")
        # An origin outside the list gets no CORS grant.
        status, headers, _ = self.by_host("OPTIONS", "/echo", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertIsNone(headers.get("Access-Control-Allow-Origin"))

    def test_cors_headers_on_actual_response(self):
        status, headers, _ = self.by_path("GET", "/echo", headers={"Origin": "https://app.example"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example")
        self.assertEqual(headers.get("Access-Control-Expose-Headers"), "x-app")
        self.assertEqual(headers.get("Access-Control-Allow-Credentials"), "true")
        status, headers, _ = self.by_path("GET", "/echo")
        self.assertIsNone(headers.get("Access-Control-Allow-Origin"))

    def test_unknown_url_and_function(self):
        status, _, _ = self.server.request("GET", "/", headers={
            "Host": "%s.lambda-url.us-east-1.localhost" % ("0" * 32)})
        self.assertEqual(status, 404)
        status, _, _ = self.server.request("GET", "/url/no-such-function/x")
        self.assertEqual(status, 404)

    def test_payload_limit(self):
        big = b"x" * (6 * 1024 * 1024 + 1)
        status, _, _ = self.by_path("POST", "/echo", big, {"Content-Type": "text/plain"})
        self.assertEqual(status, 413)


class FunctionUrlConfigTest(AltoTestCase):

    def make_function(self):
        name = self.unique("urlcfg")
        self.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": zip_files({"app.py": WEB_APP})})
        return name

    def test_crud(self):
        from botocore.exceptions import ClientError
        name = self.make_function()
        with self.assertRaises(ClientError) as e:
            self.lam.get_function_url_config(FunctionName=name)
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)

        created = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")
        self.assertEqual(created["ResponseMetadata"]["HTTPStatusCode"], 201)
        self.assertRegex(created["FunctionUrl"], URL_RE)
        self.assertEqual(int(URL_RE.match(created["FunctionUrl"]).group(2)), self.server.port)
        self.assertEqual(created["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:" + name)
        self.assertEqual(created["AuthType"], "NONE")
        self.assertEqual(created["InvokeMode"], "BUFFERED")
        self.assertTrue(created["CreationTime"])

        got = self.lam.get_function_url_config(FunctionName=name)
        self.assertEqual(got["FunctionUrl"], created["FunctionUrl"])
        self.assertTrue(got["LastModifiedTime"])

        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceConflictException")
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 409)

        updated = self.lam.update_function_url_config(
            FunctionName=name, Cors={"AllowOrigins": ["*"], "MaxAge": 60}, InvokeMode="RESPONSE_STREAM")
        self.assertEqual(updated["FunctionUrl"], created["FunctionUrl"], "the URL never changes")
        self.assertEqual(updated["Cors"]["AllowOrigins"], ["*"])
        self.assertEqual(updated["Cors"]["MaxAge"], 60)
        self.assertEqual(updated["InvokeMode"], "RESPONSE_STREAM")
        self.assertEqual(updated["AuthType"], "NONE")

        listed = self.lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
        self.assertEqual([c["FunctionUrl"] for c in listed], [created["FunctionUrl"]])

        resp = self.lam.delete_function_url_config(FunctionName=name)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        with self.assertRaises(ClientError) as e:
            self.lam.delete_function_url_config(FunctionName=name)
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertEqual(self.lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"], [])

    def test_errors(self):
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName="no-such-fn", AuthType="NONE")
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        name = self.make_function()
        # A URL for an alias that does not exist is refused as not found.
        with self.assertRaises(ClientError) as e:
            self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
        self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        path = "/2021-10-31/functions/%s/url" % name
        for body in ({"AuthType": "BASIC"}, {}, {"AuthType": "NONE", "InvokeMode": "X"},
                     {"AuthType": "NONE", "Cors": {"MaxAge": 100000}},
                     {"AuthType": "NONE", "Cors": {"AllowMethods": ["GET"] * 7}},
                     # Items go into response headers: CR/LF would split every response.
                     {"AuthType": "NONE", "Cors": {"AllowHeaders": ["x\r\nSet-Cookie: a=b"]}},
                     {"AuthType": "NONE", "Cors": {"ExposeHeaders": ["x\u0000"]}},
                     {"AuthType": "NONE", "Cors": {"AllowOrigins": ["https://a\nb"]}}):
            res = self.server.request("POST", path, body)
            self.assertLambdaError(res, 400, "InvalidParameterValueException")
        res = self.server.request("POST", path + "?Qualifier=1", {"AuthType": "NONE"})
        self.assertLambdaError(res, 400, "InvalidParameterValueException")

    def test_alias_url_follows_weighted_routing(self):
        name = self.unique("urlalias")
        version_app = "import os\ndef handler(event, context):\n    return {'v': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'tag': %r}\n"
        self.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": zip_files({"app.py": version_app % "one"})})
        self.assertEqual(self.lam.publish_version(FunctionName=name)["Version"], "1")
        self.lam.update_function_code(FunctionName=name, ZipFile=zip_files({"app.py": version_app % "two"}))
        self.assertEqual(self.lam.publish_version(FunctionName=name)["Version"], "2")
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        cfg = self.lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
        self.assertTrue(cfg["FunctionArn"].endswith(":function:%s:live" % name), cfg)
        seen = {}
        for _ in range(200):  # P(a version never runs) = 2 * 0.5^200
            status, _, body = self.server.request("GET", "/url/%s/live/" % name)
            self.assertEqual(status, 200, body)
            out = json.loads(body)
            seen[out["v"]] = seen.get(out["v"], 0) + 1
            self.assertEqual(out["tag"], {"1": "one", "2": "two"}[out["v"]], out)
        self.assertEqual(sorted(seen), ["1", "2"], seen)
        self.assertGreater(seen["2"], 60, seen)
        self.assertGreater(seen["1"], 60, seen)
        # The unqualified URL path runs $LATEST, which has no URL of its own here.
        status, _, _ = self.server.request("GET", "/url/%s/" % name)
        self.assertEqual(status, 404)
        # Deleting the alias deletes its URL.
        self.lam.delete_alias(FunctionName=name, Name="live")
        self.assertEqual(self.lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"], [])
        status, _, _ = self.server.request("GET", "/url/%s/live/" % name)
        self.assertEqual(status, 404)

    def test_aws_iam_needs_a_signature(self):
        name = self.make_function()
        cfg = self.lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
        self.assertEqual(cfg["AuthType"], "AWS_IAM")
        status, _, body = self.server.request("GET", "/url/%s/plain-object" % name, signed=False)
        self.assertEqual(status, 403, body)
        status, _, body = self.server.request("GET", "/url/%s/plain-object" % name)  # the admin key
        self.assertEqual(status, 200, body)

    def test_deleted_with_the_function_and_durable(self):
        name = self.make_function()
        url = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        url_id = URL_RE.match(url).group(1)
        host = {"Host": "%s.lambda-url.us-east-1.localhost" % url_id}
        status, _, body = self.server.request("GET", "/plain-object", headers=host)
        self.assertEqual(status, 200, body)
        # A restart on the same data dir serves the same URL id.
        second = AltoServer(data_dir=self.server.data_dir, state_dir=self.server.state_dir,
                            name="urls-restart")
        self.server.stop()
        try:
            second.start()
            lam = second.client()
            self.assertEqual(URL_RE.match(lam.get_function_url_config(FunctionName=name)["FunctionUrl"]).group(1),
                             url_id)
            status, _, body = second.request("GET", "/plain-object", headers=host)
            self.assertEqual(status, 200, body)
            lam.delete_function(FunctionName=name)
            status, _, _ = second.request("GET", "/plain-object", headers=host)
            self.assertEqual(status, 404)
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zip_files({"app.py": WEB_APP})})
            self.assertEqual(lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"], [])
        finally:
            second.stop()
            self.server.start()  # tearDownClass stops it again
            type(self).lam = self.server.client()  # it listens on a new port

    def test_throttled_is_429(self):
        name = self.make_function()
        self.lam.create_function_url_config(FunctionName=name, AuthType="NONE")
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        status, headers, body = self.server.request("GET", "/url/%s/plain-object" % name)
        self.assertEqual(status, 429, body)
        self.lam.delete_function_concurrency(FunctionName=name)
        status, _, body = self.server.request("GET", "/url/%s/plain-object" % name)
        self.assertEqual(status, 200, body)

    def test_response_stream_framing(self):
        if not shutil.which("curl") or not os.path.exists("/bin/bash"):
            self.skipTest("needs bash and curl for the streaming bootstrap")
        name = self.unique("urlstream")
        self.lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                                 Code={"ZipFile": zip_files({"bootstrap": (STREAMING_BOOTSTRAP, 0o755)})},
                                 Timeout=30)
        cfg = self.lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
        self.assertEqual(cfg["InvokeMode"], "RESPONSE_STREAM")
        status, headers, body = self.server.request("GET", "/url/%s/stream" % name)
        self.assertEqual(status, 201, body)
        self.assertEqual(headers.get("content-type"), "text/plain")
        self.assertEqual(headers.get("set-cookie"), "s=1")
        self.assertEqual(body, b"part1 part2")

    def test_cli_prints_and_creates_url(self):
        name = self.make_function()
        out = self.server.alto("url", name)
        self.assertNotEqual(out.returncode, 0, "no URL yet: " + out.stdout)
        out = self.server.alto("url", name, "--create", "--cors-origin", "https://a.example")
        self.assertEqual(out.returncode, 0, out.stderr)
        url = out.stdout.strip()
        self.assertRegex(url, URL_RE)
        cfg = self.lam.get_function_url_config(FunctionName=name)
        self.assertEqual(cfg["FunctionUrl"], url)
        self.assertEqual(cfg["Cors"]["AllowOrigins"], ["https://a.example"])
        out = self.server.alto("url", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), url)


if __name__ == "__main__":
    unittest.main()
