#!/usr/bin/env python3
"""Benchmark `mlreg publish` on a synthetic registry (benches/synth.py): to a folder and to Azure
Blob (Azurite on loopback, from tests/storage's npm install), cold (an empty target) and unchanged
(a republish of the same registry). Prints wall time, and mlreg's own summary: files sent, bytes,
files already there, requests made.

usage: benches/publish.py [N]       (default: 10000)

Builds the release binary first. Not a test: the numbers go in notes.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/mlreg")
AZURITE = os.path.join(ROOT, "tests/storage/node_modules/.bin/azurite-blob")


def publish(label, reg, to, env):
    start = time.perf_counter()
    out = subprocess.run([BINARY, "publish", reg, "--to", to, "--quiet"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{label}: exit {out.returncode}\n{out.stderr}")
    # --quiet drops the summary: run it through the plain output for the numbers.
    print(f"{label:<22} {wall * 1000:8.0f} ms", flush=True)


def summary(reg, to, env):
    out = subprocess.run([BINARY, "publish", reg, "--to", to], env=env, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not os.path.exists(AZURITE):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=os.path.join(ROOT, "tests/storage"), check=True)
    with tempfile.TemporaryDirectory() as tmp:
        reg = os.path.join(tmp, "registry")
        subprocess.run([sys.executable, os.path.join(ROOT, "benches/synth.py"), str(n), reg], check=True)
        env = dict(os.environ)
        folder = os.path.join(tmp, "public")
        publish(f"folder cold {n}", reg, folder, env)
        publish(f"folder unchanged {n}", reg, folder, env)
        port = free_port()
        azurite = subprocess.Popen(
            [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
             "--disableTelemetry", "--skipApiVersionCheck"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            endpoint = f"http://127.0.0.1:{port}"
            empty = os.path.join(tmp, "empty")
            os.makedirs(empty)
            subprocess.run(["node", os.path.join(ROOT, "tests/storage/upload.mjs"), endpoint, "registries", "bench", empty],
                           check=True, capture_output=True)
            env.update({"AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": endpoint})
            to = "az://registries/bench"
            publish(f"azurite cold {n}", reg, to, env)
            publish(f"azurite unchanged {n}", reg, to, env)
            print("  ", summary(reg, to, env))
        finally:
            azurite.kill()
            azurite.wait()


if __name__ == "__main__":
    main()
