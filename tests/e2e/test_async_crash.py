"""Crash safety of asynchronous invocations (issue 5): kill -9 at random moments, lose nothing.

2,000 events, each with a unique id, go to an echo function whose OnSuccess destination is an
Alto queue. While they are being enqueued and while they are being delivered, the server is
killed with SIGKILL at random moments, at least 10 times, and restarted each time on the same
data and state dirs. Then the test waits for the queue to drain and checks that every id whose
enqueue was acknowledged with 202 reached the OnSuccess queue at least once.

A client whose request failed because of a kill (no 202) sends the same id again once the server
is back, so every id is eventually acknowledged; an event that was committed but whose 202 was
lost in the kill is therefore delivered twice under two request ids (a client-retry duplicate).
An event that was in flight at a kill is delivered again under the same request id with
approximateInvokeCount > 1 (a redelivery). Both kinds are counted and reported, not failed.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_async_crash -v
"""

import collections
import http.client
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoServer, zip_files  # noqa: E402
from test_async import INVOKE_PATH, create_queue, read_queue, stats  # noqa: E402

N_EVENTS = 2000
MIN_KILLS = 10
ENQUEUE_THREADS = 16
ENQUEUE_RATE = 300.0  # events/s the clients aim for, so the enqueue phase spans several kills
TEST_BUDGET_S = 230  # the whole test, kills, restarts and the final drain included

# Echo with a little work, so the delivery phase lasts long enough to be interrupted too.
PY_CRASH_ECHO = '''
import time
def handler(event, context):
    time.sleep(0.04)
    return {"id": event["id"], "request_id": context.aws_request_id}
'''

SERVER_ARGS = ("--async-retry-scale", "0.01")


class Cluster:
    """The current incarnation of a server that is killed and restarted on the same dirs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.first = AltoServer(name="crash-0", extra_args=SERVER_ARGS)
        self.current = self.first
        self.generation = 0
        self.incarnations = [self.first]

    def endpoint(self):
        with self.lock:
            s = self.current
            return (s.host, s.port, self.generation) if s.alive() else (None, None, self.generation)

    def kill_and_restart(self):
        with self.lock:
            self.current.kill9()
        t0 = time.monotonic()
        nxt = AltoServer(data_dir=self.first.data_dir, state_dir=self.first.state_dir,
                         name="crash-%d" % len(self.incarnations), extra_args=SERVER_ARGS)
        self.incarnations.append(nxt)
        nxt.start()
        with self.lock:
            self.current = nxt
            self.generation += 1
        return time.monotonic() - t0

    def cleanup(self):
        for s in reversed(self.incarnations[1:]):
            s.cleanup()
        self.first.cleanup()


class AsyncCrashTest(unittest.TestCase):
    def test_kill9_at_random_moments_loses_no_event(self):
        rng = random.Random(int(os.environ.get("ALTO_CRASH_SEED", "0")) or None)
        cluster = Cluster()
        t_start = time.monotonic()
        deadline = t_start + TEST_BUDGET_S
        try:
            server = cluster.first.start()
            lam = server.client()
            qname = "crash-ok"
            qarn = create_queue(server, qname)
            name = "crash-echo"
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=harness.ROLE,
                                Code={"ZipFile": zip_files({"app.py": PY_CRASH_ECHO})})
            lam.put_function_event_invoke_config(FunctionName=name,
                                                 DestinationConfig={"OnSuccess": {"Destination": qarn}})

            ids = ["c%04d-%s" % (i, os.urandom(3).hex()) for i in range(N_EVENTS)]
            acked = {}  # id -> [request ids acknowledged with 202]
            failed_sends = collections.Counter()  # id -> enqueue attempts without a 202
            other_status = collections.Counter()
            lock = threading.Lock()
            next_index = [0]
            enqueue_done = threading.Event()
            t_enqueue = time.monotonic()

            def worker():
                conn, conn_gen = None, None
                while time.monotonic() < deadline:
                    with lock:
                        i = next_index[0]
                        next_index[0] += 1
                    if i >= N_EVENTS:
                        break
                    due = t_enqueue + i / ENQUEUE_RATE
                    if due > time.monotonic():
                        time.sleep(due - time.monotonic())
                    body = json.dumps({"id": ids[i]}).encode()
                    while time.monotonic() < deadline:
                        host, port, gen = cluster.endpoint()
                        if host is None:
                            time.sleep(0.02)
                            continue
                        if conn is None or conn_gen != gen:
                            if conn is not None:
                                conn.close()
                            conn, conn_gen = http.client.HTTPConnection(host, port, timeout=20), gen
                        try:
                            conn.request("POST", INVOKE_PATH % name, body=body,
                                         headers=harness.sign_headers(
                                             "POST", host, port, INVOKE_PATH % name, body,
                                             {"X-Amz-Invocation-Type": "Event",
                                              "Content-Type": "application/json"}))
                            resp = conn.getresponse()
                            resp.read()
                        except (OSError, http.client.HTTPException):
                            conn.close()
                            conn = None
                            with lock:
                                failed_sends[ids[i]] += 1
                            time.sleep(0.02)
                            continue
                        if resp.status == 202:
                            with lock:
                                acked.setdefault(ids[i], []).append(resp.getheader("x-amzn-RequestId"))
                            break
                        with lock:
                            other_status[resp.status] += 1
                        time.sleep(0.05)
                if conn is not None:
                    conn.close()

            threads = [threading.Thread(target=worker, daemon=True) for _ in range(ENQUEUE_THREADS)]
            for t in threads:
                t.start()
            watcher = threading.Thread(target=lambda: ([t.join() for t in threads], enqueue_done.set()), daemon=True)
            watcher.start()

            # Kill at random moments: while enqueuing, then while delivering.
            kills = []  # (phase, seconds since start, depth before the kill or None, restart seconds)
            while time.monotonic() < deadline - 120:
                time.sleep(rng.uniform(0.15, 1.3))
                enqueuing = not enqueue_done.is_set()
                depth = None
                if not enqueuing:
                    try:
                        depth = stats(cluster.current, name)["QueueDepth"]
                    except (OSError, AssertionError, http.client.HTTPException):
                        depth = None
                    delivery_kills = sum(1 for k in kills if k[0] == "delivery")
                    if len(kills) >= MIN_KILLS and (depth == 0 or delivery_kills >= 3):
                        break
                phase = "enqueue" if enqueuing else ("delivery" if depth else "idle")
                restart_s = cluster.kill_and_restart()
                kills.append((phase, time.monotonic() - t_start, depth, restart_s))
            enqueue_done.wait(timeout=max(1, deadline - time.monotonic() - 60))
            self.assertTrue(enqueue_done.is_set(), "the enqueue clients did not finish")
            enqueue_s = time.monotonic() - t_enqueue

            # Every acknowledged id must reach the queue, once the last server is left alone.
            final = cluster.current
            msgs = []
            seen = collections.Counter()
            while time.monotonic() < deadline:
                batch = read_queue(final, qname)
                msgs += batch
                for m in batch:
                    seen[json.loads(m["Body"])["requestPayload"]["id"]] += 1
                if all(seen[i] for i in acked):
                    s = stats(final, name)
                    if s["QueueDepth"] == 0 and s["InFlight"] == 0:
                        msgs += read_queue(final, qname)
                        break
                if len(batch) < 1000:
                    time.sleep(0.2)
            final_stats = stats(final, name)
            total_s = time.monotonic() - t_start

            recs = [json.loads(m["Body"]) for m in msgs]
            seen = collections.Counter(r["requestPayload"]["id"] for r in recs)
            by_request = collections.Counter(r["requestContext"]["requestId"] for r in recs)
            lost = sorted(i for i in acked if not seen[i])
            recorded_rids = set(by_request)
            lost_rids = sorted(rid for i in acked for rid in acked[i] if rid not in recorded_rids)
            # records of an enqueue whose 202 never arrived (committed just before a kill)
            unacked_committed = [r for r in recs if r["requestContext"]["requestId"]
                                 not in set(acked.get(r["requestPayload"]["id"], []))]
            never_acked = sorted(set(ids) - set(acked))
            dup_ids = {i: c for i, c in seen.items() if c > 1}
            redelivered_same_id = {r: c for r, c in by_request.items() if c > 1}
            high_count = [r for r in recs if r["requestContext"]["approximateInvokeCount"] > 1]
            unacked_present = [i for i in failed_sends if seen[i]]
            phases = collections.Counter(k[0] for k in kills)
            report = {
                "events": N_EVENTS,
                "acked": len(acked),
                "never_acked": len(never_acked),
                "kills": len(kills),
                "kills_by_phase": dict(phases),
                "restart_s_max": round(max((k[3] for k in kills), default=0), 2),
                "enqueue_s": round(enqueue_s, 1),
                "total_s": round(total_s, 1),
                "failed_enqueue_requests": sum(failed_sends.values()),
                "non_202_statuses": dict(other_status),
                "records": len(recs),
                "lost": len(lost),
                "lost_acknowledged_request_ids": len(lost_rids),
                "records_of_unacknowledged_but_committed_enqueues": len(unacked_committed),
                "ids_with_duplicates": len(dup_ids),
                "duplicate_records": sum(c - 1 for c in seen.values() if c > 1),
                "server_redeliveries_same_request_id": sum(c - 1 for c in redelivered_same_id.values()),
                "records_with_approximateInvokeCount_gt_1": len(high_count),
                "max_approximateInvokeCount": max((r["requestContext"]["approximateInvokeCount"] for r in recs),
                                                  default=0),
                "ids_whose_first_send_failed_but_present": len(unacked_present),
                "final_stats": final_stats,
            }
            print("\n[crash] " + json.dumps(report, indent=1), file=sys.stderr)
            print("[crash] kill moments (phase, t, depth, restart s): %s"
                  % [(k[0], round(k[1], 2), k[2], round(k[3], 2)) for k in kills], file=sys.stderr)

            self.assertEqual(never_acked, [], "some ids were never acknowledged (the clients ran out of time)")
            self.assertEqual(lost[:20], [], "%d acknowledged events lost after %d kill -9s" % (len(lost), len(kills)))
            self.assertEqual(lost_rids[:20], [], "%d acknowledged request ids never reached the queue" % len(lost_rids))
            self.assertEqual(set(seen) - set(ids), set(), "records for events nobody sent")
            self.assertTrue(all(r["requestPayload"]["id"] in failed_sends for r in unacked_committed),
                            "a record with an unknown request id for an id whose enqueue never failed")
            self.assertGreaterEqual(len(kills), MIN_KILLS)
            self.assertGreaterEqual(phases["enqueue"], 3, "too few kills during the enqueue phase: %s" % kills)
            self.assertGreaterEqual(phases["delivery"], 1, "no kill while events were waiting for delivery: %s"
                                    % kills)
            self.assertEqual((final_stats["QueueDepth"], final_stats["InFlight"]), (0, 0), final_stats)
            self.assertEqual(final.stop(), 0)
        except BaseException:
            for s in cluster.incarnations[-3:]:
                s.dump_log("crash test failed")
            raise
        finally:
            cluster.cleanup()


if __name__ == "__main__":
    unittest.main()
