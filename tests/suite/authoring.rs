//! `mlreg init` and `mlreg add`: a new registry checks and builds at once, with a workflow that
//! checks pull requests and publishes main; specs of every kind, as `az ml ... create -f` reads
//! them and as `az ml ... show -o yaml` prints them, are added to a copy of the sample with their
//! files byte for byte, pass `check` and load in azure-ai-ml; every refusal leaves the registry
//! as it was.

use crate::util::{Run, copy_dir, repo, run, tree};
use std::path::Path;

/// The azure-ai-ml of `azure.rs`'s oracle: the same string, so that both share one venv.
use crate::azure::AZURE_AI_ML;

/// A temporary folder with a copy of the sample registry in `registry/`.
fn lab() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    t
}

fn add(t: &Path, args: &[&str]) -> Run {
    let mut all = vec!["add"];
    all.extend(args);
    run(t, &all)
}

/// `spec.yaml` of a sample version and the files it names, copied to `scratch/<to>/` (as a user
/// has them, outside the registry); with `show`, as `az ml ... show -o yaml` prints it: the
/// read-only fields Azure ML adds, and its name and version.
fn scratch(t: &Path, sample: &str, files: &[&str], to: &str, show: Option<(&str, &str)>) {
    let from = repo().join("registry").join(sample);
    let dir = t.join("scratch").join(to);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        let src = from.join(f);
        if src.is_dir() {
            copy_dir(&src, &dir.join(f));
        } else {
            std::fs::copy(&src, dir.join(f)).unwrap();
        }
    }
    let mut spec = std::fs::read_to_string(from.join("spec.yaml")).unwrap();
    if let Some((name, version)) = show {
        let kind = sample.split('/').next().unwrap();
        spec = format!(
            "creation_context:\n  created_at: '2026-11-20T10:02:00.000000+00:00'\n  created_by: Ana\n  created_by_type: User\n  last_modified_at: '2026-11-20T10:02:00.000000+00:00'\nid: azureml:/subscriptions/0000/resourceGroups/ml-dev/providers/Microsoft.MachineLearningServices/workspaces/dev-eastus/{kind}/{name}/versions/{version}\nname: {name}\nprovisioning_state: Succeeded\nresourceGroup: ml-dev\nversion: '{version}'\n{spec}"
        );
    }
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
}

/// Every file under `dir`, for byte-for-byte comparisons (empty when it does not exist).
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    if dir.exists() {
        tree(dir)
    } else {
        Default::default()
    }
}

/// (sample version, files its spec names, new asset, as `show` prints it).
const SAMPLES: &[(&str, &[&str], &str, bool)] = &[
    (
        "models/credit-default/3",
        &["model"],
        "models/credit-risk",
        false,
    ),
    (
        "models/credit-default/3",
        &["model"],
        "models/credit-risk-show",
        true,
    ),
    (
        "models/iris-classifier/2",
        &["model"],
        "models/iris-copy",
        false,
    ),
    (
        "components/train_credit/2",
        &["src"],
        "components/train_copy",
        false,
    ),
    (
        "components/train_credit/2",
        &["src"],
        "components/train_show",
        true,
    ),
    (
        "components/credit_training/1",
        &[],
        "components/pipeline_copy",
        false,
    ),
    (
        "environments/sklearn-1.5/2",
        &["conda.yaml"],
        "environments/sklearn-copy",
        false,
    ),
    (
        "environments/credit-serving/1",
        &["docker"],
        "environments/serving-copy",
        false,
    ),
    (
        "environments/credit-serving/1",
        &["docker"],
        "environments/serving-show",
        true,
    ),
    (
        "data/credit-sample/1",
        &["credit-sample.csv"],
        "data/sample-copy",
        false,
    ),
    (
        "data/credit-sample/1",
        &["credit-sample.csv"],
        "data/sample-show",
        true,
    ),
];

/// Add every sample to the lab; each passes check with its files byte for byte, its read-only
/// fields dropped and said so, and its name and version filled in.
fn add_samples(t: &Path) {
    for (sample, named, asset, show) in SAMPLES {
        let to = asset.replace('/', "-");
        let name = asset.split('/').nth(1).unwrap();
        scratch(t, sample, named, &to, show.then_some((name, "5")));
        let spec = format!("scratch/{to}/spec.yaml");
        let out = add(t, &[asset, &spec]);
        assert_eq!(out.code, 0, "{asset}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("no problems found"), "{}", out.stdout);
        let version = if *show { "5" } else { "1" };
        let vdir = t.join("registry").join(asset).join(version);
        assert!(
            out.stdout.contains(&format!("added {asset}@{version} in ")),
            "{}",
            out.stdout
        );
        for f in *named {
            let original = repo().join("registry").join(sample).join(f);
            let copied = vdir.join(f);
            if original.is_dir() {
                assert_eq!(files(&copied), files(&original), "{asset}: {f}");
            } else {
                assert_eq!(
                    std::fs::read(&copied).unwrap(),
                    std::fs::read(&original).unwrap()
                );
            }
        }
        let written = std::fs::read_to_string(vdir.join("spec.yaml")).unwrap();
        let spec: serde_json::Value = serde_saphyr::from_str(&written).unwrap();
        assert_eq!(
            (&spec["name"], &spec["version"]),
            (&name.into(), &version.into())
        );
        for field in [
            "id",
            "creation_context",
            "provisioning_state",
            "resourceGroup",
        ] {
            assert!(
                !written.contains(&format!("{field}:")),
                "{field} in {written}"
            );
            assert_eq!(
                out.stderr.contains(&format!("note: dropped `{field}`")),
                *show,
                "{asset}: {}",
                out.stderr
            );
        }
        if !show {
            assert!(written.contains("\nversion: \"1\"\n"), "{written}");
            // Beyond name and version, the user's text, comments included, is as it was.
            let original =
                std::fs::read_to_string(repo().join("registry").join(sample).join("spec.yaml"))
                    .unwrap();
            let rest: String = written
                .lines()
                .filter(|l| !l.starts_with("name: ") && !l.starts_with("version: "))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(rest, original);
        }
        for skeleton in ["lineage.yaml", "README.md"] {
            assert!(vdir.join(skeleton).is_file(), "{asset}: {skeleton}");
        }
    }
}

#[test]
fn init_writes_a_registry_that_checks_and_builds_and_a_workflow() {
    let t = tempfile::tempdir().unwrap();
    let out = run(t.path(), &["init", "ml-assets"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let reg = t.path().join("ml-assets");
    let written: Vec<String> = tree(&reg).into_keys().collect();
    assert_eq!(
        written,
        [
            "README.md",
            "components/.gitkeep",
            "data/.gitkeep",
            "environments/.gitkeep",
            "models/.gitkeep",
            "registry.yaml"
        ]
    );
    let config = std::fs::read_to_string(reg.join("registry.yaml")).unwrap();
    assert!(config.contains("\nname: ml-assets\n"), "{config}");
    assert!(config.contains("# trust:") && config.contains("mlreg keygen"));
    assert!(config.contains("# publish:") && config.contains("#   targets:"));

    let check = run(t.path(), &["check", "ml-assets"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check.stdout.contains("no problems found"),
        "{}",
        check.stdout
    );
    let build = run(t.path(), &["build", "ml-assets", "--out", "public"]);
    assert_eq!(build.code, 0, "{}{}", build.stdout, build.stderr);

    // The workflow, beside the registry: valid YAML, a check job for pull requests and a
    // publish job for main, both on this registry's folder.
    let text = std::fs::read_to_string(t.path().join(".github/workflows/registry.yml")).unwrap();
    let workflow: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let jobs = &workflow["jobs"];
    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_string))
            .collect()
    };
    assert!(runs("check").contains(&"mlreg check ml-assets --format github".to_string()));
    assert!(runs("publish").contains(&"mlreg publish ml-assets".to_string()));
    assert_eq!(jobs["check"]["if"], "github.event_name == 'pull_request'");
    assert_eq!(jobs["publish"]["if"], "github.event_name == 'push'");
    assert_eq!(workflow["on"]["push"]["branches"][0], "main");

    // A second registry in the same repository leaves the workflow as it is, and says so.
    let second = run(t.path(), &["init", "other", "--name", "other-ml"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("exists: left as it is"),
        "{}",
        second.stderr
    );
    let after = std::fs::read_to_string(t.path().join(".github/workflows/registry.yml")).unwrap();
    assert_eq!(after, text);
    assert_eq!(run(t.path(), &["check", "other"]).code, 0);
}

/// The workflow goes to the root of the repository the registry is in, naming the registry's
/// folder from there; an existing empty folder is filled in place.
#[test]
fn init_finds_the_repository_root_and_fills_an_empty_folder() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join(".git")).unwrap();
    std::fs::create_dir_all(t.path().join("ml/registry")).unwrap();
    let out = run(
        &t.path().join("ml/registry"),
        &["init", ".", "--name", "contoso"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = std::fs::read_to_string(t.path().join(".github/workflows/registry.yml")).unwrap();
    assert!(
        text.contains("mlreg check ml/registry --format github"),
        "{text}"
    );
    assert!(!t.path().join("ml/.github").exists());
    assert_eq!(run(t.path(), &["check", "ml/registry"]).code, 0);
}

#[test]
fn init_refuses_a_folder_that_is_not_empty_or_a_bad_name() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("reg")).unwrap();
    std::fs::write(t.path().join("reg/notes.txt"), "mine").unwrap();
    let before = tree(t.path());
    let out = run(t.path(), &["init", "reg"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("exists and is not empty"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(t.path()), before);

    let out = run(t.path(), &["init", "my.registry"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("give one with --name"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(t.path()), before);
}

/// Specs of every kind, as written and as `az ml ... show` prints them, added under new names.
#[test]
fn add_takes_specs_of_every_kind_with_their_files() {
    let t = lab();
    add_samples(t.path());
    let check = run(t.path(), &["check", "registry"]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check.stdout.contains("no problems found"),
        "{}",
        check.stdout
    );
    let build = run(t.path(), &["build", "registry", "--out", "public"]);
    assert_eq!(build.code, 0, "{}{}", build.stdout, build.stderr);
}

/// What was added loads with Azure's own loader, as `az ml <kind> create -f` would read it: the
/// normalized specs of the build, and the version folders themselves.
#[test]
fn added_versions_load_with_azure_ai_ml() {
    let t = lab();
    add_samples(t.path());
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    let python = crate::util::venv("azure-venv", AZURE_AI_ML).join("python");
    let out = std::process::Command::new(&python)
        .arg(repo().join("tests/azure/load_specs.py"))
        .arg(t.path().join("public"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sample = tree(&repo().join("registry"))
        .into_keys()
        .filter(|f| f.ends_with("/spec.yaml") && f.matches('/').count() == 3)
        .count();
    let total = sample + SAMPLES.len();
    assert!(
        stdout.contains(&format!(
            "azure-ai-ml loaded {total} specs: {total} passed, 0 failed"
        )),
        "{stdout}"
    );
    // The spec.yaml in the registry needs no build: name and version are in it.
    let script = "import sys\nfrom azure.ai.ml import load_component, load_data, load_environment, load_model\nL = {'models': load_model, 'components': load_component, 'environments': load_environment, 'data': load_data}\nfor spec in sys.argv[1:]:\n    kind, name, version = spec.split('/')[-4:-1]\n    a = L[kind](source=spec)\n    assert (a.name, str(a.version)) == (name, version), (spec, a.name, a.version)\nprint('loaded', len(sys.argv) - 1)\n";
    let specs: Vec<String> = SAMPLES
        .iter()
        .map(|(_, _, asset, show)| {
            let version = if *show { "5" } else { "1" };
            t.path()
                .join(format!("registry/{asset}/{version}/spec.yaml"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .args(&specs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("loaded {}", SAMPLES.len())
    );
}

/// Without a version anywhere, the next whole number; a version that exists, or a spec that
/// disagrees with the command line, is refused and nothing changes.
#[test]
fn add_numbers_versions_and_refuses_collisions_and_disagreements() {
    let t = lab();
    scratch(t.path(), "models/credit-default/3", &["model"], "m", None);
    let out = add(t.path(), &["models/credit-default", "scratch/m/spec.yaml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("added models/credit-default@4 in "),
        "{}",
        out.stdout
    );

    let before = tree(&t.path().join("registry"));
    let out = add(
        t.path(),
        &[
            "models/credit-default",
            "scratch/m/spec.yaml",
            "--version",
            "2",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("models/credit-default@2 exists already: a version never changes once added; add this one as --version 5"),
        "{}",
        out.stderr
    );
    scratch(
        t.path(),
        "models/credit-default/3",
        &["model"],
        "s",
        Some(("credit-default", "3")),
    );
    let out = add(t.path(), &["models/credit-default", "scratch/s/spec.yaml"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("@3 exists already"), "{}", out.stderr);
    let out = add(
        t.path(),
        &[
            "models/credit-default",
            "scratch/s/spec.yaml",
            "--version",
            "6",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("the spec says `version: 3`, but --version is 6"),
        "{}",
        out.stderr
    );
    let out = add(t.path(), &["models/credit-risk", "scratch/s/spec.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("scratch/s/spec.yaml:7:7: the spec's `name` is `credit-default`, but this adds models/credit-risk"),
        "{}",
        out.stderr
    );
    let out = add(t.path(), &["model/credit-risk", "scratch/m/spec.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("write `models/credit-risk`"),
        "{}",
        out.stderr
    );
    assert_eq!(tree(&t.path().join("registry")), before);
}

/// A spec naming a file that is not there is refused before anything is written, located in
/// the user's spec.
#[test]
fn add_refuses_a_missing_file_located_in_the_spec() {
    let t = lab();
    scratch(t.path(), "data/credit-sample/1", &[], "d", None);
    let before = tree(&t.path().join("registry"));
    let out = add(t.path(), &["data/lost", "scratch/d/spec.yaml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("error[E040]"), "{}", out.stdout);
    assert!(
        out.stdout.contains("--> scratch/d/spec.yaml:3:7"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("nothing added"), "{}", out.stdout);
    assert_eq!(tree(&t.path().join("registry")), before);
}

/// A version that would not check is taken out again, and the errors point at the user's
/// files (the spec through the edits made to it), which are still there to fix.
#[test]
fn add_refuses_a_version_that_would_not_check() {
    let t = lab();
    scratch(
        t.path(),
        "environments/sklearn-1.5/2",
        &["conda.yaml"],
        "e",
        None,
    );
    let spec = t.path().join("scratch/e/spec.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("description:", "id: x\ndescripton:")).unwrap();
    let before = tree(&t.path().join("registry"));
    let out = add(t.path(), &["environments/typo", "scratch/e/spec.yaml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("error[E020]: unknown field `descripton`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--> scratch/e/spec.yaml:7:1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "nothing added: environments/typo@1 would not check; the registry is as it was"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(tree(&t.path().join("registry")), before);

    // A copied file at fault is named where it came from.
    std::fs::write(&spec, text).unwrap();
    std::fs::write(
        t.path().join("scratch/e/conda.yaml"),
        "channels: [conda-forge\n",
    )
    .unwrap();
    let out = add(t.path(), &["environments/typo", "scratch/e/spec.yaml"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("--> scratch/e/conda.yaml:1:"),
        "{}",
        out.stdout
    );
    assert_eq!(tree(&t.path().join("registry")), before);
}

/// Warnings do not refuse a version: it stays, and the report shows them.
#[test]
fn add_keeps_a_version_with_warnings() {
    let t = lab();
    scratch(t.path(), "components/train_credit/2", &["src"], "c", None);
    let spec = t.path().join("scratch/c/spec.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace("inputs:\n", "inputs:\n  seed:\n    type: integer\n"),
    )
    .unwrap();
    let out = add(
        t.path(),
        &["components/train_seeded", "scratch/c/spec.yaml"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("warning[W051]"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("registry/components/train_seeded/1/spec.yaml")
    );
    assert!(
        t.path()
            .join("registry/components/train_seeded/1/src/train.py")
            .is_file()
    );
}

/// Paths that climb out of the spec's folder are copied inside the version and the spec is
/// rewritten to match; the copy is byte for byte.
#[test]
fn add_rewrites_paths_that_leave_the_spec_folder() {
    let t = lab();
    let dir = t.path().join("scratch/project");
    copy_dir(
        &repo().join("registry/components/train_credit/2/src"),
        &dir.join("src"),
    );
    let text = std::fs::read_to_string(repo().join("registry/components/train_credit/2/spec.yaml"))
        .unwrap();
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(
        dir.join("components/train.yml"),
        text.replace(
            "\ncode: src\n",
            "\ncode: ../src   # shared with the notebooks\n",
        ),
    )
    .unwrap();
    let out = add(
        t.path(),
        &[
            "components/train_shared",
            "scratch/project/components/train.yml",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "note: `code: ../src` leaves the spec's folder: copied to `src`, and the spec says so"
        ),
        "{}",
        out.stderr
    );
    let vdir = t.path().join("registry/components/train_shared/1");
    let written = std::fs::read_to_string(vdir.join("spec.yaml")).unwrap();
    assert!(
        written.contains("\ncode: src   # shared with the notebooks\n"),
        "{written}"
    );
    assert_eq!(files(&vdir.join("src")), files(&dir.join("src")));
}
