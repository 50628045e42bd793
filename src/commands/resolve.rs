//! `mlreg resolve`: pin a reference against a published registry and say what it names and
//! where it came from: `source` is the source whose root was used, `document_source` the one
//! that served the asset document (or the cache), `documents` every document read from a
//! source in this run. Also what `pull` shares with it: the client built from the fetch
//! arguments, the notes, and the JSON shape.
//!
//! Everything the index says is untrusted: human output passes it through [`client::escape`].

use super::{EXIT_OK, Ui};
use crate::cli::{FetchArgs, ResolveArgs};
use crate::client::{self, Failure, escape, resolve::Resolved};
use crate::diag::plural;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub fn run(ui: &Ui, args: ResolveArgs) -> u8 {
    let args = args.fetch;
    let mut c = match client(&args) {
        Ok(c) => c,
        Err(f) => return ui.failure(escaped(f)),
    };
    let resolved = c.resolve(&args.reference, args.workspace.as_deref());
    print_notes(ui, &c);
    let resolved = match resolved {
        Ok(r) => r,
        Err(f) => return ui.failure(escaped(f)),
    };
    let text = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&resolved_json(&resolved)).expect("serializes")
        )
    } else if ui.quiet {
        format!("{}@{}\n", escape(&resolved.id), escape(&resolved.version))
    } else {
        describe(&resolved)
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// What a person reads: the pin and why, where it lives, what it ships, and the stages.
fn describe(r: &Resolved) -> String {
    let why = match (&r.stage, &r.implied) {
        (Some(s), Some(implied)) => format!(" ({}: {})", escape(s), escape(implied)),
        (Some(s), None) => format!(" ({})", escape(s)),
        (None, Some(implied)) => format!(" (latest: {})", escape(implied)),
        (None, None) => String::new(),
    };
    let size = r
        .version_doc
        .files
        .iter()
        .fold(0u64, |sum, f| sum.saturating_add(f.size));
    let mut text = format!(
        "{}@{}{why} in registry {}\n",
        escape(&r.id),
        escape(&r.version),
        escape(&r.registry)
    );
    text.push_str(&format!("  {}\n", escape(&azure_uri(r))));
    text.push_str(&format!("  digest {}\n", escape(&r.version_doc.digest)));
    let (root, document) = (root_source(r), document_source(r));
    let from = match &document {
        Some(source) if *source == root => escape(source).into_owned(),
        Some(source) => format!("{} (registry.json from {})", escape(source), escape(&root)),
        None => format!("the cache (registry.json from {})", escape(&root)),
    };
    text.push_str(&format!(
        "  {}, {}, from {from}\n",
        plural(r.version_doc.files.len(), "file"),
        plural(usize::try_from(size).unwrap_or(usize::MAX), "byte"),
    ));
    if !r.stages.is_empty() {
        let stages: Vec<String> = r
            .stages
            .iter()
            .map(|(s, v)| format!("{} {}", escape(s), escape(v)))
            .collect();
        text.push_str(&format!("  stages: {}\n", stages.join(", ")));
    }
    text
}

/// What `--timeout` and `--total-timeout` default to, for commands that do not take them.
pub(super) const STALL: Duration = Duration::from_secs(30);
pub(super) const TOTAL: Duration = Duration::from_secs(3600);

/// A client for the sources of `args`, with its cache; the command's deadline starts now.
pub(super) fn client(args: &FetchArgs) -> Result<client::resolve::Client, Failure> {
    let locations: Vec<&str> = std::iter::once(&args.index)
        .chain(&args.mirror)
        .map(String::as_str)
        .collect();
    client_for(
        &locations,
        Duration::from_secs(args.timeout),
        Duration::from_secs(args.total_timeout),
        args.cache.as_deref(),
        &args.trusted_key,
    )
}

/// A client that reads the published registry at `locations` (the index, then its mirrors,
/// in order), giving up on a request after `stall` without a byte (at least a second) and on
/// the whole command after `total` (counted from now), with the cache in `cache` (default:
/// [`client::cache::Cache::default_dir`]), and roots held to `trusted_keys` (none: the keys
/// pinned in the cache, or trusted on first use).
pub(super) fn client_for(
    locations: &[&str],
    stall: Duration,
    total: Duration,
    cache: Option<&Path>,
    trusted_keys: &[String],
) -> Result<client::resolve::Client, Failure> {
    client::set_deadline(total);
    let timeout = stall.max(Duration::from_secs(1));
    let mut sources = Vec::new();
    for location in locations {
        sources.push(client::Source::open(location, timeout)?);
    }
    let dir = cache.map_or_else(client::cache::Cache::default_dir, Path::to_path_buf);
    Ok(client::resolve::Client {
        sources,
        cache: client::cache::Cache::open(&dir)?,
        timeout,
        trusted_keys: trusted_keys.to_vec(),
        notes: Default::default(),
    })
}

/// The client's notes and the sources given up on since the last call, on stderr (not with
/// `--quiet`); a note already printed in this run is not printed again (each root read
/// repeats that a registry is unsigned).
pub(super) fn print_notes(ui: &Ui, c: &client::resolve::Client) {
    static PRINTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let skipped: Vec<String> = c
        .sources
        .iter()
        .filter_map(client::Source::failure_note)
        .collect();
    let mut printed = PRINTED.lock().unwrap_or_else(PoisonError::into_inner);
    for note in c.notes.borrow_mut().drain(..).chain(skipped) {
        if printed.insert(note.clone()) {
            ui.status(format_args!("note: {}", escape(&note)));
        }
    }
}

/// A failure's message made safe for a terminal (it quotes what the index says).
pub(super) fn escaped(f: Failure) -> Failure {
    match f {
        Failure::NotFound(m) => Failure::NotFound(escape(&m).into_owned()),
        Failure::Broken(m) => Failure::Broken(escape(&m).into_owned()),
    }
}

/// The source whose `registry.json` the resolution used: the last one read (a root that is
/// refused sends the client on to the next source, so the accepted one comes last).
fn root_source(r: &Resolved) -> String {
    client::fetched()
        .into_iter()
        .rev()
        .find(|f| f.path == crate::publish::index::ROOT)
        .map_or_else(|| r.source.clone(), |f| f.source)
}

/// The source that served the asset document in this run (by the protocol's layout,
/// `assets/<id>/<sha256>.json`), or `None` when it came from the cache.
fn document_source(r: &Resolved) -> Option<String> {
    let prefix = format!("assets/{}/", r.id);
    client::fetched()
        .into_iter()
        .rev()
        .find(|f| f.path.starts_with(&prefix))
        .map(|f| f.source)
}

pub(super) fn resolved_json(r: &Resolved) -> serde_json::Value {
    // Each document read from a source in this run (the rest came from the cache); a root
    // the source confirmed unchanged (HTTP 304) came from the cache too.
    let documents: Vec<serde_json::Value> = client::fetched()
        .into_iter()
        .map(|f| {
            if f.not_modified {
                serde_json::json!({"path": f.path, "source": "cache", "revalidated_by": f.source})
            } else {
                serde_json::json!({"path": f.path, "source": f.source})
            }
        })
        .collect();
    serde_json::json!({
        "registry": r.registry,
        "id": r.id,
        "version": r.version,
        "stage": r.stage,
        "implied": r.implied,
        "stages": r.stages.iter().map(|(s, v)| serde_json::json!({"stage": s, "version": v})).collect::<Vec<_>>(),
        "reference": format!("{}@{}", r.id, r.version),
        "azure_uri": azure_uri(r),
        "digest": r.version_doc.digest,
        "spec_file": r.version_doc.spec_file,
        "files": r.version_doc.files,
        "source": root_source(r),
        "document_source": document_source(r).unwrap_or_else(|| "cache".to_string()),
        "documents": documents,
    })
}

fn azure_uri(r: &Resolved) -> String {
    let (kind, name) = r.id.split_once('/').unwrap_or(("", &r.id));
    format!(
        "azureml://registries/{}/{kind}/{name}/versions/{}",
        r.registry, r.version
    )
}
