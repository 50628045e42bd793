//! Running the `mlreg` binary and reading its JSON diagnostics.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn mlreg() -> &'static str {
    env!("CARGO_BIN_EXE_mlreg")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `mlreg args...` in `cwd`, killing it (and failing) after `limit`.
pub fn run_with_limit(cwd: &Path, args: &[&str], limit: Duration) -> Run {
    run_with(cwd, args, &[], limit)
}

/// Run `mlreg args...` in `cwd` with `env` set (and no MLREG_* from the caller's environment;
/// the caches in a folder of the tests' own, under target/, unless `env` says otherwise),
/// killing it (and failing) after `limit`.
pub fn run_with(cwd: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = Command::new(mlreg())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("MLREG_INDEX")
        .env_remove("MLREG_MIRRORS")
        .env_remove("MLREG_TRUSTED_KEYS")
        .env_remove("MLREG_SIGNING_KEY")
        .env(
            "MLREG_CACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("mlreg-cache"),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mlreg");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("mlreg {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: reader.join().unwrap(),
        stderr: ereader.join().unwrap(),
    }
}

pub fn run(cwd: &Path, args: &[&str]) -> Run {
    run_with_limit(cwd, args, Duration::from_secs(60))
}

/// One diagnostic as (code, "file:line:col") or (code, "file") when it has no line.
pub type Pinned = (String, String);

pub fn pinned(json: &str) -> Vec<Pinned> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let mut out: Vec<Pinned> = v["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .map(|d| {
            let code = d["code"].as_str().unwrap().to_string();
            let file = d["file"].as_str().unwrap_or("").to_string();
            let at = match (d["line"].as_u64(), d["column"].as_u64()) {
                (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
                _ => file,
            };
            (code, at)
        })
        .collect();
    out.sort();
    out
}

/// Write a txtar-style fixture (`-- path --` headers) into `dir`; returns its `# key: value`
/// header lines.
pub fn materialize(text: &str, dir: &Path) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let mut current: Option<(PathBuf, String)> = None;
    let flush = |cur: &mut Option<(PathBuf, String)>| {
        if let Some((path, body)) = cur.take() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, body).unwrap();
        }
    };
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if let Some(name) = trimmed
            .strip_prefix("-- ")
            .and_then(|r| r.strip_suffix(" --"))
        {
            flush(&mut current);
            if let Some(d) = name.strip_suffix('/') {
                std::fs::create_dir_all(dir.join(d)).unwrap();
            } else {
                current = Some((dir.join(name), String::new()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        } else if let Some(h) = trimmed.strip_prefix("# ")
            && let Some((k, v)) = h.split_once(": ")
        {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    flush(&mut current);
    headers
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` (relative path → bytes).
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

/// What a test server does wrong on purpose, for paths starting with a prefix.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Flip a byte of the body.
    Corrupt,
    /// Send half the body, with the full Content-Length, then close.
    Truncate,
    /// Answer with this status and no body.
    Status(u16),
    /// Send the headers, then nothing for this long.
    Stall(std::time::Duration),
    /// Send the body without a length, then zeros until the client hangs up (1 GiB at most).
    Endless,
}

/// A static file server on 127.0.0.1 for the tests: GET only, one thread per connection, ETag
/// and If-None-Match (304), injectable faults, and every request logged as "path status".
/// Stopped when dropped.
pub struct Server {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub faults: std::sync::Arc<std::sync::Mutex<Vec<(String, Fault)>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Server {
    pub fn serve(root: &Path) -> Server {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let faults: std::sync::Arc<std::sync::Mutex<Vec<(String, Fault)>>> = Default::default();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (root, log, flag, faults2) = (
            root.to_path_buf(),
            requests.clone(),
            stop.clone(),
            faults.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let (root, log, faults) = (root.clone(), log.clone(), faults2.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).ok();
                    let mut if_none_match = None;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("if-none-match")
                        {
                            if_none_match = Some(v.trim().to_string());
                        }
                    }
                    let path = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .trim_start_matches('/')
                        .to_string();
                    let fault = faults
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|(p, _)| path.starts_with(p.as_str()))
                        .map(|(_, f)| f.clone());
                    let file = (!path.split('/').any(|p| p == "..")).then(|| root.join(&path));
                    let body = file.and_then(|f| std::fs::read(f).ok());
                    let (status, response): (u16, Vec<u8>) = match (body, fault) {
                        (_, Some(Fault::Status(code))) => (code, format!("HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()),
                        (None, _) => (404, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()),
                        (Some(body), fault) => {
                            let etag = format!("\"{}\"", &sha256_hex(&body)[..16]);
                            if if_none_match.as_deref() == Some(etag.as_str()) {
                                (304, format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n").into_bytes())
                            } else {
                                let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                                let mut body = body;
                                match fault {
                                    Some(Fault::Corrupt) if !body.is_empty() => body[0] ^= 0x55,
                                    Some(Fault::Truncate) => body.truncate(body.len() / 2),
                                    Some(Fault::Endless) => {
                                        let head = format!("HTTP/1.1 200 OK\r\nETag: {etag}\r\nConnection: close\r\n\r\n");
                                        let mut sent = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&body)).is_ok();
                                        let zeros = vec![0u8; 64 << 10];
                                        let mut total = 0usize;
                                        while sent && total < 1 << 30 {
                                            sent = conn.write_all(&zeros).is_ok();
                                            total += zeros.len();
                                        }
                                        log.lock().unwrap().push(format!("{path} 200 endless {total}"));
                                        return;
                                    }
                                    Some(Fault::Stall(d)) => {
                                        conn.write_all(&head).ok();
                                        conn.flush().ok();
                                        std::thread::sleep(d);
                                        head.clear();
                                    }
                                    _ => {}
                                }
                                head.extend(body);
                                (200, head)
                            }
                        }
                    };
                    log.lock().unwrap().push(format!("{path} {status}"));
                    conn.write_all(&response).ok();
                });
            }
        });
        Server {
            url: format!("http://{addr}/"),
            requests,
            faults,
            stop,
            addr,
        }
    }

    /// Make requests for paths starting with `prefix` fail this way.
    pub fn fault(&self, prefix: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .push((prefix.to_string(), fault));
    }

    /// The requests so far, as "path status", and forget them.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// Held while a test installs into `target/`: tests run in parallel and share the installs, and
/// two tests creating the same venv at once would remove each other's files.
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A Python virtual environment under `target/<name>` with `requirement` installed (from PyPI,
/// on first use); returns its `bin` folder.
pub fn venv(name: &str, requirement: &str) -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = repo().join("target").join(name);
    let ready = venv.join(".installed");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(requirement) {
        let ok = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(ok.success(), "cannot create {}", venv.display());
        let ok = Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                requirement,
            ])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install {requirement} failed");
        std::fs::write(&ready, requirement).unwrap();
    }
    venv.join("bin")
}

/// The npm package `tests/<name>` (its package.json, lock and scripts), installed under
/// `target/npm/<name>` on first use or when its lock changes; returns that folder, where its
/// scripts run beside their `node_modules`.
pub fn npm(name: &str) -> PathBuf {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let source = repo().join("tests").join(name);
    let dir = repo().join("target/npm").join(name);
    let lock = std::fs::read(source.join("package-lock.json")).unwrap();
    let ready = dir.join("node_modules/.mlreg-installed");
    if std::fs::read(&ready).ok().as_deref() != Some(&lock[..]) {
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), dir.join(file)).unwrap();
        }
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(ok.success(), "npm ci for tests/{name} failed");
        std::fs::write(&ready, &lock).unwrap();
    }
    // Scripts are copied on every call, so an edit to one is never shadowed by an old copy.
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "mjs") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Walk a published folder as a client would, using nothing but the protocol: the root, its
/// snapshot, every bin, every asset document, and every used-by page, file, spec and card they
/// name, each checked for size and sha256. The serial of the root, or what is wrong.
pub fn verify_published(dir: &Path) -> Result<u64, String> {
    let read = |rel: &str| std::fs::read(dir.join(rel)).map_err(|e| format!("{rel}: {e}"));
    let verified = |r: &serde_json::Value| -> Result<Vec<u8>, String> {
        let rel = r["path"].as_str().ok_or("a reference without a path")?;
        let bytes = read(rel)?;
        if bytes.len() as u64 != r["size"].as_u64().unwrap_or(u64::MAX) {
            return Err(format!("{rel}: size"));
        }
        if sha256_hex(&bytes) != r["sha256"].as_str().unwrap_or("") {
            return Err(format!("{rel}: sha256"));
        }
        Ok(bytes)
    };
    let json = |b: Vec<u8>| -> Result<serde_json::Value, String> {
        serde_json::from_slice(&b).map_err(|e| e.to_string())
    };
    let root = json(read("registry.json")?)?;
    let snapshot = json(verified(&root["snapshot"])?)?;
    for bin_ref in snapshot["bins"].as_object().ok_or("no bins")?.values() {
        let bin = json(verified(bin_ref)?)?;
        for entry in bin["assets"].as_object().ok_or("no assets")?.values() {
            let doc = json(verified(&entry["doc"])?)?;
            for v in doc["versions"].as_object().ok_or("no versions")?.values() {
                verified(&v["spec_file"])?;
                for page in v["used_by_pages"].as_array().into_iter().flatten() {
                    json(verified(page)?)?;
                }
                if !v["card"].is_null() {
                    verified(&v["card"]["blob"])?;
                }
                for f in v["files"].as_array().ok_or("no files")? {
                    let r = serde_json::json!({ "path": f["blob"], "size": f["size"], "sha256": f["sha256"] });
                    verified(&r)?;
                }
            }
        }
    }
    root["serial"]
        .as_u64()
        .ok_or_else(|| "no serial".to_string())
}
