//! Registries from other layouts: each module reads one layout and writes an mlreg registry
//! folder, which `check` and `build` then take like any other.

pub mod azureml_assets;
