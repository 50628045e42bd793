//! Metrics out of lineage documents, and the lines of each metric's chart across versions. A
//! chart draws a bounded window of versions (a version's neighbours on its page, the newest on
//! the asset's), so pages stay the same size however many versions an asset has.

use super::links::{ref_label, short_ref};
use super::svg::{self, Series};
use crate::publish::index::{AssetDoc, VersionDoc};
use serde_json::Value;
use std::collections::BTreeSet;
use std::ops::Range;

/// Versions a version page's charts draw: the version and its neighbours.
pub(super) const VERSION_WINDOW: usize = 20;

/// Versions the asset and compare pages' charts draw: the newest.
pub(super) const ASSET_WINDOW: usize = 100;

/// The window of `size` positions out of `len`: centred on `around`, else the last ones.
pub(super) fn window(len: usize, around: Option<usize>, size: usize) -> Range<usize> {
    let start = match around {
        Some(i) => i.saturating_sub(size / 2).min(len.saturating_sub(size)),
        None => len.saturating_sub(size),
    };
    start..(start + size).min(len)
}

pub(super) struct MetricRow {
    pub(super) name: String,
    /// The data it was measured on, as `id@version` (or the text written, if not pinned).
    pub(super) data: String,
    pub(super) href: Option<String>,
    pub(super) split: String,
    pub(super) value: f64,
}

pub(super) fn metrics(v: &VersionDoc) -> Vec<MetricRow> {
    let metrics = v.lineage.as_ref().and_then(|l| l.get("metrics"));
    let Some(items) = metrics.as_ref().and_then(Value::as_array) else {
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

    /// The SVG charts of a window of versions: around `current` (marked) on a version's page,
    /// the newest otherwise. Metrics with fewer than two points in the window get none.
    pub(super) fn draw(&self, doc: &AssetDoc, current: Option<&str>) -> Vec<String> {
        let at = current.and_then(|c| doc.order.iter().position(|v| v == c));
        let size = if current.is_some() {
            VERSION_WINDOW
        } else {
            ASSET_WINDOW
        };
        let shown = window(doc.order.len(), at, size);
        let highlight = at.map(|i| i - shown.start);
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, (name, series))| {
                let series: Vec<Series> = series
                    .iter()
                    .map(|s| Series {
                        label: s.label.clone(),
                        values: s.values[shown.clone()].to_vec(),
                    })
                    .filter(|s| s.values.iter().any(Option::is_some))
                    .collect();
                let points: usize = series
                    .iter()
                    .map(|s| s.values.iter().flatten().count())
                    .sum();
                (points > 1).then(|| {
                    svg::metric_chart(
                        &format!("chart-{i}"),
                        name,
                        &doc.order[shown.clone()],
                        &series,
                        highlight,
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn windows_stay_within_bounds_and_keep_their_size() {
        assert_eq!(window(5, Some(2), 20), 0..5);
        assert_eq!(window(100, Some(0), 20), 0..20);
        assert_eq!(window(100, Some(50), 20), 40..60);
        assert_eq!(window(100, Some(99), 20), 80..100);
        assert_eq!(window(100, None, 20), 80..100);
        assert_eq!(window(0, None, 20), 0..0);
    }
}
