//! Rules on one manifest that need more than its decoding: `registry.yaml` as a whole (names,
//! stages, workspaces, policy, URLs), and the local paths of a spec on disk (they exist as what
//! they must be, stay inside the version folder, and pass through no symlink out of it), or in
//! the version folder's [`Listing`], where that can tell.
//!
//! Nothing here looks at another manifest; that is `resolve`'s job. Rules inside a component
//! (bindings, parameters) are part of decoding it, in `spec::bindings`.

use crate::diag::{Diagnostic, LintLevel, LintTable, Severity, codes};
use crate::registry::decode::Text;
use crate::registry::decode::nearest;
use crate::registry::spec::{Expect, LocalPath};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// `registry.yaml` on its own: the registry name (Azure's rule), stage names, workspaces and
/// policy stages, URLs.
pub fn registry_config(c: &crate::registry::manifest::RegistryConfig, diags: &mut Vec<Diagnostic>) {
    if let Some(name) = &c.name
        && let Some(why) = crate::registry::names::registry_name_problem(&name.value)
    {
        diags.push(Diagnostic::new(
            codes::INVALID_NAME,
            Some(name.loc.clone()),
            format!("registry name `{}`: {why}", name.value),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in c.stages.iter().chain(&c.labels) {
        let b = s.value.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 32
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'));
        if !ok || s.value == "latest" {
            diags.push(Diagnostic::new(
                codes::INVALID_NAME,
                Some(s.loc.clone()),
                format!("stage or label `{}` must be lowercase letters, digits, `_` and `-`, start with a letter, and not be `latest`", s.value),
            ));
        }
        if !seen.insert(s.value.as_str()) {
            diags.push(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(s.loc.clone()),
                format!(
                    "`{}` is listed twice (stages and labels share one namespace)",
                    s.value
                ),
            ));
        }
    }
    let stage_names: Vec<&str> = c.stages.iter().map(|s| s.value.as_str()).collect();
    let mut names = std::collections::BTreeMap::new();
    for w in &c.workspaces {
        if let Some(first) = names.insert(w.name.value.to_lowercase(), &w.name) {
            diags.push(Diagnostic::new(
                codes::DUPLICATE_WORKSPACE,
                Some(w.name.loc.clone()),
                format!(
                    "workspace `{}` is listed twice (first at line {})",
                    w.name.value, first.loc.line
                ),
            ));
        }
        if let Some(s) = &w.stage {
            diags.extend(unknown_stage(s, &stage_names));
        }
        if let Some(m) = &w.mirror {
            url(m, "`mirror`", diags);
        }
    }
    for p in [&c.policy_lineage, &c.policy_card].into_iter().flatten() {
        diags.extend(unknown_stage(p, &stage_names));
    }
    for p in &c.promotion {
        diags.extend(unknown_stage(&p.stage, &stage_names));
        for g in &p.gates {
            for a in &g.assets {
                let name = a
                    .value
                    .strip_prefix("models/")
                    .map(|n| n.trim_end_matches('*'));
                if name.is_none_or(|n| {
                    n.is_empty() && !a.value.ends_with('*') || n.contains(['@', '/'])
                }) {
                    diags.push(Diagnostic::new(
                        codes::INVALID_VALUE,
                        Some(a.loc.clone()),
                        format!(
                            "`{}` is not a model: write `models/<name>`, or a prefix ending in `*`",
                            a.value
                        ),
                    ));
                }
            }
            for d in &g.data {
                let name = d
                    .value
                    .strip_prefix("data/")
                    .map(|n| n.trim_end_matches('*'));
                if name.is_none_or(|n| {
                    n.is_empty() && !d.value.ends_with('*') || n.contains(['@', '/'])
                }) {
                    diags.push(
                        Diagnostic::new(
                            codes::INVALID_VALUE,
                            Some(d.loc.clone()),
                            format!("`{}` is not a data asset: write `data/<name>`, or a prefix ending in `*`", d.value),
                        )
                        .help("a gate matches the data a metric was measured on, in any version"),
                    );
                }
            }
        }
    }
    if let Some(b) = &c.base_url {
        url(b, "`base_url`", diags);
    }
    let mut targets = std::collections::BTreeSet::new();
    for t in &c.publish.targets {
        let why = crate::registry::names::target_problem(&t.value).or_else(|| {
            (!targets.insert(t.value.trim_end_matches('/')))
                .then(|| format!("`{}` is listed twice", t.value))
        });
        if let Some(why) = why {
            diags.push(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(t.loc.clone()),
                why,
            ));
        }
    }
    if let Some(keep) = &c.publish.keep
        && !(1..=1000).contains(&keep.value)
    {
        diags.push(
            Diagnostic::new(
                codes::INVALID_VALUE,
                Some(keep.loc.clone()),
                format!("`keep: {}` must be between 1 and 1000", keep.value),
            )
            .help("it is how many of the last published builds stay readable in full"),
        );
    }
    if let Some(grace) = &c.publish.grace
        && let Err(why) = crate::registry::names::duration(&grace.value)
    {
        diags.push(Diagnostic::new(
            codes::INVALID_VALUE,
            Some(grace.loc.clone()),
            why,
        ));
    }
    if let Some(t) = &c.trust {
        trust(t, diags);
    }
}

/// `trust:`: keys that are minisign public keys, each once; a threshold they can meet; a
/// validity long enough to republish within and short enough to matter.
fn trust(t: &crate::registry::manifest::TrustConfig, diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::BTreeSet::new();
    for k in &t.keys {
        let why = if minisign_verify::PublicKey::from_base64(k.value.trim()).is_err() {
            Some(format!(
                "`{}` is not a minisign public key (the base64 line of a `.pub` file)",
                k.value
            ))
        } else if !seen.insert(k.value.trim()) {
            Some(format!("the key `{}` is listed twice", k.value))
        } else {
            None
        };
        if let Some(why) = why {
            diags.push(
                Diagnostic::new(codes::INVALID_VALUE, Some(k.loc.clone()), why)
                    .help("make a key pair with `mlreg keygen`"),
            );
        }
    }
    if t.keys.is_empty() {
        diags.push(Diagnostic::new(
            codes::MISSING_FIELD,
            Some(t.at.clone()),
            "`trust` needs `keys`: the public keys that sign the registry's roots",
        ));
    }
    if let Some(th) = &t.threshold
        && !(1..=t.keys.len().max(1) as i64).contains(&th.value)
    {
        diags.push(Diagnostic::new(
            codes::INVALID_VALUE,
            Some(th.loc.clone()),
            format!(
                "`threshold: {}` must be between 1 and the number of keys ({})",
                th.value,
                t.keys.len()
            ),
        ));
    }
    if let Some(e) = &t.expires {
        match crate::registry::names::duration(&e.value) {
            Err(why) => diags.push(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(e.loc.clone()),
                why,
            )),
            Ok(d) if d.as_secs() < 3600 || d.as_secs() > 366 * 86_400 => diags.push(
                Diagnostic::new(
                    codes::INVALID_VALUE,
                    Some(e.loc.clone()),
                    format!("`expires: {}` must be between 1h and 366d", e.value),
                )
                .help("a signed root must be republished before it expires"),
            ),
            Ok(_) => {}
        }
    }
}

/// A `lints:` table as levels by code id. Each key names a warning by code or name; errors
/// have no level (nothing may turn them off), and an unknown key gets the nearest one.
pub fn lint_levels(entries: &[(Text, Text)], diags: &mut Vec<Diagnostic>) -> LintTable {
    let mut levels = BTreeMap::new();
    for (key, level) in entries {
        let found = codes::ALL
            .iter()
            .find(|code| code.id.eq_ignore_ascii_case(&key.value) || code.name == key.value);
        let Some(code) = found else {
            let known: Vec<&str> = codes::ALL
                .iter()
                .filter(|c| c.severity() == Severity::Warning)
                .flat_map(|c| [c.id, c.name])
                .collect();
            let mut d = Diagnostic::new(
                codes::INVALID_VALUE,
                Some(key.loc.clone()),
                format!("`{}` is not a diagnostic code or name", key.value),
            );
            if let Some(near) = nearest(&key.value, &known) {
                d = d.help(format!("did you mean `{near}`?"));
            }
            diags.push(d);
            continue;
        };
        if code.severity() == Severity::Error {
            diags.push(
                Diagnostic::new(
                    codes::INVALID_VALUE,
                    Some(key.loc.clone()),
                    format!(
                        "`{}` ({}) is an error: only warnings have a level",
                        code.id, code.name
                    ),
                )
                .help("errors always fail the check; fix the registry instead"),
            );
            continue;
        }
        let level = match level.value.as_str() {
            "allow" => LintLevel::Allow,
            "deny" => LintLevel::Deny,
            _ => LintLevel::Warn,
        };
        levels.insert(code.id, level);
    }
    levels
}

/// A stage name that is not one of `stages`, with the nearest one as a hint.
pub fn unknown_stage(t: &Text, stages: &[&str]) -> Option<Diagnostic> {
    if stages.contains(&t.value.as_str()) {
        return None;
    }
    let mut d = Diagnostic::new(
        codes::UNKNOWN_STAGE,
        Some(t.loc.clone()),
        format!(
            "`{}` is not a stage of this registry ({})",
            t.value,
            stages.join(", ")
        ),
    );
    if let Some(n) = crate::registry::decode::nearest(&t.value, stages) {
        d = d.help(format!("did you mean `{n}`?"));
    }
    Some(d)
}

fn url(t: &Text, what: &str, diags: &mut Vec<Diagnostic>) {
    let rest = t
        .value
        .strip_prefix("https://")
        .or_else(|| t.value.strip_prefix("http://"));
    if !rest
        .is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
    {
        diags.push(Diagnostic::new(
            codes::INVALID_VALUE,
            Some(t.loc.clone()),
            format!("{what} `{}` is not an http(s) URL", t.value),
        ));
    } else if !t.value.ends_with('/') {
        diags.push(
            Diagnostic::new(
                codes::INVALID_VALUE,
                Some(t.loc.clone()),
                format!("{what} `{}` must end with `/`", t.value),
            )
            .help("it is a folder: relative links are resolved against it"),
        );
    }
}

/// Where a local path leads, once checked.
pub struct Checked {
    /// Relative to the version folder, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    /// For a path into the registry's common folder: where it lands in the version,
    /// `common/<the rest>`.
    pub shared: Option<String>,
}

/// How local paths are checked.
#[derive(Clone, Copy, Debug)]
pub struct PathRules {
    /// They must exist as what the field needs (off for lone specs copied without their files).
    pub exist: bool,
    /// How many folders above the root a path may climb: from a version folder, to the registry
    /// (and then only into `into`); from a lone spec, up to the folder mlreg runs in, since
    /// Azure uploads what `code: ../src` names (but a pull request's spec must not reach the
    /// rest of the machine).
    pub climb: usize,
    /// The one folder a path that climbs must land in, at the top (`common` in a registry).
    pub into: Option<&'static str>,
}

impl PathRules {
    /// In a version folder of a registry: files of the version, or of the registry's common/.
    pub const VERSION: PathRules = PathRules {
        exist: true,
        climb: 3,
        into: Some(crate::registry::discover::COMMON),
    };
}

/// The files of a version folder as its walk listed them (`discover::VersionDir`): a local
/// path into the folder is checked against the listing, where it can tell, instead of on disk
/// again (a system call per part of the path, for each path of each version).
#[derive(Clone, Copy, Debug)]
pub struct Listing<'a> {
    /// Every file, relative to the folder, `/`-separated. Folders are those that hold a file;
    /// none is a symlink, which the walk does not follow.
    pub files: &'a [String],
    /// Those not to be taken at the listing's word (FIFOs, devices, names with a backslash).
    pub special: &'a [String],
}

impl Listing<'_> {
    /// Whether the listing shows `rel` to be what `expect` needs. When it does not (missing,
    /// a symlink, a special file, an empty folder, not what is needed), the disk is asked, and
    /// says why.
    fn shows(&self, rel: &str, expect: Expect) -> bool {
        let listed = |f: &&String| !self.special.contains(f);
        let file = |f: &str| self.files.iter().filter(listed).any(|x| x == f);
        let dir = |d: &str| {
            !d.is_empty()
                && self
                    .files
                    .iter()
                    .filter(listed)
                    .any(|x| x.strip_prefix(d).is_some_and(|r| r.starts_with('/')))
        };
        match expect {
            Expect::Any => file(rel) || dir(rel),
            Expect::File | Expect::CondaFile | Expect::Component => file(rel),
            Expect::Dir => dir(rel),
            Expect::MlTable => dir(rel) && file(&format!("{rel}/MLTable")),
            Expect::MlflowModel => dir(rel) && file(&format!("{rel}/MLmodel")),
            Expect::BuildContext => false,
        }
    }
}

/// Check a local path written in a spec at `base` (a folder relative to `root`, the version
/// folder): it climbs no further above `root` than `rules.climb`, passes through no symlink
/// that leaves `root`, and, when `rules.exist`, exists as what `expect` says (which `listing`,
/// the root's files, may show).
pub fn local_path(
    root: &Path,
    base: &str,
    lp: &LocalPath,
    rules: PathRules,
    listing: Option<Listing>,
) -> Result<Checked, Diagnostic> {
    let p = lp.path.value.as_str();
    let field = &lp.field;
    let fail = |code, msg: String| Diagnostic::new(code, Some(lp.path.loc.clone()), msg);
    if p.is_empty() {
        return Err(fail(codes::MISSING_PATH, format!("`{field}` is empty")));
    }
    if p.contains('\0') {
        return Err(fail(
            codes::INVALID_VALUE,
            format!("`{field}` contains a NUL character"),
        ));
    }
    let windows_drive =
        p.len() >= 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic();
    if p.starts_with('/') || p.starts_with('\\') || windows_drive || p.starts_with('~') {
        return Err(fail(
            codes::PATH_ESCAPES,
            format!(
                "`{field}` `{p}` is an absolute path; paths are relative to the version folder"
            ),
        )
        .help("ship the file in the version folder and name it relative to spec.yaml"));
    }
    let mut parts: Vec<String> = Vec::new();
    // How far above the root the path climbs.
    let mut up = 0;
    let escapes = || {
        match rules.into {
        Some(dir) => fail(
            codes::PATH_ESCAPES,
            format!("`{field}` `{p}` leaves the version folder"),
        )
        .help(format!(
            "a version uses files in its folder, or in the registry's `{dir}/` folder (`../../../{dir}/...`)"
        )),
        None => fail(
            codes::PATH_ESCAPES,
            format!("`{field}` `{p}` leaves the folder mlreg runs in"),
        ),
    }
    };
    for c in base
        .split('/')
        .chain(lp.under.iter().flat_map(|u| u.split(['/', '\\'])))
    {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    up += 1;
                }
            }
            c => parts.push(c.to_string()),
        }
    }
    for c in Path::new(&p.replace('\\', "/")).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    up += 1;
                }
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {
                return Err(fail(
                    codes::PATH_ESCAPES,
                    format!("`{field}` `{p}` is not a relative path"),
                ));
            }
        }
    }
    if up > rules.climb {
        return Err(escapes());
    }
    let mut shared = None;
    if up > 0
        && let Some(dir) = rules.into
    {
        if up != rules.climb || parts.first().map(String::as_str) != Some(dir) || parts.len() < 2 {
            return Err(escapes());
        }
        shared = Some(parts.join("/"));
    }
    let rel = "../".repeat(up) + &parts.join("/");
    let abs = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&rel)
    };
    if !rules.exist {
        return Ok(Checked { rel, abs, shared });
    }
    // Above the root there is no boundary to guard: only whether it is there.
    if up > 0 {
        return exists_as(root, lp, rules, Checked { rel, abs, shared }, None);
    }
    if listing.is_some_and(|l| l.shows(&rel, lp.expect)) {
        return Ok(Checked { rel, abs, shared });
    }
    // Walk from the root so that a symlink anywhere on the way is seen. The root's canonical
    // form is what a symlink's target must stay in; it costs a system call per folder of the
    // root's path, so it is found only when a symlink (or a missing part) needs it.
    let canon_root = || {
        root.canonicalize().map_err(|e| {
            fail(
                codes::READ_FAILED,
                format!("cannot read the version folder: {e}"),
            )
        })
    };
    if parts.is_empty() {
        // The path is the root itself: whether it can be read is all there is to check.
        canon_root()?;
    }
    let mut at = root.to_path_buf();
    // The last part's metadata, when it is no symlink: what `exists_as` would read again.
    let mut last = None;
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(_) => {
                // An unreadable version folder says so, rather than that its files are missing.
                canon_root()?;
                let shown = parts[..=i].join("/");
                let mut d = fail(
                    codes::MISSING_PATH,
                    format!("`{field}` `{p}`: `{shown}` does not exist in the version folder"),
                );
                if let Some(near) = nearest_sibling(&at) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                return Err(d);
            }
        };
        if meta.file_type().is_symlink() {
            let canon_root = canon_root()?;
            let target = at.canonicalize();
            match target {
                Ok(t) if t.starts_with(&canon_root) => {}
                Ok(t) => {
                    return Err(fail(
                        codes::SYMLINK_ESCAPES,
                        format!(
                            "`{field}` `{p}` goes through the symlink `{}`, which leads out of the version folder to `{}`",
                            parts[..=i].join("/"),
                            t.display()
                        ),
                    ));
                }
                Err(_) => {
                    return Err(fail(
                        codes::MISSING_PATH,
                        format!(
                            "`{field}` `{p}` goes through the broken symlink `{}`",
                            parts[..=i].join("/")
                        ),
                    ));
                }
            }
        } else if i + 1 == parts.len() {
            last = Some(meta);
        }
    }
    exists_as(root, lp, rules, Checked { rel, abs, shared }, last)
}

/// The last step of `local_path`: the path is there and is what its field needs. `meta` is the
/// path's metadata when the caller has it already.
fn exists_as(
    root: &Path,
    lp: &LocalPath,
    rules: PathRules,
    checked: Checked,
    meta: Option<std::fs::Metadata>,
) -> Result<Checked, Diagnostic> {
    let (rel, abs) = (&checked.rel, &checked.abs);
    let p = lp.path.value.as_str();
    let field = &lp.field;
    let fail = |code, msg: String| Diagnostic::new(code, Some(lp.path.loc.clone()), msg);
    let meta = match meta {
        Some(m) => m,
        None => std::fs::metadata(abs)
            .map_err(|e| fail(codes::MISSING_PATH, format!("`{field}` `{p}`: {e}")))?,
    };
    let want_dir = |what: &str| -> Result<(), Diagnostic> {
        if meta.is_dir() {
            Ok(())
        } else {
            Err(fail(
                codes::MISSING_PATH,
                format!("`{field}` `{p}` must be a folder ({what}), but it is a file"),
            ))
        }
    };
    match lp.expect {
        Expect::Any => {}
        Expect::File | Expect::CondaFile | Expect::Component => {
            if !meta.is_file() {
                return Err(fail(
                    codes::MISSING_PATH,
                    format!("`{field}` `{p}` must be a file, but it is a folder"),
                ));
            }
        }
        Expect::Dir => want_dir("a uri_folder")?,
        Expect::MlTable => {
            want_dir("an mltable")?;
            if !abs.join("MLTable").is_file() {
                return Err(fail(
                    codes::MISSING_PATH,
                    format!("`{field}` `{p}` is an mltable folder without an `MLTable` file"),
                ));
            }
        }
        Expect::MlflowModel => {
            want_dir("an MLflow model")?;
            if !abs.join("MLmodel").is_file() {
                let mut d = fail(
                    codes::MISSING_PATH,
                    format!("`{field}` `{p}` is an mlflow_model folder without an `MLmodel` file"),
                );
                let found = nearest_sibling(&abs.join("MLmodel"));
                d = d.help(match found {
                    Some(near) => format!("did you mean `{near}`? MLflow names it `MLmodel`"),
                    None => "the folder MLflow's `log_model`/`save_model` writes holds `MLmodel`: point `path` at it, or use `type: custom_model`".to_string(),
                });
                return Err(d);
            }
        }
        Expect::BuildContext => {
            want_dir("a Docker build context")?;
            let dockerfile = lp.dockerfile.as_deref().unwrap_or("Dockerfile");
            let inner = LocalPath {
                path: Text::new(dockerfile.to_string(), lp.path.loc.clone()),
                field: "build.dockerfile_path".into(),
                expect: Expect::File,
                dockerfile: None,
                under: None,
            };
            local_path(root, rel, &inner, rules, None)?;
        }
    }
    Ok(checked)
}

fn nearest_sibling(missing: &Path) -> Option<String> {
    let name = missing.file_name()?.to_str()?;
    let dir = std::fs::read_dir(missing.parent()?).ok()?;
    let names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .take(1000)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::registry::decode::nearest(name, &refs).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::{Expect, Listing};

    #[test]
    fn a_listing_shows_regular_files_and_the_folders_holding_them_only() {
        let files = [
            "model/w.json",
            "mlflow/MLmodel",
            "fifo",
            "odd/name",
            "t/MLTable",
        ]
        .map(String::from);
        let special = ["fifo", "odd/name"].map(String::from);
        let listing = Listing {
            files: &files,
            special: &special,
        };
        let shows = |rel, expect| listing.shows(rel, expect);
        assert!(shows("model/w.json", Expect::File) && shows("model/w.json", Expect::Any));
        assert!(shows("model", Expect::Dir) && shows("model", Expect::Any));
        assert!(shows("mlflow", Expect::MlflowModel) && shows("t", Expect::MlTable));
        // Left to the disk: what is missing, not what is needed, special, or a build context.
        assert!(!shows("model/x.json", Expect::File) && !shows("mod", Expect::Dir));
        assert!(!shows("model", Expect::File) && !shows("model/w.json", Expect::Dir));
        assert!(!shows("model", Expect::MlflowModel) && !shows("model", Expect::MlTable));
        assert!(!shows("fifo", Expect::File) && !shows("odd", Expect::Dir));
        assert!(!shows("", Expect::Any) && !shows("model", Expect::BuildContext));
    }
}
