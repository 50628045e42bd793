//! Whether a build can be skipped whole: `mlreg build` run again when nothing it reads has
//! changed and the output folder is exactly as the last build of it left it. Then that build's
//! output is this one's (a build is a function of what it reads, and building again over its
//! own output changes nothing), so only its report is printed again.
//!
//! What a build reads is fingerprinted before it reads anything: every file under the registry
//! folder and the templates folder (names, sizes, modification and change times, inodes), the
//! mlreg executable, the environment that can change the output (`SOURCE_DATE_EPOCH`, the
//! signing keys) and the arguments. The output folder is fingerprinted the same way when the
//! build is done, under its lock. The next build fingerprints both again: equal keys, and it is done.
//! A folder whose stamp has not moved since the last build listed it is not read again (see
//! [`dirs`](crate::publish::dirs)); its files are each looked at all the same. The output's
//! files that the build found already there as they must be are taken with the stamps it
//! found them with (see `output::Seen`).
//!
//! A file modified less than [`cache::SETTLED`] before it was fingerprinted could be written again
//! within the same timestamp tick without its stamp moving ("racy" files, as git calls them):
//! its content hash joins the key, and the next build hashes it again too. A tree with too
//! many such files (a build that wrote everything just now, a fresh checkout) is not
//! fingerprinted at all, and the next build is a full one. A tree holding a symbolic link is
//! not either: what the link points at is not under the stamps. A build with `--against`
//! reads another build, whose state is not fingerprinted: it is never skipped.
//!
//! The record lives beside the build cache (see `cache::location`), in its own small file that
//! a skipped build reads alone. Correctness never depends on it: a record that does not parse,
//! whose checksum is wrong or whose format is another is ignored.

use crate::diag::{Code, Diagnostic, Loc, Report};
use crate::publish::dirs::{Dirs, Entry};
use crate::publish::output::{LOCK, Seen};
use crate::publish::{cache, hash};
use crate::registry::kind::Kind;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Its format: another is ignored.
const FORMAT: u32 = 1;

/// The name the output folder's folders are listed under in [`Dirs`] (the sweep's too).
pub const OUTPUT: &str = "out";

/// At most this many racy files, and this many bytes of them, are hashed; a tree with more is
/// not fingerprinted.
const RACY_FILES: usize = 4096;
const RACY_BYTES: u64 = 64 << 20;

/// A fingerprinted tree: two keys over it, and the files racy now (relative, `/`-separated).
/// `key` has the content of the racy files and of those named by the caller (racy when a
/// record was made, which the record is compared by); `own` only that of the racy files, for
/// the next record, so that a file named once is not hashed by every build after it.
#[derive(Debug, PartialEq)]
pub struct Tree {
    key: String,
    own: String,
    hashed: BTreeSet<String>,
}

/// Every entry under `root` (the root itself followed if it is a link, nothing else): its
/// name, whether it is a folder, and for a file its stamp, and its content hash when it is
/// racy now or named by `hash_these` (see [`Tree`]); not the entry named `skip` at the top.
/// Folders are read in parallel (or listed as the last build listed them, see `walk`), each
/// keyed over its sorted entries (a folder by its own key), since a stat is what this costs,
/// one per file. `None` when the tree holds a symbolic link or too many files to hash, or
/// cannot be read whole.
fn tree(root: &Path, walk: Walk, skip: Option<&str>) -> Option<Tree> {
    tree_with_tops(root, walk, skip, false).map(|(tree, _)| tree)
}

/// How a walk reads a tree: the files to hash, the folders' listings of the last build, the
/// name the tree's folders are listed under there, and the stamps of files already looked at.
#[derive(Clone, Copy)]
struct Walk<'a> {
    hash_these: &'a BTreeSet<String>,
    dirs: &'a Dirs,
    name: &'a str,
    seen: &'a Seen,
}

/// [`tree`], and with `tops` the parts each entry of the root and of its folders gives `key`
/// and `own` (by relative path): a folder's are its own keys, so a folder two levels down (an
/// asset's) is known by them to be unchanged.
fn tree_with_tops(root: &Path, walk: Walk, skip: Option<&str>, tops: bool) -> Option<(Tree, Tops)> {
    let racy = Racy {
        walk,
        files: Mutex::default(),
        count: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
        tops: tops.then(Mutex::default),
    };
    let (key, own) = folder(root, "", skip, &racy)?;
    let tree = Tree {
        key: hash::hex(&key),
        own: hash::hex(&own),
        hashed: racy.files.into_inner().expect("no panics while held"),
    };
    let tops = racy
        .tops
        .map(|t| t.into_inner().expect("no panics while held"))
        .unwrap_or_default();
    Some((tree, tops))
}

/// What a walk's threads share: how to walk, the files found racy, and how many files it
/// hashes and how large they are.
struct Racy<'a> {
    walk: Walk<'a>,
    files: Mutex<BTreeSet<String>>,
    count: AtomicUsize,
    bytes: AtomicU64,
    /// Where wanted, the parts of the entries of the root and of its folders (see
    /// [`tree_with_tops`]).
    tops: Option<Mutex<Tops>>,
}

/// The parts for `key` and for `own` of the entries of a tree's top two levels, by path.
type Tops = BTreeMap<String, (Vec<u8>, Vec<u8>)>;

/// The two keys of the folder `dir`, `rel` under the root (see [`Tree`]).
fn folder(dir: &Path, rel: &str, skip: Option<&str>, racy: &Racy) -> Option<([u8; 32], [u8; 32])> {
    let listed = racy
        .walk
        .dirs
        .list(&format!("{}/{rel}", racy.walk.name), dir)
        .ok()?;
    let mut entries = listed.entries();
    entries.retain(|(name, _)| skip.is_none_or(|s| *name != s));
    let parts: Vec<Option<(Vec<u8>, Vec<u8>)>> = entries
        .par_iter()
        .map(|(name, entry)| {
            let path = dir.join(name);
            let rel = match rel {
                "" => name.to_string_lossy().into_owned(),
                _ => format!("{rel}/{}", name.to_string_lossy()),
            };
            if *entry == Entry::Link {
                return None;
            }
            if *entry == Entry::Folder {
                let (key, own) = folder(&path, &rel, None, racy)?;
                return Some((
                    [b"d".as_slice(), &key].concat(),
                    [b"d".as_slice(), &own].concat(),
                ));
            }
            // (A listing from the last build names what was there: a file since replaced by
            // a link or a folder moved the folder's stamp, which made it read again.)
            let stamp = match racy.walk.seen.get(&rel) {
                Some(stamp) => stamp,
                None => cache::Stamp::from_metadata(&std::fs::symlink_metadata(&path).ok()?),
            };
            let part = [b"f".as_slice(), &stamp.bytes()].concat();
            let now = !stamp.settled();
            if !now && !racy.walk.hash_these.contains(&rel) {
                return Some((part.clone(), part));
            }
            let count = racy.count.fetch_add(1, Ordering::Relaxed) + 1;
            let bytes = racy.bytes.fetch_add(stamp.size(), Ordering::Relaxed) + stamp.size();
            if count > RACY_FILES || bytes > RACY_BYTES || *entry != Entry::File {
                return None;
            }
            let hashed = [part.as_slice(), hash::file(&path).ok()?.0.as_bytes()].concat();
            if now {
                racy.files.lock().expect("no panics while held").insert(rel);
                return Some((hashed.clone(), hashed));
            }
            Some((hashed, part))
        })
        .collect();
    let (mut key, mut own) = (Sha256::new(), Sha256::new());
    let tops = racy.tops.as_ref().filter(|_| !rel.contains('/'));
    for ((name, _), part) in entries.iter().zip(parts) {
        let (for_key, for_own) = part?;
        if let Some(tops) = tops {
            let name = name.to_string_lossy();
            let path = match rel {
                "" => name.into_owned(),
                _ => format!("{rel}/{name}"),
            };
            let mut tops = tops.lock().expect("no panics while held");
            tops.insert(path, (for_key.clone(), for_own.clone()));
        }
        let name = name.as_encoded_bytes();
        for (h, part) in [(&mut key, for_key), (&mut own, for_own)] {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name);
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    Some((key.finalize().into(), own.finalize().into()))
}

/// What a build reads, fingerprinted: the registry and templates folders, and `given` (the
/// arguments and environment that change the output, the executable). Two keys, as a
/// [`Tree`] has.
#[derive(Debug, PartialEq)]
pub struct Inputs {
    key: String,
    own: String,
    hashed: BTreeSet<String>,
    assets: BTreeMap<(Kind, String), AssetKey>,
}

/// An asset's folder, with everything of the registry outside the kinds' folders, keyed as a
/// [`Tree`] is: `key` to compare with what the last build recorded, `own` for the next build
/// to compare with (they differ where a file the last build saw racy has settled since).
#[derive(Clone, Debug, PartialEq)]
pub struct AssetKey {
    pub key: String,
    pub own: String,
}

impl Inputs {
    /// `record` names the files to hash again; `dirs` lists the folders that did not change;
    /// `None` when a tree cannot be fingerprinted.
    pub fn of(
        dir: &Path,
        templates: Option<&Path>,
        given: &[&[u8]],
        record: Option<&Record>,
        dirs: &Dirs,
    ) -> Option<Inputs> {
        let empty = BTreeSet::new();
        let hash_these = record.map_or(&empty, |r| &r.inputs_hashed);
        let seen = Seen::default();
        let walk = |hash_these, name| Walk {
            hash_these,
            dirs,
            name,
            seen: &seen,
        };
        let in_registry = prefixed(hash_these, "registry/");
        let (registry, tops) = tree_with_tops(dir, walk(&in_registry, "registry"), None, true)?;
        let in_templates = prefixed(hash_these, "templates/");
        let templates = match templates {
            Some(t) => Some(tree(t, walk(&in_templates, "templates"), None)?),
            None => None,
        };
        let executable = cache::executable();
        let key = |of: fn(&Tree) -> &str| {
            let mut parts: Vec<&[u8]> = vec![b"registry", of(&registry).as_bytes()];
            if let Some(t) = &templates {
                parts.extend([b"templates".as_slice(), of(t).as_bytes()]);
            }
            parts.extend([b"executable".as_slice(), executable.as_bytes()]);
            parts.extend(given);
            cache::key(parts)
        };
        let (key, own) = (key(|t| &t.key), key(|t| &t.own));
        let mut hashed: BTreeSet<String> = registry
            .hashed
            .into_iter()
            .map(|p| format!("registry/{p}"))
            .collect();
        hashed.extend(
            templates
                .into_iter()
                .flat_map(|t| t.hashed)
                .map(|p| format!("templates/{p}")),
        );
        Some(Inputs {
            key,
            own,
            hashed,
            assets: asset_keys(&tops),
        })
    }

    /// The key of each asset's folder, with everything of the registry outside the kinds'
    /// folders (`registry.yaml`, `common/`), which is what reading an asset reads.
    pub fn assets(&self) -> &BTreeMap<(Kind, String), AssetKey> {
        &self.assets
    }
}

/// The keys of [`Inputs::assets`], from the parts of the registry's top two levels.
fn asset_keys(tops: &Tops) -> BTreeMap<(Kind, String), AssetKey> {
    let outside = |own: bool| {
        let parts = tops
            .iter()
            .filter(|(path, _)| !path.contains('/') && Kind::from_folder(path).is_none())
            .flat_map(|(path, (key, mine))| [path.as_bytes(), if own { mine } else { key }]);
        cache::key(parts)
    };
    let (key, own) = (outside(false), outside(true));
    tops.iter()
        .filter_map(|(path, (for_key, for_own))| {
            let (folder, name) = path.split_once('/')?;
            let kind = Kind::from_folder(folder)?;
            // Only folders: a file beside the assets is no asset.
            for_key.starts_with(b"d").then(|| {
                let asset = AssetKey {
                    key: cache::key([key.as_bytes(), for_key.as_slice()]),
                    own: cache::key([own.as_bytes(), for_own.as_slice()]),
                };
                ((kind, name.to_string()), asset)
            })
        })
        .collect()
}

/// The names in `set` that start with `prefix`, without it.
fn prefixed(set: &BTreeSet<String>, prefix: &str) -> BTreeSet<String> {
    set.iter()
        .filter_map(|p| p.strip_prefix(prefix).map(str::to_string))
        .collect()
}

/// What the last build of an output folder read and left, and what it reported.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    format: u32,
    inputs: String,
    inputs_hashed: BTreeSet<String>,
    output: String,
    output_hashed: BTreeSet<String>,
    /// For a signed root: the moment from which a build signs it again (see
    /// `sign::kept_until`), so is no longer skipped.
    kept_until: Option<i64>,
    /// What the summary line says: the registry, the serial, how many files the build made.
    pub subject: String,
    pub serial: u64,
    pub files: usize,
    diagnostics: Vec<Stored>,
    /// The text of each file a diagnostic points into, for its snippet.
    sources: BTreeMap<String, String>,
}

/// A diagnostic as the record keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    code: String,
    message: String,
    /// File, line, column, byte offset and length.
    loc: Option<(String, u32, u32, usize, usize)>,
    help: Option<String>,
    denied: bool,
}

/// What a finished build tells [`Record::new`].
pub struct Done<'a> {
    pub subject: &'a str,
    pub serial: u64,
    pub files: usize,
    pub kept_until: Option<i64>,
    pub report: &'a Report,
}

impl Record {
    /// The record of a build that read `inputs` and left `out` as it is now (looked at under
    /// the build's lock, which is not part of it, with `dirs` listing its folders that did
    /// not change and `seen` the stamps of the files the build found already there); `None`
    /// when the output folder cannot be fingerprinted.
    pub fn new(inputs: Inputs, out: &Path, done: Done, dirs: &Dirs, seen: &Seen) -> Option<Record> {
        let walk = Walk {
            hash_these: &BTreeSet::new(),
            dirs,
            name: OUTPUT,
            seen,
        };
        let output = tree(out, walk, Some(LOCK))?;
        let diagnostics = done
            .report
            .diagnostics
            .iter()
            .map(|d| Stored {
                code: d.code.id.to_string(),
                message: d.message.clone(),
                loc: d
                    .loc
                    .as_ref()
                    .map(|l| (l.file.to_string(), l.line, l.col, l.offset, l.len)),
                help: d.help.as_deref().map(str::to_string),
                denied: d.denied,
            })
            .collect();
        let pointed: BTreeSet<&str> = done
            .report
            .diagnostics
            .iter()
            .filter_map(|d| d.loc.as_ref().map(|l| &*l.file))
            .collect();
        let sources = done
            .report
            .sources
            .iter()
            .filter(|(file, _)| pointed.contains(&***file))
            .map(|(file, text)| (file.to_string(), text.to_string()))
            .collect();
        Some(Record {
            format: FORMAT,
            inputs: inputs.own,
            inputs_hashed: inputs.hashed,
            output: output.own,
            output_hashed: output.hashed,
            kept_until: done.kept_until,
            subject: done.subject.to_string(),
            serial: done.serial,
            files: done.files,
            diagnostics,
            sources,
        })
    }

    /// The record of the output folder `out`, if there is one that can be read.
    pub fn load(out: &Path) -> Option<Record> {
        Record::read(&location(out))
    }

    fn read(path: &Path) -> Option<Record> {
        cache::read_checked::<Record>(path).filter(|r| r.format == FORMAT)
    }

    /// Written atomically, after the build it describes.
    pub fn save(&self, out: &Path) {
        cache::write_checked(&location(out), self);
    }

    /// Whether a build that reads `inputs` at `now` (seconds, as signing counts them) would
    /// leave `out` as it is: the same inputs as this record's, the folder as it was left.
    /// The inputs are fingerprinted by the caller, before the build would read them; the
    /// output's folders are listed with the listings `dirs` gives (only when the rest holds),
    /// which are saved again.
    pub fn holds(
        &self,
        inputs: &Inputs,
        out: &Path,
        now: i64,
        dirs: impl FnOnce() -> Dirs,
    ) -> bool {
        if inputs.key != self.inputs || self.kept_until.is_some_and(|until| now >= until) {
            return false;
        }
        let dirs = dirs();
        let walk = Walk {
            hash_these: &self.output_hashed,
            dirs: &dirs,
            name: OUTPUT,
            seen: &Seen::default(),
        };
        let holds = tree(out, walk, Some(LOCK)).is_some_and(|t| t.key == self.output);
        dirs.save();
        holds
    }

    /// The report of the recorded build, as it was; `None` when a code is no longer known.
    pub fn report(&self) -> Option<Report> {
        let mut report = Report::default();
        let file = |name: &str| -> Arc<str> { Arc::from(name) };
        for d in &self.diagnostics {
            let code = Code::by_id(&d.code)?;
            let loc = d.loc.as_ref().map(|(f, line, col, offset, len)| Loc {
                file: file(f),
                line: *line,
                col: *col,
                offset: *offset,
                len: *len,
            });
            report.push(Diagnostic {
                code,
                message: d.message.clone(),
                loc,
                help: d.help.as_deref().map(Box::from),
                denied: d.denied,
            });
        }
        report.sources = self
            .sources
            .iter()
            .map(|(f, text)| (file(f), Arc::from(text.as_str())))
            .collect();
        Some(report)
    }
}

/// Where the record of the output folder `out` is: beside its build cache.
fn location(out: &Path) -> PathBuf {
    cache::location(out).with_extension(cache::RECORD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Severity, codes};

    /// A walk of a tree with no listings, hashing `hash_these`.
    fn walk(hash_these: &BTreeSet<String>) -> Walk<'_> {
        static NONE: std::sync::LazyLock<(Dirs, Seen)> = std::sync::LazyLock::new(Default::default);
        Walk {
            hash_these,
            dirs: &NONE.0,
            name: "t",
            seen: &NONE.1,
        }
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Files written just now are racy: their content is in the key, and they are named.
    #[test]
    fn racy_files_are_hashed_and_links_or_too_many_are_not_fingerprinted() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "a/x.yaml", "x");
        write(t.path(), "b.md", "b");
        let first = tree(t.path(), walk(&BTreeSet::new()), None).unwrap();
        assert_eq!(
            first.hashed,
            BTreeSet::from(["a/x.yaml".to_string(), "b.md".to_string()])
        );
        assert_eq!(tree(t.path(), walk(&BTreeSet::new()), None), Some(first));
        std::os::unix::fs::symlink(t.path().join("b.md"), t.path().join("a/link")).unwrap();
        assert_eq!(tree(t.path(), walk(&BTreeSet::new()), None), None);
        std::fs::remove_file(t.path().join("a/link")).unwrap();
        // One more racy file than may be hashed, modified in the future: racy however long
        // writing them takes on a slow disk (the files above may have settled meanwhile).
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        for i in 0..=RACY_FILES {
            let rel = format!("many/{i}");
            write(t.path(), &rel, "");
            let file = std::fs::File::options()
                .write(true)
                .open(t.path().join(rel));
            file.unwrap().set_modified(later).unwrap();
        }
        assert_eq!(tree(t.path(), walk(&BTreeSet::new()), None), None);
    }

    /// A file named because it was racy when the last record was made is hashed for the
    /// comparison, but once settled it is not carried into the next record.
    #[test]
    fn a_named_file_that_has_settled_is_hashed_for_the_comparison_only() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "card.md", "text");
        let racy = tree(t.path(), walk(&BTreeSet::new()), None).unwrap();
        assert_eq!(racy.key, racy.own);
        std::thread::sleep(cache::SETTLED + std::time::Duration::from_millis(100));
        let settled = tree(t.path(), walk(&BTreeSet::new()), None).unwrap();
        assert_eq!(
            (settled.key.as_str(), settled.hashed.len()),
            (settled.own.as_str(), 0)
        );
        assert_ne!(settled.key, racy.key);
        let named = tree(t.path(), walk(&racy.hashed), None).unwrap();
        assert_eq!(named.key, racy.key, "compared as the record saw it");
        assert_eq!(named.own, settled.own, "recorded as it is now");
        assert!(named.hashed.is_empty());
    }

    /// An asset's key moves with its own folder and with what is outside the kinds' folders,
    /// and with nothing else.
    #[test]
    fn an_assets_key_covers_its_folder_and_what_is_outside_the_kinds_folders() {
        let t = tempfile::tempdir().unwrap();
        let reg = t.path();
        write(reg, "registry.yaml", "name: r\n");
        write(reg, "common/src/train.py", "print()\n");
        write(reg, "models/a/1/spec.yaml", "path: w\n");
        write(reg, "models/b/1/spec.yaml", "path: w\n");
        write(reg, "data/a/1/spec.yaml", "path: d\n");
        write(reg, "models/notes.txt", "not an asset\n");
        let keys = || {
            Inputs::of(reg, None, &[], None, &Dirs::default())
                .unwrap()
                .assets()
                .clone()
        };
        let first = keys();
        let names: Vec<(Kind, &str)> = first.keys().map(|(k, n)| (*k, n.as_str())).collect();
        assert_eq!(
            names,
            [(Kind::Model, "a"), (Kind::Model, "b"), (Kind::Data, "a")]
        );
        let moved = |before: &BTreeMap<(Kind, String), AssetKey>| -> Vec<String> {
            let now = keys();
            assert_eq!(now.len(), before.len());
            now.iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|((kind, name), _)| format!("{}/{name}", kind.folder()))
                .collect()
        };
        assert!(moved(&first).is_empty(), "the same tree, the same keys");
        let before = keys();
        write(reg, "models/a/1/README.md", "a card\n");
        assert_eq!(moved(&before), ["models/a"]);
        let before = keys();
        write(reg, "models/b/stages.yaml", "[]\n");
        assert_eq!(moved(&before), ["models/b"]);
        let before = keys();
        write(reg, "models/notes.txt", "still not an asset\n");
        assert!(moved(&before).is_empty());
        let before = keys();
        write(reg, "common/src/train.py", "print(1)\n");
        assert_eq!(moved(&before).len(), 3);
        let before = keys();
        write(reg, "registry.yaml", "name: r2\n");
        assert_eq!(moved(&before).len(), 3);
    }

    #[test]
    fn a_record_holds_for_the_same_inputs_and_output_until_its_root_would_be_signed_again() {
        let t = tempfile::tempdir().unwrap();
        let (reg, out) = (t.path().join("registry"), t.path().join("out"));
        write(&reg, "models/m/1/spec.yaml", "path: w\n");
        write(&out, "index.html", "<p>site</p>");
        let inputs = || Inputs::of(&reg, None, &[b"given"], None, &Dirs::default()).unwrap();
        let file: Arc<str> = Arc::from("registry/models/m/1/spec.yaml");
        let mut report = Report::default();
        report.push(
            Diagnostic::new(
                codes::UNKNOWN_CARD_KEY,
                Some(Loc {
                    file: file.clone(),
                    line: 1,
                    col: 1,
                    offset: 0,
                    len: 4,
                }),
                "a warning",
            )
            .help("some help"),
        );
        report.sources.insert(file, Arc::from("path: w\n"));
        let done = Done {
            subject: "registry r",
            serial: 3,
            files: 1,
            kept_until: Some(100),
            report: &report,
        };
        let record = Record::new(inputs(), &out, done, &Dirs::default(), &Seen::default()).unwrap();
        assert!(record.holds(&inputs(), &out, 99, Dirs::default));
        assert!(
            !record.holds(&inputs(), &out, 100, Dirs::default),
            "the root is signed again"
        );
        let other = Inputs::of(&reg, None, &[b"other"], None, &Dirs::default()).unwrap();
        assert!(!record.holds(&other, &out, 99, Dirs::default));

        // Saved and loaded whole, report included; a flipped byte and it is gone.
        let path = t.path().join("cache/builds/out.fresh.json");
        cache::write_checked(&path, &record);
        let saved = Record::read(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(Record::read(&path).is_none());
        assert!(saved.holds(&inputs(), &out, 0, Dirs::default));
        let again = saved.report().unwrap();
        assert_eq!(again.count(Severity::Warning), 1);
        assert_eq!(again.render_human(false), report.render_human(false));

        // Another build's lock is not a change (it has not written yet), nor is the lock of
        // the build that looked.
        write(&out, LOCK, "123");
        assert!(record.holds(&inputs(), &out, 0, Dirs::default));
        std::fs::remove_file(out.join(LOCK)).unwrap();
        // The output folder changed: a file added, or one rewritten.
        write(&out, "stray.html", "");
        assert!(!record.holds(&inputs(), &out, 0, Dirs::default));
        std::fs::remove_file(out.join("stray.html")).unwrap();
        assert!(record.holds(&inputs(), &out, 0, Dirs::default));
        write(&out, "index.html", "<p>SITE</p>");
        assert!(!record.holds(&inputs(), &out, 0, Dirs::default));
    }
}
