//! No document of the index grows with the registry (`docs/protocol.md`): what lists the assets
//! is the bins, what uses a version past the first 100 is in `usedby/` pages, and adding a
//! version writes only the documents on its path.

use crate::util::{copy_dir, repo, run, sha256_hex, tree};
use mlreg::publish::index::{USED_BY_INLINE, USED_BY_PAGE};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A copy of the sample registry in a fresh temporary folder, at `<tmp>/registry`.
fn sample() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &tmp.path().join("registry"));
    tmp
}

fn read(dir: &Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The bin entry of `id` in the build at `public`, through root, snapshot and its bin.
fn bin_entry(public: &Path, id: &str) -> Value {
    let root = read(public, "registry.json");
    let snapshot = read(public, root["snapshot"]["path"].as_str().unwrap());
    let bin_ref = &snapshot["bins"][&sha256_hex(id.as_bytes())[..2]];
    read(public, bin_ref["path"].as_str().unwrap())["assets"][id].clone()
}

/// The asset document of `id` in the build at `public`, as its bin entry names it.
fn asset_doc(public: &Path, id: &str) -> Value {
    read(
        public,
        bin_entry(public, id)["doc"]["path"].as_str().unwrap(),
    )
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

/// A version used by more versions than a page holds (5,101 generated component versions and
/// the sample's own users): its document keeps the first 100 and the count; `usedby/` pages,
/// each named by the hash of its bytes, hold the whole sorted list; `show` prints all of it,
/// from the folder and from the build; the plan hands the whole list to the site; and the
/// version's digest is the one it had before.
#[test]
fn a_version_used_by_thousands_keeps_its_document_small() {
    let t = sample();
    let reg = t.path().join("registry");
    let env = "environments/sklearn-1.5";
    let before = run(t.path(), &["build", "registry", "--out", "before"]);
    assert_eq!(before.code, 0, "{}", before.stdout);
    let before = asset_doc(&t.path().join("before"), env)["versions"]["2"].clone();
    let mut users = strings(&before["used_by"]);
    assert_eq!(users.len(), 6, "{users:?}");
    assert_eq!(before["used_by_count"], 6);
    assert!(before.get("used_by_pages").is_none());

    let generated = USED_BY_PAGE + USED_BY_INLINE + 1;
    for i in 0..generated {
        let (name, version) = (format!("user_{:04}", i / 5), i % 5 + 1);
        let dir = reg.join("components").join(&name).join(version.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("spec.yaml"),
            "type: command\ncommand: echo\nenvironment: azureml://registries/contoso-ml/environments/sklearn-1.5/versions/2\n",
        )
        .unwrap();
        users.push(format!("components/{name}@{version}"));
    }
    users.sort();
    assert_eq!(users.len(), 5_107);
    let built = run(t.path(), &["build", "registry", "--out", "public"]);
    assert_eq!(built.code, 0, "{}", built.stdout);
    let public = t.path().join("public");

    let v = asset_doc(&public, env)["versions"]["2"].clone();
    assert_eq!(
        v["digest"], before["digest"],
        "used_by is outside the digest"
    );
    assert_eq!(strings(&v["used_by"]), users[..USED_BY_INLINE]);
    assert_eq!(v["used_by_count"], json!(users.len()));
    let pages = v["used_by_pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    let page_schema: Value = read(&public, "schemas/usedby.schema.json");
    let page_schema = jsonschema::validator_for(&page_schema).unwrap();
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    for r in pages {
        let path = r["path"].as_str().unwrap();
        let bytes = std::fs::read(public.join(path)).unwrap();
        let sha = sha256_hex(&bytes);
        assert_eq!(path, format!("usedby/{sha}.json"));
        assert_eq!(r["sha256"], sha);
        assert_eq!(r["size"], json!(bytes.len()));
        let page: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(page_schema.is_valid(&page), "{path}");
        assert_eq!(
            page.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["api_version", "used_by"]
        );
        assert_eq!(page["api_version"], "1.0");
        let entries = strings(&page["used_by"]);
        sizes.push(entries.len());
        listed.extend(entries);
    }
    assert_eq!(sizes, [USED_BY_PAGE, users.len() - USED_BY_PAGE]);
    assert_eq!(listed, users);

    // Every index document stays under 1 MB; a client walking the protocol checks the pages.
    for (rel, bytes) in tree(&public) {
        let indexed = ["snapshots/", "bins/", "assets/", "usedby/"]
            .iter()
            .any(|p| rel.starts_with(p));
        if indexed || rel == "registry.json" {
            assert!(bytes.len() < 1_000_000, "{rel}: {} bytes", bytes.len());
        }
    }
    assert_eq!(crate::util::verify_published(&public), Ok(1));

    // `show` prints every user, from the build and from the folder alike.
    let reference = format!("{env}@2");
    let from_index = ["--index", "public", "--cache", "cache"];
    let from_folder = ["--registry", "registry"];
    for from in [&from_index[..], &from_folder[..]] {
        let mut args = vec!["show", reference.as_str()];
        args.extend(from);
        let shown = run(t.path(), &args);
        assert_eq!(shown.code, 0, "{from:?}: {}", shown.stderr);
        let (_, after) = shown.stdout.split_once("\nused by\n").unwrap();
        let printed: Vec<&str> = after.lines().map(str::trim).collect();
        assert_eq!(printed, users, "{from:?}");
        args.push("--json");
        let shown = run(t.path(), &args);
        assert_eq!(shown.code, 0, "{from:?}: {}", shown.stderr);
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(strings(&shown["used_by"]), users, "{from:?}");
        assert_eq!(shown["used_by_count"], json!(users.len()));
    }

    // The plan hands the site the whole list of each version whose list was cut, and only those.
    let mut outcome = mlreg::registry::check(&reg, "registry");
    let (loaded, resolved) = outcome.registry.take().unwrap();
    let planned = mlreg::publish::plan::plan(&reg, &loaded, &resolved).unwrap();
    assert_eq!(
        planned.used_by,
        BTreeMap::from([(reference.clone(), users.clone())])
    );

    // A page whose bytes are not what its reference promises is refused, not printed.
    let second = public.join(pages[1]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&second).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 1;
    std::fs::write(&second, bytes).unwrap();
    let shown = run(
        t.path(),
        &["show", &reference, "--index", "public", "--cache", "fresh"],
    );
    assert_eq!(shown.code, 2, "{}", shown.stdout);
    assert!(
        shown.stderr.contains(pages[1]["path"].as_str().unwrap())
            && shown.stderr.contains("sha256"),
        "{}",
        shown.stderr
    );
    assert!(shown.stdout.is_empty(), "{}", shown.stdout);
    assert!(crate::util::verify_published(&public).is_err());
    // The walk that reads a previous build (and that gc and publish share) checks pages too:
    // those of an asset whose document changed, which a build reads to compare.
    let asset_yaml = t
        .path()
        .join("registry/environments/sklearn-1.5/asset.yaml");
    let text = std::fs::read_to_string(&asset_yaml).unwrap();
    std::fs::write(
        &asset_yaml,
        text.replace("The team's standard", "The standard"),
    )
    .unwrap();
    let against = run(
        t.path(),
        &["build", "registry", "--out", "next", "--against", "public"],
    );
    assert_eq!(against.code, 2, "{}", against.stdout);
    assert!(
        against.stderr.contains(pages[1]["path"].as_str().unwrap()),
        "{}",
        against.stderr
    );
    assert!(!t.path().join("next").exists());
}

/// A bin entry says of its asset what `list` shows, without the asset document: here the
/// sample's model, its stages as its stages.yaml leaves them.
#[test]
fn a_bin_entry_carries_what_listing_needs() {
    let t = sample();
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    let public = t.path().join("public");
    let id = "models/credit-default";
    let mut entry = bin_entry(&public, id);
    let doc_ref = entry.as_object_mut().unwrap().remove("doc").unwrap();
    let bytes = std::fs::read(public.join(doc_ref["path"].as_str().unwrap())).unwrap();
    assert_eq!(doc_ref["sha256"], sha256_hex(&bytes));
    assert_eq!(doc_ref["size"], json!(bytes.len()));
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["id"], id);
    assert_eq!(
        entry,
        json!({
            "kind": "model",
            "name": "credit-default",
            "display_name": "Credit default (12 months)",
            "description": "Probability that a loan applicant defaults within 12 months. Scores every application in the loan origination system; the decision threshold is set by the risk committee.",
            "tags": { "task": "binary-classification", "team": "risk" },
            "latest": "3",
            "stages": { "dev": "3", "test": "3", "prod": "2" },
            "versions": 3,
            "deprecated": false,
        })
    );
    assert_eq!(entry["stages"], doc["stages"]);
    assert_eq!(entry["description"], doc["description"]);
}

/// A description longer than 280 characters is cut in the bin entry (on a character boundary,
/// with an ellipsis) and whole in the asset document.
#[test]
fn a_long_description_is_cut_in_its_bin_entry_only() {
    let t = sample();
    let long = format!("Ünïcödé {}", "é".repeat(300));
    std::fs::write(
        t.path()
            .join("registry/environments/sklearn-1.5/asset.yaml"),
        format!("description: \"{long}\"\n"),
    )
    .unwrap();
    let out = run(t.path(), &["build", "registry"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let public = t.path().join("public");
    let id = "environments/sklearn-1.5";
    let cut: String = long.chars().take(279).chain(['…']).collect();
    assert_eq!(bin_entry(&public, id)["description"], cut);
    assert_eq!(asset_doc(&public, id)["description"], long);
}

/// A new version of an asset that nothing uses and that uses nothing writes its spec, one asset
/// document, its bin and a snapshot (and the root and the asset's convenience copy): every
/// other document of the index is untouched, however many there are.
#[test]
fn adding_a_version_writes_only_the_documents_on_its_path() {
    let t = sample();
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    let public = t.path().join("public");
    let before = tree(&public);
    let id = "data/iris-samples";
    let dir = t.path().join("registry").join(id);
    copy_dir(&dir.join("1"), &dir.join("2"));
    let out = run(t.path(), &["build", "registry"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let after = tree(&public);
    // The index: the root, its convenience copies and everything content-addressed (the
    // site's pages, search shards and feeds are not the protocol's).
    let index = |rel: &str| {
        rel == "registry.json"
            || rel.starts_with("assets/")
            || mlreg::publish::output::content_addressed(rel)
    };
    let changed: BTreeSet<&str> = after
        .iter()
        .filter(|(rel, bytes)| index(rel) && before.get(*rel) != Some(*bytes))
        .map(|(rel, _)| rel.as_str())
        .collect();
    let root = read(&public, "registry.json");
    let snapshot_path = root["snapshot"]["path"].as_str().unwrap();
    let snapshot = read(&public, snapshot_path);
    let bin = &snapshot["bins"][&sha256_hex(id.as_bytes())[..2]]["path"];
    let entry = bin_entry(&public, id);
    assert_eq!(entry["versions"], 2);
    let doc = asset_doc(&public, id);
    let expected = BTreeSet::from([
        "registry.json",
        snapshot_path,
        bin.as_str().unwrap(),
        entry["doc"]["path"].as_str().unwrap(),
        "assets/data/iris-samples.json",
        doc["versions"]["2"]["spec_file"]["path"].as_str().unwrap(),
    ]);
    assert_eq!(changed, expected);
}
