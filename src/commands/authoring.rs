//! What `init` and `add` share to write new registry folders: a hidden staging folder beside
//! where the result goes (so that the result appears whole, by one rename, or not at all), file
//! writes into it, and the templates they fill in.

use std::path::{Path, PathBuf};

/// A hidden folder `.<label>-<pid>` in `parent`, removed when dropped. Dot-folders are ignored by
/// `check`, so one left in a registry by a killed run is harmless, and the next run with the same
/// label removes it.
pub(super) struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub fn new(parent: &Path, label: &str) -> Result<Staging, String> {
        let prefix = format!(".{label}-");
        crate::publish::output::remove_orphans(parent, &prefix);
        let dir = parent.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        Ok(Staging { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Write a new file (and its folders) inside a staging folder.
pub(super) fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// A template with each `@KEY@` replaced by its value.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("@{key}@"), value)
        })
}
