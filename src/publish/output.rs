//! Every write under the output folder, by the rule of `docs/protocol.md`: content-addressed
//! files are written once, only when missing; other files are replaced (temp file + rename)
//! only when their bytes changed; `registry.json` last; files no build of the last `keep`
//! (`publish.keep` in `registry.yaml`) refers to are removed after it. A reader of the folder never sees a half-built
//! registry, and a rebuild of an unchanged registry writes nothing.
//!
//! A new output folder is built as a hidden sibling and renamed into place. A non-empty folder
//! mlreg did not create is refused unless `force`.

use crate::publish::cache::{Cache, Stamp};
use crate::publish::dirs::{Dirs, Entry};
use crate::publish::fresh;
use crate::publish::index::{self, AssetDoc, Bin, Snapshot};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The marker that says mlreg owns a folder, with the snapshots of the last builds.
pub const MARKER: &str = ".mlreg-output.json";

#[derive(Clone)]
pub enum Content {
    /// Shared: an asset document goes out under two names, and `serve` keeps what it is given.
    Bytes(Arc<Vec<u8>>),
    /// A file of the registry source, copied as it is, and its size when it was hashed.
    File(PathBuf, u64),
    /// Bytes made again when they are written (see [`Deferred`]).
    Deferred(Deferred),
}

impl Content {
    /// How many bytes it is. (A source file's is the size the plan hashed, which the blob's
    /// name stands for: no second look.)
    fn size(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::File(_, size) => *size,
            Content::Deferred(m) => m.size,
        }
    }
}

/// Bytes that are made again only if they are written, with the SHA-256 and size they have:
/// an asset document, which a build would otherwise hold twice until the end, as the struct
/// its pages are made from and as bytes (hundreds of megabytes at 100,000 versions). An
/// unchanged document is never made again: its hash says so.
#[derive(Clone)]
pub struct Deferred {
    pub sha256: String,
    pub size: u64,
    make: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
}

impl Deferred {
    /// `make` must give the same bytes every time, which hash to `sha256`.
    pub fn new(
        sha256: String,
        size: u64,
        make: impl Fn() -> Vec<u8> + Send + Sync + 'static,
    ) -> Deferred {
        Deferred {
            sha256,
            size,
            make: Arc::new(make),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        (self.make)()
    }
}

/// Files a build produces, by path relative to the output folder.
#[derive(Default)]
pub struct OutputSet {
    pub files: BTreeMap<String, Content>,
}

impl OutputSet {
    pub fn bytes(&mut self, path: impl Into<String>, bytes: impl Into<Arc<Vec<u8>>>) {
        self.files.insert(path.into(), Content::Bytes(bytes.into()));
    }

    pub fn file(&mut self, path: impl Into<String>, from: PathBuf, size: u64) {
        self.files.insert(path.into(), Content::File(from, size));
    }
}

/// Documents and blobs named by their hash: present means identical.
pub fn content_addressed(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or("");
    match first {
        "blobs" | "snapshots" | "bins" | "usedby" => true,
        // assets/<kind>/<name>/<sha256>.json, not the convenience copy assets/<kind>/<name>.json
        "assets" => rel.split('/').count() == 4,
        _ => false,
    }
}

/// Site files named by a hash of their bytes (style, script, icon, search shards): like
/// content-addressed files, never changed in place. The search manifest, at a fixed path, is not.
pub fn hash_named(rel: &str) -> bool {
    (rel.starts_with("static/") || rel.starts_with("search/")) && rel != SEARCH_MANIFEST
}

/// The search manifest: the one file under `search/` that changes in place.
pub const SEARCH_MANIFEST: &str = "search/index.json";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub written: usize,
    pub bytes: u64,
    pub unchanged: usize,
    pub removed: usize,
    /// Of the unchanged files, those the build cache vouched for (not rendered, not read).
    pub cached: usize,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Marker {
    format: u32,
    /// Snapshot paths of the last builds, newest first.
    snapshots: Vec<String>,
}

/// Why a build was not written.
#[derive(Debug)]
pub enum Refused {
    /// Another build wrote the folder since this one read it (or writes it now): its result
    /// would be lost, or a reader left with a root naming what the other removed.
    MovedOn(String),
    /// Any other failure (I/O).
    Failed(String),
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Refused::Failed(message)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::MovedOn(m) | Refused::Failed(m) => f.write_str(m),
        }
    }
}

/// The lock of an output folder while a build writes into it: `.mlreg-lock`, made only if
/// absent, holding the writer's pid; removed when dropped. A lock whose process is gone (a
/// killed build) is taken over.
pub struct Lock {
    path: PathBuf,
}

pub const LOCK: &str = ".mlreg-lock";

impl Lock {
    fn take(dir: &Path) -> Result<Lock, Refused> {
        let path = dir.join(LOCK);
        // The lock appears with its pid already in it (written aside, then linked into place),
        // so that a build killed while taking it never leaves a lock that names nobody.
        let pid = std::process::id().to_string();
        let aside = dir.join(format!("{LOCK}.{pid}"));
        std::fs::write(&aside, &pid)
            .map_err(|e| format!("cannot write `{}`: {e}", aside.display()))?;
        let taken = Lock::link(&aside, &path);
        let _ = std::fs::remove_file(&aside);
        taken
    }

    fn link(aside: &Path, path: &Path) -> Result<Lock, Refused> {
        let dir = path.parent().unwrap_or(Path::new("."));
        for _ in 0..2 {
            match std::fs::hard_link(aside, path) {
                Ok(()) => {
                    return Ok(Lock {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(path).unwrap_or_default();
                    if running(&holder, path) {
                        return Err(Refused::MovedOn(format!(
                            "another build is writing into `{}` (process {}); run again when it is done",
                            dir.display(),
                            holder.trim()
                        )));
                    }
                    let _ = std::fs::remove_file(path);
                }
                Err(e) => return Err(format!("cannot lock `{}`: {e}", dir.display()).into()),
            }
        }
        Err(Refused::Failed(format!("cannot lock `{}`", dir.display())))
    }
}

/// Whether the build whose process id is `pid` (as a lock file `path` names it) still runs:
/// asked of /proc where there is one; without, a file an hour old is a dead build's.
fn running(pid: &str, path: &Path) -> bool {
    let asked = pid.trim().parse().ok().and_then(crate::process::running);
    asked.unwrap_or_else(|| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age.as_secs() < 3600)
    })
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes one build into the output folder as its files are produced, from many threads;
/// [`Writer::finish`] then writes the root, the marker, and removes what no build needs.
pub struct Writer {
    /// Where the files go: the output folder, or for a new one its hidden sibling.
    dir: PathBuf,
    out: PathBuf,
    fresh: bool,
    previous: Vec<String>,
    produced: Mutex<BTreeSet<String>>,
    /// The stamps of the files found already there as they must be.
    seen: Mutex<Seen>,
    dirs: Mutex<BTreeSet<PathBuf>>,
    stats: Mutex<Stats>,
    /// `mlreg serve` builds into memory instead of a folder.
    memory: Option<Mutex<BTreeMap<String, Served>>>,
    /// Held while writing into an existing folder.
    lock: Option<Lock>,
    /// The folder's build cache, saved by [`Writer::finish`].
    cache: Option<Cache>,
    /// For builds into memory: the pages of the previous build, and those of this one.
    pages: Option<(MemoryPages, Mutex<MemoryPages>)>,
}

/// The pages of each asset of an in-memory build, with the key they were made from: what
/// lets `mlreg serve` render only the assets an edit touched.
#[derive(Default)]
pub struct MemoryPages(BTreeMap<String, (String, Vec<(String, Served)>)>);

/// A file of a build held in memory: bytes, or a source file served from where it is.
#[derive(Clone)]
pub enum Served {
    Bytes(std::sync::Arc<Vec<u8>>),
    File(PathBuf),
}

impl Writer {
    /// A writer that keeps the build in memory (for `mlreg serve`).
    pub fn in_memory() -> Writer {
        Writer {
            dir: PathBuf::new(),
            out: PathBuf::new(),
            fresh: false,
            previous: Vec::new(),
            produced: Mutex::default(),
            seen: Mutex::default(),
            dirs: Mutex::default(),
            stats: Mutex::default(),
            memory: Some(Mutex::default()),
            lock: None,
            cache: None,
            pages: None,
        }
    }

    /// A writer into memory that reuses the pages of `previous` whose key is unchanged.
    pub fn in_memory_after(previous: MemoryPages) -> Writer {
        Writer {
            pages: Some((previous, Mutex::default())),
            ..Writer::in_memory()
        }
    }

    /// The in-memory build, with its root, and its pages for the next build.
    pub fn into_memory_and_pages(
        mut self,
        root: Vec<u8>,
    ) -> (BTreeMap<String, Served>, MemoryPages) {
        let pages = self
            .pages
            .take()
            .map(|(_, new)| new.into_inner().expect("no panics while held"))
            .unwrap_or_default();
        (self.into_memory(root), pages)
    }

    /// The in-memory build, with its root.
    pub fn into_memory(self, root: Vec<u8>) -> BTreeMap<String, Served> {
        let mut files = self
            .memory
            .map(|m| m.into_inner().expect("no panics while held"))
            .unwrap_or_default();
        files.insert(
            index::ROOT.to_string(),
            Served::Bytes(std::sync::Arc::new(root)),
        );
        files
    }

    /// Open `out` for a build: a new folder starts as a hidden sibling; an existing one must be
    /// mlreg's, or empty, unless `force`, and is locked, and must still hold the build this one
    /// was compared with (`expected`, its snapshot path; `None` when it held none).
    pub fn open(out: &Path, force: bool, expected: Option<&str>) -> Result<Writer, Refused> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = out
            .file_name()
            .ok_or_else(|| Refused::Failed("the output folder has no name".into()))?
            .to_string_lossy()
            .into_owned();
        remove_orphans(parent, &format!(".{name}.mlreg-tmp-"));
        // A link to a folder is the folder (`out` and `out/` alike); a link to nothing is not.
        let is_link = std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink());
        let (dir, fresh) = match std::fs::metadata(out) {
            Err(_) if is_link => {
                return Err(Refused::Failed(format!(
                    "`{}` is a symbolic link to nothing; make it point at a folder, or remove it",
                    out.display()
                )));
            }
            Err(_) => {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
                let tmp = parent.join(format!(".{name}.mlreg-tmp-{}", std::process::id()));
                if tmp.exists() {
                    std::fs::remove_dir_all(&tmp).map_err(|e| e.to_string())?;
                }
                std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
                (tmp, true)
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!("`{}` exists and is not a folder", out.display()).into());
            }
            Ok(_) => {
                let ours = out.join(MARKER).is_file();
                let empty = std::fs::read_dir(out)
                    .map_err(|e| e.to_string())?
                    .next()
                    .is_none();
                if !ours && !empty && !force {
                    return Err(Refused::Failed(format!(
                        "refusing to write into `{}`: it is not empty and mlreg did not create it (use --force to replace its contents)",
                        out.display()
                    )));
                }
                (out.to_path_buf(), false)
            }
        };
        let lock = if fresh { None } else { Some(Lock::take(&dir)?) };
        if !fresh {
            let now = crate::client::Source::Folder(dir.clone()).root().ok();
            let snapshot = now.as_ref().map(|r| r.snapshot.path.as_str());
            if snapshot != expected && (snapshot.is_some() || expected.is_some()) {
                let serial = now.map_or_else(|| "none".to_string(), |r| r.serial.to_string());
                return Err(Refused::MovedOn(format!(
                    "`{}` moved on while this build ran (serial {serial}): build again against it",
                    out.display()
                )));
            }
        }
        let previous = std::fs::read(dir.join(MARKER))
            .ok()
            .and_then(|b| serde_json::from_slice::<Marker>(&b).ok())
            .map(|m| m.snapshots)
            .unwrap_or_default();
        Ok(Writer {
            dir,
            out: out.to_path_buf(),
            fresh,
            previous,
            produced: Mutex::default(),
            seen: Mutex::default(),
            dirs: Mutex::default(),
            stats: Mutex::default(),
            memory: None,
            lock,
            cache: None,
            pages: None,
        })
    }

    /// Use (and at the end save) the output folder's build cache.
    pub fn with_cache(mut self, cache: Cache) -> Writer {
        if self.memory.is_none() {
            self.cache = Some(cache);
        }
        self
    }

    /// How many files' hashes came from the build cache.
    pub fn cached_hashes(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::hits)
    }

    /// Whether this writer can reuse pages of an earlier build.
    pub fn reuses_pages(&self) -> bool {
        self.cache.is_some() || self.pages.is_some()
    }

    /// The pages of `asset` made from `key` by the previous build, if they are still as it
    /// made them: kept (in the folder, or copied into this in-memory build); their paths.
    pub fn reuse_pages(&self, asset: &str, key: &str) -> Option<Vec<String>> {
        if let Some(cache) = &self.cache {
            let pages = cache.pages(&self.dir, asset, key)?;
            let paths = pages.into_iter().map(|(path, stamp)| {
                self.keep(&path, stamp);
                path
            });
            return Some(paths.collect());
        }
        let (old, new) = self.pages.as_ref()?;
        let memory = self.memory.as_ref()?;
        let (made_from, files) = old.0.get(asset).filter(|(k, _)| k == key)?;
        let mut held = memory.lock().expect("no panics while held");
        for (path, served) in files {
            held.insert(path.clone(), served.clone());
        }
        new.lock()
            .expect("no panics while held")
            .0
            .insert(asset.to_string(), (made_from.clone(), files.clone()));
        Some(files.iter().map(|(p, _)| p.clone()).collect())
    }

    /// Remember that the pages `paths` of `asset`, just written, were made from `key`.
    pub fn remember_pages(&self, asset: &str, key: &str, paths: &[String]) {
        if let Some(cache) = &self.cache {
            cache.remember_pages(&self.dir, asset, key, paths);
            return;
        }
        let (Some((_, new)), Some(memory)) = (&self.pages, &self.memory) else {
            return;
        };
        let held = memory.lock().expect("no panics while held");
        let files: Option<Vec<(String, Served)>> = paths
            .iter()
            .map(|p| held.get(p).map(|s| (p.clone(), s.clone())))
            .collect();
        if let Some(files) = files {
            new.lock()
                .expect("no panics while held")
                .0
                .insert(asset.to_string(), (key.to_string(), files));
        }
    }

    /// A file this build produces that is already in the folder as it must be (the build
    /// cache says so, by its stamp): kept, not written.
    fn keep(&self, rel: &str, stamp: Stamp) {
        self.produced
            .lock()
            .expect("no panics while held")
            .insert(rel.to_string());
        self.seen
            .lock()
            .expect("no panics while held")
            .insert(rel, stamp);
        let mut stats = self.stats.lock().expect("no panics while held");
        stats.unchanged += 1;
        stats.cached += 1;
    }

    /// Write one file of the build (never the root: see [`Writer::finish`]).
    pub fn put(&self, rel: &str, content: &Content) -> Result<(), String> {
        self.place(rel, content, false)
    }

    /// [`Writer::put`]; `missing` when the file was already found not to be `content`
    /// (see [`Writer::put_each`]), so that it is not looked at, or read, a second time.
    fn place(&self, rel: &str, content: &Content, missing: bool) -> Result<(), String> {
        if let Some(memory) = &self.memory {
            let served = match content {
                Content::Bytes(b) => Served::Bytes(b.clone()),
                Content::Deferred(m) => Served::Bytes(Arc::new(m.bytes())),
                Content::File(p, _) => Served::File(p.clone()),
            };
            memory
                .lock()
                .expect("no panics while held")
                .insert(rel.to_string(), served);
            return Ok(());
        }
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            let known = self
                .dirs
                .lock()
                .expect("no panics while held")
                .contains(parent);
            if !known {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
                self.dirs
                    .lock()
                    .expect("no panics while held")
                    .insert(parent.to_path_buf());
            }
        }
        let there = match self.fresh || missing {
            true => None,
            false => already(&self.dir, rel, content),
        };
        let written = match there {
            Some(_) => None,
            // Nobody reads a folder that is not in place yet: no temp file and rename needed.
            None if self.fresh => Some(
                match content {
                    Content::Bytes(b) => {
                        std::fs::write(&path, b.as_slice()).map(|_| b.len() as u64)
                    }
                    Content::File(from, _) => std::fs::copy(from, &path),
                    Content::Deferred(m) => std::fs::write(&path, m.bytes()).map(|_| m.size),
                }
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?,
            ),
            None => Some(write(&self.dir, rel, content)?),
        };
        self.produced
            .lock()
            .expect("no panics while held")
            .insert(rel.to_string());
        if let Some(stamp) = there {
            let mut seen = self.seen.lock().expect("no panics while held");
            seen.insert(rel, stamp);
        }
        let mut stats = self.stats.lock().expect("no panics while held");
        match written {
            Some(n) => {
                stats.written += 1;
                stats.bytes += n;
            }
            None => stats.unchanged += 1,
        }
        Ok(())
    }

    /// Give up: a new folder's hidden sibling is removed; files already replaced in an existing
    /// folder stay, and its root still names the previous build.
    pub fn abandon(self) {
        if self.fresh {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Write every file of `set`, one after another. In an existing folder most are already
    /// there as they must be: which ones is looked up first, in parallel (a stat each, which
    /// one thread took longer for than rendering the pages of a one-card rebuild), and only
    /// the others are written.
    pub fn put_each(&self, set: &OutputSet) -> Result<(), String> {
        if self.fresh || self.memory.is_some() {
            return set
                .files
                .iter()
                .try_for_each(|(rel, content)| self.put(rel, content));
        }
        let files: Vec<(&String, &Content)> = set.files.iter().collect();
        let there: Vec<Option<Stamp>> = files
            .par_iter()
            .map(|(rel, content)| already(&self.dir, rel, content))
            .collect();
        let mut kept = 0;
        {
            let mut produced = self.produced.lock().expect("no panics while held");
            let mut seen = self.seen.lock().expect("no panics while held");
            for ((rel, _), there) in files.iter().zip(&there) {
                if let Some(stamp) = there {
                    produced.insert(rel.to_string());
                    seen.insert(rel, *stamp);
                    kept += 1;
                }
            }
        }
        self.stats.lock().expect("no panics while held").unchanged += kept;
        files
            .iter()
            .zip(there)
            .filter(|(_, there)| there.is_none())
            .try_for_each(|((rel, content), _)| self.place(rel, content, true))
    }

    /// Write every file of `set`, in parallel.
    pub fn put_all(&self, set: &OutputSet) -> Result<(), String> {
        set.files
            .par_iter()
            .try_for_each(|(rel, content)| self.put(rel, content))
    }

    /// The root last; then the marker, the sweep of what none of the last `keep` builds (this
    /// one included) refers to (its folders listed by `dirs` where they did not change), and
    /// for a new folder the rename into place. The folder's lock comes back still held (an
    /// existing folder's), for a look at the folder as this build left it, with the build
    /// cache to save once it is done (see `Cache::save`).
    pub fn finish(
        mut self,
        root: Vec<u8>,
        snapshot: &str,
        keep: usize,
        dirs: &Dirs,
    ) -> Result<Finished, Refused> {
        let cache = self.cache.take();
        let written = if self.fresh {
            atomic_write(&self.dir.join(index::ROOT), &root)?;
            None
        } else {
            put(&self.dir, index::ROOT, &Content::Bytes(root.into()))?
        };
        let mut stats = self.stats.into_inner().expect("no panics while held");
        match (self.fresh, written) {
            (true, _) => stats.written += 1,
            (false, Some(n)) => {
                stats.written += 1;
                stats.bytes += n;
            }
            (false, None) => stats.unchanged += 1,
        }
        let mut snapshots = vec![snapshot.to_string()];
        snapshots.extend(
            self.previous
                .into_iter()
                .filter(|s| s != snapshot)
                .take(keep.saturating_sub(1)),
        );
        let marker = Marker {
            format: 1,
            snapshots,
        };
        let bytes = serde_json::to_vec_pretty(&marker).expect("marker serializes");
        if std::fs::read(self.dir.join(MARKER)).ok().as_deref() != Some(bytes.as_slice()) {
            atomic_write(&self.dir.join(MARKER), &bytes)?;
        }
        let produced = self.produced.into_inner().expect("no panics while held");
        if !self.fresh {
            let keep = produced.iter().map(String::as_str);
            let keep = keep.chain([index::ROOT]);
            stats.removed = sweep(&self.dir, keep, &marker.snapshots, dirs)?;
        }
        let seen = self.seen.into_inner().expect("no panics while held");
        if self.fresh {
            // Another build may have put a folder there meanwhile: it wins.
            if let Err(e) = std::fs::rename(&self.dir, &self.out) {
                let _ = std::fs::remove_dir_all(&self.dir);
                return Err(match self.out.exists() {
                    true => Refused::MovedOn(format!(
                        "`{}` was made by another build while this one ran: build again against it",
                        self.out.display()
                    )),
                    false => Refused::Failed(format!(
                        "cannot move the new build into `{}`: {e}",
                        self.out.display()
                    )),
                });
            }
        }
        Ok(Finished {
            stats,
            lock: self.lock,
            cache,
            seen,
        })
    }
}

/// A finished build: what it wrote, the folder's lock (see [`Writer::finish`]), the build
/// cache to save, and the files it found already there as they must be.
pub struct Finished {
    pub stats: Stats,
    pub lock: Option<Lock>,
    pub cache: Option<Cache>,
    pub seen: Seen,
}

/// The stamps of the files a build found already in the folder as they must be, by path:
/// the build did not write them, so the record's look at the folder (`fresh`) takes these
/// rather than looking at each again. (One changed since by someone else makes the record
/// one that no later look at the folder matches: the next build is not skipped.) Keyed by a
/// 64-bit hash of the path, not the path: 600,000 of them at 100,000 versions, held while
/// pages render. Two paths of one hash would give one the other's stamp, which makes a record
/// that matches no folder, as above.
#[derive(Default)]
pub struct Seen(HashMap<u64, Stamp>);

impl Seen {
    fn key(rel: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        rel.hash(&mut h);
        h.finish()
    }

    fn insert(&mut self, rel: &str, stamp: Stamp) {
        self.0.insert(Seen::key(rel), stamp);
    }

    pub fn get(&self, rel: &str) -> Option<Stamp> {
        self.0.get(&Seen::key(rel)).copied()
    }
}

/// Remove what killed runs left in `parent`: folders named `<prefix><pid>` whose process is
/// gone. (Where there is no /proc to ask, only those a day old, which no live run keeps.)
pub fn remove_orphans(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let gone = match crate::process::running(pid) {
            Some(running) => !running,
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 24 * 3600),
        };
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Write one file if needed; `Some(bytes written)` or `None` when it was already right.
fn put(out: &Path, rel: &str, content: &Content) -> Result<Option<u64>, String> {
    match already(out, rel, content) {
        Some(_) => Ok(None),
        None => write(out, rel, content).map(Some),
    }
}

/// Write one file (temp file + rename); the bytes written.
fn write(out: &Path, rel: &str, content: &Content) -> Result<u64, String> {
    let path = out.join(rel);
    let size = content.size();
    match content {
        Content::Bytes(b) => atomic_write(&path, b)?,
        Content::Deferred(m) => atomic_write(&path, &m.bytes())?,
        Content::File(from, _) => {
            let tmp = temp_name(&path);
            std::fs::copy(from, &tmp)
                .map_err(|e| format!("cannot copy `{}`: {e}", from.display()))?;
            std::fs::rename(&tmp, &path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        }
    }
    Ok(size)
}

/// Whether the file `rel` of `out` is already `content`: present (not through a link) with
/// its size, and, unless its name is its hash, its bytes; its stamp then.
fn already(out: &Path, rel: &str, content: &Content) -> Option<Stamp> {
    let path = out.join(rel);
    let m = std::fs::symlink_metadata(&path).ok()?;
    let there = m.is_file()
        && m.len() == content.size()
        && (content_addressed(rel) || same_bytes(&path, content));
    there.then(|| Stamp::from_metadata(&m))
}

fn same_bytes(path: &Path, content: &Content) -> bool {
    match content {
        Content::Bytes(b) => std::fs::read(path).is_ok_and(|old| old == **b),
        Content::Deferred(m) => {
            crate::publish::hash::file(path).is_ok_and(|(sha, _)| sha == m.sha256)
        }
        Content::File(from, _) => match (
            crate::publish::hash::file(path),
            crate::publish::hash::file(from),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
    }
}

/// Where a file is written before it is renamed to `path`: beside it, hidden, named for this
/// process (a build holds the folder's lock, so no other process writes the same name).
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Write `bytes` to a temporary file next to `path` and rename it over `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    atomic_write_parts(path, &[bytes])
}

/// [`atomic_write`] of `parts` one after another, without joining them first.
pub fn atomic_write_parts(path: &Path, parts: &[&[u8]]) -> Result<(), String> {
    let tmp = temp_name(path);
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
    for part in parts {
        f.write_all(part)
            .map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// Remove what neither this build nor the retained earlier builds refer to, and the folders
/// that leaves empty. A folder whose stamp is the one `dirs` lists it with is not read again:
/// at 100,000 versions reading every folder cost seconds.
fn sweep<'a>(
    out: &Path,
    produced: impl Iterator<Item = &'a str>,
    snapshots: &[String],
    dirs: &Dirs,
) -> Result<usize, String> {
    let mut earlier = BTreeSet::new();
    let mut keep: HashSet<&str> = produced.collect();
    keep.extend([MARKER, LOCK]);
    for snap in snapshots.iter().skip(1) {
        reachable(out, snap, &keep, &mut earlier);
    }
    keep.extend(earlier.iter().map(String::as_str));
    let removed = AtomicUsize::new(0);
    swept(out, "", &keep, dirs, &removed)?;
    Ok(removed.into_inner())
}

/// Sweep the folder `rel` of `out` (see [`sweep`]), its folders in parallel (a stat of each
/// is most of what a sweep costs); whether it is empty now.
fn swept(
    out: &Path,
    rel: &str,
    keep: &HashSet<&str>,
    dirs: &Dirs,
    removed: &AtomicUsize,
) -> Result<bool, String> {
    let dir = out.join(rel);
    let name = format!("{}/{rel}", fresh::OUTPUT);
    let listed = dirs
        .list(&name, &dir)
        .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let listed = listed.entries();
    let mut entries = Vec::with_capacity(listed.len());
    for (name, entry) in listed {
        // Links are entries like files: removed when no build produced them, never followed.
        let is_dir = entry == Entry::Folder;
        match name.to_str() {
            Some(name) => entries.push((name, is_dir)),
            // Every path a build produces is UTF-8: a name that is not was put there by
            // someone else, and goes whole.
            None => {
                let path = dir.join(name);
                let gone = match is_dir {
                    true => std::fs::remove_dir_all(&path),
                    false => std::fs::remove_file(&path),
                };
                gone.map_err(|e| format!("cannot remove `{}`: {e}", path.display()))?;
                removed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let mut left = entries.len();
    let mut folders = Vec::new();
    for (name, is_dir) in &entries {
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if *is_dir {
            folders.push(path);
        } else if !keep.contains(path.as_str())
            && !path.starts_with("trust/")
            && !taking_lock(out, &path)
        {
            // (Key sets stay forever: a client follows the chain from any of them.)
            match std::fs::remove_file(out.join(&path)) {
                Ok(()) => {
                    removed.fetch_add(1, Ordering::Relaxed);
                }
                // Gone already (a listing of a folder changed within one timestamp tick):
                // nothing to remove.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove `{path}`: {e}")),
            }
            left -= 1;
        }
    }
    let emptied: Vec<Result<bool, String>> = folders
        .par_iter()
        .map(|path| {
            let empty = swept(out, path, keep, dirs, removed)?;
            Ok(empty && std::fs::remove_dir(out.join(path)).is_ok())
        })
        .collect();
    for emptied in emptied {
        if emptied? {
            left -= 1;
        }
    }
    // A folder the sweep changed has a new stamp: it is read again next time.
    if left != entries.len() {
        dirs.forget(&name);
    }
    Ok(left == 0 && !rel.is_empty())
}

/// Whether `rel` is the file another build is about to link into place as the folder's lock
/// (see [`Lock::take`]), and that build still runs: swept away, it would fail that build.
fn taking_lock(out: &Path, rel: &str) -> bool {
    let pid = rel.strip_prefix(LOCK).and_then(|r| r.strip_prefix('.'));
    pid.is_some_and(|pid| running(pid, &out.join(rel)))
}

/// Every content-addressed path an earlier snapshot refers to, if it is still readable, into
/// `keep`. A bin or document in `kept` (this build's) or in `keep` already is not read: what
/// it refers to is kept already.
fn reachable(out: &Path, snapshot: &str, kept: &HashSet<&str>, keep: &mut BTreeSet<String>) {
    fn read<T: serde::de::DeserializeOwned>(out: &Path, rel: &str) -> Option<T> {
        serde_json::from_slice(&std::fs::read(out.join(rel)).ok()?).ok()
    }
    let Some(snap) = read::<Snapshot>(out, snapshot) else {
        return;
    };
    keep.insert(snapshot.to_string());
    let first = |keep: &mut BTreeSet<String>, path: &String| {
        !kept.contains(path.as_str()) && keep.insert(path.clone())
    };
    for bin_ref in snap.bins.values() {
        if !first(keep, &bin_ref.path) {
            continue;
        }
        let Some(bin) = read::<Bin>(out, &bin_ref.path) else {
            continue;
        };
        for entry in bin.assets.values() {
            if !first(keep, &entry.doc.path) {
                continue;
            }
            let Some(doc) = read::<AssetDoc>(out, &entry.doc.path) else {
                continue;
            };
            for v in doc.versions.values() {
                keep.insert(v.spec_file.path.clone());
                keep.extend(v.used_by_pages.iter().map(|p| p.path.clone()));
                keep.extend(v.files.iter().map(|f| f.blob.clone()));
                if let Some(card) = &v.card {
                    keep.insert(card.blob.path.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out` with `files` (relative paths) written.
    fn folder(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let path = t.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, f.as_bytes()).unwrap();
        }
        t
    }

    fn keep<'a>(paths: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
        paths.iter().copied()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .map(|e| e.unwrap())
            .map(|e| {
                e.path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_sweep_removes_what_no_build_produced_and_the_folders_it_empties() {
        let t = folder(&["a/x", "a/y", "b/c/z", "trust/k.json"]);
        let removed = sweep(t.path(), keep(&["a/x"]), &[], &Dirs::default()).unwrap();
        assert_eq!(removed, 2);
        assert_eq!(files(t.path()), ["a", "a/x", "trust", "trust/k.json"]);
    }

    /// The file a running build links into place as its lock stays (sweeping it failed that
    /// build); a dead build's goes.
    #[test]
    fn the_sweep_leaves_the_lock_a_running_build_is_taking() {
        let own = format!("{LOCK}.{}", std::process::id());
        let dead = format!("{LOCK}.{}", u32::MAX);
        let t = folder(&["a/x", &own, &dead]);
        let removed = sweep(t.path(), keep(&["a/x"]), &[], &Dirs::default()).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(files(t.path()), [own.as_str(), "a", "a/x"]);
    }

    /// A name that is not UTF-8 (no build makes one) goes whole, file or folder.
    #[cfg(unix)]
    #[test]
    fn the_sweep_removes_names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let t = folder(&["a/x"]);
        let odd = |n: &[u8]| t.path().join("a").join(std::ffi::OsStr::from_bytes(n));
        std::fs::write(odd(b"file\xff"), "x").unwrap();
        std::fs::create_dir_all(odd(b"dir\xfe").join("inner")).unwrap();
        let removed = sweep(t.path(), keep(&["a/x"]), &[], &Dirs::default()).unwrap();
        assert_eq!(removed, 2);
        assert_eq!(files(t.path()), ["a", "a/x"]);
    }

    /// A folder whose stamp is the one it was listed under is taken as listed (a file the
    /// listing does not name stays: proof that the folder was not read); a folder whose stamp
    /// moved is read.
    #[test]
    fn the_sweep_takes_a_folder_with_an_unchanged_stamp_as_listed() {
        let t = folder(&["a/x", "a/y", "a/unlisted", "b/y"]);
        let stamp = |rel: &str| Stamp::of_dir(&t.path().join(rel)).unwrap();
        let (root, a) = (stamp(""), stamp("a"));
        // The listing of `b` is from before it changed.
        let b_before = stamp("b");
        std::fs::write(t.path().join("b/late"), "x").unwrap();
        let moved = stamp("b") != b_before;
        let (file, folder) = (Entry::File, Entry::Folder);
        let dirs = Dirs::listed([
            ("out/", root, &[("a", folder), ("b", folder)][..]),
            ("out/a", a, &[("gone", file), ("x", file), ("y", file)]),
            ("out/b", b_before, &[("y", file)]),
        ]);
        let removed = sweep(t.path(), keep(&["a/x", "b/y"]), &[], &dirs).unwrap();
        let mut expected = vec!["a", "a/unlisted", "a/x", "b", "b/y"];
        if !moved {
            // (A file system whose timestamps did not tick: the stale listing is used.)
            expected.push("b/late");
            expected.sort();
        }
        assert_eq!(files(t.path()), expected);
        assert_eq!(removed, if moved { 2 } else { 1 });
    }
}
