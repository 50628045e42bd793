//! Facets (kind, stage, tag, license, task) and the browse page of each value: the site's
//! navigation without JavaScript, and the filters of search.

use super::links::browse_href;
use super::{AssetCard, Site};
use crate::publish::index::AssetDoc;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) struct Facet {
    pub(super) name: String,
    pub(super) label: String,
    /// Value → asset ids.
    pub(super) values: BTreeMap<String, Vec<String>>,
}

pub(super) fn facets(docs: &BTreeMap<String, AssetDoc>, stages: &[String]) -> Vec<Facet> {
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

pub(super) fn facets_view(facets: &[Facet]) -> Vec<Value> {
    facets
        .iter()
        .map(|f| {
            let options: Vec<Value> = f
                .values
                .keys()
                .map(|v| serde_json::json!({ "value": v, "label": value_label(&f.name, v), "href": browse_href(&f.name, v) }))
                .collect();
            serde_json::json!({ "name": f.name, "label": f.label, "options": options })
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
    /// One page per facet value, listing its assets; their paths.
    pub(super) fn browse_pages(
        &self,
        facets: &[Facet],
        put: &(dyn Fn(String, String) -> Result<String, String> + Sync),
    ) -> Result<Vec<String>, String> {
        let mut pages = Vec::new();
        for f in facets {
            for (value, ids) in &f.values {
                let title = format!("{}: {}", f.label, value_label(&f.name, value));
                let assets: Vec<AssetCard> =
                    ids.iter().map(|id| self.card(&self.docs[id])).collect();
                let href = browse_href(&f.name, value);
                let html = self.page(
                    "list.html",
                    &href,
                    serde_json::json!({ "list": { "title": title, "assets": assets } }),
                )?;
                pages.push(put(href, html)?);
            }
        }
        Ok(pages)
    }
}
