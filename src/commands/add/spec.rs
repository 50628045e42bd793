//! The new version's identity, and what the spec must lose: KIND/NAME read into a kind and a
//! name; the spec's `name` and `version` checked against them and `--version` (or filled in, the
//! version counted on from the asset's when none is given); the read-only fields Azure ML
//! prints, which are dropped.

use super::Refused;
use super::edits::Edits;
use crate::cli::AddArgs;
use crate::registry::kind::Kind;
use crate::registry::names;
use crate::registry::yaml::scalar;
use crate::registry::yaml::{Node, Value};
use std::path::Path;

/// Top-level fields that `az ml <kind> show -o yaml` prints and Azure ML sets itself, none of
/// which an mlreg spec has, so they are dropped: `id`, `creation_context` and `latest_version`
/// are read-only (`dump_only`) in azure-ai-ml's schemas of every asset kind, so `create` ignores
/// them; the az CLI adds `resourceGroup` to every result with an id; `provisioning_state` is
/// what Azure resources report of their creation. (The other read-only fields azure-ai-ml knows,
/// a model's `job_name` and `utc_time_created` or a data asset's `properties`, are spec fields
/// mlreg reads, and stay.)
pub(super) const READ_ONLY: &[(&str, &str)] = &[
    ("id", "the asset's id in its workspace"),
    (
        "creation_context",
        "who created it in the workspace, and when",
    ),
    ("latest_version", "the workspace's latest version"),
    ("provisioning_state", "the state of its creation"),
    ("resourceGroup", "the resource group, added by the az CLI"),
];

/// `models/NAME` (or another kind's folder) into its kind and name.
pub(super) fn asset(text: &str) -> Result<(Kind, String), Refused> {
    let kinds = "`models/<name>`, `components/<name>`, `environments/<name>` or `data/<name>`";
    let trimmed = text.trim_end_matches('/');
    let Some((folder, name)) = trimmed.split_once('/') else {
        return Err(Refused::Fail(format!(
            "`{text}` names no asset: write {kinds}"
        )));
    };
    let Some(kind) = Kind::from_folder(folder) else {
        let hint = match Kind::from_singular(folder) {
            Some(k) => format!("write `{}/{name}`", k.folder()),
            None => format!("write {kinds}"),
        };
        return Err(Refused::Fail(format!(
            "`{folder}` is not a kind of asset: {hint}"
        )));
    };
    if name.contains(['/', '@']) {
        return Err(Refused::Fail(format!(
            "`{text}`: name the asset alone (`{}/<name>`), and the version with --version",
            kind.folder()
        )));
    }
    if let Some(why) = names::name_problem(kind, name) {
        return Err(Refused::Fail(format!("`{name}`: {why}")));
    }
    Ok((kind, name.to_string()))
}

/// The name and version the new version gets, and whether the spec states them.
pub(super) struct Identity {
    name: String,
    pub(super) version: String,
    /// The offset of the end of the `name` entry's value, when the spec has one.
    name_at: Option<usize>,
    has_version: bool,
    /// The end of the `$schema` entry's value, where a missing `name` goes.
    schema_at: Option<usize>,
}

impl Identity {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn of(
        text: &str,
        entries: &[(Node, Node)],
        shown: &str,
        kind: Kind,
        name: &str,
        args: &AddArgs,
        asset_dir: &Path,
        stages: &[String],
    ) -> Result<Identity, Refused> {
        let field = |key: &str| entries.iter().find(|(k, _)| k.as_str() == Some(key));
        let at = |n: &Node| format!("{shown}:{}:{}", n.pos.line, n.pos.col);
        let id = format!("{}/{name}", kind.folder());
        let name_at = match field("name") {
            Some((_, v)) if v.scalar_text().as_deref() == Some(name) => {
                Some(v.pos.offset + v.pos.len)
            }
            Some((_, v)) => {
                let written = v.scalar_text().unwrap_or_else(|| v.type_name().into());
                return Err(Refused::Fail(format!(
                    "{}: the spec's `name` is `{written}`, but this adds {id}: make them agree (or leave `name` out)",
                    at(v)
                )));
            }
            None => None,
        };
        let written = match field("version") {
            None => None,
            Some((_, v)) => {
                let raw = text
                    .get(v.pos.offset..v.pos.offset + v.pos.len)
                    .unwrap_or("");
                let read = v.scalar_text();
                match &v.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Int(_) | Value::Float(_) if read.as_deref() == Some(raw) => read,
                    Value::Int(_) | Value::Float(_) => {
                        return Err(Refused::Fail(format!(
                            "{}: `version: {raw}` is read by YAML (and Azure ML) as {}: quote it, `version: \"{raw}\"`",
                            at(v),
                            read.unwrap_or_default()
                        )));
                    }
                    _ => {
                        return Err(Refused::Fail(format!(
                            "{}: `version` is {}, not a version",
                            at(v),
                            v.type_name()
                        )));
                    }
                }
            }
        };
        let version = match (&written, &args.version) {
            (Some(w), Some(v)) if w != v => {
                return Err(Refused::Fail(format!(
                    "the spec says `version: {w}`, but --version is {v}: make them agree (or leave `version` out of the spec)"
                )));
            }
            (Some(w), _) => w.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => next_version(asset_dir, &id)?,
        };
        if let Some(why) = names::version_problem(&version) {
            return Err(Refused::Fail(why));
        }
        if stages.contains(&version) {
            return Err(Refused::Fail(format!(
                "`{version}` is a stage of this registry, so it cannot be a version"
            )));
        }
        let existing = versions(asset_dir);
        if let Some(v) = existing.iter().find(|v| v.eq_ignore_ascii_case(&version)) {
            let next = next_version(asset_dir, &id)
                .map(|n| format!("; add this one as --version {n}"))
                .unwrap_or_default();
            return Err(Refused::Fail(format!(
                "{id}@{v} exists already: a version never changes once added{next}"
            )));
        }
        Ok(Identity {
            name: name.to_string(),
            version,
            name_at,
            has_version: written.is_some(),
            schema_at: field("$schema").map(|(_, v)| v.pos.offset + v.pos.len),
        })
    }

    /// Fill in what the spec leaves out: `name` after `$schema` (or first), `version` after it.
    pub(super) fn fill(&self, edits: &mut Edits, notes: &mut Vec<String>) {
        let version = format!("version: {}", scalar(&self.version));
        let (at, lines) = match (self.name_at, self.has_version) {
            (Some(_), true) => return,
            (Some(at), false) => (Some(at), vec![version]),
            (None, true) => (
                self.schema_at,
                vec![format!("name: {}", scalar(&self.name))],
            ),
            (None, false) => (
                self.schema_at,
                vec![format!("name: {}", scalar(&self.name)), version],
            ),
        };
        notes.push(format!(
            "filled in `{}`, from the asset and version",
            lines.join("` and `")
        ));
        edits.insert(at, &lines);
    }
}

/// The version folders of an asset.
fn versions(asset_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(asset_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// One more than the highest whole-number version (1 for a new asset).
fn next_version(asset_dir: &Path, id: &str) -> Result<String, Refused> {
    let existing = versions(asset_dir);
    let highest = existing.iter().filter_map(|v| v.parse::<u64>().ok()).max();
    match highest {
        Some(h) => Ok((h + 1).to_string()),
        None if existing.is_empty() => Ok("1".into()),
        None => Err(Refused::Fail(format!(
            "{id} has no whole-number version to count from ({}): give --version",
            existing.join(", ")
        ))),
    }
}
