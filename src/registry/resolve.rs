//! Rules across manifests: references resolve and get pinned, `latest` is computed, the stage
//! log is ordered and obeys the policy, and the lineage graph has no cycle. Builds the
//! [`Registry`]; no I/O.

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::decode::Text;
use crate::registry::kind::{self, Kind};
use crate::registry::load::{Loaded, LoadedAsset, LoadedVersion};
use crate::registry::manifest;
use crate::registry::model::{Asset, Pins, Registry, VersionId};
use crate::registry::reference::{self, Reference, Scope, Selector};
use crate::registry::spec::JobComponent;
use crate::registry::spec::pipeline::port_uses;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub fn resolve(loaded: &Loaded, diags: &mut Vec<Diagnostic>) -> Registry {
    let config = loaded.config.as_ref();
    let name = config
        .and_then(|c| c.name.as_ref())
        .map(|n| n.value.clone())
        .unwrap_or_default();
    let stages: Vec<String> = match config {
        Some(c) => c.stages.iter().map(|s| s.value.clone()).collect(),
        None => kind::DEFAULT_STAGES.iter().map(|s| s.to_string()).collect(),
    };
    let labels: Vec<String> = config
        .map(|c| c.labels.iter().map(|l| l.value.clone()).collect())
        .unwrap_or_default();
    let selectors: Vec<String> = stages.iter().chain(&labels).cloned().collect();
    let mut lints = BTreeMap::new();
    if let Some(c) = config {
        crate::registry::validate::registry_config(c, diags);
        lints = crate::registry::validate::lint_levels(&c.lints, diags);
    }
    // Assets are resolved in parallel, each with its own diagnostics, gathered in the assets'
    // (sorted) order so that the result does not depend on scheduling.
    let resolved: Vec<(Asset, Vec<Diagnostic>)> = loaded
        .assets
        .par_iter()
        .map(|(_, a)| {
            let mut diags = Vec::new();
            let mut versions: Vec<String> = a.versions.keys().cloned().collect();
            versions.sort_by(|x, y| version_cmp(x, y));
            let latest = versions.iter().rev().find(|v| !is_prerelease(v)).cloned();
            let current = stage_log(a, &stages, &labels, config, &mut diags);
            let asset = Asset {
                kind: a.kind,
                name: a.name.clone(),
                versions,
                latest,
                stages: current,
                pins: BTreeMap::new(),
                lints: crate::registry::validate::lint_levels(&a.meta.lints, &mut diags),
            };
            (asset, diags)
        })
        .collect();
    let mut assets = BTreeMap::new();
    for (asset, found) in resolved {
        diags.extend(found);
        assets.insert((asset.kind, asset.name.clone()), asset);
    }
    let scope = Scope {
        registry: Some(&name).filter(|n| !n.is_empty()).map(String::as_str),
        stages: &selectors,
    };
    let graph = Graph::of(loaded);
    let linked: Vec<Linked> = loaded
        .assets
        .par_iter()
        .map(|(_, a)| link(a, scope, &assets, loaded, &graph))
        .collect();
    let mut edges = vec![Vec::new(); graph.ids.len()];
    for (l, asset) in linked.into_iter().zip(assets.values_mut()) {
        asset.pins = l.pins;
        for (from, out) in l.edges {
            edges[from] = out;
        }
        diags.extend(l.diags);
    }
    cycles(&graph, &edges, diags);
    Registry {
        name,
        stages,
        labels,
        assets,
        lints,
    }
}

/// Every version of the registry, numbered in order, for the lineage graph.
struct Graph<'a> {
    ids: Vec<(Kind, &'a str, &'a str)>,
}

impl<'a> Graph<'a> {
    fn of(loaded: &'a Loaded) -> Graph<'a> {
        let ids = loaded
            .assets
            .values()
            .flat_map(|a| {
                a.versions
                    .keys()
                    .map(|v| (a.kind, a.name.as_str(), v.as_str()))
            })
            .collect();
        Graph { ids }
    }

    /// The number of a version (`ids` is sorted, as the registry's maps are).
    fn id(&self, (kind, name, version): &VersionId) -> Option<usize> {
        self.ids
            .binary_search(&(*kind, name.as_str(), version.as_str()))
            .ok()
    }
}

/// An asset's references, resolved.
struct Linked<'a> {
    /// Each version's pins (see `Asset::pins`).
    pins: BTreeMap<String, Pins>,
    /// Each version's edges in the lineage graph, where the reference that makes each is.
    edges: Vec<(usize, Vec<(usize, &'a Loc)>)>,
    diags: Vec<Diagnostic>,
}

/// Resolve the references of one asset's versions and deprecation.
fn link<'a>(
    a: &'a LoadedAsset,
    scope: Scope,
    assets: &BTreeMap<(Kind, String), Asset>,
    loaded: &Loaded,
    graph: &Graph,
) -> Linked<'a> {
    let mut out = Linked {
        pins: BTreeMap::new(),
        edges: Vec::new(),
        diags: Vec::new(),
    };
    let diags = &mut out.diags;
    for (version, v) in &a.versions {
        // (reference, the kind it must name, whether using a deprecated version is worth a
        // warning: yes in specs, which get deployed; no in lineage, which is history)
        let mut refs: Vec<(&Text, Kind, bool)> = Vec::new();
        if let Some(spec) = &v.spec {
            refs.extend(spec.refs.iter().map(|r| (&r.text, r.kind, true)));
        }
        if let Some(l) = &v.lineage {
            refs.extend(l.environment.iter().map(|t| (t, Kind::Environment, false)));
            refs.extend(l.component.iter().map(|t| (t, Kind::Component, false)));
            refs.extend(l.data.iter().map(|u| (&u.reference, Kind::Data, false)));
            refs.extend(l.models.iter().map(|u| (&u.reference, Kind::Model, false)));
            refs.extend(
                l.metrics
                    .iter()
                    .filter_map(|m| m.data.as_ref())
                    .map(|t| (t, Kind::Data, false)),
            );
        }
        let mut pins = BTreeMap::new();
        let mut edges = Vec::new();
        for (text, kind, warn_deprecated) in refs {
            if let Some(to) = lookup(text, kind, warn_deprecated, scope, assets, loaded, diags) {
                edges.extend(graph.id(&to).map(|to| (to, &text.loc)));
                pins.insert(text.value.clone(), to);
            }
        }
        if !edges.is_empty() {
            let from = (a.kind, a.name.clone(), version.clone());
            out.edges.extend(graph.id(&from).map(|from| (from, edges)));
        }
        // A card's `base_model` and `datasets` must name what exists; they describe the
        // version rather than make it, so they are neither pinned nor part of the graph.
        for (text, kind) in &v.card_refs {
            lookup(text, *kind, false, scope, assets, loaded, diags);
        }
        // Pipeline jobs that use a component of this registry: their ports must exist.
        if let Some(spec) = &v.spec {
            for (job, component) in &spec.jobs {
                let JobComponent::Reference(t) = component else {
                    continue;
                };
                let local = reference::local(&t.value, scope).or_else(|| {
                    short_local(t, Kind::Component, scope, assets).and_then(Result::ok)
                });
                let Some((Kind::Component, name, selector)) = local else {
                    continue;
                };
                let Some(target) = assets.get(&(Kind::Component, name.clone())) else {
                    continue;
                };
                let Some(ver) = select(target, &selector) else {
                    continue;
                };
                let iface = loaded.assets[&(Kind::Component, name)].versions[&ver]
                    .spec
                    .as_ref()
                    .and_then(|s| s.interface.as_ref());
                if let Some(iface) = iface {
                    diags.extend(port_uses(spec, job, iface));
                }
            }
        }
        out.pins.insert(version.clone(), pins.into());
    }
    if let Some(d) = &a.meta.deprecated
        && let Some(r) = &d.replaced_by
    {
        lookup(r, a.kind, false, scope, assets, loaded, diags);
    }
    for (version, _) in &a.meta.deprecated_versions {
        if !a.versions.contains_key(&version.value) {
            diags.push(Diagnostic::new(
                codes::STAGE_UNKNOWN_VERSION,
                Some(version.loc.clone()),
                format!(
                    "`deprecated_versions` names version `{}`, which {} `{}` does not have",
                    version.value,
                    a.kind.singular(),
                    a.name
                ),
            ));
        }
    }
    out
}

/// Resolve one reference against the registry; report what does not resolve.
fn lookup(
    text: &Text,
    expected: Kind,
    warn_deprecated: bool,
    scope: Scope,
    assets: &BTreeMap<(Kind, String), Asset>,
    loaded: &Loaded,
    diags: &mut Vec<Diagnostic>,
) -> Option<VersionId> {
    let loc = Some(text.loc.clone());
    let (kind, name, selector) = match reference::parse(&text.value, scope) {
        Ok(Reference::Local {
            kind,
            name,
            selector,
        }) => (kind, name, selector),
        Ok(Reference::External(_)) => match short_local(text, expected, scope, assets) {
            Some(Ok(local)) => local,
            Some(Err(d)) => {
                diags.push(d);
                return None;
            }
            None => {
                diags.extend(near_miss_registry(text, scope));
                return None;
            }
        },
        Err(why) => {
            diags.push(Diagnostic::new(codes::BAD_REFERENCE, loc, why));
            return None;
        }
    };
    if expected != kind {
        diags.push(Diagnostic::new(
            codes::WRONG_KIND,
            loc,
            format!(
                "`{}` names a {}, but a {} is expected here",
                text.value,
                kind.singular(),
                expected.singular()
            ),
        ));
        return None;
    }
    let Some(asset) = assets.get(&(kind, name.clone())) else {
        let names: Vec<&str> = assets
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.as_str())
            .collect();
        let mut d = Diagnostic::new(
            codes::UNKNOWN_ASSET,
            loc,
            format!("this registry has no {} `{name}`", kind.singular()),
        );
        if let Some(near) = crate::registry::decode::nearest(&name, &names) {
            d = d.help(format!("did you mean `{near}`?"));
        }
        diags.push(d);
        return None;
    };
    let Some(version) = select(asset, &selector) else {
        let message = match &selector {
            Selector::Version(v) => format!(
                "{} `{name}` has no version `{v}` (it has {})",
                kind.singular(),
                asset.versions.join(", ")
            ),
            Selector::Latest => format!(
                "{} `{name}` has no release version, so `@latest` points nowhere",
                kind.singular()
            ),
            Selector::Label(s) => format!(
                "no version of {} `{name}` is in stage `{s}`",
                kind.singular()
            ),
        };
        diags.push(Diagnostic::new(codes::UNKNOWN_VERSION, loc, message));
        return None;
    };
    if !warn_deprecated {
        return Some((kind, name, version));
    }
    let la: &LoadedAsset = &loaded.assets[&(kind, name.clone())];
    if let Some(reason) = la.deprecation(&version) {
        diags.push(Diagnostic::new(
            codes::DEPRECATED_REFERENCE,
            loc,
            format!(
                "{} `{name}` version `{version}` is deprecated: {reason}",
                kind.singular()
            ),
        ));
    }
    Some((kind, name, version))
}

/// `azureml:<name>:<version>` (or `@latest`, `@<stage>`) where a `kind` is expected: Azure
/// would look it up in the workspace, but when this registry holds the asset it is this
/// registry's, and is resolved (pinned, linked, its ports checked). When the registry has the
/// asset but not that version, the reference stays external, with a warning; an asset the
/// registry does not have is plainly external (`None`).
fn short_local(
    text: &Text,
    kind: Kind,
    scope: Scope,
    assets: &BTreeMap<(Kind, String), Asset>,
) -> Option<Result<(Kind, String, Selector), Diagnostic>> {
    let (name, selector) = reference::short_form(&text.value, scope.stages)?;
    let asset = assets.get(&(kind, name.clone()))?;
    if select(asset, &selector).is_some() {
        return Some(Ok((kind, name, selector)));
    }
    let which = match &selector {
        Selector::Version(v) => format!("no version `{v}`"),
        Selector::Latest => "no release version".to_string(),
        Selector::Label(s) => format!("no version in stage `{s}`"),
    };
    Some(Err(Diagnostic::new(
        codes::SHORT_REFERENCE_EXTERNAL,
        Some(text.loc.clone()),
        format!(
            "`{}` names {} `{name}` of this registry, which has {which} (it has {}), so it is left for the workspace to resolve",
            text.value,
            kind.singular(),
            asset.versions.join(", ")
        ),
    )
    .help(format!(
        "write `{}/{name}@<version>` to use this registry's, or a version it has",
        kind.folder()
    ))))
}

/// Registries Microsoft publishes to every workspace: naming one is never a typo of ours.
const SYSTEM_REGISTRIES: &[&str] = &[
    "azureml",
    "azureml-meta",
    "azureml-msr",
    "azureml-preview",
    "azure-openai",
    "HuggingFace",
    "nvidia-ai",
];

/// `azureml://registries/<name>/...` whose name is one typo away from this registry's own: it
/// would be treated as another registry's asset, never resolved, never checked.
fn near_miss_registry(text: &Text, scope: Scope) -> Option<Diagnostic> {
    let this = scope.registry?;
    let rest = text.value.strip_prefix("azureml://registries/")?;
    let named = rest.split('/').next()?;
    if named.eq_ignore_ascii_case(this)
        || SYSTEM_REGISTRIES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(named))
    {
        return None;
    }
    crate::registry::decode::nearest(named, &[this])?;
    Some(
        Diagnostic::new(
            codes::NEAR_MISS_REGISTRY,
            Some(text.loc.clone()),
            format!(
                "`{named}` is not this registry (`{this}`), so this reference is treated as external and not checked"
            ),
        )
        .help(format!("did you mean `{this}`?")),
    )
}

/// Pin a reference into this registry to `(kind, name, version)`; `None` for external or
/// unresolvable references (the latter were reported by `resolve`).
pub fn pin(registry: &Registry, text: &str) -> Option<VersionId> {
    let selectors = registry.selectors();
    let scope = Scope {
        registry: Some(registry.name.as_str()).filter(|n| !n.is_empty()),
        stages: &selectors,
    };
    let (kind, name, selector) = reference::local(text, scope)?;
    let version = select(registry.assets.get(&(kind, name.clone()))?, &selector)?;
    Some((kind, name, version))
}

/// The version of `asset` that `selector` names, if there is one.
pub fn select(asset: &Asset, selector: &Selector) -> Option<String> {
    match selector {
        Selector::Version(v) => asset.versions.iter().find(|x| *x == v).cloned(),
        Selector::Latest => asset.latest.clone(),
        Selector::Label(stage) => asset.stages.get(stage).cloned(),
    }
}

/// Replay the stage log: every entry must name a known stage and version, dates never go
/// backwards, promotions follow the stage order (or say `skip: true` with a reason), and the
/// policy holds at the entry that moves a version into a stage.
fn stage_log(
    a: &LoadedAsset,
    stages: &[String],
    labels: &[String],
    config: Option<&manifest::RegistryConfig>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    // The entry that set each stage, for a located warning when it ends on a deprecated version.
    let mut set_by: BTreeMap<&str, &Text> = BTreeMap::new();
    let mut been: BTreeSet<(String, String)> = BTreeSet::new();
    // When each version first entered each stage, for `min_days`.
    let mut entered: BTreeMap<(String, String), &Text> = BTreeMap::new();
    let mut last_date: Option<&Text> = None;
    let policy_index = |p: Option<&Text>| p.and_then(|t| stages.iter().position(|s| *s == t.value));
    let lineage_from = policy_index(config.and_then(|c| c.policy_lineage.as_ref()));
    let card_from = policy_index(config.and_then(|c| c.policy_card.as_ref()));
    for e in &a.stages {
        if let Some(date) = &e.date {
            if let Some(prev) = last_date
                && date.value.as_str() < &prev.value[..prev.value.len().min(date.value.len())]
            {
                diags.push(Diagnostic::new(
                    codes::DATE_BACKWARDS,
                    Some(date.loc.clone()),
                    format!(
                        "date {} is before the previous entry's {}; the log is in order of events",
                        date.value, prev.value
                    ),
                ));
            }
            last_date = Some(date);
        }
        let label = labels.contains(&e.stage.value);
        let index = stages.iter().position(|s| *s == e.stage.value);
        if index.is_none() && !label {
            let names: Vec<&str> = stages.iter().chain(labels).map(String::as_str).collect();
            diags.extend(crate::registry::validate::unknown_stage(&e.stage, &names));
            continue;
        }
        let Some(version) = &e.version else {
            current.remove(&e.stage.value);
            continue;
        };
        let Some(v) = a.versions.get(&version.value) else {
            diags.push(Diagnostic::new(
                codes::STAGE_UNKNOWN_VERSION,
                Some(version.loc.clone()),
                format!(
                    "{} `{}` has no version `{}`",
                    a.kind.singular(),
                    a.name,
                    version.value
                ),
            ));
            continue;
        };
        // A label moves freely: no order, no policy.
        let Some(index) = index else {
            current.insert(e.stage.value.clone(), version.value.clone());
            set_by.insert(&e.stage.value, version);
            continue;
        };
        if e.skip && e.reason.is_none() {
            diags.push(Diagnostic::new(
                codes::SKIP_WITHOUT_REASON,
                Some(e.at.clone()),
                "`skip: true` needs a `reason`",
            ));
        }
        if index > 0 && !e.skip {
            let prev = &stages[index - 1];
            if !been.contains(&(prev.clone(), version.value.clone())) {
                diags.push(
                    Diagnostic::new(
                        codes::STAGE_SKIPPED,
                        Some(e.stage.loc.clone()),
                        format!("version `{}` enters `{}` without having been in `{prev}` earlier in the log", version.value, e.stage.value),
                    )
                    .help(format!("promote it to `{prev}` first, or add `skip: true` with a `reason`")),
                );
            }
        }
        if a.kind == Kind::Model {
            // An empty lineage.yaml (`{}`, as `mlreg add` writes it to be filled in) is none.
            let no_lineage = v.lineage_json.as_ref().is_none_or(|j| j.is_empty_map());
            if lineage_from.is_some_and(|i| index >= i) && no_lineage {
                diags.push(Diagnostic::new(
                    codes::POLICY_LINEAGE,
                    Some(e.stage.loc.clone()),
                    format!(
                        "policy: version `{}` needs a lineage.yaml before it enters `{}`",
                        version.value, e.stage.value
                    ),
                ));
            }
            if card_from.is_some_and(|i| index >= i) && !v.has_card {
                diags.push(Diagnostic::new(
                    codes::POLICY_CARD,
                    Some(e.stage.loc.clone()),
                    format!(
                        "policy: version `{}` needs a README.md card before it enters `{}`",
                        version.value, e.stage.value
                    ),
                ));
            }
        }
        if let Some(rules) =
            config.and_then(|c| c.promotion.iter().find(|p| p.stage.value == e.stage.value))
        {
            let before = (index > 0 && !e.skip).then(|| stages[index - 1].as_str());
            let running = current
                .get(&e.stage.value)
                .and_then(|r| Some((r.as_str(), &**a.versions.get(r)?)));
            let entered_before = before.and_then(|b| {
                entered
                    .get(&(b.to_string(), version.value.clone()))
                    .copied()
            });
            let id = format!("{}/{}", a.kind.folder(), a.name);
            let entering = Entering {
                kind: a.kind,
                id: &id,
                entry: e,
                version,
                lv: v,
            };
            promotion_policy(&entering, rules, running, entered_before, diags);
        }
        if let Some(date) = &e.date {
            entered
                .entry((e.stage.value.clone(), version.value.clone()))
                .or_insert(date);
        }
        been.insert((e.stage.value.clone(), version.value.clone()));
        current.insert(e.stage.value.clone(), version.value.clone());
        set_by.insert(&e.stage.value, version);
    }
    for (stage, version) in &current {
        if let Some(reason) = a.deprecation(version) {
            diags.push(
                Diagnostic::new(
                    codes::DEPRECATED_IN_STAGE,
                    Some(set_by[stage.as_str()].loc.clone()),
                    format!(
                        "stage `{stage}` points at {} `{}` version `{version}`, which is deprecated: {reason}",
                        a.kind.singular(),
                        a.name
                    ),
                )
                .help("promote a newer version, or clear the stage with `version: null`"),
            );
        }
    }
    current
}

/// A stage entry that moves a version of an asset of `kind` into its stage.
struct Entering<'a> {
    kind: Kind,
    /// `models/<name>`.
    id: &'a str,
    entry: &'a manifest::StageEntry,
    version: &'a Text,
    lv: &'a LoadedVersion,
}

/// `policy: promotion:` at the entry `e` that moves `version` into its stage: approvals by
/// others than `by`, days spent in the stage before, and the metric gates, against the version
/// the stage `running` before this entry.
fn promotion_policy(
    entering: &Entering,
    rules: &manifest::Promotion,
    running: Option<(&str, &LoadedVersion)>,
    entered_before: Option<&Text>,
    diags: &mut Vec<Diagnostic>,
) {
    let Entering {
        kind,
        id,
        entry: e,
        version,
        lv: v,
    } = *entering;
    let stage = &e.stage.value;
    let at = || Some(e.stage.loc.clone());
    if let Some(need) = &rules.approvals {
        let by = e.by.as_ref().map(|b| b.value.to_lowercase());
        let others: BTreeSet<String> = e
            .approved_by
            .iter()
            .map(|a| a.value.to_lowercase())
            .filter(|a| Some(a) != by.as_ref())
            .collect();
        if (others.len() as i64) < need.value {
            diags.push(
                Diagnostic::new(
                    codes::POLICY_APPROVALS,
                    at(),
                    format!(
                        "policy `{stage}: approvals: {}`: version `{}` enters `{stage}` with {} approval(s) by someone other than its `by`",
                        need.value,
                        version.value,
                        others.len()
                    ),
                )
                .help("add `approved_by: [...]` with the reviewers, or `mlreg promote --approved-by`"),
            );
        }
    }
    if let (Some(need), Some(since), Some(now)) = (&rules.min_days, entered_before, &e.date)
        && let (Some(d0), Some(d1)) = (day(&since.value), day(&now.value))
        && d1 - d0 < need.value
    {
        diags.push(Diagnostic::new(
                codes::POLICY_TIME,
                at(),
                format!(
                    "policy `{stage}: min_days: {}`: version `{}` entered the stage before on {}, {} day(s) before this entry",
                    need.value,
                    version.value,
                    since.value,
                    d1 - d0
                ),
            ));
    }
    // Metrics are measured on models; other kinds pass through the gates.
    let gates = match kind {
        Kind::Model => rules.gates.as_slice(),
        _ => &[],
    };
    for g in gates {
        if !g.assets.is_empty() && !g.assets.iter().any(|p| matches_pattern(id, &p.value)) {
            continue;
        }
        let metric = &g.metric.value;
        let on = |lv: &LoadedVersion, i: usize| measured(lv, metric, &g.data[i].value);
        let rule_text = |rule: &str| {
            format!(
                "policy `{stage}` gate `{metric}` on {} {rule}",
                g.data
                    .iter()
                    .map(|d| d.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        };
        let missing = || {
            Diagnostic::new(
                codes::POLICY_METRIC_FLOOR,
                at(),
                format!(
                    "{}: version `{}` has no `{metric}` measured on it in lineage.yaml",
                    rule_text(""),
                    version.value
                ),
            )
        };
        match g.rule {
            manifest::GateRule::Min(floor) | manifest::GateRule::Max(floor) => {
                let min = matches!(g.rule, manifest::GateRule::Min(_));
                match on(v, 0) {
                    None => diags.push(missing()),
                    Some(x) if (min && x < floor) || (!min && x > floor) => {
                        diags.push(Diagnostic::new(
                            codes::POLICY_METRIC_FLOOR,
                            at(),
                            format!(
                                "{}: version `{}` has {x}",
                                rule_text(&format!("{} {floor}", if min { "≥" } else { "≤" })),
                                version.value
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            manifest::GateRule::MaxDrop(drop) => {
                let Some(x) = on(v, 0) else {
                    diags.push(missing());
                    continue;
                };
                if let Some((was, lv)) = running
                    && let Some(y) = on(lv, 0)
                    && x < y - drop
                {
                    diags.push(Diagnostic::new(
                        codes::POLICY_METRIC_REGRESSION,
                        at(),
                        format!(
                            "{}: version `{}` has {x}, version `{was}` (in `{stage}` now) has {y}: a drop of {:.4}",
                            rule_text(&format!("may drop by at most {drop}")),
                            version.value,
                            y - x
                        ),
                    ));
                }
            }
            manifest::GateRule::MaxGap(gap) => match (on(v, 0), on(v, 1)) {
                (Some(x), Some(y)) if (x - y).abs() > gap => diags.push(Diagnostic::new(
                    codes::POLICY_METRIC_GAP,
                    at(),
                    format!(
                        "{}: version `{}` has {x} and {y}, {:.4} apart",
                        rule_text(&format!("may differ by at most {gap}")),
                        version.value,
                        (x - y).abs()
                    ),
                )),
                (Some(_), Some(_)) => {}
                _ => diags.push(missing()),
            },
        }
    }
}

/// The value of `metric` measured on data matching `pattern` (`data/<name>`, any version, or a
/// prefix ending in `*`), the first listed in the version's lineage.
pub fn measured(lv: &LoadedVersion, metric: &str, pattern: &str) -> Option<f64> {
    let lineage = lv.lineage_json.as_ref()?.value();
    let metrics = lineage.get("metrics")?.as_array()?;
    metrics.iter().find_map(|m| {
        let data = m.get("data")?.as_str()?;
        let asset = data.split('@').next().unwrap_or(data);
        (matches_pattern(asset, pattern) && m.get("name")?.as_str()? == metric)
            .then(|| m.get("value")?.as_f64())
            .flatten()
    })
}

/// `id` is `pattern`, or starts with it when it ends in `*`.
fn matches_pattern(id: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => id == pattern,
    }
}

/// The day number of a stage-log date (`YYYY-MM-DD`, or a time on that day).
fn day(date: &str) -> Option<i64> {
    crate::time::epoch(&format!("{}T00:00:00Z", date.get(..10)?)).map(|s| s / 86_400)
}

/// Every cycle in the graph of pinned references, reported once at the reference closing it.
fn cycles(graph: &Graph, edges: &[Vec<(usize, &Loc)>], diags: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: Vec<Option<Mark>> = vec![None; edges.len()];
    let show = |v: usize| {
        let (kind, name, version) = graph.ids[v];
        format!("{}/{name}@{version}", kind.folder())
    };
    for start in (0..edges.len()).filter(|v| !edges[*v].is_empty()) {
        if marks[start].is_some() {
            continue;
        }
        // Iterative DFS: (node, index of the next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Some(Mark::Active);
        while let Some((node, i)) = stack.last_mut() {
            let out = &edges[*node];
            if *i >= out.len() {
                marks[*node] = Some(Mark::Done);
                stack.pop();
                continue;
            }
            let (next, loc) = out[*i];
            *i += 1;
            match marks[next] {
                Some(Mark::Active) => {
                    let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut path: Vec<String> =
                        stack[from..].iter().map(|(n, _)| show(*n)).collect();
                    path.push(show(next));
                    diags.push(Diagnostic::new(
                        codes::LINEAGE_CYCLE,
                        Some(loc.clone()),
                        format!("lineage cycle: {}", path.join(" -> ")),
                    ));
                }
                Some(Mark::Done) => {}
                None => {
                    marks[next] = Some(Mark::Active);
                    stack.push((next, 0));
                }
            }
        }
    }
}

/// Version order: dot-separated parts, numbers numerically and before words; build metadata
/// (`+...`) ignored except as a last tie-break. `10` > `9`, `1.10` > `1.9`, `2.0.0` > `2.0.0-rc1`.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let core = |v: &str| v.split('+').next().unwrap_or("").to_string();
    let (ca, cb) = (core(a), core(b));
    let (ra, pa) = ca
        .split_once('-')
        .map_or((ca.as_str(), None), |(r, p)| (r, Some(p)));
    let (rb, pb) = cb
        .split_once('-')
        .map_or((cb.as_str(), None), |(r, p)| (r, Some(p)));
    parts_cmp(ra, rb)
        .then_with(|| match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => parts_cmp(x, y),
        })
        .then_with(|| a.cmp(b))
}

fn parts_cmp(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// A pre-release (`2.0.0-rc1`, `3-beta`) is never `latest`.
pub fn is_prerelease(v: &str) -> bool {
    let core = v.split('+').next().unwrap_or("");
    core.split_once('-')
        .is_some_and(|(release, _)| release.split('.').all(|p| p.parse::<u64>().is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order_and_latest() {
        let mut v = vec![
            "10",
            "9",
            "1.10",
            "1.9",
            "2.0.0",
            "2.0.0-rc1",
            "2.0.0+build5",
            "a",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "1.9",
                "1.10",
                "2.0.0-rc1",
                "2.0.0",
                "2.0.0+build5",
                "9",
                "10",
                "a"
            ]
        );
        assert!(is_prerelease("2.0.0-rc1"));
        assert!(is_prerelease("3-beta"));
        assert!(!is_prerelease("2.0.0"));
        assert!(!is_prerelease("openmpi4.1.0-cuda11"));
    }
}
