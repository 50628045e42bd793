//! The public JSON documents workspaces fetch (`docs/protocol.md`), their `api_version`, and
//! their canonical bytes. Owns no I/O: documents go out as bytes and come back from bytes.
//!
//! Every type here derives `JsonSchema`; the schemas are published under `schemas/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version of every document. Clients refuse an unknown major version.
pub const API_VERSION: &str = "1.0";

/// The one mutable document, at the root of a published registry.
pub const ROOT: &str = "registry.json";

/// A pointer to an immutable document or blob: a path relative to the registry root (the folder
/// holding `registry.json`), and the SHA-256 and size its bytes must have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ref {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `registry.json`: the only mutable document.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Root {
    pub api_version: String,
    pub registry: RegistryInfo,
    /// Grows by one with every published change.
    pub serial: u64,
    pub snapshot: Ref,
    /// Build time, only when the build set `SOURCE_DATE_EPOCH` (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<String>,
    /// Signed roots only: when it was signed, and after when clients refuse it (RFC 3339,
    /// UTC): a registry that stops being republished cannot be frozen at an old state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The keys that sign this root, and how many of them must.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    /// Signatures over the root's canonical JSON without this field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<Signature>,
}

/// A key set: minisign public keys (base64, sorted), a threshold, and its place in the chain
/// of key sets (`trust/<version>.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Trust {
    pub version: u64,
    pub keys: Vec<String>,
    pub threshold: usize,
}

/// One key's minisign signature (the whole signature file's text) over a document's canonical
/// JSON without its `signatures`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Signature {
    pub key: String,
    pub signature: String,
}

/// `trust/<version>.json`: a key set, signed by a threshold of its own keys and, from version
/// 2 on, by a threshold of the previous version's keys, so that a client that trusts one
/// version can follow every rotation after it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TrustDoc {
    pub api_version: String,
    pub registry: String,
    #[serde(flatten)]
    pub trust: Trust,
    pub signatures: Vec<Signature>,
}

/// Where the key set of `version` is published.
pub fn trust_path(version: u64) -> String {
    format!("trust/{version}.json")
}

/// The bytes a signature covers: the document's canonical JSON without `signatures`.
pub fn signed_bytes<T: Serialize>(doc: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(doc).expect("index documents serialize");
    if let serde_json::Value::Object(m) = &mut value {
        m.remove("signatures");
    }
    crate::publish::hash::canonical_json(&value)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct RegistryInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub stages: Vec<String>,
    /// Names that move like stages without order or policy (`@champion`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceInfo {
    pub name: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The nearest copy of the published registry, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
}

/// `snapshots/<sha256>.json`: the asset map, split into bins, and the catalog.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub api_version: String,
    /// Bin name (first two hex digits of `sha256(asset id)`) to bin document.
    pub bins: BTreeMap<String, Ref>,
    pub catalog: Ref,
}

/// `bins/<sha256>.json`: asset id (`models/credit-default`) to its asset document.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bin {
    pub api_version: String,
    pub assets: BTreeMap<String, Ref>,
}

/// The bin an asset id belongs to.
pub fn bin_of(id: &str) -> String {
    crate::publish::hash::sha256(id.as_bytes())[..2].to_string()
}

/// `assets/<kind>/<name>/<sha256>.json`: one asset, all its versions, stages and history.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AssetDoc {
    pub api_version: String,
    /// `<kind folder>/<name>`, e.g. `models/credit-default`.
    pub id: String,
    /// `model`, `component`, `environment` or `data`.
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub deprecated: Option<Deprecation>,
    /// The highest release version (see docs/format.md), if any.
    pub latest: Option<String>,
    /// Stage to the version it points at now.
    pub stages: BTreeMap<String, String>,
    /// The stage log, in order; `seq` counts from 1.
    pub history: Vec<HistoryEntry>,
    /// Every version, oldest first by version order.
    pub order: Vec<String>,
    pub versions: BTreeMap<String, VersionDoc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deprecation {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<Pinned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    pub seq: u32,
    pub stage: String,
    /// `null` clears the stage.
    pub version: Option<String>,
    pub by: String,
    pub date: String,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct VersionDoc {
    /// `sha256:<hex>` over the spec (minus description and tags), lineage and files.
    pub digest: String,
    /// The normalized Azure spec: name and version filled in, references to this registry
    /// pinned to `azureml://registries/<registry>/<kind>/<name>/versions/<version>`.
    pub spec: serde_json::Value,
    /// The same spec as YAML, for `az ml <kind> create -f` next to the version's files.
    pub spec_file: Ref,
    /// Every file the version ships, sorted by path (relative to the version folder).
    pub files: Vec<FileEntry>,
    /// lineage.yaml, with each reference into this registry replaced by a [`Pinned`] object
    /// that keeps the original text under `ref`.
    pub lineage: Option<serde_json::Value>,
    pub card: Option<Card>,
    /// What this version's spec and lineage use, pinned.
    pub references: Vec<Pinned>,
    /// `<id>@<version>` of every version whose spec or lineage uses this one.
    pub used_by: Vec<String>,
    /// Why this version is deprecated, if it is.
    pub deprecated: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// `blobs/sha256/<hex>`, relative to the registry root.
    pub blob: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Card {
    /// The README.md blob.
    pub blob: Ref,
    /// The card's front matter (model-card keys), `{}` when it has none.
    pub meta: serde_json::Value,
}

/// A reference resolved at build time: the asset, the version, and that version's digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Pinned {
    pub id: String,
    pub version: String,
    pub digest: String,
}

/// `catalog/<sha256>.json`: a compact listing of every asset, for browsing and search.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Catalog {
    pub api_version: String,
    pub assets: Vec<CatalogEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CatalogEntry {
    pub id: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub latest: Option<String>,
    pub stages: BTreeMap<String, String>,
    pub versions: usize,
    pub deprecated: bool,
    pub doc: Ref,
}

/// A document's canonical bytes (sorted keys, compact): what is hashed and written.
pub fn to_bytes<T: Serialize>(doc: &T) -> Vec<u8> {
    let value = serde_json::to_value(doc).expect("index documents serialize");
    crate::publish::hash::canonical_json(&value)
}

/// The major version a client must understand, from an `api_version` string.
pub fn major(api_version: &str) -> Option<u64> {
    api_version.split('.').next()?.parse().ok()
}

/// Every index document kind with its JSON Schema, by file name under `schemas/`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn s<T: JsonSchema>() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(T)).expect("schema serializes")
    }
    vec![
        ("registry.schema.json", s::<Root>()),
        ("snapshot.schema.json", s::<Snapshot>()),
        ("bin.schema.json", s::<Bin>()),
        ("asset.schema.json", s::<AssetDoc>()),
        ("catalog.schema.json", s::<Catalog>()),
    ]
}

/// A version's digest: `sha256:<hex>` of the canonical JSON of its published spec (minus
/// `description` and `tags`, which Azure lets change), its published lineage (with the digests
/// it pins) and the (path, size, sha256) list of its files. All of it is in the asset document,
/// so a client recomputes it from what it fetched.
pub fn digest(
    spec: &serde_json::Value,
    lineage: Option<&serde_json::Value>,
    files: &[FileEntry],
) -> String {
    let mut spec = spec.clone();
    if let serde_json::Value::Object(m) = &mut spec {
        m.remove("description");
        m.remove("tags");
    }
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::json!([f.path, f.size, f.sha256]))
        .collect();
    let doc = serde_json::json!({
        "spec": spec,
        "lineage": lineage.cloned().unwrap_or(serde_json::Value::Null),
        "files": files,
    });
    format!(
        "sha256:{}",
        crate::publish::hash::sha256(&crate::publish::hash::canonical_json(&doc))
    )
}
