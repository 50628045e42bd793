//! The browsable site, built from the same documents as the index. This module owns the tera
//! setup (templates embedded, overridable block by block with `--templates DIR`), what every
//! page shares, and [`render`], which makes every page: one module per page family (`home`,
//! `asset`, `version`, `compare`, `browse`), plus the `search` shards, `feeds` and
//! sitemap, `charts` and [`svg`] drawings, and card [`markdown`]. Pages see view structs made
//! from the asset documents, never the domain types. Produces bytes for the writer; writes
//! nothing itself.

mod asset;
mod browse;
mod charts;
mod compare;
mod feeds;
mod home;
mod links;
pub mod markdown;
mod search;
pub mod svg;
mod version;

use crate::publish::index::AssetDoc;
use crate::publish::output::{Content, OutputSet, Writer};
use crate::publish::plan::{Docs, Planned};
use crate::publish::{cache, hash};
use browse::{facets, facets_view};
use charts::ChartData;
use feeds::{events, feeds, sitemap};
use links::{asset_href, browse_href, compare_href, root_of, singular, title_case};
use rayon::prelude::*;
use search::search_index;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The default templates, compiled in. Users override any of them (or extend `mlreg/<name>`
/// and override single blocks) with `--templates DIR`.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("asset.html", include_str!("../../templates/asset.html")),
    ("version.html", include_str!("../../templates/version.html")),
    ("compare.html", include_str!("../../templates/compare.html")),
    ("list.html", include_str!("../../templates/list.html")),
    ("search.html", include_str!("../../templates/search.html")),
    ("404.html", include_str!("../../templates/404.html")),
    ("pager.html", include_str!("../../templates/pager.html")),
    ("matrix.html", include_str!("../../templates/matrix.html")),
    (
        "workspaces.html",
        include_str!("../../templates/workspaces.html"),
    ),
];
const CSS: &str = include_str!("../../templates/static/style.css");
const JS: &str = include_str!("../../templates/static/search.js");
const ICON: &str = include_str!("../../templates/static/favicon.svg");

/// Every template by name: the embedded ones, then the user's, which replace the defaults of
/// the same name.
fn template_sources(user: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let mut all: Vec<(String, String)> = Vec::new();
    for (name, body) in TEMPLATES {
        all.push((format!("mlreg/{name}"), body.to_string()));
        all.push((name.to_string(), body.to_string()));
    }
    if let Some(dir) = user {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read templates `{}`: {e}", dir.display()))?;
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if !name.ends_with(".html") {
                continue;
            }
            let body = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            all.retain(|(n, _)| *n != name);
            all.push((name, body));
        }
    }
    Ok(all)
}

#[derive(Serialize, Clone)]
struct SiteView {
    name: String,
    css: String,
    js: String,
    icon: String,
    search: String,
    kinds: Vec<Link>,
}

#[derive(Serialize, Clone)]
struct Link {
    label: String,
    href: String,
}

#[derive(Serialize, Clone)]
struct AssetCard {
    title: String,
    href: String,
    description: Option<String>,
    latest: Option<String>,
    stages: Vec<StageVersion>,
    deprecated: bool,
}

#[derive(Serialize, Clone)]
struct StageVersion {
    stage: String,
    version: String,
}

/// Everything pages need, computed once.
struct Site<'a> {
    docs: &'a Docs,
    /// The complete list of what uses a version, by `<id>@<version>`, where its document holds
    /// only the first entries.
    used_by: &'a BTreeMap<String, Vec<String>>,
    stages: Vec<String>,
    registry: String,
    base_url: Option<String>,
    description: Option<String>,
    workspaces: Vec<crate::publish::index::WorkspaceInfo>,
    source: &'a Path,
    view: SiteView,
    tera: tera::Tera,
}

/// Render every page into `planned.set`.
pub fn render(
    source: &Path,
    planned: &Planned,
    writer: &Writer,
    user_templates: Option<&Path>,
) -> Result<usize, String> {
    let sources = template_sources(user_templates)?;
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(sources.clone())
        .map_err(|e| format!("templates: {e}"))?;
    let css = format!("static/mlreg-{}.css", &hash::sha256(CSS.as_bytes())[..16]);
    let js = format!("static/search-{}.js", &hash::sha256(JS.as_bytes())[..16]);
    let icon = format!("static/icon-{}.svg", &hash::sha256(ICON.as_bytes())[..16]);
    let mut out = OutputSet::default();
    out.bytes(css.clone(), CSS.as_bytes().to_vec());
    out.bytes(js.clone(), JS.as_bytes().to_vec());
    out.bytes(icon.clone(), ICON.as_bytes().to_vec());
    out.bytes(".nojekyll", Vec::new());
    let docs = &planned.docs;
    let facets = facets(docs, &planned.info.stages);
    search_index(docs, &planned.info.stages, &facets, &mut out);
    let kinds = ["models", "components", "environments", "data"]
        .iter()
        .filter(|k| docs.keys().any(|id| id.starts_with(&format!("{k}/"))))
        .map(|k| Link {
            label: title_case(k),
            href: browse_href("kind", singular(k)),
        })
        .collect();
    let site = Site {
        docs,
        used_by: &planned.used_by,
        stages: planned.info.stages.clone(),
        registry: planned.info.name.clone(),
        base_url: planned.info.base_url.clone(),
        description: planned.info.description.clone(),
        workspaces: planned.info.workspaces.clone(),
        source,
        view: SiteView {
            name: planned.info.name.clone(),
            css,
            js,
            icon,
            search: search::MANIFEST.to_string(),
            kinds,
        },
        tera,
    };
    // Pages go to the writer as soon as they are rendered; only their paths are kept.
    let put = |path: String, html: String| -> Result<String, String> {
        writer.put(&path, &Content::Bytes(html.into_bytes().into()))?;
        Ok(path)
    };
    let mut pages: Vec<String> = Vec::new();
    let events = events(docs);
    pages.push(put("index.html".into(), site.home(&facets, &events)?)?);
    let search_page = site.page(
        "search.html",
        "search.html",
        serde_json::json!({ "facets": facets_view(&facets) }),
    )?;
    pages.push(put("search.html".into(), search_page)?);
    // What every asset's pages are made from besides the asset's own documents.
    let global = site.key(&sources);
    // Asset, compare and version pages are independent: render them in parallel, except those
    // the build cache says are in the folder as this build would make them.
    let per_asset: Vec<Result<Vec<String>, String>> = docs
        .par_iter()
        .map(|(id, doc)| {
            let key = writer
                .reuses_pages()
                .then(|| site.asset_key(&global, doc, &planned.doc_paths));
            if let Some(key) = &key
                && let Some(paths) = writer.reuse_pages(id, key)
            {
                return Ok(paths);
            }
            let done = site.asset_pages(doc, &put)?;
            if let Some(key) = &key {
                writer.remember_pages(id, key, &done);
            }
            Ok(done)
        })
        .collect();
    for r in per_asset {
        pages.extend(r?);
    }
    pages.extend(site.browse_pages(&facets, &put)?);
    pages.extend(site.matrix_pages(&put)?);
    let not_found_root = site.base_url.clone().unwrap_or_default();
    put(
        "404.html".into(),
        site.page_with_root("404.html", &not_found_root, serde_json::json!({}))?,
    )?;
    feeds(&site, &events, &mut out);
    if let Some(base) = &site.base_url {
        pages.sort();
        sitemap(base, &pages, &mut out);
    }
    writer.put_all(&out)?;
    Ok(pages.len() + 1)
}

impl Site<'_> {
    /// Every page of one asset: its own, the compare page, its versions'; their paths.
    fn asset_pages(
        &self,
        doc: &AssetDoc,
        put: &(dyn Fn(String, String) -> Result<String, String> + Sync),
    ) -> Result<Vec<String>, String> {
        let data = ChartData::of(doc);
        let charts = data.draw(doc, None);
        let mut rendered = self.asset(doc, &charts)?;
        if doc.versions.len() > 1 {
            rendered.push((compare_href(&doc.id), self.compare(doc, &charts)?));
        }
        let mut done: Vec<String> = rendered
            .into_iter()
            .map(|(path, html)| put(path, html))
            .collect::<Result<_, String>>()?;
        let versions: Vec<Vec<String>> = doc
            .versions
            .par_iter()
            .map(|(version, v)| {
                self.version(doc, version, v, &data)?
                    .into_iter()
                    .map(|(path, html)| put(path, html))
                    .collect::<Result<Vec<String>, String>>()
            })
            .collect::<Result<_, String>>()?;
        done.extend(versions.into_iter().flatten());
        Ok(done)
    }

    /// The key of what every asset's pages are made from besides the asset: the running
    /// mlreg, the templates, and the site's settings.
    fn key(&self, templates: &[(String, String)]) -> String {
        let settings = serde_json::json!({
            "view": self.view, "stages": self.stages, "registry": self.registry,
            "base_url": self.base_url, "workspaces": self.workspaces,
        });
        let settings = hash::canonical_json(&settings);
        let exe = cache::executable();
        let mut parts: Vec<&[u8]> = vec![exe.as_bytes(), &settings];
        for (name, body) in templates {
            parts.extend([name.as_bytes(), body.as_bytes()]);
        }
        cache::key(parts)
    }

    /// The key of everything one asset's pages are made from: the site's key, the asset's
    /// document, and what its cards link to in other assets.
    fn asset_key(
        &self,
        global: &str,
        doc: &AssetDoc,
        doc_paths: &BTreeMap<String, String>,
    ) -> String {
        // The document's content-addressed path names the SHA-256 of its bytes, as planned
        // (hashed here only for a document the plan did not name).
        let named = match doc_paths.get(&doc.id) {
            Some(path) => path.clone(),
            None => hash::sha256(&doc.to_bytes()),
        };
        let bytes = named.as_bytes();
        let links = self.card_links(doc);
        let mut parts: Vec<&[u8]> = vec![global.as_bytes(), bytes, links.as_bytes()];
        // The complete lists of users where the document holds only their first entries.
        let users: Vec<&Vec<String>> = doc
            .versions
            .keys()
            .filter_map(|v| self.used_by.get(&format!("{}@{v}", doc.id)))
            .collect();
        let users = serde_json::to_vec(&users).expect("lists serialize");
        parts.push(&users);
        cache::key(parts)
    }

    fn page(&self, template: &str, path: &str, extra: Value) -> Result<String, String> {
        self.page_with_root(template, &root_of(path), extra)
    }

    fn page_with_root(&self, template: &str, root: &str, extra: Value) -> Result<String, String> {
        let mut ctx = tera::Context::new();
        ctx.insert("root", root);
        ctx.insert("site", &self.view);
        if let Value::Object(m) = extra {
            for (k, v) in m {
                ctx.insert(k, &v);
            }
        }
        self.tera
            .render(template, &ctx)
            .map_err(|e| format!("rendering {template}: {e}"))
    }
}

impl Site<'_> {
    fn card(&self, doc: &AssetDoc) -> AssetCard {
        AssetCard {
            title: doc.id.clone(),
            href: asset_href(&doc.id),
            description: doc
                .description
                .as_deref()
                .map(crate::publish::index::summary),
            latest: doc.latest.clone(),
            stages: ordered_stages(doc, &self.stages)
                .map(|(s, v)| StageVersion {
                    stage: s.to_string(),
                    version: v.to_string(),
                })
                .collect(),
            deprecated: doc.deprecated.is_some(),
        }
    }

    /// The stages `version` is in, in the registry's order (dev, test, prod).
    fn stages_of(&self, doc: &AssetDoc, version: &str) -> Vec<String> {
        ordered_stages(doc, &self.stages)
            .filter(|(_, v)| *v == version)
            .map(|(s, _)| s.to_string())
            .collect()
    }
}

/// The stages of an asset that hold a version, as (stage, version), in the registry's order
/// rather than the documents' alphabetical one.
fn ordered_stages<'d>(
    doc: &'d AssetDoc,
    stages: &'d [String],
) -> impl Iterator<Item = (&'d str, &'d str)> {
    stages
        .iter()
        .filter_map(|s| Some((s.as_str(), doc.stages.get(s)?.as_str())))
}
