//! Object storage, with real emulators on loopback: Azurite (Microsoft's Azure Storage
//! emulator, from npm) for `az://`, moto (an S3-compatible server, from PyPI) for `s3://`.
//! The sample build is uploaded under a prefix, then pulled and resolved through mlreg with
//! credentials from the usual environment variables. Each test starts its server on a free
//! port and stops it when done; missing emulators are installed on first use (`.ci/run` also
//! installs them).

use crate::util::{copy_dir, repo, run, tree};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process, killed when dropped.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(cmd: &mut Command, port: u16) -> Emulator {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start emulator");
    let emulator = Emulator(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the emulator did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    emulator
}

fn published() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("registry"), &t.path().join("registry"));
    assert_eq!(run(t.path(), &["build", "registry"]).code, 0);
    t
}

/// Pull models/credit-default@prod from `index` with `env`, twice, and check the files.
fn pull_twice(t: &Path, index: &str, env: &[(&str, String)]) {
    for round in 0..2 {
        let dest = t.join(format!("dest-{round}"));
        let out = Command::new(crate::util::mlreg())
            .args([
                "pull",
                "models/credit-default@prod",
                "--index",
                index,
                "--timeout",
                "10",
                "--json",
                "--cache",
            ])
            .arg(t.join("cache"))
            .arg("--dest")
            .arg(&dest)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["version"], "2");
        // The second round finds every file in the cache.
        let expected = if round == 0 { (4, 0) } else { (0, 4) };
        assert_eq!(
            (
                v["fetched"].as_u64().unwrap(),
                v["from_cache"].as_u64().unwrap()
            ),
            expected,
            "round {round}"
        );
        for (rel, bytes) in tree(&t.join("registry/models/credit-default/2")) {
            if !["spec.yaml", "lineage.yaml", "README.md"].contains(&rel.as_str()) {
                assert_eq!(std::fs::read(dest.join(&rel)).unwrap(), bytes, "{rel}");
            }
        }
        assert!(
            std::fs::read_to_string(dest.join("spec.yaml"))
                .unwrap()
                .contains("name: credit-default")
        );
    }
}

#[test]
fn pulls_from_azure_blob_storage_in_azurite() {
    let dir = repo().join("tests/storage");
    if !dir.join("node_modules/.bin/azurite-blob").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(ok.success(), "npm ci in tests/storage failed");
    }
    let t = published();
    let port = free_port();
    // Azurite writes a debug log and an extent folder in its working directory: keep it in the
    // temporary folder.
    let _azurite = start(
        Command::new(dir.join("node_modules/.bin/azurite-blob"))
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
            ])
            .current_dir(t.path()),
        port,
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let up = Command::new("node")
        .arg(dir.join("upload.mjs"))
        .args([&endpoint, "registries", "contoso"])
        .arg(t.path().join("public"))
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let env = [
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL", endpoint.clone()),
    ];
    pull_twice(t.path(), "az://registries/contoso", &env);
    // A prefix with nothing published is a clear error, not a hang.
    let out = Command::new(crate::util::mlreg())
        .args([
            "resolve",
            "models/credit-default@prod",
            "--index",
            "az://registries/nothing-here",
            "--timeout",
            "5",
            "--cache",
        ])
        .arg(t.path().join("cache"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registry.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pulls_from_s3_in_moto() {
    let bin = crate::util::venv("moto-venv", "moto[server]==5.2.5");
    let t = published();
    let port = free_port();
    let _moto = start(
        Command::new(bin.join("moto_server")).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
        port,
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    // Create the bucket and upload the build: moto accepts unsigned requests.
    ureq::put(&format!("{endpoint}/registries"))
        .send_empty()
        .unwrap();
    let public = t.path().join("public");
    for (rel, bytes) in tree(&public) {
        ureq::put(&format!("{endpoint}/registries/contoso/{rel}"))
            .send(&bytes[..])
            .unwrap();
    }
    let env = [
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
    ];
    pull_twice(t.path(), "s3://registries/contoso", &env);
}
