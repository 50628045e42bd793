//! Watching the registry (and the templates) for `serve`: which files were added, removed or
//! modified, and what the last build may lend the next (`load::Earlier`).
//!
//! The system tells of changes (inotify and its kin, through `notify`), naming the paths, so
//! that an edit is seen at once and an idle server costs nothing however large the registry:
//! only the named paths are looked at again. Where the tree cannot be watched (the system's
//! limit on watches, a filesystem without events, a lost event), every file is looked at
//! every [`POLL`] instead. Either way a rebuild follows only when a file's size or
//! modification time moved, never on an event alone.

use super::{Carried, Shared, build, elapsed, log};
use crate::diag::plural;
use crate::registry::kind::Kind;
use crate::registry::load::{Earlier, Loaded};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

/// How often every file is looked at when the tree cannot be watched.
const POLL: Duration = Duration::from_millis(300);

/// How long events must stop before the paths they name are looked at: an editor's save or a
/// `git checkout` is a burst of them.
const SETTLE: Duration = Duration::from_millis(30);

/// What the loop heard: the paths events named, or that anything may have changed.
enum Heard {
    Paths(BTreeSet<PathBuf>),
    Anything,
}

/// The system's watches on the roots, and where their events arrive.
pub(super) struct Watches {
    /// Kept for as long as the loop runs: dropping it stops the events.
    watcher: notify::Result<notify::RecommendedWatcher>,
    heard: Receiver<notify::Result<notify::Event>>,
}

impl Watches {
    /// Watch `roots` and everything under them: seconds for a large tree, so `serve` sets
    /// them while its first build runs.
    pub(super) fn set(roots: &[&Path]) -> Watches {
        let (events, heard) = mpsc::channel();
        let watcher = notify::recommended_watcher(events).and_then(|mut w| {
            for root in roots {
                w.watch(root, RecursiveMode::Recursive)?;
            }
            Ok(w)
        });
        Watches { watcher, heard }
    }

    /// No watches (setting them failed outright, or `--poll`): every file is looked at every
    /// [`POLL`].
    pub(super) fn none(why: &str) -> Watches {
        Watches {
            watcher: Err(notify::Error::generic(why)),
            heard: mpsc::channel().1,
        }
    }
}

/// Rebuild whenever a file under `dir` (or the templates) is added, removed or modified, and
/// log what changed, how long the rebuild took and what it found. `before` is what the files
/// were when the first build started.
pub(super) fn watch(
    dir: &Path,
    templates: Option<&Path>,
    shared: &Shared,
    watches: Watches,
    before: Fingerprint,
    mut carried: Carried,
    quiet: bool,
) {
    let roots = Roots::new(std::iter::once(dir).chain(templates).collect());
    let Watches { watcher, heard } = watches;
    if let Err(e) = &watcher {
        log(
            quiet,
            format_args!(
                "cannot watch {} ({e}): looking at every file every {} ms instead",
                dir.display(),
                POLL.as_millis()
            ),
        );
    }
    let mut last = before;
    // The system tells nothing of what changed before the watches were set (they take
    // seconds on a large tree): every file is looked at once, now that they are.
    let mut set_up = true;
    loop {
        let heard = match std::mem::take(&mut set_up) {
            true => Ok(Heard::Anything),
            false => watcher.as_ref().map(|_| listen(&heard)),
        };
        let diff = match heard {
            Ok(Heard::Paths(paths)) => refreshed(&mut last, &roots, &paths),
            Ok(Heard::Anything) => looked_at(&mut last, &roots),
            Err(_) => {
                std::thread::sleep(POLL);
                looked_at(&mut last, &roots)
            }
        };
        if diff.is_empty() {
            continue;
        }
        let started = Instant::now();
        let lent = earlier(dir, &diff, carried.loaded.take());
        let previous = shared.site.lock().expect("no panics while held").clone();
        let generation = previous.generation + 1;
        let (site, next) = build(dir, templates, generation, Some(&previous), lent, carried);
        drop(previous);
        carried = next;
        let summary = site.summary.clone();
        let replaced = std::mem::replace(
            &mut *shared.site.lock().expect("no panics while held"),
            Arc::new(site),
        );
        shared.changed.notify_all();
        log(
            quiet,
            format_args!(
                "rebuilt in {} after {}: {summary}",
                elapsed(started),
                changes(&diff)
            ),
        );
        // The site before, tens of thousands of entries, is freed off the way of the next
        // change (and of handlers holding it).
        super::free_aside(replaced);
    }
}

/// Wait for events, then for them to stop for [`SETTLE`]; the paths they name. Reads of files
/// (the builds' own among them) are not news; an error, an event that asks for a rescan, or a
/// watcher gone quiet for good is news of anything.
fn listen(heard: &Receiver<notify::Result<notify::Event>>) -> Heard {
    let mut paths = BTreeSet::new();
    let Ok(mut next) = heard.recv() else {
        std::thread::sleep(POLL);
        return Heard::Anything;
    };
    loop {
        match next {
            Ok(event) if event.need_rescan() => return Heard::Anything,
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
            Ok(event) => paths.extend(event.paths),
            Err(_) => return Heard::Anything,
        }
        next = match heard.recv_timeout(SETTLE) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) if paths.is_empty() => match heard.recv() {
                Ok(event) => event,
                Err(_) => return Heard::Anything,
            },
            Err(RecvTimeoutError::Timeout) => return Heard::Paths(paths),
            Err(RecvTimeoutError::Disconnected) => return Heard::Anything,
        };
    }
}

/// Every path under each of `paths` looked at again: what is there now replaces what was in
/// `last`; what moved. A path outside the roots (as the system names it) means anything may
/// have changed: every file is looked at.
fn refreshed(last: &mut Fingerprint, roots: &Roots, paths: &BTreeSet<PathBuf>) -> Diff {
    let mut moved = Diff::default();
    for path in paths {
        let Some(path) = roots.name(path) else {
            // What was looked at already is in `last` now, so not in what this finds.
            let mut all = looked_at(last, roots);
            all.extend(moved);
            return all;
        };
        let was: Vec<PathBuf> = last
            .range(path.clone()..)
            .take_while(|(p, _)| p.starts_with(&path))
            .map(|(p, _)| p.clone())
            .collect();
        let was: Fingerprint = was
            .into_iter()
            .filter_map(|p| last.remove_entry(&p))
            .collect();
        let mut is = Fingerprint::new();
        add(&mut is, &path);
        moved.extend(diff(&was, &is));
        last.extend(is);
    }
    moved
}

/// Every file looked at again: `last` becomes what is there; what moved.
fn looked_at(last: &mut Fingerprint, roots: &Roots) -> Diff {
    let now = fingerprint(&roots.given);
    let moved = diff(last, &now);
    *last = now;
    moved
}

/// What moved between two fingerprints, by path.
#[derive(Debug, Default, PartialEq)]
struct Diff {
    added: Vec<PathBuf>,
    removed: Vec<PathBuf>,
    modified: Vec<PathBuf>,
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty()
    }

    fn extend(&mut self, other: Diff) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.modified.extend(other.modified);
    }
}

/// The difference of two fingerprints, walking both in order once (a lookup per path costs
/// tens of milliseconds at 50,000 files).
fn diff(before: &Fingerprint, after: &Fingerprint) -> Diff {
    let mut moved = Diff::default();
    let (mut b, mut a) = (before.iter().peekable(), after.iter().peekable());
    loop {
        match (b.peek(), a.peek()) {
            (None, None) => return moved,
            (Some((p, _)), None) => {
                moved.removed.push(p.to_path_buf());
                b.next();
            }
            (None, Some((p, _))) => {
                moved.added.push(p.to_path_buf());
                a.next();
            }
            (Some((pb, mb)), Some((pa, ma))) => match pb.cmp(pa) {
                std::cmp::Ordering::Less => {
                    moved.removed.push(pb.to_path_buf());
                    b.next();
                }
                std::cmp::Ordering::Greater => {
                    moved.added.push(pa.to_path_buf());
                    a.next();
                }
                std::cmp::Ordering::Equal => {
                    if mb != ma {
                        moved.modified.push(pa.to_path_buf());
                    }
                    b.next();
                    a.next();
                }
            },
        }
    }
}

/// The watched roots as given, which is how the fingerprint names paths, and the other forms
/// the system may name their paths by (absolute, canonical): found once, not per event.
struct Roots<'a> {
    given: Vec<&'a Path>,
    forms: Vec<(PathBuf, &'a Path)>,
}

impl<'a> Roots<'a> {
    fn new(given: Vec<&'a Path>) -> Roots<'a> {
        let forms = given
            .iter()
            .flat_map(|root| {
                [std::path::absolute(root).ok(), root.canonicalize().ok()]
                    .into_iter()
                    .flatten()
                    .map(move |form| (form, *root))
            })
            .collect();
        Roots { given, forms }
    }

    /// `path` as the fingerprint names it (under a root as it was given), whether the system
    /// names it so, absolute, or through a root's canonical path.
    fn name(&self, path: &Path) -> Option<PathBuf> {
        if self.given.iter().any(|root| path.starts_with(root)) {
            return Some(path.to_path_buf());
        }
        self.forms
            .iter()
            .find_map(|(form, root)| path.strip_prefix(form).ok().map(|rel| root.join(rel)))
    }
}

pub(super) type Fingerprint = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// What moved, in a line: how many paths, the first few named.
fn changes(moved: &Diff) -> String {
    const NAMED: usize = 3;
    let paths: Vec<String> = (moved
        .added
        .iter()
        .map(|p| format!("{} (added)", p.display())))
    .chain(moved.modified.iter().map(|p| p.display().to_string()))
    .chain(
        moved
            .removed
            .iter()
            .map(|p| format!("{} (removed)", p.display())),
    )
    .collect();
    let mut text = plural(paths.len(), "change");
    let shown: Vec<&str> = paths.iter().take(NAMED).map(String::as_str).collect();
    text.push_str(&format!(" ({}", shown.join(", ")));
    if paths.len() > NAMED {
        text.push_str(&format!(" and {} more", paths.len() - NAMED));
    }
    text.push(')');
    text
}

/// Every file under `roots`, with its size and modification time.
pub(super) fn fingerprint(roots: &[&Path]) -> Fingerprint {
    let mut out = Fingerprint::new();
    for root in roots {
        add(&mut out, root);
    }
    out
}

/// Every file at or under `path` into `fingerprint`.
fn add(fingerprint: &mut Fingerprint, path: &Path) {
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        if let Ok(m) = entry.metadata()
            && !m.is_dir()
        {
            let stamp = (m.len(), m.modified().ok());
            fingerprint.insert(entry.path().to_path_buf(), stamp);
        }
    }
}

/// What the last build may lend the next (see `load::Earlier`): its assets whose folders did
/// not change, when files only changed (none came or went) and each inside an asset's folder.
/// Otherwise nothing, and the next build reads every asset.
fn earlier(dir: &Path, moved: &Diff, loaded: Option<Loaded>) -> Earlier {
    let Some(loaded) = loaded else {
        return Earlier::default();
    };
    if !moved.added.is_empty() || !moved.removed.is_empty() {
        return Earlier::default();
    }
    let mut changed = BTreeSet::new();
    for path in &moved.modified {
        // A template outside the registry changes pages, not what is loaded.
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        match (
            parts.as_slice(),
            parts.first().and_then(|f| Kind::from_folder(f)),
        ) {
            ([_, name, _, ..], Some(kind)) => {
                changed.insert((kind, name.to_string()));
            }
            _ => return Earlier::default(),
        }
    }
    loaded.into_earlier(|kind, name| changed.contains(&(kind, name.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_named_by_the_system_are_looked_at_again_as_the_fingerprint_names_them() {
        let t = tempfile::tempdir().unwrap();
        let base = std::env::current_dir().unwrap();
        // The root as a user gives it: relative to the working folder where it can be.
        let root = t.path().strip_prefix(&base).unwrap_or(t.path()).join("reg");
        let abs = t.path().join("reg");
        std::fs::create_dir_all(abs.join("models/a/1")).unwrap();
        std::fs::create_dir_all(abs.join("models/b/1")).unwrap();
        std::fs::write(abs.join("models/a/1/spec.yaml"), "a").unwrap();
        std::fs::write(abs.join("models/b/1/spec.yaml"), "b").unwrap();
        let roots = Roots::new(vec![root.as_path()]);
        let last = fingerprint(&roots.given);
        assert_eq!(last.len(), 2);
        // Named absolute (as inotify does) or as given: the same key; outside: none.
        let file = root.join("models/a/1/spec.yaml");
        assert_eq!(
            roots.name(&abs.join("models/a/1/spec.yaml")),
            Some(file.clone())
        );
        assert_eq!(roots.name(&file), Some(file));
        assert_eq!(roots.name(&t.path().join("elsewhere")), None);

        // A file modified, a folder removed, a folder with a file added.
        std::fs::write(abs.join("models/a/1/spec.yaml"), "a, longer").unwrap();
        std::fs::remove_dir_all(abs.join("models/b")).unwrap();
        std::fs::create_dir_all(abs.join("models/c/1")).unwrap();
        std::fs::write(abs.join("models/c/1/spec.yaml"), "c").unwrap();
        let named: BTreeSet<PathBuf> = ["models/a/1/spec.yaml", "models/b", "models/c"]
            .iter()
            .map(|p| abs.join(p))
            .collect();
        let mut now = last.clone();
        let moved = refreshed(&mut now, &roots, &named);
        assert_eq!(now, fingerprint(&roots.given));
        assert_eq!(
            moved,
            Diff {
                added: vec![root.join("models/c/1/spec.yaml")],
                removed: vec![root.join("models/b/1/spec.yaml")],
                modified: vec![root.join("models/a/1/spec.yaml")],
            }
        );
        assert_eq!(diff(&last, &now), moved);
        assert_eq!(
            now.keys().cloned().collect::<Vec<_>>(),
            [
                root.join("models/a/1/spec.yaml"),
                root.join("models/c/1/spec.yaml")
            ]
        );
        assert_ne!(
            now[&root.join("models/a/1/spec.yaml")],
            last[&root.join("models/a/1/spec.yaml")]
        );
        // A path outside the roots, named after one inside: every file is looked at, and the
        // change already looked at is still told.
        std::fs::write(abs.join("models/a/1/spec.yaml"), "a, longer still").unwrap();
        let named: BTreeSet<PathBuf> = [
            abs.join("models/a/1/spec.yaml"),
            t.path().join("zz-elsewhere"),
        ]
        .into_iter()
        .collect();
        let moved = refreshed(&mut now, &roots, &named);
        assert_eq!(moved.modified, vec![root.join("models/a/1/spec.yaml")]);
        assert_eq!(now, fingerprint(&roots.given));
        // Only what was named is looked at: a change nobody told of is not seen.
        std::fs::write(abs.join("models/c/1/spec.yaml"), "c, unheard of").unwrap();
        let before = now.clone();
        assert!(refreshed(&mut now, &roots, &BTreeSet::new()).is_empty());
        assert_eq!(now, before);
    }
}
