//! The one place that parses YAML.
//!
//! Everything mlreg reads from a pull request goes through [`parse`], which turns text into a
//! located [`Node`] tree using `serde-saphyr` with tight budgets (depth, node count, alias
//! expansion, scalar bytes). Duplicate keys, alias bombs, absurd nesting and malformed YAML come
//! back as one located [`YamlError`] instead of a panic or unbounded work. Later stages walk the
//! tree themselves so that they can report *every* problem in a file, with its line and column,
//! rather than serde's first one. Plain documents, nearly all of them, are read straight from
//! the parser's events by `direct`, to the same tree, sooner.
//!
//! [`Json`] keeps a tree as the JSON text `build` publishes.

mod direct;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};
use std::fmt;

/// Where a node starts in its file: 1-based line and column, byte offset and byte length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
    pub len: usize,
}

/// A YAML value with the position it was written at.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// True when the scalar was written without quotes (so `1.10` was a float, not text).
    pub plain: bool,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// "a string", "a mapping", ...: for messages of the form "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text the way a reader would see it: strings as they are, numbers and
    /// booleans in their canonical spelling. `None` for lists, mappings and null.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A plain JSON rendering of the tree (map keys as strings), for normalized copies.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A manifest as compact JSON text (`Node::to_json` serialized), for what `build` publishes:
/// parsed back when it is used. As `serde_json::Value`s, whose every mapping is a B-tree, the
/// manifests of 100,000 versions took 600 MB; as text, a tenth of that.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Json(Box<str>);

impl Json {
    /// `node.to_json()`, written as text without building the value.
    pub fn of(node: &Node) -> Json {
        Json(
            serde_json::to_string(&AsJson(node))
                .expect("YAML trees serialize as JSON")
                .into_boxed_str(),
        )
    }

    /// The JSON value: the same as `node.to_json()` for the node it was made of.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).expect("Json holds JSON text")
    }

    /// `{}`.
    pub fn empty_map() -> Json {
        Json(Box::from("{}"))
    }

    /// Whether the value is an empty mapping (`{}`).
    pub fn is_empty_map(&self) -> bool {
        &*self.0 == "{}"
    }
}

/// A node serialized the way `Node::to_json` renders it. Mapping keys are written in the
/// order of the file; a key written twice (`1` and `"1"`) is read back as `to_json` makes it,
/// the last one winning.
struct AsJson<'a>(&'a Node);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match &self.0.value {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(t) => s.serialize_str(t),
            Value::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&AsJson(item))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(&k.scalar_text().unwrap_or_default(), &AsJson(v))?;
                }
                map.end()
            }
        }
    }
}

/// YAML text of a JSON value, for the normalized specs `build` publishes. Strings that YAML
/// would read as something else (`"3"`, `"true"`) come out quoted.
pub fn to_yaml(value: &serde_json::Value) -> String {
    serde_saphyr::to_string(value).expect("JSON values serialize as YAML")
}

/// One string as a YAML scalar that reads back as the same string, for manifests mlreg edits
/// line by line (a stage entry, a deprecation): plain where YAML (and Azure's PyYAML) read it
/// as that string (`prod`, `ops@contoso.example`), double-quoted otherwise (`"3"`, `"yes"`,
/// `"PR #50"`; JSON's escapes are YAML's).
pub fn scalar(s: &str) -> String {
    let b = s.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= 200
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b'@' | b'+')
        })
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    match plain {
        true => s.to_string(),
        false => serde_json::to_string(s).expect("strings serialize"),
    }
}

/// Why a file could not be read as YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlErrorKind {
    Syntax,
    DuplicateKey,
    /// A resource budget was hit: nesting depth, node count, alias expansion, size.
    Limit,
}

#[derive(Debug, Clone)]
pub struct YamlError {
    pub kind: YamlErrorKind,
    pub message: String,
    pub pos: Pos,
}

/// Deepest nesting accepted. Real specs nest 6-8 levels; 64 leaves room and bounds recursion.
pub const MAX_DEPTH: usize = 64;
/// Nodes per document: the largest real component spec has a few hundred.
pub const MAX_NODES: usize = 250_000;
/// Bytes of scalar text per document.
const MAX_SCALAR_BYTES: usize = 8 << 20;

fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 4 * MAX_NODES;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_total_scalar_bytes = MAX_SCALAR_BYTES;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    // Booleans are read as azure-ai-ml's PyYAML reads them (see `yaml11_bool`), not with
    // serde-saphyr's own YAML 1.1 set, which also takes `y` and `n` (common input names).
    options.strict_booleans = true;
    options.with_snippet = false;
    options.alias_limits.max_total_replayed_events = MAX_NODES;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options
}

/// Parse one YAML document. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    match direct::parse(text) {
        Some(node) => Ok(node),
        None => parse_with_serde(text),
    }
}

/// [`parse`] through serde-saphyr, which reads any YAML and says what is wrong with it.
fn parse_with_serde(text: &str) -> Result<Node, YamlError> {
    let spanned: Result<Option<Spanned<Raw>>, _> =
        serde_saphyr::from_str_with_options(text, options());
    match spanned {
        Ok(Some(root)) => Ok(root_node(text, root)),
        Ok(None) => Ok(Node {
            value: Value::Null,
            pos: Pos {
                line: 1,
                col: 1,
                ..Pos::default()
            },
            plain: true,
        }),
        Err(err) => Err(classify(text, &err)),
    }
}

fn classify(text: &str, err: &serde_saphyr::Error) -> YamlError {
    let pos = err.location().map(|l| pos_of(text, &l)).unwrap_or(Pos {
        line: 1,
        col: 1,
        offset: 0,
        len: 0,
    });
    let message = err.to_string();
    let lower = message.to_lowercase();
    let kind = if lower.contains("duplicate") {
        YamlErrorKind::DuplicateKey
    } else if lower.contains("budget")
        || lower.contains("limit")
        || lower.contains("depth")
        || lower.contains("exceed")
    {
        YamlErrorKind::Limit
    } else {
        YamlErrorKind::Syntax
    };
    // serde-saphyr appends " at line X column Y"; we print locations ourselves.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    YamlError { kind, message, pos }
}

fn pos_of(text: &str, loc: &serde_saphyr::Location) -> Pos {
    let span = loc.span();
    pos_at(
        text,
        loc.line() as usize,
        loc.column() as usize,
        span.byte_offset().map(|o| o as usize),
        span.byte_len().map(|l| l as usize),
    )
}

/// The position at 1-based `line` and `col`, with the byte offset and length when known.
fn pos_at(text: &str, line: usize, col: usize, offset: Option<usize>, len: Option<usize>) -> Pos {
    let line = line.max(1) as u32;
    let col = col.max(1) as u32;
    let offset = offset.unwrap_or_else(|| offset_of(text, line, col));
    Pos {
        line,
        col,
        offset: offset.min(text.len()),
        len: len.unwrap_or(0),
    }
}

/// Byte offset of a 1-based (line, column-in-chars) position.
fn offset_of(text: &str, line: u32, col: u32) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            return offset
                + l.char_indices()
                    .nth(col as usize - 1)
                    .map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

/// What serde-saphyr hands us: a value whose children carry spans.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

fn root_node(text: &str, raw: Spanned<Raw>) -> Node {
    let pos = pos_of(text, &raw.referenced);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|n| root_node(text, n)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (root_node(text, k), root_node(text, v)))
                .collect(),
        ),
    };
    located(text, pos, value)
}

/// The node of `value`, written at `pos` of `text`: a plain scalar that Azure's loader reads as
/// a boolean (see `yaml11_bool`) is one.
fn located(text: &str, pos: Pos, value: Value) -> Node {
    let plain = is_plain(text, pos.offset);
    let value = match value {
        Value::Str(s) if plain => match yaml11_bool(&s) {
            Some(b) => Value::Bool(b),
            None => Value::Str(s),
        },
        value => value,
    };
    Node { value, pos, plain }
}

/// The booleans of YAML 1.1 beyond YAML 1.2's `true` and `false`, as PyYAML (and so Azure's
/// loader) reads them in plain scalars: `yes`, `no`, `on`, `off` in three casings. `y` and `n`
/// stay text there, and so here.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn is_plain(text: &str, offset: usize) -> bool {
    !matches!(
        text.as_bytes().get(offset),
        Some(b'"' | b'\'' | b'|' | b'>')
    )
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        String::from_utf8(v.to_vec())
            .map(Raw::Str)
            .map_err(|_| E::custom("binary data is not UTF-8 text"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            entries.push((k, v));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_read_as_azures_loader_reads_them() {
        let node = parse("n: y\nyes: On\nc: TRUE\nd: 'no'\ne: nO\n").unwrap();
        let entries: Vec<(String, String)> = node
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (format!("{:?}", k.value), format!("{:?}", v.value)))
            .collect();
        let expect = [
            ("Str(\"n\")", "Str(\"y\")"),
            ("Bool(true)", "Bool(true)"),
            ("Str(\"c\")", "Bool(true)"),
            ("Str(\"d\")", "Str(\"no\")"),
            ("Str(\"e\")", "Str(\"nO\")"),
        ];
        let expect: Vec<(String, String)> = expect
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(entries, expect);
    }

    #[test]
    fn positions_and_plain_flags() {
        let n = parse("a: 1\nversion: 1.10\nq: \"1.10\"\nlist:\n  - x\n").unwrap();
        let m = n.as_map().unwrap();
        assert_eq!(m[1].0.as_str(), Some("version"));
        assert_eq!((m[1].1.pos.line, m[1].1.pos.col), (2, 10));
        assert!(matches!(m[1].1.value, Value::Float(_)) && m[1].1.plain);
        assert_eq!(m[2].1.as_str(), Some("1.10"));
        assert!(!m[2].1.plain);
        let list = m[3].1.as_seq().unwrap();
        assert_eq!((list[0].pos.line, list[0].pos.col), (5, 5));
    }

    #[test]
    fn yaml_output_reads_back_as_the_same_json() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"version": "3", "v2": "1.10", "flag": "true", "n": 3, "x": 1.5, "s": "a: b", "e": "", "l": ["01", null]}"#,
        )
        .unwrap();
        let text = to_yaml(&v);
        assert_eq!(parse(&text).unwrap().to_json(), v, "{text}");
    }

    #[test]
    fn json_text_reads_back_as_to_json() {
        let text = "a: 1\nb: [1.5, -2, 1e300, -0.0, 0.1, ~, true, \"x\\ty\"]\n1: one\n\"1\": two\nc: {d: {}}\ne: 18446744073709551615\n";
        let node = parse(text).unwrap();
        let json = Json::of(&node);
        assert_eq!(json.value(), node.to_json(), "{json:?}");
        assert!(!json.is_empty_map());
        assert!(Json::of(&parse("{}").unwrap()).is_empty_map());
    }

    #[test]
    fn comments_are_not_counted() {
        let comments = "  # a comment\n".repeat(100);
        for text in [
            format!("a:\n{comments}  b: 1\n"),
            format!("a: [\n{comments}  1]\n"),
        ] {
            assert!(
                parse(&text).is_ok() && parse_with_serde(&text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_rejected_with_a_location() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::DuplicateKey, "{e:?}");
        assert_eq!(e.pos.line, 3);
    }

    #[test]
    fn deep_nesting_hits_the_depth_limit() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = parse(&text).unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::Limit, "{e:?}");
    }

    #[test]
    fn alias_bomb_hits_a_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        let e = parse(&text).unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::Limit, "{e:?}");
    }
}
