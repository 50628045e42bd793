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

/// Seconds since the epoch as an RFC 3339 UTC time, the protocol's time format.
pub fn rfc3339(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An RFC 3339 UTC time as the protocol writes it (`2026-11-30T05:00:00Z`), in seconds since the
/// epoch; `None` for anything else.
pub fn epoch(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        text.get(r)?.bytes().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let epoch = days * 86_400 + hh * 3600 + mm * 60 + ss;
    (rfc3339(epoch) == text).then_some(epoch)
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

#[cfg(test)]
mod tests {
    use super::{epoch, rfc3339};

    #[test]
    fn epoch_to_rfc3339_and_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_877_853), "2026-11-28T14:57:33Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 1_795_877_853, 951_782_400, 4_102_444_799, 86_399] {
            assert_eq!(epoch(&rfc3339(t)), Some(t));
        }
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-11-28 14:57:33Z",
            "2026-11-28T14:57:33+01:00",
            "2026-13-01T00:00:00Z",
            "२०२६-11-28T14:57:33Z",
        ] {
            assert_eq!(epoch(bad), None, "{bad}");
        }
    }
}
