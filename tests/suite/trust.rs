//! Trust, tested as an attacker would: copies of a build with one mutation at a time, the
//! hashes re-chained up to the root where the attack would do so, and a root re-signed with
//! the attacker's key where that is the attack. Each case: the exact error, the exit status,
//! and a cache left as it was.

use crate::util::{Run, copy_dir, repo, run_with, tree};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scratch folder with the sample registry and a key pair made by `mlreg keygen`.
struct Lab {
    t: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            t: tempfile::tempdir().unwrap(),
        };
        copy_dir(&repo().join("registry"), &lab.path("registry"));
        lab
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.t.path().join(rel)
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_with(self.t.path(), args, env, Duration::from_secs(60))
    }

    /// `mlreg keygen` into NAME.key / NAME.pub: the secret key's text and the public key.
    fn keygen(&self, name: &str) -> (String, String) {
        let out = self.run(&["keygen", "--out", name, "--no-password"], &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let public = out.stdout.trim().to_string();
        let secret = std::fs::read_to_string(self.path(&format!("{name}.key"))).unwrap();
        (secret, public)
    }

    /// Sign with `keys` (public keys) from now on.
    fn trust(&self, keys: &[&str]) {
        let path = self.path("registry/registry.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.split("trust:").next().unwrap().to_string();
        std::fs::write(
            &path,
            format!("{text}trust:\n  keys: [{}]\n", keys.join(", ")),
        )
        .unwrap();
    }

    fn build(&self, out: &str, secrets: &[&str], env: &[(&str, &str)]) -> Run {
        let secrets = secrets.join("");
        let mut env = env.to_vec();
        env.push(("MLREG_SIGNING_KEY", &secrets));
        self.run(&["build", "registry", "--out", out], &env)
    }

    fn card(&self, text: &str) {
        let card = self.path("registry/models/credit-default/3/README.md");
        let original =
            std::fs::read_to_string(repo().join("registry/models/credit-default/3/README.md"))
                .unwrap();
        std::fs::write(card, format!("{original}\n{text}\n")).unwrap();
    }

    /// `mlreg resolve models/credit-default@prod` against `index`, with the lab's cache.
    fn resolve(&self, index: &str, extra: &[&str]) -> Run {
        let cache = self.path("cache");
        let mut args = vec![
            "resolve",
            "models/credit-default@prod",
            "--index",
            index,
            "--cache",
            cache.to_str().unwrap(),
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        self.run(&args, &[])
    }

    /// The cache's files and their hashes.
    fn cache(&self) -> std::collections::BTreeMap<String, String> {
        tree(&self.path("cache"))
            .into_iter()
            .map(|(k, v)| (k, crate::util::sha256_hex(&v)))
            .collect()
    }

    /// A copy of the build `from` to tamper with.
    fn copy(&self, from: &str, to: &str) -> PathBuf {
        copy_dir(&self.path(from), &self.path(to));
        self.path(to)
    }
}

fn read(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
}

/// Write `value` content-addressed under `prefix` (`<prefix>/<sha256>.json`) and return its
/// reference.
fn put(dir: &Path, prefix: &str, value: &Value) -> Value {
    let bytes = serde_json::to_vec(value).unwrap();
    let sha = crate::util::sha256_hex(&bytes);
    let rel = format!("{prefix}/{sha}.json");
    std::fs::create_dir_all(dir.join(prefix)).unwrap();
    std::fs::write(dir.join(&rel), &bytes).unwrap();
    serde_json::json!({ "path": rel, "sha256": sha, "size": bytes.len() })
}

/// Mutate the documents of a build and re-chain every hash up to a new root (left unsigned:
/// `sign` re-signs it). `at` picks what to mutate: "snapshot", "bin" or "doc" (the
/// credit-default asset document); the root itself is mutated by the caller.
fn rechain(dir: &Path, at: &str, mutate: impl FnOnce(&mut Value)) -> Value {
    let mut root = read(dir, "registry.json");
    let mut snapshot = read(dir, root["snapshot"]["path"].as_str().unwrap());
    let id = "models/credit-default";
    let bin_name = snapshot["bins"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, r)| {
            read(dir, r["path"].as_str().unwrap())["assets"]
                .get(id)
                .is_some()
        })
        .map(|(k, _)| k.clone())
        .unwrap();
    let mut bin = read(dir, snapshot["bins"][&bin_name]["path"].as_str().unwrap());
    let mut doc = read(dir, bin["assets"][id]["doc"]["path"].as_str().unwrap());
    match at {
        "doc" => mutate(&mut doc),
        "bin" => mutate(&mut bin),
        "snapshot" => mutate(&mut snapshot),
        other => panic!("{other}"),
    }
    bin["assets"][id]["doc"] = put(dir, "assets/models/credit-default", &doc);
    snapshot["bins"][&bin_name] = put(dir, "bins", &bin);
    root["snapshot"] = put(dir, "snapshots", &snapshot);
    root.as_object_mut().unwrap().remove("signatures");
    root
}

/// The prod version's document inside an asset document.
fn prod(doc: &mut Value) -> &mut Value {
    let v = doc["stages"]["prod"].as_str().unwrap().to_string();
    &mut doc["versions"][v]
}

/// Recompute a version's digest as the protocol defines it (what a careful attacker does).
fn redigest(v: &mut Value) {
    let files: Vec<mlreg::publish::index::FileEntry> =
        serde_json::from_value(v["files"].clone()).unwrap();
    let lineage = (!v["lineage"].is_null()).then(|| v["lineage"].clone());
    v["digest"] = Value::String(mlreg::publish::index::digest(
        &v["spec"],
        lineage.as_ref(),
        &files,
    ));
}

/// Sign `root` with the secret key `secret` (the attacker's, or a stolen one) and write it.
fn sign(dir: &Path, mut root: Value, secret: &str, public: &str) {
    root.as_object_mut().unwrap().remove("signatures");
    let message = serde_json::to_vec(&root).unwrap();
    let sk = minisign::SecretKeyBox::from_string(secret)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
    let signature = minisign::sign(None, &sk, std::io::Cursor::new(message), None, None).unwrap();
    root["signatures"] = serde_json::json!([{ "key": public, "signature": signature.to_string() }]);
    std::fs::write(
        dir.join("registry.json"),
        serde_json::to_vec(&root).unwrap(),
    )
    .unwrap();
}

fn write_root(dir: &Path, root: &Value) {
    std::fs::write(dir.join("registry.json"), serde_json::to_vec(root).unwrap()).unwrap();
}

/// Refused with exit 2, the message containing `expect`, and the cache as it was.
fn refused(lab: &Lab, index: &Path, expect: &str, extra: &[&str]) {
    let before = lab.cache();
    let out = lab.resolve(index.to_str().unwrap(), extra);
    assert_eq!(out.code, 2, "{expect}: {}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(expect),
        "wanted `{expect}` in: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\x1b'),
        "a raw escape reached the terminal"
    );
    assert_eq!(lab.cache(), before, "{expect}: the cache changed");
}

/// Signed roots: trusted on first use, then held to: rollback, a stale copy, an unsigned or
/// re-signed root, an expired one, and key sets that change without the old keys' consent.
#[test]
fn signed_roots_refuse_rollback_freeze_and_foreign_keys() {
    let lab = Lab::new();
    let (k1, p1) = lab.keygen("k1");
    let (k2, p2) = lab.keygen("k2");
    let (evil, p_evil) = lab.keygen("evil");
    lab.trust(&[&p1]);
    // No secret key at hand: nothing is built.
    let unsigned = lab.build("v1", &[], &[]);
    assert_eq!(unsigned.code, 2, "{}", unsigned.stderr);
    assert!(
        unsigned.stderr.contains("0 of them are at hand"),
        "{}",
        unsigned.stderr
    );
    assert!(!lab.path("v1").exists());
    assert_eq!(lab.build("v1", &[&k1], &[]).code, 0);
    lab.copy("v1", "v2");
    lab.card("Reviewed again.");
    let second = lab.build("v2", &[&k1], &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stdout.contains("serial 2"), "{}", second.stdout);

    // First use: the keys are pinned, and said so; the second time, silently.
    let first = lab.resolve(lab.path("v2").to_str().unwrap(), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("trusting its 1 key(s) on first use"),
        "{}",
        first.stderr
    );
    assert!(first.stderr.contains(&p1));
    let again = lab.resolve(lab.path("v2").to_str().unwrap(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("first use"), "{}", again.stderr);

    // Rollback: serial 1 after serial 2, properly signed, is refused.
    refused(
        &lab,
        &lab.path("v1"),
        "serial 1 is older than serial 2 already seen",
        &[],
    );
    // A stale mirror listed first is passed over for a fresh one.
    let v1 = lab.path("v1");
    let stale = lab.resolve(
        v1.to_str().unwrap(),
        &["--mirror", lab.path("v2").to_str().unwrap(), "--json"],
    );
    assert_eq!(stale.code, 0, "{}", stale.stderr);
    let served: Value = serde_json::from_str(&stale.stdout).unwrap();
    assert!(
        served["source"].as_str().unwrap().ends_with("v2"),
        "{}",
        stale.stdout
    );

    // Unsigned, or signed by another key, or a key set swapped for the attacker's.
    let plain = lab.copy("v2", "plain");
    let mut root = read(&plain, "registry.json");
    for k in ["signatures", "trust", "expires", "signed"] {
        root.as_object_mut().unwrap().remove(k);
    }
    write_root(&plain, &root);
    refused(
        &lab,
        &plain,
        "is signed (its keys are pinned in the cache), but this root",
        &[],
    );
    let forged = lab.copy("v2", "forged");
    let root = rechain(&forged, "doc", |doc| {
        prod(doc)["files"][0]["size"] = serde_json::json!(1);
    });
    sign(&forged, root.clone(), &evil, &p_evil);
    refused(&lab, &forged, "0 valid signature(s) of the 1 needed", &[]);
    let mut swapped = root;
    swapped["trust"]["keys"] = serde_json::json!([p_evil]);
    sign(&forged, swapped.clone(), &evil, &p_evil);
    refused(
        &lab,
        &forged,
        "key set 1 is not the one trusted before",
        &[],
    );
    // A rotation the old keys did not sign: key set 2 of the attacker's key alone.
    swapped["trust"]["version"] = serde_json::json!(2);
    let doc = serde_json::json!({
        "api_version": "1.0", "registry": "contoso-ml", "version": 2,
        "keys": [p_evil], "threshold": 1,
    });
    let message = serde_json::to_vec(&doc).unwrap();
    let sk = minisign::SecretKeyBox::from_string(&evil)
        .unwrap()
        .into_unencrypted_secret_key()
        .unwrap();
    let sig = minisign::sign(None, &sk, std::io::Cursor::new(message), None, None).unwrap();
    let mut doc = doc;
    doc["signatures"] = serde_json::json!([{ "key": p_evil, "signature": sig.to_string() }]);
    std::fs::create_dir_all(forged.join("trust")).unwrap();
    std::fs::write(
        forged.join("trust/2.json"),
        serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    sign(&forged, swapped, &evil, &p_evil);
    refused(
        &lab,
        &forged,
        "trust/2.json, by the keys of set 1: 0 valid signature(s)",
        &[],
    );
    // Given keys win over what the cache pinned, and must sign.
    let fresh = lab.resolve(
        lab.path("v2").to_str().unwrap(),
        &["--trusted-key", &p_evil],
    );
    assert_eq!(fresh.code, 2, "{}", fresh.stderr);
    assert!(
        fresh
            .stderr
            .contains("not signed by a key given with --trusted-key"),
        "{}",
        fresh.stderr
    );

    // A real rotation to k2: refused without k1's consent, then signed by both; the client
    // pinned at set 1 follows the chain.
    lab.trust(&[&p2]);
    lab.card("Rotated.");
    let alone = lab.build("v2", &[&k2], &[]);
    assert_eq!(alone.code, 2, "{}", alone.stderr);
    assert!(
        alone
            .stderr
            .contains("must be signed by 1 of the 1 current key(s)"),
        "{}",
        alone.stderr
    );
    let rotated = lab.build("v2", &[&k1, &k2], &[]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let chain = read(&lab.path("v2"), "trust/2.json");
    assert_eq!(chain["keys"], serde_json::json!([p2]));
    assert_eq!(chain["signatures"].as_array().unwrap().len(), 2);
    let followed = lab.resolve(lab.path("v2").to_str().unwrap(), &[]);
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    // Key set 1 again, after the client saw set 2: refused.
    refused(
        &lab,
        &lab.path("v1"),
        "key set 1, older than key set 2",
        &[],
    );
    // An unchanged rebuild keeps the signed root it finds: nothing is rewritten.
    let root = std::fs::read(lab.path("v2/registry.json")).unwrap();
    assert_eq!(lab.build("v2", &[&k2], &[]).code, 0);
    assert_eq!(std::fs::read(lab.path("v2/registry.json")).unwrap(), root);

    // Frozen: a root signed 40 days ago expired 10 days ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let then = (now - 40 * 86_400).to_string();
    let old = Lab::new();
    old.trust(&[&p1]);
    assert_eq!(
        old.build("public", &[&k1], &[("SOURCE_DATE_EPOCH", &then)])
            .code,
        0
    );
    let out = old.resolve(old.path("public").to_str().unwrap(), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("has not been republished since")
            && out.stderr.contains("its root expired at"),
        "{}",
        out.stderr
    );
}

/// Unsigned registries keep working with a note, and every document is still held to what it
/// must be: a swapped file whose digest was kept, a doubled or reserved path, an unknown major
/// api_version at each level, and names that would drive the terminal.
/// A rebuild with nothing changed is skipped whole, keeping the signed root, only until half
/// of the root's validity is gone: from then on a build signs it again (which takes hours to
/// see, so the moment the record of the build keeps is checked instead).
#[test]
fn an_unchanged_signed_root_is_kept_until_half_its_validity_is_gone() {
    let lab = Lab::new();
    let (k1, p1) = lab.keygen("k1");
    lab.trust(&[&p1]);
    let path = lab.path("registry/registry.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}  expires: 2h\n")).unwrap();
    let cache = lab.path("cache");
    let env = [("MLREG_CACHE", cache.to_str().unwrap())];
    let build = || {
        let r = lab.build("out", &[&k1], &env);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        (r.stdout, read(&lab.path("out"), "registry.json"))
    };
    build();
    let (_, first) = build();
    let (said, kept) = build();
    assert!(
        said.contains("nothing changed since the last build"),
        "{said}"
    );
    assert_eq!(kept, first);
    let record = std::fs::read_dir(cache.join("builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".fresh.json"))
        .unwrap();
    let record = std::fs::read_to_string(record).unwrap();
    let record: Value = serde_json::from_str(record.split_once('\n').unwrap().1).unwrap();
    let signed = epoch(first["signed"].as_str().unwrap());
    assert_eq!(epoch(first["expires"].as_str().unwrap()), signed + 7200);
    assert_eq!(record["kept_until"], signed + 3600, "{record}");
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-30T12:00:00Z`).
fn epoch(text: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn documents_are_held_to_their_digests_paths_and_versions() {
    let lab = Lab::new();
    assert_eq!(lab.build("public", &[], &[]).code, 0);
    let ok = lab.resolve(lab.path("public").to_str().unwrap(), &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.contains("registry contoso-ml is not signed"),
        "{}",
        ok.stderr
    );

    // A file swapped, its entry re-chained, the digest kept.
    let swapped = lab.copy("public", "swapped");
    let evil = b"print('pwned')\n";
    let sha = crate::util::sha256_hex(evil);
    std::fs::write(swapped.join(format!("blobs/sha256/{sha}")), evil).unwrap();
    let root = rechain(&swapped, "doc", |doc| {
        let f = &mut prod(doc)["files"][0];
        f["sha256"] = Value::String(sha.clone());
        f["size"] = serde_json::json!(evil.len());
        f["blob"] = Value::String(format!("blobs/sha256/{sha}"));
    });
    write_root(&swapped, &root);
    refused(&lab, &swapped, "but its content gives sha256:", &[]);

    // Lists a careful attacker re-digests: a path twice, `spec.yaml`, a path that leaves.
    for (case, expect) in [
        ("twice", "is listed twice"),
        ("spec", "is reserved for what pull writes itself"),
        ("escape", "holds control or bidirectional characters"),
        ("bidi", "holds control or bidirectional characters"),
        ("leaves", "would leave the destination folder"),
    ] {
        let dir = lab.copy("public", case);
        let root = rechain(&dir, "doc", |doc| {
            let v = prod(doc);
            let mut first = v["files"][0].clone();
            first["path"] = Value::String(match case {
                "twice" => v["files"][0]["path"].as_str().unwrap().to_string(),
                "spec" => "spec.yaml".into(),
                "escape" => "model/\x1b]0;pwned\x07\x1b[2J.py".into(),
                "bidi" => "model/score\u{202e}yp.exe".into(),
                _ => "model/../../outside.py".into(),
            });
            v["files"].as_array_mut().unwrap().push(first);
            redigest(v);
        });
        write_root(&dir, &root);
        refused(&lab, &dir, expect, &[]);
    }

    // api_version 2 at every level.
    for at in ["root", "snapshot", "bin", "doc"] {
        let dir = lab.copy("public", &format!("api-{at}"));
        let mut root = if at == "root" {
            read(&dir, "registry.json")
        } else {
            rechain(&dir, at, |d| d["api_version"] = Value::String("2.0".into()))
        };
        if at == "root" {
            root["api_version"] = Value::String("2.0".into());
        }
        write_root(&dir, &root);
        refused(
            &lab,
            &dir,
            "has api_version `2.0`; this mlreg reads 1.x",
            &[],
        );
    }
}

/// A previous build whose bin lists an asset under one id and whose document holds another is
/// refused by both ways of reading it: the whole walk (`check --against`) and the listing that
/// a build reads only the changed documents through (`build --against`).
#[test]
fn a_previous_build_with_a_document_under_another_id_is_refused() {
    let lab = Lab::new();
    assert_eq!(lab.build("public", &[], &[]).code, 0);
    let dir = lab.copy("public", "renamed");
    let root = rechain(&dir, "doc", |doc| {
        doc["id"] = Value::String("models/someone-else".into());
    });
    write_root(&dir, &root);
    let expect = "models/credit-default: its bin lists it as `models/credit-default`, but its \
                  document holds `models/someone-else`";
    let check = lab.run(&["check", "registry", "--against", "renamed"], &[]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stderr.contains(expect), "{}", check.stderr);
    let build = lab.run(
        &["build", "registry", "--out", "next", "--against", "renamed"],
        &[],
    );
    assert_eq!(build.code, 2, "{}", build.stdout);
    assert!(build.stderr.contains(expect), "{}", build.stderr);
    assert!(!lab.path("next").exists());
}

/// Every version of the sample resolves: each digest a client recomputes from the published
/// documents is the one the build wrote (floats included, which must survive the round trip).
#[test]
fn every_sample_version_verifies() {
    let lab = Lab::new();
    assert_eq!(lab.build("public", &[], &[]).code, 0);
    let public = lab.path("public");
    let root = read(&public, "registry.json");
    let snapshot = read(&public, root["snapshot"]["path"].as_str().unwrap());
    let mut count = 0;
    for bin_ref in snapshot["bins"].as_object().unwrap().values() {
        let bin = read(&public, bin_ref["path"].as_str().unwrap());
        for (asset, entry) in bin["assets"].as_object().unwrap() {
            let doc = read(&public, entry["doc"]["path"].as_str().unwrap());
            for version in doc["versions"].as_object().unwrap().keys() {
                let id = format!("{asset}@{version}");
                let cache = lab.path("cache");
                let out = lab.run(
                    &[
                        "resolve",
                        &id,
                        "--index",
                        public.to_str().unwrap(),
                        "--cache",
                        cache.to_str().unwrap(),
                    ],
                    &[],
                );
                assert_eq!(out.code, 0, "{id}: {}", out.stderr);
                count += 1;
            }
        }
    }
    assert_eq!(count, 17, "versions");
}

/// A server that never ends a body (no length, zeros after the right bytes): the client stops
/// reading where the document or file must end, says so, and writes nothing.
#[test]
fn endless_bodies_are_cut_off() {
    use crate::util::{Fault, Server};
    let lab = Lab::new();
    assert_eq!(lab.build("public", &[], &[]).code, 0);
    let server = Server::serve(&lab.path("public"));
    let cache = lab.path("cache");
    let args = |dest: &str| {
        vec![
            "pull".to_string(),
            "models/credit-default@prod".into(),
            "--index".into(),
            server.url.clone(),
            "--cache".into(),
            cache.to_str().unwrap().into(),
            "--dest".into(),
            dest.into(),
            "--timeout".into(),
            "5".into(),
        ]
    };
    let run = |dest: &str| {
        let a = args(dest);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        lab.run(&a, &[])
    };
    // A file's blob.
    server.fault("blobs/", Fault::Endless);
    let started = std::time::Instant::now();
    let out = run("model");
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("more than"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !lab.path("model").exists(),
        "a refused pull left its folder"
    );
    let sent: Vec<String> = server
        .take_requests()
        .into_iter()
        .filter(|r| r.contains("endless"))
        .collect();
    assert!(!sent.is_empty());
    for r in &sent {
        let total: usize = r.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(total < 64 << 20, "the client read on: {r}");
    }
    // The root itself, to a client that holds no copy of it (else it revalidates: 304).
    std::fs::remove_dir_all(&cache).unwrap();
    server.faults.lock().unwrap().clear();
    server.fault("registry.json", Fault::Endless);
    let out = run("model");
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("registry.json"), "{}", out.stderr);
    assert!(!lab.path("model").exists());
}
