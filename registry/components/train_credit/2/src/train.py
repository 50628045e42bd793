"""Fit a logistic regression by gradient descent and save it as model.json."""
import argparse, csv, json, math, os

p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--C", type=float); p.add_argument("--max-iter", type=int)
p.add_argument("--features", default=None); p.add_argument("--class-weight", default="none")
p.add_argument("--model")
a = p.parse_args()
with open(os.path.join(a.data, "data.csv")) as f:
    rows = list(csv.DictReader(f))
feats = a.features.split(",") if a.features else [k for k in rows[0] if k != "default"]
X = [[float(r[k]) for k in feats] for r in rows]
y = [int(r["default"]) for r in rows]
w, b, n = [0.0] * len(feats), 0.0, len(rows)
for _ in range(a.max_iter):
    gw, gb = [0.0] * len(feats), 0.0
    for x, t in zip(X, y):
        e = 1 / (1 + math.exp(-(sum(i * j for i, j in zip(w, x)) + b))) - t
        gw = [g + e * xi for g, xi in zip(gw, x)]
        gb += e
    w = [wi - 0.01 * (g / n + wi / (a.C * n)) for wi, g in zip(w, gw)]
    b -= 0.01 * gb / n
os.makedirs(a.model, exist_ok=True)
with open(os.path.join(a.model, "model.json"), "w") as f:
    json.dump({"format": "mlreg-sample/logistic-regression@1", "features": feats,
               "coef": w, "intercept": b, "threshold": 0.5}, f, indent=1)
