//! The "works with `az ml`" claim, checked by the real thing: every normalized spec of the
//! sample build is loaded by `azure-ai-ml` (the library behind `az ml`), in a virtual
//! environment created under `target/` on first use (pip, from PyPI).

use crate::util::{copy_dir, repo, run};
use std::process::Command;

/// The version the compatibility oracle was made with.
pub(crate) const AZURE_AI_ML: &str = "azure-ai-ml==1.35.2";

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

/// The defects of Microsoft's own registry that azure-ai-ml lets through (each listed with its
/// reason in tests/compat/azureml-assets-disagreements.tsv), as `check` finds them once the
/// corpus is imported: a field no parallel component has, the pipeline *job* schema on
/// components, a binding that names no pipeline input.
const KNOWN_DEFECTS: &[(&str, &str)] = &[
    (
        "E020",
        "reg/components/automl_hts_automl_training_step/0.0.12/spec.yaml:47:1",
    ),
    (
        "E020",
        "reg/components/automl_hts_data_aggregation_step/0.0.12/spec.yaml:46:1",
    ),
    (
        "E020",
        "reg/components/automl_hts_prs_inference_step/0.0.12/spec.yaml:46:1",
    ),
    (
        "E020",
        "reg/components/automl_many_models_inference_step/0.0.12/spec.yaml:45:1",
    ),
    (
        "E020",
        "reg/components/automl_many_models_training_step/0.0.12/spec.yaml:43:1",
    ),
    (
        "E035",
        "reg/components/automl_hts_prs_inference_step/0.0.12/spec.yaml:1:10",
    ),
    (
        "E035",
        "reg/components/automl_many_models_inference_step/0.0.12/spec.yaml:1:10",
    ),
    (
        "E035",
        "reg/components/model_prediction_with_container/0.0.7/spec.yaml:1:10",
    ),
    (
        "E053",
        "reg/components/nlp_textclassification_multiclass/0.0.10/spec.yaml:279:22",
    ),
    (
        "E053",
        "reg/components/nlp_textclassification_multilabel/0.0.10/spec.yaml:279:22",
    ),
];

/// Microsoft's registry, imported: it checks (but for the defects above), builds, and every
/// normalized spec loads in azure-ai-ml, shared code and all.
#[test]
fn microsofts_registry_imports_checks_builds_and_loads_in_azure_ai_ml() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = repo().join("tests/corpus/azureml-assets");
    let imported = run(
        tmp.path(),
        &[
            "import",
            "azureml-assets",
            corpus.to_str().unwrap(),
            "--out",
            "reg",
        ],
    );
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert!(
        imported.stdout.starts_with(
            "imported 378 versions into reg (205 models, 123 components, 50 environments, 0 data); 29 skipped"
        ),
        "{}",
        imported.stdout
    );
    // What the source lacks is said, never silently dropped.
    assert_eq!(imported.stderr.matches("skipped: ").count(), 29);
    assert!(imported.stderr.contains(
        "skipped: assets/pipelines/environments/mldesigner: `build.path: context` is not in the source"
    ));
    assert!(
        imported
            .stderr
            .contains("quoted the tag `Python: 3.10`, which YAML reads as 3.1")
    );

    let check = run(tmp.path(), &["check", "reg", "--format", "json"]);
    let mut want: Vec<(String, String)> = KNOWN_DEFECTS
        .iter()
        .map(|(c, at)| (c.to_string(), at.to_string()))
        .collect();
    want.sort();
    let errors: Vec<(String, String)> = crate::util::pinned(&check.stdout)
        .into_iter()
        .filter(|(code, _)| code.starts_with('E'))
        .collect();
    assert_eq!(errors, want);
    for (_, at) in KNOWN_DEFECTS {
        let version: Vec<&str> = at.split('/').take(4).collect();
        let _ = std::fs::remove_dir_all(tmp.path().join(version.join("/")));
    }
    let out = run(tmp.path(), &["build", "reg", "--out", "public"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("0 errors"), "{}", out.stdout);

    let loaded = Command::new(crate::util::venv("azure-venv", AZURE_AI_ML).join("python"))
        .arg(repo().join("tests/azure/load_specs.py"))
        .arg(tmp.path().join("public"))
        // Four of Microsoft's pipelines use if_else nodes, behind this flag.
        .env("AZURE_ML_CLI_PRIVATE_FEATURES_ENABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        stdout.contains("azure-ai-ml loaded 370 specs: 370 passed, 0 failed"),
        "{stdout}"
    );
}
