//! The checked manifests of each asset, kept between builds of an output folder, so that a
//! rebuild reads and checks again only the assets whose folders changed: at 10,000 versions,
//! reading, parsing and checking every manifest was a quarter of a one-card rebuild.
//!
//! An asset is stored as `load` left it (its manifests decoded and checked, with what checking
//! them said) under a key over everything loading it reads: its folder (every file's stamp,
//! and content where a stamp cannot be trusted, as `fresh` fingerprints the registry before a
//! build reads it), the registry's files outside the kinds' folders (`registry.yaml`,
//! `common/`), the registry folder as given and as shown, and the mlreg executable. It is lent
//! to the next load only when that key is the same. As `fresh` has two keys for a tree, an
//! asset has two: the one this build compares, and the one the next build will (a file the
//! last build saw racy is hashed by this build, not by the next once it has settled). Assets
//! are looked up by the first and stored under the second: one lent whose two differ is stored
//! again, without being read again. What joins assets (references, stages, used-by lists) is
//! worked out again on every build, from every asset.
//!
//! One file per asset in a folder beside the build cache (`<cache>.assets/`), so that a
//! rebuild writes only the changed assets' files: a SHA-256 of the rest, then the rest
//! (postcard). Correctness never depends on it: a file that does not read, whose checksum or
//! key is wrong, or whose format is another is not used, and the asset is read from its folder.

use crate::diag::{Diagnostic, interned};
use crate::publish::fresh::{AssetKey, Inputs};
use crate::publish::{cache, hash};
use crate::registry::kind::Kind;
use crate::registry::load::{Earlier, Loaded, LoadedAsset};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Its format: another is not read. (The executable is in every key, so a change to the types
/// stored needs no new format; a change to how they are written does.)
const FORMAT: u32 = 1;

/// The extension of the memo's folder, beside the build cache.
pub const EXTENSION: &str = "assets";

/// One asset's file, after its checksum.
#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    key: String,
    /// The file names `body` refers to by index (see `diag::interned`).
    names: Vec<String>,
    /// A [`Stored`], in postcard.
    body: Vec<u8>,
}

/// What is kept of an asset: what loading it made and said (written as a `Storing`, which
/// borrows them).
#[derive(Deserialize)]
struct Stored {
    asset: LoadedAsset,
    said: Vec<Diagnostic>,
}

/// The memo of one output folder, for one build: each asset's key, and which assets it lent.
pub struct Memo {
    dir: PathBuf,
    keys: BTreeMap<(Kind, String), AssetKey>,
    lent: BTreeSet<(Kind, String)>,
}

impl Memo {
    /// The memo of the output folder `out`, for a build of the registry `dir` (shown as
    /// `display`) whose inputs are `inputs`.
    pub fn new(out: &Path, dir: &Path, display: &str, inputs: &Inputs) -> Memo {
        let executable = cache::executable();
        let format = FORMAT.to_le_bytes();
        let dir_bytes = dir.as_os_str().as_encoded_bytes();
        let key = |folder: &str| {
            let parts: [&[u8]; 5] = [
                &format,
                executable.as_bytes(),
                dir_bytes,
                display.as_bytes(),
                folder.as_bytes(),
            ];
            cache::key(parts)
        };
        let keys = inputs
            .assets()
            .iter()
            .map(|(asset, folder)| {
                let keys = AssetKey {
                    key: key(&folder.key),
                    own: key(&folder.own),
                };
                (asset.clone(), keys)
            })
            .collect();
        Memo {
            dir: cache::location(out).with_extension(EXTENSION),
            keys,
            lent: BTreeSet::new(),
        }
    }

    /// Every asset whose stored key is its key now, to lend to the load.
    pub fn lend(&mut self) -> Earlier {
        let found: Vec<((Kind, String), Stored)> = self
            .keys
            .par_iter()
            .filter_map(|(asset, keys)| Some((asset.clone(), self.read(asset, &keys.key)?)))
            .collect();
        self.lent = found.iter().map(|(asset, _)| asset.clone()).collect();
        Earlier::of(
            found
                .into_iter()
                .map(|(asset, stored)| (asset, (stored.asset, stored.said))),
        )
    }

    /// How many assets [`Memo::lend`] lent.
    pub fn hits(&self) -> usize {
        self.lent.len()
    }

    /// Store each asset of `loaded` it did not lend, or lent under another key than the next
    /// build's, and remove the files of assets that are no longer there. A failure only costs
    /// the next build its shortcut.
    pub fn keep(&self, loaded: &Loaded) {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        loaded
            .checked()
            .filter_map(|(asset, la, said)| {
                let keys = self.keys.get(asset)?;
                let stored = self.lent.contains(asset) && keys.key == keys.own;
                (!stored).then_some((asset, &keys.own, la, said))
            })
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(|(asset, key, la, said)| self.write(asset, key, la, said));
        let wanted: BTreeSet<String> = self.keys.keys().map(file_name).collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !wanted.contains(&*entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn read(&self, asset: &(Kind, String), key: &str) -> Option<Stored> {
        let rest = cache::read_sealed(&self.dir.join(file_name(asset)))?;
        let entry: Entry = postcard::from_bytes(&rest).ok()?;
        if entry.format != FORMAT || entry.key != key {
            return None;
        }
        let names = entry.names.into_iter().map(Arc::from).collect();
        let stored: Stored = interned::reading(names, || postcard::from_bytes(&entry.body).ok())?;
        (stored.asset.kind == asset.0 && stored.asset.name == asset.1).then_some(stored)
    }

    fn write(&self, asset: &(Kind, String), key: &str, la: &LoadedAsset, said: &[Diagnostic]) {
        #[derive(Serialize)]
        struct Storing<'a> {
            asset: &'a LoadedAsset,
            said: &'a [Diagnostic],
        }
        let (body, names) = interned::writing(|| postcard::to_stdvec(&Storing { asset: la, said }));
        let Ok(body) = body else {
            return;
        };
        let entry = Entry {
            format: FORMAT,
            key: key.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            body,
        };
        if let Ok(rest) = postcard::to_stdvec(&entry) {
            cache::write_sealed(&self.dir.join(file_name(asset)), &rest);
        }
    }
}

/// The file of an asset in the memo's folder: named by a hash, as asset names that do not check
/// are stored too.
fn file_name((kind, name): &(Kind, String)) -> String {
    hash::sha256(format!("{}/{name}", kind.folder()).as_bytes())[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::load::Loader;
    use crate::registry::validate::PathRules;

    /// A copy of the sample registry, with a warning in one card (loading says something).
    fn sample() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("registry");
        for entry in walkdir::WalkDir::new(&from) {
            let entry = entry.unwrap();
            let to = t.path().join(entry.path().strip_prefix(&from).unwrap());
            match entry.file_type().is_dir() {
                true => std::fs::create_dir_all(&to).unwrap(),
                false => drop(std::fs::copy(entry.path(), &to).unwrap()),
            }
        }
        let card = t.path().join("models/credit-default/3/README.md");
        let text = std::fs::read_to_string(&card).unwrap();
        std::fs::write(&card, format!("---\ncolour: red\n---\n{text}")).unwrap();
        t
    }

    fn load(dir: &Path, earlier: Earlier) -> Loaded {
        Loader::new(PathRules::VERSION).load_registry_after(dir, "registry", earlier)
    }

    /// Every asset of the sample registry, stored and lent to a load, is what loading it made
    /// and said (compared as `Debug` shows them, every field); an asset whose key changed,
    /// whose file has a flipped byte or holds another asset is read from its folder again.
    #[test]
    fn stored_assets_come_back_as_they_were_loaded_and_only_under_their_key() {
        let reg = sample();
        let cache = tempfile::tempdir().unwrap();
        let fresh = load(reg.path(), Earlier::default());
        assert!(
            fresh
                .checked()
                .any(|(_, _, said)| said.iter().any(|d| d.code.id == "W096")),
            "the sample says something"
        );
        let keys: BTreeMap<(Kind, String), String> = fresh
            .checked()
            .map(|(asset, _, _)| (asset.clone(), format!("key of {}", asset.1)))
            .collect();
        // Looked up by `keys`, stored under `next` (by default the same).
        let memo_next = |keys: &BTreeMap<(Kind, String), String>, next: &dyn Fn(&str) -> String| {
            let keys = keys
                .iter()
                .map(|(asset, key)| {
                    let own = next(key);
                    (
                        asset.clone(),
                        AssetKey {
                            key: key.clone(),
                            own,
                        },
                    )
                })
                .collect();
            Memo {
                dir: cache.path().join("memo"),
                keys,
                lent: BTreeSet::new(),
            }
        };
        let memo = |keys: &BTreeMap<(Kind, String), String>| memo_next(keys, &|k| k.to_string());
        memo(&keys).keep(&fresh);
        let mut again = memo(&keys);
        let lent = load(reg.path(), again.lend());
        assert_eq!(again.hits(), keys.len());
        assert_eq!(format!("{lent:?}"), format!("{fresh:?}"));

        // Not lent: a changed key, a flipped byte, a file moved under another asset's name
        // (with that asset's key made the same as the one it holds).
        let mut names = keys.keys();
        let (changed, flipped, moved, source) = (
            names.next().unwrap().clone(),
            names.next().unwrap().clone(),
            names.next().unwrap().clone(),
            names.next().unwrap().clone(),
        );
        let mut keys = keys.clone();
        keys.insert(changed.clone(), "another key".into());
        let path = |asset: &(Kind, String)| cache.path().join("memo").join(file_name(asset));
        let mut bytes = std::fs::read(path(&flipped)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path(&flipped), bytes).unwrap();
        std::fs::copy(path(&source), path(&moved)).unwrap();
        keys.insert(moved.clone(), keys[&source].clone());
        let mut again = memo(&keys);
        let lent = load(reg.path(), again.lend());
        assert_eq!(again.hits(), keys.len() - 3);
        for asset in [&changed, &flipped, &moved] {
            assert!(!again.lent.contains(asset), "{asset:?} was lent");
        }
        assert_eq!(format!("{lent:?}"), format!("{fresh:?}"));

        // Kept again: the three rewritten, and the file of an asset no longer there removed.
        std::fs::write(cache.path().join("memo/gone"), "an asset deleted since").unwrap();
        again.keep(&lent);
        assert!(!cache.path().join("memo/gone").exists());
        let mut last = memo(&keys);
        last.lend();
        assert_eq!(last.hits(), keys.len());

        // Lent under this build's keys and stored again under the next build's, where they
        // differ (a file seen racy has settled), without being read again.
        let next = |k: &str| format!("next {k}");
        let mut settling = memo_next(&keys, &next);
        let lent = load(reg.path(), settling.lend());
        assert_eq!(settling.hits(), keys.len());
        settling.keep(&lent);
        let moved: BTreeMap<(Kind, String), String> =
            keys.iter().map(|(a, k)| (a.clone(), next(k))).collect();
        let mut after = memo(&moved);
        let lent = load(reg.path(), after.lend());
        assert_eq!(after.hits(), keys.len());
        assert_eq!(format!("{lent:?}"), format!("{fresh:?}"));
        let mut before = memo(&keys);
        before.lend();
        assert_eq!(before.hits(), 0);
    }
}
