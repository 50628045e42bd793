//! `mlreg promote` and `mlreg deprecate` on copies of the sample, and the promotion policy
//! `check` enforces on any stage log: every refusal leaves every file as it was.

use crate::util::{Run, copy_dir, repo, run, tree};
use std::path::Path;

fn lab() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    t
}

fn mlreg(t: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--registry", "registry"]);
    run(t, &all)
}

/// The value of `metric` on the data asset `data` in a version's lineage.yaml of the sample.
fn metric(version: &str, metric: &str, data: &str) -> f64 {
    let text = std::fs::read_to_string(repo().join(format!(
        "registry/models/credit-default/{version}/lineage.yaml"
    )))
    .unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("name: {metric},")) && l.contains(&format!("data: {data}@")))
        .unwrap();
    let value = line.split("value: ").nth(1).unwrap();
    value.split(',').next().unwrap().trim().parse().unwrap()
}

/// Promoting without the approval the sample's policy asks for is refused, located, and the
/// stage log is unchanged; with it, the entry is appended and the candidate shown against
/// what prod ran, metric by metric.
#[test]
fn promote_obeys_the_policy_and_compares_metrics() {
    let t = lab();
    let log = t.path().join("registry/models/credit-default/stages.yaml");
    let before = tree(&t.path().join("registry"));
    let refused = mlreg(
        t.path(),
        &[
            "promote",
            "models/credit-default@3",
            "--to",
            "prod",
            "--by",
            "ops@contoso.example",
            "--date",
            "2026-11-30",
        ],
    );
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stdout.contains("error[E088]"), "{}", refused.stdout);
    assert!(
        refused.stdout.contains("stages.yaml:15:"),
        "{}",
        refused.stdout
    );
    assert_eq!(
        tree(&t.path().join("registry")),
        before,
        "a refused promote changed a file"
    );

    // Unknown stage and version: not found, with a hint.
    let typo = mlreg(
        t.path(),
        &[
            "promote",
            "models/credit-default@3",
            "--to",
            "prdo",
            "--by",
            "x",
        ],
    );
    assert_eq!(typo.code, 3, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("did you mean `prod`?"),
        "{}",
        typo.stderr
    );
    let nine = mlreg(
        t.path(),
        &[
            "promote",
            "models/credit-default@9",
            "--to",
            "prod",
            "--by",
            "x",
        ],
    );
    assert_eq!(nine.code, 3, "{}", nine.stderr);
    assert_eq!(tree(&t.path().join("registry")), before);

    let ok = mlreg(
        t.path(),
        &[
            "promote",
            "models/credit-default@3",
            "--to",
            "prod",
            "--by",
            "ops@contoso.example",
            "--approved-by",
            "lee@contoso.example",
            "--date",
            "2026-11-30",
            "--ref",
            "PR #50",
        ],
    );
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with(
        "- { stage: prod, version: \"3\", by: ops@contoso.example, date: 2026-11-30, ref: \"PR #50\", approved_by: [lee@contoso.example] }\n"
    ), "{text}");
    let (new, old) = (
        metric("3", "auc", "data/credit-prod-2026-11"),
        metric("2", "auc", "data/credit-prod-2026-11"),
    );
    let row = ok
        .stdout
        .lines()
        .find(|l| l.contains("auc") && l.contains("credit-prod"))
        .unwrap();
    assert!(row.contains(&format!("{:+.4}", new - old)), "{}", ok.stdout);
    assert_eq!(run(t.path(), &["check", "registry"]).code, 0);
    let again = mlreg(
        t.path(),
        &[
            "promote",
            "models/credit-default@3",
            "--to",
            "prod",
            "--by",
            "x",
        ],
    );
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("in prod already"), "{}", again.stderr);
}

/// Each rule of `policy: promotion:` is a located error naming it, on hand-written logs too.
#[test]
fn every_policy_rule_is_a_located_error() {
    let t = lab();
    let config = t.path().join("registry/registry.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let strict = text
        .replace("approvals: 1", "approvals: 2")
        .replace("min_days: 2", "min_days: 6")
        .replace("min: 0.60", "min: 0.70")
        .replace("max_gap: 0.20", "max_gap: 0.15")
        .replace("max_drop: 0.02", "max_drop: 0.001");
    assert_ne!(strict, text);
    std::fs::write(&config, strict).unwrap();
    // A third prod entry: version 3 after 2 (auc on production data drops from 2 to 3).
    let log = t.path().join("registry/models/credit-default/stages.yaml");
    let mut entries = std::fs::read_to_string(&log).unwrap();
    entries.push_str("- { stage: prod, version: \"3\", by: ops@contoso.example, date: 2026-11-30, approved_by: [lee@contoso.example, kim@contoso.example] }\n");
    std::fs::write(&log, entries).unwrap();
    let out = run(t.path(), &["check", "registry"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let found: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("error["))
        .map(|l| (&l[..4], l))
        .collect();
    let at = |code: &str| {
        found
            .iter()
            .filter(|(c, _)| *c == code)
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
    };
    // Version 1 (line 5): one approval, 5 days in test, auc 0.6431 < 0.70, gap 0.16 > 0.15.
    assert_eq!(at("E088").len(), 1, "{}", out.stdout);
    assert!(at("E088")[0].contains("version `1`"));
    assert_eq!(at("E089").len(), 1, "{}", out.stdout);
    assert!(
        at("E092")[0].contains("version `1` has 0.6431"),
        "{}",
        out.stdout
    );
    assert!(
        at("E094").iter().any(|l| l.contains("version `1`")),
        "{}",
        out.stdout
    );
    // Version 3 after 2: a drop of more than 0.001.
    let drop = metric("2", "auc", "data/credit-prod-2026-11")
        - metric("3", "auc", "data/credit-prod-2026-11");
    assert!(drop > 0.001);
    assert!(
        at("E093")
            .iter()
            .any(|l| l.contains("version `3`") && l.contains(&format!("{drop:.4}"))),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("stages.yaml:5:12"), "{}", out.stdout);
}

/// Deprecating the version prod runs is done and warned about; done twice, nothing changes;
/// a replacement that does not exist is refused with every file as it was.
#[test]
fn deprecate_writes_asset_yaml_only_when_the_registry_checks() {
    let t = lab();
    let asset = t.path().join("registry/models/credit-default/asset.yaml");
    let before = tree(&t.path().join("registry"));
    let bad = mlreg(
        t.path(),
        &[
            "deprecate",
            "models/credit-default@2",
            "--reason",
            "leaks",
            "--replaced-by",
            "models/credit-default@7",
        ],
    );
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert_eq!(tree(&t.path().join("registry")), before);
    let no_reason = mlreg(t.path(), &["deprecate", "models/credit-default@2"]);
    assert_eq!(no_reason.code, 2);
    let ok = mlreg(
        t.path(),
        &[
            "deprecate",
            "models/credit-default@2",
            "--reason",
            "trained on leaked labels",
            "--replaced-by",
            "models/credit-default@3",
            "--date",
            "2026-11-30",
        ],
    );
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout
            .contains("stage `prod` points at model `credit-default` version `2`"),
        "{}",
        ok.stdout
    );
    let text = std::fs::read_to_string(&asset).unwrap();
    assert!(text.ends_with("deprecated_versions:\n  \"2\": { reason: \"trained on leaked labels\", replaced_by: models/credit-default@3, date: 2026-11-30 }\n"), "{text}");
    let check = run(t.path(), &["check", "registry"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("warning[W087]"), "{}", check.stdout);
    let again = mlreg(
        t.path(),
        &["deprecate", "models/credit-default@2", "--reason", "x"],
    );
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("deprecated already"));
    assert_eq!(std::fs::read_to_string(&asset).unwrap(), text);
    // Workspaces are told when they resolve it.
    assert_eq!(
        run(t.path(), &["build", "registry", "--out", "public"]).code,
        0
    );
    let cache = t.path().join("cache");
    let resolved = run(
        t.path(),
        &[
            "resolve",
            "models/credit-default@prod",
            "--index",
            "public",
            "--cache",
            cache.to_str().unwrap(),
        ],
    );
    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    assert!(
        resolved
            .stderr
            .contains("models/credit-default@2 is deprecated: trained on leaked labels"),
        "{}",
        resolved.stderr
    );
    // A second version goes under the same key.
    let one = mlreg(
        t.path(),
        &[
            "deprecate",
            "models/credit-default@1",
            "--reason",
            "old",
            "--date",
            "2026-11-30",
        ],
    );
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    let text = std::fs::read_to_string(&asset).unwrap();
    assert_eq!(text.matches("deprecated_versions:").count(), 1, "{text}");
    assert_eq!(run(t.path(), &["check", "registry"]).code, 0);
}
