//! The page of one version: the sanitized card, spec facts per kind, files, copy-ready
//! references, uses and used-by, lineage with its graph, parameters and metrics with deltas.
//! A version used by many others names the first [`USED_BY_SHOWN`] and links to `used-by.html`,
//! which lists all of them or, for a long list, links to range pages that do. Ranges are cut by
//! [`chunk`]'s rule (where their entries say, not every so many) and named by their first
//! entry, so that one version more rewrites the index and a range or two, not every page.

use super::Site;
use super::charts::{ChartData, VERSION_WINDOW, metrics, window};
use super::links::{
    asset_href, browse_href, human_size, is_web, kind_folder, plain, ref_label, root_of, short_ref,
    signed, title_case, version_href,
};
use super::svg::{self, GraphNode, fmt_value};
use crate::publish::index::{AssetDoc, VersionDoc};
use crate::publish::{chunk, hash};
use crate::registry::reference::{self, Scope, Selector};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The card's front-matter keys shown as facts on a version's page.
const CARD_FACTS: [&str; 7] = [
    "license",
    "pipeline_tag",
    "library_name",
    "language",
    "datasets",
    "base_model",
    "tags",
];

/// Versions that use this one, named on its page.
pub(super) const USED_BY_SHOWN: usize = 50;

/// The most versions on one range page of those that use a version.
pub(super) const USED_BY_PAGE: usize = 1000;

/// A range page ends after a version whose hash is 0 modulo this ([`chunk`]): ranges of about
/// 200, and only `(1 - 1/200)^1000 ≈ e^-5` (0.7 %) of them cut at [`USED_BY_PAGE`] instead.
pub(super) const USED_BY_EVERY: u64 = 200;

/// Where every version that uses `id@version` is listed, or the ranges that list them.
pub(super) fn used_by_href(id: &str, version: &str) -> String {
    format!("{id}/{version}/used-by.html")
}

/// The paths of the range pages of what uses `id@version`, in order:
/// `used-by-<first 12 hex digits of the SHA-256 of the range's first entry>.html`. Named by
/// their first entry, ranges keep their paths when another range splits or merges. Should two
/// ranges' names share those 12 digits (names chosen to), both take all 64; should even those
/// be the same (a list naming one version twice), each but the first gets its position too.
fn range_hrefs(id: &str, version: &str, ranges: &[&[String]]) -> Vec<String> {
    let full: Vec<String> = ranges
        .iter()
        .map(|r| hash::sha256(r.first().map_or("", String::as_str).as_bytes()))
        .collect();
    let mut short: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &full {
        *short.entry(&f[..12]).or_default() += 1;
    }
    let mut taken = BTreeSet::new();
    full.iter()
        .enumerate()
        .map(|(n, f)| {
            let mut name = if short[&f[..12]] > 1 {
                f.clone()
            } else {
                f[..12].to_string()
            };
            if !taken.insert(name.clone()) {
                name = format!("{name}-{n}");
            }
            format!("{id}/{version}/used-by-{name}.html")
        })
        .collect()
}

/// A link to the page of a version that uses another (`<id>@<version>`).
fn user_link(user: &String) -> Option<Value> {
    let (id, version) = user.rsplit_once('@')?;
    Some(serde_json::json!({ "label": user, "href": version_href(id, version), "count": null }))
}

/// A range as its first and last entry.
fn range_label(range: &[String]) -> String {
    match range {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} – {last}"),
    }
}

impl Site<'_> {
    /// The version's page and, when many versions use it, the pages listing them; as
    /// (path, HTML).
    pub(super) fn version(
        &self,
        doc: &AssetDoc,
        version: &str,
        v: &VersionDoc,
        charts: &ChartData,
    ) -> Result<Vec<(String, String)>, String> {
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
                CARD_FACTS
                    .iter()
                    .filter_map(|k| c.meta.get(*k).map(|val| serde_json::json!({ "label": k.replace('_', " "), "items": self.card_items(val) })))
                    .collect()
            })
            .unwrap_or_default();
        let (facts, ports, command, conda) = spec_view(doc, v, &dir);
        let site = self
            .base_url
            .clone()
            .unwrap_or_else(|| "<this site>/".into());
        let folder = format!("{}-{version}", doc.name);
        let refs = serde_json::json!({
            "azure": format!("azureml://registries/{}/{}/{}/versions/{version}", self.registry, kind_folder(doc), doc.name),
            "short": format!("{id}@{version}"),
            "pull": format!("mlreg pull {id}@{version} --index {site} --dest {folder}"),
            "create": format!("az ml {} create -f {folder}/spec.yaml --registry-name {}", doc.kind, self.registry),
            "curl": format!("curl -s {site}assets/{id}.json | jq '.versions[\"{version}\"]'"),
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
        let users = self.users(id, version, v);
        let used_by: Vec<Value> = users
            .iter()
            .take(USED_BY_SHOWN)
            .filter_map(user_link)
            .collect();
        let all_users = (users.len() > USED_BY_SHOWN).then(
            || serde_json::json!({ "count": users.len(), "href": used_by_href(id, version) }),
        );
        let mut pages = Vec::new();
        if all_users.is_some() {
            pages = self.used_by_pages(id, version, users)?;
        }
        let lineage = v
            .lineage
            .as_ref()
            .map(|l| self.lineage_view(doc, version, &l.value()));
        let view = serde_json::json!({
            "id": id, "name": doc.name, "version": version, "kind": doc.kind,
            "kind_label": title_case(&kind_folder(doc)), "kind_href": browse_href("kind", &doc.kind), "asset_href": asset_href(id),
            "stages": self.stages_of(doc, version), "latest": doc.latest.as_deref() == Some(version),
            "deprecated": v.deprecated, "digest": v.digest, "spec_href": v.spec_file.path,
            "refs": refs, "card": card, "card_facts": card_facts, "facts": facts, "ports": ports,
            "command": command, "conda": conda, "files": files,
            "references": v.references.iter().map(link).collect::<Vec<_>>(), "used_by": used_by,
            "all_users": all_users,
            "lineage": lineage, "charts": charts.draw(doc, Some(version)),
            "charts_span": self.chart_span(doc, version),
        });
        let href = version_href(id, version);
        let html = self.page("version.html", &href, serde_json::json!({ "v": view }))?;
        pages.insert(0, (href, html));
        Ok(pages)
    }

    /// The pages listing every version that uses `id@version`, as (path, HTML): `used-by.html`
    /// with all of them when they make one range; else `used-by.html` with the total and a link
    /// to each range (its first and last entry, its count), and the range pages, each with its
    /// entries and links to the ranges before and after it, and neither the total nor a page
    /// number (which would change it whenever any range does).
    fn used_by_pages(
        &self,
        id: &str,
        version: &str,
        users: &[String],
    ) -> Result<Vec<(String, String)>, String> {
        let index = used_by_href(id, version);
        let title = format!("What uses {id}@{version}");
        let up = serde_json::json!({ "label": format!("{id}@{version}"), "href": version_href(id, version) });
        let entries =
            |range: &[String]| -> Vec<Value> { range.iter().filter_map(user_link).collect() };
        let ranges = chunk::pages(users, USED_BY_EVERY, USED_BY_PAGE);
        if ranges.len() <= 1 {
            let html = self.page(
                "list.html",
                &index,
                serde_json::json!({ "list": { "title": title, "crumbs": [up], "assets": [], "values": entries(users), "total": users.len() } }),
            )?;
            return Ok(vec![(index, html)]);
        }
        let hrefs = range_hrefs(id, version, &ranges);
        let links: Vec<Value> = ranges
            .iter()
            .zip(&hrefs)
            .map(|(r, href)| serde_json::json!({ "label": range_label(r), "href": href, "count": r.len() }))
            .collect();
        let html = self.page(
            "list.html",
            &index,
            serde_json::json!({ "list": { "title": title, "crumbs": [up], "assets": [], "values": links, "total": users.len() } }),
        )?;
        let mut pages = vec![(index.clone(), html)];
        let crumbs = serde_json::json!([up, { "label": "What uses it", "href": index }]);
        for (n, (range, href)) in ranges.iter().zip(&hrefs).enumerate() {
            let label = range_label(range);
            let pager = serde_json::json!({
                "pages": [], "prev": n.checked_sub(1).map(|p| &hrefs[p]), "next": hrefs.get(n + 1),
            });
            let html = self.page(
                "list.html",
                href,
                serde_json::json!({
                    "list": { "title": format!("{title}: {label}"), "crumb": label, "crumbs": crumbs, "assets": [], "values": entries(range) },
                    "pager": pager,
                }),
            )?;
            pages.push((href.clone(), html));
        }
        Ok(pages)
    }

    /// Every version that uses `id@version`, in order: the document's list, or the complete
    /// one where the document holds only its first entries.
    fn users<'v>(&'v self, id: &str, version: &str, v: &'v VersionDoc) -> &'v [String] {
        self.used_by
            .get(&format!("{id}@{version}"))
            .map_or(&v.used_by, |all| all)
    }

    /// `versions 31 to 50` when a version's charts draw only some of the versions.
    fn chart_span(&self, doc: &AssetDoc, version: &str) -> Option<String> {
        let at = doc.order.iter().position(|o| o == version)?;
        let shown = window(doc.order.len(), Some(at), VERSION_WINDOW);
        (shown.len() < doc.order.len()).then(|| {
            format!(
                "versions {} to {} of {}",
                doc.order[shown.start],
                doc.order[shown.end - 1],
                doc.order.len()
            )
        })
    }

    /// The links of every version's card facts into other assets (`datasets: [data/x@1]`),
    /// as text: a page that shows them changes when they resolve differently.
    pub(super) fn card_links(&self, doc: &AssetDoc) -> String {
        let mut out = String::new();
        for v in doc.versions.values() {
            let Some(card) = &v.card else { continue };
            for k in CARD_FACTS {
                if let Some(val) = card.meta.get(k) {
                    for item in self.card_items(val) {
                        out.push_str(&item.to_string());
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    /// A front-matter value as items, each linked to its version page when it names a version
    /// of this registry (`datasets: [data/credit@1]`); anything else stays text.
    fn card_items(&self, val: &Value) -> Vec<Value> {
        let texts: Vec<String> = match val {
            Value::Array(items) => items.iter().map(plain).collect(),
            other => vec![plain(other)],
        };
        texts
            .into_iter()
            .map(|t| serde_json::json!({ "href": self.link_of(&t), "label": t }))
            .collect()
    }

    /// The version page a reference into this registry leads to, if it resolves.
    fn link_of(&self, text: &str) -> Option<String> {
        let scope = Scope {
            registry: Some(self.registry.as_str()),
            stages: &self.stages,
        };
        let (kind, name, selector) = reference::local(text, scope)?;
        let id = format!("{}/{name}", kind.folder());
        let doc = self.docs.get(&id)?;
        let version = match selector {
            Selector::Version(v) => doc.versions.contains_key(&v).then_some(v)?,
            Selector::Latest => doc.latest.clone()?,
            Selector::Label(stage) => doc.stages.get(&stage)?.clone(),
        };
        Some(version_href(&id, &version))
    }

    pub(super) fn lineage_view(&self, doc: &AssetDoc, version: &str, l: &Value) -> Value {
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
}

pub(super) type SpecView = (Vec<Value>, Vec<Value>, Option<String>, Option<String>);

/// Port lists longer than this start folded on the version page.
const PORTS_OPEN: usize = 20;

/// The facts of a spec worth showing, per kind; component ports; command; conda file text.
pub(super) fn spec_view(doc: &AssetDoc, v: &VersionDoc, dir: &Path) -> SpecView {
    let spec = &v.spec.value();
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
    // What the spec says of itself, which Azure shows too (and lets change between versions).
    push("Description", s("description"), false);
    push(
        "Tags",
        spec.get("tags").and_then(Value::as_object).map(|tags| {
            tags.iter()
                .map(|(k, v)| format!("{k}: {}", plain(v)))
                .collect::<Vec<_>>()
                .join(", ")
        }),
        false,
    );
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
                // Long lists (Microsoft's fine-tuning components have 50 and more) start folded.
                let count = rows.len();
                ports.push(serde_json::json!({
                    "title": title, "count": count, "collapsed": count > PORTS_OPEN, "rows": rows,
                }));
            }
            command = s("command").or_else(|| s("args"));
        }
    }
    (facts, ports, command, conda)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    /// Ranges are named by the first 12 hex digits of their first entry's SHA-256; names that
    /// share those (here two found by a birthday search) take all 64, and a list naming one
    /// version twice still gets a name per range.
    #[test]
    fn ranges_are_named_by_their_first_entry_and_never_share_a_name() {
        let named = |e: &str| hash::sha256(e.as_bytes());
        let (a, b) = (range(&["a@1", "a@2"]), range(&["b@1"]));
        let short = |e: &str| format!("e/x/1/used-by-{}.html", &named(e)[..12]);
        assert_eq!(
            range_hrefs("e/x", "1", &[&a, &b]),
            [short("a@1"), short("b@1")]
        );
        let (c, d) = (
            range(&["models/m@11231211"]),
            range(&["models/m@919885", "z@1"]),
        );
        assert_eq!(
            named("models/m@11231211")[..12],
            named("models/m@919885")[..12]
        );
        let full = |e: &str| format!("e/x/1/used-by-{}.html", named(e));
        assert_eq!(
            range_hrefs("e/x", "1", &[&a, &c, &d]),
            [
                short("a@1"),
                full("models/m@11231211"),
                full("models/m@919885")
            ]
        );
        let again = range(&["a@1"]);
        let hrefs = range_hrefs("e/x", "1", &[&a, &b, &again]);
        let twice = format!("e/x/1/used-by-{}-2.html", named("a@1"));
        assert_eq!(hrefs, [full("a@1"), short("b@1"), twice]);
        assert_eq!(range_label(&a), "a@1 – a@2");
        assert_eq!(range_label(&b), "b@1");
    }
}
