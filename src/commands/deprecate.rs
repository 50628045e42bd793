//! `mlreg deprecate REF --reason R [--replaced-by REF]`: a version (`deprecated_versions` in
//! asset.yaml) or a whole asset (`deprecated`), written only if the registry still checks (see
//! `promote`, which owns the change-and-check session). A stage that holds the version is
//! warned about (W087), not refused: deprecating what prod runs is how a team says it must go;
//! `lints: { W087: deny }` turns that into a refusal.

use super::promote::{Session, day};
use super::{EXIT_OK, Ui};
use crate::cli::DeprecateArgs;
use crate::diag::Severity;
use crate::registry::yaml::scalar;

pub fn run(ui: &Ui, args: DeprecateArgs) -> u8 {
    let Some(reason) = args.entry.reason.clone() else {
        return ui.fail("give the --reason: it is shown wherever the version is used");
    };
    let mut session = match Session::open(ui, &args.entry, &args.report) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (kind, name, version) = match session.resolve(ui, &args.reference) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if let Some(r) = &args.replaced_by
        && let Err(code) = session.version(ui, r)
    {
        return code;
    }
    // Who deprecates is not recorded in asset.yaml (git has it): only the day is.
    let date = match day(&args.entry) {
        Ok(d) => d,
        Err(e) => return ui.fail(e),
    };
    let loaded = session.checked().0;
    let meta = &loaded.assets[&(kind, name.clone())].meta;
    let mut fields = vec![format!("reason: {}", scalar(&reason))];
    if let Some(r) = &args.replaced_by {
        fields.push(format!("replaced_by: {}", scalar(r)));
    }
    fields.push(format!("date: {date}"));
    let body = format!("{{ {} }}", fields.join(", "));
    let path = session
        .dir
        .join(kind.folder())
        .join(&name)
        .join("asset.yaml");
    let old = std::fs::read_to_string(&path).ok();
    let mut text = old.clone().unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let subject = match &version {
        Some(v) => format!("{}/{name}@{v}", kind.folder()),
        None => format!("{}/{name}", kind.folder()),
    };
    match &version {
        None if meta.deprecated.is_some() => {
            ui.status(format_args!(
                "{subject} is deprecated already: nothing changed"
            ));
            return EXIT_OK;
        }
        None => text.push_str(&format!("deprecated: {body}\n")),
        Some(v) if meta.deprecated_versions.iter().any(|(d, _)| d.value == *v) => {
            ui.status(format_args!(
                "{subject} is deprecated already: nothing changed"
            ));
            return EXIT_OK;
        }
        Some(v) => {
            let line = format!("  {}: {body}\n", scalar(v));
            match insert_under(&text, "deprecated_versions:", &line) {
                Some(t) => text = t,
                None if text.lines().any(|l| l.starts_with("deprecated_versions:")) => {
                    return ui.fail(format_args!(
                        "{}: `deprecated_versions` is written inline; add `{}: {body}` to it by hand",
                        path.display(),
                        scalar(v)
                    ));
                }
                None => text.push_str(&format!("deprecated_versions:\n{line}")),
            }
        }
    }
    if let Err(code) = session.change(ui, &path, old.as_deref(), &text) {
        return code;
    }
    let mut out = format!("deprecated {subject} ({})\n", path.display());
    for d in &session.report().diagnostics {
        if d.severity() == Severity::Warning && d.code.id == "W087" {
            out.push_str(&format!("  warning: {}\n", d.message));
        }
    }
    match ui.out(&out) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// `text` with `line` added right after the block-style top-level `key` line, if there is one.
fn insert_under(text: &str, key: &str, line: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + line.len());
    let mut done = false;
    for l in text.split_inclusive('\n') {
        out.push_str(l);
        if !done && l.trim_end() == key {
            out.push_str(line);
            done = true;
        }
    }
    done.then_some(out)
}
