//! `mlreg serve` on loopback: the headers a host should send (no-cache root and pages,
//! immutable hashed files, ETag and 304, content types), rebuild on change with the open pages
//! told to reload, and the diagnostics in place of the site while the registry is broken. Then
//! the server under attack: oversized and malformed requests, foreign Host values, hundreds of
//! idle connections, long polls and random bytes, with its memory and threads measured.

use crate::util::{copy_dir, repo};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
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
    serving(spawn(dir))
}

/// `mlreg serve registry` started in `dir`, its stderr gathered into the log, not yet serving.
fn spawn(dir: &std::path::Path) -> (Child, Arc<Mutex<String>>) {
    spawn_with(dir, &[])
}

/// [`spawn`], with more arguments.
fn spawn_with(dir: &std::path::Path, more: &[&str]) -> (Child, Arc<Mutex<String>>) {
    let mut child = Command::new(crate::util::mlreg())
        .args(["serve", "registry", "--port", "0"])
        .args(more)
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
    (child, log)
}

/// The server `spawn` started, once it says where it serves.
fn serving((mut child, log): (Child, Arc<Mutex<String>>)) -> Serving {
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
/// `serve` rebuilds from what did not change (the assets it loaded, file hashes, pages), and
/// what it serves after each kind of edit is what a clean `mlreg build` writes; a page whose
/// bytes did not change keeps its generation, so only the pages an edit touched reload.
#[test]
fn rebuilds_in_memory_serve_what_a_clean_build_writes() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    let s = start(t.path());
    let generation_of = |page: &str| {
        let (status, _, html) = get(&s.base, page, None);
        assert_eq!(status, 200, "{page}");
        let html = String::from_utf8(html).unwrap();
        let at = html.find("data-mlreg-generation=\"").expect("a generation") + 23;
        html[at..at + html[at..].find('"').unwrap()].to_string()
    };
    let credit = "models/credit-default/3/";
    let iris = "models/iris-classifier/2/";
    assert_eq!(
        (generation_of(credit), generation_of(iris)),
        ("1".into(), "1".into())
    );
    // Edits are written whole (temp + rename), so that each is one rebuild.
    let generation = std::cell::Cell::new(1);
    let edit = |rel: &str, f: &dyn Fn(String) -> String| {
        let path = reg.join(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let tmp = t.path().join("edit.tmp");
        std::fs::write(&tmp, f(text)).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let wait = format!("_mlreg/wait?since={}", generation.get());
        let (status, _, body) = get(&s.base, &wait, None);
        generation.set(generation.get() + 1);
        assert_eq!(
            (status, String::from_utf8(body).unwrap()),
            (200, generation.get().to_string()),
            "{rel}"
        );
        generation.get()
    };
    let same_as_clean_build = |step: &str| {
        let out = t.path().join("clean");
        let _ = std::fs::remove_dir_all(&out);
        let built = crate::util::run_with(
            t.path(),
            &["build", "registry", "--out", "clean"],
            &[("MLREG_CACHE", t.path().join("cache").to_str().unwrap())],
            Duration::from_secs(120),
        );
        assert_eq!(built.code, 0, "{step}: {}", built.stderr);
        let mut compared = 0;
        for entry in walkdir::WalkDir::new(&out) {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(&out).unwrap().to_str().unwrap();
            // The root's serial is the server's generation; the marker is the folder's own.
            if !entry.file_type().is_file() || rel == "registry.json" || rel.starts_with('.') {
                continue;
            }
            let (status, _, served) = get(&s.base, rel, None);
            assert_eq!(status, 200, "{step}: {rel}");
            let mut served = String::from_utf8_lossy(&served).into_owned();
            if rel.ends_with(".html") {
                let at = served.find(" data-mlreg-generation=\"").unwrap();
                let end = at + 24 + served[at + 24..].find('"').unwrap() + 1;
                served.replace_range(at..end, "");
                let script = "<script src=\"/_mlreg/live.js\" defer></script>\n";
                served = served.replacen(script, "", 1);
            }
            let clean = std::fs::read(entry.path()).unwrap();
            let clean = String::from_utf8_lossy(&clean).into_owned();
            assert!(
                served == clean,
                "{step}: {rel} differs from a clean build's"
            );
            compared += 1;
        }
        assert!(compared > 50, "{step}: {compared} files");
    };
    same_as_clean_build("first build");

    // A card: its version's page changes and reloads, another asset's page does not.
    let now = edit("models/credit-default/3/README.md", &|s| {
        s + "\nOne more line.\n"
    });
    assert_eq!(generation_of(credit), now.to_string());
    assert_eq!(generation_of(iris), "1");
    let page = format!("%2F{}", credit.replace('/', "%2F"));
    let (_, _, said) = get(&s.base, &format!("_mlreg/wait?since=1&page={page}"), None);
    assert_eq!(String::from_utf8(said).unwrap(), now.to_string());
    same_as_clean_build("a card");
    // A label moved: every asset resolves `@champion` anew, from the assets kept.
    edit("models/iris-classifier/stages.yaml", &|s| {
        s + "- { stage: champion, version: \"1\", by: ana@contoso.example, date: 2026-11-29 }\n"
    });
    same_as_clean_build("a label moved");
    // Broken, then fixed: the assets kept from the failed build are lent to the next.
    let spec = "models/credit-default/3/spec.yaml";
    let good = std::fs::read_to_string(reg.join(spec)).unwrap();
    edit(spec, &|s| s.replace("\ndescription:", "\ndescripton:"));
    assert_eq!(get(&s.base, "index.html", None).0, 500);
    edit(spec, &|_| good.clone());
    same_as_clean_build("fixed");
    // A new version, moved in whole (files came): every asset is read again.
    let v4 = t.path().join("v4");
    copy_dir(&reg.join("models/credit-default/3"), &v4);
    std::fs::rename(&v4, reg.join("models/credit-default/4")).unwrap();
    let wait = format!("_mlreg/wait?since={}", generation.get());
    let (_, _, said) = get(&s.base, &wait, None);
    generation.set(generation.get() + 1);
    assert_eq!(
        String::from_utf8(said).unwrap(),
        generation.get().to_string()
    );
    same_as_clean_build("a new version");
    // The registry's settings: nothing is lent.
    edit("registry.yaml", &|s| {
        s.replace("region: westeurope", "region: northeurope")
    });
    same_as_clean_build("a workspace's region");
}

/// A server on a copy of the sample registry.
fn start_sample() -> (tempfile::TempDir, Serving) {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    let s = start(t.path());
    (t, s)
}

impl Serving {
    /// `127.0.0.1:PORT`.
    fn authority(&self) -> &str {
        self.base
            .trim_start_matches("http://")
            .trim_end_matches('/')
    }

    fn port(&self) -> u16 {
        self.authority()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A field of /proc/<pid>/status, as a number (`VmRSS`: in KiB).
    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        line.split_whitespace().next().unwrap().parse().unwrap()
    }

    fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .unwrap()
            .count()
    }

    /// The server still runs, has not panicked (not even in a thread that survived it) and
    /// answers a page.
    fn assert_alive(&mut self) {
        let exited = self.child.try_wait().unwrap();
        let log = self.log.lock().unwrap().clone();
        assert!(
            exited.is_none() && !log.contains("panicked"),
            "the server exited ({exited:?}) or panicked:\n{log}"
        );
        let (status, _, body) = get(&self.base, "registry.json", None);
        assert_eq!(status, 200);
        assert!(body.starts_with(b"{"));
    }

    /// Send `request` on a new connection, as much of it as the server takes (it may close
    /// early), then read the answer until the server closes the connection.
    fn exchange(&self, request: &[u8]) -> Exchange {
        let mut c = TcpStream::connect(self.authority()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut sent = 0;
        for piece in request.chunks(64 * 1024) {
            if c.write_all(piece).is_err() {
                break;
            }
            sent += piece.len();
        }
        let _ = c.shutdown(Shutdown::Write);
        let answer = read_answer(&mut c);
        Exchange { sent, answer }
    }
}

struct Exchange {
    /// How much of the request was written before the server closed the connection.
    sent: usize,
    answer: Vec<u8>,
}

impl Exchange {
    /// The status of the answer, 0 for none.
    fn status(&self) -> u16 {
        status_of(&self.answer)
    }
}

/// Read until the server closes (or resets, after its answer); fail if it keeps the
/// connection open past the read timeout.
fn read_answer(c: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut piece = [0u8; 8192];
    loop {
        match c.read(&mut piece) {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&piece[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the server kept the connection open");
            }
            Err(_) => return answer,
        }
    }
}

/// The status of a raw answer (`HTTP/1.1 NNN ...`), 0 for none.
fn status_of(answer: &[u8]) -> u16 {
    if answer.is_empty() {
        return 0;
    }
    let text = String::from_utf8_lossy(&answer[..answer.len().min(200)]);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| panic!("not an HTTP/1.1 answer: {text:?}"))
}

/// The body of a raw answer.
fn body_of(answer: &[u8]) -> &[u8] {
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    &answer[at + 4..]
}

#[test]
fn oversized_request_lines_are_cut_off_in_constant_memory() {
    const MIB: usize = 1024 * 1024;
    let (_t, mut s) = start_sample();
    s.assert_alive();
    let before = s.status("VmRSS");
    let host = format!("\r\nHost: {}\r\n\r\n", s.authority());

    let long = [
        b"GET /".as_slice(),
        &vec![b'a'; MIB],
        b" HTTP/1.1",
        host.as_bytes(),
    ]
    .concat();
    let first = s.exchange(&long);
    assert_eq!(
        first.status(),
        414,
        "{}",
        String::from_utf8_lossy(&first.answer)
    );
    assert!(first.answer.ends_with(b"the request line is too long\n"));
    s.assert_alive();

    for _ in 0..20 {
        assert_eq!(s.exchange(&long).status(), 414);
    }
    // 100 MiB without a line end: the server answers and closes long before the end.
    let huge = [b"GET /".as_slice(), &vec![b'a'; 100 * MIB]].concat();
    let cut = s.exchange(&huge);
    assert_eq!(cut.status(), 414);
    assert!(
        cut.sent < 32 * MIB,
        "the server read {} MiB",
        cut.sent / MIB
    );

    s.assert_alive();
    let after = s.status("VmRSS");
    let growth = after.saturating_sub(before) / 1024;
    eprintln!(
        "RSS {} MiB before, {} MiB after; the 100 MiB line was cut off after {} KiB",
        before / 1024,
        after / 1024,
        cut.sent / 1024
    );
    assert!(growth < 50, "RSS grew by {growth} MiB");
}

#[test]
fn header_sections_are_bounded() {
    let (_t, mut s) = start_sample();
    let request = |fields: &str| {
        format!(
            "GET /registry.json HTTP/1.1\r\nHost: {}\r\n{fields}\r\n",
            s.authority()
        )
    };
    // 200 KiB in a few fields, and then in many.
    let big = format!("X-Big: {}\r\n", "b".repeat(50 * 1024)).repeat(4);
    let answer = s.exchange(request(&big).as_bytes());
    assert_eq!(answer.status(), 431);
    assert_eq!(
        body_of(&answer.answer),
        b"the request header fields are too large\n"
    );
    let many: String = (0..2000)
        .map(|i| format!("X-{i}: {}\r\n", "m".repeat(90)))
        .collect();
    assert_eq!(s.exchange(request(&many).as_bytes()).status(), 431);
    // At most 100 fields (the Host is one of them).
    let fields = |n: usize| -> String { (0..n).map(|i| format!("X-{i}: v\r\n")).collect() };
    assert_eq!(s.exchange(request(&fields(99)).as_bytes()).status(), 200);
    assert_eq!(s.exchange(request(&fields(100)).as_bytes()).status(), 431);
    s.assert_alive();
}

#[test]
fn malformed_requests_are_refused_and_the_server_keeps_answering() {
    let (_t, mut s) = start_sample();
    let host = format!("Host: {}", s.authority());
    let h = host.as_bytes();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (
            [b"GET /%a\xc3\xa9 HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        ([b"GET /%zz HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(), 400),
        ([b"GET /%ff%fe HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(), 400),
        (
            [b"GET /\xc3\xa9\xff HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        (
            [b"GET /../registry.json HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        (
            [
                b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n",
                h,
                b"\r\n\r\n",
            ]
            .concat(),
            400,
        ),
        (
            [
                b"GET /static/..%2f..%2fCargo.toml HTTP/1.1\r\n",
                h,
                b"\r\n\r\n",
            ]
            .concat(),
            400,
        ),
        (
            [b"GET /registry.json%00.html HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        (
            [b"GET /..%5c..%5cCargo.toml HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        (
            [b"GET /registry.json%3f HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            404,
        ),
        (b"GET /\r\n\r\n".to_vec(), 400),
        (b"\xff\xfe\x00\x01 / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1 extra\r\n\r\n".to_vec(), 400),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 505),
        (
            [
                b"POST / HTTP/1.1\r\n",
                h,
                b"\r\nContent-Length: 5\r\n\r\nhello",
            ]
            .concat(),
            405,
        ),
        (
            [b"DELETE /registry.json HTTP/1.1\r\n", h, b"\r\n\r\n"].concat(),
            405,
        ),
        (
            [
                b"GET / HTTP/1.1\r\n",
                h,
                b"\r\nContent-Length: 18446744073709551616000\r\n\r\n",
            ]
            .concat(),
            413,
        ),
        (
            [b"GET / HTTP/1.1\r\n", h, b"\r\nContent-Length: 1e3\r\n\r\n"].concat(),
            400,
        ),
        (
            [
                b"GET / HTTP/1.1\r\n",
                h,
                b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            ]
            .concat(),
            413,
        ),
        (
            [b"GET / HTTP/1.1\r\n", h, b"\r\nno colon here\r\n\r\n"].concat(),
            400,
        ),
        (
            [b"GET / HTTP/1.1\r\n", h, b"\r\n folded\r\n\r\n"].concat(),
            400,
        ),
        (
            [
                b"GET / HTTP/1.1\r\n",
                h,
                b"\r\nX-Bytes: \xff\xc3\x28\r\n\r\n",
            ]
            .concat(),
            200,
        ),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            [b"GET / HTTP/1.1\r\n", h, b"\r\n", h, b"\r\n\r\n"].concat(),
            400,
        ),
        (b"GET /registry.json HTTP/1.0\r\n\r\n".to_vec(), 200),
        (
            [b"HEAD /registry.json HTTP/1.1\n", h, b"\n\n"].concat(),
            200,
        ),
        // Cut short: the client closes before its head ends; nothing to answer.
        (b"GET / HTTP/1.1\r\nHost: loc".to_vec(), 0),
        (b"\r\n\r\n\r\n".to_vec(), 0),
        (Vec::new(), 0),
    ];
    for (request, expected) in &cases {
        let answer = s.exchange(request);
        assert_eq!(
            answer.status(),
            *expected,
            "{:?} → {}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&answer.answer)
        );
        if *expected == 405 {
            let text = String::from_utf8_lossy(&answer.answer).to_lowercase();
            assert!(text.contains("\r\nallow: get, head\r\n"), "{text}");
        }
    }
    s.assert_alive();
}

#[test]
fn only_requests_for_this_server_are_answered() {
    let (_t, mut s) = start_sample();
    let port = s.port();
    let with_host = |host: &str| {
        s.exchange(format!("GET /registry.json HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
    };
    // A page on another domain that resolves to 127.0.0.1 (DNS rebinding) reads nothing.
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        String::new(),
    ] {
        let answer = with_host(&host);
        assert_eq!(answer.status(), 421, "Host: {host}");
        let text = String::from_utf8_lossy(&answer.answer);
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8\r\n")
                && !text.contains("serial"),
            "{text}"
        );
    }
    for host in [
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = with_host(&host);
        assert_eq!(answer.status(), 200, "Host: {host}");
        assert!(body_of(&answer.answer).starts_with(b"{"));
    }
    s.assert_alive();
}

#[test]
fn idle_connections_do_not_starve_the_server() {
    let (_t, mut s) = start_sample();
    // Every thread the server needs is there once it serves: handlers, the watch loop and the
    // build's pool (as many threads as cores).
    let before = s.threads();
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(s.authority()).unwrap())
        .collect();
    // Half of them started a request and stalled.
    for mut c in idle.iter().step_by(2) {
        c.write_all(b"GET / HTTP/1.1\r\nHost: 127").unwrap();
    }
    let gets: Vec<_> = (0..10)
        .map(|_| {
            let base = s.base.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| get(&base, "registry.json", None).0)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let mut most = s.threads();
    while !gets.iter().all(|g| g.is_finished()) {
        most = most.max(s.threads());
        std::thread::sleep(Duration::from_millis(10));
    }
    let statuses: Vec<u16> = gets.into_iter().flat_map(|g| g.join().unwrap()).collect();
    eprintln!(
        "50 GETs beside 500 idle connections in {} ms; {before} threads before, at most {most} during",
        started.elapsed().as_millis()
    );
    assert_eq!(statuses, vec![200; 50]);
    assert!(most < before + 16, "{before} threads, then {most}");
    s.assert_alive();
    drop(idle);
}

#[test]
fn long_polls_cannot_starve_the_pool() {
    let (_t, mut s) = start_sample();
    let poll = format!(
        "GET /_mlreg/wait?since=1 HTTP/1.1\r\nHost: {}\r\n\r\n",
        s.authority()
    );
    let mut polls: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = TcpStream::connect(s.authority()).unwrap();
            c.write_all(poll.as_bytes()).unwrap();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    // Pages are served while the polls are held (which lasts 25 s).
    let started = Instant::now();
    s.assert_alive();
    let page = started.elapsed();
    assert!(page < Duration::from_secs(10), "a page took {page:?}");
    // The polls beyond 16 are answered at once: busy, ask again.
    let answered = |polls: &mut Vec<TcpStream>| {
        let mut answers = Vec::new();
        polls.retain_mut(|c| {
            let mut first = [0u8; 12];
            match c.read(&mut first) {
                Ok(n) => {
                    answers.push(first[..n].to_vec());
                    false
                }
                Err(_) => true,
            }
        });
        answers
    };
    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while answers.len() < 24 && Instant::now() < deadline {
        answers.extend(answered(&mut polls));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    answers.extend(answered(&mut polls));
    assert_eq!(answers, vec![b"HTTP/1.1 503".to_vec(); 24]);
    assert_eq!(polls.len(), 16, "long polls held at once");
}

#[test]
fn slow_requests_time_out() {
    let (_t, s) = start_sample();
    let started = Instant::now();
    let mut silent = TcpStream::connect(s.authority()).unwrap();
    let mut partial = TcpStream::connect(s.authority()).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: ").unwrap();
    for c in [&silent, &partial] {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    assert_eq!(status_of(&read_answer(&mut partial)), 408);
    assert_eq!(read_answer(&mut silent), b"");
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
}

#[test]
fn random_requests_never_bring_the_server_down() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let (_t, mut s) = start_sample();
    let host = format!("\r\nHost: {}\r\n\r\n", s.authority());
    let bytes = || proptest::collection::vec(any::<u8>(), 0..300);
    let get = |path: &[u8]| [b"GET /".as_slice(), path, b" HTTP/1.1", host.as_bytes()].concat();
    // Requests, and whether their head is whole (it then gets an answer, not just a close).
    let requests = prop_oneof![
        bytes().prop_map(|request| (request, false)),
        bytes().prop_map(|line| ([line.as_slice(), host.as_bytes()].concat(), false)),
        bytes().prop_map(|path| (get(&path), true)),
        // Escapes next to characters of two, three and four bytes, dot segments, NUL and
        // backslashes: what once made the decoder panic, and what could leave the served set.
        "(/|%|%[0-9a-fA-F]|%2e|%c3|%a9|%00|%5c|\\.\\.|[a-z]|é|€|😀|\\\\){0,12}"
            .prop_map(|path| (get(path.as_bytes()), true)),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&requests, |(request, whole)| {
            let status = s.exchange(&request).status();
            prop_assert!(
                [0, 200, 400, 404, 405, 413, 414, 421, 431, 505].contains(&status)
                    && (status != 0 || !whole),
                "{status} for {:?}",
                String::from_utf8_lossy(&request)
            );
            Ok(())
        })
        .unwrap();
    s.assert_alive();
}

#[test]
fn large_files_are_streamed_in_constant_memory() {
    const MIB: usize = 1024 * 1024;
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    let weights: Vec<u8> = (0..32 * MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(
        t.path()
            .join("registry/models/credit-default/2/model/weights.bin"),
        &weights,
    )
    .unwrap();
    let mut s = start(t.path());
    let sha256 = crate::util::sha256_hex(&weights);
    let blob = format!("blobs/sha256/{sha256}");
    let before = s.status("VmRSS");
    let downloads: Vec<_> = (0..8)
        .map(|_| {
            let (base, blob) = (s.base.clone(), blob.clone());
            std::thread::spawn(move || {
                let (status, h, body) = get(&base, &blob, None);
                (
                    status,
                    header(&h, "etag").to_string(),
                    crate::util::sha256_hex(&body),
                )
            })
        })
        .collect();
    let mut most = before;
    while !downloads.iter().all(|d| d.is_finished()) {
        most = most.max(s.status("VmRSS"));
        std::thread::sleep(Duration::from_millis(10));
    }
    for download in downloads {
        assert_eq!(
            download.join().unwrap(),
            (200, format!("\"{}\"", &sha256[..32]), sha256.clone())
        );
    }
    let growth = most.saturating_sub(before) / 1024;
    eprintln!("8 downloads of 32 MiB at once: RSS grew by at most {growth} MiB");
    assert!(growth < 64, "RSS grew by {growth} MiB");
    s.assert_alive();
}

/// An edit made while the first build runs, after that build read the file, is not lost: the
/// watch compares what it sees, once its watches are set, with what the files were before the
/// first build. (The registry is large enough that its first build takes seconds; an edit
/// landing before the file is read would be built either way.)
#[test]
fn an_edit_made_during_the_first_build_is_built() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    for i in 0..2_000 {
        let dir = reg
            .join("components")
            .join(format!("bulk_{:04}", i / 5))
            .join((i % 5 + 1).to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("spec.yaml"),
            "type: command\ncommand: echo\nenvironment: azureml://registries/contoso-ml/environments/sklearn-1.5/versions/2\n",
        )
        .unwrap();
    }
    let started = spawn(t.path());
    // `registry.yaml` is read first; the thousands of versions after it.
    std::thread::sleep(Duration::from_millis(700));
    let config = reg.join("registry.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "Models, pipeline components",
            "Edited-while-building components",
        ),
    )
    .unwrap();
    let serving = serving(started);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, body) = get(&serving.base, "index.html", None);
        if String::from_utf8_lossy(&body).contains("Edited-while-building") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit never reached the home page"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// With `--poll` (for filesystems that tell of no changes) every file is looked at every
/// 300 ms: an edited card, then a removed one, are each seen and rebuilt.
#[test]
fn polling_sees_changes_without_the_systems_events() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    let s = serving(spawn_with(t.path(), &["--poll"]));
    let page = "models/iris-classifier/2/";
    let card = reg.join(page).join("README.md");
    let shown = |what: &str| {
        let (status, _, html) = get(&s.base, page, None);
        assert_eq!(status, 200);
        String::from_utf8(html).unwrap().contains(what)
    };
    let rebuilt = |since: u32| {
        let (status, _, body) = get(&s.base, &format!("_mlreg/wait?since={since}"), None);
        (status, String::from_utf8(body).unwrap())
    };
    let marker = "Seen by polling 7f3a";
    assert!(!shown(marker));
    let mut text = std::fs::read_to_string(&card).unwrap();
    text.push_str(&format!("\n{marker}\n"));
    std::fs::write(&card, text).unwrap();
    let log = || s.log.lock().unwrap().clone();
    assert_eq!(rebuilt(1), (200, "2".to_string()), "{}", log());
    assert!(shown(marker));
    std::fs::remove_file(&card).unwrap();
    assert_eq!(rebuilt(2), (200, "3".to_string()), "{}", log());
    assert!(!shown(marker));
    let said = s.logged("looking at every file every 300 ms");
    assert!(said.contains("(--poll)"), "{said}");
}
