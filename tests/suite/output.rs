//! The three renderings and the exit-code contract, on the sample registry and on a small
//! broken one.

use crate::util::{materialize, repo, run};

const BROKEN: &str = r#"
-- registry.yaml --
name: fixture
-- models/m/1/spec.yaml --
path: model.bin
descripton: typo
-- models/m/1/model.bin --
x
-- components/c/1/spec.yaml --
command: python run.py --seed ${{inputs.seed}}
inputs:
  data:
    type: uri_folder
  seed:
    type: integer
environment: azureml:python@latest
"#;

#[test]
fn the_sample_registry_is_clean() {
    let out = run(
        &repo(),
        &["check", "registry", "--format", "json", "--deny-warnings"],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 0);
    let human = run(&repo(), &["check"]);
    assert_eq!(human.code, 0);
    assert_eq!(
        human.stdout,
        "no problems found\nchecked registry contoso-ml: 12 assets, 17 versions\n"
    );
}

#[test]
fn human_output_points_at_the_line_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    materialize(BROKEN, tmp.path());
    let out = run(tmp.path(), &["check", ".", "--color", "never"]);
    assert_eq!(out.code, 1);
    let expected = "\
warning[W051]: input `data` is declared but `command` never uses it
 --> components/c/1/spec.yaml:3:3
  |
3 |   data:
  |   ^^^^

error[E020]: unknown field `descripton` in the spec
 --> models/m/1/spec.yaml:2:1
  |
2 | descripton: typo
  | ^^^^^^^^^^
  |
  = help: did you mean `description`?

1 error, 1 warning
checked registry fixture: 2 assets, 2 versions
";
    assert_eq!(out.stdout, expected);
}

#[test]
fn github_format_annotates_each_line() {
    let tmp = tempfile::tempdir().unwrap();
    materialize(BROKEN, tmp.path());
    let out = run(tmp.path(), &["check", ".", "--format", "github"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stdout,
        "::warning file=components/c/1/spec.yaml,line=3,col=3,title=W051 unused-port::input `data` is declared but `command` never uses it\n\
         ::error file=models/m/1/spec.yaml,line=2,col=1,title=E020 unknown-field::unknown field `descripton` in the spec%0Ahelp: did you mean `description`?\n"
    );
}

#[test]
fn paths_are_shown_as_the_folder_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    materialize(BROKEN, &tmp.path().join("reg"));
    let out = run(tmp.path(), &["check", "reg/", "--format", "github"]);
    assert!(
        out.stdout.contains("file=reg/models/m/1/spec.yaml,line=2"),
        "{}",
        out.stdout
    );
}

#[test]
fn exit_codes_follow_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    materialize(BROKEN, tmp.path());
    // Errors: 1.
    assert_eq!(run(tmp.path(), &["check", "."]).code, 1);
    // Only warnings: 0, or 1 with --deny-warnings.
    std::fs::write(tmp.path().join("models/m/1/spec.yaml"), "path: model.bin\n").unwrap();
    assert_eq!(run(tmp.path(), &["check", "."]).code, 0);
    assert_eq!(run(tmp.path(), &["check", ".", "--deny-warnings"]).code, 1);
    // Usage and I/O failures: 2.
    let missing = run(tmp.path(), &["check", "no-such-folder"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no-such-folder"),
        "{}",
        missing.stderr
    );
    assert_eq!(run(tmp.path(), &["check", "--format", "xml"]).code, 2);
    assert_eq!(run(tmp.path(), &["check", ".", "--spec", "x.yml"]).code, 2);
}

#[test]
fn lone_specs_take_their_kind_from_schema_or_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("env.yml"), "name: e\nimage: python:3.11\n").unwrap();
    let without = run(
        tmp.path(),
        &["check", "--spec", "env.yml", "--format", "json"],
    );
    assert_eq!(
        crate::util::pinned(&without.stdout),
        vec![("E100".to_string(), "env.yml:1:1".to_string())]
    );
    let with = run(
        tmp.path(),
        &["check", "--spec", "env.yml", "--kind", "environment"],
    );
    assert_eq!(with.code, 0, "{}", with.stdout);
    // Without --no-file-check, local files must exist next to the spec.
    std::fs::write(tmp.path().join("m.yml"), "name: m\npath: weights.bin\n").unwrap();
    let missing = run(
        tmp.path(),
        &[
            "check", "--spec", "m.yml", "--kind", "model", "--format", "json",
        ],
    );
    assert_eq!(
        crate::util::pinned(&missing.stdout),
        vec![("E040".to_string(), "m.yml:2:7".to_string())]
    );
    let skipped = run(
        tmp.path(),
        &[
            "check",
            "--spec",
            "m.yml",
            "--kind",
            "model",
            "--no-file-check",
        ],
    );
    assert_eq!(skipped.code, 0, "{}", skipped.stdout);
}

/// The README's example is real output: make the two typos it describes in a copy of the
/// sample registry and compare.
#[test]
fn the_readme_example_is_what_mlreg_prints() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let header = "```text\n$ mlreg check registry\n";
    let start = readme.find(header).expect("example block") + header.len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    crate::util::copy_dir(&repo().join("registry"), &tmp.path().join("registry"));
    let edit = |rel: &str, from: &str, to: &str| {
        let p = tmp.path().join("registry").join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} no longer contains {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "models/credit-default/3/spec.yaml",
        "\ndescription:",
        "\ndescripton:",
    );
    edit(
        "components/train_credit/2/spec.yaml",
        "--C ${{inputs.C}}",
        "--C ${{inputs.c}}",
    );
    let out = run(tmp.path(), &["check", "registry", "--color", "never"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, example);
}

#[test]
fn registry_lints_allow_and_deny_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    materialize(BROKEN, tmp.path());
    std::fs::write(tmp.path().join("models/m/1/spec.yaml"), "path: model.bin\n").unwrap();
    let codes = |out: &crate::util::Run| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let code = d["code"].as_str().unwrap().to_string();
                (code, d["severity"].as_str().unwrap().to_string())
            })
            .collect()
    };
    // By default the unused input is a warning: exit 0.
    let out = run(tmp.path(), &["check", ".", "--format", "json"]);
    assert_eq!(codes(&out), [("W051".to_string(), "warning".to_string())]);
    assert_eq!(out.code, 0);
    // Denied by name: the same diagnostic, now an error, and the check fails.
    std::fs::write(
        tmp.path().join("registry.yaml"),
        "name: fixture\nlints: { unused-port: deny }\n",
    )
    .unwrap();
    let out = run(tmp.path(), &["check", ".", "--format", "json"]);
    assert_eq!(codes(&out), [("W051".to_string(), "error".to_string())]);
    assert_eq!(out.code, 1);
    let human = run(tmp.path(), &["check", "."]);
    assert!(
        human.stdout.contains("error[W051]")
            && human
                .stdout
                .contains("`W051` (unused-port) is denied by `lints`"),
        "{}",
        human.stdout
    );
    // Allowed by code: gone, even with --deny-warnings.
    std::fs::write(
        tmp.path().join("registry.yaml"),
        "name: fixture\nlints: { W051: allow }\n",
    )
    .unwrap();
    let out = run(
        tmp.path(),
        &["check", ".", "--format", "json", "--deny-warnings"],
    );
    assert_eq!(codes(&out), []);
    assert_eq!(out.code, 0);
    // An asset's own table wins in its folder: denied there though the registry allows it...
    std::fs::write(
        tmp.path().join("components/c/asset.yaml"),
        "lints: { unused-port: deny }\n",
    )
    .unwrap();
    let out = run(tmp.path(), &["check", ".", "--format", "json"]);
    assert_eq!(codes(&out), [("W051".to_string(), "error".to_string())]);
    // ...and allowed there though the registry denies it; a typo in it is located.
    std::fs::write(
        tmp.path().join("registry.yaml"),
        "name: fixture\nlints: { W051: deny }\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("components/c/asset.yaml"),
        "lints: { unused-port: allow, unused-prot: warn }\n",
    )
    .unwrap();
    let out = run(tmp.path(), &["check", ".", "--format", "json"]);
    assert_eq!(
        crate::util::pinned(&out.stdout),
        [(
            "E027".to_string(),
            "components/c/asset.yaml:1:30".to_string()
        )]
    );
    assert!(
        out.stdout.contains("did you mean `unused-port`?"),
        "{}",
        out.stdout
    );
}
