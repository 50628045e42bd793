//! `mlreg serve`: build the registry into memory and serve it on 127.0.0.1, rebuilding when a
//! file of the registry changes and reloading the open pages whose bytes changed. When the registry has errors,
//! every page shows the diagnostics instead. The responses carry the headers docs/protocol.md
//! asks of a host (no-cache root and pages, immutable hashed files, ETag and 304, content
//! types), so this is also the reference for hosting configuration.
//!
//! Builds go through the same pipeline as `mlreg build` (check, plan, render), each starting
//! from what the last one left (`Carried`: loaded assets, file hashes, pages). This module owns
//! the entry point, the builds, and the state the handlers share: the current build, made ready
//! to serve. `watch` hears of changes and rebuilds. The server is in three parts: `http` reads
//! and checks request heads, `pool` accepts connections and runs the handlers, `respond`
//! answers.
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
mod watch;

use crate::diag::{Severity, plural, summary};
use crate::publish::cache::Cache;
use crate::publish::output::{self, MemoryPages, Served, Writer};
use crate::registry::load::{Earlier, Loaded};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

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
    /// The generation the page at `key` shows (see `Entry::Bytes`); the site's own without a
    /// key, or while every path shows its errors.
    fn generation_of(&self, key: Option<&str>) -> u64 {
        let shown = key
            .filter(|_| self.errors.is_none())
            .and_then(|k| self.files.get(k).or_else(|| self.files.get("404.html")));
        match shown {
            Some(Entry::Bytes { generation, .. }) => *generation,
            _ => self.generation,
        }
    }

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
#[derive(Clone)]
enum Entry {
    /// In memory (pages with the live-reload script added), with its ETag, the bytes the build
    /// made, and the generation of the build that first made them: an open page reloads when
    /// its path's generation moves, so only pages whose bytes changed reload.
    Bytes {
        bytes: Arc<Vec<u8>>,
        etag: String,
        made: Arc<Vec<u8>>,
        generation: u64,
    },
    /// A blob's source file, hashed when it is served.
    File(PathBuf),
}

impl Entry {
    /// What build `generation` serves at `path`: the `previous` build's entry when the bytes
    /// are the same (a page reused whole, a hash-named file, or equal bytes), which spares
    /// adding the script and hashing again, else a new entry.
    fn new(path: &str, served: Served, generation: u64, previous: Option<&Entry>) -> Entry {
        let made = match served {
            Served::File(p) => return Entry::File(p),
            Served::Bytes(made) => made,
        };
        if let Some(kept @ Entry::Bytes { made: old, .. }) = previous
            && (Arc::ptr_eq(old, &made)
                || output::content_addressed(path)
                || output::hash_named(path)
                || old == &made)
        {
            return kept.clone();
        }
        let bytes = if path.ends_with(".html") {
            Arc::new(respond::with_live_reload(&made, generation))
        } else {
            made.clone()
        };
        let etag = respond::etag(&crate::publish::hash::sha256(&bytes));
        Entry::Bytes {
            bytes,
            etag,
            made,
            generation,
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
pub fn serve(
    dir: &Path,
    port: u16,
    templates: Option<&Path>,
    poll: bool,
    quiet: bool,
) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let roots: Vec<PathBuf> = std::iter::once(dir)
        .chain(templates)
        .map(Path::to_path_buf)
        .collect();
    // What the first build will read, as it was before: a change made while it builds, or
    // before the system watches the folder it is in, is seen as a change.
    let before = watch::fingerprint(&roots.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    // Watches are set while the first build runs.
    let watches = std::thread::Builder::new()
        .name("mlreg-watches".into())
        .spawn(move || match poll {
            true => watch::Watches::none("--poll"),
            false => watch::Watches::set(&roots.iter().map(PathBuf::as_path).collect::<Vec<_>>()),
        })
        .map_err(|e| format!("cannot start watching {}: {e}", dir.display()))?;
    let (first, carried) = build(
        dir,
        templates,
        1,
        None,
        Earlier::default(),
        Carried::default(),
    );
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
            .spawn(move || {
                let watches = watches
                    .join()
                    .unwrap_or_else(|_| watch::Watches::none("setting watches failed"));
                watch::watch(
                    &root,
                    templates.as_deref(),
                    &shared,
                    watches,
                    before,
                    carried,
                    quiet,
                )
            })
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

/// What one build in memory leaves the next: the pages of each asset (`MemoryPages`), the
/// loaded assets, and the hashes of source files.
#[derive(Default)]
struct Carried {
    pages: MemoryPages,
    loaded: Option<Loaded>,
    cache: Cache,
}

/// Check, plan and render into memory, reusing what the previous build left (`carried`): the
/// assets `earlier` lends, the hashes of unchanged files, the pages of assets whose key is the
/// same, and the `previous` site's entries for unchanged files; with what this build leaves
/// for the next.
fn build(
    dir: &Path,
    templates: Option<&Path>,
    generation: u64,
    previous: Option<&Site>,
    earlier: Earlier,
    carried: Carried,
) -> (Site, Carried) {
    let Carried { pages, cache, .. } = carried;
    let display = dir.to_string_lossy().trim_end_matches('/').to_string();
    let mut outcome = crate::registry::check_after(dir, &display, earlier);
    let report = &outcome.report;
    let summary = summary(
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    let Some((loaded, registry)) = outcome.registry.take() else {
        let site = Site::failed(generation, "no registry was read", summary);
        return (
            site,
            Carried {
                pages,
                ..Carried::default()
            },
        );
    };
    if outcome.report.count(Severity::Error) > 0 {
        let site = Site::failed(generation, &outcome.report.render_human(false), summary);
        let loaded = Some(loaded);
        return (
            site,
            Carried {
                pages,
                loaded,
                cache,
            },
        );
    }
    let planned = crate::publish::plan::plan_with(dir, &loaded, &registry, &cache);
    drop(registry);
    let carry = |pages| Carried {
        pages,
        loaded: Some(loaded),
        cache: cache.carried(),
    };
    let planned = match planned {
        Ok(p) => p,
        Err(e) => {
            let site = Site::failed(generation, &e, format!("the build failed: {e}"));
            return (site, carry(pages));
        }
    };
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
                    let before = previous.and_then(|p| p.files.get(&path));
                    let entry = Entry::new(&path, served, generation, before);
                    (path, entry)
                })
                .collect(),
            errors: None,
        },
        Err(e) => Site::failed(generation, &e, format!("the build failed: {e}")),
    };
    // The documents (hundreds of megabytes at 10,000 versions) are freed off the way of the
    // page that waits for this build.
    free_aside(planned);
    (site, carry(pages))
}

/// Drop `value` on a thread of its own: freeing a large build takes long enough to be seen by
/// whoever waits for what comes next. (When no thread can be started, it is dropped here.)
fn free_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("mlreg-free".into())
        .spawn(move || drop(value));
}

fn log(quiet: bool, line: std::fmt::Arguments) {
    if !quiet {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

fn elapsed(since: Instant) -> String {
    format!("{} ms", since.elapsed().as_millis())
}
