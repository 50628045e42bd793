//! The "works with `az ml`" claim, checked by the real thing: every normalized spec of the
//! sample build is loaded by `azure-ai-ml` (the library behind `az ml`), in a virtual
//! environment this test creates under `target/` on first use (pip, from PyPI).

use crate::util::{copy_dir, repo, run};
use std::path::PathBuf;
use std::process::Command;

/// The version the compatibility oracle was made with.
const AZURE_AI_ML: &str = "azure-ai-ml==1.35.2";

fn venv_python() -> PathBuf {
    let venv = repo().join("target/azure-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).ok().as_deref() == Some(AZURE_AI_ML) {
        return python;
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv");
    assert!(status.success(), "cannot create {}", venv.display());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            AZURE_AI_ML,
        ])
        .status()
        .expect("pip");
    assert!(status.success(), "pip install {AZURE_AI_ML} failed");
    std::fs::write(&ready, AZURE_AI_ML).unwrap();
    python
}

#[test]
fn every_normalized_spec_loads_with_azure_ai_ml() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &tmp.path().join("registry"));
    assert_eq!(run(tmp.path(), &["build", "registry"]).code, 0);
    let out = Command::new(venv_python())
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
