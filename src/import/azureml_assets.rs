//! Microsoft's registry layout (Azure/azureml-assets) into an mlreg registry.
//!
//! There, every asset folder has an `asset.yaml` (type, name, version or `auto`, the spec's file
//! name, an `extra_config` such as `environment.yaml` or `model.yaml`, categories), the spec
//! with templates that Microsoft's release tooling fills in, and for models a `description.md`.
//! Components share code through `code: ../src`. The import does what that tooling does:
//!
//! - templates filled: `{{asset.name}}`, `{{asset.version}}`, the image context
//!   (`{{image.context.path}}`, `{{image.dockerfile.path}}`, a git build context);
//! - `version: auto` becomes `1`, the first version of an asset the new registry does not have;
//! - models: the tooling-only `isArchived` and `variantInfo` go, and the `path` becomes the
//!   blob storage URL `model.yaml` names; `description.md` becomes the version's card;
//! - code outside the asset folder goes to the registry's `common/` folder, `code:` pointing
//!   there; the asset folder's other files (a Docker context, local code) go with the version;
//! - categories become the asset's `categories` tag;
//! - a tag YAML misreads (`Python: 3.10`, read as 3.1) is quoted, and said so.
//!
//! Everything else in the spec stays as written. Assets that cannot be imported (no spec, a
//! local path missing from the source, a duplicate version) are skipped and said so. The new
//! registry is written beside its destination and renamed into place.

use crate::registry::decode::Cx;
use crate::registry::discover::COMMON;
use crate::registry::files::read_bounded;
use crate::registry::kind::{DEFAULT_STAGES, Kind};
use crate::registry::names::is_remote;
use crate::registry::reference::Scope;
use crate::registry::spec;
use crate::registry::yaml::{self, Node, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walkdir::WalkDir;

/// What an import did.
#[derive(Debug, Default)]
pub struct Imported {
    /// `(kind, name, version)` of every version written.
    pub versions: Vec<(Kind, String, String)>,
    /// Asset folders left out, each with why.
    pub skipped: Vec<String>,
    /// Changes beyond filling templates, each with where.
    pub notes: Vec<String>,
}

/// Import the asset folders under `src` into a new registry at `dest`, named `name`.
pub fn import(src: &Path, dest: &Path, name: &str) -> Result<Imported, String> {
    if dest.exists()
        && std::fs::read_dir(dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(format!(
            "`{}` exists and is not empty: import into a new folder",
            dest.display()
        ));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let prefix = format!(
        ".{}.import-",
        dest.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("registry")
    );
    crate::publish::output::remove_orphans(parent, &prefix);
    let staging = parent.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = write_all(src, &staging, name);
    match result {
        Ok(imported) => {
            if dest.exists() {
                std::fs::remove_dir(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
            }
            std::fs::rename(&staging, dest)
                .map_err(|e| format!("cannot move the import into `{}`: {e}", dest.display()))?;
            Ok(imported)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn write_all(src: &Path, out: &Path, name: &str) -> Result<Imported, String> {
    let mut imported = Imported::default();
    let folders: Vec<PathBuf> = WalkDir::new(src)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == "asset.yaml")
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect();
    let asset_dirs: BTreeSet<PathBuf> = folders.iter().cloned().collect();
    let mut seen: BTreeSet<(Kind, String, String)> = BTreeSet::new();
    let mut categories: BTreeMap<(Kind, String), String> = BTreeMap::new();
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for dir in &folders {
        let shown = dir.strip_prefix(src).unwrap_or(dir).display().to_string();
        match asset(src, dir, &asset_dirs) {
            Ok(a) => {
                let key = (a.kind, a.name.clone(), a.version.clone());
                if !seen.insert(key.clone()) {
                    imported.skipped.push(format!(
                        "{shown}: {} `{}` version `{}` was imported already from another folder",
                        a.kind.singular(),
                        a.name,
                        a.version
                    ));
                    continue;
                }
                write_version(out, &a)?;
                if let Some(c) = &a.categories {
                    categories
                        .entry((a.kind, a.name.clone()))
                        .or_insert_with(|| c.clone());
                }
                imported
                    .notes
                    .extend(a.notes.iter().map(|n| format!("{shown}: {n}")));
                imported.versions.push(key);
            }
            Err(why) => imported.skipped.push(format!("{shown}: {why}")),
        }
    }
    for ((kind, asset), list) in &categories {
        let path = out.join(kind.folder()).join(asset).join("asset.yaml");
        write(
            &path,
            format!("tags:\n  categories: {}\n", quoted(list)).as_bytes(),
        )?;
    }
    write(
        &out.join("registry.yaml"),
        format!("name: {name}\ndescription: Imported from an Azure/azureml-assets checkout.\n")
            .as_bytes(),
    )?;
    Ok(imported)
}

/// One asset folder, read and converted (nothing written yet).
struct Asset {
    kind: Kind,
    name: String,
    version: String,
    spec: String,
    /// Files of the asset folder that go with the version: (path in the version, source).
    files: Vec<(String, PathBuf)>,
    /// Folders or files outside the asset folder that go to `common/`: (path under common/,
    /// source).
    shared: Vec<(String, PathBuf)>,
    categories: Option<String>,
    notes: Vec<String>,
}

fn asset(src: &Path, dir: &Path, asset_dirs: &BTreeSet<PathBuf>) -> Result<Asset, String> {
    let manifest = parse(&dir.join("asset.yaml"))?;
    let field = |key: &str| -> Option<String> { scalar(&manifest, key) };
    let kind_word = field("type").ok_or("asset.yaml has no `type`")?;
    let kind = Kind::from_singular(&kind_word)
        .ok_or_else(|| format!("`type: {kind_word}` is not a registry asset"))?;
    let spec_name = field("spec").unwrap_or_else(|| "spec.yaml".into());
    let spec_path = dir.join(&spec_name);
    let mut consumed: BTreeSet<PathBuf> = [dir.join("asset.yaml"), spec_path.clone()].into();
    let extra = field("extra_config").map(|e| dir.join(e));
    let extra_config = match &extra {
        Some(path) => {
            consumed.insert(path.clone());
            Some(parse(path)?)
        }
        None => None,
    };
    let text = read(&spec_path)?;

    // Templates first: the spec may not even be YAML before.
    let version_field = field("version").filter(|v| v != "auto");
    let mut filled = text.to_string();
    if let Some(n) = field("name") {
        filled = filled.replace("{{asset.name}}", &n);
    }
    filled = filled.replace("{{asset.version}}", version_field.as_deref().unwrap_or("1"));
    let image_context = |key: &str, default: &str| {
        extra_config
            .as_ref()
            .and_then(|c| get(c, &["image", "context", key]))
            .and_then(Node::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let context = image_context("dir", "context");
    let dockerfile = image_context("dockerfile", "Dockerfile");
    filled = filled
        .replace(
            "{{asset.repo.url}}#{{asset.repo.commit_hash}}:{{asset.repo.build_context.path}}",
            &context,
        )
        .replace("{{image.context.path}}", &context)
        .replace("{{image.context.dir}}", &context)
        .replace("{{image.dockerfile.path}}", &dockerfile);

    let spec = yaml::parse(&filled).map_err(|e| {
        format!(
            "{spec_name} is not YAML once filled in (line {}): {}",
            e.pos.line, e.message
        )
    })?;
    let name = scalar(&spec, "name")
        .or_else(|| field("name"))
        .ok_or("neither asset.yaml nor the spec names the asset")?;
    let version = scalar(&spec, "version")
        .or(version_field)
        .unwrap_or_else(|| "1".into());

    let mut notes = Vec::new();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut shared = Vec::new();
    if kind == Kind::Model {
        // Microsoft's tooling strips these before publishing; azure-ai-ml refuses them.
        for key in ["isArchived", "variantInfo"] {
            if let Some(range) = entry_lines(&filled, &spec, key) {
                edits.push((range.0, range.1, String::new()));
                notes.push(format!("removed the tooling-only `{key}`"));
            }
        }
        if let Some(url) = extra_config.as_ref().and_then(blob_url)
            && let Some(p) = value_of(&spec, "path")
        {
            edits.push((p.pos.offset, p.pos.offset + p.pos.len, url.clone()));
            notes.push(format!("`path` is the storage `model.yaml` names: {url}"));
        }
        if let Some(d) = extra_config
            .as_ref()
            .and_then(|c| get(c, &["publish", "description"]))
            .and_then(Node::as_str)
        {
            consumed.insert(dir.join(d));
        }
    }
    quote_misread_tags(&filled, &spec, &mut edits, &mut notes);
    // Local paths, as mlreg's own reading of the spec finds them: inside the asset folder they
    // go with the version; outside, to common/.
    let mut ignored = Vec::new();
    let mut cx = Cx::new(Arc::from("spec"), Arc::from(filled.as_str()), &mut ignored);
    let stages: Vec<String> = DEFAULT_STAGES.iter().map(|s| s.to_string()).collect();
    let scope = Scope {
        registry: None,
        stages: &stages,
    };
    let paths = spec::decode(&mut cx, &spec, kind, scope)
        .map(|s| s.paths)
        .unwrap_or_default();
    for lp in paths.iter().filter(|lp| lp.under.is_none()) {
        let (key, p, loc) = (&lp.field, lp.path.value.as_str(), &lp.path.loc);
        if is_remote(p) || p.contains("${{") || edits.iter().any(|e| e.0 == loc.offset) {
            continue;
        }
        let target = dir.join(p);
        if !target.exists() {
            return Err(format!("`{key}: {p}` is not in the source"));
        }
        let canon = target
            .canonicalize()
            .map_err(|e| format!("{}: {e}", target.display()))?;
        let canon_dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if canon.starts_with(&canon_dir) {
            continue;
        }
        let canon_src = src
            .canonicalize()
            .map_err(|e| format!("{}: {e}", src.display()))?;
        let Ok(rel) = canon.strip_prefix(&canon_src) else {
            return Err(format!("`{key}: {p}` leads out of the source"));
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let written = format!("../../../{COMMON}/{rel}");
        edits.push((loc.offset, loc.offset + loc.len, quoted(&written)));
        shared.push((rel, canon));
    }
    let spec = apply(&filled, edits);

    let mut files = Vec::new();
    for entry in WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.path() == dir || !asset_dirs.contains(e.path()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        if consumed.contains(entry.path()) {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let mut rel = rel.to_string_lossy().replace('\\', "/");
        if rel == "description.md" {
            rel = "README.md".into();
        }
        files.push((rel, entry.path().to_path_buf()));
    }
    // A description the tooling publishes, named elsewhere than description.md.
    if let Some(d) = extra_config
        .as_ref()
        .and_then(|c| get(c, &["publish", "description"]))
        .and_then(Node::as_str)
        .filter(|d| *d != "description.md")
        && dir.join(d).is_file()
    {
        files.push(("README.md".into(), dir.join(d)));
    }
    if kind == Kind::Model && dir.join("description.md").is_file() {
        files.retain(|(rel, _)| rel != "description.md");
        if !files.iter().any(|(rel, _)| rel == "README.md") {
            files.push(("README.md".into(), dir.join("description.md")));
        }
    }
    let categories = get(&manifest, &["categories"]).map(|c| match &c.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(Node::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => c.scalar_text().unwrap_or_default(),
    });
    Ok(Asset {
        kind,
        name,
        version,
        spec,
        files,
        shared,
        categories: categories.filter(|c| !c.is_empty()),
        notes,
    })
}

fn write_version(out: &Path, a: &Asset) -> Result<(), String> {
    let vdir = out.join(a.kind.folder()).join(&a.name).join(&a.version);
    write(&vdir.join("spec.yaml"), a.spec.as_bytes())?;
    for (rel, from) in &a.files {
        copy(from, &vdir.join(rel))?;
    }
    for (rel, from) in &a.shared {
        let to = out.join(COMMON).join(rel);
        if to.exists() {
            continue;
        }
        if from.is_dir() {
            for entry in WalkDir::new(from)
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
            {
                let inner = entry.path().strip_prefix(from).unwrap_or(entry.path());
                copy(entry.path(), &to.join(inner))?;
            }
        } else {
            copy(from, &to)?;
        }
    }
    Ok(())
}

/// Quote a tag value YAML reads as a number other than what was written (`3.10` as 3.1).
fn quote_misread_tags(
    text: &str,
    spec: &Node,
    edits: &mut Vec<(usize, usize, String)>,
    notes: &mut Vec<String>,
) {
    let Some(tags) = value_of(spec, "tags").and_then(Node::as_map) else {
        return;
    };
    for (k, v) in tags {
        if !matches!(v.value, Value::Int(_) | Value::Float(_)) || !v.plain {
            continue;
        }
        let raw = &text[v.pos.offset..v.pos.offset + v.pos.len];
        let read = v.scalar_text().unwrap_or_default();
        if raw != read {
            edits.push((v.pos.offset, v.pos.offset + v.pos.len, quoted(raw)));
            notes.push(format!(
                "quoted the tag `{}: {raw}`, which YAML reads as {read}",
                k.as_str().unwrap_or_default()
            ));
        }
    }
}

/// The blob storage URL of a `model.yaml` `path` of type `azureblob`.
fn blob_url(model: &Node) -> Option<String> {
    let path = get(model, &["path"])?;
    let s = |k: &str| get(path, &[k]).and_then(Node::as_str);
    if s("type")? != "azureblob" {
        return None;
    }
    Some(format!(
        "https://{}.blob.core.windows.net/{}/{}",
        s("storage_name")?,
        s("container_name")?,
        s("container_path")?.trim_start_matches('/')
    ))
}

/// The byte range of a top-level entry's lines: from its key to the next top-level key.
fn entry_lines(text: &str, spec: &Node, key: &str) -> Option<(usize, usize)> {
    let entries = spec.as_map()?;
    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
    let start = entries[at].0.pos.offset;
    let start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = match entries.get(at + 1) {
        Some((next, _)) => text[..next.pos.offset].rfind('\n').map_or(0, |i| i + 1),
        None => text.len(),
    };
    Some((start, end.max(start)))
}

/// Apply non-overlapping edits (start, end, replacement), from the end.
fn apply(text: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    let mut limit = usize::MAX;
    for (start, end, with) in edits {
        if end > limit || start > end || end > out.len() {
            continue;
        }
        out.replace_range(start..end, &with);
        limit = start;
    }
    out
}

fn parse(path: &Path) -> Result<Node, String> {
    let text = read(path)?;
    yaml::parse(&text).map_err(|e| {
        format!(
            "{} is not YAML (line {}): {}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            e.pos.line,
            e.message
        )
    })
}

fn read(path: &Path) -> Result<Arc<str>, String> {
    let shown: Arc<str> = Arc::from(path.display().to_string());
    read_bounded(path, &shown).map_err(|d| {
        format!(
            "{}: {}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            d.message
        )
    })
}

fn get<'n>(node: &'n Node, keys: &[&str]) -> Option<&'n Node> {
    keys.iter().try_fold(node, |n, k| value_of(n, k))
}

fn value_of<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A top-level scalar as text: strings as they are, numbers as written.
fn scalar(node: &Node, key: &str) -> Option<String> {
    let v = value_of(node, key)?;
    match &v.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => v.scalar_text(),
        _ => None,
    }
}

/// A YAML double-quoted string.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy `{}`: {e}", from.display()))
}
