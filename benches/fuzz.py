#!/usr/bin/env python3
"""Coverage-guided fuzzing of what mlreg reads from pull requests and from the network: the
targets in fuzz/ (cargo fuzz, libFuzzer), each for a while, seeded from the sample registry,
the test corpus, the docs and a build of the sample registry.

usage: benches/fuzz.py [--seconds N] [TARGET ...]   (default: 600 s each, every target)

Targets (fuzz/fuzz_targets/):
  yaml_spec       the located YAML reader and every manifest decoder, diagnostics rendered
  card            front matter and the card's Markdown as the site renders it; fails on any
                  active HTML (script, event handlers, javascript: URLs, style, frames)
  client_docs     every index document a client parses, then what it does with them
                  (verify, trust, resolve, pull's file list), and reference parsing
  registry_check  the whole check of the sample registry with one of its files replaced

A finding (panic, input slower than 10 s, over 2 GiB) stops that target and leaves the input in
fuzz/artifacts/<target>/; `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>` replays it. The
corpora grow in fuzz/corpus/<target>/ from run to run (both are ignored by git). cargo-fuzz is
installed if missing; it needs nightly features, which RUSTC_BOOTSTRAP=1 allows on stable.

Not a test: too long for the suite. CI only compiles the targets.
"""
import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import common

FUZZ = os.path.join(common.ROOT, "fuzz")
TARGETS = ["yaml_spec", "card", "client_docs", "registry_check"]
DICTS = {"yaml_spec": "yaml.dict", "card": "card.dict", "registry_check": "yaml.dict"}
# registry_check's first byte picks the file the rest replaces, in this order
# (fuzz_targets/registry_check.rs).
CHECKED = [
    "registry.yaml",
    "models/credit-default/stages.yaml",
    "models/credit-default/asset.yaml",
    "models/credit-default/3/spec.yaml",
    "models/credit-default/3/lineage.yaml",
    "models/credit-default/3/README.md",
]
REFERENCES = [
    "models/credit-default@prod", "models/credit-default@3", "models/credit-default@latest",
    "credit-default", "azureml://registries/contoso/models/credit-default/versions/3",
    "azureml:credit-default:3", "azureml:credit-default@latest",
    "components/credit_training@1",
]


def files(patterns):
    out = []
    for pattern in patterns:
        out += glob.glob(os.path.join(common.ROOT, pattern), recursive=True)
    return sorted(f for f in out if os.path.isfile(f))


def seed(target):
    """The target's corpus folder, seeded (each input named by its hash) unless it has inputs."""
    corpus = os.path.join(FUZZ, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    if os.listdir(corpus):
        return corpus
    blobs = seeds(target)
    for blob in blobs:
        with open(os.path.join(corpus, hashlib.sha1(blob).hexdigest()), "wb") as f:
            f.write(blob)
    print(f"{target}: seeded with {len(blobs)} inputs", flush=True)
    return corpus


def read(paths):
    return [open(p, "rb").read() for p in paths]


def seeds(target):
    if target == "yaml_spec":
        return read(files(["registry/**/*.yaml", "tests/corpus/**/*.y*ml"]))
    if target == "card":
        return read(files(["registry/**/*.md", "tests/corpus/**/*.md", "docs/*.md", "README.md"]))
    if target == "client_docs":
        return read(built_documents()) + [r.encode() for r in REFERENCES]
    return [bytes([i]) + open(os.path.join(common.ROOT, "registry", f), "rb").read()
            for i, f in enumerate(CHECKED)]


def built_documents():
    """The documents of two builds of the sample registry, the second signed (a root with a
    signature, a key set), schemas left out."""
    mlreg = common.release_binary()
    seeds = os.path.join(common.ROOT, "target", "fuzz-seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    signed = os.path.join(seeds, "signed-registry")
    shutil.copytree(os.path.join(common.ROOT, "registry"), signed)
    key = os.path.join(seeds, "key")
    subprocess.run([mlreg, "--quiet", "keygen", "--out", key, "--no-password"], check=True,
                   stdout=subprocess.DEVNULL)
    public = open(key + ".pub").read().split()[-1]
    with open(os.path.join(signed, "registry.yaml"), "a") as f:
        f.write(f"trust:\n  keys: [{public}]\n  threshold: 1\n  expires: 30d\n")
    for registry, out, more in [
        (os.path.join(common.ROOT, "registry"), "plain", []),
        (signed, "signed", ["--signing-key", key + ".key"]),
    ]:
        out = os.path.join(seeds, out)
        subprocess.run([mlreg, "--quiet", "build", registry, "--out", out, *more], check=True)
    built = files(["target/fuzz-seeds/plain/**/*.json", "target/fuzz-seeds/signed/**/*.json"])
    return [p for p in built if "/schemas/" not in p]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="time per target (default 600)")
    parser.add_argument("targets", nargs="*", help=f"of {', '.join(TARGETS)} (default: all)")
    args = parser.parse_args()
    for target in args.targets:
        if target not in TARGETS:
            parser.error(f"no target {target!r}: the targets are {', '.join(TARGETS)}")
    env = dict(os.environ, RUSTC_BOOTSTRAP="1", RAYON_NUM_THREADS="1")
    if subprocess.run(["cargo", "fuzz", "--version"], capture_output=True).returncode != 0:
        subprocess.run(["cargo", "install", "cargo-fuzz", "--locked"], check=True)
    failed = []
    for target in args.targets or TARGETS:
        corpus = seed(target)
        options = [f"-max_total_time={args.seconds}", "-rss_limit_mb=2048", "-timeout=10",
                   "-max_len=65536", "-print_final_stats=1"]
        if target in DICTS:
            options.append(f"-dict={os.path.join(FUZZ, DICTS[target])}")
        run = subprocess.run(["cargo", "fuzz", "run", target, corpus, "--", *options],
                             cwd=common.ROOT, env=env, capture_output=True, text=True)
        stats = dict(line[len("stat::"):].split(":", 1) for line in run.stderr.splitlines()
                     if line.startswith("stat::"))
        shown = [("number_of_executed_units", "runs"), ("peak_rss_mb", "MB at most")]
        stats = [f"{stats[k].strip()} {what}" for k, what in shown if k in stats]
        found = sorted(glob.glob(os.path.join(FUZZ, "artifacts", target, "*")))
        # What the targets write their inputs to (libFuzzer exits without unwinding).
        for left in glob.glob(os.path.join(tempfile.gettempdir(), "mlreg-fuzz-*")):
            shutil.rmtree(left) if os.path.isdir(left) else os.remove(left)
        if run.returncode != 0:
            print(run.stderr[-6000:], file=sys.stderr)
            failed.append(target)
        print(f"{target}: {'FAILED' if run.returncode else 'ok'} after {args.seconds} s; "
              + "; ".join(stats) + (f"; artifacts: {found}" if found else ""), flush=True)
    if failed:
        sys.exit(f"findings in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
