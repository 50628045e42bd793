//! `mlreg build`: check, plan, render and write the registry into its output folder, with the
//! serial that follows the previous build.

use super::{EXIT_MOVED_ON, Ui, emit, failed, registry_dir};
use crate::cli::BuildArgs;
use crate::client;
use crate::diag::plural;
use crate::publish::cache::Cache;
use crate::publish::dirs::{Dirs, Part};
use crate::publish::fresh::{self, Inputs, Record};
use crate::publish::memo::Memo;
use crate::publish::sign::{self, Signer};
use crate::publish::{against, output, plan};
use crate::registry;
use crate::site;
use std::path::{Path, PathBuf};

pub fn run(ui: &Ui, args: BuildArgs) -> u8 {
    let out = args.out.clone();
    let code = build(ui, args);
    crate::publish::cache::tidy(&out);
    code
}

fn build(ui: &Ui, args: BuildArgs) -> u8 {
    let display = match registry_dir(ui, &args.dir) {
        Ok(d) => d,
        Err(code) => return code,
    };
    if let Err(e) = separate(&args.dir, &args.out) {
        return ui.fail(e);
    }
    let owned = args.out.join(output::MARKER).is_file();
    // What this build reads, fingerprinted before it reads anything: when it is what the last
    // build of the folder read, and the folder is as that build left it, there is nothing to do.
    // (Folders are listed as the last build of the folder listed them while their stamps hold;
    // the listings are held only while they are used.)
    let inputs = match owned && args.against.is_none() {
        true => {
            let record = Record::load(&args.out);
            let given = given(&args, &display);
            let given: Vec<&[u8]> = given.iter().map(Vec::as_slice).collect();
            let listed = Dirs::load(&args.out, Part::Inputs);
            let inputs = Inputs::of(
                &args.dir,
                args.templates.as_deref(),
                &given,
                record.as_ref(),
                &listed,
            );
            listed.save();
            let listed = || Dirs::load(&args.out, Part::Output);
            if let (Some(record), Some(inputs)) = (&record, &inputs)
                && record.holds(inputs, &args.out, sign::now(), listed)
                && let Some(report) = record.report()
            {
                return unchanged(ui, &args, record, &report);
            }
            inputs
        }
        false => None,
    };
    // The checked manifests of the assets whose folders did not change since the last build
    // of the folder: not read again.
    let mut memo = inputs
        .as_ref()
        .map(|inputs| Memo::new(&args.out, &args.dir, &display, inputs));
    // The output folder's build cache: hashes of unchanged source files, pages of unchanged
    // assets. Only for a folder mlreg made; never trusted beyond what it can prove. (Read
    // while the registry is checked: a large one's is tens of megabytes.)
    let (mut outcome, cache) = rayon::join(
        || {
            let earlier = memo.as_mut().map(Memo::lend).unwrap_or_default();
            registry::check_after(&args.dir, &display, earlier)
        },
        || match owned {
            true => Cache::load(&args.out),
            false => Cache::default(),
        },
    );
    let Some((mut loaded, mut registry)) = outcome.registry.take() else {
        return ui.fail("no registry was read");
    };
    if let Some(memo) = &memo {
        memo.keep(&loaded);
    }
    let built = match source_date_epoch() {
        Ok(b) => b,
        Err(e) => return ui.fail(e),
    };
    // What the output folder held when this build started: it must still hold it when this
    // build is written, or another build came between.
    let started_with = client::Source::Folder(args.out.clone())
        .root()
        .ok()
        .filter(|_| owned)
        .map(|r| r.snapshot.path);
    // The previous build: `--against`, else the output folder when mlreg made it. Published
    // versions keep their pins and their bytes, and the stage log only grows, whether or not
    // the registry has other errors: every problem shows in one run. Only its asset documents
    // that differ from this plan are read: an identical one has nothing to compare and no pin
    // to keep.
    let location = match &args.against {
        Some(prev) => Some(prev.clone()),
        None if owned => Some(args.out.to_string_lossy().into_owned()),
        None => None,
    };
    // The previous build's listing, read once. An asset whose document comes out as that
    // build's has nothing to compare and no pin to keep, so its manifests go once it is planned
    // (every asset's, with no previous build or none readable: nothing is compared then).
    let listing = location.as_deref().map(against::Listing::read);
    let changed = |id: &str, path: &str| match &listing {
        Some(Ok(listing)) => listing.path(id).is_some_and(|was| was != path),
        _ => false,
    };
    let make_plan = |loaded: &mut registry::load::Loaded, registry: &registry::model::Registry| {
        plan::plan_taking(&args.dir, loaded, registry, &cache, &changed)
    };
    let mut planned = make_plan(&mut loaded, &registry);
    let previous = match (&location, &listing, &planned) {
        (Some(at), Some(listing), Ok(p)) => match listing
            .as_ref()
            .map_err(String::clone)
            .and_then(|listing| listing.load_changed(p))
        {
            Ok(prev) => Some(prev),
            Err(e) if args.against.is_some() => {
                return ui.fail(format!("cannot read the previous build {at}: {e}"));
            }
            Err(_) => None,
        },
        _ => None,
    };
    if let Some(prev) = &previous {
        let mut kept = against::keep_pins(prev, &mut registry, &loaded);
        if !kept.is_empty() {
            // Pins went back to what was published: plan again with them. That needs every
            // asset, and a plan made against a readable listing took those whose documents
            // came out as the previous build's: read the registry again.
            (loaded, registry) = match reread(&args.dir, &display) {
                Ok(r) => r,
                Err(e) => return ui.fail(e),
            };
            kept = against::keep_pins(prev, &mut registry, &loaded);
            planned = make_plan(&mut loaded, &registry);
        }
        outcome.report.extend(kept);
    }
    let published = previous.map(|p| p.published());
    if let (Some(published), Ok(planned)) = (&published, &planned) {
        outcome.report.extend(against::compare(
            published,
            &planned.docs,
            &loaded,
            &display,
        ));
    }
    registry::settle(&mut outcome.report, &outcome.lints);
    if failed(&outcome.report, &args.report) {
        return emit(
            ui,
            &outcome.report,
            &args.report,
            "nothing written: the registry has errors",
        );
    }
    let planned = match planned {
        Ok(p) => p,
        Err(e) => return ui.fail(e),
    };
    // The serial grows by one whenever the published snapshot changes.
    let previous = match published.map(|p| (p.serial, p.snapshot)) {
        Some(last) => Some(last),
        None => client::Source::Folder(args.out.clone())
            .root()
            .ok()
            .filter(|_| owned)
            .map(|r| (r.serial, r.snapshot.path)),
    };
    let serial = match previous {
        Some((serial, snapshot)) if snapshot == planned.snapshot.path => serial,
        Some((serial, _)) => serial + 1,
        None => 1,
    };
    let keep = loaded
        .config
        .as_ref()
        .map_or(registry::manifest::Publishing::KEEP, |c| c.publish.keep());
    let trust = loaded.config.as_ref().and_then(|c| c.trust.clone());
    // From here on the documents are all that is needed: free the manifests before rendering.
    drop((loaded, registry));
    let writer = match output::Writer::open(&args.out, args.force, started_with.as_deref()) {
        Ok(w) => w.with_cache(cache),
        Err(e) => return refused(ui, e),
    };
    // The registry's files, most of them blobs in one folder, are written by one thread while
    // pages render on the others: threads creating files in one folder queue on its lock.
    let (files, pages) = rayon::join(
        || writer.put_each(&planned.set),
        || site::render(&args.dir, &planned, &writer, args.templates.as_deref()),
    );
    let written = files.and(pages);
    if let Err(e) = written {
        writer.abandon();
        return ui.fail(e);
    }
    // Signed against the root the folder holds: its key set, and its signature when nothing
    // changed and it is far from expiring.
    let held = client::Source::Folder(args.out.clone())
        .root()
        .ok()
        .filter(|_| owned);
    let signed = Signer::load(&args.signing_key).and_then(|signer| {
        sign::sign(
            planned.root_doc(serial, built),
            trust.as_ref(),
            held.as_ref(),
            &signer,
            sign::now(),
        )
    });
    let signed = match signed {
        Ok(s) => s,
        Err(e) => {
            writer.abandon();
            return ui.fail(e);
        }
    };
    if let Some((path, bytes)) = signed.trust_doc
        && let Err(e) = writer.put(&path, &output::Content::Bytes(bytes.into()))
    {
        writer.abandon();
        return ui.fail(e);
    }
    let hashes = writer.cached_hashes();
    let kept_until = trust.as_ref().and_then(|config| {
        let root = serde_json::from_slice(&signed.root).ok()?;
        sign::kept_until(&root, config)
    });
    // The output's folders as the last build listed them, for the sweep and the record.
    let dirs = Dirs::load(&args.out, Part::Output);
    // The lock is held until the record of this build is made: no other build writes into the
    // folder while it is looked at.
    let output::Finished {
        stats,
        lock: _lock,
        cache,
        seen,
    } = match writer.finish(signed.root, &planned.snapshot.path, keep, &dirs) {
        Ok(f) => f,
        Err(e) => return refused(ui, e),
    };
    let done = fresh::Done {
        subject: &outcome.subject,
        serial,
        files: stats.written + stats.unchanged,
        kept_until,
        report: &outcome.report,
    };
    // The build cache is written while the output folder is fingerprinted for the record: it
    // lives elsewhere, and both only look at what the build left. The folders' listings are
    // saved once the record's look at the folder has listed them.
    let (_, record) = rayon::join(
        || cache.map(|cache| cache.save(&args.out)),
        || {
            let record =
                inputs.and_then(|inputs| Record::new(inputs, &args.out, done, &dirs, &seen));
            dirs.save();
            record
        },
    );
    if let Some(record) = record {
        record.save(&args.out);
    }
    let mut summary = format!(
        "built {} into {}: serial {serial}; wrote {} ({}), {} unchanged, {} removed",
        outcome.subject,
        args.out.display(),
        plural(stats.written, "file"),
        plural(stats.bytes as usize, "byte"),
        stats.unchanged,
        stats.removed
    );
    let checked = memo.as_ref().map_or(0, Memo::hits);
    if stats.cached + hashes + checked > 0 {
        summary.push_str(&format!(
            "; from the build cache: {}, {} {}, {}",
            plural(stats.cached, "page"),
            hashes,
            if hashes == 1 {
                "file hash"
            } else {
                "file hashes"
            },
            plural(checked, "checked asset"),
        ));
    }
    let code = emit(ui, &outcome.report, &args.report, &summary);
    // The process ends next: freeing every document one by one would only delay that.
    std::mem::forget((planned, outcome));
    code
}

/// The registry read again, whole, after a plan took its assets (see `plan::plan_taking`).
fn reread(
    dir: &Path,
    display: &str,
) -> Result<(registry::load::Loaded, registry::model::Registry), String> {
    registry::check(dir, display)
        .registry
        .ok_or_else(|| "no registry was read".to_string())
}

/// What besides the registry and templates folders a build's output depends on, as key parts:
/// the registry as diagnostics name it, the templates folder, the build time, the signing keys.
fn given(args: &BuildArgs, display: &str) -> Vec<Vec<u8>> {
    let env = |name: &str| match std::env::var_os(name) {
        Some(v) => crate::publish::hash::sha256(v.as_encoded_bytes()).into_bytes(),
        None => b"-".to_vec(),
    };
    let mut parts = vec![
        display.as_bytes().to_vec(),
        args.templates
            .as_ref()
            .map_or(b"-".to_vec(), |t| t.as_os_str().as_encoded_bytes().to_vec()),
        env("SOURCE_DATE_EPOCH"),
        env(sign::KEY_ENV),
        env(sign::PASSWORD_ENV),
    ];
    for key in &args.signing_key {
        parts.push(key.as_os_str().as_encoded_bytes().to_vec());
        parts.push(match crate::publish::hash::file(key) {
            Ok((sha256, _)) => sha256.into_bytes(),
            Err(_) => b"-".to_vec(),
        });
    }
    parts
}

/// A build skipped whole: the last one's report again, and what its summary would say.
fn unchanged(ui: &Ui, args: &BuildArgs, record: &Record, report: &crate::diag::Report) -> u8 {
    if failed(report, &args.report) {
        return emit(
            ui,
            report,
            &args.report,
            "nothing written: the registry has errors",
        );
    }
    let summary = format!(
        "built {} into {}: serial {}; wrote 0 files (0 bytes), {} unchanged, 0 removed; nothing changed since the last build",
        record.subject,
        args.out.display(),
        record.serial,
        record.files,
    );
    emit(ui, report, &args.report, &summary)
}

/// The build time from `SOURCE_DATE_EPOCH` (RFC 3339), the only clock a build reads.
pub(super) fn source_date_epoch() -> Result<Option<String>, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(secs) => Ok(Some(crate::time::rfc3339(secs))),
            Err(_) => Err(format!(
                "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
            )),
        },
        Err(_) => Ok(None),
    }
}

/// A write that was refused: another build moving the folder on has its own exit status.
fn refused(ui: &Ui, why: output::Refused) -> u8 {
    match why {
        output::Refused::MovedOn(m) => {
            ui.fail(m);
            EXIT_MOVED_ON
        }
        output::Refused::Failed(m) => ui.fail(m),
    }
}

/// The output folder is swept of files a build does not produce, so it must neither hold nor
/// sit inside the registry source.
fn separate(source: &Path, out: &Path) -> Result<(), String> {
    let absolute = |p: &Path| -> PathBuf {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // Resolve what exists (symlinks included); keep the rest as written.
        let mut existing = p.clone();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (
                existing.file_name().map(|n| n.to_os_string()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut resolved = existing.canonicalize().unwrap_or(existing);
        resolved.extend(rest.iter().rev());
        resolved
    };
    let (src, dst) = (absolute(source), absolute(out));
    if dst.starts_with(&src) || src.starts_with(&dst) {
        return Err(format!(
            "the output folder `{}` and the registry `{}` must not contain each other",
            out.display(),
            source.display()
        ));
    }
    Ok(())
}

/// The previous build named by `--against`, verified as a client reads it.
pub(super) fn load_previous(prev: &str) -> Result<against::Previous, String> {
    against::load(prev).map_err(|e| format!("cannot read the previous build {prev}: {e}"))
}
