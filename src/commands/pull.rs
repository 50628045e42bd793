//! `mlreg pull`: resolve a reference and download the version's files, verified, into a folder,
//! with byte-level progress on a terminal.

use super::resolve::{client, resolved_json};
use super::{EXIT_OK, fail};
use crate::cli::PullArgs;
use crate::client;
use std::io::IsTerminal;

pub fn run(args: PullArgs) -> u8 {
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
