//! An MLflow training run (or a registered MLflow model version) into a model version of a
//! registry: `mlreg import mlflow RUN`.
//!
//! Runs are read from a local MLflow file store (the `mlruns/` folder layout, read directly,
//! no Python) or from a tracking server over the MLflow REST API 2.0 (`mlflow server`, or Azure
//! ML's MLflow endpoint, with a bearer token from `MLFLOW_TRACKING_TOKEN`). Both sources fill
//! one [`Run`], which is then written the way `docs/format.md` lays a version out:
//!
//! - `model/`: the model's files as MLflow logged them, `MLmodel` included (an MLflow 3 logged
//!   model, or an MLflow 2 model folder among the run's artifacts);
//! - `spec.yaml`: an Azure ML `mlflow_model` spec with the `MLmodel` flavors (their scalar
//!   settings, as Azure stores them), the run's tags (not MLflow's own `mlflow.*` tags) and the
//!   registered version's tags, and the run id as the tag `mlflow_run`;
//! - `lineage.yaml`: the run as the job (name, experiment, status, times, a link on a tracking
//!   server), the source commit and entry point as `code`, the params, the dataset inputs as
//!   `data` with their context as the role, and the final value of each metric per dataset
//!   (MLflow 3 links metrics to the model and the dataset they were measured on, from any run:
//!   that is where sample-versus-production comparisons live);
//! - `README.md`: the run's description as the card, followed by what the format has no field
//!   for: the run id and user, the model signature, every dataset with its digest, source,
//!   context and size;
//! - `metrics.csv`: every point of the run's metric histories; `logs/`: the run's log files.
//!
//! The format ties every metric to a data asset of the registry, so an MLflow dataset maps to
//! the registry's data asset of the same name (its latest version, pinned); metrics measured on
//! datasets the registry does not have, and metrics without a dataset, stay out of
//! `lineage.yaml` (they remain in `metrics.csv` and the card) and are listed as skipped.
//! Aliases of a registered version become stage entries where `--alias ALIAS=STAGE` maps them;
//! the others are listed as skipped (the format has no labels besides stages).
//!
//! Nothing of the registry changes unless the whole import succeeds: the version is written in
//! a hidden folder and renamed into place, `asset.yaml` (for a new asset) and `stages.yaml` are
//! replaced by rename, and if the registry then has check errors it did not have before, every
//! change is undone and the errors are returned.

use crate::diag::Report;
use crate::registry::kind::Kind;
use crate::registry::yaml::{self, Node, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to import, from the command line.
pub struct Request {
    /// A run id, a run folder of a file store, `runs:/<id>/<path>`, or `models:/<name>/<version>`
    /// (or `models:/<name>@<alias>`).
    pub run: String,
    pub tracking_uri: Option<String>,
    /// The bearer token for a tracking server.
    pub token: Option<String>,
    pub registry: PathBuf,
    pub name: Option<String>,
    pub version: Option<String>,
    pub artifact: Option<String>,
    /// `ALIAS=STAGE` entries as given.
    pub aliases: Vec<String>,
    pub by: Option<String>,
}

/// What an import wrote and what it could not carry.
#[derive(Debug)]
pub struct Imported {
    pub name: String,
    pub version: String,
    /// The run as people name it: `train-C2.0 (c13747ba…)`.
    pub run: String,
    pub files: usize,
    pub metrics: usize,
    /// Stage entries appended: (alias, stage).
    pub stages: Vec<(String, String)>,
    /// What was left out, each with why.
    pub skipped: Vec<String>,
    /// Decisions worth knowing (which data asset a dataset became, ...).
    pub notes: Vec<String>,
}

/// Why an import did not happen; nothing was changed in any case.
pub enum Failure {
    /// A bad argument, an unreadable store, a refusing or broken server (exit 2).
    Usage(String),
    /// No such run, model version or alias (exit 3).
    NotFound(String),
    /// The registry would have check errors it does not have now (exit 1).
    Check(Report),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Usage(message)
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// JSON answers of a tracking server are refused past this size.
const MAX_JSON: u64 = 32 << 20;
/// A model may not be larger than this in all (a hostile server or a wrong path could
/// otherwise fill the disk).
const MAX_MODEL_BYTES: u64 = 64 << 30;
/// Files and folder depth of one artifact tree.
const MAX_FILES: usize = 100_000;
const MAX_DEPTH: usize = 32;
/// One log file of the run, and a metric file of a file store.
const MAX_LOG_BYTES: u64 = 16 << 20;
const MAX_METRIC_FILE: u64 = 256 << 20;
/// Points kept of one metric's history.
const MAX_POINTS: usize = 1_000_000;
/// Other runs read for the context of a dataset they measured the model on.
const MAX_OTHER_RUNS: usize = 50;

// ---------------------------------------------------------------------------------------------
// What both sources produce

#[derive(Clone, Debug, Default)]
struct Run {
    id: String,
    name: String,
    experiment_id: String,
    experiment: Option<String>,
    status: Option<String>,
    user: Option<String>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    params: Vec<(String, String)>,
    tags: BTreeMap<String, String>,
    inputs: Vec<Input>,
    /// Every point of every metric history of the run.
    history: Vec<Point>,
    /// MLflow 3 logged models the run produced.
    outputs: Vec<String>,
    /// A link to the run on a tracking server.
    url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Dataset {
    name: String,
    digest: String,
    source_type: Option<String>,
    source: Option<String>,
    profile: Option<String>,
}

#[derive(Clone, Debug)]
struct Input {
    dataset: Dataset,
    context: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Point {
    key: String,
    value: f64,
    timestamp: i64,
    step: i64,
    /// (name, digest) of the dataset it was measured on.
    dataset: Option<(String, String)>,
    /// The run that logged it (model metrics come from any run).
    run: Option<String>,
}

/// Where the model's files are.
#[derive(Clone, Debug)]
enum Model {
    /// An MLflow 3 logged model.
    Logged(LoggedModel),
    /// A model folder among a run's artifacts (MLflow 2, `runs:/<id>/<path>`).
    RunFolder { run: String, path: String },
}

#[derive(Clone, Debug)]
struct LoggedModel {
    id: String,
    name: String,
    artifact_uri: Option<String>,
    /// The file store folder of the logged model.
    dir: Option<PathBuf>,
    metrics: Vec<Point>,
    /// Registered model names it became a version of.
    registered: Vec<String>,
}

/// A registered model version.
#[derive(Clone, Debug, Default)]
struct Registered {
    name: String,
    version: String,
    description: Option<String>,
    model_description: Option<String>,
    run_id: Option<String>,
    source: Option<String>,
    model_id: Option<String>,
    tags: BTreeMap<String, String>,
    model_tags: BTreeMap<String, String>,
    /// Aliases of this version.
    aliases: Vec<String>,
}

/// A file of an artifact tree: its path in the tree and its size, when known.
type Listed = (String, Option<u64>);

// ---------------------------------------------------------------------------------------------
// The import

/// Import the run `req` names into the registry; see the module documentation.
pub fn import(req: &Request) -> Result<Imported> {
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    let aliases = alias_table(&req.aliases)?;
    let display = req
        .registry
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    if !req.registry.join("registry.yaml").is_file() {
        return Err(Failure::Usage(format!(
            "`{display}` is not a registry folder (it has no registry.yaml)"
        )));
    }
    let store = Store::open(req)?;
    let (run_id, path_in_run, registered) = match parse_run_arg(&req.run)? {
        RunArg::Run(id, path) => (id, path, None),
        RunArg::Registered(name, selector) => {
            let r = store.registered(&name, &selector)?;
            let run_id = r.run_id.clone().ok_or_else(|| {
                Failure::Usage(format!(
                    "registered model `{}` version {} names no run",
                    r.name, r.version
                ))
            })?;
            (run_id, None, Some(r))
        }
        RunArg::Folder(_) => (store.folder_run_id()?, None, None),
    };
    if !aliases.is_empty() && registered.is_none() {
        return Err(Failure::Usage(
            "--alias maps the aliases of a registered model version: give `models:/<name>/<version>`"
                .into(),
        ));
    }
    let mut run = store.run(&run_id)?;
    let model = pick_model(&store, &run, req, path_in_run, registered.as_ref())?;

    // The registry as it is now: what the new version may refer to, and which errors are old.
    let before = crate::registry::check(&req.registry, &display);
    let Some((_, registry)) = &before.registry else {
        return Err(Failure::Usage(format!("`{display}` cannot be read")));
    };

    let name = match (&req.name, &registered, &model) {
        (Some(n), _, _) => n.clone(),
        (None, Some(r), _) => r.name.clone(),
        (None, None, Model::Logged(m)) => m.registered.first().unwrap_or(&m.name).clone(),
        (None, None, Model::RunFolder { path, .. }) => {
            path.rsplit('/').next().unwrap_or(path).to_string()
        }
    };
    if let Some(why) = crate::registry::names::name_problem(Kind::Model, &name) {
        return Err(Failure::Usage(format!(
            "`{name}` cannot name a model (give --name): {why}"
        )));
    }
    let asset = registry.assets.get(&(Kind::Model, name.clone()));
    let version = match &req.version {
        Some(v) => v.clone(),
        None => next_version(asset.map(|a| a.versions.as_slice()).unwrap_or_default()),
    };
    if let Some(why) = crate::registry::names::version_problem(&version) {
        return Err(Failure::Usage(format!("--version: {why}")));
    }
    if registry.stages.contains(&version) {
        return Err(Failure::Usage(format!(
            "version `{version}` is spelled like the stage `{version}`"
        )));
    }
    let asset_dir = req.registry.join(Kind::Model.folder()).join(&name);
    let version_dir = asset_dir.join(&version);
    let taken = asset.is_some_and(|a| a.versions.iter().any(|v| v.eq_ignore_ascii_case(&version)));
    if taken || version_dir.exists() {
        return Err(Failure::Usage(format!(
            "models/{name}@{version} exists in `{display}`: published versions never change; give another --version"
        )));
    }
    for (alias, stage) in &aliases {
        if !registry.stages.contains(stage) && !registry.labels.contains(stage) {
            let known: Vec<&str> = registry
                .stages
                .iter()
                .chain(&registry.labels)
                .map(String::as_str)
                .collect();
            return Err(Failure::Usage(format!(
                "--alias {alias}={stage}: `{stage}` is neither a stage nor a label of this registry ({})",
                known.join(", ")
            )));
        }
    }

    // Datasets become the registry's data assets of the same name.
    let data_assets: BTreeMap<String, String> = registry
        .assets
        .values()
        .filter(|a| a.kind == Kind::Data)
        .filter_map(|a| {
            let v = a.latest.clone().or_else(|| a.versions.last().cloned())?;
            Some((a.name.clone(), format!("data/{}@{v}", a.name)))
        })
        .collect();
    let contexts = store.contexts(&run, &model);
    let stage_entries = stage_entries(
        registered.as_ref(),
        &aliases,
        &registry.labels,
        &version,
        req.by.as_deref().or(run.user.as_deref()),
        &mut skipped,
        &mut notes,
    )?;
    if let Some(r) = &registered {
        for (key, value) in &r.tags {
            if key.starts_with("mlflow.") {
                continue;
            }
            run.tags.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let lineage = Lineage::of(
        &run,
        &model,
        &data_assets,
        &contexts,
        &mut skipped,
        &mut notes,
    );

    // Write it all beside the registry's models, then rename into place.
    let models_dir = req.registry.join(Kind::Model.folder());
    let made_models_dir = !models_dir.exists();
    create_dir(&models_dir)?;
    // A registry that had no models keeps having no `models/` folder if this import fails.
    let undo_models_dir = || {
        if made_models_dir {
            let _ = std::fs::remove_dir(&models_dir);
        }
    };
    crate::publish::output::remove_orphans(&models_dir, STAGING);
    let staging = models_dir.join(format!("{STAGING}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let staged = stage(
        &store,
        &run,
        &model,
        registered.as_ref(),
        &lineage,
        &staging,
        &name,
        &version,
        &mut skipped,
    );
    let files = match staged {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            undo_models_dir();
            return Err(e);
        }
    };
    let asset_yaml = (!asset_dir.join("asset.yaml").exists() && asset.is_none())
        .then(|| asset_yaml(registered.as_ref()));
    let committed = commit(
        &staging,
        &asset_dir,
        &version,
        asset_yaml.as_deref(),
        &stage_entries,
    );
    let _ = std::fs::remove_dir_all(&staging);
    let undo = committed.inspect_err(|_| undo_models_dir())?;

    let after = crate::registry::check(&req.registry, &display);
    let old: BTreeSet<String> = errors(&before.report).collect();
    let mut report = after.report;
    report
        .diagnostics
        .retain(|d| d.severity() == crate::diag::Severity::Error && !old.contains(&error_key(d)));
    if !report.diagnostics.is_empty() {
        // The report's snippets were read from the files already: they survive the undo.
        undo.run();
        undo_models_dir();
        return Err(Failure::Check(report));
    }
    Ok(Imported {
        name,
        version,
        run: format!("{} ({})", run.name, run.id),
        files,
        metrics: lineage.metrics.len(),
        stages: stage_entries
            .iter()
            .map(|e| (e.alias.clone(), e.stage.clone()))
            .collect(),
        skipped,
        notes,
    })
}

/// Hidden folders under `models/` that imports stage versions in (`.mlflow-import-<pid>`).
const STAGING: &str = ".mlflow-import-";

fn errors(report: &Report) -> impl Iterator<Item = String> + '_ {
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity() == crate::diag::Severity::Error)
        .map(error_key)
}

fn error_key(d: &crate::diag::Diagnostic) -> String {
    let at = d
        .loc
        .as_ref()
        .map(|l| format!("{}:{}:{}", l.file, l.line, l.col))
        .unwrap_or_default();
    format!("{} {at} {}", d.code.id, d.message)
}

/// `ALIAS=STAGE` entries, checked for form; each alias once.
fn alias_table(given: &[String]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in given {
        let Some((alias, stage)) = entry.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--alias `{entry}`: write ALIAS=STAGE, such as champion=prod"
            )));
        };
        let (alias, stage) = (alias.trim(), stage.trim());
        if alias.is_empty() || stage.is_empty() {
            return Err(Failure::Usage(format!(
                "--alias `{entry}`: write ALIAS=STAGE, such as champion=prod"
            )));
        }
        if out.iter().any(|(a, _)| a == alias) {
            return Err(Failure::Usage(format!("--alias maps `{alias}` twice")));
        }
        out.push((alias.to_string(), stage.to_string()));
    }
    Ok(out)
}

enum RunArg {
    /// A run id, and the model's path in it (`runs:/<id>/<path>`).
    Run(String, Option<String>),
    /// A registered model and `Version(v)` or `Alias(a)`.
    Registered(String, Selector),
    /// A run folder of a file store.
    Folder(PathBuf),
}

#[derive(Clone, Debug)]
enum Selector {
    Version(String),
    Alias(String),
}

fn parse_run_arg(arg: &str) -> Result<RunArg> {
    if let Some(rest) = arg.strip_prefix("models:/") {
        let bad = || {
            Failure::Usage(format!(
                "`{arg}`: write models:/<name>/<version> or models:/<name>@<alias>"
            ))
        };
        let (name, selector) = match rest.rsplit_once('/') {
            Some((n, v)) if !v.is_empty() => (n, Selector::Version(v.to_string())),
            _ => match rest.rsplit_once('@') {
                Some((n, a)) if !a.is_empty() => (n, Selector::Alias(a.to_string())),
                _ => return Err(bad()),
            },
        };
        if name.is_empty() || !safe_segment(name) {
            return Err(bad());
        }
        let value = match &selector {
            Selector::Version(v) | Selector::Alias(v) => v,
        };
        if !safe_segment(value) {
            return Err(bad());
        }
        return Ok(RunArg::Registered(name.to_string(), selector));
    }
    if let Some(rest) = arg.strip_prefix("runs:/") {
        let (id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_id(id) {
            return Err(Failure::Usage(format!(
                "`{arg}`: write runs:/<run id>/<artifact path>"
            )));
        }
        let path = (!path.is_empty()).then(|| path.trim_end_matches('/').to_string());
        return Ok(RunArg::Run(id.to_string(), path));
    }
    let folder = Path::new(arg);
    if folder.join("meta.yaml").is_file() {
        return Ok(RunArg::Folder(folder.to_path_buf()));
    }
    if is_id(arg) {
        return Ok(RunArg::Run(arg.to_string(), None));
    }
    Err(Failure::Usage(format!(
        "`{arg}` is neither a run id, a run folder (with a meta.yaml), runs:/<id>/<path> nor models:/<name>/<version>"
    )))
}

/// A run or model id as MLflow makes them (hex, or `m-<hex>`); nothing a path could use.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A name that is safe as one folder name of a file store.
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

/// One more than the highest leading number of the versions there are; `1` for none.
fn next_version(versions: &[String]) -> String {
    let highest = versions
        .iter()
        .filter_map(|v| {
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .max();
    highest.map_or(1, |h| h.saturating_add(1)).to_string()
}

/// The model of the run: `--artifact` (a logged model's name, or a folder of the run's
/// artifacts), the registered version's, or the run's only one.
fn pick_model(
    store: &Store,
    run: &Run,
    req: &Request,
    path_in_run: Option<String>,
    registered: Option<&Registered>,
) -> Result<Model> {
    let wanted = req.artifact.clone().or(path_in_run);
    if let Some(r) = registered
        && wanted.is_none()
    {
        let logged = r.model_id.clone().or_else(|| {
            r.source
                .as_deref()
                .and_then(|s| s.strip_prefix("models:/"))
                .filter(|id| id.starts_with("m-") && is_id(id))
                .map(str::to_string)
        });
        if let Some(id) = logged {
            return Ok(Model::Logged(store.logged_model(&id, &run.experiment_id)?));
        }
        if let Some(rest) = r.source.as_deref().and_then(|s| s.strip_prefix("runs:/"))
            && let Some((id, path)) = rest.split_once('/')
            && !path.is_empty()
        {
            return Ok(Model::RunFolder {
                run: id.to_string(),
                path: clean_path(path.trim_end_matches('/'))?,
            });
        }
        return Err(Failure::Usage(format!(
            "model version `{}` version {} comes from `{}`, which is neither a logged model nor a run's artifacts",
            r.name,
            r.version,
            r.source.as_deref().unwrap_or("nowhere")
        )));
    }
    let mut logged = Vec::new();
    for id in &run.outputs {
        logged.push(store.logged_model(id, &run.experiment_id)?);
    }
    if let Some(want) = &wanted {
        if let Some(m) = logged.iter().find(|m| &m.name == want || &m.id == want) {
            return Ok(Model::Logged(m.clone()));
        }
        let path = clean_path(want.trim_end_matches('/'))?;
        if store.has_mlmodel(&run.id, &path)? {
            return Ok(Model::RunFolder {
                run: run.id.clone(),
                path,
            });
        }
        return Err(Failure::NotFound(format!(
            "run {} has no model at `{want}`{}",
            run.id,
            names_of(&logged)
        )));
    }
    match logged.len() {
        1 => return Ok(Model::Logged(logged.remove(0))),
        0 => {}
        _ => {
            return Err(Failure::Usage(format!(
                "run {} logged {} models: pick one with --artifact{}",
                run.id,
                logged.len(),
                names_of(&logged)
            )));
        }
    }
    // MLflow 2: a folder of the run's artifacts with an MLmodel file.
    let folders = store.run_model_folders(&run.id)?;
    match folders.as_slice() {
        [one] => Ok(Model::RunFolder {
            run: run.id.clone(),
            path: one.clone(),
        }),
        [] => Err(Failure::Usage(format!(
            "run {} ({}) has no model: it logged none, and none of its artifact folders has an MLmodel file",
            run.id, run.name
        ))),
        many => Err(Failure::Usage(format!(
            "run {} has {} model folders: pick one with --artifact ({})",
            run.id,
            many.len(),
            many.join(", ")
        ))),
    }
}

fn names_of(logged: &[LoggedModel]) -> String {
    if logged.is_empty() {
        return String::new();
    }
    let names: Vec<String> = logged
        .iter()
        .map(|m| format!("{} ({})", m.name, m.id))
        .collect();
    format!(" (its logged models: {})", names.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Stages from aliases

struct StageEntry {
    alias: String,
    stage: String,
    line: String,
}

fn stage_entries(
    registered: Option<&Registered>,
    aliases: &[(String, String)],
    labels: &[String],
    version: &str,
    by: Option<&str>,
    skipped: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<Vec<StageEntry>> {
    let Some(r) = registered else {
        return Ok(Vec::new());
    };
    let mut out: Vec<StageEntry> = Vec::new();
    for alias in &r.aliases {
        // An alias the registry has as a label moves that label; others need --alias.
        let stage = match aliases.iter().find(|(a, _)| a == alias) {
            Some((_, stage)) => stage,
            None if labels.contains(alias) => alias,
            None => {
                skipped.push(format!(
                    "alias `{alias}` of {} version {}: no --alias {alias}=STAGE maps it, and the registry has no label `{alias}` (labels: in registry.yaml)",
                    r.name, r.version
                ));
                continue;
            }
        };
        if out.iter().any(|e| &e.stage == stage) {
            notes.push(format!(
                "alias `{alias}` maps to `{stage}` too, which this import enters once"
            ));
            continue;
        }
        let by = by.ok_or_else(|| {
            Failure::Usage(format!(
                "the stage entry for alias `{alias}` needs a `by`, and the run names no user: give --by"
            ))
        })?;
        let today = &crate::time::rfc3339(now())[..10];
        let line = format!(
            "- {{ stage: {}, version: {}, by: {}, date: {today}, reason: {} }}\n",
            y(stage),
            quoted(version),
            y(by),
            quoted(&format!(
                "MLflow alias {alias} of {} version {}",
                r.name, r.version
            ))
        );
        out.push(StageEntry {
            alias: alias.clone(),
            stage: stage.clone(),
            line,
        });
    }
    for (alias, stage) in aliases {
        if !r.aliases.contains(alias) {
            notes.push(format!(
                "--alias {alias}={stage}: {} version {} has no alias `{alias}`",
                r.name, r.version
            ));
        }
    }
    Ok(out)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---------------------------------------------------------------------------------------------
// Lineage

struct Lineage {
    data: Vec<(String, Option<String>)>,
    metrics: Vec<MetricEntry>,
    /// (MLflow dataset, the registry's reference or none, context) for the card.
    datasets: Vec<(Dataset, Option<String>, Option<String>)>,
}

struct MetricEntry {
    name: String,
    value: f64,
    data: String,
    split: Option<String>,
    step: i64,
}

impl Lineage {
    fn of(
        run: &Run,
        model: &Model,
        data_assets: &BTreeMap<String, String>,
        contexts: &BTreeMap<(String, String, String), String>,
        skipped: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) -> Lineage {
        let mut unmapped: BTreeSet<(String, String)> = BTreeSet::new();
        let mut mapped: BTreeSet<(String, String)> = BTreeSet::new();
        let mut datasets = Vec::new();
        let mut data: Vec<(String, Option<String>)> = Vec::new();
        for input in &run.inputs {
            let d = &input.dataset;
            let reference = data_assets.get(&d.name).cloned();
            match &reference {
                Some(r) => {
                    let entry = (r.clone(), input.context.clone());
                    if !data.contains(&entry) {
                        data.push(entry);
                    }
                    mapped.insert((d.name.clone(), d.digest.clone()));
                }
                None => {
                    unmapped.insert((d.name.clone(), d.digest.clone()));
                }
            }
            datasets.push((d.clone(), reference, input.context.clone()));
        }
        // Final values: MLflow 3 keeps them on the logged model, from every run that measured
        // it; an MLflow 2 run (or a logged model nothing was measured on) keeps them in the
        // run's own histories.
        let points: Vec<&Point> = match model {
            Model::Logged(m) if !m.metrics.is_empty() => m.metrics.iter().collect(),
            _ => run.history.iter().collect(),
        };
        let mut finals: BTreeMap<(String, String, String), &Point> = BTreeMap::new();
        let mut no_dataset: BTreeSet<String> = BTreeSet::new();
        for p in &points {
            let Some((dname, digest)) = &p.dataset else {
                no_dataset.insert(p.key.clone());
                continue;
            };
            let key = (p.key.clone(), dname.clone(), digest.clone());
            let later = finals
                .get(&key)
                .is_none_or(|q| (p.step, p.timestamp) >= (q.step, q.timestamp));
            if later {
                finals.insert(key, p);
            }
        }
        let mut metrics: Vec<(i64, MetricEntry)> = Vec::new();
        let mut skipped_metrics: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for ((key, dname, digest), p) in &finals {
            let Some(reference) = data_assets.get(dname) else {
                skipped_metrics
                    .entry((dname.clone(), digest.clone()))
                    .or_default()
                    .push(key.clone());
                continue;
            };
            mapped.insert((dname.clone(), digest.clone()));
            if !p.value.is_finite() {
                skipped.push(format!(
                    "metric `{key}` on `{dname}` is {}, which lineage.yaml cannot hold (it is in metrics.csv)",
                    p.value
                ));
                continue;
            }
            let run_id = p.run.clone().unwrap_or_else(|| run.id.clone());
            let split = contexts
                .get(&(run_id, dname.clone(), digest.clone()))
                .cloned();
            let entry = MetricEntry {
                name: key.clone(),
                value: p.value,
                data: reference.clone(),
                split,
                step: p.step,
            };
            // Two MLflow datasets of one name become one data asset: one value per metric,
            // split and step, the latest.
            if let Some((at, old)) = metrics.iter_mut().find(|(_, m)| {
                m.name == entry.name
                    && m.data == entry.data
                    && m.split == entry.split
                    && m.step == entry.step
            }) {
                skipped.push(format!(
                    "metric `{key}` on `{dname}` (digest {digest}): another dataset named `{dname}` has a value for it too; lineage.yaml keeps the later one"
                ));
                if p.timestamp >= *at {
                    *at = p.timestamp;
                    *old = entry;
                }
                continue;
            }
            metrics.push((p.timestamp, entry));
        }
        // Grouped by data, in the order MLflow measured them.
        let mut first_seen: BTreeMap<String, i64> = BTreeMap::new();
        for (at, m) in &metrics {
            let e = first_seen.entry(m.data.clone()).or_insert(*at);
            *e = (*e).min(*at);
        }
        metrics.sort_by(|(_, a), (_, b)| {
            (first_seen[&a.data], &a.data, &a.name, a.step).cmp(&(
                first_seen[&b.data],
                &b.data,
                &b.name,
                b.step,
            ))
        });
        for ((dname, digest), keys) in &skipped_metrics {
            unmapped.insert((dname.clone(), digest.clone()));
            skipped.push(format!(
                "metrics {} on dataset `{dname}` (digest {digest}): the registry has no data asset `{dname}` to tie them to (they are in metrics.csv and the card)",
                keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        for (dname, digest) in &unmapped {
            if run
                .inputs
                .iter()
                .any(|i| &i.dataset.name == dname && &i.dataset.digest == digest)
                && !skipped_metrics.contains_key(&(dname.clone(), digest.clone()))
            {
                skipped.push(format!(
                    "dataset input `{dname}` (digest {digest}): the registry has no data asset `{dname}` (the card lists it)"
                ));
            }
        }
        if !no_dataset.is_empty() {
            skipped.push(format!(
                "metrics {}: measured on no dataset, and lineage.yaml ties every value to data (their histories are in metrics.csv)",
                no_dataset.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        for (dname, digest) in &mapped {
            if let Some(reference) = data_assets.get(dname) {
                notes.push(format!(
                    "dataset `{dname}` (digest {digest}) is `{reference}`, the registry's data asset of that name (MLflow's digest is in the card)"
                ));
            }
        }
        // Datasets only other runs measured the model on, for the card.
        for p in &points {
            if let Some((dname, digest)) = &p.dataset
                && !datasets
                    .iter()
                    .any(|(d, _, _)| &d.name == dname && &d.digest == digest)
            {
                let context = contexts
                    .get(&(
                        p.run.clone().unwrap_or_else(|| run.id.clone()),
                        dname.clone(),
                        digest.clone(),
                    ))
                    .cloned();
                datasets.push((
                    Dataset {
                        name: dname.clone(),
                        digest: digest.clone(),
                        source_type: None,
                        source: None,
                        profile: None,
                    },
                    data_assets.get(dname).cloned(),
                    context,
                ));
            }
        }
        Lineage {
            data,
            metrics: metrics.into_iter().map(|(_, m)| m).collect(),
            datasets,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Write the version into `staging/version`; the number of model files.
#[allow(clippy::too_many_arguments)]
fn stage(
    store: &Store,
    run: &Run,
    model: &Model,
    registered: Option<&Registered>,
    lineage: &Lineage,
    staging: &Path,
    name: &str,
    version: &str,
    skipped: &mut Vec<String>,
) -> Result<usize> {
    let vdir = staging.join("version");
    let model_dir = vdir.join("model");
    create_dir(&model_dir)?;
    let files = store.model_files(model)?;
    if !files.iter().any(|(p, _)| p == "MLmodel") {
        return Err(Failure::Usage(format!(
            "the model {} has no MLmodel file",
            model_label(model)
        )));
    }
    let total: u64 = files.iter().filter_map(|(_, s)| *s).sum();
    if total > MAX_MODEL_BYTES {
        return Err(Failure::Usage(format!(
            "the model {} is {total} bytes, more than the {MAX_MODEL_BYTES} an import takes",
            model_label(model)
        )));
    }
    let mut budget = MAX_MODEL_BYTES;
    for (rel, size) in &files {
        let to = model_dir.join(rel);
        if let Some(parent) = to.parent() {
            create_dir(parent)?;
        }
        let limit = size.unwrap_or(budget).min(budget);
        let written = store.fetch_model_file(model, rel, &to, limit)?;
        if size.is_some_and(|s| s != written) {
            return Err(Failure::Usage(format!(
                "model file `{rel}`: listed as {} bytes, {written} arrived",
                size.unwrap_or(0)
            )));
        }
        budget = budget.saturating_sub(written);
    }
    let mlmodel = std::fs::read(model_dir.join("MLmodel"))
        .map_err(|e| format!("cannot read the model's MLmodel: {e}"))?;
    let mlmodel = String::from_utf8(mlmodel)
        .ok()
        .and_then(|t| yaml::parse(&t).ok())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "the MLmodel file of {} is not YAML",
                model_label(model)
            ))
        })?;

    // The run's log files.
    let mut logs = Vec::new();
    for (rel, size) in store.run_logs(&run.id, model)? {
        let target = match rel.strip_prefix("logs/") {
            Some(inner) => format!("logs/{inner}"),
            None => format!("logs/{rel}"),
        };
        if logs.contains(&target) {
            skipped.push(format!("run artifact `{rel}`: another log is `{target}`"));
            continue;
        }
        if size.is_some_and(|s| s > MAX_LOG_BYTES) {
            skipped.push(format!(
                "run artifact `{rel}`: larger than {MAX_LOG_BYTES} bytes"
            ));
            continue;
        }
        let to = vdir.join(&target);
        if let Some(parent) = to.parent() {
            create_dir(parent)?;
        }
        store.fetch_run_file(&run.id, &rel, &to, MAX_LOG_BYTES)?;
        logs.push(target);
    }

    let spec = spec_yaml(run, registered, &mlmodel, name, version);
    write(&vdir.join("spec.yaml"), spec.as_bytes())?;
    write(
        &vdir.join("lineage.yaml"),
        lineage_yaml(run, lineage, &logs).as_bytes(),
    )?;
    let has_history = !run.history.is_empty();
    if has_history {
        write(&vdir.join("metrics.csv"), metrics_csv(run).as_bytes())?;
    }
    let card = card(
        run,
        model,
        registered,
        lineage,
        &mlmodel,
        name,
        version,
        has_history,
    );
    write(&vdir.join("README.md"), card.as_bytes())?;
    Ok(files.len())
}

fn model_label(model: &Model) -> String {
    match model {
        Model::Logged(m) => format!("`{}` ({})", m.name, m.id),
        Model::RunFolder { run, path } => format!("`{path}` of run {run}"),
    }
}

/// What `commit` changed, to take back.
struct Undo {
    version_dir: PathBuf,
    asset_dir: Option<PathBuf>,
    asset_yaml: Option<PathBuf>,
    /// stages.yaml and its bytes before (none: it did not exist).
    stages: Option<(PathBuf, Option<Vec<u8>>)>,
}

impl Undo {
    fn run(self) {
        let _ = std::fs::remove_dir_all(&self.version_dir);
        if let Some(path) = &self.asset_yaml {
            let _ = std::fs::remove_file(path);
        }
        if let Some((path, old)) = &self.stages {
            let _ = match old {
                Some(bytes) => {
                    crate::publish::output::atomic_write(path, bytes).map_err(std::io::Error::other)
                }
                None => std::fs::remove_file(path),
            };
        }
        if let Some(dir) = &self.asset_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Move the staged version into place, then asset.yaml and stages.yaml.
fn commit(
    staging: &Path,
    asset_dir: &Path,
    version: &str,
    asset_yaml: Option<&str>,
    entries: &[StageEntry],
) -> Result<Undo> {
    let created = !asset_dir.exists();
    create_dir(asset_dir)?;
    let version_dir = asset_dir.join(version);
    let mut undo = Undo {
        version_dir: version_dir.clone(),
        asset_dir: created.then(|| asset_dir.to_path_buf()),
        asset_yaml: None,
        stages: None,
    };
    if version_dir.exists() {
        // Another import or a person got there first.
        if let Some(dir) = &undo.asset_dir {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(Failure::Usage(format!(
            "`{}` appeared while importing",
            version_dir.display()
        )));
    }
    if let Err(e) = std::fs::rename(staging.join("version"), &version_dir) {
        if let Some(dir) = &undo.asset_dir {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(Failure::Usage(format!(
            "cannot move the version into `{}`: {e}",
            version_dir.display()
        )));
    }
    let mut step = || -> Result<()> {
        if let Some(text) = asset_yaml {
            let path = asset_dir.join("asset.yaml");
            crate::publish::output::atomic_write(&path, text.as_bytes())?;
            undo.asset_yaml = Some(path);
        }
        if !entries.is_empty() {
            let path = asset_dir.join("stages.yaml");
            let old = match std::fs::read(&path) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Failure::Usage(format!("{}: {e}", path.display()))),
            };
            let mut text = old.clone().unwrap_or_default();
            if !text.is_empty() && !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            for e in entries {
                text.extend_from_slice(e.line.as_bytes());
            }
            undo.stages = Some((path.clone(), old));
            crate::publish::output::atomic_write(&path, &text)?;
        }
        Ok(())
    };
    match step() {
        Ok(()) => Ok(undo),
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

fn asset_yaml(registered: Option<&Registered>) -> String {
    let mut out = String::new();
    if let Some(d) = registered.and_then(|r| r.model_description.as_deref())
        && !d.trim().is_empty()
    {
        out.push_str(&format!("description: {}\n", quoted(d.trim())));
    }
    out.push_str("tags:\n");
    if let Some(r) = registered {
        for (k, v) in &r.model_tags {
            if !k.starts_with("mlflow.") && k != "source" {
                out.push_str(&format!("  {}: {}\n", y(k), y(v)));
            }
        }
    }
    out.push_str("  source: mlflow\n");
    out
}

const MODEL_SCHEMA: &str = "https://azuremlschemas.azureedge.net/latest/model.schema.json";

fn spec_yaml(
    run: &Run,
    registered: Option<&Registered>,
    mlmodel: &Node,
    name: &str,
    version: &str,
) -> String {
    let description = registered
        .and_then(|r| r.description.clone())
        .filter(|d| !d.trim().is_empty())
        .or_else(|| run.tags.get("mlflow.note.content").and_then(|d| summary(d)))
        .unwrap_or_else(|| format!("From MLflow run {} ({}).", run.name, run.id));
    let mut out = format!(
        "$schema: {MODEL_SCHEMA}\nname: {}\nversion: {}\ntype: mlflow_model\npath: model\ndescription: {}\n",
        y(name),
        quoted(version),
        quoted(description.trim())
    );
    // Azure keeps a flavor's settings as strings (FlavorData); nested ones and nulls have no
    // place there (they stay in MLmodel).
    let flavors = get(mlmodel, "flavors")
        .and_then(Node::as_map)
        .unwrap_or_default();
    if !flavors.is_empty() {
        out.push_str("flavors:\n");
        for (flavor, settings) in flavors {
            let Some(flavor) = flavor.scalar_text() else {
                continue;
            };
            let scalars: Vec<(String, String)> = settings
                .as_map()
                .unwrap_or_default()
                .iter()
                .filter(|(_, v)| !matches!(v.value, Value::Null | Value::Map(_) | Value::Seq(_)))
                .filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?)))
                .collect();
            if scalars.is_empty() {
                out.push_str(&format!("  {}: {{}}\n", y(&flavor)));
                continue;
            }
            out.push_str(&format!("  {}:\n", y(&flavor)));
            for (k, v) in scalars {
                out.push_str(&format!("    {}: {}\n", y(&k), y(&v)));
            }
        }
    }
    out.push_str("tags:\n");
    for (k, v) in &run.tags {
        if k.starts_with("mlflow.") || k == "mlflow_run" {
            continue;
        }
        out.push_str(&format!("  {}: {}\n", y(k), y(v)));
    }
    out.push_str(&format!("  mlflow_run: {}\n", y(&run.id)));
    out
}

/// The first paragraph of a Markdown description, as one line of at most 300 characters.
fn summary(text: &str) -> Option<String> {
    let para: Vec<&str> = text
        .trim()
        .split("\n\n")
        .next()?
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .filter(|l| !l.is_empty())
        .collect();
    let line = para.join(" ");
    if line.is_empty() {
        return None;
    }
    Some(if line.chars().count() > 300 {
        format!("{}…", line.chars().take(299).collect::<String>())
    } else {
        line
    })
}

fn lineage_yaml(run: &Run, lineage: &Lineage, logs: &[String]) -> String {
    let mut out = String::from("job:\n");
    out.push_str(&format!("  name: {}\n", y(&run.name)));
    if let Some(url) = &run.url {
        out.push_str(&format!("  url: {}\n", quoted(url)));
    }
    if let Some(e) = &run.experiment {
        out.push_str(&format!("  experiment: {}\n", y(e)));
    }
    if let Some(s) = &run.status {
        out.push_str(&format!("  status: {}\n", y(&s.to_ascii_lowercase())));
    }
    let started = run.start_ms.map(ms_time);
    let finished = run.end_ms.map(ms_time);
    if let Some(t) = &started {
        out.push_str(&format!("  started: {t}\n"));
    }
    if let Some(t) = &finished {
        out.push_str(&format!("  finished: {t}\n"));
    }
    let tag = |k: &str| run.tags.get(k).filter(|v| !v.trim().is_empty());
    if let (Some(repo), Some(commit)) = (
        tag("mlflow.source.git.repoURL"),
        tag("mlflow.source.git.commit"),
    ) && is_commit(commit)
    {
        let mut parts = vec![
            format!("repo: {}", y(repo)),
            format!("commit: {}", quoted(commit)),
        ];
        if let Some(path) = entry_point(run) {
            parts.push(format!("path: {}", y(&path)));
        }
        if let Some(branch) = tag("mlflow.source.git.branch") {
            parts.push(format!("branch: {}", y(branch)));
        }
        out.push_str(&format!("code: {{ {} }}\n", parts.join(", ")));
    }
    if !lineage.data.is_empty() {
        out.push_str("data:\n");
        for (reference, role) in &lineage.data {
            match role {
                Some(r) => out.push_str(&format!(
                    "  - {{ ref: {}, role: {} }}\n",
                    y(reference),
                    y(r)
                )),
                None => out.push_str(&format!("  - {{ ref: {} }}\n", y(reference))),
            }
        }
    }
    if !run.params.is_empty() {
        out.push_str("parameters:\n");
        for (k, v) in &run.params {
            out.push_str(&format!("  {}: {}\n", y(k), param(v)));
        }
    }
    if !lineage.metrics.is_empty() {
        out.push_str("metrics:\n");
        for m in &lineage.metrics {
            let mut parts = vec![
                format!("name: {}", y(&m.name)),
                format!("value: {}", number(m.value)),
                format!("data: {}", y(&m.data)),
            ];
            if let Some(s) = &m.split {
                parts.push(format!("split: {}", y(s)));
            }
            if m.step != 0 {
                parts.push(format!("step: {}", m.step));
            }
            out.push_str(&format!("  - {{ {} }}\n", parts.join(", ")));
        }
    }
    if !logs.is_empty() {
        let list: Vec<String> = logs.iter().map(|l| y(l)).collect();
        out.push_str(&format!("logs: [{}]\n", list.join(", ")));
    }
    out
}

/// The entry point as a path in the repository: MLflow's source name, when it is one (a
/// relative path; an absolute one is a path on the training machine).
fn entry_point(run: &Run) -> Option<String> {
    let name = run.tags.get("mlflow.source.name")?.trim();
    let relative = !name.is_empty()
        && !name.starts_with('/')
        && !name.contains("://")
        && !name.contains('\\')
        && !name.starts_with('<')
        && !name.split('/').any(|p| p == "..");
    relative.then(|| name.trim_start_matches("./").to_string())
}

fn is_commit(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every point of the run's metric histories, oldest first per metric.
fn metrics_csv(run: &Run) -> String {
    let mut out = String::from("metric,step,timestamp,value,dataset,dataset_digest\n");
    for p in &run.history {
        let (dname, digest) = p
            .dataset
            .as_ref()
            .map_or(("", ""), |(n, d)| (n.as_str(), d.as_str()));
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&p.key),
            p.step,
            ms_time_precise(p.timestamp),
            number(p.value),
            csv_field(dname),
            csv_field(digest)
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn card(
    run: &Run,
    model: &Model,
    registered: Option<&Registered>,
    lineage: &Lineage,
    mlmodel: &Node,
    name: &str,
    version: &str,
    has_history: bool,
) -> String {
    let flavors: Vec<String> = get(mlmodel, "flavors")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.scalar_text())
        .collect();
    let library = flavors
        .iter()
        .find(|f| *f != "python_function")
        .cloned()
        .unwrap_or_else(|| "mlflow".to_string());
    let mut refs: Vec<&str> = Vec::new();
    for (reference, _) in &lineage.data {
        if !refs.contains(&reference.as_str()) {
            refs.push(reference);
        }
    }
    let mut out = String::from("---\n");
    out.push_str(&format!("library_name: {}\ntags: [mlflow]\n", y(&library)));
    if !refs.is_empty() {
        let list: Vec<String> = refs.iter().map(|r| y(r)).collect();
        out.push_str(&format!("datasets: [{}]\n", list.join(", ")));
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# {}, version {}\n\n", md(name), md(version)));
    match run
        .tags
        .get("mlflow.note.content")
        .filter(|d| !d.trim().is_empty())
    {
        Some(d) => {
            out.push_str(d.trim_end());
            out.push_str("\n\n");
        }
        None => out.push_str("The MLflow run has no description.\n\n"),
    }
    out.push_str("## From MLflow\n\n");
    out.push_str(&format!(
        "- **Run:** {} (`{}`){}{}\n",
        md(&run.name),
        md(&run.id),
        run.experiment
            .as_ref()
            .map(|e| format!(", experiment {}", md(e)))
            .unwrap_or_default(),
        run.user
            .as_ref()
            .map(|u| format!(", by {}", md(u)))
            .unwrap_or_default()
    ));
    match model {
        Model::Logged(m) => out.push_str(&format!(
            "- **Logged model:** {} (`{}`)\n",
            md(&m.name),
            md(&m.id)
        )),
        Model::RunFolder { path, .. } => out.push_str(&format!(
            "- **Model:** the run's artifact folder `{}`\n",
            md(path)
        )),
    }
    if let Some(r) = registered {
        let aliases = if r.aliases.is_empty() {
            String::new()
        } else {
            format!(
                ", aliases {}",
                r.aliases
                    .iter()
                    .map(|a| md(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!(
            "- **Registered model:** {} version {}{aliases}\n",
            md(&r.name),
            md(&r.version)
        ));
    }
    if let Some(ep) = run.tags.get("mlflow.project.entryPoint") {
        out.push_str(&format!("- **Project entry point:** {}\n", md(ep)));
    }
    if let Some(v) = get(mlmodel, "mlflow_version").and_then(Node::scalar_text) {
        out.push_str(&format!(
            "- **Flavors:** {} (MLflow {})\n",
            flavors.iter().map(|f| md(f)).collect::<Vec<_>>().join(", "),
            md(&v)
        ));
    }
    if has_history {
        out.push_str("- **Metric histories:** every logged point is in `metrics.csv`.\n");
    }
    out.push('\n');
    if let Some(sig) = get(mlmodel, "signature") {
        out.push_str("### Signature\n\n");
        for (part, title) in [
            ("inputs", "Inputs"),
            ("outputs", "Outputs"),
            ("params", "Parameters"),
        ] {
            let Some(specs) = get(sig, part)
                .and_then(Node::as_str)
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            else {
                continue;
            };
            let Some(list) = specs.as_array().filter(|l| !l.is_empty()) else {
                continue;
            };
            out.push_str(&format!(
                "{title}:\n\n| name | type | required |\n|---|---|---|\n"
            ));
            for s in list {
                let field = |k: &str| {
                    s.get(k)
                        .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                };
                let ty = match s.get("tensor-spec") {
                    Some(t) => format!(
                        "tensor of {} {}",
                        t.get("dtype").and_then(|d| d.as_str()).unwrap_or("?"),
                        t.get("shape").map(|x| x.to_string()).unwrap_or_default()
                    ),
                    None => field("type").unwrap_or_default(),
                };
                out.push_str(&format!(
                    "| {} | {} | {} |\n",
                    md(&field("name").unwrap_or_else(|| "—".into())),
                    md(&ty),
                    md(&field("required").unwrap_or_else(|| "—".into()))
                ));
            }
            out.push('\n');
        }
    }
    if !lineage.datasets.is_empty() {
        out.push_str("### Datasets\n\n| MLflow dataset | digest | context | source | size | in this registry |\n|---|---|---|---|---|---|\n");
        for (d, reference, context) in &lineage.datasets {
            let source = match (&d.source_type, &d.source) {
                (Some(t), Some(s)) => format!("{t}: {}", source_text(s)),
                (Some(t), None) => t.clone(),
                _ => "—".into(),
            };
            let size = d
                .profile
                .as_deref()
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                .and_then(|p| p.get("num_rows").and_then(serde_json::Value::as_u64))
                .map_or_else(|| "—".to_string(), |n| format!("{n} rows"));
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                md(&d.name),
                md(&d.digest),
                md(context.as_deref().unwrap_or("—")),
                md(&source),
                size,
                reference.as_deref().map_or_else(|| "—".to_string(), md)
            ));
        }
        out.push('\n');
    }
    out
}

/// A dataset source as one short line: the URI of a remote source, else the JSON.
fn source_text(source: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(source).ok();
    let uri = parsed.as_ref().and_then(|v| {
        ["uri", "url", "path", "table_name"]
            .iter()
            .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
            .map(str::to_string)
    });
    let text = uri.unwrap_or_else(|| match &parsed {
        // Code sources carry the run's own tags: the commit is in lineage.yaml already.
        Some(v) if v.get("tags").is_some() => "the training code".to_string(),
        _ => source.to_string(),
    });
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(199).collect::<String>())
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// The two sources

enum Store {
    Files(FileStore),
    Rest(Rest),
}

impl Store {
    fn open(req: &Request) -> Result<Store> {
        let arg_folder = match parse_run_arg(&req.run)? {
            RunArg::Folder(dir) => Some(dir),
            _ => None,
        };
        if let Some(run_dir) = arg_folder {
            let root = run_dir
                .parent()
                .and_then(Path::parent)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            return Ok(Store::Files(FileStore {
                root: root.to_path_buf(),
                run_dir: Some(run_dir),
            }));
        }
        let Some(uri) = req.tracking_uri.as_deref().filter(|u| !u.is_empty()) else {
            return Err(Failure::Usage(
                "where is the run? give --tracking-uri (an MLflow file store folder, or the http(s) URL of a tracking server) or a run folder; MLflow's default sqlite:///mlflow.db is read through `mlflow server --backend-store-uri sqlite:///mlflow.db`".into(),
            ));
        };
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Store::Rest(Rest::new(uri, req.token.clone())?));
        }
        // Azure ML's tracking URI: the same REST API over https.
        if let Some(rest) = uri.strip_prefix("azureml://") {
            return Ok(Store::Rest(Rest::new(
                &format!("https://{rest}"),
                req.token.clone(),
            )?));
        }
        let path = if let Some(rest) = uri.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some(rest) = uri.strip_prefix("file:") {
            PathBuf::from(rest)
        } else if uri.contains("://") || uri.starts_with("sqlite:") || uri == "databricks" {
            return Err(Failure::Usage(format!(
                "--tracking-uri `{}`: mlreg reads MLflow file stores and tracking servers (http(s)://); serve this store with `mlflow server --backend-store-uri {}` and give its URL",
                escape(uri),
                escape(uri)
            )));
        } else {
            PathBuf::from(uri)
        };
        if !path.is_dir() {
            return Err(Failure::Usage(format!(
                "--tracking-uri `{}` is not a folder",
                path.display()
            )));
        }
        Ok(Store::Files(FileStore {
            root: path,
            run_dir: None,
        }))
    }

    fn folder_run_id(&self) -> Result<String> {
        match self {
            Store::Files(f) => f.folder_run_id(),
            Store::Rest(_) => Err(Failure::Usage("a run folder is read from disk".into())),
        }
    }

    fn run(&self, id: &str) -> Result<Run> {
        match self {
            Store::Files(f) => f.run(id),
            Store::Rest(r) => r.run(id),
        }
    }

    fn logged_model(&self, id: &str, experiment: &str) -> Result<LoggedModel> {
        match self {
            Store::Files(f) => f.logged_model(id, experiment),
            Store::Rest(r) => r.logged_model(id),
        }
    }

    fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
        match self {
            Store::Files(f) => f.registered(name, selector),
            Store::Rest(r) => r.registered(name, selector),
        }
    }

    /// The context (`training`, `evaluation`) each run that measured the model gave each
    /// dataset: (run id, dataset name, digest) → context.
    fn contexts(&self, run: &Run, model: &Model) -> BTreeMap<(String, String, String), String> {
        let mut out = BTreeMap::new();
        let mut add = |r: &Run| {
            for i in &r.inputs {
                if let Some(c) = &i.context {
                    out.insert(
                        (
                            r.id.clone(),
                            i.dataset.name.clone(),
                            i.dataset.digest.clone(),
                        ),
                        c.clone(),
                    );
                }
            }
        };
        add(run);
        if let Model::Logged(m) = model {
            let others: BTreeSet<&String> = m
                .metrics
                .iter()
                .filter_map(|p| p.run.as_ref())
                .filter(|r| **r != run.id)
                .collect();
            for other in others.into_iter().take(MAX_OTHER_RUNS) {
                let read = match self {
                    Store::Files(f) => f.run_inputs(other),
                    Store::Rest(r) => r.run(other).map(|r| r.inputs).ok(),
                };
                if let Some(inputs) = read {
                    add(&Run {
                        id: other.clone(),
                        inputs,
                        ..Run::default()
                    });
                }
            }
        }
        out
    }

    fn has_mlmodel(&self, run: &str, path: &str) -> Result<bool> {
        match self {
            Store::Files(f) => Ok(f.run_artifacts(run)?.join(path).join("MLmodel").is_file()),
            Store::Rest(r) => Ok(r
                .list_run(run, path)?
                .iter()
                .any(|e| e.path == join(path, "MLmodel") && !e.is_dir)),
        }
    }

    /// Folders of the run's artifacts (top level) that hold an MLmodel file.
    fn run_model_folders(&self, run: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match self {
            Store::Files(f) => {
                let dir = f.run_artifacts(run)?;
                for entry in read_dir(&dir)? {
                    if entry.1 && dir.join(&entry.0).join("MLmodel").is_file() {
                        out.push(entry.0);
                    }
                }
            }
            Store::Rest(r) => {
                for entry in r.list_run(run, "")? {
                    if entry.is_dir
                        && r.list_run(run, &entry.path)?
                            .iter()
                            .any(|e| e.path == join(&entry.path, "MLmodel"))
                    {
                        out.push(entry.path);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every file of the model, with sizes where the store tells them.
    fn model_files(&self, model: &Model) -> Result<Vec<Listed>> {
        match (self, model) {
            (Store::Files(f), _) => {
                let dir = f.model_dir(model)?;
                walk_files(&dir)
            }
            (Store::Rest(r), Model::Logged(m)) => r.tree("", |dir| r.list_logged(&m.id, dir)),
            (Store::Rest(r), Model::RunFolder { run, path }) => {
                let files = r.tree(path, |dir| r.list_run(run, dir))?;
                Ok(files
                    .into_iter()
                    .filter_map(|(p, s)| {
                        Some((p.strip_prefix(&format!("{path}/"))?.to_string(), s))
                    })
                    .collect())
            }
        }
    }

    fn fetch_model_file(&self, model: &Model, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        match (self, model) {
            (Store::Files(f), _) => copy_bounded(&f.model_dir(model)?.join(rel), to, limit),
            (Store::Rest(r), Model::Logged(m)) => r.fetch_logged(m, rel, to, limit),
            (Store::Rest(r), Model::RunFolder { run, path }) => {
                r.fetch_run(run, &join(path, rel), to, limit)
            }
        }
    }

    /// The run's log files: top-level `*.log` artifacts and everything under `logs/`, not
    /// inside the model's folder.
    fn run_logs(&self, run: &str, model: &Model) -> Result<Vec<Listed>> {
        let model_folder = match model {
            Model::RunFolder { path, .. } => Some(format!("{path}/")),
            Model::Logged(_) => None,
        };
        let mut out: Vec<Listed> = Vec::new();
        match self {
            Store::Files(f) => {
                let dir = f.run_artifacts(run)?;
                if !dir.is_dir() {
                    return Ok(out);
                }
                for (name, is_dir) in read_dir(&dir)? {
                    if !is_dir && name.ends_with(".log") {
                        let size = std::fs::metadata(dir.join(&name)).ok().map(|m| m.len());
                        out.push((name, size));
                    }
                }
                if dir.join("logs").is_dir() {
                    out.extend(
                        walk_files(&dir.join("logs"))?
                            .into_iter()
                            .map(|(p, s)| (format!("logs/{p}"), s)),
                    );
                }
            }
            Store::Rest(r) => {
                let top = r.list_run(run, "")?;
                for e in &top {
                    if !e.is_dir && e.path.ends_with(".log") {
                        out.push((e.path.clone(), e.size));
                    }
                }
                if top.iter().any(|e| e.is_dir && e.path == "logs") {
                    out.extend(r.tree("logs", |dir| r.list_run(run, dir))?);
                }
            }
        }
        out.retain(|(p, _)| {
            model_folder
                .as_ref()
                .is_none_or(|m| !p.starts_with(m.as_str()))
        });
        out.sort();
        Ok(out)
    }

    fn fetch_run_file(&self, run: &str, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        match self {
            Store::Files(f) => copy_bounded(&f.run_artifacts(run)?.join(rel), to, limit),
            Store::Rest(r) => r.fetch_run(run, rel, to, limit),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file store

struct FileStore {
    root: PathBuf,
    /// The run folder given on the command line.
    run_dir: Option<PathBuf>,
}

impl FileStore {
    fn folder_run_id(&self) -> Result<String> {
        let dir = self
            .run_dir
            .as_ref()
            .ok_or_else(|| Failure::Usage("no run folder".into()))?;
        let meta = meta(&dir.join("meta.yaml"))?;
        text(&meta, "run_id").filter(|id| is_id(id)).ok_or_else(|| {
            Failure::Usage(format!("{}: no run_id", dir.join("meta.yaml").display()))
        })
    }

    /// The experiment folders of the store.
    fn experiments(&self) -> Result<Vec<PathBuf>> {
        Ok(read_dir(&self.root)?
            .into_iter()
            .filter(|(name, is_dir)| *is_dir && name != "models" && !name.starts_with('.'))
            .map(|(name, _)| self.root.join(name))
            .collect())
    }

    fn run_dir(&self, id: &str) -> Result<PathBuf> {
        if !is_id(id) {
            return Err(Failure::Usage(format!("`{}` is not a run id", escape(id))));
        }
        if let Some(dir) = &self.run_dir
            && dir.file_name().is_some_and(|n| n == id)
        {
            return Ok(dir.clone());
        }
        for exp in self.experiments()? {
            if exp.join(id).join("meta.yaml").is_file() {
                return Ok(exp.join(id));
            }
        }
        Err(Failure::NotFound(format!(
            "the file store `{}` has no run {id}",
            self.root.display()
        )))
    }

    fn run(&self, id: &str) -> Result<Run> {
        let dir = self.run_dir(id)?;
        let m = meta(&dir.join("meta.yaml"))?;
        let experiment_id = text(&m, "experiment_id").unwrap_or_default();
        let exp_dir = dir.parent().unwrap_or(&self.root).to_path_buf();
        let experiment = meta(&exp_dir.join("meta.yaml"))
            .ok()
            .and_then(|e| text(&e, "name"));
        let status = text(&m, "status").map(|s| match s.as_str() {
            "1" => "RUNNING".to_string(),
            "2" => "SCHEDULED".to_string(),
            "3" => "FINISHED".to_string(),
            "4" => "FAILED".to_string(),
            "5" => "KILLED".to_string(),
            other => other.to_string(),
        });
        let tags: BTreeMap<String, String> = key_files(&dir.join("tags"))?.into_iter().collect();
        let name = text(&m, "run_name")
            .filter(|n| !n.is_empty())
            .or_else(|| tags.get("mlflow.runName").cloned())
            .unwrap_or_else(|| id.to_string());
        let mut history = Vec::new();
        for (key, path) in key_paths(&dir.join("metrics"))? {
            let body = read_limited_file(&path, MAX_METRIC_FILE)?;
            let mut seen: Vec<Point> = Vec::new();
            for line in String::from_utf8_lossy(&body).lines() {
                if let Some(p) = metric_line(&key, line, false)
                    // The file store writes a logged model's step-0 copies twice.
                    && !seen.contains(&p)
                    && seen.len() < MAX_POINTS
                {
                    seen.push(p);
                }
            }
            history.extend(seen);
        }
        let outputs = read_dir(&dir.join("outputs"))
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, d)| *d && is_id(n))
            .map(|(n, _)| n)
            .collect();
        Ok(Run {
            id: id.to_string(),
            name,
            experiment_id,
            experiment,
            status,
            user: text(&m, "user_id")
                .filter(|u| !u.is_empty())
                .or_else(|| tags.get("mlflow.user").cloned()),
            start_ms: text(&m, "start_time").and_then(|t| t.parse().ok()),
            end_ms: text(&m, "end_time").and_then(|t| t.parse().ok()),
            params: key_files(&dir.join("params"))?,
            inputs: self.inputs_of(&dir)?,
            tags,
            history,
            outputs,
            url: None,
        })
    }

    fn run_inputs(&self, id: &str) -> Option<Vec<Input>> {
        let dir = self.run_dir(id).ok()?;
        self.inputs_of(&dir).ok()
    }

    fn inputs_of(&self, run_dir: &Path) -> Result<Vec<Input>> {
        let exp_dir = run_dir.parent().unwrap_or(&self.root);
        let mut out = Vec::new();
        for (id, is_dir) in read_dir(&run_dir.join("inputs")).unwrap_or_default() {
            if !is_dir {
                continue;
            }
            let Ok(edge) = meta(&run_dir.join("inputs").join(&id).join("meta.yaml")) else {
                continue;
            };
            if text(&edge, "source_type").as_deref() != Some("DATASET") {
                continue;
            }
            let Some(dataset_id) = text(&edge, "source_id").filter(|d| is_id(d)) else {
                continue;
            };
            let d = meta(&exp_dir.join("datasets").join(&dataset_id).join("meta.yaml"))?;
            let context = get(&edge, "tags")
                .and_then(|t| get(t, "mlflow.data.context"))
                .and_then(Node::scalar_text);
            out.push(Input {
                dataset: Dataset {
                    name: text(&d, "name").unwrap_or_default(),
                    digest: text(&d, "digest").unwrap_or_default(),
                    source_type: text(&d, "source_type"),
                    source: text(&d, "source"),
                    profile: text(&d, "profile"),
                },
                context,
            });
        }
        // MLflow lists inputs in the order they were logged; the file store's folder names
        // are random, so order by what people read: training first, then by name.
        out.sort_by(|a, b| {
            let rank = |i: &Input| match i.context.as_deref() {
                Some("training") => 0,
                Some(_) => 1,
                None => 2,
            };
            (rank(a), &a.dataset.name, &a.dataset.digest).cmp(&(
                rank(b),
                &b.dataset.name,
                &b.dataset.digest,
            ))
        });
        Ok(out)
    }

    fn logged_model_dir(&self, id: &str, experiment: &str) -> Result<PathBuf> {
        if !is_id(id) {
            return Err(Failure::Usage(format!(
                "`{}` is not a model id",
                escape(id)
            )));
        }
        if is_id(experiment) {
            let dir = self.root.join(experiment).join("models").join(id);
            if dir.join("meta.yaml").is_file() {
                return Ok(dir);
            }
        }
        for exp in self.experiments()? {
            let dir = exp.join("models").join(id);
            if dir.join("meta.yaml").is_file() {
                return Ok(dir);
            }
        }
        Err(Failure::NotFound(format!(
            "the file store `{}` has no logged model {id}",
            self.root.display()
        )))
    }

    fn logged_model(&self, id: &str, experiment: &str) -> Result<LoggedModel> {
        let dir = self.logged_model_dir(id, experiment)?;
        let m = meta(&dir.join("meta.yaml"))?;
        let mut metrics = Vec::new();
        for (key, path) in key_paths(&dir.join("metrics"))? {
            let body = read_limited_file(&path, MAX_METRIC_FILE)?;
            metrics.extend(
                String::from_utf8_lossy(&body)
                    .lines()
                    .filter_map(|l| metric_line(&key, l, true))
                    .take(MAX_POINTS),
            );
        }
        let tags: BTreeMap<String, String> = key_files(&dir.join("tags"))?.into_iter().collect();
        Ok(LoggedModel {
            id: id.to_string(),
            name: text(&m, "name").unwrap_or_else(|| "model".into()),
            artifact_uri: text(&m, "artifact_location"),
            dir: Some(dir.join("artifacts")),
            metrics,
            registered: registered_names(tags.get("mlflow.modelVersions")),
        })
    }

    fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
        let dir = self.root.join("models").join(name);
        let model_meta = meta(&dir.join("meta.yaml")).map_err(|_| {
            Failure::NotFound(format!(
                "the file store `{}` has no registered model `{}`",
                self.root.display(),
                escape(name)
            ))
        })?;
        // Aliases: the registered model's meta.yaml map, or its aliases/ folder.
        let mut aliases: Vec<(String, String)> = get(&model_meta, "aliases")
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?)))
            .collect();
        if aliases.is_empty() {
            aliases = key_files(&dir.join("aliases"))?
                .into_iter()
                .map(|(a, v)| (a, v.trim().to_string()))
                .collect();
        }
        let version = match selector {
            Selector::Version(v) => v.clone(),
            Selector::Alias(a) => aliases
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Failure::NotFound(format!(
                        "registered model `{}` has no alias `{}`",
                        escape(name),
                        escape(a)
                    ))
                })?,
        };
        let vdir = dir.join(format!("version-{version}"));
        let v = meta(&vdir.join("meta.yaml")).map_err(|_| {
            Failure::NotFound(format!(
                "registered model `{}` has no version {}",
                escape(name),
                escape(&version)
            ))
        })?;
        Ok(Registered {
            name: name.to_string(),
            version: version.clone(),
            description: text(&v, "description"),
            model_description: text(&model_meta, "description"),
            run_id: text(&v, "run_id").filter(|r| is_id(r)),
            source: text(&v, "source"),
            model_id: text(&v, "model_id").filter(|m| is_id(m)),
            tags: key_files(&vdir.join("tags"))?.into_iter().collect(),
            model_tags: key_files(&dir.join("tags"))?.into_iter().collect(),
            aliases: aliases
                .into_iter()
                .filter(|(_, v)| *v == version)
                .map(|(a, _)| a)
                .collect(),
        })
    }

    /// Where the run's artifacts are: its `artifacts/` folder (the `artifact_uri` of its
    /// meta.yaml names where the run was made, not where the store is now).
    fn run_artifacts(&self, run: &str) -> Result<PathBuf> {
        Ok(self.run_dir(run)?.join("artifacts"))
    }

    fn model_dir(&self, model: &Model) -> Result<PathBuf> {
        match model {
            Model::Logged(m) => m
                .dir
                .clone()
                .ok_or_else(|| Failure::Usage(format!("logged model {} has no folder", m.id))),
            Model::RunFolder { run, path } => Ok(self.run_artifacts(run)?.join(path)),
        }
    }
}

/// A metric file line: `<ms> <value> <step>[ <run id>][ <dataset> <digest>]` (the run id on
/// logged models' lines only; two-field lines from old stores have no step).
fn metric_line(key: &str, line: &str, with_run: bool) -> Option<Point> {
    let parts: Vec<&str> = line.split(' ').filter(|p| !p.is_empty()).collect();
    let timestamp = parts.first()?.parse().ok()?;
    let value: f64 = parts.get(1)?.parse().ok()?;
    let step = parts.get(2).map_or(Some(0), |s| s.parse().ok())?;
    let rest = parts.get(3..).unwrap_or_default();
    let (run, dataset) = match (with_run, rest) {
        (true, [run, name, digest]) => (Some(run.to_string()), Some((name, digest))),
        (true, [run]) => (Some(run.to_string()), None),
        (false, [name, digest]) => (None, Some((name, digest))),
        (_, []) => (None, None),
        _ => return None,
    };
    Some(Point {
        key: key.to_string(),
        value,
        timestamp,
        step,
        dataset: dataset.map(|(n, d)| (n.to_string(), d.to_string())),
        run,
    })
}

/// The registered names of a logged model's `mlflow.modelVersions` tag.
fn registered_names(tag: Option<&String>) -> Vec<String> {
    let Some(list) = tag.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for entry in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(n) = entry.get("name").and_then(serde_json::Value::as_str)
            && !out.iter().any(|o| o == n)
        {
            out.push(n.to_string());
        }
    }
    out
}

/// A file store's one-file-per-key folder (params, tags): (key, value), keys with `/` from
/// nested folders, sorted by key.
fn key_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (key, path) in key_paths(dir)? {
        let body = read_limited_file(&path, 1 << 20)?;
        let value = String::from_utf8(body)
            .map_err(|_| Failure::Usage(format!("{}: not UTF-8", path.display())))?;
        out.push((key, value));
    }
    Ok(out)
}

fn key_paths(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (rel, _) in walk_files(dir)? {
        out.push((rel.clone(), dir.join(&rel)));
    }
    Ok(out)
}

fn meta(path: &Path) -> Result<Node> {
    let shown: std::sync::Arc<str> = std::sync::Arc::from(path.display().to_string());
    let text = crate::registry::files::read_bounded(path, &shown)
        .map_err(|d| Failure::Usage(format!("{}: {}", path.display(), d.message)))?;
    yaml::parse(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not YAML (line {}): {}",
            path.display(),
            e.pos.line,
            e.message
        ))
    })
}

/// A top-level scalar of a YAML mapping as text (`null` is none).
fn text(node: &Node, key: &str) -> Option<String> {
    get(node, key)
        .filter(|v| !v.is_null())
        .and_then(Node::scalar_text)
}

fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The entries of a folder as (name, is a folder), sorted; names that are not UTF-8 or are
/// symlinks are refused.
fn read_dir(dir: &Path) -> Result<Vec<(String, bool)>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
        let kind = entry
            .file_type()
            .map_err(|e| Failure::Usage(format!("{}: {e}", entry.path().display())))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Failure::Usage(format!(
                "{}: a file name that is not UTF-8",
                dir.display()
            )));
        };
        if kind.is_symlink() {
            continue;
        }
        out.push((name, kind.is_dir()));
    }
    out.sort();
    Ok(out)
}

/// Every regular file under `dir` as (path relative to it with `/`, size); symlinks and
/// other special files are refused, depth and count bounded.
fn walk_files(dir: &Path) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let Some(rel) = rel.to_str() else {
            return Err(Failure::Usage(format!(
                "{}: a file name that is not UTF-8",
                entry.path().display()
            )));
        };
        if !ft.is_file() {
            return Err(Failure::Usage(format!(
                "{}: not a regular file (a symlink or a device); the import copies files only",
                entry.path().display()
            )));
        }
        let size = entry.metadata().ok().map(|m| m.len());
        out.push((rel.replace('\\', "/"), size));
        if out.len() > MAX_FILES {
            return Err(Failure::Usage(format!(
                "{}: more than {MAX_FILES} files",
                dir.display()
            )));
        }
    }
    Ok(out)
}

fn read_limited_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    if out.len() as u64 > limit {
        return Err(Failure::Usage(format!(
            "{}: larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(out)
}

fn copy_bounded(from: &Path, to: &Path, limit: u64) -> Result<u64> {
    let file = std::fs::File::open(from)
        .map_err(|e| Failure::Usage(format!("{}: {e}", from.display())))?;
    save(file, to, limit, &from.display().to_string())
}

/// Stream `body` into the new file `to`, refusing more than `limit` bytes; the bytes written.
fn save(body: impl Read, to: &Path, limit: u64, what: &str) -> Result<u64> {
    let mut out = std::fs::File::create_new(to)
        .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", to.display())))?;
    let written = std::io::copy(&mut body.take(limit + 1), &mut out)
        .map_err(|e| Failure::Usage(format!("{what}: {e}")))?;
    if written > limit {
        return Err(Failure::Usage(format!(
            "{what}: more than the {limit} bytes expected"
        )));
    }
    out.flush()
        .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", to.display())))?;
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// A tracking server (MLflow REST API 2.0)

struct Rest {
    /// The server's URL without a trailing `/`.
    base: String,
    /// Where people open a run: the base without credentials.
    shown: String,
    token: Option<String>,
    agent: ureq::Agent,
}

struct Entry {
    path: String,
    is_dir: bool,
    size: Option<u64>,
}

impl Rest {
    fn new(uri: &str, token: Option<String>) -> Result<Rest> {
        let base = uri.trim_end_matches('/').to_string();
        if base.chars().any(char::is_control) {
            return Err(Failure::Usage(
                "the tracking URI holds control characters".into(),
            ));
        }
        // `https://user:secret@host/...` keeps its secret out of lineage.yaml.
        let shown = match base.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let host = authority.rsplit('@').next().unwrap_or(authority);
                if path.is_empty() {
                    format!("{scheme}://{host}")
                } else {
                    format!("{scheme}://{host}/{path}")
                }
            }
            None => base.clone(),
        };
        let stall = Some(Duration::from_secs(60));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(stall)
            .timeout_connect(stall)
            .timeout_per_read(stall)
            .timeout_per_write(stall)
            .build()
            .into();
        Ok(Rest {
            base,
            shown,
            token: token.filter(|t| !t.is_empty()),
            agent,
        })
    }

    fn send(&self, rel: &str) -> Result<(String, ureq::http::Response<ureq::Body>)> {
        let url = format!("{}/{rel}", self.base);
        let mut request = self.agent.get(url.as_str());
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        let response = request
            .call()
            .map_err(|e| Failure::Usage(format!("{}: {e}", self.shown_url(rel))))?;
        Ok((url, response))
    }

    fn shown_url(&self, rel: &str) -> String {
        escape(&format!("{}/{rel}", self.shown))
    }

    /// GET a JSON document; a 404 is not found, other failures say what the server said.
    fn json(&self, rel: &str) -> Result<serde_json::Value> {
        let (_, response) = self.send(rel)?;
        let status = response.status().as_u16();
        let body = {
            let mut out = Vec::new();
            response
                .into_body()
                .into_reader()
                .take(MAX_JSON + 1)
                .read_to_end(&mut out)
                .map_err(|e| Failure::Usage(format!("{}: {e}", self.shown_url(rel))))?;
            if out.len() as u64 > MAX_JSON {
                return Err(Failure::Usage(format!(
                    "{}: an answer larger than {MAX_JSON} bytes",
                    self.shown_url(rel)
                )));
            }
            out
        };
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let said = || {
            parsed
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(serde_json::Value::as_str)
                .map(|m| format!(": {}", escape(&m.chars().take(300).collect::<String>())))
                .unwrap_or_default()
        };
        let missing = parsed
            .as_ref()
            .and_then(|v| v.get("error_code"))
            .and_then(serde_json::Value::as_str)
            == Some("RESOURCE_DOES_NOT_EXIST");
        match status {
            200 => parsed.ok_or_else(|| {
                Failure::Usage(format!("{}: the answer is not JSON", self.shown_url(rel)))
            }),
            _ if missing => Err(Failure::NotFound(format!(
                "{}: not found{}",
                self.shown_url(rel),
                said()
            ))),
            404 => Err(Failure::NotFound(format!(
                "{}: not found{}",
                self.shown_url(rel),
                said()
            ))),
            401 | 403 => Err(Failure::Usage(format!(
                "{}: HTTP {status}{} (is MLFLOW_TRACKING_TOKEN set, and allowed to read this?)",
                self.shown_url(rel),
                said()
            ))),
            _ => Err(Failure::Usage(format!(
                "{}: HTTP {status}{}",
                self.shown_url(rel),
                said()
            ))),
        }
    }

    fn run(&self, id: &str) -> Result<Run> {
        if !is_id(id) {
            return Err(Failure::Usage(format!("`{}` is not a run id", escape(id))));
        }
        let doc = self.json(&format!("api/2.0/mlflow/runs/get?run_id={}", enc(id)))?;
        let run = doc
            .get("run")
            .ok_or_else(|| Failure::Usage(format!("run {id}: the answer has no `run`")))?;
        let info = run.get("info").cloned().unwrap_or_default();
        let data = run.get("data").cloned().unwrap_or_default();
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let pairs = |v: &serde_json::Value, k: &str| -> Vec<(String, String)> {
            v.get(k)
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| Some((s(p, "key")?, p.get("value")?.as_str()?.to_string())))
                .collect()
        };
        let mut params = pairs(&data, "params");
        params.sort();
        let tags: BTreeMap<String, String> = pairs(&data, "tags").into_iter().collect();
        let experiment_id = s(&info, "experiment_id").unwrap_or_default();
        let experiment = if is_id(&experiment_id) {
            self.json(&format!(
                "api/2.0/mlflow/experiments/get?experiment_id={}",
                enc(&experiment_id)
            ))
            .ok()
            .and_then(|e| s(e.get("experiment")?, "name"))
        } else {
            None
        };
        let mut inputs = Vec::new();
        for i in run
            .get("inputs")
            .and_then(|i| i.get("dataset_inputs"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(d) = i.get("dataset") else { continue };
            let context = pairs(i, "tags")
                .into_iter()
                .find(|(k, _)| k == "mlflow.data.context")
                .map(|(_, v)| v);
            inputs.push(Input {
                dataset: Dataset {
                    name: s(d, "name").unwrap_or_default(),
                    digest: s(d, "digest").unwrap_or_default(),
                    source_type: s(d, "source_type"),
                    source: s(d, "source"),
                    profile: s(d, "profile"),
                },
                context,
            });
        }
        let outputs: Vec<String> = run
            .get("outputs")
            .and_then(|o| o.get("model_outputs"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| s(o, "model_id"))
            .filter(|m| is_id(m))
            .collect();
        let keys: BTreeSet<String> = data
            .get("metrics")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| s(m, "key"))
            .collect();
        let mut history = Vec::new();
        for key in &keys {
            history.extend(self.history(id, key)?);
        }
        let url = is_id(&experiment_id)
            .then(|| format!("{}/#/experiments/{experiment_id}/runs/{id}", self.shown));
        Ok(Run {
            id: id.to_string(),
            name: s(&info, "run_name")
                .or_else(|| tags.get("mlflow.runName").cloned())
                .unwrap_or_else(|| id.to_string()),
            experiment_id,
            experiment,
            status: s(&info, "status"),
            user: s(&info, "user_id").or_else(|| tags.get("mlflow.user").cloned()),
            start_ms: info.get("start_time").and_then(json_i64),
            end_ms: info.get("end_time").and_then(json_i64),
            params,
            tags,
            inputs,
            history,
            outputs,
            url,
        })
    }

    /// Every point of one metric of a run, page by page.
    fn history(&self, run: &str, key: &str) -> Result<Vec<Point>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut rel = format!(
                "api/2.0/mlflow/metrics/get-history?run_id={}&metric_key={}&max_results=25000",
                enc(run),
                enc(key)
            );
            if let Some(t) = &token {
                rel.push_str(&format!("&page_token={}", enc(t)));
            }
            let doc = self.json(&rel)?;
            for m in doc
                .get("metrics")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if let Some(p) = json_point(m, key) {
                    out.push(p);
                }
            }
            token = doc
                .get("next_page_token")
                .and_then(serde_json::Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() || out.len() >= MAX_POINTS {
                break;
            }
        }
        out.truncate(MAX_POINTS);
        Ok(out)
    }

    fn logged_model(&self, id: &str) -> Result<LoggedModel> {
        if !is_id(id) {
            return Err(Failure::Usage(format!(
                "`{}` is not a model id",
                escape(id)
            )));
        }
        let doc = self.json(&format!("api/2.0/mlflow/logged-models/{}", enc(id)))?;
        let model = doc.get("model").cloned().unwrap_or_default();
        let info = model.get("info").cloned().unwrap_or_default();
        let tag = info
            .get("tags")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .find(|t| {
                t.get("key").and_then(serde_json::Value::as_str) == Some("mlflow.modelVersions")
            })
            .and_then(|t| t.get("value")?.as_str().map(str::to_string));
        let metrics = model
            .get("data")
            .and_then(|d| d.get("metrics"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                let key = m.get("key")?.as_str()?;
                json_point(m, key)
            })
            .take(MAX_POINTS)
            .collect();
        Ok(LoggedModel {
            id: id.to_string(),
            name: info
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("model")
                .to_string(),
            artifact_uri: info
                .get("artifact_uri")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            dir: None,
            metrics,
            registered: registered_names(tag.as_ref()),
        })
    }

    fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
        let model = self.json(&format!(
            "api/2.0/mlflow/registered-models/get?name={}",
            enc(name)
        ))?;
        let model = model.get("registered_model").cloned().unwrap_or_default();
        let doc = match selector {
            Selector::Version(v) => self.json(&format!(
                "api/2.0/mlflow/model-versions/get?name={}&version={}",
                enc(name),
                enc(v)
            ))?,
            Selector::Alias(a) => self.json(&format!(
                "api/2.0/mlflow/registered-models/alias?name={}&alias={}",
                enc(name),
                enc(a)
            ))?,
        };
        let v = doc.get("model_version").cloned().unwrap_or_default();
        let s = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let tags = |v: &serde_json::Value| -> BTreeMap<String, String> {
            v.get("tags")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| Some((s(t, "key")?, t.get("value")?.as_str()?.to_string())))
                .collect()
        };
        let version = s(&v, "version").ok_or_else(|| {
            Failure::Usage(format!(
                "model version of `{}`: the answer has no version",
                escape(name)
            ))
        })?;
        Ok(Registered {
            name: name.to_string(),
            description: s(&v, "description"),
            model_description: s(&model, "description"),
            run_id: s(&v, "run_id").filter(|r| is_id(r)),
            source: s(&v, "source"),
            model_id: s(&v, "model_id").filter(|m| is_id(m)),
            tags: tags(&v),
            model_tags: tags(&model),
            aliases: v
                .get("aliases")
                .and_then(serde_json::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            version,
        })
    }

    /// One folder of a listing answer, each path checked to stay inside `dir`.
    fn entries(&self, doc: &serde_json::Value, dir: &str) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for f in doc
            .get("files")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(path) = f.get("path").and_then(serde_json::Value::as_str) else {
                continue;
            };
            let path = if dir.is_empty() || path.starts_with(&format!("{dir}/")) {
                path.to_string()
            } else {
                join(dir, path)
            };
            let path = clean_path(&path)?;
            if !dir.is_empty() && !path.starts_with(&format!("{dir}/")) {
                return Err(Failure::Usage(format!(
                    "the listing of `{}` names `{}`, outside it",
                    escape(dir),
                    escape(&path)
                )));
            }
            out.push(Entry {
                path,
                is_dir: f.get("is_dir").and_then(serde_json::Value::as_bool) == Some(true),
                size: f
                    .get("file_size")
                    .and_then(json_i64)
                    .and_then(|n| u64::try_from(n).ok()),
            });
        }
        Ok(out)
    }

    fn list_run(&self, run: &str, dir: &str) -> Result<Vec<Entry>> {
        let mut rel = format!("api/2.0/mlflow/artifacts/list?run_id={}", enc(run));
        if !dir.is_empty() {
            rel.push_str(&format!("&path={}", enc(dir)));
        }
        let doc = self.json(&rel)?;
        self.entries(&doc, dir)
    }

    fn list_logged(&self, model: &str, dir: &str) -> Result<Vec<Entry>> {
        let mut rel = format!(
            "api/2.0/mlflow/logged-models/{}/artifacts/directories",
            enc(model)
        );
        if !dir.is_empty() {
            rel.push_str(&format!("?artifact_directory_path={}", enc(dir)));
        }
        let doc = self.json(&rel)?;
        self.entries(&doc, dir)
    }

    /// Every file under the folder `top` of a tree that `list` lists a folder of (`""` the
    /// root), bounded in depth and count; paths relative to the root, as listings give them.
    fn tree(&self, top: &str, list: impl Fn(&str) -> Result<Vec<Entry>>) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut folders = vec![(top.to_string(), 0usize)];
        while let Some((dir, depth)) = folders.pop() {
            for e in list(&dir)? {
                if e.is_dir {
                    if depth + 1 > MAX_DEPTH {
                        return Err(Failure::Usage(format!(
                            "`{}`: folders nested deeper than {MAX_DEPTH}",
                            escape(&e.path)
                        )));
                    }
                    folders.push((e.path, depth + 1));
                } else {
                    out.push((e.path, e.size));
                }
                if out.len() + folders.len() > MAX_FILES {
                    return Err(Failure::Usage(format!("more than {MAX_FILES} files")));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// A file of a logged model: through the artifact proxy when the server serves artifacts
    /// (`mlflow-artifacts:` URIs, `mlflow server`'s default), else from the server's own read
    /// of its artifact store.
    fn fetch_logged(&self, m: &LoggedModel, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        let rel = clean_path(rel)?;
        let proxied = m.artifact_uri.as_deref().and_then(|u| {
            let rest = u.strip_prefix("mlflow-artifacts:")?;
            // `mlflow-artifacts://host:port/path` or `mlflow-artifacts:/path`.
            let path = match rest.strip_prefix("//") {
                Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
                None => rest.trim_start_matches('/'),
            };
            Some(path.trim_end_matches('/').to_string())
        });
        let url = match proxied {
            Some(root) => {
                let root = clean_path(&root)?;
                format!(
                    "api/2.0/mlflow-artifacts/artifacts/{}",
                    enc_path(&join(&root, &rel))
                )
            }
            None => format!(
                "ajax-api/2.0/mlflow/logged-models/{}/artifacts/files?artifact_file_path={}",
                enc(&m.id),
                enc(&rel)
            ),
        };
        self.download(&url, to, limit)
    }

    fn fetch_run(&self, run: &str, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        let rel = clean_path(rel)?;
        self.download(
            &format!("get-artifact?path={}&run_uuid={}", enc(&rel), enc(run)),
            to,
            limit,
        )
    }

    fn download(&self, rel: &str, to: &Path, limit: u64) -> Result<u64> {
        let (_, response) = self.send(rel)?;
        match response.status().as_u16() {
            200 => save(
                response.into_body().into_reader(),
                to,
                limit,
                &self.shown_url(rel),
            ),
            404 => Err(Failure::NotFound(format!(
                "{}: not found",
                self.shown_url(rel)
            ))),
            s => Err(Failure::Usage(format!("{}: HTTP {s}", self.shown_url(rel)))),
        }
    }
}

fn json_i64(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn json_point(m: &serde_json::Value, key: &str) -> Option<Point> {
    let value = match m.get("value")? {
        serde_json::Value::Number(n) => n.as_f64()?,
        // JSON has no NaN or infinities: MLflow sends them as strings.
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let s = |k: &str| {
        m.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Some(Point {
        key: key.to_string(),
        value,
        timestamp: m.get("timestamp").and_then(json_i64).unwrap_or(0),
        step: m.get("step").and_then(json_i64).unwrap_or(0),
        dataset: s("dataset_name").zip(s("dataset_digest")),
        run: s("run_id"),
    })
}

// ---------------------------------------------------------------------------------------------
// Small rules and renderings

/// An artifact path from a store or server, as a path inside the version folder: relative,
/// `/`-separated, no `..`, `.` or empty parts, no control characters or backslashes.
fn clean_path(path: &str) -> Result<String> {
    let ok = !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && !path.contains(':');
    if ok {
        Ok(path.to_string())
    } else {
        Err(Failure::Usage(format!(
            "the artifact path `{}` would leave the model folder: refused",
            escape(path)
        )))
    }
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else if rel.is_empty() {
        dir.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// Percent-encoding of a query value (everything but RFC 3986's unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encoding of a URL path, `/` kept.
fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// Text from a server or store, fit for a terminal: control characters escaped.
fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// A YAML scalar for text: plain when YAML (and Azure's PyYAML) read it back as the same
/// string, double-quoted otherwise.
fn y(s: &str) -> String {
    let b = s.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= 200
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b'@' | b'+')
        })
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_string() } else { quoted(s) }
}

/// A YAML double-quoted string (JSON's escapes are YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// An MLflow param (always text) in lineage.yaml: a plain number when it is written as one
/// (`2.0`, `200`), so that the site shows numbers as numbers; text otherwise.
fn param(v: &str) -> String {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let number = !int.is_empty()
        && int.len() <= 15
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
        && (frac.is_empty() && !digits.contains('.') || !frac.is_empty())
        && frac.len() <= 17
        && frac.bytes().all(|b| b.is_ascii_digit());
    if number { v.to_string() } else { y(v) }
}

/// A float as YAML reads it back exactly: the shortest round-trip form, with a `.0` before an
/// exponent (YAML 1.1 wants one).
fn number(v: f64) -> String {
    if v.is_nan() {
        return ".nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let s = format!("{v:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) if !mantissa.contains('.') => format!("{mantissa}.0e{exp}"),
        _ => s,
    }
}

fn ms_time(ms: i64) -> String {
    crate::time::rfc3339(ms.div_euclid(1000))
}

/// Milliseconds kept, for histories: `2026-11-30T06:06:07.488Z`.
fn ms_time_precise(ms: i64) -> String {
    let base = ms_time(ms);
    format!("{}.{:03}Z", &base[..base.len() - 1], ms.rem_euclid(1000))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Text in Markdown, read as text: punctuation that Markdown or HTML would act on escaped,
/// lines joined.
fn md(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create `{}`: {e}", dir.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_read_back_as_written() {
        for s in [
            "iris",
            "data/iris-samples@1",
            "train-C2.0",
            "mlflow.sklearn",
        ] {
            assert_eq!(y(s), s);
        }
        for (s, want) in [
            ("3", "\"3\""),
            ("yes", "\"yes\""),
            ("a: b", "\"a: b\""),
            ("https://x", "\"https://x\""),
            ("", "\"\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
        ] {
            assert_eq!(y(s), want);
        }
        for (v, want) in [
            ("2.0", "2.0"),
            ("200", "200"),
            ("-1", "-1"),
            ("010", "\"010\""),
        ] {
            assert_eq!(param(v), want);
        }
        for (v, want) in [
            ("1e3", "\"1e3\""),
            ("lbfgs", "lbfgs"),
            ("1.", "\"1.\""),
            (".5", "\".5\""),
        ] {
            assert_eq!(param(v), want);
        }
    }

    #[test]
    fn numbers_round_trip_through_yaml() {
        for v in [0.9777777777777777, 1.0, 1e-7, 1e300, -0.25, 123456789.0] {
            let text = number(v);
            let node = yaml::parse(&format!("v: {text}")).unwrap();
            let read = match &get(&node, "v").unwrap().value {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                other => panic!("{text} read as {other:?}"),
            };
            assert_eq!(read, v, "{text}");
        }
    }

    #[test]
    fn metric_lines_of_runs_and_logged_models() {
        let p = metric_line("acc", "1795877857199 0.97 0 iris-eval c4567977", false).unwrap();
        assert_eq!(p.dataset, Some(("iris-eval".into(), "c4567977".into())));
        let p = metric_line(
            "acc",
            "1795877857199 0.97 0 77baf1 iris-prod 8cb5a436",
            true,
        )
        .unwrap();
        assert_eq!(p.run.as_deref(), Some("77baf1"));
        assert_eq!(p.dataset, Some(("iris-prod".into(), "8cb5a436".into())));
        let p = metric_line("loss", "1795877853909 nan 2", false).unwrap();
        assert!(p.value.is_nan() && p.step == 2 && p.dataset.is_none());
        assert!(metric_line("x", "garbage", false).is_none());
        assert!(metric_line("x", "1 2 3 4", false).is_none());
    }

    #[test]
    fn artifact_paths_stay_inside() {
        assert_eq!(clean_path("a/b.txt").ok(), Some("a/b.txt".to_string()));
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "a\\b",
            "a\u{1b}b",
            "C:x",
            "./a",
            "",
        ] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_arguments() {
        assert!(
            matches!(parse_run_arg("models:/iris/3"), Ok(RunArg::Registered(n, Selector::Version(v))) if n == "iris" && v == "3")
        );
        assert!(
            matches!(parse_run_arg("models:/iris@champion"), Ok(RunArg::Registered(n, Selector::Alias(a))) if n == "iris" && a == "champion")
        );
        assert!(
            matches!(parse_run_arg("runs:/abc123/model"), Ok(RunArg::Run(id, Some(p))) if id == "abc123" && p == "model")
        );
        assert!(matches!(
            parse_run_arg("c13747bae79c4cfc9c957c17f61d266d"),
            Ok(RunArg::Run(_, None))
        ));
        for bad in ["models:/../x/1", "models:/x", "runs:/../x", "not a run"] {
            assert!(parse_run_arg(bad).is_err(), "{bad}");
        }
        assert_eq!(next_version(&[]), "1");
        assert_eq!(
            next_version(&["1".into(), "10".into(), "2.1".into(), "beta".into()]),
            "11"
        );
    }
}
