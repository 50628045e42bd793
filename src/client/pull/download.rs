//! Placing a version's blobs in the fresh folder of a pull, [`PARALLEL`] at a time. Each blob
//! is copied from the old destination or the cache when either holds the right bytes, else
//! downloaded from the first source that delivers them into the cache and the fresh folder at
//! once, hashed as they come (when a source starts over instead of resuming, so do the files):
//! only a blob whose size and sha256 are the reference's enters the cache, durable before it
//! is named there, where others trust it by its name. Every file written into the fresh folder
//! is a new one, never the cache's entry itself, and a symbolic link in the old destination is
//! never followed.

use super::tee::tee;
use super::{Origin, Progress};
use crate::client::cache::Cache;
use crate::client::{Source, escape};
use crate::publish::index::Ref;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Downloads (or copies) at once.
const PARALLEL: usize = 6;

/// Bytes read at a time when copying a file: a chunk and its copy on the way to the writing
/// thread stay in the core's cache while it is hashed.
const BUFFER: usize = 256 * 1024;

/// Bytes of a download after which its part file is flushed to disk (see [`flushing`]).
const FLUSH_EVERY: u64 = 64 << 20;

/// One blob and every path of the version that holds it (a file shipped twice is fetched once).
pub(super) struct Blob<'a> {
    pub(super) r: &'a Ref,
    pub(super) paths: Vec<&'a str>,
}

pub(super) fn group(wanted: &[(String, Ref)]) -> Vec<Blob<'_>> {
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
pub(super) struct Context<'a> {
    pub(super) sources: &'a [Source],
    pub(super) cache: &'a Cache,
    /// The destination as it is: read from, never written to.
    pub(super) old: &'a Path,
    /// The folder being filled.
    pub(super) fresh: &'a Path,
    pub(super) total: u64,
    pub(super) done: AtomicU64,
    pub(super) progress: &'a Progress<'a>,
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
pub(super) fn place_all(cx: &Context<'_>, blobs: &[Blob<'_>]) -> Result<Vec<Origin>, String> {
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
                    match crate::client::time_left().and_then(|_| place(cx, blob)) {
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
/// or the cache when either holds the right bytes, else fetched into the cache and the first
/// path at once.
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
        None => Origin::Source(fetch(cx, r, name, &first)?),
    };
    for path in &blob.paths[1..] {
        let target = cx.fresh.join(path);
        make_parent(&target)?;
        copy_new(&first, &target)?;
        cx.advance(path, r.size);
    }
    Ok(origin)
}

/// Download a blob from the first source that delivers the right bytes, into the cache and
/// the new file `dest` at once; returns the source's location.
fn fetch(cx: &Context<'_>, r: &Ref, name: &str, dest: &Path) -> Result<String, String> {
    let mut errors = Vec::new();
    for source in cx.sources {
        let part = cx.cache.temp(&r.sha256);
        match download(cx, source, r, &part, dest, name) {
            Ok(()) => {
                cx.cache.adopt(&r.sha256, &part)?;
                return Ok(source.location());
            }
            Err(Trouble::Here(e)) => return Err(e),
            Err(Trouble::There(e)) => errors.push(e),
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

/// Stream a blob from `source` into both `part` (in the cache) and the new file `dest`,
/// hashing as it comes, written on a second thread ([`tee`]); keep them only when its size and
/// sha256 are those of the reference. Writing both in the one pass spares copying the blob
/// back out of the cache; the two stay separate files, so that editing the pulled one can
/// never alter the cache. Nothing trusts `dest` before this returns: the fresh folder is
/// swapped into place only once every file in it is verified. On failure, neither file is
/// left behind.
fn download(
    cx: &Context<'_>,
    source: &Source,
    r: &Ref,
    part: &Path,
    dest: &Path,
    name: &str,
) -> Result<(), Trouble> {
    let cannot_write = |e: std::io::Error| format!("cannot write `{}`: {e}", part.display());
    let part_file = File::create(part).map_err(|e| Trouble::Here(cannot_write(e)))?;
    let dest_file = match create_new(dest) {
        Ok(file) => file,
        Err(e) => {
            let _ = std::fs::remove_file(part);
            return Err(Trouble::Here(e));
        }
    };
    let filled = fill(cx, source, r, (&part_file, part), (&dest_file, dest), name);
    if filled.is_err() {
        let _ = std::fs::remove_file(part);
        let _ = std::fs::remove_file(dest);
    }
    filled
}

/// [`download`] into the files it made.
fn fill(
    cx: &Context<'_>,
    source: &Source,
    r: &Ref,
    (part_file, part): (&File, &Path),
    (dest_file, dest): (&File, &Path),
    name: &str,
) -> Result<(), Trouble> {
    let cannot_write = |e: std::io::Error| format!("cannot write `{}`: {e}", part.display());
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let ((streamed, wrote), flushed) = flushing(part_file, r.size, |flush| {
        tee(&[(part_file, part), (dest_file, dest)], r.size, |tee| {
            source.stream(&r.path, r.size, &mut |at, chunk| {
                // What the writing thread failed on is the error that counts (see below).
                let stopped = |_| "the disk failed".to_string();
                if at != written {
                    if at != 0 {
                        return Err(format!("bytes at {at} after {written} of them"));
                    }
                    // The source started over (it ignored a range request): so do the files.
                    tee.restart().map_err(stopped)?;
                    hasher = Sha256::new();
                    cx.take_back(written);
                    written = 0;
                }
                hasher.update(chunk);
                tee.write(chunk).map_err(stopped)?;
                if written / FLUSH_EVERY != (written + chunk.len() as u64) / FLUSH_EVERY {
                    flush();
                }
                written += chunk.len() as u64;
                cx.advance(name, chunk.len() as u64);
                Ok(())
            })
        })
    });
    if let Err(e) = wrote.and(flushed.map_err(cannot_write)) {
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
    part_file
        .sync_all()
        .map_err(|e| Trouble::Here(cannot_write(e)))
}

/// Run `body`, which writes the `size` bytes of `file`, with a `flush` that has `file`'s data
/// written to disk (fdatasync) on a thread of its own, without waiting for it: a flush asked
/// for while another is still waiting to start is dropped, as that one will cover the same
/// bytes (a file under [`FLUSH_EVERY`] bytes is never flushed: no thread is started). The
/// fsync that makes a download durable before it is named in the cache then finds little left
/// to write, instead of the whole blob at the end, when nothing else is going on. These
/// flushes add no guarantee and take none away: that fsync still comes after the last byte.
/// Returns what `body` returned and the first error of a flush, which must fail the download:
/// the kernel reports a failed writeback once per open file, and that fsync would not see it.
fn flushing<T>(
    file: &File,
    size: u64,
    body: impl FnOnce(&dyn Fn()) -> T,
) -> (T, std::io::Result<()>) {
    if size < FLUSH_EVERY {
        return (body(&|| ()), Ok(()));
    }
    let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::scope(|scope| {
        let flusher = scope.spawn(move || {
            for () in asked {
                file.sync_data()?;
            }
            Ok(())
        });
        let answer = body(&move || {
            // Full: a flush waits to start already, and will cover these bytes too.
            let _ = ask.try_send(());
        });
        let flushed = flusher
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread panicked")));
        (answer, flushed)
    })
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

/// Copy `from` to the new file `to`, hashing on the way (written on a second thread,
/// [`tee`]): `Ok(true)` when the bytes are the reference's; otherwise `to` is removed and
/// `Ok(false)` (an unreadable `from` is not an error: the bytes are fetched instead). Errors
/// are those of writing `to`.
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
    let output = create_new(to)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let (read_all, wrote) = tee(&[(&output, to)], r.size, |tee| {
        let mut buf = vec![0u8; BUFFER];
        loop {
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
            if tee.write(&buf[..n]).is_err() {
                // The error is the writing thread's.
                break false;
            }
        }
    });
    if let Err(e) = wrote {
        drop(output);
        let _ = std::fs::remove_file(to);
        return Err(e);
    }
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
pub(super) fn create_new(path: &Path) -> Result<File, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// A source folder holding `bytes` as `blobs/b`, an empty cache, an empty fresh folder.
    struct Setup {
        dir: tempfile::TempDir,
        sources: Vec<Source>,
        cache: Cache,
    }

    impl Setup {
        fn new(bytes: &[u8]) -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let source = dir.path().join("source");
            std::fs::create_dir_all(source.join("blobs")).unwrap();
            std::fs::write(source.join("blobs/b"), bytes).unwrap();
            std::fs::create_dir_all(dir.path().join("old")).unwrap();
            std::fs::create_dir_all(dir.path().join("fresh")).unwrap();
            let cache = Cache::open(&dir.path().join("cache")).unwrap();
            Setup {
                dir,
                sources: vec![Source::Folder(source)],
                cache,
            }
        }

        /// Place the blob `r` at `weights.bin` in the fresh folder.
        fn place(&self, r: &Ref) -> Result<Origin, String> {
            let progress = |_: &str, _: u64, _: u64| {};
            let cx = Context {
                sources: &self.sources,
                cache: &self.cache,
                old: &self.dir.path().join("old"),
                fresh: &self.dir.path().join("fresh"),
                total: r.size,
                done: AtomicU64::new(0),
                progress: &progress,
            };
            place(
                &cx,
                &Blob {
                    r,
                    paths: vec!["weights.bin"],
                },
            )
        }

        fn placed(&self) -> PathBuf {
            self.dir.path().join("fresh/weights.bin")
        }

        /// Everything in the cache's blob folder, part files included.
        fn cached(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(self.cache.dir().join("sha256"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    /// Bytes enough to be written on a thread and flushed along the way.
    fn large() -> Vec<u8> {
        let size = FLUSH_EVERY as usize + 3 * BUFFER + 5;
        let mut bytes = (0..251u8).collect::<Vec<u8>>().repeat(size / 251 + 1);
        bytes.truncate(size);
        bytes
    }

    fn reference(bytes: &[u8]) -> Ref {
        Ref {
            path: "blobs/b".to_string(),
            sha256: crate::publish::hash::sha256(bytes),
            size: bytes.len() as u64,
        }
    }

    #[test]
    fn a_download_fills_the_cache_and_a_separate_file_in_the_fresh_folder() {
        let bytes = large();
        let setup = Setup::new(&bytes);
        let r = reference(&bytes);
        let origin = setup.place(&r).unwrap();
        assert!(matches!(origin, Origin::Source(_)), "{origin:?}");
        assert_eq!(setup.cached(), vec![r.sha256.clone()]);
        let entry = setup.cache.blob(&r.sha256, r.size).unwrap();
        assert!(std::fs::read(setup.placed()).unwrap() == bytes);
        assert!(std::fs::read(&entry).unwrap() == bytes);
        // Two files, not two names of one: editing what was pulled leaves the cache as it was.
        let (pulled, cached) = (
            std::fs::metadata(setup.placed()).unwrap(),
            std::fs::metadata(&entry).unwrap(),
        );
        assert_ne!((pulled.dev(), pulled.ino()), (cached.dev(), cached.ino()));
        std::fs::write(setup.placed(), b"edited").unwrap();
        assert!(std::fs::read(&entry).unwrap() == bytes);
    }

    #[test]
    fn a_corrupted_source_leaves_nothing_in_the_cache_or_the_fresh_folder() {
        let large = large();
        for size in [1000, large.len()] {
            let bytes = large[..size].to_vec();
            let r = reference(&bytes);
            let mut corrupted = bytes.clone();
            corrupted[size / 2] ^= 1;
            let setup = Setup::new(&corrupted);
            let e = setup.place(&r).unwrap_err();
            assert!(e.contains("sha256"), "{size}: {e}");
            assert!(!setup.placed().exists(), "{size}");
            assert!(setup.cached().is_empty(), "{size}: {:?}", setup.cached());
        }
    }

    #[test]
    fn a_corrupted_cache_entry_is_not_copied_but_fetched_again() {
        let bytes = large();
        let setup = Setup::new(&bytes);
        let r = reference(&bytes);
        let mut corrupted = bytes.clone();
        corrupted[7] ^= 1;
        std::fs::write(setup.cache.dir().join("sha256").join(&r.sha256), &corrupted).unwrap();
        let origin = setup.place(&r).unwrap();
        assert!(matches!(origin, Origin::Source(_)), "{origin:?}");
        assert!(std::fs::read(setup.placed()).unwrap() == bytes);
    }
}
