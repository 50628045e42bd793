//! `lineage.yaml` from the run: which MLflow datasets are the registry's data assets, the final
//! value of each metric per dataset, what cannot be tied to the registry's data (skipped, with
//! why), and the file itself: the job, the code, the data, the params, the metrics, the logs.

use super::run::{Dataset, Model, Point, Run};
use super::scalar::{ms_time, number, param, quoted, y};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Lineage {
    pub(super) data: Vec<(String, Option<String>)>,
    pub(super) metrics: Vec<MetricEntry>,
    /// (MLflow dataset, the registry's reference or none, context) for the card.
    pub(super) datasets: Vec<(Dataset, Option<String>, Option<String>)>,
}

pub(super) struct MetricEntry {
    name: String,
    value: f64,
    data: String,
    split: Option<String>,
    step: i64,
}

impl Lineage {
    pub(super) fn of(
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

pub(super) fn lineage_yaml(run: &Run, lineage: &Lineage, logs: &[String]) -> String {
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
