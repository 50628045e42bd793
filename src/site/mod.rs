//! The browsable site, built from the same documents as the index: tera templates (embedded,
//! overridable block by block with `--templates DIR`), view structs made here from the asset
//! documents (templates never see the domain types), charts and lineage graphs as SVG, search
//! shards, feeds and a sitemap. Produces bytes into the output set; writes nothing itself.

pub mod markdown;
pub mod svg;

use crate::publish::hash;
use crate::publish::index::{AssetDoc, VersionDoc};
use crate::publish::output::{Content, OutputSet, Writer};
use crate::publish::plan::Planned;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use svg::{GraphNode, Series, esc, fmt_value};

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
];
const CSS: &str = include_str!("../../templates/static/style.css");
const JS: &str = include_str!("../../templates/static/search.js");
const ICON: &str = include_str!("../../templates/static/favicon.svg");
/// Versions shown side by side on a compare page (the newest ones).
const COMPARE_COLUMNS: usize = 20;
/// Words that name a kind: a search filter, never a shard key.
const KIND_WORDS: [&str; 7] = [
    "model",
    "models",
    "component",
    "components",
    "environment",
    "environments",
    "data",
];
/// Entries a search shard holds before it is split by a longer prefix (about 200 KB).
const SHARD_ENTRIES: usize = 1000;
/// The longest shard key: past it, a shard is as small as the data allows.
const MAX_SHARD_KEY: usize = 8;
/// A token must be in more assets than this (and a tenth of them) to count as too common.
const COMMON_TOKEN_FLOOR: usize = 500;
/// Events on the home page and in the feeds.
const HOME_EVENTS: usize = 15;
const FEED_EVENTS: usize = 50;

/// Load the embedded templates, then the user's, which replace the defaults of the same name.
pub fn templates(user: Option<&Path>) -> Result<tera::Tera, String> {
    let mut tera = tera::Tera::default();
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
    tera.add_raw_templates(all)
        .map_err(|e| format!("templates: {e}"))?;
    Ok(tera)
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
    docs: &'a BTreeMap<String, AssetDoc>,
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
    let tera = templates(user_templates)?;
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
    let search = search_index(docs, &facets, &mut out);
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
            search,
            kinds,
        },
        tera,
    };
    // Pages go to the writer as soon as they are rendered; only their paths are kept.
    let put = |path: String, html: String| -> Result<String, String> {
        writer.put(&path, &Content::Bytes(html.into_bytes()))?;
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
    // Asset, compare and version pages are independent: render them in parallel.
    let per_asset: Vec<Result<Vec<String>, String>> = docs
        .par_iter()
        .map(|(id, doc)| {
            let data = ChartData::of(doc);
            let charts = data.draw(doc, None);
            let mut done = vec![put(asset_href(id), site.asset(doc, &charts)?)?];
            if doc.versions.len() > 1 {
                done.push(put(compare_href(id), site.compare(doc, &charts)?)?);
            }
            let versions: Vec<String> = doc
                .versions
                .par_iter()
                .map(|(version, v)| {
                    put(
                        version_href(id, version),
                        site.version(doc, version, v, &data)?,
                    )
                })
                .collect::<Result<_, String>>()?;
            done.extend(versions);
            Ok(done)
        })
        .collect();
    for r in per_asset {
        pages.extend(r?);
    }
    for f in &facets {
        for (value, ids) in &f.values {
            let title = format!("{}: {}", f.label, value_label(&f.name, value));
            let assets: Vec<AssetCard> = ids.iter().map(|id| card(&docs[id])).collect();
            let href = browse_href(&f.name, value);
            let html = site.page(
                "list.html",
                &href,
                serde_json::json!({ "list": { "title": title, "assets": assets } }),
            )?;
            pages.push(put(href, html)?);
        }
    }
    let not_found_root = site.base_url.clone().unwrap_or_default();
    put(
        "404.html".into(),
        site.page_with_root("404.html", &not_found_root, serde_json::json!({}))?,
    )?;
    feeds(&site, &events, &mut out);
    if let Some(base) = &site.base_url {
        pages.sort();
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
        );
        for u in &pages {
            xml.push_str(&format!(
                "<url><loc>{}</loc></url>\n",
                esc(&format!("{base}{u}"))
            ));
        }
        xml.push_str("</urlset>\n");
        out.bytes("sitemap.xml", xml.into_bytes());
    }
    writer.put_all(&out)?;
    Ok(pages.len() + 1)
}

impl Site<'_> {
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

    fn home(&self, facets: &[Facet], events: &[Event]) -> Result<String, String> {
        let mut groups = Vec::new();
        let mut counts = Vec::new();
        for kind in ["models", "components", "environments", "data"] {
            let assets: Vec<AssetCard> = self
                .docs
                .iter()
                .filter(|(id, _)| id.starts_with(&format!("{kind}/")))
                .map(|(_, d)| card(d))
                .collect();
            if assets.is_empty() {
                continue;
            }
            counts.push(serde_json::json!({ "label": kind, "count": assets.len(), "href": browse_href("kind", singular(kind)) }));
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

    fn asset(&self, doc: &AssetDoc, charts: &[String]) -> Result<String, String> {
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
                    "stages": stages_of(doc, v), "digest": vd.digest, "digest_short": short_digest(&vd.digest),
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
        let asset = serde_json::json!({
            "id": id, "name": doc.name, "title": doc.display_name.clone().unwrap_or_else(|| doc.name.clone()),
            "kind_label": title_case(&kind_folder(doc)), "kind_href": browse_href("kind", &doc.kind),
            "description": doc.description, "owners": doc.owners,
            "tags": doc.tags.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
            "latest": doc.latest.as_ref().map(|v| serde_json::json!({ "version": v, "href": version_href(id, v) })),
            "deprecated": deprecated, "stages": stages, "versions": versions,
            "metric_columns": columns.iter().map(|(n, d)| format!("{n} · {}", short_ref(d))).collect::<Vec<_>>(),
            "timeline": timeline, "charts": charts,
            "compare_href": (doc.versions.len() > 1).then(|| compare_href(id)),
        });
        self.page(
            "asset.html",
            &asset_href(id),
            serde_json::json!({ "asset": asset }),
        )
    }

    fn version(
        &self,
        doc: &AssetDoc,
        version: &str,
        v: &VersionDoc,
        charts: &ChartData,
    ) -> Result<String, String> {
        let id = &doc.id;
        let dir = self.source.join(id).join(version);
        let card = v.card.as_ref().and_then(|_| {
            let file: std::sync::Arc<str> =
                std::sync::Arc::from(format!("{id}/{version}/README.md"));
            let text = crate::registry::files::read_bounded(&dir.join("README.md"), &file).ok()?;
            let page = version_href(id, version);
            let root = root_of(&page);
            let files: BTreeMap<String, String> = v
                .files
                .iter()
                .map(|f| (f.path.clone(), f.blob.clone()))
                .collect();
            Some(crate::site::markdown::card(&text, move |url| {
                let clean = url.trim_start_matches("./");
                files.get(clean).map(|blob| format!("{root}{blob}"))
            }))
        });
        let card_facts: Vec<Value> = v
            .card
            .as_ref()
            .map(|c| {
                ["license", "pipeline_tag", "library_name", "language", "datasets", "base_model", "tags"]
                    .iter()
                    .filter_map(|k| c.meta.get(*k).map(|val| serde_json::json!({ "label": k.replace('_', " "), "value": plain(val) })))
                    .collect()
            })
            .unwrap_or_default();
        let (facts, ports, command, conda) = spec_view(doc, v, &dir);
        let refs = serde_json::json!({
            "azure": format!("azureml://registries/{}/{}/{}/versions/{version}", self.registry, kind_folder(doc), doc.name),
            "short": format!("{id}@{version}"),
            "curl": match &self.base_url {
                Some(base) => format!("curl -s {base}assets/{id}.json | jq '.versions[\"{version}\"]'"),
                None => format!("curl -s <site>/assets/{id}.json | jq '.versions[\"{version}\"]'"),
            },
        });
        let files: Vec<Value> = v
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path, "name": f.path.rsplit('/').next().unwrap_or(&f.path), "href": f.blob,
                    "size": human_size(f.size), "sha256": f.sha256, "sha_short": &f.sha256[..12],
                })
            })
            .collect();
        let link = |p: &crate::publish::index::Pinned| serde_json::json!({ "label": format!("{}@{}", p.id, p.version), "href": version_href(&p.id, &p.version) });
        let used_by: Vec<Value> = v
            .used_by
            .iter()
            .filter_map(|u| u.rsplit_once('@'))
            .map(|(uid, uv)| serde_json::json!({ "label": format!("{uid}@{uv}"), "href": version_href(uid, uv) }))
            .collect();
        let lineage = v
            .lineage
            .as_ref()
            .map(|l| self.lineage_view(doc, version, l));
        let view = serde_json::json!({
            "id": id, "name": doc.name, "version": version, "kind": doc.kind,
            "kind_label": title_case(&kind_folder(doc)), "kind_href": browse_href("kind", &doc.kind), "asset_href": asset_href(id),
            "stages": stages_of(doc, version), "latest": doc.latest.as_deref() == Some(version),
            "deprecated": v.deprecated, "digest": v.digest, "spec_href": v.spec_file.path,
            "refs": refs, "card": card, "card_facts": card_facts, "facts": facts, "ports": ports,
            "command": command, "conda": conda, "files": files,
            "references": v.references.iter().map(link).collect::<Vec<_>>(), "used_by": used_by,
            "lineage": lineage, "charts": charts.draw(doc, Some(version)),
        });
        self.page(
            "version.html",
            &version_href(id, version),
            serde_json::json!({ "v": view }),
        )
    }

    fn lineage_view(&self, doc: &AssetDoc, version: &str, l: &Value) -> Value {
        let get = |k: &str| l.get(k).cloned().unwrap_or(Value::Null);
        let job = get("job");
        let job_view = job.as_object().map(|j| {
            let s = |k: &str| j.get(k).and_then(Value::as_str).map(str::to_string);
            let when = match (s("started"), s("finished")) {
                (Some(a), Some(b)) => Some(format!("{a} → {b}")),
                (a, b) => a.or(b),
            };
            serde_json::json!({ "name": s("name"), "url": s("url").filter(|u| is_web(u)), "workspace": s("workspace"), "when": when })
        });
        let code = get("code");
        let code_view = code.as_object().map(|c| {
            let s = |k: &str| c.get(k).map(plain).unwrap_or_default();
            let repo = s("repo");
            let commit = s("commit");
            let base = repo.trim_end_matches(".git").trim_end_matches('/');
            let commit_href = (is_web(&repo) && (base.contains("github.com/") || base.contains("gitlab.com/")))
                .then(|| format!("{base}/commit/{commit}"));
            serde_json::json!({ "repo": repo, "commit": commit, "commit_href": commit_href, "path": c.get("path").map(plain), "dirty": c.get("dirty") == Some(&Value::Bool(true)) })
        });
        let mut links = Vec::new();
        let mut inputs = Vec::new();
        let mut graph_env = None;
        let mut graph_job = None;
        let node_of = |r: &Value, class: &'static str| -> GraphNode {
            let (label, href) = ref_label(r);
            GraphNode {
                label,
                detail: class.to_string(),
                href: href.map(|h| format!("{}{h}", root_of(&version_href(&doc.id, version)))),
                class,
            }
        };
        if let Some(e) = l.get("environment") {
            let (label, href) = ref_label(e);
            links.push(serde_json::json!({ "role": "Environment", "label": label, "href": href }));
            graph_env = Some(node_of(e, "environment"));
        }
        if let Some(c) = l.get("component") {
            let (label, href) = ref_label(c);
            links.push(serde_json::json!({ "role": "Component", "label": label, "href": href }));
            let mut n = node_of(c, "job");
            if let Some(name) = job.get("name").and_then(Value::as_str) {
                n.detail = n.label.clone();
                n.label = name.to_string();
            }
            graph_job = Some(n);
        } else if let Some(name) = job.get("name").and_then(Value::as_str) {
            graph_job = Some(GraphNode {
                label: name.to_string(),
                detail: "job".into(),
                href: None,
                class: "job",
            });
        }
        for (list, class) in [("data", "data"), ("models", "model")] {
            for item in l.get(list).and_then(Value::as_array).into_iter().flatten() {
                let Some(r) = item.get("ref") else { continue };
                let (label, href) = ref_label(r);
                let role = item.get("role").and_then(Value::as_str).unwrap_or(list);
                links.push(
                    serde_json::json!({ "role": title_case(role), "label": label, "href": href }),
                );
                let mut n = node_of(r, class);
                n.detail = role.to_string();
                inputs.push(n);
            }
        }
        let this = GraphNode {
            label: format!("{}@{version}", doc.id),
            detail: doc.kind.clone(),
            href: None,
            class: "this",
        };
        let graph = svg::lineage_graph(&inputs, graph_job.as_ref(), graph_env.as_ref(), &this);
        let params: Vec<Value> = l
            .get("parameters")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| serde_json::json!({ "name": k, "value": plain(v) }))
                    .collect()
            })
            .unwrap_or_default();
        let ms = metrics(&doc.versions[version]);
        let prod_stage = self.stages.last().cloned().unwrap_or_default();
        let prod = doc
            .stages
            .get(&prod_stage)
            .filter(|p| p.as_str() != version);
        let prod_ms = prod.map(|p| metrics(&doc.versions[p])).unwrap_or_default();
        let mut first: BTreeMap<&str, f64> = BTreeMap::new();
        let mut baseline = String::new();
        let rows: Vec<Value> = ms
            .iter()
            .map(|m| {
                let delta_data = match first.get(m.name.as_str()) {
                    Some(b) => signed(m.value - b),
                    None => {
                        first.insert(&m.name, m.value);
                        if baseline.is_empty() {
                            baseline = short_ref(&m.data);
                        }
                        "—".into()
                    }
                };
                let delta_prod = prod_ms
                    .iter()
                    .find(|p| p.name == m.name && p.data == m.data && p.split == m.split)
                    .map(|p| signed(m.value - p.value))
                    .unwrap_or_else(|| "—".into());
                serde_json::json!({
                    "name": m.name, "data": short_ref(&m.data), "data_href": m.href, "split": m.split,
                    "value": fmt_value(m.value), "delta_data": delta_data, "delta_prod": delta_prod,
                    "delta_data_class": "", "delta_prod_class": "",
                })
            })
            .collect();
        serde_json::json!({
            "graph": graph, "job": job_view, "code": code_view, "links": links, "params": params,
            "metrics": rows, "baseline": if baseline.is_empty() { "first data".to_string() } else { baseline },
            "prod": prod,
        })
    }

    fn compare(&self, doc: &AssetDoc, charts: &[String]) -> Result<String, String> {
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
            .map(|v| serde_json::json!({ "version": v, "href": version_href(id, v), "stages": stages_of(doc, v) }))
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
                flatten("", &v.spec, &mut flat);
                for k in ["name", "version", "$schema", "description"] {
                    flat.remove(k);
                }
                flat
            }),
        );
        let lineage_part = |v: &VersionDoc, key: &str| -> BTreeMap<String, String> {
            let mut flat = BTreeMap::new();
            if let Some(x) = v.lineage.as_ref().and_then(|l| l.get(key)) {
                flatten("", x, &mut flat);
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
                if let Some(l) = &v.lineage {
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

// ---------------------------------------------------------------------------------------------
// Views of documents

struct MetricRow {
    name: String,
    /// The data it was measured on, as `id@version` (or the text written, if not pinned).
    data: String,
    href: Option<String>,
    split: String,
    value: f64,
}

fn metrics(v: &VersionDoc) -> Vec<MetricRow> {
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

/// The first two (metric, data) pairs of the newest version: the key metrics of the versions table.
fn metric_columns(doc: &AssetDoc) -> Vec<(String, String)> {
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

/// The lines of each metric's chart: versions along x, one line per dataset. Computed once per
/// asset; every page of the asset draws from it.
struct ChartData(Vec<(String, Vec<Series>)>);

impl ChartData {
    fn of(doc: &AssetDoc) -> ChartData {
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
    fn draw(&self, doc: &AssetDoc, current: Option<&str>) -> Vec<String> {
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

type SpecView = (Vec<Value>, Vec<Value>, Option<String>, Option<String>);

/// The facts of a spec worth showing, per kind; component ports; command; conda file text.
fn spec_view(doc: &AssetDoc, v: &VersionDoc, dir: &Path) -> SpecView {
    let spec = &v.spec;
    let s = |k: &str| spec.get(k).map(plain);
    let mut facts: Vec<Value> = Vec::new();
    let mut push = |label: &str, value: Option<String>, code: bool| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            facts.push(serde_json::json!({ "label": label, "value": v, "code": code }));
        }
    };
    let mut ports = Vec::new();
    let mut command = None;
    let mut conda = None;
    match doc.kind.as_str() {
        "model" => {
            push("Type", s("type").or(Some("custom_model".into())), false);
            push("Path", s("path"), true);
            push(
                "Flavors",
                spec.get("flavors")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", ")),
                false,
            );
        }
        "data" => {
            push("Type", s("type").or(Some("uri_folder".into())), false);
            push("Path", s("path"), true);
            push("Import source", spec.get("source").map(plain), true);
        }
        "environment" => {
            push("Image", s("image"), true);
            push(
                "Build context",
                spec.get("build").and_then(|b| b.get("path")).map(plain),
                true,
            );
            push(
                "Dockerfile",
                spec.get("build")
                    .and_then(|b| b.get("dockerfile_path"))
                    .map(plain),
                true,
            );
            push(
                "Conda file",
                spec.get("conda_file").filter(|c| c.is_string()).map(plain),
                true,
            );
            push("OS", s("os_type"), false);
            if let Some(Value::String(path)) = spec.get("conda_file") {
                let file: std::sync::Arc<str> = std::sync::Arc::from(path.as_str());
                conda = crate::registry::files::read_bounded(&dir.join(path), &file)
                    .ok()
                    .map(|t| t.to_string());
            } else if let Some(inline) = spec.get("conda_file") {
                conda = Some(crate::registry::yaml::to_yaml(inline));
            }
        }
        _ => {
            push("Type", s("type").or(Some("command".into())), false);
            push("Display name", s("display_name"), false);
            push("Environment", spec.get("environment").map(plain), true);
            push("Code", s("code"), true);
            push(
                "Distribution",
                spec.get("distribution")
                    .and_then(|d| d.get("type"))
                    .map(plain),
                false,
            );
            push(
                "Instances",
                spec.get("resources")
                    .and_then(|r| r.get("instance_count"))
                    .map(plain),
                false,
            );
            push(
                "Jobs",
                spec.get("jobs")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", ")),
                false,
            );
            for (key, title) in [("inputs", "Inputs"), ("outputs", "Outputs")] {
                let Some(m) = spec.get(key).and_then(Value::as_object) else {
                    continue;
                };
                let rows: Vec<Value> = m
                    .iter()
                    .map(|(name, p)| {
                        serde_json::json!({
                            "name": name, "type": p.get("type").map(plain).unwrap_or_default(),
                            "default": p.get("default").map(plain).unwrap_or_default(),
                            "description": p.get("description").map(plain).unwrap_or_default(),
                            "optional": p.get("optional") == Some(&Value::Bool(true)),
                        })
                    })
                    .collect();
                ports.push(serde_json::json!({ "title": title, "rows": rows }));
            }
            command = s("command").or_else(|| s("args"));
        }
    }
    (facts, ports, command, conda)
}

/// A lineage or reference value as (label, link to its version page when pinned).
fn ref_label(v: &Value) -> (String, Option<String>) {
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
fn short_ref(label: &str) -> String {
    label
        .split_once('/')
        .map(|(_, r)| r.to_string())
        .unwrap_or_else(|| label.to_string())
}

fn card(doc: &AssetDoc) -> AssetCard {
    AssetCard {
        title: doc.id.clone(),
        href: asset_href(&doc.id),
        description: doc.description.clone(),
        latest: doc.latest.clone(),
        stages: doc
            .stages
            .iter()
            .map(|(s, v)| StageVersion {
                stage: s.clone(),
                version: v.clone(),
            })
            .collect(),
        deprecated: doc.deprecated.is_some(),
    }
}

fn stages_of(doc: &AssetDoc, version: &str) -> Vec<String> {
    doc.stages
        .iter()
        .filter(|(_, v)| v.as_str() == version)
        .map(|(s, _)| s.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Facets, search, events, feeds

struct Facet {
    name: String,
    label: String,
    /// Value → asset ids.
    values: BTreeMap<String, Vec<String>>,
}

fn facets(docs: &BTreeMap<String, AssetDoc>, stages: &[String]) -> Vec<Facet> {
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

fn facets_view(facets: &[Facet]) -> Vec<Value> {
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

fn value_label(facet: &str, value: &str) -> String {
    if facet == "tag" {
        value.replacen('=', ": ", 1)
    } else {
        value.to_string()
    }
}

/// The search data: one shard per two-character token prefix, so that a search downloads the
/// manifest and one shard, not the whole registry. Returns the manifest's path.
fn search_index(
    docs: &BTreeMap<String, AssetDoc>,
    facets: &[Facet],
    out: &mut OutputSet,
) -> String {
    // Facet values per asset, inverted once (not looked up per asset: that is quadratic).
    let mut facet_values: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for facet in facets {
        for (value, ids) in &facet.values {
            for id in ids {
                let m = facet_values.entry(id.as_str()).or_default();
                let list = m
                    .entry(facet.name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    items.push(Value::String(value.clone()));
                }
            }
        }
    }
    let mut entries: Vec<(BTreeSet<String>, Value)> = Vec::new();
    for (id, d) in docs {
        let mut text = format!(
            "{id} {} {}",
            d.name,
            d.display_name.clone().unwrap_or_default()
        );
        for (k, v) in &d.tags {
            text.push_str(&format!(" {k} {v}"));
        }
        // Kind words are a filter, not search text: they would put every asset in one shard.
        let tokens: BTreeSet<String> = text
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty() && !KIND_WORDS.contains(t))
            .map(str::to_string)
            .collect();
        let description: Option<String> = d
            .description
            .as_ref()
            .map(|s| s.chars().take(160).collect());
        let entry = serde_json::json!({
            "n": id, "h": asset_href(id), "k": d.kind, "l": d.latest,
            "s": d.stages.iter().map(|(s, v)| format!("{s} {v}")).collect::<Vec<_>>().join(", "),
            "d": description, "t": tokens, "f": facet_values.remove(id.as_str()).unwrap_or_default(),
        });
        entries.push((tokens, entry));
    }
    // Tokens in more than a tenth of a large registry say little and would make one shard hold
    // everything: they are matched, but never pick the shard.
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for (tokens, _) in &entries {
        for t in tokens {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let limit = (entries.len() / 10).max(COMMON_TOKEN_FLOOR);
    let common: BTreeSet<String> = df
        .iter()
        .filter(|(_, n)| **n > limit)
        .map(|(t, _)| t.to_string())
        .collect();
    let keyed: Vec<(Vec<&str>, &Value)> = entries
        .iter()
        .map(|(tokens, entry)| {
            (
                tokens
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !common.contains(*t))
                    .collect(),
                entry,
            )
        })
        .collect();
    let mut shards: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let all: Vec<usize> = (0..keyed.len()).collect();
    let mut firsts: BTreeSet<String> = BTreeSet::new();
    for (tokens, _) in &keyed {
        firsts.extend(tokens.iter().map(|t| t.chars().take(2).collect::<String>()));
    }
    for key in firsts {
        shard(&key, &all, &keyed, &mut shards);
    }
    let mut manifest_shards = serde_json::Map::new();
    for (key, entries) in shards {
        let bytes = hash::canonical_json(&Value::Array(entries));
        let path = format!(
            "search/{}-{}.json",
            key.replace('$', "_"),
            &hash::sha256(&bytes)[..16]
        );
        manifest_shards.insert(key, Value::String(path.clone()));
        out.bytes(path, bytes);
    }
    let browse: serde_json::Map<String, Value> = facets
        .iter()
        .flat_map(|f| {
            f.values.keys().map(move |v| {
                (
                    format!("{}:{v}", f.name),
                    Value::String(browse_href(&f.name, v)),
                )
            })
        })
        .collect();
    let manifest = hash::canonical_json(
        &serde_json::json!({ "shards": manifest_shards, "browse": browse, "common": common }),
    );
    let path = format!("search/index-{}.json", &hash::sha256(&manifest)[..16]);
    out.bytes(path.clone(), manifest);
    path
}

/// The entries with a token that starts with `prefix`, as one shard, or split by a longer
/// prefix while the shard is too large (`prefix$` holds the entries whose token is exactly
/// `prefix`). The client picks the one key that prefixes its word.
fn shard(
    prefix: &str,
    candidates: &[usize],
    keyed: &[(Vec<&str>, &Value)],
    shards: &mut BTreeMap<String, Vec<Value>>,
) {
    let members: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| keyed[*i].0.iter().any(|t| t.starts_with(prefix)))
        .collect();
    if members.is_empty() {
        return;
    }
    if members.len() <= SHARD_ENTRIES || prefix.len() >= MAX_SHARD_KEY {
        shards.insert(
            prefix.to_string(),
            members.iter().map(|i| keyed[*i].1.clone()).collect(),
        );
        return;
    }
    let mut children: BTreeSet<String> = BTreeSet::new();
    let mut exact = Vec::new();
    for i in &members {
        for t in keyed[*i].0.iter().filter(|t| t.starts_with(prefix)) {
            if t.len() == prefix.len() {
                exact.push(*i);
            } else {
                children.insert(t[..prefix.len() + 1].to_string());
            }
        }
    }
    if !exact.is_empty() {
        exact.dedup();
        shards.insert(
            format!("{prefix}$"),
            exact.iter().map(|i| keyed[*i].1.clone()).collect(),
        );
    }
    for child in children {
        shard(&child, &members, keyed, shards);
    }
}

#[derive(Serialize)]
struct Event {
    date: String,
    kind: &'static str,
    title: String,
    detail: Option<String>,
    href: String,
}

/// New versions (dated by their training job or first stage entry), promotions and
/// deprecations, newest first.
fn events(docs: &BTreeMap<String, AssetDoc>) -> Vec<Event> {
    let mut out = Vec::new();
    for (id, d) in docs {
        for h in &d.history {
            let (title, href) = match &h.version {
                Some(v) => (format!("{id}@{v} entered {}", h.stage), version_href(id, v)),
                None => (format!("{id}: {} cleared", h.stage), asset_href(id)),
            };
            let detail = Some(format!(
                "by {}{}",
                h.by,
                h.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
            out.push(Event {
                date: h.date.chars().take(10).collect(),
                kind: "promotion",
                title,
                detail,
                href,
            });
        }
        for (v, vd) in &d.versions {
            let job = vd.lineage.as_ref().and_then(|l| l.get("job"));
            let date = job
                .and_then(|j| j.get("finished").or_else(|| j.get("started")))
                .and_then(Value::as_str)
                .map(|s| s.chars().take(10).collect::<String>())
                .or_else(|| {
                    d.history
                        .iter()
                        .find(|h| h.version.as_deref() == Some(v))
                        .map(|h| h.date.chars().take(10).collect())
                });
            if let Some(date) = date {
                out.push(Event {
                    date,
                    kind: "version",
                    title: format!("{id}@{v} published"),
                    detail: None,
                    href: version_href(id, v),
                });
            }
        }
        if let Some(dep) = &d.deprecated
            && let Some(date) = &dep.date
        {
            out.push(Event {
                date: date.clone(),
                kind: "deprecation",
                title: format!("{id} deprecated"),
                detail: Some(dep.reason.clone()),
                href: asset_href(id),
            });
        }
    }
    out.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then(a.kind.cmp(b.kind))
            .then(a.title.cmp(&b.title))
    });
    out
}

fn feeds(site: &Site, events: &[Event], out: &mut OutputSet) {
    let base = site.base_url.clone().unwrap_or_default();
    let events: Vec<&Event> = events.iter().take(FEED_EVENTS).collect();
    let updated = events
        .first()
        .map(|e| format!("{}T00:00:00Z", e.date))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let id_of = |e: &Event| {
        format!(
            "urn:mlreg:{}:{}:{}",
            site.registry,
            e.kind,
            hash::sha256(format!("{}|{}", e.date, e.title).as_bytes())
        )
    };
    let mut atom = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<title>{} events</title>\n<id>urn:mlreg:{}</id>\n<updated>{updated}</updated>\n<link href=\"{}index.html\"/>\n",
        esc(&site.registry),
        esc(&site.registry),
        esc(&base)
    );
    for e in &events {
        atom.push_str(&format!(
            "<entry><title>{}</title><id>{}</id><updated>{}T00:00:00Z</updated><link href=\"{}\"/><category term=\"{}\"/><summary>{}</summary><author><name>{}</name></author></entry>\n",
            esc(&e.title),
            id_of(e),
            e.date,
            esc(&format!("{base}{}", e.href)),
            e.kind,
            esc(e.detail.as_deref().unwrap_or(&e.title)),
            esc(&site.registry)
        ));
    }
    atom.push_str("</feed>\n");
    out.bytes("feed.xml", atom.into_bytes());
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": id_of(e), "title": e.title, "url": format!("{base}{}", e.href),
                "date_published": format!("{}T00:00:00Z", e.date), "tags": [e.kind],
                "content_text": e.detail.clone().unwrap_or_else(|| e.title.clone()),
            })
        })
        .collect();
    let feed = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1", "title": format!("{} events", site.registry),
        "home_page_url": format!("{base}index.html"), "items": items,
    });
    let mut bytes = serde_json::to_vec_pretty(&feed).expect("feed serializes");
    bytes.push(b'\n');
    out.bytes("feed.json", bytes);
}

// ---------------------------------------------------------------------------------------------
// Paths and small formatting

pub fn asset_href(id: &str) -> String {
    format!("{id}/index.html")
}

pub fn version_href(id: &str, version: &str) -> String {
    format!("{id}/{version}/index.html")
}

fn compare_href(id: &str) -> String {
    format!("compare/{id}.html")
}

/// Browse pages are named by a readable slug and a short hash of the exact value.
fn browse_href(facet: &str, value: &str) -> String {
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
fn root_of(path: &str) -> String {
    "../".repeat(path.matches('/').count())
}

fn kind_folder(doc: &AssetDoc) -> String {
    doc.id.split('/').next().unwrap_or_default().to_string()
}

fn singular(folder: &str) -> &str {
    match folder {
        "models" => "model",
        "components" => "component",
        "environments" => "environment",
        other => other,
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Only http(s) links become `href`s; anything else written in a manifest stays text.
fn is_web(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// A JSON value as text: strings as they are, lists joined, other values as compact JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
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

fn short_digest(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

fn signed(d: f64) -> String {
    let v = fmt_value(d);
    if d > 0.0 && v != "0" {
        format!("+{v}")
    } else {
        v
    }
}

fn human_size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n => format!("{:.1} GiB", n as f64 / (1 << 30) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> AssetDoc {
        serde_json::from_value(serde_json::json!({
            "api_version": "1.0", "id": id, "kind": "model", "name": id.split('/').nth(1).unwrap(),
            "deprecated": null, "latest": "1", "stages": {}, "history": [], "order": ["1"], "versions": {},
            "tags": {"team": "risk"},
        }))
        .unwrap()
    }

    /// 30,000 assets named like real registries do (shared prefixes, numbers): every shard stays
    /// small, and the lookup the search script does finds every asset by each of its words.
    #[test]
    fn search_shards_stay_small_at_scale() {
        let words = [
            "credit", "churn", "fraud", "demand", "iris", "bert", "resnet", "xgb",
        ];
        let mut docs = BTreeMap::new();
        for i in 0..30_000 {
            let id = format!(
                "models/{}-{}-{:05}",
                words[i % words.len()],
                words[(i / 8) % words.len()],
                i
            );
            docs.insert(id.clone(), doc(&id));
        }
        let mut out = OutputSet::default();
        let manifest_path = search_index(&docs, &[], &mut out);
        let bytes = |p: &str| match &out.files[p] {
            Content::Bytes(b) => b.clone(),
            Content::File(_) => unreachable!(),
        };
        let manifest: Value = serde_json::from_slice(&bytes(&manifest_path)).unwrap();
        let shards = manifest["shards"].as_object().unwrap();
        assert!(
            manifest["common"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "team"),
            "a token in every asset is common"
        );
        let largest = shards
            .values()
            .map(|p| bytes(p.as_str().unwrap()).len())
            .max()
            .unwrap();
        let first_search = bytes(&manifest_path).len() + largest;
        assert!(
            first_search < 512 * 1024,
            "first search downloads {first_search} bytes"
        );
        // The client's lookup: the one key that prefixes the word, else `word$`.
        for (n, id) in docs.keys().enumerate().filter(|(n, _)| n % 97 == 0) {
            let number = id.rsplit('-').next().unwrap().to_string();
            let key = (2..=number.len().min(8))
                .map(|k| number[..k].to_string())
                .find(|k| shards.contains_key(k))
                .or_else(|| {
                    let exact = format!("{number}$");
                    shards.contains_key(&exact).then_some(exact)
                });
            let key = key.unwrap_or_else(|| panic!("no shard for {number} (asset {n})"));
            let shard: Value =
                serde_json::from_slice(&bytes(shards[&key].as_str().unwrap())).unwrap();
            assert!(
                shard
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["n"] == id.as_str()),
                "{id} not in shard {key}"
            );
        }
    }
}
