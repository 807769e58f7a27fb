"""Lambda response streaming in Alto's Node.js runtime: a handler wrapped in
awslambda.streamifyResponse, as written for AWS, runs unmodified.

NodeStreamingTest drives a real `alto server`: boto3 Invoke (the server collects the streamed
body) and a RESPONSE_STREAM function URL (HttpResponseStream's prelude becomes the HTTP status,
headers and cookies). NodeRuntimeWireTest runs the runtime process itself against a small
in-test Runtime API server that records the streaming POST as it arrives on the wire: headers,
each HTTP chunk, and the error trailers."""

import base64
import hashlib
import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
import uuid

import harness
from harness import AltoTestCase, zip_files

MIB = 1024 * 1024

# One function; the event's "t" (Invoke) or the URL path (function URL) picks the behaviour.
STREAMING_APP = r"""
import crypto from 'node:crypto';
import { once } from 'node:events';
import stream from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import util from 'node:util';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const mode = event.t ?? (event.rawPath || '/').slice(1);
  switch (mode) {
    case 'abc':
      responseStream.setContentType('text/plain');
      for (const c of ['a', 'b', 'c']) {
        responseStream.write(c);
        await sleep(20);
      }
      responseStream.end();
      return;
    case 'left-open': // the runtime ends a stream the handler did not end
      responseStream.write('left ');
      await sleep(20);
      responseStream.write('open');
      return;
    case 'http':
      responseStream = awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 201,
        headers: { 'x-custom': '1', 'content-type': 'text/plain' },
        cookies: ['a=b'],
      });
      responseStream.write('hello ');
      await sleep(20);
      responseStream.write('streamed world');
      responseStream.end();
      return;
    case 'pipeline':
      await pipeline(stream.Readable.from(['p1-', 'p2-', 'p3']), responseStream);
      return;
    case 'pipeline-callback': // the style of AWS's own samples
      await util.promisify(stream.pipeline)(stream.Readable.from(['c1-', 'c2']), responseStream);
      return;
    case 'throw':
      responseStream.write('partial');
      await sleep(20);
      throw new TypeError('failed mid-stream');
    case 'large': {
      const size = event.size ?? 3 * 1024 * 1024;
      const data = crypto.randomBytes(size);
      const sha = crypto.createHash('sha256').update(data).digest('hex');
      console.log(`sha256=${sha} size=${size}`);
      if (event.rawPath) {
        responseStream = awslambda.HttpResponseStream.from(responseStream, {
          statusCode: 200,
          headers: { 'x-sha256': sha, 'content-type': 'application/octet-stream' },
        });
      }
      for (let off = 0; off < size; off += 64 * 1024) {
        if (!responseStream.write(data.subarray(off, off + 64 * 1024))) await once(responseStream, 'drain');
      }
      responseStream.end();
      await finished(responseStream);
      return;
    }
    default:
      responseStream.end(`unknown mode ${mode}`);
  }
});
"""


class NodeStreamingTest(AltoTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fn = "node-stream"
        cls.lam.create_function(FunctionName=cls.fn, Runtime="nodejs20.x", Handler="index.handler",
                                Role=harness.ROLE, Code={"ZipFile": zip_files({"index.mjs": STREAMING_APP})},
                                Timeout=60, MemorySize=512)
        cfg = cls.lam.create_function_url_config(FunctionName=cls.fn, AuthType="NONE",
                                                 InvokeMode="RESPONSE_STREAM")
        assert cfg["InvokeMode"] == "RESPONSE_STREAM", cfg

    def url(self, path):
        return self.server.request("GET", "/url/%s%s" % (self.fn, path), timeout=120)

    def invoke_bytes(self, event):
        resp = self.lam.invoke(FunctionName=self.fn, Payload=json.dumps(event), LogType="Tail")
        raw = resp["Payload"].read()
        log = base64.b64decode(resp.get("LogResult", "")).decode("utf-8", "replace")
        return resp, raw, log

    def test_invoke_returns_the_streamed_writes(self):
        resp, raw, log = self.invoke_bytes({"t": "abc"})
        self.assertEqual(resp["StatusCode"], 200)
        self.assertNotIn("FunctionError", resp, log)
        self.assertEqual(raw, b"abc")

    def test_stream_left_open_is_ended_by_the_runtime(self):
        resp, raw, log = self.invoke_bytes({"t": "left-open"})
        self.assertNotIn("FunctionError", resp, log)
        self.assertEqual(raw, b"left open")
        # and the sandbox goes on serving
        self.assertEqual(self.invoke_bytes({"t": "abc"})[1], b"abc")

    def test_function_url_http_response_stream(self):
        status, headers, body = self.url("/http")
        self.assertEqual(status, 201, body)
        self.assertEqual(headers.get("x-custom"), "1")
        self.assertEqual(headers.get("content-type"), "text/plain")
        self.assertEqual(headers.get("set-cookie"), "a=b")
        self.assertEqual(body, b"hello streamed world")

    def test_pipeline_into_the_response_stream(self):
        self.assertEqual(self.invoke_bytes({"t": "pipeline"})[1], b"p1-p2-p3")
        self.assertEqual(self.invoke_bytes({"t": "pipeline-callback"})[1], b"c1-c2")

    def test_error_after_writes_is_logged_and_the_sandbox_goes_on(self):
        resp, _, log = self.invoke_bytes({"t": "throw"})
        self.assertIn("Invoke Error", log)
        self.assertIn("failed mid-stream", log)
        resp, raw, log = self.invoke_bytes({"t": "abc"})
        self.assertEqual(raw, b"abc", log)

    # The runtime sends the error as the trailers Lambda-Runtime-Function-Error-Type/-Body
    # (NodeRuntimeWireTest checks them on the wire); the server turns them into the function error.
    def test_error_after_writes_is_a_function_error(self):
        resp, raw, log = self.invoke_bytes({"t": "throw"})
        self.assertEqual(resp.get("FunctionError"), "Unhandled", raw)
        doc = json.loads(raw)
        self.assertEqual(doc["errorType"], "TypeError")
        self.assertEqual(doc["errorMessage"], "failed mid-stream")

    def test_large_body_arrives_intact_through_invoke(self):
        resp, raw, log = self.invoke_bytes({"t": "large"})
        self.assertNotIn("FunctionError", resp, raw[:300])
        sha = [w.split("=", 1)[1] for w in log.split() if w.startswith("sha256=")]
        self.assertEqual(len(sha), 1, log)
        self.assertEqual(len(raw), 3 * MIB)
        self.assertEqual(hashlib.sha256(raw).hexdigest(), sha[0])

    def test_large_body_arrives_intact_through_function_url(self):
        status, headers, body = self.url("/large")
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(len(body), 3 * MIB)
        self.assertEqual(hashlib.sha256(body).hexdigest(), headers.get("x-sha256"))


# -- the runtime on the wire ------------------------------------------------------------------------

WIRE_APP = r"""
import fs from 'node:fs';
import path from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForFile(name, ms) {
  for (let waited = 0; waited < ms; waited += 20) {
    if (fs.existsSync(path.join(process.env.LAMBDA_TASK_ROOT, name))) return true;
    await sleep(20);
  }
  return false;
}

const streaming = awslambda.streamifyResponse(async (event, responseStream) => {
  switch (event.t) {
    case 'as-it-happens': // the second write waits until the server has seen the first one
      responseStream.setContentType('text/plain');
      responseStream.write('first');
      responseStream.write(`seen=${await waitForFile('seen-first', 30000)}`);
      responseStream.end();
      return;
    case 'content-type-too-late':
      responseStream.write('x');
      try {
        responseStream.setContentType('text/plain');
      } catch (e) {
        responseStream.end(`|${e.name}: ${e.message}`);
      }
      return;
    case 'http':
      awslambda.HttpResponseStream.from(responseStream, { statusCode: 418, headers: { a: 'b' } });
      responseStream.end('tea');
      return;
    case 'throw':
      responseStream.write('partial');
      await sleep(10);
      throw new RangeError('mid-stream');
    case 'throw-first':
      throw new SyntaxError('before any write');
    case 'backpressure': { // the server stops reading until write() has returned false
      const chunk = Buffer.alloc(64 * 1024, 'b');
      let written = 0;
      while (responseStream.write(chunk)) {
        written += chunk.length;
        if (written > 256 * 1024 * 1024) break; // writes never pushed back
      }
      fs.writeFileSync(path.join(process.env.LAMBDA_TASK_ROOT, 'full'), '');
      await new Promise((resolve) => responseStream.once('drain', resolve));
      responseStream.end(`|pushed back after ${written <= 256 * 1024 * 1024}`);
      return;
    }
    case 'destroy':
      responseStream.write('d');
      responseStream.destroy(new Error('destroyed by the handler'));
      return;
  }
});

export const handler = awslambda.streamifyResponse((event, responseStream, context) => {
  if (event.t === 'not-async') return undefined; // streaming handlers must return a promise
  return streaming(event, responseStream, context);
});

export const plain = async (event) => ({ plain: event });
"""


class FakeRuntimeApi:
    """Hands out queued events on GET /next; records each POST as it arrived (headers, HTTP
    chunks, trailers) and calls on_chunk(data) for every chunk as soon as it is read."""

    def __init__(self, on_chunk=None, timeout_s=60):
        self.events = queue.Queue()
        self.posts = queue.Queue()
        self.on_chunk = on_chunk
        self.timeout_s = timeout_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def add_event(self, event):
        rid = str(uuid.uuid4())
        self.events.put((rid, json.dumps(event).encode()))
        return rid

    def next_post(self):
        return self.posts.get(timeout=self.timeout_s)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(self.timeout_s)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers = self._headers(f)
                if method == "GET":
                    rid, body = self.events.get(timeout=self.timeout_s)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Lambda-Runtime-Aws-Request-Id: " + rid.encode() + b"\r\n"
                                 b"Lambda-Runtime-Deadline-Ms: 99999999999999\r\n"
                                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                    continue
                post = {"path": path, "headers": headers, "chunks": [], "body": b"", "trailers": {}}
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    while True:
                        size = int(f.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            post["trailers"] = self._headers(f)
                            break
                        data = f.read(size)
                        f.readline()
                        post["chunks"].append(data)
                        post["body"] += data
                        if self.on_chunk:
                            self.on_chunk(data)
                else:
                    post["body"] = f.read(int(headers.get("content-length", "0")))
                self.posts.put(post)
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
        except (OSError, ValueError, queue.Empty):
            return
        finally:
            conn.close()

    @staticmethod
    def _headers(f):
        headers = {}
        while True:
            line = f.readline().decode("latin-1")
            if line.strip() == "":
                return headers
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()


NODE = shutil.which("node") or "/usr/bin/node"
RUNTIME = os.path.join(harness.BUILD_DIR, "runtimes", "nodejs", "index.mjs")
if not os.path.exists(RUNTIME):
    RUNTIME = os.path.join(harness.REPO_ROOT, "runtimes", "nodejs", "index.mjs")


@unittest.skipUnless(os.path.exists(NODE), "needs node")
class NodeRuntimeWireTest(unittest.TestCase):

    def setUp(self):
        self.task = tempfile.mkdtemp(prefix="alto-nodestream-")
        with open(os.path.join(self.task, "index.mjs"), "w") as f:
            f.write(WIRE_APP)
        self.api = FakeRuntimeApi(on_chunk=self.on_chunk)
        self.proc = None
        self.paused_once = False

    def tearDown(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
        self.api.close()
        shutil.rmtree(self.task, ignore_errors=True)

    def on_chunk(self, data):
        if data == b"first":
            open(os.path.join(self.task, "seen-first"), "w").close()
        if data.startswith(b"b") and not self.paused_once:
            # stop reading (the socket fills up) until the handler saw write() return false
            self.paused_once = True
            harness.wait_until(lambda: os.path.exists(os.path.join(self.task, "full")), 60)

    def start(self, handler="index.handler"):
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % self.api.port, _HANDLER=handler,
                   LAMBDA_TASK_ROOT=self.task)
        self.proc = subprocess.Popen([NODE, RUNTIME], env=env, cwd=self.task, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def run_events(self, *events, handler="index.handler"):
        ids = [self.api.add_event(e) for e in events]
        self.start(handler)
        posts = [self.api.next_post() for _ in events]
        for rid, post in zip(ids, posts):
            self.assertIn("/runtime/invocation/%s/" % rid, post["path"])
        return posts

    def error_trailers(self, post):
        t = post["trailers"]
        return t.get("lambda-runtime-function-error-type"), json.loads(
            base64.b64decode(t["lambda-runtime-function-error-body"]))

    def test_streaming_request_headers_and_writes_sent_as_they_happen(self):
        post, = self.run_events({"t": "as-it-happens"})
        h = post["headers"]
        self.assertTrue(post["path"].endswith("/response"), post["path"])
        self.assertEqual(h.get("lambda-runtime-function-response-mode"), "streaming")
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        self.assertNotIn("content-length", h)
        self.assertEqual(h.get("trailer"), "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
        self.assertEqual(h.get("content-type"), "text/plain")
        self.assertEqual(post["chunks"], [b"first", b"seen=true"])
        self.assertEqual(post["trailers"], {})

    def test_set_content_type_after_a_write_throws(self):
        post, = self.run_events({"t": "content-type-too-late"})
        self.assertEqual(post["headers"].get("content-type"), "application/octet-stream")
        self.assertEqual(post["body"], b"x|Runtime.InvalidStreamingOperation: Cannot set content-type, too late.")

    def test_http_response_stream_prelude_on_end(self):
        post, = self.run_events({"t": "http"})
        self.assertEqual(post["headers"].get("content-type"), "application/vnd.awslambda.http-integration-response")
        prelude, sep, body = post["body"].partition(b"\0" * 8)
        self.assertEqual(json.loads(prelude), {"statusCode": 418, "headers": {"a": "b"}})
        self.assertEqual(body, b"tea")

    def test_errors_are_sent_as_trailers_and_the_loop_goes_on(self):
        posts = self.run_events({"t": "throw"}, {"t": "throw-first"}, {"t": "destroy"}, {"t": "not-async"},
                                {"t": "http"})
        thrown, first, destroyed, not_async, after = posts
        self.assertEqual(thrown["body"], b"partial")
        etype, doc = self.error_trailers(thrown)
        self.assertEqual(etype, "RangeError")
        self.assertEqual((doc["errorType"], doc["errorMessage"]), ("RangeError", "mid-stream"))
        self.assertTrue(doc["trace"][0].startswith("RangeError: mid-stream"), doc)
        # an error before any write goes the same way (as AWS's runtime does)
        self.assertTrue(first["path"].endswith("/response"))
        self.assertEqual(first["body"], b"")
        self.assertEqual(self.error_trailers(first)[1]["errorMessage"], "before any write")
        self.assertEqual(destroyed["body"], b"d")
        self.assertEqual(self.error_trailers(destroyed)[1]["errorMessage"], "destroyed by the handler")
        self.assertEqual(self.error_trailers(not_async)[1]["errorMessage"],
                         "Streaming does not support non-async handlers.")
        self.assertTrue(after["body"].endswith(b"tea"))
        self.assertEqual(after["trailers"], {})

    def test_writes_push_back_when_the_server_does_not_read(self):
        post, = self.run_events({"t": "backpressure"})
        data, sep, tail = post["body"].partition(b"|")
        self.assertEqual(tail, b"pushed back after true")
        self.assertEqual(data, b"b" * len(data))  # every chunk arrived, in one piece
        self.assertEqual(len(data) % (64 * 1024), 0)

    def test_plain_handlers_are_unchanged(self):
        post, = self.run_events({"x": 1}, handler="index.plain")
        self.assertTrue(post["path"].endswith("/response"))
        self.assertEqual(post["headers"].get("content-length"), str(len(post["body"])))
        self.assertNotIn("lambda-runtime-function-response-mode", post["headers"])
        self.assertEqual(json.loads(post["body"]), {"plain": {"x": 1}})


if __name__ == "__main__":
    unittest.main()
