//! Publishing a build to object storage (`az://container/prefix`, `s3://bucket/prefix`), in the
//! order of `docs/protocol.md`: blobs, then immutable documents, then the files that change,
//! then `registry.json`, replaced only if it is still the one this publish started from.
//!
//! Only what the target lacks is sent: content-addressed objects are found with one listing per
//! prefix, files that change with the manifest of their hashes this module keeps beside them
//! (`.mlreg/published.json`), so an unchanged republish sends nothing but, at most, the root.

use crate::client::object::{Connection, connect};
use crate::publish::hash;
use crate::publish::index;
use crate::publish::output::{Refused, Served, content_addressed};
use futures_util::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Uploads in flight at once.
const PARALLEL: usize = 32;
/// Where the hashes of the published files that change are kept.
const MANIFEST: &str = ".mlreg/published.json";
/// Prefixes listed to know which content-addressed (or hash-named) objects are there.
const LISTED: [&str; 7] = [
    "blobs/",
    "bins/",
    "catalog/",
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

    /// Every object under `dir` (relative to the prefix): one listing.
    fn list(&self, dir: &str) -> Result<BTreeSet<String>, String> {
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
                .map(|m| m.location.as_ref()[skip..].to_string())
                .collect())
        })
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
    ) -> Result<(usize, u64), String> {
        use futures_util::StreamExt;
        self.calls.set(self.calls.get() + rels.len());
        let sizes: Vec<u64> = self.conn.runtime.block_on(async {
            futures_util::stream::iter(rels.iter().map(|rel| async move {
                let bytes = read(&files[rel.as_str()])?;
                let size = bytes.len() as u64;
                self.conn
                    .store
                    .put(&self.conn.path(rel), PutPayload::from(bytes))
                    .await
                    .map_err(|e| format!("{}{rel}: {e}", self.conn.location))?;
                Ok::<u64, String>(size)
            }))
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await
        })?;
        Ok((sizes.len(), sizes.iter().sum()))
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
    /// from, `None` when the target had none) only if the target still holds it.
    pub fn publish(
        &self,
        files: &BTreeMap<String, Served>,
        root: &[u8],
        current: Option<&Root>,
    ) -> Result<Sent, Refused> {
        let mut sent = Sent::default();
        let mut present = BTreeSet::new();
        for dir in LISTED {
            present.extend(self.list(dir)?);
        }
        let published = self.manifest();
        let hash_named = |rel: &str| {
            content_addressed(rel) || rel.starts_with("static/") || rel.starts_with("search/")
        };
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
            let unchanged = if hash_named(rel) {
                present.contains(rel.as_str())
            } else {
                let bytes = read(&files[rel]).map_err(Refused::Failed)?;
                let sha = hash::sha256(&bytes);
                let same = published.get(rel.as_str()) == Some(&sha);
                hashes.insert(rel.clone(), sha);
                same
            };
            if unchanged {
                sent.skipped += 1;
            } else {
                phases[rank(rel)].push(rel);
            }
        }
        for phase in phases {
            let (count, bytes) = self.put_all(&phase, files)?;
            sent.uploaded += count;
            sent.bytes += bytes;
        }
        if hashes != published {
            let manifest = serde_json::to_vec_pretty(&hashes).expect("hashes serialize");
            self.put(MANIFEST, manifest, PutMode::Overwrite)
                .map_err(|e| format!("{}{MANIFEST}: {e}", self.conn.location))?;
        }
        if current.is_some_and(|c| c.bytes == root) {
            sent.calls = self.calls.get();
            return Ok(sent);
        }
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

fn read(file: &Served) -> Result<Vec<u8>, String> {
    match file {
        Served::Bytes(b) => Ok(b.as_ref().clone()),
        Served::File(p) => {
            std::fs::read(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        }
    }
}
