//! The "works with `az ml`" claim, checked by the real thing: every normalized spec of the
//! sample build is loaded by `azure-ai-ml` (the library behind `az ml`), in a virtual
//! environment created under `target/` on first use (pip, from PyPI).

use crate::util::{copy_dir, repo, run};
use std::process::Command;

/// The version the compatibility oracle was made with.
const AZURE_AI_ML: &str = "azure-ai-ml==1.35.2";

#[test]
fn every_normalized_spec_loads_with_azure_ai_ml() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &tmp.path().join("registry"));
    assert_eq!(run(tmp.path(), &["build", "registry"]).code, 0);
    let out = Command::new(crate::util::venv("azure-venv", AZURE_AI_ML).join("python"))
        .arg(repo().join("tests/azure/load_specs.py"))
        .arg(tmp.path().join("public"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("azure-ai-ml loaded 17 specs: 17 passed, 0 failed"),
        "{stdout}"
    );
}
