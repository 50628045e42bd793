#!/usr/bin/env python3
"""Benchmark mlreg on synthetic registries (benches/synth.py): `check`, a cold `build` into an
empty folder, and a warm rebuild of the unchanged registry. Wall time is the median of 5 runs,
memory the peak RSS; files and bytes are those of the output.

usage: benches/bench.py [N ...]     (default: 1000 10000)
Builds the release binary first. Prints one line per size and phase. Not a test: the numbers go
in notes.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = None


def run(binary, args):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(binary, [binary] + args)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"mlreg {args} failed")
    return wall, usage.ru_maxrss


def measure(label, n, runs, before=None):
    """Median wall time and peak memory of `runs` (a list of argument lists), each after `before`."""
    results = []
    for args in runs:
        if before:
            before()
        results.append(run(BINARY, args))
    wall = statistics.median(r[0] for r in results)
    rss = max(r[1] for r in results)
    print(f"{label:<14} {n:>7} versions: median {wall * 1000:7.0f} ms, peak {rss / 1024:6.1f} MiB", flush=True)


def du(path):
    files = sum(len(f) for _, _, f in os.walk(path))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return files, size


def main():
    global BINARY
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    BINARY = os.path.join(ROOT, "target/release/mlreg")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            reg, out = os.path.join(tmp, "registry"), os.path.join(tmp, "public")
            subprocess.run([sys.executable, os.path.join(ROOT, "benches/synth.py"), str(n), reg], check=True)
            files, size = du(reg)
            print(f"source: {n} versions, {files} files, {size / 1e6:.1f} MB")
            run(BINARY, ["check", reg])  # warm the page cache
            measure("check", n, [["check", reg, "--format", "json"]] * 5)
            def clear():
                # Flush the deletion before timing, so that it is not billed to the next build.
                shutil.rmtree(out, ignore_errors=True)
                os.sync()

            measure("cold build", n, [["build", reg, "--out", out]] * 5, before=clear)
            files, size = du(out)
            print(f"output: {files} files, {size / 1e6:.1f} MB")
            measure("warm rebuild", n, [["build", reg, "--out", out]] * 5)


if __name__ == "__main__":
    main()
