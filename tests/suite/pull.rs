//! `mlreg pull` against hostile and unreliable sources: what `--dest` ends up holding, and
//! how timeouts, mirrors and redirects behave.
//!
//! Every test runs the real binary against the sample registry (built into a temporary folder,
//! sometimes edited first), served from a folder, by `util::Server`, or by [`Web`] below, a
//! loopback server that can trickle, stall, cut a body once, honour ranges and redirect.

use crate::util::{Fault, Run, Server, copy_dir, repo, run_with, sha256_hex};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A built copy of the sample registry, in a temporary folder.
struct Published {
    dir: tempfile::TempDir,
}

impl Published {
    /// The sample registry, edited by `edit` (given its folder), then built into `public/`.
    fn new(edit: impl FnOnce(&Path)) -> Published {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        copy_dir(&repo().join("registry"), &registry);
        edit(&registry);
        let out = run_with(
            dir.path(),
            &["build", "registry"],
            &[],
            Duration::from_secs(120),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        Published { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The published folder, as an `--index` that is a folder.
    fn folder(&self) -> String {
        self.path("public").to_str().unwrap().to_string()
    }

    /// `mlreg ARGS... --cache CACHE` in the temporary folder.
    fn mlreg(&self, cache: &str, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--cache", cache]);
        run_with(self.dir.path(), &all, &[], Duration::from_secs(120))
    }

    /// `mlreg pull models/credit-default@VERSION --index INDEX --dest DEST --json ...`.
    fn pull(&self, version: &str, index: &str, dest: &Path, extra: &[&str]) -> Run {
        let reference = format!("models/credit-default@{version}");
        let mut args = vec![
            "pull",
            &reference,
            "--index",
            index,
            "--dest",
            dest.to_str().unwrap(),
            "--json",
        ];
        args.extend(extra);
        self.mlreg(self.path("cache").to_str().unwrap(), &args)
    }

    /// The files of credit-default@VERSION as in the registry (what a pull must write, besides
    /// `spec.yaml` and the record).
    fn version_files(&self, version: &str) -> BTreeMap<String, Vec<u8>> {
        let mut files =
            crate::util::tree(&self.path(&format!("registry/models/credit-default/{version}")));
        files.retain(|k, _| !["spec.yaml", "lineage.yaml", "README.md"].contains(&k.as_str()));
        files
    }

    /// `dest` holds exactly credit-default@VERSION: its files with their bytes, `spec.yaml`
    /// for that version, the pull record naming it; nothing else, no link; and no sibling
    /// of a pull is left beside it.
    fn assert_exactly(&self, dest: &Path, version: &str) {
        let got = listing(dest);
        let want = self.version_files(version);
        let mut names: BTreeSet<String> = want.keys().cloned().collect();
        names.extend(["spec.yaml".to_string(), ".mlreg-pull.json".to_string()]);
        assert_eq!(
            got.keys().cloned().collect::<BTreeSet<_>>(),
            names,
            "{}",
            dest.display()
        );
        for (rel, bytes) in want {
            assert_eq!(got[&rel], Entry::File(bytes), "{rel}");
        }
        let Entry::File(spec) = &got["spec.yaml"] else {
            panic!("spec.yaml is not a file")
        };
        let spec = String::from_utf8_lossy(spec);
        assert!(
            spec.contains("name: credit-default")
                && spec.contains(&format!("version: \"{version}\"")),
            "{spec}"
        );
        let Entry::File(record) = &got[".mlreg-pull.json"] else {
            panic!("the record is not a file")
        };
        let record: serde_json::Value = serde_json::from_slice(record).unwrap();
        assert_eq!(
            (record["id"].as_str(), record["version"].as_str()),
            (Some("models/credit-default"), Some(version))
        );
        let listed: BTreeSet<&str> = record["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed,
            got.keys()
                .map(String::as_str)
                .filter(|k| *k != ".mlreg-pull.json")
                .collect()
        );
        assert_eq!(siblings(dest), Vec::<String>::new());
    }
}

/// What a folder holds, without following links.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>),
    Link(PathBuf),
}

fn listing(dir: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, Entry::File(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// The names beside `dest` that a pull makes for itself (`.NAME.mlreg-…`).
fn siblings(dest: &Path) -> Vec<String> {
    let prefix = format!(".{}.mlreg-", dest.file_name().unwrap().to_string_lossy());
    let mut out: Vec<String> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    out.sort();
    out
}

fn json(out: &Run) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr))
}

/// Where `pull --json` says each file came from.
fn sources_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    v["pulled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A megabyte that does not compress, as `model/weights.bin` of credit-default@2: big enough
/// to trickle, stall and cut in the middle of.
fn weights() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn with_weights(registry: &Path) {
    std::fs::write(
        registry.join("models/credit-default/2/model/weights.bin"),
        weights(),
    )
    .unwrap();
}

/// What [`Web`] does wrong on purpose, for paths starting with a prefix.
#[derive(Clone, Debug)]
enum Act {
    /// Send the body `chunk` bytes at a time, one chunk every `every`.
    Trickle { chunk: usize, every: Duration },
    /// Send the headers and half the body, then nothing for this long.
    StallHalf(Duration),
    /// Send half the body and close the connection, the first time the path is asked for.
    CutOnce,
    /// Answer 302 to this base URL followed by the path.
    Redirect(String),
}

/// A static file server on a loopback address: GET with `Range: bytes=N-` (206), the faults
/// of [`Act`], and `moved/PATH` served as PATH (a same-host redirect's target). Every request
/// is logged as `PATH` or `PATH range=N-`. Stopped when dropped.
struct Web {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    rules: Arc<Mutex<Vec<(String, Act)>>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Web {
    fn serve(root: &Path, ip: &str) -> Web {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let web = Web {
            url: format!("http://{addr}/"),
            log: Arc::default(),
            rules: Arc::default(),
            stop: Arc::default(),
            addr,
        };
        let (root, log, rules, stop) = (
            root.to_path_buf(),
            web.log.clone(),
            web.rules.clone(),
            web.stop.clone(),
        );
        let cut: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (root, log, rules, stop, cut) = (
                    root.clone(),
                    log.clone(),
                    rules.clone(),
                    stop.clone(),
                    cut.clone(),
                );
                std::thread::spawn(move || answer(conn, &root, &log, &rules, &stop, &cut));
            }
        });
        web
    }

    fn rule(&self, prefix: &str, act: Act) {
        self.rules.lock().unwrap().push((prefix.to_string(), act));
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(
    mut conn: TcpStream,
    root: &Path,
    log: &Mutex<Vec<String>>,
    rules: &Mutex<Vec<(String, Act)>>,
    stop: &AtomicBool,
    cut: &Mutex<BTreeSet<String>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).ok();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = v
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok());
        }
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    log.lock().unwrap().push(match range {
        Some(n) => format!("{path} range={n}-"),
        None => path.clone(),
    });
    let act = rules
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| path.starts_with(p.as_str()))
        .map(|(_, a)| a.clone());
    if let Some(Act::Redirect(base)) = &act {
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {base}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let file = path.strip_prefix("moved/").unwrap_or(&path);
    let body = (!file.split('/').any(|p| p == ".."))
        .then(|| std::fs::read(root.join(file)).ok())
        .flatten();
    let Some(body) = body else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = range.filter(|n| *n < body.len()).unwrap_or(0);
    let part = &body[start..];
    let mut head = if range.is_some() && start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        )
    } else {
        "HTTP/1.1 200 OK\r\n".to_string()
    };
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        part.len()
    ));
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    match act {
        Some(Act::Trickle { chunk, every }) => {
            for c in part.chunks(chunk) {
                if conn.write_all(c).and_then(|_| conn.flush()).is_err() {
                    return;
                }
                std::thread::sleep(every);
            }
        }
        Some(Act::StallHalf(hold)) => {
            let _ = conn.write_all(&part[..part.len() / 2]);
            let _ = conn.flush();
            let until = Instant::now() + hold;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Act::CutOnce) if cut.lock().unwrap().insert(path.clone()) => {
            let _ = conn.write_all(&part[..part.len() / 2]);
            let _ = conn.flush();
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        _ => {
            let _ = conn.write_all(part);
        }
    }
}

/// A server that accepts connections and never answers them; it counts them.
struct Silent {
    url: String,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, flag) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                count.fetch_add(1, Ordering::SeqCst);
                held.push(conn);
            }
        });
        Silent {
            url: format!("http://{addr}/"),
            accepted,
            stop,
            addr,
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The blob path of `bytes`.
fn blob(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", sha256_hex(bytes))
}

#[test]
fn a_symbolic_link_in_the_old_dest_is_never_followed() {
    let p = Published::new(|_| {});
    let dest = p.path("dest");
    assert_eq!(p.pull("2", &p.folder(), &dest, &[]).code, 0);
    // Links into a folder outside, one to a file, one to a folder; the outside files even
    // hold the right bytes, so that only not following them keeps them out.
    let outside = p.path("outside");
    std::fs::create_dir_all(outside.join("logs")).unwrap();
    let files = p.version_files("2");
    std::fs::write(outside.join("x"), &files["model/model.json"]).unwrap();
    std::fs::write(outside.join("logs/train.log"), &files["logs/train.log"]).unwrap();
    std::fs::remove_file(dest.join("model/model.json")).unwrap();
    std::os::unix::fs::symlink(outside.join("x"), dest.join("model/model.json")).unwrap();
    std::fs::remove_dir_all(dest.join("logs")).unwrap();
    std::os::unix::fs::symlink(outside.join("logs"), dest.join("logs")).unwrap();
    let before = listing(&outside);

    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(listing(&outside), before, "the outside folder changed");
    p.assert_exactly(&dest, "2");
    let sources = sources_of(&json(&out));
    assert_eq!(sources["model/model.json"], "cache", "{sources:?}");
    assert_eq!(sources["logs/train.log"], "cache", "{sources:?}");
    assert_eq!(sources["model/score.py"], "dest", "{sources:?}");

    // A link that replaces a file the new version brings is not written through either.
    std::fs::remove_file(dest.join("model/score.py")).unwrap();
    std::os::unix::fs::symlink(outside.join("x"), dest.join("model/score.py")).unwrap();
    let out = p.pull("3", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(listing(&outside), before, "the outside folder changed");
    p.assert_exactly(&dest, "3");
}

#[test]
fn a_dest_holding_another_version_ends_up_holding_exactly_the_new_one() {
    let p = Published::new(|registry| {
        std::fs::write(
            registry.join("models/credit-default/1/model/only-in-1.txt"),
            "v1 only\n",
        )
        .unwrap();
    });
    let dest = p.path("deploy/model");
    let out = p.pull("1", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "1");
    assert!(dest.join("model/only-in-1.txt").exists());

    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");
    let v = json(&out);
    // score.py is the same in both versions: copied from the old folder, not fetched.
    assert_eq!(sources_of(&v)["model/score.py"], "dest");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join(".mlreg-pull.json")).unwrap()).unwrap();
    assert_eq!(record["digest"], v["digest"]);
    assert_eq!(record["registry"], "contoso-ml");

    // And back: pulling the same version again changes nothing it holds.
    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out)["kept"], 4);
    p.assert_exactly(&dest, "2");
}

#[test]
fn a_folder_mlreg_did_not_pull_into_is_refused_unless_forced() {
    let p = Published::new(|_| {});
    let dest = p.path("work");
    std::fs::create_dir_all(dest.join("notes")).unwrap();
    std::fs::write(dest.join("notes/todo.txt"), "mine\n").unwrap();
    let before = listing(&dest);

    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("mlreg did not pull into it") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(listing(&dest), before);
    assert_eq!(siblings(&dest), Vec::<String>::new());

    // A record that is not one (a link to one elsewhere) does not make the folder mlreg's.
    let elsewhere = p.path("elsewhere");
    let first = p.path("first");
    assert_eq!(p.pull("2", &p.folder(), &first, &[]).code, 0);
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(first.join(".mlreg-pull.json"), elsewhere.join("record")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("record"), dest.join(".mlreg-pull.json")).unwrap();
    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    std::fs::remove_file(dest.join(".mlreg-pull.json")).unwrap();
    assert_eq!(listing(&dest), before);

    let out = p.pull("2", &p.folder(), &dest, &["--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");

    // A file where the folder should be is refused, whatever --force says.
    let file = p.path("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = p.pull("2", &p.folder(), &file, &["--force"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not a folder"), "{}", out.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_dest_that_is_a_symbolic_link_is_refused() {
    let p = Published::new(|_| {});
    let real = p.path("real");
    assert_eq!(p.pull("2", &p.folder(), &real, &[]).code, 0);
    let before = listing(&real);
    let link = p.path("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for force in [&[][..], &["--force"][..]] {
        let out = p.pull("3", &p.folder(), &link, force);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("is a symbolic link"), "{}", out.stderr);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(listing(&real), before);
        assert_eq!(siblings(&link), Vec::<String>::new());
    }
}

#[test]
fn concurrent_pulls_into_one_dest_end_with_exactly_the_version() {
    let p = Published::new(|_| {});
    let server = Server::serve(&p.path("public"));
    let dest = p.path("dest");
    for round in 0..2 {
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
                    // Separate caches: each process downloads, writes and swaps for itself.
                    .arg(p.path(&format!("cache-{round}-{i}")))
                    .arg("--dest")
                    .arg(&dest)
                    .current_dir(p.dir.path())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        p.assert_exactly(&dest, "2");
    }
    for entry in std::fs::read_dir(p.dir.path()).unwrap() {
        let cache = entry.unwrap().path();
        if cache
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("cache-")
        {
            let temps: Vec<String> = crate::util::tree(&cache.join("sha256"))
                .into_keys()
                .filter(|k| k.starts_with('.'))
                .collect();
            assert!(temps.is_empty(), "{temps:?}");
        }
    }
}

#[test]
fn a_slow_but_steady_download_goes_on_and_a_stalled_one_fails_after_the_timeout() {
    let p = Published::new(with_weights);
    let weights_blob = blob(&weights());
    let web = Web::serve(&p.path("public"), "127.0.0.1");
    // A megabyte in 64 KiB pieces, one every 180 ms: about 3 s, never a second without a byte.
    web.rule(
        &weights_blob,
        Act::Trickle {
            chunk: 64 << 10,
            every: Duration::from_millis(180),
        },
    );
    let dest = p.path("slow");
    let started = Instant::now();
    let out = p.pull("2", &web.url, &dest, &["--timeout", "1"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(took >= Duration::from_millis(2500), "not slow: {took:?}");
    p.assert_exactly(&dest, "2");
    assert_eq!(sources_of(&json(&out))["model/weights.bin"], web.url);

    // Half the body, then silence for a minute: given up after about --timeout.
    let stalled = Web::serve(&p.path("public"), "127.0.0.1");
    stalled.rule(&weights_blob, Act::StallHalf(Duration::from_secs(60)));
    let dest = p.path("stalled");
    let cache = p.path("cache-stalled");
    let started = Instant::now();
    let out = p.mlreg(
        cache.to_str().unwrap(),
        &[
            "pull",
            "models/credit-default@2",
            "--index",
            &stalled.url,
            "--dest",
            dest.to_str().unwrap(),
            "--timeout",
            "2",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        out.stderr.contains("stalled: no byte for 2 s") && out.stderr.contains("model/weights.bin"),
        "{}",
        out.stderr
    );
    // The destination did not exist before: a failed pull leaves none.
    assert!(!dest.exists(), "a failed pull left {:?}", listing(&dest));
    assert_eq!(siblings(&dest), Vec::<String>::new());
    let cached: Vec<String> = crate::util::tree(&cache.join("sha256"))
        .into_keys()
        .collect();
    assert!(
        !cached
            .iter()
            .any(|c| weights_blob.ends_with(c.as_str()) || c.starts_with('.')),
        "{cached:?}"
    );

    // The whole command has its own limit, however steady the bytes come.
    let dest = p.path("total");
    let started = Instant::now();
    let out = p.mlreg(
        p.path("cache-total").to_str().unwrap(),
        &[
            "pull",
            "models/credit-default@2",
            "--index",
            &web.url,
            "--dest",
            dest.to_str().unwrap(),
            "--timeout",
            "1",
            "--total-timeout",
            "1",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--total-timeout of 1 s"),
        "{}",
        out.stderr
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!dest.exists(), "a failed pull left {:?}", listing(&dest));
    assert_eq!(siblings(&dest), Vec::<String>::new());
}

#[test]
fn a_dead_mirror_costs_one_timeout_and_one_note() {
    let dead = Silent::start();
    let p = Published::new(|registry| {
        let path = registry.join("registry.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replace("https://weu.ml.contoso.example/registry/", &dead.url);
        assert_ne!(text, edited);
        std::fs::write(path, edited).unwrap();
    });
    let index = Server::serve(&p.path("public"));
    let dest = p.path("dest");
    let started = Instant::now();
    let out = p.mlreg(
        p.path("cache").to_str().unwrap(),
        &[
            "pull",
            "models/credit-default",
            "--workspace",
            "prod-westeurope",
            "--index",
            &index.url,
            "--dest",
            dest.to_str().unwrap(),
            "--timeout",
            "2",
            "--json",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");
    // Four files and three documents would be 14 s of timeouts; one is 2 s.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(dead.accepted.load(Ordering::SeqCst), 1);
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("note:") && l.contains(&dead.url))
        .collect();
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert!(
        notes[0].contains("for the rest of this run") && notes[0].contains("stalled"),
        "{}",
        notes[0]
    );
    let v = json(&out);
    assert_eq!(v["source"], index.url.as_str());
    assert_eq!(v["document_source"], index.url.as_str());
    let sources = sources_of(&v);
    assert_eq!(sources.len(), 4);
    assert!(sources.values().all(|s| *s == index.url), "{sources:?}");
}

#[test]
fn redirects_are_followed_only_to_the_hosts_of_the_sources() {
    let p = Published::new(|_| {});
    // Another host on loopback, serving the same registry.
    let other = Web::serve(&p.path("public"), "127.0.0.2");
    let index = Web::serve(&p.path("public"), "127.0.0.1");
    index.rule("blobs/", Act::Redirect(other.url.clone()));
    let dest = p.path("dest");
    let out = p.pull("2", &index.url, &dest, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("redirected to host 127.0.0.2") && out.stderr.contains("not followed"),
        "{}",
        out.stderr
    );
    assert_eq!(other.log(), Vec::<String>::new());
    assert!(!dest.exists(), "a failed pull left {:?}", listing(&dest));
    assert_eq!(siblings(&dest), Vec::<String>::new());

    // Once that host is a configured mirror, the index may send clients there.
    let out = p.pull("2", &index.url, &dest, &["--mirror", &other.url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");
    assert_eq!(
        other
            .log()
            .iter()
            .filter(|r| r.starts_with("blobs/"))
            .count(),
        4,
        "{:?}",
        other.log()
    );

    // On the same host, a redirect is followed.
    let moving = Web::serve(&p.path("public"), "127.0.0.1");
    moving.rule("blobs/", Act::Redirect(format!("{}moved/", moving.url)));
    let dest = p.path("same-host");
    let cache = p.path("cache-same-host");
    let out = p.mlreg(
        cache.to_str().unwrap(),
        &[
            "pull",
            "models/credit-default@2",
            "--index",
            &moving.url,
            "--dest",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");
    let moved = moving
        .log()
        .into_iter()
        .filter(|r| r.starts_with("moved/blobs/"))
        .count();
    assert_eq!(moved, 4, "{:?}", moving.log());
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let p = Published::new(with_weights);
    let bytes = weights();
    let weights_blob = blob(&bytes);
    let web = Web::serve(&p.path("public"), "127.0.0.1");
    web.rule(&weights_blob, Act::CutOnce);
    let dest = p.path("dest");
    let out = p.pull("2", &web.url, &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p.assert_exactly(&dest, "2");
    let asked: Vec<String> = web
        .log()
        .into_iter()
        .filter(|r| r.starts_with(&weights_blob))
        .collect();
    assert_eq!(
        asked,
        [
            weights_blob.clone(),
            format!("{weights_blob} range={}-", bytes.len() / 2)
        ]
    );
    let v = json(&out);
    assert_eq!(sources_of(&v)["model/weights.bin"], web.url);
    assert_eq!(v["fetched"], 5);
}

#[test]
fn the_output_names_the_source_that_served_each_document_and_file() {
    let p = Published::new(|_| {});
    let mirror = Server::serve(&p.path("public"));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let cache = p.path("cache");
    let cache = cache.to_str().unwrap();
    let resolve = |index: &str, extra: &[&str]| {
        let mut args = vec!["resolve", "models/credit-default@prod", "--index", index];
        args.extend(extra);
        p.mlreg(cache, &args)
    };

    // The index refuses: the mirror serves, and says so.
    let out = resolve(&refused, &["--mirror", &mirror.url, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["source"], mirror.url.as_str());
    assert_eq!(v["document_source"], mirror.url.as_str());
    let documents = v["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 4, "{documents:?}");
    assert!(
        documents.iter().all(|d| d["source"] == mirror.url.as_str()),
        "{documents:?}"
    );
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("note:") && l.contains(&refused))
        .collect();
    assert_eq!(notes.len(), 1, "{}", out.stderr);

    // Warm: the documents come from the cache, the root confirmed by the mirror.
    let out = resolve(&mirror.url, &["--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["source"], mirror.url.as_str());
    assert_eq!(v["document_source"], "cache");
    assert_eq!(
        v["documents"],
        serde_json::json!([{"path": "registry.json", "source": "cache", "revalidated_by": mirror.url}])
    );
    let out = resolve(&mirror.url, &[]);
    assert!(
        out.stdout.contains(&format!(
            " bytes, from the cache (registry.json from {})\n",
            mirror.url
        )),
        "{}",
        out.stdout
    );

    // Files: from the source, then from the cache, then from the folder itself.
    let dest = p.path("dest");
    let pull = |dest: &Path, json: bool| {
        let mut args = vec![
            "pull",
            "models/credit-default@prod",
            "--index",
            &mirror.url,
            "--dest",
            dest.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        p.mlreg(cache, &args)
    };
    let out = pull(&dest, false);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "4 files (4 fetched from {}, 0 from the cache, 0 already there)",
            mirror.url
        )),
        "{}",
        out.stdout
    );
    for (dest, expect) in [(p.path("other"), "cache"), (dest, "dest")] {
        let out = pull(&dest, true);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let sources = sources_of(&json(&out));
        assert_eq!(sources.len(), 4);
        assert!(sources.values().all(|s| s == expect), "{sources:?}");
    }
}

#[test]
fn a_killed_pull_leaves_siblings_that_the_next_pull_removes() {
    let p = Published::new(with_weights);
    let web = Web::serve(&p.path("public"), "127.0.0.1");
    web.rule(&blob(&weights()), Act::StallHalf(Duration::from_secs(60)));
    let dest = p.path("dest");
    assert_eq!(p.pull("1", &p.folder(), &dest, &[]).code, 0);
    let mut child = std::process::Command::new(crate::util::mlreg())
        .args(["pull", "models/credit-default@2", "--index", &web.url])
        .arg("--cache")
        .arg(p.path("cache-killed"))
        .arg("--dest")
        .arg(&dest)
        .current_dir(p.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !web.log().iter().any(|r| r.starts_with(&blob(&weights()))) {
        assert!(started.elapsed() < Duration::from_secs(30), "no download");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let left = siblings(&dest);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".dest.mlreg-pull-"), "{left:?}");
    p.assert_exactly_but_siblings(&dest, "1");
    // A live process's sibling (this test's pid) is not touched.
    let live = p.path(&format!(".dest.mlreg-pull-{}-0", std::process::id()));
    std::fs::create_dir(&live).unwrap();

    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(live.exists());
    std::fs::remove_dir(&live).unwrap();
    p.assert_exactly(&dest, "2");
}

impl Published {
    /// [`Published::assert_exactly`], with siblings of pulls allowed beside the folder.
    fn assert_exactly_but_siblings(&self, dest: &Path, version: &str) {
        let mut want: BTreeSet<String> = self.version_files(version).into_keys().collect();
        want.extend(["spec.yaml".to_string(), ".mlreg-pull.json".to_string()]);
        assert_eq!(listing(dest).into_keys().collect::<BTreeSet<_>>(), want);
    }
}

#[test]
fn sizes_that_would_overflow_are_refused_without_a_panic() {
    let p = Published::new(|_| {});
    let public = p.path("public");
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(public.join(rel)).unwrap()).unwrap()
    };
    let put = |prefix: &str, value: &serde_json::Value| {
        let bytes = serde_json::to_vec(value).unwrap();
        let sha = sha256_hex(&bytes);
        let rel = format!("{prefix}/{sha}.json");
        std::fs::write(public.join(&rel), &bytes).unwrap();
        serde_json::json!({ "path": rel, "sha256": sha, "size": bytes.len() })
    };
    // Version 2 claims two files of u64::MAX bytes; its digest and every hash above it are
    // recomputed, as a careful attacker (or a broken publisher) would.
    let mut root = read("registry.json");
    let mut snapshot = read(root["snapshot"]["path"].as_str().unwrap());
    let id = "models/credit-default";
    let (bin_name, mut bin) = snapshot["bins"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, r)| (k.clone(), read(r["path"].as_str().unwrap())))
        .find(|(_, bin)| bin["assets"].get(id).is_some())
        .unwrap();
    let mut doc = read(bin["assets"][id]["doc"]["path"].as_str().unwrap());
    let v = &mut doc["versions"]["2"];
    v["files"][0]["size"] = serde_json::json!(u64::MAX);
    v["files"][1]["size"] = serde_json::json!(u64::MAX);
    let files: Vec<mlreg::publish::index::FileEntry> =
        serde_json::from_value(v["files"].clone()).unwrap();
    let lineage = (!v["lineage"].is_null()).then(|| v["lineage"].clone());
    v["digest"] = serde_json::json!(mlreg::publish::index::digest(
        &v["spec"],
        lineage.as_ref(),
        &files
    ));
    bin["assets"][id]["doc"] = put("assets/models/credit-default", &doc);
    snapshot["bins"][&bin_name] = put("bins", &bin);
    root["snapshot"] = put("snapshots", &snapshot);
    root.as_object_mut().unwrap().remove("signatures");
    std::fs::write(
        public.join("registry.json"),
        serde_json::to_vec(&root).unwrap(),
    )
    .unwrap();

    let out = p.mlreg(
        p.path("cache").to_str().unwrap(),
        &["resolve", "models/credit-default@2", "--index", &p.folder()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dest = p.path("dest");
    let out = p.pull("2", &p.folder(), &dest, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("bytes one pull takes"),
        "{}",
        out.stderr
    );
    assert!(!dest.exists() || listing(&dest).is_empty());
    assert_eq!(siblings(&dest), Vec::<String>::new());
}

// `pull --with-deps`.

/// Every asset document of a published folder, by id, read through the protocol's chain.
fn asset_docs(public: &Path) -> BTreeMap<String, serde_json::Value> {
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(public.join(rel)).unwrap()).unwrap()
    };
    let root = read("registry.json");
    let snapshot = read(root["snapshot"]["path"].as_str().unwrap());
    let mut out = BTreeMap::new();
    for bin_ref in snapshot["bins"].as_object().unwrap().values() {
        let bin = read(bin_ref["path"].as_str().unwrap());
        for (id, entry) in bin["assets"].as_object().unwrap() {
            out.insert(id.clone(), read(entry["doc"]["path"].as_str().unwrap()));
        }
    }
    out
}

/// Edit the asset documents of a published folder (by id), then write each changed document,
/// the bins that hold them, the snapshot and an unsigned root that chain up to them, as an
/// attacker who can write to the index (or a broken publisher) would.
fn tamper(public: &Path, edit: impl FnOnce(&mut BTreeMap<String, serde_json::Value>)) {
    let read = |rel: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(public.join(rel)).unwrap()).unwrap()
    };
    let put = |prefix: &str, value: &serde_json::Value| {
        let bytes = serde_json::to_vec(value).unwrap();
        let sha = sha256_hex(&bytes);
        let rel = format!("{prefix}/{sha}.json");
        std::fs::write(public.join(&rel), &bytes).unwrap();
        serde_json::json!({ "path": rel, "sha256": sha, "size": bytes.len() })
    };
    let before = asset_docs(public);
    let mut docs = before.clone();
    edit(&mut docs);
    let mut root = read("registry.json");
    let mut snapshot = read(root["snapshot"]["path"].as_str().unwrap());
    let bins: Vec<(String, String)> = snapshot["bins"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| (name.clone(), r["path"].as_str().unwrap().to_string()))
        .collect();
    for (name, path) in bins {
        let mut bin = read(&path);
        let ids: Vec<String> = bin["assets"].as_object().unwrap().keys().cloned().collect();
        let mut changed = false;
        for id in ids {
            if docs[&id] != before[&id] {
                bin["assets"][&id]["doc"] = put(&format!("assets/{id}"), &docs[&id]);
                changed = true;
            }
        }
        if changed {
            snapshot["bins"][&name] = put("bins", &bin);
        }
    }
    root["snapshot"] = put("snapshots", &snapshot);
    root.as_object_mut().unwrap().remove("signatures");
    std::fs::write(
        public.join("registry.json"),
        serde_json::to_vec(&root).unwrap(),
    )
    .unwrap();
}

/// A version's digest recomputed from its content, as the protocol defines it.
fn redigest(v: &mut serde_json::Value) {
    let files: Vec<mlreg::publish::index::FileEntry> =
        serde_json::from_value(v["files"].clone()).unwrap();
    let lineage = (!v["lineage"].is_null()).then(|| v["lineage"].clone());
    v["digest"] = serde_json::json!(mlreg::publish::index::digest(
        &v["spec"],
        lineage.as_ref(),
        &files
    ));
}

/// What `id@version` needs by the rule of `pull --with-deps`, computed here from its asset
/// document: the references its spec names (as pinned Azure URIs), and a model's lineage
/// environment. As `id@version`, sorted.
fn needed(docs: &BTreeMap<String, serde_json::Value>, id: &str, version: &str) -> Vec<String> {
    let v = &docs[id]["versions"][version];
    let spec = v["spec"].to_string();
    let environment = &v["lineage"]["environment"];
    let mut out: Vec<String> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let uri = format!(
                "\"azureml://registries/contoso-ml/{}/versions/{}\"",
                r["id"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            );
            spec.contains(&uri)
                || (id.starts_with("models/")
                    && environment["id"] == r["id"]
                    && environment["version"] == r["version"])
        })
        .map(|r| {
            format!(
                "{}@{}",
                r["id"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `id@version` and everything it needs, transitively: each with what it needs directly.
fn closure(
    docs: &BTreeMap<String, serde_json::Value>,
    id: &str,
    version: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![format!("{id}@{version}")];
    while let Some(at) = todo.pop() {
        if out.contains_key(&at) {
            continue;
        }
        let (id, version) = at.rsplit_once('@').unwrap();
        let deps = needed(docs, id, version);
        todo.extend(deps.iter().cloned());
        out.insert(at, deps);
    }
    out
}

/// The folders `--with-deps` made under `dir`: `<kind>/<name>/<version>` as `id@version`;
/// panics on anything else in `dir` (a file, a link, a folder at another depth).
fn pulled_versions(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let children = |d: &Path| -> Vec<PathBuf> {
        let mut c: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        c.sort();
        c
    };
    for kind in children(dir) {
        assert!(
            std::fs::symlink_metadata(&kind).unwrap().is_dir(),
            "{}",
            kind.display()
        );
        for name in children(&kind) {
            assert!(
                std::fs::symlink_metadata(&name).unwrap().is_dir(),
                "{}",
                name.display()
            );
            for version in children(&name) {
                assert!(
                    std::fs::symlink_metadata(&version).unwrap().is_dir(),
                    "{}",
                    version.display()
                );
                let file = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
                out.insert(format!(
                    "{}/{}@{}",
                    file(&kind),
                    file(&name),
                    file(&version)
                ));
            }
        }
    }
    out
}

/// `DIR/<kind>/<name>/<version>` holds exactly the version as its asset document lists it:
/// each file with its sha256, `spec.yaml` with the spec file's, and the pull record naming the
/// version and its digest.
fn assert_holds(dir: &Path, docs: &BTreeMap<String, serde_json::Value>, label: &str) {
    let (id, version) = label.rsplit_once('@').unwrap();
    let v = &docs[id]["versions"][version];
    let dest = dir.join(id).join(version);
    let mut want: BTreeMap<String, String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.insert(
        "spec.yaml".into(),
        v["spec_file"]["sha256"].as_str().unwrap().to_string(),
    );
    let mut got = listing(&dest);
    let Some(Entry::File(record)) = got.remove(".mlreg-pull.json") else {
        panic!("{label}: no pull record in {}", dest.display())
    };
    let got: BTreeMap<String, String> = got
        .into_iter()
        .map(|(path, entry)| match entry {
            Entry::File(bytes) => (path, sha256_hex(&bytes)),
            Entry::Link(to) => panic!("{label}: {path} is a link to {}", to.display()),
        })
        .collect();
    assert_eq!(got, want, "{label}");
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(
        (&record["id"], &record["version"], &record["digest"]),
        (
            &serde_json::json!(id),
            &serde_json::json!(version),
            &v["digest"]
        ),
        "{label}"
    );
    assert_eq!(siblings(&dest), Vec::<String>::new(), "{label}");
}

/// The versions of `az ml <kind> create -f DIR/<kind>/<name>/<version>/spec.yaml` lines, in
/// the order printed, as `id@version`; each command's kind word checked against its folder.
fn command_order(stdout: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("az ml "))
        .map(|rest| {
            let (kind, rest) = rest.split_once(" create -f ").unwrap();
            let (spec, registry) = rest.split_once(" --registry-name ").unwrap();
            assert_eq!(registry, "contoso-ml");
            let folder = spec
                .strip_prefix(&prefix)
                .and_then(|s| s.strip_suffix("/spec.yaml"))
                .unwrap_or_else(|| panic!("{spec}"));
            let (id, version) = folder.rsplit_once('/').unwrap();
            let singular = match id.split_once('/').unwrap().0 {
                "models" => "model",
                "components" => "component",
                "environments" => "environment",
                "data" => "data",
                other => panic!("{other}"),
            };
            assert_eq!(kind, singular, "{folder}");
            format!("{id}@{version}")
        })
        .collect()
}

/// A component version of the sample whose spec uses other components (a pipeline): found
/// in the built documents, not named here.
fn a_pipeline(docs: &BTreeMap<String, serde_json::Value>) -> (String, String) {
    docs.iter()
        .filter(|(id, _)| id.starts_with("components/"))
        .flat_map(|(id, doc)| {
            doc["versions"]
                .as_object()
                .unwrap()
                .keys()
                .map(move |v| (id.clone(), v.clone()))
        })
        .find(|(id, v)| {
            needed(docs, id, v)
                .iter()
                .any(|n| n.starts_with("components/"))
        })
        .expect("the sample has a pipeline component")
}

#[test]
fn with_deps_pulls_each_needed_version_into_its_own_folder_and_orders_the_commands() {
    let p = Published::new(|_| {});
    let docs = asset_docs(&p.path("public"));
    let (pipeline, version) = a_pipeline(&docs);
    let prod = docs["models/credit-default"]["stages"]["prod"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        (format!("{pipeline}@{version}"), pipeline.clone(), version),
        (
            "models/credit-default@prod".to_string(),
            "models/credit-default".to_string(),
            prod,
        ),
    ];
    for (i, (reference, id, version)) in cases.iter().enumerate() {
        let want = closure(&docs, id, version);
        // Not vacuous: the pipeline reaches an environment through its components, and the
        // model needs its environment but none of the data its lineage names.
        assert!(
            want.keys().any(|k| k.starts_with("environments/")),
            "{reference}: {want:?}"
        );
        assert!(want.len() >= 2, "{reference}: {want:?}");
        let lineage = docs[id.as_str()]["versions"][version.as_str()]["references"]
            .as_array()
            .unwrap()
            .len();
        if id.starts_with("models/") {
            assert!(lineage > want.len() - 1, "{reference}: nothing left out");
        }

        let dir = p.path(&format!("deps-{i}"));
        let out = p.mlreg(
            p.path("cache").to_str().unwrap(),
            &[
                "pull",
                reference,
                "--with-deps",
                "--index",
                &p.folder(),
                "--dest",
                dir.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            pulled_versions(&dir),
            want.keys().cloned().collect::<BTreeSet<_>>(),
            "{reference}"
        );
        for label in want.keys() {
            assert_holds(&dir, &docs, label);
        }
        // One command per version, every dependency before what needs it, the version
        // asked for last.
        let order = command_order(&out.stdout, &dir);
        assert_eq!(
            order.iter().cloned().collect::<BTreeSet<_>>(),
            want.keys().cloned().collect::<BTreeSet<_>>(),
            "{}",
            out.stdout
        );
        assert_eq!(order.len(), want.len(), "{}", out.stdout);
        let at = |label: &str| order.iter().position(|o| o == label).unwrap();
        for (label, deps) in &want {
            for dep in deps {
                assert!(at(dep) < at(label), "{dep} after {label}:\n{}", out.stdout);
            }
        }
        assert_eq!(order.last(), Some(&format!("{id}@{version}")));
        assert!(out.stdout.contains("history"), "{}", out.stdout);

        // The same again, as JSON: the order, the edges, the folders; all kept this time.
        let out = p.mlreg(
            p.path("cache").to_str().unwrap(),
            &[
                "pull",
                reference,
                "--with-deps",
                "--json",
                "--index",
                &p.folder(),
                "--dest",
                dir.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let v = json(&out);
        let entries = v.as_array().unwrap();
        let listed: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{}@{}",
                    e["id"].as_str().unwrap(),
                    e["version"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(listed, order);
        for e in entries {
            let label = format!(
                "{}@{}",
                e["id"].as_str().unwrap(),
                e["version"].as_str().unwrap()
            );
            let (id, version) = label.rsplit_once('@').unwrap();
            assert_eq!(e["depends_on"], serde_json::json!(want[&label]), "{label}");
            assert_eq!(e["digest"], docs[id]["versions"][version]["digest"]);
            assert_eq!(
                e["dest"],
                serde_json::json!(dir.join(id).join(version)),
                "{label}"
            );
            assert_eq!(e["fetched"], 0, "{label}");
            assert!(e["command"].as_str().unwrap().starts_with("az ml "));
        }
        for label in want.keys() {
            assert_holds(&dir, &docs, label);
        }
    }

    // A deprecated dependency is pulled, with a note.
    let dir = p.path("deps-deprecated");
    let out = p.mlreg(
        p.path("cache").to_str().unwrap(),
        &[
            "pull",
            "models/credit-default@1",
            "--with-deps",
            "--index",
            &p.folder(),
            "--dest",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("note: environments/sklearn-1.5@1 is deprecated")),
        "{}",
        out.stderr
    );
    assert_eq!(
        pulled_versions(&dir),
        closure(&docs, "models/credit-default", "1")
            .into_keys()
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn with_deps_refuses_a_dependency_swapped_for_another_version() {
    let p = Published::new(|_| {});
    let public = p.path("public");
    let docs = asset_docs(&public);
    let (pipeline, version) = a_pipeline(&docs);
    let pipeline = format!("{pipeline}@{version}");
    let model = "models/credit-default@prod";
    // Both need environments/sklearn-1.5@2 (the pipeline through its components).
    let env = "environments/sklearn-1.5";
    let cache = p.path("cache");
    let pull = |reference: &str, dir: &Path| {
        p.mlreg(
            cache.to_str().unwrap(),
            &[
                "pull",
                reference,
                "--with-deps",
                "--index",
                &p.folder(),
                "--dest",
                dir.to_str().unwrap(),
            ],
        )
    };
    let kept = p.path("kept");
    assert_eq!(pull(model, &kept).code, 0);
    let before = listing(&kept);
    assert!(before.keys().any(|k| k.starts_with(&format!("{env}/2/"))));

    // Version 2's document replaced by version 1's: self-consistent (its digest is what its
    // content gives), so resolving it alone succeeds; only the pins of those that need it
    // tell.
    tamper(&public, |docs| {
        let doc = docs.get_mut(env).unwrap();
        doc["versions"]["2"] = doc["versions"]["1"].clone();
    });
    let out = p.mlreg(
        cache.to_str().unwrap(),
        &["resolve", &format!("{env}@2"), "--index", &p.folder()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for reference in [pipeline.as_str(), model] {
        for dir in [p.path("fresh"), kept.clone()] {
            let out = pull(reference, &dir);
            assert_eq!(out.code, 2, "{reference}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!("pins {env}@2 with digest"))
                    && out.stderr.contains("the index was altered"),
                "{}",
                out.stderr
            );
            assert_eq!(out.stdout, "");
            if dir == kept {
                assert_eq!(listing(&kept), before, "{reference}");
            } else {
                assert!(!dir.exists(), "{reference}: {:?}", listing(&dir));
            }
        }
    }
    assert_eq!(siblings(&p.path("fresh")), Vec::<String>::new());
}

#[test]
fn with_deps_refuses_a_cycle_without_hanging() {
    let p = Published::new(|_| {});
    let public = p.path("public");
    let docs = asset_docs(&public);
    let (pipeline, version) = a_pipeline(&docs);
    let env = "environments/sklearn-1.5";
    let pipeline_digest = docs[&pipeline]["versions"][&version]["digest"].clone();
    // The environment's spec is made to name the pipeline that needs it (through its
    // components); its digest is recomputed and every version that pins it re-pinned, so each
    // pin holds and only the cycle is wrong.
    tamper(&public, |docs| {
        let v = &mut docs.get_mut(env).unwrap()["versions"]["2"];
        v["spec"]["image"] = serde_json::json!(format!(
            "azureml://registries/contoso-ml/{pipeline}/versions/{version}"
        ));
        v["references"].as_array_mut().unwrap().push(
            serde_json::json!({"id": pipeline, "version": version, "digest": pipeline_digest}),
        );
        redigest(v);
        let digest = v["digest"].clone();
        for doc in docs.values_mut() {
            for v in doc["versions"].as_object_mut().unwrap().values_mut() {
                for r in v["references"].as_array_mut().unwrap() {
                    if r["id"] == env && r["version"] == "2" {
                        r["digest"] = digest.clone();
                    }
                }
            }
        }
    });
    let dir = p.path("deps");
    let started = Instant::now();
    let out = p.mlreg(
        p.path("cache").to_str().unwrap(),
        &[
            "pull",
            &format!("{pipeline}@{version}"),
            "--with-deps",
            "--index",
            &p.folder(),
            "--dest",
            dir.to_str().unwrap(),
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("cycle")
            && out.stderr.contains(&format!("{env}@2"))
            && out.stderr.contains(&format!("{pipeline}@{version}")),
        "{}",
        out.stderr
    );
    assert!(!dir.exists());
}

#[test]
fn with_deps_swaps_nothing_into_place_until_every_version_is_complete() {
    let p = Published::new(|_| {});
    let docs = asset_docs(&p.path("public"));
    let server = Server::serve(&p.path("public"));
    let dir = p.path("deps");
    let cache = p.path("cache");
    let pull = |reference: &str| {
        p.mlreg(
            cache.to_str().unwrap(),
            &[
                "pull",
                reference,
                "--with-deps",
                "--index",
                &server.url,
                "--dest",
                dir.to_str().unwrap(),
            ],
        )
    };
    let out = pull("models/credit-default@1");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = listing(&dir);

    // Version 2 needs another environment, pulled first; then a file of the model itself
    // fails on every try.
    let v2 = &docs["models/credit-default"]["versions"]["2"];
    let blob = v2["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "model/model.json")
        .unwrap()["blob"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        closure(&docs, "models/credit-default", "2"),
        closure(&docs, "models/credit-default", "1")
    );
    server.fault(&blob, Fault::Status(500));
    let out = pull("models/credit-default@2");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("model/model.json"), "{}", out.stderr);
    // Neither the environment it needs nor the model: nothing moved, no empty folder made for
    // them stays, no sibling of a pull is left anywhere.
    assert_eq!(listing(&dir), before);
    assert_eq!(
        pulled_versions(&dir),
        closure(&docs, "models/credit-default", "1")
            .into_keys()
            .collect::<BTreeSet<_>>()
    );
    let mut stray = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.contains(".mlreg-pull-") || name.contains(".mlreg-old-") {
                stray.push(path.clone());
            }
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    assert_eq!(stray, Vec::<PathBuf>::new());
}
