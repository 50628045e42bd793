//! The local paths a spec names, and where they go: found as `check --spec` finds them (with
//! the component files of pipeline jobs followed, and a command component's
//! `additional_includes`), placed in the version folder (a path out of the spec's folder without
//! its leading `..`, one into the registry's `common/` folder named from the version, and not
//! copied) with what the spec must say instead, and copied.

use super::Refused;
use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::decode::{Cx, Text};
use crate::registry::discover::COMMON;
use crate::registry::load::Loader;
use crate::registry::names;
use crate::registry::reference::Scope;
use crate::registry::spec::{self, Expect, LocalPath, Spec};
use crate::registry::validate::{self, PathRules};
use crate::registry::yaml::Node;
use crate::registry::yaml::scalar;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walkdir::WalkDir;

/// How the input's local paths are checked: they must exist as their field needs; they may
/// climb out of the spec's folder, as `az ml` allows (they are copied in).
pub(super) const INPUT_PATHS: PathRules = PathRules {
    exist: true,
    climb: usize::MAX,
    into: None,
};

/// Component files of pipeline jobs that include further ones, at most (as `check`).
const MAX_NESTING: usize = 8;

/// A local path the spec (or a component file it includes) names.
pub(super) struct Named {
    /// As written, where it is written.
    pub(super) text: Text,
    field: String,
    /// The component file (relative to the spec's folder) that names it; `None` for the spec.
    via: Option<String>,
    /// Relative to the spec's folder, normalized; `../` in front when it climbs out.
    pub(super) rel: String,
    abs: PathBuf,
}

/// The local paths a spec names, resolved against its folder `root` (shown as `shown`): its own,
/// those of the component files it includes, and its `additional_includes` (from `entries`, its
/// fields, in `file`). Each is checked as [`INPUT_PATHS`]; a problem goes to the loader's
/// diagnostics, and the path is left out.
pub(super) fn named(
    loader: &mut Loader,
    root: &Path,
    shown: &str,
    scope: Scope,
    spec: &Spec,
    file: &Arc<str>,
    entries: &[(Node, Node)],
) -> Vec<Named> {
    let mut named = Vec::new();
    let mut walk = Walk {
        loader,
        root,
        shown,
        scope,
        named: &mut named,
        stack: Vec::new(),
    };
    walk.spec(spec, "", None);
    for include in additional_includes(file, entries) {
        walk.path(&include, "", None);
    }
    named
}

/// The local paths of a spec, checked as `check --spec` checks them, following component files.
struct Walk<'a> {
    loader: &'a mut Loader,
    root: &'a Path,
    shown: &'a str,
    scope: Scope<'a>,
    named: &'a mut Vec<Named>,
    /// The component files being followed, against cycles.
    stack: Vec<String>,
}

impl Walk<'_> {
    fn spec(&mut self, spec: &Spec, base: &str, via: Option<&str>) {
        for lp in &spec.paths {
            // Templated paths (`${{parent.inputs.x}}`) are bound when the job runs.
            if lp.path.value.contains("${{") {
                continue;
            }
            self.path(lp, base, via);
        }
    }

    fn path(&mut self, lp: &LocalPath, base: &str, via: Option<&str>) {
        let checked = match validate::local_path(self.root, base, lp, INPUT_PATHS, None) {
            Ok(c) => c,
            Err(d) => {
                self.loader.diags.push(d);
                return;
            }
        };
        // Paths under `code` (spark's `entry.file`, `py_files`) come with the code folder.
        if lp.under.is_some() {
            return;
        }
        // The component file is placed before what it names, which must land relative to it.
        self.named.push(Named {
            text: lp.path.clone(),
            field: lp.field.clone(),
            via: via.map(str::to_string),
            rel: checked.rel.clone(),
            abs: checked.abs.clone(),
        });
        if lp.expect == Expect::Component {
            self.component(&checked.rel, &checked.abs, lp);
        }
    }

    /// A component file of a pipeline job: its own paths, relative to it.
    fn component(&mut self, rel: &str, abs: &Path, lp: &LocalPath) {
        if self.stack.iter().any(|s| s == rel) || self.stack.len() >= MAX_NESTING {
            self.loader.diags.push(Diagnostic::new(
                codes::LINEAGE_CYCLE,
                Some(lp.path.loc.clone()),
                format!(
                    "component file `{rel}` includes itself (through {})",
                    self.stack.join(" -> ")
                ),
            ));
            return;
        }
        let file = crate::registry::discover::shown(self.shown, rel);
        let Some((text, node)) = self.loader.yaml(abs, &file) else {
            return;
        };
        let mut ignored = Vec::new();
        let inner = spec::decode_anonymous_component(
            &mut Cx::new(file, text, &mut ignored),
            &node,
            self.scope,
        );
        if let Some(inner) = inner {
            let base = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
            self.stack.push(rel.to_string());
            self.spec(&inner, &base, Some(rel));
            self.stack.pop();
        }
    }
}

/// `additional_includes` of a command component: files Azure adds to its code, relative to
/// the spec. (`check` does not follow them; a version must still ship them.)
fn additional_includes(shown: &Arc<str>, entries: &[(Node, Node)]) -> Vec<LocalPath> {
    let items = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("additional_includes"))
        .and_then(|(_, v)| v.as_seq())
        .unwrap_or(&[]);
    items
        .iter()
        .filter_map(|n| {
            let s = n.as_str().filter(|s| !names::is_remote(s))?;
            Some(LocalPath {
                path: Text::new(s.to_string(), Loc::at(shown, n.pos)),
                field: "additional_includes".into(),
                expect: Expect::Any,
                dockerfile: None,
                under: None,
            })
        })
        .collect()
}

/// Where a named path goes.
pub(super) struct Placed {
    pub(super) source: PathBuf,
    /// Relative to the version folder (`""` for the folder itself; `../../../common/...` for
    /// the registry's shared files).
    pub(super) to: String,
    /// Copied (not the registry's own shared files, and not inside another copied folder).
    pub(super) copy: bool,
    /// What the spec must say instead of what it says.
    pub(super) rewrite: Option<String>,
}

/// Decide where each named path goes, in the order of `named`.
pub(super) fn place(
    registry: &Path,
    named: &[Named],
    notes: &mut Vec<String>,
) -> Result<Vec<Placed>, Refused> {
    let common = registry.join(COMMON).canonicalize().ok();
    let mut placed: Vec<Placed> = Vec::new();
    for n in named {
        let source = n
            .abs
            .canonicalize()
            .map_err(|e| format!("cannot read `{}`: {e}", n.abs.display()))?;
        let written = format!("`{}: {}`", n.field, n.text.value);
        let (to, copy) = match common.as_ref().and_then(|c| source.strip_prefix(c).ok()) {
            Some(rest) => {
                let to = format!(
                    "../../../{COMMON}/{}",
                    rest.to_string_lossy().replace('\\', "/")
                );
                (to, false)
            }
            None if n.rel == ".." || n.rel.starts_with("../") => {
                let inside: Vec<&str> = n.rel.split('/').skip_while(|p| *p == "..").collect();
                let to = match inside.join("/") {
                    s if s.is_empty() => source
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    s => s,
                };
                (to, true)
            }
            None => (n.rel.clone(), true),
        };
        if to == "spec.yaml" {
            return Err(Refused::Fail(format!(
                "{written} would be copied to spec.yaml, which is the version's spec: rename it"
            )));
        }
        let rewrite = match &n.via {
            None if normalize(&n.text.value) == to => None,
            None => {
                notes.push(match copy {
                    true => format!(
                        "{written} leaves the spec's folder: copied to `{to}`, and the spec says so"
                    ),
                    false => format!(
                        "{written} is in the registry's {COMMON}/ folder: the spec names it from the version, `{to}`"
                    ),
                });
                Some(scalar(&to))
            }
            // Component files keep their text: what they name must land where it says.
            Some(file) => {
                let file_to = named
                    .iter()
                    .zip(&placed)
                    .find(|(m, _)| m.rel == *file)
                    .map(|(_, p)| p.to.clone())
                    .unwrap_or_else(|| file.clone());
                let from_file = file_to.rsplit_once('/').map_or("", |(d, _)| d);
                if normalize(&format!("{from_file}/{}", n.text.value)) != to {
                    return Err(Refused::Fail(format!(
                        "{}:{}: {written} in `{file}` would not find its target once copied (`{to}`): mlreg add rewrites paths in the spec only; move it beside `{file}`",
                        n.text.loc.file, n.text.loc.line
                    )));
                }
                None
            }
        };
        placed.push(Placed {
            source,
            to,
            copy,
            rewrite,
        });
    }
    // A path inside a folder that is copied anyway comes with it; two different things at one
    // place cannot both be copied.
    let mut copied: Vec<(String, PathBuf)> = Vec::new();
    let mut order: Vec<usize> = (0..placed.len()).filter(|i| placed[*i].copy).collect();
    order.sort_by(|a, b| placed[*a].to.cmp(&placed[*b].to));
    for i in order {
        let p = &placed[i];
        let within = copied.iter().find_map(|(to, source)| {
            let rest = match to.is_empty() {
                true => Some(p.to.as_str()),
                false => p.to.strip_prefix(to.as_str()).and_then(|r| {
                    (r.is_empty() || r.starts_with('/')).then(|| r.trim_start_matches('/'))
                }),
            }?;
            Some(join(source, rest))
        });
        match within {
            Some(expected) if expected.canonicalize().ok().as_ref() == Some(&p.source) => {
                placed[i].copy = false;
            }
            Some(_) => {
                return Err(Refused::Fail(format!(
                    "`{}` and another path the spec names would both be copied to `{}`: rename one",
                    named[i].text.value, p.to
                )));
            }
            None => copied.push((p.to.clone(), p.source.clone())),
        }
    }
    Ok(placed)
}

/// A relative path with `.` parts and inner `..` folded (`./a/../b/` is `b`); leading `..` stay.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split(['/', '\\']) {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

pub(super) fn join(base: &Path, rel: &str) -> PathBuf {
    match rel.is_empty() {
        true => base.to_path_buf(),
        false => base.join(rel),
    }
}

/// Copy a file, or a folder's files (dot-files left out, as the registry ignores them, and the
/// `exclude`d: the spec itself, which spec.yaml replaces, and the registry, when the folder
/// holds it). The number of files copied, and the dot-files and dot-folders left out.
pub(super) fn copy(
    from: &Path,
    to: &Path,
    exclude: &[PathBuf],
) -> Result<(usize, Vec<String>), String> {
    let fail = |what: &Path, e: std::io::Error| format!("cannot copy `{}`: {e}", what.display());
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::copy(from, to).map_err(|e| fail(from, e))?;
        return Ok((1, Vec::new()));
    }
    let (mut files, mut dots) = (0, Vec::new());
    let walk = WalkDir::new(from)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let dot = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            if dot {
                let rel = e.path().strip_prefix(from).unwrap_or(e.path());
                dots.push(rel.to_string_lossy().replace('\\', "/"));
            }
            !dot && !e.path().canonicalize().is_ok_and(|c| exclude.contains(&c))
        });
    for entry in walk {
        let entry = entry.map_err(|e| format!("cannot copy `{}`: {e}", from.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::copy(entry.path(), &dest).map_err(|e| fail(entry.path(), e))?;
        files += 1;
    }
    Ok((files, dots))
}

/// `rel` under a folder shown as `base` (`.` for where mlreg runs).
pub(super) fn join_shown(base: &str, rel: &str) -> String {
    match (base, rel) {
        (_, "") => base.to_string(),
        ("" | ".", _) => rel.to_string(),
        _ => format!("{}/{rel}", base.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fold() {
        assert_eq!(normalize("./a/../b/"), "b");
        assert_eq!(normalize("../../x/./y"), "../../x/y");
        assert_eq!(normalize("."), "");
    }
}
