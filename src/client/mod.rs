//! The workspace side of the protocol: fetch published documents and blobs from a folder or
//! over HTTP, check each against what its parent promises (`api_version`, sha256, size), keep
//! them in a local cache by hash, resolve references, and pull a version's files.
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
use std::time::Duration;

/// The largest `registry.json` a client accepts.
pub const MAX_ROOT: u64 = 1 << 20;

/// The largest document a client accepts: a catalog of 100,000 assets fits well within it.
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
    Http { base: String, agent: ureq::Agent },
    Object(object::ObjectSource),
}

impl Source {
    /// A published registry's root folder: a folder, `file://`, `http(s)://`,
    /// `az://container/prefix` or `s3://bucket/prefix`; a request (connect, or a stalled body)
    /// gives up after `timeout`.
    pub fn open(location: &str, timeout: Duration) -> Result<Source, String> {
        match location.split_once("://").map(|(s, _)| s) {
            Some("http" | "https" | "file") | None => Ok(Source::folder_or_http(location, timeout)),
            Some(_) => object::ObjectSource::open(location, timeout).map(Source::Object),
        }
    }

    fn folder_or_http(location: &str, timeout: Duration) -> Source {
        if location.starts_with("http://") || location.starts_with("https://") {
            let base = if location.ends_with('/') {
                location.to_string()
            } else {
                format!("{location}/")
            };
            let config = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build();
            Source::Http {
                base,
                agent: config.into(),
            }
        } else {
            Source::Folder(PathBuf::from(
                location.strip_prefix("file://").unwrap_or(location),
            ))
        }
    }

    /// Where this source is, for messages and cache keys.
    pub fn location(&self) -> String {
        match self {
            Source::Folder(dir) => dir.display().to_string(),
            Source::Http { base, .. } => base.clone(),
            Source::Object(o) => o.location().to_string(),
        }
    }

    /// `registry.json`, revalidated against `etag` when there is one: `Ok(None)` means the copy
    /// the caller holds is current (HTTP 304).
    #[allow(clippy::type_complexity)]
    pub fn root_if_changed(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
        match self {
            Source::Folder(_) => self.get(index::ROOT, MAX_ROOT).map(|b| Some((b, None))),
            Source::Object(o) => o.get_if_changed(index::ROOT, etag, MAX_ROOT),
            Source::Http { base, agent } => {
                let url = format!("{base}{}", index::ROOT);
                let mut request = agent.get(&url);
                if let Some(tag) = etag {
                    request = request.header("If-None-Match", tag);
                }
                let response = request.call().map_err(|e| format!("{url}: {e}"))?;
                match response.status().as_u16() {
                    304 => Ok(None),
                    200 => {
                        let tag = response
                            .headers()
                            .get("etag")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = read_limited(response.into_body().into_reader(), MAX_ROOT)
                            .map_err(|e| format!("{url}: {e}"))?;
                        Ok(Some((body, tag)))
                    }
                    s => Err(format!("{url}: HTTP {s}")),
                }
            }
        }
    }

    /// The bytes at `rel` (relative to the registry root), at most `limit` of them.
    pub fn get(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        match self {
            Source::Folder(dir) => {
                let path = dir.join(rel);
                let f =
                    std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                read_limited(f, limit).map_err(|e| format!("{}: {e}", path.display()))
            }
            Source::Http { base, agent } => {
                let url = format!("{base}{rel}");
                let response = agent.get(&url).call().map_err(|e| format!("{url}: {e}"))?;
                if response.status() != 200 {
                    return Err(format!("{url}: HTTP {}", response.status()));
                }
                read_limited(response.into_body().into_reader(), limit)
                    .map_err(|e| format!("{url}: {e}"))
            }
            Source::Object(o) => o.get(rel, limit),
        }
    }

    /// `registry.json`, refusing an `api_version` whose major version this client does not know.
    pub fn root(&self) -> Result<Root, String> {
        let bytes = self.get(index::ROOT, 1 << 20)?;
        let root: Root = serde_json::from_slice(&bytes)
            .map_err(|e| format!("registry.json is not a registry root: {e}"))?;
        let ours = index::major(index::API_VERSION);
        if index::major(&root.api_version) != ours {
            return Err(format!(
                "registry.json has api_version {}, this mlreg reads {}",
                root.api_version,
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

/// Walk the protocol from `snapshot` down: every path it reaches (snapshot, catalog, bins, asset
/// documents, specs, cards, blobs) goes into `paths`, each document read verified. A document
/// already in `paths` is not read again, so walking several snapshots shares what they share;
/// each asset document read is handed to `each` with the id its bin gives it.
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
    paths.insert(snap.catalog.path.clone());
    for bin_ref in snap.bins.values() {
        if !paths.insert(bin_ref.path.clone()) {
            continue;
        }
        let bin: index::Bin = source.document(bin_ref)?;
        for (id, doc_ref) in &bin.assets {
            if !paths.insert(doc_ref.path.clone()) {
                continue;
            }
            let doc: index::AssetDoc = source.document(doc_ref)?;
            for v in doc.versions.values() {
                paths.insert(v.spec_file.path.clone());
                paths.extend(v.files.iter().map(|f| f.blob.clone()));
                if let Some(card) = &v.card {
                    paths.insert(card.blob.path.clone());
                }
            }
            each(id, doc)?;
        }
    }
    Ok(())
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
    let computed = index::digest(&v.spec, v.lineage.as_ref(), &v.files);
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
        } else if f.path.chars().any(unsafe_char) {
            Some("holds control or bidirectional characters")
        } else if f.path.starts_with('/')
            || f.path.contains('\\')
            || f.path
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            Some("would leave the destination folder")
        } else {
            None
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

/// A reference from a document is untrusted input: its hash names a cache file and its path a
/// URL or file, so both must be what the protocol says before either is used.
pub fn check_ref(r: &Ref) -> Result<(), String> {
    if r.sha256.len() != 64
        || !r
            .sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!("{}: `{}` is not a sha256", r.path, r.sha256));
    }
    let safe = !r.path.is_empty()
        && !r.path.starts_with('/')
        && !r.path.contains('\\')
        && r.path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !safe {
        return Err(format!("`{}` is not a path inside the registry", r.path));
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
        return Err(format!("{what}: sha256 {actual}, expected {}", r.sha256));
    }
    Ok(())
}

/// Read at most `limit` bytes; one more means the source is larger than promised.
fn read_limited(r: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than the {limit} bytes expected"
        )));
    }
    Ok(out)
}
