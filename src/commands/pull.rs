//! `mlreg pull`: resolve a reference and download the version's files, verified, into a folder
//! that ends up holding exactly them, with byte-level progress on a terminal; the output says
//! where each file came from (a source, the cache, or the folder itself).

use super::resolve::{client, escaped, print_notes, resolved_json};
use super::{EXIT_OK, Ui};
use crate::cli::PullArgs;
use crate::client::{self, escape, pull::Origin};
use crate::diag::plural;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub fn run(ui: &Ui, args: PullArgs) -> u8 {
    let fetch = &args.fetch;
    let mut c = match client(fetch) {
        Ok(c) => c,
        Err(f) => return ui.failure(escaped(f)),
    };
    let resolved = c.resolve(&fetch.reference, fetch.workspace.as_deref());
    print_notes(ui, &c);
    let resolved = match resolved {
        Ok(r) => r,
        Err(f) => return ui.failure(escaped(f)),
    };
    let terminal = std::io::stderr().is_terminal() && !fetch.json && !ui.quiet;
    // Downloads in parallel report every chunk: the line is redrawn ten times a second at most.
    let shown = std::sync::Mutex::new(None::<Instant>);
    let progress = |path: &str, done: u64, total: u64| {
        if !terminal {
            return;
        }
        let mut last = shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) && done < total {
            return;
        }
        *last = Some(Instant::now());
        let percent = (u128::from(done) * 100)
            .checked_div(u128::from(total))
            .unwrap_or(100);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K[{percent:>3}%] {done} of {total} bytes · {}",
            escape(path)
        );
    };
    let pulled = client::pull::pull(
        &c.sources, &c.cache, &resolved, &args.dest, args.force, &progress,
    );
    if terminal {
        let _ = writeln!(std::io::stderr());
    }
    print_notes(ui, &c);
    let pulled = match pulled {
        Ok(p) => p,
        Err(e) => return ui.fail(escape(&e)),
    };
    for note in &pulled.notes {
        ui.status(format_args!("note: {}", escape(note)));
    }
    let stats = &pulled.stats;
    let text = if fetch.json {
        let mut v = resolved_json(&resolved);
        v["dest"] = serde_json::json!(args.dest);
        v["fetched"] = serde_json::json!(stats.fetched);
        v["from_cache"] = serde_json::json!(stats.from_cache);
        v["kept"] = serde_json::json!(stats.kept);
        v["bytes_fetched"] = serde_json::json!(stats.bytes);
        v["pulled"] = pulled
            .files
            .iter()
            .map(|(path, origin)| serde_json::json!({"path": path, "source": origin.name()}))
            .collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("serializes")
        )
    } else if ui.quiet {
        String::new()
    } else {
        let why = match (&resolved.stage, &resolved.implied) {
            (_, Some(implied)) => format!(" ({})", escape(implied)),
            (Some(s), None) => format!(" ({})", escape(s)),
            (None, None) => String::new(),
        };
        format!(
            "pulled {}@{}{why} into {}: {} ({}), digest {}\n",
            escape(&resolved.id),
            escape(&resolved.version),
            escape(&args.dest.display().to_string()),
            plural(pulled.files.len(), "file"),
            breakdown(&pulled.files),
            escape(&resolved.version_doc.digest)
        )
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// `3 fetched from http://…/, 1 from the cache, 0 already there`: the sources in the order
/// they first served a file.
fn breakdown(files: &[(String, Origin)]) -> String {
    let mut sources: Vec<(&str, usize)> = Vec::new();
    let (mut cache, mut kept) = (0, 0);
    for (_, origin) in files {
        match origin {
            Origin::Kept => kept += 1,
            Origin::Cache => cache += 1,
            Origin::Source(location) => match sources.iter_mut().find(|(l, _)| l == location) {
                Some((_, n)) => *n += 1,
                None => sources.push((location, 1)),
            },
        }
    }
    let mut parts: Vec<String> = sources
        .iter()
        .map(|(location, n)| format!("{n} fetched from {}", escape(location)))
        .collect();
    if parts.is_empty() {
        parts.push("0 fetched".to_string());
    }
    parts.push(format!("{cache} from the cache"));
    parts.push(format!("{kept} already there"));
    parts.join(", ")
}
