//! The search data: a manifest and content-hashed shards keyed by token prefix, so that a
//! search downloads the manifest and one shard, however large the registry. The manifest is at
//! a fixed path ([`MANIFEST`]), so that the pages that name it do not change when it does.

use super::browse::Facet;
use super::links::asset_href;
use super::ordered_stages;
use crate::publish::hash;
use crate::publish::output::OutputSet;
use crate::publish::plan::Docs;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Where the search manifest is.
pub(super) const MANIFEST: &str = crate::publish::output::SEARCH_MANIFEST;

/// Words that name a kind: a search filter, never a shard key.
pub(super) const KIND_WORDS: [&str; 7] = [
    "model",
    "models",
    "component",
    "components",
    "environment",
    "environments",
    "data",
];

/// Entries a search shard holds before it is split by a longer prefix (about 200 KB).
pub(super) const SHARD_ENTRIES: usize = 1000;

/// The longest shard key: past it, a shard is as small as the data allows.
pub(super) const MAX_SHARD_KEY: usize = 8;

/// A token must be in more assets than this (and a tenth of them) to count as too common.
pub(super) const COMMON_TOKEN_FLOOR: usize = 500;

/// The search data: one shard per two-character token prefix, so that a search downloads the
/// manifest and one shard, not the whole registry.
pub(super) fn search_index(docs: &Docs, stages: &[String], facets: &[Facet], out: &mut OutputSet) {
    // Facet values per asset, inverted once (not looked up per asset: that is quadratic).
    let mut facet_values: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for facet in facets {
        for (value, ids) in &facet.values {
            for id in ids {
                let m = facet_values.entry(id.as_str()).or_default();
                let list = m
                    .entry(facet.name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    items.push(Value::String(value.clone()));
                }
            }
        }
    }
    let mut entries: Vec<(BTreeSet<String>, Value)> = Vec::new();
    for (id, d) in docs {
        let mut text = format!(
            "{id} {} {}",
            d.name,
            d.display_name.clone().unwrap_or_default()
        );
        for (k, v) in &d.tags {
            text.push_str(&format!(" {k} {v}"));
        }
        // Kind words are a filter, not search text: they would put every asset in one shard.
        let tokens: BTreeSet<String> = text
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty() && !KIND_WORDS.contains(t))
            .map(str::to_string)
            .collect();
        let description: Option<String> = d
            .description
            .as_ref()
            .map(|s| s.chars().take(160).collect());
        let entry = serde_json::json!({
            "n": id, "h": asset_href(id), "k": d.kind, "l": d.latest,
            "s": ordered_stages(d, stages).map(|(s, v)| format!("{s} {v}")).collect::<Vec<_>>().join(", "),
            "d": description, "t": tokens, "f": facet_values.remove(id.as_str()).unwrap_or_default(),
        });
        entries.push((tokens, entry));
    }
    // Tokens in more than a tenth of a large registry say little and would make one shard hold
    // everything: they are matched, but never pick the shard.
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for (tokens, _) in &entries {
        for t in tokens {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let limit = (entries.len() / 10).max(COMMON_TOKEN_FLOOR);
    let common: BTreeSet<String> = df
        .iter()
        .filter(|(_, n)| **n > limit)
        .map(|(t, _)| t.to_string())
        .collect();
    let keyed: Vec<(Vec<&str>, &Value)> = entries
        .iter()
        .map(|(tokens, entry)| {
            (
                tokens
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !common.contains(*t))
                    .collect(),
                entry,
            )
        })
        .collect();
    let mut shards: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let all: Vec<usize> = (0..keyed.len()).collect();
    let mut firsts: BTreeSet<String> = BTreeSet::new();
    for (tokens, _) in &keyed {
        firsts.extend(tokens.iter().map(|t| t.chars().take(2).collect::<String>()));
    }
    for key in firsts {
        shard(&key, &all, &keyed, &mut shards);
    }
    let mut manifest_shards = serde_json::Map::new();
    for (key, entries) in shards {
        let bytes = hash::canonical_json(&Value::Array(entries));
        let path = format!(
            "search/{}-{}.json",
            key.replace('$', "_"),
            &hash::sha256(&bytes)[..16]
        );
        manifest_shards.insert(key, Value::String(path.clone()));
        out.bytes(path, bytes);
    }
    let manifest =
        hash::canonical_json(&serde_json::json!({ "shards": manifest_shards, "common": common }));
    out.bytes(MANIFEST, manifest);
}

/// The entries with a token that starts with `prefix`, as one shard, or split by a longer
/// prefix while the shard is too large (`prefix$` holds the entries whose token is exactly
/// `prefix`). The client picks the one key that prefixes its word.
pub(super) fn shard(
    prefix: &str,
    candidates: &[usize],
    keyed: &[(Vec<&str>, &Value)],
    shards: &mut BTreeMap<String, Vec<Value>>,
) {
    let members: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| keyed[*i].0.iter().any(|t| t.starts_with(prefix)))
        .collect();
    if members.is_empty() {
        return;
    }
    if members.len() <= SHARD_ENTRIES || prefix.len() >= MAX_SHARD_KEY {
        shards.insert(
            prefix.to_string(),
            members.iter().map(|i| keyed[*i].1.clone()).collect(),
        );
        return;
    }
    let mut children: BTreeSet<String> = BTreeSet::new();
    let mut exact = Vec::new();
    for i in &members {
        for t in keyed[*i].0.iter().filter(|t| t.starts_with(prefix)) {
            if t.len() == prefix.len() {
                exact.push(*i);
            } else {
                children.insert(t[..prefix.len() + 1].to_string());
            }
        }
    }
    if !exact.is_empty() {
        exact.dedup();
        shards.insert(
            format!("{prefix}$"),
            exact.iter().map(|i| keyed[*i].1.clone()).collect(),
        );
    }
    for child in children {
        shard(&child, &members, keyed, shards);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::index::AssetDoc;
    use crate::publish::output::Content;

    pub(super) fn doc(id: &str) -> AssetDoc {
        serde_json::from_value(serde_json::json!({
            "api_version": "1.0", "id": id, "kind": "model", "name": id.split('/').nth(1).unwrap(),
            "deprecated": null, "latest": "1", "stages": {}, "history": [], "order": ["1"], "versions": {},
            "tags": {"team": "risk"},
        }))
        .unwrap()
    }

    /// 30,000 assets named like real registries do (shared prefixes, numbers): every shard stays
    /// small, and the lookup the search script does finds every asset by each of its words.
    #[test]
    pub(super) fn search_shards_stay_small_at_scale() {
        let words = [
            "credit", "churn", "fraud", "demand", "iris", "bert", "resnet", "xgb",
        ];
        let mut docs = BTreeMap::new();
        for i in 0..30_000 {
            let id = format!(
                "models/{}-{}-{:05}",
                words[i % words.len()],
                words[(i / 8) % words.len()],
                i
            );
            docs.insert(id.clone(), std::sync::Arc::new(doc(&id)));
        }
        let mut out = OutputSet::default();
        search_index(&docs, &[], &[], &mut out);
        let manifest_path = MANIFEST;
        let bytes = |p: &str| match &out.files[p] {
            Content::Bytes(b) => b.clone(),
            Content::File(..) | Content::Deferred(_) => unreachable!(),
        };
        let manifest: Value = serde_json::from_slice(&bytes(manifest_path)).unwrap();
        let shards = manifest["shards"].as_object().unwrap();
        assert!(
            manifest["common"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "team"),
            "a token in every asset is common"
        );
        let largest = shards
            .values()
            .map(|p| bytes(p.as_str().unwrap()).len())
            .max()
            .unwrap();
        let first_search = bytes(manifest_path).len() + largest;
        assert!(
            first_search < 512 * 1024,
            "first search downloads {first_search} bytes"
        );
        // The client's lookup: the one key that prefixes the word, else `word$`.
        for (n, id) in docs.keys().enumerate().filter(|(n, _)| n % 97 == 0) {
            let number = id.rsplit('-').next().unwrap().to_string();
            let key = (2..=number.len().min(8))
                .map(|k| number[..k].to_string())
                .find(|k| shards.contains_key(k))
                .or_else(|| {
                    let exact = format!("{number}$");
                    shards.contains_key(&exact).then_some(exact)
                });
            let key = key.unwrap_or_else(|| panic!("no shard for {number} (asset {n})"));
            let shard: Value =
                serde_json::from_slice(&bytes(shards[&key].as_str().unwrap())).unwrap();
            assert!(
                shard
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["n"] == id.as_str()),
                "{id} not in shard {key}"
            );
        }
    }
}
