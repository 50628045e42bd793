//! Manifest / spec YAML: the bounded, located YAML reader (`registry::yaml::parse`, via
//! `load::Loader::yaml`, which adds the file guards: size, UTF-8, NUL) and every decoder of
//! a registry file (spec of each kind, anonymous component, registry.yaml, asset.yaml,
//! stages, lineage, card front matter), then rendering every diagnostic against the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlreg::diag::Report;
use mlreg::registry::decode::Cx;
use mlreg::registry::kind::Kind;
use mlreg::registry::load::Loader;
use mlreg::registry::reference::Scope;
use mlreg::registry::validate::PathRules;
use mlreg::registry::{manifest, spec, validate, yaml};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("mlreg-fuzz-yaml-{}.yaml", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let file: Arc<str> = Arc::from("models/x/1/spec.yaml");
    let mut loader = Loader::new(PathRules {
        exist: false,
        climb: 0,
        into: None,
    });
    let mut report = Report::default();
    if let Some((text, node)) = loader.yaml(&path, &file) {
        let stages: Vec<String> = ["dev", "test", "prod", "staging"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scope = Scope {
            registry: Some("contoso"),
            stages: &stages,
        };
        let _ = yaml::Json::of(&node).value();
        let _ = node.to_json();
        let mut diags = Vec::new();
        {
            let mut cx = Cx::new(file.clone(), text.clone(), &mut diags);
            for kind in Kind::ALL {
                let _ = spec::decode(&mut cx, &node, kind, scope);
            }
            let _ = spec::decode_anonymous_component(&mut cx, &node, scope);
            if let Some(c) = manifest::registry_config(&mut cx, &node) {
                let mut more = Vec::new();
                validate::registry_config(&c, &mut more);
                cx.diags.extend(more);
            }
            let _ = manifest::asset_meta(&mut cx, &node);
            let _ = manifest::stage_log(&mut cx, &node);
            let _ = manifest::lineage(&mut cx, &node);
            let _ = manifest::card_meta(&mut cx, &node);
            if let Some(s) = node.as_str() {
                let _ = spec::kind_of_schema(s);
                let _ = spec::unsupported_schema(s);
            }
        }
        report.extend(loader.diags.drain(..));
        report.extend(diags);
        report.sources.insert(file.clone(), text);
    } else {
        // The file guards or the parser refused it: the diagnostic points into the text as read.
        report.extend(loader.diags.drain(..));
        report.sources.insert(
            file.clone(),
            Arc::from(String::from_utf8_lossy(data).into_owned()),
        );
    }
    report.finish();
    let _ = report.render_human(false);
    let _ = report.render_human(true);
    let _ = report.render_json();
    let _ = report.render_github();
});
