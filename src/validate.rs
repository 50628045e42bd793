//! Rules on one manifest: names, versions, bindings inside a component, parameter defaults,
//! and local paths (exist, stay inside the version folder, no symlink out of it).
//!
//! Nothing here looks at another manifest; that is `resolve`'s job.

use crate::decode::{Cx, Fields, Text};
use crate::diag::{Diagnostic, Loc, codes};
use crate::manifest::Kind;
use crate::spec::{Expect, Interface, LocalPath};
use crate::yaml::{Node, Value};
use std::path::{Component, Path, PathBuf};

/// Schemes of paths that live elsewhere: recorded as they are, never looked up on disk.
const REMOTE: &[&str] = &[
    "http://", "https://", "azureml:", "wasbs://", "wasb://", "abfss://", "abfs://", "adl://",
    "s3://", "gs://", "hdfs://", "runs:/", "models:/", "git+", "file://",
];

pub fn is_remote(s: &str) -> bool {
    REMOTE.iter().any(|p| s.starts_with(p))
}

/// Why `name` is not a valid asset name for `kind`, if it is not.
pub fn name_problem(kind: Kind, name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 255 {
        return Some("a name has 1 to 255 characters".into());
    }
    let first = name.as_bytes()[0];
    if kind == Kind::Component {
        let ok = first.is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        return (!ok).then(|| {
            "a component name has only lowercase letters, digits and `_`, and starts with a letter".to_string()
        });
    }
    let ok = first.is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.ends_with('.');
    (!ok).then(|| {
        "a name has letters, digits, `.`, `_` and `-`, starts with a letter or digit, and does not end with `.`"
            .to_string()
    })
}

/// Why `v` is not a valid version string, if it is not. Label names are checked by the caller,
/// which knows the stages.
pub fn version_problem(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'));
    if !ok {
        return Some(format!(
            "version `{v}` must be 1 to 64 of letters, digits, `.`, `_`, `+`, `-`, starting with a letter or digit"
        ));
    }
    (v == "latest").then(|| "`latest` is a label, not a version".to_string())
}

/// `registry.yaml` on its own: the registry name (Azure's rule), stage names, workspaces and
/// policy stages, URLs.
pub fn registry_config(c: &crate::manifest::RegistryConfig, diags: &mut Vec<Diagnostic>) {
    if let Some(name) = &c.name {
        let b = name.value.as_bytes();
        let ok = (2..=32).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'));
        if !ok {
            diags.push(Diagnostic::new(
                codes::INVALID_NAME,
                Some(name.loc.clone()),
                format!("registry name `{}` must be 2 to 32 of letters, digits, `_` and `-`, starting with a letter or digit", name.value),
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &c.stages {
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
                format!("stage `{}` must be lowercase letters, digits, `_` and `-`, start with a letter, and not be `latest`", s.value),
            ));
        }
        if !seen.insert(s.value.as_str()) {
            diags.push(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(s.loc.clone()),
                format!("stage `{}` is listed twice", s.value),
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
    if let Some(b) = &c.base_url {
        url(b, "`base_url`", diags);
    }
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
    if let Some(n) = crate::decode::nearest(&t.value, stages) {
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

/// Names of inputs, outputs and pipeline jobs: Python identifiers, as Azure requires.
pub fn port_name(cx: &mut Cx, name: &str, node: &Node) {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if !ok {
        cx.error_help(
            codes::INVALID_NAME,
            node,
            format!("`{name}` is not a valid input, output or job name"),
            "use letters, digits and `_`, starting with a letter or `_`",
        );
    }
}

/// A parameter input (`integer`, `number`, `boolean`, `string`): `min`, `max`, `enum` and
/// `default` must agree with the type and with each other.
pub fn parameter(cx: &mut Cx, name: &str, ty: &str, f: &Fields) {
    let numeric = ty == "integer" || ty == "number";
    let bound = |key: &str, cx: &mut Cx| -> Option<f64> {
        let n = f.get(key)?;
        if !numeric {
            cx.error(
                codes::BAD_DEFAULT,
                n,
                format!(
                    "`{key}` applies to integer and number inputs, not to `{ty}` input `{name}`"
                ),
            );
            return None;
        }
        // Azure takes numbers written as strings here too (`min: "0.1"`).
        match &n.value {
            Value::Str(text) => match text.trim().parse::<f64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    cx.wrong_type(n, &format!("`{key}` of input `{name}`"), "a number");
                    None
                }
            },
            _ => cx.number(n, &format!("`{key}` of input `{name}`")),
        }
    };
    let (min, max) = (bound("min", cx), bound("max", cx));
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        cx.error(
            codes::BAD_DEFAULT,
            f.get("min").unwrap_or(f.node),
            format!("input `{name}` has `min` {lo} above `max` {hi}"),
        );
    }
    let mut choices = Vec::new();
    if let Some(n) = f.get("enum") {
        if ty != "string" {
            cx.error(
                codes::BAD_DEFAULT,
                n,
                format!("`enum` applies to string inputs, not to `{ty}` input `{name}`"),
            );
        } else {
            choices = cx
                .texts(n, &format!("`enum` of input `{name}`"))
                .into_iter()
                .map(|t| t.value)
                .collect();
        }
    }
    let Some(d) = f.get("default") else { return };
    // A default written as a string must still read as the input's type (Azure converts it).
    let as_text = d.as_str().map(str::trim);
    let ok_type = matches!(
        (&d.value, ty),
        (Value::Int(_), "integer" | "number" | "string")
            | (Value::Float(_), "number" | "string")
            | (Value::Bool(_), "boolean" | "string")
            | (Value::Str(_), "string")
    ) || match (as_text, ty) {
        (Some(t), "integer") => t.parse::<i64>().is_ok(),
        (Some(t), "number") => t.parse::<f64>().is_ok(),
        (Some(t), "boolean") => t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"),
        _ => false,
    };
    if !ok_type {
        cx.error(
            codes::BAD_DEFAULT,
            d,
            format!(
                "the default of `{ty}` input `{name}` cannot be {}",
                d.type_name()
            ),
        );
        return;
    }
    let value = match &d.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(t) if numeric => t.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(x) = value
        && (min.is_some_and(|lo| x < lo) || max.is_some_and(|hi| x > hi))
    {
        cx.error(
            codes::BAD_DEFAULT,
            d,
            format!("the default {x} of input `{name}` is outside its `min`/`max`"),
        );
    }
    if !choices.is_empty() {
        let text = d.scalar_text().unwrap_or_default();
        if !choices.contains(&text) {
            cx.error(
                codes::BAD_DEFAULT,
                d,
                format!("the default `{text}` of input `{name}` is not one of its `enum` values"),
            );
        }
    }
}

/// The `${{...}}` expressions in `text`, each with whether it sits inside an optional
/// `$[[...]]` block.
pub fn expressions(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(i) = rest.find("${{") {
        let after = &rest[i + 3..];
        let Some(j) = after.find("}}") else { break };
        let expr = after[..j].trim();
        let at = consumed + i;
        let before = &text[..at];
        let optional = before
            .rfind("$[[")
            .is_some_and(|o| before[o..].find("]]").is_none());
        out.push((expr, optional));
        consumed = at + 3 + j + 2;
        rest = &text[consumed..];
    }
    out
}

/// Where `needle` is written in the source, searching from `from`'s position onward.
fn locate(cx: &Cx, from: &Loc, needle: &str, skip: usize) -> Loc {
    let text = &cx.text;
    let start = from.offset.min(text.len());
    let mut found = None;
    let mut search = start;
    for _ in 0..=skip {
        match text[search..].find(needle) {
            Some(i) => {
                found = Some(search + i);
                search += i + needle.len();
            }
            None => break,
        }
    }
    let Some(offset) = found else {
        return from.clone();
    };
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..offset].matches('\n').count() as u32 + 1;
    let col = text[line_start..offset].chars().count() as u32 + 1;
    Loc {
        file: from.file.clone(),
        line,
        col,
        offset,
        len: needle.len(),
    }
}

/// `${{inputs.x}}` and `${{outputs.y}}` in a component's `command` or `args` must name
/// declared ports; optional inputs belong inside `$[[...]]`; unused ports are worth a warning.
pub fn bindings(cx: &mut Cx, text: &Text, iface: &Interface, field: &str) {
    check_bindings(cx, text, iface, field, true);
}

/// The same for an inline command job, whose ports are declared by its own `inputs:`/`outputs:`
/// (which may also come from the pipeline): no unused-port warnings there.
pub fn bindings_lenient(cx: &mut Cx, text: &Text, iface: &Interface, field: &str) {
    check_bindings(cx, text, iface, field, false);
}

fn check_bindings(cx: &mut Cx, text: &Text, iface: &Interface, field: &str, warn_unused: bool) {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (expr, optional_block) in expressions(&text.value) {
        let raw = format!("${{{{{expr}}}}}");
        let nth = seen.entry(raw.clone()).or_default();
        let loc = locate(cx, &text.loc, &expr_source(&text.value, expr), *nth);
        *nth += 1;
        let parts: Vec<&str> = expr.split('.').collect();
        let (ports, code, what) = match parts.first() {
            Some(&"inputs") => (&iface.inputs, codes::UNDECLARED_INPUT, "input"),
            Some(&"outputs") => (&iface.outputs, codes::UNDECLARED_OUTPUT, "output"),
            _ => {
                cx.report(
                    Diagnostic::new(
                        codes::BAD_BINDING,
                        Some(loc),
                        format!("`{raw}` in `{field}` is not a binding of this component"),
                    )
                    .help("write `${{inputs.<name>}}` or `${{outputs.<name>}}`"),
                );
                continue;
            }
        };
        let Some(name) = parts.get(1) else {
            cx.report(Diagnostic::new(
                codes::BAD_BINDING,
                Some(loc),
                format!("`{raw}` names no {what}"),
            ));
            continue;
        };
        match ports.get(*name) {
            None => {
                let names: Vec<&str> = ports.keys().map(String::as_str).collect();
                let mut d = Diagnostic::new(code, Some(loc), format!("`{raw}` in `{field}` names no declared {what}"));
                d = match crate::decode::nearest(name, &names) {
                    Some(near) => d.help(format!("did you mean `{near}`?")),
                    None if names.is_empty() => d.help(format!("declare it under `{what}s:`")),
                    None => d.help(format!("declared {what}s: {}", names.join(", "))),
                };
                cx.report(d);
            }
            Some(port) if what == "input" && port.optional && !optional_block => cx.report(
                Diagnostic::new(
                    codes::OPTIONAL_OUTSIDE_BRACKETS,
                    Some(loc),
                    format!("optional input `{name}` is used outside `$[[...]]`; when it is not given, the command gets an empty argument"),
                )
                .help(format!("wrap the argument: `$[[--{name} {raw}]]`")),
            ),
            Some(_) => {}
        }
    }
    if !warn_unused {
        return;
    }
    for (dir, ports) in [("inputs", &iface.inputs), ("outputs", &iface.outputs)] {
        for (name, port) in ports {
            let used = text.value.contains(&format!("{dir}.{name}}}"))
                || text.value.contains(&format!("{dir}.{name} "))
                || text.value.contains(&format!("{dir}.{name}]"))
                || text.value.contains(&format!("{dir}.{name}."));
            if !used {
                cx.report(Diagnostic::new(
                    codes::UNUSED_PORT,
                    Some(port.loc.clone()),
                    format!(
                        "{} `{name}` is declared but `{field}` never uses it",
                        &dir[..dir.len() - 1]
                    ),
                ));
            }
        }
    }
}

/// The expression as written in the source (the cooked text keeps its inner spacing).
fn expr_source(text: &str, expr: &str) -> String {
    for candidate in [format!("${{{{{expr}}}}}"), format!("${{{{ {expr} }}}}")] {
        if text.contains(&candidate) {
            return candidate;
        }
    }
    expr.to_string()
}

/// Where a local path leads, once checked.
pub struct Checked {
    /// Relative to the version folder, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
}

/// Check a local path written in a spec at `base` (a folder relative to `root`, the version
/// folder): it stays inside `root`, passes through no symlink that leaves it, and, when
/// `files` is on, exists as what `expect` says.
pub fn local_path(
    root: &Path,
    base: &str,
    lp: &LocalPath,
    files: bool,
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
    let mut parts: Vec<String> = base
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(under) = &lp.under {
        for c in under.split(['/', '\\']) {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c.to_string()),
            }
        }
    }
    for c in Path::new(&p.replace('\\', "/")).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(fail(
                        codes::PATH_ESCAPES,
                        format!("`{field}` `{p}` leaves the version folder"),
                    )
                    .help(
                        "everything a version uses must be inside its folder; copy the file in",
                    ));
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
    let rel = parts.join("/");
    let abs = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&rel)
    };
    if !files {
        return Ok(Checked { rel, abs });
    }
    // Walk from the root so that a symlink anywhere on the way is seen.
    let canon_root = root.canonicalize().map_err(|e| {
        fail(
            codes::READ_FAILED,
            format!("cannot read the version folder: {e}"),
        )
    })?;
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(_) => {
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
        }
    }
    let meta = std::fs::metadata(&abs)
        .map_err(|e| fail(codes::MISSING_PATH, format!("`{field}` `{p}`: {e}")))?;
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
        Expect::Dir => want_dir("an MLflow model or uri_folder")?,
        Expect::MlTable => {
            want_dir("an mltable")?;
            if !abs.join("MLTable").is_file() {
                return Err(fail(
                    codes::MISSING_PATH,
                    format!("`{field}` `{p}` is an mltable folder without an `MLTable` file"),
                ));
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
            local_path(root, &rel, &inner, true)?;
        }
    }
    Ok(Checked { rel, abs })
}

fn nearest_sibling(missing: &Path) -> Option<String> {
    let name = missing.file_name()?.to_str()?;
    let dir = std::fs::read_dir(missing.parent()?).ok()?;
    let names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .take(1000)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::decode::nearest(name, &refs).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_know_optional_blocks() {
        let e =
            expressions("python x --a ${{inputs.a}} $[[--b ${{ inputs.b }}]] --c ${{outputs.c}}");
        assert_eq!(
            e,
            vec![
                ("inputs.a", false),
                ("inputs.b", true),
                ("outputs.c", false)
            ]
        );
    }

    #[test]
    fn names_and_versions() {
        assert!(name_problem(Kind::Component, "train_model").is_none());
        assert!(name_problem(Kind::Component, "r-iris-example").is_some());
        assert!(name_problem(Kind::Model, "credit-default").is_none());
        assert!(name_problem(Kind::Model, "x.").is_some());
        assert!(name_problem(Kind::Model, "-x").is_some());
        assert!(version_problem("1.0.0-rc.1+b7").is_none());
        assert!(version_problem("<VERSION>").is_some());
        assert!(version_problem("latest").is_some());
        assert!(version_problem(&"9".repeat(65)).is_some());
    }
}
