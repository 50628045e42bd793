//! Publishing a build to object storage (`az://container/prefix`, `s3://bucket/prefix`), in the
//! order of `docs/protocol.md`: blobs, then immutable documents, then the files that change,
//! then `registry.json`, replaced only if it is still the one this publish started from.
//!
//! Only what the target lacks is sent: content-addressed objects are found with one listing per
//! prefix, files that change with the manifest of their hashes this module keeps beside them
//! (`.mlreg/published.json`), so an unchanged republish sends nothing but, at most, the root.
//!
//! An object already there is reused only if the root this publish replaces names it (or, for
//! hash-named site files, its manifest does): what `gc` may remove is never relied on, and what
//! is sent again is young, which `gc`'s grace period protects. Before the root, a copy of it
//! goes to `.mlreg/roots/`, the history `gc` keeps the last roots by.

use crate::client::object::{Connection, connect};
use crate::publish::hash;
use crate::publish::index;
use crate::publish::output::{Refused, Served, content_addressed, hash_named};
use futures_util::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Uploads in flight at once.
const PARALLEL: usize = 32;
/// Where the hashes of the published files that are not protocol documents are kept.
pub const MANIFEST: &str = ".mlreg/published.json";
/// Where a copy of each root goes before it is published: `<serial>.<snapshot hash>.json`.
pub const ROOTS: &str = ".mlreg/roots/";
/// Objects at least this large go up in parts, read from disk one part at a time.
const PART: u64 = 8 << 20;
/// Prefixes listed to know which content-addressed (or hash-named) objects are there.
const LISTED: [&str; 7] = [
    "blobs/",
    "bins/",
    "usedby/",
    "snapshots/",
    "assets/",
    "static/",
    "search/",
];

pub struct ObjectTarget {
    conn: Connection,
    /// Calls made to the store, for the summary (and the tests that count them).
    calls: std::cell::Cell<usize>,
}

/// What a publish did.
#[derive(Debug, Default)]
pub struct Sent {
    pub uploaded: usize,
    pub bytes: u64,
    pub skipped: usize,
    /// Calls to the store: listings, reads and writes.
    pub calls: usize,
    pub root_written: bool,
}

/// Which objects already at the target a publish may rely on instead of sending them again.
pub enum Reuse<'a> {
    /// Any: the target has no root (nothing is collected there), or its root names the very
    /// snapshot being published.
    Any,
    /// Only these protocol paths: those the target's root names.
    Named(&'a BTreeSet<String>),
}

/// An object at the target, as a listing gives it.
pub struct Listed {
    pub rel: String,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

/// The root a target holds now, and the version to replace it conditionally.
pub struct Root {
    pub bytes: Vec<u8>,
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

impl ObjectTarget {
    pub fn open(location: &str) -> Result<ObjectTarget, String> {
        Ok(ObjectTarget {
            conn: connect(location, Duration::from_secs(60))?,
            calls: std::cell::Cell::new(0),
        })
    }

    pub fn location(&self) -> &str {
        &self.conn.location
    }

    fn call(&self) {
        self.calls.set(self.calls.get() + 1);
    }

    /// `registry.json` as the target holds it now, if it holds one.
    pub fn root(&self) -> Result<Option<Root>, String> {
        self.call();
        let path = self.conn.path(index::ROOT);
        self.conn.runtime.block_on(async {
            match self.conn.store.get(&path).await {
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(format!("{}{}: {e}", self.conn.location, index::ROOT)),
                Ok(result) => {
                    let (e_tag, version) = (result.meta.e_tag.clone(), result.meta.version.clone());
                    let bytes = result.bytes().await.map_err(|e| e.to_string())?;
                    Ok(Some(Root {
                        bytes: bytes.to_vec(),
                        e_tag,
                        version,
                    }))
                }
            }
        })
    }

    /// Every object under `dir` (relative to the prefix; `""` for all of it): one listing.
    pub fn list(&self, dir: &str) -> Result<Vec<Listed>, String> {
        self.call();
        let path = self.conn.path(dir.trim_end_matches('/'));
        let skip = match self.conn.prefix.is_empty() {
            true => 0,
            false => self.conn.prefix.len() + 1,
        };
        self.conn.runtime.block_on(async {
            let metas: Vec<object_store::ObjectMeta> = self
                .conn
                .store
                .list(Some(&path))
                .try_collect()
                .await
                .map_err(|e| format!("listing {}{dir}: {e}", self.conn.location))?;
            Ok(metas
                .into_iter()
                .map(|m| Listed {
                    rel: m.location.as_ref()[skip..].to_string(),
                    size: m.size,
                    modified: m.last_modified.into(),
                })
                .collect())
        })
    }

    /// The bytes of one object.
    pub fn get(&self, rel: &str) -> Result<Vec<u8>, String> {
        self.call();
        let path = self.conn.path(rel);
        self.conn.runtime.block_on(async {
            let result = self.conn.store.get(&path).await;
            let bytes = match result {
                Ok(r) => r.bytes().await,
                Err(e) => Err(e),
            };
            bytes
                .map(|b| b.to_vec())
                .map_err(|e| format!("{}{rel}: {e}", self.conn.location))
        })
    }

    /// Remove `rels`, in batches where the store has them (S3 deletes up to 1,000 per call).
    pub fn delete(&self, rels: &[String]) -> Result<(), String> {
        use futures_util::StreamExt;
        self.calls.set(self.calls.get() + rels.len().div_ceil(1000));
        let paths: Vec<object_store::path::Path> = rels.iter().map(|r| self.conn.path(r)).collect();
        self.conn.runtime.block_on(async {
            let stream = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
            self.conn
                .store
                .delete_stream(stream)
                .try_for_each(|_| async { Ok(()) })
                .await
                .or_else(|e| match e {
                    // Gone already (another gc, or a hand): what was wanted.
                    object_store::Error::NotFound { .. } => Ok(()),
                    e => Err(format!("removing from {}: {e}", self.conn.location)),
                })
        })
    }

    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }

    /// The hashes of the files that change, as the last publish left them.
    fn manifest(&self) -> BTreeMap<String, String> {
        self.call();
        let path = self.conn.path(MANIFEST);
        self.conn
            .runtime
            .block_on(async {
                let bytes = self.conn.store.get(&path).await.ok()?.bytes().await.ok()?;
                serde_json::from_slice(&bytes).ok()
            })
            .unwrap_or_default()
    }

    /// Send `rels` of `files`, `PARALLEL` at a time: the count and the bytes sent.
    fn put_all(
        &self,
        rels: &[&String],
        files: &BTreeMap<String, Served>,
        progress: &indicatif::ProgressBar,
    ) -> Result<(usize, u64), String> {
        use futures_util::StreamExt;
        self.calls.set(self.calls.get() + rels.len());
        let sizes: Vec<u64> = self.conn.runtime.block_on(async {
            futures_util::stream::iter(rels.iter().map(|rel| async move {
                let path = self.conn.path(rel);
                let size = match &files[rel.as_str()] {
                    Served::File(from) if size_of(from) >= PART => {
                        self.put_parts(&path, from, progress).await
                    }
                    served => {
                        let bytes = read(served)?;
                        let size = bytes.len() as u64;
                        self.conn
                            .store
                            .put(&path, PutPayload::from(bytes))
                            .await
                            .map_err(|e| e.to_string())?;
                        progress.inc(size);
                        Ok(size)
                    }
                };
                size.map_err(|e| format!("{}{rel}: {e}", self.conn.location))
            }))
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await
        })?;
        Ok((sizes.len(), sizes.iter().sum()))
    }

    /// A large file in parts, read a part at a time (a few parts in flight), so that memory
    /// does not grow with the file. A failed upload is aborted: no part of it becomes visible.
    async fn put_parts(
        &self,
        path: &object_store::path::Path,
        from: &std::path::Path,
        progress: &indicatif::ProgressBar,
    ) -> Result<u64, String> {
        use std::io::Read;
        let mut file = std::fs::File::open(from)
            .map_err(|e| format!("cannot read `{}`: {e}", from.display()))?;
        let upload = self
            .conn
            .store
            .put_multipart(path)
            .await
            .map_err(|e| e.to_string())?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART as usize);
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(format!("cannot read `{}`: {e}", from.display()));
                }
            };
            if let Err(e) = writer.wait_for_capacity(4).await {
                let _ = writer.abort().await;
                return Err(e.to_string());
            }
            writer.write(&buf[..n]);
            total += n as u64;
            progress.inc(n as u64);
        }
        writer.finish().await.map_err(|e| e.to_string())?;
        Ok(total)
    }

    fn put(&self, rel: &str, bytes: Vec<u8>, mode: PutMode) -> Result<(), object_store::Error> {
        self.call();
        let path = self.conn.path(rel);
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.conn.runtime.block_on(async {
            self.conn
                .store
                .put_opts(&path, PutPayload::from(bytes), options)
                .await
                .map(|_| ())
        })
    }

    /// Publish `files` and then `root`, which replaces `current` (the root this publish started
    /// from, `None` when the target had none) only if the target still holds it. `serial` and
    /// `snapshot` name the root in the history.
    pub fn publish(
        &self,
        files: &BTreeMap<String, Served>,
        root: &[u8],
        current: Option<&Root>,
        reuse: Reuse,
        progress: &indicatif::ProgressBar,
    ) -> Result<Sent, Refused> {
        let mut sent = Sent::default();
        let mut present = BTreeSet::new();
        for dir in LISTED {
            present.extend(self.list(dir)?.into_iter().map(|l| l.rel));
        }
        let published = self.manifest();
        // Protocol order: blobs, immutable documents, hash-named files, then the rest.
        let rank = |rel: &str| match rel {
            r if r.starts_with("blobs/") => 0,
            r if content_addressed(r) => 1,
            r if hash_named(r) => 2,
            _ => 3,
        };
        let mut order: Vec<&String> = files.keys().collect();
        order.sort_by_key(|rel| (rank(rel), rel.as_str()));
        let mut hashes = BTreeMap::new();
        // What to send, phase by phase: a phase starts once the one before is complete.
        let mut phases: [Vec<&String>; 4] = Default::default();
        for rel in order {
            let unchanged = if content_addressed(rel) {
                present.contains(rel.as_str())
                    && match reuse {
                        Reuse::Any => true,
                        Reuse::Named(named) => named.contains(rel.as_str()),
                    }
            } else {
                // Files that change, and hash-named site files, which `gc` keeps while the
                // manifest lists them.
                let bytes = read(&files[rel]).map_err(Refused::Failed)?;
                let sha = hash::sha256(&bytes);
                let same = published.get(rel.as_str()) == Some(&sha)
                    && (!hash_named(rel) || present.contains(rel.as_str()));
                hashes.insert(rel.clone(), sha);
                same
            };
            if unchanged {
                sent.skipped += 1;
            } else {
                phases[rank(rel)].push(rel);
            }
        }
        let total: u64 = phases
            .iter()
            .flatten()
            .map(|rel| served_size(&files[rel.as_str()]))
            .sum();
        progress.set_length(total);
        for phase in phases {
            let (count, bytes) = self.put_all(&phase, files, progress)?;
            sent.uploaded += count;
            sent.bytes += bytes;
        }
        progress.finish_and_clear();
        if hashes != published {
            let manifest = serde_json::to_vec_pretty(&hashes).expect("hashes serialize");
            self.put(MANIFEST, manifest, PutMode::Overwrite)
                .map_err(|e| format!("{}{MANIFEST}: {e}", self.conn.location))?;
        }
        if current.is_some_and(|c| c.bytes == root) {
            sent.calls = self.calls.get();
            return Ok(sent);
        }
        // The history first: `gc` keeps what the last roots name, and a root it holds no copy
        // of yet would be unprotected. (A publish that then loses leaves a copy naming a root
        // that never was: it only makes `gc` keep more.)
        let parsed = crate::client::parse_root(root).map_err(Refused::Failed)?;
        let history = history_name(parsed.serial, &parsed.snapshot.path);
        self.put(&history, root.to_vec(), PutMode::Overwrite)
            .map_err(|e| format!("{}{history}: {e}", self.conn.location))?;
        // The root last, and only over the one this publish read: else another publish won.
        let mode = match current {
            None => PutMode::Create,
            Some(c) => PutMode::Update(UpdateVersion {
                e_tag: c.e_tag.clone(),
                version: c.version.clone(),
            }),
        };
        match self.put(index::ROOT, root.to_vec(), mode) {
            Ok(()) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => {
                let now = self
                    .root()
                    .ok()
                    .flatten()
                    .and_then(|r| crate::client::parse_root(&r.bytes).ok())
                    .map_or_else(|| "unknown".to_string(), |r| r.serial.to_string());
                return Err(Refused::MovedOn(format!(
                    "{} moved on while this publish ran (serial {now}): publish again against it",
                    self.conn.location
                )));
            }
            Err(e) => {
                return Err(Refused::Failed(format!(
                    "{}{}: {e}",
                    self.conn.location,
                    index::ROOT
                )));
            }
        }
        sent.uploaded += 1;
        sent.bytes += root.len() as u64;
        sent.root_written = true;
        sent.calls = self.calls.get();
        Ok(sent)
    }
}

/// The copy of the root at `serial` naming `snapshot`, under [`ROOTS`].
pub fn history_name(serial: u64, snapshot: &str) -> String {
    let stem = snapshot
        .rsplit('/')
        .next()
        .unwrap_or(snapshot)
        .trim_end_matches(".json");
    format!("{ROOTS}{serial:012}.{stem}.json")
}

/// The serial a history entry's name gives, if it is one.
pub fn history_serial(rel: &str) -> Option<u64> {
    rel.strip_prefix(ROOTS)?.split('.').next()?.parse().ok()
}

fn size_of(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn served_size(file: &Served) -> u64 {
    match file {
        Served::Bytes(b) => b.len() as u64,
        Served::File(p) => size_of(p),
    }
}

fn read(file: &Served) -> Result<Vec<u8>, String> {
    match file {
        Served::Bytes(b) => Ok(b.as_ref().clone()),
        Served::File(p) => {
            std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        }
    }
}
