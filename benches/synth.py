#!/usr/bin/env python3
"""Write a synthetic registry of N model versions, shaped like the sample registry.

Each version has a spec, a lineage.yaml with metrics on two data assets, a ~3 KB card with
front matter (the size performance.md compares Hugo and Zola on), a small model file and a
log. Versions are spread over assets of 10 versions each, every asset with a stage log.
Deterministic: the same N gives the same bytes.

usage: benches/synth.py N OUT_DIR
"""
import os
import random
import sys


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(n)
    per_asset = 10
    os.makedirs(out, exist_ok=False)
    write(out, "registry.yaml", "name: synthetic\nstages: [dev, test, prod]\npolicy:\n  require_lineage_from: test\n")
    write(out, "data/sample/1/spec.yaml", "type: uri_file\npath: sample.csv\n")
    write(out, "data/sample/1/sample.csv", "a,b,label\n1,2,0\n3,4,1\n")
    write(out, "data/prod/1/spec.yaml", "type: uri_folder\npath: azureml://datastores/prod/paths/x/\n")
    write(out, "environments/python/1/spec.yaml", "image: python:3.11-slim\n")
    filler = " ".join(["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] * 48)
    for a in range((n + per_asset - 1) // per_asset):
        name = f"model-{a:05d}"
        count = min(per_asset, n - a * per_asset)
        log = []
        for v in range(1, count + 1):
            d = f"models/{name}/{v}"
            auc = round(0.7 + rng.random() * 0.25, 4)
            write(out, f"{d}/spec.yaml", f"type: custom_model\npath: model\ndescription: synthetic model {a} version {v}\ntags:\n  team: t{a % 7}\n")
            write(out, f"{d}/model/weights.json", f'{{"w": [{rng.random():.6f}, {rng.random():.6f}]}}\n')
            write(out, f"{d}/logs/train.log", f"epoch 0 loss {rng.random():.4f}\nepoch 1 loss {rng.random():.4f}\n")
            write(out, f"{d}/lineage.yaml", (
                f"job: {{ name: train-{a}-{v}, started: 2026-01-01T00:00:00Z, finished: 2026-01-01T01:00:00Z }}\n"
                f"environment: environments/python@1\n"
                f"data:\n  - {{ ref: data/sample@1, role: training }}\n"
                f"parameters: {{ lr: {rng.random():.4f}, epochs: {rng.randint(1, 50)} }}\n"
                f"metrics:\n  - {{ name: auc, value: {auc}, data: data/sample@1, split: eval }}\n"
                f"  - {{ name: auc, value: {round(auc - 0.05, 4)}, data: data/prod@1, split: eval }}\n"
                f"logs: [logs/train.log]\n"))
            write(out, f"{d}/README.md", (
                f"---\nlicense: mit\ntags: [synthetic, t{a % 7}]\n---\n\n# {name} version {v}\n\n"
                f"AUC {auc}. {filler}\n\n## Limitations\n\n{filler[:600]}\n"))
            log.append(f'- {{ stage: dev, version: "{v}", by: bot, date: 2026-01-{v:02d} }}')
        if count >= 2:
            log.append(f'- {{ stage: test, version: "{count - 1}", by: bot, date: 2026-01-{count:02d} }}')
            log.append(f'- {{ stage: prod, version: "{count - 1}", by: bot, date: 2026-01-{count:02d} }}')
        write(out, f"models/{name}/stages.yaml", "\n".join(log) + "\n")


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
