//! Immutability and history against what is already published (`--against PREV`, a folder or
//! any URL a client reads): a published version keeps its digest, its pins and its place, and
//! the stage log only grows at its end.

use crate::client::Source;
use crate::diag::{Diagnostic, Loc, codes};
use crate::publish::hash;
use crate::publish::index::CanonicalJson;
use crate::publish::index::{AssetDoc, Bin, HistoryEntry, Ref, Snapshot, UsedByPage, VersionDoc};
use crate::publish::plan::{Docs, Planned};
use crate::registry::decode::Text;
use crate::registry::discover;
use crate::registry::kind::Kind;
use crate::registry::load::{Loaded, LoadedVersion};
use crate::registry::model::{Registry, VersionId};
use crate::registry::reference::{self, Scope, Selector};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a previous build published.
pub struct Previous {
    pub serial: u64,
    pub snapshot: String,
    pub assets: BTreeMap<String, AssetDoc>,
    /// Every path its snapshot reaches.
    pub paths: BTreeSet<String>,
}

/// A previous build's listing, read once: its root, and where each of its asset documents is,
/// from its bins. Planning looks at those paths first (an asset whose document comes out the
/// same has nothing to compare and no pin to keep), then [`Listing::load_changed`] reads only
/// the documents that differ, from the same snapshot.
pub struct Listing {
    source: Source,
    serial: u64,
    snapshot: String,
    docs: BTreeMap<String, Ref>,
}

impl Listing {
    /// Read the root, the snapshot and every bin of the build at `location`, each verified as
    /// a client does; bins in parallel but from object stores (see `client::walk`).
    pub fn read(location: &str) -> Result<Listing, String> {
        let source = Source::open(location, std::time::Duration::from_secs(60))?;
        let root = source.root()?;
        let snapshot: Snapshot = source.document(&root.snapshot)?;
        let fetch = |r: &Ref| source.document::<Bin>(r).map(|bin| (r.path.clone(), bin));
        let fetched: Result<BTreeMap<String, Bin>, String> = match source {
            Source::Object(_) => snapshot.bins.values().map(fetch).collect(),
            _ => snapshot.bins.par_iter().map(|(_, r)| fetch(r)).collect(),
        };
        let mut fetched = fetched?;
        let listed = crate::client::listing(&snapshot, |r| {
            fetched
                .remove(&r.path)
                .ok_or_else(|| format!("{}: listed twice in the snapshot", r.path).into())
        })
        .map_err(|e| e.to_string())?;
        Ok(Listing {
            source,
            serial: root.serial,
            snapshot: root.snapshot.path,
            docs: listed.into_iter().map(|(id, e)| (id, e.doc)).collect(),
        })
    }

    /// Where the document of asset `id` is.
    pub fn path(&self, id: &str) -> Option<&str> {
        self.docs.get(id).map(|r| r.path.as_str())
    }

    /// The asset documents that differ from `planned`'s (and those of assets it no longer
    /// has), read and verified with their used-by pages; `paths` of the result is empty.
    pub fn load_changed(&self, planned: &Planned) -> Result<Previous, String> {
        let wanted: Vec<(&String, &Ref)> = self
            .docs
            .iter()
            .filter(|(id, r)| planned.doc_paths.get(*id) != Some(&r.path))
            .collect();
        let fetch = |(id, r): &(&String, &Ref)| -> Result<(String, AssetDoc), String> {
            let doc: AssetDoc = self.source.document(r)?;
            listed_as(id, &doc)?;
            // Verified as a client's walk does: the used-by pages too.
            for v in doc.versions.values() {
                for page in &v.used_by_pages {
                    self.source.document::<UsedByPage>(page)?;
                }
            }
            Ok(((*id).clone(), doc))
        };
        let assets: Result<BTreeMap<String, AssetDoc>, String> = match self.source {
            Source::Object(_) => wanted.iter().map(fetch).collect(),
            _ => wanted.par_iter().map(fetch).collect(),
        };
        Ok(Previous {
            serial: self.serial,
            snapshot: self.snapshot.clone(),
            assets: assets?,
            paths: BTreeSet::new(),
        })
    }
}

/// Read a previous build (folder or URL), verifying every document as a client does.
pub fn load(location: &str) -> Result<Previous, String> {
    let source = Source::open(location, std::time::Duration::from_secs(60))?;
    let root = source.root()?;
    let (mut assets, mut paths) = (BTreeMap::new(), BTreeSet::new());
    crate::client::walk(&source, &root.snapshot, &mut paths, |id, doc| {
        listed_as(id, &doc)?;
        assets.insert(id.to_string(), doc);
        Ok(())
    })?;
    Ok(Previous {
        serial: root.serial,
        snapshot: root.snapshot.path,
        assets,
        paths,
    })
}

/// A document read through a bin must be the asset the bin lists it as.
fn listed_as(id: &str, doc: &AssetDoc) -> Result<(), String> {
    match doc.id == id {
        true => Ok(()),
        false => Err(format!(
            "{id}: its bin lists it as `{id}`, but its document holds `{}`",
            doc.id
        )),
    }
}

/// What a comparison needs of a previous build, small enough to keep while the next one is
/// planned: per version its digest, its files' hashes and fingerprints of its spec and lineage;
/// per asset its stage log.
pub struct Published {
    pub serial: u64,
    pub snapshot: String,
    assets: BTreeMap<String, PublishedAsset>,
}

struct PublishedAsset {
    order: Vec<String>,
    versions: BTreeMap<String, PublishedVersion>,
    history: Vec<HistoryEntry>,
}

#[derive(PartialEq)]
struct PublishedVersion {
    digest: String,
    /// Path to sha256.
    files: BTreeMap<String, String>,
    /// sha256 of the published spec (as normalized, minus what may change) and of the lineage.
    spec: String,
    lineage: String,
}

impl PublishedVersion {
    fn of(v: &VersionDoc) -> PublishedVersion {
        let mut spec = v.spec.value();
        if let Value::Object(m) = &mut spec {
            m.remove("description");
            m.remove("tags");
        }
        let fingerprint = |v: &Value| hash::sha256(&hash::canonical_json(v));
        PublishedVersion {
            digest: v.digest.clone(),
            files: v
                .files
                .iter()
                .map(|f| (f.path.clone(), f.sha256.clone()))
                .collect(),
            spec: fingerprint(&spec),
            lineage: fingerprint(&v.lineage.as_ref().map_or(Value::Null, CanonicalJson::value)),
        }
    }
}

impl Previous {
    /// The summary a comparison needs; the documents can go.
    pub fn published(&self) -> Published {
        let assets = self
            .assets
            .iter()
            .map(|(id, doc)| {
                let versions = doc
                    .versions
                    .iter()
                    .map(|(v, vd)| (v.clone(), PublishedVersion::of(vd)))
                    .collect();
                let asset = PublishedAsset {
                    order: doc.order.clone(),
                    versions,
                    history: doc.history.clone(),
                };
                (id.clone(), asset)
            })
            .collect();
        Published {
            serial: self.serial,
            snapshot: self.snapshot.clone(),
            assets,
        }
    }
}

/// Everything published before that this build would change or lose: each file of a published
/// version whose bytes changed (with both hashes), its spec or lineage, each version or asset
/// that is gone, and each stage-log entry that was edited or removed.
pub fn compare(
    prev: &Published,
    current: &Docs,
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
                Some(n) if n.digest != v.digest => {
                    changes(id, version, v, &PublishedVersion::of(n), display, &mut out)
                }
                Some(_) => {}
            }
        }
        history(id, &old.history, &new.history, loaded, display, &mut out);
    }
    out
}

/// What changed in a published version, one diagnostic per file (or spec, or lineage).
fn changes(
    id: &str,
    version: &str,
    old: &PublishedVersion,
    new: &PublishedVersion,
    display: &str,
    out: &mut Vec<Diagnostic>,
) {
    // A version's copy of shared files points at the shared file itself.
    let at = |rel: &str| {
        let file = match rel.starts_with(&format!("{}/", discover::COMMON)) {
            true => discover::shown(display, rel),
            false => discover::shown(display, &format!("{id}/{version}/{rel}")),
        };
        Some(Loc::file(&file))
    };
    let changed = |what: String, rel: &str| {
        Diagnostic::new(
            codes::PUBLISHED_CHANGED,
            at(rel),
            format!("`{id}@{version}` changed after it was published: {what}"),
        )
        .help("publish the change as a new version")
    };
    let before = out.len();
    let paths: BTreeSet<&String> = old.files.keys().chain(new.files.keys()).collect();
    for path in paths {
        match (old.files.get(path), new.files.get(path)) {
            (Some(a), Some(b)) if a != b => {
                out.push(changed(format!("`{path}` was sha256 {a}, is {b}"), path))
            }
            (Some(a), None) => out.push(changed(format!("`{path}` (sha256 {a}) is gone"), path)),
            (None, Some(b)) => out.push(changed(format!("`{path}` (sha256 {b}) was added"), path)),
            _ => {}
        }
    }
    if old.spec != new.spec {
        out.push(changed("its spec is different".into(), "spec.yaml"));
    }
    if old.lineage != new.lineage {
        out.push(changed("its lineage is different".into(), "lineage.yaml"));
    }
    if out.len() == before {
        out.push(changed(format!("{} was {}", new.digest, old.digest), ""));
    }
}

/// A published version keeps the pins it was published with. Where a reference of a published
/// version (`environments/e@latest` in `components/c@1`) resolves to another version now, the
/// registry's pin table takes the published pin back, and a warning names the reference, the
/// pin it keeps and the one it would take. (Refusing the build instead would forbid publishing
/// any newer version of what a published `@latest` names, for ever.)
pub fn keep_pins(prev: &Previous, registry: &mut Registry, loaded: &Loaded) -> Vec<Diagnostic> {
    let name = registry.name.clone();
    let stages = registry.stages.clone();
    let scope = Scope {
        registry: Some(name.as_str()).filter(|n| !n.is_empty()),
        stages: &stages,
    };
    let show = |v: &VersionId| format!("{}/{}@{}", v.0.folder(), v.1, v.2);
    let mut out = Vec::new();
    for ((kind, asset_name), asset) in &mut registry.assets {
        let id = format!("{}/{asset_name}", kind.folder());
        let (Some(old), Some(la)) = (
            prev.assets.get(&id),
            loaded.assets.get(&(*kind, asset_name.clone())),
        ) else {
            continue;
        };
        for (version, pins) in &mut asset.pins {
            let (Some(old_v), Some(lv)) = (old.versions.get(version), la.versions.get(version))
            else {
                continue;
            };
            let published = published_pins(old_v, lv, scope);
            for (text, now) in pins.iter_mut() {
                let Some(then) = published.get(text).filter(|then| *then != now) else {
                    continue;
                };
                out.push(
                    Diagnostic::new(
                        codes::PIN_KEPT,
                        Some(written_at(lv, text)),
                        format!(
                            "`{text}` in the published `{id}@{version}` stays pinned to `{}`, as it was published; it resolves to `{}` now",
                            show(then),
                            show(now)
                        ),
                    )
                    .help(format!(
                        "published versions keep their pins; to use `{}`, publish a new version of `{id}`",
                        show(now)
                    )),
                );
                *now = then.clone();
            }
        }
    }
    out
}

/// The version each reference of a published version was pinned to: its lineage holds the pins
/// beside the text (`{ref, id, version}`), its normalized spec holds them in the text's place.
fn published_pins(
    old: &VersionDoc,
    lv: &LoadedVersion,
    scope: Scope,
) -> BTreeMap<String, VersionId> {
    fn lineage(v: &Value, out: &mut BTreeMap<String, VersionId>) {
        match v {
            Value::Object(m) => {
                if let (
                    Some(Value::String(text)),
                    Some(Value::String(id)),
                    Some(Value::String(version)),
                ) = (m.get("ref"), m.get("id"), m.get("version"))
                    && let Some((kind, name)) = id.split_once('/')
                    && let Some(kind) = Kind::from_folder(kind)
                {
                    out.insert(text.clone(), (kind, name.to_string(), version.clone()));
                }
                m.values().for_each(|x| lineage(x, out));
            }
            Value::Array(items) => items.iter().for_each(|x| lineage(x, out)),
            _ => {}
        }
    }
    fn spec(
        written: &Value,
        published: &Value,
        scope: Scope,
        out: &mut BTreeMap<String, VersionId>,
    ) {
        match (written, published) {
            (Value::String(text), Value::String(uri)) if text != uri => {
                if let Some((kind, name, Selector::Version(version))) = reference::local(uri, scope)
                {
                    out.insert(text.clone(), (kind, name, version));
                }
            }
            (Value::Object(a), Value::Object(b)) => {
                for (k, x) in a {
                    if let Some(y) = b.get(k) {
                        spec(x, y, scope, out);
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                a.iter().zip(b).for_each(|(x, y)| spec(x, y, scope, out));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    if let Some(l) = &old.lineage {
        lineage(&l.value(), &mut out);
    }
    if let Some(written) = &lv.spec_json {
        spec(&written.value(), &old.spec.value(), scope, &mut out);
    }
    out
}

/// Where a version's spec or lineage writes `text`.
fn written_at(lv: &LoadedVersion, text: &str) -> Loc {
    let spec = lv.spec.iter().flat_map(|s| &s.refs).map(|r| &r.text);
    let lineage = lv.lineage.iter().flat_map(|l| {
        let uses = l.data.iter().chain(&l.models).map(|u| &u.reference);
        let metrics = l.metrics.iter().filter_map(|m| m.data.as_ref());
        l.environment
            .iter()
            .chain(&l.component)
            .chain(uses)
            .chain(metrics)
    });
    spec.chain(lineage)
        .find(|t: &&Text| t.value == text)
        .map(|t| t.loc.clone())
        .unwrap_or_else(|| Loc::file(&lv.spec_file))
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
    // Every entry, not only the first that differs: a reviewer sees each edit at once.
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
            }
            None => {
                let file = discover::shown(display, &format!("{id}/stages.yaml"));
                out.push(Diagnostic::new(
                    codes::HISTORY_REWRITTEN,
                    Some(Loc::file(&file)),
                    format!("stage log entry {} of `{id}` ({}) was published and is gone", o.seq, show(o)),
                ).help("the stage log is append-only: restore the entry and add a new one at the end"));
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
