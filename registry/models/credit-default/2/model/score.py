"""Score loan applications with model.json: probability of default, and the decision."""
import json, math, os

def init(model_dir=os.environ.get("AZUREML_MODEL_DIR", ".")):
    global MODEL
    with open(os.path.join(model_dir, "model.json")) as f:
        MODEL = json.load(f)

def run(applications):
    out = []
    for a in applications:
        z = sum(c * float(a[k]) for c, k in zip(MODEL["coef"], MODEL["features"])) + MODEL["intercept"]
        p = 1 / (1 + math.exp(-z))
        out.append({"probability": p, "default": p >= MODEL["threshold"]})
    return out
