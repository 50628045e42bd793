//! The home page: counts per kind, search with facets, recent events, which version each
//! workspace runs, and every asset by kind.

use super::browse::{Facet, facets_view};
use super::feeds::Event;
use super::links::{asset_href, browse_href, singular, title_case, version_href};
use super::{AssetCard, Site};
use serde_json::Value;

impl Site<'_> {
    pub(super) fn home(&self, facets: &[Facet], events: &[Event]) -> Result<String, String> {
        let mut groups = Vec::new();
        let mut counts = Vec::new();
        for kind in ["models", "components", "environments", "data"] {
            let assets: Vec<AssetCard> = self
                .docs
                .iter()
                .filter(|(id, _)| id.starts_with(&format!("{kind}/")))
                .map(|(_, d)| self.card(d))
                .collect();
            if assets.is_empty() {
                continue;
            }
            let label = if assets.len() == 1 {
                singular(kind)
            } else {
                kind
            };
            counts.push(serde_json::json!({ "label": label, "count": assets.len(), "href": browse_href("kind", singular(kind)) }));
            groups.push(
                serde_json::json!({ "label": title_case(kind), "folder": kind, "assets": assets }),
            );
        }
        let rows: Vec<Value> = self
            .docs
            .iter()
            .filter(|(_, d)| !d.stages.is_empty())
            .map(|(id, d)| {
                let cells: Vec<Value> = self
                    .workspaces
                    .iter()
                    .map(|w| match d.stages.get(&w.stage) {
                        Some(v) => serde_json::json!({ "version": v, "href": version_href(id, v) }),
                        None => Value::Null,
                    })
                    .collect();
                serde_json::json!({ "id": id, "href": asset_href(id), "cells": cells })
            })
            .collect();
        let versions: usize = self.docs.values().map(|d| d.versions.len()).sum();
        let home = serde_json::json!({
            "description": self.description,
            "counts": counts,
            "versions": versions,
            "versions_word": if versions == 1 { "version" } else { "versions" },
            "facets": facets_view(facets),
            "matrix": { "workspaces": self.workspaces, "rows": if self.workspaces.is_empty() { Vec::new() } else { rows } },
            "events": events.iter().take(HOME_EVENTS).collect::<Vec<_>>(),
            "groups": groups,
        });
        self.page(
            "home.html",
            "index.html",
            serde_json::json!({ "home": home }),
        )
    }
}

/// Events on the home page and in the feeds.
pub(super) const HOME_EVENTS: usize = 15;
