//! The site in a real browser: Debian's Chromium, driven by playwright-core, through the sample
//! build served on 127.0.0.1. Search for a model, reach its version page, see the chart; no
//! console error, page error or failed request. Screenshots land in `target/screenshots/`.
//!
//! `.ci/run` installs Chromium (apt) and playwright-core (npm); this test installs the npm
//! package itself if it is missing, and says what to do if Chromium is.

use crate::util::{Server, copy_dir, repo, run};
use std::process::Command;

#[test]
fn a_person_finds_a_model_and_its_chart_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium is not installed: `apt-get install -y chromium` (bash .ci/run does it)"
    );
    let browser_dir = crate::util::npm("browser");
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    let server = Server::serve(&t.path().join("public"));
    let shots = repo().join("target/screenshots");
    let out = Command::new("node")
        .arg(browser_dir.join("site.mjs"))
        .arg(&server.url)
        .arg(&shots)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(report["charts"].as_u64().unwrap() >= 1);
    assert_eq!(
        report["compared"], 2,
        "picking two versions leaves two columns"
    );
    assert!(report["results"].as_u64().unwrap() >= 1);
    for shot in ["home.png", "version.png", "compare.png", "version-dark.png"] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{shot}"
        );
    }
    // The search script fetched the search manifest and one shard, not the whole index.
    let requests = server.take_requests();
    let search: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("search/"))
        .collect();
    assert!(
        search.len() >= 2 && search.iter().any(|r| r.starts_with("search/cr-")),
        "{search:?}"
    );
    assert!(
        !requests.iter().any(|r| r.starts_with("bins/")),
        "the site never needs the index's bins"
    );
}
