//! `mlreg resolve`: pin a reference against a published registry and say what it names. Also
//! what `pull` shares with it: the client built from the fetch arguments, and the JSON shape.

use super::{EXIT_OK, fail};
use crate::cli::{FetchArgs, ResolveArgs};
use crate::client::{self, resolve::Resolved};

pub fn run(args: ResolveArgs) -> u8 {
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

/// A client for the sources of `args`, with its cache.
pub(super) fn client(args: &FetchArgs) -> Result<client::resolve::Client, String> {
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

pub(super) fn resolved_json(r: &Resolved) -> serde_json::Value {
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

fn azure_uri(r: &Resolved) -> String {
    let (kind, name) = r.id.split_once('/').unwrap_or(("", &r.id));
    format!(
        "azureml://registries/{}/{kind}/{name}/versions/{}",
        r.registry, r.version
    )
}
