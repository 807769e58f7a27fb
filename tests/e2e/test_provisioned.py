"""Provisioned concurrency: Put/Get/List/DeleteProvisionedConcurrencyConfig through boto3; the
sandboxes are initialised before any invoke, answer their first invoke without a cold start (no
Init Duration, AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency), are replaced when they die,
and come back after a restart."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import AltoServer, AltoTestCase, zip_files  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

APP = r'''
import os
def handler(event, context):
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
            "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}
'''

READY_TIMEOUT_S = 90


class ProvisionedConcurrencyTest(AltoTestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or harness.runc_path() is None:
            raise unittest.SkipTest("provisioned sandboxes are counted with runc: needs root and runc")
        super().setUpClass()

    def make(self, prefix):
        name = self.unique(prefix)
        self.create(name, "python3.12", "app.handler", zip_files({"app.py": APP}))
        self.assertEqual(self.lam.publish_version(FunctionName=name)["Version"], "1")
        return name

    def wait_ready(self, name, qualifier, requested):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            cfg = self.lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
            self.assertEqual(cfg["RequestedProvisionedConcurrentExecutions"], requested, cfg)
            self.assertNotEqual(cfg["Status"], "FAILED", cfg)
            if cfg["Status"] == "READY":
                self.assertEqual(cfg["AvailableProvisionedConcurrentExecutions"], requested, cfg)
                self.assertEqual(cfg["AllocatedProvisionedConcurrentExecutions"], requested, cfg)
                return cfg
            self.assertLess(time.monotonic(), deadline, "not READY: %r" % cfg)
            time.sleep(0.1)

    def test_initialised_before_the_first_invoke(self):
        name = self.make("pc")
        before = set(self.server.runc_list())
        put = self.lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                          ProvisionedConcurrentExecutions=2)
        self.assertEqual(put["ResponseMetadata"]["HTTPStatusCode"], 202)
        self.assertEqual(put["RequestedProvisionedConcurrentExecutions"], 2)
        self.assertIn(put["Status"], ("IN_PROGRESS", "READY"))
        self.wait_ready(name, "1", 2)
        self.assertEqual(len(set(self.server.runc_list()) - before), 2, "two sandboxes before any invoke")
        for _ in range(3):
            resp, body, log = self.invoke(name, {}, Qualifier="1")
            self.assertNotIn("FunctionError", resp, body)
            self.assertEqual(body, {"init": "provisioned-concurrency", "version": "1"})
            self.assertIn("REPORT RequestId", log)
            self.assertNotIn("Init Duration", log, "a provisioned sandbox reported a cold start")
        self.assertEqual((self.server.metric("alto_cold_starts_total", name) or 0), 0)
        # $LATEST is not provisioned: its first invoke is an on-demand cold start.
        resp, body, log = self.invoke(name, {})
        self.assertEqual(body, {"init": "on-demand", "version": "$LATEST"})
        self.assertIn("Init Duration", log)
        self.assertEqual((self.server.metric("alto_cold_starts_total", name) or 0), 1)

        listed = self.lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        self.assertEqual(len(listed), 1, listed)
        self.assertTrue(listed[0]["FunctionArn"].endswith(":function:%s:1" % name), listed)
        self.assertEqual(listed[0]["Status"], "READY")

        # Lowering the count lets sandboxes go; deleting the config lets the rest go.
        self.lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                    ProvisionedConcurrentExecutions=1)
        self.wait_ready(name, "1", 1)
        resp = self.lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 204)
        with self.assertRaises(ClientError) as e:
            self.lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        self.assertEqual(e.exception.response["Error"]["Code"], "ProvisionedConcurrencyConfigNotFoundException")
        self.assertEqual(self.lam.list_provisioned_concurrency_configs(FunctionName=name)
                         ["ProvisionedConcurrencyConfigs"], [])

    def test_invalid_requests(self):
        name = self.make("pc-bad")

        def error_of(**kw):
            with self.assertRaises(ClientError) as e:
                self.lam.put_provisioned_concurrency_config(FunctionName=name, **kw)
            return e.exception.response["Error"]["Code"], e.exception.response["ResponseMetadata"]["HTTPStatusCode"]

        self.assertEqual(error_of(Qualifier="$LATEST", ProvisionedConcurrentExecutions=1),
                         ("InvalidParameterValueException", 400))
        self.assertEqual(error_of(Qualifier="7", ProvisionedConcurrentExecutions=1),
                         ("ResourceNotFoundException", 404))
        self.assertEqual(error_of(Qualifier="no-alias", ProvisionedConcurrentExecutions=1),
                         ("ResourceNotFoundException", 404))
        status, _, body = self.server.request(
            "PUT", "/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=1" % name,
            b'{"ProvisionedConcurrentExecutions": 0}', {"Content-Type": "application/json"})
        self.assertEqual(status, 400, body)
        # Provisioned concurrency comes out of the function's reservation.
        self.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        self.assertEqual(error_of(Qualifier="1", ProvisionedConcurrentExecutions=2),
                         ("InvalidParameterValueException", 400))
        with self.assertRaises(ClientError) as e:
            self.lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        self.assertEqual(e.exception.response["Error"]["Code"], "ProvisionedConcurrencyConfigNotFoundException")

    def test_alias_dead_sandbox_is_replaced(self):
        name = self.make("pc-alias")
        self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        before = set(self.server.runc_list())
        self.lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                    ProvisionedConcurrentExecutions=1)
        self.wait_ready(name, "live", 1)
        (first,) = set(self.server.runc_list()) - before
        harness.run_cmd([harness.runc_path(), "--root", self.server.runc_root, "kill", first, "KILL"], timeout=30)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:  # the reaper notices within its interval and starts a replacement
            now = set(self.server.runc_list()) - before - {first}
            cfg = self.lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
            if now and cfg["Status"] == "READY":
                break
            self.assertLess(time.monotonic(), deadline, "no replacement: %r" % cfg)
            time.sleep(0.2)
        resp, body, log = self.invoke(name, {}, Qualifier="live")
        self.assertEqual(body, {"init": "provisioned-concurrency", "version": "1"})
        self.assertNotIn("Init Duration", log)
        # Deleting the alias deletes its provisioned concurrency.
        self.lam.delete_alias(FunctionName=name, Name="live")
        self.assertEqual(self.lam.list_provisioned_concurrency_configs(FunctionName=name)
                         ["ProvisionedConcurrencyConfigs"], [])


class ProvisionedRestartTest(unittest.TestCase):
    def test_restored_after_restart(self):
        if os.geteuid() != 0 or harness.runc_path() is None:
            self.skipTest("needs root and runc")
        first = AltoServer(name="pc-restart-1", idle_timeout=300)
        try:
            first.start()
            lam = first.client()
            lam.create_function(FunctionName="pc-restart", Runtime="python3.12", Handler="app.handler",
                                Role=harness.ROLE, Code={"ZipFile": zip_files({"app.py": APP})})
            lam.publish_version(FunctionName="pc-restart")
            lam.put_provisioned_concurrency_config(FunctionName="pc-restart", Qualifier="1",
                                                   ProvisionedConcurrentExecutions=1)
            first.stop()
            second = AltoServer(name="pc-restart-2", idle_timeout=300, data_dir=first.data_dir,
                                state_dir=first.state_dir)
            try:
                second.start()
                lam = second.client()
                deadline = time.monotonic() + READY_TIMEOUT_S
                while True:
                    cfg = lam.get_provisioned_concurrency_config(FunctionName="pc-restart", Qualifier="1")
                    if cfg["Status"] == "READY":
                        break
                    self.assertLess(time.monotonic(), deadline, "not READY after restart: %r" % cfg)
                    time.sleep(0.1)
                self.assertEqual(len(second.runc_list()), 1)
                resp = lam.invoke(FunctionName="pc-restart", Qualifier="1", LogType="Tail", Payload=b"{}")
                import base64
                log = base64.b64decode(resp["LogResult"]).decode()
                self.assertNotIn("Init Duration", log)
                second.stop()
            finally:
                second.cleanup()
        finally:
            first.cleanup()


if __name__ == "__main__":
    unittest.main()
