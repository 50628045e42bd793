//! One fixture registry per diagnostic code (`tests/fixtures/diagnostics/*.txtar`): each run
//! must produce exactly the diagnostics its `# expect:` lines pin, by code, file, line and
//! column, and the fixtures together with the hostile-input cases cover every code.

use crate::util::{materialize, pinned, repo, run};
use std::collections::BTreeSet;

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = repo().join("tests/fixtures/diagnostics");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txtar"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_gives_exactly_its_pinned_diagnostics() {
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let text = std::fs::read_to_string(&fixture).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let headers = materialize(&text, tmp.path());
        let mut expected: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k == "expect")
            .map(|(_, v)| {
                let (code, at) = v.split_once(' ').expect("expect: CODE place");
                (code.to_string(), at.to_string())
            })
            .collect();
        expected.sort();
        let args: Vec<String> = match headers.iter().find(|(k, _)| k == "args") {
            Some((_, a)) => a.split_whitespace().map(str::to_string).collect(),
            None => vec!["check".into(), ".".into()],
        };
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--format", "json"]);
        let out = run(tmp.path(), &args);
        let got = pinned(&out.stdout);
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let code = &name[..4];
        if !expected.iter().any(|(c, _)| c == code) {
            failures.push(format!("{name}: pins no {code}"));
        }
        let want_exit = if expected.iter().any(|(c, _)| c.starts_with('E')) {
            1
        } else {
            0
        };
        if got != expected || out.code != want_exit {
            failures.push(format!(
                "{name}: exit {} (want {want_exit})\n  expected {expected:?}\n  got      {got:?}\n{}",
                out.code, out.stdout
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Codes pinned elsewhere: those whose fixtures cannot be plain text files (bytes, symlinks,
/// FIFOs, huge or deep files) in `adversarial.rs`, and those that need a previous build in
/// `build.rs`.
pub const PINNED_ELSEWHERE: &[&str] = &[
    "E001", "E002", "E003", "E004", "E007", "E042", "E110", "E111", "E112", "W066",
    // The promotion policy, located line by line in promote::every_policy_rule_is_a_located_error.
    "E088", "E089", "E092", "E093", "E094",
];

#[test]
fn every_code_has_a_pinning_test() {
    let mut covered: BTreeSet<String> = fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy()[..4].to_string())
        .collect();
    covered.extend(PINNED_ELSEWHERE.iter().map(|s| s.to_string()));
    let all: BTreeSet<String> = mlreg::diag::codes::ALL
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&all).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "codes without a test: {missing:?}; tests for no code: {stale:?}"
    );
}

#[test]
fn codes_are_documented_in_the_format_doc() {
    let doc = std::fs::read_to_string(repo().join("docs/format.md")).unwrap();
    for c in mlreg::diag::codes::ALL {
        assert!(
            doc.contains(&format!("| {} | `{}` |", c.id, c.name)),
            "docs/format.md lacks a row for {} {}",
            c.id,
            c.name
        );
    }
}
