//! Resolving a reference against a published registry: root (revalidated), snapshot, bin and
//! asset document (each verified and cached by hash), then `@3`, `@latest` or `@<stage>`
//! locally. Sources are tried in order: a workspace's mirror first, then the index itself.

use super::cache::{Cache, CachedRoot};
use super::{Failure, Source};
use crate::publish::index::{AssetDoc, Bin, Ref, Root, Snapshot, VersionDoc};
use crate::registry::reference::{self, Reference, Scope, Selector};

pub struct Client {
    /// Where the registry is published, nearest first.
    pub sources: Vec<Source>,
    pub cache: Cache,
    /// Per-request timeout, also for mirrors found in the root.
    pub timeout: std::time::Duration,
    /// Public keys the registry's roots must be signed with (`--trusted-key`); none: the keys
    /// pinned in the cache, or those of the first signed root seen.
    pub trusted_keys: Vec<String>,
    /// What the user should know but that does not stop the command (an unsigned registry,
    /// keys trusted on first use, a source skipped): the command prints them.
    pub notes: std::cell::RefCell<Vec<String>>,
}

/// A reference pinned to one version.
pub struct Resolved {
    pub registry: String,
    pub id: String,
    pub version: String,
    /// The stage the reference (or the workspace) named.
    pub stage: Option<String>,
    /// What the reference left out and was taken instead: why `@latest` or a stage was used.
    pub implied: Option<String>,
    /// Every stage of the asset that holds a version, in the registry's order.
    pub stages: Vec<(String, String)>,
    pub version_doc: VersionDoc,
    /// The source whose registry.json was resolved against.
    pub source: String,
}

impl Client {
    /// The root from the first source that answers with one this client accepts (see
    /// `trust`), revalidated with its cached ETag. A source whose root is refused (a stale
    /// mirror, a bad signature) is passed over for the next, and its reason kept for the error.
    pub fn root(&self) -> Result<(Root, usize), String> {
        let mut errors = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = source.location();
            let cached = self.cache.root(&key);
            let fetched = match source.root_if_changed(cached.as_ref().map(|c| c.etag.as_str())) {
                Ok(None) => {
                    let body = cached.expect("304 only when an ETag was sent").body;
                    super::parse_root(body.as_bytes()).map(|root| (root, None))
                }
                Ok(Some((body, etag))) => {
                    let root = super::parse_root(&body);
                    root.map(|root| {
                        let keep = match (etag, String::from_utf8(body)) {
                            (Some(etag), Ok(text)) => Some(CachedRoot { etag, body: text }),
                            _ => None,
                        };
                        (root, keep)
                    })
                }
                Err(e) => Err(e),
            };
            let accepted = fetched.and_then(|(root, keep)| {
                self.trust(&root, source)?;
                // Cached only once accepted: a refused root never replaces a good one.
                if let Some(keep) = keep {
                    self.cache.put_root(&key, &keep);
                }
                Ok(root)
            });
            match accepted {
                Ok(root) => return Ok((root, i)),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "no source answered with a root to trust: {}",
            errors.join("; ")
        ))
    }

    /// Hold `root` to what was seen of its registry, and remember it once accepted.
    fn trust(&self, root: &Root, source: &Source) -> Result<(), String> {
        let seen = super::trust::load(self.cache.dir(), &root.registry.name);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut notes = Vec::new();
        let next = super::trust::check(root, source, &seen, &self.trusted_keys, now, &mut notes)?;
        self.notes.borrow_mut().extend(notes);
        super::trust::store(&self.cache, &root.registry.name, &next);
        Ok(())
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
                return super::parse_document(&r.path, &bytes);
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
                    // Parsed before it is cached: a document this client cannot read is
                    // not kept.
                    let parsed = super::parse_document(&r.path, &bytes)?;
                    self.cache.put(&r.sha256, &bytes);
                    return Ok(parsed);
                }
                Err(e) => errors.push(format!("{}: {e}", source.location())),
            }
        }
        Err(errors.join("; "))
    }

    /// Resolve `reference`. With a workspace (a name from `registry.workspaces`), a reference
    /// without `@` takes the workspace's stage, and the workspace's mirror is tried first;
    /// without either, it means the latest version.
    pub fn resolve(
        &mut self,
        reference: &str,
        workspace: Option<&str>,
    ) -> Result<Resolved, Failure> {
        let (root, mut first) = self.root()?;
        // Named before a workspace's mirror goes in front: the root came from here.
        let root_source = self.sources[first].location();
        let mut stage = None;
        if let Some(name) = workspace {
            let workspaces = &root.registry.workspaces;
            let Some(ws) = workspaces.iter().find(|w| w.name == name) else {
                let names: Vec<&str> = workspaces.iter().map(|w| w.name.as_str()).collect();
                return Err(Failure::NotFound(format!(
                    "registry {} has no workspace `{name}`{}",
                    root.registry.name,
                    hint(name, &names)
                )));
            };
            stage = Some((ws.stage.clone(), ws.name.clone()));
            if let Some(mirror) = &ws.mirror {
                let timeout = self.timeout;
                self.sources.insert(0, Source::open(mirror, timeout)?);
                first = 0;
            }
        }
        let mut resolved = self.resolve_in(root, first, reference, stage)?;
        resolved.source = root_source;
        // Only a resolution that holds together is remembered.
        self.cache.commit()?;
        Ok(resolved)
    }

    fn resolve_in(
        &self,
        root: Root,
        first: usize,
        reference: &str,
        workspace_stage: Option<(String, String)>,
    ) -> Result<Resolved, Failure> {
        let registry = root.registry.name.clone();
        // Stages, then labels: what `@<name>` may say.
        let selectors: Vec<String> = root
            .registry
            .stages
            .iter()
            .chain(&root.registry.labels)
            .cloned()
            .collect();
        let scope = Scope {
            registry: Some(&registry),
            stages: &selectors,
        };
        let bare = !reference.contains('@') && !reference.starts_with("azureml:");
        let (text, implied) = match (bare, workspace_stage) {
            (true, Some((stage, ws))) => (
                format!("{reference}@{stage}"),
                Some(format!("the stage of workspace {ws}")),
            ),
            (true, None) => (
                format!("{reference}@latest"),
                Some("no version was given".to_string()),
            ),
            (false, _) => (reference.to_string(), None),
        };
        let (kind, name, selector) = match reference::parse(&text, scope)? {
            Reference::Local {
                kind,
                name,
                selector,
            } => (kind, name, selector),
            Reference::External(r) => {
                return Err(Failure::NotFound(format!(
                    "`{r}` is not in registry {registry}: mlreg resolves references to the registry it reads"
                )));
            }
        };
        let id = format!("{}/{name}", kind.folder());
        let doc = self.asset(&root, first, &id)?;
        let (version, stage, version_doc) = pick(&doc, &selectors, &text, &selector)?;
        self.resolved(&root, first, &doc, (version, version_doc), stage, implied)
    }

    /// The version `id@version` exactly, as another version pinned it: read against `root`
    /// (from [`Client::root`], served by source `first`), never taken for a stage, a label or
    /// `@latest`. What was read is cached once the caller commits the cache.
    pub fn resolve_exact(
        &self,
        root: &Root,
        first: usize,
        id: &str,
        version: &str,
    ) -> Result<Resolved, Failure> {
        let doc = self.asset(root, first, id)?;
        let Some(version_doc) = doc.versions.get(version).cloned() else {
            return Err(Failure::NotFound(format!(
                "`{id}` has no version `{version}`; its versions: {}",
                doc.order.join(", ")
            )));
        };
        self.resolved(
            root,
            first,
            &doc,
            (version.to_string(), *version_doc),
            None,
            None,
        )
    }

    /// The asset document of `id`: snapshot, bin, document, each verified.
    fn asset(&self, root: &Root, first: usize, id: &str) -> Result<AssetDoc, Failure> {
        let registry = &root.registry.name;
        let snapshot: Snapshot = self.document(&root.snapshot, first)?;
        let doc_ref = match snapshot.bins.get(&crate::publish::index::bin_of(id)) {
            Some(bin_ref) => self
                .document::<Bin>(bin_ref, first)?
                .assets
                .remove(id)
                .map(|entry| entry.doc),
            None => None,
        };
        let Some(doc_ref) = doc_ref else {
            // Only now, on the way out, is every bin worth a fetch: for the hint.
            let listed = super::listing(&snapshot, |r| Ok(self.document(r, first)?))?;
            let ids: Vec<&str> = listed.keys().map(String::as_str).collect();
            return Err(Failure::NotFound(format!(
                "registry {registry} has no asset `{id}`{}",
                hint(id, &ids)
            )));
        };
        let doc: AssetDoc = self.document(&doc_ref, first)?;
        if doc.id != id {
            return Err(format!("{}: holds `{}`, not `{id}`", doc_ref.path, doc.id).into());
        }
        Ok(doc)
    }

    /// A chosen version of `doc`, checked (digest, file list), with its deprecation noted.
    fn resolved(
        &self,
        root: &Root,
        first: usize,
        doc: &AssetDoc,
        (version, version_doc): (String, VersionDoc),
        stage: Option<String>,
        implied: Option<String>,
    ) -> Result<Resolved, Failure> {
        let id = doc.id.clone();
        super::check_version(&id, &version, &version_doc)?;
        if let Some(reason) = &version_doc.deprecated {
            self.notes.borrow_mut().push(format!(
                "{}@{} is deprecated: {}",
                super::escape(&id),
                super::escape(&version),
                super::escape(reason)
            ));
        }
        let stages = root
            .registry
            .stages
            .iter()
            .chain(&root.registry.labels)
            .filter_map(|s| Some((s.clone(), doc.stages.get(s)?.clone())))
            .collect();
        Ok(Resolved {
            registry: root.registry.name.clone(),
            id,
            version,
            stage,
            implied,
            stages,
            version_doc,
            source: self.sources[first].location(),
        })
    }
}

/// The version of `doc` that `selector` (as written in `text`) names, with the stage or label
/// it was named by; not found, with what the asset has and the nearest of it. `selectors` are
/// the registry's stages and labels.
pub fn pick(
    doc: &AssetDoc,
    selectors: &[String],
    text: &str,
    selector: &Selector,
) -> Result<(String, Option<String>, VersionDoc), Failure> {
    let id = &doc.id;
    let missing = |what: String| {
        let mut labels: Vec<String> = doc.order.iter().map(|v| format!("@{v}")).collect();
        labels.push("@latest".into());
        labels.extend(selectors.iter().map(|s| format!("@{s}")));
        let asked = text.rsplit_once('@').map_or("", |(_, s)| s);
        // `@9` for `@1` is no typo worth a hint: the versions are listed anyway.
        let numeric = asked.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let known: Vec<&str> = labels.iter().map(String::as_str).collect();
        let hint = if numeric {
            String::new()
        } else {
            hint(&format!("@{asked}"), &known)
        };
        Failure::NotFound(format!(
            "{what}; its versions: {}{hint}",
            doc.order.join(", ")
        ))
    };
    let (version, stage) = match selector {
        Selector::Version(v) => (v.clone(), None),
        Selector::Latest => match &doc.latest {
            Some(l) => (l.clone(), None),
            None => return Err(missing(format!("`{id}` has no release version"))),
        },
        Selector::Label(s) => match doc.stages.get(s) {
            Some(v) => (v.clone(), Some(s.clone())),
            None => return Err(missing(format!("no version of `{id}` is in stage `{s}`"))),
        },
    };
    let Some(version_doc) = doc.versions.get(&version).cloned() else {
        return Err(missing(format!("`{id}` has no version `{version}`")));
    };
    Ok((version, stage, *version_doc))
}

/// `: did you mean `x`?` when `asked` is a near miss of one of `known`.
fn hint(asked: &str, known: &[&str]) -> String {
    crate::registry::decode::nearest(asked, known)
        .filter(|near| *near != asked)
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default()
}
