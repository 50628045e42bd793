//! The local cache, keyed by content hash: immutable documents and blobs are fetched once and
//! then read from here, and the root keeps its ETag so that a warm resolve is one request
//! answered 304. Entries are written to a temporary file and renamed into place, so concurrent
//! `mlreg` processes share the cache without ever seeing half an entry. What a resolution reads
//! is staged and written only once it succeeds.

use std::path::{Path, PathBuf};

pub struct Cache {
    dir: PathBuf,
    /// Writes held back until the resolution they belong to succeeds (see [`Cache::commit`]).
    staged: std::sync::Mutex<Vec<(PathBuf, Vec<u8>)>>,
}

/// The cached root of one registry URL: its bytes and the ETag they came with.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CachedRoot {
    pub etag: String,
    pub body: String,
}

impl Cache {
    /// `$MLREG_CACHE`, else `$XDG_CACHE_HOME/mlreg`, else `~/.cache/mlreg`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("MLREG_CACHE") {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(d).join("mlreg");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        home.join(".cache/mlreg")
    }

    pub fn open(dir: &Path) -> Result<Cache, String> {
        for sub in ["sha256", "roots"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("cannot create the cache `{}`: {e}", dir.display()))?;
        }
        let cache = Cache {
            dir: dir.to_path_buf(),
            staged: std::sync::Mutex::default(),
        };
        cache.clear_leftovers();
        Ok(cache)
    }

    /// Remove what downloads of processes that are gone left behind (`.<sha256>.<pid>.part`).
    fn clear_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("sha256")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(".part"))
                .and_then(|n| n.rsplit_once('.'))
                .map(|(_, pid)| pid.to_string());
            if let Some(pid) = pid
                && !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && pid.parse().ok().and_then(crate::process::running) == Some(false)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The cache's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the entry for `sha256`, if the cache holds it with the right size.
    pub fn blob(&self, sha256: &str, size: u64) -> Option<PathBuf> {
        let path = self.dir.join("sha256").join(sha256);
        std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() == size)
            .map(|_| path)
    }

    /// Add verified bytes under their hash, once the resolution succeeds.
    pub fn put(&self, sha256: &str, bytes: &[u8]) {
        self.stage(self.dir.join("sha256").join(sha256), bytes.to_vec());
    }

    /// Write `bytes` to `path` (inside the cache) when [`Cache::commit`] is called: a
    /// resolution that fails (a document refused, a version altered) leaves the cache as it
    /// was, and nothing it read can mislead the next one.
    pub fn stage(&self, path: PathBuf, bytes: Vec<u8>) {
        self.staged
            .lock()
            .expect("no panics while held")
            .push((path, bytes));
    }

    /// Write what was staged.
    pub fn commit(&self) -> Result<(), String> {
        let staged = std::mem::take(&mut *self.staged.lock().expect("no panics while held"));
        for (path, bytes) in staged {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot write the cache: {e}"))?;
            }
            write_atomically(&path, &bytes)?;
        }
        Ok(())
    }

    /// Move a verified file in under its hash (same file system: a rename).
    pub fn adopt(&self, sha256: &str, file: &Path) -> Result<PathBuf, String> {
        let path = self.dir.join("sha256").join(sha256);
        std::fs::rename(file, &path).map_err(|e| format!("cannot add to the cache: {e}"))?;
        Ok(path)
    }

    /// A temporary file inside the cache, for a download in progress.
    pub fn temp(&self, sha256: &str) -> PathBuf {
        self.dir
            .join("sha256")
            .join(format!(".{sha256}.{}.part", std::process::id()))
    }

    pub fn root(&self, url: &str) -> Option<CachedRoot> {
        let bytes = std::fs::read(self.root_path(url)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keep a root and its ETag, once the resolution succeeds.
    pub fn put_root(&self, url: &str, root: &CachedRoot) {
        self.stage(
            self.root_path(url),
            serde_json::to_vec(root).expect("serializes"),
        );
    }

    fn root_path(&self, url: &str) -> PathBuf {
        self.dir.join("roots").join(format!(
            "{}.json",
            crate::publish::hash::sha256(url.as_bytes())
        ))
    }
}

/// Temp file + rename: readers see the old entry or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), unique()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// A number unique within this process, for temporary names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
