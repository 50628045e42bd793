//! `mlreg list [WHAT]`: the assets of a registry (every one, or one kind's) with their latest
//! version, stages, number of versions and deprecation, from the bins; or one asset's
//! versions with digest, stages, deprecation, key metrics and when their job ran, from its
//! asset document. Reads a folder or a published registry alike (see `inspect`).

use super::inspect::{
    self, Reader, cell, columns, created, day, metrics, pretty, short_data, short_hash,
};
use super::{EXIT_OK, Ui};
use crate::cli::ListArgs;
use crate::client::{Failure, escape};
use crate::publish::index::AssetDoc;
use serde_json::{Value, json};

/// Metrics a version's row shows; `--json` has them all.
const KEY_METRICS: usize = 2;

pub fn run(ui: &Ui, args: ListArgs) -> u8 {
    let what = match args.what.as_deref().map(parse).transpose() {
        Ok(w) => w,
        Err(e) => return ui.fail(escape(&e)),
    };
    let reader = match Reader::open(ui, &args.from) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let listed = match &what {
        Some(What::Asset(id)) => reader
            .asset(id)
            .map(|doc| versions(&reader, &doc, args.from.json)),
        Some(What::Kind(folder)) => assets(&reader, Some(folder), args.from.json),
        None => assets(&reader, None, args.from.json),
    };
    reader.notes(ui);
    let text = match listed {
        Ok(text) => text,
        Err(f) => return reader.fail(ui, f),
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

enum What {
    /// A kind, by its folder word (`models`).
    Kind(String),
    /// An asset id (`models/credit-default`).
    Asset(String),
}

fn parse(what: &str) -> Result<What, String> {
    if what.contains('@') || what.starts_with("azureml:") {
        return Err(format!(
            "`{what}` names a version; `mlreg list` takes a kind or an asset (`mlreg show {what}` shows a version)"
        ));
    }
    match what.split_once('/') {
        None => Ok(What::Kind(inspect::kind_of(what)?.folder().to_string())),
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => Ok(What::Asset(format!(
            "{}/{name}",
            inspect::kind_of(kind)?.folder()
        ))),
        Some(_) => Err(format!(
            "`{what}` is neither a kind (`models`) nor an asset (`models/credit-default`)"
        )),
    }
}

/// Every asset (of one kind folder), sorted by id, as the bins list them.
fn assets(reader: &Reader, folder: Option<&str>, json: bool) -> Result<String, Failure> {
    let listed = reader.listing()?;
    let entries: Vec<_> = listed
        .iter()
        .filter(|(id, _)| folder.is_none_or(|f| id.split('/').next() == Some(f)))
        .collect();
    if json {
        let rows: Vec<Value> = entries
            .iter()
            .map(|(id, a)| {
                let stages: Vec<Value> = reader
                    .ordered(&a.stages)
                    .into_iter()
                    .map(|(s, v)| json!({"stage": s, "version": v}))
                    .collect();
                json!({
                    "id": id,
                    "kind": a.kind,
                    "name": a.name,
                    "display_name": a.display_name,
                    "latest": a.latest,
                    "stages": stages,
                    "versions": a.versions,
                    "deprecated": a.deprecated,
                })
            })
            .collect();
        return Ok(pretty(&Value::Array(rows)));
    }
    let mut rows = vec![
        ["KIND", "NAME", "LATEST", "STAGES", "VERSIONS", "DEPRECATED"]
            .map(String::from)
            .to_vec(),
    ];
    for (_, a) in entries {
        let stages: Vec<String> = reader
            .ordered(&a.stages)
            .into_iter()
            .map(|(s, v)| format!("{s} {v}"))
            .collect();
        rows.push(vec![
            cell(&a.kind),
            cell(&a.name),
            cell(a.latest.as_deref().unwrap_or_default()),
            cell(&stages.join(", ")),
            a.versions.to_string(),
            if a.deprecated { "yes" } else { "" }.to_string(),
        ]);
    }
    Ok(columns(&rows, ""))
}

/// One asset's versions, oldest first (the document's order).
fn versions(reader: &Reader, doc: &AssetDoc, json: bool) -> String {
    let listed = doc
        .order
        .iter()
        .filter_map(|version| Some((version, doc.versions.get(version)?)));
    if json {
        let rows: Vec<Value> = listed
            .map(|(version, v)| {
                json!({
                    "id": doc.id,
                    "version": version,
                    "digest": v.digest,
                    "latest": doc.latest.as_ref() == Some(version),
                    "stages": reader.stages_of(doc, version),
                    "deprecated": v.deprecated,
                    "created": created(v),
                    "metrics": metrics(v),
                })
            })
            .collect();
        return pretty(&Value::Array(rows));
    }
    let mut rows = vec![
        [
            "VERSION",
            "DIGEST",
            "STAGES",
            "CREATED",
            "METRICS",
            "DEPRECATED",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (version, v) in listed {
        let all = metrics(v);
        let mut key: Vec<String> = all
            .iter()
            .take(KEY_METRICS)
            .map(|m| format!("{}[{}]={}", m.name, short_data(&m.data), m.value))
            .collect();
        if all.len() > KEY_METRICS {
            key.push("…".to_string());
        }
        let version_text = if doc.latest.as_ref() == Some(version) {
            format!("{version} (latest)")
        } else {
            version.clone()
        };
        rows.push(vec![
            cell(&version_text),
            cell(&short_hash(&v.digest)),
            cell(&reader.stages_of(doc, version).join(", ")),
            cell(created(v).as_deref().map(day).unwrap_or_default()),
            cell(&key.join(", ")),
            escape(v.deprecated.as_deref().unwrap_or_default()).into_owned(),
        ]);
    }
    columns(&rows, "")
}
