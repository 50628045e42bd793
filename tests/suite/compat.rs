//! Compatibility with Azure's own loader: `check --spec` over every spec of the Azure ML
//! examples corpus, compared with `ORACLE.tsv` (what `azure-ai-ml` says of each file in a full
//! checkout). Every disagreement, and every case where both reject but for different reasons,
//! must be listed with its reason in `tests/compat/azureml-disagreements.tsv`; nothing else.

use crate::util::{repo, run};
use std::collections::BTreeMap;

fn corpus() -> std::path::PathBuf {
    let dir = repo().join("tests/corpus/azureml-examples");
    assert!(
        dir.join("ORACLE.tsv").is_file(),
        "the Azure ML examples corpus is missing at {}",
        dir.display()
    );
    dir
}

#[test]
fn check_spec_agrees_with_azure_ai_ml_or_says_why_not() {
    let dir = corpus();
    let oracle = std::fs::read_to_string(dir.join("ORACLE.tsv")).unwrap();
    let rows: Vec<(String, bool)> = oracle
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| !c[1].starts_with("companion_"))
        .map(|c| (c[0].to_string(), c[3] == "ok"))
        .collect();
    assert!(rows.len() >= 85, "only {} specs in the oracle", rows.len());

    let mut args = vec!["check", "--no-file-check", "--format", "json", "--spec"];
    args.extend(rows.iter().map(|(p, _)| p.as_str()));
    let out = run(&dir, &args);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in json["diagnostics"].as_array().unwrap() {
        if d["severity"] == "error" {
            let file = d["file"].as_str().unwrap().to_string();
            errors
                .entry(file)
                .or_default()
                .push(d["code"].as_str().unwrap().to_string());
        }
    }
    for codes in errors.values_mut() {
        codes.sort();
        codes.dedup();
    }

    let table =
        std::fs::read_to_string(repo().join("tests/compat/azureml-disagreements.tsv")).unwrap();
    let mut listed: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for line in table.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 5, "malformed row: {line}");
        assert!(!c[4].trim().is_empty(), "no reason given for {}", c[0]);
        listed.insert(c[0].to_string(), (c[1] == "ok", c[2].to_string()));
    }

    let mut problems = Vec::new();
    let mut unexplained_agreements = 0;
    for (path, azure_ok) in &rows {
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
        if !rows.iter().any(|(p, _)| p == path) {
            problems.push(format!("{path}: listed in the table but not in the oracle"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nmlreg output:\n{}",
        problems.join("\n"),
        out.stdout
    );
    assert!(
        unexplained_agreements >= 70,
        "only {unexplained_agreements} plain agreements"
    );
}

fn ok(b: bool) -> &'static str {
    if b { "accepts" } else { "rejects" }
}
