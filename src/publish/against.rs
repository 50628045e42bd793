//! Immutability and history against what is already published (`--against PREV`, a folder or
//! any URL a client reads): a published version keeps its digest and stays, and the stage log
//! only grows at its end.

use crate::client::Source;
use crate::diag::{Diagnostic, Loc, codes};
use crate::publish::index::{AssetDoc, Bin, HistoryEntry, Snapshot};
use crate::registry::discover;
use crate::registry::kind::Kind;
use crate::registry::load::Loaded;
use std::collections::BTreeMap;

/// What a previous build published.
pub struct Previous {
    pub serial: u64,
    pub snapshot: String,
    pub assets: BTreeMap<String, AssetDoc>,
}

/// Read a previous build (folder or URL), verifying every document as a client does.
pub fn load(location: &str) -> Result<Previous, String> {
    let source = Source::open(location, std::time::Duration::from_secs(60))?;
    let root = source.root()?;
    let snapshot: Snapshot = source.document(&root.snapshot)?;
    let mut assets = BTreeMap::new();
    for bin_ref in snapshot.bins.values() {
        let bin: Bin = source.document(bin_ref)?;
        for (id, doc_ref) in &bin.assets {
            let doc: AssetDoc = source.document(doc_ref)?;
            if &doc.id != id {
                return Err(format!(
                    "{}: holds `{}`, but its bin lists it as `{id}`",
                    doc_ref.path, doc.id
                ));
            }
            assets.insert(id.clone(), doc);
        }
    }
    Ok(Previous {
        serial: root.serial,
        snapshot: root.snapshot.path,
        assets,
    })
}

/// Everything published before that this build would change or lose.
pub fn compare(
    prev: &Previous,
    current: &BTreeMap<String, AssetDoc>,
    loaded: &Loaded,
    display: &str,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (id, old) in &prev.assets {
        let file = discover::shown(display, id);
        let Some(new) = current.get(id) else {
            out.push(Diagnostic::new(
                codes::PUBLISHED_REMOVED,
                Some(Loc::file(&file)),
                format!("`{id}` was published (versions {}) and is gone", old.order.join(", ")),
            ).help("published versions are immutable: restore the folder, and deprecate it in asset.yaml instead"));
            continue;
        };
        for (version, v) in &old.versions {
            let vfile = discover::shown(display, &format!("{id}/{version}"));
            match new.versions.get(version) {
                None => out.push(
                    Diagnostic::new(
                        codes::PUBLISHED_REMOVED,
                        Some(Loc::file(&vfile)),
                        format!("`{id}@{version}` was published ({}) and is gone", v.digest),
                    )
                    .help("restore it; mark it in `deprecated_versions` of asset.yaml instead"),
                ),
                Some(n) if n.digest != v.digest => out.push(
                    Diagnostic::new(
                        codes::PUBLISHED_CHANGED,
                        Some(Loc::file(&vfile)),
                        format!(
                            "`{id}@{version}` changed after it was published: {} was {}",
                            n.digest, v.digest
                        ),
                    )
                    .help("publish the change as a new version"),
                ),
                Some(_) => {}
            }
        }
        history(id, &old.history, &new.history, loaded, display, &mut out);
    }
    out
}

/// The new log must start with the old one, entry for entry.
fn history(
    id: &str,
    old: &[HistoryEntry],
    new: &[HistoryEntry],
    loaded: &Loaded,
    display: &str,
    out: &mut Vec<Diagnostic>,
) {
    let entries = id
        .split_once('/')
        .and_then(|(k, n)| Some((Kind::from_folder(k)?, n.to_string())))
        .and_then(|key| loaded.assets.get(&key))
        .map(|a| a.stages.as_slice())
        .unwrap_or(&[]);
    for (i, o) in old.iter().enumerate() {
        match new.get(i) {
            Some(n) if n == o => {}
            Some(n) => {
                let loc = entries.get(i).map(|e| e.at.clone());
                out.push(Diagnostic::new(
                    codes::HISTORY_REWRITTEN,
                    loc,
                    format!(
                        "stage log entry {} of `{id}` was published as {} and now reads {}",
                        o.seq,
                        show(o),
                        show(n)
                    ),
                ).help("the stage log is append-only: restore the entry and add a new one at the end"));
                return;
            }
            None => {
                let file = discover::shown(display, &format!("{id}/stages.yaml"));
                out.push(Diagnostic::new(
                    codes::HISTORY_REWRITTEN,
                    Some(Loc::file(&file)),
                    format!("stage log entry {} of `{id}` ({}) was published and is gone", o.seq, show(o)),
                ).help("the stage log is append-only: restore the entry and add a new one at the end"));
                return;
            }
        }
    }
}

fn show(e: &HistoryEntry) -> String {
    format!(
        "{} -> {} by {} on {}",
        e.stage,
        e.version.as_deref().unwrap_or("(cleared)"),
        e.by,
        e.date
    )
}
