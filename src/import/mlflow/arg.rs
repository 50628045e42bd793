//! The RUN argument (a run id, a run folder, `runs:/<id>/<path>`, `models:/<name>/<version>`
//! or `models:/<name>@<alias>`), and the rules every id and artifact path passes before it
//! names a file or a URL, whether it came from the command line, a file store or a server.

use super::{Failure, Result};
use std::path::{Path, PathBuf};

pub(super) enum RunArg {
    /// A run id, and the model's path in it (`runs:/<id>/<path>`).
    Run(String, Option<String>),
    /// A registered model and `Version(v)` or `Alias(a)`.
    Registered(String, Selector),
    /// A run folder of a file store.
    Folder(PathBuf),
}

#[derive(Clone, Debug)]
pub(super) enum Selector {
    Version(String),
    Alias(String),
}

pub(super) fn parse_run_arg(arg: &str) -> Result<RunArg> {
    if let Some(rest) = arg.strip_prefix("models:/") {
        let bad = || {
            Failure::Usage(format!(
                "`{arg}`: write models:/<name>/<version> or models:/<name>@<alias>"
            ))
        };
        let (name, selector) = match rest.rsplit_once('/') {
            Some((n, v)) if !v.is_empty() => (n, Selector::Version(v.to_string())),
            _ => match rest.rsplit_once('@') {
                Some((n, a)) if !a.is_empty() => (n, Selector::Alias(a.to_string())),
                _ => return Err(bad()),
            },
        };
        if name.is_empty() || !safe_segment(name) {
            return Err(bad());
        }
        let value = match &selector {
            Selector::Version(v) | Selector::Alias(v) => v,
        };
        if !safe_segment(value) {
            return Err(bad());
        }
        return Ok(RunArg::Registered(name.to_string(), selector));
    }
    if let Some(rest) = arg.strip_prefix("runs:/") {
        let (id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_id(id) {
            return Err(Failure::Usage(format!(
                "`{arg}`: write runs:/<run id>/<artifact path>"
            )));
        }
        let path = (!path.is_empty()).then(|| path.trim_end_matches('/').to_string());
        return Ok(RunArg::Run(id.to_string(), path));
    }
    let folder = Path::new(arg);
    if folder.join("meta.yaml").is_file() {
        return Ok(RunArg::Folder(folder.to_path_buf()));
    }
    if is_id(arg) {
        return Ok(RunArg::Run(arg.to_string(), None));
    }
    Err(Failure::Usage(format!(
        "`{arg}` is neither a run id, a run folder (with a meta.yaml), runs:/<id>/<path> nor models:/<name>/<version>"
    )))
}

/// A run or model id as MLflow makes them (hex, or `m-<hex>`); nothing a path could use.
pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A name that is safe as one folder name of a file store.
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c.is_control() || c == '/' || c == '\\')
}

/// An artifact path from a store or server, as a path inside the version folder: relative,
/// `/`-separated, no `..`, `.` or empty parts, no control characters or backslashes.
pub(super) fn clean_path(path: &str) -> Result<String> {
    let ok = !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && !path.contains(':');
    if ok {
        Ok(path.to_string())
    } else {
        Err(Failure::Usage(format!(
            "the artifact path `{}` would leave the model folder: refused",
            escape(path)
        )))
    }
}

pub(super) fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else if rel.is_empty() {
        dir.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// Text from a server or store, fit for a terminal: control characters escaped.
pub(super) fn escape(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_stay_inside() {
        assert_eq!(clean_path("a/b.txt").ok(), Some("a/b.txt".to_string()));
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "a\\b",
            "a\u{1b}b",
            "C:x",
            "./a",
            "",
        ] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_arguments() {
        assert!(
            matches!(parse_run_arg("models:/iris/3"), Ok(RunArg::Registered(n, Selector::Version(v))) if n == "iris" && v == "3")
        );
        assert!(
            matches!(parse_run_arg("models:/iris@champion"), Ok(RunArg::Registered(n, Selector::Alias(a))) if n == "iris" && a == "champion")
        );
        assert!(
            matches!(parse_run_arg("runs:/abc123/model"), Ok(RunArg::Run(id, Some(p))) if id == "abc123" && p == "model")
        );
        assert!(matches!(
            parse_run_arg("c13747bae79c4cfc9c957c17f61d266d"),
            Ok(RunArg::Run(_, None))
        ));
        for bad in ["models:/../x/1", "models:/x", "runs:/../x", "not a run"] {
            assert!(parse_run_arg(bad).is_err(), "{bad}");
        }
    }
}
