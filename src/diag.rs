//! Diagnostics: problems found in the user's registry, collected (never thrown), sorted, and
//! rendered for people (rustc-style snippets), for programs (JSON) and for pull requests
//! (GitHub workflow commands). Every diagnostic has a stable [`Code`]; the catalog below is the
//! single list of them, documented in `docs/format.md` and pinned by `tests/`.
//!
//! This module does not decide exit codes; `commands` does.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A stable diagnostic code (`E020`) and its short name (`unknown-field`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code {
    pub id: &'static str,
    pub name: &'static str,
}

impl Code {
    /// The code whose id is `id` (`E020`), if this mlreg knows it.
    pub fn by_id(id: &str) -> Option<Code> {
        codes::ALL.iter().find(|c| c.id == id).copied()
    }

    pub fn severity(self) -> Severity {
        if self.id.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

macro_rules! codes {
    ($($konst:ident = $id:literal $name:literal;)*) => {
        $(pub const $konst: Code = Code { id: $id, name: $name };)*
        /// Every code mlreg can emit, in catalog order.
        pub const ALL: &[Code] = &[$($konst),*];
    };
}

/// The catalog. Codes are never reused or renumbered.
pub mod codes {
    use super::Code;
    codes! {
        READ_FAILED = "E001" "read-failed";
        NOT_UTF8 = "E002" "not-utf8";
        NUL_BYTE = "E003" "nul-byte";
        TOO_LARGE = "E004" "file-too-large";
        YAML_SYNTAX = "E005" "yaml-syntax";
        DUPLICATE_KEY = "E006" "duplicate-key";
        YAML_LIMIT = "E007" "yaml-limit";
        UNEXPECTED_FILE = "E010" "unexpected-file";
        MISSING_REGISTRY_YAML = "E011" "missing-registry-yaml";
        MISSING_SPEC = "E012" "missing-spec";
        CASE_COLLISION = "E014" "case-collision";
        UNKNOWN_FIELD = "E020" "unknown-field";
        MISSING_FIELD = "E021" "missing-field";
        WRONG_TYPE = "E022" "wrong-type";
        BAD_ENUM = "E023" "invalid-choice";
        UNQUOTED_NUMBER = "E024" "unquoted-number";
        TAG_NOT_STRING = "E025" "tag-not-string";
        CONFLICTING_FIELDS = "E026" "conflicting-fields";
        INVALID_VALUE = "E027" "invalid-value";
        INVALID_NAME = "E030" "invalid-name";
        NAME_MISMATCH = "E031" "name-mismatch";
        INVALID_VERSION = "E032" "invalid-version";
        VERSION_MISMATCH = "E033" "version-mismatch";
        VERSION_IS_LABEL = "E034" "version-is-label";
        SCHEMA_MISMATCH = "E035" "schema-mismatch";
        MISSING_PATH = "E040" "missing-path";
        PATH_ESCAPES = "E041" "path-escapes";
        SYMLINK_ESCAPES = "E042" "symlink-escapes";
        UNDECLARED_INPUT = "E050" "undeclared-input";
        UNDECLARED_OUTPUT = "E051" "undeclared-output";
        BAD_BINDING = "E052" "bad-binding";
        BAD_PIPELINE_BINDING = "E053" "bad-pipeline-binding";
        BAD_DEFAULT = "E054" "bad-default";
        BAD_REFERENCE = "E060" "bad-reference";
        UNKNOWN_ASSET = "E061" "unknown-asset";
        UNKNOWN_VERSION = "E062" "unresolved-version";
        WRONG_KIND = "E063" "wrong-kind";
        LINEAGE_CYCLE = "E070" "lineage-cycle";
        BAD_TIMES = "E072" "job-times";
        UNKNOWN_STAGE = "E080" "unknown-stage";
        STAGE_UNKNOWN_VERSION = "E081" "stage-unknown-version";
        DATE_BACKWARDS = "E082" "date-backwards";
        STAGE_SKIPPED = "E083" "stage-skipped";
        POLICY_LINEAGE = "E084" "policy-lineage";
        POLICY_CARD = "E085" "policy-card";
        SKIP_WITHOUT_REASON = "E086" "skip-without-reason";
        POLICY_APPROVALS = "E088" "policy-approvals";
        POLICY_TIME = "E089" "policy-time-in-stage";
        POLICY_METRIC_FLOOR = "E092" "policy-metric-floor";
        POLICY_METRIC_REGRESSION = "E093" "policy-metric-regression";
        POLICY_METRIC_GAP = "E094" "policy-metric-gap";
        DEPRECATED_IN_STAGE = "W087" "deprecated-in-stage";
        DUPLICATE_WORKSPACE = "E091" "duplicate-workspace";
        UNKNOWN_KIND = "E100" "unknown-kind";
        PUBLISHED_CHANGED = "E110" "published-version-changed";
        PUBLISHED_REMOVED = "E111" "published-version-removed";
        HISTORY_REWRITTEN = "E112" "stage-history-rewritten";
        UNSUPPORTED_KIND = "E101" "unsupported-kind";
        NO_VERSIONS = "W015" "no-versions";
        BIDI_FILE_NAME = "W016" "bidi-file-name";
        CONFUSABLE_FILE_NAMES = "W017" "confusable-file-names";
        OPTIONAL_OUTSIDE_BRACKETS = "W050" "optional-input-unguarded";
        UNUSED_PORT = "W051" "unused-port";
        LENIENT_FIELD = "W020" "unknown-field-accepted";
        UNKNOWN_CARD_KEY = "W096" "unknown-card-key";
        DEPRECATED_REFERENCE = "W064" "deprecated-reference";
        NEAR_MISS_REGISTRY = "W065" "near-miss-registry";
        PIN_KEPT = "W066" "published-pin-kept";
        SHORT_REFERENCE_EXTERNAL = "W067" "short-reference-external";
    }
}

/// A position in a file: 1-based line and column, plus the byte range for the snippet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loc {
    #[serde(with = "interned")]
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
    pub offset: usize,
    pub len: usize,
}

impl Loc {
    /// The whole file, when there is nothing better to point at.
    pub fn file(file: &Arc<str>) -> Loc {
        Loc {
            file: file.clone(),
            line: 0,
            col: 0,
            offset: 0,
            len: 0,
        }
    }

    pub fn at(file: &Arc<str>, pos: crate::registry::yaml::Pos) -> Loc {
        Loc {
            file: file.clone(),
            line: pos.line,
            col: pos.col,
            offset: pos.offset,
            len: pos.len,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    #[serde(with = "code_id")]
    pub code: Code,
    pub message: String,
    pub loc: Option<Loc>,
    /// Boxed: a diagnostic is the error value of a few `Result`s, so it is kept small.
    pub help: Option<Box<str>>,
    /// A warning the registry's `lints` made an error.
    pub denied: bool,
}

/// A code stored as its id, read back as the code of that id: an id this mlreg does not know
/// does not read.
mod code_id {
    use super::Code;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(code.id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let id = String::deserialize(d)?;
        Code::by_id(&id).ok_or_else(|| D::Error::custom(format!("no code {id}")))
    }
}

/// File names (`Arc<str>`, one per file, shared by every location in it) stored once per
/// stored value: a checked asset holds a location for every value of its manifests, and
/// writing each one's file name would make the stored asset several times larger, and reading
/// it back would give each location its own copy. Stored values are written and read inside
/// [`interned::writing`] and [`interned::reading`], on one thread, which hold the table.
pub mod interned {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Arc;

    #[derive(Default)]
    struct Table {
        names: Vec<Arc<str>>,
        index: HashMap<Arc<str>, u32>,
    }

    thread_local! {
        static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
    }

    /// Run `f` with `table` in place, and put back the one before, even if `f` panics.
    fn with_table<T>(table: Table, f: impl FnOnce() -> T) -> (T, Table) {
        struct Restore(Option<Table>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                TABLE.with(|t| *t.borrow_mut() = previous);
            }
        }
        let restore = Restore(TABLE.with(|t| t.borrow_mut().replace(table)));
        let out = f();
        let table = TABLE.with(|t| t.borrow_mut().take()).unwrap_or_default();
        drop(restore);
        (out, table)
    }

    /// Run `f`, which serializes, and the file names it wrote, by their index.
    pub fn writing<T>(f: impl FnOnce() -> T) -> (T, Vec<Arc<str>>) {
        let (out, table) = with_table(Table::default(), f);
        (out, table.names)
    }

    /// Run `f`, which deserializes what [`writing`] wrote, with the names it gave.
    pub fn reading<T>(names: Vec<Arc<str>>, f: impl FnOnce() -> T) -> T {
        let table = Table {
            names,
            index: HashMap::new(),
        };
        with_table(table, f).0
    }

    pub fn serialize<S: Serializer>(name: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        let index = TABLE.with(|t| {
            let mut t = t.borrow_mut();
            let t = t.as_mut()?;
            if let Some(i) = t.index.get(name) {
                return Some(*i);
            }
            let i = t.names.len() as u32;
            t.names.push(name.clone());
            t.index.insert(name.clone(), i);
            Some(i)
        });
        match index {
            Some(i) => s.serialize_u32(i),
            None => Err(ser::Error::custom(
                "file names are written inside `interned::writing`",
            )),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        let i = u32::deserialize(d)?;
        TABLE
            .with(|t| {
                let t = t.borrow();
                t.as_ref()?.names.get(i as usize).cloned()
            })
            .ok_or_else(|| de::Error::custom(format!("no file name {i}")))
    }
}

/// What a `lints:` table makes of a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LintLevel {
    Allow,
    Warn,
    Deny,
}

/// Levels by code id.
pub type LintTable = BTreeMap<&'static str, LintLevel>;

/// The levels a check applies: the registry's (`registry.yaml`), and each asset's
/// (`asset.yaml`) for the diagnostics in its folder, which win.
#[derive(Clone, Debug, Default)]
pub struct Lints {
    pub registry: LintTable,
    /// (asset folder as diagnostics show it, its table).
    pub folders: Vec<(String, LintTable)>,
}

impl Lints {
    fn level(&self, d: &Diagnostic) -> Option<LintLevel> {
        let in_folder = d.loc.as_ref().and_then(|loc| {
            self.folders.iter().find(|(dir, _)| {
                loc.file
                    .strip_prefix(dir.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        });
        in_folder
            .and_then(|(_, table)| table.get(d.code.id))
            .or_else(|| self.registry.get(d.code.id))
            .copied()
    }
}

impl Diagnostic {
    pub fn new(code: Code, loc: Option<Loc>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            loc,
            help: None,
            denied: false,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into().into_boxed_str());
        self
    }

    pub fn severity(&self) -> Severity {
        if self.denied {
            Severity::Error
        } else {
            self.code.severity()
        }
    }

    fn sort_key(&self) -> (&str, u32, u32, &str, &str) {
        match &self.loc {
            Some(l) => (&l.file, l.line, l.col, self.code.id, &self.message),
            None => ("", 0, 0, self.code.id, &self.message),
        }
    }
}

/// The diagnostics of one run, plus the text of every file they point into.
#[derive(Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: BTreeMap<Arc<str>, Arc<str>>,
}

impl Report {
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.diagnostics.extend(ds);
    }

    /// Sorted by file, line, column, code, message; exact duplicates dropped.
    pub fn finish(&mut self) {
        self.diagnostics
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.diagnostics
            .dedup_by(|a, b| a.sort_key() == b.sort_key());
    }

    /// Apply lint levels: allowed warnings go, denied ones become errors.
    pub fn apply_levels(&mut self, lints: &Lints) {
        self.diagnostics
            .retain(|d| lints.level(d) != Some(LintLevel::Allow));
        for d in &mut self.diagnostics {
            d.denied = lints.level(d) == Some(LintLevel::Deny);
        }
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == severity)
            .count()
    }

    /// Every diagnostic as a rustc-style snippet, then the count of errors and warnings.
    pub fn render_human(&self, color: bool) -> String {
        let mut out = self.render_diagnostics(color);
        let (e, w) = (self.count(Severity::Error), self.count(Severity::Warning));
        let _ = writeln!(out, "{}", summary(e, w));
        out
    }

    /// Every diagnostic as a rustc-style snippet, each followed by a blank line.
    pub fn render_diagnostics(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        for d in &self.diagnostics {
            let level = match d.severity() {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
            };
            let title = level.primary_title(d.message.as_str()).id(d.code.id);
            let mut group: Group = match &d.loc {
                Some(loc) if loc.line > 0 => match self.sources.get(&loc.file) {
                    Some(text) => {
                        let (line_text, start, end) = line_span(text, loc);
                        title.element(
                            Snippet::source(line_text)
                                .line_start(loc.line as usize)
                                .path(loc.file.to_string())
                                .annotation(AnnotationKind::Primary.span(start..end)),
                        )
                    }
                    None => title.element(annotate_snippets::Origin::path(format!(
                        "{}:{}:{}",
                        loc.file, loc.line, loc.col
                    ))),
                },
                Some(loc) => title.element(annotate_snippets::Origin::path(loc.file.to_string())),
                None => Group::with_title(title),
            };
            if let Some(help) = &d.help {
                group = group.element(Level::HELP.message(&**help));
            }
            if d.denied {
                let note = format!("`{}` ({}) is denied by `lints`", d.code.id, d.code.name);
                group = group.element(Level::NOTE.message(note));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        out
    }

    pub fn render_json(&self) -> String {
        #[derive(Serialize)]
        struct J<'a> {
            severity: Severity,
            code: &'a str,
            name: &'a str,
            message: &'a str,
            file: Option<&'a str>,
            line: Option<u32>,
            column: Option<u32>,
            help: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Out<'a> {
            errors: usize,
            warnings: usize,
            diagnostics: Vec<J<'a>>,
        }
        let diagnostics = self
            .diagnostics
            .iter()
            .map(|d| J {
                severity: d.severity(),
                code: d.code.id,
                name: d.code.name,
                message: &d.message,
                file: d.loc.as_ref().map(|l| &*l.file),
                line: d.loc.as_ref().filter(|l| l.line > 0).map(|l| l.line),
                column: d.loc.as_ref().filter(|l| l.line > 0).map(|l| l.col),
                help: d.help.as_deref(),
            })
            .collect();
        let out = Out {
            errors: self.count(Severity::Error),
            warnings: self.count(Severity::Warning),
            diagnostics,
        };
        serde_json::to_string_pretty(&out).expect("diagnostics serialize") + "\n"
    }

    /// GitHub Actions workflow commands: each becomes an annotation on its line of the PR.
    pub fn render_github(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            let kind = match d.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut props = Vec::new();
            if let Some(loc) = &d.loc {
                props.push(format!("file={}", gh_prop(&loc.file)));
                if loc.line > 0 {
                    props.push(format!("line={}", loc.line));
                    props.push(format!("col={}", loc.col));
                }
            }
            props.push(format!(
                "title={}",
                gh_prop(&format!("{} {}", d.code.id, d.code.name))
            ));
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let _ = writeln!(out, "::{kind} {}::{}", props.join(","), gh_data(&message));
        }
        out
    }
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn summary(errors: usize, warnings: usize) -> String {
    if errors == 0 && warnings == 0 {
        "no problems found".to_string()
    } else {
        format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}

/// The line holding `loc`, and the byte range to underline within it (at least one character).
fn line_span<'t>(text: &'t str, loc: &Loc) -> (&'t str, usize, usize) {
    let offset = loc.offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim_end_matches('\r');
    let from = (offset - start).min(line.len());
    let mut to = (from + loc.len.max(1)).min(line.len());
    while to < line.len() && !line.is_char_boundary(to) {
        to += 1;
    }
    if to == from && to < line.len() {
        to = from + line[from..].chars().next().map_or(0, char::len_utf8);
    }
    (line, from, to)
}

fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut ids: Vec<_> = codes::ALL.iter().map(|c| c.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate code ids");
        for c in codes::ALL {
            assert!(
                c.id.len() == 4 && (c.id.starts_with('E') || c.id.starts_with('W')),
                "{c:?}"
            );
        }
    }

    #[test]
    fn github_escapes_newlines_and_separators() {
        let file: Arc<str> = Arc::from("a,b:c.yaml");
        let mut r = Report::default();
        r.push(
            Diagnostic::new(
                codes::UNKNOWN_FIELD,
                Some(Loc {
                    file,
                    line: 3,
                    col: 5,
                    offset: 0,
                    len: 1,
                }),
                "50% bad\nthing",
            )
            .help("try x"),
        );
        assert_eq!(
            r.render_github(),
            "::error file=a%2Cb%3Ac.yaml,line=3,col=5,title=E020 unknown-field::50%25 bad%0Athing%0Ahelp: try x\n"
        );
    }
}
