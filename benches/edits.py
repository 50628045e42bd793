#!/usr/bin/env python3
"""Many random edit sequences: the suite's test
scale::random_edit_sequences_keep_incremental_builds_equal_to_clean_ones, run again with seed
after seed (MLREG_EDIT_SEED) and longer sequences (MLREG_EDIT_STEPS), until a run fails or
--seeds are done. A failure prints the seed and the edits that led to it; run that seed alone
again with the same environment to reproduce it.

usage: benches/edits.py [--seeds N] [--first S] [--steps K]

Not a benchmark: a stress loop too long for the test suite (about a second a step).
"""
import argparse
import os
import subprocess
import sys
import time

import common

TEST = "scale::random_edit_sequences_keep_incremental_builds_equal_to_clean_ones"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    parser.add_argument("--first", type=int, default=1000, help="the first seed (default 1000)")
    parser.add_argument("--steps", type=int, default=40, help="edits a sequence (default 40)")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--tests", "--quiet"], cwd=common.ROOT, check=True)
    start = time.monotonic()
    for seed in range(args.first, args.first + args.seeds):
        env = dict(os.environ, MLREG_EDIT_SEED=str(seed), MLREG_EDIT_STEPS=str(args.steps))
        run = subprocess.run(
            ["cargo", "nextest", "run", "--test", "suite", "--no-capture", "-E", f"test(={TEST})"],
            cwd=common.ROOT, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout[-20000:], run.stderr[-20000:], sep="\n")
            sys.exit(f"seed {seed} failed (MLREG_EDIT_STEPS={args.steps})")
        print(f"seed {seed}: {args.steps} edits, incremental = clean after each "
              f"({time.monotonic() - start:.0f} s so far)", flush=True)


if __name__ == "__main__":
    main()
