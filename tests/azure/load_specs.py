#!/usr/bin/env python3
"""Load every normalized spec of a built registry with Azure's own loaders (azure-ai-ml).

For each version of each asset, the version folder is rebuilt from the published blobs (the
normalized spec as spec.yaml, every shipped file at its path), then loaded with load_model,
load_environment, load_data or load_component (followed by the component's own validation),
exactly as `az ml <kind> create -f spec.yaml` would read it.

usage: load_specs.py PUBLIC_DIR        (exit 1 if any spec fails to load)
"""
import json
import os
import shutil
import sys
import tempfile

from azure.ai.ml import load_component, load_data, load_environment, load_model

LOADERS = {"model": load_model, "environment": load_environment, "data": load_data, "component": load_component}


def read_json(public, rel):
    with open(os.path.join(public, rel), "rb") as f:
        return json.load(f)


def main():
    public = sys.argv[1]
    root = read_json(public, "registry.json")
    snapshot = read_json(public, root["snapshot"]["path"])
    failures, loaded = [], 0
    for bin_ref in snapshot["bins"].values():
        for entry in read_json(public, bin_ref["path"])["assets"].values():
            doc = read_json(public, entry["doc"]["path"])
            for version, v in doc["versions"].items():
                where = f"{doc['id']}@{version}"
                with tempfile.TemporaryDirectory() as tmp:
                    shutil.copy(os.path.join(public, v["spec_file"]["path"]), os.path.join(tmp, "spec.yaml"))
                    for f in v["files"]:
                        target = os.path.join(tmp, f["path"])
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        shutil.copy(os.path.join(public, f["blob"]), target)
                    try:
                        asset = LOADERS[doc["kind"]](source=os.path.join(tmp, "spec.yaml"))
                        if doc["kind"] == "component":
                            result = asset._validate()
                            if not result.passed:
                                raise ValueError(result.error_messages)
                        if asset.name != doc["name"] or str(asset.version) != version:
                            raise ValueError(f"loaded as {asset.name}:{asset.version}")
                        loaded += 1
                    except Exception as e:  # report every failure, not just the first
                        failures.append(f"{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    for f in failures:
        print("FAIL", f)
    print(f"azure-ai-ml loaded {loaded} specs: {loaded} passed, {len(failures)} failed")
    sys.exit(1 if failures or loaded == 0 else 0)


if __name__ == "__main__":
    main()
