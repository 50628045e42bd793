//! What happened, newest first (new versions, promotions, deprecations), as Atom and JSON
//! feeds; and the sitemap.

use super::Site;
use super::links::{asset_href, version_href};
use super::svg::esc;
use crate::publish::hash;
use crate::publish::output::OutputSet;
use crate::publish::plan::Docs;
use serde::Serialize;
use serde_json::Value;

pub(super) const FEED_EVENTS: usize = 50;

#[derive(Serialize)]
pub(super) struct Event {
    pub(super) date: String,
    pub(super) kind: &'static str,
    pub(super) title: String,
    pub(super) detail: Option<String>,
    pub(super) href: String,
}

/// New versions (dated by their training job or first stage entry), promotions and
/// deprecations, newest first.
pub(super) fn events(docs: &Docs) -> Vec<Event> {
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
                .as_ref()
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

pub(super) fn feeds(site: &Site, events: &[Event], out: &mut OutputSet) {
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

/// `sitemap.xml`: every page, by its absolute URL under `base`.
pub(super) fn sitemap(base: &str, pages: &[String], out: &mut OutputSet) {
    let urlset = |pages: &[String]| {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
        );
        for u in pages {
            xml.push_str(&format!(
                "<url><loc>{}</loc></url>\n",
                esc(&format!("{base}{u}"))
            ));
        }
        xml.push_str("</urlset>\n");
        xml.into_bytes()
    };
    if pages.len() <= SITEMAP_URLS {
        out.bytes("sitemap.xml", urlset(pages));
        return;
    }
    // Larger sites get a sitemap index over sitemaps of SITEMAP_URLS pages each.
    let mut index = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (n, part) in pages.chunks(SITEMAP_URLS).enumerate() {
        let path = format!("sitemap-{}.xml", n + 1);
        index.push_str(&format!(
            "<sitemap><loc>{}</loc></sitemap>\n",
            esc(&format!("{base}{path}"))
        ));
        out.bytes(path, urlset(part));
    }
    index.push_str("</sitemapindex>\n");
    out.bytes("sitemap.xml", index.into_bytes());
}

/// Pages in one sitemap (the protocol allows 50,000; this keeps each under 1 MB).
pub(super) const SITEMAP_URLS: usize = 10_000;
