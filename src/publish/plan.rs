//! Planning a build: from the checked and resolved registry to every document and blob of
//! `docs/protocol.md`, as an [`OutputSet`]. Hashing streams and runs in parallel; nothing here
//! writes (that is `output`'s job).
//!
//! Memory: [`plan_taking`] (for `build`) drops each asset's manifests once its documents are
//! made and keeps a document as one struct, its bytes [`Deferred`] until written;
//! [`plan_with`] lends the manifests and keeps documents' bytes (`serve` and `publish` hold
//! every file in memory, and `serve` keeps the manifests for its next build).

use crate::publish::cache::Cache;
use crate::publish::chunk;
use crate::publish::hash;
use crate::publish::index::{
    self, AssetDoc, Bin, BinEntry, CanonicalJson, Card, Deprecation, FileEntry, HistoryEntry,
    Pinned, Ref, RegistryInfo, Root, Snapshot, UsedByPage, VersionDoc, WorkspaceInfo,
};
use crate::publish::output::{Content, Deferred, OutputSet};
use crate::registry::kind::Kind;
use crate::registry::load::{Loaded, LoadedAsset, LoadedVersion, SharedPath};
use crate::registry::model::VersionId;
use crate::registry::model::{Pins, Registry};
use crate::registry::resolve::pin;
use crate::registry::yaml::Json;
use rayon::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files of a version folder that are manifests, not shipped files.
const MANIFESTS: [&str; 3] = ["spec.yaml", "lineage.yaml", "README.md"];

/// Every asset document, by id: shared with the bytes the build writes, made again from it.
pub type Docs = BTreeMap<String, Arc<AssetDoc>>;

/// A planned build: every document and blob but the root, which waits for its serial.
pub struct Planned {
    pub set: OutputSet,
    /// Every asset document, by id, for `--against` and for pages.
    pub docs: Docs,
    /// The complete `used_by` of every version whose document holds only its first entries,
    /// by `<id>@<version>`: the pages' content, for pages of the site, without reading it back.
    pub used_by: BTreeMap<String, Vec<String>>,
    /// Where each asset's document is (`assets/<id>/<sha256>.json`), by id.
    pub doc_paths: BTreeMap<String, String>,
    pub snapshot: Ref,
    pub info: RegistryInfo,
}

impl Planned {
    /// The bytes of `registry.json`. `built` is the RFC 3339 time from `SOURCE_DATE_EPOCH`.
    pub fn root(&self, serial: u64, built: Option<String>) -> Vec<u8> {
        index::to_bytes(&self.root_doc(serial, built))
    }

    /// The root before it is signed (see `sign`).
    pub fn root_doc(&self, serial: u64, built: Option<String>) -> Root {
        Root {
            api_version: index::API_VERSION.into(),
            registry: self.info.clone(),
            serial,
            snapshot: self.snapshot.clone(),
            built,
            signed: None,
            expires: None,
            trust: None,
            signatures: Vec::new(),
        }
    }
}

/// The hashes of one version's files.
struct Hashed {
    files: Vec<FileEntry>,
    /// Where each file's bytes are, in the order of `files`.
    sources: Vec<PathBuf>,
}

/// A version's published spec and lineage, and its digest over them and its files: made
/// before any document (documents of one asset pin the digests of others).
struct Made {
    spec: CanonicalJson,
    lineage: Option<CanonicalJson>,
    digest: String,
}

pub fn plan(source: &Path, loaded: &Loaded, registry: &Registry) -> Result<Planned, String> {
    plan_with(source, loaded, registry, &Cache::default())
}

/// [`plan`], with the hashes of unchanged files from a build cache.
pub fn plan_with(
    source: &Path,
    loaded: &Loaded,
    registry: &Registry,
    cache: &Cache,
) -> Result<Planned, String> {
    let first = Prepared::of(source, loaded, registry, cache)?;
    let assets = loaded
        .assets
        .iter()
        .map(|(key, la)| (key.clone(), Held::Lent(la)))
        .collect();
    first.plan(source, registry, assets, &|_, _| false, false).0
}

/// [`plan_with`], taking the assets out of `loaded` and dropping each once its documents are
/// made, unless `keep` (given its id and its document's path) says what comes after needs it:
/// only an asset whose document differs from the previous build's has anything to compare.
/// The build then holds at its peak the documents or the manifests, not both.
pub fn plan_taking(
    source: &Path,
    loaded: &mut Loaded,
    registry: &Registry,
    cache: &Cache,
    keep: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Planned, String> {
    let first = Prepared::of(source, loaded, registry, cache)?;
    let assets = std::mem::take(&mut loaded.assets)
        .into_iter()
        .map(|(key, la)| (key, Held::Owned(Box::new(la))))
        .collect();
    let (planned, kept) = first.plan(source, registry, assets, keep, true);
    loaded.assets = kept;
    planned
}

/// An asset as loaded, lent or given to the plan.
enum Held<'a> {
    Lent(&'a LoadedAsset),
    Owned(Box<LoadedAsset>),
}

impl std::ops::Deref for Held<'_> {
    type Target = LoadedAsset;

    fn deref(&self) -> &LoadedAsset {
        match self {
            Held::Lent(la) => la,
            Held::Owned(la) => la,
        }
    }
}

/// What every asset's documents are made from, made from the whole registry first.
struct Prepared {
    hashed: BTreeMap<VersionId, Hashed>,
    made: BTreeMap<VersionId, Made>,
    digests: BTreeMap<VersionId, String>,
    used_by: BTreeMap<VersionId, Vec<String>>,
    info: RegistryInfo,
}

impl Prepared {
    fn of(
        source: &Path,
        loaded: &Loaded,
        registry: &Registry,
        cache: &Cache,
    ) -> Result<Prepared, String> {
        let hashed = hash_versions(source, loaded, cache)?;
        let made = make_versions(loaded, registry, &hashed);
        let digests = made
            .iter()
            .map(|(id, m)| (id.clone(), m.digest.clone()))
            .collect();
        // Who uses whom, from the pinned references of every version.
        let mut used_by: BTreeMap<VersionId, Vec<String>> = BTreeMap::new();
        for a in registry.assets.values() {
            for version in a.pins.keys() {
                for r in a.references(version) {
                    used_by.entry(r).or_default().push(format!(
                        "{}/{}@{version}",
                        a.kind.folder(),
                        a.name
                    ));
                }
            }
        }
        Ok(Prepared {
            hashed,
            made,
            digests,
            used_by,
            info: registry_info(loaded, registry),
        })
    }

    /// Every document, from `assets` (sorted by kind and name, as `loaded.assets`).
    fn plan(
        self,
        source: &Path,
        registry: &Registry,
        assets: Vec<((Kind, String), Held)>,
        keep: &(dyn Fn(&str, &str) -> bool + Sync),
        defer: bool,
    ) -> (
        Result<Planned, String>,
        BTreeMap<(Kind, String), LoadedAsset>,
    ) {
        let Prepared {
            hashed,
            made,
            digests,
            used_by,
            info,
        } = self;
        let mut set = OutputSet::default();
        let mut docs = BTreeMap::new();
        let digest_of = |id: &VersionId| digests.get(id).cloned().unwrap_or_default();
        let pinned = |id: &VersionId| Pinned {
            id: format!("{}/{}", id.0.folder(), id.1),
            version: id.2.clone(),
            digest: digest_of(id),
        };
        // Each asset's documents are independent once every digest is known: made in
        // parallel, each with the versions `made` and `hashed` hold for it (all three are
        // sorted by kind, name, version).
        let mut made = made.into_iter().peekable();
        let mut hashed = hashed.into_iter().peekable();
        let jobs: Vec<Job> = assets
            .into_iter()
            .map(|(key, la)| {
                let made = mine(&mut made, &key);
                let hashed = mine(&mut hashed, &key);
                (key, la, made, hashed)
            })
            .collect();
        let context = Context {
            source,
            registry,
            used_by: &used_by,
            pinned: &pinned,
            defer,
        };
        let assets: Vec<(Result<AssetOut, String>, Option<_>)> = jobs
            .into_par_iter()
            .map(|(key, la, made, hashed)| {
                let out = context.asset(&key, &la, made, hashed);
                let needed = out
                    .as_ref()
                    .map_or(true, |o| keep(&o.doc.id, &o.entry.doc.path));
                match la {
                    Held::Owned(la) if needed => (out, Some((key, *la))),
                    _ => (out, None),
                }
            })
            .collect();
        let mut cut = BTreeMap::new();
        let mut bins: BTreeMap<String, BTreeMap<String, BinEntry>> = BTreeMap::new();
        let mut doc_paths = BTreeMap::new();
        let mut kept = BTreeMap::new();
        let mut failed = None;
        for (out, la) in assets {
            kept.extend(la);
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            doc_paths.insert(out.doc.id.clone(), out.entry.doc.path.clone());
            set.files.extend(out.set.files);
            cut.extend(out.cut);
            bins.entry(index::bin_of(&out.doc.id))
                .or_default()
                .insert(out.doc.id.clone(), out.entry);
            docs.insert(out.doc.id.clone(), out.doc);
        }

        if let Some(e) = failed {
            return (Err(e), kept);
        }
        let mut bin_refs = BTreeMap::new();
        for (bin, assets) in bins {
            let r = document(
                &mut set,
                "bins",
                &Bin {
                    api_version: index::API_VERSION.into(),
                    assets,
                },
            );
            bin_refs.insert(bin, r);
        }
        let snapshot = document(
            &mut set,
            "snapshots",
            &Snapshot {
                api_version: index::API_VERSION.into(),
                bins: bin_refs,
            },
        );
        for (name, schema) in index::schemas()
            .into_iter()
            .chain(crate::publish::schema::schemas())
        {
            let mut bytes = serde_json::to_vec_pretty(&schema).expect("schemas serialize");
            bytes.push(b'\n');
            set.bytes(format!("schemas/{name}"), bytes);
        }
        let planned = Planned {
            set,
            docs,
            used_by: cut,
            doc_paths,
            snapshot,
            info,
        };
        (Ok(planned), kept)
    }
}

/// One asset to make documents for: its key, what was loaded of it, its versions' [`Made`]
/// and [`Hashed`].
type Job<'a> = (
    (Kind, String),
    Held<'a>,
    BTreeMap<String, Made>,
    BTreeMap<String, Hashed>,
);

/// The entries of `all` (sorted by version id) that are versions of the asset `key`, by
/// version, taken from its front.
fn mine<T>(
    all: &mut std::iter::Peekable<impl Iterator<Item = (VersionId, T)>>,
    key: &(Kind, String),
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    while let Some(((kind, name, _), _)) = all.peek() {
        if (kind, name) != (&key.0, &key.1) {
            break;
        }
        let ((_, _, version), t) = all.next().expect("peeked");
        out.insert(version, t);
    }
    out
}

/// What every asset's documents are made from.
struct Context<'a, P: Fn(&VersionId) -> Pinned> {
    source: &'a Path,
    registry: &'a Registry,
    used_by: &'a BTreeMap<VersionId, Vec<String>>,
    pinned: &'a P,
    /// Whether documents go into the set [`Deferred`] (a build to disk, which writes few of
    /// them) rather than as their bytes (a build into memory, which keeps every one anyway).
    defer: bool,
}

/// One asset's documents and blobs, its entry in its bin, and the used-by lists it cut.
struct AssetOut {
    set: OutputSet,
    cut: BTreeMap<String, Vec<String>>,
    doc: Arc<AssetDoc>,
    entry: BinEntry,
}

impl<P: Fn(&VersionId) -> Pinned + Sync> Context<'_, P> {
    /// The asset document of `key`, with its versions' spec files, cards and used-by pages.
    fn asset(
        &self,
        (kind, name): &(Kind, String),
        la: &LoadedAsset,
        mut made: BTreeMap<String, Made>,
        mut hashed: BTreeMap<String, Hashed>,
    ) -> Result<AssetOut, String> {
        let Context {
            source,
            registry,
            used_by,
            pinned,
            defer,
        } = *self;
        let mut set = OutputSet::default();
        let mut cut = BTreeMap::new();
        let asset = &registry.assets[&(*kind, name.clone())];
        let id = format!("{}/{name}", kind.folder());
        let mut versions = BTreeMap::new();
        for (version, lv) in &la.versions {
            let vid: VersionId = (*kind, name.clone(), version.clone());
            let Hashed { files, sources } =
                hashed.remove(version).expect("every version is hashed");
            for (f, from) in files.iter().zip(sources) {
                set.file(f.blob.clone(), from, f.size);
            }
            let Made {
                spec,
                lineage,
                digest,
            } = made.remove(version).expect("every version is made");
            let spec_yaml = crate::registry::yaml::to_yaml(&spec.value()).into_bytes();
            let spec_file = named(&spec_yaml, |sha| format!("blobs/sha256/{sha}"));
            set.bytes(spec_file.path.clone(), spec_yaml);
            let card = match (lv.card_meta.as_ref().map(Json::value), &lv.card_blob) {
                (Some(meta), Some((sha256, size))) => {
                    let path = source
                        .join(kind.folder())
                        .join(name)
                        .join(version)
                        .join("README.md");
                    let blob = Ref {
                        path: format!("blobs/sha256/{sha256}"),
                        sha256: sha256.clone(),
                        size: *size,
                    };
                    set.file(blob.path.clone(), path, *size);
                    Some(Card { blob, meta })
                }
                _ => None,
            };
            let mut used: Vec<String> = used_by.get(&vid).cloned().unwrap_or_default();
            used.sort();
            used.dedup();
            let used_by_count = used.len() as u64;
            // A version used by many keeps its document small: the first entries inline, the
            // whole list in immutable pages, cut where their entries say (not every 5,000), so
            // that one more user rewrites one page, not every page after it.
            let mut used_by_pages = Vec::new();
            if used.len() > index::USED_BY_INLINE {
                let pages = chunk::pages(&used, index::USED_BY_EVERY, index::USED_BY_PAGE);
                for page in pages {
                    let page = UsedByPage {
                        api_version: index::API_VERSION.into(),
                        used_by: page.to_vec(),
                    };
                    used_by_pages.push(document(&mut set, "usedby", &page));
                }
                let inline = used[..index::USED_BY_INLINE].to_vec();
                cut.insert(
                    format!("{id}@{version}"),
                    std::mem::replace(&mut used, inline),
                );
            }
            versions.insert(
                version.clone(),
                Box::new(VersionDoc {
                    digest,
                    spec,
                    spec_file,
                    files,
                    lineage,
                    card,
                    references: asset.references(version).iter().map(pinned).collect(),
                    used_by: used,
                    used_by_count,
                    used_by_pages,
                    deprecated: la.deprecation(version).map(str::to_string),
                }),
            );
        }
        let doc = AssetDoc {
            api_version: index::API_VERSION.into(),
            id: id.clone(),
            kind: kind.singular().into(),
            name: name.clone(),
            display_name: la.meta.display_name.clone(),
            description: la.meta.description.clone(),
            owners: la.meta.owners.iter().map(|o| o.value.clone()).collect(),
            tags: la.meta.tags.clone(),
            deprecated: la.meta.deprecated.as_ref().map(|d| Deprecation {
                reason: d.reason.clone(),
                replaced_by: d
                    .replaced_by
                    .as_ref()
                    .and_then(|r| pin(registry, &r.value))
                    .map(|v| pinned(&v)),
                date: d.date.as_ref().map(|t| t.value.clone()),
            }),
            latest: asset.latest.clone(),
            stages: asset.stages.clone(),
            history: history(la),
            order: asset.versions.clone(),
            versions,
        };
        let doc = Arc::new(doc);
        let bytes = doc.to_bytes();
        let doc_ref = named(&bytes, |sha| format!("assets/{id}/{sha}.json"));
        let content = match defer {
            true => {
                drop(bytes);
                let doc = doc.clone();
                Content::Deferred(Deferred::new(
                    doc_ref.sha256.clone(),
                    doc_ref.size,
                    move || doc.to_bytes(),
                ))
            }
            false => Content::Bytes(Arc::new(bytes)),
        };
        set.files
            .insert(format!("assets/{id}.json"), content.clone());
        set.files.insert(doc_ref.path.clone(), content);
        let entry = BinEntry {
            doc: doc_ref,
            kind: doc.kind.clone(),
            name: doc.name.clone(),
            display_name: doc.display_name.clone(),
            description: doc.description.as_deref().map(index::summary),
            tags: doc.tags.clone(),
            latest: doc.latest.clone(),
            stages: doc.stages.clone(),
            versions: doc.versions.len() as u64,
            deprecated: doc.deprecated.is_some(),
        };
        Ok(AssetOut {
            set,
            cut,
            doc,
            entry,
        })
    }
}

/// Hash every shipped file of every version (in parallel, streaming) and compute digests.
fn hash_versions(
    source: &Path,
    loaded: &Loaded,
    cache: &Cache,
) -> Result<BTreeMap<VersionId, Hashed>, String> {
    let jobs: Vec<(VersionId, &LoadedVersion)> = loaded
        .assets
        .iter()
        .flat_map(|((kind, name), la)| {
            la.versions
                .iter()
                .map(move |(v, lv)| ((*kind, name.clone(), v.clone()), &**lv))
        })
        .collect();
    jobs.into_par_iter()
        .map(|(id, lv)| {
            let dir = source.join(id.0.folder()).join(&id.1).join(&id.2);
            let mut shipped: BTreeMap<String, PathBuf> = lv
                .files
                .iter()
                .filter(|f| !MANIFESTS.contains(&f.as_str()))
                .map(|f| (f.clone(), dir.join(f)))
                .collect();
            shipped.extend(shared_files(&lv.shared));
            let (paths, sources): (Vec<String>, Vec<PathBuf>) = shipped.into_iter().unzip();
            let files = paths
                .into_par_iter()
                .zip(sources.par_iter())
                .map(|(path, from)| {
                    let (sha256, size) = cache
                        .hash_file(from)
                        .map_err(|e| format!("cannot read `{}`: {e}", from.display()))?;
                    Ok(FileEntry {
                        path,
                        size,
                        blob: format!("blobs/sha256/{sha256}"),
                        sha256,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok((id, Hashed { files, sources }))
        })
        .collect()
}

/// The files of the registry's common folder a version uses, by where they go in the version
/// (`common/src/train.py`). Links are not followed (the layout checks keep them inside it).
fn shared_files(shared: &[SharedPath]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for s in shared {
        for entry in walkdir::WalkDir::new(&s.abs)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
        {
            let rel = entry.path().strip_prefix(&s.abs).unwrap_or(entry.path());
            let published = match rel.to_str() {
                Some("") => s.published.clone(),
                Some(rel) => format!("{}/{}", s.published, rel.replace('\\', "/")),
                None => continue,
            };
            out.push((published, entry.path().to_path_buf()));
        }
    }
    out
}

/// Every version's published spec and lineage and its digest. A lineage pins what it names
/// with that version's digest, so what a lineage names is made first: versions go in levels
/// (see [`levels`]), each level's made in parallel from the levels before it; a cycle (an
/// error `check` reports) pins an empty digest where it closes.
fn make_versions(
    loaded: &Loaded,
    registry: &Registry,
    hashed: &BTreeMap<VersionId, Hashed>,
) -> BTreeMap<VersionId, Made> {
    let references = |id: &VersionId| -> Vec<VersionId> {
        let mut refs = registry
            .assets
            .get(&(id.0, id.1.clone()))
            .map(|a| a.references(&id.2))
            .unwrap_or_default();
        refs.retain(|r| hashed.contains_key(r));
        refs
    };
    let mut made: BTreeMap<VersionId, Made> = BTreeMap::new();
    for level in levels(hashed.keys(), references) {
        let level: Vec<(VersionId, Made)> = level
            .into_par_iter()
            .map(|v| {
                let (kind, name, version) = &v;
                let lv = &loaded.assets[&(*kind, name.clone())].versions[version];
                let pins = &registry.assets[&(*kind, name.clone())].pins[version];
                let pinned = |id: &VersionId| Pinned {
                    id: format!("{}/{}", id.0.folder(), id.1),
                    version: id.2.clone(),
                    digest: made.get(id).map(|m| m.digest.clone()).unwrap_or_default(),
                };
                let spec = normalized_spec(lv, &registry.name, pins, name, version);
                let lineage = lv
                    .lineage_json
                    .as_ref()
                    .map(|l| pinned_lineage(&l.value(), pins, &pinned));
                let digest = index::digest(&spec, lineage.as_ref(), &hashed[&v].files);
                let m = Made {
                    spec: CanonicalJson::new(&spec),
                    lineage: lineage.as_ref().map(CanonicalJson::new),
                    digest,
                };
                (v, m)
            })
            .collect();
        made.extend(level);
    }
    made
}

/// `ids` in levels: a version's level is one more than the highest of those it references,
/// found by a walk with an explicit stack (lineage chains can be long). A reference that
/// closes a cycle is not followed.
fn levels<'a>(
    ids: impl Iterator<Item = &'a VersionId>,
    references: impl Fn(&VersionId) -> Vec<VersionId>,
) -> Vec<Vec<VersionId>> {
    let mut level: BTreeMap<VersionId, usize> = BTreeMap::new();
    let mut open = std::collections::BTreeSet::new();
    // A version waits on the stack with its references once they are being made.
    for id in ids {
        let mut stack = vec![(id.clone(), None)];
        while let Some((v, refs)) = stack.pop() {
            if level.contains_key(&v) {
                continue;
            }
            let Some(refs) = refs else {
                if !open.insert(v.clone()) {
                    continue;
                }
                let refs = references(&v);
                let next: Vec<VersionId> = refs
                    .iter()
                    .filter(|r| !level.contains_key(*r) && !open.contains(*r))
                    .cloned()
                    .collect();
                stack.push((v, Some(refs)));
                stack.extend(next.into_iter().map(|r| (r, None)));
                continue;
            };
            let at = refs
                .iter()
                .filter_map(|r| level.get(r))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(v, at);
        }
    }
    let mut out: Vec<Vec<VersionId>> = Vec::new();
    for (v, at) in level {
        if out.len() <= at {
            out.resize_with(at + 1, Vec::new);
        }
        out[at].push(v);
    }
    out
}

/// The spec as `az ml <kind> create -f` wants it: name and version filled in, references to
/// this registry pinned to their Azure form, paths into the common folder pointed at the copy.
fn normalized_spec(
    lv: &LoadedVersion,
    registry: &str,
    pins: &Pins,
    name: &str,
    version: &str,
) -> Value {
    let mut spec = lv
        .spec_json
        .as_ref()
        .map_or_else(|| serde_json::json!({}), Json::value);
    // Paths into the registry's common folder name the copy the version ships instead.
    let mut azure: BTreeMap<String, String> = lv
        .shared
        .iter()
        .map(|s| (s.written.clone(), s.published.clone()))
        .collect();
    for r in lv.spec.iter().flat_map(|s| &s.refs) {
        if let Some((kind, n, v)) = pins.get(&r.text.value) {
            let uri = format!(
                "azureml://registries/{registry}/{}/{n}/versions/{v}",
                kind.folder()
            );
            azure.insert(r.text.value.clone(), uri);
        }
    }
    replace_strings(&mut spec, &mut |s| {
        azure.get(s).map(|p| Value::String(p.clone()))
    });
    if let Value::Object(m) = &mut spec {
        m.insert("name".into(), Value::String(name.into()));
        m.insert("version".into(), Value::String(version.into()));
    }
    spec
}

/// lineage.yaml as JSON, every reference into this registry replaced by its pin.
fn pinned_lineage(lineage: &Value, pins: &Pins, pinned: &dyn Fn(&VersionId) -> Pinned) -> Value {
    let mut out = lineage.clone();
    let Value::Object(m) = &mut out else {
        return out;
    };
    let pin_str = |v: &mut Value| {
        if let Value::String(s) = v
            && let Some(id) = pins.get(s)
        {
            let p = pinned(id);
            *v = serde_json::json!({ "ref": s, "id": p.id, "version": p.version, "digest": p.digest });
        }
    };
    for key in ["environment", "component"] {
        if let Some(v) = m.get_mut(key) {
            pin_str(v);
        }
    }
    for (list, field) in [("data", "ref"), ("models", "ref"), ("metrics", "data")] {
        if let Some(Value::Array(items)) = m.get_mut(list) {
            for item in items {
                if let Some(v) = item.get_mut(field) {
                    pin_str(v);
                }
            }
        }
    }
    out
}

fn replace_strings(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<Value>) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *v = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_strings(i, f)),
        Value::Object(m) => m.values_mut().for_each(|i| replace_strings(i, f)),
        _ => {}
    }
}

fn history(la: &LoadedAsset) -> Vec<HistoryEntry> {
    la.stages
        .iter()
        .enumerate()
        .map(|(i, e)| HistoryEntry {
            seq: i as u32 + 1,
            stage: e.stage.value.clone(),
            version: e.version.as_ref().map(|v| v.value.clone()),
            by: e.by.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
            date: e.date.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
            reference: e.reference.clone(),
            reason: e.reason.clone(),
            approved_by: e.approved_by.iter().map(|t| t.value.clone()).collect(),
            skip: e.skip,
        })
        .collect()
}

fn registry_info(loaded: &Loaded, registry: &Registry) -> RegistryInfo {
    let config = loaded.config.as_ref();
    RegistryInfo {
        name: registry.name.clone(),
        description: config.and_then(|c| c.description.clone()),
        base_url: config
            .and_then(|c| c.base_url.as_ref())
            .map(|t| t.value.clone()),
        stages: registry.stages.clone(),
        labels: registry.labels.clone(),
        workspaces: config
            .map(|c| {
                c.workspaces
                    .iter()
                    .map(|w| WorkspaceInfo {
                        name: w.name.value.clone(),
                        stage: w
                            .stage
                            .as_ref()
                            .map(|s| s.value.clone())
                            .unwrap_or_default(),
                        region: w.region.clone(),
                        mirror: w.mirror.as_ref().map(|m| m.value.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Add an immutable document under `dir/<sha256>.json` and return its reference.
fn document<T: serde::Serialize>(set: &mut OutputSet, dir: &str, doc: &T) -> Ref {
    let bytes = index::to_bytes(doc);
    let r = named(&bytes, |sha| format!("{dir}/{sha}.json"));
    set.bytes(r.path.clone(), bytes);
    r
}

/// The reference to `bytes` stored at the path `path_of` makes of their hash.
fn named(bytes: &[u8], path_of: impl FnOnce(&str) -> String) -> Ref {
    let sha256 = hash::sha256(bytes);
    Ref {
        path: path_of(&sha256),
        sha256,
        size: bytes.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_after_what_they_reference_and_a_cycle_ends() {
        let id = |n: &str| (Kind::Model, n.to_string(), "1".to_string());
        // d references b and c, which reference a; e and f reference each other.
        let graph: BTreeMap<VersionId, Vec<VersionId>> = [
            ("a", vec![]),
            ("b", vec!["a"]),
            ("c", vec!["a"]),
            ("d", vec!["b", "c"]),
            ("e", vec!["f"]),
            ("f", vec!["e"]),
        ]
        .into_iter()
        .map(|(v, refs)| (id(v), refs.into_iter().map(id).collect()))
        .collect();
        let levels = levels(graph.keys(), |v| graph[v].clone());
        let names: Vec<Vec<&str>> = levels
            .iter()
            .map(|l| l.iter().map(|v| v.1.as_str()).collect())
            .collect();
        // The cycle is cut where the walk closes it: e (first reached) after f.
        assert_eq!(names, [vec!["a", "f"], vec!["b", "c", "e"], vec!["d"]]);
    }
}
