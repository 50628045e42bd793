//! `mlreg import mlflow` against real MLflow 3, installed from PyPI into a virtual environment
//! under `target/` on first use: `tests/mlflow/train.py` trains a tiny model in a git checkout
//! (params, tags, a description, dataset inputs, metrics linked to the model and to the data
//! they were measured on, a registered version with two aliases), against a file store and
//! against `mlflow server`; the import goes into a copy of the sample registry, which must
//! still check and build, with MLflow's own values on the site and in the published lineage.

use crate::util::{copy_dir, repo, run_with, tree, venv};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A current MLflow 3 (the whole package: the server, scikit-learn and skops come with it).
const MLFLOW: &str = "mlflow==3.17.2";
/// The azure-ai-ml of `tests/suite/azure.rs` (same string, so the two share one venv).
use crate::azure::AZURE_AI_ML;
/// The registered model `train.py` makes.
const MODEL: &str = "iris-mlflow";
/// The MLflow datasets the sample registry has data assets for (the script's third dataset,
/// `iris-holdout`, it has not).
const REGISTRY_DATA: &[&str] = &["iris-samples", "iris-prod-2026-11"];
const LIMIT: Duration = Duration::from_secs(120);

fn python() -> PathBuf {
    venv("mlflow-venv", MLFLOW).join("python")
}

/// Train `tests/mlflow/train.py` in a fresh git checkout under `dir` (so that MLflow records a
/// commit, a branch and a repository URL), with `env` saying where to track; its JSON line.
fn train(dir: &Path, env: &[(&str, &str)]) -> Value {
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    // No one's git settings but these.
    std::fs::write(dir.join("gitconfig"), "").unwrap();
    std::fs::copy(
        repo().join("tests/mlflow/train.py"),
        project.join("train.py"),
    )
    .unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/example-org/iris-demo.git",
        ],
        &["add", "train.py"],
        &[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "commit",
            "-qm",
            "train",
        ],
    ] {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&project)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", dir.join("gitconfig"))
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    }
    let out = Command::new(python())
        .args(["train.py", MODEL])
        .current_dir(&project)
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("PYTHONWARNINGS", "ignore")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "train.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap();
    serde_json::from_str(line).unwrap()
}

/// A file store trained once per test process, shared by the tests that only read it.
fn file_store() -> &'static (PathBuf, Value) {
    static STORE: std::sync::OnceLock<(PathBuf, Value)> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Those of earlier test processes go.
        mlreg::publish::output::remove_orphans(&tmp, "mlflow-file-store-");
        let dir = tmp.join(format!("mlflow-file-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let uri = format!("file://{}", dir.join("mlruns").display());
        let ids = train(
            &dir,
            &[
                ("MLFLOW_TRACKING_URI", &uri),
                // MLflow 3.17 creates a file store only when told to.
                ("MLFLOW_ALLOW_FILE_STORE", "true"),
            ],
        );
        (dir.join("mlruns"), ids)
    })
}

fn id<'v>(ids: &'v Value, key: &str) -> &'v str {
    ids[key].as_str().unwrap()
}

/// A copy of the sample registry in `dir`.
fn sample(dir: &Path) -> PathBuf {
    let registry = dir.join("registry");
    copy_dir(&repo().join("registry"), &registry);
    registry
}

fn mlreg(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> crate::util::Run {
    run_with(dir, args, env, LIMIT)
}

/// (metric, data reference, value) as the published lineage or MLflow has them.
type Metric = (String, String, u64);

/// MLflow's final value per metric and dataset, for the datasets the registry has (as the
/// registry names them), from points of (key, value, step, timestamp, dataset name).
fn finals(points: &[(String, f64, i64, i64, Option<String>)]) -> BTreeSet<Metric> {
    let mut latest: std::collections::BTreeMap<(String, String), (i64, i64, f64)> =
        Default::default();
    for (key, value, step, ts, dataset) in points {
        let Some(d) = dataset
            .as_ref()
            .filter(|d| REGISTRY_DATA.contains(&d.as_str()))
        else {
            continue;
        };
        let e = latest
            .entry((key.clone(), d.clone()))
            .or_insert((*step, *ts, *value));
        if (*step, *ts) >= (e.0, e.1) {
            *e = (*step, *ts, *value);
        }
    }
    latest
        .into_iter()
        .map(|((k, d), (_, _, v))| (k, format!("data/{d}@1"), v.to_bits()))
        .collect()
}

/// The logged model's metric points, read from the file store's own files.
fn store_points(store: &Path, ids: &Value) -> Vec<(String, f64, i64, i64, Option<String>)> {
    let dir = store
        .join(id(ids, "experiment_id"))
        .join("models")
        .join(id(ids, "model_id"))
        .join("metrics");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let key = entry.file_name().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            // <ms> <value> <step> <run id>[ <dataset> <digest>]
            let p: Vec<&str> = line.split(' ').collect();
            out.push((
                key.clone(),
                p[1].parse().unwrap(),
                p[2].parse().unwrap(),
                p[0].parse().unwrap(),
                p.get(4).map(|d| d.to_string()),
            ));
        }
    }
    out
}

/// A run's metric points, read from the file store's own files.
fn run_points(run_dir: &Path) -> Vec<(String, f64, i64, i64, Option<String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(run_dir.join("metrics")).unwrap() {
        let entry = entry.unwrap();
        let key = entry.file_name().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            // <ms> <value> <step>[ <dataset> <digest>]
            let p: Vec<&str> = line.split(' ').collect();
            out.push((
                key.clone(),
                p[1].parse().unwrap(),
                p[2].parse().unwrap(),
                p[0].parse().unwrap(),
                p.get(3).map(|d| d.to_string()),
            ));
        }
    }
    out
}

/// The published asset document of `models/<name>`.
fn asset_doc(public: &Path, asset: &str) -> Value {
    let read = |rel: &str| -> Value {
        serde_json::from_slice(&std::fs::read(public.join(rel)).unwrap()).unwrap()
    };
    let root = read("registry.json");
    let snapshot = read(root["snapshot"]["path"].as_str().unwrap());
    for bin in snapshot["bins"].as_object().unwrap().values() {
        let bin = read(bin["path"].as_str().unwrap());
        if let Some(entry) = bin["assets"].get(asset) {
            return read(entry["doc"]["path"].as_str().unwrap());
        }
    }
    panic!("{asset} is not published");
}

fn published_metrics(doc: &Value, version: &str) -> BTreeSet<Metric> {
    doc["versions"][version]["lineage"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["data"]["ref"].as_str().unwrap().to_string(),
                m["value"].as_f64().unwrap().to_bits(),
            )
        })
        .collect()
}

/// The rows of the version page's metrics table as (metric, data, value as shown).
fn page_metrics(public: &Path, asset: &str, version: &str) -> BTreeSet<(String, String, String)> {
    let page = std::fs::read_to_string(public.join(format!("models/{asset}/{version}/index.html")))
        .unwrap();
    let start = page.find("Metrics</h").expect("a metrics section");
    let table = &page[start..];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    let text = |cell: &str| {
        let mut out = String::new();
        let mut in_tag = false;
        for c in cell.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.trim().to_string()
    };
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("</th>")
                .flat_map(|part| part.split("</td>"))
                .map(text)
                .collect();
            (cells[0].clone(), cells[1].clone(), cells[3].clone())
        })
        .collect()
}

/// The site's rendering of a metric value (four decimals, no trailing zeros).
fn shown(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn as_shown(metrics: &BTreeSet<Metric>) -> BTreeSet<(String, String, String)> {
    metrics
        .iter()
        .map(|(k, d, v)| {
            (
                k.clone(),
                d.trim_start_matches("data/").to_string(),
                shown(f64::from_bits(*v)),
            )
        })
        .collect()
}

/// check and build the registry in `dir`; the build's folder.
fn check_and_build(dir: &Path) -> PathBuf {
    let check = mlreg(dir, &["check", "registry"], &[]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("no problems found"),
        "{}",
        check.stdout
    );
    let build = mlreg(dir, &["build", "registry", "--out", "public"], &[]);
    assert_eq!(build.code, 0, "{}{}", build.stdout, build.stderr);
    dir.join("public")
}

#[test]
fn a_file_store_run_imports_checks_builds_and_shows_mlflows_values() {
    let (store, ids) = file_store();
    let tmp = tempfile::tempdir().unwrap();
    let registry = sample(tmp.path());
    let imported = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            id(ids, "run_id"),
            "--tracking-uri",
            &format!("file://{}", store.display()),
        ],
        &[],
    );
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert!(
        imported
            .stdout
            .starts_with("imported models/iris-mlflow@1 from MLflow run train-C2.0"),
        "{}",
        imported.stdout
    );
    // What the format cannot hold is said.
    for said in [
        "skipped: metrics `accuracy` on dataset `iris-holdout`",
        "skipped: metrics `train_loss`: measured on no dataset",
        "note: dataset `iris-prod-2026-11` (digest ",
    ] {
        assert!(
            imported.stderr.contains(said),
            "{said}\n{}",
            imported.stderr
        );
    }

    let version = registry.join("models/iris-mlflow/1");
    let logged = store
        .join(id(ids, "experiment_id"))
        .join("models")
        .join(id(ids, "model_id"))
        .join("artifacts");
    // The model's files, byte for byte.
    assert_eq!(
        tree(&version.join("model")),
        tree(&logged),
        "the model folder is the logged model's"
    );
    let spec = std::fs::read_to_string(version.join("spec.yaml")).unwrap();
    for line in [
        "type: mlflow_model",
        "path: model",
        "  sklearn:",
        "    serialization_format: skops",
        "  team: ml-platform",
    ] {
        assert!(spec.contains(line), "{line}\n{spec}");
    }
    assert!(
        spec.lines()
            .any(|l| l.starts_with("  mlflow_run: ") && l.contains(id(ids, "run_id"))),
        "{spec}"
    );
    assert!(!spec.contains("mlflow.source"), "{spec}");
    let lineage = std::fs::read_to_string(version.join("lineage.yaml")).unwrap();
    let commit = std::fs::read_to_string(
        store
            .join(id(ids, "experiment_id"))
            .join(id(ids, "run_id"))
            .join("tags/mlflow.source.git.commit"),
    )
    .unwrap();
    for line in [
        "  name: train-C2.0",
        "  experiment: iris-demo",
        "  status: finished",
        &format!(
            "code: {{ repo: \"https://github.com/example-org/iris-demo.git\", commit: \"{commit}\", path: train.py, branch: main }}"
        ),
        "  - { ref: data/iris-samples@1, role: training }",
        "  C: 2.0",
        "  solver: lbfgs",
        "logs: [logs/train.log]",
    ] {
        assert!(lineage.contains(line), "{line}\n{lineage}");
    }
    let card = std::fs::read_to_string(version.join("README.md")).unwrap();
    assert!(card.contains("Multinomial logistic regression on the four iris measurements."));
    assert!(
        card.contains("| sepal length (cm) | double | true |"),
        "{card}"
    );
    assert!(card.contains("| iris-holdout |"), "{card}");
    // The loss history, each point once (the file store writes the step-0 copy twice).
    let csv = std::fs::read_to_string(version.join("metrics.csv")).unwrap();
    let losses: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("train_loss,"))
        .collect();
    assert_eq!(losses.len(), 3, "{csv}");
    assert!(losses[2].starts_with("train_loss,2,") && losses[2].contains(",0.27,"));

    // The MLflow 2 way: a model folder among the run's artifacts, the run given as its folder.
    let run_dir = store.join(id(ids, "experiment_id")).join(id(ids, "run_id"));
    let exported = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            run_dir.to_str().unwrap(),
            "--artifact",
            "exported",
            "--name",
            "iris-exported",
        ],
        &[],
    );
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert_eq!(
        tree(&registry.join("models/iris-exported/1/model")),
        tree(&run_dir.join("artifacts/exported"))
    );

    let public = check_and_build(tmp.path());
    let expected = finals(&store_points(store, ids));
    assert_eq!(
        expected.len(),
        4,
        "two metrics on two data assets: {expected:?}"
    );
    let doc = asset_doc(&public, "models/iris-mlflow");
    assert_eq!(published_metrics(&doc, "1"), expected);
    assert_eq!(page_metrics(&public, MODEL, "1"), as_shown(&expected));
    // Without a logged model, the final values come from the run's own histories: the
    // evaluation split only (the production set was measured by another run, on the logged
    // model).
    let run_points = run_points(&run_dir);
    let from_run = finals(&run_points);
    assert_eq!(from_run.len(), 2, "{from_run:?}");
    assert_eq!(
        published_metrics(&asset_doc(&public, "models/iris-exported"), "1"),
        from_run
    );

    // Azure's own loader takes the imported spec with the rest of the sample.
    let loaded = Command::new(venv("azure-venv", AZURE_AI_ML).join("python"))
        .arg(repo().join("tests/azure/load_specs.py"))
        .arg(&public)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success()
            && stdout.contains("azure-ai-ml loaded 19 specs: 19 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

/// `mlflow server` on a free loopback port, stopped (with the workers it started) when dropped.
struct MlflowServer {
    url: String,
    child: std::process::Child,
}

impl MlflowServer {
    /// Started again on another port if it exits: a port found free can be taken by another
    /// test's listener before the server binds it.
    fn start(dir: &Path) -> MlflowServer {
        use std::os::unix::process::CommandExt;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(dir.join("server.log")).unwrap();
            let child = Command::new(venv("mlflow-venv", MLFLOW).join("mlflow"))
                .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
                .arg("--backend-store-uri")
                .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
                .arg("--artifacts-destination")
                .arg(dir.join("artifacts"))
                .args(["--workers", "1"])
                .current_dir(dir)
                .env("MLFLOW_DISABLE_TELEMETRY", "true")
                // No background job workers: the import needs the REST API only.
                .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                // Its own process group: the server runs its workers as children.
                .process_group(0)
                .spawn()
                .unwrap();
            let mut server = MlflowServer {
                url: format!("http://127.0.0.1:{port}"),
                child,
            };
            let start = Instant::now();
            loop {
                let health = crate::storage::answer(port, "/health");
                if health.is_some_and(|h| h.starts_with("HTTP/1.1 200")) {
                    return server;
                }
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(90),
                    "mlflow server did not start:\n{}",
                    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        panic!(
            "mlflow server exited five times on start:\n{}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let group = self.child.id();
        signal_group(group, "TERM");
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                signal_group(group, "KILL");
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The workers may outlive the parent by a moment.
        signal_group(group, "KILL");
    }
}

/// Signal the process group this test started (through `kill`: the crate denies unsafe code).
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The logged model's metric points as a tracking server gives them to MLflow's own client.
fn server_points(url: &str, model_id: &str) -> Vec<(String, f64, i64, i64, Option<String>)> {
    let script = "import json, sys, mlflow\n\
        m = mlflow.MlflowClient().get_logged_model(sys.argv[1])\n\
        print(json.dumps([[x.key, x.value, x.step, x.timestamp, x.dataset_name] for x in m.metrics]))\n";
    let out = Command::new(python())
        .args(["-c", script, model_id])
        .env("MLFLOW_TRACKING_URI", url)
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<(String, f64, i64, i64, Option<String>)> =
        serde_json::from_slice(&out.stdout).unwrap();
    list
}

#[test]
fn a_tracking_server_run_and_registered_version_import_with_an_alias_as_a_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let server = MlflowServer::start(tmp.path());
    let ids = train(tmp.path(), &[("MLFLOW_TRACKING_URI", &server.url)]);
    let registry = sample(tmp.path());
    let env = [("MLFLOW_TRACKING_TOKEN", "test-token")];

    // The registered version first, its champion alias as the dev stage; the tracking URI
    // from the environment, as MLflow's own tools take it.
    let by_version = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            &format!("models:/{MODEL}/{}", id(&ids, "version")),
            "--alias",
            "champion=dev",
        ],
        &[env[0], ("MLFLOW_TRACKING_URI", &server.url)],
    );
    assert_eq!(by_version.code, 0, "{}", by_version.stderr);
    assert!(
        by_version
            .stdout
            .starts_with("imported models/iris-mlflow@1 ")
            && by_version.stdout.contains("dev (alias champion)"),
        "{}",
        by_version.stdout
    );
    // `challenger` is not mapped, but the sample registry has it as a label: the label moves.
    assert!(
        by_version.stdout.contains("challenger (alias challenger)")
            && !by_version.stderr.contains("skipped: alias `challenger`"),
        "{}{}",
        by_version.stdout,
        by_version.stderr
    );
    // Then the run itself, by its id.
    let by_run = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            id(&ids, "run_id"),
            "--tracking-uri",
            &server.url,
        ],
        &env,
    );
    assert_eq!(by_run.code, 0, "{}", by_run.stderr);
    assert!(
        by_run.stdout.starts_with("imported models/iris-mlflow@2 "),
        "{}",
        by_run.stdout
    );
    // An MLflow 2 style model folder of the run, named by a runs:/ URI.
    let exported = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            &format!("runs:/{}/exported", id(&ids, "run_id")),
            "--name",
            "iris-exported",
            "--tracking-uri",
            &server.url,
        ],
        &env,
    );
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let served = tmp
        .path()
        .join("artifacts")
        .join(id(&ids, "experiment_id"))
        .join(id(&ids, "run_id"))
        .join("artifacts/exported");
    assert_eq!(
        tree(&registry.join("models/iris-exported/1/model")),
        tree(&served)
    );
    // The REST API gives a run's histories without their datasets: nothing to tie to data.
    assert!(
        exported.stderr.contains("measured on no dataset"),
        "{}",
        exported.stderr
    );
    let stages = std::fs::read_to_string(registry.join("models/iris-mlflow/stages.yaml")).unwrap();
    assert_eq!(stages.lines().count(), 2, "{stages}");
    assert!(
        stages.contains("- { stage: dev, version: \"1\", by: ")
            && stages.contains("reason: \"MLflow alias champion of iris-mlflow version 1\" }")
            && stages.contains("- { stage: challenger, version: \"1\", by: ")
            && stages.contains("reason: \"MLflow alias challenger of iris-mlflow version 1\" }"),
        "{stages}"
    );
    let v1 = registry.join("models/iris-mlflow/1");
    let v2 = registry.join("models/iris-mlflow/2");
    assert_eq!(tree(&v1.join("model")), tree(&v2.join("model")));
    let spec1 = std::fs::read_to_string(v1.join("spec.yaml")).unwrap();
    assert!(
        spec1.contains("description: \"Trained with C=2.0\""),
        "{spec1}"
    );
    assert!(spec1.contains("  validation_status: approved"), "{spec1}");
    let lineage = std::fs::read_to_string(v2.join("lineage.yaml")).unwrap();
    assert!(
        lineage.contains(&format!(
            "  url: \"{}/#/experiments/{}/runs/{}\"",
            server.url,
            id(&ids, "experiment_id"),
            id(&ids, "run_id")
        )),
        "{lineage}"
    );
    assert!(lineage.contains("logs: [logs/train.log]"), "{lineage}");
    assert_eq!(
        std::fs::read(v2.join("logs/train.log")).unwrap(),
        b"epoch 1 loss 0.61\nepoch 2 loss 0.34\nepoch 3 loss 0.27\n"
    );
    let asset = std::fs::read_to_string(registry.join("models/iris-mlflow/asset.yaml")).unwrap();
    assert!(
        asset.contains("description: \"Iris species classifier (test).\""),
        "{asset}"
    );

    let public = check_and_build(tmp.path());
    let expected = finals(&server_points(&server.url, id(&ids, "model_id")));
    assert_eq!(expected.len(), 4, "{expected:?}");
    let doc = asset_doc(&public, "models/iris-mlflow");
    for version in ["1", "2"] {
        assert_eq!(
            published_metrics(&doc, version),
            expected,
            "version {version}"
        );
        assert_eq!(page_metrics(&public, MODEL, version), as_shown(&expected));
    }
}

#[test]
fn refused_imports_change_nothing() {
    let (store, ids) = file_store();
    let tmp = tempfile::tempdir().unwrap();
    let registry = sample(tmp.path());
    let uri = format!("file://{}", store.display());
    let before = tree(&registry);
    let run = id(ids, "run_id");
    let registered = format!("models:/{MODEL}/{}", id(ids, "version"));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![run, "--name", "iris-classifier", "--version", "1"],
            2,
            "models/iris-classifier@1 exists",
        ),
        (
            vec!["0123456789abcdef0123456789abcdef"],
            3,
            "has no run 0123456789abcdef0123456789abcdef",
        ),
        (vec![run, "--name", "bad name!"], 2, "cannot name a model"),
        (vec![run, "--version", "prod"], 2, "spelled like the stage"),
        (
            vec![id(ids, "eval_run_id")],
            2,
            "has no model: it logged none",
        ),
        (vec!["models:/no-such-model/1"], 3, "no registered model"),
        (
            vec!["models:/../../etc/1"],
            2,
            "write models:/<name>/<version>",
        ),
        (
            vec![&registered, "--alias", "champion=staging"],
            2,
            "`staging` is neither a stage nor a label",
        ),
        (
            vec![run, "--alias", "champion=dev"],
            2,
            "give `models:/<name>/<version>`",
        ),
        // Straight into prod: the registry's own rules refuse it, and the import is undone.
        (
            vec![&registered, "--alias", "champion=prod"],
            1,
            "nothing was changed",
        ),
    ];
    for (args, code, said) in cases {
        let mut full = vec!["import", "mlflow"];
        full.extend(&args);
        full.extend(["--tracking-uri", &uri]);
        let out = mlreg(tmp.path(), &full, &[]);
        assert_eq!(out.code, code, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(said), "{args:?}: {}", out.stderr);
        assert!(tree(&registry) == before, "{args:?} changed the registry");
    }
    // The refusal into prod showed why, as check does.
    let out = mlreg(
        tmp.path(),
        &[
            "import",
            "mlflow",
            &registered,
            "--alias",
            "champion=prod",
            "--tracking-uri",
            &uri,
        ],
        &[],
    );
    assert!(out.stdout.contains("error[E083]"), "{}", out.stdout);
}

/// A tracking server that answers with an artifact path leading out of the model: the import
/// stops before writing anything. The bearer token of MLFLOW_TRACKING_TOKEN reaches it.
#[test]
fn a_hostile_tracking_server_cannot_write_outside_the_version() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let run = "0123456789abcdef0123456789abcdef";
    let bearer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let saw_token = bearer.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(20) {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            reader.read_line(&mut line).unwrap_or(0);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if h.eq_ignore_ascii_case("authorization: Bearer secret-token\r\n") {
                    saw_token.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let body = if path.starts_with("/api/2.0/mlflow/runs/get") {
                format!(
                    r#"{{"run":{{"info":{{"run_id":"{run}","run_name":"evil","experiment_id":"1","status":"FINISHED"}},"data":{{}},"outputs":{{"model_outputs":[{{"model_id":"m-1"}}]}}}}}}"#
                )
            } else if path.starts_with("/api/2.0/mlflow/logged-models/m-1/artifacts/directories") {
                r#"{"files":[{"path":"MLmodel","is_dir":false,"file_size":3},{"path":"../../../../escaped","is_dir":false,"file_size":3}]}"#.to_string()
            } else if path.starts_with("/api/2.0/mlflow/logged-models/m-1") {
                r#"{"model":{"info":{"model_id":"m-1","name":"model","artifact_uri":"mlflow-artifacts:/1/models/m-1/artifacts"}}}"#.to_string()
            } else {
                "x: 1".to_string()
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let registry = sample(tmp.path());
    let before = tree(tmp.path());
    let out = mlreg(
        tmp.path(),
        &["import", "mlflow", run, "--tracking-uri", &url],
        &[("MLFLOW_TRACKING_TOKEN", "secret-token")],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("would leave the model folder: refused"),
        "{}",
        out.stderr
    );
    assert!(tree(tmp.path()) == before);
    assert!(registry.join("registry.yaml").is_file());
    // The token went along, as Azure ML's MLflow endpoint takes it.
    assert!(bearer.load(std::sync::atomic::Ordering::SeqCst));
}
