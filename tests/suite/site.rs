//! The browsable site: every link resolves inside the output, hostile cards and manifest
//! strings never come out as active HTML, and the key pages match their golden copies.

use crate::util::{copy_dir, materialize, repo, run, tree};
use std::collections::BTreeMap;

fn built_sample() -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    let out = run(t.path(), &["build", "registry"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let files = tree(&t.path().join("public"));
    (t, files)
}

/// Every value of `attr="..."` in `html`.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        if let Some(j) = rest.find('"') {
            out.push(&rest[..j]);
            rest = &rest[j..];
        }
    }
    out
}

/// Resolve a relative link from `page` (a path inside the output) to a path inside the output.
fn resolve(page: &str, link: &str) -> Option<String> {
    let link = link.split(['#', '?']).next().unwrap_or("");
    if link.is_empty() {
        return Some(page.to_string());
    }
    let mut parts: Vec<&str> = page.split('/').collect();
    parts.pop();
    for seg in link.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[test]
fn every_link_resolves_to_a_file_in_the_output() {
    let (_t, files) = built_sample();
    let mut checked = 0;
    let mut broken = Vec::new();
    for (page, bytes) in &files {
        if !page.ends_with(".html") {
            continue;
        }
        let html = std::str::from_utf8(bytes).unwrap();
        let base = "https://ml.contoso.example/registry/";
        for link in attributes(html, "href")
            .into_iter()
            .chain(attributes(html, "src"))
        {
            let link = link.replace("&amp;", "&");
            let local = match link.strip_prefix(base) {
                Some(rest) => rest.to_string(),
                None if link.starts_with("http://")
                    || link.starts_with("https://")
                    || link.starts_with("mailto:") =>
                {
                    continue;
                }
                None => match resolve(page, &link) {
                    Some(p) => p,
                    None => {
                        broken.push(format!("{page}: {link} leaves the site"));
                        continue;
                    }
                },
            };
            let target = if local.is_empty() || local.ends_with('/') {
                format!("{local}index.html")
            } else {
                local
            };
            checked += 1;
            if !files.contains_key(&target) {
                broken.push(format!("{page}: {link}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(checked > 500, "only {checked} links checked");
    for required in [
        ".nojekyll",
        "404.html",
        "index.html",
        "search.html",
        "feed.xml",
        "feed.json",
        "sitemap.xml",
    ] {
        assert!(files.contains_key(required), "{required} is missing");
    }
}

#[test]
fn pages_carry_a_strict_csp_and_no_inline_script() {
    let (_t, files) = built_sample();
    let mut pages = 0;
    for (page, bytes) in files.iter().filter(|(p, _)| p.ends_with(".html")) {
        let html = std::str::from_utf8(bytes).unwrap();
        assert!(
            html.contains("content=\"default-src 'self'; script-src 'self'; style-src 'self';"),
            "{page} lacks the CSP"
        );
        for tag in html.split("<script").skip(1) {
            assert!(
                tag.starts_with(" src=\"") && tag.contains("></script>"),
                "{page}: inline script <script{}",
                &tag[..tag.len().min(80)]
            );
        }
        assert!(
            !html.contains(" style=\""),
            "{page} has an inline style attribute (blocked by the CSP)"
        );
        pages += 1;
    }
    assert!(pages > 30, "{pages} pages");
}

const HOSTILE: &str = r#"
-- registry.yaml --
name: hostile
base_url: https://example.com/r/
workspaces:
  - { name: "ws<script>alert(1)</script>", stage: prod }
-- models/m/asset.yaml --
display_name: "<img src=x onerror=alert(1)>"
description: "</p><script>alert(2)</script><p>"
owners: ["<a href='javascript:alert(3)'>me</a>"]
tags:
  team: "\"><svg onload=alert(4)>"
-- models/m/stages.yaml --
- { stage: dev, version: "1", by: "<b onmouseover=alert(5)>x</b>", date: 2026-01-01, ref: "javascript:alert(6)", reason: "<iframe src=//evil.example>" }
-- models/m/1/spec.yaml --
path: model.bin
description: "<script>alert(7)</script>"
tags: { "<b onclick=alert(18)>": "<img src=x onerror=alert(19)>" }
-- models/m/1/model.bin --
x
-- models/m/1/lineage.yaml --
job: { name: "<script>alert(8)</script>", url: "javascript:alert(9)", workspace: "<i onclick=alert(10)>w</i>" }
code: { repo: "javascript:alert(11)//github.com/x", commit: abc1234 }
parameters: { "<p onclick=alert(12)>": "<script>alert(13)</script>" }
metrics:
  - { name: "<svg onload=alert(14)>", value: 0.5, data: "azureml:<img src=x onerror=alert(15)>:1" }
  - { name: "<svg onload=alert(14)>", value: 0.6, data: "azureml:other:1" }
-- models/m/1/README.md --
---
license: "<script>alert(16)</script>"
tags: ["<img src=x onerror=alert(17)>"]
---
# Card
<script>alert(18)</script>
<img src="x" onerror="alert(19)">
<a href="javascript:alert(20)">click</a>
[md link](javascript:alert(21))
<iframe src="https://evil.example"></iframe>
<object data="x.swf"></object><embed src="x.swf">
<form action="https://evil.example"><input name=x></form>
<div style="background:url(javascript:alert(22))" onclick="alert(23)">styled</div>
<svg><script>alert(24)</script></svg>
<math><mi xlink:href="javascript:alert(25)">m</mi></math>
<a href="  JaVaScRiPt:alert(26)">spaced</a>
<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMjcpPg==">
"#;

#[test]
fn hostile_cards_and_manifest_strings_never_become_active_html() {
    let t = tempfile::tempdir().unwrap();
    materialize(HOSTILE, &t.path().join("registry"));
    let out = run(t.path(), &["build", "registry"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let files = tree(&t.path().join("public"));
    let mut pages = 0;
    for (page, bytes) in &files {
        if !(page.ends_with(".html") || page.ends_with(".xml") || page.ends_with(".svg")) {
            continue;
        }
        pages += 1;
        let html = std::str::from_utf8(bytes).unwrap();
        let lower = html.to_lowercase();
        for tag in lower.split("<script").skip(1) {
            assert!(
                tag.starts_with(" src=\"") && tag.contains("search-"),
                "{page}: a script survived: <script{}",
                &tag[..tag.len().min(60)]
            );
        }
        for bad in [
            "<iframe",
            "<object",
            "<embed",
            "<form action=\"https://evil",
            "<math",
            "href=\"javascript:",
            "src=\"javascript:",
            "href=\"  javascript",
            "src=\"data:",
            "xlink:href",
        ] {
            assert!(!lower.contains(bad), "{page}: `{bad}` survived");
        }
        // No event-handler attribute on any element.
        for name in attribute_names(&lower) {
            assert!(
                !name.starts_with("on"),
                "{page}: event handler attribute `{name}`"
            );
        }
    }
    assert!(pages >= 5, "{pages} pages checked");
    // The checker itself sees handlers, and only outside quoted values.
    assert_eq!(
        attribute_names("<img src=x onerror=alert(1)>"),
        ["src", "onerror"]
    );
    assert_eq!(
        attribute_names("<a title=\"x onload=y\" href='z'>t</a>"),
        ["title", "href"]
    );
    // The hostile text is still shown, as text.
    let version = std::str::from_utf8(&files["models/m/1/index.html"]).unwrap();
    assert!(
        version.contains("&lt;script&gt;alert(8)&lt;&#x2f;script&gt;")
            || version.contains("&lt;script&gt;alert(8)&lt;/script&gt;"),
        "job name not shown escaped"
    );
}

/// The names of every attribute of every tag, skipping quoted values (where text such as
/// `onload=` is harmless).
fn attribute_names(html: &str) -> Vec<String> {
    let b = html.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' || !b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        i += 1;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
            i += 1;
        }
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            names.push(html[start..i].to_string());
            if i < b.len() && b[i] == b'=' {
                i += 1;
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    i += 1;
                    while i < b.len() && b[i] != q {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                }
            }
        }
    }
    names
}

/// The key pages of the sample, byte for byte. `MLREG_BLESS=1 cargo test` rewrites them after
/// a deliberate change; review the diff before committing it.
#[test]
fn key_pages_match_their_golden_copies() {
    let (_t, files) = built_sample();
    let golden = repo().join("tests/golden");
    let bless = std::env::var_os("MLREG_BLESS").is_some();
    let mut differ = Vec::new();
    for page in [
        "index.html",
        "models/credit-default/index.html",
        "models/credit-default/3/index.html",
        "compare/models/credit-default.html",
        "components/credit_training/1/index.html",
        "environments/sklearn-1.5/2/index.html",
    ] {
        let name = page.replace('/', "__");
        let path = golden.join(&name);
        let got = &files[page];
        if bless {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, got).unwrap();
        } else if std::fs::read(&path).ok().as_ref() != Some(got) {
            differ.push(page);
        }
    }
    assert!(
        differ.is_empty(),
        "pages differ from tests/golden (MLREG_BLESS=1 to accept): {differ:?}"
    );
}

#[test]
fn templates_can_be_overridden_block_by_block() {
    let (t, _) = built_sample();
    let theme = t.path().join("theme");
    std::fs::create_dir(&theme).unwrap();
    std::fs::write(
        theme.join("version.html"),
        "{% extends \"mlreg/version.html\" %}{% block footer %}<p class=\"custom\">Contoso internal</p>{% endblock footer %}",
    )
    .unwrap();
    let out = run(
        t.path(),
        &[
            "build",
            "registry",
            "--out",
            "themed",
            "--templates",
            "theme",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let page = std::fs::read_to_string(t.path().join("themed/models/credit-default/3/index.html"))
        .unwrap();
    assert!(page.contains("<p class=\"custom\">Contoso internal</p>"));
    assert!(
        page.contains("<h2 id=\"lineage\">Lineage</h2>"),
        "the rest of the page is the default"
    );
    let home = std::fs::read_to_string(t.path().join("themed/index.html")).unwrap();
    assert!(
        !home.contains("Contoso internal"),
        "other pages keep the default footer"
    );
    let broken = std::fs::write(
        theme.join("asset.html"),
        "{% extends \"mlreg/asset.html\" %}{% block content %}{{ oops(%}{% endblock content %}",
    );
    broken.unwrap();
    let out = run(
        t.path(),
        &[
            "build",
            "registry",
            "--out",
            "themed",
            "--templates",
            "theme",
        ],
    );
    assert_eq!(
        out.code, 2,
        "a broken template is a usage failure: {}",
        out.stderr
    );
    assert!(out.stderr.contains("asset.html"), "{}", out.stderr);
}

#[test]
fn search_shards_stay_small_and_find_what_they_should() {
    let (_t, files) = built_sample();
    let manifest_path = files
        .keys()
        .find(|k| *k == "search/index.json")
        .expect("search manifest")
        .clone();
    let manifest: serde_json::Value = serde_json::from_slice(&files[&manifest_path]).unwrap();
    let shard = manifest["shards"]["cr"].as_str().expect("a shard for `cr`");
    let entries: serde_json::Value = serde_json::from_slice(&files[shard]).unwrap();
    let ids: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["n"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"models/credit-default"), "{ids:?}");
    assert!(!ids.contains(&"models/iris-classifier"), "{ids:?}");
    let first_search = files[&manifest_path].len() + files[shard].len();
    assert!(
        first_search < 64 * 1024,
        "{first_search} bytes for the first search"
    );
    let home = std::str::from_utf8(&files["index.html"]).unwrap();
    assert!(home.contains(&format!("data-index=\"{manifest_path}\"")));
}

#[test]
fn the_site_builds_the_same_bytes_twice() {
    let (_a, first) = built_sample();
    let (_b, second) = built_sample();
    let pages: Vec<&String> = first
        .keys()
        .filter(|k| k.ends_with(".html") || k.starts_with("search/") || k.starts_with("feed"))
        .collect();
    assert!(pages.len() > 30);
    for p in pages {
        assert!(first[p] == second[p], "{p} differs between builds");
    }
}

/// A component with many inputs (Microsoft's fine-tuning components have 50 and more) keeps its
/// page readable: the spec's own description and tags show, and the long list starts folded.
#[test]
fn long_port_lists_start_folded_and_spec_descriptions_show() {
    let mut spec = String::from(
        "command: python run.py\ndescription: Fine-tunes a model.\ntags: { stage: beta }\ninputs:\n",
    );
    for i in 0..56 {
        spec.push_str(&format!("  p{i:02}: {{ type: integer, default: {i} }}\n"));
    }
    spec.push_str("outputs:\n  model: { type: uri_folder }\nenvironment: azureml:python@latest\n");
    let t = tempfile::tempdir().unwrap();
    materialize(
        &format!("-- registry.yaml --\nname: wide\n-- components/wide/1/spec.yaml --\n{spec}"),
        &t.path().join("registry"),
    );
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    let page =
        std::fs::read_to_string(t.path().join("public/components/wide/1/index.html")).unwrap();
    assert!(
        page.contains("<details class=\"ports\">\n  <summary><h3>Inputs <span class=\"muted\">(56)</span></h3></summary>"),
        "{page}"
    );
    assert!(page.contains("<details class=\"ports\" open>\n  <summary><h3>Outputs <span class=\"muted\">(1)</span></h3></summary>"));
    assert!(page.contains(
        "<dt>Description</dt><dd>Fine-tunes a model.</dd><dt>Tags</dt><dd>stage: beta</dd>"
    ));
    assert_eq!(page.matches("<th scope=\"row\"><code>p").count(), 56);
}
