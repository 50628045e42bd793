//! `mlreg serve`: build the registry into memory and serve it on 127.0.0.1, rebuilding when a
//! file of the registry changes and reloading the open pages. When the registry has errors,
//! every page shows the diagnostics instead. The responses carry the headers docs/protocol.md
//! asks of a host (no-cache root and pages, immutable hashed files, ETag and 304, content
//! types), so this is also the reference for hosting configuration.
//!
//! Builds go through the same pipeline as `mlreg build` (check, plan, render); this module owns
//! only the server and the watch loop.

use crate::diag::{Report, Severity, plural, summary};
use crate::publish::output::{Served, Writer};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The live-reload script, served at `/_mlreg/live.js` and added to every page.
const LIVE_JS: &str = r#"(function () {
  "use strict";
  var seen = document.documentElement.getAttribute("data-mlreg-generation");
  function wait() {
    fetch("/_mlreg/wait?since=" + seen).then(function (r) { return r.text(); }).then(function (g) {
      if (g.trim() !== seen) { window.location.reload(); } else { wait(); }
    }).catch(function () { setTimeout(wait, 2000); });
  }
  wait();
})();
"#;

/// One build: its files, or the diagnostics that stopped it.
struct Site {
    generation: u64,
    files: BTreeMap<String, Served>,
    errors: Option<String>,
    /// The diagnostics in a line: `1 error, 2 warnings`.
    summary: String,
}

struct Shared {
    site: Mutex<Arc<Site>>,
    changed: Condvar,
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
    });
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "serving {} on http://{address}/ (rebuilds on change; Ctrl-C to stop)",
        dir.display()
    );
    let _ = out.flush();
    {
        let (shared, dir, templates) = (
            shared.clone(),
            dir.to_path_buf(),
            templates.map(Path::to_path_buf),
        );
        std::thread::spawn(move || watch(&dir, templates.as_deref(), &shared, quiet));
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = respond(stream, &shared);
        });
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
    let errors = |report: &Report| Some(report.render_human(false));
    if outcome.report.count(Severity::Error) > 0 {
        return Site {
            generation,
            files: BTreeMap::new(),
            errors: errors(&outcome.report),
            summary,
        };
    }
    let Some((loaded, registry)) = outcome.registry.take() else {
        return Site {
            generation,
            files: BTreeMap::new(),
            errors: Some("no registry was read".into()),
            summary,
        };
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
            files,
            errors: None,
        },
        Err(e) => Site {
            generation,
            files: BTreeMap::new(),
            summary: format!("the build failed: {e}"),
            errors: Some(e),
        },
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

fn respond(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut if_none_match = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(v.trim().to_string());
        }
    }
    let mut out = stream;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    if method != "GET" && method != "HEAD" {
        return send(
            &mut out,
            405,
            "text/plain; charset=utf-8",
            "no-cache",
            None,
            b"GET only\n",
            false,
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path.trim_start_matches('/'));
    if path == "_mlreg/live.js" {
        return send(
            &mut out,
            200,
            "text/javascript; charset=utf-8",
            "no-cache",
            None,
            LIVE_JS.as_bytes(),
            method == "HEAD",
        );
    }
    if path == "_mlreg/wait" {
        let since: u64 = query
            .strip_prefix("since=")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let guard = shared.site.lock().expect("no panics while held");
        let (guard, _) = shared
            .changed
            .wait_timeout_while(guard, Duration::from_secs(25), |s| s.generation <= since)
            .expect("no panics while held");
        let generation = guard.generation.to_string();
        drop(guard);
        return send(
            &mut out,
            200,
            "text/plain; charset=utf-8",
            "no-store",
            None,
            generation.as_bytes(),
            false,
        );
    }
    let site = shared.site.lock().expect("no panics while held").clone();
    if path.split('/').any(|p| p == "..") {
        return send(
            &mut out,
            400,
            "text/plain; charset=utf-8",
            "no-cache",
            None,
            b"bad path\n",
            false,
        );
    }
    if let Some(errors) = &site.errors {
        let page = error_page(errors, site.generation);
        return send(
            &mut out,
            500,
            "text/html; charset=utf-8",
            "no-cache",
            None,
            page.as_bytes(),
            method == "HEAD",
        );
    }
    let key = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.clone()
    };
    let (status, key) = if site.files.contains_key(&key) {
        (200, key)
    } else {
        (404, "404.html".to_string())
    };
    let Some(file) = site.files.get(&key) else {
        return send(
            &mut out,
            404,
            "text/plain; charset=utf-8",
            "no-cache",
            None,
            b"not found\n",
            false,
        );
    };
    let mut body = match file {
        Served::Bytes(b) => b.as_ref().clone(),
        Served::File(p) => {
            let mut bytes = Vec::new();
            std::fs::File::open(p)?.read_to_end(&mut bytes)?;
            // A blob is served from its source file, which may have changed since the build
            // (a rebuild is on its way): never send bytes other than those its name promises.
            let promised = key.strip_prefix("blobs/sha256/");
            if promised.is_some_and(|sha| crate::publish::hash::sha256(&bytes) != sha) {
                return send(
                    &mut out,
                    503,
                    "text/plain; charset=utf-8",
                    "no-store",
                    None,
                    b"this file changed since the last build; a rebuild is on its way\n",
                    method == "HEAD",
                );
            }
            bytes
        }
    };
    if key.ends_with(".html") {
        body = with_live_reload(&body, site.generation);
    }
    let etag = format!("\"{}\"", &crate::publish::hash::sha256(&body)[..32]);
    let cache = if immutable(&key) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    if status == 200 && if_none_match.as_deref() == Some(etag.as_str()) {
        return send(
            &mut out,
            304,
            content_type(&key),
            cache,
            Some(&etag),
            b"",
            true,
        );
    }
    send(
        &mut out,
        status,
        content_type(&key),
        cache,
        Some(&etag),
        &body,
        method == "HEAD",
    )
}

fn send(
    out: &mut TcpStream,
    status: u16,
    content_type: &str,
    cache: &str,
    etag: Option<&str>,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nCache-Control: {cache}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
    );
    if let Some(tag) = etag {
        head.push_str(&format!("ETag: {tag}\r\n"));
    }
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if status == 503 {
        head.push_str("Retry-After: 1\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if !head_only && status != 304 {
        out.write_all(body)?;
    }
    out.flush()
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

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
