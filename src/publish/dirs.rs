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
            new: Mutex::default(),
            file: Some(path.to_path_buf()),
        }
    }

    /// The entries of the folder `dir`, named `name`: as listed before when its stamp is
    /// unchanged, else read (and kept when it has settled). An error when it cannot be read.
    pub fn list(&self, name: &str, dir: &Path) -> std::io::Result<Listed> {
        let stamp = Stamp::of_dir(dir);
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
        let second = Dirs::listed([("tree/d", stamp, &[b, sub, unseen][..])]);
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
}
