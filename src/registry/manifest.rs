//! The on-disk manifests and their field sets: `registry.yaml`, `asset.yaml`, `stages.yaml`,
//! `lineage.yaml`, card front matter, and the Azure ML CLI v2 `spec.yaml` of each kind.
//!
//! Decoding checks structure only (known fields, types, enums); rules that need more than one
//! field's shape live in `validate`, rules across manifests in `resolve`. Field sets follow
//! `azure-ai-ml`'s marshmallow schemas (the loader behind `az ml`), see `docs/format.md`.

use crate::diag::{Diagnostic, codes};
use crate::registry::decode::{Cx, Fields, Located, Text};
use crate::registry::kind::{DEFAULT_STAGES, Kind};
use crate::registry::yaml::{Node, Value};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// registry.yaml

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub name: Option<Text>,
    pub description: Option<String>,
    pub base_url: Option<Text>,
    pub stages: Vec<Text>,
    /// Names that move like stages but carry no order or policy (MLflow's `champion`).
    pub labels: Vec<Text>,
    pub workspaces: Vec<Workspace>,
    pub policy_lineage: Option<Text>,
    pub policy_card: Option<Text>,
    /// `policy: promotion:`, per stage.
    pub promotion: Vec<Promotion>,
    /// `lints:` entries as written: (code or name, level).
    pub lints: Vec<(Text, Text)>,
    pub publish: Publishing,
    /// `trust:`, when roots are signed.
    pub trust: Option<TrustConfig>,
}

/// `trust:`: the keys that sign the registry's roots (minisign public keys, base64), how many
/// must sign, and how long a signed root stays valid.
#[derive(Clone, Debug)]
pub struct TrustConfig {
    pub keys: Vec<Text>,
    pub threshold: Option<Located<i64>>,
    pub expires: Option<Text>,
    /// Where `trust:` is written.
    pub at: crate::diag::Loc,
}

impl RegistryConfig {
    /// Stages, then labels: every name `@<name>` may take.
    pub fn selectors(&self) -> Vec<String> {
        self.stages
            .iter()
            .chain(&self.labels)
            .map(|s| s.value.clone())
            .collect()
    }
}

impl TrustConfig {
    /// How long a signed root is valid when `expires` is not written.
    pub const EXPIRES: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

    /// The keys, sorted and deduplicated, as the root lists them.
    pub fn key_set(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.value.trim().to_string())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    pub fn threshold(&self) -> usize {
        self.threshold
            .as_ref()
            .and_then(|t| usize::try_from(t.value).ok())
            .unwrap_or(1)
    }

    pub fn expires(&self) -> std::time::Duration {
        self.expires
            .as_ref()
            .and_then(|e| crate::registry::names::duration(&e.value).ok())
            .unwrap_or(Self::EXPIRES)
    }
}

/// What entering one stage takes (`policy: promotion: <stage>:`).
#[derive(Clone, Debug)]
pub struct Promotion {
    pub stage: Text,
    /// Approvals by people other than the entry's `by`.
    pub approvals: Option<Located<i64>>,
    /// Whole days the version must have spent in the stage before (since the entry that put
    /// it there).
    pub min_days: Option<Located<i64>>,
    pub gates: Vec<Gate>,
}

/// A metric gate: one rule on one metric measured on matching data.
#[derive(Clone, Debug)]
pub struct Gate {
    pub metric: Text,
    /// Data assets the metric must be measured on: `data/<name>` (any version) or a prefix
    /// ending in `*`; two for `max_gap`.
    pub data: Vec<Text>,
    /// The models the gate applies to (`models/<name>` or a prefix ending in `*`); all when
    /// empty.
    pub assets: Vec<Text>,
    pub rule: GateRule,
    pub at: crate::diag::Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum GateRule {
    /// At least this value.
    Min(f64),
    /// At most this value (for losses).
    Max(f64),
    /// No lower than what the stage runs now, minus this.
    MaxDrop(f64),
    /// Between the two data's values, at most this apart.
    MaxGap(f64),
}

/// `publish:`: where `mlreg publish` goes when no `--to` is given, and what `gc` keeps.
#[derive(Clone, Debug, Default)]
pub struct Publishing {
    /// Locations as written (`az://…`, `s3://…`, `file:///…`), one per region.
    pub targets: Vec<Text>,
    /// How many of the last published roots stay readable in full.
    pub keep: Option<Located<i64>>,
    /// How old an object must be before `gc` may remove it (`30m`, `24h`, `7d`).
    pub grace: Option<Text>,
}

impl Publishing {
    /// Builds that stay readable in full when `keep` is not written.
    pub const KEEP: usize = 10;
    /// The grace period when `grace` is not written: longer than any publish runs.
    pub const GRACE: std::time::Duration = std::time::Duration::from_secs(86_400);

    /// `keep`, or its default when it is missing or invalid (`check` reports the latter).
    pub fn keep(&self) -> usize {
        self.keep
            .as_ref()
            .and_then(|k| usize::try_from(k.value).ok())
            .filter(|k| (1..=1000).contains(k))
            .unwrap_or(Self::KEEP)
    }

    /// `grace`, or its default when it is missing or invalid.
    pub fn grace(&self) -> std::time::Duration {
        self.grace
            .as_ref()
            .and_then(|g| crate::registry::names::duration(&g.value).ok())
            .unwrap_or(Self::GRACE)
    }
}

#[derive(Clone, Debug)]
pub struct Workspace {
    pub name: Text,
    pub stage: Option<Text>,
    pub region: Option<String>,
    pub mirror: Option<Text>,
}

pub fn registry_config(cx: &mut Cx, root: &Node) -> Option<RegistryConfig> {
    let f = cx.map(root, "registry.yaml")?;
    f.allow(
        cx,
        &[
            "name",
            "description",
            "base_url",
            "stages",
            "labels",
            "workspaces",
            "policy",
            "lints",
            "publish",
            "trust",
        ],
    );
    let name = f.req_text(cx, "name");
    let description = f.text(cx, "description").map(|t| t.value);
    let base_url = f.text(cx, "base_url");
    let stages = match f.get("stages") {
        Some(n) => cx.texts(n, "`stages`"),
        None => DEFAULT_STAGES
            .iter()
            .map(|s| Located::new(s.to_string(), cx.loc(root)))
            .collect(),
    };
    let labels = f.texts(cx, "labels");
    let mut workspaces = Vec::new();
    for w in f.maps(cx, "workspaces", "a workspace") {
        w.allow(
            cx,
            &[
                "name",
                "stage",
                "region",
                "mirror",
                "description",
                "subscription",
                "resource_group",
            ],
        );
        for key in ["description", "subscription", "resource_group"] {
            w.text(cx, key);
        }
        let Some(name) = w.req_text(cx, "name") else {
            continue;
        };
        workspaces.push(Workspace {
            name,
            stage: w.req_text(cx, "stage"),
            region: w.text(cx, "region").map(|t| t.value),
            mirror: w.text(cx, "mirror"),
        });
    }
    let (mut policy_lineage, mut policy_card) = (None, None);
    let mut promotion = Vec::new();
    if let Some(p) = f.map(cx, "policy") {
        p.allow(
            cx,
            &["require_lineage_from", "require_card_from", "promotion"],
        );
        policy_lineage = p.text(cx, "require_lineage_from");
        policy_card = p.text(cx, "require_card_from");
        if let Some(stages) = p.map(cx, "promotion") {
            for (_, knode, v) in stages.keys() {
                let (Some(stage), Some(rules)) = (
                    cx.text(knode, "a stage"),
                    cx.map(v, "the promotion rules of a stage"),
                ) else {
                    continue;
                };
                promotion.push(promotion_rules(cx, stage, &rules));
            }
        }
    }
    let lints = lints(cx, &f);
    let mut publish = Publishing::default();
    if let Some(p) = f.map(cx, "publish") {
        p.allow(cx, &["targets", "keep", "grace"]);
        publish.targets = p.texts(cx, "targets");
        publish.keep = p.get("keep").and_then(|n| {
            let keep = cx.integer(n, "`keep`")?;
            Some(Located::new(keep, cx.loc(n)))
        });
        publish.grace = p.text(cx, "grace");
    }
    let trust = f.map(cx, "trust").map(|t| {
        t.allow(cx, &["keys", "threshold", "expires"]);
        TrustConfig {
            keys: t.texts(cx, "keys"),
            threshold: t.get("threshold").and_then(|n| {
                let v = cx.integer(n, "`threshold`")?;
                Some(Located::new(v, cx.loc(n)))
            }),
            expires: t.text(cx, "expires"),
            at: cx.loc(t.node),
        }
    });
    Some(RegistryConfig {
        name,
        description,
        base_url,
        stages,
        labels,
        workspaces,
        policy_lineage,
        policy_card,
        promotion,
        lints,
        publish,
        trust,
    })
}

fn promotion_rules(cx: &mut Cx, stage: Text, f: &Fields) -> Promotion {
    f.allow(cx, &["approvals", "min_days", "gates"]);
    let located_int = |cx: &mut Cx, key: &str| {
        f.get(key).and_then(|n| {
            let v = cx.integer(n, &format!("`{key}`"))?;
            if v < 0 {
                cx.error(
                    codes::INVALID_VALUE,
                    n,
                    format!("`{key}` cannot be negative"),
                );
                return None;
            }
            Some(Located::new(v, cx.loc(n)))
        })
    };
    let approvals = located_int(cx, "approvals");
    let min_days = located_int(cx, "min_days");
    let mut gates = Vec::new();
    for g in f.maps(cx, "gates", "a metric gate") {
        g.allow(
            cx,
            &[
                "metric", "data", "assets", "min", "max", "max_drop", "max_gap",
            ],
        );
        let assets = match g.get("assets") {
            Some(n) if matches!(n.value, Value::Seq(_)) => cx.texts(n, "`assets`"),
            Some(n) => cx.text(n, "`assets`").into_iter().collect(),
            None => Vec::new(),
        };
        let metric = g.req_text(cx, "metric");
        let data = match g.get("data") {
            Some(n) if matches!(n.value, Value::Seq(_)) => cx.texts(n, "`data`"),
            Some(n) => cx.text(n, "`data`").into_iter().collect(),
            None => {
                g.require(cx, "data");
                Vec::new()
            }
        };
        let mut found = Vec::new();
        for key in ["min", "max", "max_drop", "max_gap"] {
            if let Some(n) = g.get(key)
                && let Some(v) = cx.number(n, &format!("`{key}`"))
            {
                found.push(match key {
                    "min" => GateRule::Min(v),
                    "max" => GateRule::Max(v),
                    "max_drop" => GateRule::MaxDrop(v),
                    _ => GateRule::MaxGap(v),
                });
            }
        }
        let at = cx.loc(g.node);
        let rule = match found.as_slice() {
            [one] => one.clone(),
            _ => {
                cx.report(Diagnostic::new(
                    codes::INVALID_VALUE,
                    Some(at.clone()),
                    "a gate has exactly one of `min`, `max`, `max_drop` and `max_gap`",
                ));
                continue;
            }
        };
        let wanted = if matches!(rule, GateRule::MaxGap(_)) {
            2
        } else {
            1
        };
        if data.len() != wanted {
            cx.report(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(at.clone()),
                match wanted {
                    2 => "`max_gap` compares two data: `data: [data/sample, data/production]`",
                    _ => "this gate names one data asset: `data: data/<name>`",
                },
            ));
            continue;
        }
        if let Some(metric) = metric {
            gates.push(Gate {
                metric,
                data,
                assets,
                rule,
                at,
            });
        }
    }
    Promotion {
        stage,
        approvals,
        min_days,
        gates,
    }
}

// ---------------------------------------------------------------------------------------------
// asset.yaml

/// A `lints:` table as written: (code or name, level), in `registry.yaml` or `asset.yaml`.
pub fn lints(cx: &mut Cx, f: &Fields) -> Vec<(Text, Text)> {
    let mut out = Vec::new();
    if let Some(l) = f.map(cx, "lints") {
        for (_, knode, v) in l.keys() {
            let key = cx.text(knode, "a lint");
            let level = cx.choice(v, "a lint level", &["allow", "warn", "deny"]);
            if let (Some(key), Some(level)) = (key, level) {
                out.push((key, level));
            }
        }
    }
    out
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AssetMeta {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub owners: Vec<Text>,
    pub tags: BTreeMap<String, String>,
    pub deprecated: Option<Deprecation>,
    /// Per-version deprecations, keyed by version.
    pub deprecated_versions: Vec<(Text, Deprecation)>,
    /// The asset's own `lints:`, for the diagnostics in its folder.
    pub lints: Vec<(Text, Text)>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Deprecation {
    pub reason: String,
    pub replaced_by: Option<Text>,
    pub date: Option<Text>,
}

pub fn asset_meta(cx: &mut Cx, root: &Node) -> AssetMeta {
    let mut meta = AssetMeta::default();
    let Some(f) = cx.map(root, "asset.yaml") else {
        return meta;
    };
    f.allow(
        cx,
        &[
            "display_name",
            "description",
            "owners",
            "tags",
            "deprecated",
            "deprecated_versions",
            "lints",
        ],
    );
    meta.lints = lints(cx, &f);
    meta.display_name = f.text(cx, "display_name").map(|t| t.value);
    meta.description = f.text(cx, "description").map(|t| t.value);
    meta.owners = f.texts(cx, "owners");
    meta.tags = f.tags(cx, "tags");
    if let Some(n) = f.get("deprecated") {
        meta.deprecated = deprecation(cx, n, "`deprecated`");
    }
    if let Some(versions) = f.map(cx, "deprecated_versions") {
        for (_, k, v) in versions.keys() {
            let Some(version) = cx.stringish(k, "a version") else {
                continue;
            };
            if let Some(d) = deprecation(
                cx,
                v,
                &format!("the deprecation of version {}", version.value),
            ) {
                meta.deprecated_versions.push((version, d));
            }
        }
    }
    meta
}

fn deprecation(cx: &mut Cx, node: &Node, what: &str) -> Option<Deprecation> {
    let f = cx.map(node, what)?;
    f.allow(cx, &["reason", "replaced_by", "date"]);
    let reason = f.req_text(cx, "reason")?.value;
    Some(Deprecation {
        reason,
        replaced_by: f.text(cx, "replaced_by"),
        date: f.text(cx, "date"),
    })
}

// ---------------------------------------------------------------------------------------------
// stages.yaml

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StageEntry {
    pub stage: Text,
    /// `None` clears the stage (`version: null`).
    pub version: Option<Text>,
    pub by: Option<Text>,
    pub date: Option<Text>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    pub approved_by: Vec<Text>,
    pub skip: bool,
    pub at: crate::diag::Loc,
}

pub fn stage_log(cx: &mut Cx, root: &Node) -> Vec<StageEntry> {
    let Some(items) = root.as_seq() else {
        if !root.is_null() {
            cx.wrong_type(root, "stages.yaml", "a list of stage entries");
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = cx.map(item, "a stage entry") else {
            continue;
        };
        f.allow(
            cx,
            &[
                "stage",
                "version",
                "by",
                "date",
                "ref",
                "reason",
                "approved_by",
                "skip",
            ],
        );
        let stage = f.req_text(cx, "stage");
        let version = match f.require(cx, "version") {
            Some(n) if n.is_null() => Some(None),
            Some(n) => cx.stringish(n, "`version`").map(Some),
            None => None,
        };
        let by = f.req_text(cx, "by");
        let date = f
            .require(cx, "date")
            .and_then(|n| date_text(cx, n, "`date`"));
        let reference = f.text(cx, "ref").map(|t| t.value);
        let reason = f.text(cx, "reason").map(|t| t.value);
        let approved_by = f.texts(cx, "approved_by");
        let skip = f.boolean(cx, "skip").unwrap_or(false);
        if let (Some(stage), Some(version)) = (stage, version) {
            out.push(StageEntry {
                stage,
                version,
                by,
                date,
                reference,
                reason,
                approved_by,
                skip,
                at: cx.loc(item),
            });
        }
    }
    out
}

/// A date (`2026-11-20`) or a UTC timestamp (`2026-11-20T10:02:00Z`), kept as written.
/// YAML readers disagree on unquoted timestamps, so both quoted and plain forms are accepted
/// as text and checked here.
pub fn date_text(cx: &mut Cx, node: &Node, what: &str) -> Option<Text> {
    let t = cx.text(node, what)?;
    if is_date_or_timestamp(&t.value) {
        Some(t)
    } else {
        cx.report(
            Diagnostic::new(
                codes::INVALID_VALUE,
                Some(t.loc.clone()),
                format!("{what} `{}` is not a date", t.value),
            )
            .help("write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"),
        );
        None
    }
}

fn is_date_or_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date {
        return false;
    }
    let (m, d) = (
        (b[5] - b'0') * 10 + b[6] - b'0',
        (b[8] - b'0') * 10 + b[9] - b'0',
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    match &s[10..] {
        "" => true,
        rest => {
            let r = rest.as_bytes();
            r.len() >= 9
                && r[0] == b'T'
                && r[3] == b':'
                && r[6] == b':'
                && [1, 2, 4, 5, 7, 8].iter().all(|&i| r[i].is_ascii_digit())
                && (rest.ends_with('Z')
                    || rest[9..].starts_with('+')
                    || rest[9..].starts_with('-')
                    || rest[9..].starts_with('.'))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// lineage.yaml

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Lineage {
    pub job: Option<Job>,
    pub environment: Option<Text>,
    pub component: Option<Text>,
    pub data: Vec<Use>,
    pub models: Vec<Use>,
    pub metrics: Vec<Metric>,
    /// Local log files (relative to the version folder); URLs are kept out of this list.
    pub logs: Vec<Text>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub started: Option<Text>,
    pub finished: Option<Text>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Use {
    pub reference: Text,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Metric {
    pub name: Text,
    pub data: Option<Text>,
}

pub fn lineage(cx: &mut Cx, root: &Node) -> Lineage {
    let mut out = Lineage::default();
    let Some(f) = cx.map(root, "lineage.yaml") else {
        return out;
    };
    f.allow(
        cx,
        &[
            "job",
            "code",
            "environment",
            "component",
            "data",
            "models",
            "parameters",
            "metrics",
            "logs",
            "artifacts",
        ],
    );
    if let Some(j) = f.map(cx, "job") {
        j.allow(
            cx,
            &[
                "name",
                "url",
                "workspace",
                "experiment",
                "status",
                "started",
                "finished",
            ],
        );
        j.req_text(cx, "name");
        for key in ["url", "workspace", "experiment", "status"] {
            j.text(cx, key);
        }
        let started = j.get("started").and_then(|n| date_text(cx, n, "`started`"));
        let finished = j
            .get("finished")
            .and_then(|n| date_text(cx, n, "`finished`"));
        out.job = Some(Job { started, finished });
    }
    if let Some(c) = f.map(cx, "code") {
        c.allow(cx, &["repo", "commit", "path", "branch", "dirty"]);
        c.req_text(cx, "repo");
        if let Some(commit) = c
            .require(cx, "commit")
            .and_then(|n| cx.stringish(n, "`commit`"))
        {
            let ok = (4..=64).contains(&commit.value.len())
                && commit.value.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                cx.report(Diagnostic::new(
                    codes::INVALID_VALUE,
                    Some(commit.loc),
                    format!(
                        "`commit` `{}` is not a git commit hash (4 to 64 hex digits)",
                        commit.value
                    ),
                ));
            }
        }
        c.text(cx, "path");
        c.text(cx, "branch");
        c.boolean(cx, "dirty");
    }
    out.environment = f.text(cx, "environment");
    out.component = f.text(cx, "component");
    out.data = uses(cx, &f, "data");
    out.models = uses(cx, &f, "models");
    if let Some(p) = f.map(cx, "parameters") {
        for (key, _, v) in p.keys() {
            if matches!(v.value, Value::Map(_) | Value::Seq(_)) {
                cx.wrong_type(v, &format!("parameter `{key}`"), "a single value");
            }
        }
    }
    for m in f.maps(cx, "metrics", "a metric") {
        m.allow(cx, &["name", "value", "data", "split", "step"]);
        let name = m.req_text(cx, "name");
        m.require(cx, "value").and_then(|v| cx.number(v, "`value`"));
        let data = m.req_text(cx, "data");
        m.text(cx, "split");
        m.get("step").and_then(|v| cx.integer(v, "`step`"));
        if let Some(name) = name {
            out.metrics.push(Metric { name, data });
        }
    }
    for log in f.texts(cx, "logs") {
        if !crate::registry::names::is_remote(&log.value) {
            out.logs.push(log);
        }
    }
    for a in f.maps(cx, "artifacts", "an artifact") {
        a.allow(cx, &["uri", "sha256", "size"]);
        a.req_text(cx, "uri");
        if let Some(h) = a.text(cx, "sha256")
            && (h.value.len() != 64
                || !h
                    .value
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            cx.report(Diagnostic::new(
                codes::INVALID_VALUE,
                Some(h.loc),
                "`sha256` must be 64 lowercase hex digits",
            ));
        }
        if let Some(n) = a.get("size")
            && cx.integer(n, "`size`").is_some_and(|size| size < 0)
        {
            cx.error(codes::INVALID_VALUE, n, "`size` cannot be negative");
        }
    }
    out
}

fn uses(cx: &mut Cx, f: &Fields, key: &str) -> Vec<Use> {
    let mut out = Vec::new();
    for u in f.maps(cx, key, &format!("an entry of `{key}`")) {
        u.allow(cx, &["ref", "role"]);
        u.text(cx, "role");
        if let Some(reference) = u.req_text(cx, "ref") {
            out.push(Use { reference });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// README.md front matter (Hugging Face model-card keys where they overlap)

pub const CARD_KEYS: &[&str] = &[
    "license",
    "license_name",
    "license_link",
    "tags",
    "datasets",
    "base_model",
    "base_model_relation",
    "pipeline_tag",
    "language",
    "library_name",
    "metrics",
    "model-index",
    "model_name",
    "thumbnail",
    "widget",
    "inference",
    "co2_eq_emissions",
    "task",
    "new_version",
];

/// Check the card's front matter; the references to this registry's assets it holds
/// (`base_model: models/x@3`, `datasets: [data/y@1]`), with the kind each must name. Other
/// values (Hugging Face ids such as `meta-llama/Llama-3.1-8B`) are kept as written.
pub fn card_meta(cx: &mut Cx, root: &Node) -> Vec<(Text, Kind)> {
    let mut refs = Vec::new();
    if root.is_null() {
        return refs;
    }
    let Some(f) = cx.map(root, "the card's front matter") else {
        return refs;
    };
    for (key, knode, v) in f.keys() {
        let named = match key {
            "base_model" => Some(Kind::Model),
            "datasets" => Some(Kind::Data),
            _ => None,
        };
        if let Some(kind) = named {
            let texts = match v.as_str() {
                Some(_) => cx.text(v, &format!("`{key}`")).into_iter().collect(),
                None => cx.texts(v, &format!("`{key}`")),
            };
            refs.extend(
                texts
                    .into_iter()
                    .filter(|t| crate::registry::reference::looks_like_reference(&t.value))
                    .map(|t| (t, kind)),
            );
            continue;
        }
        match key {
            "license"
            | "license_name"
            | "license_link"
            | "pipeline_tag"
            | "library_name"
            | "model_name"
            | "task"
            | "new_version"
            | "base_model_relation"
            | "thumbnail" => {
                cx.text(v, &format!("`{key}`"));
            }
            "tags" | "metrics" => {
                cx.texts(v, &format!("`{key}`"));
            }
            "language" => {
                if v.as_str().is_none() {
                    cx.texts(v, &format!("`{key}`"));
                }
            }
            _ if CARD_KEYS.contains(&key) => {}
            _ => {
                let mut d = Diagnostic::new(
                    codes::UNKNOWN_CARD_KEY,
                    Some(cx.loc(knode)),
                    format!(
                        "`{key}` is not a model-card key mlreg knows; it is kept but not shown"
                    ),
                );
                if let Some(near) = crate::registry::decode::nearest(key, CARD_KEYS) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                cx.report(d);
            }
        }
    }
    refs
}
