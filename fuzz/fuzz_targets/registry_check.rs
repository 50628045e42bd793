//! The whole check on disk (`registry::check`): a copy of the repository's example registry
//! in a temp folder, one of its files replaced by the input (first byte picks which:
//! registry.yaml, a stages.yaml, an asset.yaml, a spec.yaml, a lineage.yaml or a README.md
//! of models/credit-default), then the report rendered. Slow, but reaches load + resolve.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// benches/fuzz.py seeds each with its index as the first byte: keep the two lists in step.
const FILES: [&str; 6] = [
    "registry.yaml",
    "models/credit-default/stages.yaml",
    "models/credit-default/asset.yaml",
    "models/credit-default/3/spec.yaml",
    "models/credit-default/3/lineage.yaml",
    "models/credit-default/3/README.md",
];

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mlreg-fuzz-reg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../registry")),
            &dir,
        );
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let dir = root();
    let rel = FILES[pick as usize % FILES.len()];
    let path = dir.join(rel);
    let original = std::fs::read(&path).unwrap();
    std::fs::write(&path, rest).unwrap();
    let outcome = mlreg::registry::check(dir, "registry");
    let _ = outcome.report.render_human(false);
    let _ = outcome.report.render_json();
    std::fs::write(&path, original).unwrap();
});
