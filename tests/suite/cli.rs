//! Command-line conventions: exit statuses in `--help`, `--quiet`, `--color` and NO_COLOR,
//! MLREG_INDEX and MLREG_MIRRORS, completions and man pages, closed pipes, the not-found exit
//! status with its hints, a bare reference meaning latest, stages in the registry's order.

use crate::util::{copy_dir, materialize, mlreg, repo, run, run_with};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The sample registry built into `<tmp>/public`.
fn published() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    t
}

fn resolve(t: &tempfile::TempDir, extra: &[&str]) -> crate::util::Run {
    let cache = t.path().join("cache");
    let mut args = vec![
        "resolve",
        "--index",
        "public",
        "--cache",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(t.path(), &args)
}

#[test]
fn help_lists_the_exit_statuses_of_every_command() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["build", "--help"],
        vec!["resolve", "--help"],
        vec!["pull", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = run(&repo(), &args);
        assert_eq!(out.code, 0, "{args:?}");
        for line in [
            "Exit status:",
            "0  success",
            "1  the registry has errors",
            "2  usage or I/O failure",
            "3  not found",
        ] {
            assert!(
                out.stdout.contains(line),
                "{args:?} lacks `{line}`:\n{}",
                out.stdout
            );
        }
        assert!(
            out.stdout.contains("--quiet") && out.stdout.contains("--color"),
            "{args:?}"
        );
    }
    // The README says the same.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("3 not found"),
        "README lacks the not-found status"
    );
}

#[test]
fn quiet_prints_only_what_was_asked_for() {
    let t = published();
    // A clean check prints nothing at all.
    let out = run(t.path(), &["check", "registry", "--quiet"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
    // A build too.
    let out = run(t.path(), &["-q", "build", "registry", "--out", "again"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    // A broken registry: the diagnostics, without the summary lines.
    let b = tempfile::tempdir().unwrap();
    materialize(
        "-- registry.yaml --\nname: fixture\n-- models/m/1/spec.yaml --\npath: model.bin\ndescripton: x\n-- models/m/1/model.bin --\nx\n",
        b.path(),
    );
    let out = run(b.path(), &["check", ".", "-q"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .starts_with("error[E020]: unknown field `descripton`"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("1 error") && !out.stdout.contains("checked registry"),
        "{}",
        out.stdout
    );
    // resolve: just the pin, for scripts.
    let out = resolve(&t, &["models/credit-default@prod", "--quiet"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "models/credit-default@2\n")
    );
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let b = tempfile::tempdir().unwrap();
    materialize(
        "-- registry.yaml --\nname: fixture\n-- models/m/1/spec.yaml --\npath: model.bin\ndescripton: x\n-- models/m/1/model.bin --\nx\n",
        b.path(),
    );
    let limit = Duration::from_secs(60);
    let colored = |out: &crate::util::Run| out.stdout.contains("\x1b[");
    // The harness sets NO_COLOR=1; `always` wins over it, `auto` (not a terminal here) and
    // `never` stay plain.
    assert!(colored(&run(
        b.path(),
        &["check", ".", "--color", "always"]
    )));
    assert!(!colored(&run(b.path(), &["check", ".", "--color", "auto"])));
    assert!(!colored(&run(
        b.path(),
        &["--color", "never", "check", "."]
    )));
    // An empty NO_COLOR does not count (no-color.org), but auto still needs a terminal.
    let out = run_with(b.path(), &["check", "."], &[("NO_COLOR", "")], limit);
    assert!(!colored(&out));
}

#[test]
fn the_index_and_mirrors_come_from_the_environment() {
    let t = published();
    let cache = t.path().join("cache");
    let cache = cache.to_str().unwrap();
    let limit = Duration::from_secs(60);
    let args = [
        "resolve",
        "models/credit-default@prod",
        "--cache",
        cache,
        "--quiet",
    ];
    let out = run_with(t.path(), &args, &[("MLREG_INDEX", "public")], limit);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "models/credit-default@2\n"),
        "{}",
        out.stderr
    );
    // A broken index falls back to the mirrors named in MLREG_MIRRORS, in order.
    let out = run_with(
        t.path(),
        &args,
        &[
            ("MLREG_INDEX", "nowhere"),
            ("MLREG_MIRRORS", "also-nowhere,public"),
        ],
        limit,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "models/credit-default@2\n"),
        "{}",
        out.stderr
    );
    // Without either, the usage error names the variable.
    let out = run(t.path(), &args);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--index"), "{}", out.stderr);
    let help = run(t.path(), &["resolve", "--help"]);
    assert!(
        help.stdout.contains("[env: MLREG_INDEX=]"),
        "{}",
        help.stdout
    );
}

#[test]
fn not_found_has_its_own_status_and_says_what_is_near() {
    let t = published();
    let cases = [
        (
            "models/credit-defualt@2",
            "registry contoso-ml has no asset `models/credit-defualt`; did you mean `models/credit-default`?",
        ),
        ("models/credit-default@prdo", "did you mean `@prod`?"),
        (
            "models/credit-default@9",
            "`models/credit-default` has no version `9`; its versions: 1, 2, 3",
        ),
        (
            "azureml://registries/azureml/models/x/versions/1",
            "is not in registry contoso-ml",
        ),
    ];
    for (reference, message) in cases {
        let out = resolve(&t, &[reference]);
        assert_eq!(out.code, 3, "{reference}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{reference}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = resolve(
        &t,
        &["models/credit-default", "--workspace", "prod-westeurope2"],
    );
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("did you mean `prod-westeurope`?"),
        "{}",
        out.stderr
    );
    // A malformed reference is a usage error, not a miss.
    let out = resolve(&t, &["model/credit-default@2"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // pull shares it.
    let out = run(
        t.path(),
        &[
            "pull",
            "models/nope@1",
            "--index",
            "public",
            "--dest",
            "x",
            "--cache",
            "cache",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
}

#[test]
fn a_bare_reference_means_latest_and_says_so() {
    let t = published();
    let out = resolve(&t, &["models/credit-default"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "models/credit-default@3 (latest: no version was given) in registry contoso-ml"
    );
    // Stages in the registry's order (dev, test, prod), not alphabetical.
    assert!(
        out.stdout.contains("  stages: dev 3, test 3, prod 2\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("files, "), "{}", out.stdout);
    let json = resolve(&t, &["models/credit-default", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["implied"], "no version was given");
    assert_eq!(v["version"], "3");
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["dev", "test", "prod"]);
    // With a workspace, its stage instead.
    let out = resolve(
        &t,
        &["models/credit-default", "--workspace", "prod-westeurope"],
    );
    assert!(
        out.stdout
            .starts_with("models/credit-default@2 (prod: the stage of workspace prod-westeurope)"),
        "{}",
        out.stdout
    );
}

#[test]
fn plurals_read_right() {
    let b = tempfile::tempdir().unwrap();
    materialize(
        "-- registry.yaml --\nname: fixture\n-- models/m/1/spec.yaml --\npath: model.bin\n-- models/m/1/model.bin --\nx\n",
        b.path(),
    );
    let out = run(b.path(), &["check", "."]);
    assert_eq!(
        out.stdout,
        "no problems found\nchecked registry fixture: 1 asset, 1 version\n"
    );
    let out = run(b.path(), &["build", ".", "--out", "../out-one"]);
    assert!(
        out.stdout.contains("1 asset, 1 version into"),
        "{}",
        out.stdout
    );
    let home = std::fs::read_to_string(b.path().join("../out-one/index.html")).unwrap();
    assert!(
        home.contains("<strong>1</strong> model</a>")
            && home.contains("<strong>1</strong> version</li>"),
        "{home}"
    );
    std::fs::remove_dir_all(b.path().join("../out-one")).unwrap();
}

#[test]
fn completions_load_in_a_real_shell_and_name_every_command() {
    let out = run(&repo(), &["completions", "bash"]);
    assert_eq!(out.code, 0);
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &out.stdout).unwrap();
    let shell = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {} && complete -p mlreg",
            script.path().display()
        ))
        .output()
        .unwrap();
    assert!(
        shell.status.success(),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );
    assert!(
        String::from_utf8_lossy(&shell.stdout).contains("_mlreg"),
        "bash registered no completion"
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&repo(), &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}");
        for command in [
            "check",
            "build",
            "resolve",
            "pull",
            "serve",
            "completions",
            "man",
        ] {
            assert!(
                out.stdout.contains(command),
                "{shell} completions lack `{command}`"
            );
        }
    }
    assert_eq!(run(&repo(), &["completions", "tcsh"]).code, 2);
}

#[test]
fn man_pages_describe_mlreg_and_each_command() {
    let out = run(&repo(), &["man"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(".TH mlreg 1"));
    assert!(
        out.stdout.contains("3  not found"),
        "the page lacks the exit statuses"
    );
    let check = run(&repo(), &["man", "check"]);
    assert!(
        check.stdout.contains(".TH mlreg-check 1"),
        "{}",
        check.stdout
    );
    assert!(check.stdout.contains("deny\\-warnings"), "{}", check.stdout);
    let bad = run(&repo(), &["man", "chekc"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("`chekc` is not a command of mlreg"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let t = published();
    let cache = t.path().join("cache");
    for args in [
        vec!["completions", "bash"],
        vec!["man"],
        vec!["check", "registry"],
        vec![
            "resolve",
            "models/credit-default@prod",
            "--index",
            "public",
            "--json",
            "--cache",
            cache.to_str().unwrap(),
        ],
    ] {
        let mut child = Command::new(mlreg())
            .args(&args)
            .current_dir(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before mlreg writes a byte, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
