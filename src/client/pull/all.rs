//! Pulling several versions at once (`pull --with-deps`), each into its own [`folder`] under one
//! directory with a single pull's guarantees, and none swapped into place before all of them
//! are filled: a failure before then leaves the directory as it was.

use super::{MAX_BYTES, Progress, Pulled, check_files, label, prepare, wanted};
use crate::client::cache::Cache;
use crate::client::resolve::Resolved;
use crate::client::{Source, escape};
use crate::registry::kind::Kind;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a version goes in a pull with dependencies: `dir/<kind>/<name>/<version>`, each part
/// one plain folder name.
pub fn folder(dir: &Path, id: &str, version: &str) -> Result<PathBuf, String> {
    let rel = format!("{id}/{version}");
    let plain =
        |p: &str| !p.is_empty() && p != "." && p != ".." && crate::client::unsafe_path(p).is_none();
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
