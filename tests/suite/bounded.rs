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

/// The version the generated components use.
const USED: &str = "environments/sklearn-1.5";

/// Whether a page ends after `entry`, by the rule `docs/protocol.md` states (written here apart
/// from mlreg's): the first 8 bytes of its SHA-256, big-endian, are 0 modulo `every` (1,000 for
/// `usedby/` pages, 200 for the site's).
fn ends_page(entry: &str, every: u64) -> bool {
    u64::from_str_radix(&sha256_hex(entry.as_bytes())[..16], 16)
        .unwrap()
        .is_multiple_of(every)
}

/// The versions a list page of the site names, in order.
fn entries(files: &BTreeMap<String, Vec<u8>>, page: &str) -> Vec<String> {
    std::str::from_utf8(&files[page])
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("<li><a href=\""))
        .map(|l| {
            l.split('>')
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Write version `version` of component `name`, which uses `environments/sklearn-1.5@2`.
fn add_user(reg: &Path, name: &str, version: &str) -> String {
    let dir = reg.join("components").join(name).join(version);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.yaml"),
        "type: command\ncommand: echo\nenvironment: azureml://registries/contoso-ml/environments/sklearn-1.5/versions/2\n",
    )
    .unwrap();
    format!("components/{name}@{version}")
}

/// More users of `environments/sklearn-1.5@2` than a page holds: 5,101 component versions,
/// `user_0000@1` to `user_1020@1`, five versions a component.
fn add_users(reg: &Path) -> Vec<String> {
    (0..USED_BY_PAGE + USED_BY_INLINE + 1)
        .map(|i| add_user(reg, &format!("user_{:04}", i / 5), &(i % 5 + 1).to_string()))
        .collect()
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
    let env = USED;
    let before = run(t.path(), &["build", "registry", "--out", "before"]);
    assert_eq!(before.code, 0, "{}", before.stdout);
    let before = asset_doc(&t.path().join("before"), env)["versions"]["2"].clone();
    let mut users = strings(&before["used_by"]);
    assert_eq!(users.len(), 6, "{users:?}");
    assert_eq!(before["used_by_count"], 6);
    assert!(before.get("used_by_pages").is_none());

    users.extend(add_users(&reg));
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
    // Pages of about 1,000: not one, and not a page per entry.
    assert!((2..=20).contains(&pages.len()), "{} pages", pages.len());
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
        assert!(
            !entries.is_empty() && entries.len() <= USED_BY_PAGE,
            "{path}"
        );
        // The page ends where its last entry's hash says, and nowhere before.
        let (last, before_last) = entries.split_last().unwrap();
        assert!(!before_last.iter().any(|e| ends_page(e, 1_000)), "{path}");
        sizes.push((entries.len(), ends_page(last, 1_000)));
        listed.extend(entries);
    }
    assert_eq!(listed, users);
    let (last, cut) = sizes.split_last().unwrap();
    assert!(
        cut.iter().all(|&(n, ends)| ends || n == USED_BY_PAGE),
        "{sizes:?}"
    );
    assert!(last.0 <= USED_BY_PAGE, "{sizes:?}");

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

/// The `usedby/` pages of a version, as (path, entries), from its asset document in `public`.
fn used_by_pages(public: &Path) -> Vec<(String, Vec<String>)> {
    let v = asset_doc(public, USED)["versions"]["2"].clone();
    v["used_by_pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let path = r["path"].as_str().unwrap().to_string();
            let entries = strings(&read(public, &path)["used_by"]);
            (path, entries)
        })
        .collect()
}

/// Pages cut where their entries say, not every so many: one more version that sorts in the
/// middle of 5,107 users adds one `usedby/` page or two, and rewrites `used-by.html` and a
/// range page or two of the site; every page away from it, in the index and in the site, keeps
/// its name and its bytes. One version less that began a range renames that range: the next
/// build removes the old page, and the folder is what a clean build makes.
#[test]
fn one_more_user_rewrites_one_page_or_two_not_every_page_after_it() {
    let t = sample();
    let reg = t.path().join("registry");
    add_users(&reg);
    let build = |out: &str| -> BTreeMap<String, Vec<u8>> {
        let built = run(t.path(), &["build", "registry", "--out", out]);
        assert_eq!(built.code, 0, "{}", built.stdout);
        tree(&t.path().join(out))
    };
    let public = t.path().join("public");
    let site = format!("{USED}/2");
    let before = build("public");
    let old_pages = used_by_pages(&public);
    let (old_users, old_ranges) = crate::scale::used_by_listing(&before, &site);
    assert!(old_ranges.len() >= 10, "{old_ranges:?}");

    // `user_0510@6` sorts between `user_0510@5` and `user_0511@1`, in the middle of the list.
    let added = add_user(&reg, "user_0510", "6");
    let (prev, next) = ("components/user_0510@5", "components/user_0511@1");
    let at = old_users.binary_search(&added).unwrap_err();
    assert_eq!((&*old_users[at - 1], &*old_users[at]), (prev, next));
    assert!((1_000..4_000).contains(&at), "{at}");
    let after = build("public");
    let new_pages = used_by_pages(&public);
    let (new_users, new_ranges) = crate::scale::used_by_listing(&after, &site);
    let mut expected = old_users.clone();
    expected.insert(at, added.clone());
    assert_eq!(new_users, expected);
    let paged: Vec<String> = new_pages.iter().flat_map(|(_, e)| e.clone()).collect();
    assert_eq!(paged, expected);

    // The index: at most two pages are new, and every page that lists neither neighbour of
    // the new entry is still referenced, in the same order.
    let new_files: Vec<&String> = after
        .keys()
        .filter(|k| k.starts_with("usedby/") && !before.contains_key(*k))
        .collect();
    assert!((1..=2).contains(&new_files.len()), "{new_files:?}");
    let near = |entries: &[String]| entries.iter().any(|e| e == prev || e == next);
    let far: Vec<&String> = old_pages
        .iter()
        .filter(|(_, e)| !near(e))
        .map(|(p, _)| p)
        .collect();
    assert!(far.len() + 2 >= old_pages.len(), "{far:?}");
    let kept: Vec<&String> = new_pages
        .iter()
        .map(|(p, _)| p)
        .filter(|p| far.contains(p))
        .collect();
    assert_eq!(kept, far);

    // The site: `used-by.html` (its total) and at most three range pages changed; every range
    // page but the ones listing a neighbour of the new entry and theirs is byte for byte the same.
    let used_by = |files: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        files
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{site}/used-by")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let (old_html, new_html) = (used_by(&before), used_by(&after));
    let changed: BTreeSet<&String> = old_html
        .keys()
        .chain(new_html.keys())
        .filter(|k| old_html.get(*k) != new_html.get(*k))
        .collect();
    let index = format!("{site}/used-by.html");
    assert!(changed.contains(&index), "{changed:?}");
    assert!((1..=3).contains(&(changed.len() - 1)), "{changed:?}");
    let lists = |range: &String| {
        let html = std::str::from_utf8(&old_html[range]).unwrap();
        html.contains(&format!(">{prev}</a>")) || html.contains(&format!(">{next}</a>"))
    };
    let touched: Vec<usize> = (0..old_ranges.len())
        .filter(|i| lists(&old_ranges[*i]))
        .collect();
    assert!((1..=2).contains(&touched.len()), "{touched:?}");
    for (i, range) in old_ranges.iter().enumerate() {
        let close = touched.iter().any(|t| i.abs_diff(*t) <= 1);
        if !close {
            assert_eq!(new_html.get(range), old_html.get(range), "{range} changed");
        }
    }
    assert!(new_ranges.len() >= old_ranges.len(), "{new_ranges:?}");
    // The version's page names the first 50 and links to all of them.
    let version = std::str::from_utf8(&after[&format!("{site}/index.html")]).unwrap();
    assert!(version.contains(&format!("All {} versions that use it</a>", expected.len())));

    // A version that sorts right before the first entry of a range in the middle (right after
    // the last of the range before) becomes that range's first entry and renames it: the next
    // build removes the old page and leaves what a clean build makes.
    let (second, third) = (&new_ranges[1], &new_ranges[2]);
    let last_of_second = entries(&after, second).pop().unwrap();
    let (name, version) = last_of_second
        .strip_prefix("components/")
        .unwrap()
        .split_once('@')
        .unwrap();
    // `<version>a` sorts right after `<version>`; one that does not end a range of the site's.
    let version = ('a'..='z')
        .map(|c| format!("{version}{c}"))
        .find(|v| !ends_page(&format!("components/{name}@{v}"), 200))
        .unwrap();
    let first = add_user(&reg, name, &version);
    let last = build("public");
    let (users, ranges) = crate::scale::used_by_listing(&last, &site);
    assert_eq!(users.len(), expected.len() + 1);
    assert_eq!(ranges.len(), new_ranges.len());
    assert_eq!(entries(&last, &ranges[2])[0], first);
    assert!(
        !ranges.contains(third) && !last.contains_key(third),
        "{third} is left"
    );
    // Only the renamed range and the two that link to it changed.
    for (i, (now, then)) in ranges.iter().zip(&new_ranges).enumerate() {
        if !(1..=3).contains(&i) {
            assert_eq!((now, last.get(now)), (then, after.get(then)), "{now}");
        }
    }
    assert_eq!(ranges[1], *second);
    let clean = build("clean");
    for (rel, bytes) in &clean {
        if ![".mlreg-output.json", "registry.json"].contains(&rel.as_str()) {
            assert!(
                last.get(rel) == Some(bytes),
                "{rel} differs from a clean build's"
            );
        }
    }
    for rel in last.keys().filter(|k| !clean.contains_key(*k)) {
        assert!(
            mlreg::publish::output::content_addressed(rel),
            "{rel} is left over from an earlier build"
        );
    }
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
