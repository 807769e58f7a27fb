#!/usr/bin/env python3
"""Control-plane operations per second on each state backend, side by side in one run.

Starts `alto server` twice from the build (once on the embedded SQLite state, once on a real
etcd started here on free ports) and drives each over HTTP with signed requests, one caller:
  - create+delete: CreateFunction (a tiny zip) then DeleteFunction, one pair per op
  - publish: UpdateFunctionCode with new code, then PublishVersion
  - put alias: UpdateAlias between two versions
  - async enqueue: Invoke with InvocationType Event (202 once the event is durable in the state),
    from one caller, then from 16 concurrent callers (their enqueues share transactions: group
    commit); the events then run, on a function that returns at once
Baseline: bench/state_bench measures single puts on etcd's own gRPC path, on the etcd backend and
on the SQLite backend; this bench shows what a whole API operation (validation, SigV4, several
reads and one transaction, the audit log) costs on top of those.

Usage: bench/control_plane_bench.py [--ops N] (default 100 per kind; bounded: ~1 min in all)
"""

import argparse
import base64
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from harness import AltoServer, EtcdServer, ROLE, zip_files  # noqa: E402


def code(i):
    return zip_files({"app.py": ("def handler(e, c):\n    return %d\n" % i).encode()})


def timed(fn, n):
    lat = []
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    lat.sort()
    return n / total, statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def call(server, method, path, body=None, expect=(200, 201, 204)):
    data = json.dumps(body).encode() if body is not None else b""
    status, _, reply = server.request(method, path, data if body is not None else None)
    if status not in expect:
        raise RuntimeError("%s %s: %d %s" % (method, path, status, reply[:300]))
    return json.loads(reply) if reply else None


def run_kinds(server, n, tag):
    results = {}
    zip0 = base64.b64encode(code(0)).decode()

    def create_delete(i):
        name = "cp-%s-%d" % (tag, i)
        call(server, "POST", "/2015-03-31/functions",
             {"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
              "Code": {"ZipFile": zip0}})
        call(server, "DELETE", "/2015-03-31/functions/%s" % name)

    results["create+delete"] = timed(create_delete, n)

    fn = "cp-%s-pub" % tag
    call(server, "POST", "/2015-03-31/functions",
         {"FunctionName": fn, "Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE,
          "Code": {"ZipFile": zip0}})

    def publish(i):
        call(server, "PUT", "/2015-03-31/functions/%s/code" % fn,
             {"ZipFile": base64.b64encode(code(i + 1)).decode()})
        call(server, "POST", "/2015-03-31/functions/%s/versions" % fn, {})

    results["update+publish"] = timed(publish, n)
    call(server, "POST", "/2015-03-31/functions/%s/aliases" % fn, {"Name": "live", "FunctionVersion": "1"})

    def put_alias(i):
        call(server, "PUT", "/2015-03-31/functions/%s/aliases/live" % fn,
             {"FunctionVersion": str(1 + i % 2)})

    results["put alias"] = timed(put_alias, n)

    path = "/2015-03-31/functions/%s/invocations" % fn
    headers = {"X-Amz-Invocation-Type": "Event"}

    def enqueue(i):
        status, _, reply = server.request("POST", path, b'{"i": %d}' % i, headers=headers)
        if status != 202:
            raise RuntimeError("async invoke: %d %s" % (status, reply[:300]))

    results["async enqueue"] = timed(enqueue, n)

    callers, lat = 16, []
    lock = threading.Lock()

    def caller(k):
        mine = []
        for i in range(k, n * 4, callers):
            t = time.perf_counter()
            enqueue(i)
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        for f in [pool.submit(caller, k) for k in range(callers)]:
            f.result()
    total = time.perf_counter() - start
    lat.sort()
    results["async x16"] = (len(lat) / total, statistics.median(lat) * 1000,
                            lat[int(len(lat) * 0.99) - 1] * 1000)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=100)
    args = ap.parse_args()
    n = max(1, min(args.ops, 1000))
    table = {}
    etcd = EtcdServer().start()
    try:
        for label, state in (("sqlite", None), ("etcd", "etcd://%s/bench" % etcd.endpoint)):
            server = AltoServer(name="bench-" + label, state=state, driver="process")
            try:
                server.start()
                table[label] = run_kinds(server, n, label)
                server.stop()
            finally:
                server.cleanup()
    finally:
        etcd.cleanup()
    print("control-plane operations, one caller, %d each; async x16: 16 callers, %d in all "
          "(ops/s, p50 ms, p99 ms)" % (n, n * 4))
    print("%-16s %28s %28s" % ("", "sqlite", "etcd (local, 1 member)"))
    for kind in table["sqlite"]:
        s, e = table["sqlite"][kind], table["etcd"][kind]
        print("%-16s %10.1f %7.2f %7.2f   %10.1f %7.2f %7.2f" % (kind, *s, *e))


if __name__ == "__main__":
    main()
