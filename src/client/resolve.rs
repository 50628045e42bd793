//! Resolving a reference against a published registry: root (revalidated), snapshot, bin and
//! asset document (each verified and cached by hash), then `@3`, `@latest` or `@<stage>`
//! locally. Sources are tried in order: a workspace's mirror first, then the index itself.

use super::Source;
use super::cache::{Cache, CachedRoot};
use crate::publish::index::{AssetDoc, Bin, Ref, Root, Snapshot, VersionDoc};
use crate::registry::reference::{self, Reference, Scope, Selector};

pub struct Client {
    /// Where the registry is published, nearest first.
    pub sources: Vec<Source>,
    pub cache: Cache,
    /// Per-request timeout, also for mirrors found in the root.
    pub timeout: std::time::Duration,
}

/// A reference pinned to one version.
pub struct Resolved {
    pub registry: String,
    pub id: String,
    pub version: String,
    pub stage: Option<String>,
    pub version_doc: VersionDoc,
    /// The source the documents came from.
    pub source: String,
}

impl Client {
    /// The root from the first source that answers, revalidated with its cached ETag.
    pub fn root(&self) -> Result<(Root, usize), String> {
        let mut errors = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = source.location();
            let cached = self.cache.root(&key);
            match source.root_if_changed(cached.as_ref().map(|c| c.etag.as_str())) {
                Ok(None) => {
                    let body = cached.expect("304 only when an ETag was sent").body;
                    return Ok((super::parse_root(body.as_bytes())?, i));
                }
                Ok(Some((body, etag))) => {
                    let root = super::parse_root(&body)?;
                    if let (Some(etag), Ok(text)) = (etag, String::from_utf8(body)) {
                        self.cache
                            .put_root(&key, &CachedRoot { etag, body: text })?;
                    }
                    return Ok((root, i));
                }
                Err(e) => errors.push(e),
            }
        }
        Err(format!("no source answered: {}", errors.join("; ")))
    }

    /// An immutable document: from the cache, else from the sources in order (starting with
    /// the one that served the root), verified before it is cached or parsed.
    pub fn document<T: serde::de::DeserializeOwned>(
        &self,
        r: &Ref,
        first: usize,
    ) -> Result<T, String> {
        super::check_ref(r)?;
        if r.size > super::MAX_DOCUMENT {
            return Err(format!(
                "{} is {} bytes, over the {}-byte limit for documents",
                r.path,
                r.size,
                super::MAX_DOCUMENT
            ));
        }
        if let Some(path) = self.cache.blob(&r.sha256, r.size) {
            let bytes = std::fs::read(&path).map_err(|e| format!("cache: {e}"))?;
            if super::verify(&r.path, &bytes, r).is_ok() {
                return serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", r.path));
            }
        }
        let mut errors = Vec::new();
        for source in self
            .sources
            .iter()
            .skip(first)
            .chain(self.sources.iter().take(first))
        {
            match source
                .get(&r.path, r.size)
                .and_then(|b| super::verify(&r.path, &b, r).map(|_| b))
            {
                Ok(bytes) => {
                    self.cache.put(&r.sha256, &bytes)?;
                    return serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", r.path));
                }
                Err(e) => errors.push(format!("{}: {e}", source.location())),
            }
        }
        Err(errors.join("; "))
    }

    /// Resolve `reference`. With a workspace (a name from `registry.workspaces`), a reference
    /// without `@` takes the workspace's stage, and the workspace's mirror is tried first.
    pub fn resolve(
        &mut self,
        reference: &str,
        workspace: Option<&str>,
    ) -> Result<Resolved, String> {
        let (root, mut first) = self.root()?;
        let mut stage = None;
        if let Some(name) = workspace {
            let ws = root
                .registry
                .workspaces
                .iter()
                .find(|w| w.name == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = root
                        .registry
                        .workspaces
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect();
                    format!(
                        "registry {} has no workspace `{name}` (it has {})",
                        root.registry.name,
                        names.join(", ")
                    )
                })?;
            stage = Some(ws.stage.clone());
            if let Some(mirror) = &ws.mirror {
                let timeout = self.timeout;
                self.sources.insert(0, Source::open(mirror, timeout)?);
                first = 0;
            }
        }
        self.resolve_in(root, first, reference, stage.as_deref())
    }

    fn resolve_in(
        &self,
        root: Root,
        first: usize,
        reference: &str,
        stage: Option<&str>,
    ) -> Result<Resolved, String> {
        let scope = Scope {
            registry: Some(&root.registry.name),
            stages: &root.registry.stages,
        };
        let text = match (
            reference.contains('@') || reference.starts_with("azureml:"),
            stage,
        ) {
            (false, Some(s)) => format!("{reference}@{s}"),
            _ => reference.to_string(),
        };
        let (kind, name, selector) = match reference::parse(&text, scope)? {
            Reference::Local {
                kind,
                name,
                selector,
            } => (kind, name, selector),
            Reference::External(r) => {
                return Err(format!("`{r}` is not in registry {}", root.registry.name));
            }
        };
        let id = format!("{}/{name}", kind.folder());
        let snapshot: Snapshot = self.document(&root.snapshot, first)?;
        let bin_ref = snapshot
            .bins
            .get(&crate::publish::index::bin_of(&id))
            .ok_or_else(|| format!("registry {} has no asset `{id}`", root.registry.name))?;
        let bin: Bin = self.document(bin_ref, first)?;
        let doc_ref = bin
            .assets
            .get(&id)
            .ok_or_else(|| format!("registry {} has no asset `{id}`", root.registry.name))?;
        let doc: AssetDoc = self.document(doc_ref, first)?;
        if doc.id != id {
            return Err(format!("{}: holds `{}`, not `{id}`", doc_ref.path, doc.id));
        }
        let (version, stage) = match &selector {
            Selector::Version(v) => (v.clone(), None),
            Selector::Latest => (
                doc.latest
                    .clone()
                    .ok_or_else(|| format!("`{id}` has no release version"))?,
                None,
            ),
            Selector::Label(s) => (
                doc.stages
                    .get(s)
                    .cloned()
                    .ok_or_else(|| format!("no version of `{id}` is in stage `{s}`"))?,
                Some(s.clone()),
            ),
        };
        let version_doc = doc.versions.get(&version).cloned().ok_or_else(|| {
            format!(
                "`{id}` has no version `{version}` (it has {})",
                doc.order.join(", ")
            )
        })?;
        Ok(Resolved {
            registry: root.registry.name,
            id,
            version,
            stage,
            version_doc,
            source: self.sources[first].location(),
        })
    }
}
