#!/usr/bin/env python3
"""Run-time cost of groundup binaries built with different settings, side by
side on one moto server (bench.py's harness): what a release-profile change
(issue 15: optimisation levels for a faster `cargo install`) costs at run
time.

    bench/profiles.py --moto .venv/bin/moto_server \\
        O3=/tmp/gu-O3 O1=/tmp/gu-O1 O0=/tmp/gu-O0 [--reps 9]

For every binary, interleaved rep by rep so that the machine's load falls on
all of them alike: `run network compute` from a reset emulator, `run pki`
with RSA-2048 and with ECDSA P-256 (after that network), and `check` (cold
start + compiling every runbook). Reports the median wall time and the
median CPU time of the groundup process (user + system), which is what the
settings change: the emulator's share is the same for all. Timings are
reported, never asserted.
"""

import argparse
import os
import shutil
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: Moto, Bench, run_timed, median)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moto", required=True)
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--out", default="", help="also write the table here (Markdown)")
    p.add_argument("binaries", nargs="+", help="LABEL=PATH")
    a = p.parse_args()
    bins = []
    for spec in a.binaries:
        label, _, path = spec.partition("=")
        if not path or not os.access(path, os.X_OK):
            raise SystemExit(f"{spec}: expected LABEL=PATH to an executable groundup")
        bins.append((label, os.path.abspath(path)))

    # aws-cli is not run here; Bench only records its path.
    ns = types.SimpleNamespace(repo=REPO, moto=a.moto, groundup=bins[0][1], aws="/nonexistent/aws")
    b = bench.Bench(ns)
    cases = ("network+compute", "pki rsa-2048", "pki ecdsa-p256", "check")
    res = {label: {c: [] for c in cases} for label, _ in bins}
    try:
        for i in range(a.reps):
            for label, path in bins:
                ns.groundup = path
                s = b.groundup(["run", "network", "compute"], f"{label}-nc")
                res[label]["network+compute"].append(s)
                for alg in ("rsa-2048", "ecdsa-p256"):
                    d = b.fresh_dir(f"{label}-{alg}")
                    shutil.copytree(os.path.join(s["dir"], ".groundup"), os.path.join(d, ".groundup"))
                    t = b.groundup(["--set", f"key_algorithm={alg}", "run", "pki"], alg, reset=False, cwd=d)
                    res[label][f"pki {alg}"].append(t)
                d = b.fresh_dir(f"{label}-check")
                dt, rc, _ = bench.run_timed([path, "check"], d, b.env_g, os.path.join(d, "check"))
                if rc != 0:
                    raise SystemExit(f"{label}: groundup check failed ({rc})")
                res[label]["check"].append({"s": dt, "cpu": bench.run_timed.cpu})
            bench.log(f"rep {i + 1}/{a.reps} done")
    finally:
        b.moto.stop()
        shutil.rmtree(b.work, ignore_errors=True)

    def ms(x):
        return f"{x * 1e3:.0f} ms"

    lines = [
        f"| Case ({a.reps} runs each, medians) | " + " | ".join(label for label, _ in bins) + " |",
        "|---" * (len(bins) + 1) + "|",
    ]
    for c in cases:
        row = []
        for label, _ in bins:
            xs = res[label][c]
            row.append(f"{ms(bench.median([x['s'] for x in xs]))} wall, {ms(bench.median([x['cpu'] for x in xs]))} CPU")
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
