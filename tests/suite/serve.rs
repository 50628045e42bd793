//! `mlreg serve` on loopback: the headers a host should send (no-cache root and pages,
//! immutable hashed files, ETag and 304, content types), rebuild on change with the open pages
//! told to reload, and the diagnostics in place of the site while the registry is broken.

use crate::util::{copy_dir, repo};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Serving {
    child: Child,
    base: String,
    /// What it has logged to stderr so far.
    log: Arc<Mutex<String>>,
}

impl Serving {
    /// Wait until the log holds a line with `needle`; that line.
    fn logged(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains(needle))
            {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "serve never logged `{needle}`:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Serving {
    let mut child = Command::new(crate::util::mlreg())
        .args(["serve", "registry", "--port", "0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("serving line")
        .to_string();
    Serving { child, base, log }
}

/// GET `path` with optional If-None-Match: (status, headers lowercased, body).
fn get(base: &str, path: &str, etag: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(40)))
        .build()
        .into();
    let mut req = agent.get(&format!("{base}{path}"));
    if let Some(tag) = etag {
        req = req.header("If-None-Match", tag);
    }
    let resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .read_to_end(&mut body)
        .unwrap();
    (status, headers, body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[test]
fn serves_with_hosting_headers_and_rebuilds_on_change() {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    let s = start(t.path());

    let (status, h, body) = get(&s.base, "", None);
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&h, "cache-control"), "no-cache");
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("<script src=\"/_mlreg/live.js\" defer></script>")
            && page.contains("data-mlreg-generation=\"1\"")
    );

    let (status, h, root) = get(&s.base, "registry.json", None);
    assert_eq!(
        (
            status,
            header(&h, "content-type"),
            header(&h, "cache-control")
        ),
        (200, "application/json", "no-cache")
    );
    let etag = header(&h, "etag").to_string();
    assert!(etag.starts_with('"'));
    let (status, _, body) = get(&s.base, "registry.json", Some(&etag));
    assert_eq!((status, body.len()), (304, 0));

    let root: serde_json::Value = serde_json::from_slice(&root).unwrap();
    let snapshot = root["snapshot"]["path"].as_str().unwrap();
    let (status, h, _) = get(&s.base, snapshot, None);
    assert_eq!(
        (status, header(&h, "cache-control")),
        (200, "public, max-age=31536000, immutable")
    );
    let (status, h, _) = get(&s.base, "models/credit-default/nope/index.html", None);
    assert_eq!(
        (status, header(&h, "content-type")),
        (404, "text/html; charset=utf-8")
    );

    // A workspace can resolve and pull from it; the second resolve revalidates the root (304).
    let cache = t.path().join("cache");
    let cache = cache.to_str().unwrap();
    for _ in 0..2 {
        let out = crate::util::run(
            t.path(),
            &[
                "resolve",
                "models/credit-default@prod",
                "--index",
                &s.base,
                "--json",
                "--cache",
                cache,
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["version"], "2");
    }
    let dest = t.path().join("pulled");
    let out = crate::util::run(
        t.path(),
        &[
            "pull",
            "models/credit-default@prod",
            "--index",
            &s.base,
            "--dest",
            dest.to_str().unwrap(),
            "--cache",
            cache,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read(dest.join("model/model.json")).unwrap(),
        std::fs::read(
            t.path()
                .join("registry/models/credit-default/2/model/model.json")
        )
        .unwrap()
    );

    // Change a card: the waiting page hears of generation 2, and the page shows the change.
    let card = t.path().join("registry/models/credit-default/3/README.md");
    let text = std::fs::read_to_string(&card).unwrap();
    let base = s.base.clone();
    let waiter = std::thread::spawn(move || get(&base, "_mlreg/wait?since=1", None));
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(
        &card,
        text.replace(
            "Not for automated rejection.",
            "Reviewed by the risk committee.",
        ),
    )
    .unwrap();
    let (status, _, generation) = waiter.join().unwrap();
    assert_eq!(
        (status, String::from_utf8(generation).unwrap()),
        (200, "2".to_string())
    );
    let (_, _, page) = get(&s.base, "models/credit-default/3/index.html", None);
    assert!(
        String::from_utf8(page)
            .unwrap()
            .contains("Reviewed by the risk committee.")
    );
    // Each build is logged: the first, then what changed, how long it took, what it found.
    let first = s.logged("built in ");
    assert!(first.contains(" ms: no problems found; "), "{first}");
    let rebuilt = s.logged("rebuilt in ");
    assert!(
        rebuilt.contains(
            " ms after 1 change (registry/models/credit-default/3/README.md): no problems found; "
        ),
        "{rebuilt}"
    );

    // A blob is served from its source file: once that changes, its old name never answers
    // with other bytes (503 until the rebuild, then 404), and the new name has the new bytes.
    let (_, _, doc) = get(&s.base, "assets/models/credit-default.json", None);
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let file = doc["versions"]["2"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model/model.json")
        .unwrap()
        .clone();
    let blob = file["blob"].as_str().unwrap();
    let (status, _, bytes) = get(&s.base, blob, None);
    assert_eq!(status, 200);
    assert_eq!(
        crate::util::sha256_hex(&bytes),
        file["sha256"].as_str().unwrap()
    );
    let source = t
        .path()
        .join("registry/models/credit-default/2/model/model.json");
    let original = std::fs::read(&source).unwrap();
    std::fs::write(&source, b"{\"changed\": true}\n").unwrap();
    let (status, h, _) = get(&s.base, blob, None);
    assert!(status == 503 || status == 404, "{status}");
    if status == 503 {
        assert_eq!(header(&h, "cache-control"), "no-store");
        assert_eq!(header(&h, "retry-after"), "1");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, bytes) = get(&s.base, blob, None);
        assert!(
            status != 200 || crate::util::sha256_hex(&bytes) == file["sha256"].as_str().unwrap(),
            "the old name answered with other bytes"
        );
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "no rebuild");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&source, &original).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&s.base, blob, None).0 != 200 {
        assert!(Instant::now() < deadline, "the blob did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Break the registry: every page shows the diagnostics; fix it: the site is back.
    let spec = t.path().join("registry/models/credit-default/3/spec.yaml");
    let good = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, good.replace("\ndescription:", "\ndescripton:")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let broken = loop {
        let (status, _, body) = get(&s.base, "index.html", None);
        if status == 500 {
            break String::from_utf8(body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no error page after breaking the registry"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        broken.contains("error[E020]: unknown field `descripton` in the spec"),
        "{broken}"
    );
    let failed = s.logged("1 error, 0 warnings");
    assert!(
        failed.contains("after 1 change (registry/models/credit-default/3/spec.yaml)"),
        "{failed}"
    );
    std::fs::write(&spec, good).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&s.base, "index.html", None).0 != 200 {
        assert!(Instant::now() < deadline, "the site did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
}
