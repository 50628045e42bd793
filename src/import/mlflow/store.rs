//! A local MLflow file store (the `mlruns/` folder layout), read directly, no Python: runs with
//! their params, tags, metric files and dataset inputs, logged models, registered models with
//! their versions and aliases, and artifact folders. Files are read with bounds, and artifact
//! trees are walked without following symlinks.

use super::arg::{Selector, escape, is_id};
use super::run::{Dataset, Input, Listed, LoggedModel, Model, Point, Registered, Run};
use super::source::{MAX_DEPTH, MAX_FILES, MAX_POINTS, registered_names, save};
use super::{Failure, Result};
use crate::registry::yaml::{self, Node};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A metric file of a file store.
const MAX_METRIC_FILE: u64 = 256 << 20;

pub(super) struct FileStore {
    pub(super) root: PathBuf,
    /// The run folder given on the command line.
    pub(super) run_dir: Option<PathBuf>,
}

impl FileStore {
    pub(super) fn folder_run_id(&self) -> Result<String> {
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

    pub(super) fn run(&self, id: &str) -> Result<Run> {
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
            let mut points: Vec<Point> = Vec::new();
            // The file store writes a logged model's step-0 copies twice: keep each once, in
            // linear time (a metric file may hold a million lines).
            let mut seen = std::collections::HashSet::new();
            for line in String::from_utf8_lossy(&body).lines() {
                if points.len() >= MAX_POINTS {
                    break;
                }
                if let Some(p) = metric_line(&key, line, false)
                    && seen.insert((
                        p.value.to_bits(),
                        p.timestamp,
                        p.step,
                        p.dataset.clone(),
                        p.run.clone(),
                    ))
                {
                    points.push(p);
                }
            }
            history.extend(points);
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

    pub(super) fn run_inputs(&self, id: &str) -> Option<Vec<Input>> {
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

    pub(super) fn logged_model(&self, id: &str, experiment: &str) -> Result<LoggedModel> {
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

    pub(super) fn registered(&self, name: &str, selector: &Selector) -> Result<Registered> {
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
    pub(super) fn run_artifacts(&self, run: &str) -> Result<PathBuf> {
        Ok(self.run_dir(run)?.join("artifacts"))
    }

    pub(super) fn model_dir(&self, model: &Model) -> Result<PathBuf> {
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

pub(super) fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// The entries of a folder as (name, is a folder), sorted; names that are not UTF-8 or are
/// symlinks are refused.
pub(super) fn read_dir(dir: &Path) -> Result<Vec<(String, bool)>> {
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
pub(super) fn walk_files(dir: &Path) -> Result<Vec<Listed>> {
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

pub(super) fn copy_bounded(from: &Path, to: &Path, limit: u64) -> Result<u64> {
    let file = std::fs::File::open(from)
        .map_err(|e| Failure::Usage(format!("{}: {e}", from.display())))?;
    save(file, to, limit, &from.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
