#!/usr/bin/env python3
"""Benchmark `mlreg check` on synthetic registries: wall time (median of runs) and peak memory.

usage: benches/check.py [N ...]     (default: 1000 10000)
Builds the release binary first. Prints one line per size. Not a test: numbers go in notes.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(binary, registry):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(binary, [binary, "check", registry, "--format", "json"])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"mlreg check failed on {registry}")
    return wall, usage.ru_maxrss


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target/release/mlreg")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            reg = os.path.join(tmp, "registry")
            subprocess.run([sys.executable, os.path.join(ROOT, "benches/synth.py"), str(n), reg], check=True)
            files = sum(len(f) for _, _, f in os.walk(reg))
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(reg) for f in fs)
            run(binary, reg)  # warm the page cache
            runs = [run(binary, reg) for _ in range(5)]
            wall = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            print(f"check {n:>7} versions ({files} files, {size / 1e6:.1f} MB): "
                  f"median {wall * 1000:.0f} ms, peak {rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
