//! `mlreg serve`: build the registry into memory and serve it on 127.0.0.1, rebuilding when a
//! file of the registry changes and reloading the open pages. When the registry has errors,
//! every page shows the diagnostics instead. The responses carry the headers docs/protocol.md
//! asks of a host (no-cache root and pages, immutable hashed files, ETag and 304, content
//! types), so this is also the reference for hosting configuration.
//!
//! Builds go through the same pipeline as `mlreg build` (check, plan, render). This module owns
//! the entry point, the watch loop that rebuilds, and the state the handlers share: the current
//! build, made ready to serve. The server is in three parts: `http` reads and checks request
//! heads, `pool` accepts connections and runs the handlers, `respond` answers.
//!
//! The server answers whatever a local process or a web page sends it without growing or
//! falling over:
//!
//! - A fixed pool of `HANDLERS` threads serves connections from a queue of `QUEUED`; beyond
//!   that a connection is answered 503 at once. Each connection carries one request
//!   (`Connection: close`), so no idle keep-alive connection holds a handler.
//! - A request head is read with limits: the request line (`MAX_LINE`, else 414), the header
//!   section (`MAX_HEADER_BYTES` and `MAX_HEADERS`, else 431), within `HEAD_TIMEOUT`. While
//!   connections wait for a handler, one that has not sent its request after `SHED_AFTER` is
//!   closed. Responses are written against a deadline.
//! - Each handler reads heads and files through one fixed buffer: pages are made ready once per
//!   build, blobs are streamed from disk, so memory does not grow with requests or file sizes.
//! - Live-reload long polls are bounded in number (`WAITERS`) and time (`WAIT`), so that
//!   open pages never starve the pool.
//! - Only `Host` values naming this server are answered (421 otherwise): a web page whose domain
//!   was rebound to 127.0.0.1 cannot read the registry.
//! - Paths are percent-decoded byte by byte and must be UTF-8; they are only ever keys of the
//!   in-memory build, never joined to a folder.

mod http;
mod pool;
mod respond;

use crate::diag::{Severity, plural, summary};
use crate::publish::output::{MemoryPages, Served, Writer};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// One build: its files, or the diagnostics that stopped it, made ready to serve once per
/// build rather than at each request.
struct Site {
    generation: u64,
    files: BTreeMap<String, Entry>,
    /// The page shown at every path while the registry has errors.
    errors: Option<String>,
    /// The diagnostics in a line: `1 error, 2 warnings`.
    summary: String,
}

impl Site {
    fn failed(generation: u64, errors: &str, summary: String) -> Site {
        Site {
            generation,
            files: BTreeMap::new(),
            errors: Some(respond::error_page(errors, generation)),
            summary,
        }
    }
}

/// A file of a build, as it is served.
enum Entry {
    /// In memory (pages with the live-reload script added), with its ETag.
    Bytes { bytes: Arc<Vec<u8>>, etag: String },
    /// A blob's source file, hashed when it is served.
    File(PathBuf),
}

impl Entry {
    fn new(path: &str, served: Served, generation: u64) -> Entry {
        match served {
            Served::File(p) => Entry::File(p),
            Served::Bytes(bytes) => {
                let bytes = if path.ends_with(".html") {
                    Arc::new(respond::with_live_reload(&bytes, generation))
                } else {
                    bytes
                };
                let etag = respond::etag(&crate::publish::hash::sha256(&bytes));
                Entry::Bytes { bytes, etag }
            }
        }
    }
}

/// What the watch loop and the handlers share.
struct Shared {
    site: Mutex<Arc<Site>>,
    changed: Condvar,
    /// The port listened on, which requests must name in their `Host`.
    port: u16,
    /// Connections accepted and not yet taken by a handler.
    queued: AtomicUsize,
    /// Long polls being held.
    waiters: AtomicUsize,
}

/// Serve `dir` on 127.0.0.1:`port` until killed. The address goes to stdout (it is what the
/// command is for); each rebuild is logged to stderr unless `quiet`.
pub fn serve(dir: &Path, port: u16, templates: Option<&Path>, quiet: bool) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (first, pages) = build(dir, templates, 1, MemoryPages::default());
    log(
        quiet,
        format_args!("built in {}: {}", elapsed(started), first.summary),
    );
    let shared = Arc::new(Shared {
        site: Mutex::new(Arc::new(first)),
        changed: Condvar::new(),
        port: address.port(),
        queued: AtomicUsize::new(0),
        waiters: AtomicUsize::new(0),
    });
    {
        let (shared, root, templates) = (
            shared.clone(),
            dir.to_path_buf(),
            templates.map(Path::to_path_buf),
        );
        std::thread::Builder::new()
            .name("mlreg-watch".into())
            .spawn(move || watch(&root, templates.as_deref(), &shared, pages, quiet))
            .map_err(|e| format!("cannot start watching {}: {e}", dir.display()))?;
    }
    let queue = pool::start(&shared, quiet)?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "serving {} on http://{address}/ (rebuilds on change; Ctrl-C to stop)",
        dir.display()
    );
    let _ = out.flush();
    pool::accept(&listener, &queue, &shared)
}

/// Check, plan and render into memory, reusing the pages of assets whose key is the same as in
/// the previous build (`pages`); with this build's pages for the next.
fn build(
    dir: &Path,
    templates: Option<&Path>,
    generation: u64,
    pages: MemoryPages,
) -> (Site, MemoryPages) {
    let display = dir.to_string_lossy().trim_end_matches('/').to_string();
    let mut outcome = crate::registry::check(dir, &display);
    let report = &outcome.report;
    let summary = summary(
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    if outcome.report.count(Severity::Error) > 0 {
        let site = Site::failed(generation, &outcome.report.render_human(false), summary);
        return (site, pages);
    }
    let Some((loaded, registry)) = outcome.registry.take() else {
        return (
            Site::failed(generation, "no registry was read", summary),
            pages,
        );
    };
    let planned = match crate::publish::plan::plan(dir, &loaded, &registry) {
        Ok(p) => p,
        Err(e) => {
            let site = Site::failed(generation, &e, format!("the build failed: {e}"));
            return (site, pages);
        }
    };
    drop((loaded, registry));
    let writer = Writer::in_memory_after(pages);
    let result = writer
        .put_all(&planned.set)
        .and_then(|_| crate::site::render(dir, &planned, &writer, templates));
    let (files, pages) = writer.into_memory_and_pages(planned.root(generation, None));
    let site = match result {
        Ok(_) => Site {
            generation,
            summary: format!("{summary}; {}", plural(files.len(), "file")),
            files: files
                .into_iter()
                .map(|(path, served)| {
                    let entry = Entry::new(&path, served, generation);
                    (path, entry)
                })
                .collect(),
            errors: None,
        },
        Err(e) => Site::failed(generation, &e, format!("the build failed: {e}")),
    };
    (site, pages)
}

/// Rebuild whenever a file under `dir` (or the templates) is added, removed or modified, and
/// log what changed, how long the rebuild took and what it found.
fn watch(
    dir: &Path,
    templates: Option<&Path>,
    shared: &Shared,
    mut pages: MemoryPages,
    quiet: bool,
) {
    let mut last = fingerprint(dir, templates);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = fingerprint(dir, templates);
        if now == last {
            continue;
        }
        let changed = changes(&last, &now);
        last = now;
        let started = Instant::now();
        let generation = shared.site.lock().expect("no panics while held").generation + 1;
        let (site, next) = build(dir, templates, generation, pages);
        pages = next;
        let site = Arc::new(site);
        log(
            quiet,
            format_args!(
                "rebuilt in {} after {}: {}",
                elapsed(started),
                changed,
                site.summary
            ),
        );
        *shared.site.lock().expect("no panics while held") = site;
        shared.changed.notify_all();
    }
}

type Fingerprint = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// What differs between two fingerprints, in a line: the paths, the first few named.
fn changes(before: &Fingerprint, after: &Fingerprint) -> String {
    const NAMED: usize = 3;
    let mut paths: Vec<String> = Vec::new();
    for (path, meta) in after {
        match before.get(path) {
            None => paths.push(format!("{} (added)", path.display())),
            Some(old) if old != meta => paths.push(path.display().to_string()),
            Some(_) => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        paths.push(format!("{} (removed)", path.display()));
    }
    let mut text = plural(paths.len(), "change");
    let shown: Vec<&str> = paths.iter().take(NAMED).map(String::as_str).collect();
    text.push_str(&format!(" ({}", shown.join(", ")));
    if paths.len() > NAMED {
        text.push_str(&format!(" and {} more", paths.len() - NAMED));
    }
    text.push(')');
    text
}

fn log(quiet: bool, line: std::fmt::Arguments) {
    if !quiet {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

fn elapsed(since: Instant) -> String {
    format!("{} ms", since.elapsed().as_millis())
}

fn fingerprint(dir: &Path, templates: Option<&Path>) -> Fingerprint {
    let mut out = Fingerprint::new();
    for root in std::iter::once(dir).chain(templates) {
        for entry in walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if let Ok(m) = entry.metadata()
                && !m.is_dir()
            {
                out.insert(entry.path().to_path_buf(), (m.len(), m.modified().ok()));
            }
        }
    }
    out
}
