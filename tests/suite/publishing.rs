//! Publishing to object storage beyond one clean run, on moto (S3 on loopback): retention with
//! `mlreg gc`, the targets `registry.yaml` lists (one failing while the others complete),
//! large files sent in parts, and publishes killed at random moments.

use crate::storage::{Moto, mirror, moto};
use crate::util::{Run, copy_dir, repo, run_with, verify_published};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TARGET: &str = "s3://registries/contoso";

fn mlreg(cwd: &Path, moto: &Moto, args: &[&str]) -> Run {
    let env: Vec<(&str, &str)> = moto.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_with(cwd, args, &env, Duration::from_secs(120))
}

/// Every object of the bucket under the prefix, relative to it.
fn objects(moto: &Moto) -> BTreeSet<String> {
    let (_, modified) = mirror(&moto.store, "contoso");
    modified.into_keys().collect()
}

/// The registry folder `dir` with `publish:` settings added to its registry.yaml.
fn with_settings(dir: &Path, settings: &str) {
    let path = dir.join("registry.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}publish:\n{settings}")).unwrap();
}

fn set_card(dir: &Path, round: &str) {
    let card = dir.join("models/credit-default/3/README.md");
    let original =
        std::fs::read_to_string(repo().join("registry/models/credit-default/3/README.md")).unwrap();
    std::fs::write(card, format!("{original}\n{round}\n")).unwrap();
}

/// With `keep: 2`, `gc` removes what only older roots name, once it is older than the grace
/// period; every root among the last two still verifies in full, a dry run lists exactly what
/// the real run removes, and publishing goes on, even back to content whose objects are gone.
#[test]
fn gc_removes_only_what_the_last_roots_do_not_name() {
    let moto = moto("registries");
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    with_settings(
        &reg,
        &format!("  targets: [{TARGET}]\n  keep: 2\n  grace: 1d\n"),
    );
    // Nothing published: nothing to collect.
    let empty = mlreg(t.path(), &moto, &["gc"]);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("nothing published"),
        "{}",
        empty.stderr
    );

    let mut roots = Vec::new();
    for round in 1..=4 {
        set_card(&reg, &format!("Round {round}."));
        let out = mlreg(t.path(), &moto, &["publish"]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(&format!("serial {round};")),
            "{}",
            out.stdout
        );
        let (folder, _) = mirror(&moto.store, "contoso");
        roots.push(std::fs::read(folder.path().join("registry.json")).unwrap());
    }
    let before = objects(&moto);

    // Everything is younger than the grace period of registry.yaml.
    let young = mlreg(t.path(), &moto, &["gc"]);
    assert_eq!(young.code, 0, "{}", young.stderr);
    assert!(
        young.stderr.contains("removed 0 objects"),
        "{}",
        young.stderr
    );
    assert_eq!(objects(&moto), before);

    let dry = mlreg(t.path(), &moto, &["gc", "--grace", "0s", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(objects(&moto), before, "a dry run removed something");
    let listed: BTreeSet<String> = dry.stdout.lines().map(str::to_string).collect();
    assert!(!listed.is_empty(), "{}", dry.stderr);

    let real = mlreg(t.path(), &moto, &["gc", "--grace", "0s"]);
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert!(
        real.stderr
            .contains(&format!("removed {} objects", listed.len())),
        "{}",
        real.stderr
    );
    assert!(real.stderr.contains("serials 3 to 4"), "{}", real.stderr);
    let after = objects(&moto);
    assert_eq!(
        before.difference(&after).cloned().collect::<BTreeSet<_>>(),
        listed
    );
    // What went is what only serials 1 and 2 named: among it their roots' copies and the
    // round-1 card; the last two roots read in full, each from its own root down.
    assert!(
        listed
            .iter()
            .any(|p| p.starts_with(".mlreg/roots/000000000001."))
    );
    assert!(
        !listed
            .iter()
            .any(|p| p.starts_with(".mlreg/roots/000000000003."))
    );
    let (folder, _) = mirror(&moto.store, "contoso");
    for (serial, root) in roots.iter().enumerate().skip(2) {
        std::fs::write(folder.path().join("registry.json"), root).unwrap();
        assert_eq!(verify_published(folder.path()), Ok(serial as u64 + 1));
    }
    std::fs::write(folder.path().join("registry.json"), &roots[0]).unwrap();
    assert!(
        verify_published(folder.path()).is_err(),
        "serial 1 still reads in full"
    );

    // Back to the card of round 3: its blob is there, but the root being replaced does not
    // name it, so a gc may take it at any moment: the publish sends it again rather than rely
    // on it (its last-modified time moves).
    set_card(&reg, "Round 3.");
    let card = reg.join("models/credit-default/3/README.md");
    let blob = format!(
        "blobs/sha256/{}",
        crate::util::sha256_hex(&std::fs::read(&card).unwrap())
    );
    let (_, modified) = mirror(&moto.store, "contoso");
    let old = modified[&blob].clone();
    std::thread::sleep(Duration::from_millis(1100));
    let back = mlreg(t.path(), &moto, &["publish"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    let (folder, modified) = mirror(&moto.store, "contoso");
    assert_ne!(
        modified[&blob], old,
        "an object no root named was relied on"
    );
    assert_eq!(verify_published(folder.path()), Ok(5));
    // Back to the card of round 1, whose objects are gone: the publish sends them again.
    set_card(&reg, "Round 1.");
    let back = mlreg(t.path(), &moto, &["publish"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    let (folder, _) = mirror(&moto.store, "contoso");
    assert_eq!(verify_published(folder.path()), Ok(6));
    // A second gc right away finds nothing more that only old roots name.
    let again = mlreg(
        t.path(),
        &moto,
        &["gc", "--grace", "0s", "--keep", "2", "--to", TARGET],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let (folder, _) = mirror(&moto.store, "contoso");
    assert_eq!(verify_published(folder.path()), Ok(6));
}

/// `mlreg publish` with no `--to` publishes to each target `registry.yaml` lists, in turn: a
/// bucket that does not exist fails on its own, the others complete; a 20 MiB file goes up in
/// parts and arrives whole.
#[test]
fn publishes_to_each_target_of_registry_yaml_on_its_own() {
    let moto = moto("registries");
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    let site = t.path().join("site");
    with_settings(
        &reg,
        &format!(
            "  targets:\n    - {TARGET}\n    - s3://no-such-bucket/contoso\n    - file://{}\n",
            site.display()
        ),
    );
    // A large file of varied bytes: a part boundary in the wrong place would show in its hash.
    let big: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(reg.join("models/credit-default/1/model/weights.bin"), &big).unwrap();

    let out = mlreg(t.path(), &moto, &["publish"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no-such-bucket"), "{}", out.stderr);
    assert!(
        out.stderr.contains("published to 2 of 3 targets"),
        "{}",
        out.stderr
    );
    let (folder, _) = mirror(&moto.store, "contoso");
    assert_eq!(verify_published(folder.path()), Ok(1));
    assert_eq!(verify_published(&site), Ok(1));
    let sha = crate::util::sha256_hex(&big);
    assert_eq!(
        std::fs::read(folder.path().join(format!("blobs/sha256/{sha}"))).unwrap(),
        big
    );

    // Settings that are not valid are located errors of `check`, and nothing is published.
    std::fs::copy(
        repo().join("registry/registry.yaml"),
        reg.join("registry.yaml"),
    )
    .unwrap();
    with_settings(
        &reg,
        "  targets: [ftp://host/x, s3://]\n  keep: 0\n  grace: soon\n",
    );
    let lines = std::fs::read_to_string(reg.join("registry.yaml"))
        .unwrap()
        .lines()
        .count();
    let bad = mlreg(t.path(), &moto, &["publish"]);
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    let bad = mlreg(t.path(), &moto, &["check", "--format", "json"]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    let found: Vec<(String, u64)> = serde_json::from_str::<serde_json::Value>(&bad.stdout).unwrap()
        ["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let (targets, keep, grace) = (lines as u64 - 2, lines as u64 - 1, lines as u64);
    assert_eq!(
        found,
        [
            ("E027".to_string(), targets),
            ("E027".to_string(), targets),
            ("E027".to_string(), keep),
            ("E027".to_string(), grace),
        ],
        "{}",
        bad.stdout
    );
}

/// 30 publishes killed (SIGKILL) at random moments: after each the bucket still verifies from
/// its root down, and the next publish completes.
#[test]
fn publishes_killed_at_random_moments_leave_the_bucket_readable() {
    let moto = moto("registries");
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    let publish = || {
        let mut cmd = Command::new(crate::util::mlreg());
        cmd.args(["publish", "registry", "--to", TARGET])
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .envs(moto.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    assert!(publish().status().unwrap().success());
    // How long a publish of one change takes here, to kill within it: the fastest of three, so
    // that one slowed by other work on the machine does not put most kills after the end.
    let mut span = u64::MAX;
    for round in 0..3 {
        set_card(&reg, &format!("Timed {round}."));
        let started = std::time::Instant::now();
        assert!(publish().status().unwrap().success());
        span = span.min(started.elapsed().as_millis() as u64);
    }
    let mut serial = 4;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed = 0;
    for round in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = Duration::from_millis(seed % span);
        set_card(&reg, &format!("Killed round {round}."));
        let mut child = publish().spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let status = child.wait().unwrap();
        killed += usize::from(!status.success());
        let (folder, _) = mirror(&moto.store, "contoso");
        let now = verify_published(folder.path())
            .unwrap_or_else(|e| panic!("round {round}, killed after {at:?} ({status}): {e}"));
        assert!(
            now == serial || now == serial + 1,
            "round {round}: serial {now}"
        );
        set_card(&reg, &format!("Completed round {round}."));
        let next = publish().status().unwrap();
        assert!(next.success(), "round {round}: the next publish failed");
        let (folder, _) = mirror(&moto.store, "contoso");
        serial = verify_published(folder.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(serial, now + 1, "round {round}");
    }
    assert!(
        killed >= 20,
        "only {killed} of 30 publishes were killed before they ended"
    );
}

/// A signed registry published to S3: workspaces resolve it with the key pinned; an unchanged
/// republish keeps the signed root (nothing sent); a rotation publishes the new key set, which
/// a client pinned to the old key follows; `gc` never takes a key set.
#[test]
fn signed_publishes_to_s3_rotate_keys_and_keep_them() {
    let moto = moto("registries");
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("registry");
    copy_dir(&repo().join("registry"), &reg);
    let key = |name: &str| {
        let out = mlreg(t.path(), &moto, &["keygen", "--out", name, "--no-password"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.trim().to_string()
    };
    let (p1, p2) = (key("k1"), key("k2"));
    let original = std::fs::read_to_string(reg.join("registry.yaml")).unwrap();
    let trust = |keys: &str| {
        std::fs::write(
            reg.join("registry.yaml"),
            format!("{original}trust:\n  keys: [{keys}]\n"),
        )
        .unwrap();
    };
    trust(&p1);
    let k1 = t.path().join("k1.key");
    let k2 = t.path().join("k2.key");
    let publish = |keys: &[&Path]| {
        let mut args = vec!["publish", "--to", TARGET];
        for k in keys {
            args.extend(["--signing-key", k.to_str().unwrap()]);
        }
        let out = mlreg(t.path(), &moto, &args);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        out
    };
    publish(&[&k1]);
    let cache = t.path().join("cache");
    let resolve = |extra: &[&str]| {
        let mut args = vec![
            "resolve",
            "models/credit-default@prod",
            "--index",
            TARGET,
            "--cache",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        mlreg(t.path(), &moto, &args)
    };
    let pinned = resolve(&["--trusted-key", &p1]);
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    let wrong = resolve(&["--trusted-key", &p2]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("not signed by a key given with --trusted-key")
    );

    let again = publish(&[&k1]);
    assert!(again.stdout.contains("sent 0 files"), "{}", again.stdout);

    trust(&p2);
    set_card(&reg, "Rotated.");
    publish(&[&k1, &k2]);
    let (folder, _) = mirror(&moto.store, "contoso");
    assert_eq!(verify_published(folder.path()), Ok(2));
    let chain: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.path().join("trust/2.json")).unwrap())
            .unwrap();
    assert_eq!(chain["keys"], serde_json::json!([p2]));
    // The cache pinned key set 1 at the first resolve: the rotation is followed.
    let followed = resolve(&[]);
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    let gc = mlreg(
        t.path(),
        &moto,
        &["gc", "--to", TARGET, "--keep", "1", "--grace", "0s"],
    );
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    let left = objects(&moto);
    assert!(
        left.contains("trust/1.json") && left.contains("trust/2.json"),
        "{left:?}"
    );
}
