//! The destination folder of a pull: checked before anything is fetched (a folder, created
//! when missing, not a symbolic link, and mlreg's: empty, holding the pull record
//! `.mlreg-pull.json`, or forced), kept apart from what the pull reads, and replaced as a whole
//! by a sibling filled beside it. Siblings carry the process id (`.NAME.mlreg-pull-PID-N`
//! while filled, `.NAME.mlreg-old-PID-N` once swapped out), so that those of a killed run can
//! be told apart and removed by the next pull.

use super::RECORD;
use super::download::create_new;
use crate::client::Source;
use crate::client::cache::Cache;
use crate::client::resolve::Resolved;
use crate::publish::index::Ref;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest pull record read back: it lists files, nothing more.
const MAX_RECORD: u64 = 16 << 20;

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

pub(super) fn write_record(
    fresh: &Path,
    resolved: &Resolved,
    wanted: &[(String, Ref)],
) -> Result<(), String> {
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
pub(super) struct Dest {
    pub(super) path: PathBuf,
    parent: PathBuf,
    name: OsString,
}

impl Dest {
    /// Check `dest` before anything is fetched: not a symbolic link, a folder (created when
    /// missing), mlreg's or empty unless `force`; and clear what killed pulls left beside it.
    pub(super) fn open(dest: &Path, force: bool) -> Result<Dest, String> {
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
        // Under the lock swaps take turns by: another pull's swap moves the folder aside for a
        // moment, and a look in that moment found none ("cannot read", once in about twenty
        // runs of four pulls into one folder).
        let lock = d.lock()?;
        match std::fs::symlink_metadata(&d.path) {
            Ok(_) => d.check(force)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Made now, so that what cannot be created fails before any download.
                std::fs::create_dir_all(&d.path)
                    .map_err(|e| format!("cannot create `{}`: {e}", d.path.display()))?;
            }
            Err(e) => return Err(format!("cannot read `{}`: {e}", d.path.display())),
        }
        drop(lock);
        d.clear_leftovers();
        Ok(d)
    }

    /// The lock on the destination's parent folder that swaps into it take turns by; none
    /// while the parent does not exist (no pull swaps into it then).
    fn lock(&self) -> Result<Option<File>, String> {
        match File::open(&self.parent) {
            Ok(f) => f
                .lock()
                .map(|()| Some(f))
                .map_err(|e| format!("cannot lock `{}`: {e}", self.parent.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot lock `{}`: {e}", self.parent.display())),
        }
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
                .and_then(|f| crate::client::read_limited(f, MAX_RECORD))
                .is_ok_and(|bytes| serde_json::from_slice::<Record>(&bytes).is_ok()))
    }

    /// Nothing the pull reads from lives inside the folder it replaces as a whole.
    pub(super) fn check_apart(&self, cache: &Cache, sources: &[Source]) -> Result<(), String> {
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
    pub(super) fn sibling(&self, what: &str) -> PathBuf {
        let mut name = OsString::from(".");
        name.push(&self.name);
        name.push(format!(".mlreg-{what}-{}-{}", std::process::id(), unique()));
        self.parent.join(name)
    }

    /// Remove the siblings of pulls whose process is gone (killed mid-pull). Without `/proc`
    /// there is no telling, and they stay.
    fn clear_leftovers(&self) {
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
            let gone = pid.parse().ok().and_then(crate::process::running) == Some(false);
            if !digits(pid) || !digits(n) || !gone {
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
    /// parent folder take turns (a lock on it, which `open` looks under too), so two pulls
    /// into one destination never move each other's folders.
    pub(super) fn swap(&self, fresh: &mut Scratch, force: bool) -> Result<Vec<String>, String> {
        let new = fresh.path()?.to_path_buf();
        let lock = self.lock()?;
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
pub(super) struct Scratch(Option<PathBuf>);

impl Scratch {
    pub(super) fn create(path: PathBuf) -> Result<Scratch, String> {
        std::fs::create_dir(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        Ok(Scratch(Some(path)))
    }

    pub(super) fn path(&self) -> Result<&Path, String> {
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
