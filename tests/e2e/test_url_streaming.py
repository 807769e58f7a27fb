"""Response streaming end to end: a custom runtime posts its answer with the Runtime API's
streaming protocol (chunked, Lambda-Runtime-Function-Response-Mode: streaming, error trailers),
and a RESPONSE_STREAM function URL passes each piece to the HTTP client as it is written, while
the Invoke API collects the same answer whole."""

import base64
import hashlib
import http.client
import json
import time
import unittest

from harness import AltoTestCase, ROLE, zip_files

# A custom runtime in Python that streams by hand, so the test controls every chunk, pause and
# trailer. The event's rawPath (a URL event, or {"rawPath": ...} through Invoke) picks the case.
BOOTSTRAP = r'''#!/usr/bin/env python3
import base64, http.client, json, os, time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
BASE = "/2018-06-01/runtime/invocation/"
BLOCK = bytes(range(256)) * 256  # 64 KiB

def connect():
    return http.client.HTTPConnection(HOST, int(PORT))

def stream(rid, content_type):
    c = connect()
    c.putrequest("POST", BASE + rid + "/response")
    c.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    c.putheader("Transfer-Encoding", "chunked")
    c.putheader("Content-Type", content_type)
    c.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    c.endheaders()
    return c

def chunk(c, data):
    c.send(b"%x\r\n" % len(data) + data + b"\r\n")

def finish(c, error=None):
    trailers = b""
    if error:
        doc = json.dumps({"errorType": error, "errorMessage": "failed mid-stream"}).encode()
        trailers = (b"Lambda-Runtime-Function-Error-Type: " + error.encode() + b"\r\n" +
                    b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(doc) + b"\r\n")
    c.send(b"0\r\n" + trailers + b"\r\n")
    c.getresponse().read()

def prelude(status=200, headers=None):
    p = {"statusCode": status, "headers": headers or {"content-type": "text/plain"}}
    return json.dumps(p).encode() + b"\0" * 8

HTTP = "application/vnd.awslambda.http-integration-response"

while True:
    c = connect()
    c.request("GET", BASE + "next")
    r = c.getresponse()
    event = json.loads(r.read() or b"{}")
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    path = event.get("rawPath", "/")
    if path == "/slow":
        s = stream(rid, HTTP)
        chunk(s, prelude(203, {"content-type": "text/plain", "x-streamed": "yes"}) + b"first ")
        time.sleep(2)
        chunk(s, b"second")
        finish(s)
    elif path == "/error":
        s = stream(rid, HTTP)
        chunk(s, prelude() + b"partial")
        time.sleep(0.3)
        finish(s, "Custom.StreamFailure")
    elif path == "/big":
        mib = int(event.get("queryStringParameters", {}).get("mib", event.get("mib", 1)))
        s = stream(rid, HTTP)
        chunk(s, prelude(200, {"content-type": "application/octet-stream"}))
        for _ in range(mib * 16):
            chunk(s, BLOCK)
        finish(s)
    elif path == "/hang":
        s = stream(rid, HTTP)
        chunk(s, prelude() + b"started")
        time.sleep(30)
        finish(s)
    elif path == "/plain":
        s = stream(rid, "text/csv")
        chunk(s, b"a,b\n")
        chunk(s, b"1,2\n")
        finish(s)
    else:
        body = json.dumps({"statusCode": 200, "body": "buffered " + path}).encode()
        c = connect()
        c.request("POST", BASE + rid + "/response", body)
        c.getresponse().read()
'''

BLOCK = bytes(range(256)) * 256


class UrlStreamingTest(AltoTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = "streamer"
        cls.lam.create_function(FunctionName=cls.fn, Runtime="provided.al2023", Handler="bootstrap",
                                Role=ROLE, Timeout=6, MemorySize=256,
                                Code={"ZipFile": zip_files({"bootstrap": (BOOTSTRAP, 0o755)})})
        cfg = cls.lam.create_function_url_config(FunctionName=cls.fn, AuthType="NONE",
                                                 InvokeMode="RESPONSE_STREAM")
        assert cfg["InvokeMode"] == "RESPONSE_STREAM"

    def open(self, path, timeout=30):
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=timeout)
        conn.request("GET", "/url/%s%s" % (self.fn, path))
        return conn, conn.getresponse()

    def test_first_bytes_arrive_while_the_function_still_runs(self):
        started = time.monotonic()
        conn, resp = self.open("/slow")
        self.assertEqual(resp.status, 203)
        self.assertEqual(resp.getheader("x-streamed"), "yes")
        self.assertEqual(resp.getheader("Transfer-Encoding"), "chunked")
        first = resp.read1(64)
        first_at = time.monotonic() - started
        self.assertEqual(first, b"first ")
        rest = resp.read()
        done_at = time.monotonic() - started
        conn.close()
        self.assertEqual(rest, b"second")
        # The function sleeps 2 s between its two writes: the first must not wait for it.
        self.assertLess(first_at, done_at - 1.5, (first_at, done_at))

    def test_mid_stream_error_leaves_the_response_incomplete(self):
        conn, resp = self.open("/error")
        self.assertEqual(resp.status, 200)
        with self.assertRaises(http.client.IncompleteRead) as caught:
            resp.read()
        conn.close()
        self.assertEqual(caught.exception.partial, b"partial")

    def test_large_stream_passes_through_intact(self):
        # 24 MiB: four times the buffered limit, so it cannot have been collected first.
        mib = 24
        conn, resp = self.open("/big?mib=%d" % mib, timeout=120)
        self.assertEqual(resp.status, 200)
        digest = hashlib.sha256()
        received = 0
        while True:
            piece = resp.read1(1 << 20)
            if not piece:
                break
            digest.update(piece)
            received += len(piece)
        conn.close()
        self.assertEqual(received, mib << 20)
        self.assertEqual(digest.hexdigest(), hashlib.sha256(BLOCK * (mib * 16)).hexdigest())

    def test_timeout_mid_stream_cuts_the_response(self):
        started = time.monotonic()
        conn, resp = self.open("/hang")
        self.assertEqual(resp.status, 200)
        with self.assertRaises(http.client.IncompleteRead) as caught:
            resp.read()
        elapsed = time.monotonic() - started
        conn.close()
        self.assertEqual(caught.exception.partial, b"started")
        self.assertLess(elapsed, 20, "cut at the 6 s timeout, not after the function's 30 s sleep")

    def test_stream_without_prelude_keeps_its_content_type(self):
        conn, resp = self.open("/plain")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/csv")
        self.assertEqual(resp.read(), b"a,b\n1,2\n")
        conn.close()

    def test_unstreamed_answer_is_served_buffered(self):
        conn, resp = self.open("/other")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.read(), b"buffered /other")
        conn.close()

    def test_client_that_leaves_early_does_not_break_the_function(self):
        conn, resp = self.open("/big?mib=16", timeout=60)
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.read1(4096))
        conn.close()  # gone after the first bytes
        # The sandbox finishes the answer on its own and serves the next request.
        conn, resp = self.open("/plain")
        self.assertEqual(resp.read(), b"a,b\n1,2\n")
        conn.close()

    def test_invoke_api_collects_the_stream(self):
        r = self.lam.invoke(FunctionName=self.fn, Payload=json.dumps({"rawPath": "/plain"}))
        self.assertNotIn("FunctionError", r)
        self.assertEqual(r["Payload"].read(), b"a,b\n1,2\n")

    def test_invoke_api_reports_a_mid_stream_error(self):
        r = self.lam.invoke(FunctionName=self.fn, Payload=json.dumps({"rawPath": "/error"}))
        self.assertEqual(r.get("FunctionError"), "Unhandled")
        doc = json.loads(r["Payload"].read())
        self.assertEqual(doc["errorType"], "Custom.StreamFailure")
        self.assertEqual(doc["errorMessage"], "failed mid-stream")

    def test_invoke_api_keeps_the_buffered_limit(self):
        r = self.lam.invoke(FunctionName=self.fn, Payload=json.dumps({"rawPath": "/big", "mib": 7}))
        self.assertEqual(r.get("FunctionError"), "Unhandled")
        doc = json.loads(r["Payload"].read())
        self.assertEqual(doc["errorType"], "Function.ResponseSizeTooLarge")


    # InvokeWithResponseStream: botocore decodes the event stream and checks both CRCs of every
    # message, so a framing mistake fails these tests.
    def stream_invoke(self, path, **kwargs):
        r = self.lam.invoke_with_response_stream(FunctionName=self.fn,
                                                 Payload=json.dumps({"rawPath": path}), **kwargs)
        chunks, complete, times = [], None, []
        started = time.monotonic()
        for event in r["EventStream"]:
            if "PayloadChunk" in event:
                chunks.append(event["PayloadChunk"]["Payload"])
                times.append(time.monotonic() - started)
            if "InvokeComplete" in event:
                complete = event["InvokeComplete"]
        return r, chunks, complete, times

    def test_invoke_with_response_stream_delivers_chunks_as_written(self):
        r, chunks, complete, times = self.stream_invoke("/slow")
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(r["ExecutedVersion"], "$LATEST")
        body = b"".join(chunks)
        self.assertTrue(body.endswith(b"first second"), body)
        self.assertIn(b'"x-streamed": "yes"', body)  # the prelude is the function's own bytes
        self.assertGreaterEqual(len(chunks), 2)
        self.assertLess(times[0], times[-1] - 1.5, times)
        self.assertIsNotNone(complete)
        self.assertNotIn("ErrorCode", complete)

    def test_invoke_with_response_stream_reports_errors_and_log(self):
        r, chunks, complete, _ = self.stream_invoke("/error", LogType="Tail")
        self.assertTrue(b"".join(chunks).endswith(b"partial"))
        self.assertEqual(complete.get("ErrorCode"), "Custom.StreamFailure")
        self.assertEqual(complete.get("ErrorDetails"), "failed mid-stream")
        self.assertIn("REPORT RequestId", base64.b64decode(complete["LogResult"]).decode())

    def test_invoke_with_response_stream_of_an_unstreamed_answer(self):
        r, chunks, complete, _ = self.stream_invoke("/other")
        self.assertEqual(json.loads(b"".join(chunks))["body"], "buffered /other")
        self.assertNotIn("ErrorCode", complete)
        r, chunks, complete, _ = self.stream_invoke("/plain")
        self.assertEqual(r["ResponseStreamContentType"], "text/csv")
        self.assertEqual(b"".join(chunks), b"a,b\n1,2\n")

    def test_invoke_with_response_stream_errors_before_the_stream(self):
        with self.assertRaises(self.lam.exceptions.ResourceNotFoundException):
            self.lam.invoke_with_response_stream(FunctionName="no-such-function", Payload=b"{}")
        with self.assertRaises(self.lam.exceptions.InvalidRequestContentException):
            self.lam.invoke_with_response_stream(FunctionName=self.fn, Payload=b"not json")


if __name__ == "__main__":
    unittest.main()
