#!/usr/bin/env python3
"""Cold start cost of sandbox networking (issue 3 part 4): NetworkMode default (a veth on Alto's
bridge, an address, a default route; NAT and filtering are per-server nftables rules) against
NetworkMode none (loopback only), side by side in one run.

Against a private `alto server --driver oci` (temp --data-dir/--state-dir), two functions running
the no-op `provided.al2023` runtime (build/examples/hello-provided/bootstrap), one per mode. Each
round changes both functions' environment (a new revision, so the next invoke must start a new
sandbox) and then invokes each once, alternating which goes first; the time of that invoke is a
cold start. Also reports the server's sandbox teardown (veth delete) indirectly: none.

usage: bench/network_bench.py [-k ROUNDS] [--build-dir DIR] [--json FILE]
Needs root. Every wait is bounded (per-request timeouts, a total budget); the server and its temp
dir are removed at exit.
"""

import argparse
import base64
import json
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
E2E = os.path.join(ROOT, "tests", "e2e")
BUDGET_S = 300


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", type=int, default=30, help="cold starts per mode (default 30)")
    ap.add_argument("--build-dir", help="build dir (default build-release if it exists, else build)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    build = args.build_dir or (os.path.join(ROOT, "build-release")
                               if os.path.isdir(os.path.join(ROOT, "build-release")) else os.path.join(ROOT, "build"))
    os.environ["ALTO_BUILD_DIR"] = os.path.abspath(build)
    sys.path.insert(0, E2E)
    import harness  # noqa: E402  (reads ALTO_BUILD_DIR at import)

    if os.geteuid() != 0:
        sys.exit("needs root (oci driver)")
    bootstrap = os.path.join(build, "examples", "hello-provided", "bootstrap")
    code = harness.zip_file(bootstrap, "bootstrap", 0o755)
    # No stem cells: they would serve the networked function only (NetworkMode none never takes
    # one) and hide the cost measured here.
    server = harness.AltoServer(name="network-bench",
                                extra_args=("--driver", "oci", "--log-level", "debug", "--stem-ceiling", "0"))
    samples = {"default": [], "none": []}
    attach_us = []
    try:
        server.start()
        lam = server.client()
        for mode in samples:
            body = {"FunctionName": "bench-net-" + mode, "Runtime": "provided.al2023", "Handler": "noop",
                    "Role": harness.ROLE, "Code": {"ZipFile": base64.b64encode(code).decode()},
                    "NetworkMode": mode}
            status, _, text = server.request("POST", "/2015-03-31/functions", json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
            if status != 201:
                sys.exit("create %s: %s %s" % (mode, status, text))
        deadline = time.monotonic() + BUDGET_S
        order = list(samples)
        for i in range(args.k + 1):  # round 0 warms caches (page cache, runc) and is dropped
            if time.monotonic() > deadline:
                sys.stderr.write("budget of %d s spent after %d rounds\n" % (BUDGET_S, i))
                break
            for mode in samples:
                lam.update_function_configuration(FunctionName="bench-net-" + mode,
                                                  Environment={"Variables": {"ROUND": str(i)}})
            order.reverse()
            for mode in order:
                t0 = time.perf_counter()
                resp = lam.invoke(FunctionName="bench-net-" + mode, Payload=b"{}")
                resp["Payload"].read()
                ms = (time.perf_counter() - t0) * 1000
                if "FunctionError" in resp:
                    sys.exit("invoke %s failed: %s" % (mode, resp))
                if i > 0:
                    samples[mode].append(ms)
        # The server's own measure of the network step of each cold start (veth, address, route).
        attach_us = [int(m) for m in re.findall(r"network: attached \S+ in (\d+) us", server.log_text())]
    finally:
        server.cleanup()
    rows = {}
    print("cold invoke (ms), %d per mode, no-op provided.al2023 runtime" % len(samples["default"]))
    print("%-28s %8s %8s %8s %8s" % ("mode", "p50", "p90", "p99", "max"))
    for mode, label in (("none", "none (loopback only)"), ("default", "default (bridge+veth+NAT)")):
        s = sorted(samples[mode])
        rows[mode] = {p: round(percentile(s, p), 1) for p in (50, 90, 99)}
        rows[mode]["max"] = round(s[-1], 1) if s else None
        print("%-28s %8.1f %8.1f %8.1f %8.1f" % (label, rows[mode][50], rows[mode][90], rows[mode][99],
                                                 rows[mode]["max"] or 0))
    print("%-28s %8.1f" % ("difference p50", rows["default"][50] - rows["none"][50]))
    a = sorted(x / 1000.0 for x in attach_us)
    if a:
        rows["attach"] = {p: round(percentile(a, p), 1) for p in (50, 90, 99)}
        rows["attach"]["max"] = round(a[-1], 1)
        print("%-28s %8.1f %8.1f %8.1f %8.1f   (%d sandboxes, server-side)" % (
            "network attach step alone", rows["attach"][50], rows["attach"][90], rows["attach"][99],
            a[-1], len(a)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples_ms": samples, "percentiles_ms": rows}, f)


if __name__ == "__main__":
    main()
