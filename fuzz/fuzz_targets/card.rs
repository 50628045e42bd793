//! Cards: `site::markdown::card` (pulldown-cmark + ammonia) with a link function shaped like
//! the site's (version.rs), plus the front matter path of `load` (files::front_matter →
//! yaml::parse → files::shift → manifest::card_meta) and diagnostic rendering. Asserts that
//! the sanitized HTML holds no active content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlreg::diag::{Diagnostic, Report};
use mlreg::registry::decode::Cx;
use mlreg::registry::{files, manifest, yaml};
use std::collections::BTreeMap;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains('\0') {
        return; // read_bounded refuses NUL bytes
    }
    // Front matter, as load::Loader::card reads it.
    let file: Arc<str> = Arc::from("models/x/1/README.md");
    let atext: Arc<str> = Arc::from(text);
    let mut diags: Vec<Diagnostic> = Vec::new();
    if let Some((start, front)) = files::front_matter(text) {
        match yaml::parse(front) {
            Ok(mut node) => {
                files::shift(&mut node, text, start);
                let mut cx = Cx::new(file.clone(), atext.clone(), &mut diags);
                let _ = manifest::card_meta(&mut cx, &node);
                if !node.is_null() {
                    let _ = yaml::Json::of(&node).value();
                }
            }
            Err(e) => {
                let mut pos = e.pos;
                pos.offset += start;
                pos.line += text[..start].matches('\n').count() as u32;
                diags.push(Diagnostic::new(
                    mlreg::diag::codes::YAML_SYNTAX,
                    Some(mlreg::diag::Loc::at(&file, pos)),
                    e.message,
                ));
            }
        }
    }
    let mut report = Report::default();
    report.extend(diags);
    report.sources.insert(file, atext);
    report.finish();
    let _ = report.render_human(false);

    // The card, with the site's link function (version.rs): a relative URL naming a shipped
    // file becomes its blob URL, anything else is dropped.
    let files: BTreeMap<String, String> = [
        ("model.pkl", "blobs/ab/cd"),
        ("README.md", "blobs/ef/01"),
        ("data/train.csv", "blobs/23/45"),
        ("a b.txt", "blobs/67/89"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let root = "../../".to_string();
    let html = mlreg::site::markdown::card(text, move |url| {
        let clean = url.trim_start_matches("./");
        files.get(clean).map(|blob| format!("{root}{blob}"))
    });
    if let Some(why) = active(&html) {
        panic!("ACTIVE HTML ({why}) in sanitized card output:\n{html}");
    }
});

/// Why `html` is active: a script element, an event-handler attribute, or a javascript: (or
/// other non-allowed-scheme) URL in href/src.
fn active(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    if lower.contains("<script") {
        return Some("<script".into());
    }
    let b = lower.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' && i + 1 < b.len() && b[i + 1].is_ascii_alphabetic() {
            // Walk the tag's attributes.
            let mut j = i + 1;
            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' && b[j] != b'/' {
                j += 1;
            }
            loop {
                while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                    j += 1;
                }
                if j >= b.len() || b[j] == b'>' {
                    break;
                }
                let ns = j;
                while j < b.len()
                    && !b[j].is_ascii_whitespace()
                    && !matches!(b[j], b'=' | b'>' | b'/')
                {
                    j += 1;
                }
                let name = &lower[ns..j];
                let mut value = String::new();
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && b[j] == b'=' {
                    j += 1;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                        let q = b[j];
                        let vs = j + 1;
                        j = vs;
                        while j < b.len() && b[j] != q {
                            j += 1;
                        }
                        value = lower[vs..j.min(b.len())].to_string();
                        j += 1;
                    } else {
                        let vs = j;
                        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                            j += 1;
                        }
                        value = lower[vs..j].to_string();
                    }
                }
                if name.starts_with("on") {
                    return Some(format!("event handler attribute `{name}`"));
                }
                if matches!(
                    name,
                    "href"
                        | "src"
                        | "action"
                        | "formaction"
                        | "xlink:href"
                        | "srcset"
                        | "poster"
                        | "data"
                        | "background"
                ) {
                    let v: String = value
                        .replace("&colon;", ":")
                        .replace("&#58;", ":")
                        .replace("&#x3a;", ":")
                        .chars()
                        .filter(|c| !c.is_whitespace() && !c.is_control())
                        .collect();
                    for bad in ["javascript:", "vbscript:", "data:"] {
                        if v.starts_with(bad) {
                            return Some(format!("`{name}` with {bad} URL: {value}"));
                        }
                    }
                }
                if matches!(name, "style") {
                    return Some("style attribute".into());
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    for tag in [
        "<iframe", "<object", "<embed", "<form", "<style", "<svg", "<math", "<base", "<meta",
        "<link",
    ] {
        if lower.contains(tag) {
            return Some(format!("{tag} element"));
        }
    }
    None
}
