//! Hostile registries, as they may arrive in a pull request: each must end in a clear, located
//! diagnostic, quickly and in little memory, never a panic or a hang. Every case runs the real
//! binary under a hard deadline and reads the child's peak memory from `wait4`.

// wait4(2), kill(2) and mkfifo(3) have no safe std wrapper; the library itself forbids unsafe.
#![allow(unsafe_code)]

use crate::util::{mlreg, pinned};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

/// A hang guard, not a performance target: the slowest case takes well under a second.
const DEADLINE: Duration = Duration::from_secs(20);
/// Reading a hostile file whole would show here: 200 MB files must not be read.
const MEMORY_CEILING_KIB: i64 = 128 * 1024;

struct Measured {
    code: i32,
    stdout: String,
    max_rss_kib: i64,
}

/// Run `mlreg check . --format json` in `dir` (or with `args`), killed at the deadline.
fn check(dir: &Path, args: &[&str]) -> Measured {
    use std::io::Read;
    let mut all = vec!["check"];
    all.extend_from_slice(if args.is_empty() { &["."] } else { args });
    all.extend(["--format", "json"]);
    let mut child = std::process::Command::new(mlreg())
        .args(&all)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let start = Instant::now();
    let killer = std::thread::spawn(move || {
        while start.elapsed() < DEADLINE {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: plain kill(2) on our own child's pid, which is not reaped until wait4 below.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        true
    });
    let mut status = 0;
    // SAFETY: wait4 fills `status` and `usage` for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = killer.join().unwrap();
    assert_eq!(waited, pid);
    assert!(!killed, "mlreg {all:?} did not finish within {DEADLINE:?}");
    assert!(
        libc::WIFEXITED(status),
        "mlreg {all:?} died (signal {})",
        libc::WTERMSIG(status)
    );
    std::mem::forget(child); // already reaped by wait4
    Measured {
        code: libc::WEXITSTATUS(status),
        stdout: reader.join().unwrap(),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn registry() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("registry.yaml"), "name: hostile\n").unwrap();
    dir
}

fn write(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Assert the run found exactly `expected` (code, place) and stayed small.
fn expect(dir: &Path, args: &[&str], expected: &[(&str, &str)]) {
    let m = check(dir, args);
    let got = pinned(&m.stdout);
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(c, a)| (c.to_string(), a.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{}", m.stdout);
    assert_eq!(m.code, 1, "errors must exit 1");
    assert!(
        m.max_rss_kib < MEMORY_CEILING_KIB,
        "peak memory {} KiB",
        m.max_rss_kib
    );
}

#[test]
fn dot_dot_and_absolute_paths_are_refused() {
    let d = registry();
    write(
        d.path(),
        "models/m/1/spec.yaml",
        "path: ../../../../../etc/passwd\n",
    );
    write(
        d.path(),
        "data/x/1/spec.yaml",
        "type: uri_file\npath: /etc/passwd\n",
    );
    write(
        d.path(),
        "environments/e/1/spec.yaml",
        "build:\n  path: ./ctx/../../..\n",
    );
    expect(
        d.path(),
        &[],
        &[
            ("E041", "models/m/1/spec.yaml:1:7"),
            ("E041", "data/x/1/spec.yaml:2:7"),
            ("E041", "environments/e/1/spec.yaml:2:9"),
        ],
    );
}

#[test]
fn symlinks_out_of_the_version_folder_are_refused() {
    let d = registry();
    write(d.path(), "models/m/1/spec.yaml", "path: weights\n");
    symlink("/etc", d.path().join("models/m/1/weights")).unwrap();
    write(d.path(), "models/n/1/spec.yaml", "path: model\n");
    write(d.path(), "models/n/1/model/ok.bin", "x");
    symlink("/etc/hostname", d.path().join("models/n/1/model/leak")).unwrap();
    // A link that stays inside its version folder is fine.
    symlink("ok.bin", d.path().join("models/n/1/model/alias.bin")).unwrap();
    expect(
        d.path(),
        &[],
        &[
            ("E042", "models/m/1/spec.yaml:1:7"),
            ("E042", "models/m/1/weights"),
            ("E042", "models/n/1/model/leak"),
        ],
    );
}

#[test]
fn alias_bombs_stop_at_the_budget() {
    let d = registry();
    let mut bomb = String::from(
        "path: model.bin\ntags:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        bomb += &format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        );
    }
    write(d.path(), "models/m/1/spec.yaml", bomb);
    write(d.path(), "models/m/1/model.bin", "x");
    let m = check(d.path(), &[]);
    let got = pinned(&m.stdout);
    assert_eq!(got.len(), 1, "{}", m.stdout);
    assert_eq!(got[0].0, "E007");
    assert!(got[0].1.starts_with("models/m/1/spec.yaml:"), "{got:?}");
    assert!(
        m.max_rss_kib < MEMORY_CEILING_KIB,
        "peak memory {} KiB",
        m.max_rss_kib
    );
}

#[test]
fn ten_thousand_levels_of_nesting_stop_at_the_depth_limit() {
    let d = registry();
    let deep = format!(
        "path: model.bin\ntags: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    write(d.path(), "models/m/1/spec.yaml", deep);
    let maps = format!(
        "- stage: dev\n  version: \"1\"\n  by: {}x{}\n",
        "{a: ".repeat(10_000),
        "}".repeat(10_000)
    );
    write(d.path(), "models/m/stages.yaml", maps);
    write(d.path(), "models/m/1/model.bin", "x");
    let m = check(d.path(), &[]);
    let codes: Vec<(String, String)> = pinned(&m.stdout);
    assert_eq!(codes.len(), 2, "{}", m.stdout);
    assert!(codes.iter().all(|(c, _)| c == "E007"), "{codes:?}");
    // The limit is 64 levels: the 65th bracket is where reading stops.
    assert_eq!(codes[0].1, "models/m/1/spec.yaml:2:71", "{codes:?}");
    assert!(
        codes[1].1.starts_with("models/m/stages.yaml:3:"),
        "{codes:?}"
    );
}

#[test]
fn duplicate_keys_anywhere_are_errors() {
    let d = registry();
    write(
        d.path(),
        "models/m/1/spec.yaml",
        "path: model.bin\ntags:\n  team: a\n  team: b\n",
    );
    write(d.path(), "models/m/1/model.bin", "x");
    write(
        d.path(),
        "models/m/stages.yaml",
        "- { stage: dev, stage: prod, version: \"1\", by: a, date: 2026-01-01 }\n",
    );
    expect(
        d.path(),
        &[],
        &[
            ("E006", "models/m/1/spec.yaml:4:3"),
            ("E006", "models/m/stages.yaml:1:17"),
        ],
    );
}

#[test]
fn invalid_utf8_and_nul_bytes_are_located() {
    let d = registry();
    write(
        d.path(),
        "models/m/1/spec.yaml",
        b"path: model.bin\ndescription: caf\xe9\n".as_slice(),
    );
    write(d.path(), "models/m/1/model.bin", "x");
    write(
        d.path(),
        "models/n/1/spec.yaml",
        b"path: model.bin\n\ndescription: a\0b\n".as_slice(),
    );
    write(d.path(), "models/n/1/model.bin", "x");
    expect(
        d.path(),
        &[],
        &[
            ("E002", "models/m/1/spec.yaml:2:17"),
            ("E003", "models/n/1/spec.yaml:3:15"),
        ],
    );
}

#[test]
fn a_200_mb_manifest_is_refused_unread() {
    let d = registry();
    std::fs::create_dir_all(d.path().join("models/m/1")).unwrap();
    for name in ["spec.yaml", "README.md"] {
        let f = std::fs::File::create(d.path().join("models/m/1").join(name)).unwrap();
        f.set_len(200 << 20).unwrap(); // sparse: costs no disk
    }
    // A large shipped file is fine: it is hashed at build time, never parsed.
    let big = std::fs::File::create(d.path().join("models/m/1/model.bin")).unwrap();
    big.set_len(200 << 20).unwrap();
    expect(
        d.path(),
        &[],
        &[
            ("E004", "models/m/1/README.md"),
            ("E004", "models/m/1/spec.yaml"),
        ],
    );
}

#[test]
fn names_that_differ_only_by_case_collide() {
    let d = registry();
    for rel in [
        "data/Credit/1",
        "data/credit/1",
        "models/m/v1",
        "models/m/V1",
    ] {
        write(
            d.path(),
            &format!("{rel}/spec.yaml"),
            "path: https://example.com/x/\n",
        );
    }
    expect(
        d.path(),
        &[],
        &[("E014", "data/credit"), ("E014", "models/m/v1")],
    );
}

#[test]
fn a_fifo_named_spec_yaml_does_not_hang() {
    let d = registry();
    std::fs::create_dir_all(d.path().join("models/m/1")).unwrap();
    let fifo =
        std::ffi::CString::new(d.path().join("models/m/1/spec.yaml").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    expect(d.path(), &[], &[("E001", "models/m/1/spec.yaml")]);
}

#[test]
fn file_names_that_are_not_utf8_are_reported() {
    use std::os::unix::ffi::OsStrExt;
    let d = registry();
    write(d.path(), "models/m/1/spec.yaml", "path: model.bin\n");
    write(d.path(), "models/m/1/model.bin", "x");
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.bin");
    std::fs::write(d.path().join("models/m/1").join(name), "x").unwrap();
    expect(d.path(), &[], &[("E002", "models/m/1/bad\u{fffd}.bin")]);
}

#[test]
fn a_pipeline_that_includes_itself_is_a_cycle_not_a_stack_overflow() {
    let d = registry();
    write(
        d.path(),
        "components/p/1/spec.yaml",
        "type: pipeline\njobs:\n  again:\n    type: pipeline\n    component: ./spec.yaml\n",
    );
    expect(d.path(), &[], &[("E070", "components/p/1/spec.yaml:5:16")]);
}

#[test]
fn lone_specs_get_the_same_guards() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "escape.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: m\npath: ../../secret\n",
    );
    write(
        d.path(),
        "dup.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\nname: d\nname: e\n",
    );
    expect(
        d.path(),
        &["--spec", "escape.yml", "dup.yml"],
        &[("E006", "dup.yml:3:1"), ("E041", "escape.yml:3:7")],
    );
}
