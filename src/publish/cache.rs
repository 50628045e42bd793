//! The build cache of an output folder: what lets a rebuild skip work it did before. It lives
//! in the user's cache folder (`builds/` under the client's, see [`location`]), not in the
//! output folder, whose bytes stay the same wherever and however they were built and which
//! may be published as it is (the cache names local paths). Two parts:
//!
//! - **hashes** of source files, keyed by path and the file's stamp (size, mtime, ctime,
//!   inode, device): a file whose stamp is unchanged is not read again (a stat costs less
//!   than an open and a read, even of a small file);
//! - **pages** per asset: the key of everything its pages are made from (its asset document,
//!   the site's templates and settings, the mlreg executable) and the stamp of each page
//!   written; when the key is the same and every page is still there as written, the pages
//!   are not rendered again.
//!
//! Beside it, in its own folder, [`memo`](crate::publish::memo) keeps each asset's checked
//! manifests, and in its own file [`dirs`] the folders' listings.
//!
//! Correctness never depends on it: a cache that does not parse, whose checksum is wrong or
//! whose format is another is ignored whole; an entry whose key or stamp differs is not used;
//! a file modified in the same instant it was cached (same mtime tick) is not cached at all.
//! The cache is written last, atomically, after the build it describes. Each build then
//! removes the caches of output folders that are gone (see [`tidy`]).

use crate::publish::dirs::{self, Part};
use crate::publish::hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Its format: another is ignored.
const FORMAT: u32 = 4;

/// How far from "now" a modification time must be before a stamp is trusted: a file written
/// again within the same timestamp tick as it was hashed would otherwise look unchanged.
pub const SETTLED: Duration = Duration::from_secs(2);

/// What identifies a file's content without reading it. Kept as an array: a cache holds one
/// per source file and page, hundreds of thousands in a large registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StampArray", into = "StampArray")]
pub struct Stamp {
    size: u64,
    /// Nanoseconds since 1970, which 64 bits hold until 2262: 40 bytes a stamp, not 64.
    mtime_ns: i64,
    ctime_ns: i64,
    inode: u64,
    device: u64,
}

/// A [`Stamp`] as it is stored: size, mtime and ctime in nanoseconds, inode, device.
type StampArray = (u64, i64, i64, u64, u64);

/// Nanoseconds since 1970 from seconds and nanoseconds, saturated at what 64 bits hold.
fn nanos(seconds: i128, nanos: i128) -> i64 {
    let ns = seconds * 1_000_000_000 + nanos;
    ns.clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

impl From<StampArray> for Stamp {
    fn from((size, mtime_ns, ctime_ns, inode, device): StampArray) -> Stamp {
        Stamp {
            size,
            mtime_ns,
            ctime_ns,
            inode,
            device,
        }
    }
}

impl From<Stamp> for StampArray {
    fn from(s: Stamp) -> StampArray {
        (s.size, s.mtime_ns, s.ctime_ns, s.inode, s.device)
    }
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        Some(Stamp::from_metadata(&m))
    }

    /// The stamp of a folder (not through a link): its mtime moves whenever an entry is
    /// made, removed or renamed in it.
    pub fn of_dir(path: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(path)
            .ok()
            .filter(|m| m.is_dir())?;
        Some(Stamp::from_metadata(&m))
    }

    #[cfg(unix)]
    pub fn from_metadata(m: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: m.len(),
            mtime_ns: nanos(m.mtime().into(), m.mtime_nsec().into()),
            ctime_ns: nanos(m.ctime().into(), m.ctime_nsec().into()),
            inode: m.ino(),
            device: m.dev(),
        }
    }

    #[cfg(not(unix))]
    pub fn from_metadata(m: &std::fs::Metadata) -> Stamp {
        let ns = |t: std::io::Result<SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| nanos(d.as_secs().into(), d.subsec_nanos().into()))
        };
        Stamp {
            size: m.len(),
            mtime_ns: ns(m.modified()),
            ctime_ns: ns(m.created()),
            inode: 0,
            device: 0,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file system it is on (0 where the platform does not say).
    pub fn device(&self) -> u64 {
        self.device
    }

    /// The stamp as bytes, for a key over many.
    pub fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..8].copy_from_slice(&self.size.to_le_bytes());
        out[8..24].copy_from_slice(&i128::from(self.mtime_ns).to_le_bytes());
        out[24..40].copy_from_slice(&i128::from(self.ctime_ns).to_le_bytes());
        out[40..48].copy_from_slice(&self.inode.to_le_bytes());
        out[48..56].copy_from_slice(&self.device.to_le_bytes());
        out
    }

    /// Modified long enough ago that a later write would show in the stamp.
    pub fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        i128::from(self.mtime_ns.max(self.ctime_ns)) + (SETTLED.as_nanos() as i128) < now
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Hashed {
    stamp: Stamp,
    sha256: String,
}

/// The pages of one asset and what they were made from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pages {
    key: String,
    /// Path (relative to the output folder) and stamp of each page as written.
    files: Vec<(String, Stamp)>,
}

#[derive(Default, Serialize, Deserialize)]
struct Body {
    format: u32,
    hashes: BTreeMap<String, Hashed>,
    pages: BTreeMap<String, Pages>,
}

/// The cache a build reads (the previous build's) and the one it writes (its own), side by side.
#[derive(Default)]
pub struct Cache {
    bodies: Mutex<Bodies>,
    /// Files whose hash came from the cache.
    hits: AtomicUsize,
}

/// The previous build's hashes and pages that this build has not taken yet, and this build's
/// cache. An entry this build uses moves from one to the other rather than being copied: at
/// 100,000 versions they are hundreds of thousands, held while every document is.
#[derive(Default)]
struct Bodies {
    old: Body,
    new: Body,
    /// Whether `new` differs from what the previous build left, whatever is left in `old`.
    changed: bool,
}

impl Cache {
    /// The cache of the output folder `out`, or an empty one when there is none, it does not
    /// parse, its checksum is wrong or its format is another.
    pub fn load(out: &Path) -> Cache {
        Cache::read(&location(out))
    }

    fn read(path: &Path) -> Cache {
        let old = read_checked::<Body>(path)
            .filter(|b| b.format == FORMAT)
            .unwrap_or_default();
        Cache::of(old)
    }

    fn of(old: Body) -> Cache {
        Cache {
            bodies: Mutex::new(Bodies {
                old,
                ..Bodies::default()
            }),
            ..Cache::default()
        }
    }

    fn bodies(&self) -> std::sync::MutexGuard<'_, Bodies> {
        self.bodies.lock().expect("no panics while held")
    }

    /// SHA-256 and size of a source file: from the cache when its stamp is the one cached,
    /// else read (and cached when settled).
    pub fn hash_file(&self, path: &Path) -> std::io::Result<(String, u64)> {
        let key = path.to_string_lossy().into_owned();
        let stamp = Stamp::of(path);
        if let Some(stamp) = stamp {
            let mut b = self.bodies();
            // Taken already when another version ships the same file (the common folder).
            let cached = match b.old.hashes.remove(&key) {
                Some(h) if h.stamp == stamp => Some(h),
                Some(_) => {
                    b.changed = true;
                    None
                }
                None => b.new.hashes.get(&key).filter(|h| h.stamp == stamp).cloned(),
            };
            if let Some(h) = cached {
                let sha256 = h.sha256.clone();
                b.new.hashes.insert(key, h);
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok((sha256, stamp.size));
            }
        }
        let (sha256, size) = hash::file(path)?;
        // Cached only when the file did not change while it was read, and not just now.
        if let Some(stamp) = stamp
            && stamp.size == size
            && stamp.settled()
            && Stamp::of(path) == Some(stamp)
        {
            let mut b = self.bodies();
            b.changed = true;
            b.new.hashes.insert(
                key,
                Hashed {
                    stamp,
                    sha256: sha256.clone(),
                },
            );
        }
        Ok((sha256, size))
    }

    /// The cache this build leaves, as the next build in the same process reads it (`serve`
    /// rebuilding in memory, where nothing is saved).
    pub fn carried(self) -> Cache {
        Cache::of(self.bodies.into_inner().expect("no panics while held").new)
    }

    /// How many files' hashes came from the cache.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// The pages of `asset` made from `key`, with their stamps, if the previous build made them
    /// from the same key and every one is still in `out` as it was written.
    pub fn pages(&self, out: &Path, asset: &str, key: &str) -> Option<Vec<(String, Stamp)>> {
        let cached = {
            let mut b = self.bodies();
            let cached = b.old.pages.remove(asset);
            if cached.as_ref().is_some_and(|p| p.key != key) {
                b.changed = true;
            }
            cached.filter(|p| p.key == key)?
        };
        let intact = cached
            .files
            .iter()
            .all(|(path, stamp)| Stamp::of(&out.join(path)) == Some(*stamp));
        let mut b = self.bodies();
        if !intact {
            b.changed = true;
            return None;
        }
        let pages = cached.files.clone();
        b.new.pages.insert(asset.to_string(), cached);
        Some(pages)
    }

    /// Remember the pages of `asset` made from `key`, as they are now in `out`.
    pub fn remember_pages(&self, out: &Path, asset: &str, key: &str, paths: &[String]) {
        let files: Option<Vec<(String, Stamp)>> = paths
            .iter()
            .map(|p| Stamp::of(&out.join(p)).map(|s| (p.clone(), s)))
            .collect();
        // Pages are written by this build, so a later change by anyone moves their stamp: they
        // are trusted at once (unlike source files, which the user may be editing meanwhile).
        // A page that cannot be stamped is rendered again next time.
        let Some(files) = files else {
            return;
        };
        let mut b = self.bodies();
        b.changed = true;
        b.new.pages.insert(
            asset.to_string(),
            Pages {
                key: key.to_string(),
                files,
            },
        );
    }

    /// Write the new cache of the output folder `out` (temp file + rename), unless it is what
    /// is there. A failure only costs the next build its shortcuts.
    pub fn save(self, out: &Path) {
        self.write(&location(out));
    }

    fn write(self, path: &Path) {
        let Bodies {
            old,
            new: mut body,
            changed,
        } = self.bodies.into_inner().expect("no panics while held");
        // What was read is what would be written when every entry moved across unchanged
        // and nothing else came: knowing that in memory costs less than writing out and
        // reading back tens of megabytes at 100,000 versions. (A file that did not load
        // cannot hold these bytes either.)
        let same =
            !changed && old.hashes.is_empty() && old.pages.is_empty() && old.format == FORMAT;
        if same {
            return;
        }
        body.format = FORMAT;
        write_checked(path, &body);
    }
}

/// Where the build cache of the output folder `out` is: `builds/<hash of its absolute
/// path>.json` in the client's cache folder (`$MLREG_CACHE`, `$XDG_CACHE_HOME/mlreg` or
/// `~/.cache/mlreg`).
pub fn location(out: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let name = hash::sha256(absolute.to_string_lossy().as_bytes());
    crate::client::cache::Cache::default_dir()
        .join("builds")
        .join(format!("{}.json", &name[..32]))
}

/// The extension of the file that names, beside an output folder's build cache and skip
/// record, the folder they are for (its absolute path), so that they can be found and removed
/// once it is gone.
const NAMED: &str = "out";

/// The extension of an output folder's skip record (see `fresh`), beside its build cache.
pub const RECORD: &str = "fresh.json";

/// How old the files of the build cache folder that no output folder is named for must be
/// before they go: left by a build killed before it named its folder, or by an older mlreg.
/// Younger ones may be a running build's.
const UNNAMED_AGE: Duration = Duration::from_secs(24 * 3600);

/// After a build of `out`, skipped, failed or done: name `out` beside its cache files if it
/// has any, and remove the cache files of every output folder that is gone (no longer holds
/// mlreg's marker), and unnamed ones a day old. Without this the folder grows by a cache per
/// output folder ever built, tests' and CI's temporary ones included, and a cache at 100,000
/// versions is over 100 MB. A folder on a drive not mounted at the moment loses its cache:
/// the next build of it is a full one.
pub fn tidy(out: &Path) {
    let own = location(out);
    let Some(dir) = own.parent() else {
        return;
    };
    let named = own.with_extension(NAMED);
    let path = path_bytes(&std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()));
    let cached = own.is_file()
        || own.with_extension(RECORD).is_file()
        || [Part::Inputs, Part::Output]
            .into_iter()
            .any(|p| dirs::location(out, p).is_file())
        || own.with_extension(crate::publish::memo::EXTENSION).is_dir();
    if cached && std::fs::read(&named).ok().as_deref() != Some(path.as_slice()) {
        let _ = crate::publish::output::atomic_write(&named, &path);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // Each output folder's files share the name up to its first dot: `<key>.json`,
    // `<key>.fresh.json`, `<key>.inputs.dirs`, `<key>.output.dirs`, `<key>.out`, and the folder
    // `<key>.assets` (see `memo`). Temporary files of killed writes start with a dot.
    let mut groups: BTreeMap<String, Vec<std::fs::DirEntry>> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = match name.strip_prefix('.') {
            Some(_) => name,
            None => name.split('.').next().unwrap_or_default().to_string(),
        };
        groups.entry(key).or_default().push(entry);
    }
    let own_key = own.file_stem().map(|s| s.to_string_lossy().into_owned());
    let old = |e: &std::fs::DirEntry| {
        e.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNNAMED_AGE)
    };
    for (key, files) in groups {
        if own_key.as_deref() == Some(key.as_str()) {
            continue;
        }
        let folder = files
            .iter()
            .find(|e| e.path().extension().is_some_and(|x| x == NAMED))
            .and_then(|e| std::fs::read(e.path()).ok());
        let gone = match folder {
            Some(folder) => !folder_of(folder)
                .join(crate::publish::output::MARKER)
                .is_file(),
            None => files.iter().all(old),
        };
        if gone {
            for e in files {
                let _ = match e.file_type().is_ok_and(|t| t.is_dir()) {
                    true => std::fs::remove_dir_all(e.path()),
                    false => std::fs::remove_file(e.path()),
                };
            }
        }
    }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn folder_of(bytes: Vec<u8>) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(bytes).into()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn folder_of(bytes: Vec<u8>) -> std::path::PathBuf {
    String::from_utf8_lossy(&bytes).into_owned().into()
}

/// A binary file of the build cache folder (see `memo`, `dirs`): the SHA-256 of the rest (32
/// bytes), then the rest, which comes back; `None` when it cannot be read or its checksum is
/// wrong.
pub fn read_sealed(path: &Path) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let mut bytes = std::fs::read(path).ok()?;
    let (sum, rest) = bytes.split_at_checked(32)?;
    if sum != Sha256::digest(rest).as_slice() {
        return None;
    }
    bytes.drain(..32);
    Some(bytes)
}

/// `rest` written as [`read_sealed`] reads it, atomically, into a folder that exists; a
/// failure only costs the next build its shortcuts.
pub fn write_sealed(path: &Path, rest: &[u8]) {
    use sha2::{Digest, Sha256};
    let sum = Sha256::digest(rest);
    if crate::publish::output::atomic_write_parts(path, &[&sum, rest]).is_err() {
        let _ = std::fs::remove_file(crate::publish::output::temp_name(path));
    }
}

/// A file of the build cache folder: a line with the SHA-256 of the rest, then the rest (JSON);
/// `None` when it cannot be read, its checksum is wrong or it does not parse.
pub fn read_checked<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let (sum, json) = (&bytes[..newline], &bytes[newline + 1..]);
    (sum == hash::sha256(json).as_bytes())
        .then(|| serde_json::from_slice(json).ok())
        .flatten()
}

/// `value` written as [`read_checked`] reads it, atomically; a failure only costs the next
/// build its shortcuts.
pub fn write_checked<T: Serialize>(path: &Path, value: &T) {
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = stream_checked(path, value);
    }
}

/// [`write_checked`]: the JSON streams into a temp file behind a blank first line, which the
/// checksum then fills in; memory stays flat however large the file (a build cache at
/// 100,000 versions is over 100 MB).
fn stream_checked<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use sha2::{Digest, Sha256};
    use std::io::{Seek, SeekFrom, Write};
    struct Hashing<W> {
        inner: W,
        hasher: Sha256,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let tmp = crate::publish::output::temp_name(path);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&[b'\n'; 65])?;
        let mut w = Hashing {
            inner: std::io::BufWriter::new(file),
            hasher: Sha256::new(),
        };
        serde_json::to_writer(&mut w, value)?;
        let sum = hash::hex(&w.hasher.finalize());
        let mut file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(sum.as_bytes())?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A key over everything `parts` name, in order, each length-prefixed so that no two lists of
/// parts give the same bytes.
pub fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hash::hex(&h.finalize())
}

/// What identifies the running mlreg: its version and its executable's stamp, so that pages
/// made by another build of mlreg are made again.
pub fn executable() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| {
        let s = Stamp::of(&p)?;
        Some(format!(
            "{} {} {} {}",
            p.display(),
            s.size,
            s.mtime_ns,
            s.inode
        ))
    });
    format!("{} {}", env!("CARGO_PKG_VERSION"), exe.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Source files written long enough ago for their stamps to be trusted (the change time,
    /// which cannot be set, included).
    fn settled(files: &[(&Path, &[u8])]) {
        for (path, bytes) in files {
            std::fs::write(path, bytes).unwrap();
        }
        std::thread::sleep(SETTLED + Duration::from_millis(100));
    }

    fn inode(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    /// Entries move from the cache read to the cache written; the file is written again exactly
    /// when what this build used differs from what it read.
    #[test]
    fn a_cache_is_written_again_only_when_what_it_holds_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        settled(&[(&a, b"first"), (&b, b"second")]);
        let at = dir.path().join("cache.json");

        let first = Cache::default();
        let (sha_a, size_a) = first.hash_file(&a).unwrap();
        assert_eq!(
            (sha_a.as_str(), size_a),
            (hash::sha256(b"first").as_str(), 5)
        );
        first.hash_file(&b).unwrap();
        assert_eq!(first.hits(), 0);
        first.write(&at);
        let written = inode(&at);

        // The same files, each used twice (as versions share the common folder): all hits,
        // and nothing to write.
        let same = Cache::read(&at);
        for f in [&a, &b, &a] {
            same.hash_file(f).unwrap();
        }
        assert_eq!(same.hits(), 3);
        same.write(&at);
        assert_eq!(inode(&at), written, "an unchanged cache is not written");

        // One file no longer used: the cache written holds only the other.
        let fewer = Cache::read(&at);
        fewer.hash_file(&a).unwrap();
        fewer.write(&at);
        assert_ne!(inode(&at), written, "a cache that lost an entry is written");
        let after = Cache::read(&at);
        after.hash_file(&b).unwrap();
        assert_eq!(after.hits(), 0, "b was dropped");
        after.write(&at);

        // A file edited: hashed again, whatever the cache says.
        settled(&[(&a, b"edited")]);
        let edited = Cache::read(&at);
        let (sha, _) = edited.hash_file(&a).unwrap();
        assert_eq!(sha, hash::sha256(b"edited"));
        assert_eq!(edited.hits(), 0);
        let before = inode(&at);
        edited.write(&at);
        assert_ne!(inode(&at), before, "a cache whose entry changed is written");
        assert_eq!(Cache::read(&at).hash_file(&a).unwrap().0, sha);

        // A broken file is no cache at all.
        let mut bytes = std::fs::read(&at).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        std::fs::write(&at, bytes).unwrap();
        let broken = Cache::read(&at);
        broken.hash_file(&a).unwrap();
        assert_eq!(broken.hits(), 0);
    }
}
