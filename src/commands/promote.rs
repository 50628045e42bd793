//! `mlreg promote REF --to STAGE` and what `deprecate` shares with it: change one manifest of a
//! registry only if the whole registry still checks afterwards. The registry must check before
//! (a change is never blamed for problems that were there); the new text is written (temp +
//! rename), the registry checked again with it, and on any error the diagnostics are printed
//! (their snippets read the new text) and the old bytes put back, so a refused change leaves
//! every file as it was. On success `promote` shows the candidate against what the stage ran,
//! metric by metric and dataset by dataset.

use super::{EXIT_ERRORS, EXIT_NOT_FOUND, EXIT_OK, Ui, emit, failed, registry_dir};
use crate::cli::{EntryArgs, PromoteArgs, ReportArgs};
use crate::diag::Report;
use crate::publish::output::atomic_write;
use crate::registry::reference::{self, Reference, Scope};
use crate::registry::resolve::select;
use crate::registry::yaml::scalar;
use crate::registry::{self, Outcome, kind::Kind, load::Loaded, model::Registry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn run(ui: &Ui, args: PromoteArgs) -> u8 {
    let mut session = match Session::open(ui, &args.entry, &args.report) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (kind, name, version) = match session.version(ui, &args.reference) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let (loaded, registry) = session.checked();
    // Stages and labels alike: a label moves freely.
    let stages = loaded
        .config
        .as_ref()
        .map(|c| c.selectors())
        .unwrap_or_default();
    if !stages.contains(&args.to) {
        let known: Vec<&str> = stages.iter().map(String::as_str).collect();
        let hint = crate::registry::decode::nearest(&args.to, &known)
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        ui.fail(format_args!(
            "registry has no stage or label `{}` (it has: {}){hint}",
            args.to,
            stages.join(", ")
        ));
        return EXIT_NOT_FOUND;
    }
    let asset = &registry.assets[&(kind, name.clone())];
    let running = asset.stages.get(&args.to).cloned();
    if running.as_deref() == Some(version.as_str()) {
        ui.status(format_args!(
            "{}/{name}@{version} is in {} already: nothing changed",
            kind.folder(),
            args.to
        ));
        return EXIT_OK;
    }
    if args.skip && args.entry.reason.is_none() {
        return ui.fail("--skip needs a --reason");
    }
    let (by, date) = match who(&args.entry).and_then(|by| Ok((by, day(&args.entry)?))) {
        Ok(w) => w,
        Err(e) => return ui.fail(e),
    };
    let mut fields = vec![
        format!("stage: {}", scalar(&args.to)),
        format!("version: {}", scalar(&version)),
        format!("by: {}", scalar(&by)),
        format!("date: {date}"),
    ];
    if let Some(r) = &args.entry.ticket {
        fields.push(format!("ref: {}", scalar(r)));
    }
    if let Some(r) = &args.entry.reason {
        fields.push(format!("reason: {}", scalar(r)));
    }
    if !args.approved_by.is_empty() {
        let who: Vec<String> = args.approved_by.iter().map(|a| scalar(a)).collect();
        fields.push(format!("approved_by: [{}]", who.join(", ")));
    }
    if args.skip {
        fields.push("skip: true".into());
    }
    let entry = format!("- {{ {} }}\n", fields.join(", "));
    let path = session
        .dir
        .join(kind.folder())
        .join(&name)
        .join("stages.yaml");
    let old = std::fs::read_to_string(&path).ok();
    let mut text = old.clone().unwrap_or_else(|| {
        "# yaml-language-server: $schema=../../../docs/schemas/stages-yaml.schema.json\n".into()
    });
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&entry);
    let candidate = metrics_of(loaded, kind, &name, &version);
    let before = running
        .as_ref()
        .map(|r| (r.clone(), metrics_of(loaded, kind, &name, r)));
    let subject = format!("{}/{name}@{version} → {}", kind.folder(), args.to);
    match session.change(ui, &path, old.as_deref(), &text) {
        Ok(()) => {}
        Err(code) => return code,
    }
    let mut out = format!(
        "promoted {subject} ({}{})\n",
        path.display(),
        match &running {
            Some(r) => format!("; it replaces version {r}"),
            None => String::new(),
        }
    );
    out.push_str(&compare(&version, &candidate, before.as_ref()));
    match ui.out(&out) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// A registry being changed: its folder, how it is shown, and its checked state.
pub(super) struct Session<'a> {
    pub dir: PathBuf,
    display: String,
    outcome: Outcome,
    report_args: &'a ReportArgs,
}

impl<'a> Session<'a> {
    /// Check the registry as it is; refuse to change one that has errors already.
    pub fn open(ui: &Ui, entry: &EntryArgs, report_args: &'a ReportArgs) -> Result<Self, u8> {
        let display = registry_dir(ui, &entry.registry)?;
        let mut outcome = registry::check(&entry.registry, &display);
        registry::settle(&mut outcome.report, &outcome.lints);
        if failed(&outcome.report, report_args) {
            let code = emit(
                ui,
                &outcome.report,
                report_args,
                "nothing changed: the registry has errors already; fix them first",
            );
            return Err(code);
        }
        Ok(Session {
            dir: entry.registry.clone(),
            display,
            outcome,
            report_args,
        })
    }

    pub fn checked(&self) -> (&Loaded, &Registry) {
        let (l, r) = self
            .outcome
            .registry
            .as_ref()
            .expect("a registry check has one");
        (l, r)
    }

    /// The asset (and version, if the reference names one) `reference` means here.
    pub fn resolve(&self, ui: &Ui, reference: &str) -> Result<(Kind, String, Option<String>), u8> {
        let (_, registry) = self.checked();
        let selectors = registry.selectors();
        let scope = Scope {
            registry: Some(registry.name.as_str()).filter(|n| !n.is_empty()),
            stages: &selectors,
        };
        // Without `@` it is the whole asset (for `deprecate`); parsed as `@latest`.
        let bare = !reference.contains('@');
        let text = match bare {
            true => format!("{reference}@latest"),
            false => reference.to_string(),
        };
        let (kind, name, selector) = match reference::parse(&text, scope) {
            Ok(Reference::Local {
                kind,
                name,
                selector,
            }) => (kind, name, selector),
            Ok(Reference::External(r)) => {
                return Err(ui.fail(format_args!(
                    "`{r}` is not in this registry: only its own versions can change here"
                )));
            }
            Err(why) => return Err(ui.fail(format_args!("`{reference}`: {why}"))),
        };
        let asset_part = format!("{}/{name}", kind.folder());
        let Some(asset) = registry.assets.get(&(kind, name.clone())) else {
            let ids: Vec<String> = registry
                .assets
                .values()
                .map(|a| format!("{}/{}", a.kind.folder(), a.name))
                .collect();
            let known: Vec<&str> = ids.iter().map(String::as_str).collect();
            let hint = crate::registry::decode::nearest(&asset_part, &known)
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            ui.fail(format_args!(
                "the registry has no asset `{asset_part}`{hint}"
            ));
            return Err(EXIT_NOT_FOUND);
        };
        if bare {
            return Ok((kind, name, None));
        }
        let Some(version) = select(asset, &selector) else {
            let asked = text.rsplit_once('@').map_or("", |(_, s)| s);
            ui.fail(format_args!(
                "`{asset_part}` has no version `{asked}`; its versions: {}",
                asset.versions.join(", ")
            ));
            return Err(EXIT_NOT_FOUND);
        };
        Ok((kind, name, Some(version)))
    }

    /// `reference` must name one version.
    pub fn version(&self, ui: &Ui, reference: &str) -> Result<(Kind, String, String), u8> {
        match self.resolve(ui, reference)? {
            (k, n, Some(v)) => Ok((k, n, v)),
            (_, _, None) => Err(ui.fail(format_args!(
                "`{reference}` names no version: write `@<version>` (or `@latest`, `@<stage>`)"
            ))),
        }
    }

    /// Write `new` to `path`, check the registry with it, and put `old` back (or remove the
    /// file, when there was none) if it has errors now.
    pub fn change(&mut self, ui: &Ui, path: &Path, old: Option<&str>, new: &str) -> Result<(), u8> {
        if let Err(e) = atomic_write(path, new.as_bytes()) {
            return Err(ui.fail(e));
        }
        let mut outcome = registry::check(&self.dir, &self.display);
        registry::settle(&mut outcome.report, &outcome.lints);
        if !failed(&outcome.report, self.report_args) {
            self.outcome = outcome;
            return Ok(());
        }
        // Printed while the new text is there: the snippets show the lines at fault.
        let code = emit(
            ui,
            &outcome.report,
            self.report_args,
            &format!(
                "nothing changed: the registry would not check with this change to {}",
                path.display()
            ),
        );
        let restored = match old {
            Some(old) => atomic_write(path, old.as_bytes()),
            None => std::fs::remove_file(path).map_err(|e| e.to_string()),
        };
        if let Err(e) = restored {
            return Err(ui.fail(format_args!("could not put back {}: {e}", path.display())));
        }
        Err(code.max(EXIT_ERRORS))
    }

    pub fn report(&self) -> &Report {
        &self.outcome.report
    }
}

/// `--by`, else `git config user.email`.
fn who(entry: &EntryArgs) -> Result<String, String> {
    if let Some(b) = &entry.by {
        return Ok(b.clone());
    }
    std::process::Command::new("git")
        .args(["config", "user.email"])
        .current_dir(&entry.registry)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "who makes this change? give --by (git has no user.email here)".into())
}

/// `--date`, else today (UTC).
pub(super) fn day(entry: &EntryArgs) -> Result<String, String> {
    match &entry.date {
        Some(d) if crate::time::epoch(&format!("{d}T00:00:00Z")).is_some() => Ok(d.clone()),
        Some(d) => Err(format!("--date `{d}` is not a day: write YYYY-MM-DD")),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            Ok(crate::time::rfc3339(now)[..10].to_string())
        }
    }
}

/// A version's metrics by (metric, data asset).
type Metrics = BTreeMap<(String, String), f64>;

/// A version's metrics: (metric, data) → value, the first of each that lineage.yaml lists.
fn metrics_of(loaded: &Loaded, kind: Kind, name: &str, version: &str) -> Metrics {
    let metrics = loaded
        .assets
        .get(&(kind, name.to_string()))
        .and_then(|a| a.versions.get(version))
        .and_then(|v| v.lineage_json.as_ref())
        .and_then(|l| l.value().get("metrics")?.as_array().cloned())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for m in metrics {
        if let (Some(n), Some(d), Some(v)) = (
            m.get("name").and_then(|x| x.as_str()),
            m.get("data").and_then(|x| x.as_str()),
            m.get("value").and_then(|x| x.as_f64()),
        ) {
            let data = d.split('@').next().unwrap_or(d).to_string();
            out.entry((n.to_string(), data)).or_insert(v);
        }
    }
    out
}

/// The candidate's metrics against the version the stage ran, by metric and dataset.
fn compare(version: &str, candidate: &Metrics, before: Option<&(String, Metrics)>) -> String {
    if candidate.is_empty() && before.is_none_or(|(_, m)| m.is_empty()) {
        return String::new();
    }
    let mut keys: Vec<&(String, String)> = candidate.keys().collect();
    if let Some((_, m)) = before {
        keys.extend(m.keys());
    }
    keys.sort();
    keys.dedup();
    let was = before.map(|(v, _)| v.as_str());
    let mut rows = vec![[
        "metric".to_string(),
        "data".to_string(),
        format!("@{version}"),
        was.map_or("(none)".to_string(), |w| format!("@{w}")),
        "change".to_string(),
    ]];
    for key in keys {
        let new = candidate.get(key);
        let old = before.and_then(|(_, m)| m.get(key));
        let cell = |v: Option<&f64>| v.map_or("-".to_string(), |v| v.to_string());
        let change = match (new, old) {
            (Some(n), Some(o)) => format!("{:+.4}", n - o),
            _ => String::new(),
        };
        rows.push([key.0.clone(), key.1.clone(), cell(new), cell(old), change]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(&format!("  {}\n", line.join("  ").trim_end()));
    }
    out
}
