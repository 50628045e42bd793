//! `mlreg resolve`: pin a reference against a published registry and say what it names. Also
//! what `pull` shares with it: the client built from the fetch arguments, and the JSON shape.

use super::{EXIT_OK, Ui};
use crate::cli::{FetchArgs, ResolveArgs};
use crate::client::{self, Failure, resolve::Resolved};
use crate::diag::plural;

pub fn run(ui: &Ui, args: ResolveArgs) -> u8 {
    let args = args.fetch;
    let mut c = match client(&args) {
        Ok(c) => c,
        Err(f) => return ui.failure(f),
    };
    let resolved = c.resolve(&args.reference, args.workspace.as_deref());
    print_notes(ui, &c);
    let resolved = match resolved {
        Ok(r) => r,
        Err(f) => return ui.failure(f),
    };
    let text = if args.json {
        format!(
            "{}\n",
            serde_json::to_string_pretty(&resolved_json(&resolved)).expect("serializes")
        )
    } else if ui.quiet {
        format!("{}@{}\n", resolved.id, resolved.version)
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
        (Some(s), Some(implied)) => format!(" ({s}: {implied})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(implied)) => format!(" (latest: {implied})"),
        (None, None) => String::new(),
    };
    let size: u64 = r.version_doc.files.iter().map(|f| f.size).sum();
    let mut text = format!("{}@{}{why} in registry {}\n", r.id, r.version, r.registry);
    text.push_str(&format!("  {}\n", azure_uri(r)));
    text.push_str(&format!("  digest {}\n", r.version_doc.digest));
    text.push_str(&format!(
        "  {}, {}, from {}\n",
        plural(r.version_doc.files.len(), "file"),
        plural(size as usize, "byte"),
        r.source
    ));
    if !r.stages.is_empty() {
        let stages: Vec<String> = r.stages.iter().map(|(s, v)| format!("{s} {v}")).collect();
        text.push_str(&format!("  stages: {}\n", stages.join(", ")));
    }
    text
}

/// A client for the sources of `args`, with its cache.
pub(super) fn client(args: &FetchArgs) -> Result<client::resolve::Client, Failure> {
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
        trusted_keys: args.trusted_key.clone(),
        notes: Default::default(),
    })
}

/// The client's notes, on stderr (not with `--quiet`).
pub(super) fn print_notes(ui: &Ui, c: &client::resolve::Client) {
    for note in c.notes.borrow_mut().drain(..) {
        ui.status(format_args!("note: {note}"));
    }
}

pub(super) fn resolved_json(r: &Resolved) -> serde_json::Value {
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
        "source": r.source,
    })
}

fn azure_uri(r: &Resolved) -> String {
    let (kind, name) = r.id.split_once('/').unwrap_or(("", &r.id));
    format!(
        "azureml://registries/{}/{kind}/{name}/versions/{}",
        r.registry, r.version
    )
}
