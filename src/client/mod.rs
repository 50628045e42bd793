//! The workspace side of the protocol: fetch published documents and blobs from a folder, over
//! HTTP or from object storage, check each against what its parent promises (`api_version`,
//! sha256, size), keep them in a local cache by hash, resolve references, and pull a version's
//! files.
//!
//! This module owns the transport: a request's stall timeout and the command's total deadline,
//! redirects (followed only to the hosts of the configured sources), resuming an interrupted
//! body with a range request, and a source's health: one that fails to connect or stalls is
//! skipped for the rest of the run, so a dead mirror costs one timeout, not one per file.
//!
//! Depends on the index types, hashing and reference syntax only, never on the builder.

pub mod cache;
pub mod object;
pub mod pull;
pub mod resolve;
pub mod trust;

use crate::publish::index::{self, Ref, Root};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The largest `registry.json` a client accepts.
pub const MAX_ROOT: u64 = 1 << 20;

/// The largest document a client accepts. Published documents stay far below it (a bin, an
/// asset document, a used-by page: none grows with the registry); it bounds what a broken or
/// hostile source can make a client read.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// Why a resolution failed: what was asked for does not exist, or the registry could not be
/// read (or was not what it promised). Commands give the two different exit statuses.
#[derive(Debug)]
pub enum Failure {
    /// No such asset, version, stage or workspace; the message says what exists nearby.
    NotFound(String),
    /// Unreadable, unreachable, or wrong bytes.
    Broken(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Broken(message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotFound(m) | Failure::Broken(m) => f.write_str(m),
        }
    }
}

/// Where a published registry is read from.
pub enum Source {
    Folder(PathBuf),
    Http(HttpSource),
    Object(object::ObjectSource),
}

/// A published registry over HTTP(S).
pub struct HttpSource {
    /// The registry root's URL, ending with `/`.
    base: String,
    /// Stall timeouts on connect and on every read; no automatic redirects (see
    /// [`HttpSource::send`]).
    agent: ureq::Agent,
    stall: Duration,
    health: Health,
}

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// How often a download that broke off mid-body is resumed where it stopped, per source.
const MAX_RESUMES: u32 = 5;

/// Bytes read at a time when streaming a blob.
const BUFFER: usize = 256 * 1024;

/// Where a blob's bytes go as they arrive: the offset of the chunk in the blob, and the chunk.
/// Chunks come in order; an offset of 0 after some bytes means the source started over.
pub type Sink<'a> = dyn FnMut(u64, &[u8]) -> Result<(), String> + 'a;

/// Whether a source failed in a way that will not get better within this run (unreachable,
/// stalled, not speaking HTTP, refusing our credentials): later requests skip it at once
/// instead of waiting out the timeout again, for documents and files alike.
#[derive(Default)]
pub(crate) struct Health {
    failed: OnceLock<String>,
    told: AtomicBool,
}

impl Health {
    fn check(&self, location: &str) -> Result<(), String> {
        match self.failed.get() {
            Some(_) => Err(format!(
                "{location}: skipped, it failed earlier in this run"
            )),
            None => Ok(()),
        }
    }

    /// The outcome of a request for its caller; a failure of the source itself marks it.
    pub(crate) fn settle<T>(&self, got: Result<T, Failed>) -> Result<T, String> {
        got.map_err(|f| {
            if f.down {
                let _ = self.failed.set(f.message.clone());
            }
            f.message
        })
    }

    fn note(&self, location: &str) -> Option<String> {
        let why = self.failed.get()?;
        (!self.told.swap(true, Ordering::Relaxed))
            .then(|| format!("skipped {location} for the rest of this run: {why}"))
    }
}

/// A failed request: the message, and whether the source itself is down (rather than one
/// file of it missing or wrong) or the connection merely broke off mid-body (worth resuming).
pub(crate) struct Failed {
    message: String,
    down: bool,
    resumable: bool,
}

impl Failed {
    /// The source answered, but not with what was asked for.
    pub(crate) fn answer(message: String) -> Failed {
        Failed {
            message,
            down: false,
            resumable: false,
        }
    }

    /// The source itself failed.
    pub(crate) fn down(message: String) -> Failed {
        Failed {
            message,
            down: true,
            resumable: false,
        }
    }
}

/// The command's deadline (`--total-timeout`), and the limit it came from.
static DEADLINE: OnceLock<(Instant, Duration)> = OnceLock::new();

/// Give the whole command `total`: every request gets what is left of it, and none starts
/// once it is spent. Set once, before the first source is opened.
pub fn set_deadline(total: Duration) {
    if let Some(at) = Instant::now().checked_add(total) {
        let _ = DEADLINE.set((at, total));
    }
}

/// What is left of the command's time: `None` without a deadline, an error once it is spent.
pub fn time_left() -> Result<Option<Duration>, String> {
    let Some((at, _)) = DEADLINE.get() else {
        return Ok(None);
    };
    match at.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(Some(left)),
        _ => Err(out_of_time()),
    }
}

fn out_of_time() -> String {
    let total = DEADLINE.get().map_or(0, |(_, total)| total.as_secs());
    format!("gave up: the command ran for its whole --total-timeout of {total} s")
}

/// The hosts of the HTTP sources opened in this process (the index and the mirrors): the
/// only hosts a redirect is followed to.
static HOSTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A document read from a source in this run, for reports: which source, and whether it only
/// confirmed the cached copy (HTTP 304).
#[derive(Clone, Debug)]
pub struct Fetched {
    pub source: String,
    pub path: String,
    pub not_modified: bool,
}

static FETCHED: Mutex<Vec<Fetched>> = Mutex::new(Vec::new());

fn log_fetch(source: &Source, path: &str, not_modified: bool) {
    FETCHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Fetched {
            source: source.location(),
            path: path.to_string(),
            not_modified,
        });
}

/// Every document read from a source so far in this run, in order (what came from the cache
/// is not here).
pub fn fetched() -> Vec<Fetched> {
    FETCHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

impl Source {
    /// A published registry's root folder: a folder, `file://`, `http(s)://`,
    /// `az://container/prefix` or `s3://bucket/prefix`. A request gives up when no byte has
    /// come for `stall` (connecting included), and when the command's deadline passes.
    pub fn open(location: &str, stall: Duration) -> Result<Source, String> {
        match location.split_once("://").map(|(s, _)| s) {
            Some("http" | "https") => HttpSource::open(location, stall).map(Source::Http),
            Some("file") | None => Ok(Source::Folder(PathBuf::from(
                location.strip_prefix("file://").unwrap_or(location),
            ))),
            Some(_) => object::ObjectSource::open(location, stall).map(Source::Object),
        }
    }

    /// Where this source is, for messages and cache keys.
    pub fn location(&self) -> String {
        match self {
            Source::Folder(dir) => dir.display().to_string(),
            Source::Http(h) => h.base.clone(),
            Source::Object(o) => o.location().to_string(),
        }
    }

    fn health(&self) -> Option<&Health> {
        match self {
            Source::Folder(_) => None,
            Source::Http(h) => Some(&h.health),
            Source::Object(o) => Some(o.health()),
        }
    }

    /// Once, after this source failed for good: the warning that it is skipped from now on.
    pub fn failure_note(&self) -> Option<String> {
        self.health()?.note(&self.location())
    }

    /// `registry.json`, revalidated against `etag` when there is one: `Ok(None)` means the copy
    /// the caller holds is current (HTTP 304).
    #[allow(clippy::type_complexity)]
    pub fn root_if_changed(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        let got = match self {
            Source::Folder(dir) => read_file(dir, index::ROOT, MAX_ROOT).map(|b| Some((b, None))),
            Source::Object(o) => o.get_if_changed(index::ROOT, etag, MAX_ROOT),
            Source::Http(h) => h.root_if_changed(etag),
        }?;
        log_fetch(self, index::ROOT, got.is_none());
        Ok(got)
    }

    /// The bytes at `rel` (relative to the registry root), at most `limit` of them.
    pub fn get(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        let bytes = match self {
            Source::Folder(dir) => read_file(dir, rel, limit),
            Source::Http(h) => h.get(rel, limit),
            Source::Object(o) => o.get(rel, limit),
        }?;
        log_fetch(self, rel, false);
        Ok(bytes)
    }

    /// Stream the blob at `rel`, exactly `size` bytes of it, to `sink`. Over HTTP, a
    /// connection that breaks off mid-body is resumed with a range request from where it
    /// stopped (or started over, when the server ignores ranges: the sink is told).
    pub fn stream(&self, rel: &str, size: u64, sink: &mut Sink<'_>) -> Result<(), String> {
        match self {
            Source::Folder(dir) => stream_file(dir, rel, size, sink),
            Source::Http(h) => {
                h.health.check(&h.base)?;
                let got = h.stream(rel, size, sink);
                h.health.settle(got)
            }
            Source::Object(o) => o.stream(rel, size, sink),
        }
    }

    /// `registry.json`, refusing an `api_version` whose major version this client does not know.
    pub fn root(&self) -> Result<Root, String> {
        let bytes = self.get(index::ROOT, MAX_ROOT)?;
        let root: Root = serde_json::from_slice(&bytes)
            .map_err(|e| format!("registry.json is not a registry root: {e}"))?;
        let ours = index::major(index::API_VERSION);
        if index::major(&root.api_version) != ours {
            return Err(format!(
                "registry.json has api_version {}, this mlreg reads {}",
                escape(&root.api_version),
                index::API_VERSION
            ));
        }
        Ok(root)
    }

    /// An immutable document, verified against its reference before it is parsed.
    pub fn document<T: serde::de::DeserializeOwned>(&self, r: &Ref) -> Result<T, String> {
        check_ref(r)?;
        if r.size > MAX_DOCUMENT {
            return Err(format!(
                "{} is {} bytes, over the {MAX_DOCUMENT}-byte limit for documents",
                r.path, r.size
            ));
        }
        let bytes = self.get(&r.path, r.size)?;
        verify(&r.path, &bytes, r)?;
        parse_document(&r.path, &bytes)
    }
}

fn read_file(dir: &std::path::Path, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
    let path = dir.join(rel);
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_limited(f, limit).map_err(|e| format!("{}: {e}", path.display()))
}

fn stream_file(
    dir: &std::path::Path,
    rel: &str,
    size: u64,
    sink: &mut Sink<'_>,
) -> Result<(), String> {
    let path = dir.join(rel);
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = std::fs::File::open(&path).map_err(|e| fail(&e))?;
    let mut buf = vec![0u8; BUFFER];
    let mut at = 0u64;
    loop {
        time_left().map_err(|e| fail(&e))?;
        let n = file.read(&mut buf).map_err(|e| fail(&e))?;
        if n == 0 {
            break;
        }
        if n as u64 > size - at {
            return Err(fail(&format_args!("more than the {size} bytes expected")));
        }
        sink(at, &buf[..n])?;
        at += n as u64;
    }
    if at != size {
        return Err(fail(&format_args!("{at} bytes, expected {size}")));
    }
    Ok(())
}

impl HttpSource {
    fn open(location: &str, stall: Duration) -> Result<HttpSource, String> {
        let base = if location.ends_with('/') {
            location.to_string()
        } else {
            format!("{location}/")
        };
        let (_, host) =
            scheme_and_host(&base).ok_or_else(|| format!("`{}` is not a URL", escape(location)))?;
        HOSTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(host);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(stall))
            .timeout_connect(Some(stall))
            .timeout_per_read(Some(stall))
            .timeout_per_write(Some(stall))
            .build()
            .into();
        Ok(HttpSource {
            base,
            agent,
            stall,
            health: Health::default(),
        })
    }

    /// GET `rel` with `headers`, following redirects by hand: only to the host of a configured
    /// source (the index or a mirror), never from https down to http, at most
    /// [`MAX_REDIRECTS`] of them. Returns the URL that answered, and its response.
    fn send(
        &self,
        rel: &str,
        headers: &[(&str, &str)],
    ) -> Result<(String, ureq::http::Response<ureq::Body>), Failed> {
        let mut url = format!("{}{rel}", self.base);
        for _ in 0..=MAX_REDIRECTS {
            let left = time_left().map_err(|e| Failed::answer(format!("{url}: {e}")))?;
            let mut request = self.agent.get(url.as_str());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if left.is_some() {
                request = request.config().timeout_global(left).build();
            }
            let response = request.call().map_err(|e| self.failed(&url, e))?;
            let status = response.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok((url, response));
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Failed::answer(format!("{url}: HTTP {status} without a usable Location"))
                })?;
            url = redirect(&url, location).map_err(Failed::answer)?;
        }
        Err(Failed::answer(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn get(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        self.health.check(&self.base)?;
        let got =
            self.send(rel, &[])
                .and_then(|(url, response)| match response.status().as_u16() {
                    200 => read_limited(response.into_body().into_reader(), limit)
                        .map_err(|e| self.failed(&url, ureq::Error::from(e))),
                    s => Err(Failed::answer(format!("{url}: HTTP {s}"))),
                });
        self.health.settle(got)
    }

    #[allow(clippy::type_complexity)]
    fn root_if_changed(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        self.health.check(&self.base)?;
        let headers: Vec<(&str, &str)> = etag.map(|t| ("If-None-Match", t)).into_iter().collect();
        let got = self
            .send(index::ROOT, &headers)
            .and_then(|(url, response)| match response.status().as_u16() {
                // Only an answer to the question asked: a 304 to a request without an ETag
                // would leave the caller with no root at all.
                304 if etag.is_some() => Ok(None),
                200 => {
                    let tag = response
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_limited(response.into_body().into_reader(), MAX_ROOT)
                        .map_err(|e| self.failed(&url, ureq::Error::from(e)))?;
                    Ok(Some((body, tag)))
                }
                s => Err(Failed::answer(format!("{url}: HTTP {s}"))),
            });
        self.health.settle(got)
    }

    fn stream(&self, rel: &str, size: u64, sink: &mut Sink<'_>) -> Result<(), Failed> {
        let mut at = 0u64;
        let mut resumes = 0;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let range = format!("bytes={at}-");
            // Ranges count bytes as stored: no transfer encoding that would shift them.
            let mut headers = vec![("Accept-Encoding", "identity")];
            if at > 0 {
                headers.push(("Range", range.as_str()));
            }
            let (url, response) = self.send(rel, &headers)?;
            match response.status().as_u16() {
                // A server that ignores ranges sends it all again: start over.
                200 => at = 0,
                206 if at > 0 => {
                    let answered = response
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !answered.starts_with(&format!("bytes {at}-")) {
                        return Err(Failed::answer(format!(
                            "{url}: asked for bytes {at}- and got `{}`",
                            escape(answered)
                        )));
                    }
                }
                s => return Err(Failed::answer(format!("{url}: HTTP {s}"))),
            }
            let start = at;
            let mut body = response.into_body().into_reader();
            let broke = loop {
                match body.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        if n as u64 > size - at {
                            return Err(Failed::answer(format!(
                                "{url}: more than the {size} bytes expected"
                            )));
                        }
                        sink(at, &buf[..n]).map_err(Failed::answer)?;
                        at += n as u64;
                    }
                    Err(e) => break Some(self.failed(&url, ureq::Error::from(e))),
                }
            };
            let mut failure = match broke {
                None if at == size => return Ok(()),
                None => Failed {
                    message: format!("{url}: the body ended after {at} of {size} bytes"),
                    down: false,
                    resumable: true,
                },
                Some(f) => f,
            };
            // A connection that broke off after delivering something is asked for the rest;
            // one that delivers nothing, or stalls, is given up.
            if failure.resumable && at > start && resumes < MAX_RESUMES {
                resumes += 1;
                continue;
            }
            if resumes > 0 {
                failure.message = format!("{} (after {resumes} resumed requests)", failure.message);
            }
            return Err(failure);
        }
    }

    /// What a failed request means: a stall or a connection that cannot be made marks the
    /// source down; a connection that broke off mid-body is worth resuming.
    fn failed(&self, url: &str, e: ureq::Error) -> Failed {
        use std::io::ErrorKind as K;
        let secs = self.stall.as_secs();
        match &e {
            ureq::Error::Timeout(ureq::Timeout::Global) => {
                Failed::answer(format!("{url}: {}", out_of_time()))
            }
            ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
                Failed::down(format!("{url}: no connection within {secs} s (--timeout)"))
            }
            ureq::Error::Timeout(_) => {
                Failed::down(format!("{url}: stalled: no byte for {secs} s (--timeout)"))
            }
            ureq::Error::Io(io) => Failed {
                message: format!("{url}: {io}"),
                down: matches!(
                    io.kind(),
                    K::ConnectionRefused
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::NotConnected
                        | K::BrokenPipe
                        | K::TimedOut
                        | K::UnexpectedEof
                        | K::HostUnreachable
                        | K::NetworkUnreachable
                        | K::NetworkDown
                        | K::AddrNotAvailable
                ),
                resumable: matches!(
                    io.kind(),
                    K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
                ),
            },
            ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::TlsRequired
            | ureq::Error::ConnectProxyFailed(_) => Failed::down(format!("{url}: {e}")),
            _ => Failed::answer(format!("{url}: {e}")),
        }
    }
}

/// The scheme (`http` or `https`) and lowercase host of an HTTP URL.
fn scheme_and_host(url: &str) -> Option<(String, String)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    (matches!(scheme.as_str(), "http" | "https") && !host.is_empty()).then_some((scheme, host))
}

/// `location` (absolute, scheme-relative, absolute-path or relative) as seen from `from`.
fn join_url(from: &str, location: &str) -> Option<String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(location.to_string());
    }
    let uri: ureq::http::Uri = from.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?.as_str();
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    // Another scheme (`ftp:`, `file:`) is no place to follow to.
    if location
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        return None;
    }
    let path = uri.path();
    let dir = &path[..=path.rfind('/')?];
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

/// Where a redirect from `from` to `location` leads, if this client may follow it there.
fn redirect(from: &str, location: &str) -> Result<String, String> {
    let to = join_url(from, location)
        .filter(|to| scheme_and_host(to).is_some())
        .ok_or_else(|| {
            format!(
                "{from}: redirected to `{}`, which is not an http(s) URL: not followed",
                escape(location)
            )
        })?;
    let (scheme, host) = scheme_and_host(&to).unwrap_or_default();
    if from.to_ascii_lowercase().starts_with("https:") && scheme != "https" {
        return Err(format!(
            "{from}: redirected from https down to plain http ({}): not followed",
            escape(&to)
        ));
    }
    let allowed = HOSTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&host);
    if !allowed {
        return Err(format!(
            "{from}: redirected to host {}, which is neither the index's nor a mirror's: not followed (give it with --mirror if it serves this registry)",
            escape(&host)
        ));
    }
    Ok(to)
}

/// Walk the protocol from `snapshot` down: every path it reaches (snapshot, bins, asset
/// documents, used-by pages, specs, cards, blobs) goes into `paths`, each document read
/// verified. A document already in `paths` is not read again, so walking several snapshots
/// shares what they share; each asset document read is handed to `each` with the id its bin
/// gives it.
pub fn walk(
    source: &Source,
    snapshot: &Ref,
    paths: &mut std::collections::BTreeSet<String>,
    mut each: impl FnMut(&str, index::AssetDoc) -> Result<(), String>,
) -> Result<(), String> {
    if !paths.insert(snapshot.path.clone()) {
        return Ok(());
    }
    let snap: index::Snapshot = source.document(snapshot)?;
    let bins: Vec<&Ref> = snap
        .bins
        .values()
        .filter(|r| paths.insert(r.path.clone()))
        .collect();
    // Bins are independent: read (with their documents) in parallel from folders and over
    // HTTP; object stores are read through one runtime, one request at a time.
    let seen = &*paths;
    let fetch = |bin_ref: &&Ref| -> Result<Vec<Reached>, String> {
        let bin: index::Bin = source.document(bin_ref)?;
        let mut out = Vec::new();
        for (id, entry) in bin.assets {
            if seen.contains(&entry.doc.path) {
                continue;
            }
            let doc: index::AssetDoc = source.document(&entry.doc)?;
            let mut reached = vec![entry.doc.path.clone()];
            for v in doc.versions.values() {
                for page in &v.used_by_pages {
                    if !seen.contains(&page.path) {
                        source.document::<index::UsedByPage>(page)?;
                        reached.push(page.path.clone());
                    }
                }
                reached.push(v.spec_file.path.clone());
                reached.extend(v.files.iter().map(|f| f.blob.clone()));
                if let Some(card) = &v.card {
                    reached.push(card.blob.path.clone());
                }
            }
            out.push((id, doc, reached));
        }
        Ok(out)
    };
    let fetched: Vec<Result<Vec<Reached>, String>> = match source {
        Source::Object(_) => bins.iter().map(fetch).collect(),
        _ => {
            use rayon::prelude::*;
            bins.par_iter().map(fetch).collect()
        }
    };
    for bin in fetched {
        for (id, doc, reached) in bin? {
            paths.extend(reached);
            each(&id, doc)?;
        }
    }
    Ok(())
}

/// An asset read by [`walk`]: its id, its document, and every path it reaches.
type Reached = (String, index::AssetDoc, Vec<String>);

/// Every asset of `snapshot` with its bin entry, sorted by id: every bin read with `bin` (the
/// protocol has no one document that lists the registry). An id in a bin other than its own is
/// refused: no resolution would find it there.
pub fn listing(
    snapshot: &index::Snapshot,
    mut bin: impl FnMut(&Ref) -> Result<index::Bin, Failure>,
) -> Result<std::collections::BTreeMap<String, index::BinEntry>, Failure> {
    let mut all = std::collections::BTreeMap::new();
    for (name, bin_ref) in &snapshot.bins {
        for (id, entry) in bin(bin_ref)?.assets {
            if index::bin_of(&id) != *name {
                return Err(Failure::Broken(format!(
                    "{}: lists `{}`, which belongs in bin {}, not {}: the index was altered",
                    bin_ref.path,
                    escape(&id),
                    index::bin_of(&id),
                    escape(name)
                )));
            }
            all.insert(id, entry);
        }
    }
    Ok(all)
}

/// Parse `registry.json`, refusing an unknown major `api_version`.
pub fn parse_root(bytes: &[u8]) -> Result<Root, String> {
    parse_document(index::ROOT, bytes)
}

/// Parse a document of the protocol, refusing one whose `api_version` is missing or of a major
/// version this client does not know: a document it would misread.
pub fn parse_document<T: serde::de::DeserializeOwned>(
    path: &str,
    bytes: &[u8],
) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{path} is not JSON: {e}"))?;
    let version = value
        .get("api_version")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if index::major(version) != index::major(index::API_VERSION) {
        return Err(format!(
            "{path} has api_version `{}`; this mlreg reads {}.x",
            escape(version),
            index::major(index::API_VERSION).unwrap_or(1)
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("{path} is not what the protocol says: {e}"))
}

/// Untrusted text made safe for a terminal: control characters (escape sequences that clear
/// the screen, set the title or write the clipboard) and bidirectional overrides (text that
/// reads other than it is) become visible `\u{..}` escapes.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A character that must not reach a terminal or a file name as it is.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// What a version document promises, checked before anything of it is used: its digest is
/// the one its content gives, and its file list names each path once, none reserved for what
/// `pull` writes itself (`spec.yaml`, the pull record), none with control or bidi characters.
pub fn check_version(id: &str, version: &str, v: &index::VersionDoc) -> Result<(), String> {
    let computed = v.computed_digest();
    if computed != v.digest {
        return Err(format!(
            "{}@{}: its digest is {} but its content gives {computed}: the index was altered",
            escape(id),
            escape(version),
            escape(&v.digest)
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &v.files {
        let why = if !seen.insert(f.path.to_lowercase()) {
            Some("is listed twice (or twice in different case)")
        } else if pull::RESERVED.contains(&f.path.as_str()) {
            Some("is reserved for what pull writes itself")
        } else {
            unsafe_path(&f.path)
        };
        if let Some(why) = why {
            return Err(format!(
                "{}@{}: the file `{}` {why}: the index was altered",
                escape(id),
                escape(version),
                escape(&f.path)
            ));
        }
    }
    Ok(())
}

/// Why `path` cannot name a file written under a folder: it holds control or bidirectional
/// characters (a name that misleads whoever lists the folder), or it would leave the folder.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.chars().any(unsafe_char) {
        Some("holds control or bidirectional characters")
    } else if path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        Some("would leave the destination folder")
    } else {
        None
    }
}

/// A reference from a document is untrusted input: its hash names a cache file and its path a
/// URL or file, so both must be what the protocol says before either is used.
pub fn check_ref(r: &Ref) -> Result<(), String> {
    if r.sha256.len() != 64
        || !r
            .sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "{}: `{}` is not a sha256",
            escape(&r.path),
            escape(&r.sha256)
        ));
    }
    if unsafe_path(&r.path).is_some() {
        return Err(format!(
            "`{}` is not a path inside the registry",
            escape(&r.path)
        ));
    }
    Ok(())
}

/// Check bytes against the sha256 and size their reference promises.
pub fn verify(what: &str, bytes: &[u8], r: &Ref) -> Result<(), String> {
    if bytes.len() as u64 != r.size {
        return Err(format!(
            "{what}: {} bytes, expected {}",
            bytes.len(),
            r.size
        ));
    }
    let actual = crate::publish::hash::sha256(bytes);
    if actual != r.sha256 {
        return Err(format!(
            "{what}: sha256 {actual}, expected {}",
            escape(&r.sha256)
        ));
    }
    Ok(())
}

/// Read at most `limit` bytes; one more means the source is larger than promised.
fn read_limited(r: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than the {limit} bytes expected"
        )));
    }
    Ok(out)
}
