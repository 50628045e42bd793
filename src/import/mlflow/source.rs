//! Where the run is read from: `Store` opens the MLflow file store or the tracking server the
//! command line names, and asks either one the same questions (the run, its logged models, a
//! registered version, the model's files, the run's logs); `pick_model` decides which model of
//! the run is imported. The bounds here hold for both sources.

use super::arg::{RunArg, Selector, clean_path, escape, is_id, join, parse_run_arg};
use super::rest::Rest;
use super::run::{Listed, LoggedModel, Model, Registered, Run};
use super::store::{FileStore, copy_bounded, read_dir, walk_files};
use super::{Failure, Request, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Files and folder depth of one artifact tree.
pub(super) const MAX_FILES: usize = 100_000;
pub(super) const MAX_DEPTH: usize = 32;
/// Points kept of one metric's history.
pub(super) const MAX_POINTS: usize = 1_000_000;
/// Other runs read for the context of a dataset they measured the model on.
const MAX_OTHER_RUNS: usize = 50;

pub(super) enum Store {
    Files(FileStore),
    Rest(Rest),
}

impl Store {
    pub(super) fn open(req: &Request) -> Result<Store> {
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

    pub(super) fn folder_run_id(&self) -> Result<String> {
        match self {
            Store::Files(f) => f.folder_run_id(),
            Store::Rest(_) => Err(Failure::Usage("a run folder is read from disk".into())),
        }
    }

    pub(super) fn run(&self, id: &str) -> Result<Run> {
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

    pub(super) fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
        match self {
            Store::Files(f) => f.registered(name, selector),
            Store::Rest(r) => r.registered(name, selector),
        }
    }

    /// The context (`training`, `evaluation`) each run that measured the model gave each
    /// dataset: (run id, dataset name, digest) → context.
    pub(super) fn contexts(
        &self,
        run: &Run,
        model: &Model,
    ) -> BTreeMap<(String, String, String), String> {
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
    pub(super) fn model_files(&self, model: &Model) -> Result<Vec<Listed>> {
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

    pub(super) fn fetch_model_file(
        &self,
        model: &Model,
        rel: &str,
        to: &Path,
        limit: u64,
    ) -> Result<u64> {
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
    pub(super) fn run_logs(&self, run: &str, model: &Model) -> Result<Vec<Listed>> {
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

    pub(super) fn fetch_run_file(
        &self,
        run: &str,
        rel: &str,
        to: &Path,
        limit: u64,
    ) -> Result<u64> {
        match self {
            Store::Files(f) => copy_bounded(&f.run_artifacts(run)?.join(rel), to, limit),
            Store::Rest(r) => r.fetch_run(run, rel, to, limit),
        }
    }
}

/// The model of the run: `--artifact` (a logged model's name, or a folder of the run's
/// artifacts), the registered version's, or the run's only one.
pub(super) fn pick_model(
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

/// The registered names of a logged model's `mlflow.modelVersions` tag.
pub(super) fn registered_names(tag: Option<&String>) -> Vec<String> {
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

/// Stream `body` into the new file `to`, refusing more than `limit` bytes; the bytes written.
pub(super) fn save(body: impl Read, to: &Path, limit: u64, what: &str) -> Result<u64> {
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
