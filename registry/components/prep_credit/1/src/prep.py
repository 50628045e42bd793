"""Split loan applications into train and eval CSVs (first rows train, last rows eval)."""
import argparse, csv, os

p = argparse.ArgumentParser()
p.add_argument("--raw"); p.add_argument("--eval-fraction", type=float)
p.add_argument("--train"); p.add_argument("--eval")
a = p.parse_args()
with open(a.raw) as f:
    rows = [r for r in csv.reader(f)]
header, body = rows[0], [r for r in rows[1:] if all(r)]
cut = int(len(body) * (1 - a.eval_fraction))
for folder, part in ((a.train, body[:cut]), (a.eval, body[cut:])):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.csv"), "w", newline="") as f:
        csv.writer(f).writerows([header] + part)
