//! Registries from other layouts: each module reads one layout and writes an mlreg registry
//! folder, which `check` and `build` then take like any other. `mlflow` adds one model version
//! from an MLflow training run to an existing registry.

pub mod azureml_assets;
pub mod mlflow;
