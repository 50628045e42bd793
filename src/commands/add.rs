//! `mlreg add KIND/NAME SPEC.yml [--version V]`: a new version from an Azure ML CLI v2 spec as
//! users have it, the YAML `az ml <kind> create -f` reads or what `az ml <kind> show -o yaml`
//! prints.
//!
//! The spec is changed as little as possible, line by line, keeping the user's text and
//! comments, and every change is said in a note:
//!
//! - the read-only fields `show` prints (`id`, `creation_context`, ...; see [`READ_ONLY`]) are
//!   dropped;
//! - `name` and `version`, when present, must agree with KIND/NAME and `--version` (else nothing
//!   is done); when absent they are filled in, so that the file is ready for `az ml ... create -f`;
//! - local paths (resolved against the spec's folder, as `az ml` does) are copied into the
//!   version folder at the same relative path, so the spec still names them as written. A path
//!   that climbs out of the spec's folder (`../shared/src`) cannot stay as written: it is copied
//!   without its leading `..` (`shared/src`) and rewritten; one into the registry's `common/`
//!   folder is rewritten to point there from the version, and not copied. Component files of
//!   pipeline jobs are followed, and their paths copied too (they are not rewritten: one that
//!   would need it is refused). Remote paths (`azureml:`, `https:`, `runs:/`, ...) stay.
//! - A spec whose top level is a flow mapping (`{...}`), or whose path to rewrite is a multi-line
//!   scalar, cannot be edited line by line: it is re-serialized, and said so.
//!
//! Beside the spec go a `lineage.yaml` (every field commented out, as all are optional; from a
//! model's `job_name`, the job) and a `README.md` card (front matter keys commented out, the
//! guidance in an HTML comment the site does not show), unless the copied files hold them.
//!
//! Problems in the input (a path that does not exist, or is not what its field needs) are
//! reported located in the user's spec before anything is written (exit 1). Like `promote`, an
//! add starts from a registry that checks (a problem found afterwards is the new version's). The
//! version is assembled in a hidden folder of the registry (`check` ignores dot-folders), renamed
//! into place, and the whole registry checked: with errors, the report is printed and the
//! version taken out again, leaving the registry as it was (exit 1); with warnings only, or
//! nothing, it stays (exit 0), with the report and what is left to fill in.

use super::authoring::{Staging, fill, write};
use super::{EXIT_ERRORS, EXIT_OK, Ui, registry_dir};
use crate::cli::AddArgs;
use crate::diag::{Diagnostic, Loc, Report, Severity, codes, plural};
use crate::registry::decode::{Cx, Text};
use crate::registry::discover::{self, COMMON};
use crate::registry::kind::{DEFAULT_STAGES, Kind};
use crate::registry::load::Loader;
use crate::registry::reference::Scope;
use crate::registry::spec::{self, Expect, LocalPath, Spec};
use crate::registry::validate::{self, PathRules};
use crate::registry::yaml::scalar;
use crate::registry::yaml::{self, Node, Value};
use crate::registry::{self, names};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use walkdir::WalkDir;

const LINEAGE: &str = include_str!("init/lineage.yaml");
const CARD_MODEL: &str = include_str!("init/card-model.md");
const CARD: &str = include_str!("init/card.md");

/// Top-level fields that `az ml <kind> show -o yaml` prints and Azure ML sets itself, none of
/// which an mlreg spec has, so they are dropped: `id`, `creation_context` and `latest_version`
/// are read-only (`dump_only`) in azure-ai-ml's schemas of every asset kind, so `create` ignores
/// them; the az CLI adds `resourceGroup` to every result with an id; `provisioning_state` is
/// what Azure resources report of their creation. (The other read-only fields azure-ai-ml knows,
/// a model's `job_name` and `utc_time_created` or a data asset's `properties`, are spec fields
/// mlreg reads, and stay.)
const READ_ONLY: &[(&str, &str)] = &[
    ("id", "the asset's id in its workspace"),
    (
        "creation_context",
        "who created it in the workspace, and when",
    ),
    ("latest_version", "the workspace's latest version"),
    ("provisioning_state", "the state of its creation"),
    ("resourceGroup", "the resource group, added by the az CLI"),
];

/// How the input's local paths are checked: they must exist as their field needs; they may
/// climb out of the spec's folder, as `az ml` allows (they are copied in).
const INPUT_PATHS: PathRules = PathRules {
    exist: true,
    climb: usize::MAX,
    into: None,
};

/// Component files of pipeline jobs that include further ones, at most (as `check`).
const MAX_NESTING: usize = 8;

/// Why nothing was added.
enum Refused {
    /// A usage or I/O failure (exit 2).
    Fail(String),
    /// Located problems, in the input or in the new version, and what became of the add (exit 1).
    Problems(Report, String),
}

impl From<String> for Refused {
    fn from(message: String) -> Self {
        Refused::Fail(message)
    }
}

pub fn run(ui: &Ui, args: AddArgs) -> u8 {
    let display = match registry_dir(ui, &args.registry) {
        Ok(d) => d,
        Err(code) => return code,
    };
    match add(ui, &args, &display) {
        Ok((report, summary, added)) => {
            let text = match ui.quiet {
                true => format!("{}{added}", report.render_diagnostics(ui.color)),
                false => format!("{}{summary}\n{added}", report.render_human(ui.color)),
            };
            match ui.out(&text) {
                Ok(()) => EXIT_OK,
                Err(code) => code,
            }
        }
        Err(Refused::Fail(message)) => ui.fail(message),
        Err(Refused::Problems(report, why)) => {
            let text = match ui.quiet {
                true => report.render_diagnostics(ui.color),
                false => format!("{}{why}\n", report.render_human(ui.color)),
            };
            match ui.out(&text) {
                Ok(()) => EXIT_ERRORS,
                Err(code) => code,
            }
        }
    }
}

/// The add: the final report, its summary line, and the line that says what was added.
fn add(ui: &Ui, args: &AddArgs, display: &str) -> Result<(Report, String, String), Refused> {
    let (kind, name) = asset(&args.asset)?;
    let dir = &args.registry;
    if !dir.join("registry.yaml").is_file() {
        return Err(Refused::Fail(format!(
            "`{display}` has no registry.yaml, so it is not a registry (start one with `mlreg init`)"
        )));
    }
    let before = registry::check(dir, display);
    if before.report.count(Severity::Error) > 0 {
        return Err(Refused::Problems(
            before.report,
            "nothing added: the registry has errors already; fix them first".into(),
        ));
    }
    let config = before
        .registry
        .as_ref()
        .and_then(|(l, _)| l.config.as_ref());
    let stages: Vec<String> = match config {
        Some(c) => c.stages.iter().map(|s| s.value.clone()).collect(),
        None => DEFAULT_STAGES.iter().map(|s| s.to_string()).collect(),
    };
    let base_url = config
        .and_then(|c| c.base_url.as_ref())
        .map(|b| b.value.clone());

    // The spec as the user has it, and what it names.
    if !args.spec.is_file() {
        return Err(Refused::Fail(format!(
            "`{}` is not a file (give the spec `az ml {} create -f` would read)",
            args.spec.display(),
            kind.singular()
        )));
    }
    let shown: Arc<str> = Arc::from(args.spec.to_string_lossy().as_ref());
    let mut loader = Loader::new(INPUT_PATHS);
    let Some((text, root)) = loader.yaml(&args.spec, &shown) else {
        return Err(problems(
            loader.diags,
            "nothing added: the spec is not readable YAML",
        ));
    };
    let Some(entries) = root.as_map() else {
        let d = Diagnostic::new(
            codes::WRONG_TYPE,
            Some(Loc::at(&shown, root.pos)),
            format!("the spec is {}, not a mapping of fields", root.type_name()),
        );
        return Err(problems(vec![d], "nothing added"));
    };
    let asset_dir = dir.join(kind.folder()).join(&name);
    let id = Identity::of(
        &text, entries, &shown, kind, &name, args, &asset_dir, &stages,
    )?;
    let version = id.version.clone();
    let vid = format!("{}/{name}@{version}", kind.folder());

    let scope = Scope {
        registry: None,
        stages: &stages,
    };
    let mut ignored = Vec::new();
    let spec = spec::decode(
        &mut Cx::new(shown.clone(), text.clone(), &mut ignored),
        &root,
        kind,
        scope,
    );
    let spec_dir = match args.spec.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let spec_dir_shown = spec_dir.to_string_lossy().into_owned();
    let mut named = Vec::new();
    if let Some(spec) = &spec {
        let mut walk = Walk {
            loader: &mut loader,
            root: &spec_dir,
            shown: &spec_dir_shown,
            scope,
            named: &mut named,
            stack: Vec::new(),
        };
        walk.spec(spec, "", None);
        for include in additional_includes(&shown, entries) {
            walk.path(&include, "", None);
        }
    }
    if !loader.diags.is_empty() {
        return Err(problems(
            loader.diags,
            &format!("nothing added: {} names what it cannot ship", shown),
        ));
    }

    // Where each named path goes in the version folder, and what the spec must say instead.
    let mut notes: Vec<String> = Vec::new();
    let placed = place(dir, &named, &mut notes)?;
    let mut edits = Edits::new(&text, &root);
    for (i, (k, _)) in entries.iter().enumerate() {
        if let Some((key, what)) = READ_ONLY.iter().find(|(r, _)| k.as_str() == Some(r)) {
            edits.drop_entry(i);
            notes.push(format!(
                "dropped `{key}` (line {}): read-only in Azure ML, {what}",
                k.pos.line
            ));
        }
    }
    id.fill(&mut edits, &mut notes);
    for (n, p) in named.iter().zip(&placed) {
        if let Some(to) = &p.rewrite {
            edits.replace(&n.text.loc, to);
        }
    }
    let (spec_text, shifts) = edits.finish();
    if let Err(why) = &shifts {
        notes.push(format!(
            "re-serialized the spec ({why}): its comments and layout are not kept"
        ));
    }

    // The version, assembled in a hidden folder of the registry, then moved into place.
    let staging = Staging::new(dir, "mlreg-add")?;
    let new = New {
        kind,
        name: &name,
        version: &version,
        vid: &vid,
    };
    let exclude = [
        args.spec.canonicalize().unwrap_or_default(),
        dir.canonicalize().unwrap_or_default(),
    ];
    let vdir = staging.path().join(&version);
    let staged = stage(
        &vdir,
        &new,
        &spec_text,
        &placed,
        &exclude,
        entries,
        base_url.as_deref(),
    )?;
    for note in notes.iter().chain(&staged.notes) {
        ui.status(format_args!("note: {note}"));
    }
    let kind_dir = dir.join(kind.folder());
    let made_kind = !kind_dir.exists();
    let made_asset = !asset_dir.exists();
    std::fs::create_dir_all(&asset_dir)
        .map_err(|e| format!("cannot create `{}`: {e}", asset_dir.display()))?;
    let target = asset_dir.join(&version);
    if let Err(e) = std::fs::rename(&vdir, &target) {
        undo(&asset_dir, made_asset, &kind_dir, made_kind);
        return Err(Refused::Fail(format!(
            "cannot move the new version into `{}`: {e}",
            target.display()
        )));
    }

    // Checked with the rest: kept with warnings, taken out again with errors.
    let after = registry::check(dir, display);
    if after.report.count(Severity::Error) > 0 {
        // The report has read the new files for its snippets already; now they go.
        if std::fs::rename(&target, staging.path().join(".refused")).is_err() {
            let _ = std::fs::remove_dir_all(&target);
        }
        undo(&asset_dir, made_asset, &kind_dir, made_kind);
        // Pointed at the files the user has, which are still there to fix.
        let copies: Vec<(String, String)> = named
            .iter()
            .zip(&placed)
            .filter(|(_, p)| !p.to.starts_with("../"))
            .map(|(n, p)| (p.to.clone(), join_shown(&spec_dir_shown, &n.rel)))
            .collect();
        let mut report = after.report;
        let new_dir = discover::shown(display, &format!("{}/{name}/{version}", kind.folder()));
        let input = Input {
            file: &shown,
            text: &text,
            shifts: shifts.as_ref().ok(),
        };
        relocate(&mut report, &new_dir, &input, &copies);
        registry::settle(&mut report, &after.lints);
        return Err(Refused::Problems(
            report,
            format!("nothing added: {vid} would not check; the registry is as it was"),
        ));
    }
    let mut added = format!(
        "added {vid} in {}: spec.yaml{}\n",
        target.display(),
        staged
            .shipped
            .iter()
            .map(|f| format!(", {f}"))
            .collect::<String>()
    );
    let lineage = "lineage.yaml before the version is published (lineage is part of its digest, and a published version never changes)";
    added.push_str(&match (staged.lineage, staged.card) {
        (true, true) => format!("fill in {lineage}, and its card, README.md\n"),
        (true, false) => format!("fill in {lineage}\n"),
        (false, true) => "fill in its card, README.md\n".to_string(),
        (false, false) => String::new(),
    });
    Ok((after.report, format!("checked {}", after.subject), added))
}

/// The version being added.
struct New<'a> {
    kind: Kind,
    name: &'a str,
    version: &'a str,
    /// `models/<name>@<version>`.
    vid: &'a str,
}

/// What a staged version holds beside its spec.
struct Staged {
    /// What was copied: files, and folders with their number of files.
    shipped: Vec<String>,
    /// Whether the lineage and card skeletons were written (the copies held none).
    lineage: bool,
    card: bool,
    notes: Vec<String>,
}

/// Write the version into `vdir`: its spec, the copies of what it names (but the `exclude`d),
/// and the skeletons of what the copies lack.
fn stage(
    vdir: &Path,
    new: &New,
    spec_text: &str,
    placed: &[Placed],
    exclude: &[PathBuf],
    entries: &[(Node, Node)],
    base_url: Option<&str>,
) -> Result<Staged, Refused> {
    write(&vdir.join("spec.yaml"), spec_text.as_bytes())?;
    let mut shipped: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    for p in placed.iter().filter(|p| p.copy) {
        let (count, dots) = copy(&p.source, &join(vdir, &p.to), exclude)?;
        hidden.extend(dots.iter().map(|d| format!("`{}`", join_shown(&p.to, d))));
        let (label, count) = match p.source.is_dir() {
            true if p.to.is_empty() => ("the spec's folder".to_string(), Some(count)),
            true => (format!("{}/", p.to), Some(count)),
            false => (p.to.clone(), None),
        };
        shipped.insert(label, count);
    }
    if !hidden.is_empty() {
        notes.push(format!(
            "left out {} of the copied folders: the registry ignores dot-files and dot-folders",
            hidden.join(", ")
        ));
    }
    let field = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str())
    };
    // A model registered from a job says which: Azure ignores it on create, lineage keeps it.
    let job = field("job_name").filter(|_| new.kind == Kind::Model);
    let lineage_file = vdir.join("lineage.yaml");
    let lineage = !lineage_file.exists();
    if lineage {
        write(
            &lineage_file,
            skeleton_lineage(new.vid, base_url, job).as_bytes(),
        )?;
    }
    if let Some(j) = job {
        notes.push(format!(
            "kept `job_name: {j}`, which `az ml model create` ignores (read-only in Azure ML){}",
            if lineage {
                "; lineage.yaml names the job"
            } else {
                ""
            }
        ));
    }
    let card_file = vdir.join("README.md");
    let card = !card_file.exists();
    if card {
        write(
            &card_file,
            skeleton_card(new, field("description")).as_bytes(),
        )?;
    }
    let shipped = shipped
        .into_iter()
        .map(|(label, count)| match count {
            Some(n) => format!("{label} ({})", plural(n, "file")),
            None => label,
        })
        .collect();
    Ok(Staged {
        shipped,
        lineage,
        card,
        notes,
    })
}

/// The spec as the user wrote it, and how the new one's offsets map back to it (`None` when it
/// was serialized anew).
struct Input<'a> {
    file: &'a Arc<str>,
    text: &'a str,
    shifts: Option<&'a Shifts>,
}

/// Point the diagnostics of a refused version at the files they came from: the spec (through
/// the edits) and the files copied into the version, `copies` being (where in the version,
/// where from, as shown).
fn relocate(report: &mut Report, vdir: &str, input: &Input, copies: &[(String, String)]) {
    let spec_file = format!("{vdir}/spec.yaml");
    for loc in report.diagnostics.iter_mut().filter_map(|d| d.loc.as_mut()) {
        if *loc.file == *spec_file {
            match input.shifts {
                Some(shifts) if loc.line > 0 => {
                    let offset = shifts.back(loc.offset).min(input.text.len());
                    let start = line_start(input.text, offset);
                    loc.offset = offset;
                    loc.line = input.text[..offset].matches('\n').count() as u32 + 1;
                    loc.col = input.text[start..offset].chars().count() as u32 + 1;
                }
                Some(_) => {}
                None => continue,
            }
            loc.file = input.file.clone();
            continue;
        }
        let Some(rel) = loc
            .file
            .strip_prefix(vdir)
            .and_then(|r| r.strip_prefix('/'))
        else {
            continue;
        };
        let from = copies.iter().find_map(|(to, from)| {
            let rest = match to.is_empty() {
                true => rel,
                false => rel.strip_prefix(to.as_str())?,
            };
            match rest.strip_prefix('/') {
                Some(r) => Some(join_shown(from, r)),
                None if rest.is_empty() => Some(from.clone()),
                None if to.is_empty() => Some(join_shown(from, rest)),
                None => None,
            }
        });
        if let Some(from) = from {
            loc.file = Arc::from(from);
        }
    }
}

/// `rel` under a folder shown as `base` (`.` for where mlreg runs).
fn join_shown(base: &str, rel: &str) -> String {
    match (base, rel) {
        (_, "") => base.to_string(),
        ("" | ".", _) => rel.to_string(),
        _ => format!("{}/{rel}", base.trim_end_matches('/')),
    }
}

/// Remove the asset and kind folders this add made, if they are empty again.
fn undo(asset_dir: &Path, made_asset: bool, kind_dir: &Path, made_kind: bool) {
    if made_asset {
        let _ = std::fs::remove_dir(asset_dir);
    }
    if made_kind {
        let _ = std::fs::remove_dir(kind_dir);
    }
}

/// Diagnostics of the input, settled into a report (with the snippets of the files they name).
fn problems(diagnostics: Vec<Diagnostic>, why: &str) -> Refused {
    let mut report = Report {
        diagnostics,
        sources: Default::default(),
    };
    registry::settle(&mut report, &Default::default());
    Refused::Problems(report, why.to_string())
}

/// `models/NAME` (or another kind's folder) into its kind and name.
fn asset(text: &str) -> Result<(Kind, String), Refused> {
    let kinds = "`models/<name>`, `components/<name>`, `environments/<name>` or `data/<name>`";
    let trimmed = text.trim_end_matches('/');
    let Some((folder, name)) = trimmed.split_once('/') else {
        return Err(Refused::Fail(format!(
            "`{text}` names no asset: write {kinds}"
        )));
    };
    let Some(kind) = Kind::from_folder(folder) else {
        let hint = match Kind::from_singular(folder) {
            Some(k) => format!("write `{}/{name}`", k.folder()),
            None => format!("write {kinds}"),
        };
        return Err(Refused::Fail(format!(
            "`{folder}` is not a kind of asset: {hint}"
        )));
    };
    if name.contains(['/', '@']) {
        return Err(Refused::Fail(format!(
            "`{text}`: name the asset alone (`{}/<name>`), and the version with --version",
            kind.folder()
        )));
    }
    if let Some(why) = names::name_problem(kind, name) {
        return Err(Refused::Fail(format!("`{name}`: {why}")));
    }
    Ok((kind, name.to_string()))
}

/// The name and version the new version gets, and whether the spec states them.
struct Identity {
    name: String,
    version: String,
    /// The offset of the end of the `name` entry's value, when the spec has one.
    name_at: Option<usize>,
    has_version: bool,
    /// The end of the `$schema` entry's value, where a missing `name` goes.
    schema_at: Option<usize>,
}

impl Identity {
    #[allow(clippy::too_many_arguments)]
    fn of(
        text: &str,
        entries: &[(Node, Node)],
        shown: &str,
        kind: Kind,
        name: &str,
        args: &AddArgs,
        asset_dir: &Path,
        stages: &[String],
    ) -> Result<Identity, Refused> {
        let field = |key: &str| entries.iter().find(|(k, _)| k.as_str() == Some(key));
        let at = |n: &Node| format!("{shown}:{}:{}", n.pos.line, n.pos.col);
        let id = format!("{}/{name}", kind.folder());
        let name_at = match field("name") {
            Some((_, v)) if v.scalar_text().as_deref() == Some(name) => {
                Some(v.pos.offset + v.pos.len)
            }
            Some((_, v)) => {
                let written = v.scalar_text().unwrap_or_else(|| v.type_name().into());
                return Err(Refused::Fail(format!(
                    "{}: the spec's `name` is `{written}`, but this adds {id}: make them agree (or leave `name` out)",
                    at(v)
                )));
            }
            None => None,
        };
        let written = match field("version") {
            None => None,
            Some((_, v)) => {
                let raw = text
                    .get(v.pos.offset..v.pos.offset + v.pos.len)
                    .unwrap_or("");
                let read = v.scalar_text();
                match &v.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Int(_) | Value::Float(_) if read.as_deref() == Some(raw) => read,
                    Value::Int(_) | Value::Float(_) => {
                        return Err(Refused::Fail(format!(
                            "{}: `version: {raw}` is read by YAML (and Azure ML) as {}: quote it, `version: \"{raw}\"`",
                            at(v),
                            read.unwrap_or_default()
                        )));
                    }
                    _ => {
                        return Err(Refused::Fail(format!(
                            "{}: `version` is {}, not a version",
                            at(v),
                            v.type_name()
                        )));
                    }
                }
            }
        };
        let version = match (&written, &args.version) {
            (Some(w), Some(v)) if w != v => {
                return Err(Refused::Fail(format!(
                    "the spec says `version: {w}`, but --version is {v}: make them agree (or leave `version` out of the spec)"
                )));
            }
            (Some(w), _) => w.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => next_version(asset_dir, &id)?,
        };
        if let Some(why) = names::version_problem(&version) {
            return Err(Refused::Fail(why));
        }
        if stages.contains(&version) {
            return Err(Refused::Fail(format!(
                "`{version}` is a stage of this registry, so it cannot be a version"
            )));
        }
        let existing = versions(asset_dir);
        if let Some(v) = existing.iter().find(|v| v.eq_ignore_ascii_case(&version)) {
            let next = next_version(asset_dir, &id)
                .map(|n| format!("; add this one as --version {n}"))
                .unwrap_or_default();
            return Err(Refused::Fail(format!(
                "{id}@{v} exists already: a version never changes once added{next}"
            )));
        }
        Ok(Identity {
            name: name.to_string(),
            version,
            name_at,
            has_version: written.is_some(),
            schema_at: field("$schema").map(|(_, v)| v.pos.offset + v.pos.len),
        })
    }

    /// Fill in what the spec leaves out: `name` after `$schema` (or first), `version` after it.
    fn fill(&self, edits: &mut Edits, notes: &mut Vec<String>) {
        let version = format!("version: {}", scalar(&self.version));
        let (at, lines) = match (self.name_at, self.has_version) {
            (Some(_), true) => return,
            (Some(at), false) => (Some(at), vec![version]),
            (None, true) => (
                self.schema_at,
                vec![format!("name: {}", scalar(&self.name))],
            ),
            (None, false) => (
                self.schema_at,
                vec![format!("name: {}", scalar(&self.name)), version],
            ),
        };
        notes.push(format!(
            "filled in `{}`, from the asset and version",
            lines.join("` and `")
        ));
        edits.insert(at, &lines);
    }
}

/// The version folders of an asset.
fn versions(asset_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(asset_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// One more than the highest whole-number version (1 for a new asset).
fn next_version(asset_dir: &Path, id: &str) -> Result<String, Refused> {
    let existing = versions(asset_dir);
    let highest = existing.iter().filter_map(|v| v.parse::<u64>().ok()).max();
    match highest {
        Some(h) => Ok((h + 1).to_string()),
        None if existing.is_empty() => Ok("1".into()),
        None => Err(Refused::Fail(format!(
            "{id} has no whole-number version to count from ({}): give --version",
            existing.join(", ")
        ))),
    }
}

/// A local path the spec (or a component file it includes) names.
struct Named {
    /// As written, where it is written.
    text: Text,
    field: String,
    /// The component file (relative to the spec's folder) that names it; `None` for the spec.
    via: Option<String>,
    /// Relative to the spec's folder, normalized; `../` in front when it climbs out.
    rel: String,
    abs: PathBuf,
}

/// The local paths of a spec, checked as `check --spec` checks them, following component files.
struct Walk<'a> {
    loader: &'a mut Loader,
    root: &'a Path,
    shown: &'a str,
    scope: Scope<'a>,
    named: &'a mut Vec<Named>,
    /// The component files being followed, against cycles.
    stack: Vec<String>,
}

impl Walk<'_> {
    fn spec(&mut self, spec: &Spec, base: &str, via: Option<&str>) {
        for lp in &spec.paths {
            // Templated paths (`${{parent.inputs.x}}`) are bound when the job runs.
            if lp.path.value.contains("${{") {
                continue;
            }
            self.path(lp, base, via);
        }
    }

    fn path(&mut self, lp: &LocalPath, base: &str, via: Option<&str>) {
        let checked = match validate::local_path(self.root, base, lp, INPUT_PATHS) {
            Ok(c) => c,
            Err(d) => {
                self.loader.diags.push(d);
                return;
            }
        };
        // Paths under `code` (spark's `entry.file`, `py_files`) come with the code folder.
        if lp.under.is_some() {
            return;
        }
        // The component file is placed before what it names, which must land relative to it.
        self.named.push(Named {
            text: lp.path.clone(),
            field: lp.field.clone(),
            via: via.map(str::to_string),
            rel: checked.rel.clone(),
            abs: checked.abs.clone(),
        });
        if lp.expect == Expect::Component {
            self.component(&checked.rel, &checked.abs, lp);
        }
    }

    /// A component file of a pipeline job: its own paths, relative to it.
    fn component(&mut self, rel: &str, abs: &Path, lp: &LocalPath) {
        if self.stack.iter().any(|s| s == rel) || self.stack.len() >= MAX_NESTING {
            self.loader.diags.push(Diagnostic::new(
                codes::LINEAGE_CYCLE,
                Some(lp.path.loc.clone()),
                format!(
                    "component file `{rel}` includes itself (through {})",
                    self.stack.join(" -> ")
                ),
            ));
            return;
        }
        let file = crate::registry::discover::shown(self.shown, rel);
        let Some((text, node)) = self.loader.yaml(abs, &file) else {
            return;
        };
        let mut ignored = Vec::new();
        let inner = spec::decode_anonymous_component(
            &mut Cx::new(file, text, &mut ignored),
            &node,
            self.scope,
        );
        if let Some(inner) = inner {
            let base = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
            self.stack.push(rel.to_string());
            self.spec(&inner, &base, Some(rel));
            self.stack.pop();
        }
    }
}

/// `additional_includes` of a command component: files Azure adds to its code, relative to
/// the spec. (`check` does not follow them; a version must still ship them.)
fn additional_includes(shown: &Arc<str>, entries: &[(Node, Node)]) -> Vec<LocalPath> {
    let items = entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("additional_includes"))
        .and_then(|(_, v)| v.as_seq())
        .unwrap_or(&[]);
    items
        .iter()
        .filter_map(|n| {
            let s = n.as_str().filter(|s| !names::is_remote(s))?;
            Some(LocalPath {
                path: Text::new(s.to_string(), Loc::at(shown, n.pos)),
                field: "additional_includes".into(),
                expect: Expect::Any,
                dockerfile: None,
                under: None,
            })
        })
        .collect()
}

/// Where a named path goes.
struct Placed {
    source: PathBuf,
    /// Relative to the version folder (`""` for the folder itself; `../../../common/...` for
    /// the registry's shared files).
    to: String,
    /// Copied (not the registry's own shared files, and not inside another copied folder).
    copy: bool,
    /// What the spec must say instead of what it says.
    rewrite: Option<String>,
}

/// Decide where each named path goes, in the order of `named`.
fn place(
    registry: &Path,
    named: &[Named],
    notes: &mut Vec<String>,
) -> Result<Vec<Placed>, Refused> {
    let common = registry.join(COMMON).canonicalize().ok();
    let mut placed: Vec<Placed> = Vec::new();
    for n in named {
        let source = n
            .abs
            .canonicalize()
            .map_err(|e| format!("cannot read `{}`: {e}", n.abs.display()))?;
        let written = format!("`{}: {}`", n.field, n.text.value);
        let (to, copy) = match common.as_ref().and_then(|c| source.strip_prefix(c).ok()) {
            Some(rest) => {
                let to = format!(
                    "../../../{COMMON}/{}",
                    rest.to_string_lossy().replace('\\', "/")
                );
                (to, false)
            }
            None if n.rel == ".." || n.rel.starts_with("../") => {
                let inside: Vec<&str> = n.rel.split('/').skip_while(|p| *p == "..").collect();
                let to = match inside.join("/") {
                    s if s.is_empty() => source
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    s => s,
                };
                (to, true)
            }
            None => (n.rel.clone(), true),
        };
        if to == "spec.yaml" {
            return Err(Refused::Fail(format!(
                "{written} would be copied to spec.yaml, which is the version's spec: rename it"
            )));
        }
        let rewrite = match &n.via {
            None if normalize(&n.text.value) == to => None,
            None => {
                notes.push(match copy {
                    true => format!(
                        "{written} leaves the spec's folder: copied to `{to}`, and the spec says so"
                    ),
                    false => format!(
                        "{written} is in the registry's {COMMON}/ folder: the spec names it from the version, `{to}`"
                    ),
                });
                Some(scalar(&to))
            }
            // Component files keep their text: what they name must land where it says.
            Some(file) => {
                let file_to = named
                    .iter()
                    .zip(&placed)
                    .find(|(m, _)| m.rel == *file)
                    .map(|(_, p)| p.to.clone())
                    .unwrap_or_else(|| file.clone());
                let from_file = file_to.rsplit_once('/').map_or("", |(d, _)| d);
                if normalize(&format!("{from_file}/{}", n.text.value)) != to {
                    return Err(Refused::Fail(format!(
                        "{}:{}: {written} in `{file}` would not find its target once copied (`{to}`): mlreg add rewrites paths in the spec only; move it beside `{file}`",
                        n.text.loc.file, n.text.loc.line
                    )));
                }
                None
            }
        };
        placed.push(Placed {
            source,
            to,
            copy,
            rewrite,
        });
    }
    // A path inside a folder that is copied anyway comes with it; two different things at one
    // place cannot both be copied.
    let mut copied: Vec<(String, PathBuf)> = Vec::new();
    let mut order: Vec<usize> = (0..placed.len()).filter(|i| placed[*i].copy).collect();
    order.sort_by(|a, b| placed[*a].to.cmp(&placed[*b].to));
    for i in order {
        let p = &placed[i];
        let within = copied.iter().find_map(|(to, source)| {
            let rest = match to.is_empty() {
                true => Some(p.to.as_str()),
                false => p.to.strip_prefix(to.as_str()).and_then(|r| {
                    (r.is_empty() || r.starts_with('/')).then(|| r.trim_start_matches('/'))
                }),
            }?;
            Some(join(source, rest))
        });
        match within {
            Some(expected) if expected.canonicalize().ok().as_ref() == Some(&p.source) => {
                placed[i].copy = false;
            }
            Some(_) => {
                return Err(Refused::Fail(format!(
                    "`{}` and another path the spec names would both be copied to `{}`: rename one",
                    named[i].text.value, p.to
                )));
            }
            None => copied.push((p.to.clone(), p.source.clone())),
        }
    }
    Ok(placed)
}

/// A relative path with `.` parts and inner `..` folded (`./a/../b/` is `b`); leading `..` stay.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split(['/', '\\']) {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn join(base: &Path, rel: &str) -> PathBuf {
    match rel.is_empty() {
        true => base.to_path_buf(),
        false => base.join(rel),
    }
}

/// Copy a file, or a folder's files (dot-files left out, as the registry ignores them, and the
/// `exclude`d: the spec itself, which spec.yaml replaces, and the registry, when the folder
/// holds it). The number of files copied, and the dot-files and dot-folders left out.
fn copy(from: &Path, to: &Path, exclude: &[PathBuf]) -> Result<(usize, Vec<String>), String> {
    let fail = |what: &Path, e: std::io::Error| format!("cannot copy `{}`: {e}", what.display());
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::copy(from, to).map_err(|e| fail(from, e))?;
        return Ok((1, Vec::new()));
    }
    let (mut files, mut dots) = (0, Vec::new());
    let walk = WalkDir::new(from)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let dot = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            if dot {
                let rel = e.path().strip_prefix(from).unwrap_or(e.path());
                dots.push(rel.to_string_lossy().replace('\\', "/"));
            }
            !dot && !e.path().canonicalize().is_ok_and(|c| exclude.contains(&c))
        });
    for entry in walk {
        let entry = entry.map_err(|e| format!("cannot copy `{}`: {e}", from.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::copy(entry.path(), &dest).map_err(|e| fail(entry.path(), e))?;
        files += 1;
    }
    Ok((files, dots))
}

/// Changes to the spec's text, applied line by line where the text allows it; otherwise the
/// same changes made to the parsed tree, which is serialized anew.
struct Edits<'a> {
    text: &'a str,
    root: &'a Node,
    /// (start, end, replacement) byte ranges of `text`.
    ranges: Vec<(usize, usize, String)>,
    /// The same changes, for a tree: keys to drop, keys to add (after `$schema`), and
    /// (offset of a scalar, its new text).
    dropped: Vec<usize>,
    added: Vec<(String, String)>,
    replaced: Vec<(usize, String)>,
    /// Why the text cannot be edited in place, once that is known.
    whole: Option<&'static str>,
}

impl<'a> Edits<'a> {
    fn new(text: &'a str, root: &'a Node) -> Edits<'a> {
        let flow = text.as_bytes().get(root.pos.offset) == Some(&b'{');
        Edits {
            text,
            root,
            ranges: Vec::new(),
            dropped: Vec::new(),
            added: Vec::new(),
            replaced: Vec::new(),
            whole: flow.then_some("its top level is a flow mapping, `{...}`"),
        }
    }

    fn entries(&self) -> &'a [(Node, Node)] {
        self.root.as_map().unwrap_or(&[])
    }

    /// Drop the `i`th top-level entry: its lines, from its key to the next key, less the comment
    /// and blank lines just above that key, which belong to it.
    fn drop_entry(&mut self, i: usize) {
        self.dropped.push(i);
        let entries = self.entries();
        let key = &entries[i].0;
        let start = line_start(self.text, key.pos.offset);
        let mut end = match entries.get(i + 1) {
            Some((next, _)) => line_start(self.text, next.pos.offset),
            None => self.text.len(),
        };
        let indent = (key.pos.col as usize).saturating_sub(1);
        while end > 0 {
            let prev = line_start(self.text, end - 1);
            if prev <= start {
                break;
            }
            let line = &self.text[prev..end];
            let body = line.trim_start_matches(' ');
            let comment = body.starts_with('#') && line.len() - body.len() <= indent;
            if !(comment || body.trim().is_empty()) {
                break;
            }
            end = prev;
        }
        self.ranges.push((start, end, String::new()));
    }

    /// Insert top-level `key: value` lines after the line where `after` falls (first of all,
    /// when it is `None`).
    fn insert(&mut self, after: Option<usize>, lines: &[String]) {
        for line in lines {
            if let Some((k, v)) = line.split_once(": ") {
                self.added.push((k.to_string(), v.to_string()));
            }
        }
        let first = self.entries().first().map(|(k, _)| k);
        let indent = " ".repeat(first.map_or(0, |k| (k.pos.col as usize).saturating_sub(1)));
        let mut text: String = lines.iter().map(|l| format!("{indent}{l}\n")).collect();
        let at = match after {
            Some(offset) => match self.text[offset..].find('\n') {
                Some(nl) => offset + nl + 1,
                None => {
                    text.insert(0, '\n');
                    self.text.len()
                }
            },
            None => first.map_or(self.text.len(), |k| line_start(self.text, k.pos.offset)),
        };
        self.ranges.push((at, at, text));
    }

    /// Replace a scalar written at `loc` with `with` (YAML text, quoted as needed).
    fn replace(&mut self, loc: &Loc, with: &str) {
        self.replaced.push((loc.offset, with.to_string()));
        let written = self
            .text
            .get(loc.offset..loc.offset + loc.len)
            .unwrap_or("");
        if written.is_empty() || written.contains('\n') {
            self.whole
                .get_or_insert("a path to rewrite is written over several lines");
            return;
        }
        self.ranges
            .push((loc.offset, loc.offset + loc.len, with.to_string()));
    }

    /// The new text, and how its offsets map back to the spec's, or why it was serialized anew.
    fn finish(self) -> (String, Result<Shifts, &'static str>) {
        if let Some(why) = self.whole {
            return (self.serialized(), Err(why));
        }
        let mut ranges = self.ranges;
        ranges.sort_by_key(|r| (r.0, r.1));
        let mut out = String::with_capacity(self.text.len());
        let mut shifts = Vec::new();
        let mut at = 0;
        for (start, end, with) in ranges {
            out.push_str(&self.text[at..start.max(at)]);
            shifts.push((
                out.len(),
                out.len() + with.len(),
                start.max(at),
                end.max(at),
            ));
            out.push_str(&with);
            at = at.max(end);
        }
        out.push_str(&self.text[at..]);
        (out, Ok(Shifts(shifts)))
    }

    /// The tree with the changes made, as YAML.
    fn serialized(&self) -> String {
        fn rewrite(n: &mut Node, replaced: &[(usize, String)]) {
            match &mut n.value {
                Value::Str(s) => {
                    if let Some((_, with)) = replaced.iter().find(|(o, _)| *o == n.pos.offset) {
                        *s = yaml::parse(with)
                            .ok()
                            .and_then(|p| p.as_str().map(str::to_string))
                            .unwrap_or_else(|| with.clone());
                    }
                }
                Value::Seq(items) => items.iter_mut().for_each(|i| rewrite(i, replaced)),
                Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| rewrite(v, replaced)),
                _ => {}
            }
        }
        let mut root = self.root.clone();
        rewrite(&mut root, &self.replaced);
        let text = |s: &str| Node {
            value: Value::Str(s.to_string()),
            pos: Default::default(),
            plain: false,
        };
        if let Value::Map(entries) = &mut root.value {
            let mut kept: Vec<(Node, Node)> = entries
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.dropped.contains(i))
                .map(|(_, e)| e.clone())
                .collect();
            let after = kept
                .iter()
                .position(|(k, _)| k.as_str() == Some("$schema"))
                .map_or(0, |i| i + 1);
            for (i, (k, v)) in self.added.iter().enumerate() {
                let value = yaml::parse(v)
                    .ok()
                    .and_then(|p| p.as_str().map(str::to_string))
                    .unwrap_or_else(|| v.clone());
                kept.insert(after + i, (text(k), text(&value)));
            }
            *entries = kept;
        }
        yaml::to_yaml(&root.to_json())
    }
}

/// Where the edits of a spec are: (start, end) in the new text and (start, end) in the old.
struct Shifts(Vec<(usize, usize, usize, usize)>);

impl Shifts {
    /// The offset in the old text of `offset` in the new one (the start of an edit, inside it).
    fn back(&self, offset: usize) -> usize {
        let mut delta: isize = 0;
        for &(out_start, out_end, in_start, in_end) in &self.0 {
            if offset < out_start {
                break;
            }
            if offset < out_end {
                return in_start;
            }
            delta += out_end as isize - out_start as isize - (in_end as isize - in_start as isize);
        }
        offset.saturating_add_signed(-delta)
    }
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The lineage skeleton: every field commented out, or the job a model's spec names.
fn skeleton_lineage(id: &str, base_url: Option<&str>, job: Option<&str>) -> String {
    let schema = base_url
        .map(|b| format!("# yaml-language-server: $schema={b}schemas/lineage-yaml.schema.json\n"))
        .unwrap_or_default();
    let body = match job {
        Some(j) => format!("job:\n  name: {}", scalar(j)),
        None => "{}   # nothing yet: replace with the fields above".to_string(),
    };
    fill(LINEAGE, &[("SCHEMA", &schema), ("ID", id), ("BODY", &body)])
}

/// The card skeleton: model-card keys for models, the common ones for the rest.
fn skeleton_card(new: &New, description: Option<&str>) -> String {
    let template = match new.kind {
        Kind::Model => CARD_MODEL,
        _ => CARD,
    };
    let description = description
        .map(|d| format!("\n{}\n", d.trim()))
        .unwrap_or_default();
    fill(
        template,
        &[
            ("NAME", new.name),
            ("VERSION", new.version),
            ("DESCRIPTION", &description),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(text: &str, f: impl FnOnce(&mut Edits)) -> (String, Option<&'static str>) {
        let root = yaml::parse(text).unwrap();
        let mut e = Edits::new(text, &root);
        f(&mut e);
        let (out, shifts) = e.finish();
        (out, shifts.err())
    }

    #[test]
    fn read_only_entries_go_with_their_lines_but_not_the_next_keys_comments() {
        let text = "# top\n$schema: s\nid: /subscriptions/x\ncreation_context:\n  created_by: a\n  created_at: b\n\n# the model\npath: model\n";
        let (out, whole) = edited(text, |e| {
            e.drop_entry(1);
            e.drop_entry(2);
        });
        assert_eq!(out, "# top\n$schema: s\n\n# the model\npath: model\n");
        assert_eq!(whole, None);
    }

    #[test]
    fn name_and_version_go_after_schema_even_when_what_follows_is_dropped() {
        let text = "$schema: s # kind\nid: x\npath: model";
        let (out, _) = edited(text, |e| {
            e.drop_entry(1);
            e.insert(
                Some("$schema: s".len()),
                &["name: m".into(), "version: \"2\"".into()],
            );
        });
        assert_eq!(
            out,
            "$schema: s # kind\nname: m\nversion: \"2\"\npath: model"
        );
        let (out, _) = edited("path: model", |e| {
            e.insert(Some(11), &["version: \"1\"".into()])
        });
        assert_eq!(out, "path: model\nversion: \"1\"\n");
        let (out, _) = edited("# c\n  path: m\n", |e| e.insert(None, &["name: x".into()]));
        assert_eq!(out, "# c\n  name: x\n  path: m\n");
    }

    #[test]
    fn paths_are_replaced_in_place_or_the_spec_is_serialized_anew() {
        let text = "code: '../src' # shared\ncommand: run\n";
        let root = yaml::parse(text).unwrap();
        let code = &root.as_map().unwrap()[0].1;
        let loc = Loc::at(&Arc::from("s"), code.pos);
        let (out, _) = edited(text, |e| e.replace(&loc, "src"));
        assert_eq!(out, "code: src # shared\ncommand: run\n");

        let flow = "{code: ../src, id: x}";
        let root = yaml::parse(flow).unwrap();
        let loc = Loc::at(&Arc::from("s"), root.as_map().unwrap()[0].1.pos);
        let (out, whole) = edited(flow, |e| {
            e.replace(&loc, "src");
            e.drop_entry(1);
            e.insert(None, &["name: x".into()]);
        });
        assert!(whole.is_some());
        let back = yaml::parse(&out).unwrap().to_json();
        assert_eq!(back, serde_json::json!({"code": "src", "name": "x"}));
    }

    #[test]
    fn offsets_of_the_new_text_map_back_to_the_spec() {
        let text = "$schema: s\nid: x\npath: ../m\ndescripton: d\n";
        let root = yaml::parse(text).unwrap();
        let path = &root.as_map().unwrap()[2].1;
        let mut e = Edits::new(text, &root);
        e.drop_entry(1);
        e.insert(Some(10), &["name: n".into()]);
        e.replace(&Loc::at(&Arc::from("s"), path.pos), "m");
        let (out, shifts) = e.finish();
        assert_eq!(out, "$schema: s\nname: n\npath: m\ndescripton: d\n");
        let shifts = shifts.unwrap();
        let typo = out.find("descripton").unwrap();
        assert_eq!(shifts.back(typo), text.find("descripton").unwrap());
        assert_eq!(
            shifts.back(out.find("name").unwrap()),
            text.find("id").unwrap()
        );
        assert_eq!(
            shifts.back(out.find("path: m").unwrap() + 6),
            path.pos.offset
        );
        assert_eq!(shifts.back(3), 3);
    }

    #[test]
    fn paths_fold() {
        assert_eq!(normalize("./a/../b/"), "b");
        assert_eq!(normalize("../../x/./y"), "../../x/y");
        assert_eq!(normalize("."), "");
    }
}
