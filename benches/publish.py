#!/usr/bin/env python3
"""Benchmark `mlreg publish` on a synthetic registry (benches/synth.py): to a folder and to Azure
Blob (Azurite on loopback, tests/storage's npm package, installed under target/npm/storage as
the tests install it), cold (an empty target) and unchanged
(a republish of the same registry), then a `gc --dry-run` of the Azurite target. Prints wall time, and mlreg's own summary: files sent, bytes,
files already there, requests made.

usage: benches/publish.py [N]       (default: 10000)

Builds the release binary first. Not a test: the numbers go in notes.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/mlreg")
NPM = os.path.join(ROOT, "target/npm/storage")
AZURITE = os.path.join(NPM, "node_modules/.bin/azurite-blob")


def install_azurite():
    """The same install as tests/suite/util.rs's npm("storage"): the package and its script,
    copied under target/, with npm ci run there when its lock changed."""
    source = os.path.join(ROOT, "tests/storage")
    os.makedirs(NPM, exist_ok=True)
    for name in ["package.json", "package-lock.json", "upload.mjs"]:
        shutil.copyfile(os.path.join(source, name), os.path.join(NPM, name))
    ready = os.path.join(NPM, "node_modules/.mlreg-installed")
    with open(os.path.join(source, "package-lock.json"), "rb") as f:
        lock = f.read()
    if not os.path.exists(ready) or open(ready, "rb").read() != lock:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NPM, check=True)
        with open(ready, "wb") as f:
            f.write(lock)


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
    install_azurite()
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
            subprocess.run(["node", os.path.join(NPM, "upload.mjs"), endpoint, "registries", "bench", empty],
                           check=True, capture_output=True)
            env.update({"AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": endpoint})
            to = "az://registries/bench"
            publish(f"azurite cold {n}", reg, to, env)
            publish(f"azurite unchanged {n}", reg, to, env)
            print("  ", summary(reg, to, env))
            start = time.perf_counter()
            out = subprocess.run([BINARY, "gc", reg, "--to", to, "--grace", "0s", "--dry-run"],
                                 env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(f"gc: exit {out.returncode}\n{out.stderr}")
            print(f"{'azurite gc dry run ' + str(n):<22} {wall * 1000:8.0f} ms")
            print("  ", out.stderr.strip().splitlines()[-1])
        finally:
            azurite.kill()
            azurite.wait()


if __name__ == "__main__":
    main()
