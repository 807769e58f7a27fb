"""A function built with an official AWS Lambda runtime interface client runs unmodified: the
Node.js RIC from npm (aws-lambda-ric, with its native Runtime API client), started by a custom
runtime's bootstrap exactly as its README says, answers invokes through Alto's Runtime API."""
import base64
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import AltoTestCase, zip_files  # noqa: E402

RIC_VERSION = "3.3.0"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Outside the checkout, so that CI's clean clones reuse the build (about 3.5 min: its native addon
# builds curl and aws-lambda-cpp). ALTO_TEST_CACHE overrides it.
CACHE = os.path.join(os.environ.get("ALTO_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "alto"),
                     "aws-lambda-ric-" + RIC_VERSION)
PACKAGE = os.path.join(CACHE, "node_modules", "aws-lambda-ric")
BUILD_TIMEOUT_S = 1200

BOOTSTRAP = """#!/bin/sh
exec /usr/bin/node /var/task/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"
"""

HANDLER = """
export const handler = async (event, context) => {
  if (event.fail) throw new TypeError("failed on purpose");
  return { echo: event, requestId: context.awsRequestId, functionName: context.functionName,
           memory: context.memoryLimitInMB, hasTime: context.getRemainingTimeInMillis() > 0 };
};
"""


def ensure_ric():
    """Installs the RIC once into CACHE (its native addon builds curl and aws-lambda-cpp)."""
    addon = os.path.join(PACKAGE, "dist", "rapid-client.node")
    if os.path.exists(addon):
        return
    shutil.rmtree(CACHE, ignore_errors=True)
    os.makedirs(CACHE)
    steps = [
        ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", CACHE,
         "aws-lambda-ric@" + RIC_VERSION],
        ["sh", "scripts/preinstall.sh"],
        ["sh", "scripts/postinstall.sh"],
    ]
    for i, cmd in enumerate(steps):
        r = subprocess.run(cmd, cwd=CACHE if i == 0 else PACKAGE, capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT_S)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, (r.stdout + r.stderr)[-3000:]))
    if not os.path.exists(addon):
        raise RuntimeError("aws-lambda-ric built no " + addon)


def ric_zip():
    files = {"bootstrap": (BOOTSTRAP, 0o755), "index.mjs": HANDLER}
    for sub in ("bin", "dist"):
        for name in os.listdir(os.path.join(PACKAGE, sub)):
            with open(os.path.join(PACKAGE, sub, name), "rb") as f:
                files["node_modules/aws-lambda-ric/%s/%s" % (sub, name)] = f.read()
    with open(os.path.join(PACKAGE, "package.json"), "rb") as f:
        files["node_modules/aws-lambda-ric/package.json"] = f.read()
    return zip_files(files)


class OfficialRicTest(AltoTestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("npm") is None:
            raise unittest.SkipTest("npm is not installed (scripts/install-deps installs it)")
        ensure_ric()
        super().setUpClass()

    def test_node_ric_runs_unmodified(self):
        name = self.unique("ric-node")
        self.create(name, "provided.al2023", "index.handler", ric_zip(), Timeout=30, MemorySize=256)
        for i in range(3):
            resp, body, log = self.invoke(name, {"n": i})
            self.assertNotIn("FunctionError", resp, body)
            self.assertEqual(body["echo"], {"n": i})
            self.assertEqual(body["functionName"], name)
            self.assertEqual(body["memory"], "256")
            self.assertTrue(body["hasTime"])
            self.assertEqual(body["requestId"], resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
            self.assertIn("REPORT RequestId: " + body["requestId"], log)
        # The RIC reports a handler's exception through /error: Lambda's error document.
        resp, body, _ = self.invoke(name, {"fail": True})
        self.assertEqual(resp.get("FunctionError"), "Unhandled", body)
        self.assertEqual(body["errorType"], "TypeError", body)
        self.assertEqual(body["errorMessage"], "failed on purpose", body)


if __name__ == "__main__":
    unittest.main()
