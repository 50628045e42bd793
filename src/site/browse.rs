//! Facets (kind, stage, tag, license, task) and the browse pages of each value: the site's
//! navigation without JavaScript, and the filters of search. Lists are split in pages of
//! [`LIST_PAGE`] assets, and a facet with many values shows its [`FACET_OPTIONS`] most used in
//! filters, with every value on its own split page: no page grows with the registry.

use super::links::{browse_href, chunks, page_href, pager};
use super::{AssetCard, Site};
use crate::publish::plan::Docs;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) struct Facet {
    pub(super) name: String,
    pub(super) label: String,
    /// Value → asset ids.
    pub(super) values: BTreeMap<String, Vec<String>>,
}

pub(super) fn facets(docs: &Docs, stages: &[String]) -> Vec<Facet> {
    let mut kind = BTreeMap::<String, Vec<String>>::new();
    let mut stage = BTreeMap::<String, Vec<String>>::new();
    let mut tag = BTreeMap::<String, Vec<String>>::new();
    let mut license = BTreeMap::<String, Vec<String>>::new();
    let mut task = BTreeMap::<String, Vec<String>>::new();
    for (id, d) in docs {
        let add = |m: &mut BTreeMap<String, Vec<String>>, v: String| {
            let ids = m.entry(v).or_default();
            if ids.last() != Some(id) {
                ids.push(id.clone());
            }
        };
        add(&mut kind, d.kind.clone());
        for s in stages.iter().filter(|s| d.stages.contains_key(*s)) {
            add(&mut stage, s.clone());
        }
        for (k, v) in &d.tags {
            add(&mut tag, format!("{k}={v}"));
        }
        if let Some(t) = d.tags.get("task") {
            add(&mut task, t.clone());
        }
        let meta = d
            .latest
            .as_ref()
            .and_then(|l| d.versions[l].card.as_ref())
            .map(|c| &c.meta);
        if let Some(meta) = meta {
            if let Some(l) = meta.get("license").and_then(Value::as_str) {
                add(&mut license, l.to_string());
            }
            if let Some(t) = meta.get("pipeline_tag").and_then(Value::as_str) {
                add(&mut task, t.to_string());
            }
        }
    }
    [
        ("kind", "Kind", kind),
        ("stage", "Stage", stage),
        ("tag", "Tag", tag),
        ("license", "License", license),
        ("task", "Task", task),
    ]
    .into_iter()
    .filter(|(_, _, v)| !v.is_empty())
    .map(|(n, l, values)| Facet {
        name: n.into(),
        label: l.into(),
        values,
    })
    .collect()
}

/// Assets on one browse page.
pub(super) const LIST_PAGE: usize = 100;

/// Values of a facet offered in filters (the most used); the rest are on the facet's pages.
pub(super) const FACET_OPTIONS: usize = 50;

/// Values on one page of a facet's values.
pub(super) const VALUES_PAGE: usize = 500;

/// Where every value of a facet is listed.
pub(super) fn values_href(facet: &str) -> String {
    format!("browse/values-{facet}.html")
}

/// The filters: per facet, its most used values (by number of assets, then by value), sorted
/// by value, and a link to all of them when there are more.
pub(super) fn facets_view(facets: &[Facet]) -> Vec<Value> {
    facets
        .iter()
        .map(|f| {
            let mut top: Vec<(&String, usize)> =
                f.values.iter().map(|(v, ids)| (v, ids.len())).collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            top.truncate(FACET_OPTIONS);
            top.sort();
            let options: Vec<Value> = top
                .into_iter()
                .map(|(v, _)| serde_json::json!({ "value": v, "label": value_label(&f.name, v), "href": browse_href(&f.name, v) }))
                .collect();
            let more = (f.values.len() > FACET_OPTIONS).then(|| {
                serde_json::json!({ "count": f.values.len(), "href": values_href(&f.name) })
            });
            serde_json::json!({ "name": f.name, "label": f.label, "options": options, "more": more })
        })
        .collect()
}

pub(super) fn value_label(facet: &str, value: &str) -> String {
    if facet == "tag" {
        value.replacen('=', ": ", 1)
    } else {
        value.to_string()
    }
}

impl Site<'_> {
    /// The pages of every facet value, listing its assets, and of every facet with more
    /// values than the filters offer; their paths.
    pub(super) fn browse_pages(
        &self,
        facets: &[Facet],
        put: &(dyn Fn(String, String) -> Result<String, String> + Sync),
    ) -> Result<Vec<String>, String> {
        let mut pages = Vec::new();
        for f in facets {
            for (value, ids) in &f.values {
                let title = format!("{}: {}", f.label, value_label(&f.name, value));
                pages.extend(self.list_pages(&title, &browse_href(&f.name, value), ids, put)?);
            }
            if f.values.len() > FACET_OPTIONS {
                let values: Vec<(&String, usize)> =
                    f.values.iter().map(|(v, ids)| (v, ids.len())).collect();
                let first = values_href(&f.name);
                let split = chunks(&values, VALUES_PAGE);
                for (n, part) in split.iter().enumerate() {
                    let items: Vec<Value> = part
                        .iter()
                        .map(|(v, count)| serde_json::json!({ "label": value_label(&f.name, v), "href": browse_href(&f.name, v), "count": count }))
                        .collect();
                    let href = page_href(&first, n + 1);
                    let title = format!("{}: all {} values", f.label, f.values.len());
                    let html = self.page(
                        "list.html",
                        &href,
                        serde_json::json!({ "list": { "title": title, "assets": [], "values": items }, "pager": pager(&first, n + 1, split.len()) }),
                    )?;
                    pages.push(put(href, html)?);
                }
            }
        }
        Ok(pages)
    }

    /// A list of assets split in pages of [`LIST_PAGE`], the first at `first`; their paths.
    pub(super) fn list_pages(
        &self,
        title: &str,
        first: &str,
        ids: &[String],
        put: &(dyn Fn(String, String) -> Result<String, String> + Sync),
    ) -> Result<Vec<String>, String> {
        let split = chunks(ids, LIST_PAGE);
        let mut pages = Vec::new();
        for (n, part) in split.iter().enumerate() {
            let assets: Vec<AssetCard> = part.iter().map(|id| self.card(&self.docs[id])).collect();
            let href = page_href(first, n + 1);
            let html = self.page(
                "list.html",
                &href,
                serde_json::json!({ "list": { "title": title, "assets": assets, "total": ids.len() }, "pager": pager(first, n + 1, split.len()) }),
            )?;
            pages.push(put(href, html)?);
        }
        Ok(pages)
    }
}
