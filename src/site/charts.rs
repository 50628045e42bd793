//! Metrics out of lineage documents, and the lines of each metric's chart across versions.

use super::links::{ref_label, short_ref};
use super::svg::{self, Series};
use crate::publish::index::{AssetDoc, VersionDoc};
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) struct MetricRow {
    pub(super) name: String,
    /// The data it was measured on, as `id@version` (or the text written, if not pinned).
    pub(super) data: String,
    pub(super) href: Option<String>,
    pub(super) split: String,
    pub(super) value: f64,
}

pub(super) fn metrics(v: &VersionDoc) -> Vec<MetricRow> {
    let Some(items) = v
        .lineage
        .as_ref()
        .and_then(|l| l.get("metrics"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|m| {
            let (data, href) = m.get("data").map(ref_label).unwrap_or_default();
            Some(MetricRow {
                name: m.get("name")?.as_str()?.to_string(),
                data,
                href,
                split: m
                    .get("split")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                value: m.get("value")?.as_f64()?,
            })
        })
        .collect()
}

/// The lines of each metric's chart: versions along x, one line per dataset. Computed once per
/// asset; every page of the asset draws from it.
pub(super) struct ChartData(Vec<(String, Vec<Series>)>);

impl ChartData {
    pub(super) fn of(doc: &AssetDoc) -> ChartData {
        let per_version: Vec<Vec<MetricRow>> = doc
            .order
            .iter()
            .map(|v| metrics(&doc.versions[v]))
            .collect();
        let names: BTreeSet<String> = per_version
            .iter()
            .flatten()
            .map(|m| m.name.clone())
            .collect();
        let charts = names
            .into_iter()
            .map(|name| {
                let datasets: BTreeSet<String> = per_version
                    .iter()
                    .flatten()
                    .filter(|m| m.name == name)
                    .map(|m| short_ref(&m.data))
                    .collect();
                let series: Vec<Series> = datasets
                    .into_iter()
                    .map(|d| Series {
                        values: per_version
                            .iter()
                            .map(|ms| {
                                ms.iter()
                                    .find(|m| m.name == name && short_ref(&m.data) == d)
                                    .map(|m| m.value)
                            })
                            .collect(),
                        label: d,
                    })
                    .collect();
                (name, series)
            })
            .collect();
        ChartData(charts)
    }

    /// The SVG charts, with `current` (a version) marked; metrics with one point get none.
    pub(super) fn draw(&self, doc: &AssetDoc, current: Option<&str>) -> Vec<String> {
        let highlight = current.and_then(|c| doc.order.iter().position(|v| v == c));
        self.0
            .iter()
            .enumerate()
            .filter(|(_, (_, series))| {
                series
                    .iter()
                    .map(|s| s.values.iter().flatten().count())
                    .sum::<usize>()
                    > 1
            })
            .map(|(i, (name, series))| {
                svg::metric_chart(&format!("chart-{i}"), name, &doc.order, series, highlight)
            })
            .collect()
    }
}
