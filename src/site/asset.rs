//! The page of one asset: stages and the workspaces behind them, versions with digests and key
//! metrics, the promotion timeline, metric charts. Versions and timeline are split in pages of
//! [`ASSET_PAGE`] entries (newest first), so that an asset's pages stay small however many
//! versions it has.

use super::Site;
use super::charts::ASSET_WINDOW;
use super::charts::metrics;
use super::links::{
    asset_href, browse_href, chunks, compare_href, is_web, kind_folder, page_href, pager,
    short_digest, short_ref, title_case, version_href,
};
use super::svg::fmt_value;
use crate::publish::index::AssetDoc;
use serde_json::Value;

/// Versions, and timeline entries, on one page of an asset.
pub(super) const ASSET_PAGE: usize = 100;

impl Site<'_> {
    /// The asset's pages, as (path, HTML): the first at `<id>/index.html` with the charts.
    pub(super) fn asset(
        &self,
        doc: &AssetDoc,
        charts: &[String],
    ) -> Result<Vec<(String, String)>, String> {
        let id = &doc.id;
        let stages: Vec<Value> = self
            .stages
            .iter()
            .map(|s| {
                let v = doc.stages.get(s);
                let ws: Vec<&str> = self.workspaces.iter().filter(|w| &w.stage == s).map(|w| w.name.as_str()).collect();
                serde_json::json!({ "stage": s, "version": v, "href": v.map(|v| version_href(id, v)), "workspaces": ws })
            })
            .collect();
        let columns = metric_columns(doc);
        let versions: Vec<Value> = doc
            .order
            .iter()
            .rev()
            .map(|v| {
                let vd = &doc.versions[v];
                let ms = metrics(vd);
                let cells: Vec<String> = columns
                    .iter()
                    .map(|(name, data)| ms.iter().find(|m| &m.name == name && &m.data == data).map(|m| fmt_value(m.value)).unwrap_or_default())
                    .collect();
                serde_json::json!({
                    "version": v, "href": version_href(id, v), "latest": doc.latest.as_deref() == Some(v),
                    "stages": self.stages_of(doc, v), "digest": vd.digest, "digest_short": short_digest(&vd.digest),
                    "metrics": cells, "deprecated": vd.deprecated.is_some(),
                })
            })
            .collect();
        let timeline: Vec<Value> = doc
            .history
            .iter()
            .rev()
            .map(|h| {
                serde_json::json!({
                    "date": h.date, "stage": h.stage, "version": h.version,
                    "href": h.version.as_ref().map(|v| version_href(id, v)),
                    "by": h.by, "approved_by": h.approved_by, "reason": h.reason, "skip": h.skip,
                    "reference": h.reference, "reference_href": h.reference.as_ref().filter(|r| is_web(r)),
                })
            })
            .collect();
        let deprecated = doc.deprecated.as_ref().map(|d| {
            serde_json::json!({
                "reason": d.reason, "date": d.date,
                "replaced_by": d.replaced_by.as_ref().map(|p| serde_json::json!({ "label": format!("{}@{}", p.id, p.version), "href": version_href(&p.id, &p.version) })),
            })
        });
        let first = asset_href(id);
        let (versions, timeline) = (chunks(&versions, ASSET_PAGE), chunks(&timeline, ASSET_PAGE));
        let count = versions.len().max(timeline.len());
        let mut pages = Vec::new();
        for n in 1..=count {
            let part =
                |split: &[&[Value]]| split.get(n - 1).map(|p| p.to_vec()).unwrap_or_default();
            let asset = serde_json::json!({
                "id": id, "name": doc.name, "title": doc.display_name.clone().unwrap_or_else(|| doc.name.clone()),
                "kind_label": title_case(&kind_folder(doc)), "kind_href": browse_href("kind", &doc.kind),
                "description": doc.description, "owners": doc.owners,
                "tags": doc.tags.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
                "latest": doc.latest.as_ref().map(|v| serde_json::json!({ "version": v, "href": version_href(id, v) })),
                "deprecated": deprecated, "stages": stages, "versions": part(&versions),
                "version_count": doc.order.len(),
                "metric_columns": columns.iter().map(|(n, d)| format!("{n} · {}", short_ref(d))).collect::<Vec<_>>(),
                "timeline": part(&timeline),
                "charts": if n == 1 { charts } else { &[] },
                "charts_span": (doc.order.len() > ASSET_WINDOW).then(|| format!("the newest {ASSET_WINDOW} versions")),
                "compare_href": (doc.versions.len() > 1).then(|| compare_href(id)),
            });
            let href = page_href(&first, n);
            let html = self.page(
                "asset.html",
                &href,
                serde_json::json!({ "asset": asset, "pager": pager(&first, n, count) }),
            )?;
            pages.push((href, html));
        }
        Ok(pages)
    }
}

/// The first two (metric, data) pairs of the newest version: the key metrics of the versions table.
pub(super) fn metric_columns(doc: &AssetDoc) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in doc.order.iter().rev() {
        for m in metrics(&doc.versions[v]) {
            let key = (m.name, m.data);
            if !out.contains(&key) && out.len() < 2 {
                out.push(key);
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}
