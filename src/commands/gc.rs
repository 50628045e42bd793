//! `mlreg gc [DIR] --to TARGET... [--keep N] [--grace D] [--dry-run]`: remove from each object
//! storage target what its last roots do not name (see `publish::gc`). A folder target keeps
//! the last `keep` builds at every build already; here it only loses what killed runs left.

use super::{EXIT_OK, Ui};
use crate::cli::GcArgs;
use crate::diag::plural;
use crate::publish::gc::collect;
use crate::publish::output::remove_orphans;
use crate::publish::target::ObjectTarget;

pub fn run(ui: &Ui, args: GcArgs) -> u8 {
    let display = args.dir.to_string_lossy().trim_end_matches('/').to_string();
    let settings = crate::registry::config(&args.dir, &display)
        .map(|c| c.publish)
        .unwrap_or_default();
    let targets = match super::publish::targets(&args.to, &args.dir, &display) {
        Ok(t) => t,
        Err(e) => return ui.fail(e),
    };
    let keep = args.keep.map_or_else(|| settings.keep(), usize::from);
    let grace = args.grace.unwrap_or_else(|| settings.grace());
    let mut worst = EXIT_OK;
    for to in &targets {
        let code = match to.split_once("://").map(|(scheme, _)| scheme) {
            None | Some("file") => folder(ui, to.strip_prefix("file://").unwrap_or(to)),
            Some(_) => object_storage(ui, &args, to, keep, grace),
        };
        worst = worst.max(code);
    }
    worst
}

fn folder(ui: &Ui, dir: &str) -> u8 {
    let path = std::path::Path::new(dir);
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
        let parent = if parent.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            parent
        };
        remove_orphans(parent, &format!(".{}.mlreg-tmp-", name.to_string_lossy()));
    }
    ui.status(format_args!(
        "{dir}: a folder keeps the builds `publish: keep:` names at every build; what killed builds left is gone"
    ));
    EXIT_OK
}

fn object_storage(
    ui: &Ui,
    args: &GcArgs,
    location: &str,
    keep: usize,
    grace: std::time::Duration,
) -> u8 {
    let target = match ObjectTarget::open(location) {
        Ok(t) => t,
        Err(e) => return ui.fail(e),
    };
    let found = match collect(&target, keep, grace, std::time::SystemTime::now()) {
        Ok(Some(c)) => c,
        Ok(None) => {
            ui.status(format_args!(
                "{}: nothing published, nothing to remove",
                target.location()
            ));
            return EXIT_OK;
        }
        Err(e) => return ui.fail(e),
    };
    let bytes: u64 = found.remove.iter().map(|(_, size)| size).sum();
    let paths: Vec<String> = found.remove.into_iter().map(|(rel, _)| rel).collect();
    if args.dry_run {
        let listing: String = paths.iter().map(|p| format!("{p}\n")).collect();
        if let Err(code) = ui.out(&listing) {
            return code;
        }
    } else if let Err(e) = target.delete(&paths) {
        return ui.fail(e);
    }
    let range = match (found.roots.first(), found.roots.last()) {
        (Some(a), Some(b)) if a != b => format!("serials {a} to {b}"),
        _ => format!("serial {}", found.serial),
    };
    ui.status(format_args!(
        "{}: {} {} ({}); kept what the roots of {range} name ({} objects) and {} younger than {}; {}",
        target.location(),
        if args.dry_run { "would remove" } else { "removed" },
        plural(paths.len(), "object"),
        plural(bytes as usize, "byte"),
        found.named,
        found.young,
        humane(grace),
        plural(target.calls() + found.documents, "request"),
    ));
    EXIT_OK
}

/// A duration as `registry.yaml` writes it.
fn humane(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
