//! What both sources produce, and all that the rest of the import reads of them: a run (its
//! params, tags, dataset inputs and metric histories), the model to import (an MLflow 3 logged
//! model or a folder of a run's artifacts), and a registered model version.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Default)]
pub(super) struct Run {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) experiment_id: String,
    pub(super) experiment: Option<String>,
    pub(super) status: Option<String>,
    pub(super) user: Option<String>,
    pub(super) start_ms: Option<i64>,
    pub(super) end_ms: Option<i64>,
    pub(super) params: Vec<(String, String)>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) inputs: Vec<Input>,
    /// Every point of every metric history of the run.
    pub(super) history: Vec<Point>,
    /// MLflow 3 logged models the run produced.
    pub(super) outputs: Vec<String>,
    /// A link to the run on a tracking server.
    pub(super) url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Dataset {
    pub(super) name: String,
    pub(super) digest: String,
    pub(super) source_type: Option<String>,
    pub(super) source: Option<String>,
    pub(super) profile: Option<String>,
}

#[derive(Clone, Debug)]
pub(super) struct Input {
    pub(super) dataset: Dataset,
    pub(super) context: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Point {
    pub(super) key: String,
    pub(super) value: f64,
    pub(super) timestamp: i64,
    pub(super) step: i64,
    /// (name, digest) of the dataset it was measured on.
    pub(super) dataset: Option<(String, String)>,
    /// The run that logged it (model metrics come from any run).
    pub(super) run: Option<String>,
}

/// Where the model's files are.
#[derive(Clone, Debug)]
pub(super) enum Model {
    /// An MLflow 3 logged model.
    Logged(LoggedModel),
    /// A model folder among a run's artifacts (MLflow 2, `runs:/<id>/<path>`).
    RunFolder { run: String, path: String },
}

#[derive(Clone, Debug)]
pub(super) struct LoggedModel {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) artifact_uri: Option<String>,
    /// The file store folder of the logged model.
    pub(super) dir: Option<PathBuf>,
    pub(super) metrics: Vec<Point>,
    /// Registered model names it became a version of.
    pub(super) registered: Vec<String>,
}

/// A registered model version.
#[derive(Clone, Debug, Default)]
pub(super) struct Registered {
    pub(super) name: String,
    pub(super) version: String,
    pub(super) description: Option<String>,
    pub(super) model_description: Option<String>,
    pub(super) run_id: Option<String>,
    pub(super) source: Option<String>,
    pub(super) model_id: Option<String>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) model_tags: BTreeMap<String, String>,
    /// Aliases of this version.
    pub(super) aliases: Vec<String>,
}

/// A file of an artifact tree: its path in the tree and its size, when known.
pub(super) type Listed = (String, Option<u64>);

pub(super) fn model_label(model: &Model) -> String {
    match model {
        Model::Logged(m) => format!("`{}` ({})", m.name, m.id),
        Model::RunFolder { run, path } => format!("`{path}` of run {run}"),
    }
}
