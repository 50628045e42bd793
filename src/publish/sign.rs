//! Signed roots (`docs/protocol.md`, "Trust"): the secret keys a publisher holds, what a
//! signature covers (a document's canonical JSON without `signatures`), how long a root stays
//! valid, and the chain of key sets (`trust/<version>.json`) that lets a client follow a key
//! rotation: a new key set is signed by a threshold of the old keys and of the new ones.
//!
//! Signing never reads the clock when `SOURCE_DATE_EPOCH` is set; an unchanged republish keeps
//! the root it finds while more than half of its validity is left, so it writes nothing.

use crate::publish::index::{self, Root, Signature, Trust, TrustDoc};
use crate::registry::manifest::TrustConfig;
use std::path::PathBuf;

/// Where a CI job gives the secret keys: the text of one or more minisign `.key` files.
pub const KEY_ENV: &str = "MLREG_SIGNING_KEY";
/// The password of encrypted secret keys.
pub const PASSWORD_ENV: &str = "MLREG_SIGNING_KEY_PASSWORD";

/// The secret keys at hand, each with its public key (base64, as `registry.yaml` lists it).
pub struct Signer {
    keys: Vec<(String, minisign::SecretKey)>,
}

impl Signer {
    /// The keys of `MLREG_SIGNING_KEY` and of each file in `files`.
    pub fn load(files: &[PathBuf]) -> Result<Signer, String> {
        let mut texts = Vec::new();
        if let Ok(text) = std::env::var(KEY_ENV)
            && !text.trim().is_empty()
        {
            texts.push((KEY_ENV.to_string(), text));
        }
        for f in files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read the signing key `{}`: {e}", f.display()))?;
            texts.push((f.display().to_string(), text));
        }
        let password = std::env::var(PASSWORD_ENV).ok();
        let mut keys = Vec::new();
        for (from, text) in texts {
            for boxed in boxes(&text) {
                let sk = secret_key(&boxed, password.as_deref())
                    .map_err(|e| format!("the signing key in {from}: {e}"))?;
                let pk = minisign::PublicKey::from_secret_key(&sk)
                    .map_err(|e| format!("the signing key in {from}: {e}"))?;
                keys.push((pk.to_base64(), sk));
            }
        }
        Ok(Signer { keys })
    }

    /// How many of `keys` this signer holds.
    fn holds(&self, keys: &[String]) -> usize {
        self.keys.iter().filter(|(pk, _)| keys.contains(pk)).count()
    }

    /// A signature by every key held that is among `keys`.
    fn sign(&self, message: &[u8], keys: &[String], what: &str) -> Result<Vec<Signature>, String> {
        let mut out = Vec::new();
        for (pk, sk) in self.keys.iter().filter(|(pk, _)| keys.contains(pk)) {
            let signed = minisign::sign(
                None,
                sk,
                std::io::Cursor::new(message),
                Some(what),
                Some("signature from mlreg"),
            )
            .map_err(|e| format!("cannot sign {what}: {e}"))?;
            out.push(Signature {
                key: pk.clone(),
                signature: signed.to_string(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// The `untrusted comment:` + key line pairs of a text holding one or more `.key` files.
fn boxes(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .windows(2)
        .filter(|w| {
            w[0].starts_with("untrusted comment:") && !w[1].starts_with("untrusted comment:")
        })
        .map(|w| format!("{}\n{}\n", w[0], w[1]))
        .collect()
}

fn secret_key(boxed: &str, password: Option<&str>) -> Result<minisign::SecretKey, String> {
    let parsed = || minisign::SecretKeyBox::from_string(boxed).map_err(|e| e.to_string());
    match parsed()?.into_unencrypted_secret_key() {
        Ok(sk) => Ok(sk),
        // Encrypted: never prompt (this runs in CI), the password comes from the environment.
        Err(_) => match password {
            Some(p) => parsed()?
                .into_secret_key(Some(p.to_string()))
                .map_err(|e| e.to_string()),
            None => Err(format!("it is encrypted: set {PASSWORD_ENV}")),
        },
    }
}

/// A signed root, and the key set document to publish before it when the keys changed.
pub struct Signed {
    pub root: Vec<u8>,
    pub trust_doc: Option<(String, Vec<u8>)>,
}

/// Sign `root` as `config` says, after `previous` (the root the target holds now). `now` is in
/// seconds since the epoch. Without `trust:` the root goes unsigned, unless the target's is
/// signed: clients that pinned its keys would refuse every root after it.
pub fn sign(
    mut root: Root,
    config: Option<&TrustConfig>,
    previous: Option<&Root>,
    signer: &Signer,
    now: i64,
) -> Result<Signed, String> {
    let Some(config) = config else {
        if let Some(t) = previous.and_then(|p| p.trust.as_ref()) {
            return Err(format!(
                "the published registry is signed (key set {}), but registry.yaml has no `trust:`: clients that trust its keys would refuse an unsigned root; keep `trust:`, or rotate to new keys",
                t.version
            ));
        }
        return Ok(Signed {
            root: index::to_bytes(&root),
            trust_doc: None,
        });
    };
    let keys = config.key_set();
    let threshold = config.threshold();
    let validity = config.expires().as_secs() as i64;
    let before = previous.and_then(|p| p.trust.clone());
    let trust = match &before {
        Some(t) if t.keys == keys && t.threshold == threshold => t.clone(),
        Some(t) => Trust {
            version: t.version + 1,
            keys: keys.clone(),
            threshold,
        },
        None => Trust {
            version: 1,
            keys: keys.clone(),
            threshold,
        },
    };
    // Unchanged and far from expiring: the root the target holds is the one to keep.
    let unsigned = |r: &Root| {
        let mut r = r.clone();
        (r.signed, r.expires, r.signatures) = (None, None, Vec::new());
        r.trust = Some(trust.clone());
        index::to_bytes(&r)
    };
    if let Some(p) = previous
        && p.trust.as_ref() == Some(&trust)
        && unsigned(p) == unsigned(&root)
        && kept_until(p, config).is_some_and(|until| now < until)
    {
        return Ok(Signed {
            root: index::to_bytes(p),
            trust_doc: None,
        });
    }
    let held = signer.holds(&keys);
    if held < threshold {
        return Err(format!(
            "registry.yaml asks for roots signed by {threshold} of its {} key(s); {} of them {} at hand: give the secret keys in {KEY_ENV} (or --signing-key FILE)",
            keys.len(),
            held,
            if held == 1 { "is" } else { "are" }
        ));
    }
    let trust_doc = if before.as_ref() == Some(&trust) {
        None
    } else {
        let mut doc = TrustDoc {
            api_version: index::API_VERSION.into(),
            registry: root.registry.name.clone(),
            trust: trust.clone(),
            signatures: Vec::new(),
        };
        let message = index::signed_bytes(&doc);
        let comment = format!(
            "mlreg key set {} of registry {}",
            trust.version, doc.registry
        );
        let mut signatures = signer.sign(&message, &keys, &comment)?;
        if let Some(old) = &before {
            let held_old = signer.holds(&old.keys);
            if held_old < old.threshold {
                return Err(format!(
                    "the keys change (key set {} to {}): the new set must be signed by {} of the {} current key(s), and {held_old} of them are at hand; give the current secret keys too (in {KEY_ENV} or --signing-key)",
                    old.version,
                    trust.version,
                    old.threshold,
                    old.keys.len()
                ));
            }
            for s in signer.sign(&message, &old.keys, &comment)? {
                if !signatures.iter().any(|have| have.key == s.key) {
                    signatures.push(s);
                }
            }
            signatures.sort_by(|a, b| a.key.cmp(&b.key));
        }
        doc.signatures = signatures;
        Some((index::trust_path(trust.version), index::to_bytes(&doc)))
    };
    root.signed = Some(crate::time::rfc3339(now));
    root.expires = Some(crate::time::rfc3339(now.saturating_add(validity)));
    root.trust = Some(trust);
    root.signatures = Vec::new();
    let message = index::signed_bytes(&root);
    let comment = format!(
        "mlreg root of registry {}, serial {}",
        root.registry.name, root.serial
    );
    root.signatures = signer.sign(&message, &keys, &comment)?;
    Ok(Signed {
        root: index::to_bytes(&root),
        trust_doc,
    })
}

/// Until when (seconds since the epoch, excluded) an unchanged republish keeps the signed
/// `root` rather than signing again: while more than half of its validity is left.
pub fn kept_until(root: &Root, config: &TrustConfig) -> Option<i64> {
    let validity = config.expires().as_secs() as i64;
    let expires = root.expires.as_deref().and_then(crate::time::epoch)?;
    Some(expires - validity / 2)
}

/// Now, for signing: `SOURCE_DATE_EPOCH` when set (reproducible builds), else the clock.
pub fn now() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
}

/// A new key pair: the secret key's text and the public key (base64). The secret key is
/// encrypted when `password` is `Some`: with the password given, or one minisign asks for on
/// the terminal.
pub fn keygen(password: Option<Option<String>>) -> Result<(String, String), String> {
    let pair = match password {
        Some(p) => minisign::KeyPair::generate_encrypted_keypair(p),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| format!("cannot make a key pair: {e}"))?;
    let secret = pair
        .sk
        .to_box(Some("mlreg signing key"))
        .map_err(|e| e.to_string())?
        .to_string();
    Ok((secret, pair.pk.to_base64()))
}
