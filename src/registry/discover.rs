//! Walking the registry folder: which file is what, in a fixed order, and what does not belong.
//!
//! Only names and file types are looked at here, never contents. Dot-files and dot-folders are
//! skipped; anything else the layout of `docs/format.md` does not name is an error, so a typo
//! like `modles/` is reported rather than silently ignored.
//!
//! [`discover`] walks the top of the registry; [`asset`] walks one asset folder, so that the
//! asset folders, which hold nearly every file, are walked in parallel (by `load`).

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::kind::Kind;
use crate::registry::validate::Listing;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use walkdir::WalkDir;

/// The top-level folder of files that versions share; a version that names something in it
/// ships a copy (see `docs/format.md`).
pub const COMMON: &str = "common";

#[derive(Debug, Default)]
pub struct Layout {
    pub has_registry_yaml: bool,
    /// The asset folders, by kind and name; what is in each is for [`asset`] to find.
    pub assets: BTreeSet<(Kind, String)>,
    /// The registry folder's canonical path, which symlinks are checked against.
    pub canon_root: PathBuf,
}

#[derive(Debug)]
pub struct AssetDir {
    pub has_asset_yaml: bool,
    pub has_stages_yaml: bool,
    pub versions: BTreeMap<String, VersionDir>,
}

#[derive(Debug, Default)]
pub struct VersionDir {
    pub has_spec: bool,
    pub has_lineage: bool,
    pub has_card: bool,
    /// Every file in the folder, relative to it, `/`-separated, sorted.
    pub files: Vec<String>,
    /// Those of `files` not to be taken at the listing's word: not regular files (FIFOs,
    /// sockets, devices, which are never opened without a look), or named with a backslash,
    /// which `files` shows as a `/`.
    pub special: Vec<String>,
}

impl VersionDir {
    /// Whether `name` is listed as a regular file.
    pub fn regular(&self, name: &str) -> bool {
        !self.special.iter().any(|f| f == name)
    }

    pub fn listing(&self) -> Listing<'_> {
        Listing {
            files: &self.files,
            special: &self.special,
        }
    }
}

/// The display path of `rel` inside the registry shown as `display`.
pub fn shown(display: &str, rel: &str) -> Arc<str> {
    if display.is_empty() || display == "." {
        Arc::from(rel)
    } else {
        Arc::from(format!("{}/{}", display.trim_end_matches('/'), rel))
    }
}

/// The top of the registry: `registry.yaml`, `common/` and which asset folders there are. The
/// asset folders, where nearly all the files are, are walked by [`asset`], one per asset, so
/// that they can be walked in parallel.
pub fn discover(root: &Path, display: &str, diags: &mut Vec<Diagnostic>) -> Layout {
    let mut layout = Layout {
        canon_root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        ..Layout::default()
    };
    let canon_root = layout.canon_root.clone();
    let assets = &mut layout.assets;
    let mut has_registry_yaml = false;
    walk(root, &canon_root, root, display, diags, |e, diags| {
        match (e.parts, e.is_dir) {
            (["registry.yaml"], false) => has_registry_yaml = true,
            (["README.md"], false) => {}
            // Files versions share (`code: ../../../common/src`); what is in it is free-form.
            ([COMMON, ..], _) => {}
            ([top], is_dir) => {
                if let Some(kind) = Kind::from_folder(top).filter(|_| is_dir) {
                    let dir = root.join(top);
                    list(root, &canon_root, &dir, display, diags, |e, diags| {
                        match e.is_dir {
                            true => {
                                assets.insert((kind, e.parts[0].to_string()));
                            }
                            false => e.unexpected(
                                diags,
                                &format!("`{top}/` holds one folder per asset, not files"),
                                Some(format!("move it to {top}/<name>/<version>/")),
                            ),
                        }
                        // What is in an asset folder is for `asset` to walk.
                        false
                    });
                    return false;
                }
                let kinds: Vec<&str> = Kind::ALL
                    .iter()
                    .map(|k| k.folder())
                    .chain(["registry.yaml", "README.md", COMMON])
                    .collect();
                let help = crate::registry::decode::nearest(top, &kinds)
                    .map(|n| format!("did you mean `{n}`?"));
                e.unexpected(
                    diags,
                    &format!(
                        "`{top}` is not part of a registry (models/, components/, environments/, data/, common/, registry.yaml)"
                    ),
                    help,
                );
                return false;
            }
            _ => {}
        }
        true
    });
    layout.has_registry_yaml = has_registry_yaml;
    layout
}

/// Asset names that differ only by case, which collide on case-insensitive disks and in URLs.
pub fn collisions<'a>(
    assets: impl Iterator<Item = (Kind, &'a str)>,
    display: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<(Kind, String), &str> = BTreeMap::new();
    for (kind, name) in assets {
        if let Some(first) = seen.insert((kind, name.to_lowercase()), name) {
            let file = shown(display, &format!("{}/{name}", kind.folder()));
            diags.push(
                Diagnostic::new(
                    codes::CASE_COLLISION,
                    Some(Loc::file(&file)),
                    format!(
                        "{} `{name}` differs from `{first}` only by case",
                        kind.singular()
                    ),
                )
                .help("names are compared case-insensitively: rename one of them"),
            );
        }
    }
}

/// One asset folder of the layout: its manifests, its versions and every file in them.
/// `None` when the folder cannot be read (which is reported).
pub fn asset(
    root: &Path,
    layout: &Layout,
    display: &str,
    kind: Kind,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<AssetDir> {
    let mut asset = AssetDir {
        has_asset_yaml: false,
        has_stages_yaml: false,
        versions: BTreeMap::new(),
    };
    let dir = root.join(kind.folder()).join(name);
    let read = walk(
        root,
        &layout.canon_root,
        &dir,
        display,
        diags,
        |e, diags| {
            match (e.parts, e.is_dir) {
                (["asset.yaml"], false) => asset.has_asset_yaml = true,
                (["stages.yaml"], false) => asset.has_stages_yaml = true,
                ([version], true) => {
                    asset
                        .versions
                        .insert(version.to_string(), VersionDir::default());
                }
                ([other], false) => {
                    let top = kind.folder();
                    let help = match *other {
                        "spec.yaml" | "spec.yml" | "README.md" | "lineage.yaml" => Some(format!(
                            "version files go in a version folder: {top}/{name}/<version>/{other}"
                        )),
                        _ => {
                            crate::registry::decode::nearest(other, &["asset.yaml", "stages.yaml"])
                                .map(|n| format!("did you mean `{n}`?"))
                        }
                    };
                    e.unexpected(
                    diags,
                    &format!(
                        "`{other}` does not belong in an asset folder (asset.yaml, stages.yaml and version folders do)"
                    ),
                    help,
                );
                }
                ([version, rest @ ..], false) => {
                    let Some(v) = asset.versions.get_mut(*version) else {
                        return true;
                    };
                    let inner = rest.join("/");
                    match inner.as_str() {
                        "spec.yaml" => v.has_spec = true,
                        "lineage.yaml" => v.has_lineage = true,
                        "README.md" => v.has_card = true,
                        _ => {}
                    }
                    if !e.is_file || e.backslash {
                        v.special.push(inner.clone());
                    }
                    v.files.push(inner);
                }
                _ => {}
            }
            true
        },
    );
    if !read {
        return None;
    }
    version_collisions(&asset, display, kind, name, diags);
    deceptive_names(&asset, display, kind, name, diags);
    Some(asset)
}

/// An entry of a walk, for the layout to judge.
struct Entry<'a> {
    /// Its path below the folder walked, split at `/`.
    parts: &'a [&'a str],
    is_dir: bool,
    /// A regular file.
    is_file: bool,
    /// Its name holds a backslash, which `parts` and `rel` show as a `/`.
    backslash: bool,
    /// Its path below the registry folder, and how that folder is shown.
    rel: &'a str,
    display: &'a str,
}

impl Entry<'_> {
    /// Report the entry as something that does not belong where it is.
    fn unexpected(&self, diags: &mut Vec<Diagnostic>, why: &str, help: Option<String>) {
        let mut d = Diagnostic::new(
            codes::UNEXPECTED_FILE,
            Some(Loc::file(&shown(self.display, self.rel))),
            why.to_string(),
        );
        if let Some(h) = help {
            d = d.help(h);
        }
        diags.push(d);
    }
}

/// Walk the folder `dir` of the registry at `root` in name order, skipping dot-files. What
/// cannot be read, names that are not UTF-8 and symlinks are reported here; every other entry
/// goes to `visit`, which says whether to go into it (when it is a folder). Whether `dir`
/// itself could be read.
fn walk(
    root: &Path,
    canon_root: &Path,
    dir: &Path,
    display: &str,
    diags: &mut Vec<Diagnostic>,
    mut visit: impl FnMut(&Entry, &mut Vec<Diagnostic>) -> bool,
) -> bool {
    let mut it = WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().starts_with('.'));
    let skip = depth(root, dir);
    let mut read = true;
    while let Some(entry) = it.next() {
        match entry {
            Ok(e) => {
                let (path, ft) = (e.path(), e.file_type());
                if !judge(root, canon_root, skip, path, ft, display, diags, &mut visit)
                    && ft.is_dir()
                {
                    it.skip_current_dir();
                }
            }
            Err(err) => {
                read &= err.depth() > 0;
                read_failed(root, display, err.path(), &err, diags);
            }
        }
    }
    read
}

/// The entries of the folder `dir`, judged as `walk` judges them, without going into any:
/// walkdir reads a folder before it yields it, and the asset folders of a kind folder are
/// each walked by `asset`, in parallel.
fn list(
    root: &Path,
    canon_root: &Path,
    dir: &Path,
    display: &str,
    diags: &mut Vec<Diagnostic>,
    mut visit: impl FnMut(&Entry, &mut Vec<Diagnostic>) -> bool,
) {
    // Errors as walkdir words them.
    let failed = |path: &Path, err: std::io::Error| {
        format!("IO error for operation on {}: {err}", path.display())
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return read_failed(root, display, Some(dir), failed(dir, err), diags),
    };
    let mut entries: Vec<_> = entries.collect();
    // In walkdir's order: errors first, then by name.
    entries.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.file_name().cmp(&b.file_name()),
        (Err(_), Err(_)) => std::cmp::Ordering::Equal,
        (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
        (Err(_), Ok(_)) => std::cmp::Ordering::Less,
    });
    let skip = depth(root, dir);
    for entry in entries {
        let entry = match entry {
            Ok(e) if e.file_name().to_string_lossy().starts_with('.') => continue,
            Ok(e) => e,
            Err(err) => {
                read_failed(root, display, None, err, diags);
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(ft) => {
                judge(
                    root, canon_root, skip, &path, ft, display, diags, &mut visit,
                );
            }
            Err(err) => read_failed(root, display, Some(&path), failed(&path, err), diags),
        }
    }
}

/// How many folders `dir` lies below `root`: the parts of an entry's path that `Entry::parts`
/// leaves out.
fn depth(root: &Path, dir: &Path) -> usize {
    dir.strip_prefix(root).map_or(0, |d| d.components().count())
}

/// An entry (at `path`, when known) that could not be read.
fn read_failed(
    root: &Path,
    display: &str,
    path: Option<&Path>,
    err: impl std::fmt::Display,
    diags: &mut Vec<Diagnostic>,
) {
    let rel = path
        .and_then(|p| p.strip_prefix(root).ok())
        .map(|p| p.to_string_lossy().into_owned());
    let file = shown(display, &rel.unwrap_or_default());
    diags.push(Diagnostic::new(
        codes::READ_FAILED,
        Some(Loc::file(&file)),
        format!("cannot read: {err}"),
    ));
}

/// One entry of a walk (`skip` parts of its path lead to the folder walked): a name that is
/// not UTF-8 and a symlink are reported, anything else goes to `visit`. Whether to go into the
/// entry, when it is a folder.
#[allow(clippy::too_many_arguments)]
fn judge(
    root: &Path,
    canon_root: &Path,
    skip: usize,
    path: &Path,
    ft: std::fs::FileType,
    display: &str,
    diags: &mut Vec<Diagnostic>,
    visit: &mut impl FnMut(&Entry, &mut Vec<Diagnostic>) -> bool,
) -> bool {
    let rel_path = path.strip_prefix(root).unwrap_or(path);
    let Some(rel) = rel_path.to_str().map(|s| match s.contains('\\') {
        true => Cow::Owned(s.replace('\\', "/")),
        false => Cow::Borrowed(s),
    }) else {
        let file = shown(display, &rel_path.to_string_lossy());
        diags.push(
            Diagnostic::new(
                codes::NOT_UTF8,
                Some(Loc::file(&file)),
                "this file name is not valid UTF-8",
            )
            .help("rename it: names are published as URLs"),
        );
        return false;
    };
    let parts: Vec<&str> = rel.split('/').collect();
    if ft.is_symlink() {
        let file = shown(display, &rel);
        symlink(canon_root, path, &parts, &file, diags);
        return true;
    }
    let e = Entry {
        parts: &parts[skip.min(parts.len())..],
        is_dir: ft.is_dir(),
        is_file: ft.is_file(),
        backslash: matches!(rel, Cow::Owned(_)),
        rel: &rel,
        display,
    };
    visit(&e, diags)
}

/// A symlink in the tree: fine inside its version folder, an error when it leads out of it
/// (or anywhere in the layout above version folders).
fn symlink(
    canon_root: &Path,
    path: &Path,
    parts: &[&str],
    file: &Arc<str>,
    diags: &mut Vec<Diagnostic>,
) {
    let loc = Some(Loc::file(file));
    // In common/, a link may lead anywhere inside common/.
    let inside = if parts.first() == Some(&COMMON) { 1 } else { 3 };
    if parts.len() < 4 && inside == 3 {
        diags.push(Diagnostic::new(
            codes::SYMLINK_ESCAPES,
            loc,
            "symlinks are not allowed in the registry layout above version folders",
        ));
        return;
    }
    let version_dir: PathBuf = parts[..inside].iter().collect();
    let Ok(canon_version) = canon_root.join(version_dir).canonicalize() else {
        return;
    };
    match path.canonicalize() {
        Ok(target) if target.starts_with(&canon_version) => {}
        Ok(target) => diags.push(
            Diagnostic::new(
                codes::SYMLINK_ESCAPES,
                loc,
                format!(
                    "this symlink leads out of its version folder, to `{}`",
                    target.display()
                ),
            )
            .help("copy the file into the version folder instead"),
        ),
        Err(_) => diags.push(Diagnostic::new(
            codes::MISSING_PATH,
            loc,
            "this symlink is broken",
        )),
    }
}

/// Versions that differ only by case collide on case-insensitive disks and in URLs (as asset
/// names do, which `discover` checks).
fn version_collisions(
    asset: &AssetDir,
    display: &str,
    kind: Kind,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut versions: BTreeMap<String, &str> = BTreeMap::new();
    for version in asset.versions.keys() {
        if let Some(first) = versions.insert(version.to_lowercase(), version) {
            let file = shown(display, &format!("{}/{name}/{version}", kind.folder()));
            diags.push(Diagnostic::new(
                codes::CASE_COLLISION,
                Some(Loc::file(&file)),
                format!("version `{version}` differs from `{first}` only by case"),
            ));
        }
    }
}

/// Characters that reorder how text is displayed ("Trojan Source"): a file name holding one can
/// read as something else in a review, a terminal or a browser.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// File names of a version that read as something they are not: bidirectional controls, or two
/// names that differ only by confusable characters (Unicode's skeleton, UTS #39), such as a
/// Cyrillic `а` for a Latin `a`.
fn deceptive_names(
    asset: &AssetDir,
    display: &str,
    kind: Kind,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) {
    for (version, v) in &asset.versions {
        let shown_file =
            |f: &str| shown(display, &format!("{}/{name}/{version}/{f}", kind.folder()));
        let mut skeletons: BTreeMap<String, &str> = BTreeMap::new();
        for f in &v.files {
            if let Some(c) = f.chars().find(|c| is_bidi_control(*c)) {
                // Shown escaped: printed as it is, the name would reorder the message too.
                let escaped: String = f
                    .chars()
                    .map(|c| match is_bidi_control(c) {
                        true => format!("\\u{{{:04X}}}", c as u32),
                        false => c.to_string(),
                    })
                    .collect();
                diags.push(
                    Diagnostic::new(
                        codes::BIDI_FILE_NAME,
                        Some(Loc::file(&shown_file(&escaped))),
                        format!(
                            "this file name holds the bidirectional control U+{:04X}, so it displays as something other than it is",
                            c as u32
                        ),
                    )
                    .help("rename it without the control character"),
                );
            }
            let skeleton = skeleton(f);
            match skeletons.get(&skeleton) {
                Some(first) => diags.push(
                    Diagnostic::new(
                        codes::CONFUSABLE_FILE_NAMES,
                        Some(Loc::file(&shown_file(f))),
                        format!(
                            "`{}` differs from `{first}` only by characters that look alike",
                            f.escape_debug()
                        ),
                    )
                    .help("rename one of them so that the names read differently"),
                ),
                None => {
                    skeletons.insert(skeleton, f);
                }
            }
        }
    }
}

/// A file name's skeleton (UTS #39): what it looks like. An ASCII name's is its characters'
/// one after the other, which a table holds: the general way (normalize, then map each
/// character) takes a microsecond a name, and a large registry has a million names, nearly all
/// ASCII.
fn skeleton(name: &str) -> String {
    static ASCII: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..128u8)
            .map(|c| unicode_security::skeleton(&char::from(c).to_string()).collect())
            .collect()
    });
    if !name.is_ascii() {
        return unicode_security::skeleton(name).collect();
    }
    name.bytes()
        .map(|b| ASCII[usize::from(b)].as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::skeleton;

    fn general(s: &str) -> String {
        unicode_security::skeleton(s).collect()
    }

    #[test]
    fn ascii_skeletons_are_their_characters_one_after_the_other() {
        for a in 0..128u8 {
            for b in 0..128u8 {
                let s = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(skeleton(&s), general(&s), "{s:?}");
            }
        }
        for s in [
            "model/weights.json",
            "rn",
            "m",
            "l1I|",
            "0O",
            "a`b",
            "x--y",
            "",
            "é1",
        ] {
            assert_eq!(skeleton(s), general(s), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn skeletons_are_unicode_securitys(s in "[ -~]{0,12}|\\PC{0,6}") {
            proptest::prop_assert_eq!(skeleton(&s), general(&s));
        }
    }
}
