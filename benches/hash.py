#!/usr/bin/env python3
"""How fast mlreg hashes and pulls a large file, against `sha256sum` on the same file.

Writes a 1 GiB file of pseudo-random bytes once (cached as target/bench-hash/1GiB.bin), reads it
once so that it is in the page cache, then times, each the median of --runs (default 3):
  sha256sum          sha256sum of the file: the reference
  openssl            openssl dgst -sha256 of the file, if openssl is on the PATH (unlike
                     coreutils' sha256sum, it uses the CPU's SHA instructions where there are)
  check              mlreg check of a registry whose one version ships the file (hard-linked)
  build cold         mlreg build of that registry into an empty folder: hashes the file once,
                     and copies it into blobs/ (nothing subtracted)
  pull               mlreg pull models/big@1 --index OUT into an empty folder, with an empty
                     cache: fetches the blob from the built folder, copies and verifies it
  pull, cache warm   the same into an empty folder, the cache kept from the run before
Deletions are os.sync()ed before each timed run. Prints wall time, MB/s (10^6 bytes a second)
over the file's size, peak RSS, and each one's speed as a ratio of sha256sum's.

usage: benches/hash.py [--runs R] [--binary PATH] [--keep DIR]

--binary P    the mlreg to time (default: cargo build --release here, target/release/mlreg)
--keep DIR    work in DIR (must not exist) and leave it there; otherwise a temporary folder under
              target/, removed at the end (the 1 GiB file itself stays cached)

Not a test: the numbers go in notes. They are wall times on a shared machine: say what else ran.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile

import common

SIZE = 1 << 30
CACHE = os.path.join(common.ROOT, "target", "bench-hash")
BIG = os.path.join(CACHE, "1GiB.bin")


def big_file():
    """The 1 GiB file, written once: the same pseudo-random bytes every time."""
    if os.path.exists(BIG) and os.path.getsize(BIG) == SIZE:
        return BIG
    os.makedirs(CACHE, exist_ok=True)
    rng = random.Random(1)
    chunk = 16 << 20
    tmp = BIG + ".tmp"
    with open(tmp, "wb") as f:
        for _ in range(SIZE // chunk):
            f.write(rng.randbytes(chunk))
    os.replace(tmp, BIG)
    return BIG


def read_once(path):
    """Read the file to the end, so that it is in the page cache."""
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def registry(reg, big):
    """A registry of one model version, models/big@1, shipping the file (hard-linked if it can)."""
    version = os.path.join(reg, "models", "big", "1")
    os.makedirs(os.path.join(version, "model"))
    with open(os.path.join(reg, "registry.yaml"), "w") as f:
        f.write("name: hashbench\n")
    with open(os.path.join(version, "spec.yaml"), "w") as f:
        f.write("type: custom_model\npath: model\ndescription: one large file\n")
    target = os.path.join(version, "model", "weights.bin")
    try:
        os.link(big, target)
    except OSError:
        shutil.copyfile(big, target)


def timed(label, argv, runs, before=None, reference=None):
    """Print the median wall time of runs of argv (each after `before`), its MB/s over the file's
    size, its peak RSS and its speed as a ratio of the `reference` wall time's; then, for mlreg,
    the last line it printed (its summary). Returns the median wall time."""
    results = []
    for _ in range(runs):
        if before:
            before()
        os.sync()
        results.append(common.run(argv, output=True))
    wall, rss = common.median_wall(results), common.peak_rss(results)
    speed = SIZE / wall / 1e6
    ratio = "" if reference is None else f"  {speed / (SIZE / reference / 1e6):.2f} x sha256sum's speed"
    print(f"{label:<18} {wall:7.2f} s  {speed:7.0f} MB/s  peak {rss / 1024:6.0f} MiB{ratio}", flush=True)
    last = results[-1].output.strip().splitlines()
    if last and argv[1] in ("check", "build", "pull"):
        print(f"{'':<18} {last[-1]}", flush=True)
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", help="the mlreg to time (default: build the release binary)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and leave it there")
    args = parser.parse_args()
    if not shutil.which("sha256sum"):
        sys.exit("no sha256sum on the PATH")
    binary = os.path.abspath(args.binary) if args.binary else common.release_binary()
    big = big_file()
    read_once(big)
    if args.keep:
        os.makedirs(args.keep)
        work = args.keep
    else:
        work = tempfile.mkdtemp(prefix="hash-", dir=os.path.join(common.ROOT, "target"))
    try:
        reg, out = os.path.join(work, "registry"), os.path.join(work, "public")
        dest, cache = os.path.join(work, "pulled"), os.path.join(work, "cache")
        registry(reg, big)
        print(f"1 GiB file, {args.runs} run(s) each; load average {os.getloadavg()[0]:.2f}", flush=True)
        ref = timed("sha256sum", ["sha256sum", big], args.runs)
        if shutil.which("openssl"):
            timed("openssl", ["openssl", "dgst", "-sha256", big], args.runs, reference=ref)
        timed("check", [binary, "check", reg], args.runs, reference=ref)
        timed("build cold", [binary, "build", reg, "--out", out], args.runs,
              before=lambda: common.clear(out), reference=ref)
        pull = [binary, "pull", "models/big@1", "--index", out, "--dest", dest, "--cache", cache]

        def empty():
            common.clear(dest)
            common.clear(cache)

        timed("pull", pull, args.runs, before=empty, reference=ref)
        timed("pull, cache warm", pull, args.runs, before=lambda: common.clear(dest), reference=ref)
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        common.empty_trash()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
