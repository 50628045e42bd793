//! Walking the registry folder: which file is what, in a fixed order, and what does not belong.
//!
//! Only names and file types are looked at here, never contents. Dot-files and dot-folders are
//! skipped; anything else the layout of `docs/format.md` does not name is an error, so a typo
//! like `modles/` is reported rather than silently ignored.

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::kind::Kind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walkdir::WalkDir;

/// The top-level folder of files that versions share; a version that names something in it
/// ships a copy (see `docs/format.md`).
pub const COMMON: &str = "common";

#[derive(Debug, Default)]
pub struct Layout {
    pub has_registry_yaml: bool,
    pub assets: BTreeMap<(Kind, String), AssetDir>,
}

#[derive(Debug)]
pub struct AssetDir {
    pub kind: Kind,
    pub name: String,
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
}

/// The display path of `rel` inside the registry shown as `display`.
pub fn shown(display: &str, rel: &str) -> Arc<str> {
    if display.is_empty() || display == "." {
        Arc::from(rel)
    } else {
        Arc::from(format!("{}/{}", display.trim_end_matches('/'), rel))
    }
}

pub fn discover(root: &Path, display: &str, diags: &mut Vec<Diagnostic>) -> Layout {
    let mut layout = Layout::default();
    let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().starts_with('.'));
    let mut it = walker;
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let rel = err
                    .path()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(|p| p.to_string_lossy().into_owned());
                let file = shown(display, &rel.unwrap_or_default());
                diags.push(Diagnostic::new(
                    codes::READ_FAILED,
                    Some(Loc::file(&file)),
                    format!("cannot read: {err}"),
                ));
                continue;
            }
        };
        let rel_path = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(rel) = rel_path.to_str().map(|s| s.replace('\\', "/")) else {
            let file = shown(display, &rel_path.to_string_lossy());
            diags.push(
                Diagnostic::new(
                    codes::NOT_UTF8,
                    Some(Loc::file(&file)),
                    "this file name is not valid UTF-8",
                )
                .help("rename it: names are published as URLs"),
            );
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let file = shown(display, &rel);
        let ft = entry.file_type();
        let is_dir = ft.is_dir();
        let unexpected = |diags: &mut Vec<Diagnostic>, why: &str, help: Option<String>| {
            let mut d = Diagnostic::new(
                codes::UNEXPECTED_FILE,
                Some(Loc::file(&file)),
                why.to_string(),
            );
            if let Some(h) = help {
                d = d.help(h);
            }
            diags.push(d);
        };
        if ft.is_symlink() {
            symlink(&canon_root, entry.path(), &parts, &file, diags);
            continue;
        }
        match parts.as_slice() {
            ["registry.yaml"] if !is_dir => layout.has_registry_yaml = true,
            ["README.md"] if !is_dir => {}
            // Files versions share (`code: ../../../common/src`); what is in it is free-form.
            [COMMON] if is_dir => {}
            [COMMON, ..] => {}
            [top] => match (Kind::from_folder(top), is_dir) {
                (Some(_), true) => {}
                _ => {
                    let kinds: Vec<&str> = Kind::ALL
                        .iter()
                        .map(|k| k.folder())
                        .chain(["registry.yaml", "README.md", COMMON])
                        .collect();
                    let help = crate::registry::decode::nearest(top, &kinds)
                        .map(|n| format!("did you mean `{n}`?"));
                    unexpected(
                        diags,
                        &format!(
                            "`{top}` is not part of a registry (models/, components/, environments/, data/, common/, registry.yaml)"
                        ),
                        help,
                    );
                    if is_dir {
                        it.skip_current_dir();
                    }
                }
            },
            [top, name] => {
                let kind = Kind::from_folder(top).expect("kind folders only");
                if is_dir {
                    layout.assets.insert(
                        (kind, name.to_string()),
                        AssetDir {
                            kind,
                            name: name.to_string(),
                            has_asset_yaml: false,
                            has_stages_yaml: false,
                            versions: BTreeMap::new(),
                        },
                    );
                } else {
                    unexpected(
                        diags,
                        &format!("`{top}/` holds one folder per asset, not files"),
                        Some(format!("move it to {top}/<name>/<version>/")),
                    );
                }
            }
            [top, name, item] => {
                let kind = Kind::from_folder(top).expect("kind folders only");
                let Some(asset) = layout.assets.get_mut(&(kind, name.to_string())) else {
                    continue;
                };
                match (*item, is_dir) {
                    ("asset.yaml", false) => asset.has_asset_yaml = true,
                    ("stages.yaml", false) => asset.has_stages_yaml = true,
                    (version, true) => {
                        asset
                            .versions
                            .insert(version.to_string(), VersionDir::default());
                    }
                    (other, false) => {
                        let help = match other {
                            "spec.yaml" | "spec.yml" | "README.md" | "lineage.yaml" => {
                                Some(format!(
                                    "version files go in a version folder: {top}/{name}/<version>/{other}"
                                ))
                            }
                            _ => crate::registry::decode::nearest(
                                other,
                                &["asset.yaml", "stages.yaml"],
                            )
                            .map(|n| format!("did you mean `{n}`?")),
                        };
                        unexpected(
                            diags,
                            &format!(
                                "`{other}` does not belong in an asset folder (asset.yaml, stages.yaml and version folders do)"
                            ),
                            help,
                        );
                    }
                }
            }
            [top, name, version, rest @ ..] => {
                if is_dir {
                    continue;
                }
                let kind = Kind::from_folder(top).expect("kind folders only");
                let Some(v) = layout
                    .assets
                    .get_mut(&(kind, name.to_string()))
                    .and_then(|a| a.versions.get_mut(*version))
                else {
                    continue;
                };
                let inner = rest.join("/");
                match inner.as_str() {
                    "spec.yaml" => v.has_spec = true,
                    "lineage.yaml" => v.has_lineage = true,
                    "README.md" => v.has_card = true,
                    _ => {}
                }
                v.files.push(inner);
            }
            [] => {}
        }
    }
    collisions(&layout, display, diags);
    deceptive_names(&layout, display, diags);
    layout
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

/// Names that differ only by case collide on case-insensitive disks and in URLs.
fn collisions(layout: &Layout, display: &str, diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<(Kind, String), &str> = BTreeMap::new();
    for ((kind, name), asset) in &layout.assets {
        if let Some(first) = seen.insert((*kind, name.to_lowercase()), name) {
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
}

/// Characters that reorder how text is displayed ("Trojan Source"): a file name holding one can
/// read as something else in a review, a terminal or a browser.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// File names of a version that read as something they are not: bidirectional controls, or two
/// names that differ only by confusable characters (Unicode's skeleton, UTS #39), such as a
/// Cyrillic `а` for a Latin `a`.
fn deceptive_names(layout: &Layout, display: &str, diags: &mut Vec<Diagnostic>) {
    for ((kind, name), asset) in &layout.assets {
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
                let skeleton: String = unicode_security::skeleton(f).collect();
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
}
