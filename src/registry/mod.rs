//! Reading the registry folder, in the order data flows: [`discover`] (which file is what) →
//! [`yaml`] (the one YAML parser, bounded) → [`decode`] into [`manifest`]s and [`spec`]s →
//! [`validate`] (rules on one manifest) → [`load`] (every manifest of the folder) → [`resolve`]
//! (references, stages and lineage across manifests) → [`model::Registry`].
//!
//! [`check`] and [`check_specs`] run that pipeline on a folder or on lone Azure spec files and
//! return one sorted [`Report`]; `build`, `serve` and `check` all start here.

pub mod decode;
pub mod discover;
pub mod files;
pub mod kind;
pub mod load;
pub mod manifest;
pub mod model;
pub mod names;
pub mod reference;
pub mod resolve;
pub mod spec;
pub mod validate;
pub mod yaml;

use crate::diag::{Diagnostic, Lints, Loc, Report, codes, plural};
use decode::Cx;
use kind::Kind;
use load::{Earlier, Loaded, Loader};
use model::Registry;
use reference::Scope;
use std::path::Path;
use std::sync::Arc;
use validate::PathRules;

pub struct Outcome {
    pub report: Report,
    /// What was checked, for the summary line.
    pub subject: String,
    /// The checked manifests and the resolved registry (registry checks only).
    pub registry: Option<(Loaded, Registry)>,
    /// The lint levels of `registry.yaml` and each `asset.yaml`, for diagnostics added later.
    pub lints: Lints,
}

/// Check a registry folder. `display` is how paths are shown (the folder as the user typed it).
pub fn check(dir: &Path, display: &str) -> Outcome {
    check_after(dir, display, Earlier::default())
}

/// [`check`], with the unchanged assets of an earlier check (see [`Earlier`]).
pub fn check_after(dir: &Path, display: &str, earlier: Earlier) -> Outcome {
    let mut loader = Loader::new(PathRules::VERSION);
    let loaded = loader.load_registry_after(dir, display, earlier);
    let registry = crate::registry::resolve::resolve(&loaded, &mut loader.diags);
    let subject = format!(
        "registry {}: {}, {}",
        if registry.name.is_empty() {
            "(unnamed)"
        } else {
            &registry.name
        },
        plural(registry.assets.len(), "asset"),
        plural(registry.version_count(), "version")
    );
    let lints = Lints {
        registry: registry.lints.clone(),
        folders: registry
            .assets
            .values()
            .filter(|a| !a.lints.is_empty())
            .map(|a| {
                let dir = discover::shown(display, &format!("{}/{}", a.kind.folder(), a.name));
                (dir.to_string(), a.lints.clone())
            })
            .collect(),
    };
    Outcome {
        report: finish(loader, &lints),
        subject,
        registry: Some((loaded, registry)),
        lints,
    }
}

/// `registry.yaml` alone, for commands that need its settings before (or without) the whole
/// check: `None` when it is missing or unreadable (`check` says why).
pub fn config(dir: &Path, display: &str) -> Option<manifest::RegistryConfig> {
    let file = discover::shown(display, "registry.yaml");
    let mut loader = Loader::new(PathRules::VERSION);
    let (text, node) = loader.yaml(&dir.join("registry.yaml"), &file)?;
    manifest::registry_config(&mut decode::Cx::new(file, text, &mut loader.diags), &node)
}

/// Check Azure spec files on their own (`check --spec`). Local paths are resolved against each
/// file's folder and may leave it, as Azure uploads what they name; `check_files` turns the
/// on-disk existence checks on.
pub fn check_specs(files: &[String], kind: Option<Kind>, check_files: bool) -> Outcome {
    let mut loader = Loader::new(PathRules {
        exist: check_files,
        climb: 0,
        into: None,
    });
    let stages: Vec<String> = kind::DEFAULT_STAGES.iter().map(|s| s.to_string()).collect();
    let scope = Scope {
        registry: None,
        stages: &stages,
    };
    for shown in files {
        let path = Path::new(shown);
        let file: Arc<str> = Arc::from(shown.as_str());
        let Some((text, node)) = loader.yaml(path, &file) else {
            continue;
        };
        let mut cx = Cx::new(file.clone(), text, &mut loader.diags);
        let Some(kind) = kind.or_else(|| kind_from_schema(&mut cx, &node)) else {
            continue;
        };
        let Some(s) = spec::decode(&mut cx, &node, kind, scope) else {
            continue;
        };
        match &s.name {
            Some(n) => {
                if let Some(why) = names::name_problem(kind, &n.value) {
                    cx.report(Diagnostic::new(
                        codes::INVALID_NAME,
                        Some(n.loc.clone()),
                        format!("`{}`: {why}", n.value),
                    ));
                }
            }
            None => cx.error_help(
                codes::MISSING_FIELD,
                &node,
                format!(
                    "a {} spec outside a registry needs a `name`",
                    kind.singular()
                ),
                "inside a registry the name comes from the asset folder",
            ),
        }
        if let Some(v) = &s.version
            && let Some(why) = names::version_problem(&v.value)
        {
            cx.report(Diagnostic::new(
                codes::INVALID_VERSION,
                Some(v.loc.clone()),
                why,
            ));
        }
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let parent_shown = parent.to_string_lossy().into_owned();
        loader.paths.climb = depth_below_cwd(parent);
        loader.spec_paths(
            parent,
            &parent_shown,
            "",
            &s,
            "",
            None,
            scope,
            &mut Vec::new(),
        );
    }
    let subject = plural(files.len(), "spec file");
    Outcome {
        report: finish(loader, &Lints::default()),
        subject,
        registry: None,
        lints: Lints::default(),
    }
}

/// How many folders `dir` lies below the working directory (0 when it is not below it).
fn depth_below_cwd(dir: &Path) -> usize {
    let (Ok(cwd), Ok(dir)) = (
        std::env::current_dir().and_then(|d| d.canonicalize()),
        dir.canonicalize(),
    ) else {
        return 0;
    };
    dir.strip_prefix(&cwd)
        .map(|rel| rel.components().count())
        .unwrap_or(0)
}

/// The kind a lone spec declares through `$schema`.
fn kind_from_schema(cx: &mut Cx, node: &crate::registry::yaml::Node) -> Option<Kind> {
    let schema = node.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_str() == Some("$schema"))
            .map(|(_, v)| v)
    });
    let Some(schema) = schema else {
        cx.error_help(
            codes::UNKNOWN_KIND,
            node,
            "cannot tell what kind of spec this is: it has no `$schema`",
            "pass --kind model|environment|data|component, or add the Azure `$schema` URL",
        );
        return None;
    };
    let url = schema.as_str().unwrap_or_default();
    if let Some((kind, _)) = spec::kind_of_schema(url) {
        return Some(kind);
    }
    let what = spec::unsupported_schema(url).unwrap_or_else(|| url.to_string());
    let loc = Some(Loc::at(&cx.file, schema.pos));
    cx.report(
        Diagnostic::new(
            codes::UNSUPPORTED_KIND,
            loc,
            format!(
                "`{what}` specs are not registry assets (models, components, environments, data)"
            ),
        )
        .help("mlreg checks model, environment, data and component specs"),
    );
    None
}

/// The report of a check, settled.
fn finish(loader: Loader, lints: &Lints) -> Report {
    let mut report = Report {
        diagnostics: loader.diags,
        sources: Default::default(),
    };
    settle(&mut report, lints);
    report
}

/// Apply the lint levels, sort the diagnostics, and read back the files they point
/// into, for snippets. Files are shown by their path from where mlreg runs, so that is where
/// they are read. Run again after adding diagnostics (from a comparison with a previous build).
pub fn settle(report: &mut Report, lints: &Lints) {
    report.apply_levels(lints);
    report.finish();
    for d in &report.diagnostics {
        let Some(loc) = d.loc.as_ref().filter(|l| l.line > 0) else {
            continue;
        };
        if report.sources.contains_key(&loc.file) {
            continue;
        }
        if let Ok(text) = files::read_bounded(Path::new(&*loc.file), &loc.file) {
            report.sources.insert(loc.file.clone(), text);
        }
    }
}
