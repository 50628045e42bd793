//! `mlreg publish [DIR] --to TARGET...`: check and build the registry, then publish it to each
//! target in turn, each one completely and in protocol order. A folder target is a build into
//! it; an object storage target gets only what it lacks, its root last and conditionally.

use super::{EXIT_MOVED_ON, EXIT_OK, Ui, emit, failed, registry_dir};
use crate::cli::{BuildArgs, PublishArgs};
use crate::client;
use crate::diag::plural;
use crate::publish::output::{Refused, Served, Writer};
use crate::publish::sign::{self, Signer};
use crate::publish::target::{ObjectTarget, Reuse};
use crate::publish::{against, index, plan};
use crate::registry;
use crate::site;

pub fn run(ui: &Ui, args: PublishArgs) -> u8 {
    let display = match registry_dir(ui, &args.dir) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let targets = match targets(&args.to, &args.dir, &display) {
        Ok(t) => t,
        Err(e) => return ui.fail(e),
    };
    // Each target on its own: one that fails leaves the others as consistent as it is.
    let mut worst = EXIT_OK;
    let mut done = 0;
    for to in &targets {
        let code = match to.split_once("://").map(|(scheme, _)| scheme) {
            None | Some("file") => super::build::run(
                ui,
                BuildArgs {
                    dir: args.dir.clone(),
                    out: to.strip_prefix("file://").unwrap_or(to).into(),
                    force: false,
                    templates: args.templates.clone(),
                    against: None,
                    signing_key: args.signing_key.clone(),
                    report: args.report.clone(),
                },
            ),
            Some(_) => to_object_storage(ui, &args, &display, to),
        };
        done += usize::from(code == EXIT_OK);
        worst = worst.max(code);
    }
    if targets.len() > 1 {
        ui.status(format_args!(
            "published to {done} of {} targets",
            targets.len()
        ));
    }
    worst
}

/// `--to`, else the targets `registry.yaml` lists.
pub(super) fn targets(
    to: &[String],
    dir: &std::path::Path,
    display: &str,
) -> Result<Vec<String>, String> {
    if !to.is_empty() {
        return Ok(to.to_vec());
    }
    let listed = registry::config(dir, display)
        .map(|c| c.publish.targets)
        .unwrap_or_default();
    if let Some((t, why)) = listed
        .iter()
        .find_map(|t| Some((t, crate::registry::names::target_problem(&t.value)?)))
    {
        return Err(format!("{}:{}: {why}", t.loc.file, t.loc.line));
    }
    let listed: Vec<String> = listed.into_iter().map(|t| t.value).collect();
    if listed.is_empty() {
        return Err(format!(
            "no target: give --to TARGET, or list them under `publish: targets:` in {}",
            crate::registry::discover::shown(display, "registry.yaml")
        ));
    }
    Ok(listed)
}

fn to_object_storage(ui: &Ui, args: &PublishArgs, display: &str, location: &str) -> u8 {
    let target = match ObjectTarget::open(location) {
        Ok(t) => t,
        Err(e) => return ui.fail(e),
    };
    let current = match target.root() {
        Ok(r) => r,
        Err(e) => return ui.fail(e),
    };
    let current_root = match current.as_ref().map(|r| client::parse_root(&r.bytes)) {
        Some(Ok(root)) => Some(root),
        Some(Err(e)) => return ui.fail(format_args!("{}{}: {e}", target.location(), index::ROOT)),
        None => None,
    };
    let mut outcome = registry::check(&args.dir, display);
    let Some((loaded, mut registry)) = outcome.registry.take() else {
        return ui.fail("no registry was read");
    };
    let built = match super::build::source_date_epoch() {
        Ok(b) => b,
        Err(e) => return ui.fail(e),
    };
    // Planned as the registry says: when that is what the target holds, there is nothing to
    // compare or pin, and nothing published needs reading.
    let mut planned = plan::plan(&args.dir, &loaded, &registry);
    let unchanged =
        matches!((&current_root, &planned), (Some(r), Ok(p)) if r.snapshot.path == p.snapshot.path);
    // What the target's root names, which the publish may rely on: all of it when unchanged.
    let mut named = None;
    if current_root.is_some() && !unchanged {
        let previous = match super::build::load_previous(location) {
            Ok(p) => p,
            Err(e) => return ui.fail(e),
        };
        let kept = against::keep_pins(&previous, &mut registry, &loaded);
        if !kept.is_empty() {
            planned = plan::plan(&args.dir, &loaded, &registry);
        }
        outcome.report.extend(kept);
        if let Ok(p) = &planned {
            let published = previous.published();
            outcome
                .report
                .extend(against::compare(&published, &p.docs, &loaded, display));
        }
        named = Some(previous.paths);
    }
    registry::settle(&mut outcome.report, &outcome.lints);
    if failed(&outcome.report, &args.report) {
        let why = format!(
            "nothing published to {}: the registry has errors",
            target.location()
        );
        return emit(ui, &outcome.report, &args.report, &why);
    }
    let planned = match planned {
        Ok(p) => p,
        Err(e) => return ui.fail(e),
    };
    let serial = match &current_root {
        Some(r) if r.snapshot.path == planned.snapshot.path => r.serial,
        Some(r) => r.serial + 1,
        None => 1,
    };
    let trust = loaded.config.as_ref().and_then(|c| c.trust.clone());
    drop((loaded, registry));
    let signed = Signer::load(&args.signing_key).and_then(|signer| {
        sign::sign(
            planned.root_doc(serial, built),
            trust.as_ref(),
            current_root.as_ref(),
            &signer,
            sign::now(),
        )
    });
    let signed = match signed {
        Ok(s) => s,
        Err(e) => return ui.fail(e),
    };
    let writer = Writer::in_memory();
    let rendered = writer
        .put_all(&planned.set)
        .and_then(|_| site::render(&args.dir, &planned, &writer, args.templates.as_deref()));
    if let Err(e) = rendered {
        return ui.fail(e);
    }
    let root = signed.root;
    let mut files = writer.into_memory(Vec::new());
    files.remove(index::ROOT);
    if let Some((path, bytes)) = signed.trust_doc {
        files.insert(path, Served::Bytes(std::sync::Arc::new(bytes)));
    }
    let reuse = match &named {
        Some(paths) => Reuse::Named(paths),
        None => Reuse::Any,
    };
    let sent = match target.publish(&files, &root, current.as_ref(), reuse, &progress(ui)) {
        Ok(s) => s,
        Err(Refused::MovedOn(m)) => {
            ui.fail(m);
            return EXIT_MOVED_ON;
        }
        Err(Refused::Failed(m)) => return ui.fail(m),
    };
    let summary = format!(
        "published {} to {}: serial {serial}; sent {} ({}), {} already there; {}",
        outcome.subject,
        target.location(),
        plural(sent.uploaded, "file"),
        plural(sent.bytes as usize, "byte"),
        sent.skipped,
        plural(sent.calls, "request")
    );
    emit(ui, &outcome.report, &args.report, &summary)
}

/// A bar of the bytes to send, on a terminal; nothing otherwise (the summary line says it all).
fn progress(ui: &Ui) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if ui.quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} uploading {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .expect("the template is valid");
    indicatif::ProgressBar::new(0).with_style(style)
}
