//! `mlreg diff A B`: two versions of a registry folder or a published registry (see
//! `inspect`) compared section by section: the normalized spec by key path (`description` and
//! `tags` marked as metadata: they are outside the digest and may change), the files (added,
//! removed, changed with both sha256), the lineage facts, and the metrics side by side by
//! metric and dataset with the change B − A. `B` may be `@3`: the same asset as A.
//!
//! The exit status is 0 whether or not the versions differ, as `git diff --no-exit` does: a
//! diff reports, it does not judge; scripts read `differs` in `--json`.

use super::inspect::{
    Metric, Picked, Reader, cell, columns, delta, lineage_facts, metrics, plain, pretty,
    short_data, short_hash, split_text,
};
use super::{EXIT_OK, Ui};
use crate::cli::DiffArgs;
use crate::client::escape;
use crate::publish::index::CanonicalJson;
use crate::publish::index::FileEntry;
use serde_json::{Number, Value, json};
use std::collections::BTreeMap;

pub fn run(ui: &Ui, args: DiffArgs) -> u8 {
    let reader = match Reader::open(ui, &args.from) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let a = match reader.pick(&args.a) {
        Ok(p) => p,
        Err(f) => return reader.fail(ui, f),
    };
    let b_ref = if args.b.starts_with('@') {
        format!("{}{}", a.doc.id, args.b)
    } else {
        args.b.clone()
    };
    let b = match reader.pick(&b_ref) {
        Ok(p) => p,
        Err(f) => return reader.fail(ui, f),
    };
    reader.notes(ui);
    let diff = Diff::of(&a, &b);
    let text = if args.from.json {
        pretty(&diff.to_json(&reader, &a, &b))
    } else {
        diff.describe(&reader, &a, &b)
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// A value at a path on one side or both: absent is `None`.
struct Change<T> {
    path: String,
    a: Option<T>,
    b: Option<T>,
}

/// One metric on one dataset, on each side.
struct MetricPair {
    name: String,
    split: Option<String>,
    step: Option<Value>,
    data: String,
    a: Option<Number>,
    b: Option<Number>,
}

struct Diff<'a> {
    spec: Vec<Change<Value>>,
    added: Vec<&'a FileEntry>,
    removed: Vec<&'a FileEntry>,
    changed: Vec<(&'a FileEntry, &'a FileEntry)>,
    unchanged: usize,
    lineage: Vec<Change<String>>,
    metrics: Vec<MetricPair>,
}

impl<'a> Diff<'a> {
    fn of(a: &'a Picked, b: &'a Picked) -> Diff<'a> {
        let files_a: BTreeMap<&str, &FileEntry> =
            a.v.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let files_b: BTreeMap<&str, &FileEntry> =
            b.v.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut diff = Diff {
            spec: spec_changes(&a.v.spec.value(), &b.v.spec.value()),
            added: files_b
                .iter()
                .filter(|(p, _)| !files_a.contains_key(*p))
                .map(|(_, f)| *f)
                .collect(),
            removed: files_a
                .iter()
                .filter(|(p, _)| !files_b.contains_key(*p))
                .map(|(_, f)| *f)
                .collect(),
            changed: Vec::new(),
            unchanged: 0,
            lineage: lineage_changes(
                a.v.lineage.as_ref().map(CanonicalJson::value).as_ref(),
                b.v.lineage.as_ref().map(CanonicalJson::value).as_ref(),
            ),
            metrics: metric_pairs(&metrics(&a.v), &metrics(&b.v)),
        };
        for (path, fa) in &files_a {
            if let Some(fb) = files_b.get(path) {
                if fa.sha256 == fb.sha256 && fa.size == fb.size {
                    diff.unchanged += 1;
                } else {
                    diff.changed.push((fa, fb));
                }
            }
        }
        diff
    }

    /// Whether anything differs; equal metrics alone are no difference.
    fn differs(&self) -> bool {
        !self.spec.is_empty()
            || !self.added.is_empty()
            || !self.removed.is_empty()
            || !self.changed.is_empty()
            || !self.lineage.is_empty()
            || self.metrics.iter().any(|m| m.a != m.b)
    }

    fn to_json(&self, reader: &Reader, a: &Picked, b: &Picked) -> Value {
        let side = |p: &Picked| {
            json!({
                "id": p.doc.id,
                "version": p.version,
                "reference": p.label(),
                "digest": p.v.digest,
                "stages": reader.stages_of(&p.doc, &p.version),
            })
        };
        let file = |f: &FileEntry| json!({"path": f.path, "size": f.size, "sha256": f.sha256});
        json!({
            "registry": reader.info.name,
            "a": side(a),
            "b": side(b),
            "differs": self.differs(),
            "spec": self.spec.iter().map(|c| json!({
                "path": c.path, "a": c.a, "b": c.b, "metadata": metadata(&c.path),
            })).collect::<Vec<_>>(),
            "files": {
                "added": self.added.iter().map(|f| file(f)).collect::<Vec<_>>(),
                "removed": self.removed.iter().map(|f| file(f)).collect::<Vec<_>>(),
                "changed": self.changed.iter().map(|(fa, fb)| json!({
                    "path": fa.path,
                    "a": {"size": fa.size, "sha256": fa.sha256},
                    "b": {"size": fb.size, "sha256": fb.sha256},
                })).collect::<Vec<_>>(),
                "unchanged": self.unchanged,
            },
            "lineage": self.lineage.iter().map(|c| json!({"path": c.path, "a": c.a, "b": c.b})).collect::<Vec<_>>(),
            "metrics": self.metrics.iter().map(|m| json!({
                "name": m.name,
                "split": m.split,
                "step": m.step,
                "data": m.data,
                "a": m.a,
                "b": m.b,
                "delta": m.delta().map(|(d, _)| d),
            })).collect::<Vec<_>>(),
        })
    }

    fn describe(&self, reader: &Reader, a: &Picked, b: &Picked) -> String {
        let mut text = format!(
            "{} → {} in registry {}\n",
            escape(&a.label()),
            escape(&b.label()),
            escape(&reader.info.name)
        );
        let stages = |p: &Picked| reader.stages_of(&p.doc, &p.version).join(", ");
        let header = vec![
            vec![
                "digest".to_string(),
                arrow(Some(&a.v.digest), Some(&b.v.digest)),
            ],
            vec![
                "stages".to_string(),
                arrow(Some(&stages(a)), Some(&stages(b))),
            ],
        ];
        text.push_str(&columns(&header, "  "));
        if !self.differs() {
            text.push_str("\nno differences\n");
            return text;
        }
        if !self.spec.is_empty() {
            text.push_str("\nspec\n");
            let rows: Vec<Vec<String>> = self
                .spec
                .iter()
                .map(|c| {
                    vec![
                        cell(&c.path),
                        if metadata(&c.path) { "metadata" } else { "" }.into(),
                        arrow(
                            c.a.as_ref().map(plain).as_deref(),
                            c.b.as_ref().map(plain).as_deref(),
                        ),
                    ]
                })
                .collect();
            text.push_str(&columns(&rows, "  "));
        }

        text.push_str(&format!(
            "\nfiles: {} added, {} removed, {} changed, {} unchanged\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.unchanged
        ));
        let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
        for f in &self.added {
            let hash = cell(&short_hash(&f.sha256));
            rows.push((&f.path, vec!["added".into(), cell(&f.path), hash]));
        }
        for f in &self.removed {
            let hash = cell(&short_hash(&f.sha256));
            rows.push((&f.path, vec!["removed".into(), cell(&f.path), hash]));
        }
        for (fa, fb) in &self.changed {
            let hashes = format!("{} → {}", short_hash(&fa.sha256), short_hash(&fb.sha256));
            rows.push((
                &fa.path,
                vec!["changed".into(), cell(&fa.path), cell(&hashes)],
            ));
        }
        rows.sort_by(|x, y| x.0.cmp(y.0));
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        text.push_str(&columns(&rows, "  "));

        if !self.lineage.is_empty() {
            text.push_str("\nlineage\n");
            let rows: Vec<Vec<String>> = self
                .lineage
                .iter()
                .map(|c| vec![cell(&c.path), arrow(c.a.as_deref(), c.b.as_deref())])
                .collect();
            text.push_str(&columns(&rows, "  "));
        }

        if !self.metrics.is_empty() {
            text.push_str("\nmetrics (B − A)\n");
            let same_asset = a.doc.id == b.doc.id;
            let title = |p: &Picked| {
                if same_asset {
                    format!("@{}", escape(&p.version))
                } else {
                    escape(&p.label()).into_owned()
                }
            };
            let split = self
                .metrics
                .iter()
                .any(|m| m.split.is_some() || m.step.is_some());
            let mut header = vec!["METRIC".to_string()];
            if split {
                header.push("SPLIT".into());
            }
            header.extend(["DATA".into(), title(a), title(b), "DELTA".into()]);
            let mut rows = vec![header];
            for m in &self.metrics {
                let mut row = vec![cell(&m.name)];
                if split {
                    row.push(cell(&split_text(m.split.as_deref(), m.step.as_ref())));
                }
                let value =
                    |n: &Option<Number>| n.as_ref().map_or("-".to_string(), |n| n.to_string());
                row.extend([
                    cell(short_data(&m.data)),
                    value(&m.a),
                    value(&m.b),
                    m.delta().map_or("-".to_string(), |(_, t)| t),
                ]);
                rows.push(row);
            }
            text.push_str(&columns(&rows, "  "));
        }
        text
    }
}

/// `old → new` for a table cell, `(none)` for a side without the value.
fn arrow(a: Option<&str>, b: Option<&str>) -> String {
    let side = |v: Option<&str>| v.map_or_else(|| "(none)".to_string(), cell);
    format!("{} → {}", side(a), side(b))
}

impl MetricPair {
    fn delta(&self) -> Option<(f64, String)> {
        delta(self.a.as_ref()?, self.b.as_ref()?)
    }
}

/// `description` and `tags` are outside the digest: Azure lets them change on a version.
fn metadata(path: &str) -> bool {
    path == "description" || path == "tags" || path.starts_with("tags.")
}

/// The keys whose values differ between two specs, by dotted path (`tags.training_data`,
/// `inputs.C.default`; list items as `[i]`), sorted. `name` and `version` are left out: the
/// header says which two versions these are.
fn spec_changes(a: &Value, b: &Value) -> Vec<Change<Value>> {
    let (mut la, mut lb) = (BTreeMap::new(), BTreeMap::new());
    leaves("", a, &mut la);
    leaves("", b, &mut lb);
    for side in [&mut la, &mut lb] {
        side.remove("name");
        side.remove("version");
    }
    changes(la, lb, Value::clone)
}

fn leaves(path: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaves(&join(k), x, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, x) in items.iter().enumerate() {
                leaves(&format!("{path}[{i}]"), x, out);
            }
        }
        other => {
            out.insert(path.to_string(), other.clone());
        }
    }
}

/// Every path whose value differs (or is on one side only), sorted by path.
fn changes<V: PartialEq, T>(
    mut a: BTreeMap<String, V>,
    mut b: BTreeMap<String, V>,
    show: impl Fn(&V) -> T,
) -> Vec<Change<T>> {
    let mut paths: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (x, y) = (a.remove(&path), b.remove(&path));
            (x != y).then(|| Change {
                a: x.as_ref().map(&show),
                b: y.as_ref().map(&show),
                path,
            })
        })
        .collect()
}

/// Lineage facts that differ, by path; a fact on several lines (`data`, one per input) is
/// compared as a whole.
fn lineage_changes(a: Option<&Value>, b: Option<&Value>) -> Vec<Change<String>> {
    let facts = |l: Option<&Value>| {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, text) in l.map(lineage_facts).unwrap_or_default() {
            out.entry(path).or_default().push(text);
        }
        out
    };
    changes(facts(a), facts(b), |lines| lines.join(", "))
}

/// Metrics of both sides paired by metric, split, step and dataset, sorted; a value measured
/// twice on the same data counts once (the first).
fn metric_pairs(a: &[Metric], b: &[Metric]) -> Vec<MetricPair> {
    let mut pairs: BTreeMap<(String, String, String, String), MetricPair> = BTreeMap::new();
    for (side, list) in [(0, a), (1, b)] {
        for m in list {
            let key = (
                m.name.clone(),
                m.data.clone(),
                m.split.clone().unwrap_or_default(),
                m.step.as_ref().map(plain).unwrap_or_default(),
            );
            let pair = pairs.entry(key).or_insert_with(|| MetricPair {
                name: m.name.clone(),
                split: m.split.clone(),
                step: m.step.clone(),
                data: m.data.clone(),
                a: None,
                b: None,
            });
            let slot = if side == 0 { &mut pair.a } else { &mut pair.b };
            slot.get_or_insert_with(|| m.value.clone());
        }
    }
    pairs.into_values().collect()
}
