//! Pulling a resolved version into a folder, so that the folder ends up holding exactly the
//! version's files, each checked for size and sha256, and nothing else.
//!
//! A pull fills a fresh hidden sibling of the destination folder (`.NAME.mlreg-pull-PID-N`,
//! unique to the process), then swaps it into place: the old folder is renamed away
//! (`.NAME.mlreg-old-PID-N`), the new one renamed in, the old one removed. The old folder is
//! only ever read, never written: a file in it with the right sha256 (a regular file, reached
//! through no symbolic link) is copied instead of downloaded; a symbolic link in it is never
//! followed. Siblings left by a killed run are removed by the next pull. A non-empty folder
//! without the pull record (`.mlreg-pull.json`) is not mlreg's and is refused unless forced.
//!
//! Blobs are fetched in parallel, each from the first source that delivers it (through the
//! cache), from one byte to the next; [`super::Source::stream`] resumes a broken connection.
//!
//! A pull with dependencies ([`with_dependencies`], [`pull_all`]) walks what a version needs
//! ([`needs`]: what its spec names in this registry, and a model's lineage environment), holds
//! each version found to the digest its parent pinned, orders them dependencies first (a cycle
//! is refused), and pulls each into `DIR/<kind>/<name>/<version>` as above: every folder is
//! filled before any is swapped into place.
//!
//! `dest` owns the destination folder: its checks, the pull record, the siblings and the swap.
//! `download` places every blob in the fresh folder, from the old folder, the cache or a
//! source; `tee` writes a blob's bytes into its files on a second thread while `download`
//! hashes them. `deps` finds what a version needs and orders it; `all` pulls several versions into
//! their folders at once. This module holds what a pull is given and what it answers, checks
//! the files a version asks for, and puts one pull together: [`prepare`] fills the fresh
//! folder, [`Prepared::commit`] swaps it into place.

mod all;
mod deps;
mod dest;
mod download;
mod tee;

pub use all::{folder, pull_all};
pub use deps::{Graph, Needs, Node, label, needs, with_dependencies};

use super::cache::Cache;
use super::resolve::Resolved;
use super::{Source, escape};
use crate::publish::index::Ref;
use dest::{Dest, Scratch, write_record};
use download::{Context, group, place_all};
use std::path::Path;
use std::sync::atomic::AtomicU64;

/// The normalized spec, written beside the version's files.
const SPEC: &str = "spec.yaml";

/// The record of what was pulled: it makes a folder mlreg's to replace.
const RECORD: &str = ".mlreg-pull.json";

/// Names in a destination folder that are `pull`'s own, never a version's file: the normalized
/// spec and the record of what was pulled.
pub const RESERVED: &[&str] = &[SPEC, RECORD];

/// The most one pull writes (16 TiB): more than any model, and far from where adding sizes up
/// could overflow.
pub const MAX_BYTES: u64 = 1 << 44;

/// Told the file at hand, the bytes written so far (of all files) and the bytes to write.
pub type Progress<'a> = dyn Fn(&str, u64, u64) + Sync + 'a;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    pub fetched: usize,
    pub from_cache: usize,
    pub kept: usize,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// Where a file's bytes came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The destination folder already held them.
    Kept,
    Cache,
    /// A source, by its location.
    Source(String),
}

impl Origin {
    /// `dest`, `cache`, or the source's location.
    pub fn name(&self) -> &str {
        match self {
            Origin::Kept => "dest",
            Origin::Cache => "cache",
            Origin::Source(location) => location,
        }
    }
}

pub struct Pulled {
    pub stats: PullStats,
    /// Every file written (`spec.yaml` first), and where its bytes came from.
    pub files: Vec<(String, Origin)>,
    /// What the user should know but that did not stop the pull.
    pub notes: Vec<String>,
}

/// Everything `dest` should hold for `resolved`: `spec.yaml` (the normalized spec) and the files.
pub fn wanted(resolved: &Resolved) -> Vec<(String, Ref)> {
    let mut out = vec![(SPEC.to_string(), resolved.version_doc.spec_file.clone())];
    out.extend(resolved.version_doc.files.iter().map(|f| {
        (
            f.path.clone(),
            Ref {
                path: f.blob.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
            },
        )
    }));
    out
}

/// Pull the version into `dest`, which ends up holding exactly its files, `spec.yaml` and the
/// pull record. `force` replaces a non-empty folder that mlreg did not pull into.
pub fn pull(
    sources: &[Source],
    cache: &Cache,
    resolved: &Resolved,
    dest: &Path,
    force: bool,
    progress: &Progress<'_>,
) -> Result<Pulled, String> {
    let existed = std::fs::symlink_metadata(dest).is_ok();
    let pulled =
        prepare(sources, cache, resolved, dest, force, progress).and_then(Prepared::commit);
    if pulled.is_err() && !existed {
        // The destination was made for this pull: a failed one leaves no trace of it (only
        // if it is still empty: never remove what another process put there meanwhile).
        let _ = std::fs::remove_dir(dest);
    }
    pulled
}

/// A version fully written into a fresh sibling of its destination, not yet swapped into
/// place; dropped without [`Prepared::commit`], it leaves nothing behind.
pub struct Prepared {
    dest: Dest,
    fresh: Scratch,
    force: bool,
    stats: PullStats,
    files: Vec<(String, Origin)>,
}

impl Prepared {
    /// Swap the filled folder into the destination's place.
    pub fn commit(mut self) -> Result<Pulled, String> {
        let notes = self.dest.swap(&mut self.fresh, self.force)?;
        Ok(Pulled {
            stats: self.stats,
            files: self.files,
            notes,
        })
    }
}

/// Everything of [`pull`] but the swap: the destination checked (and created when missing),
/// every file placed in a fresh sibling of it, verified, with the pull record.
pub fn prepare(
    sources: &[Source],
    cache: &Cache,
    resolved: &Resolved,
    dest: &Path,
    force: bool,
    progress: &Progress<'_>,
) -> Result<Prepared, String> {
    let wanted = wanted(resolved);
    let total = check_files(resolved, &wanted)?;
    let dest = Dest::open(dest, force)?;
    dest.check_apart(cache, sources)?;
    let fresh = Scratch::create(dest.sibling("pull"))?;
    let blobs = group(&wanted);
    let cx = Context {
        sources,
        cache,
        old: &dest.path,
        fresh: fresh.path()?,
        total,
        done: AtomicU64::new(0),
        progress,
    };
    let origins = place_all(&cx, &blobs)?;
    let mut stats = PullStats::default();
    let mut by_path = std::collections::HashMap::new();
    for (blob, origin) in blobs.iter().zip(&origins) {
        by_path.extend(blob.paths.iter().map(|p| (*p, origin)));
        if let Origin::Source(_) = origin {
            stats.bytes += blob.r.size;
        }
    }
    let mut files = Vec::with_capacity(wanted.len());
    for (path, _) in &wanted {
        let origin = by_path
            .get(path.as_str())
            .ok_or_else(|| format!("`{}` was not placed", escape(path)))?;
        match origin {
            Origin::Kept => stats.kept += 1,
            Origin::Cache => stats.from_cache += 1,
            Origin::Source(_) => stats.fetched += 1,
        }
        files.push((path.clone(), (*origin).clone()));
    }
    write_record(cx.fresh, resolved, &wanted)?;
    Ok(Prepared {
        dest,
        fresh,
        force,
        stats,
        files,
    })
}

/// Every name is one pull may write, every size adds up: checked before anything is written
/// (`check_version` refused the same at resolve time; this is where files are created).
fn check_files(resolved: &Resolved, wanted: &[(String, Ref)]) -> Result<u64, String> {
    let what = format!("{}@{}", escape(&resolved.id), escape(&resolved.version));
    let mut total = 0u64;
    let mut sizes = std::collections::BTreeMap::new();
    for (i, (rel, r)) in wanted.iter().enumerate() {
        super::check_ref(r)?;
        let why = if i > 0 && RESERVED.contains(&rel.as_str()) {
            Some("is reserved for what pull writes itself")
        } else {
            super::unsafe_path(rel)
        };
        if let Some(why) = why {
            return Err(format!(
                "{what}: refusing the file `{}`: it {why}",
                escape(rel)
            ));
        }
        if *sizes.entry(r.sha256.as_str()).or_insert(r.size) != r.size {
            return Err(format!(
                "{what}: the file `{}` gives sha256 {} another size than a file before it",
                escape(rel),
                r.sha256
            ));
        }
        total = total
            .checked_add(r.size)
            .filter(|t| *t <= MAX_BYTES)
            .ok_or_else(|| {
                format!(
                    "{what}: its files add up to more than the {MAX_BYTES} bytes one pull takes (at `{}`, {} bytes)",
                    escape(rel),
                    r.size
                )
            })?;
    }
    Ok(total)
}
