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


def hugo(reg, tmp, n):
    """The same cards as a Hugo site: one page per version, the card as its content."""
    site = os.path.join(tmp, "hugo")
    os.makedirs(os.path.join(site, "layouts", "_default"))
    with open(os.path.join(site, "config.toml"), "w") as f:
        f.write('baseURL = "https://example.com/"\ndisableKinds = ["taxonomy", "term"]\n')
    with open(os.path.join(site, "layouts", "_default", "single.html"), "w") as f:
        f.write("<!doctype html><title>{{ .Title }}</title><main>{{ .Content }}</main>\n")
    with open(os.path.join(site, "layouts", "_default", "list.html"), "w") as f:
        f.write("<!doctype html><title>{{ .Title }}</title><ul>{{ range .Pages }}<li>{{ .Title }}</li>{{ end }}</ul>\n")
    models = os.path.join(reg, "models")
    for asset in sorted(os.listdir(models)):
        for version in sorted(os.listdir(os.path.join(models, asset))):
            card = os.path.join(models, asset, version, "README.md")
            if not os.path.isfile(card):
                continue
            text = open(card).read()
            text = text.replace("---\n", f"---\ntitle: {asset} {version}\n", 1)
            target = os.path.join(site, "content", asset, f"{version}.md")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").write(text)
    public = os.path.join(site, "public")

    def run_hugo():
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execvp("hugo", ["hugo", "--source", site, "--quiet"])
        _, status, usage = os.wait4(pid, 0)
        return time.perf_counter() - start, usage.ru_maxrss

    def clear():
        shutil.rmtree(public, ignore_errors=True)
        os.sync()

    cold, warm = [], []
    for _ in range(3):
        clear()
        cold.append(run_hugo())
        warm.append(run_hugo())
    for label, runs in (("hugo cold", cold), ("hugo warm", warm)):
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        print(f"{label:<14} {n:>7} versions: median {wall * 1000:7.0f} ms, peak {rss / 1024:6.1f} MiB", flush=True)


def main():
    global BINARY
    with_hugo = "--hugo" in sys.argv
    sizes = [int(a) for a in sys.argv[1:] if a != "--hugo"] or [1000, 10000]
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
            if with_hugo:
                hugo(reg, tmp, n)


if __name__ == "__main__":
    main()
