//! Where each page lives (every link relative), and the small formatting pages share.

use super::svg::fmt_value;
use crate::publish::hash;
use crate::publish::index::AssetDoc;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) fn asset_href(id: &str) -> String {
    format!("{id}/index.html")
}

pub(super) fn version_href(id: &str, version: &str) -> String {
    format!("{id}/{version}/index.html")
}

pub(super) fn compare_href(id: &str) -> String {
    format!("compare/{id}.html")
}

/// Browse pages are named by a readable slug and a short hash of the exact value.
pub(super) fn browse_href(facet: &str, value: &str) -> String {
    let slug: String = value
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    format!(
        "browse/{facet}-{slug}-{}.html",
        &hash::sha256(value.as_bytes())[..8]
    )
}

/// `../` once per folder level of `path`, so that every link is relative.
pub(super) fn root_of(path: &str) -> String {
    "../".repeat(path.matches('/').count())
}

pub(super) fn kind_folder(doc: &AssetDoc) -> String {
    doc.id.split('/').next().unwrap_or_default().to_string()
}

pub(super) fn singular(folder: &str) -> &str {
    match folder {
        "models" => "model",
        "components" => "component",
        "environments" => "environment",
        other => other,
    }
}

pub(super) fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Only http(s) links become `href`s; anything else written in a manifest stays text.
pub(super) fn is_web(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// A JSON value as text: strings as they are, lists joined, other values as compact JSON.
pub(super) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), plain(other));
        }
    }
}

pub(super) fn short_digest(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

pub(super) fn signed(d: f64) -> String {
    let v = fmt_value(d);
    if d > 0.0 && v != "0" {
        format!("+{v}")
    } else {
        v
    }
}

pub(super) fn human_size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n => format!("{:.1} GiB", n as f64 / (1 << 30) as f64),
    }
}

/// A lineage or reference value as (label, link to its version page when pinned).
pub(super) fn ref_label(v: &Value) -> (String, Option<String>) {
    match v {
        Value::Object(m) => match (
            m.get("id").and_then(Value::as_str),
            m.get("version").and_then(Value::as_str),
        ) {
            (Some(id), Some(ver)) => (format!("{id}@{ver}"), Some(version_href(id, ver))),
            _ => (plain(v), None),
        },
        other => (plain(other), None),
    }
}

/// `data/credit-sample@1` → `credit-sample@1`.
pub(super) fn short_ref(label: &str) -> String {
    label
        .split_once('/')
        .map(|(_, r)| r.to_string())
        .unwrap_or_else(|| label.to_string())
}

/// Page `n` (from 1) of a page split in several: `x.html`, then `x-2.html`, `x-3.html`.
pub(super) fn page_href(first: &str, n: usize) -> String {
    if n <= 1 {
        return first.to_string();
    }
    let stem = first.strip_suffix(".html").unwrap_or(first);
    format!("{stem}-{n}.html")
}

/// The links between the pages of a split page: every page is linked from every other, so
/// each item is two clicks from the first page (at the sizes mlreg is built for, a list of
/// 100,000 items has 1,000 pages: 40 KB of links).
#[derive(serde::Serialize)]
pub(super) struct Pager {
    pub(super) current: usize,
    pub(super) count: usize,
    pub(super) pages: Vec<PageLink>,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
}

#[derive(serde::Serialize)]
pub(super) struct PageLink {
    pub(super) n: usize,
    pub(super) href: String,
}

/// The pager of page `current` of `count` pages, the first at `first`; `None` for one page.
pub(super) fn pager(first: &str, current: usize, count: usize) -> Option<Pager> {
    (count > 1).then(|| Pager {
        current,
        count,
        pages: (1..=count)
            .map(|n| PageLink {
                n,
                href: page_href(first, n),
            })
            .collect(),
        prev: (current > 1).then(|| page_href(first, current - 1)),
        next: (current < count).then(|| page_href(first, current + 1)),
    })
}

/// `items` cut into pages of `size`, at least one (empty) page.
pub(super) fn chunks<T>(items: &[T], size: usize) -> Vec<&[T]> {
    if items.is_empty() {
        return vec![&items[..0]];
    }
    items.chunks(size).collect()
}
