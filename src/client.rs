//! Fetching published documents and checking them on the way, as any workspace must: the
//! root's `api_version`, then every immutable document against the sha256 and size its parent
//! names. Depends only on `index` and `hash`.

use crate::index::{self, Ref, Root};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// The largest document a client accepts: a catalog of 100,000 assets fits well within it.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// Where a published registry is read from.
pub enum Source {
    Folder(PathBuf),
    Http { base: String, agent: ureq::Agent },
}

impl Source {
    /// A folder path, `file://` URL, or `http(s)://` URL of a published registry's root folder.
    pub fn parse(location: &str) -> Source {
        if location.starts_with("http://") || location.starts_with("https://") {
            let base = if location.ends_with('/') {
                location.to_string()
            } else {
                format!("{location}/")
            };
            let config = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(60)))
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
        }
    }

    /// `registry.json`, refusing an `api_version` whose major version this client does not know.
    pub fn root(&self) -> Result<Root, String> {
        let bytes = self.get(crate::output::ROOT, 1 << 20)?;
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
        if r.size > MAX_DOCUMENT {
            return Err(format!(
                "{} is {} bytes, over the {MAX_DOCUMENT}-byte limit for documents",
                r.path, r.size
            ));
        }
        let bytes = self.get(&r.path, r.size)?;
        verify(&r.path, &bytes, r)?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", r.path))
    }
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
    let actual = crate::hash::sha256(bytes);
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
