"""The alto CLI's async side: fn invoke --async, queue create/ls/read, fn stats."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

ECHO = '''
def handler(event, context):
    return {"echo": event, "request_id": context.aws_request_id}
'''


class CliAsyncTest(AltoTestCase):
    server_options = {"extra_args": ("--async-retry-scale", "0.01")}

    def cli(self, group, *args):
        """`alto GROUP --endpoint E ARGS...` (GROUP is fn or queue)."""
        return harness.run_cmd([harness.ALTO_BIN, group, "--endpoint", self.server.endpoint] + list(args),
                               timeout=harness.CLI_TIMEOUT_S)

    def test_async_invoke_lands_in_queue_and_stats(self):
        name = self.unique("cliasync")
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": ECHO}))
        created = self.cli("queue", "create", name + "-ok")
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertEqual(created.stdout.strip(), "arn:aws:sqs:us-east-1:000000000000:%s-ok" % name)
        self.lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": created.stdout.strip()}})
        queued = self.cli("fn", "invoke", name, "--async", "--payload", '{"k": 7}')
        self.assertEqual(queued.returncode, 0, queued.stderr)
        self.assertRegex(queued.stdout, r"^queued [0-9a-f-]{36}\s*$")
        request_id = queued.stdout.split()[1]
        ls = self.cli("queue", "ls")
        self.assertIn(name + "-ok", ls.stdout)
        records = []
        deadline = time.time() + 30
        while time.time() < deadline and not records:
            peek = self.cli("queue", "read", name + "-ok", "--peek")
            self.assertEqual(peek.returncode, 0, peek.stderr)
            records = [json.loads(line) for line in peek.stdout.splitlines() if line.strip()]
            if not records:
                time.sleep(0.2)
        self.assertEqual(len(records), 1, "no OnSuccess record within 30 s")
        record = json.loads(records[0]["Body"])
        self.assertEqual(record["requestContext"]["requestId"], request_id)
        self.assertEqual(record["requestPayload"], {"k": 7})
        self.assertEqual(record["responsePayload"]["request_id"], request_id)
        # read consumes; a second read finds nothing
        self.assertEqual(len(self.cli("queue", "read", name + "-ok").stdout.splitlines()), 1)
        self.assertEqual(self.cli("queue", "read", name + "-ok").stdout.strip(), "")
        stats = self.cli("fn", "stats", name)
        self.assertEqual(stats.returncode, 0, stats.stderr)
        self.assertRegex(stats.stdout, r"Delivered\s+1\b")
        self.assertRegex(stats.stdout, r"QueueDepth\s+0\b")

    def test_errors_exit_nonzero(self):
        missing = self.cli("queue", "read", "no-such-queue")
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("ResourceNotFoundException", missing.stderr)
        bad = self.cli("queue", "create", "bad name!")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("InvalidParameterValueException", bad.stderr)
        nofn = self.cli("fn", "invoke", "no-such-fn", "--async")
        self.assertNotEqual(nofn.returncode, 0)
        self.assertIn("ResourceNotFoundException", nofn.stderr)


if __name__ == "__main__":
    unittest.main()
