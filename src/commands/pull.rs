//! `mlreg pull`: resolve a reference and download the version's files, verified, into a folder,
//! with byte-level progress on a terminal.

use super::resolve::{client, print_notes, resolved_json};
use super::{EXIT_OK, Ui};
use crate::cli::PullArgs;
use crate::client;
use crate::diag::plural;
use std::io::{IsTerminal, Write};

pub fn run(ui: &Ui, args: PullArgs) -> u8 {
    let fetch = &args.fetch;
    let mut c = match client(fetch) {
        Ok(c) => c,
        Err(f) => return ui.failure(f),
    };
    let resolved = c.resolve(&fetch.reference, fetch.workspace.as_deref());
    print_notes(ui, &c);
    let resolved = match resolved {
        Ok(r) => r,
        Err(f) => return ui.failure(f),
    };
    let terminal = std::io::stderr().is_terminal() && !fetch.json && !ui.quiet;
    let wanted = client::pull::wanted(&resolved);
    let total = wanted.len();
    let total_bytes: u64 = wanted.iter().map(|(_, r)| r.size).sum();
    let mut progress = |path: &str, done: u64| {
        if terminal {
            let percent = (done * 100).checked_div(total_bytes).unwrap_or(100);
            let _ = write!(
                std::io::stderr(),
                "\r\x1b[K[{percent:>3}%] {done} of {total_bytes} bytes · {path}"
            );
        }
    };
    let pulled = client::pull::pull(&c.sources, &c.cache, &resolved, &args.dest, &mut progress);
    if terminal {
        let _ = writeln!(std::io::stderr());
    }
    let stats = match pulled {
        Ok(s) => s,
        Err(e) => return ui.fail(e),
    };
    let text = if fetch.json {
        let mut v = resolved_json(&resolved);
        v["dest"] = serde_json::json!(args.dest);
        v["fetched"] = serde_json::json!(stats.fetched);
        v["from_cache"] = serde_json::json!(stats.from_cache);
        v["kept"] = serde_json::json!(stats.kept);
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("serializes")
        )
    } else if ui.quiet {
        String::new()
    } else {
        let why = match (&resolved.stage, &resolved.implied) {
            (_, Some(implied)) => format!(" ({implied})"),
            (Some(s), None) => format!(" ({s})"),
            (None, None) => String::new(),
        };
        format!(
            "pulled {}@{}{why} into {}: {} ({} fetched, {} from the cache, {} already there), digest {}\n",
            resolved.id,
            resolved.version,
            args.dest.display(),
            plural(total, "file"),
            stats.fetched,
            stats.from_cache,
            stats.kept,
            resolved.version_doc.digest
        )
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}
