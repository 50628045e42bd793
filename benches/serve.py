#!/usr/bin/env python3
"""How long a card edit takes to show in `mlreg serve` on a synthetic registry (benches/synth.py).

Starts `mlreg serve` on 127.0.0.1, waits for its first build, then edits one version's
README.md (a new line each time) and polls that version's page every 10 ms until the line is
on it: the time from the write to the page showing it, median of --edits edits. Also prints
serve's own log of each rebuild ("rebuilt in ... after ...").

usage: benches/serve.py [--binary PATH] [--edits E] [N]      (N versions, default 10000)

Not a test: the numbers go in notes.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=10000)
    ap.add_argument("--binary")
    ap.add_argument("--edits", type=int, default=5)
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/mlreg")
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as tmp:
        reg = os.path.join(tmp, "registry")
        subprocess.run([sys.executable, os.path.join(ROOT, "benches/synth.py"), str(args.n), reg], check=True)
        port = free_port()
        log = open(os.path.join(tmp, "serve.log"), "w+")
        started = time.perf_counter()
        server = subprocess.Popen([binary, "serve", reg, "--port", str(port)],
                                  stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            server.stdout.readline()
            print(f"first build and start: {time.perf_counter() - started:.2f} s", flush=True)
            page = f"http://127.0.0.1:{port}/models/model-00007/3/index.html"
            card = os.path.join(reg, "models/model-00007/3/README.md")
            times = []
            for i in range(args.edits):
                marker = f"edit-marker-{i}-{time.time_ns()}"
                with open(card, "a") as f:
                    f.write(f"\n{marker}\n")
                written = time.perf_counter()
                while marker not in get(page):
                    if time.perf_counter() - written > 120:
                        log.seek(0)
                        sys.exit(f"the edit did not show within 120 s; serve said:\n{log.read()[-2000:]}")
                    time.sleep(0.01)
                times.append(time.perf_counter() - written)
                print(f"edit {i + 1}: on the page after {times[-1] * 1000:.0f} ms", flush=True)
                time.sleep(1)
            print(f"card edit to page, {args.n} versions: median {statistics.median(times) * 1000:.0f} ms")
        finally:
            server.terminate()
            server.wait()
            log.seek(0)
            for line in log.read().splitlines():
                if "rebuilt" in line:
                    print("serve:", line)


if __name__ == "__main__":
    main()
