//! `mlreg show REF`: one version of a registry folder or a published registry (see `inspect`):
//! what it is (digest, Azure URI, stages, deprecation), its normalized spec, its files, its
//! lineage with the pins of what it was made from, its metrics by metric and dataset, and
//! what it uses and what uses it (all of it: a long list is read from its used-by pages).
//! `--json` is the version document, its `used_by` complete, with the version's identity and
//! stages beside it.

use super::inspect::{
    Metric, Picked, Reader, cell, columns, human_size, lineage_facts, metrics, pretty, short_data,
    short_hash, split_text,
};
use super::{EXIT_OK, Ui};
use crate::cli::ShowArgs;
use crate::client::escape;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub fn run(ui: &Ui, args: ShowArgs) -> u8 {
    let reader = match Reader::open(ui, &args.from) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let picked = match reader.pick(&args.reference).and_then(|mut p| {
        p.v.used_by = reader.used_by(&p.doc.id, &p.version, &p.v)?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(f) => return reader.fail(ui, f),
    };
    reader.notes(ui);
    let text = if args.from.json {
        pretty(&to_json(&reader, &picked))
    } else {
        describe(&reader, &picked)
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// The version document, with who it is and where it stands.
fn to_json(reader: &Reader, p: &Picked) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("registry".into(), json!(reader.info.name));
    out.insert("id".into(), json!(p.doc.id));
    out.insert("version".into(), json!(p.version));
    out.insert("reference".into(), json!(p.label()));
    out.insert("azure_uri".into(), json!(p.azure_uri(&reader.info.name)));
    out.insert("stage".into(), json!(p.stage));
    out.insert("implied".into(), json!(p.implied));
    out.insert("stages".into(), json!(reader.stages_of(&p.doc, &p.version)));
    out.insert("asset_deprecated".into(), json!(p.doc.deprecated));
    if let Ok(Value::Object(doc)) = serde_json::to_value(&p.v) {
        out.extend(doc);
    }
    Value::Object(out)
}

fn describe(reader: &Reader, p: &Picked) -> String {
    let v = &p.v;
    let why = match (&p.stage, &p.implied) {
        (Some(s), _) => format!(" ({})", escape(s)),
        (None, Some(implied)) => format!(" (latest: {})", escape(implied)),
        (None, None) => String::new(),
    };
    let mut text = format!(
        "{}{why} in registry {}\n",
        escape(&p.label()),
        escape(&reader.info.name)
    );
    let mut facts = vec![
        vec!["azure".to_string(), cell(&p.azure_uri(&reader.info.name))],
        vec!["digest".to_string(), cell(&v.digest)],
        vec![
            "stages".to_string(),
            cell(&reader.stages_of(&p.doc, &p.version).join(", ")),
        ],
    ];
    if let Some(reason) = &v.deprecated {
        facts.push(vec!["deprecated".to_string(), cell(reason)]);
    }
    if let Some(d) = &p.doc.deprecated {
        let replaced = d
            .replaced_by
            .as_ref()
            .map(|r| format!(", replaced by {}@{}", r.id, r.version))
            .unwrap_or_default();
        facts.push(vec![
            "asset".to_string(),
            cell(&format!("deprecated: {}{replaced}", d.reason)),
        ]);
    }
    text.push_str(&columns(&facts, "  "));

    text.push_str("\nspec\n");
    for line in crate::registry::yaml::to_yaml(&v.spec.value()).lines() {
        text.push_str(&format!("  {}\n", escape(line)));
    }

    let total = v
        .files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.size));
    text.push_str(&format!(
        "\nfiles: {}, {}\n",
        v.files.len(),
        human_size(total)
    ));
    let files: Vec<Vec<String>> = v
        .files
        .iter()
        .map(|f| {
            vec![
                cell(&f.path),
                human_size(f.size),
                cell(&short_hash(&f.sha256)),
            ]
        })
        .collect();
    text.push_str(&columns(&files, "  "));

    if let Some(lineage) = &v.lineage {
        let facts: Vec<Vec<String>> = lineage_facts(&lineage.value())
            .into_iter()
            .map(|(k, x)| vec![cell(&k), cell(&x)])
            .collect();
        if !facts.is_empty() {
            text.push_str("\nlineage\n");
            text.push_str(&columns(&facts, "  "));
        }
    }

    let measured = metrics(v);
    if !measured.is_empty() {
        text.push_str("\nmetrics\n");
        text.push_str(&metric_table(&measured));
    }

    text.push_str("\nreferences\n");
    let references: Vec<Vec<String>> = v
        .references
        .iter()
        .map(|r| {
            vec![
                cell(&format!("{}@{}", r.id, r.version)),
                cell(&short_hash(&r.digest)),
            ]
        })
        .collect();
    text.push_str(&list_or_none(&columns(&references, "  ")));
    text.push_str("\nused by\n");
    let used: Vec<Vec<String>> = v.used_by.iter().map(|u| vec![cell(u)]).collect();
    text.push_str(&list_or_none(&columns(&used, "  ")));
    text
}

fn list_or_none(text: &str) -> String {
    if text.is_empty() {
        "  (none)\n".to_string()
    } else {
        text.to_string()
    }
}

/// Metrics as a table: a row per metric (and split and step), a column per dataset. A value
/// measured twice on the same data shows the first one.
fn metric_table(measured: &[Metric]) -> String {
    let datasets: BTreeSet<&str> = measured.iter().map(|m| m.data.as_str()).collect();
    let mut values: BTreeMap<(String, String), BTreeMap<&str, String>> = BTreeMap::new();
    for m in measured {
        values
            .entry((
                m.name.clone(),
                split_text(m.split.as_deref(), m.step.as_ref()),
            ))
            .or_default()
            .entry(m.data.as_str())
            .or_insert_with(|| m.value.to_string());
    }
    let split = values.keys().any(|(_, detail)| !detail.is_empty());
    let mut header = vec!["METRIC".to_string()];
    if split {
        header.push("SPLIT".to_string());
    }
    header.extend(datasets.iter().map(|d| cell(short_data(d))));
    let mut rows = vec![header];
    for ((name, detail), by_data) in &values {
        let mut row = vec![cell(name)];
        if split {
            row.push(cell(detail));
        }
        row.extend(
            datasets
                .iter()
                .map(|d| cell(by_data.get(d).map(String::as_str).unwrap_or_default())),
        );
        rows.push(row);
    }
    columns(&rows, "  ")
}
