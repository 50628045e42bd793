//! The resolved registry: what `resolve` builds from checked manifests once every reference,
//! stage and version is known. No I/O, no `Deserialize`: nothing reaches these types except
//! through `resolve`.

use crate::diag::LintTable;
use crate::registry::kind::Kind;
use std::collections::BTreeMap;

/// `(kind, name, version)` of one version.
pub type VersionId = (Kind, String, String);

#[derive(Debug)]
pub struct Registry {
    pub name: String,
    pub stages: Vec<String>,
    pub labels: Vec<String>,
    pub assets: BTreeMap<(Kind, String), Asset>,
    /// The level `registry.yaml` sets for warnings, by code id.
    pub lints: LintTable,
}

#[derive(Debug)]
pub struct Asset {
    pub kind: Kind,
    pub name: String,
    /// Sorted oldest to newest by version order.
    pub versions: Vec<String>,
    pub latest: Option<String>,
    /// The version each stage points at now (absent: never set or cleared).
    pub stages: BTreeMap<String, String>,
    /// Each version's references into this registry, by the text written (`environments/e@latest`),
    /// pinned to one version: what its published documents say in their place.
    pub pins: BTreeMap<String, Pins>,
    /// The level `asset.yaml` sets for warnings in this asset's folder.
    pub lints: LintTable,
}

impl Asset {
    /// The versions `version` refers to, sorted, each once.
    pub fn references(&self, version: &str) -> Vec<VersionId> {
        let mut refs: Vec<VersionId> = self
            .pins
            .get(version)
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        refs.sort();
        refs.dedup();
        refs
    }
}

/// One version's pins, by the text written, sorted: a slice rather than a map, because a
/// version has a handful and a registry has 100,000 versions (a map's node holds eleven).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pins(Box<[(String, VersionId)]>);

impl Pins {
    pub fn get(&self, text: &str) -> Option<&VersionId> {
        let at = self
            .0
            .binary_search_by(|(t, _)| t.as_str().cmp(text))
            .ok()?;
        Some(&self.0[at].1)
    }

    pub fn values(&self) -> impl Iterator<Item = &VersionId> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut VersionId)> {
        self.0.iter_mut().map(|(t, v)| (&*t, v))
    }
}

impl From<BTreeMap<String, VersionId>> for Pins {
    fn from(map: BTreeMap<String, VersionId>) -> Pins {
        Pins(map.into_iter().collect())
    }
}

impl Registry {
    pub fn version_count(&self) -> usize {
        self.assets.values().map(|a| a.versions.len()).sum()
    }

    /// Stages, then labels: every name `@<name>` may take.
    pub fn selectors(&self) -> Vec<String> {
        self.stages.iter().chain(&self.labels).cloned().collect()
    }
}
