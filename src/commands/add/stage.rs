//! The files of the version folder: its spec, the copies of what the spec names, and, unless the
//! copies hold them, the skeletons of its `lineage.yaml` and `README.md` card.

use super::Refused;
use super::paths::{Placed, copy, join, join_shown};
use crate::commands::authoring::{fill, write};
use crate::diag::plural;
use crate::registry::kind::Kind;
use crate::registry::yaml::Node;
use crate::registry::yaml::scalar;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const LINEAGE: &str = include_str!("../init/lineage.yaml");
const CARD_MODEL: &str = include_str!("../init/card-model.md");
const CARD: &str = include_str!("../init/card.md");

/// The version being added.
pub(super) struct New<'a> {
    pub(super) kind: Kind,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    /// `models/<name>@<version>`.
    pub(super) vid: &'a str,
}

/// What a staged version holds beside its spec.
pub(super) struct Staged {
    /// What was copied: files, and folders with their number of files.
    pub(super) shipped: Vec<String>,
    /// Whether the lineage and card skeletons were written (the copies held none).
    pub(super) lineage: bool,
    pub(super) card: bool,
    pub(super) notes: Vec<String>,
}

/// Write the version into `vdir`: its spec, the copies of what it names (but the `exclude`d),
/// and the skeletons of what the copies lack.
pub(super) fn stage(
    vdir: &Path,
    new: &New,
    spec_text: &str,
    placed: &[Placed],
    exclude: &[PathBuf],
    entries: &[(Node, Node)],
    base_url: Option<&str>,
) -> Result<Staged, Refused> {
    write(&vdir.join("spec.yaml"), spec_text.as_bytes())?;
    let mut shipped: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    for p in placed.iter().filter(|p| p.copy) {
        let (count, dots) = copy(&p.source, &join(vdir, &p.to), exclude)?;
        hidden.extend(dots.iter().map(|d| format!("`{}`", join_shown(&p.to, d))));
        let (label, count) = match p.source.is_dir() {
            true if p.to.is_empty() => ("the spec's folder".to_string(), Some(count)),
            true => (format!("{}/", p.to), Some(count)),
            false => (p.to.clone(), None),
        };
        shipped.insert(label, count);
    }
    if !hidden.is_empty() {
        notes.push(format!(
            "left out {} of the copied folders: the registry ignores dot-files and dot-folders",
            hidden.join(", ")
        ));
    }
    let field = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str())
    };
    // A model registered from a job says which: Azure ignores it on create, lineage keeps it.
    let job = field("job_name").filter(|_| new.kind == Kind::Model);
    let lineage_file = vdir.join("lineage.yaml");
    let lineage = !lineage_file.exists();
    if lineage {
        write(
            &lineage_file,
            skeleton_lineage(new.vid, base_url, job).as_bytes(),
        )?;
    }
    if let Some(j) = job {
        notes.push(format!(
            "kept `job_name: {j}`, which `az ml model create` ignores (read-only in Azure ML){}",
            if lineage {
                "; lineage.yaml names the job"
            } else {
                ""
            }
        ));
    }
    let card_file = vdir.join("README.md");
    let card = !card_file.exists();
    if card {
        write(
            &card_file,
            skeleton_card(new, field("description")).as_bytes(),
        )?;
    }
    let shipped = shipped
        .into_iter()
        .map(|(label, count)| match count {
            Some(n) => format!("{label} ({})", plural(n, "file")),
            None => label,
        })
        .collect();
    Ok(Staged {
        shipped,
        lineage,
        card,
        notes,
    })
}

/// The lineage skeleton: every field commented out, or the job a model's spec names.
fn skeleton_lineage(id: &str, base_url: Option<&str>, job: Option<&str>) -> String {
    let schema = base_url
        .map(|b| format!("# yaml-language-server: $schema={b}schemas/lineage-yaml.schema.json\n"))
        .unwrap_or_default();
    let body = match job {
        Some(j) => format!("job:\n  name: {}", scalar(j)),
        None => "{}   # nothing yet: replace with the fields above".to_string(),
    };
    fill(LINEAGE, &[("SCHEMA", &schema), ("ID", id), ("BODY", &body)])
}

/// The card skeleton: model-card keys for models, the common ones for the rest.
fn skeleton_card(new: &New, description: Option<&str>) -> String {
    let template = match new.kind {
        Kind::Model => CARD_MODEL,
        _ => CARD,
    };
    let description = description
        .map(|d| format!("\n{}\n", d.trim()))
        .unwrap_or_default();
    fill(
        template,
        &[
            ("NAME", new.name),
            ("VERSION", new.version),
            ("DESCRIPTION", &description),
        ],
    )
}
