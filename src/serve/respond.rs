//! Answering a checked request from the current build: which file, with which status and
//! headers (content types, cache policy, ETags and 304), writing it against a deadline, blobs
//! streamed from their source files and checked against their digests on the way, and the
//! live-reload script added to pages.

use super::http::{Request, reason};
use super::{Entry, Shared, Site};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The time a response may take, plus a second per [`MIN_RATE`] bytes of body.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_RATE: u64 = 1024 * 1024;
/// Responses are written in pieces of this size, each against the deadline.
const CHUNK: usize = 64 * 1024;

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

/// The response to a request; `buffer` is for reading a file from disk.
pub(super) fn respond<'a>(
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
        let response = match super::pool::wait(shared, &request.query) {
            Some(generation) => Response {
                cache: "no-store",
                ..Response::new(200, generation.to_string().into_bytes())
            },
            None => plain(503, "too many pages are waiting for a rebuild\n"),
        };
        return Response {
            head_only,
            ..response
        };
    }
    if let Some(page) = &site.errors {
        return Response {
            content_type: "text/html; charset=utf-8",
            cache: "no-cache",
            head_only,
            ..Response::new(500, page.as_bytes())
        };
    }
    let key = key_of(path);
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
        Entry::Bytes { bytes, etag, .. } => {
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

/// An answer, from its status to its body.
pub(super) struct Response<'a> {
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
    pub(super) fn head(&self) -> String {
        let status = self.status;
        let reason = reason(status);
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
pub(super) fn plain(status: u16, text: &'static str) -> Response<'static> {
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
pub(super) fn send(
    out: &mut TcpStream,
    response: Response,
    buffer: &mut [u8],
) -> std::io::Result<()> {
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

/// The ETag of bytes with this SHA-256.
pub(super) fn etag(sha256: &str) -> String {
    format!("\"{}\"", &sha256[..32])
}

/// Content-addressed paths never change; everything else is revalidated.
fn immutable(path: &str) -> bool {
    crate::publish::output::content_addressed(path) || crate::publish::output::hash_named(path)
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

/// The file a path names: a folder's `index.html`.
pub(super) fn key_of(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    }
}

/// Add the reload script and the build's generation to a page.
pub(super) fn with_live_reload(html: &[u8], generation: u64) -> Vec<u8> {
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

/// The page shown at every path while the registry has errors, reloaded once they are fixed.
pub(super) fn error_page(report: &str, generation: u64) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\" data-mlreg-generation=\"{generation}\">\n<head><meta charset=\"utf-8\"><title>mlreg: the registry has errors</title>\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'self'; style-src 'none'\"></head>\n<body>\n<h1>The registry has errors</h1>\n<p>Fix them and this page reloads.</p>\n<pre>{}</pre>\n<script src=\"/_mlreg/live.js\" defer></script>\n</body>\n</html>\n",
        crate::site::svg::esc(report)
    )
}
