//! `mlreg add KIND/NAME SPEC.yml [--version V]`: a new version from an Azure ML CLI v2 spec as
//! users have it, the YAML `az ml <kind> create -f` reads or what `az ml <kind> show -o yaml`
//! prints.
//!
//! The spec is changed as little as possible, line by line, keeping the user's text and
//! comments, and every change is said in a note:
//!
//! - the read-only fields `show` prints (`id`, `creation_context`, ...; see `READ_ONLY`) are
//!   dropped;
//! - `name` and `version`, when present, must agree with KIND/NAME and `--version` (else nothing
//!   is done); when absent they are filled in, so that the file is ready for `az ml ... create -f`;
//! - local paths (resolved against the spec's folder, as `az ml` does) are copied into the
//!   version folder at the same relative path, so the spec still names them as written. A path
//!   that climbs out of the spec's folder (`../lib/src`) cannot stay as written: it is copied
//!   without its leading `..` (`lib/src`) and rewritten; one into the registry's `common/`
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
//!
//! This module runs the add, in order: the registry checked, the spec read, the version staged,
//! moved into place and checked with the rest, then kept or taken back. The spec's name, version
//! and read-only fields are in `spec`, the paths it names in `paths`, the changes to its text in
//! `edits`, and the files of the version folder in `stage`.

mod edits;
mod paths;
mod spec;
mod stage;

use super::authoring::Staging;
use super::{EXIT_ERRORS, EXIT_OK, Ui, registry_dir};
use crate::cli::AddArgs;
use crate::diag::{Diagnostic, Loc, Report, Severity, codes};
use crate::registry;
use crate::registry::decode::Cx;
use crate::registry::discover;
use crate::registry::kind::DEFAULT_STAGES;
use crate::registry::load::Loader;
use crate::registry::reference::Scope;
use edits::{Edits, Shifts, line_start};
use paths::{INPUT_PATHS, join_shown, place};
use spec::{Identity, READ_ONLY, asset};
use stage::{New, stage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    let spec = registry::spec::decode(
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
    let named = match &spec {
        Some(spec) => paths::named(
            &mut loader,
            &spec_dir,
            &spec_dir_shown,
            scope,
            spec,
            &shown,
            entries,
        ),
        None => Vec::new(),
    };
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
