//! Compatibility with Azure's own loader: `check --spec` over every spec of two corpora written
//! by others, compared with what `azure-ai-ml` says of each file (their `ORACLE.tsv`): the Azure
//! ML examples, and a part of Microsoft's own registry (Azure/azureml-assets). Every
//! disagreement, and every case where both reject but for different reasons, must be listed
//! with its reason in the corpus's table under `tests/compat/`; nothing else.

use crate::util::{repo, run};
use std::collections::BTreeMap;
use std::path::Path;

/// One spec of a corpus: its path, whether azure-ai-ml loads it, and the kind to check it as
/// (`None`: from its `$schema`).
struct Row {
    path: String,
    azure_ok: bool,
    kind: Option<String>,
}

#[test]
fn check_spec_agrees_with_azure_ai_ml_or_says_why_not() {
    let dir = repo().join("tests/corpus/azureml-examples");
    let oracle = std::fs::read_to_string(dir.join("ORACLE.tsv")).unwrap();
    let rows: Vec<Row> = oracle
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| !c[1].starts_with("companion_"))
        .map(|c| Row {
            path: c[0].to_string(),
            azure_ok: c[3] == "ok",
            kind: None,
        })
        .collect();
    assert!(rows.len() >= 85, "only {} specs in the oracle", rows.len());
    agree_or_explain(&dir, &rows, "tests/compat/azureml-disagreements.tsv", 70);
}

/// Microsoft's registry as azure-ai-ml sees it once Microsoft's release tooling has filled its
/// templates (`{{asset.name}}`, `{{asset.version}}`, the image context): each spec is checked
/// as the kind its `asset.yaml` says, as the oracle loaded it.
#[test]
fn microsofts_own_registry_agrees_with_azure_ai_ml_or_says_why_not() {
    let corpus = repo().join("tests/corpus/azureml-assets");
    let oracle = std::fs::read_to_string(corpus.join("ORACLE.tsv")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for line in oracle.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let spec = corpus.join(c[0]);
        let text = std::fs::read_to_string(&spec).unwrap();
        let name = first_value(&spec.with_file_name("asset.yaml"), "name")
            .or_else(|| first_value(&spec, "name"))
            .unwrap_or_default();
        let filled = text
            .replace("{{asset.name}}", &name)
            .replace("{{asset.version}}", "1")
            .replace("{{image.context.path}}", "context")
            .replace("{{image.context.dir}}", "context")
            .replace("{{image.dockerfile.path}}", "Dockerfile");
        let copy = tmp.path().join(c[0]);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, filled).unwrap();
        rows.push(Row {
            path: c[0].to_string(),
            azure_ok: c[3] == "ok",
            kind: Some(c[1].to_string()),
        });
    }
    assert!(rows.len() >= 400, "only {} specs in the oracle", rows.len());
    agree_or_explain(
        tmp.path(),
        &rows,
        "tests/compat/azureml-assets-disagreements.tsv",
        380,
    );
}

/// The first `key: value` at the top level of a YAML file, as written.
fn first_value(file: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty())
}

/// Check every row in `dir`, and compare the verdicts with the oracle's: each difference, and
/// each shared rejection for other reasons, must be a row of `table` with its reason.
fn agree_or_explain(dir: &Path, rows: &[Row], table: &str, min_agreements: usize) {
    let mut by_kind: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for r in rows {
        by_kind.entry(r.kind.as_deref()).or_default().push(&r.path);
    }
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut output = String::new();
    for (kind, paths) in by_kind {
        let mut args = vec!["check", "--no-file-check", "--format", "json"];
        if let Some(kind) = kind {
            args.extend(["--kind", kind]);
        }
        args.push("--spec");
        args.extend(paths);
        let out = run(dir, &args);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        for d in json["diagnostics"].as_array().unwrap() {
            if d["severity"] == "error" {
                let file = d["file"].as_str().unwrap().to_string();
                errors
                    .entry(file)
                    .or_default()
                    .push(d["code"].as_str().unwrap().to_string());
            }
        }
        output.push_str(&out.stdout);
    }
    for codes in errors.values_mut() {
        codes.sort();
        codes.dedup();
    }

    let table_text = std::fs::read_to_string(repo().join(table)).unwrap();
    let mut listed: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for line in table_text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 5, "malformed row: {line}");
        assert!(!c[4].trim().is_empty(), "no reason given for {}", c[0]);
        listed.insert(c[0].to_string(), (c[1] == "ok", c[2].to_string()));
    }

    let mut problems = Vec::new();
    let mut unexplained_agreements = 0;
    for Row { path, azure_ok, .. } in rows {
        let ours = errors.get(path);
        let ours_ok = ours.is_none();
        match listed.get(path) {
            Some((listed_ok, listed_codes)) => {
                if listed_ok != azure_ok {
                    problems.push(format!(
                        "{path}: table says Azure {}, oracle says {}",
                        ok(*listed_ok),
                        ok(*azure_ok)
                    ));
                }
                if listed_codes != "error" {
                    let codes = ours.map(|c| c.join(",")).unwrap_or_else(|| "ok".into());
                    if &codes != listed_codes {
                        problems.push(format!(
                            "{path}: table says mlreg {listed_codes}, mlreg says {codes}"
                        ));
                    }
                } else if ours_ok {
                    problems.push(format!(
                        "{path}: table says mlreg rejects it, but it passes"
                    ));
                }
            }
            None if ours_ok != *azure_ok => problems.push(format!(
                "{path}: unexplained disagreement: Azure {}, mlreg {}",
                ok(*azure_ok),
                ours.map(|c| c.join(",")).unwrap_or_else(|| "ok".into())
            )),
            None => unexplained_agreements += 1,
        }
    }
    for path in listed.keys() {
        if !rows.iter().any(|r| &r.path == path) {
            problems.push(format!("{path}: listed in the table but not in the oracle"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nmlreg output:\n{output}",
        problems.join("\n"),
    );
    assert!(
        unexplained_agreements >= min_agreements,
        "only {unexplained_agreements} plain agreements"
    );
}

fn ok(b: bool) -> &'static str {
    if b { "accepts" } else { "rejects" }
}
