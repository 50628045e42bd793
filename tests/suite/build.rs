//! `mlreg build`: the index is byte-for-byte reproducible, verifiable by a client that knows
//! only the protocol, valid against its published schemas, written safely, and checked against
//! what was published before.

use crate::util::{Server, copy_dir, pinned, repo, run, sha256_hex, tree};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A copy of the sample registry in a fresh temporary folder, at `<tmp>/registry`.
fn sample() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &tmp.path().join("registry"));
    tmp
}

fn build(cwd: &Path, args: &[&str]) -> crate::util::Run {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    run(cwd, &all)
}

#[test]
fn rebuilds_are_byte_identical_wherever_the_source_is() {
    let a = sample();
    let out = build(a.path(), &["registry", "--out", "public"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let first = tree(&a.path().join("public"));
    assert!(first.len() > 80, "{} files", first.len());

    // Again, into a new folder.
    let out = build(a.path(), &["registry", "--out", "public2"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        first == tree(&a.path().join("public2")),
        "second build differs"
    );

    // From a copy at another path, on one thread.
    let b = tempfile::tempdir().unwrap();
    copy_dir(
        &a.path().join("registry"),
        &b.path().join("elsewhere/deeper/reg"),
    );
    let one_thread = std::process::Command::new(crate::util::mlreg())
        .args(["build", "elsewhere/deeper/reg", "--out", "site"])
        .current_dir(b.path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(one_thread.status.success());
    let third = tree(&b.path().join("site"));
    let differ: Vec<_> = first
        .keys()
        .filter(|k| first.get(*k) != third.get(*k))
        .collect();
    assert!(
        differ.is_empty() && first.len() == third.len(),
        "differs: {differ:?}"
    );
}

#[test]
fn an_unchanged_rebuild_writes_nothing_and_a_change_writes_only_what_changed() {
    use std::os::unix::fs::MetadataExt;
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let stamp = |p: &Path| -> BTreeMap<String, (u64, i64, i64)> {
        tree(p)
            .keys()
            .map(|k| {
                let m = std::fs::metadata(p.join(k)).unwrap();
                (k.clone(), (m.ino(), m.mtime(), m.mtime_nsec()))
            })
            .collect()
    };
    let before = stamp(&t.path().join("public"));
    let again = build(t.path(), &["registry"]);
    assert!(
        again.stdout.contains("serial 1; wrote 0 files (0 bytes)"),
        "{}",
        again.stdout
    );
    assert_eq!(
        before,
        stamp(&t.path().join("public")),
        "an unchanged rebuild touched files"
    );

    // Change one card: a new card blob, asset document (and its copy), bin, snapshot and root,
    // and the version's page.
    let card = t.path().join("registry/models/credit-default/3/README.md");
    let text = std::fs::read_to_string(&card).unwrap();
    std::fs::write(
        &card,
        text.replace(
            "Not for automated rejection.",
            "Never for automated rejection.",
        ),
    )
    .unwrap();
    let changed = build(t.path(), &["registry"]);
    assert!(
        changed.stdout.contains("serial 2; wrote 7 files"),
        "{}",
        changed.stdout
    );
    let after = stamp(&t.path().join("public"));
    let old_root: Value =
        serde_json::from_slice(&tree(&t.path().join("public"))["registry.json"]).unwrap();
    assert_eq!(old_root["serial"], 2);
    // The previous build's snapshot stays readable for clients in the middle of a resolution.
    let kept = before
        .keys()
        .filter(|k| k.starts_with("snapshots/"))
        .all(|k| after.contains_key(k));
    assert!(kept, "the previous snapshot was removed");
    let rewritten = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .count();
    assert_eq!(
        rewritten, 4,
        "only registry.json, the convenience copy, the version page and the marker change in place"
    );
}

#[test]
fn a_registry_with_errors_writes_nothing() {
    let t = sample();
    let spec = t.path().join("registry/models/credit-default/3/spec.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("\ndescription:", "\ndescripton:")).unwrap();
    let out = build(t.path(), &["registry", "--format", "json"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        pinned(&out.stdout),
        vec![(
            "E020".to_string(),
            "registry/models/credit-default/3/spec.yaml:6:1".to_string()
        )]
    );
    assert!(!t.path().join("public").exists());
}

#[test]
fn a_foreign_folder_is_not_replaced_without_force() {
    let t = sample();
    std::fs::create_dir(t.path().join("public")).unwrap();
    std::fs::write(t.path().join("public/mine.txt"), "mine").unwrap();
    let out = build(t.path(), &["registry"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(t.path().join("public/mine.txt")).unwrap(),
        "mine"
    );
    assert_eq!(build(t.path(), &["registry", "--force"]).code, 0);
    assert!(t.path().join("public/registry.json").is_file());
    assert!(
        !t.path().join("public/mine.txt").exists(),
        "--force replaces the folder's contents"
    );
}

#[test]
fn the_output_folder_never_holds_or_sits_in_the_registry() {
    let t = sample();
    for out in [".", "registry/public", "registry"] {
        let r = build(t.path(), &["registry", "--out", out, "--force"]);
        assert_eq!(r.code, 2, "--out {out}: {}", r.stdout);
        assert!(
            r.stderr.contains("must not contain each other"),
            "{}",
            r.stderr
        );
    }
    assert!(t.path().join("registry/registry.yaml").is_file());
}

#[test]
fn source_date_epoch_is_the_only_clock() {
    let t = sample();
    let out = std::process::Command::new(crate::util::mlreg())
        .args(["build", "registry"])
        .current_dir(t.path())
        .env("SOURCE_DATE_EPOCH", "1795877853")
        .output()
        .unwrap();
    assert!(out.status.success());
    let root: Value =
        serde_json::from_slice(&std::fs::read(t.path().join("public/registry.json")).unwrap())
            .unwrap();
    assert_eq!(root["built"], "2026-11-28T14:57:33Z");
    let plain = sample();
    build(plain.path(), &["registry"]);
    let root: Value =
        serde_json::from_slice(&std::fs::read(plain.path().join("public/registry.json")).unwrap())
            .unwrap();
    assert!(root.get("built").is_none());
}

/// A client written from docs/protocol.md alone: fetch over HTTP, verify each document against
/// its parent's sha256 and size, then every blob of every version.
#[test]
fn a_client_verifies_every_byte_and_resolves_an_asset_in_four_fetches() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let server = Server::serve(&t.path().join("public"));
    let get = |rel: &str| -> Vec<u8> {
        let url = format!("{}{rel}", server.url);
        let mut body = Vec::new();
        use std::io::Read;
        ureq::get(&url)
            .call()
            .unwrap()
            .into_body()
            .into_reader()
            .read_to_end(&mut body)
            .unwrap();
        body
    };
    let verified = |r: &Value| -> Vec<u8> {
        let bytes = get(r["path"].as_str().unwrap());
        assert_eq!(
            bytes.len() as u64,
            r["size"].as_u64().unwrap(),
            "size of {}",
            r["path"]
        );
        assert_eq!(
            sha256_hex(&bytes),
            r["sha256"].as_str().unwrap(),
            "sha256 of {}",
            r["path"]
        );
        bytes
    };
    let json = |b: &[u8]| -> Value { serde_json::from_slice(b).unwrap() };

    // Resolve models/credit-default@prod: root, snapshot, bin, asset document.
    let root = json(&get("registry.json"));
    assert_eq!(root["api_version"], "1.0");
    let snapshot = json(&verified(&root["snapshot"]));
    let id = "models/credit-default";
    let bin = json(&verified(
        &snapshot["bins"][&sha256_hex(id.as_bytes())[..2]],
    ));
    let doc = json(&verified(&bin["assets"][id]["doc"]));
    assert_eq!(
        server.take_requests().len(),
        4,
        "resolving one asset must take 4 fetches"
    );
    assert_eq!(doc["stages"]["prod"], "2");
    assert_eq!(doc["stages"]["test"], "3");
    assert_eq!(doc["latest"], "3");

    // The snapshot names bins and nothing else: no document lists every asset.
    assert_eq!(
        snapshot.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["api_version", "bins"]
    );

    // Every asset, every version, every file: sizes and hashes as promised.
    let mut blobs = 0;
    let mut assets = Vec::new();
    // What each version's references say uses it, and what its own document says.
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut used_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (bin_name, bin_ref) in snapshot["bins"].as_object().unwrap() {
        let bin = json(&verified(bin_ref));
        assert_eq!(bin["api_version"], "1.0");
        for (id, entry) in bin["assets"].as_object().unwrap() {
            assert_eq!(
                &sha256_hex(id.as_bytes())[..2],
                bin_name,
                "{id} is in the wrong bin"
            );
            assets.push(id.clone());
            let doc = json(&verified(&entry["doc"]));
            assert_eq!(&doc["id"], id);
            // The bin entry says of the asset what its document says.
            assert_eq!(entry["kind"], doc["kind"], "{id}");
            assert_eq!(entry["name"], doc["name"], "{id}");
            assert_eq!(entry["latest"], doc["latest"], "{id}");
            assert_eq!(entry["stages"], doc["stages"], "{id}");
            assert_eq!(entry["tags"], doc["tags"], "{id}");
            assert_eq!(entry["description"], doc["description"], "{id}");
            assert_eq!(
                entry["versions"].as_u64().unwrap() as usize,
                doc["versions"].as_object().unwrap().len(),
                "{id}"
            );
            assert_eq!(entry["deprecated"], !doc["deprecated"].is_null(), "{id}");
            for (version, v) in doc["versions"].as_object().unwrap() {
                for r in v["references"].as_array().unwrap() {
                    users
                        .entry(format!(
                            "{}@{}",
                            r["id"].as_str().unwrap(),
                            r["version"].as_str().unwrap()
                        ))
                        .or_default()
                        .push(format!("{id}@{version}"));
                }
                let mut all: Vec<String> = serde_json::from_value(v["used_by"].clone()).unwrap();
                if let Some(pages) = v["used_by_pages"].as_array() {
                    all.clear();
                    for page in pages {
                        let page = json(&verified(page));
                        assert_eq!(page["api_version"], "1.0");
                        all.extend(
                            serde_json::from_value::<Vec<String>>(page["used_by"].clone()).unwrap(),
                        );
                    }
                }
                assert_eq!(
                    v["used_by_count"].as_u64().unwrap() as usize,
                    all.len(),
                    "{id}@{version}"
                );
                if !all.is_empty() {
                    used_by.insert(format!("{id}@{version}"), all);
                }
                verified(&v["spec_file"]);
                let mut listed = Vec::new();
                for f in v["files"].as_array().unwrap() {
                    let r = serde_json::json!({"path": f["blob"], "sha256": f["sha256"], "size": f["size"]});
                    let bytes = verified(&r);
                    let source = t
                        .path()
                        .join("registry")
                        .join(id)
                        .join(version)
                        .join(f["path"].as_str().unwrap());
                    assert_eq!(
                        bytes,
                        std::fs::read(source).unwrap(),
                        "{id}@{version} {}",
                        f["path"]
                    );
                    listed.push(f["path"].as_str().unwrap().to_string());
                    blobs += 1;
                }
                if let Some(card) = v["card"].as_object() {
                    verified(&card["blob"]);
                }
                // Every shipped file is listed, sorted; manifests are not.
                let mut on_disk: Vec<String> =
                    tree(&t.path().join("registry").join(id).join(version))
                        .into_keys()
                        .filter(|k| {
                            !["spec.yaml", "lineage.yaml", "README.md"].contains(&k.as_str())
                        })
                        .collect();
                on_disk.sort();
                assert_eq!(listed, on_disk, "{id}@{version}");
            }
        }
    }
    assert!(blobs > 30, "{blobs} blobs");
    assert_eq!(assets.len(), 12, "{assets:?}");
    // `used_by` is exactly the versions whose references name a version, sorted.
    for list in users.values_mut() {
        list.sort();
    }
    assert_eq!(used_by, users);
    assert!(
        used_by["environments/sklearn-1.5@2"].len() >= 4,
        "{used_by:?}"
    );
}

#[test]
fn the_built_sample_matches_its_published_schemas() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let public = t.path().join("public");
    let schema = |name: &str| -> jsonschema::Validator {
        let s: Value =
            serde_json::from_slice(&std::fs::read(public.join("schemas").join(name)).unwrap())
                .unwrap();
        jsonschema::validator_for(&s).unwrap()
    };
    let check = |v: &jsonschema::Validator, doc: &Value, what: &str| {
        let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}");
    };
    let read = |rel: &str| -> Value {
        serde_json::from_slice(&std::fs::read(public.join(rel)).unwrap()).unwrap()
    };
    let root = read("registry.json");
    check(&schema("registry.schema.json"), &root, "registry.json");
    let snapshot = read(root["snapshot"]["path"].as_str().unwrap());
    check(&schema("snapshot.schema.json"), &snapshot, "snapshot");
    let (bin_schema, asset_schema) = (schema("bin.schema.json"), schema("asset.schema.json"));
    let mut docs = 0;
    for r in snapshot["bins"].as_object().unwrap().values() {
        let bin = read(r["path"].as_str().unwrap());
        check(&bin_schema, &bin, "bin");
        for e in bin["assets"].as_object().unwrap().values() {
            let path = e["doc"]["path"].as_str().unwrap();
            check(&asset_schema, &read(path), path);
            docs += 1;
        }
    }
    assert_eq!(docs, 12);

    // The manifest schemas accept the sample's manifests and reject a typo.
    let yaml = |rel: &Path| -> Value {
        mlreg::registry::yaml::parse(&std::fs::read_to_string(rel).unwrap())
            .unwrap()
            .to_json()
    };
    let reg = t.path().join("registry");
    check(
        &schema("registry-yaml.schema.json"),
        &yaml(&reg.join("registry.yaml")),
        "registry.yaml",
    );
    let mut counts = BTreeMap::new();
    for file in tree(&reg).into_keys() {
        let name = match file.rsplit('/').next().unwrap() {
            "asset.yaml" => "asset-yaml.schema.json",
            "stages.yaml" => "stages-yaml.schema.json",
            "lineage.yaml" => "lineage-yaml.schema.json",
            _ => continue,
        };
        check(&schema(name), &yaml(&reg.join(&file)), &file);
        *counts.entry(name).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 3, "{counts:?}");
    let typo: Value = serde_json::json!({"name": "x", "stage": ["dev"]});
    assert!(!schema("registry-yaml.schema.json").is_valid(&typo));
}

#[test]
fn published_history_cannot_be_rewritten() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry", "--out", "published"]).code, 0);
    let prev = t.path().join("published").to_string_lossy().into_owned();
    let reg = t.path().join("registry");
    let rejected = |what: &str, expected: &[(&str, &str)]| {
        let out = build(
            t.path(),
            &[
                "registry",
                "--out",
                "next",
                "--against",
                &prev,
                "--format",
                "json",
            ],
        );
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(c, a)| (c.to_string(), a.to_string()))
            .collect();
        want.sort();
        assert_eq!(pinned(&out.stdout), want, "{what}: {}", out.stdout);
        assert_eq!(out.code, 1, "{what}");
        assert!(
            !t.path().join("next").exists(),
            "{what}: something was written"
        );
        let check = run(
            t.path(),
            &["check", "registry", "--against", &prev, "--format", "json"],
        );
        assert_eq!(pinned(&check.stdout), want, "check --against, {what}");
    };

    // 1. A published version's files change.
    let model = reg.join("models/credit-default/2/model/model.json");
    let original = std::fs::read(&model).unwrap();
    std::fs::write(&model, b"{\"tampered\": true}\n").unwrap();
    rejected(
        "a changed model file",
        &[("E110", "registry/models/credit-default/2/model/model.json")],
    );
    std::fs::write(&model, &original).unwrap();

    // 2. A published version disappears (one nothing else uses, so the check itself passes).
    let v1 = reg.join("environments/credit-serving/1");
    let keep = t.path().join("kept");
    std::fs::rename(&v1, &keep).unwrap();
    rejected(
        "a removed version",
        &[
            ("E111", "registry/environments/credit-serving/1"),
            ("W015", "registry/environments/credit-serving"),
        ],
    );
    std::fs::rename(&keep, &v1).unwrap();

    // 3. An earlier stage entry is edited, then one is removed.
    let stages = reg.join("models/credit-default/stages.yaml");
    let log = std::fs::read_to_string(&stages).unwrap();
    std::fs::write(
        &stages,
        log.replacen("date: 2026-09-10", "date: 2026-09-09", 1),
    )
    .unwrap();
    rejected(
        "an edited stage entry",
        &[("E112", "registry/models/credit-default/stages.yaml:5:3")],
    );
    let lines: Vec<&str> = log.lines().collect();
    std::fs::write(&stages, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    rejected(
        "a removed stage entry",
        &[("E112", "registry/models/credit-default/stages.yaml")],
    );

    // Appending is what the log is for: accepted, and the serial goes up by one.
    std::fs::write(&stages, format!("{log}- {{ stage: prod, version: \"3\", by: ops@contoso.example, date: 2026-11-28, ref: \"PR #50\", approved_by: [lee@contoso.example] }}\n")).unwrap();
    let server = Server::serve(&t.path().join("published"));
    let ok = build(
        t.path(),
        &["registry", "--out", "next", "--against", &server.url],
    );
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let root: Value =
        serde_json::from_slice(&std::fs::read(t.path().join("next/registry.json")).unwrap())
            .unwrap();
    assert_eq!(root["serial"], 2);
    assert!(
        server
            .take_requests()
            .contains(&"registry.json 200".to_string())
    );
}

#[test]
fn a_broken_previous_build_is_an_io_failure() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry", "--out", "published"]).code, 0);
    let snapshot = std::fs::read_dir(t.path().join("published/snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&snapshot, bytes).unwrap();
    let out = build(
        t.path(),
        &["registry", "--out", "next", "--against", "published"],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("sha256"), "{}", out.stderr);
    assert!(!t.path().join("next").exists());
}

const FLOATING: &str = r#"
-- registry/registry.yaml --
name: fixture
-- registry/environments/e/1/spec.yaml --
image: python:3.11
-- registry/data/d/1/spec.yaml --
type: uri_file
path: https://example.com/d1.csv
-- registry/data/d/2/spec.yaml --
type: uri_file
path: https://example.com/d2.csv
-- registry/data/d/stages.yaml --
- { stage: prod, version: "1", by: a, date: 2026-11-01, skip: true, reason: seed }
-- registry/components/c/1/spec.yaml --
command: echo hi
environment: environments/e@latest
-- registry/models/m/1/spec.yaml --
path: https://example.com/m.pkl
-- registry/models/m/1/lineage.yaml --
job: { name: train }
environment: environments/e@latest
data:
  - { ref: data/d@prod, role: training }
"#;

/// The version a published asset document pins `reference` of `id@version` to.
fn published_pin(out: &Path, id: &str, version: &str, field: &str) -> String {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("assets/{id}.json"))).unwrap())
            .unwrap();
    let v = &doc["versions"][version];
    match field {
        "spec.environment" => v["spec"]["environment"].as_str().unwrap().to_string(),
        "lineage.environment" => v["lineage"]["environment"]["version"]
            .as_str()
            .unwrap()
            .to_string(),
        "lineage.data" => v["lineage"]["data"][0]["ref"]["version"]
            .as_str()
            .unwrap()
            .to_string(),
        _ => unreachable!(),
    }
}

#[test]
fn published_versions_keep_the_pins_they_were_published_with() {
    let t = tempfile::tempdir().unwrap();
    crate::util::materialize(FLOATING, t.path());
    let reg = t.path().join("registry");
    assert_eq!(build(t.path(), &["registry", "--out", "published"]).code, 0);
    let published = t.path().join("published");
    let e1 = "azureml://registries/fixture/environments/e/versions/1";
    assert_eq!(
        published_pin(&published, "components/c", "1", "spec.environment"),
        e1
    );

    // `latest` of the environment and `prod` of the data move; a new component version comes.
    std::fs::create_dir_all(reg.join("environments/e/2")).unwrap();
    std::fs::write(
        reg.join("environments/e/2/spec.yaml"),
        "image: python:3.12\n",
    )
    .unwrap();
    let stages = reg.join("data/d/stages.yaml");
    let mut log = std::fs::read_to_string(&stages).unwrap();
    log.push_str(
        "- { stage: prod, version: \"2\", by: a, date: 2026-11-02, skip: true, reason: fresher }\n",
    );
    std::fs::write(&stages, log).unwrap();
    std::fs::create_dir_all(reg.join("components/c/2")).unwrap();
    std::fs::write(
        reg.join("components/c/2/spec.yaml"),
        "command: echo hi\nenvironment: environments/e@latest\n",
    )
    .unwrap();

    let args = [
        "registry",
        "--out",
        "next",
        "--against",
        "published",
        "--format",
        "json",
    ];
    let out = build(t.path(), &args);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let mut want = vec![
        (
            "W066".to_string(),
            "registry/components/c/1/spec.yaml:2:14".to_string(),
        ),
        (
            "W066".to_string(),
            "registry/models/m/1/lineage.yaml:2:14".to_string(),
        ),
        (
            "W066".to_string(),
            "registry/models/m/1/lineage.yaml:4:12".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(pinned(&out.stdout), want);
    assert!(
        out.stdout.contains("`environments/e@latest` in the published `components/c@1` stays pinned to `environments/e@1`, as it was published; it resolves to `environments/e@2` now"),
        "{}",
        out.stdout
    );
    // The published versions say what they said; the new one pins afresh.
    let next = t.path().join("next");
    assert_eq!(
        published_pin(&next, "components/c", "1", "spec.environment"),
        e1
    );
    assert_eq!(
        published_pin(&next, "models/m", "1", "lineage.environment"),
        "1"
    );
    assert_eq!(published_pin(&next, "models/m", "1", "lineage.data"), "1");
    assert_eq!(
        published_pin(&next, "components/c", "2", "spec.environment"),
        "azureml://registries/fixture/environments/e/versions/2"
    );
    // Who uses e@1 follows the kept pins.
    let e: Value =
        serde_json::from_slice(&std::fs::read(next.join("assets/environments/e.json")).unwrap())
            .unwrap();
    assert_eq!(
        e["versions"]["1"]["used_by"],
        serde_json::json!(["components/c@1", "models/m@1"])
    );
    assert_eq!(
        e["versions"]["2"]["used_by"],
        serde_json::json!(["components/c@2"])
    );
    // `check --against` says the same in the pull request.
    let check = run(
        t.path(),
        &[
            "check",
            "registry",
            "--against",
            "published",
            "--format",
            "json",
        ],
    );
    assert_eq!(pinned(&check.stdout), want);

    // Building again into the published folder itself keeps them too.
    let again = build(
        t.path(),
        &["registry", "--out", "published", "--format", "json"],
    );
    assert_eq!(pinned(&again.stdout), want, "{}", again.stdout);
    assert_eq!(
        published_pin(&published, "components/c", "1", "spec.environment"),
        e1
    );

    // A registry that would rather refuse says so in its lints: nothing is written.
    std::fs::write(
        reg.join("registry.yaml"),
        "name: fixture\nlints: { published-pin-kept: deny }\n",
    )
    .unwrap();
    let refused = build(
        t.path(),
        &["registry", "--out", "refused", "--against", "published"],
    );
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stdout.contains("error[W066]"), "{}", refused.stdout);
    assert!(!t.path().join("refused").exists());
}

/// The sample's manifests name their schemas by relative path, for an editor opened on the
/// clone (no site needed); the committed copies are what a build publishes.
#[test]
fn the_sample_schema_links_open_in_an_editor() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let published = tree(&t.path().join("public/schemas"));
    let committed = tree(&repo().join("docs/schemas"));
    let bless = std::env::var_os("MLREG_BLESS").is_some();
    if bless {
        for (name, bytes) in &published {
            std::fs::write(repo().join("docs/schemas").join(name), bytes).unwrap();
        }
    } else {
        assert_eq!(
            committed.keys().collect::<Vec<_>>(),
            published.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &published {
            assert!(
                committed[name] == *bytes,
                "docs/schemas/{name} is not what a build publishes (MLREG_BLESS=1 to refresh)"
            );
        }
    }
    let mut links = 0;
    for (rel, bytes) in tree(&repo().join("registry")) {
        let text = String::from_utf8_lossy(&bytes);
        let Some(target) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
        else {
            continue;
        };
        if target.starts_with("https://") {
            continue;
        }
        let file = repo().join("registry").join(&rel);
        let schema = file.parent().unwrap().join(target);
        assert!(schema.is_file(), "{rel}: {target} does not exist");
        let v: Value = serde_json::from_slice(&std::fs::read(&schema).unwrap()).unwrap();
        assert!(
            v["$schema"].is_string(),
            "{rel}: {target} is not a JSON Schema"
        );
        links += 1;
    }
    assert!(links >= 10, "only {links} relative schema links");
}

const COMMON_CODE: &str = r#"
-- registry/registry.yaml --
name: fixture
-- registry/common/train/src/train.py --
print("train")
-- registry/common/train/src/util/io.py --
print("io")
-- registry/components/train/1/spec.yaml --
command: python train.py
code: ../../../common/train/src
environment: azureml:python@latest
-- registry/components/train/2/spec.yaml --
command: python train.py --fast
code: ../../../common/train/src
environment: azureml:python@latest
"#;

/// The version doc of `components/train@version` in a build folder.
fn train_doc(out: &Path, version: &str) -> Value {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("assets/components/train.json")).unwrap())
            .unwrap();
    doc["versions"][version].clone()
}

#[test]
fn shared_code_is_copied_into_each_version_that_uses_it() {
    let t = tempfile::tempdir().unwrap();
    crate::util::materialize(COMMON_CODE, t.path());
    let out = build(t.path(), &["registry", "--out", "published"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let published = t.path().join("published");
    let v1 = train_doc(&published, "1");
    let paths: Vec<&str> = v1["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["common/train/src/train.py", "common/train/src/util/io.py"]
    );
    assert_eq!(v1["spec"]["code"], "common/train/src");
    // Both versions ship the same bytes: stored once.
    let v2 = train_doc(&published, "2");
    assert_eq!(v1["files"], v2["files"]);
    let blob = v1["files"][0]["blob"].as_str().unwrap();
    assert_eq!(
        std::fs::read(published.join(blob)).unwrap(),
        b"print(\"train\")\n"
    );

    // A workspace pulls a folder `az ml component create -f` takes as it is.
    let dest = t.path().join("pulled");
    let pulled = run(
        t.path(),
        &[
            "pull",
            "components/train@1",
            "--index",
            "published",
            "--dest",
            "pulled",
            "--cache",
            "cache",
        ],
    );
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(
        std::fs::read(dest.join("common/train/src/util/io.py")).unwrap(),
        b"print(\"io\")\n"
    );
    let spec = std::fs::read_to_string(dest.join("spec.yaml")).unwrap();
    assert!(spec.contains("code: common/train/src"), "{spec}");

    // The shared code is part of every version that uses it: changing it changes both.
    let reg = t.path().join("registry");
    std::fs::write(
        reg.join("common/train/src/train.py"),
        "print(\"changed\")\n",
    )
    .unwrap();
    let again = build(
        t.path(),
        &[
            "registry",
            "--out",
            "next",
            "--against",
            "published",
            "--format",
            "json",
        ],
    );
    assert_eq!(again.code, 1);
    assert_eq!(
        pinned(&again.stdout),
        [
            (
                "E110".to_string(),
                "registry/common/train/src/train.py".to_string()
            ),
            (
                "E110".to_string(),
                "registry/common/train/src/train.py".to_string()
            ),
        ]
    );

    // Only the common folder may be named from outside a version folder.
    std::fs::write(
        reg.join("components/train/2/spec.yaml"),
        "command: python train.py\ncode: ../1\nenvironment: azureml:python@latest\n",
    )
    .unwrap();
    let check = run(t.path(), &["check", "registry", "--format", "json"]);
    assert_eq!(
        pinned(&check.stdout),
        [(
            "E041".to_string(),
            "registry/components/train/2/spec.yaml:2:7".to_string()
        )]
    );
    assert!(
        check
            .stdout
            .contains("or in the registry's `common/` folder"),
        "{}",
        check.stdout
    );
}

/// A plain rebuild into the folder that holds the published registry compares with it, no flag
/// needed; every change shows (each file with both hashes, each edited stage entry), with the
/// registry's other errors, in one run.
#[test]
fn immutability_holds_without_a_flag_and_names_every_change() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let reg = t.path().join("registry");
    let model = reg.join("models/credit-default/2/model/model.json");
    let old = sha256_hex(&std::fs::read(&model).unwrap());
    std::fs::write(&model, b"{\"tampered\": true}\n").unwrap();
    let new = sha256_hex(b"{\"tampered\": true}\n");
    let stages = reg.join("models/credit-default/stages.yaml");
    let log = std::fs::read_to_string(&stages).unwrap();
    let edited = log
        .replacen("date: 2026-09-10", "date: 2026-09-09", 1)
        .replacen("by: ana@contoso.example", "by: someone@contoso.example", 1);
    std::fs::write(&stages, &edited).unwrap();
    // An unrelated error in a new version does not hide any of it.
    std::fs::create_dir_all(reg.join("models/fresh/1")).unwrap();
    std::fs::write(
        reg.join("models/fresh/1/spec.yaml"),
        "path: https://example.com/m.pkl\ndescripton: typo\n",
    )
    .unwrap();

    let before = tree(&t.path().join("public"));
    let out = build(t.path(), &["registry", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let codes: Vec<String> = pinned(&out.stdout).into_iter().map(|(c, _)| c).collect();
    assert!(codes.contains(&"E020".to_string()), "{}", out.stdout);
    let changed: Vec<(String, String)> = pinned(&out.stdout)
        .into_iter()
        .filter(|(c, _)| c == "E110")
        .collect();
    assert_eq!(
        changed,
        [(
            "E110".to_string(),
            "registry/models/credit-default/2/model/model.json".to_string()
        )]
    );
    assert!(
        out.stdout
            .contains(&format!("`model/model.json` was sha256 {old}, is {new}")),
        "{}",
        out.stdout
    );
    let rewritten = pinned(&out.stdout)
        .into_iter()
        .filter(|(c, _)| c == "E112")
        .count();
    assert!(rewritten >= 2, "each edited entry: {}", out.stdout);
    // Nothing was written.
    assert_eq!(tree(&t.path().join("public")), before);
}

/// What a killed first build left beside the output folder goes at the next build; an output
/// folder given through a symbolic link is the folder it points at, with or without a slash.
#[test]
fn killed_builds_leave_nothing_behind_and_links_to_folders_are_folders() {
    let t = sample();
    // A run killed while filling its hidden folder (its pid long gone).
    let orphan = t.path().join(".public.mlreg-tmp-4000000");
    std::fs::create_dir_all(orphan.join("blobs")).unwrap();
    std::fs::write(orphan.join("blobs/half"), b"x").unwrap();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    assert!(!orphan.exists(), "the orphan stayed");

    let real = t.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, t.path().join("link")).unwrap();
    for out in ["link", "link/"] {
        let run = build(t.path(), &["registry", "--out", out]);
        assert_eq!(run.code, 0, "{out}: {}{}", run.stdout, run.stderr);
        assert!(real.join("registry.json").is_file(), "{out}");
    }
    assert!(
        std::fs::symlink_metadata(t.path().join("link"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    std::os::unix::fs::symlink(t.path().join("nowhere"), t.path().join("dangling")).unwrap();
    let dangling = build(t.path(), &["registry", "--out", "dangling"]);
    assert_eq!(dangling.code, 2);
    assert!(
        dangling.stderr.contains("is a symbolic link to nothing"),
        "{}",
        dangling.stderr
    );
}

/// Two builds into one folder at once, 20 times, each with a change of its own: exactly the
/// ones that win move the serial on, the others exit 4 saying so, and after every round the
/// folder verifies from its root down, as a client reads it.
#[test]
fn concurrent_builds_into_one_folder_never_break_it() {
    let t = tempfile::tempdir().unwrap();
    for side in ["a", "b"] {
        copy_dir(&repo().join("registry"), &t.path().join(side));
    }
    assert_eq!(build(t.path(), &["a", "--out", "public"]).code, 0);
    let mut serial = crate::util::verify_published(&t.path().join("public")).unwrap();
    assert_eq!(serial, 1);
    let card = "models/credit-default/3/README.md";
    let text = std::fs::read_to_string(t.path().join("a").join(card)).unwrap();
    for round in 0..20 {
        let mut children = Vec::new();
        for side in ["a", "b"] {
            // A change of this side's own, outside any digest: a new snapshot each time.
            std::fs::write(
                t.path().join(side).join(card),
                format!("{text}\nRound {round}, side {side}.\n"),
            )
            .unwrap();
            children.push(
                std::process::Command::new(crate::util::mlreg())
                    .args(["build", side, "--out", "public"])
                    .current_dir(t.path())
                    .env("NO_COLOR", "1")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        let mut won = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => won += 1,
                Some(4) => assert!(
                    stderr.contains("moved on") || stderr.contains("another build is writing"),
                    "round {round}: {stderr}"
                ),
                other => panic!("round {round}: exit {other:?}: {stderr}"),
            }
        }
        assert!(won >= 1, "round {round}: nobody won");
        let now = crate::util::verify_published(&t.path().join("public"))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(now, serial + won, "round {round}");
        serial = now;
    }
    assert!(!t.path().join("public/.mlreg-lock").exists());
}

/// Builds killed at random moments: the folder still verifies from its root (the previous
/// build, or the new one), and the next build completes, taking over the dead one's lock.
#[test]
fn killed_builds_leave_the_folder_readable_and_the_next_one_completes() {
    let t = sample();
    assert_eq!(build(t.path(), &["registry"]).code, 0);
    let card = t.path().join("registry/models/credit-default/3/README.md");
    let text = std::fs::read_to_string(&card).unwrap();
    // Deterministic "random" moments, from a fixed seed.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::fs::write(&card, format!("{text}\nKilled round {round}.\n")).unwrap();
        let mut child = std::process::Command::new(crate::util::mlreg())
            .args(["build", "registry"])
            .current_dir(t.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(seed % 250));
        let _ = child.kill();
        let _ = child.wait();
        crate::util::verify_published(&t.path().join("public"))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let out = build(t.path(), &["registry"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    crate::util::verify_published(&t.path().join("public")).unwrap();
    assert!(!t.path().join("public/.mlreg-lock").exists());
}
