#!/usr/bin/env python3
"""Asynchronous invocation benchmark (issue 5).

Measures, against a private `alto server` (oci driver, temp --data-dir/--state-dir):

  * async enqueue rate: events/s acknowledged with 202 (`X-Amz-Invocation-Type: Event`), sent from
    C concurrent keep-alive connections (default 16), N events in all (default 5,000), timed from
    the first request sent to the last 202 received;
  * end-to-end delivery rate: events/s from the first request sent until the function's OnSuccess
    Alto queue holds every one of the N invocation records;

with the no-op `provided.al2023` function (build/examples/hello-provided/bootstrap). Every event
has a unique id; the run fails if any record is missing. The events are durable before their
202: SQLite in WAL mode with synchronous=FULL (the WAL is fsynced at every commit) and group
commit (concurrent enqueues share one transaction and one fsync).

usage: bench/async_bench.py [-n N] [-c C] [--build-dir DIR] [--no-build] [--warmup W] [--json FILE]
  -n N             events to enqueue (default 5000)
  -c C             concurrent keep-alive connections / client threads (default 16)
  --build-dir DIR  build directory with alto, runtimes/ and examples/ (default build-release if it
                   exists, else build)
  --no-build       do not run `cmake --build DIR` first (by default it does, and falls back to the
                   existing binary if the build fails)
  --warmup W       events sent and drained before measuring, to start the sandboxes (default 400)
  --json FILE      also write the results as JSON

Needs root (oci driver) and the Python that runs the e2e tests (botocore, through the e2e
harness: every request is SigV4-signed with the harness's admin key). Every wait is bounded; the
server and its temp dir are removed at exit.
"""

import argparse
import collections
import http.client
import json
import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
E2E = os.path.join(ROOT, "tests", "e2e")
INVOKE_PATH = "/2015-03-31/functions/%s/invocations"
FUNCTION = "bench-async-noop"
QUEUE = "bench-async-ok"


def log(msg):
    sys.stderr.write("[async-bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def fs_type(path):
    try:
        out = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# A signature is valid for the server's 5-minute window: one older than this is redone.
RESIGN_AFTER_S = 240


class Sender:
    """C threads, each with its own keep-alive connection, send events drawn from a shared counter.

    Every event is signed before the clock starts (sign: the server's sign(method, path, body,
    headers)), so that the rates measure the server, not this process's signing (~100 us of
    Python per request)."""

    def __init__(self, host, port, function, ids, threads, sign):
        self.host, self.port, self.function = host, port, function
        self.ids = ids
        self.sign = sign
        self.signed = [self.signed_event(i) for i in range(len(ids))]
        self.threads = threads
        self.lock = threading.Lock()
        self.next = 0
        self.latencies = []
        self.errors = collections.Counter()
        self.t_first = None
        self.t_last_ack = None
        self.acked = 0
        self.start_gate = threading.Barrier(threads + 1)

    def signed_event(self, i):
        """(body, signed headers, when signed) of event i."""
        body = ('{"id":"%s"}' % self.ids[i]).encode()
        headers = self.sign("POST", INVOKE_PATH % self.function, body,
                            {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"})
        return body, headers, time.monotonic()

    def worker(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        lat = []
        self.start_gate.wait(timeout=30)
        try:
            while True:
                with self.lock:
                    i = self.next
                    self.next += 1
                    if i >= len(self.ids):
                        break
                body, headers, signed_at = self.signed[i]
                if time.monotonic() - signed_at > RESIGN_AFTER_S:
                    body, headers, _ = self.signed_event(i)
                t0 = time.perf_counter()
                with self.lock:
                    if self.t_first is None:
                        self.t_first = t0
                try:
                    conn.request("POST", INVOKE_PATH % self.function, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    status = type(e).__name__
                t1 = time.perf_counter()
                if status == 202:
                    lat.append(t1 - t0)
                    with self.lock:
                        self.acked += 1
                        self.t_last_ack = max(self.t_last_ack or t1, t1)
                else:
                    with self.lock:
                        self.errors[status] += 1
        finally:
            conn.close()
            with self.lock:
                self.latencies += lat

    def run(self):
        ts = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.threads)]
        for t in ts:
            t.start()
        self.start_gate.wait(timeout=30)
        return ts


def read_queue(server, max_messages=1000):
    status, _, body = server.request("GET", "/v1/queues/%s/messages?max=%d&consume=true" % (QUEUE, max_messages))
    if status != 200:
        raise RuntimeError("reading the queue: %d %r" % (status, body[:300]))
    return json.loads(body)["Messages"]


def drain_until(server, want_ids, seen, timeout):
    """Consume the queue until every id in want_ids was seen (seen: Counter of ids); returns the time
    it happened or None."""
    deadline = time.perf_counter() + timeout
    missing = set(want_ids) - set(seen)
    while time.perf_counter() < deadline:
        batch = read_queue(server)
        for m in batch:
            i = json.loads(m["Body"])["requestPayload"].get("id")
            seen[i] += 1
            missing.discard(i)
        if not missing:
            return time.perf_counter()
        if len(batch) < 1000:
            time.sleep(0.01)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\nusage:")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=5000, help="events to enqueue (default 5000)")
    ap.add_argument("-c", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    ap.add_argument("--build-dir", help="build dir (default build-release if it exists, else build)")
    ap.add_argument("--no-build", action="store_true", help="do not run `cmake --build` first")
    ap.add_argument("--warmup", type=int, default=400, help="events drained before measuring (default 400)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.n < 1 or args.c < 1:
        ap.error("-n and -c must be positive")

    build = args.build_dir or (os.path.join(ROOT, "build-release")
                               if os.path.isdir(os.path.join(ROOT, "build-release")) else os.path.join(ROOT, "build"))
    build = os.path.abspath(build)
    if not args.no_build:
        log("cmake --build %s" % build)
        try:
            out = subprocess.run(["cmake", "--build", build], capture_output=True, text=True, timeout=1200)
            if out.returncode != 0:
                log("build failed (using the existing binary):\n%s" % (out.stdout + out.stderr)[-3000:])
        except (OSError, subprocess.SubprocessError) as e:
            log("build failed (%s); using the existing binary" % e)
    os.environ["ALTO_BUILD_DIR"] = build
    sys.path.insert(0, E2E)
    import harness  # noqa: E402  (reads ALTO_BUILD_DIR at import)

    bootstrap = os.path.join(build, "examples", "hello-provided", "bootstrap")
    if not os.access(harness.ALTO_BIN, os.X_OK) or not os.access(bootstrap, os.X_OK):
        log("missing %s or %s" % (harness.ALTO_BIN, bootstrap))
        return 1
    build_type = "?"
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip() or "(none)"
    except OSError:
        pass

    server = harness.AltoServer(name="async-bench")
    results = {}
    try:
        server.start()
        log("server %s (%s, %s build), data dir %s on %s" % (server.endpoint, harness.ALTO_BIN, build_type,
                                                              server.data_dir, fs_type(server.data_dir)))
        lam = server.client()
        lam.create_function(FunctionName=FUNCTION, Runtime="provided.al2023", Handler="noop", Role=harness.ROLE,
                            Code={"ZipFile": harness.zip_file(bootstrap, "bootstrap", 0o755)})
        status, _, body = server.request("PUT", "/v1/queues/%s" % QUEUE)
        if status != 200:
            raise RuntimeError("creating the queue: %d %r" % (status, body))
        lam.put_function_event_invoke_config(
            FunctionName=FUNCTION, MaximumRetryAttempts=0,
            DestinationConfig={"OnSuccess": {"Destination": json.loads(body)["Arn"]}})
        out = json.loads(lam.invoke(FunctionName=FUNCTION, Payload=b'{"warm":1}')["Payload"].read())
        log("sync invoke works: %s" % json.dumps(out)[:120])

        # Warm-up: start the delivery sandboxes (up to 8 per function) and drain.
        if args.warmup:
            wids = ["w%05d" % i for i in range(args.warmup)]
            sender = Sender(server.host, server.port, FUNCTION, wids, args.c, server.sign)
            for t in sender.run():
                t.join(timeout=120)
            if drain_until(server, wids, collections.Counter(), 60) is None:
                raise RuntimeError("the warm-up events were not all delivered within 60 s")
            log("warm-up: %d events delivered" % args.warmup)

        ids = ["e%06d-%s" % (i, os.urandom(3).hex()) for i in range(args.n)]
        sender = Sender(server.host, server.port, FUNCTION, ids, args.c, server.sign)
        cpu0 = os.times()
        threads = sender.run()
        seen = collections.Counter()
        # Consume records while the clients send (the queue is read on this thread).
        t_all = drain_until(server, ids, seen, 300)
        for t in threads:
            t.join(timeout=120)
        cpu1 = os.times()
        if sender.acked != args.n:
            raise RuntimeError("only %d of %d events acknowledged: %s" % (sender.acked, args.n, dict(sender.errors)))
        if t_all is None:
            raise RuntimeError("only %d of %d records reached the queue within 300 s" % (len(set(seen) & set(ids)), args.n))
        time.sleep(0.5)
        drain_until(server, [], seen, 0.1)  # late duplicates, if any
        st = json.loads(server.request("GET", "/v1/functions/%s/stats" % FUNCTION)[2])["Async"]
        enqueue_s = sender.t_last_ack - sender.t_first
        e2e_s = t_all - sender.t_first
        lat = sorted(sender.latencies)
        results = {
            "events": args.n,
            "connections": args.c,
            "build": "%s (%s)" % (build, build_type),
            "data_dir_fs": fs_type(server.data_dir),
            "enqueue_s": round(enqueue_s, 3),
            "enqueue_events_per_s": round(args.n / enqueue_s, 1),
            "enqueue_latency_ms": {"p50": round(percentile(lat, 50) * 1e3, 2),
                                   "p99": round(percentile(lat, 99) * 1e3, 2),
                                   "max": round(lat[-1] * 1e3, 2)},
            "e2e_s": round(e2e_s, 3),
            "e2e_events_per_s": round(args.n / e2e_s, 1),
            "records": sum(seen[i] for i in ids),
            "duplicate_records": sum(seen[i] - 1 for i in ids if seen[i] > 1),
            "client_cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
            "host_cpus": os.cpu_count(),
            "stats": st,
        }
        server.stop()
        # The journal mode is persistent in the database file: check it.
        modes = {}
        for dirpath, _, names in os.walk(server.data_dir):
            for nm in names:
                if nm.endswith((".db", ".sqlite", ".sqlite3")):
                    p = os.path.join(dirpath, nm)
                    try:
                        with sqlite3.connect("file:%s?mode=ro" % p, uri=True, timeout=5) as db:
                            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
                        modes[os.path.relpath(p, server.data_dir)] = mode
                    except sqlite3.Error as e:
                        modes[os.path.relpath(p, server.data_dir)] = "error: %s" % e
        results["journal_modes"] = modes
    except BaseException:
        server.dump_log("async bench failed")
        raise
    finally:
        server.cleanup()

    policy = ("SQLite WAL, synchronous=FULL: the WAL is fsynced at each commit, before the 202; group commit: "
              "enqueues that arrive while a commit runs share the next transaction (one fsync per batch). "
              "Per-attempt counters are written with synchronous=NORMAL.")
    print()
    print("fsync policy: %s" % policy)
    print("database journal modes: %s" % ", ".join("%s=%s" % kv for kv in sorted(results["journal_modes"].items())))
    print("host: %s, %d CPUs; data dir on %s; server %s" % (platform.node(), os.cpu_count(), results["data_dir_fs"],
                                                            results["build"]))
    print()
    rows = [
        ("async enqueue rate (202/s)", "%.0f" % results["enqueue_events_per_s"],
         "%d events, %d keep-alive connections, %.2f s" % (args.n, args.c, results["enqueue_s"])),
        ("enqueue latency p50 / p99 / max (ms)", "%.2f / %.2f / %.2f" % tuple(
            results["enqueue_latency_ms"][k] for k in ("p50", "p99", "max")), "request sent to 202 received"),
        ("end-to-end delivery rate (events/s)", "%.0f" % results["e2e_events_per_s"],
         "first enqueue until the OnSuccess queue held all %d (%.2f s)" % (args.n, results["e2e_s"])),
        ("records / duplicates", "%d / %d" % (results["records"], results["duplicate_records"]),
         "records in the OnSuccess queue for the measured events"),
        ("delivered / redelivered / retries", "%d / %d / %d" % (results["stats"]["Delivered"],
                                                                 results["stats"]["Redelivered"],
                                                                 results["stats"]["Retries"]),
         "server counters, warm-up included"),
        ("client CPU (s)", "%.2f" % results["client_cpu_s"], "this Python process shares the host's CPUs"),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print("| %s | %s | %s |" % ("figure".ljust(w0), "value".rjust(w1), "notes"))
    print("|-%s-|-%s-|-------|" % ("-" * w0, "-" * w1))
    for r in rows:
        print("| %s | %s | %s |" % (r[0].ljust(w0), r[1].rjust(w1), r[2]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results, fsync_policy=policy), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
