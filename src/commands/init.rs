//! `mlreg init [DIR]`: a new registry that checks at once, and the CI workflow around it.
//!
//! DIR gets a commented `registry.yaml` (stages, workspaces and policy live; lints, publish
//! targets and trust commented out, each section explained), a README, and the four kind
//! folders, each holding a `.gitkeep` so that git keeps it while it is empty (`check` ignores
//! dot-files; any other file there would be an unexpected file, E010). The GitHub Actions
//! workflow that checks pull requests and publishes main goes to
//! `.github/workflows/registry.yml` in the repository root: the nearest folder above DIR that
//! holds `.git`, else DIR's parent. An existing workflow is left as it is, and said so.
//!
//! DIR must not exist or be empty. The registry is written in a hidden folder beside DIR and
//! renamed into place, so an init that fails leaves nothing behind.

use super::authoring::{Staging, fill, write};
use super::{EXIT_OK, Ui};
use crate::cli::InitArgs;
use crate::registry::kind::Kind;
use crate::registry::names::registry_name_problem;
use std::path::{Path, PathBuf};

const REGISTRY_YAML: &str = include_str!("init/registry.yaml");
const README: &str = include_str!("init/README.md");
const WORKFLOW: &str = include_str!("init/registry.yml");

pub fn run(ui: &Ui, args: InitArgs) -> u8 {
    match init(ui, &args) {
        Ok(_) if ui.quiet => EXIT_OK,
        Ok(text) => match ui.out(&text) {
            Ok(()) => EXIT_OK,
            Err(code) => code,
        },
        Err(e) => ui.fail(e),
    }
}

/// Write the registry and the workflow; what was written, for the user.
fn init(ui: &Ui, args: &InitArgs) -> Result<String, String> {
    let dir = &args.dir;
    let exists = match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => {
            return Err(format!(
                "`{}` exists and is not empty: nothing written (give a new or empty folder)",
                dir.display()
            ));
        }
        Ok(true) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) if dir.exists() => {
            return Err(format!("`{}` exists and is not a folder", dir.display()));
        }
        Err(e) => return Err(format!("cannot read `{}`: {e}", dir.display())),
    };
    // The folder as a full path: `.` and `..` name real folders, whose names count.
    let full = if exists {
        dir.canonicalize()
    } else {
        std::path::absolute(dir)
    }
    .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    let folder = full.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = match &args.name {
        Some(n) => {
            if let Some(why) = registry_name_problem(n) {
                return Err(format!("--name `{n}`: {why}"));
            }
            n.clone()
        }
        None => match registry_name_problem(folder) {
            None => folder.to_string(),
            Some(why) => {
                return Err(format!(
                    "the folder name `{folder}` is not a registry name ({why}): give one with --name"
                ));
            }
        },
    };
    let parent = full
        .parent()
        .ok_or_else(|| format!("`{}` has no parent folder", dir.display()))?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    let root = repository_root(parent);
    let rel = full
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| folder.to_string());
    let shown = dir.to_string_lossy().trim_end_matches('/').to_string();

    let staging = Staging::new(parent, &format!("{folder}.init"))?;
    let values = [("NAME", name.as_str()), ("DIR", rel.as_str())];
    write(
        &staging.path().join("registry.yaml"),
        fill(REGISTRY_YAML, &values).as_bytes(),
    )?;
    write(
        &staging.path().join("README.md"),
        fill(README, &values).as_bytes(),
    )?;
    for kind in Kind::ALL {
        write(&staging.path().join(kind.folder()).join(".gitkeep"), b"")?;
    }
    if exists {
        // An empty folder that exists (perhaps the one mlreg runs in) is filled in place,
        // registry.yaml last: until it is there, the folder is no registry.
        let mut items: Vec<&str> = Kind::ALL.iter().map(|k| k.folder()).collect();
        items.extend(["README.md", "registry.yaml"]);
        for item in items {
            std::fs::rename(staging.path().join(item), full.join(item))
                .map_err(|e| format!("cannot write `{}/{item}`: {e}", dir.display()))?;
        }
    } else {
        std::fs::rename(staging.path(), &full)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }

    let workflow = root.join(".github/workflows/registry.yml");
    let workflow_shown = shown_beside(dir, &root, &workflow);
    let workflow_line = if workflow.exists() {
        ui.status(format_args!(
            "note: `{workflow_shown}` exists: left as it is (mlreg would write one that checks `{rel}` in pull requests and publishes it from main)"
        ));
        format!("  {workflow_shown}  (exists: left as it is)\n")
    } else {
        write_workflow(&workflow, &fill(WORKFLOW, &values))?;
        format!("  {workflow_shown}  checks pull requests, publishes main\n")
    };

    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{}/", k.folder()))
        .collect();
    let registry_flag = if shown == "registry" {
        String::new()
    } else {
        format!(" --registry {shown}")
    };
    Ok(format!(
        "initialized registry {name} in {shown}:\n  {shown}/registry.yaml  stages dev, test, prod; 3 workspaces; policy\n  {shown}/README.md\n  {shown}/{}  empty, each with a .gitkeep\n{workflow_line}next:\n  mlreg add models/<name> path/to/model.yml{registry_flag}\n  list `publish: targets:` in {shown}/registry.yaml before the first push to main\n",
        kinds.join(", ")
    ))
}

/// The repository DIR is in: the nearest folder from `start` up that holds `.git`, else `start`.
fn repository_root(start: &Path) -> PathBuf {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    start
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(&start)
        .to_path_buf()
}

/// `path` (under `root`) as the user would type it from where mlreg runs: beside DIR's parent
/// as DIR was given, when that is where the root is; else in full.
fn shown_beside(dir: &Path, root: &Path, path: &Path) -> String {
    let inside = path.strip_prefix(root).unwrap_or(path);
    let given_parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let same = |p: &Path| p.canonicalize().ok() == root.canonicalize().ok();
    match given_parent {
        Some(p) if same(p) => p.join(inside).display().to_string(),
        None if same(Path::new(".")) => inside.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// The workflow file, by temp file and rename (its folders made first).
fn write_workflow(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    crate::publish::output::atomic_write(path, text.as_bytes())
}
