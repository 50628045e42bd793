"""AUC and accuracy of a logistic-regression model.json on a labelled CSV."""
import argparse, csv, json, math, os

p = argparse.ArgumentParser()
p.add_argument("--model"); p.add_argument("--data"); p.add_argument("--report")
a = p.parse_args()
m = json.load(open(os.path.join(a.model, "model.json")))
with open(os.path.join(a.data, "data.csv")) as f:
    rows = list(csv.DictReader(f))
def prob(r):
    z = sum(c * float(r[k]) for c, k in zip(m["coef"], m["features"])) + m["intercept"]
    return 1 / (1 + math.exp(-z))
scored = sorted((prob(r), int(r["default"])) for r in rows)
pos = sum(t for _, t in scored); neg = len(scored) - pos
ranks = sum(i for i, (_, t) in enumerate(scored, 1) if t)
auc = (ranks - pos * (pos + 1) / 2) / (pos * neg)
acc = sum((p >= m["threshold"]) == (t == 1) for p, t in scored) / len(scored)
os.makedirs(a.report, exist_ok=True)
json.dump({"auc": auc, "accuracy": acc}, open(os.path.join(a.report, "metrics.json"), "w"))
