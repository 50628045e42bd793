//! Retention on object storage: what `mlreg gc` may remove from a publish target.
//!
//! Kept: everything the protocol reaches from the target's root and from every root copy in
//! its history (`.mlreg/roots/`) with one of the last `keep` serials or a later one (a publish
//! in flight, or one that lost a race), the manifest and what it lists (the site's files), and
//! every object younger than the grace period (what a publish running now has sent and not yet
//! named). The rest goes. A publish relies only on objects its root names or that it sends
//! again (see `target`), so with a grace period longer than any publish, nothing a reader can
//! reach from a root among the last `keep` disappears.

use crate::client::{Source, parse_root, walk};
use crate::publish::index;
use crate::publish::target::{self, Listed, ObjectTarget};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// What a collection found.
pub struct Collection {
    /// The serial of the target's root.
    pub serial: u64,
    /// The serials whose roots are kept, lowest first.
    pub roots: Vec<u64>,
    /// Objects to remove, with their sizes.
    pub remove: Vec<(String, u64)>,
    /// Objects no kept root names but younger than the grace period.
    pub young: usize,
    /// Objects kept because a kept root or the manifest names them.
    pub named: usize,
    /// Documents read to walk the kept roots (requests beyond the target's own).
    pub documents: usize,
}

/// Decide what to remove from `target` (nothing is removed here). `Ok(None)`: the target holds
/// no root, so nothing there is garbage yet.
pub fn collect(
    target: &ObjectTarget,
    keep: usize,
    grace: Duration,
    now: SystemTime,
) -> Result<Option<Collection>, String> {
    let Some(current) = target.root()? else {
        return Ok(None);
    };
    let root = parse_root(&current.bytes)
        .map_err(|e| format!("{}{}: {e}", target.location(), index::ROOT))?;
    let listed = target.list("")?;
    let lowest = (root.serial + 1).saturating_sub(keep as u64);
    let history: BTreeMap<&str, u64> = listed
        .iter()
        .filter_map(|l| Some((l.rel.as_str(), target::history_serial(&l.rel)?)))
        .collect();
    let source = Source::open(target.location(), Duration::from_secs(60))?;
    let mut named = BTreeSet::from([index::ROOT.to_string(), target::MANIFEST.to_string()]);
    walk(&source, &root.snapshot, &mut named, |_, _| Ok(())).map_err(|e| {
        format!(
            "the target's root (serial {}) does not verify, so nothing is removed: {e}",
            root.serial
        )
    })?;
    let mut roots = BTreeSet::from([root.serial]);
    for (rel, serial) in history.iter().filter(|(_, s)| **s >= lowest) {
        let kept = parse_root(&target.get(rel)?).map_err(|e| format!("{rel}: {e}"))?;
        walk(&source, &kept.snapshot, &mut named, |_, _| Ok(())).map_err(|e| {
            format!(
                "the root of serial {serial} ({rel}) does not verify, so nothing is removed: {e}"
            )
        })?;
        named.insert(rel.to_string());
        roots.insert(*serial);
    }
    let manifest: BTreeMap<String, String> = match target.get(target::MANIFEST) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", target::MANIFEST))?
        }
        Err(_) => BTreeMap::new(),
    };
    // Each snapshot, bin, asset document and used-by page the walks reached was read once.
    let documents = named
        .iter()
        .filter(|p| {
            ["snapshots/", "bins/", "assets/", "usedby/"]
                .iter()
                .any(|d| p.starts_with(d))
        })
        .count();
    named.extend(manifest.into_keys());
    let mut collection = Collection {
        serial: root.serial,
        roots: roots.into_iter().collect(),
        remove: Vec::new(),
        young: 0,
        named: 0,
        documents,
    };
    for Listed {
        rel,
        size,
        modified,
    } in listed
    {
        // Key sets stay forever: a client follows the chain from any of them.
        if named.contains(&rel) || rel.starts_with("trust/") {
            collection.named += 1;
        } else if now.duration_since(modified).unwrap_or_default() < grace {
            collection.young += 1;
        } else {
            collection.remove.push((rel, size));
        }
    }
    Ok(Some(collection))
}
