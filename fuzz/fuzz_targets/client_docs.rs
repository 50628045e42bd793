//! Client side, untrusted network data: every index document type through
//! `client::parse_root` / `client::parse_document` (what the client does with fetched bytes),
//! then what the client does next with them: `check_version`, `check_ref`, `computed_digest`,
//! `signed_bytes`, `trust::check` (signatures, serial, `expires`), `resolve::pick`,
//! `pull::needs`, `yaml::to_yaml` of the spec (`show`); and reference parsing
//! (`registry::reference::{parse, local, short_form, looks_like_reference}`) of the input as
//! text and of every selector/id the documents hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlreg::client::{self, resolve::Resolved};
use mlreg::publish::index::{self, AssetDoc, Bin, Snapshot, TrustDoc, UsedByPage, VersionDoc};
use mlreg::registry::reference::{self, Scope, Selector};
use std::time::Duration;

fn refs(s: &str) {
    let stages: Vec<String> = ["dev", "test", "prod"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for registry in [None, Some("contoso")] {
        let scope = Scope {
            registry,
            stages: &stages,
        };
        let _ = reference::parse(s, scope);
        let _ = reference::local(s, scope);
    }
    let _ = reference::short_form(s, &stages);
    let _ = reference::looks_like_reference(s);
    let _ = client::escape(s);
    let _ = client::unsafe_path(s);
}

fn version(id: &str, ver: &str, v: &VersionDoc) {
    let _ = client::check_version(id, ver, v);
    let _ = v.computed_digest();
    let _ = client::check_ref(&v.spec_file);
    for f in &v.files {
        let _ = client::unsafe_path(&f.path);
    }
    for r in &v.used_by_pages {
        let _ = client::check_ref(r);
    }
    if let Some(c) = &v.card {
        let _ = client::check_ref(&c.blob);
    }
    let spec = v.spec.value();
    let _ = mlreg::registry::yaml::to_yaml(&spec);
    if let Some(l) = &v.lineage {
        let _ = l.value();
        let _ = l.get("job");
    }
    let resolved = Resolved {
        registry: "contoso".into(),
        id: id.into(),
        version: ver.into(),
        stage: None,
        implied: None,
        stages: Vec::new(),
        version_doc: v.clone(),
        source: "/nonexistent".into(),
    };
    let _ = client::pull::needs(&resolved);
    let _ = client::pull::wanted(&resolved);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        refs(text);
        for line in text.lines().take(8) {
            refs(line);
        }
    }
    if let Ok(root) = client::parse_root(data) {
        let _ = index::signed_bytes(&root);
        let _ = client::check_ref(&root.snapshot);
        refs(&root.registry.name);
        let source =
            client::Source::open("/nonexistent-mlreg-fuzz", Duration::from_secs(1)).unwrap();
        let seen = client::trust::Seen::default();
        let mut notes = Vec::new();
        let _ = client::trust::check(&root, &source, &seen, &[], 1_700_000_000, &mut notes);
        if let Some(t) = &root.trust {
            let pinned = client::trust::Seen {
                serial: 0,
                trust: Some(t.clone()),
            };
            let _ = client::trust::check(&root, &source, &pinned, &[], 1_700_000_000, &mut notes);
            let given: Vec<String> = root.signatures.iter().map(|s| s.key.clone()).collect();
            let _ = client::trust::check(&root, &source, &seen, &given, 1_700_000_000, &mut notes);
        }
        if let Some(e) = &root.expires {
            let _ = mlreg::time::epoch(e);
        }
    }
    if let Ok(doc) = client::parse_document::<AssetDoc>("models/x.json", data) {
        let _ = doc.to_bytes();
        let _ = index::to_bytes(&doc);
        for (ver, v) in &doc.versions {
            version(&doc.id, ver, v);
        }
        let selectors: Vec<String> = doc.stages.keys().cloned().collect();
        let mut sels = vec![Selector::Latest];
        for s in doc.stages.keys() {
            sels.push(Selector::Label(s.clone()));
        }
        for v in doc.order.iter().take(4) {
            sels.push(Selector::Version(v.clone()));
            refs(v);
        }
        sels.push(Selector::Label("prdo".into()));
        for sel in &sels {
            let _ = client::resolve::pick(&doc, &selectors, &format!("{}@x", doc.id), sel);
        }
        refs(&doc.id);
    }
    if let Ok(v) = client::parse_document::<VersionDoc>("v.json", data) {
        version("models/x", "1", &v);
    }
    if let Ok(doc) = client::parse_document::<Snapshot>("snapshot.json", data) {
        for r in doc.bins.values() {
            let _ = client::check_ref(r);
        }
        let _ = index::to_bytes(&doc);
    }
    if let Ok(doc) = client::parse_document::<Bin>("bin.json", data) {
        for (id, e) in &doc.assets {
            let _ = client::check_ref(&e.doc);
            let _ = index::bin_of(id);
            refs(id);
        }
        let _ = index::to_bytes(&doc);
    }
    if let Ok(doc) = client::parse_document::<TrustDoc>("trust/1.json", data) {
        let _ = index::signed_bytes(&doc);
    }
    if let Ok(doc) = client::parse_document::<UsedByPage>("usedby.json", data) {
        let _ = index::to_bytes(&doc);
    }
});
