#![forbid(unsafe_code)]
//! mlreg: a static registry for machine-learning assets.
//!
//! Data flows one way: `discover` (which file is what) → `load` (bounded reads, YAML via
//! `yaml`, decoding via `manifest`/`spec`, single-manifest rules via `validate`) → `resolve`
//! (references, stages, lineage → `model::Registry`). Problems are `diag::Diagnostic`s,
//! collected and reported together; only usage and I/O failures stop a run.

pub mod against;
pub mod build;
pub mod check;
pub mod cli;
pub mod client;
pub mod decode;
pub mod diag;
pub mod discover;
pub mod hash;
pub mod index;
pub mod load;
pub mod manifest;
pub mod markdown;
pub mod model;
pub mod output;
pub mod reference;
pub mod render;
pub mod resolve;
pub mod schema;
pub mod serve;
pub mod spec;
pub mod svg;
pub mod validate;
pub mod yaml;

use cli::{
    BuildArgs, CheckArgs, Cli, Color, Command, FetchArgs, Format, KindArg, PullArgs, ReportArgs,
    ResolveArgs, ServeArgs,
};
use diag::{Report, Severity};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit statuses: success, registry errors, usage or I/O failure.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERRORS: u8 = 1;
pub const EXIT_FAILURE: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check(args) => check(args),
        Command::Build(args) => build(args),
        Command::Resolve(args) => resolve(args),
        Command::Pull(args) => pull(args),
        Command::Serve(args) => serve(args),
    };
    ExitCode::from(code)
}

/// A fatal failure: usage or I/O, not a problem in the registry.
fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_FAILURE
}

fn registry_dir(dir: &std::path::Path) -> Result<String, u8> {
    if !dir.is_dir() {
        return Err(fail(format_args!(
            "`{}` is not a folder (give the registry folder, or --spec FILE)",
            dir.display()
        )));
    }
    Ok(dir.to_string_lossy().trim_end_matches('/').to_string())
}

fn check(args: CheckArgs) -> u8 {
    let mut display = String::new();
    let mut outcome = if args.spec.is_empty() {
        display = match registry_dir(&args.dir) {
            Ok(d) => d,
            Err(code) => return code,
        };
        check::registry(&args.dir, &display)
    } else {
        let kind = args.kind.map(|k| match k {
            KindArg::Model => manifest::Kind::Model,
            KindArg::Environment => manifest::Kind::Environment,
            KindArg::Data => manifest::Kind::Data,
            KindArg::Component => manifest::Kind::Component,
        });
        check::specs(&args.spec, kind, !args.no_file_check)
    };
    if let (Some(prev), Some((loaded, registry))) = (&args.against, &outcome.registry)
        && outcome.report.count(Severity::Error) == 0
    {
        let compared = build::plan(&args.dir, loaded, registry).and_then(|planned| {
            compare_with(prev, &planned, loaded, &display, &mut outcome.report)
        });
        if let Err(e) = compared {
            return fail(e);
        }
    }
    emit(
        &outcome.report,
        &args.report,
        &format!("checked {}", outcome.subject),
    )
}

fn build(args: BuildArgs) -> u8 {
    let display = match registry_dir(&args.dir) {
        Ok(d) => d,
        Err(code) => return code,
    };
    if let Err(e) = separate(&args.dir, &args.out) {
        return fail(e);
    }
    let mut outcome = check::registry(&args.dir, &display);
    let Some((loaded, registry)) = outcome.registry.take() else {
        return fail("no registry was read");
    };
    if failed(&outcome.report, &args.report) {
        return emit(
            &outcome.report,
            &args.report,
            "nothing written: the registry has errors",
        );
    }
    let built = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(secs) => Some(build::rfc3339(secs)),
            Err(_) => {
                return fail(format_args!(
                    "SOURCE_DATE_EPOCH `{v}` is not a number of seconds"
                ));
            }
        },
        Err(_) => None,
    };
    let planned = match build::plan(&args.dir, &loaded, &registry) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // The serial grows by one whenever the published snapshot changes.
    let previous = match &args.against {
        Some(prev) => match compare_with(prev, &planned, &loaded, &display, &mut outcome.report) {
            Ok(p) => {
                if failed(&outcome.report, &args.report) {
                    return emit(
                        &outcome.report,
                        &args.report,
                        "nothing written: published history would change",
                    );
                }
                Some((p.serial, p.snapshot))
            }
            Err(e) => return fail(e),
        },
        None => client::Source::Folder(args.out.clone())
            .root()
            .ok()
            .filter(|_| args.out.join(output::MARKER).is_file())
            .map(|r| (r.serial, r.snapshot.path)),
    };
    let serial = match previous {
        Some((serial, snapshot)) if snapshot == planned.snapshot.path => serial,
        Some((serial, _)) => serial + 1,
        None => 1,
    };
    // From here on the documents are all that is needed: free the manifests before rendering.
    drop((loaded, registry));
    let writer = match output::Writer::open(&args.out, args.force) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let written = writer
        .put_all(&planned.set)
        .and_then(|_| render::render(&args.dir, &planned, &writer, args.templates.as_deref()));
    if let Err(e) = written {
        writer.abandon();
        return fail(e);
    }
    let stats = match writer.finish(planned.root(serial, built), &planned.snapshot.path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let summary = format!(
        "built {} into {}: serial {serial}; wrote {} files ({} bytes), {} unchanged, {} removed",
        outcome.subject,
        args.out.display(),
        stats.written,
        stats.bytes,
        stats.unchanged,
        stats.removed
    );
    emit(&outcome.report, &args.report, &summary)
}

/// The output folder is swept of files a build does not produce, so it must neither hold nor
/// sit inside the registry source.
fn separate(source: &std::path::Path, out: &std::path::Path) -> Result<(), String> {
    let absolute = |p: &std::path::Path| -> std::path::PathBuf {
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

/// Compare a planned build with the previous one at `prev`, adding what it would change or lose
/// to `report`.
fn compare_with(
    prev: &str,
    planned: &build::Planned,
    loaded: &load::Loaded,
    display: &str,
    report: &mut Report,
) -> Result<against::Previous, String> {
    let previous =
        against::load(prev).map_err(|e| format!("cannot read the previous build {prev}: {e}"))?;
    report.extend(against::compare(&previous, &planned.docs, loaded, display));
    report.finish();
    Ok(previous)
}

/// A client for the sources of `args`, with its cache.
fn client(args: &FetchArgs) -> Result<client::resolve::Client, String> {
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    let mut sources = Vec::new();
    for location in std::iter::once(&args.index).chain(&args.mirror) {
        sources.push(client::Source::open(location, timeout)?);
    }
    let dir = args
        .cache
        .clone()
        .unwrap_or_else(client::cache::Cache::default_dir);
    Ok(client::resolve::Client {
        sources,
        cache: client::cache::Cache::open(&dir)?,
        timeout,
    })
}

fn resolved_json(r: &client::resolve::Resolved) -> serde_json::Value {
    serde_json::json!({
        "registry": r.registry,
        "id": r.id,
        "version": r.version,
        "stage": r.stage,
        "reference": format!("{}@{}", r.id, r.version),
        "azure_uri": azure_uri(r),
        "digest": r.version_doc.digest,
        "spec_file": r.version_doc.spec_file,
        "files": r.version_doc.files,
        "source": r.source,
    })
}

fn azure_uri(r: &client::resolve::Resolved) -> String {
    let (kind, name) = r.id.split_once('/').unwrap_or(("", &r.id));
    format!(
        "azureml://registries/{}/{kind}/{name}/versions/{}",
        r.registry, r.version
    )
}

fn resolve(args: ResolveArgs) -> u8 {
    let args = args.fetch;
    let resolved = match client(&args)
        .and_then(|mut c| c.resolve(&args.reference, args.workspace.as_deref()))
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&resolved_json(&resolved)).expect("serializes")
        );
    } else {
        let size: u64 = resolved.version_doc.files.iter().map(|f| f.size).sum();
        println!(
            "{}@{}{} in registry {}",
            resolved.id,
            resolved.version,
            resolved
                .stage
                .as_ref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            resolved.registry
        );
        println!("  {}", azure_uri(&resolved));
        println!("  digest {}", resolved.version_doc.digest);
        println!(
            "  {} files, {size} bytes, from {}",
            resolved.version_doc.files.len(),
            resolved.source
        );
    }
    EXIT_OK
}

fn pull(args: PullArgs) -> u8 {
    let fetch = &args.fetch;
    let mut c = match client(fetch) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let resolved = match c.resolve(&fetch.reference, fetch.workspace.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let terminal = std::io::stderr().is_terminal() && !fetch.json;
    let wanted = client::pull::wanted(&resolved);
    let total = wanted.len();
    let total_bytes: u64 = wanted.iter().map(|(_, r)| r.size).sum();
    let mut progress = |path: &str, done: u64| {
        if terminal {
            let percent = (done * 100).checked_div(total_bytes).unwrap_or(100);
            eprint!("\r\x1b[K[{percent:>3}%] {done} of {total_bytes} bytes · {path}");
        }
    };
    let stats = match client::pull::pull(&c.sources, &c.cache, &resolved, &args.dest, &mut progress)
    {
        Ok(s) => s,
        Err(e) => {
            if terminal {
                eprintln!();
            }
            return fail(e);
        }
    };
    if terminal {
        eprintln!();
    }
    if fetch.json {
        let mut v = resolved_json(&resolved);
        v["dest"] = serde_json::json!(args.dest);
        v["fetched"] = serde_json::json!(stats.fetched);
        v["from_cache"] = serde_json::json!(stats.from_cache);
        v["kept"] = serde_json::json!(stats.kept);
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
    } else {
        println!(
            "pulled {}@{} into {}: {total} files ({} fetched, {} from the cache, {} already there), digest {}",
            resolved.id,
            resolved.version,
            args.dest.display(),
            stats.fetched,
            stats.from_cache,
            stats.kept,
            resolved.version_doc.digest
        );
    }
    EXIT_OK
}

fn serve(args: ServeArgs) -> u8 {
    if let Err(code) = registry_dir(&args.dir) {
        return code;
    }
    match serve::serve(&args.dir, args.port, args.templates.as_deref()) {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

fn failed(report: &Report, args: &ReportArgs) -> bool {
    report.count(Severity::Error) > 0 || (args.deny_warnings && report.count(Severity::Warning) > 0)
}

/// Print the report in the chosen format; the exit status it calls for.
fn emit(report: &Report, args: &ReportArgs, summary: &str) -> u8 {
    let text = match args.format {
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            format!("{}{summary}\n", report.render_human(color))
        }
        Format::Json => report.render_json(),
        Format::Github => report.render_github(),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return EXIT_FAILURE;
    }
    if failed(report, args) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}
