//! `mlreg pull`: resolve a reference and download the version's files, verified, into a folder
//! that ends up holding exactly them, with byte-level progress on a terminal; the output says
//! where each file came from (a source, the cache, or the folder itself).
//!
//! `--with-deps` pulls the version and everything it needs in this registry, transitively,
//! each into `DEST/<kind>/<name>/<version>/` (the version asked for too), and prints the
//! `az ml <kind> create` commands that put them in an Azure ML registry, dependencies first
//! (independent ones sorted by id and version). What a version needs (the rule, also printed):
//!
//! - every version its spec names in this registry, whatever its kind (a pipeline's
//!   components, a component's environment, a model or data a pipeline job reads): Azure
//!   refuses to create the spec until they exist;
//! - for a model, the environment its lineage names: the one its files run in.
//!
//! Everything else a lineage names (the data it was trained and measured on, base models, the
//! component that trained it) is history: listed, not pulled. Each pin must lead to a version
//! with the digest the parent pinned, else the index was altered and nothing is written; a
//! cycle (which a valid build cannot make) is refused the same way. Every folder gets a
//! single pull's guarantees, and none is swapped into place before all of them are complete.

use super::inspect::{columns, short_hash};
use super::resolve::{client, escaped, print_notes, resolved_json};
use super::{EXIT_OK, Ui};
use crate::cli::PullArgs;
use crate::client::resolve::{Client, Resolved};
use crate::client::{self, Failure, escape, pull::Origin, pull::Pulled};
use crate::diag::plural;
use crate::registry::kind::Kind;
use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What `--with-deps` pulls, as the output says it.
const RULE: &str = "needed: the versions a spec names in this registry, and the environment a model's lineage names; the rest of a lineage (data, base models, the component that trained it) is history, not pulled";

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
    let bar = Bar::new(std::io::stderr().is_terminal() && !fetch.json && !ui.quiet);
    if args.with_deps {
        return with_deps(ui, &args, c, resolved, &bar);
    }
    let pulled = client::pull::pull(
        &c.sources,
        &c.cache,
        &resolved,
        &args.dest,
        args.force,
        &|path: &str, done: u64, total: u64| bar.show(path, done, total),
    );
    bar.end();
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
        v["pulled"] = pulled_json(&pulled);
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("serializes")
        )
    } else if ui.quiet {
        String::new()
    } else {
        format!(
            "pulled {}@{}{} into {}: {} ({}), digest {}\n",
            escape(&resolved.id),
            escape(&resolved.version),
            why(&resolved),
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

/// ` (prod)`, ` (no version was given)`: why the reference named this version.
fn why(r: &Resolved) -> String {
    match (&r.stage, &r.implied) {
        (_, Some(implied)) => format!(" ({})", escape(implied)),
        (Some(s), None) => format!(" ({})", escape(s)),
        (None, None) => String::new(),
    }
}

/// `--with-deps`: the version and what it needs, each into `DEST/<kind>/<name>/<version>`,
/// and the commands that create them in Azure, dependencies first.
fn with_deps(ui: &Ui, args: &PullArgs, c: Client, root: Resolved, bar: &Bar) -> u8 {
    // Each pin is an exact version, read against one root (the walk holds it to the id,
    // version and digest the parent pinned); what was read is cached once it all holds.
    let graph = c
        .root()
        .map_err(Failure::Broken)
        .and_then(|(root_doc, first)| {
            client::pull::with_dependencies(root, &mut |pin| {
                c.resolve_exact(&root_doc, first, &pin.id, &pin.version)
            })
        })
        .and_then(|g| Ok(c.cache.commit().map(|()| g)?));
    print_notes(ui, &c);
    let graph = match graph {
        Ok(g) => g,
        Err(f) => return ui.failure(escaped(f)),
    };
    for note in &graph.notes {
        ui.status(format_args!("note: {}", escape(note)));
    }
    let versions: Vec<&Resolved> = graph.nodes.iter().map(|n| &n.resolved).collect();
    let pulled = client::pull::pull_all(
        &c.sources,
        &c.cache,
        &args.dest,
        &versions,
        args.force,
        &|path: &str, done: u64, total: u64| bar.show(path, done, total),
    );
    bar.end();
    print_notes(ui, &c);
    let pulled = match pulled {
        Ok(p) => p,
        Err(e) => return ui.fail(escape(&e)),
    };
    for (_, p) in &pulled {
        for note in &p.notes {
            ui.status(format_args!("note: {}", escape(note)));
        }
    }
    let rows: Vec<Row<'_>> = graph
        .nodes
        .iter()
        .zip(&pulled)
        .map(|(node, (dest, pulled))| Row {
            r: &node.resolved,
            depends_on: &node.depends_on,
            dest,
            pulled,
            command: command(&node.resolved, dest),
        })
        .collect();
    let text = if args.fetch.json {
        let list: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&list).expect("serializes")
        )
    } else if ui.quiet {
        rows.iter()
            .map(|row| format!("{}\n", escape(&row.command)))
            .collect()
    } else {
        describe(args, &rows, &graph.history)
    };
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// One version of a pull with dependencies, as the output shows it.
struct Row<'a> {
    r: &'a Resolved,
    depends_on: &'a [String],
    dest: &'a Path,
    pulled: &'a Pulled,
    command: String,
}

/// `az ml component create -f DEST/spec.yaml --registry-name NAME`, quoted for a POSIX shell.
fn command(r: &Resolved, dest: &Path) -> String {
    let kind =
        r.id.split_once('/')
            .and_then(|(k, _)| Kind::from_folder(k))
            .map_or("model", Kind::singular);
    let spec = dest.join("spec.yaml");
    format!(
        "az ml {kind} create -f {} --registry-name {}",
        shell(&spec.to_string_lossy()),
        shell(&r.registry)
    )
}

/// A word for a POSIX shell: as it is when it holds nothing a shell reads, else in single quotes.
fn shell(word: &str) -> Cow<'_, str> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_-./:@%+=,".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

fn row_json(row: &Row<'_>) -> serde_json::Value {
    let r = row.r;
    let stats = &row.pulled.stats;
    serde_json::json!({
        "id": r.id,
        "version": r.version,
        "digest": r.version_doc.digest,
        "dest": row.dest.to_string_lossy(),
        "depends_on": row.depends_on,
        "command": row.command,
        "registry": r.registry,
        "stage": r.stage,
        "implied": r.implied,
        "deprecated": r.version_doc.deprecated,
        "fetched": stats.fetched,
        "from_cache": stats.from_cache,
        "kept": stats.kept,
        "bytes_fetched": stats.bytes,
        "pulled": pulled_json(row.pulled),
    })
}

/// What a person reads: each version with its folder, the rule and what it left out, and the
/// commands in order.
fn describe(args: &PullArgs, rows: &[Row<'_>], history: &[String]) -> String {
    let Some(last) = rows.last() else {
        return String::new();
    };
    let all: Vec<(String, Origin)> = rows
        .iter()
        .flat_map(|row| row.pulled.files.iter().cloned())
        .collect();
    let with = match rows.len() - 1 {
        0 => " (it needs no other version)".to_string(),
        n => format!(" and the {} it needs", plural(n, "version")),
    };
    let mut text = format!(
        "pulled {}@{}{}{with} into {}: {} ({})\n",
        escape(&last.r.id),
        escape(&last.r.version),
        why(last.r),
        escape(&args.dest.display().to_string()),
        plural(all.len(), "file"),
        breakdown(&all)
    );
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut facts = format!(
                "{}, digest {}",
                plural(row.pulled.files.len(), "file"),
                short_hash(&row.r.version_doc.digest)
            );
            if row.r.version_doc.deprecated.is_some() {
                facts.push_str(", deprecated");
            }
            vec![
                format!("{}@{}", escape(&row.r.id), escape(&row.r.version)),
                escape(&row.dest.display().to_string()).into_owned(),
                escape(&facts).into_owned(),
            ]
        })
        .collect();
    text.push_str(&columns(&table, "  "));
    text.push_str(RULE);
    text.push('\n');
    if !history.is_empty() {
        let left: Vec<Cow<'_, str>> = history.iter().map(|h| escape(h)).collect();
        text.push_str(&format!("not pulled (history): {}\n", left.join(", ")));
    }
    text.push_str("create them in this order, dependencies first:\n");
    for row in rows {
        text.push_str(&format!("  {}\n", escape(&row.command)));
    }
    text
}

fn pulled_json(pulled: &Pulled) -> serde_json::Value {
    pulled
        .files
        .iter()
        .map(|(path, origin)| serde_json::json!({"path": path, "source": origin.name()}))
        .collect()
}

/// The progress line on a terminal: bytes written of all to write, redrawn ten times a
/// second at most (downloads in parallel report every chunk).
struct Bar {
    terminal: bool,
    shown: Mutex<Option<Instant>>,
}

impl Bar {
    fn new(terminal: bool) -> Bar {
        Bar {
            terminal,
            shown: Mutex::new(None),
        }
    }

    fn show(&self, path: &str, done: u64, total: u64) {
        if !self.terminal {
            return;
        }
        let mut last = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
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
    }

    /// The line is done with.
    fn end(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
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
