//! Workspaces fetching from a published registry over real HTTP on loopback: request counts
//! (cold resolve 4 fetches, warm resolve one 304), and every fault a network or a mirror can
//! throw (corrupt, truncated, 500, stalled, refused) ending in a clear error or a fallback,
//! never in a wrong file on disk.

use crate::util::{Fault, Server, copy_dir, repo, run, tree};
use std::path::{Path, PathBuf};

struct Published {
    dir: tempfile::TempDir,
}

impl Published {
    fn new() -> Published {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("registry"), &dir.path().join("registry"));
        assert_eq!(run(dir.path(), &["build", "registry"]).code, 0);
        Published { dir }
    }
    fn public(&self) -> PathBuf {
        self.dir.path().join("public")
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// `mlreg pull|resolve REF --index URL --cache C ...` in the published folder's parent.
fn mlreg(p: &Published, cache: &str, args: &[&str]) -> crate::util::Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--cache", cache]);
    run(p.dir.path(), &all)
}

/// The files of models/credit-default version 2 as they are in the source registry.
fn expected_files(p: &Published) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = tree(&p.path("registry/models/credit-default/2"))
        .into_iter()
        .filter(|(k, _)| !["spec.yaml", "lineage.yaml", "README.md"].contains(&k.as_str()))
        .collect();
    files.sort();
    files
}

fn assert_pulled(p: &Published, dest: &Path) {
    for (rel, bytes) in expected_files(p) {
        assert_eq!(std::fs::read(dest.join(&rel)).unwrap(), bytes, "{rel}");
    }
    let spec = std::fs::read_to_string(dest.join("spec.yaml")).unwrap();
    assert!(
        spec.contains("name: credit-default") && spec.contains("version: \"2\""),
        "{spec}"
    );
    let leftovers: Vec<String> = tree(dest)
        .into_keys()
        .filter(|k| k.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cold_resolve_takes_four_fetches_and_a_warm_one_a_single_304() {
    let p = Published::new();
    let server = Server::serve(&p.public());
    let cache = p.path("cache");
    let cache = cache.to_str().unwrap();
    let out = mlreg(
        &p,
        cache,
        &[
            "resolve",
            "models/credit-default@prod",
            "--index",
            &server.url,
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["version"], "2");
    assert_eq!(v["stage"], "prod");
    assert_eq!(
        v["azure_uri"],
        "azureml://registries/contoso-ml/models/credit-default/versions/2"
    );
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    let cold = server.take_requests();
    assert_eq!(cold.len(), 4, "{cold:?}");
    assert!(
        cold.iter().all(|r| r.ends_with(" 200")) && cold[0] == "registry.json 200",
        "{cold:?}"
    );

    for reference in [
        "models/credit-default@prod",
        "models/credit-default@latest",
        "azureml://registries/contoso-ml/models/credit-default/versions/3",
    ] {
        let out = mlreg(
            &p,
            cache,
            &["resolve", reference, "--index", &server.url, "--json"],
        );
        assert_eq!(out.code, 0, "{reference}: {}", out.stderr);
        assert_eq!(
            server.take_requests(),
            vec!["registry.json 304"],
            "{reference}"
        );
    }
    // A workspace picks its stage.
    let out = mlreg(
        &p,
        cache,
        &[
            "resolve",
            "models/credit-default",
            "--workspace",
            "test-eastus",
            "--index",
            &server.url,
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["version"].as_str(), v["stage"].as_str()),
        (Some("3"), Some("test"))
    );
    let unknown = mlreg(
        &p,
        cache,
        &[
            "resolve",
            "models/credit-default",
            "--workspace",
            "nowhere",
            "--index",
            &server.url,
        ],
    );
    // Not found has its own exit status.
    assert_eq!(unknown.code, 3);
    assert!(
        unknown.stderr.contains("no workspace `nowhere`"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn every_fault_of_the_primary_falls_back_to_the_mirror() {
    let p = Published::new();
    let mirror = Server::serve(&p.public());
    let faults = [
        ("corrupt", Fault::Corrupt),
        ("truncated", Fault::Truncate),
        ("500", Fault::Status(500)),
        ("stalled", Fault::Stall(std::time::Duration::from_secs(5))),
    ];
    for (name, fault) in faults {
        let primary = Server::serve(&p.public());
        primary.fault("blobs/", fault);
        let cache = p.path(&format!("cache-{name}"));
        let dest = p.path(&format!("dest-{name}"));
        let out = mlreg(
            &p,
            cache.to_str().unwrap(),
            &[
                "pull",
                "models/credit-default@prod",
                "--index",
                &primary.url,
                "--mirror",
                &mirror.url,
                "--timeout",
                "2",
                "--dest",
                dest.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert_pulled(&p, &dest);
        let served: Vec<String> = mirror
            .take_requests()
            .into_iter()
            .filter(|r| r.starts_with("blobs/") && r.ends_with(" 200"))
            .collect();
        assert_eq!(
            served.len(),
            4,
            "{name}: the mirror served every blob: {served:?}"
        );
    }
    // A primary that refuses connections: the mirror answers everything.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let dest = p.path("dest-refused");
    let out = mlreg(
        &p,
        p.path("cache-refused").to_str().unwrap(),
        &[
            "pull",
            "models/credit-default@prod",
            "--index",
            &refused,
            "--mirror",
            &mirror.url,
            "--dest",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_pulled(&p, &dest);
}

#[test]
fn a_bad_only_source_ends_in_a_clear_error_and_no_wrong_file() {
    let p = Published::new();
    for (name, fault, says) in [
        ("corrupt", Fault::Corrupt, "sha256"),
        ("truncated", Fault::Truncate, "disconnected"),
    ] {
        let server = Server::serve(&p.public());
        server.fault("blobs/", fault);
        let dest = p.path(&format!("dest-{name}"));
        let cache = p.path(&format!("cache-{name}"));
        let out = mlreg(
            &p,
            cache.to_str().unwrap(),
            &[
                "pull",
                "models/credit-default@prod",
                "--index",
                &server.url,
                "--timeout",
                "2",
                "--dest",
                dest.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 2, "{name}");
        assert!(out.stderr.contains(says), "{name}: {}", out.stderr);
        // The folder was made for this pull: a failed one leaves none.
        assert!(
            !dest.exists(),
            "{name}: wrote {:?}",
            tree(&dest).into_keys().collect::<Vec<_>>()
        );
        let cached: Vec<String> = tree(&cache.join("sha256")).into_keys().collect();
        let expected_hashes: Vec<String> =
            expected_files(&p).iter().map(|(_, b)| sha256(b)).collect();
        assert!(
            cached
                .iter()
                .all(|c| !expected_hashes.contains(c) && !c.ends_with(".part")),
            "{name}: cached {cached:?}"
        );
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn documents_that_lie_or_are_too_new_or_too_big_are_refused() {
    let p = Published::new();
    let root_path = p.public().join("registry.json");
    let original = std::fs::read_to_string(&root_path).unwrap();
    let cache = p.path("cache");
    let index = p.public().to_string_lossy().into_owned();
    let resolve = |cache: &str| {
        mlreg(
            &p,
            cache,
            &["resolve", "models/credit-default@prod", "--index", &index],
        )
    };

    std::fs::write(
        &root_path,
        original.replace("\"api_version\":\"1.0\"", "\"api_version\":\"2.0\""),
    )
    .unwrap();
    let out = resolve(cache.to_str().unwrap());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("api_version `2.0`"), "{}", out.stderr);

    let root: serde_json::Value = serde_json::from_str(&original).unwrap();
    let size = root["snapshot"]["size"].as_u64().unwrap();
    std::fs::write(
        &root_path,
        original.replace(&format!("\"size\":{size}"), "\"size\":999999999"),
    )
    .unwrap();
    let out = resolve(cache.to_str().unwrap());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("over the"), "{}", out.stderr);

    std::fs::write(
        &root_path,
        original.replace(
            &format!("\"size\":{size}"),
            &format!("\"size\":{}", size + 1),
        ),
    )
    .unwrap();
    let out = resolve(p.path("cache2").to_str().unwrap());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bytes, expected"), "{}", out.stderr);

    // A hash that would name a file outside the cache, a path outside the registry.
    let sha = root["snapshot"]["sha256"].as_str().unwrap();
    std::fs::write(
        &root_path,
        original.replace(
            &format!("\"sha256\":\"{sha}\""),
            "\"sha256\":\"../../../tmp/evil\"",
        ),
    )
    .unwrap();
    let out = resolve(p.path("cache3").to_str().unwrap());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not a sha256"), "{}", out.stderr);
    let path = root["snapshot"]["path"].as_str().unwrap();
    std::fs::write(
        &root_path,
        original.replace(path, "../../registry/registry.yaml"),
    )
    .unwrap();
    let out = resolve(p.path("cache4").to_str().unwrap());
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is not a path inside the registry"),
        "{}",
        out.stderr
    );
    let written: Vec<String> = tree(&p.path("cache3"))
        .into_keys()
        .chain(tree(&p.path("cache4")).into_keys())
        .collect();
    assert!(written.iter().all(|k| !k.contains("evil")), "{written:?}");
}

#[test]
fn present_files_are_kept_interrupted_ones_restarted() {
    let p = Published::new();
    let server = Server::serve(&p.public());
    let dest = p.path("dest");
    let cache = p.path("cache");
    let pull = || {
        mlreg(
            &p,
            cache.to_str().unwrap(),
            &[
                "pull",
                "models/credit-default@prod",
                "--index",
                &server.url,
                "--dest",
                dest.to_str().unwrap(),
                "--json",
            ],
        )
    };
    assert_eq!(pull().code, 0);
    server.take_requests();
    // An interrupted run's part file, and a damaged file; the cache is gone too.
    std::fs::write(dest.join("model/.model.json.part"), b"half").unwrap();
    std::fs::write(dest.join("model/model.json"), b"damaged").unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    let out = pull();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["fetched"].as_u64(), v["kept"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    let blobs: Vec<String> = server
        .take_requests()
        .into_iter()
        .filter(|r| r.starts_with("blobs/"))
        .collect();
    assert_eq!(
        blobs.len(),
        1,
        "only the damaged file is fetched again: {blobs:?}"
    );
    assert_pulled(&p, &dest);
}

#[test]
fn concurrent_pulls_share_one_cache() {
    let p = Published::new();
    let server = Server::serve(&p.public());
    let cache = p.path("cache");
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(crate::util::mlreg())
                .args([
                    "pull",
                    "models/credit-default@prod",
                    "--index",
                    &server.url,
                    "--cache",
                ])
                .arg(&cache)
                .arg("--dest")
                .arg(p.path(&format!("dest-{i}")))
                .current_dir(p.dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    for i in 0..4 {
        assert_pulled(&p, &p.path(&format!("dest-{i}")));
    }
    for (name, bytes) in tree(&cache.join("sha256")) {
        assert!(
            !name.starts_with('.'),
            "a temporary file is left in the cache: {name}"
        );
        assert_eq!(
            sha256(&bytes),
            name,
            "a cache entry does not match its name"
        );
    }
}
