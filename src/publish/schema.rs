//! JSON Schemas of the manifests mlreg defines (`registry.yaml`, `asset.yaml`, `stages.yaml`,
//! `lineage.yaml`), generated from these types and published under `schemas/` so that editors
//! can complete and check them (`# yaml-language-server: $schema=...`). Azure specs have
//! Azure's own schemas.
//!
//! These types describe the format for schema generation only; `manifest` decodes the files
//! (with locations for every problem). A test checks the two agree on the sample registry and
//! on every field list.

use schemars::JsonSchema;
use std::collections::BTreeMap;

/// `registry.yaml`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RegistryYaml {
    /// 2-32 of letters, digits, `_` and `-`, starting with a letter or digit.
    name: String,
    description: Option<String>,
    /// Where the site is published (http or https, ending with `/`).
    base_url: Option<String>,
    /// The ordered promotion path; default `[dev, test, prod]`.
    stages: Option<Vec<String>>,
    /// Names that move like stages in stages.yaml, without order or policy (MLflow's
    /// `champion`, `challenger`), resolved like stages (`@champion`).
    labels: Option<Vec<String>>,
    workspaces: Option<Vec<WorkspaceYaml>>,
    policy: Option<PolicyYaml>,
    /// The level of warnings, by code (`W051`) or name (`unused-port`): `allow` drops them,
    /// `deny` makes them errors.
    lints: Option<BTreeMap<String, LintLevel>>,
    publish: Option<PublishYaml>,
    trust: Option<TrustYaml>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct TrustYaml {
    /// The minisign public keys (base64) that sign the registry's roots (`mlreg keygen`).
    keys: Vec<String>,
    /// How many of them must sign each root (default 1).
    threshold: Option<u16>,
    /// How long a signed root is valid: clients refuse it after (default `30d`, 1h to 366d).
    expires: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct PublishYaml {
    /// Where `mlreg publish` and `mlreg gc` go without `--to`: `az://container/prefix`,
    /// `s3://bucket/prefix` or `file:///absolute/folder`, one per region.
    targets: Option<Vec<String>>,
    /// How many of the last published roots stay readable in full (1 to 1000; default 10).
    keep: Option<u16>,
    /// How old an object no kept root names must be before `gc` removes it: a whole number
    /// and s, m, h or d (default `1d`); longer than any publish runs.
    grace: Option<String>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum LintLevel {
    Allow,
    Warn,
    Deny,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct WorkspaceYaml {
    name: String,
    /// The stage this workspace deploys from.
    stage: String,
    region: Option<String>,
    /// The nearest copy of the published registry.
    mirror: Option<String>,
    description: Option<String>,
    subscription: Option<String>,
    resource_group: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct PolicyYaml {
    /// A model version needs lineage.yaml before entering this stage or a later one.
    require_lineage_from: Option<String>,
    /// A model version needs a README.md card before entering this stage or a later one.
    require_card_from: Option<String>,
    /// What entering a stage takes, by stage.
    promotion: Option<BTreeMap<String, PromotionYaml>>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct PromotionYaml {
    /// Approvals (`approved_by`) by people other than the entry's `by`.
    approvals: Option<u32>,
    /// Whole days the version must have spent in the stage before.
    min_days: Option<u32>,
    /// Metric gates (models): exactly one of `min`, `max`, `max_drop`, `max_gap` each.
    gates: Option<Vec<GateYaml>>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct GateYaml {
    /// The metric's name in lineage.yaml.
    metric: String,
    /// The data it was measured on: `data/<name>` (any version) or a prefix ending in `*`;
    /// two of them for `max_gap`.
    data: OneOrMore,
    /// The models it applies to (`models/<name>`, or a prefix ending in `*`; one or a list);
    /// all without it.
    assets: Option<OneOrMore>,
    /// At least this value.
    min: Option<f64>,
    /// At most this value.
    max: Option<f64>,
    /// No lower than the version the stage runs now, minus this.
    max_drop: Option<f64>,
    /// The two data's values at most this apart.
    max_gap: Option<f64>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMore {
    One(String),
    More(Vec<String>),
}

/// `asset.yaml`: mutable metadata of one asset.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AssetYaml {
    display_name: Option<String>,
    description: Option<String>,
    owners: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    deprecated: Option<DeprecationYaml>,
    /// Version to its deprecation.
    deprecated_versions: Option<BTreeMap<String, DeprecationYaml>>,
    /// Levels of warnings in this asset's folder, as in `registry.yaml`.
    lints: Option<BTreeMap<String, LintLevel>>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct DeprecationYaml {
    reason: String,
    /// A reference, e.g. `models/credit-default@4`.
    replaced_by: Option<String>,
    date: Option<String>,
}

/// `stages.yaml`: the append-only promotion log.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct StagesYaml(Vec<StageEntryYaml>);

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct StageEntryYaml {
    stage: String,
    /// A version (quote it), or null to clear the stage.
    version: Option<String>,
    by: String,
    /// YYYY-MM-DD or an RFC 3339 UTC timestamp.
    date: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    reason: Option<String>,
    approved_by: Option<Vec<String>>,
    /// Enter the stage without having been in the previous one (needs a `reason`).
    skip: Option<bool>,
}

/// `lineage.yaml`: how a version was made.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LineageYaml {
    job: Option<JobYaml>,
    code: Option<CodeYaml>,
    /// A reference to the environment the job ran in.
    environment: Option<String>,
    /// A reference to the component the job ran.
    component: Option<String>,
    data: Option<Vec<UseYaml>>,
    /// Models this one derives from (base, teacher).
    models: Option<Vec<UseYaml>>,
    parameters: Option<BTreeMap<String, Scalar>>,
    metrics: Option<Vec<MetricYaml>>,
    /// Local files (relative to the version folder) or URLs.
    logs: Option<Vec<String>>,
    artifacts: Option<Vec<ArtifactYaml>>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Scalar {
    Bool(bool),
    Number(f64),
    Text(String),
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct JobYaml {
    name: String,
    url: Option<String>,
    workspace: Option<String>,
    experiment: Option<String>,
    status: Option<String>,
    started: Option<String>,
    finished: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct CodeYaml {
    repo: String,
    /// 4 to 64 hex digits.
    commit: String,
    path: Option<String>,
    branch: Option<String>,
    dirty: Option<bool>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct UseYaml {
    #[serde(rename = "ref")]
    reference: String,
    role: Option<String>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct MetricYaml {
    name: String,
    value: f64,
    /// The data the value was measured on (a reference).
    data: String,
    split: Option<String>,
    step: Option<i64>,
}

#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ArtifactYaml {
    uri: String,
    sha256: Option<String>,
    size: Option<u64>,
}

/// Every manifest kind with its JSON Schema, by file name under `schemas/`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn s<T: JsonSchema>() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(T)).expect("schema serializes")
    }
    vec![
        ("registry-yaml.schema.json", s::<RegistryYaml>()),
        ("asset-yaml.schema.json", s::<AssetYaml>()),
        ("stages-yaml.schema.json", s::<StagesYaml>()),
        ("lineage-yaml.schema.json", s::<LineageYaml>()),
    ]
}
