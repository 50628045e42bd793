//! The entries of folders as the last build of an output folder saw them, kept between builds
//! and keyed by each folder's stamp: a folder whose stamp has not moved (no entry came, went
//! or was renamed in it since) is not read again. Reading a folder (open, list, close) costs
//! this machine four stats; a registry of 10,000 versions has 32,000 folders and its output
//! 14,000, and every build looks at both (`fresh` to fingerprint them, the sweep to find what
//! no build produced).
//!
//! Kept beside the build cache, in two files of their own (`<cache>.inputs.dirs` for the
//! registry and templates, `<cache>.output.dirs`, see `cache::location`): a SHA-256 of the
//! rest, then the rest (postcard). Correctness never depends on it: a file that
//! does not read, whose checksum is wrong or whose format is another is not used; a listing is
//! used only while its folder's stamp is the one it was read under, and a folder modified
//! within [`cache::SETTLED`] of being read is not kept (a change within the same timestamp
//! tick would not move its stamp). The files a listing names are still looked at one by one
//! by whoever reads it.
//!
//! That a folder's stamp moves with its entries holds on local file systems; on a network or
//! user-space one (NFS, SMB, FUSE mounts such as blobfuse or sshfs) a folder's time may stay
//! while its entries change, or show another machine's change late. So a listing is kept and
//! used only for a folder on a file system known to be local (see `local`), asked once per
//! file system a build meets (a folder mounted inside a tree is on another); elsewhere every
//! folder is read, every build.

use crate::publish::cache::{self, Stamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Its format: another is not read.
const FORMAT: u32 = 2;

/// The extension of the files, beside the build cache: one for the folders a build reads
/// (registry, templates), one for the output's. Each is loaded only while it is used, so
/// neither is held while the registry is planned and rendered.
pub const EXTENSION: &str = "dirs";

/// The two sets of listings kept for an output folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Inputs,
    Output,
}

/// What an entry of a folder is (not through a link).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    File,
    Folder,
    Link,
    /// A socket, a pipe, a device.
    Other,
}

impl Entry {
    fn of(t: std::fs::FileType) -> Entry {
        match () {
            _ if t.is_symlink() => Entry::Link,
            _ if t.is_dir() => Entry::Folder,
            _ if t.is_file() => Entry::File,
            _ => Entry::Other,
        }
    }
}

/// A folder as it was read: its stamp then, and its entries, sorted by name: their names
/// joined by `/` (which no name holds) and what each is, a letter each. (Two strings, not a
/// pair per entry: the 150,000 entries of 10,000 versions are read in two copies per folder.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    stamp: Stamp,
    names: String,
    entries: String,
}

impl Entry {
    fn letter(self) -> char {
        match self {
            Entry::File => 'f',
            Entry::Folder => 'd',
            Entry::Link => 'l',
            Entry::Other => 'o',
        }
    }

    fn from_letter(letter: u8) -> Entry {
        match letter {
            b'f' => Entry::File,
            b'd' => Entry::Folder,
            b'l' => Entry::Link,
            _ => Entry::Other,
        }
    }
}

impl Listing {
    fn new<'a>(stamp: Stamp, entries: impl IntoIterator<Item = (&'a str, Entry)>) -> Listing {
        let mut listing = Listing {
            stamp,
            names: String::new(),
            entries: String::new(),
        };
        for (name, entry) in entries {
            if !listing.entries.is_empty() {
                listing.names.push('/');
            }
            listing.names.push_str(name);
            listing.entries.push(entry.letter());
        }
        listing
    }

    fn entries(&self) -> impl Iterator<Item = (&str, Entry)> {
        let entries = self.entries.bytes().map(Entry::from_letter);
        self.names.split('/').zip(entries)
    }
}

#[derive(Deserialize)]
struct Stored {
    format: u32,
    /// By name, sorted.
    listings: Vec<(String, Listing)>,
}

/// A [`Stored`] as it is written, borrowing the listings.
#[derive(Serialize)]
struct Storing<'a> {
    format: u32,
    #[serde(serialize_with = "shared")]
    listings: &'a BTreeMap<String, Arc<Listing>>,
}

fn shared<S: serde::Serializer>(
    listings: &&BTreeMap<String, Arc<Listing>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(listings.iter().map(|(name, l)| (name, &**l)))
}

/// The listings one build reads (the previous build's) and keeps (its own), by a name the
/// caller gives each folder (the tree it is in, then its path in that tree).
#[derive(Default)]
pub struct Dirs {
    old: HashMap<String, Arc<Listing>>,
    new: Mutex<BTreeMap<String, Arc<Listing>>>,
    /// Where they are saved; none for a build that keeps none.
    file: Option<PathBuf>,
    /// Whether a folder's stamp moves with its entries, by the file system (device) it is on.
    local: Mutex<HashMap<u64, bool>>,
}

/// A folder's entries, sorted by name: as the last build kept them, or as just read.
pub enum Listed {
    Kept(Arc<Listing>),
    Read(Vec<(OsString, Entry)>),
}

impl Listed {
    pub fn entries(&self) -> Vec<(&OsStr, Entry)> {
        match self {
            Listed::Kept(l) => l.entries().map(|(n, e)| (OsStr::new(n), e)).collect(),
            Listed::Read(entries) => entries.iter().map(|(n, e)| (n.as_os_str(), *e)).collect(),
        }
    }
}

impl Dirs {
    /// The listings kept, as `part`, for the output folder `out`; none when they cannot be
    /// read.
    pub fn load(out: &Path, part: Part) -> Dirs {
        Dirs::read(&location(out, part))
    }

    fn read(path: &Path) -> Dirs {
        let old = read(path).unwrap_or_default();
        Dirs {
            old: old.into_iter().map(|(k, l)| (k, Arc::new(l))).collect(),
            file: Some(path.to_path_buf()),
            ..Dirs::default()
        }
    }

    /// The entries of the folder `dir`, named `name`: as listed before when its stamp is
    /// unchanged, else read (and kept when it has settled); always read on a file system not
    /// known to be local. An error when it cannot be read.
    pub fn list(&self, name: &str, dir: &Path) -> std::io::Result<Listed> {
        let stamp = Stamp::of_dir(dir).filter(|s| self.local(s, dir));
        if let Some(stamp) = stamp
            && let Some(listing) = self.old.get(name).filter(|l| l.stamp == stamp)
        {
            self.keep(name, listing.clone());
            return Ok(Listed::Kept(listing.clone()));
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            entries.push((entry.file_name(), Entry::of(entry.file_type()?)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // Only UTF-8 names are kept: no build makes another, and one in a registry is rare.
        let named: Option<Vec<(&str, Entry)>> = entries
            .iter()
            .map(|(n, e)| n.to_str().map(|n| (n, *e)))
            .collect();
        match (stamp.filter(Stamp::settled), named) {
            (Some(stamp), Some(named)) => self.keep(name, Arc::new(Listing::new(stamp, named))),
            _ => self.forget(name),
        }
        Ok(Listed::Read(entries))
    }

    /// Listings of folders (name, stamp, entries) as if a build before had kept them,
    /// settled or not.
    #[cfg(test)]
    pub fn listed<'a>(
        listings: impl IntoIterator<Item = (&'a str, Stamp, &'a [(&'a str, Entry)])>,
    ) -> Dirs {
        let listing = |(name, stamp, entries): (&str, Stamp, &[(&str, Entry)])| {
            let listing = Listing::new(stamp, entries.iter().copied());
            (name.to_string(), Arc::new(listing))
        };
        Dirs {
            old: listings.into_iter().map(listing).collect(),
            ..Dirs::default()
        }
    }

    /// Whether the folder `dir`, of stamp `stamp`, is on a local file system: asked of the
    /// system the first time its device is met.
    fn local(&self, stamp: &Stamp, dir: &Path) -> bool {
        let known = self
            .local
            .lock()
            .expect("no panics while held")
            .get(&stamp.device())
            .copied();
        known.unwrap_or_else(|| {
            let local = on_local(dir);
            let mut devices = self.local.lock().expect("no panics while held");
            devices.insert(stamp.device(), local);
            local
        })
    }

    /// Forget the folder named `name`: its caller changed it after listing it.
    pub fn forget(&self, name: &str) {
        self.new.lock().expect("no panics while held").remove(name);
    }

    fn keep(&self, name: &str, listing: Arc<Listing>) {
        let mut new = self.new.lock().expect("no panics while held");
        new.insert(name.to_string(), listing);
    }

    /// Write the listings kept by this build where they were loaded from (temp file +
    /// rename), unless they are what was read. A failure only costs the next build its
    /// shortcuts.
    pub fn save(self) {
        let listings = self.new.into_inner().expect("no panics while held");
        let unchanged = |(name, l): (&String, &Arc<Listing>)| {
            self.old.get(name).is_some_and(|o| Arc::ptr_eq(o, l))
        };
        let same = listings.len() == self.old.len() && listings.iter().all(unchanged);
        if let Some(path) = &self.file
            && !same
        {
            write(path, &listings);
        }
    }
}

/// Whether `dir` is on a local file system, by the kind `statfs` says it is (see [`local`]).
#[cfg(target_os = "linux")]
fn on_local(dir: &Path) -> bool {
    // The magic is a C long on some targets, an int on others: its 32 bits are the number.
    rustix::fs::statfs(dir).is_ok_and(|s| local(s.f_type as u32))
}

/// Only Linux is asked; elsewhere no file system is taken as local, and folders are read.
#[cfg(not(target_os = "linux"))]
fn on_local(_: &Path) -> bool {
    false
}

/// Whether a file system, by its Linux magic number, is one of the local ones, on which a
/// folder's modification time moves whenever an entry is made, removed or renamed in it.
/// Any other (NFS, SMB and CIFS, FUSE, 9p, virtiofs, a kind unknown here) is not.
#[cfg(target_os = "linux")]
fn local(magic: u32) -> bool {
    const LOCAL: [u32; 9] = [
        0x0000_EF53, // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x2FC1_2FC1, // zfs
        0xF2F5_2010, // f2fs
        0xCA45_1A4E, // bcachefs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x794C_7630, // overlayfs, a container's: its upper folder is a local one's
    ];
    LOCAL.contains(&magic)
}

/// Where the listings `part` of the output folder `out` are: beside its build cache.
pub fn location(out: &Path, part: Part) -> PathBuf {
    let part = match part {
        Part::Inputs => "inputs",
        Part::Output => "output",
    };
    cache::location(out).with_extension(format!("{part}.{EXTENSION}"))
}

fn read(path: &Path) -> Option<Vec<(String, Listing)>> {
    let stored: Stored = postcard::from_bytes(&cache::read_sealed(path)?).ok()?;
    (stored.format == FORMAT).then_some(stored.listings)
}

fn write(path: &Path, listings: &BTreeMap<String, Arc<Listing>>) {
    let stored = Storing {
        format: FORMAT,
        listings,
    };
    let made = path
        .parent()
        .is_some_and(|p| std::fs::create_dir_all(p).is_ok());
    if made && let Ok(rest) = postcard::to_stdvec(&stored) {
        cache::write_sealed(path, &rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(listed: &Listed) -> Vec<String> {
        let name = |(n, e): (&OsStr, Entry)| format!("{}:{e:?}", n.to_string_lossy());
        listed.entries().into_iter().map(name).collect()
    }

    /// A folder left alone is kept and then listed as kept (a file the listing does not name
    /// stays unseen: proof that it was not read); one that changed is read; a broken file is
    /// not used.
    #[test]
    fn a_folder_is_listed_from_the_last_build_while_its_stamp_holds() {
        let t = tempfile::tempdir().unwrap();
        let (dir, path) = (t.path().join("d"), t.path().join("cache/out.dirs"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b"), "b").unwrap();
        std::thread::sleep(cache::SETTLED + std::time::Duration::from_millis(100));
        let first = Dirs::read(&path);
        let device = Stamp::of_dir(&dir).unwrap().device();
        // Wherever the test runs: the folder's file system is taken as local (a test below
        // asks the system).
        first.local.lock().unwrap().insert(device, true);
        let listed = first.list("tree/d", &dir).unwrap();
        assert_eq!(names(&listed), ["b:File", "sub:Folder"]);
        first.save();
        // The stamp moves with any entry made; a listing under the old one is not used.
        let second = Dirs::read(&path);
        assert_eq!(second.old.len(), 1);
        let stamp = Stamp::of_dir(&dir).unwrap();
        assert_eq!(second.old["tree/d"].stamp, stamp);
        let (b, sub, unseen) = (
            ("b", Entry::File),
            ("sub", Entry::Folder),
            ("unseen", Entry::File),
        );
        let kept = || Dirs::listed([("tree/d", stamp, &[b, sub, unseen][..])]);
        // On a file system not known to be local, the folder is read, and not kept.
        let elsewhere = kept();
        elsewhere.local.lock().unwrap().insert(device, false);
        let listed = elsewhere.list("tree/d", &dir).unwrap();
        assert_eq!(names(&listed), ["b:File", "sub:Folder"]);
        assert!(elsewhere.new.lock().unwrap().is_empty());
        let second = kept();
        second.local.lock().unwrap().insert(device, true);
        let listed = second.list("tree/d", &dir).unwrap();
        assert_eq!(names(&listed), ["b:File", "sub:Folder", "unseen:File"]);
        std::fs::write(dir.join("c"), "c").unwrap();
        let listed = second.list("tree/d", &dir).unwrap();
        assert_eq!(names(&listed), ["b:File", "c:File", "sub:Folder"]);
        assert!(
            second.new.lock().unwrap().is_empty(),
            "just changed: not kept"
        );
        // A flipped byte and the file is not used.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(Dirs::read(&path).old.is_empty());
    }

    /// Local file systems by their magic numbers, and network and user-space ones that are not.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_local_file_systems_are_taken_as_moving_a_folders_time() {
        for (magic, name) in [
            (0xEF53, "ext4"),
            (0x5846_5342, "xfs"),
            (0x0102_1994, "tmpfs"),
        ] {
            assert!(local(magic), "{name}");
        }
        for (magic, name) in [
            (0x6969, "nfs"),
            (0xFF53_4D42, "cifs"),
            (0xFE53_4D42, "smb2"),
            (0x6573_5546, "fuse (blobfuse, sshfs, virtiofs)"),
            (0x0102_1997, "9p"),
            (0, "unknown"),
        ] {
            assert!(!local(magic), "{name}");
        }
        // This machine's temporary folder is asked once, then known by its device.
        let t = tempfile::tempdir().unwrap();
        let dirs = Dirs::default();
        let stamp = Stamp::of_dir(t.path()).unwrap();
        let asked = dirs.local(&stamp, t.path());
        assert_eq!(asked, on_local(t.path()));
        assert_eq!(dirs.local.lock().unwrap()[&stamp.device()], asked);
    }
}
