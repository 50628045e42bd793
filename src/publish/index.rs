//! The public JSON documents workspaces fetch (`docs/protocol.md`), their `api_version`, and
//! their canonical bytes. Owns no I/O: documents go out as bytes and come back from bytes.
//!
//! Every type here derives `JsonSchema`; the schemas are published under `schemas/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// `snapshots/<sha256>.json`: the asset map, split into bins. There is no listing of every
/// asset beside the bins: a document that grows with the registry would be rewritten by every
/// change (see `docs/protocol.md`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub api_version: String,
    /// Bin name (first two hex digits of `sha256(asset id)`) to bin document.
    pub bins: BTreeMap<String, Ref>,
}

/// `bins/<sha256>.json`: the assets of one bin, by id (`models/credit-default`). Reading every
/// bin lists the registry.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bin {
    pub api_version: String,
    pub assets: BTreeMap<String, BinEntry>,
}

/// One asset in its bin: its document, and what listing and search show of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BinEntry {
    /// The asset document.
    pub doc: Ref,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The asset's description, cut to at most 280 characters (ending with `…` when cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub latest: Option<String>,
    pub stages: BTreeMap<String, String>,
    /// How many versions the asset has.
    pub versions: u64,
    pub deprecated: bool,
}

/// The most characters of a description a bin entry holds: bins stay small however long
/// descriptions are, and the asset document has the whole text. (The schema says the number.)
pub const DESCRIPTION_MAX: usize = 280;

/// `text` cut to at most [`DESCRIPTION_MAX`] characters, on a character boundary, ending
/// with `…` when something was cut.
pub fn summary(text: &str) -> String {
    let mut starts = text.char_indices().map(|(i, _)| i);
    // Where the last character kept ends, and whether one more would still follow it.
    match (starts.nth(DESCRIPTION_MAX - 1), starts.next()) {
        (Some(cut), Some(_)) => format!("{}…", &text[..cut]),
        _ => text.to_string(),
    }
}

/// The bin an asset id belongs to.
pub fn bin_of(id: &str) -> String {
    crate::publish::hash::sha256(id.as_bytes())[..2].to_string()
}

/// `assets/<kind>/<name>/<sha256>.json`: one asset, all its versions, stages and history.
// Its fields, and those of every struct it holds, are declared in the order of their names as
// written, so that serde writes its canonical JSON directly (see `AssetDoc::to_bytes`). (Doc
// comments here are the published schema's descriptions.)
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct AssetDoc {
    pub api_version: String,
    pub deprecated: Option<Deprecation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The stage log, in order; `seq` counts from 1.
    pub history: Vec<HistoryEntry>,
    /// `<kind folder>/<name>`, e.g. `models/credit-default`.
    pub id: String,
    /// `model`, `component`, `environment` or `data`.
    pub kind: String,
    /// The highest release version (see docs/format.md), if any.
    pub latest: Option<String>,
    pub name: String,
    /// Every version, oldest first by version order.
    pub order: Vec<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    /// Stage to the version it points at now.
    pub stages: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub versions: BTreeMap<String, Box<VersionDoc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deprecation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<Pinned>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    pub by: String,
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub seq: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip: bool,
    pub stage: String,
    /// `null` clears the stage.
    pub version: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct VersionDoc {
    pub card: Option<Card>,
    /// Why this version is deprecated, if it is.
    pub deprecated: Option<String>,
    /// `sha256:<hex>` over the spec (minus description and tags), lineage and files.
    pub digest: String,
    /// Every file the version ships, sorted by path (relative to the version folder).
    pub files: Vec<FileEntry>,
    /// lineage.yaml, with each reference into this registry replaced by a [`Pinned`] object
    /// that keeps the original text under `ref`.
    pub lineage: Option<CanonicalJson>,
    /// What this version's spec and lineage use, pinned.
    pub references: Vec<Pinned>,
    /// The normalized Azure spec: name and version filled in, references to this registry
    /// pinned to `azureml://registries/<registry>/<kind>/<name>/versions/<version>`.
    pub spec: CanonicalJson,
    /// The same spec as YAML, for `az ml <kind> create -f` next to the version's files.
    pub spec_file: Ref,
    /// `<id>@<version>` of the versions whose spec or lineage uses this one, sorted: all of
    /// them, or the first 100 when there are more.
    pub used_by: Vec<String>,
    /// How many versions use this one.
    #[serde(default)]
    pub used_by_count: u64,
    /// When `used_by` is cut: the `usedby/` pages of the complete list, in order; their
    /// entries, concatenated, are the whole sorted list. Pages end at entries their hash picks
    /// (see the page's schema), so adding a version changes one or two of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by_pages: Vec<Ref>,
}

/// A JSON value held as its canonical text (see `hash::canonical_json`), parsed where it is
/// used. A spec or a lineage is dozens of nodes, each its own allocations as a
/// `serde_json::Value`: held as text, a cold build of 10,000 versions peaked at 203 MiB
/// instead of 285. Equal texts are equal values. It reads as the value it holds and its
/// schema is the value's; it writes as that value too, but to JSON text as the text it holds,
/// unparsed (see [`AssetDoc::to_bytes`]).
#[derive(Clone, Debug)]
pub struct CanonicalJson(Box<RawValue>);

impl CanonicalJson {
    pub fn new(value: &serde_json::Value) -> CanonicalJson {
        // The same text as `hash::canonical_json`: serde_json's compact form of the value.
        CanonicalJson(serde_json::value::to_raw_value(value).expect("JSON values serialize"))
    }

    /// The value, parsed anew on each call.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).expect("canonical JSON parses")
    }

    /// The member `key` of the object it holds, if it holds one with it. Only that member is
    /// parsed into a value: pages ask a lineage for its job or metrics, one member of many.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        let members: BTreeMap<std::borrow::Cow<'_, str>, &RawValue> =
            serde_json::from_str(self.0.get()).ok()?;
        serde_json::from_str(members.get(key)?.get()).ok()
    }
}

impl PartialEq for CanonicalJson {
    fn eq(&self, other: &CanonicalJson) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for CanonicalJson {}

impl Serialize for CanonicalJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Into a `serde_json::Value` this is parsed; into JSON text it is copied.
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CanonicalJson, D::Error> {
        serde_json::Value::deserialize(d).map(|v| CanonicalJson::new(&v))
    }
}

impl JsonSchema for CanonicalJson {
    fn inline_schema() -> bool {
        serde_json::Value::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        serde_json::Value::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        serde_json::Value::json_schema(generator)
    }
}

impl VersionDoc {
    /// The digest its content gives (see [`digest`]), to hold `digest` to.
    pub fn computed_digest(&self) -> String {
        let lineage = self.lineage.as_ref().map(CanonicalJson::value);
        digest(&self.spec.value(), lineage.as_ref(), &self.files)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileEntry {
    /// `blobs/sha256/<hex>`, relative to the registry root.
    pub blob: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Card {
    /// The README.md blob.
    pub blob: Ref,
    /// The card's front matter (model-card keys), `{}` when it has none.
    pub meta: serde_json::Value,
}

/// A reference resolved at build time: the asset, the version, and that version's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pinned {
    pub digest: String,
    pub id: String,
    pub version: String,
}

// By asset, then version: its fields are declared in the order they are written in.
impl Ord for Pinned {
    fn cmp(&self, other: &Pinned) -> std::cmp::Ordering {
        (&self.id, &self.version, &self.digest).cmp(&(&other.id, &other.version, &other.digest))
    }
}

impl PartialOrd for Pinned {
    fn partial_cmp(&self, other: &Pinned) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The most `used_by` entries a version document holds itself; the complete list of a version
/// used by more is in its pages. (The schemas say the number.)
pub const USED_BY_INLINE: usize = 100;

/// The most entries of one `usedby/` page. (The schema says the number.)
pub const USED_BY_PAGE: usize = 5_000;

/// A `usedby/` page ends right after an entry the first 8 bytes of whose SHA-256 (big-endian)
/// are 0 modulo this, or at [`USED_BY_PAGE`] entries ([`crate::publish::chunk`]): pages of about
/// 1,000, and only `(1 - 1/1000)^5000 ≈ e^-5` (0.7 %) of them cut by the bound. Cut by their
/// entries rather than their positions, pages are the same whatever was added before, and
/// adding one version rewrites one page (or two) of each list it joins, not every page after
/// it. (The schema says the number.)
pub const USED_BY_EVERY: u64 = 1_000;

/// `usedby/<sha256>.json`: one page of the complete, sorted list of what uses a version, for a
/// version used by more than 100 others. Pages keep asset documents bounded however many
/// versions use one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsedByPage {
    pub api_version: String,
    /// At most 5,000 `<id>@<version>`, in the list's order. A page ends after the entry the
    /// first 8 bytes of whose SHA-256 (as a big-endian number) are 0 modulo 1,000, or at 5,000
    /// entries: pages average about 1,000 and are the same whatever order versions were added.
    pub used_by: Vec<String>,
}

/// A document's canonical bytes (sorted keys, compact): what is hashed and written.
pub fn to_bytes<T: Serialize>(doc: &T) -> Vec<u8> {
    let value = serde_json::to_value(doc).expect("index documents serialize");
    crate::publish::hash::canonical_json(&value)
}

impl AssetDoc {
    /// Its canonical bytes, as [`to_bytes`] makes them, written directly: every build makes
    /// every asset's, and going through a `serde_json::Value` (parsing each spec and lineage
    /// into one) was 7% of a rebuild's CPU time.
    pub fn to_bytes(&self) -> Vec<u8> {
        let bytes = serde_json::to_vec(self).expect("index documents serialize");
        debug_assert!(
            bytes == to_bytes(self),
            "a field of an asset document is out of order"
        );
        bytes
    }
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
        ("usedby.schema.json", s::<UsedByPage>()),
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
    /// The spec without `description` and `tags`, not copied to drop them.
    struct Fixed<'a>(&'a serde_json::Value);
    impl Serialize for Fixed<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self.0 {
                serde_json::Value::Object(m) => s.collect_map(
                    m.iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "description" | "tags")),
                ),
                v => v.serialize(s),
            }
        }
    }
    /// What is hashed, as canonical JSON writes it (members sorted by name, a missing lineage
    /// as `null`), streamed into the hash rather than made as a value and then as bytes: a
    /// build computes 100,000 of these.
    #[derive(Serialize)]
    struct Hashed<'a> {
        files: Vec<(&'a str, u64, &'a str)>,
        lineage: Option<&'a serde_json::Value>,
        spec: Fixed<'a>,
    }
    struct Sink(sha2::Sha256);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            sha2::Digest::update(&mut self.0, buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let hashed = Hashed {
        files: files
            .iter()
            .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
            .collect(),
        lineage,
        spec: Fixed(spec),
    };
    let mut sink = Sink(sha2::Sha256::default());
    serde_json::to_writer(&mut sink, &hashed).expect("JSON values always serialize");
    format!(
        "sha256:{}",
        crate::publish::hash::hex(&sha2::Digest::finalize(sink.0))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_the_hash_of_the_canonical_json_of_what_it_covers() {
        // The rule of docs/protocol.md, as a client computes it: a value, then its bytes.
        let by_the_rule =
            |spec: &serde_json::Value, lineage: Option<&serde_json::Value>, files: &[FileEntry]| {
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
                let bytes = crate::publish::hash::canonical_json(&doc);
                format!("sha256:{}", crate::publish::hash::sha256(&bytes))
            };
        let spec = serde_json::json!({
            "type": "mlflow_model", "path": "model", "tags": {"a": "b"},
            "description": "gone", "zeta": [1, 2.5, "é\"\n"], "alpha": {"y": null, "x": true},
        });
        let lineage = serde_json::json!({"job": {"name": "run-1"}, "metrics": [{"auc": 0.91}]});
        let files = vec![
            FileEntry {
                path: "model/MLmodel".into(),
                size: 12,
                sha256: "ab".repeat(32),
                blob: format!("blobs/sha256/{}", "ab".repeat(32)),
            },
            FileEntry {
                path: "model/ünïcode \"q\".bin".into(),
                size: 0,
                sha256: "cd".repeat(32),
                blob: format!("blobs/sha256/{}", "cd".repeat(32)),
            },
        ];
        for (spec, lineage, files) in [
            (&spec, Some(&lineage), &files[..]),
            (&spec, None, &files[..1]),
            (&serde_json::json!("not an object"), None, &[][..]),
            (
                &serde_json::json!({}),
                Some(&serde_json::Value::Null),
                &files[..],
            ),
        ] {
            assert_eq!(
                digest(spec, lineage, files),
                by_the_rule(spec, lineage, files)
            );
        }
        // Description and tags are not covered; everything else is.
        let mut edited = spec.clone();
        edited["description"] = "other".into();
        assert_eq!(digest(&edited, None, &files), digest(&spec, None, &files));
        edited["alpha"]["x"] = false.into();
        assert_ne!(digest(&edited, None, &files), digest(&spec, None, &files));
    }

    #[test]
    fn canonical_json_reads_any_spelling_and_is_the_value_it_holds() {
        let read: CanonicalJson =
            serde_json::from_str(r#"{ "b": [1, 2.5], "a": {"y": null, "x": "s\u00e9"} }"#).unwrap();
        let made =
            CanonicalJson::new(&serde_json::json!({"a": {"x": "sé", "y": null}, "b": [1, 2.5]}));
        assert_eq!(read, made);
        assert_ne!(
            made,
            CanonicalJson::new(&serde_json::json!({"a": {}, "b": [1, 2.5]}))
        );
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            r#"{"a":{"x":"sé","y":null},"b":[1,2.5]}"#
        );
        assert_eq!(read.get("b"), Some(serde_json::json!([1, 2.5])));
        assert_eq!(read.get("c"), None);
        assert_eq!(CanonicalJson::new(&serde_json::json!([1])).get("b"), None);
        // Documents that hold one publish the schema of any JSON value for it.
        assert_eq!(
            serde_json::to_value(schemars::schema_for!(CanonicalJson)).unwrap(),
            serde_json::to_value(schemars::schema_for!(serde_json::Value)).unwrap()
        );
    }

    #[test]
    fn summaries_cut_long_descriptions_on_a_character_boundary() {
        assert_eq!(summary(""), "");
        // Exactly the limit, in two-byte characters: kept whole.
        let full = "é".repeat(DESCRIPTION_MAX);
        assert_eq!(summary(&full), full);
        // One more: cut to the limit, the last character an ellipsis.
        let cut = summary(&format!("{full}x"));
        assert_eq!(cut, format!("{}…", "é".repeat(DESCRIPTION_MAX - 1)));
        assert_eq!(cut.chars().count(), DESCRIPTION_MAX);
        assert_eq!(
            summary(&"ab".repeat(DESCRIPTION_MAX)),
            format!("{}a…", "ab".repeat((DESCRIPTION_MAX - 2) / 2))
        );
    }

    /// The page schema states the rule by which `usedby/` pages are cut, with these numbers.
    #[test]
    fn the_page_schema_states_how_pages_are_cut() {
        assert_eq!((USED_BY_EVERY, USED_BY_PAGE), (1_000, 5_000));
        let schema = serde_json::to_value(schemars::schema_for!(UsedByPage)).unwrap();
        let said = schema["properties"]["used_by"]["description"]
            .as_str()
            .unwrap();
        assert!(said.contains("At most 5,000"), "{said}");
        assert!(said.contains("0 modulo 1,000"), "{said}");
    }

    /// A version's digest covers its spec, lineage and files only: what uses it (and how that
    /// list is paged) may grow without changing it.
    #[test]
    fn an_asset_document_is_written_directly_as_its_canonical_json() {
        // Every field present, every optional one set: each is written in its place.
        let r = serde_json::json!({"path": "blobs/sha256/x", "sha256": "x", "size": 1});
        let pinned = serde_json::json!({"id": "data/d", "version": "1", "digest": "sha256:d"});
        let doc: AssetDoc = serde_json::from_value(serde_json::json!({
            "api_version": "1.0", "id": "models/m", "kind": "model", "name": "m",
            "display_name": "M", "description": "d", "owners": ["o"], "tags": {"t": "v"},
            "deprecated": {"reason": "r", "replaced_by": pinned, "date": "2026-01-01"},
            "latest": "1", "stages": {"prod": "1"}, "order": ["1"],
            "history": [{
                "seq": 1, "stage": "prod", "version": "1", "by": "b", "date": "2026-01-01",
                "ref": "#1", "reason": "r", "approved_by": ["a"], "skip": true,
            }],
            "versions": {"1": {
                "digest": "sha256:v", "spec": {"b": [1, 2.5], "a": "é\n\u{1}"},
                "spec_file": r, "lineage": {"z": {"ref": "data/d@1"}, "a": null},
                "files": [{"path": "p", "size": 1, "sha256": "x", "blob": "blobs/sha256/x"}],
                "card": {"blob": r, "meta": {"b": 1e300, "a": -0.5}},
                "references": [pinned], "used_by": ["x/y@1"], "used_by_count": 7,
                "used_by_pages": [r], "deprecated": "old",
            }},
        }))
        .unwrap();
        let bytes = doc.to_bytes();
        assert_eq!(bytes, to_bytes(&doc));
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(r#"{"api_version":"1.0","deprecated":{"date":"#),
            "{text}"
        );
        assert!(
            text.contains(r#""spec":{"a":"é\n\u0001","b":[1,2.5]}"#),
            "{text}"
        );
    }

    #[test]
    fn the_digest_does_not_cover_used_by() {
        let v = |used_by: serde_json::Value| -> VersionDoc {
            serde_json::from_value(serde_json::json!({
                "digest": "", "spec": {"name": "e", "version": "1", "image": "python:3.11"},
                "spec_file": {"path": "blobs/sha256/x", "sha256": "x", "size": 1},
                "files": [], "lineage": null, "card": null, "references": [],
                "used_by": used_by, "deprecated": null,
            }))
            .unwrap()
        };
        let few = v(serde_json::json!(["components/c@1"]));
        let mut many = v(serde_json::json!(["components/c@1", "components/c@2"]));
        many.used_by_count = 5_001;
        many.used_by_pages = vec![Ref {
            path: "usedby/y.json".into(),
            sha256: "y".into(),
            size: 2,
        }];
        let of = VersionDoc::computed_digest;
        assert_eq!(of(&few), of(&many));
        assert_eq!(
            of(&few),
            "sha256:".to_string()
                + &crate::publish::hash::sha256(
                    br#"{"files":[],"lineage":null,"spec":{"image":"python:3.11","name":"e","version":"1"}}"#
                )
        );
    }
}
