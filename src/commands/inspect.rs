//! What `list`, `show` and `diff` share: reading a registry as the documents a build publishes,
//! whether it is a source folder (checked, then planned in memory: nothing is written) or a
//! published index (through the verifying client); picking a version by reference, with the
//! not-found hints `resolve` gives; and the views of a version the three commands print
//! (metrics per dataset, lineage facts, aligned columns).
//!
//! Both sources are read through the same path (root → snapshot → bins → asset document →
//! used-by pages), so a folder and its build give the same answers. Everything read is untrusted
//! text: human output passes it through [`escape`].

use super::resolve::{STALL, TOTAL, client_for, escaped, print_notes};
use super::{EXIT_ERRORS, Ui};
use crate::cli::ReadFrom;
use crate::client::{self, Failure, escape};
use crate::diag::Severity;
use crate::publish::index::CanonicalJson;
use crate::publish::index::{
    AssetDoc, Bin, BinEntry, Ref, RegistryInfo, Snapshot, UsedByPage, VersionDoc,
};
use crate::publish::output::{Content, OutputSet};
use crate::publish::plan;
use crate::registry::{
    self,
    kind::Kind,
    reference::{self, Reference, Scope},
};
use serde_json::{Number, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// A registry read as published documents.
pub(super) struct Reader {
    pub(super) info: RegistryInfo,
    snapshot: Snapshot,
    source: Source,
}

enum Source {
    /// A checked registry folder, planned in memory: the documents a build would write.
    Folder(OutputSet),
    /// A published registry, each document verified against its parent (and cached).
    Index {
        client: Box<client::resolve::Client>,
        /// The source whose root was accepted, tried first for documents.
        first: usize,
    },
}

/// One version picked by a reference.
pub(super) struct Picked {
    pub(super) doc: AssetDoc,
    pub(super) version: String,
    pub(super) v: VersionDoc,
    /// The stage the reference named.
    pub(super) stage: Option<String>,
    /// What the reference left out and was taken instead (a bare reference means `@latest`).
    pub(super) implied: Option<String>,
}

impl Reader {
    /// The registry `from` names: `--index URL`, else the folder of `--registry` (default
    /// `registry`). A folder with errors is refused (exit 1) with its diagnostics on stderr,
    /// keeping stdout for what was asked; a failure to read is exit 2 or 3, said on stderr.
    pub(super) fn open(ui: &Ui, from: &ReadFrom) -> Result<Reader, u8> {
        match &from.index {
            Some(index) => Reader::index(ui, from, index),
            None => Reader::folder(ui, from.registry.clone().unwrap_or("registry".into())),
        }
    }

    fn folder(ui: &Ui, dir: PathBuf) -> Result<Reader, u8> {
        if !dir.is_dir() {
            return Err(ui.fail(format_args!(
                "`{}` is not a folder: give the registry folder with --registry DIR, or a published registry with --index URL",
                dir.display()
            )));
        }
        let display = dir.to_string_lossy().trim_end_matches('/').to_string();
        let mut outcome = registry::check(&dir, &display);
        let errors = outcome.report.count(Severity::Error);
        if errors > 0 {
            let _ = writeln!(
                std::io::stderr(),
                "{}error: {display} has errors: fix them, or read a published registry with --index",
                outcome.report.render_human(ui.color)
            );
            return Err(EXIT_ERRORS);
        }
        let warnings = outcome.report.count(Severity::Warning);
        if warnings > 0 {
            ui.status(format_args!(
                "note: {} in {display} (`mlreg check {display}` shows them)",
                crate::diag::plural(warnings, "warning")
            ));
        }
        let Some((loaded, resolved)) = outcome.registry.take() else {
            return Err(ui.fail("no registry was read"));
        };
        let planned = plan::plan(&dir, &loaded, &resolved).map_err(|e| ui.fail(e))?;
        let source = Source::Folder(planned.set);
        let snapshot = document(&source, &planned.snapshot).map_err(|f| ui.failure(f))?;
        Ok(Reader {
            info: planned.info,
            snapshot,
            source,
        })
    }

    fn index(ui: &Ui, from: &ReadFrom, index: &str) -> Result<Reader, u8> {
        // ReadFrom has no options for timeouts: those `resolve` defaults to.
        let c = client_for(
            &[index],
            STALL,
            TOTAL,
            from.cache.as_deref(),
            &from.trusted_key,
        )
        .map_err(|f| ui.failure(escaped(f)))?;
        let root = c.root();
        print_notes(ui, &c);
        let (root, first) = root.map_err(|e| ui.failure(escaped(Failure::Broken(e))))?;
        let source = Source::Index {
            client: Box::new(c),
            first,
        };
        let snapshot = document(&source, &root.snapshot).map_err(|f| {
            source.notes(ui);
            ui.failure(escaped(f))
        })?;
        Ok(Reader {
            info: root.registry,
            snapshot,
            source,
        })
    }

    /// Report a failure (exit 2, or 3 for not found), after the client's notes.
    pub(super) fn fail(&self, ui: &Ui, f: Failure) -> u8 {
        self.notes(ui);
        ui.failure(escaped(f))
    }

    /// The client's notes so far (an unsigned registry, a source skipped), on stderr.
    pub(super) fn notes(&self, ui: &Ui) {
        self.source.notes(ui);
    }

    fn document<T: serde::de::DeserializeOwned>(&self, r: &Ref) -> Result<T, Failure> {
        document(&self.source, r)
    }

    /// What was read from an index is kept in the cache only once it all held together.
    fn commit(&self) -> Result<(), Failure> {
        match &self.source {
            Source::Folder(_) => Ok(()),
            Source::Index { client, .. } => Ok(client.cache.commit()?),
        }
    }

    /// Every asset with its bin entry, sorted by id: every bin read.
    pub(super) fn listing(&self) -> Result<BTreeMap<String, BinEntry>, Failure> {
        let listed = client::listing(&self.snapshot, |r| self.document(r))?;
        self.commit()?;
        Ok(listed)
    }

    /// Every version that uses `v` (of `id@version`), sorted: its document's list, or, when
    /// that list is cut, the pages that hold all of it, checked against the count it gives.
    pub(super) fn used_by(
        &self,
        id: &str,
        version: &str,
        v: &VersionDoc,
    ) -> Result<Vec<String>, Failure> {
        if v.used_by_pages.is_empty() {
            return Ok(v.used_by.clone());
        }
        let mut all = Vec::new();
        for page in &v.used_by_pages {
            all.extend(self.document::<UsedByPage>(page)?.used_by);
        }
        let why = if all.len() as u64 != v.used_by_count {
            Some(format!(
                "list {} versions, not the {} its document counts",
                all.len(),
                v.used_by_count
            ))
        } else if !all.starts_with(&v.used_by) {
            Some("do not start with the versions its document lists".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Failure::Broken(format!(
                "{}@{}: its used-by pages {why}: the index was altered",
                escape(id),
                escape(version)
            )));
        }
        self.commit()?;
        Ok(all)
    }

    /// The asset document of `id` (`models/credit-default`), every version of it checked as a
    /// client checks what it fetched (digest, file names); not found names the nearest id.
    pub(super) fn asset(&self, id: &str) -> Result<AssetDoc, Failure> {
        let doc_ref = match self.snapshot.bins.get(&crate::publish::index::bin_of(id)) {
            Some(bin_ref) => self
                .document::<Bin>(bin_ref)?
                .assets
                .remove(id)
                .map(|entry| entry.doc),
            None => None,
        };
        let Some(doc_ref) = doc_ref else {
            let listed = client::listing(&self.snapshot, |r| self.document(r))?;
            let ids: Vec<&str> = listed.keys().map(String::as_str).collect();
            return Err(Failure::NotFound(format!(
                "registry {} has no asset `{id}`{}",
                self.info.name,
                hint(id, &ids)
            )));
        };
        let doc: AssetDoc = self.document(&doc_ref)?;
        if doc.id != id {
            return Err(format!("{}: holds `{}`, not `{id}`", doc_ref.path, doc.id).into());
        }
        let mut listed: Vec<&String> = doc.order.iter().collect();
        listed.sort();
        if !listed.iter().copied().eq(doc.versions.keys()) {
            return Err(format!(
                "{}: its `order` does not list its versions: the index was altered",
                doc_ref.path
            )
            .into());
        }
        for (version, v) in &doc.versions {
            client::check_version(id, version, v)?;
        }
        self.commit()?;
        Ok(doc)
    }

    /// The version `reference` names, read as `resolve` reads it: `models/x@3`, `@latest`,
    /// `@<stage>`, the `azureml://registries/<this>/...` forms, and a bare `models/x` for the
    /// latest version.
    pub(super) fn pick(&self, reference: &str) -> Result<Picked, Failure> {
        // Stages, then labels: what `@<name>` may say.
        let selectors: Vec<String> = self
            .info
            .stages
            .iter()
            .chain(&self.info.labels)
            .cloned()
            .collect();
        let scope = Scope {
            registry: Some(&self.info.name),
            stages: &selectors,
        };
        let bare = !reference.contains('@') && !reference.starts_with("azureml:");
        let (text, implied) = if bare {
            (
                format!("{reference}@latest"),
                Some("no version was given".to_string()),
            )
        } else {
            (reference.to_string(), None)
        };
        let (kind, name, selector) = match reference::parse(&text, scope)? {
            Reference::Local {
                kind,
                name,
                selector,
            } => (kind, name, selector),
            Reference::External(r) => {
                return Err(Failure::NotFound(format!(
                    "`{r}` is not in registry {}: mlreg reads only the registry it is given",
                    self.info.name
                )));
            }
        };
        let id = format!("{}/{name}", kind.folder());
        let doc = self.asset(&id)?;
        let (version, stage, v) = client::resolve::pick(&doc, &selectors, &text, &selector)?;
        Ok(Picked {
            doc,
            version,
            v,
            stage,
            implied,
        })
    }

    /// `stages` (stage → version) in the registry's order of stages; any other stage a
    /// document names after them, sorted.
    pub(super) fn ordered<'a>(
        &self,
        stages: &'a BTreeMap<String, String>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = self
            .info
            .stages
            .iter()
            .filter_map(|s| stages.get_key_value(s))
            .map(|(s, v)| (s.as_str(), v.as_str()))
            .collect();
        out.extend(
            stages
                .iter()
                .filter(|(s, _)| !self.info.stages.contains(s))
                .map(|(s, v)| (s.as_str(), v.as_str())),
        );
        out
    }

    /// The stages that hold `version` of `doc`, in the registry's order.
    pub(super) fn stages_of(&self, doc: &AssetDoc, version: &str) -> Vec<String> {
        self.ordered(&doc.stages)
            .into_iter()
            .filter(|(_, v)| *v == version)
            .map(|(s, _)| s.to_string())
            .collect()
    }
}

impl Source {
    fn notes(&self, ui: &Ui) {
        if let Source::Index { client, .. } = self {
            print_notes(ui, client);
        }
    }
}

/// A document of the registry by its reference: from the planned build's bytes (parsed as a
/// client parses them), or fetched and verified.
fn document<T: serde::de::DeserializeOwned>(source: &Source, r: &Ref) -> Result<T, Failure> {
    match source {
        Source::Folder(set) => match set.files.get(&r.path) {
            Some(Content::Bytes(bytes)) => Ok(client::parse_document(&r.path, bytes)?),
            Some(Content::Deferred(made)) => Ok(client::parse_document(&r.path, &made.bytes())?),
            _ => Err(Failure::Broken(format!(
                "the planned build has no document {}",
                r.path
            ))),
        },
        Source::Index { client, first } => Ok(client.document(r, *first)?),
    }
}

impl Picked {
    /// `models/credit-default@3`.
    pub(super) fn label(&self) -> String {
        format!("{}@{}", self.doc.id, self.version)
    }

    /// The version as Azure names it in this registry.
    pub(super) fn azure_uri(&self, registry: &str) -> String {
        let (kind, name) = self.doc.id.split_once('/').unwrap_or(("", &self.doc.id));
        format!(
            "azureml://registries/{registry}/{kind}/{name}/versions/{}",
            self.version
        )
    }
}

/// `: did you mean `x`?` when `asked` is a near miss of one of `known`.
pub(super) fn hint(asked: &str, known: &[&str]) -> String {
    crate::registry::decode::nearest(asked, known)
        .filter(|near| *near != asked)
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default()
}

/// The kind a `list` or reference names by its folder word (`models`), or why not.
pub(super) fn kind_of(word: &str) -> Result<Kind, String> {
    if let Some(kind) = Kind::from_folder(word) {
        return Ok(kind);
    }
    let folders: Vec<&str> = Kind::ALL.iter().map(|k| k.folder()).collect();
    let near = match Kind::from_singular(word) {
        Some(k) => format!("; did you mean `{}`?", k.folder()),
        None => hint(word, &folders),
    };
    Err(format!(
        "`{word}` is not a kind of asset ({}){near}",
        folders.join(", ")
    ))
}

/// One measured value of a version's lineage: a metric on a dataset (and split and step).
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Metric {
    pub(super) name: String,
    /// The data it was measured on: `data/credit-sample@1` when pinned, else as written.
    pub(super) data: String,
    pub(super) split: Option<String>,
    pub(super) step: Option<Value>,
    pub(super) value: Number,
}

/// A metric's split and step as a table shows them: `eval`, `eval, step 3`.
pub(super) fn split_text(split: Option<&str>, step: Option<&Value>) -> String {
    let mut text = split.unwrap_or_default().to_string();
    if let Some(step) = step {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&format!("step {}", plain(step)));
    }
    text
}

/// The metrics of a version's lineage, in the order written (entries that are not a named
/// number on some data are skipped: a published document may hold anything).
pub(super) fn metrics(v: &VersionDoc) -> Vec<Metric> {
    let lineage = v.lineage.as_ref().map(CanonicalJson::value);
    let items = lineage
        .as_ref()
        .and_then(|l| l.get("metrics"))
        .and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(Metric {
                name: m.get("name")?.as_str()?.to_string(),
                data: pinned(m.get("data")?),
                split: m.get("split").and_then(Value::as_str).map(str::to_string),
                step: m.get("step").filter(|s| !s.is_null()).cloned(),
                value: m.get("value")?.as_number()?.clone(),
            })
        })
        .collect()
}

/// `data/credit-sample@1` → `credit-sample@1`: the kind of what metrics are measured on goes
/// without saying in a table's columns.
pub(super) fn short_data(label: &str) -> &str {
    label.strip_prefix("data/").unwrap_or(label)
}

/// A pinned reference of a document (`{ref, id, version, digest}`) as `id@version`, with what
/// was written when that differs (`@latest`, a stage, an Azure URI); anything else as text.
pub(super) fn label(v: &Value) -> String {
    match pin(v) {
        Some((id, version, written)) => {
            let pinned = format!("{id}@{version}");
            match written {
                Some(w) if w != pinned => format!("{pinned} (from {w})"),
                _ => pinned,
            }
        }
        None => plain(v),
    }
}

/// What a value names: `id@version` when pinned, else the text written.
pub(super) fn pinned(v: &Value) -> String {
    match pin(v) {
        Some((id, version, _)) => format!("{id}@{version}"),
        None => plain(v),
    }
}

fn pin(v: &Value) -> Option<(&str, &str, Option<&str>)> {
    let m = v.as_object()?;
    Some((
        m.get("id")?.as_str()?,
        m.get("version")?.as_str()?,
        m.get("ref").and_then(Value::as_str),
    ))
}

/// A JSON value as one line of text: strings as they are, anything else as compact JSON.
pub(super) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Lineage keys in the order a reader wants them; others follow, sorted.
const LINEAGE_ORDER: [&str; 9] = [
    "job",
    "code",
    "environment",
    "component",
    "data",
    "models",
    "parameters",
    "logs",
    "artifacts",
];

/// A lineage as (path, text) facts, metrics left out (they have their own table): pinned
/// references as their pins, `data` and `models` as one line of `ref (role)` each, other
/// objects by dotted path, lists of plain values joined.
pub(super) fn lineage_facts(lineage: &Value) -> Vec<(String, String)> {
    let Some(m) = lineage.as_object() else {
        return Vec::new();
    };
    let mut entries: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| *k != "metrics").collect();
    entries.sort_by_key(|(k, _)| {
        (
            LINEAGE_ORDER
                .iter()
                .position(|o| o == k)
                .unwrap_or(LINEAGE_ORDER.len()),
            k.as_str(),
        )
    });
    let mut out = Vec::new();
    for (key, value) in entries {
        let inputs = matches!(key.as_str(), "data" | "models")
            && value
                .as_array()
                .is_some_and(|a| a.iter().all(|i| i.get("ref").is_some()));
        if inputs {
            for item in value.as_array().into_iter().flatten() {
                let role = item
                    .get("role")
                    .map(|r| format!(" ({})", plain(r)))
                    .unwrap_or_default();
                let written = item.get("ref").map(label).unwrap_or_default();
                out.push((key.clone(), format!("{written}{role}")));
            }
        } else {
            facts(key, value, &mut out);
        }
    }
    out
}

fn facts(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
    if pin(v).is_some() {
        out.push((path.to_string(), label(v)));
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                facts(&format!("{path}.{k}"), x, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, x) in items.iter().enumerate() {
                facts(&format!("{path}[{i}]"), x, out);
            }
        }
        Value::Array(items) => out.push((
            path.to_string(),
            items.iter().map(plain).collect::<Vec<_>>().join(", "),
        )),
        other => out.push((path.to_string(), plain(other))),
    }
}

/// `(b − a)` of two measured values, rounded to the decimals they were written with (so that
/// 0.8553 − 0.8612 is −0.0059, not −0.005899999999999905); `None` when either is not finite.
pub(super) fn delta(a: &Number, b: &Number) -> Option<(f64, String)> {
    let d = b.as_f64()? - a.as_f64()?;
    if !d.is_finite() {
        return None;
    }
    let decimals = |n: &Number| -> Option<usize> {
        let text = n.to_string();
        if text.contains(['e', 'E']) {
            return None;
        }
        Some(text.split_once('.').map_or(0, |(_, f)| f.len()))
    };
    let (d, text) = match (decimals(a), decimals(b)) {
        (Some(p), Some(q)) => {
            let places = p.max(q).min(15);
            let text = format!("{d:+.places$}");
            (text.parse::<f64>().unwrap_or(d), text)
        }
        _ => (d, format!("{:+}", d)),
    };
    // A change that rounds away is no change, and has no sign.
    if d == 0.0 {
        return Some((0.0, "0".to_string()));
    }
    Some((d, text))
}

/// Rows as aligned columns two spaces apart, each line after `indent`; the last column is
/// not padded. Cells are shown as they are: escape them first.
pub(super) fn columns(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(max) => *max = (*max).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Untrusted text for a table cell; `-` for nothing.
pub(super) fn cell(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        escape(text).into_owned()
    }
}

/// The first 12 hex digits of a `sha256:` digest or a bare sha256.
pub(super) fn short_hash(hash: &str) -> String {
    hash.trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

/// A size for people: bytes under 1 KiB, else KiB, MiB or GiB with one decimal.
pub(super) fn human_size(n: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A date or time as its day (`2026-11-20T10:41:13Z` → `2026-11-20`).
pub(super) fn day(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

/// When a version's job ran, from its lineage: when it finished, else when it started.
pub(super) fn created(v: &VersionDoc) -> Option<String> {
    let job = v.lineage.as_ref()?.get("job")?;
    ["finished", "started"]
        .iter()
        .find_map(|k| job.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// JSON for `--json`, pretty, with a final newline.
pub(super) fn pretty(v: &Value) -> String {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.push('\n');
    text
}
