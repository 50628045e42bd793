#!/usr/bin/env python3
"""Benchmark mlreg on synthetic registries (benches/synth.py): `check`, a cold `build` into an
empty folder, and a warm rebuild of the unchanged registry. Wall time is the median of 5 runs,
memory the peak RSS; files and bytes are those of the output.

usage: benches/bench.py [--hugo] [N ...]     (default: 1000 10000)

With --hugo (and `hugo` on the PATH: apt-get install hugo), Hugo builds the same cards as a
minimal site, alternating with mlreg, as docs/performance targets are stated against it.
Builds the release binary first. Prints one line per size and phase. Not a test: the numbers go
in notes.
"""
import os
import sys
import tempfile

import common

BINARY = None


def measure(label, n, runs, before=None):
    """Median wall time and peak memory of `runs` (a list of argument lists), each after `before`."""
    results = []
    for args in runs:
        if before:
            before()
        results.append(common.run([BINARY] + args))
    report(label, n, results)


def report(label, n, results):
    wall, rss = common.median_wall(results), common.peak_rss(results)
    print(f"{label:<14} {n:>7} versions: median {wall * 1000:7.0f} ms, peak {rss / 1024:6.1f} MiB", flush=True)


def hugo(reg, tmp, n):
    """The same cards as a Hugo site (common.HugoSite), cold and warm, 3 times each."""
    site = common.HugoSite(reg, os.path.join(tmp, "hugo"))
    cold, warm = [], []
    for _ in range(3):
        site.clear()
        cold.append(site.build())
        warm.append(site.build())
    report("hugo cold", n, cold)
    report("hugo warm", n, warm)


def main():
    global BINARY
    with_hugo = "--hugo" in sys.argv
    sizes = [int(a) for a in sys.argv[1:] if a != "--hugo"] or [1000, 10000]
    BINARY = common.release_binary()
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            reg, out = os.path.join(tmp, "registry"), os.path.join(tmp, "public")
            common.synth(n, reg)
            files, size = common.du(reg)
            print(f"source: {n} versions, {files} files, {size / 1e6:.1f} MB")
            common.run([BINARY, "check", reg])  # warm the page cache
            measure("check", n, [["check", reg, "--format", "json"]] * 5)
            # The last output is moved aside, not deleted, before each: see common.clear.
            measure("cold build", n, [["build", reg, "--out", out]] * 5, before=lambda: common.clear(out))
            files, size = common.du(out)
            print(f"output: {files} files, {size / 1e6:.1f} MB")
            measure("warm rebuild", n, [["build", reg, "--out", out]] * 5)
            if with_hugo:
                hugo(reg, tmp, n)


if __name__ == "__main__":
    main()
