//! An MLflow training run (or a registered MLflow model version) into a model version of a
//! registry: `mlreg import mlflow RUN`.
//!
//! Runs are read from a local MLflow file store (the `mlruns/` folder layout, read directly,
//! no Python) or from a tracking server over the MLflow REST API 2.0 (`mlflow server`, or Azure
//! ML's MLflow endpoint, with a bearer token from `MLFLOW_TRACKING_TOKEN`). Both sources fill
//! one `Run`, which is then written the way `docs/format.md` lays a version out:
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
//!
//! `source` opens the file store (`store`) or the tracking server (`rest`) and picks the
//! model; both fill the types of `run`, and `arg` holds the rules every id and path from them
//! passes. `lineage` maps the run's datasets and metrics onto the registry's data, `write`
//! stages the version's files (the card in `card`, YAML values spelled by `scalar`). This
//! module checks the request against the registry, moves the staged version into place, and
//! takes every change back when the registry would not check.

mod arg;
mod card;
mod lineage;
mod rest;
mod run;
mod scalar;
mod source;
mod store;
mod write;

use crate::diag::Report;
use crate::registry::kind::Kind;
use arg::{RunArg, parse_run_arg};
use lineage::Lineage;
use run::Model;
use source::{Store, pick_model};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use write::{StageEntry, asset_yaml, stage, stage_entries};

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

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create `{}`: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_versions() {
        assert_eq!(next_version(&[]), "1");
        assert_eq!(
            next_version(&["1".into(), "10".into(), "2.1".into(), "beta".into()]),
            "11"
        );
    }
}
