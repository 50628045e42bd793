//! Object storage, with real emulators on loopback: Azurite (Microsoft's Azure Storage
//! emulator, from npm) for `az://`, moto (an S3-compatible server, from PyPI) for `s3://`.
//! The sample build is uploaded under a prefix, then pulled and resolved through mlreg with
//! credentials from the usual environment variables. Each test starts its server on a free
//! port and stops it when done; emulators are installed under `target/` on first use.

use crate::util::{copy_dir, repo, run, tree};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process, killed when dropped.
pub struct Emulator(Child);

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

/// Start the server `command(port)` makes on a free loopback port; returns it once `ours`
/// recognises its answer to `GET /` there. A port found free can be taken by another test's
/// listener before the server binds it: the server then exits, and a check that only connects
/// would have been talking to the other listener (a CI run failed so, with the bucket creation
/// refused a moment later). So readiness is the server's own answer, and a server that exited
/// is started again on another port.
pub fn start(command: impl Fn(u16) -> Command, ours: impl Fn(&str) -> bool) -> (Emulator, u16) {
    for _ in 0..5 {
        let port = free_port();
        let child = command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start emulator");
        let mut emulator = Emulator(child);
        let start = Instant::now();
        loop {
            if answer(port, "/").is_some_and(|text| ours(&text)) {
                return (emulator, port);
            }
            if emulator.0.try_wait().ok().flatten().is_some() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the emulator did not answer on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("the emulator exited five times on start");
}

/// The status line and headers of what the server on a loopback `port` answers to `GET path`.
pub fn answer(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 65536 {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(String::from_utf8_lossy(&got[..end]).into_owned())
}

/// Azurite on a free loopback port, its working files (a debug log, an extent folder) in
/// `cwd`; returns the server and its blob endpoint.
fn azurite(cwd: &Path) -> (Emulator, String) {
    let bin = crate::util::npm("storage").join("node_modules/.bin/azurite-blob");
    let (server, port) = start(
        |port| {
            let mut command = Command::new(&bin);
            command
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                ])
                .current_dir(cwd);
            command
        },
        |answer| answer.contains("Server: Azurite-Blob/"),
    );
    (server, format!("http://127.0.0.1:{port}"))
}

/// Create `container` in the Azurite at `endpoint` and upload the folder `from` under `prefix`.
fn seed_azurite(endpoint: &str, container: &str, prefix: &str, from: &Path) {
    let up = Command::new("node")
        .arg(crate::util::npm("storage").join("upload.mjs"))
        .args([endpoint, container, prefix])
        .arg(from)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
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
    let t = published();
    let (_azurite, endpoint) = azurite(t.path());
    seed_azurite(&endpoint, "registries", "contoso", &t.path().join("public"));
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
    let t = published();
    let moto = moto("registries");
    // Upload the build: moto accepts unsigned requests.
    let public = t.path().join("public");
    for (rel, bytes) in tree(&public) {
        ureq::put(&format!("{}/registries/contoso/{rel}", moto.endpoint))
            .send(&bytes[..])
            .unwrap();
    }
    pull_twice(t.path(), "s3://registries/contoso", &moto.env);
}

/// moto on a free loopback port with one bucket; the environment that points mlreg at it,
/// and a store to look at the bucket directly.
pub struct Moto {
    pub _server: Emulator,
    pub endpoint: String,
    pub env: [(&'static str, String); 5],
    pub store: object_store::aws::AmazonS3,
}

pub fn moto(bucket: &str) -> Moto {
    let bin = crate::util::venv("moto-venv", "moto[server]==5.2.5");
    let (server, port) = start(
        |port| {
            let mut command = Command::new(bin.join("moto_server"));
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        },
        // moto answers `GET /` as S3 does, with its own server header beside werkzeug's.
        |answer| answer.contains("\nserver: amazon.com"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    ureq::put(&format!("{endpoint}/{bucket}"))
        .send_empty()
        .unwrap();
    let env = [
        ("AWS_ENDPOINT", endpoint.clone()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
    ];
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_region("us-east-1")
        .build()
        .unwrap();
    Moto {
        _server: server,
        endpoint,
        env,
        store,
    }
}

/// Copy every object under `prefix` of `store` into a folder, with each object's last-modified
/// time: what a reader of the target sees, to verify with the protocol alone.
pub fn mirror(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
) -> (
    tempfile::TempDir,
    std::collections::BTreeMap<String, String>,
) {
    use futures_util::TryStreamExt;
    use object_store::ObjectStoreExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut modified = std::collections::BTreeMap::new();
    runtime.block_on(async {
        let path = object_store::path::Path::from(prefix);
        let metas: Vec<object_store::ObjectMeta> =
            store.list(Some(&path)).try_collect().await.unwrap();
        for meta in metas {
            let rel = meta.location.as_ref()[prefix.len() + 1..].to_string();
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let target = dir.path().join(&rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, &bytes).unwrap();
            modified.insert(rel, format!("{:?}", meta.last_modified));
        }
    });
    (dir, modified)
}

/// `mlreg publish` to S3 (moto on loopback): the published bucket verifies from its root down;
/// an unchanged republish changes no object; a change sends only what changed; a published file
/// changed is refused; and 10 pairs of concurrent publishes with changes of their own leave
/// exactly one winner or two in a row, never a root naming what is missing.
#[test]
fn publishes_to_s3_in_moto_incrementally_and_safely() {
    let t = tempfile::tempdir().unwrap();
    for side in ["registry", "b"] {
        copy_dir(&repo().join("registry"), &t.path().join(side));
    }
    let Moto {
        _server,
        env,
        store,
        ..
    } = moto("registries");
    let publish = |side: &str| {
        Command::new(crate::util::mlreg())
            .args(["publish", side, "--to", "s3://registries/contoso"])
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let first = publish("registry");
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("serial 1; sent 182 files"),
        "{}",
        text(&first)
    );
    let (folder, before) = mirror(&store, "contoso");
    assert_eq!(crate::util::verify_published(folder.path()), Ok(1));

    // Unchanged: no object is sent, and the publish asks one listing per prefix, the root and
    // the manifest of changing files.
    let again = publish("registry");
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("serial 1; sent 0 files (0 bytes), 181 already there; 9 requests"),
        "{}",
        text(&again)
    );
    assert_eq!(mirror(&store, "contoso").1, before, "an object was written");

    // A card changes: only the files it touches go, and the serial moves on.
    let card = t.path().join("registry/models/credit-default/3/README.md");
    let original = std::fs::read_to_string(&card).unwrap();
    std::fs::write(&card, format!("{original}\nReviewed again.\n")).unwrap();
    let changed = publish("registry");
    assert!(changed.status.success(), "{}", text(&changed));
    let (folder, after) = mirror(&store, "contoso");
    assert_eq!(crate::util::verify_published(folder.path()), Ok(2));
    let rewritten = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .count();
    assert!(
        (5..20).contains(&rewritten),
        "{rewritten} objects written for one card"
    );

    // A published file that changes is refused, and nothing is sent.
    let model = t
        .path()
        .join("registry/models/credit-default/2/model/model.json");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, b"{}\n").unwrap();
    let refused = publish("registry");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("error[E110]"), "{}", text(&refused));
    assert_eq!(mirror(&store, "contoso").1, after);
    std::fs::write(&model, bytes).unwrap();

    // Concurrent publishes, each with its own change.
    let mut serial = 2;
    for round in 0..10 {
        for side in ["registry", "b"] {
            let card = t
                .path()
                .join(side)
                .join("models/credit-default/3/README.md");
            std::fs::write(&card, format!("{original}\nRound {round}, {side}.\n")).unwrap();
        }
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| publish("registry"));
            let b = s.spawn(|| publish("b"));
            (a.join().unwrap(), b.join().unwrap())
        });
        let mut won = 0;
        for out in [a, b] {
            match out.status.code() {
                Some(0) => won += 1,
                Some(4) => assert!(text(&out).contains("moved on"), "{}", text(&out)),
                other => panic!("round {round}: exit {other:?}: {}", text(&out)),
            }
        }
        assert!(won >= 1, "round {round}: nobody won");
        let (folder, _) = mirror(&store, "contoso");
        let now = crate::util::verify_published(folder.path())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(now, serial + won as u64, "round {round}");
        serial = now;
    }
}

/// The same on Azure Blob (Azurite): publish, an unchanged republish that sends nothing,
/// concurrent publishes that never break the container, and a workspace that pulls from it.
#[test]
fn publishes_to_azure_blob_in_azurite() {
    let t = tempfile::tempdir().unwrap();
    for side in ["registry", "b"] {
        copy_dir(&repo().join("registry"), &t.path().join(side));
    }
    let (_azurite, endpoint) = azurite(t.path());
    // An empty container to publish into (the upload script makes it).
    std::fs::create_dir_all(t.path().join("empty")).unwrap();
    seed_azurite(&endpoint, "registries", "contoso", &t.path().join("empty"));
    let env = [
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL", endpoint.clone()),
    ];
    let store = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account("devstoreaccount1")
        .with_access_key("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
        .with_endpoint(format!("{endpoint}/devstoreaccount1"))
        .with_allow_http(true)
        .with_container_name("registries")
        .build()
        .unwrap();
    let publish = |side: &str| {
        Command::new(crate::util::mlreg())
            .args(["publish", side, "--to", "az://registries/contoso"])
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let first = publish("registry");
    assert!(first.status.success(), "{}", text(&first));
    let (folder, before) = mirror(&store, "contoso");
    assert_eq!(crate::util::verify_published(folder.path()), Ok(1));
    let again = publish("registry");
    assert!(
        text(&again).contains("sent 0 files (0 bytes), 181 already there; 9 requests"),
        "{}",
        text(&again)
    );
    assert_eq!(mirror(&store, "contoso").1, before, "an object was written");

    let original =
        std::fs::read_to_string(t.path().join("registry/models/credit-default/3/README.md"))
            .unwrap();
    let mut serial = 1;
    for round in 0..5 {
        for side in ["registry", "b"] {
            let card = t
                .path()
                .join(side)
                .join("models/credit-default/3/README.md");
            std::fs::write(&card, format!("{original}\nRound {round}, {side}.\n")).unwrap();
        }
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| publish("registry"));
            let b = s.spawn(|| publish("b"));
            (a.join().unwrap(), b.join().unwrap())
        });
        let won = [a, b]
            .iter()
            .filter(|out| match out.status.code() {
                Some(0) => true,
                Some(4) => {
                    assert!(text(out).contains("moved on"), "{}", text(out));
                    false
                }
                other => panic!("round {round}: exit {other:?}: {}", text(out)),
            })
            .count() as u64;
        assert!(won >= 1, "round {round}: nobody won");
        let (folder, _) = mirror(&store, "contoso");
        let now = crate::util::verify_published(folder.path())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(now, serial + won, "round {round}");
        serial = now;
    }
    // Retention keeping the last root only: what older rounds sent goes, the rest verifies.
    let objects = |store: &dyn object_store::ObjectStore| mirror(store, "contoso").1.len();
    let before = objects(&store);
    let gc = Command::new(crate::util::mlreg())
        .args(["gc", "registry", "--to", "az://registries/contoso"])
        .args(["--keep", "1", "--grace", "0s"])
        .current_dir(t.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(gc.status.success(), "{}", text(&gc));
    let after = objects(&store);
    assert!(after < before, "gc removed nothing: {}", text(&gc));
    assert!(
        text(&gc).contains(&format!("removed {} objects", before - after)),
        "{}",
        text(&gc)
    );
    let (folder, _) = mirror(&store, "contoso");
    assert_eq!(crate::util::verify_published(folder.path()), Ok(serial));
    pull_twice(t.path(), "az://registries/contoso", &env);
}
