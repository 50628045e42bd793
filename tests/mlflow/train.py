"""Train a tiny iris classifier with MLflow 3, for tests/suite/mlflow.rs.

What a real training script logs, on a few rows so that it takes seconds: parameters, tags and
a Markdown description; the training and evaluation splits and a drifted "production" set as
dataset inputs (two named after the sample registry's data assets, one that the registry does
not have); a loss history without a dataset; accuracy and macro F1 linked to the logged model
and to the data they were measured on, on the evaluation split in the training run and on the
production set in a second, evaluation-only run (MLflow 3's sample-versus-production
comparison); and a registered model version with a description, a tag and the aliases
`champion` and `challenger`. The model is also saved as a folder of the run's artifacts,
`exported/`, the way MLflow 2 logged models.

The tracking and registry URIs come from MLFLOW_TRACKING_URI. Prints one JSON line: the ids and
the registered version.

usage: train.py MODEL_NAME
"""
import json
import os
import sys
import tempfile

import mlflow
import numpy as np
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

DESCRIPTION = """Multinomial logistic regression on the four iris measurements.

- **Training data:** 105 rows of the iris samples.
- **Evaluation:** the 45 held-out rows, and 45 noisy "production" rows.
"""


def main():
    model_name = sys.argv[1]
    frame = load_iris(as_frame=True).frame
    frame = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    train, evaluation = frame.iloc[:105], frame.iloc[105:]
    rng = np.random.default_rng(11)
    production = evaluation.copy()
    features = [c for c in frame.columns if c != "target"]
    production[features] = production[features] + rng.normal(0.0, 0.6, production[features].shape)

    as_dataset = mlflow.data.from_pandas
    train_ds = as_dataset(train, name="iris-samples", targets="target")
    eval_ds = as_dataset(evaluation, name="iris-samples", targets="target")
    prod_ds = as_dataset(production, name="iris-prod-2026-11", targets="target")
    holdout_ds = as_dataset(evaluation.iloc[:20], name="iris-holdout", targets="target")

    mlflow.set_experiment("iris-demo")
    with mlflow.start_run(run_name="train-C2.0", description=DESCRIPTION) as run:
        mlflow.set_tags({"team": "ml-platform", "data_split": "sample"})
        params = {"C": 2.0, "max_iter": 200, "solver": "lbfgs"}
        mlflow.log_params(params)
        mlflow.log_input(train_ds, context="training")
        mlflow.log_input(eval_ds, context="evaluation")
        for step, loss in enumerate([0.61, 0.34, 0.27]):
            mlflow.log_metric("train_loss", loss, step=step)
        model = LogisticRegression(**params).fit(train[features], train["target"])
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=model_name,
            signature=infer_signature(train[features], model.predict(train[features])),
            input_example=train[features].head(3),
        )
        for name, dataset in [("eval", (eval_ds, evaluation)), ("holdout", (holdout_ds, evaluation.iloc[:20]))]:
            ds, rows = dataset
            predicted = model.predict(rows[features])
            mlflow.log_metric("accuracy", accuracy_score(rows["target"], predicted), model_id=info.model_id, dataset=ds)
            if name == "eval":
                mlflow.log_metric("f1_macro", f1_score(rows["target"], predicted, average="macro"), model_id=info.model_id, dataset=ds)
        mlflow.log_text("epoch 1 loss 0.61\nepoch 2 loss 0.34\nepoch 3 loss 0.27\n", "logs/train.log")
        # The same model as MLflow 2 kept models: a folder of the run's artifacts.
        with tempfile.TemporaryDirectory() as folder:
            exported = os.path.join(folder, "exported")
            mlflow.sklearn.save_model(model, exported, serialization_format="cloudpickle")
            mlflow.log_artifacts(exported, "exported")

    with mlflow.start_run(run_name="eval-prod") as evaluation_run:
        mlflow.log_input(prod_ds, context="evaluation")
        predicted = model.predict(production[features])
        mlflow.log_metric("accuracy", accuracy_score(production["target"], predicted), model_id=info.model_id, dataset=prod_ds)
        mlflow.log_metric("f1_macro", f1_score(production["target"], predicted, average="macro"), model_id=info.model_id, dataset=prod_ds)

    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    client.update_registered_model(model_name, description="Iris species classifier (test).")
    client.set_registered_model_tag(model_name, "owner", "ml-platform")
    client.update_model_version(model_name, version, description="Trained with C=2.0")
    client.set_model_version_tag(model_name, version, "validation_status", "approved")
    client.set_registered_model_alias(model_name, "champion", version)
    client.set_registered_model_alias(model_name, "challenger", version)
    print(json.dumps({
        "run_id": run.info.run_id,
        "eval_run_id": evaluation_run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_id": info.model_id,
        "version": version,
    }))


if __name__ == "__main__":
    main()
