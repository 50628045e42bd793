//! The home page: counts per kind, search with facets, recent events, which version each
//! workspace runs, and the first assets of each kind. Every list on it is cut short, with a
//! link to the split pages that hold all of it (browse pages, `workspaces.html`), so the home
//! page stays the same size however large the registry.

use super::browse::{Facet, facets_view};
use super::feeds::Event;
use super::links::{
    asset_href, browse_href, chunks, page_href, pager, singular, title_case, version_href,
};
use super::{AssetCard, Site};
use crate::publish::index::AssetDoc;
use serde_json::Value;

/// Events on the home page and in the feeds.
pub(super) const HOME_EVENTS: usize = 15;

/// Assets of each kind on the home page; the kind's browse pages list them all.
pub(super) const HOME_ASSETS: usize = 12;

/// Rows of the workspace matrix on the home page, and on each of its own pages.
pub(super) const HOME_MATRIX: usize = 20;
pub(super) const MATRIX_PAGE: usize = 200;

/// Where the whole workspace matrix is.
pub(super) const MATRIX_HREF: &str = "workspaces.html";

impl Site<'_> {
    pub(super) fn home(&self, facets: &[Facet], events: &[Event]) -> Result<String, String> {
        let mut groups = Vec::new();
        let mut counts = Vec::new();
        for kind in ["models", "components", "environments", "data"] {
            let prefix = format!("{kind}/");
            let count = self
                .docs
                .keys()
                .filter(|id| id.starts_with(&prefix))
                .count();
            if count == 0 {
                continue;
            }
            let assets: Vec<AssetCard> = self
                .docs
                .iter()
                .filter(|(id, _)| id.starts_with(&prefix))
                .take(HOME_ASSETS)
                .map(|(_, d)| self.card(d))
                .collect();
            let label = if count == 1 { singular(kind) } else { kind };
            let href = browse_href("kind", singular(kind));
            counts.push(serde_json::json!({ "label": label, "count": count, "href": href }));
            groups.push(serde_json::json!({
                "label": title_case(kind), "folder": kind, "assets": assets,
                "more": (count > HOME_ASSETS).then(|| serde_json::json!({ "count": count, "href": href })),
            }));
        }
        let staged = self.staged();
        let rows: Vec<Value> = staged
            .iter()
            .take(HOME_MATRIX)
            .map(|d| self.matrix_row(d))
            .collect();
        let versions: usize = self.docs.values().map(|d| d.versions.len()).sum();
        let home = serde_json::json!({
            "description": self.description,
            "counts": counts,
            "versions": versions,
            "versions_word": if versions == 1 { "version" } else { "versions" },
            "facets": facets_view(facets),
            "matrix": {
                "workspaces": self.workspaces,
                "rows": if self.workspaces.is_empty() { Vec::new() } else { rows },
                "more": (staged.len() > HOME_MATRIX).then(|| serde_json::json!({ "count": staged.len(), "href": MATRIX_HREF })),
            },
            "events": events.iter().take(HOME_EVENTS).collect::<Vec<_>>(),
            "groups": groups,
        });
        self.page(
            "home.html",
            "index.html",
            serde_json::json!({ "home": home }),
        )
    }

    /// Assets with a version in some stage: the rows of the workspace matrix.
    fn staged(&self) -> Vec<&AssetDoc> {
        self.docs
            .values()
            .filter(|d| !d.stages.is_empty())
            .map(|d| &**d)
            .collect()
    }

    fn matrix_row(&self, d: &AssetDoc) -> Value {
        let cells: Vec<Value> = self
            .workspaces
            .iter()
            .map(|w| match d.stages.get(&w.stage) {
                Some(v) => serde_json::json!({ "version": v, "href": version_href(&d.id, v) }),
                None => Value::Null,
            })
            .collect();
        serde_json::json!({ "id": d.id, "href": asset_href(&d.id), "cells": cells })
    }

    /// The whole workspace matrix, in pages of [`MATRIX_PAGE`] rows, when the home page cannot
    /// hold it; their paths.
    pub(super) fn matrix_pages(
        &self,
        put: &(dyn Fn(String, String) -> Result<String, String> + Sync),
    ) -> Result<Vec<String>, String> {
        let staged = self.staged();
        if self.workspaces.is_empty() || staged.len() <= HOME_MATRIX {
            return Ok(Vec::new());
        }
        let split = chunks(&staged, MATRIX_PAGE);
        let mut pages = Vec::new();
        for (n, part) in split.iter().enumerate() {
            let rows: Vec<Value> = part.iter().map(|d| self.matrix_row(d)).collect();
            let href = page_href(MATRIX_HREF, n + 1);
            let matrix = serde_json::json!({ "workspaces": self.workspaces, "rows": rows, "total": staged.len() });
            let html = self.page(
                "workspaces.html",
                &href,
                serde_json::json!({ "matrix": matrix, "pager": pager(MATRIX_HREF, n + 1, split.len()) }),
            )?;
            pages.push(put(href, html)?);
        }
        Ok(pages)
    }
}
