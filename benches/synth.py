#!/usr/bin/env python3
"""Write a synthetic registry of N model versions, shaped like the sample registry.

Each version has a spec, a lineage.yaml with metrics on two data assets, a ~3 KB card with
front matter (the size performance.md compares Hugo and Zola on), a small model file and a
log. Versions are spread over assets of K versions each (10 unless --per-asset says otherwise),
every asset with a stage log. Deterministic: the same N and K give the same bytes (and the default
K the same bytes as before the option existed).

usage: benches/synth.py [--per-asset K] N OUT_DIR
"""
import argparse
import datetime
import os
import random


def main():
    parser = argparse.ArgumentParser(description="Write a synthetic registry of N model versions.")
    parser.add_argument("--per-asset", type=int, default=10, metavar="K", help="versions per asset (default 10)")
    parser.add_argument("n", type=int, metavar="N")
    parser.add_argument("out", metavar="OUT_DIR")
    args = parser.parse_args()
    if args.per_asset < 1:
        parser.error("--per-asset must be at least 1")
    n, out, per_asset = args.n, args.out, args.per_asset
    rng = random.Random(n)
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
            log.append(f'- {{ stage: dev, version: "{v}", by: bot, date: {day(v)} }}')
        if count >= 2:
            log.append(f'- {{ stage: test, version: "{count - 1}", by: bot, date: {day(count)} }}')
            log.append(f'- {{ stage: prod, version: "{count - 1}", by: bot, date: {day(count)} }}')
        write(out, f"models/{name}/stages.yaml", "\n".join(log) + "\n")


def day(v):
    """The date of the v-th day of 2026 (2026-01-<v> up to 31, then on into February...)."""
    return (datetime.date(2026, 1, 1) + datetime.timedelta(days=v - 1)).isoformat()


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
