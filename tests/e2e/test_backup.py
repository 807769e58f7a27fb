"""`alto backup` while the server serves, and `alto restore` into a new data dir.

A server gets functions (one with a published version, an alias, a function URL and tags; an
environment, memory and timeout to compare) and an echo function whose OnSuccess destination is
an Alto queue. A thread streams Event invocations at it with unique ids; in the middle of the
stream `alto backup` copies the data dir while the stream goes on. Then the server stops, the
backup is restored into an empty data dir and a server started on it. There, every function is
back as it was (configuration, code digest, version, alias, URL, tags) and invokes, and every
event acknowledged with 202 before the backup began reaches the queue: either its record was
already in the queue when the backup was taken (it is in the copy), or the event was still
queued and the restored server delivers it.

Run: cd tests/e2e && ALTO_BUILD_DIR=/work/main/build python3 -m unittest test_backup -v (about 45 s)
"""

import datetime
import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ALTO_BIN, AltoServer, run_cmd, zip_files  # noqa: E402
from test_async import EventConnection, create_queue, read_queue  # noqa: E402

SERVER_ARGS = ("--async-retry-scale", "0.01")
TEST_BUDGET_S = 90

# Slow enough, one at a time (reserved concurrency 1), that events queue up behind the deliveries
# and the backup catches some undelivered.
PY_SLOW_ECHO = '''
import time
def handler(event, context):
    time.sleep(0.1)
    return {"id": event.get("id"), "request_id": context.aws_request_id}
'''

PY_HELLO = '''
import os
def handler(event, context):
    return {"hello": event.get("name", "world"), "k": os.environ.get("KEY")}
'''

# The configuration a restore must bring back, as GetFunction shows it.
CONFIG_KEYS = ("Runtime", "Handler", "MemorySize", "Timeout", "Description", "CodeSha256", "CodeSize",
               "Environment", "RevisionId", "Version")


def alto(*args, timeout=60):
    return run_cmd([ALTO_BIN] + list(args), timeout=timeout)


class BackupRestoreTest(unittest.TestCase):
    def test_backup_while_serving_then_restore(self):
        deadline = time.monotonic() + TEST_BUDGET_S
        src = AltoServer(name="backup-src", extra_args=SERVER_ARGS)
        restored = None
        stop = threading.Event()
        sender = None
        try:
            src.start()
            lam = src.client()
            qarn = create_queue(src, "deliveries")

            # Functions: one with everything, one plain, the echo the events go to.
            lam.create_function(FunctionName="hello", Runtime="python3.12", Handler="app.handler",
                                Role=harness.ROLE, Code={"ZipFile": zip_files({"app.py": PY_HELLO})},
                                MemorySize=256, Timeout=7, Description="the full one",
                                Environment={"Variables": {"KEY": "v1"}}, Tags={"team": "core", "tier": "1"})
            self.assertEqual(lam.publish_version(FunctionName="hello")["Version"], "1")
            # $LATEST moves on after the version, so the two differ.
            lam.update_function_configuration(FunctionName="hello", Environment={"Variables": {"KEY": "v2"}})
            harness.wait_until(lambda: lam.get_function(FunctionName="hello")["Configuration"]
                               .get("LastUpdateStatus") in (None, "Successful"), 10)
            lam.create_alias(FunctionName="hello", Name="live", FunctionVersion="1")
            url = lam.create_function_url_config(FunctionName="hello", Qualifier="live", AuthType="NONE")
            lam.create_function(FunctionName="plain", Runtime="python3.12", Handler="app.handler",
                                Role=harness.ROLE,
                                Code={"ZipFile": zip_files({"app.py": PY_HELLO.replace("hello", "plain")})})
            lam.create_function(FunctionName="echo", Runtime="python3.12", Handler="app.handler",
                                Role=harness.ROLE, Code={"ZipFile": zip_files({"app.py": PY_SLOW_ECHO})})
            lam.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=1)
            lam.put_function_event_invoke_config(FunctionName="echo",
                                                 DestinationConfig={"OnSuccess": {"Destination": qarn}})
            before = {
                "functions": sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]),
                "configs": {(n, q): {k: lam.get_function(FunctionName=n, Qualifier=q)["Configuration"].get(k)
                                for k in CONFIG_KEYS}
                            for n, q in (("hello", "$LATEST"), ("hello", "1"), ("plain", "$LATEST"),
                                         ("echo", "$LATEST"))},
                "alias": lam.get_alias(FunctionName="hello", Name="live"),
                "url": lam.get_function_url_config(FunctionName="hello", Qualifier="live"),
                "tags": lam.list_tags(Resource=lam.get_function(FunctionName="hello")
                                      ["Configuration"]["FunctionArn"])["Tags"],
            }
            self.assertEqual(before["url"]["FunctionUrl"], url["FunctionUrl"])

            # The stream of async invokes, recording when each was acknowledged.
            acked = {}  # id -> monotonic time of its 202
            errors = []

            def send():
                conn = EventConnection(src.host, src.port, timeout=10)
                i = 0
                try:
                    while not stop.is_set():
                        ev_id = "ev-%05d" % i
                        i += 1
                        try:
                            status, _, _ = conn.invoke("echo", {"id": ev_id})
                        except OSError as e:
                            errors.append(repr(e))
                            return
                        if status == 202:
                            acked[ev_id] = time.monotonic()
                        else:
                            errors.append(status)
                        time.sleep(0.01)
                finally:
                    conn.close()

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            self.assertTrue(harness.wait_until(lambda: len(acked) >= 60, 20), "the stream did not start")

            # The backup, in the middle of the stream.
            backup_dir = os.path.join(src.tmp, "backup")
            t_backup = time.monotonic()
            acked_before = {i for i, t in acked.items() if t < t_backup}
            out = alto("backup", backup_dir, "--data-dir", src.data_dir)
            backup_s = time.monotonic() - t_backup
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("backup %s" % backup_dir, out.stdout)
            time.sleep(0.5)  # the stream goes on after the backup too
            stop.set()
            sender.join(timeout=15)
            self.assertEqual(errors, [], "the stream saw errors")
            acked_after = len(acked) - len(acked_before)
            self.assertGreater(acked_after, 0, "no event was acknowledged during or after the backup")

            with open(os.path.join(backup_dir, "manifest.json")) as f:
                manifest = json.load(f)
            backup_bytes = sum(f["size"] for f in manifest["files"])
            self.assertEqual(manifest["state"]["backend"], "sqlite")
            self.assertGreaterEqual(manifest["state"]["schema_version"], 1)
            self.assertEqual(sum(1 for f in manifest["files"] if f["kind"] == "code"), 3)
            st = os.stat(os.path.join(backup_dir, "secret.key"))
            self.assertEqual(st.st_mode & 0o777, 0o600)

            # A second backup into the same directory is refused.
            again = alto("backup", backup_dir, "--data-dir", src.data_dir)
            self.assertNotEqual(again.returncode, 0)
            self.assertIn("not empty", again.stderr)
            src.stop()

            # Restore: refused into a non-empty dir, then into a fresh one.
            busy = os.path.join(src.tmp, "busy")
            os.makedirs(busy)
            open(os.path.join(busy, "x"), "w").close()
            refused = alto("restore", backup_dir, "--data-dir", busy)
            self.assertNotEqual(refused.returncode, 0)
            self.assertIn("not empty", refused.stderr)
            target = os.path.join(src.tmp, "restored")
            t_restore = time.monotonic()
            out = alto("restore", backup_dir, "--data-dir", target)
            restore_s = time.monotonic() - t_restore
            self.assertEqual(out.returncode, 0, out.stderr)

            restored = AltoServer(data_dir=target, name="backup-restored", extra_args=SERVER_ARGS)
            restored_wall = datetime.datetime.now(datetime.timezone.utc)
            restored.start()
            lam2 = restored.client()

            # Every function as it was, and invoking.
            self.assertEqual(sorted(f["FunctionName"] for f in lam2.list_functions()["Functions"]),
                             before["functions"])
            for (n, q) in (("hello", "$LATEST"), ("hello", "1"), ("plain", "$LATEST"), ("echo", "$LATEST")):
                got = lam2.get_function(FunctionName=n, Qualifier=q)["Configuration"]
                self.assertEqual({k: got.get(k) for k in CONFIG_KEYS}, before["configs"][(n, q)], (n, q))
            alias = lam2.get_alias(FunctionName="hello", Name="live")
            for k in ("AliasArn", "Name", "FunctionVersion", "RevisionId"):
                self.assertEqual(alias.get(k), before["alias"].get(k), k)
            got_url = lam2.get_function_url_config(FunctionName="hello", Qualifier="live")
            for k in ("FunctionArn", "AuthType", "CreationTime"):
                self.assertEqual(got_url.get(k), before["url"].get(k), k)
            # The URL's id is kept; its port is the new server's.
            url_host = re.sub(r"^https?://|:\d+/$", "", got_url["FunctionUrl"])
            self.assertEqual(url_host, re.sub(r"^https?://|:\d+/$", "", before["url"]["FunctionUrl"]))
            self.assertEqual(lam2.list_tags(Resource=lam2.get_function(FunctionName="hello")
                                            ["Configuration"]["FunctionArn"])["Tags"], before["tags"])
            resp = lam2.invoke(FunctionName="hello", Qualifier="live", Payload=json.dumps({"name": "r"}))
            self.assertEqual(json.loads(resp["Payload"].read()), {"hello": "r", "k": "v1"})
            resp = lam2.invoke(FunctionName="hello", Payload=b"{}")
            self.assertEqual(json.loads(resp["Payload"].read()), {"hello": "world", "k": "v2"})
            resp = lam2.invoke(FunctionName="plain", Payload=b"{}")
            self.assertEqual(json.loads(resp["Payload"].read())["plain"], "world")
            status, _, body = restored.request("GET", "/ping", signed=False,
                                               headers={"Host": "%s:%d" % (url_host, restored.port)})
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(json.loads(body), {"hello": "world", "k": "v1"})

            # Every event acknowledged before the backup began reaches the queue: its record was in
            # the copy already, or the restored server delivers it now.
            seen = {}
            while time.monotonic() < deadline:
                for m in read_queue(restored, "deliveries"):
                    rec = json.loads(m["Body"])
                    seen.setdefault(rec["requestPayload"]["id"], rec["timestamp"])
                if acked_before <= set(seen):
                    break
                time.sleep(0.2)
            missing = sorted(acked_before - set(seen))
            self.assertEqual(missing[:10], [], "%d of %d events acknowledged before the backup never arrived"
                                               % (len(missing), len(acked_before)))
            by_restored = sum(1 for i in acked_before if _parse_ts(seen[i]) >= restored_wall)
            self.assertGreater(by_restored, 0, "every event was delivered before the backup: the test "
                                               "did not catch any in the queue")
            print("\nbackup: %.2f s, %d bytes (%d files); restore %.2f s; %d events acked before the backup "
                  "(%d delivered before it, %d by the restored server), %d acked during/after it"
                  % (backup_s, backup_bytes, len(manifest["files"]), restore_s, len(acked_before),
                     len(acked_before) - by_restored, by_restored, acked_after), file=sys.stderr)
        finally:
            stop.set()
            if sender is not None:
                sender.join(timeout=15)
            if restored is not None:
                restored.cleanup()
            src.cleanup()


def _parse_ts(text):
    # Records' timestamps: 2024-01-01T00:00:00.123Z (fraction optional).
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z$", text)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    frac = float(m.group(2)) if m.group(2) else 0.0
    return base + datetime.timedelta(seconds=frac)


if __name__ == "__main__":
    unittest.main()
