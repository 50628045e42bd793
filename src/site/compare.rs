//! The compare page of an asset: its versions side by side, section by section, changed cells
//! marked (any two can be picked with JavaScript; without it all stay side by side).

use super::Site;
use super::charts::metrics;
use super::links::{
    asset_href, compare_href, flatten, human_size, ref_label, short_digest, short_ref, version_href,
};
use super::svg::fmt_value;
use crate::publish::index::CanonicalJson;
use crate::publish::index::{AssetDoc, VersionDoc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

impl Site<'_> {
    pub(super) fn compare(&self, doc: &AssetDoc, charts: &[String]) -> Result<String, String> {
        let id = &doc.id;
        let shown: Vec<&String> = doc
            .order
            .iter()
            .rev()
            .take(COMPARE_COLUMNS)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let columns: Vec<Value> = shown
            .iter()
            .map(|v| serde_json::json!({ "version": v, "href": version_href(id, v), "stages": self.stages_of(doc, v) }))
            .collect();
        let mut sections = Vec::new();
        let mut section = |title: &str, rows: BTreeMap<String, Vec<String>>| {
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|(label, texts)| {
                    let cells: Vec<Value> = texts
                        .iter()
                        .enumerate()
                        .map(|(i, t)| serde_json::json!({ "text": t, "changed": i > 0 && texts[i - 1] != *t }))
                        .collect();
                    serde_json::json!({ "label": label, "cells": cells })
                })
                .collect();
            if !rows.is_empty() {
                sections.push(serde_json::json!({ "title": title, "rows": rows }));
            }
        };
        let table =
            |f: &dyn Fn(&VersionDoc) -> BTreeMap<String, String>| -> BTreeMap<String, Vec<String>> {
                let per: Vec<BTreeMap<String, String>> =
                    shown.iter().map(|v| f(&doc.versions[*v])).collect();
                let keys: BTreeSet<&String> = per.iter().flat_map(|m| m.keys()).collect();
                keys.into_iter()
                    .map(|k| {
                        (
                            k.clone(),
                            per.iter()
                                .map(|m| m.get(k).cloned().unwrap_or_else(|| "—".into()))
                                .collect(),
                        )
                    })
                    .collect()
            };
        section(
            "Identity",
            table(&|v| BTreeMap::from([("digest".to_string(), short_digest(&v.digest))])),
        );
        section(
            "Spec",
            table(&|v| {
                let mut flat = BTreeMap::new();
                flatten("", &v.spec.value(), &mut flat);
                for k in ["name", "version", "$schema", "description"] {
                    flat.remove(k);
                }
                flat
            }),
        );
        let lineage_part = |v: &VersionDoc, key: &str| -> BTreeMap<String, String> {
            let mut flat = BTreeMap::new();
            if let Some(x) = v.lineage.as_ref().and_then(|l| l.get(key)) {
                flatten("", &x, &mut flat);
            }
            flat
        };
        section("Parameters", table(&|v| lineage_part(v, "parameters")));
        section(
            "Metrics",
            table(&|v| {
                metrics(v)
                    .into_iter()
                    .map(|m| {
                        (
                            format!("{} · {} · {}", m.name, short_ref(&m.data), m.split),
                            fmt_value(m.value),
                        )
                    })
                    .collect()
            }),
        );
        section(
            "Environment, component and data",
            table(&|v| {
                let mut out = BTreeMap::new();
                if let Some(l) = v.lineage.as_ref().map(CanonicalJson::value) {
                    for key in ["environment", "component"] {
                        if let Some(r) = l.get(key) {
                            out.insert(key.to_string(), ref_label(r).0);
                        }
                    }
                    for item in l
                        .get("data")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(r) = item.get("ref") {
                            let role = item.get("role").and_then(Value::as_str).unwrap_or("data");
                            out.insert(format!("data ({role})"), ref_label(r).0);
                        }
                    }
                }
                out
            }),
        );
        section(
            "Files",
            table(&|v| {
                v.files
                    .iter()
                    .map(|f| {
                        (
                            f.path.clone(),
                            format!("{} · {}", &f.sha256[..10], human_size(f.size)),
                        )
                    })
                    .collect()
            }),
        );
        // Preselected pair: the newest version against the one in the last stage (or the one
        // before it).
        let last = shown.len().saturating_sub(1);
        let prod = self
            .stages
            .last()
            .and_then(|s| doc.stages.get(s))
            .and_then(|v| shown.iter().position(|x| *x == v));
        let default_b = prod
            .filter(|p| *p != last)
            .unwrap_or(last.saturating_sub(1));
        let cmp = serde_json::json!({
            "id": id, "asset_href": asset_href(id), "columns": columns, "span": shown.len() + 1,
            "default_a": last, "default_b": default_b,
            "sections": sections, "charts": charts,
        });
        self.page(
            "compare.html",
            &compare_href(id),
            serde_json::json!({ "cmp": cmp }),
        )
    }
}

/// Versions shown side by side on a compare page (the newest ones).
pub(super) const COMPARE_COLUMNS: usize = 20;
