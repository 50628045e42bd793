//! The version's files, written into the staging folder: the model's files fetched within a
//! size budget, the run's logs, `spec.yaml`, `lineage.yaml`, `metrics.csv` and the card; and
//! the text of what goes beside the version: `asset.yaml` for a new asset, and the
//! `stages.yaml` entries the registered version's aliases become.

use super::card::card;
use super::lineage::{Lineage, lineage_yaml};
use super::run::{Model, Registered, Run, model_label};
use super::scalar::{ms_time, number, quoted, y};
use super::source::Store;
use super::store::get;
use super::{Failure, Result, create_dir};
use crate::registry::yaml::{self, Node, Value};
use std::path::Path;

/// A model may not be larger than this in all (a hostile server or a wrong path could
/// otherwise fill the disk).
const MAX_MODEL_BYTES: u64 = 64 << 30;
/// One log file of the run.
const MAX_LOG_BYTES: u64 = 16 << 20;

/// Write the version into `staging/version`; the number of model files.
#[allow(clippy::too_many_arguments)]
pub(super) fn stage(
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

pub(super) fn asset_yaml(registered: Option<&Registered>) -> String {
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

pub(super) struct StageEntry {
    pub(super) alias: String,
    pub(super) stage: String,
    pub(super) line: String,
}

pub(super) fn stage_entries(
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

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", path.display())))
}
