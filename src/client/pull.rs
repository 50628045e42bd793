//! Pulling a resolved version into a folder, so that the folder ends up holding exactly the
//! version's files, each checked for size and sha256, and nothing else.
//!
//! This module owns the destination folder. A pull fills a fresh hidden sibling of it
//! (`.NAME.mlreg-pull-PID-N`, unique to the process), then swaps it into place: the old folder is
//! renamed away (`.NAME.mlreg-old-PID-N`), the new one renamed in, the old one removed. The old
//! folder is only ever read, never written: a file in it with the right sha256 (a regular file,
//! reached through no symbolic link) is copied instead of downloaded; a symbolic link in it is
//! never followed. Siblings left by a killed run are removed by the next pull. A non-empty folder
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

use super::cache::Cache;
use super::resolve::Resolved;
use super::{Failure, Source, escape};
use crate::publish::index::{Pinned, Ref};
use crate::registry::kind::Kind;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The normalized spec, written beside the version's files.
const SPEC: &str = "spec.yaml";

/// The record of what was pulled: it makes a folder mlreg's to replace.
const RECORD: &str = ".mlreg-pull.json";

/// Names in a destination folder that are `pull`'s own, never a version's file: the normalized
/// spec and the record of what was pulled.
pub const RESERVED: &[&str] = &[SPEC, RECORD];

/// Downloads (or copies) at once.
const PARALLEL: usize = 6;

/// The most one pull writes (16 TiB): more than any model, and far from where adding sizes up
/// could overflow.
pub const MAX_BYTES: u64 = 1 << 44;

/// The largest pull record read back: it lists files, nothing more.
const MAX_RECORD: u64 = 16 << 20;

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
    prepare(sources, cache, resolved, dest, force, progress)?.commit()
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

/// One blob and every path of the version that holds it (a file shipped twice is fetched once).
struct Blob<'a> {
    r: &'a Ref,
    paths: Vec<&'a str>,
}

fn group(wanted: &[(String, Ref)]) -> Vec<Blob<'_>> {
    let mut out: Vec<Blob<'_>> = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (rel, r) in wanted {
        match seen.get(r.sha256.as_str()) {
            Some(&i) => out[i].paths.push(rel.as_str()),
            None => {
                seen.insert(r.sha256.as_str(), out.len());
                out.push(Blob {
                    r,
                    paths: vec![rel],
                });
            }
        }
    }
    out
}

/// What every worker shares.
struct Context<'a> {
    sources: &'a [Source],
    cache: &'a Cache,
    /// The destination as it is: read from, never written to.
    old: &'a Path,
    /// The folder being filled.
    fresh: &'a Path,
    total: u64,
    done: AtomicU64,
    progress: &'a Progress<'a>,
}

impl Context<'_> {
    fn advance(&self, file: &str, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (self.progress)(file, done.min(self.total), self.total);
    }

    /// Bytes counted for a download that then failed or started over.
    fn take_back(&self, bytes: u64) {
        self.done.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Place every blob, [`PARALLEL`] at a time; the first failure stops the others from starting
/// new ones, and is the one reported (later ones tend to be its consequences: a source given
/// up on). Returns where each blob came from.
fn place_all(cx: &Context<'_>, blobs: &[Blob<'_>]) -> Result<Vec<Origin>, String> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let origins: Mutex<Vec<Option<Origin>>> = Mutex::new(vec![None; blobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(blobs.len()) {
            scope.spawn(|| {
                loop {
                    if failure
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .is_some()
                    {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(blob) = blobs.get(i) else { break };
                    match super::time_left().and_then(|_| place(cx, blob)) {
                        Ok(origin) => {
                            origins.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(origin)
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(e);
    }
    origins
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .collect::<Option<Vec<Origin>>>()
        .ok_or_else(|| "a download stopped without saying why".to_string())
}

/// Write one blob at each of its paths in the fresh folder: copied from the old destination
/// or the cache when either holds the right bytes, else fetched into the cache first.
fn place(cx: &Context<'_>, blob: &Blob<'_>) -> Result<Origin, String> {
    let r = blob.r;
    let name = blob.paths[0];
    let first = cx.fresh.join(name);
    make_parent(&first)?;
    let mut origin = None;
    for path in &blob.paths {
        if let Some(old) = regular_file_inside(cx.old, path)
            && copy_verified(&old, &first, r)?
        {
            origin = Some(Origin::Kept);
            break;
        }
    }
    if origin.is_none()
        && let Some(cached) = cx.cache.blob(&r.sha256, r.size)
        && copy_verified(&cached, &first, r)?
    {
        origin = Some(Origin::Cache);
    }
    let origin = match origin {
        Some(origin) => {
            cx.advance(name, r.size);
            origin
        }
        None => {
            let (cached, source) = fetch(cx, r, name)?;
            copy_new(&cached, &first)?;
            Origin::Source(source)
        }
    };
    for path in &blob.paths[1..] {
        let target = cx.fresh.join(path);
        make_parent(&target)?;
        copy_new(&first, &target)?;
        cx.advance(path, r.size);
    }
    Ok(origin)
}

/// Download a blob into the cache from the first source that delivers the right bytes;
/// returns the cache entry and the source's location.
fn fetch(cx: &Context<'_>, r: &Ref, name: &str) -> Result<(PathBuf, String), String> {
    let mut errors = Vec::new();
    for source in cx.sources {
        let part = cx.cache.temp(&r.sha256);
        let result = download(cx, source, r, &part, name);
        match result {
            Ok(()) => {
                let entry = cx.cache.adopt(&r.sha256, &part)?;
                return Ok((entry, source.location()));
            }
            Err(Trouble::Here(e)) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
            Err(Trouble::There(e)) => {
                let _ = std::fs::remove_file(&part);
                errors.push(e);
            }
        }
    }
    Err(format!(
        "`{}` ({}) could not be fetched: {}",
        escape(name),
        r.path,
        errors.join("; ")
    ))
}

/// A download that failed here (the disk: no other source will do better) or there (the
/// source: the next one may).
enum Trouble {
    Here(String),
    There(String),
}

/// Stream a blob from `source` into `part`, hashing as it comes; keep it only when its size
/// and sha256 are those of the reference.
fn download(
    cx: &Context<'_>,
    source: &Source,
    r: &Ref,
    part: &Path,
    name: &str,
) -> Result<(), Trouble> {
    let cannot_write = |e: std::io::Error| format!("cannot write `{}`: {e}", part.display());
    let mut file = File::create(part).map_err(|e| Trouble::Here(cannot_write(e)))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut local = None;
    let streamed = source.stream(&r.path, r.size, &mut |at, chunk| {
        if at != written {
            if at != 0 {
                return Err(format!("bytes at {at} after {written} of them"));
            }
            // The source started over (it ignored a range request): so does the file.
            file = File::create(part).map_err(|e| {
                local = Some(cannot_write(e));
                "the disk failed".to_string()
            })?;
            hasher = Sha256::new();
            cx.take_back(written);
            written = 0;
        }
        file.write_all(chunk).map_err(|e| {
            local = Some(cannot_write(e));
            "the disk failed".to_string()
        })?;
        hasher.update(chunk);
        written += chunk.len() as u64;
        cx.advance(name, chunk.len() as u64);
        Ok(())
    });
    if let Some(e) = local {
        cx.take_back(written);
        return Err(Trouble::Here(e));
    }
    let checked = streamed.and_then(|()| {
        let actual = crate::publish::hash::hex(&hasher.finalize());
        if written != r.size {
            Err(format!(
                "{}: {written} bytes, expected {}",
                source.location(),
                r.size
            ))
        } else if actual != r.sha256 {
            Err(format!(
                "{}: sha256 {actual}, expected {}",
                source.location(),
                r.sha256
            ))
        } else {
            Ok(())
        }
    });
    if let Err(e) = checked {
        cx.take_back(written);
        return Err(Trouble::There(e));
    }
    // Durable before it is renamed into the cache, where others trust it by its name.
    file.sync_all().map_err(|e| Trouble::Here(cannot_write(e)))
}

/// `rel` under `root` when it is a regular file reached through real folders only: a symbolic
/// link in an old destination is never followed.
fn regular_file_inside(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let last = i + 1 == parts.len();
        if (last && !meta.file_type().is_file()) || (!last && !meta.file_type().is_dir()) {
            return None;
        }
    }
    Some(path)
}

/// Copy `from` to the new file `to`, hashing on the way: `Ok(true)` when the bytes are the
/// reference's; otherwise `to` is removed and `Ok(false)` (an unreadable `from` is not an
/// error: the bytes are fetched instead). Errors are those of writing `to`.
fn copy_verified(from: &Path, to: &Path, r: &Ref) -> Result<bool, String> {
    let Ok(mut input) = File::open(from) else {
        return Ok(false);
    };
    if !input
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() == r.size)
    {
        return Ok(false);
    }
    let mut output = create_new(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let read_all = loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => n,
            Err(_) => break false,
        };
        size += n as u64;
        if size > r.size {
            break false;
        }
        hasher.update(&buf[..n]);
        if let Err(e) = output.write_all(&buf[..n]) {
            let _ = std::fs::remove_file(to);
            return Err(format!("cannot write `{}`: {e}", to.display()));
        }
    };
    let matched =
        read_all && size == r.size && crate::publish::hash::hex(&hasher.finalize()) == r.sha256;
    if !matched {
        drop(output);
        std::fs::remove_file(to).map_err(|e| format!("cannot remove `{}`: {e}", to.display()))?;
    }
    Ok(matched)
}

/// Copy `from` (a file this pull verified) to the new file `to`.
fn copy_new(from: &Path, to: &Path) -> Result<(), String> {
    let mut input =
        File::open(from).map_err(|e| format!("cannot read `{}`: {e}", from.display()))?;
    let mut output = create_new(to)?;
    std::io::copy(&mut input, &mut output)
        .map(|_| ())
        .map_err(|e| format!("cannot write `{}`: {e}", to.display()))
}

/// A file that did not exist: never one reached through a link someone else placed.
fn create_new(path: &Path) -> Result<File, String> {
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))
}

fn make_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display())),
        None => Ok(()),
    }
}

/// What `.mlreg-pull.json` says: what the folder holds, and that mlreg may replace it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    registry: String,
    id: String,
    version: String,
    digest: String,
    files: Vec<RecordFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordFile {
    path: String,
    size: u64,
    sha256: String,
}

fn write_record(fresh: &Path, resolved: &Resolved, wanted: &[(String, Ref)]) -> Result<(), String> {
    let record = Record {
        registry: resolved.registry.clone(),
        id: resolved.id.clone(),
        version: resolved.version.clone(),
        digest: resolved.version_doc.digest.clone(),
        files: wanted
            .iter()
            .map(|(path, r)| RecordFile {
                path: path.clone(),
                size: r.size,
                sha256: r.sha256.clone(),
            })
            .collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    let path = fresh.join(RECORD);
    create_new(&path)?
        .write_all(&bytes)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// The destination folder, and where its siblings go.
struct Dest {
    path: PathBuf,
    parent: PathBuf,
    name: OsString,
}

impl Dest {
    /// Check `dest` before anything is fetched: not a symbolic link, a folder (created when
    /// missing), mlreg's or empty unless `force`; and clear what killed pulls left beside it.
    fn open(dest: &Path, force: bool) -> Result<Dest, String> {
        // `.` or `..` names the folder it stands for: its siblings live in its parent.
        let path = if dest.file_name().is_none() {
            dest.canonicalize()
                .map_err(|e| format!("cannot pull into `{}`: {e}", dest.display()))?
        } else {
            dest.to_path_buf()
        };
        let name = path
            .file_name()
            .map(OsStr::to_os_string)
            .ok_or_else(|| format!("cannot pull into `{}`", dest.display()))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let d = Dest { path, parent, name };
        match std::fs::symlink_metadata(&d.path) {
            Ok(_) => d.check(force)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Made now, so that what cannot be created fails before any download.
                std::fs::create_dir_all(&d.path)
                    .map_err(|e| format!("cannot create `{}`: {e}", d.path.display()))?;
            }
            Err(e) => return Err(format!("cannot read `{}`: {e}", d.path.display())),
        }
        d.clear_leftovers();
        Ok(d)
    }

    /// A folder pull may replace: not a symbolic link, and mlreg's, empty or forced.
    fn check(&self, force: bool) -> Result<(), String> {
        let shown = self.path.display();
        let meta = std::fs::symlink_metadata(&self.path)
            .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "`{shown}` is a symbolic link: pull replaces the folder it writes into and does not do that through a link; give the folder it points at"
            ));
        }
        if !meta.is_dir() {
            return Err(format!("`{shown}` exists and is not a folder"));
        }
        if force || self.is_ours()? {
            return Ok(());
        }
        Err(format!(
            "`{shown}` is not empty and mlreg did not pull into it (it has no {RECORD}); pull replaces everything in it: give --force to replace it anyway"
        ))
    }

    /// Empty, or holding the record of an earlier pull.
    fn is_ours(&self) -> Result<bool, String> {
        let mut entries = std::fs::read_dir(&self.path)
            .map_err(|e| format!("cannot read `{}`: {e}", self.path.display()))?;
        if entries.next().is_none() {
            return Ok(true);
        }
        let record = self.path.join(RECORD);
        let regular = std::fs::symlink_metadata(&record).is_ok_and(|m| m.is_file());
        Ok(regular
            && File::open(&record)
                .and_then(|f| super::read_limited(f, MAX_RECORD))
                .is_ok_and(|bytes| serde_json::from_slice::<Record>(&bytes).is_ok()))
    }

    /// Nothing the pull reads from lives inside the folder it replaces as a whole.
    fn check_apart(&self, cache: &Cache, sources: &[Source]) -> Result<(), String> {
        let Ok(dest) = self.path.canonicalize() else {
            return Ok(());
        };
        let mut read = vec![("the cache", cache.dir().to_path_buf())];
        read.extend(sources.iter().filter_map(|s| match s {
            Source::Folder(dir) => Some(("the registry", dir.clone())),
            _ => None,
        }));
        for (what, path) in read {
            if path.canonicalize().is_ok_and(|p| p.starts_with(&dest)) {
                return Err(format!(
                    "{what} `{}` is inside `{}`, which a pull replaces as a whole: give another --dest",
                    path.display(),
                    self.path.display()
                ));
            }
        }
        Ok(())
    }

    /// A path beside the destination that is this process's alone.
    fn sibling(&self, what: &str) -> PathBuf {
        let mut name = OsString::from(".");
        name.push(&self.name);
        name.push(format!(".mlreg-{what}-{}-{}", std::process::id(), unique()));
        self.parent.join(name)
    }

    /// Remove the siblings of pulls whose process is gone (killed mid-pull). Without `/proc`
    /// there is no telling, and they stay.
    fn clear_leftovers(&self) {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let mut prefix = OsString::from(".");
        prefix.push(&self.name);
        prefix.push(".mlreg-");
        let Ok(entries) = std::fs::read_dir(&self.parent) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(rest) = file_name
                .as_encoded_bytes()
                .strip_prefix(prefix.as_encoded_bytes())
                .and_then(|r| std::str::from_utf8(r).ok())
            else {
                continue;
            };
            let Some((pid, n)) = rest
                .strip_prefix("pull-")
                .or_else(|| rest.strip_prefix("old-"))
                .and_then(|r| r.split_once('-'))
            else {
                continue;
            };
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(pid) || !digits(n) || Path::new("/proc").join(pid).exists() {
                continue;
            }
            let path = entry.path();
            // Removing never follows a link: a link is removed as itself.
            let _ = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        }
    }

    /// Put the filled folder in the destination's place and remove the old one. Swaps into one
    /// parent folder take turns (a lock on it), so two pulls into one destination never move
    /// each other's folders.
    fn swap(&self, fresh: &mut Scratch, force: bool) -> Result<Vec<String>, String> {
        let new = fresh.path()?.to_path_buf();
        let lock = File::open(&self.parent)
            .and_then(|f| f.lock().map(|()| f))
            .map_err(|e| format!("cannot lock `{}`: {e}", self.parent.display()))?;
        let shown = self.path.display();
        let old = match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read `{shown}`: {e}")),
            Ok(_) => {
                // Again, under the lock: what is there now is what gets replaced.
                self.check(force)?;
                let old = self.sibling("old");
                std::fs::rename(&self.path, &old)
                    .map_err(|e| format!("cannot move `{shown}` aside to replace it: {e}"))?;
                Some(old)
            }
        };
        if let Err(e) = std::fs::rename(&new, &self.path) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &self.path);
            }
            return Err(format!("cannot move the pulled files into `{shown}`: {e}"));
        }
        fresh.moved();
        drop(lock);
        let mut notes = Vec::new();
        if let Some(old) = old
            && let Err(e) = std::fs::remove_dir_all(&old)
        {
            notes.push(format!(
                "the previous contents of `{shown}` stay in `{}`: {e}",
                old.display()
            ));
        }
        Ok(notes)
    }
}

/// A folder of this process's that is removed when dropped, unless it was moved into place:
/// a failed pull leaves nothing behind.
struct Scratch(Option<PathBuf>);

impl Scratch {
    fn create(path: PathBuf) -> Result<Scratch, String> {
        std::fs::create_dir(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        Ok(Scratch(Some(path)))
    }

    fn path(&self) -> Result<&Path, String> {
        self.0
            .as_deref()
            .ok_or_else(|| "the pulled folder was already moved".to_string())
    }

    fn moved(&mut self) {
        self.0 = None;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// A number unique within this process, for sibling names.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// A version with what it needs: `pull --with-deps`.

/// What a version needs in this registry, split out of its pinned `references` by the rule of
/// the module `commands::pull`: what its spec names, and a model's lineage environment.
#[derive(Debug, Default)]
pub struct Needs {
    /// The deployment dependencies: pulled, and created before the version.
    pub deps: Vec<Pinned>,
    /// The other references: what the lineage names as history (its data, base models, the
    /// component that trained it). Not pulled.
    pub history: Vec<Pinned>,
    /// What looks wrong but does not stop the pull.
    pub notes: Vec<String>,
}

/// `id@version`.
pub fn label(id: &str, version: &str) -> String {
    format!("{id}@{version}")
}

/// Split the references of `resolved` into what it needs and what is history: a reference is
/// a dependency when the normalized spec names it (as
/// `azureml://registries/<registry>/<kind>/<name>/versions/<version>`, the form the build pins
/// every reference of a spec to), or, for a model, when it is the lineage's `environment`.
/// An `id@version` pinned twice with two digests, or a lineage environment whose digest is
/// not the one `references` pins, is refused: the index was altered.
pub fn needs(resolved: &Resolved) -> Result<Needs, String> {
    let v = &resolved.version_doc;
    let what = label(&resolved.id, &resolved.version);
    let mut pins: BTreeMap<(&str, &str), &Pinned> = BTreeMap::new();
    for r in &v.references {
        let previous = *pins.entry((&r.id, &r.version)).or_insert(r);
        if previous.digest != r.digest {
            return Err(format!(
                "{what} pins {} with two digests, {} and {}: the index was altered",
                label(&r.id, &r.version),
                previous.digest,
                r.digest
            ));
        }
    }
    let prefix = format!("azureml://registries/{}/", resolved.registry);
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    strings(&v.spec, &mut |s| {
        if let Some(pin) = s.strip_prefix(&prefix).and_then(azure_pin) {
            named.insert(pin);
        }
    });
    // A model ships files that run in an environment: the one its lineage names.
    let environment = if resolved.id.starts_with("models/") {
        v.lineage
            .as_ref()
            .and_then(|l| l.get("environment"))
            .and_then(pinned_value)
    } else {
        None
    };
    let mut out = Needs::default();
    for ((id, version), r) in &pins {
        let spec_names = named.contains(&(id.to_string(), version.to_string()));
        let runs_in = environment
            .as_ref()
            .is_some_and(|e| e.id == *id && e.version == *version);
        if let Some(e) = environment.as_ref().filter(|_| runs_in)
            && e.digest != r.digest
        {
            return Err(format!(
                "{what}: its lineage pins the environment {} with digest {}, its references with {}: the index was altered",
                label(id, version),
                e.digest,
                r.digest
            ));
        }
        if spec_names || runs_in {
            out.deps.push((*r).clone());
        } else {
            out.history.push((*r).clone());
        }
    }
    for (id, version) in &named {
        if !pins.contains_key(&(id.as_str(), version.as_str())) {
            out.notes.push(format!(
                "the spec of {what} names {}, which its references do not pin: it is not pulled",
                label(id, version)
            ));
        }
    }
    // The lineage is part of the version's digest: what it pins counts even when
    // `references` leaves it out.
    if let Some(e) = environment
        && !pins.contains_key(&(e.id.as_str(), e.version.as_str()))
    {
        out.deps.push(e);
    }
    Ok(out)
}

/// Every string in a JSON value.
fn strings(v: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, f)),
        serde_json::Value::Object(m) => m.values().for_each(|i| strings(i, f)),
        _ => {}
    }
}

/// `components/x/versions/2` → (`components/x`, `2`).
fn azure_pin(rest: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [kind, name, "versions", version]
            if Kind::from_folder(kind).is_some() && !name.is_empty() && !version.is_empty() =>
        {
            Some((format!("{kind}/{name}"), version.to_string()))
        }
        _ => None,
    }
}

/// A lineage's pinned reference (`{ref, id, version, digest}`); `None` for an external one.
fn pinned_value(v: &serde_json::Value) -> Option<Pinned> {
    let text = |k: &str| Some(v.get(k)?.as_str()?.to_string());
    Some(Pinned {
        id: text("id")?,
        version: text("version")?,
        digest: text("digest")?,
    })
}

/// A version as `(id, version)`.
type Key = (String, String);

/// The versions found by a walk, each with what it needs.
type Found = BTreeMap<Key, (Resolved, BTreeSet<Key>)>;

/// One version of a pull with its dependencies.
pub struct Node {
    pub resolved: Resolved,
    /// `id@version` of the versions it needs, sorted.
    pub depends_on: Vec<String>,
}

/// A version and everything it needs.
pub struct Graph {
    /// Every version once, each after the versions it needs, independent ones sorted by id and
    /// version; the version asked for comes last.
    pub nodes: Vec<Node>,
    /// `id@version` of what lineages name that is not pulled (history), sorted.
    pub history: Vec<String>,
    /// What looks wrong but did not stop the walk.
    pub notes: Vec<String>,
}

/// `root` and everything it needs, transitively ([`needs`]), each pin resolved by `resolve`
/// and held to the digest its parent pinned: a version whose digest is another is refused
/// (the index was altered), and so is a cycle (a valid build cannot make one), with the
/// versions on it.
pub fn with_dependencies(
    root: Resolved,
    resolve: &mut dyn FnMut(&Pinned) -> Result<Resolved, Failure>,
) -> Result<Graph, Failure> {
    let key = |r: &Resolved| (r.id.clone(), r.version.clone());
    let mut found: Found = BTreeMap::new();
    let mut history: BTreeSet<Key> = BTreeSet::new();
    let mut notes = Vec::new();
    let mut queue = std::collections::VecDeque::from([key(&root)]);
    found.insert(key(&root), (root, BTreeSet::new()));
    while let Some(at) = queue.pop_front() {
        let parent = &found[&at].0;
        let needs = needs(parent)?;
        let what = label(&parent.id, &parent.version);
        notes.extend(needs.notes);
        history.extend(needs.history.into_iter().map(|p| (p.id, p.version)));
        let mut edges = BTreeSet::new();
        for pin in needs.deps {
            let k = (pin.id.clone(), pin.version.clone());
            let digest = match found.get(&k) {
                Some((r, _)) => r.version_doc.digest.clone(),
                None => {
                    let r = resolve(&pin).map_err(|f| {
                        Failure::Broken(format!(
                            "{what} needs {}, which cannot be read: {f}",
                            label(&pin.id, &pin.version)
                        ))
                    })?;
                    if key(&r) != k {
                        return Err(Failure::Broken(format!(
                            "{what} needs {}, but the index answered with {}: the index was altered",
                            label(&pin.id, &pin.version),
                            label(&r.id, &r.version)
                        )));
                    }
                    let digest = r.version_doc.digest.clone();
                    found.insert(k.clone(), (r, BTreeSet::new()));
                    queue.push_back(k.clone());
                    digest
                }
            };
            if digest != pin.digest {
                return Err(Failure::Broken(format!(
                    "{what} pins {} with digest {}, but the index holds it with digest {digest}: the index was altered",
                    label(&pin.id, &pin.version),
                    pin.digest
                )));
            }
            edges.insert(k);
        }
        if let Some((_, deps)) = found.get_mut(&at) {
            *deps = edges;
        }
    }
    // Dependencies first: each round takes the smallest version all of whose dependencies
    // are taken.
    let mut taken: BTreeSet<Key> = BTreeSet::new();
    let mut order: Vec<Key> = Vec::with_capacity(found.len());
    while order.len() < found.len() {
        let ready = found
            .iter()
            .find(|(k, (_, deps))| !taken.contains(*k) && deps.iter().all(|d| taken.contains(d)))
            .map(|(k, _)| k.clone());
        let Some(next) = ready else {
            return Err(Failure::Broken(cycle(&found, &taken)));
        };
        taken.insert(next.clone());
        order.push(next);
    }
    let nodes = order
        .into_iter()
        .filter_map(|k| found.remove(&k))
        .map(|(resolved, deps)| Node {
            resolved,
            depends_on: deps.iter().map(|(id, v)| label(id, v)).collect(),
        })
        .collect();
    let history = history
        .into_iter()
        .filter(|k| !taken.contains(k))
        .map(|(id, v)| label(&id, &v))
        .collect();
    Ok(Graph {
        nodes,
        history,
        notes,
    })
}

/// The message for versions that need each other: one cycle among those not taken, each of
/// which needs another of them.
fn cycle(found: &Found, taken: &BTreeSet<Key>) -> String {
    let left = |k: &Key| -> Option<Key> {
        found
            .get(k)?
            .1
            .iter()
            .find(|d| !taken.contains(*d))
            .cloned()
    };
    let mut path: Vec<Key> = Vec::new();
    let mut at = found.keys().find(|k| !taken.contains(*k)).cloned();
    while let Some(k) = at {
        if let Some(i) = path.iter().position(|p| *p == k) {
            let mut ring: Vec<String> = path[i..].iter().map(|(id, v)| label(id, v)).collect();
            ring.push(label(&k.0, &k.1));
            return format!(
                "the versions need each other in a cycle ({}): a valid build cannot make one; the index was altered",
                ring.join(" → ")
            );
        }
        at = left(&k);
        path.push(k);
    }
    "the versions need each other in a cycle: the index was altered".to_string()
}

/// Where a version goes in a pull with dependencies: `dir/<kind>/<name>/<version>`, each part
/// one plain folder name.
pub fn folder(dir: &Path, id: &str, version: &str) -> Result<PathBuf, String> {
    let rel = format!("{id}/{version}");
    let plain = |p: &str| !p.is_empty() && p != "." && p != ".." && super::unsafe_path(p).is_none();
    match id.split_once('/') {
        Some((kind, name))
            if Kind::from_folder(kind).is_some()
                && plain(name)
                && !name.contains('/')
                && plain(version)
                && !version.contains('/') =>
        {
            Ok(dir.join(kind).join(name).join(version))
        }
        _ => Err(format!(
            "refusing to pull {} into `{}`: not a plain <kind>/<name>/<version> folder",
            label(id, version),
            escape(&rel)
        )),
    }
}

/// Pull each version into its [`folder`] under `dir`, with a single pull's guarantees for
/// each folder. Every version is checked, then filled into a fresh sibling of its folder, and
/// only once all of them are complete are they swapped into place, in the order given: a
/// failure before then leaves `dir` as it was (the folders made for the pull are removed).
/// The folders between `dir` and a version's are never symbolic links. `progress` is told of
/// the bytes of all versions together.
pub fn pull_all(
    sources: &[Source],
    cache: &Cache,
    dir: &Path,
    versions: &[&Resolved],
    force: bool,
    progress: &Progress<'_>,
) -> Result<Vec<(PathBuf, Pulled)>, String> {
    let mut planned = Vec::with_capacity(versions.len());
    let mut grand = 0u64;
    for r in versions {
        let dest = folder(dir, &r.id, &r.version)?;
        let total = check_files(r, &wanted(r))?;
        grand = grand
            .checked_add(total)
            .filter(|t| *t <= MAX_BYTES)
            .ok_or_else(|| {
                format!("the versions add up to more than the {MAX_BYTES} bytes one pull takes")
            })?;
        planned.push((*r, dest, total));
    }
    // Between `dir` and each version's folder: real folders or nothing yet.
    let mut made = Made(BTreeSet::new());
    for (_, dest, _) in &planned {
        let mut path = dest.clone();
        let mut missing = Vec::new();
        while path.as_path() != dir {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if path != *dest && m.file_type().is_symlink() => {
                    return Err(format!(
                        "`{}` is a symbolic link: a pull with dependencies writes into real folders only",
                        path.display()
                    ));
                }
                Ok(m) if path != *dest && !m.is_dir() => {
                    return Err(format!("`{}` exists and is not a folder", path.display()));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(path.clone()),
                Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
            }
            if !path.pop() {
                break;
            }
        }
        if !dir.exists() {
            missing.push(dir.to_path_buf());
        }
        made.0.extend(missing);
    }
    let offset = AtomicU64::new(0);
    let mut prepared = Vec::with_capacity(planned.len());
    for (r, dest, total) in &planned {
        let shown = dest.strip_prefix(dir).unwrap_or(dest).display().to_string();
        let before = offset.load(Ordering::Relaxed);
        let each = |path: &str, done: u64, _: u64| {
            progress(&format!("{shown}/{path}"), before + done, grand);
        };
        prepared.push((
            dest.clone(),
            prepare(sources, cache, r, dest, force, &each)?,
        ));
        offset.fetch_add(*total, Ordering::Relaxed);
    }
    let mut pulled = Vec::with_capacity(prepared.len());
    for (dest, p) in prepared.drain(..) {
        match p.commit() {
            Ok(p) => pulled.push((dest, p)),
            Err(e) if pulled.is_empty() => return Err(e),
            Err(e) => {
                let placed: Vec<String> = pulled
                    .iter()
                    .map(|(d, _): &(PathBuf, Pulled)| format!("`{}`", d.display()))
                    .collect();
                return Err(format!("{e} (already in place: {})", placed.join(", ")));
            }
        }
    }
    made.0.clear();
    Ok(pulled)
}

/// Folders a pull created, removed (when still empty, deepest first) unless cleared: a failed
/// pull with dependencies leaves no empty folders behind.
struct Made(BTreeSet<PathBuf>);

impl Drop for Made {
    fn drop(&mut self) {
        let mut made: Vec<&PathBuf> = self.0.iter().collect();
        made.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for path in made {
            let _ = std::fs::remove_dir(path);
        }
    }
}
