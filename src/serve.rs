//! `mlreg serve`: build the registry into memory and serve it on 127.0.0.1, rebuilding when a
//! file of the registry changes and reloading the open pages. When the registry has errors,
//! every page shows the diagnostics instead. The responses carry the headers docs/protocol.md
//! asks of a host (no-cache root and pages, immutable hashed files, ETag and 304, content
//! types), so this is also the reference for hosting configuration.
//!
//! Builds go through the same pipeline as `mlreg build` (check, plan, render); this module owns
//! only the server and the watch loop.
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

use crate::diag::{Severity, plural, summary};
use crate::publish::output::{Served, Writer};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Threads answering requests, however many connections are open.
const HANDLERS: usize = 64;
/// Accepted connections waiting for a handler; beyond, a connection is answered 503.
const QUEUED: usize = 1024;
/// The longest request line (with any empty lines before it).
const MAX_LINE: usize = 8 * 1024;
/// The most bytes of header fields after the request line.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most header fields.
const MAX_HEADERS: usize = 100;
/// Request heads are read in pieces of this size.
const PIECE: usize = 4096;
/// A handler's buffer: room for the longest head that is read whole, and one more piece.
const BUFFER: usize = MAX_LINE + 1 + MAX_HEADER_BYTES + PIECE;
/// The time a client has to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// While connections wait for a handler, the time a client has to send its request head: the
/// server is on loopback, where a request arrives in one piece.
const SHED_AFTER: Duration = Duration::from_millis(100);
/// How often a handler waiting for a request head checks whether others wait for it.
const POLL: Duration = Duration::from_millis(50);
/// The time a response may take, plus a second per [`MIN_RATE`] bytes of body.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_RATE: u64 = 1024 * 1024;
/// Long polls of `/_mlreg/wait` held at once: the other handlers stay free for pages.
const WAITERS: usize = 16;
/// How long a long poll is held before it is answered with the current generation.
const WAIT: Duration = Duration::from_secs(25);
/// After answering, what the client still sends is read and dropped, for this long or this
/// many bytes: closing a socket with unread bytes resets the connection, which can destroy
/// the answer before the client reads it.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// Responses are written in pieces of this size, each against the deadline.
const CHUNK: usize = 64 * 1024;
/// The pause after a failed accept (out of file descriptors, say), rather than a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The live-reload script, served at `/_mlreg/live.js` and added to every page. An answer
/// other than 200 (the server is busy, or restarting) means: ask again later.
const LIVE_JS: &str = r#"(function () {
  "use strict";
  var seen = document.documentElement.getAttribute("data-mlreg-generation");
  function wait() {
    fetch("/_mlreg/wait?since=" + seen).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (g) {
      if (g.trim() !== seen) { window.location.reload(); } else { wait(); }
    }).catch(function () { setTimeout(wait, 2000); });
  }
  wait();
})();
"#;

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
            errors: Some(error_page(errors, generation)),
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
                    Arc::new(with_live_reload(&bytes, generation))
                } else {
                    bytes
                };
                let etag = etag(&crate::publish::hash::sha256(&bytes));
                Entry::Bytes { bytes, etag }
            }
        }
    }
}

/// The ETag of bytes with this SHA-256.
fn etag(sha256: &str) -> String {
    format!("\"{}\"", &sha256[..32])
}

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
    let first = build(dir, templates, 1);
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
            .spawn(move || watch(&root, templates.as_deref(), &shared, quiet))
            .map_err(|e| format!("cannot start watching {}: {e}", dir.display()))?;
    }
    let (queue, waiting) = std::sync::mpsc::sync_channel(QUEUED);
    let waiting = Arc::new(Mutex::new(waiting));
    for n in 0..HANDLERS {
        let (waiting, shared) = (waiting.clone(), shared.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("mlreg-http-{n}"))
            .spawn(move || handle_queue(&waiting, &shared));
        match spawned {
            Ok(_) => {}
            Err(e) if n == 0 => return Err(format!("cannot start a connection handler: {e}")),
            // Fewer handlers serve as well, only fewer connections at once.
            Err(e) => {
                log(
                    quiet,
                    format_args!("serving with {n} connection handlers: {e}"),
                );
                break;
            }
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "serving {} on http://{address}/ (rebuilds on change; Ctrl-C to stop)",
        dir.display()
    );
    let _ = out.flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            std::thread::sleep(ACCEPT_BACKOFF);
            continue;
        };
        shared.queued.fetch_add(1, Ordering::SeqCst);
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(stream)) => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                turn_away(&stream);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err("every connection handler has stopped".into());
            }
        }
    }
    Ok(())
}

/// Check, plan and render into memory.
fn build(dir: &Path, templates: Option<&Path>, generation: u64) -> Site {
    let display = dir.to_string_lossy().trim_end_matches('/').to_string();
    let mut outcome = crate::registry::check(dir, &display);
    let report = &outcome.report;
    let summary = summary(
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    if outcome.report.count(Severity::Error) > 0 {
        return Site::failed(generation, &outcome.report.render_human(false), summary);
    }
    let Some((loaded, registry)) = outcome.registry.take() else {
        return Site::failed(generation, "no registry was read", summary);
    };
    let result = crate::publish::plan::plan(dir, &loaded, &registry).and_then(|planned| {
        drop((loaded, registry));
        let writer = Writer::in_memory();
        writer.put_all(&planned.set)?;
        crate::site::render(dir, &planned, &writer, templates)?;
        Ok(writer.into_memory(planned.root(generation, None)))
    });
    match result {
        Ok(files) => Site {
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
    }
}

/// Rebuild whenever a file under `dir` (or the templates) is added, removed or modified, and
/// log what changed, how long the rebuild took and what it found.
fn watch(dir: &Path, templates: Option<&Path>, shared: &Shared, quiet: bool) {
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
        let site = Arc::new(build(dir, templates, generation));
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

/// A handler: take connections from the queue, one at a time, until the queue is gone.
fn handle_queue(waiting: &Mutex<Receiver<TcpStream>>, shared: &Shared) {
    // The handler's memory for heads, then for files on their way from disk: the same for
    // every request, and on its stack rather than in the allocator's per-thread caches.
    let mut buffer = [0u8; BUFFER];
    loop {
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(stream) = next else { return };
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        // A bug met while answering one request must not cost the pool a handler (the panic
        // is still printed).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(stream, shared, &mut buffer)
        }));
    }
}

/// Answer the one request of a connection, then close it. `buffer` (of [`BUFFER`] bytes) is
/// where its head is read, then the file it asks for.
fn handle(mut stream: TcpStream, shared: &Shared, buffer: &mut [u8]) {
    // Heads and bodies are separate writes: without this, a body could wait for the client's
    // delayed acknowledgement of the head.
    let _ = stream.set_nodelay(true);
    let request = read_head(&mut stream, shared, buffer)
        .and_then(|at| parse(&buffer[at], shared.port).map_err(Some));
    let site;
    let response = match request {
        Ok(request) => {
            site = shared.site.lock().expect("no panics while held").clone();
            respond(&request, shared, &site, buffer)
        }
        Err(Some(refusal)) => refusal.response(),
        // Closed, or silent until given up on: there is no one to answer.
        Err(None) => return,
    };
    if send(&mut stream, response, buffer).is_ok() {
        linger(stream, buffer);
    }
}

/// A request refused before any page is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    status: u16,
    why: &'static str,
}

const fn refuse(status: u16, why: &'static str) -> Refusal {
    Refusal { status, why }
}

impl Refusal {
    fn response(self) -> Response<'static> {
        plain(self.status, self.why)
    }
}

const URI_TOO_LONG: Refusal = refuse(414, "the request line is too long\n");
const HEADERS_TOO_LARGE: Refusal = refuse(431, "the request header fields are too large\n");
const TIMED_OUT: Refusal = refuse(408, "the request did not arrive in time\n");
const BAD_LINE: Refusal = refuse(400, "a malformed request line\n");
const BAD_HEADER: Refusal = refuse(400, "a malformed header field\n");
const BAD_TARGET: Refusal = refuse(400, "a malformed request target\n");
const BAD_PATH: Refusal = refuse(400, "a path that cannot name a file\n");

/// Read a request head into `head`: where in it the request line and header fields are,
/// without the empty line that ends them. `Err(None)` when the client closed or never sent
/// anything: nothing to answer.
fn read_head(
    stream: &mut TcpStream,
    shared: &Shared,
    head: &mut [u8],
) -> Result<Range<usize>, Option<Refusal>> {
    stream.set_read_timeout(Some(POLL)).map_err(|_| None)?;
    let started = Instant::now();
    // The bytes read, where the request line starts (after the empty lines a client may send
    // before it), where the header fields start, where the line being read starts, how far the
    // bytes have been searched for line ends, and the lines read so far.
    let (mut read, mut request, mut fields, mut line, mut searched, mut lines) = (0, 0, 0, 0, 0, 0);
    loop {
        while let Some(at) = head[searched..read].iter().position(|&b| b == b'\n') {
            let end = searched + at;
            searched = end + 1;
            let empty = matches!(&head[line..end], b"" | b"\r");
            if lines == 0 && end > MAX_LINE {
                return Err(Some(URI_TOO_LONG));
            }
            if lines > 0 && (end - fields > MAX_HEADER_BYTES || (lines > MAX_HEADERS && !empty)) {
                return Err(Some(HEADERS_TOO_LARGE));
            }
            match (lines, empty) {
                (0, true) => request = searched,
                (0, false) => fields = searched,
                (_, true) => return Ok(request..line - 1),
                (_, false) => {}
            }
            lines += usize::from(!empty);
            line = searched;
        }
        // The checks above and these keep `read` at most MAX_LINE + 1 + MAX_HEADER_BYTES
        // here, so that `head` has room for another piece.
        if lines == 0 && read > MAX_LINE {
            return Err(Some(URI_TOO_LONG));
        }
        if lines > 0 && read - fields > MAX_HEADER_BYTES {
            return Err(Some(HEADERS_TOO_LARGE));
        }
        let waited = started.elapsed();
        if waited >= HEAD_TIMEOUT
            || (waited >= SHED_AFTER && shared.queued.load(Ordering::SeqCst) > 0)
        {
            return Err((read > 0).then_some(TIMED_OUT));
        }
        let room = read..(read + PIECE).min(head.len());
        match stream.read(&mut head[room]) {
            Ok(0) => return Err(None),
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(None),
        }
    }
}

/// What a request asks for, once it passed every check.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    head_only: bool,
    /// Percent-decoded, without its leading slashes.
    path: String,
    query: String,
    if_none_match: Option<String>,
}

/// Check a request head (see [`read_head`]) sent to 127.0.0.1:`port`.
fn parse(head: &[u8], port: u16) -> Result<Request, Refusal> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD_LINE);
    };
    if !token(method) || first.contains(&b'\r') {
        return Err(BAD_LINE);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(refuse(505, "only HTTP/1.1 and HTTP/1.0 are served\n"));
        }
        _ => return Err(BAD_LINE),
    };
    let (mut hosts, mut if_none_match, mut body) = (Vec::new(), None, false);
    for field in lines {
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err(BAD_HEADER);
        };
        let (name, value) = (&field[..colon], field[colon + 1..].trim_ascii());
        // No whitespace before the colon (which also refuses folded lines), no CR or NUL.
        if !token(name) || value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(BAD_HEADER);
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts.push(value);
        } else if name.eq_ignore_ascii_case(b"if-none-match") {
            if_none_match = std::str::from_utf8(value).ok().map(str::to_string);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Err(BAD_HEADER);
            }
            body |= value.iter().any(|&b| b != b'0');
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            body = true;
        }
    }
    match hosts[..] {
        [] if !http11 => {}
        [host] if allowed_host(host, port) => {}
        [_] => {
            return Err(refuse(
                421,
                "this server answers only requests for 127.0.0.1 or localhost, with its port\n",
            ));
        }
        _ => return Err(refuse(400, "a request needs exactly one Host\n")),
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Err(refuse(405, "GET and HEAD only\n")),
    };
    if body {
        return Err(refuse(413, "this server takes no request body\n"));
    }
    // The origin form only: visible ASCII, starting with a slash.
    if target.first() != Some(&b'/') || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(BAD_TARGET);
    }
    let target = std::str::from_utf8(target).map_err(|_| BAD_TARGET)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path.as_bytes()).ok_or(BAD_PATH)?;
    if path.chars().any(|c| c.is_control() || c == '\\') || path.split('/').any(|s| s == "..") {
        return Err(BAD_PATH);
    }
    Ok(Request {
        head_only,
        path: path.trim_start_matches('/').to_string(),
        query: query.to_string(),
        if_none_match,
    })
}

/// An HTTP token: a method or a header field name.
fn token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a `Host` value names this server: a page on another domain (even one that resolves
/// to 127.0.0.1) must not read it.
fn allowed_host(host: &[u8], port: u16) -> bool {
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| {
        host.eq_ignore_ascii_case(format!("{name}:{port}").as_bytes())
            || port == 80 && host.eq_ignore_ascii_case(name.as_bytes())
    })
}

/// Decode `%XX` escapes byte by byte, then require UTF-8: `None` for a `%` without two hex
/// digits after it, or bytes that are not UTF-8.
fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            out.push(b);
            continue;
        }
        let [high, low, tail @ ..] = rest else {
            return None;
        };
        let digit = |d: &u8| char::from(*d).to_digit(16);
        out.push((digit(high)? * 16 + digit(low)?) as u8);
        rest = tail;
    }
    String::from_utf8(out).ok()
}

/// The response to a request; `buffer` is for reading a file from disk.
fn respond<'a>(
    request: &Request,
    shared: &Shared,
    site: &'a Site,
    buffer: &mut [u8],
) -> Response<'a> {
    let head_only = request.head_only;
    let path = request.path.as_str();
    if path == "_mlreg/live.js" {
        return Response {
            content_type: "text/javascript; charset=utf-8",
            cache: "no-cache",
            head_only,
            ..Response::new(200, LIVE_JS.as_bytes())
        };
    }
    if path == "_mlreg/wait" {
        return wait(shared, &request.query, head_only);
    }
    if let Some(page) = &site.errors {
        return Response {
            content_type: "text/html; charset=utf-8",
            cache: "no-cache",
            head_only,
            ..Response::new(500, page.as_bytes())
        };
    }
    let key = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let (status, key) = if site.files.contains_key(&key) {
        (200, key)
    } else {
        (404, "404.html".to_string())
    };
    let Some(file) = site.files.get(&key) else {
        return Response {
            cache: "no-cache",
            ..plain(404, "not found\n")
        };
    };
    let (body, etag) = match file {
        Entry::Bytes { bytes, etag } => {
            (Body::Bytes(Cow::Borrowed(bytes.as_slice())), etag.clone())
        }
        Entry::File(p) => {
            // A blob is served from its source file, which may have changed since the build
            // (a rebuild is on its way): never send bytes other than those its name promises.
            let promised = key.strip_prefix("blobs/sha256/");
            match Disk::open(p, buffer) {
                Ok(disk) if promised.is_none_or(|sha| sha == disk.sha256) => {
                    let etag = etag(&disk.sha256);
                    (Body::File(disk), etag)
                }
                _ => {
                    return Response {
                        head_only,
                        ..plain(
                            503,
                            "this file changed since the last build; a rebuild is on its way\n",
                        )
                    };
                }
            }
        }
    };
    let cache = if immutable(&key) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = status == 200 && request.if_none_match.as_deref() == Some(etag.as_str());
    Response {
        status: if not_modified { 304 } else { status },
        content_type: content_type(&key),
        cache,
        etag: Some(etag),
        body,
        head_only: head_only || not_modified,
    }
}

/// The live-reload long poll: answer with the generation once it is past `since=`, or after
/// [`WAIT`]. Beyond [`WAITERS`] polls at once, 503 at once (the page asks again later).
fn wait(shared: &Shared, query: &str, head_only: bool) -> Response<'static> {
    /// A long poll being held, counted in `Shared::waiters` until dropped.
    struct Held<'a>(&'a AtomicUsize);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let held = Held(&shared.waiters);
    if held.0.fetch_add(1, Ordering::SeqCst) >= WAITERS {
        return Response {
            head_only,
            ..plain(503, "too many pages are waiting for a rebuild\n")
        };
    }
    let since: u64 = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("since="))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let guard = shared.site.lock().expect("no panics while held");
    let (guard, _) = shared
        .changed
        .wait_timeout_while(guard, WAIT, |s| s.generation <= since)
        .expect("no panics while held");
    let generation = guard.generation.to_string();
    drop((guard, held));
    Response {
        cache: "no-store",
        head_only,
        ..Response::new(200, generation.into_bytes())
    }
}

struct Response<'a> {
    status: u16,
    content_type: &'static str,
    cache: &'static str,
    etag: Option<String>,
    body: Body<'a>,
    /// Send the head only (HEAD, 304), with the body's length.
    head_only: bool,
}

enum Body<'a> {
    Bytes(Cow<'a, [u8]>),
    File(Disk),
}

impl<'a> Response<'a> {
    fn new(status: u16, body: impl Into<Cow<'a, [u8]>>) -> Response<'a> {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            cache: "no-store",
            etag: None,
            body: Body::Bytes(body.into()),
            head_only: false,
        }
    }

    fn len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(disk) => disk.len,
        }
    }

    /// The status line and header fields.
    fn head(&self) -> String {
        let status = self.status;
        let reason = match status {
            200 => "OK",
            304 => "Not Modified",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            414 => "URI Too Long",
            421 => "Misdirected Request",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Internal Server Error",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {}\r\nCache-Control: {}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
            self.content_type, self.cache
        );
        if let Some(tag) = &self.etag {
            head.push_str(&format!("ETag: {tag}\r\n"));
        }
        if status != 304 {
            head.push_str(&format!("Content-Length: {}\r\n", self.len()));
        }
        if status == 503 {
            head.push_str("Retry-After: 1\r\n");
        }
        if status == 405 {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        head
    }
}

/// A plain-text answer that is not to be stored.
fn plain(status: u16, text: &'static str) -> Response<'static> {
    Response::new(status, text.as_bytes())
}

/// A file served from disk, with its length and digest when it was opened: what is sent is
/// checked against them.
struct Disk {
    file: File,
    len: u64,
    sha256: String,
}

impl Disk {
    fn open(path: &Path, buffer: &mut [u8]) -> std::io::Result<Disk> {
        let mut file = File::open(path)?;
        let mut hasher = Sha256::new();
        let mut len = 0;
        loop {
            let n = file.read(buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            len += n as u64;
        }
        file.seek(SeekFrom::Start(0))?;
        Ok(Disk {
            file,
            len,
            sha256: crate::publish::hash::hex(&hasher.finalize()),
        })
    }

    /// Send the file's bytes, hashed again on the way: if the file changed since it was
    /// opened, the last piece is never sent, so that no client receives a whole body other
    /// than the one its digest names.
    fn send(
        mut self,
        out: &mut TcpStream,
        deadline: Instant,
        buffer: &mut [u8],
    ) -> std::io::Result<()> {
        let mut hasher = Sha256::new();
        let mut left = self.len;
        while left > 0 {
            let n = usize::try_from(left).map_or(buffer.len(), |left| left.min(buffer.len()));
            let piece = &mut buffer[..n];
            self.file.read_exact(piece)?;
            hasher.update(&*piece);
            left -= n as u64;
            if left == 0 && crate::publish::hash::hex(&hasher.finalize_reset()) != self.sha256 {
                return Err(std::io::Error::other("the file changed while it was sent"));
            }
            write_by(out, piece, deadline)?;
        }
        Ok(())
    }
}

/// Send a response; `buffer` carries a file from disk.
fn send(out: &mut TcpStream, response: Response, buffer: &mut [u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + WRITE_TIMEOUT + Duration::from_secs(response.len() / MIN_RATE);
    write_by(out, response.head().as_bytes(), deadline)?;
    if response.head_only {
        return Ok(());
    }
    match response.body {
        Body::Bytes(bytes) => write_by(out, &bytes, deadline),
        Body::File(disk) => disk.send(out, deadline, buffer),
    }
}

/// Write all of `bytes` before `deadline`, so that a client that does not read cannot hold a
/// handler.
fn write_by(out: &mut TcpStream, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    for piece in bytes.chunks(CHUNK) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        out.set_write_timeout(Some(left))?;
        out.write_all(piece)?;
    }
    Ok(())
}

/// Close after answering: end the response, then read what the client still sends (the rest
/// of a refused request), see [`LINGER`]. A client that is quiet for [`POLL`] has nothing in
/// flight: closing then cannot reset the connection.
fn linger(mut stream: TcpStream, buffer: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut read = 0;
    while read < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left.min(POLL))).is_err() {
            return;
        }
        match stream.read(buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// Answer a connection no handler can take: one write that cannot block, since this runs on
/// the thread that accepts connections.
fn turn_away(mut stream: &TcpStream) {
    const BUSY: &str = "the server is busy; try again\n";
    let mut bytes = plain(503, BUSY).head().into_bytes();
    bytes.extend_from_slice(BUSY.as_bytes());
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write(&bytes);
    }
}

/// Content-addressed paths never change; everything else is revalidated.
fn immutable(path: &str) -> bool {
    crate::publish::output::content_addressed(path)
        || path.starts_with("static/")
        || path.starts_with("search/")
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => {
            if path == "feed.xml" {
                "application/atom+xml"
            } else {
                "application/xml"
            }
        }
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Add the reload script and the build's generation to a page.
fn with_live_reload(html: &[u8], generation: u64) -> Vec<u8> {
    let text = String::from_utf8_lossy(html);
    let text = text.replacen(
        "<html lang=\"en\">",
        &format!("<html lang=\"en\" data-mlreg-generation=\"{generation}\">"),
        1,
    );
    let text = text.replacen(
        "</body>",
        "<script src=\"/_mlreg/live.js\" defer></script>\n</body>",
        1,
    );
    text.into_bytes()
}

fn error_page(report: &str, generation: u64) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\" data-mlreg-generation=\"{generation}\">\n<head><meta charset=\"utf-8\"><title>mlreg: the registry has errors</title>\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'self'; style-src 'none'\"></head>\n<body>\n<h1>The registry has errors</h1>\n<p>Fix them and this page reloads.</p>\n<pre>{}</pre>\n<script src=\"/_mlreg/live.js\" defer></script>\n</body>\n</html>\n",
        crate::site::svg::esc(report)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PORT: u16 = 8000;

    /// The status `parse` answers a head with, 200 for a request that passed.
    fn status(head: &[u8]) -> u16 {
        parse(head, PORT).map_or_else(|r| r.status, |_| 200)
    }

    #[test]
    fn percent_decoding_is_byte_level_and_strict() {
        assert_eq!(percent_decode(b"/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode(b"/%C3%a9").as_deref(), Some("/\u{e9}"));
        // The escape runs into a two-byte character: slicing that as text used to panic.
        assert_eq!(percent_decode(b"/%a\xc3\xa9"), None);
        for bad in [&b"/%"[..], b"/%4", b"/%zz", b"/%+1", b"/%ff", b"/\xff"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
        assert_eq!(percent_decode(b"/%00").as_deref(), Some("/\0"));
    }

    #[test]
    fn heads_are_checked() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000", 200),
            (b"HEAD /a/b.json?x=1 HTTP/1.1\nhost: LOCALHOST:8000", 200),
            (b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\nContent-Length: 0", 200),
            (b"GET / HTTP/1.0", 200),
            (b"GET / HTTP/1.1", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nHost: localhost:8000", 400),
            (b"GET / HTTP/1.1\r\nHost: evil.example:8000", 421),
            (b"GET / HTTP/1.1\r\nHost: localhost", 421),
            (b"GET / HTTP/1.1\r\nHost: localhost.:8000", 421),
            (b"GET / HTTP/1.0\r\nHost: 127.0.0.1:80", 421),
            (b"GET /", 400),
            (b"GET  / HTTP/1.1", 400),
            (b"GET / HTTP/1.1 x", 400),
            (b"G\xc3\xa9T / HTTP/1.1", 400),
            (b"GET / HTTP/2.0", 505),
            (b"GET / HTTQ/1.1", 400),
            (b"GET / HTTP/1.1\r\nHost : localhost:8000", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n folded", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nno colon", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: a\rb", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: a\0b", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nX: \xff\xfe", 200),
            (b"POST / HTTP/1.1\r\nHost: localhost:8000", 405),
            (b"BREW / HTTP/1.1\r\nHost: localhost:8000", 405),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: 1", 413),
            (
                b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: 99999999999999999999999999",
                413,
            ),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: -1", 400),
            (b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nTransfer-Encoding: chunked", 413),
            (b"GET * HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET http://localhost:8000/ HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /%a\xc3\xa9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /%e9 HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /../etc/passwd HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a/%2e%2e/%2E%2E/x HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%2f..%2fb HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%00b HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%5cb HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"GET /a%0d%0ab HTTP/1.1\r\nHost: localhost:8000", 400),
            (b"", 400),
        ];
        for (head, expected) in cases {
            assert_eq!(status(head), *expected, "{}", String::from_utf8_lossy(head));
        }
        assert_eq!(
            parse(b"HEAD //a%20b/c.json?since=3 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nIf-None-Match: \"x\"", PORT),
            Ok(Request {
                head_only: true,
                path: "a b/c.json".into(),
                query: "since=3".into(),
                if_none_match: Some("\"x\"".into()),
            })
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: localhost"), 421);
        assert!(parse(b"GET / HTTP/1.1\r\nHost: localhost", 80).is_ok());
    }

    /// Request heads from pieces that are mostly right, so that every check is reached.
    fn heads() -> impl Strategy<Value = Vec<u8>> {
        let method = prop_oneof![
            Just(b"GET".to_vec()),
            Just(b"HEAD".to_vec()),
            Just(b"POST".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        let target = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(
                prop_oneof![
                    Just(b"/".to_vec()),
                    Just(b"..".to_vec()),
                    Just(b"%".to_vec()),
                    Just(b"%2e".to_vec()),
                    Just(b"%2F".to_vec()),
                    Just(b"%c3".to_vec()),
                    Just(b"%a9".to_vec()),
                    Just(b"\\".to_vec()),
                    Just(b"?".to_vec()),
                    "[a-z0-9.]{1,3}".prop_map(String::into_bytes),
                    proptest::collection::vec(any::<u8>(), 1..3),
                ],
                0..12,
            )
            .prop_map(|parts| [&b"/"[..], &parts.concat()].concat()),
        ];
        let version = prop_oneof![
            Just(b"HTTP/1.1".to_vec()),
            Just(b"HTTP/1.0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..10),
        ];
        let field = prop_oneof![
            Just(b"Host: 127.0.0.1:8000".to_vec()),
            Just(b"Content-Length: 0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..30),
        ];
        (
            method,
            target,
            version,
            proptest::collection::vec(field, 0..4),
        )
            .prop_map(|(method, target, version, fields)| {
                let mut head = [method, target, version].join(&b' ');
                for field in fields {
                    head.extend_from_slice(b"\r\n");
                    head.extend_from_slice(&field);
                }
                head
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn percent_decoding_inverts_encoding(text in any::<String>()) {
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(encoded.as_bytes()), Some(text));
        }

        #[test]
        fn percent_decoding_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(text) = percent_decode(&bytes) {
                prop_assert!(text.len() <= bytes.len());
            }
        }

        #[test]
        fn parsed_paths_stay_in_the_served_set(head in heads()) {
            if let Ok(request) = parse(&head, PORT) {
                let path = &request.path;
                prop_assert!(!path.starts_with('/'));
                prop_assert!(!path.split('/').any(|s| s == ".."), "{path:?}");
                prop_assert!(!path.chars().any(|c| c.is_control() || c == '\\'), "{path:?}");
            }
        }

        #[test]
        fn parse_takes_any_bytes(head in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&head, PORT);
        }
    }
}
