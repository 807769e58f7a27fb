#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<harness>/ from shapes the unit and e2e tests
use: request heads the aws CLI, boto3 and function URL clients send, the tests' ARNs, create and
update bodies, routing configs, function outputs, and tiny zips (like tests/unit/zip_test.cc's).
Rerun after changing it; the files are small and committed so that CI needs no generation step.
Files it did not write (crash reproducers copied in by hand) are kept."""
import base64
import hashlib
import hmac
import io
import json
import os
import struct
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(harness, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def http_seeds():
    sigv4 = ("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/"
             "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64 + "\r\n"
             "X-Amz-Date: 20260101T000000Z\r\n")
    body = json.dumps({"FunctionName": "hello", "Runtime": "python3.12", "Role":
                       "arn:aws:iam::000000000000:role/alto", "Handler": "app.handler"})
    reqs = [
        "GET /2015-03-31/functions/ HTTP/1.1\r\nHost: localhost:9000\r\n\r\n",
        "GET /2015-03-31/functions/hello HTTP/1.1\r\nHost: localhost\r\nUser-Agent: aws-cli/2\r\n"
        + sigv4 + "\r\n",
        "POST /2015-03-31/functions/hello/invocations HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"k\":\"value\"}",
        "POST /2015-03-31/functions/hello/invocations?Qualifier=live HTTP/1.1\r\nHost: x\r\n"
        "X-Amz-Invocation-Type: Event\r\nContent-Length: 2\r\n\r\n{}",
        "POST /2015-03-31/functions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        "\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        "POST /2021-11-15/functions/hello/response-streaming-invocations HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "PUT /2015-03-31/functions/hello/code HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: 4\r\n\r\n{  }",
        "GET /url/hello/live/path/x?a=1&b=2&a=3 HTTP/1.1\r\nHost: abc.lambda-url.us-east-1."
        "localhost:9000\r\nCookie: a=1; b=2\r\nOrigin: http://example.com\r\n\r\n",
        "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\nAccess-Control-Request-Method: PUT"
        "\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.0\r\nContent-Length: 2\r\n\r\nok",
        "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        "0\r\n\r\n",
        "GET /" + "a" * 300 + " HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for r in reqs:
        write("fuzz_http_server", r)
        # fuzz_http_parser: the first byte picks the piece size.
        write("fuzz_http_parser", b"\x07" + r.encode())
        write("fuzz_http_parser", b"\x3f" + r.encode())
    # fuzz_http_server sends an input that starts with 0x16 to its TLS listener: ClientHellos as
    # Python's ssl sends them (TLS 1.3, and capped at TLS 1.2), captured once (they hold random
    # values, so generating them here would add new files on every run).
    for hello in TLS_CLIENT_HELLOS:
        write("fuzz_http_server", base64.b64decode(hello))


TLS_CLIENT_HELLOS = [
    "FgMBAgABAAH8AwMaCaIZfiMap2LP1CqBWUq4Ptcq2uj7Bp0cKV9z3OpNiiC7Z8wIAVsWpsE9KMHrF3g2Dcj+Lnq6DQpzcjSZ"
    "poppggAkEwITAxMBwCzAMMArwC/MqcyowCTAKMAjwCcAnwCeAGsAZwD/AQABjwAAAA4ADAAACWxvY2FsaG9zdAALAAQDAAEC"
    "AAoAFgAUAB0AFwAeABkAGAEAAQEBAgEDAQQAIwAAABYAAAAXAAAADQAqACgEAwUDBgMIBwgICAkICggLCAQIBQgGBAEFAQYB"
    "AwMDAQMCBAIFAgYCACsABQQDBAMDAC0AAgEBADMAJgAkAB0AIIFEwAH5qn47URVKu9NSC31L8G+E9ZRKxe2/l7bp95EGABUA"
    "5AAA" + "A" * 302 + "==",
    "FgMBAK8BAACrAwPzPXDMfgo70s4tf6vTgI7tHhkK7B0Yktq0jxYXcAWbDgAAHsAswDDAK8AvzKnMqMAkwCjAI8AnAJ8AngBr"
    "AGcA/wEAAGQAAAAOAAwAAAlsb2NhbGhvc3QACwAEAwABAgAKAAwACgAdABcAHgAZABgAIwAAABYAAAAXAAAADQAqACgEAwUD"
    "BgMIBwgICAkICggLCAQIBQgGBAEFAQYBAwMDAQMCBAIFAgYC",
]


def api_seeds():
    create = {"FunctionName": "hello", "Runtime": "python3.12", "Role":
              "arn:aws:iam::000000000000:role/alto", "Handler": "app.handler",
              "MemorySize": 256, "Timeout": 30, "Description": "d",
              "Environment": {"Variables": {"GREETING": "hi", "TOKEN": "x"},
                              "Secrets": ["TOKEN"]},
              "EphemeralStorage": {"Size": 1024}, "Architectures": ["x86_64"],
              "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:failures"},
              "NetworkMode": "none", "PackageType": "Zip"}
    bodies0 = [create, {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:fn",
                        "Runtime": "nodejs20.x", "Role": "arn:aws:iam::000000000000:role/x",
                        "Handler": "index.handler"},
               {"FunctionName": "fn", "MemorySize": "big"}, {"FunctionName": "fn:live"}, {},
               # Reproducer: undefined behaviour in get<int> before integers were range-checked.
               dict(create, MemorySize=1e300)]
    bodies1 = [{"MemorySize": 64, "Timeout": 10},
               {"Timeout": 10, "Environment": {"Variables": {"A1": "b"}}},
               {"Environment": {"Variables": {"TOKEN": "<redacted: secret>", "MODE": "x"}}},
               {"Environment": {"Variables": {"AWS_REGION": "x"}}},
               {"Description": "x" * 40, "Role": "arn:aws:iam::000000000000:role/any"},
               {"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:000000000000:topic"}}]
    bodies2 = [{"AdditionalVersionWeights": {"2": 0.1}}, {"AdditionalVersionWeights": {}}, None,
               {"AdditionalVersionWeights": {"2": 1.1}},
               {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
               {"FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights":
                                                                {"2": 0.5}}}]
    for mode, bodies in ((0, bodies0), (1, bodies1), (2, bodies2)):
        for b in bodies:
            write("fuzz_api_validation", bytes([mode]) + json.dumps(b).encode())
    for ref in ["hello", "hello:live", "hello:$LATEST", "hello:7",
                "arn:aws:lambda:eu-west-1:123456789012:function:fn:live",
                "123456789012:function:fn", "arn:aws:lambda:us-east-1:0:function"]:
        write("fuzz_api_validation", b"\x03" + ref.encode())


def arn_seeds():
    for s in ["hello", "$LATEST", "7", "live", "my-alias_1",
              "arn:aws:lambda:us-east-1:000000000000:function:fn",
              "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
              "arn:aws:lambda:eu-west-1:123456789012:function:fn:live",
              "arn:aws:lambda:us-east-1:000000000000:function:hello:7",
              "arn:aws:lambda:us-east-1:000000000000:function:",
              "arn:aws:lambda:us-east-1:000000000000:fn:x", "000000000000:function:fn:1",
              "arn:aws:sqs:us-east-1:000000000000:failures",
              "arn:aws:sqs:us-east-1:000000000000:bad name",
              "arn:aws:sns:us-east-1:000000000000:topic", "arn:aws:s3:::some-bucket"]:
        write("fuzz_arn", s)


def event_stream_seeds():
    write("fuzz_event_stream", b"\x02\x0b:event-type\x0cPayloadChunk\x01hello world")
    write("fuzz_event_stream", b"\x03\x0b:event-type\x0eInvokeComplete\x0d:content-type"
          b"\x10application/json\x00{\"ErrorCode\":\"\"}")
    write("fuzz_event_stream", b"\x00\x00")


def http_event_seeds():
    outputs = ['{"k":1}', '"Hello"', '{"message":"hi"}', '{"statusCode":"200"}',
               '{"statusCode":42}', '{"statusCode":200,"body":"%%","isBase64Encoded":true}',
               '{"statusCode":200,"cookies":"a=1"}',
               '{"statusCode":200,"headers":{"Content-Length":"999","Transfer-Encoding":'
               '"chunked"},"body":"x"}',
               '{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["c=1"]}',
               '{"statusCode":200,"body":"aGk=","isBase64Encoded":true}', '',
               '{"statusCode":200,"headers":{"x-a":"1"}}\0\0\0\0\0\0\0\0streamed body']
    # Reproducers of the response-splitting bug fuzz_http_event found (now refused).
    outputs += ['{"statusCode":200,"headers":{"X-A":"a\\r\\nSet-Cookie: evil=1"}}',
                '{"statusCode":200,"cookies":["a=1\\r\\n\\r\\nHTTP/1.1 200 OK"]}']
    # FuzzedDataProvider takes integers (the mode first) from the end, strings from the front.
    for o in outputs:
        write("fuzz_http_event", o.encode() + b"\x00")
    write("fuzz_http_event", b"GET\\/path/x\\a=1&b=2&a=3\\content-type\\text/plain\\"
          b"cookie\\a=1; b=2\\host\\abc.lambda-url.us-east-1.localhost\\body text"
          b"\x00\x00\x00\x00\x00\x00\x00\x00\x03\x01")
    write("fuzz_http_event", b"OPTIONS\\/\\\\origin\\http://a\\access-control-request-method"
          b"\\PUT\\*\\GET\\*\\{\"statusCode\":200}\x01\x01\x01\x01\x01\x01\x02\x02")


def zip_seeds():
    def z(entries):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                info.compress_type = zipfile.ZIP_DEFLATED if len(data) > 8 else zipfile.ZIP_STORED
                zf.writestr(info, data)
        return buf.getvalue()
    reg, exe, lnk, dr = 0o100644, 0o100755, 0o120777, 0o040755
    seeds = [
        [("app.py", "print(1)\n", reg), ("bin/run", "#!/bin/sh\n", exe), ("lib/", "", dr),
         ("link", "app.py", lnk)],
        [("../evil", "x", reg)], [("/abs", "x", reg)], [("a/../../b", "x", reg)],
        [("out", "../../x", lnk)], [("d/sub", "..", lnk), ("l", "d/sub/..", lnk)],
        [("dir", ".", lnk), ("dir/x", "y", reg)], [("a", "1", reg), ("a", "2", reg)],
        [("big.bin", "z" * 5000, reg)], [("setuid", "x", 0o104755)],
    ]
    for entries in seeds:
        write("fuzz_zip", z(entries))
    write("fuzz_zip", b"hello world, no zip here")


def sigv4_seeds():
    # Flags byte, then METHOD, PATH, QUERY lines, headers, an empty line and the body (see
    # fuzz_sigv4.cc). Some are validly signed with the harness's secret, so that mutations start
    # from requests that verify; the paths and queries need no encoding, so the canonical forms
    # here are simply the raw ones.
    secret, date, amz = "fuzz-secret", "20260101", "20260101T000000Z"
    scope = date + "/us-east-1/lambda/aws4_request"

    def sig(canonical):
        k = ("AWS4" + secret).encode()
        for part in (date, "us-east-1", "lambda", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope,
                                                 hashlib.sha256(canonical.encode()).hexdigest())
        return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()

    def seed(flags, method, path, query, headers, body):
        lines = [method, path, query] + ["%s:%s" % h for h in headers]
        write("fuzz_sigv4", bytes([flags]) + ("\n".join(lines) + "\n\n" + body).encode())

    path, body = "/2015-03-31/functions/f/invocations", '{"k":"v"}'
    canonical = "\n".join(["POST", path, "Qualifier=live", "host:localhost:9000",
                           "x-amz-date:" + amz, "", "host;x-amz-date",
                           hashlib.sha256(body.encode()).hexdigest()])
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDFUZZ/%s, SignedHeaders=host;x-amz-date, Signature=%s"
            % (scope, sig(canonical)))
    signed = [("Host", "localhost:9000"), ("X-Amz-Date", amz), ("Authorization", auth)]
    seed(0, "POST", path, "Qualifier=live", signed, body)
    seed(6, "POST", path, "Qualifier=live", signed + [("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
         body)
    seed(0, "POST", path, "Qualifier=live", [("Host", "h"), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                                             ("Authorization", auth)], body)
    seed(0, "GET", "/", "", [("Host", "h"), ("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host")],
         "")
    seed(0, "GET", "/", "", [("Host", "h"), ("Authorization", "Bearer token")], "")
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZ%%2F%s&X-Amz-Date=%s"
             "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host" % (scope.replace("/", "%2F"), amz))
    canonical = "\n".join(["GET", "/bucket/key", query, "host:s3.localhost", "", "host",
                           "UNSIGNED-PAYLOAD"])
    seed(1, "GET", "/bucket/key", query + "&X-Amz-Signature=" + sig(canonical),
         [("Host", "s3.localhost")], "")
    seed(5, "PUT", "/a/./b/../c//d%3A%2F%20e/", "b=2&a=1&a=0&c&d=x+y",
         [("Host", "h"), ("My-Header", "  a   b  "), ("my-header", "c"), ("User-Agent", "x")],
         "body")


def resource_policy_seeds():
    # The first byte picks the input kind: even an AddPermission body, odd a stored document.
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    bodies = [{"StatementId": "s1", "Action": "lambda:InvokeFunction", "Principal": "111122223333"},
              {"StatementId": "s.2", "Action": "lambda:*", "Principal": "*"},
              {"StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
               "SourceArn": "arn:aws:s3:::bucket", "SourceAccount": "111122223333"},
              {"StatementId": "u", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
               "FunctionUrlAuthType": "AWS_IAM", "PrincipalOrgID": "o-abcdefghij"},
              {"StatementId": "r", "Action": "*", "Principal": "arn:aws:iam::111122223333:role/r",
               "EventSourceToken": "tok", "RevisionId": "x"},
              {"StatementId": "bad sid", "Action": "lambda:Invoke*", "Principal": "Bad"}]
    for b in bodies:
        write("fuzz_resource_policy", b"\x00" + json.dumps(b).encode())
    stmt = {"Sid": "s1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "lambda:InvokeFunction", "Resource": arn}
    svc = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
           "Action": "lambda:InvokeFunction", "Resource": arn,
           "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"},
                         "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    for doc in [{"Version": "2012-10-17", "Id": "default", "Statement": [stmt, svc]},
                {"Version": "2012-10-17", "Id": "default", "Statement": []},
                {"Version": "2012-10-17", "Statement": [dict(stmt, Effect="Deny")]}]:
        write("fuzz_resource_policy", b"\x01" + json.dumps(doc, separators=(",", ":")).encode())


if __name__ == "__main__":
    http_seeds()
    api_seeds()
    arn_seeds()
    event_stream_seeds()
    http_event_seeds()
    zip_seeds()
    resource_policy_seeds()
    sigv4_seeds()
