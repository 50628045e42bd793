//! Whether a root is one to act on: signed by the keys this client trusts (given, pinned in
//! its cache, or pinned on first use), reached through the published chain of key sets when
//! they rotated, not older than a root already seen for the registry (rollback, stale mirror),
//! and not expired (freeze). What was seen is kept per registry name in the cache, so every
//! mirror of a registry is held to what any of them served.

use super::Source;
use crate::publish::index::{self, Root, Signature, Trust, TrustDoc};
use std::path::{Path, PathBuf};

/// What a client remembers of a registry.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// The highest serial seen.
    pub serial: u64,
    /// The key set pinned (the last one verified), if the registry is signed.
    pub trust: Option<Trust>,
}

/// The record of what was seen of registry `name`, under the cache.
pub fn seen_path(cache: &Path, name: &str) -> PathBuf {
    cache.join("trust").join(format!(
        "{}.json",
        crate::publish::hash::sha256(name.as_bytes())
    ))
}

/// Check `root` (as `source` served it) and return the record to keep if it is accepted.
/// `given`: keys from `--trusted-key`; `now`: seconds since the epoch. Notes go to `notes`.
pub fn check(
    root: &Root,
    source: &Source,
    seen: &Seen,
    given: &[String],
    now: i64,
    notes: &mut Vec<String>,
) -> Result<Seen, String> {
    let name = super::escape(&root.registry.name).into_owned();
    let trust = match &root.trust {
        None => {
            if !given.is_empty() || seen.trust.is_some() {
                return Err(format!(
                    "registry {name} is signed (its keys are {}), but this root from {} is not: refused",
                    if given.is_empty() {
                        "pinned in the cache"
                    } else {
                        "given with --trusted-key"
                    },
                    source.location()
                ));
            }
            notes.push(format!(
                "registry {name} is not signed: its root is trusted as {} serves it",
                source.location()
            ));
            None
        }
        Some(t) => {
            // What every signature of the root covers, computed once.
            let message = index::signed_bytes(root);
            verify(&message, &root.signatures, &t.keys, t.threshold).map_err(|e| {
                format!(
                    "the root of registry {name} from {}: {e}",
                    source.location()
                )
            })?;
            if !given.is_empty() {
                if !root
                    .signatures
                    .iter()
                    .any(|s| given.contains(&s.key) && verify_one(&message, s).is_ok())
                {
                    return Err(format!(
                        "the root of registry {name} from {} is not signed by a key given with --trusted-key",
                        source.location()
                    ));
                }
            } else if let Some(pinned) = &seen.trust {
                follow(pinned, t, source, &name)?;
            } else {
                notes.push(format!(
                    "registry {name}: trusting its {} key(s) on first use ({}); give them with --trusted-key to be sure",
                    t.keys.len(),
                    t.keys.join(", ")
                ));
            }
            Some(t.clone())
        }
    };
    if root.serial < seen.serial {
        return Err(format!(
            "registry {name} from {}: serial {} is older than serial {} already seen: a rollback, or a stale copy; refused",
            source.location(),
            root.serial,
            seen.serial
        ));
    }
    if let Some(expires) = &root.expires {
        let at = crate::time::epoch(expires).ok_or_else(|| {
            format!(
                "registry {name}: `expires` is not a time: {}",
                super::escape(expires)
            )
        })?;
        if at <= now {
            let since = root.signed.as_deref().map_or("before it expired", |s| s);
            return Err(format!(
                "registry {name} has not been republished since {}: its root expired at {} ({}); refused",
                super::escape(since),
                super::escape(expires),
                source.location()
            ));
        }
    }
    Ok(Seen {
        serial: root.serial.max(seen.serial),
        trust: trust.or_else(|| seen.trust.clone()),
    })
}

/// From the pinned key set to `to`, one published key set at a time, each signed by a
/// threshold of the set before it and of its own keys.
fn follow(pinned: &Trust, to: &Trust, source: &Source, name: &str) -> Result<(), String> {
    if to.version < pinned.version {
        return Err(format!(
            "registry {name}: its root uses key set {}, older than key set {} already trusted: refused",
            to.version, pinned.version
        ));
    }
    if to.version == pinned.version {
        if to != pinned {
            return Err(format!(
                "registry {name}: key set {} is not the one trusted before: refused",
                to.version
            ));
        }
        return Ok(());
    }
    // A chain longer than this is not a rotation anyone made.
    if to.version - pinned.version > 1000 {
        return Err(format!(
            "registry {name}: key set {} is too far ahead",
            to.version
        ));
    }
    let mut current = pinned.clone();
    for version in pinned.version + 1..=to.version {
        let path = index::trust_path(version);
        let bytes = source.get(&path, 1 << 20)?;
        let doc: TrustDoc = super::parse_document(&path, &bytes)?;
        if doc.trust.version != version || doc.registry != name {
            return Err(format!(
                "{path} is not key set {version} of registry {name}"
            ));
        }
        let message = index::signed_bytes(&doc);
        verify(&message, &doc.signatures, &current.keys, current.threshold)
            .map_err(|e| format!("{path}, by the keys of set {}: {e}", current.version))?;
        verify(
            &message,
            &doc.signatures,
            &doc.trust.keys,
            doc.trust.threshold,
        )
        .map_err(|e| format!("{path}, by its own keys: {e}"))?;
        current = doc.trust;
    }
    if &current != to {
        return Err(format!(
            "registry {name}: the root's key set {} is not the one published in the chain",
            to.version
        ));
    }
    Ok(())
}

/// At least `threshold` distinct keys of `keys` signed `message`.
fn verify(
    message: &[u8],
    signatures: &[Signature],
    keys: &[String],
    threshold: usize,
) -> Result<(), String> {
    let mut good = std::collections::BTreeSet::new();
    for s in signatures.iter().filter(|s| keys.contains(&s.key)) {
        if verify_one(message, s).is_ok() {
            good.insert(s.key.as_str());
        }
    }
    if good.len() < threshold.max(1) {
        return Err(format!(
            "{} valid signature(s) of the {threshold} needed",
            good.len()
        ));
    }
    Ok(())
}

fn verify_one(message: &[u8], s: &Signature) -> Result<(), String> {
    let key = minisign_verify::PublicKey::from_base64(&s.key).map_err(|e| e.to_string())?;
    let signature = minisign_verify::Signature::decode(&s.signature).map_err(|e| e.to_string())?;
    key.verify(message, &signature, false)
        .map_err(|e| e.to_string())
}

/// Read what was seen of a registry (nothing, if the record is missing or unreadable).
pub fn load(cache: &Path, name: &str) -> Seen {
    std::fs::read(seen_path(cache, name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Keep what was seen, with the rest of the resolution (see `Cache::stage`).
pub fn store(cache: &super::cache::Cache, name: &str, seen: &Seen) {
    cache.stage(
        seen_path(cache.dir(), name),
        serde_json::to_vec(seen).expect("serializes"),
    );
}

#[cfg(test)]
mod tests {
    use crate::client::{escape, parse_document, unsafe_char};
    use crate::publish::index::{self, AssetDoc, Bin, Root, Snapshot};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any bytes: every document parser answers, never panics.
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_document::<Root>("r", &bytes);
            let _ = parse_document::<Snapshot>("s", &bytes);
            let _ = parse_document::<Bin>("b", &bytes);
            let _ = parse_document::<AssetDoc>("a", &bytes);
        }

        /// JSON that looks like a root, with any api_version and any signatures: parsed or
        /// refused, and an unknown major version always refused.
        #[test]
        fn roots_with_any_version_and_signatures(
            version in "\\PC{0,8}",
            key in "\\PC{0,60}",
            signature in "\\PC{0,200}",
            serial in any::<u64>(),
        ) {
            let root = serde_json::json!({
                "api_version": version, "serial": serial,
                "registry": { "name": "r", "stages": [], "workspaces": [] },
                "snapshot": { "path": "snapshots/x.json", "sha256": "0".repeat(64), "size": 1 },
                "trust": { "version": 1, "keys": [key.clone()], "threshold": 1 },
                "signatures": [ { "key": key, "signature": signature } ],
            });
            let bytes = serde_json::to_vec(&root).unwrap();
            if let Ok(r) = parse_document::<Root>("registry.json", &bytes) {
                prop_assert_eq!(index::major(&version), Some(1));
                let source =
                    crate::client::Source::Folder(std::path::PathBuf::from("/nonexistent"));
                let mut notes = Vec::new();
                // Random signatures never verify.
                let seen = super::Seen::default();
                prop_assert!(super::check(&r, &source, &seen, &[], 0, &mut notes).is_err());
            }
        }

        /// Times: any text is parsed or refused; what the protocol writes comes back.
        #[test]
        fn times_round_trip(text in "\\PC{0,24}", epoch in 0i64..253_402_300_799) {
            let _ = crate::time::epoch(&text);
            prop_assert_eq!(crate::time::epoch(&crate::time::rfc3339(epoch)), Some(epoch));
        }

        /// Escaped text holds no character a terminal would act on.
        #[test]
        fn escaped_text_is_inert(text in "\\PC{0,40}|[\\x00-\\x1f\\x7f\\u{202a}-\\u{202e}a-z]{0,40}") {
            prop_assert!(!escape(&text).chars().any(unsafe_char));
        }
    }
}
