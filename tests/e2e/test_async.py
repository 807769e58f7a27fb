"""Asynchronous invocations end to end (issue 5).

X-Amz-Invocation-Type: Event, delivery with retries, the maximum event age, destinations (Alto
queues and functions), dead-letter queues, the recursion guard, the event-invoke configuration
API, payload limits, graceful restart and the metrics.

Functions in oci sandboxes cannot reach Alto (their network namespace holds only loopback), so
everything a test learns about a delivery comes from the invocation records that OnSuccess /
OnFailure destinations write to Alto queues, read back through GET /v1/queues/NAME/messages.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_async -v
"""

import collections
import http.client
import json
import os
import re
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ACCOUNT, REGION, AltoServer, AltoTestCase, zip_files  # noqa: E402

INVOKE_PATH = "/2015-03-31/functions/%s/invocations"
MAX_ASYNC_PAYLOAD = 1048576

# -- functions ---------------------------------------------------------------------------------------

# Returns its event unchanged.
PY_ECHO = '''
def handler(event, context):
    return event
'''

# Returns a small summary of its event (for big payloads and chains).
PY_SUMMARY = '''
import json
def handler(event, context):
    event = event if isinstance(event, dict) else {"value": event}
    return {"id": event.get("id"), "size": len(json.dumps(event, separators=(",", ":"))),
            "request_id": context.aws_request_id}
'''

# Fails while this sandbox has seen the event's id at most fail_until times, then succeeds.
# A function error keeps the sandbox warm, so one event's retries all land in the same process
# (each test gives this function a single event).
PY_FAIL_N = '''
COUNTS = {}
def handler(event, context):
    key = event["id"]
    COUNTS[key] = COUNTS.get(key, 0) + 1
    if COUNTS[key] <= event["fail_until"]:
        raise RuntimeError("planned failure %d of %s" % (COUNTS[key], key))
    return {"id": key, "attempt": COUNTS[key], "request_id": context.aws_request_id}
'''

PY_ALWAYS_FAIL = '''
def handler(event, context):
    raise ValueError("always fails: %s" % event.get("id"))
'''

# Sleeps event["sleep"] seconds (default 0.5), then returns the event.
PY_SLEEPY = '''
import time
def handler(event, context):
    time.sleep(float(event.get("sleep", 0.5)))
    return event
'''

# Answers with a small constant (a self-destination loop must not grow its records by doubling).
PY_SMALL = '''
def handler(event, context):
    return {"ok": True, "request_id": context.aws_request_id}
'''


# -- helpers -----------------------------------------------------------------------------------------


def function_arn(name):
    return "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, name)


def queue_arn(name):
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


class EventConnection:
    """One keep-alive HTTP/1.1 connection that sends Event invocations."""

    def __init__(self, host, port, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def invoke(self, function, body, headers=None):
        """POST one event. Returns (status, Headers, body bytes); raises OSError /
        http.client.HTTPException when the connection fails (after one reconnect)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}
        hdrs.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                signed = harness.sign_headers("POST", self.host, self.port, INVOKE_PATH % function, body, hdrs)
                self.conn.request("POST", INVOKE_PATH % function, body=body, headers=signed)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, harness.Headers(resp.getheaders()), data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def send_events(server, function, bodies, threads=16):
    """Send bodies concurrently over `threads` keep-alive connections.

    Returns a list of (index, status, request_id or None, response body) in input order."""
    results = [None] * len(bodies)
    lock = threading.Lock()
    next_index = [0]

    def worker():
        conn = EventConnection(server.host, server.port)
        try:
            while True:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if i >= len(bodies):
                    return
                try:
                    status, headers, data = conn.invoke(function, bodies[i])
                    results[i] = (i, status, headers.get("x-amzn-RequestId"), data)
                except (OSError, http.client.HTTPException) as e:
                    results[i] = (i, None, None, repr(e).encode())
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(worker) for _ in range(threads)]:
            f.result(timeout=600)
    return results


def read_queue(server, queue, max_messages=1000, consume=True):
    status, _, body = server.request("GET", "/v1/queues/%s/messages?max=%d&consume=%s"
                                     % (queue, max_messages, "true" if consume else "false"))
    if status != 200:
        raise AssertionError("reading queue %s: %d %r" % (queue, status, body[:500]))
    doc = json.loads(body)
    if doc.get("Queue") != queue or not isinstance(doc.get("Messages"), list):
        raise AssertionError("unexpected queue read answer: %r" % body[:500])
    return doc["Messages"]


def collect(server, queue, done, timeout, interval=0.1):
    """Consume messages from queue until done(messages so far) or timeout; returns them all."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        batch = read_queue(server, queue)
        got += batch
        if done(got) or time.monotonic() >= deadline:
            return got
        if len(batch) < 1000:
            time.sleep(interval)


def records(messages):
    return [json.loads(m["Body"]) for m in messages]


def stats(server, function):
    status, _, body = server.request("GET", "/v1/functions/%s/stats" % function)
    if status != 200:
        raise AssertionError("stats of %s: %d %r" % (function, status, body[:500]))
    return json.loads(body)["Async"]


def wait_stats(server, function, predicate, timeout):
    """Poll the function's async stats until predicate(stats) holds; returns the last stats."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(server, function)
        if predicate(s) or time.monotonic() >= deadline:
            return s
        time.sleep(0.1)


def create_queue(server, name):
    status, _, body = server.request("PUT", "/v1/queues/%s" % name)
    if status != 200:
        raise AssertionError("creating queue %s: %d %r" % (name, status, body[:500]))
    return json.loads(body)["Arn"]


def list_queues(server):
    status, _, body = server.request("GET", "/v1/queues")
    if status != 200:
        raise AssertionError("listing queues: %d %r" % (status, body[:500]))
    return [q["Name"] for q in json.loads(body)["Queues"]]


def metric_value(text, name, function):
    m = re.search(r'(?m)^%s\{function="%s"\} ([0-9.eE+-]+)$' % (re.escape(name), re.escape(function)), text)
    return float(m.group(1)) if m else None


def check_record_shape(test, rec, function, condition):
    """Lambda's invocation record shape, common to every condition."""
    test.assertEqual(rec.get("version"), "1.0", rec)
    test.assertRegex(rec.get("timestamp", ""), r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", rec)
    ctx = rec.get("requestContext")
    test.assertIsInstance(ctx, dict, rec)
    test.assertRegex(ctx.get("requestId", ""), r"^[0-9a-f-]{36}$", rec)
    test.assertEqual(ctx.get("functionArn"), function_arn(function) + ":$LATEST", rec)
    test.assertEqual(ctx.get("condition"), condition, rec)
    test.assertIsInstance(ctx.get("approximateInvokeCount"), int, rec)
    test.assertIn("requestPayload", rec)
    test.assertIsInstance(rec.get("responseContext"), dict, rec)
    test.assertEqual(rec["responseContext"].get("executedVersion"), "$LATEST", rec)
    test.assertEqual(rec["responseContext"].get("statusCode"), 200, rec)


# -- tests -------------------------------------------------------------------------------------------


class AsyncDeliveryTest(AltoTestCase):
    """Retry delays scaled by 0.01: a function error is retried after 0.6 s, then 1.2 s."""

    server_options = {"extra_args": ("--async-retry-scale", "0.01")}

    def make(self, prefix, source, on_success=None, on_failure=None, retries=None, max_age=None, **kw):
        name = self.unique(prefix)
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": source}), **kw)
        dest = {}
        if on_success:
            dest["OnSuccess"] = {"Destination": on_success}
        if on_failure:
            dest["OnFailure"] = {"Destination": on_failure}
        args = {}
        if dest:
            args["DestinationConfig"] = dest
        if retries is not None:
            args["MaximumRetryAttempts"] = retries
        if max_age is not None:
            args["MaximumEventAgeInSeconds"] = max_age
        if args:
            self.lam.put_function_event_invoke_config(FunctionName=name, **args)
        return name

    def new_queue(self, prefix):
        name = self.unique(prefix)
        return name, create_queue(self.server, name)

    def one_record(self, queue, timeout=30, settle=0.5):
        """Waits for the first record in queue, then for settle s more; asserts exactly one."""
        msgs = collect(self.server, queue, lambda m: len(m) >= 1, timeout)
        self.assertTrue(msgs, "no record in queue %s within %d s" % (queue, timeout))
        self.assertEqual(len(msgs), 1, "more than one record in %s: %r" % (queue, msgs[:3]))
        time.sleep(settle)
        more = read_queue(self.server, queue)
        self.assertEqual(more, [], "a second record arrived in %s: %r" % (queue, more[:2]))
        return msgs[0], json.loads(msgs[0]["Body"])

    # 1 -------------------------------------------------------------------------------------------

    def test_1000_events_none_lost(self):
        qname, qarn = self.new_queue("ok1000")
        name = self.make("echo1000", PY_ECHO, on_success=qarn)
        n = 1000
        ids = ["ev-%04d-%s" % (i, os.urandom(4).hex()) for i in range(n)]
        t0 = time.monotonic()
        results = send_events(self.server, name, [{"id": i, "n": k} for k, i in enumerate(ids)], threads=16)
        enqueue_s = time.monotonic() - t0
        bad = [r for r in results if r[1] != 202]
        self.assertEqual(bad[:5], [], "%d of %d enqueues were not 202" % (len(bad), n))
        for _, _, rid, data in results:
            self.assertRegex(rid or "", r"^[0-9a-f-]{36}$")
            self.assertEqual(data, b"", "an Event invoke answers with an empty body")
        request_ids = {r[2]: ids[r[0]] for r in results}
        self.assertEqual(len(request_ids), n, "request ids are not unique")

        seen = collections.Counter()

        def done(msgs):
            for m in msgs[done.upto:]:
                seen[json.loads(m["Body"])["requestPayload"]["id"]] += 1
            done.upto = len(msgs)
            return all(seen[i] for i in ids)
        done.upto = 0
        msgs = collect(self.server, qname, done, timeout=120)
        total_s = time.monotonic() - t0
        recs = records(msgs)
        lost = [i for i in ids if not seen[i]]
        dups = {i: c for i, c in seen.items() if c > 1}
        unknown = set(seen) - set(ids)
        print("\n[1000 events] enqueue %.2f s (%.0f/s); all delivered after %.2f s; records %d; "
              "duplicates %d; lost %d" % (enqueue_s, n / enqueue_s, total_s, len(recs), len(dups), len(lost)),
              file=sys.stderr)
        self.assertEqual(lost, [], "%d of %d events never reached the OnSuccess queue" % (len(lost), n))
        self.assertEqual(unknown, set())
        for rec in recs:
            check_record_shape(self, rec, name, "Success")
            rid = rec["requestContext"]["requestId"]
            self.assertEqual(request_ids.get(rid), rec["requestPayload"]["id"],
                             "record's requestId is not the x-amzn-RequestId of its event")
            self.assertEqual(rec["responsePayload"], rec["requestPayload"], "the echo returns its event")
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0 and s["InFlight"] == 0, 10)
        print("[1000 events] stats %s" % json.dumps(s), file=sys.stderr)
        self.assertGreaterEqual(s["Delivered"], n, s)
        self.assertEqual(s["Enqueued"], n, s)
        self.assertEqual(s["QueueDepth"], 0, s)
        self.assertEqual(s["InFlight"], 0, s)
        self.assertEqual(s["OldestEventAgeSeconds"], 0, s)

    def test_no_duplicate_delivery_without_crashes(self):
        """Without crashes or errors every event runs once: one record per request id.

        4 functions x 1,500 events at once keep the dispatcher busy while deliveries complete, the
        situation in which a dispatch from a stale snapshot of due events would run an event that
        has just finished a second time."""
        qname, qarn = self.new_queue("once")
        names = [self.make("once%d" % k, PY_SMALL, on_success=qarn) for k in range(4)]
        per = 1500
        with ThreadPoolExecutor(len(names)) as pool:
            futures = [pool.submit(send_events, self.server, nm, [{"id": "%s-%d" % (nm, i)} for i in range(per)], 4)
                       for nm in names]
            results = [r for f in futures for r in f.result(timeout=300)]
        self.assertTrue(all(r[1] == 202 for r in results))
        want = {r[2] for r in results}

        def done(msgs):
            return want <= {json.loads(m["Body"])["requestContext"]["requestId"] for m in msgs}
        msgs = collect(self.server, qname, done, 120)
        for nm in names:
            wait_stats(self.server, nm, lambda s: s["QueueDepth"] == 0 and s["InFlight"] == 0, 10)
        msgs += read_queue(self.server, qname)
        recs = records(msgs)
        by_rid = collections.Counter(r["requestContext"]["requestId"] for r in recs)
        twice = sorted(rid for rid, c in by_rid.items() if c > 1)
        counts = collections.Counter(r["requestContext"]["approximateInvokeCount"] for r in recs)
        all_stats = {nm: stats(self.server, nm) for nm in names}
        print("\n[once] %d events, %d records, %d request ids recorded more than once; approximateInvokeCount "
              "histogram %s; Delivered %s" % (len(want), len(recs), len(twice), dict(counts),
                                               [s["Delivered"] for s in all_stats.values()]), file=sys.stderr)
        self.assertEqual(set(by_rid), want, "lost or unknown records")
        self.assertEqual(twice, [], "events delivered twice without any crash or error")
        # An attempt throttled before it reached a sandbox (a loaded machine: node capacity, sandbox
        # starts) is still an attempt: it raises approximateInvokeCount and counts as a retry. Every
        # count above 1 must be explained by such retries, and none may come from a second run.
        for nm, s in all_stats.items():
            self.assertEqual(s["Delivered"], per, "%s: %s" % (nm, s))
        extra = sum((c - 1) * n for c, n in counts.items())
        self.assertEqual(extra, sum(s["Retries"] for s in all_stats.values()),
                         "approximateInvokeCount > 1 not explained by throttled attempts: %s" % all_stats)
        self.assertEqual(sum(n for c, n in counts.items() if c > 1),
                         sum(s["Redelivered"] for s in all_stats.values()), all_stats)

    # 2 -------------------------------------------------------------------------------------------

    def fail_then_succeed(self, n):
        qname, qarn = self.new_queue("failn-ok")
        fname, farn = self.new_queue("failn-ko")
        name = self.make("failn", PY_FAIL_N, on_success=qarn, on_failure=farn, retries=2)
        event_id = "fail-%d-%s" % (n, os.urandom(4).hex())
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event",
                               Payload=json.dumps({"id": event_id, "fail_until": n}))
        self.assertEqual(resp["StatusCode"], 202)
        rid = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
        _, rec = self.one_record(qname, timeout=30)
        check_record_shape(self, rec, name, "Success")
        self.assertEqual(rec["requestContext"]["requestId"], rid)
        self.assertEqual(rec["requestPayload"], {"id": event_id, "fail_until": n})
        self.assertEqual(rec["requestContext"]["approximateInvokeCount"], n + 1,
                         "a function that fails %d times then succeeds must be invoked exactly %d times" % (n, n + 1))
        self.assertEqual(rec["responsePayload"]["attempt"], n + 1, rec)
        self.assertEqual(rec["responsePayload"]["request_id"], rid, "every attempt keeps the event's request id")
        self.assertNotIn("functionError", rec["responseContext"])
        self.assertEqual(read_queue(self.server, fname), [], "nothing goes to OnFailure")
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0, 5)
        self.assertEqual((s["Delivered"], s["Retries"], s["DeadLettered"], s["QueueDepth"]), (1, n, 0, 0), s)
        self.assertEqual(s["Redelivered"], 1 if n else 0, s)

    def test_fails_twice_then_succeeds_three_attempts(self):
        self.fail_then_succeed(2)

    def test_fails_once_then_succeeds_two_attempts(self):
        self.fail_then_succeed(1)

    # 3 -------------------------------------------------------------------------------------------

    def test_always_failing_retries_exhausted_and_dead_letter(self):
        for retries in (1, 0, 2):
            with self.subTest(MaximumRetryAttempts=retries):
                fname, farn = self.new_queue("ko")
                dlq_name, dlq_arn = self.new_queue("dlq")
                name = self.make("alwaysfail", PY_ALWAYS_FAIL, on_failure=farn, retries=retries,
                                 DeadLetterConfig={"TargetArn": dlq_arn})
                conf = self.lam.get_function_configuration(FunctionName=name)
                self.assertEqual(conf.get("DeadLetterConfig"), {"TargetArn": dlq_arn})
                event = {"id": "doomed-%d" % retries, "blob": "x" * 100}
                conn = EventConnection(self.server.host, self.server.port)
                status, headers, _ = conn.invoke(name, event)
                conn.close()
                self.assertEqual(status, 202)
                rid = headers.get("x-amzn-RequestId")
                t0 = time.monotonic()
                _, rec = self.one_record(fname, timeout=30)
                took = time.monotonic() - t0
                check_record_shape(self, rec, name, "RetriesExhausted")
                self.assertEqual(rec["requestContext"]["requestId"], rid)
                self.assertEqual(rec["requestContext"]["approximateInvokeCount"], retries + 1,
                                 "MaximumRetryAttempts=%d means exactly %d attempts" % (retries, retries + 1))
                self.assertEqual(rec["requestPayload"], event)
                self.assertEqual(rec["responseContext"].get("functionError"), "Unhandled", rec)
                self.assertIsInstance(rec.get("responsePayload"), dict, rec)
                self.assertEqual(rec["responsePayload"].get("errorMessage"), "always fails: doomed-%d" % retries)
                self.assertEqual(rec["responsePayload"].get("errorType"), "ValueError")
                # retry spacing: 0.6 s then 1.2 s at scale 0.01
                min_s = {0: 0, 1: 0.6, 2: 1.8}[retries]
                self.assertGreaterEqual(took + 0.05, min_s * 0.9, "retries came faster than the scaled delays")
                # the dead-letter queue holds the original event with Lambda's attributes
                dl = collect(self.server, dlq_name, lambda m: len(m) >= 1, 10)
                self.assertEqual(len(dl), 1, "dead-letter queue: %r" % dl)
                self.assertEqual(json.loads(dl[0]["Body"]), event, "a dead-letter message is the original event")
                attrs = dl[0]["Attributes"]
                self.assertEqual(attrs.get("RequestID"), rid, attrs)
                self.assertEqual(attrs.get("Condition"), "RetriesExhausted", attrs)
                self.assertIn("ErrorCode", attrs)
                self.assertIn("always fails: doomed-%d" % retries, str(attrs.get("ErrorMessage")), attrs)
                s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0, 5)
                self.assertEqual((s["Delivered"], s["Retries"], s["DeadLettered"], s["QueueDepth"]),
                                 (0, retries, 1, 0), s)

    def test_failure_without_destination_is_discarded_and_counted(self):
        name = self.make("nodest", PY_ALWAYS_FAIL, retries=0)
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "nowhere"}')
        self.assertEqual(resp["StatusCode"], 202)
        s = wait_stats(self.server, name, lambda s: s["Discarded"] >= 1, 20)
        self.assertEqual((s["Discarded"], s["DeadLettered"], s["QueueDepth"]), (1, 0, 0), s)

    def test_timeout_and_crash_are_function_errors(self):
        """A timeout or a crashed runtime is a function error: retried MaximumRetryAttempts times."""
        crash = 'import os\ndef handler(event, context):\n    os._exit(3)\n'
        slow = 'import time\ndef handler(event, context):\n    time.sleep(5)\n    return event\n'
        for kind, source, extra, error_type in (("timeout", slow, {"Timeout": 1}, "Sandbox.Timedout"),
                                                ("crash", crash, {}, "Runtime.ExitError")):
            with self.subTest(kind=kind):
                fname, farn = self.new_queue("ko-" + kind)
                name = self.make(kind, source, on_failure=farn, retries=1, **extra)
                resp = self.lam.invoke(FunctionName=name, InvocationType="Event",
                                       Payload=json.dumps({"id": kind}))
                self.assertEqual(resp["StatusCode"], 202)
                _, rec = self.one_record(fname, timeout=40)
                check_record_shape(self, rec, name, "RetriesExhausted")
                self.assertEqual(rec["requestContext"]["approximateInvokeCount"], 2, rec)
                self.assertEqual(rec["responseContext"].get("functionError"), "Unhandled", rec)
                self.assertEqual(rec.get("responsePayload", {}).get("errorType"), error_type, rec)
                s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0, 5)
                self.assertEqual((s["Retries"], s["DeadLettered"], s["Delivered"]), (1, 1, 0), s)

    def test_fair_dispatch_across_functions(self):
        """A backlog of one function does not delay another function's events."""
        slow_q, slow_arn = self.new_queue("fair-slow")
        fast_q, fast_arn = self.new_queue("fair-fast")
        slow = self.make("fairslow", PY_SLEEPY, on_success=slow_arn)
        fast = self.make("fairfast", PY_ECHO, on_success=fast_arn)
        # warm the fast function so its event measures dispatch, not a cold start
        self.invoke(fast, {"warm": True}, tail=False)
        n = 240
        results = send_events(self.server, slow, [{"id": "s%d" % i, "sleep": 0.25} for i in range(n)], threads=8)
        self.assertTrue(all(r[1] == 202 for r in results))
        t0 = time.monotonic()
        resp = self.lam.invoke(FunctionName=fast, InvocationType="Event", Payload=b'{"id": "fast"}')
        self.assertEqual(resp["StatusCode"], 202)
        msgs = collect(self.server, fast_q, lambda m: len(m) >= 1, 30, interval=0.02)
        waited = time.monotonic() - t0
        backlog = stats(self.server, slow)["QueueDepth"]
        print("\n[fairness] fast event delivered after %.2f s with %d slow events still queued" % (waited, backlog),
              file=sys.stderr)
        self.assertEqual(len(msgs), 1)
        self.assertLess(waited, 3.0, "the fast function's event waited behind another function's backlog")
        self.assertGreater(backlog, 100, "the slow backlog drained too fast for this test to mean anything")
        got = collect(self.server, slow_q, lambda m: len(m) >= n, 60)
        self.assertEqual(len(got), n)

    def test_deleting_a_function_discards_its_pending_events(self):
        qname, qarn = self.new_queue("del-ok")
        name = self.make("delpending", PY_SLEEPY, on_success=qarn)
        n = 40
        results = send_events(self.server, name, [{"id": "d%d" % i, "sleep": 0.5} for i in range(n)], threads=8)
        self.assertTrue(all(r[1] == 202 for r in results))
        self.assertGreater(stats(self.server, name)["QueueDepth"], 16)
        self.lam.delete_function(FunctionName=name)
        # Recreate the name at once: the old events must not reach the new function.
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SUMMARY}))
        self.lam.put_function_event_invoke_config(FunctionName=name,
                                                  DestinationConfig={"OnSuccess": {"Destination": qarn}})
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0 and s["InFlight"] == 0, 10)
        self.assertEqual((s["QueueDepth"], s["InFlight"]), (0, 0), s)
        time.sleep(1.0)
        recs = records(read_queue(self.server, qname))
        new_function = [r for r in recs if "size" in (r.get("responsePayload") or {})]
        print("\n[delete] %d of %d events finished by the deleted function (in flight at the delete)"
              % (len(recs) - len(new_function), n), file=sys.stderr)
        self.assertEqual(new_function, [], "a deleted function's events were delivered to its successor")
        self.assertLessEqual(len(recs), 8, "more events finished than could have been in flight at the delete")

    # 5 -------------------------------------------------------------------------------------------

    def test_function_destination_receives_the_record(self):
        qname, qarn = self.new_queue("chain-ok")
        second = self.make("chain2", PY_ECHO, on_success=qarn)
        first = self.make("chain1", PY_SUMMARY, on_success=function_arn(second))
        resp = self.lam.invoke(FunctionName=first, InvocationType="Event", Payload=b'{"id": "chained"}')
        self.assertEqual(resp["StatusCode"], 202)
        rid1 = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
        _, rec2 = self.one_record(qname, timeout=30)
        check_record_shape(self, rec2, second, "Success")
        self.assertNotEqual(rec2["requestContext"]["requestId"], rid1, "the destination's event has its own id")
        rec1 = rec2["requestPayload"]
        self.assertIsInstance(rec1, dict, "the second function's event must be the first's record")
        check_record_shape(self, rec1, first, "Success")
        self.assertEqual(rec1["requestContext"]["requestId"], rid1)
        self.assertEqual(rec1["requestContext"]["approximateInvokeCount"], 1)
        self.assertEqual(rec1["requestPayload"], {"id": "chained"})
        self.assertEqual(rec1["responsePayload"]["id"], "chained")
        self.assertEqual(rec1["responsePayload"]["request_id"], rid1)
        self.assertEqual(rec2["responsePayload"], rec1, "the echo returned the record it received")
        self.assertEqual(stats(self.server, first)["Delivered"], 1)
        self.assertEqual(wait_stats(self.server, second, lambda s: s["Delivered"] == 1, 5)["Delivered"], 1)

    # 6 -------------------------------------------------------------------------------------------

    def test_recursion_guard_stops_a_self_loop(self):
        fname, farn = self.new_queue("loop-ko")
        name = self.unique("loop")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_SMALL}))
        # OnSuccess = the function itself: every success enqueues the record as a new event.
        self.lam.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=0,
            DestinationConfig={"OnSuccess": {"Destination": function_arn(name)},
                               "OnFailure": {"Destination": farn}})
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "loop-start"}')
        self.assertEqual(resp["StatusCode"], 202)
        _, rec = self.one_record(fname, timeout=60, settle=0.2)
        check_record_shape(self, rec, name, "RecursiveInvocationDetected")
        # Walk the nested records back to the original event: one per hop that ran.
        depth, payload = 0, rec["requestPayload"]
        while isinstance(payload, dict) and "requestContext" in payload:
            self.assertEqual(payload["requestContext"]["condition"], "Success")
            depth += 1
            payload = payload["requestPayload"]
        self.assertEqual(payload, {"id": "loop-start"})
        self.assertEqual(depth, 16, "the loop must be stopped after 16 invocations")
        # The loop does not go on.
        time.sleep(1.0)
        s = stats(self.server, name)
        self.assertEqual(s["RecursionStopped"], 1, s)
        self.assertEqual(s["Delivered"], 16, s)
        self.assertEqual(s["QueueDepth"], 0, s)
        self.assertEqual(s["InFlight"], 0, s)
        time.sleep(0.5)
        self.assertEqual(stats(self.server, name)["Delivered"], 16)
        self.assertEqual(read_queue(self.server, fname), [])

    # 7 -------------------------------------------------------------------------------------------

    def test_event_invoke_config_api(self):
        lam = self.lam
        raw = self.server.client(validate=False)  # lets out-of-range values reach the server
        name = self.unique("cfg")
        other = self.unique("cfg-target")
        for n in (name, other):
            self.create(n, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        q_ok = self.unique("cfg-q-ok")
        self.assertNotIn(q_ok, list_queues(self.server))
        arn = function_arn(name) + ":$LATEST"

        with self.assertRaises(lam.exceptions.ResourceNotFoundException):
            lam.get_function_event_invoke_config(FunctionName=name)
        self.assertEqual(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"], [])

        put = lam.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=300,
            DestinationConfig={"OnSuccess": {"Destination": queue_arn(q_ok)},
                               "OnFailure": {"Destination": function_arn(other)}})
        self.assertEqual(put["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(put["FunctionArn"], arn)
        self.assertEqual(put["MaximumRetryAttempts"], 1)
        self.assertEqual(put["MaximumEventAgeInSeconds"], 300)
        self.assertEqual(put["DestinationConfig"], {"OnSuccess": {"Destination": queue_arn(q_ok)},
                                                    "OnFailure": {"Destination": function_arn(other)}})
        self.assertIn("LastModified", put)
        self.assertIn(q_ok, list_queues(self.server), "a queue destination is created on demand")

        got = lam.get_function_event_invoke_config(FunctionName=name)
        for key in ("FunctionArn", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
            self.assertEqual(got[key], put[key], key)

        # Update merges: fields it does not name keep their values.
        upd = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
        self.assertEqual(upd["MaximumEventAgeInSeconds"], 120)
        self.assertEqual(upd["MaximumRetryAttempts"], 1)
        self.assertEqual(upd["DestinationConfig"], put["DestinationConfig"])
        upd = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        self.assertEqual((upd["MaximumRetryAttempts"], upd["MaximumEventAgeInSeconds"]), (0, 120))
        got = lam.get_function_event_invoke_config(FunctionName=name)
        self.assertEqual((got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]), (0, 120))
        self.assertEqual(got["DestinationConfig"], put["DestinationConfig"])

        listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["FunctionArn"], arn)
        self.assertEqual(listed[0]["MaximumEventAgeInSeconds"], 120)

        # Put replaces: fields it does not name return to their defaults.
        rep = lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=3600)
        self.assertEqual(rep["MaximumEventAgeInSeconds"], 3600)
        self.assertEqual(rep.get("MaximumRetryAttempts", 2), 2)
        self.assertFalse(rep.get("DestinationConfig", {}).get("OnSuccess", {}).get("Destination"), rep)

        # Invalid values: InvalidParameterValueException, the stored config unchanged.
        before = lam.get_function_event_invoke_config(FunctionName=name)
        invalid = [
            {"MaximumRetryAttempts": 3},
            {"MaximumRetryAttempts": -1},
            {"MaximumEventAgeInSeconds": 59},
            {"MaximumEventAgeInSeconds": 21601},
            {"DestinationConfig": {"OnSuccess": {"Destination": "not-an-arn"}}},
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::some-bucket"}}},
            {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:bad name!"}}},
            {"DestinationConfig": {"OnFailure": {"Destination": function_arn(self.unique("no-such-fn"))}}},
        ]
        for args in invalid:
            for op in (raw.put_function_event_invoke_config, raw.update_function_event_invoke_config):
                with self.subTest(op=op.__name__, args=args):
                    with self.assertRaises(raw.exceptions.InvalidParameterValueException) as cm:
                        op(FunctionName=name, **args)
                    self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        after = lam.get_function_event_invoke_config(FunctionName=name)
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
            self.assertEqual(after[key], before[key], "a refused request changed %s" % key)

        # Unknown function: ResourceNotFoundException for every operation.
        ghost = self.unique("ghost")
        for call in (lambda: lam.put_function_event_invoke_config(FunctionName=ghost, MaximumRetryAttempts=1),
                     lambda: lam.update_function_event_invoke_config(FunctionName=ghost, MaximumRetryAttempts=1),
                     lambda: lam.get_function_event_invoke_config(FunctionName=ghost),
                     lambda: lam.delete_function_event_invoke_config(FunctionName=ghost),
                     lambda: lam.list_function_event_invoke_configs(FunctionName=ghost)):
            with self.assertRaises(lam.exceptions.ResourceNotFoundException):
                call()

        deleted = lam.delete_function_event_invoke_config(FunctionName=name)
        self.assertIn(deleted["ResponseMetadata"]["HTTPStatusCode"], (200, 204))
        with self.assertRaises(lam.exceptions.ResourceNotFoundException):
            lam.get_function_event_invoke_config(FunctionName=name)
        with self.assertRaises(lam.exceptions.ResourceNotFoundException):
            lam.delete_function_event_invoke_config(FunctionName=name)
        self.assertEqual(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"], [])

        # DeadLetterConfig must name a queue.
        with self.assertRaises(lam.exceptions.InvalidParameterValueException):
            lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": function_arn(other)})
        dlq = self.unique("cfg-dlq")
        lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": queue_arn(dlq)})
        self.assertEqual(lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"],
                         {"TargetArn": queue_arn(dlq)})
        self.assertIn(dlq, list_queues(self.server), "a dead-letter queue is created on demand")

        # Deleting the function deletes its configuration.
        lam.put_function_event_invoke_config(FunctionName=other, MaximumRetryAttempts=1)
        lam.delete_function(FunctionName=other)
        self.create(other, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}))
        with self.assertRaises(lam.exceptions.ResourceNotFoundException):
            lam.get_function_event_invoke_config(FunctionName=other)

    # 8 -------------------------------------------------------------------------------------------

    def test_payload_limits_and_request_ids(self):
        qname, qarn = self.new_queue("limits-ok")
        name = self.make("limits", PY_SUMMARY, on_success=qarn)
        path = INVOKE_PATH % name
        hdrs = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}

        def padded(total, event_id):
            head = '{"id":"%s","pad":"' % event_id
            body = head + "x" * (total - len(head) - 2) + '"}'
            self.assertEqual(len(body), total)
            return body.encode()

        too_big = padded(MAX_ASYNC_PAYLOAD + 1, "too-big")
        res = harness.http_request_tolerant(self.server.host, self.server.port, "POST", path, too_big, hdrs)
        self.assertLambdaError(res, 413, "RequestTooLargeException")

        exact = padded(MAX_ASYNC_PAYLOAD, "exactly-1mib")
        status, headers, body = harness.http_request(self.server.host, self.server.port, "POST", path, exact, hdrs)
        self.assertEqual(status, 202, body[:300])
        self.assertEqual(body, b"")
        rid_big = headers.get("x-amzn-RequestId")
        self.assertRegex(rid_big or "", r"^[0-9a-f-]{36}$")

        res = self.server.request("POST", path, b'{"id": not json', hdrs)
        self.assertLambdaError(res, 400, "InvalidRequestContentException")
        res = self.server.request("POST", INVOKE_PATH % self.unique("missing"), b"{}", hdrs)
        self.assertLambdaError(res, 404, "ResourceNotFoundException")

        # boto3 and an empty body (the event is then {}).
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "boto3"}')
        self.assertEqual(resp["StatusCode"], 202)
        self.assertEqual(resp["Payload"].read(), b"")
        rid_boto = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
        status, headers, _ = self.server.request("POST", path, b"", hdrs)
        self.assertEqual(status, 202)
        rid_empty = headers.get("x-amzn-RequestId")
        self.assertEqual(len({rid_big, rid_boto, rid_empty}), 3)

        msgs = collect(self.server, qname, lambda m: len(m) >= 3, 60)
        by_rid = {}
        for rec in records(msgs):
            check_record_shape(self, rec, name, "Success")
            by_rid[rec["requestContext"]["requestId"]] = rec
        self.assertEqual(set(by_rid), {rid_big, rid_boto, rid_empty},
                         "records' requestContext.requestId must be the x-amzn-RequestId of the 202s")
        big = by_rid[rid_big]
        self.assertEqual(big["requestPayload"]["id"], "exactly-1mib")
        self.assertEqual(len(json.dumps(big["requestPayload"], separators=(",", ":"))), MAX_ASYNC_PAYLOAD)
        self.assertEqual(big["responsePayload"]["size"], MAX_ASYNC_PAYLOAD)
        for rid, rec in by_rid.items():
            self.assertEqual(rec["responsePayload"]["request_id"], rid, "context.aws_request_id is the event's id")
        self.assertEqual(by_rid[rid_boto]["requestPayload"], {"id": "boto3"})
        self.assertEqual(by_rid[rid_empty]["requestPayload"], {})
        self.assertEqual(stats(self.server, name)["Enqueued"], 3, "refused requests must not be enqueued")

    def test_legacy_invoke_async(self):
        qname, qarn = self.new_queue("legacy-ok")
        name = self.make("legacy", PY_SUMMARY, on_success=qarn)
        resp = self.lam.invoke_async(FunctionName=name, InvokeArgs=b'{"id": "legacy"}')
        self.assertEqual(resp["Status"], 202)
        _, rec = self.one_record(qname)
        check_record_shape(self, rec, name, "Success")
        self.assertEqual(rec["requestPayload"], {"id": "legacy"})
        res = harness.http_request_tolerant(self.server.host, self.server.port, "POST",
                                            "/2014-11-13/functions/%s/invoke-async/" % name,
                                            b'{"pad":"' + b"x" * (256 * 1024) + b'"}')
        self.assertLambdaError(res, 413, "RequestTooLargeException")

    def test_queue_api(self):
        q = self.unique("qapi")
        status, _, body = self.server.request("PUT", "/v1/queues/%s" % q)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"Name": q, "Arn": queue_arn(q)})
        self.assertEqual(self.server.request("PUT", "/v1/queues/%s" % q)[0], 200, "create is idempotent")
        self.assertIn(q, list_queues(self.server))
        for i in range(5):
            status, _, body = self.server.request("POST", "/v1/queues/%s/messages" % q, ("m%d" % i).encode())
            self.assertEqual(status, 200, body)
        peek = read_queue(self.server, q, 3, consume=False)
        self.assertEqual([m["Body"] for m in peek], ["m0", "m1", "m2"], "FIFO order")
        self.assertEqual(read_queue(self.server, q, 3, consume=False), peek, "a peek consumes nothing")
        for m in peek:
            self.assertEqual(set(m), {"MessageId", "Body", "Attributes", "SentTimestamp"})
            self.assertAlmostEqual(m["SentTimestamp"] / 1000.0, time.time(), delta=60)
        self.assertEqual([m["Body"] for m in read_queue(self.server, q, 2)], ["m0", "m1"])
        self.assertEqual([m["Body"] for m in read_queue(self.server, q, 10)], ["m2", "m3", "m4"])
        self.assertEqual(read_queue(self.server, q), [])
        self.assertLambdaError(self.server.request("GET", "/v1/queues/%s/messages" % self.unique("nope")),
                               404, "ResourceNotFoundException")
        self.assertLambdaError(self.server.request("POST", "/v1/queues/%s/messages" % self.unique("nope"), b"x"),
                               404, "ResourceNotFoundException")
        for bad in ("0", "1001", "x", ""):
            self.assertLambdaError(self.server.request("GET", "/v1/queues/%s/messages?max=%s" % (q, bad)),
                                   400, "InvalidParameterValueException")
        self.assertLambdaError(self.server.request("PUT", "/v1/queues/bad%21name"), 400,
                               "InvalidParameterValueException")
        self.assertLambdaError(self.server.request("PUT", "/v1/queues/" + "a" * 81), 400,
                               "InvalidParameterValueException")
        res = harness.http_request_tolerant(self.server.host, self.server.port, "POST", "/v1/queues/%s/messages" % q,
                                            b"x" * (256 * 1024 + 1))
        self.assertLambdaError(res, 413, "RequestTooLargeException")
        status, _, _ = self.server.request("POST", "/v1/queues/%s/messages" % q, b"y" * (256 * 1024))
        self.assertEqual(status, 200)
        self.assertEqual(len(read_queue(self.server, q)[0]["Body"]), 256 * 1024)
        self.assertLambdaError(self.server.request("GET", "/v1/functions/%s/stats" % self.unique("nofn")),
                               404, "ResourceNotFoundException")

    # 10 ------------------------------------------------------------------------------------------

    def test_metrics_and_stats_show_the_queue(self):
        qname, qarn = self.new_queue("metrics-ok")
        name = self.make("metrics", PY_SLEEPY, on_success=qarn)
        n = 30
        results = send_events(self.server, name, [{"id": "m%d" % i, "sleep": 0.3} for i in range(n)], threads=4)
        self.assertTrue(all(r[1] == 202 for r in results), results[:3])
        # While the events queue up: depth and age are visible in stats and in /metrics.
        s = stats(self.server, name)
        status, headers, body = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertIn("# TYPE alto_async_queue_depth gauge", text)
        depth = metric_value(text, "alto_async_queue_depth", name)
        self.assertIsNotNone(depth, "no alto_async_queue_depth{function=%r} in /metrics:\n%s" % (name, text[-3000:]))
        self.assertGreater(depth, 0, "30 events at 0.3 s each, 8 at a time, cannot all be done yet")
        self.assertGreater(s["QueueDepth"], 0, s)
        self.assertGreaterEqual(s["InFlight"], 1, s)
        self.assertLessEqual(s["InFlight"], 8, s)
        self.assertGreater(s["OldestEventAgeSeconds"], 0, s)
        self.assertGreater(metric_value(text, "alto_async_oldest_event_age_seconds", name), 0)
        self.assertEqual(metric_value(text, "alto_async_enqueued_total", name), n)
        # After delivery.
        msgs = collect(self.server, qname, lambda m: len(m) >= n, 60)
        self.assertEqual(len(msgs), n)
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0 and s["InFlight"] == 0, 5)
        text = self.server.request("GET", "/metrics")[2].decode()
        self.assertEqual(metric_value(text, "alto_async_queue_depth", name), 0)
        self.assertEqual(metric_value(text, "alto_async_delivered_total", name), n)
        self.assertEqual(metric_value(text, "alto_async_oldest_event_age_seconds", name), 0)
        for family in ("alto_async_retries_total", "alto_async_dropped_by_age_total",
                       "alto_async_dead_lettered_total", "alto_async_recursion_stopped_total"):
            self.assertEqual(metric_value(text, family, name), 0, family)


class AsyncEventAgeTest(AltoTestCase):
    """Retry delays scaled by 0.6: a function error is retried after 36 s, then 72 s more."""

    server_options = {"extra_args": ("--async-retry-scale", "0.6")}

    # 4 -------------------------------------------------------------------------------------------

    def test_event_age_exceeded(self):
        fname = self.unique("age-ko")
        farn = create_queue(self.server, fname)
        name = self.unique("agefail")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ALWAYS_FAIL}))
        self.lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                                  MaximumEventAgeInSeconds=60,
                                                  DestinationConfig={"OnFailure": {"Destination": farn}})
        t0 = time.monotonic()
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "too-old"}')
        self.assertEqual(resp["StatusCode"], 202)
        rid = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
        # The first retry (at +36 s) is within the 60 s age; the second (36 + 72 s) is not.
        msgs = collect(self.server, fname, lambda m: len(m) >= 1, 75, interval=0.25)
        took = time.monotonic() - t0
        self.assertEqual(len(msgs), 1, "no OnFailure record within 75 s")
        rec = json.loads(msgs[0]["Body"])
        print("\n[event age] OnFailure record after %.1f s" % took, file=sys.stderr)
        check_record_shape(self, rec, name, "EventAgeExceeded")
        self.assertEqual(rec["requestContext"]["requestId"], rid)
        self.assertEqual(rec["requestContext"]["approximateInvokeCount"], 2, rec)
        self.assertEqual(rec["requestPayload"], {"id": "too-old"})
        self.assertGreaterEqual(took, 36 * 0.95, "the first retry should wait 36 s")
        self.assertLess(took, 60, "the event should be dropped when the retry that would pass 60 s is scheduled")
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0, 5)
        self.assertEqual((s["DroppedByAge"], s["Retries"], s["DeadLettered"], s["Delivered"], s["QueueDepth"]),
                         (1, 1, 1, 0, 0), s)


class AsyncThrottleTest(AltoTestCase):
    """Throttles are retried with backoff, whatever MaximumRetryAttempts says."""

    server_options = {"extra_args": ("--async-retry-scale", "0.01", "--memory-capacity-mb", "256")}

    def test_throttled_event_is_retried_until_capacity_frees(self):
        qname = self.unique("thr-ok")
        qarn = create_queue(self.server, qname)
        hog = self.unique("hog")
        self.create(hog, "python3.12", "app.handler", zip_files({"app.py": PY_SLEEPY}), MemorySize=256,
                    Timeout=15)
        name = self.unique("throttled")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": PY_ECHO}), MemorySize=128)
        self.lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                                  DestinationConfig={"OnSuccess": {"Destination": qarn}})
        # The hog holds all 256 MB for 3 s (a busy sandbox cannot be evicted).
        with ThreadPoolExecutor(1) as pool:
            hog_call = pool.submit(lambda: self.server.client(read_timeout=30).invoke(
                FunctionName=hog, Payload=json.dumps({"sleep": 3})))
            wait_until_busy = harness.wait_until(
                lambda: re.search(r"(?m)^alto_invocations_in_flight [1-9]",
                                  self.server.request("GET", "/metrics")[2].decode()), 10)
            self.assertTrue(wait_until_busy, "the hog never started")
            time.sleep(0.5)  # past its cold start: the memory is committed
            t0 = time.monotonic()
            resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "throttled"}')
            self.assertEqual(resp["StatusCode"], 202)
            rid = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
            mid = wait_stats(self.server, name, lambda s: s["Retries"] >= 2, 3)
            self.assertGreaterEqual(mid["Retries"], 2, "the throttled event should be retrying: %s" % mid)
            self.assertEqual(mid["Delivered"], 0, mid)
            hog_resp = hog_call.result(timeout=30)
            self.assertNotIn("FunctionError", hog_resp, hog_resp["Payload"].read()[:500])
        msgs = collect(self.server, qname, lambda m: len(m) >= 1, 30)
        took = time.monotonic() - t0
        self.assertEqual(len(msgs), 1, "the throttled event was never delivered")
        rec = json.loads(msgs[0]["Body"])
        print("\n[throttle] delivered after %.2f s, approximateInvokeCount %d"
              % (took, rec["requestContext"]["approximateInvokeCount"]), file=sys.stderr)
        check_record_shape(self, rec, name, "Success")
        self.assertEqual(rec["requestContext"]["requestId"], rid)
        self.assertGreater(rec["requestContext"]["approximateInvokeCount"], 1, rec)
        self.assertEqual(rec["requestPayload"], {"id": "throttled"})
        s = wait_stats(self.server, name, lambda s: s["QueueDepth"] == 0, 5)
        self.assertEqual((s["Delivered"], s["Redelivered"], s["DeadLettered"]), (1, 1, 0), s)
        self.assertEqual(s["Retries"], rec["requestContext"]["approximateInvokeCount"] - 1, s)


class AsyncRestartTest(unittest.TestCase):
    """SIGTERM with events queued: in-flight deliveries drain, the rest resume after a restart."""

    # 9 -------------------------------------------------------------------------------------------

    def test_queued_events_survive_a_restart(self):
        first = AltoServer(name="async-restart-1", extra_args=("--async-retry-scale", "0.01"))
        second = None
        try:
            first.start()
            lam = first.client()
            qname = "restart-ok"
            qarn = create_queue(first, qname)
            name = "restart-sleepy"
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=harness.ROLE,
                                Code={"ZipFile": zip_files({"app.py": PY_SLEEPY})})
            lam.put_function_event_invoke_config(FunctionName=name,
                                                 DestinationConfig={"OnSuccess": {"Destination": qarn}})
            n = 50
            ids = ["r%02d" % i for i in range(n)]
            results = send_events(first, name, [{"id": i, "sleep": 0.5} for i in ids], threads=8)
            self.assertEqual([r for r in results if r[1] != 202], [])
            before = stats(first, name)
            t0 = time.monotonic()
            self.assertEqual(first.stop(), 0)
            drain_s = time.monotonic() - t0
            print("\n[restart] stats at SIGTERM %s; drained in %.2f s" % (json.dumps(before), drain_s),
                  file=sys.stderr)
            self.assertGreater(before["QueueDepth"], 8, "the events should still be queued at SIGTERM")

            second = AltoServer(data_dir=first.data_dir, state_dir=first.state_dir, name="async-restart-2",
                                extra_args=("--async-retry-scale", "0.01")).start()
            msgs = collect(second, qname, lambda m: len({json.loads(x["Body"])["requestPayload"]["id"]
                                                         for x in m}) >= n, 90)
            recs = records(msgs)
            seen = collections.Counter(r["requestPayload"]["id"] for r in recs)
            after = stats(second, name)
            print("[restart] after restart: %d records, %d unique; stats %s"
                  % (len(recs), len(seen), json.dumps(after)), file=sys.stderr)
            self.assertEqual(sorted(set(ids) - set(seen)), [], "events lost across a graceful restart")
            self.assertEqual(set(seen), set(ids))
            self.assertGreater(after["Delivered"], 0, "the restarted server delivered nothing itself")
            self.assertLess(after["Delivered"], n, "the first server delivered everything before exiting?")
            # A graceful stop finishes what it started: no event runs twice.
            self.assertEqual({k: c for k, c in seen.items() if c > 1}, {})
            self.assertEqual([r["requestContext"]["approximateInvokeCount"] for r in recs if
                              r["requestContext"]["approximateInvokeCount"] != 1], [])
            s = wait_stats(second, name, lambda s: s["QueueDepth"] == 0 and s["InFlight"] == 0, 5)
            self.assertEqual(s["QueueDepth"], 0, s)
            self.assertEqual(second.stop(), 0)
        except BaseException:
            for s in (first, second):
                if s is not None:
                    s.dump_log("async restart test failed")
            raise
        finally:
            if second is not None:
                second.cleanup()
            first.cleanup()


if __name__ == "__main__":
    unittest.main()
