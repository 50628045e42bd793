//! The common case of [`super::parse`], read straight from the parser's events.
//!
//! Going through serde (`Spanned<T>` for every node) costs more than parsing itself; nearly every
//! manifest, though, is plain YAML: mappings, sequences, untagged scalars, no anchors. For such a
//! document this module builds the same tree serde-saphyr would, from the same parser with the
//! same options. Whatever it does not handle exactly as serde-saphyr does (anchors, aliases,
//! tags, merge keys, complex or repeated keys, directives, deep nesting, scalars whose type is
//! not obvious, any error) makes it give up, and `parse` asks serde-saphyr. Its answer is thus
//! never different, only sooner; `tests::matches_serde_saphyr` holds it to that.

use super::{MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES, Node, Pos, Value, located, pos_at};
use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, Span, StrInput};
use std::borrow::Cow;

/// Deeper than this, serde-saphyr's depth budget is left to judge.
const DEPTH: usize = MAX_DEPTH / 2;
/// Beyond this many nodes, serde-saphyr's node budget is left to judge.
const NODES: usize = MAX_NODES / 2;

/// A collection being read.
enum Open<'t> {
    Seq(Pos, Vec<Node>),
    /// The entries so far, the key waiting for its value, and the keys' texts: serde-saphyr
    /// tells duplicate keys by their text (and tag), so a text written twice is left to it.
    Map(Pos, Vec<(Node, Node)>, Option<Node>, Vec<Cow<'t, str>>),
}

/// The tree of `text`, or `None` when serde-saphyr has to read it.
pub(super) fn parse(text: &str) -> Option<Node> {
    // No more scalar text than serde-saphyr's budget allows.
    if text.len() > MAX_SCALAR_BYTES {
        return None;
    }
    let mut parser = Parser::with_options(StrInput::new(text), options());
    let mut open: Vec<Open> = Vec::new();
    let mut root = None;
    let (mut documents, mut nodes) = (0, 0);
    loop {
        let (event, span) = parser.next_event()?.ok()?;
        let node = match event {
            Event::StreamStart | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart(_, version) => {
                documents += 1;
                if documents > 1 || version.is_some() {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, 0, None) => {
                let typed = scalar(&value, style)?;
                if let Some(Open::Map(_, _, None, keys)) = open.last_mut() {
                    if value == "<<" {
                        // A merge key.
                        return None;
                    }
                    keys.push(value);
                }
                located(text, pos(text, &span), typed)
            }
            Event::SequenceStart(_, 0, None) | Event::MappingStart(_, 0, None) => {
                nodes += 1;
                // A collection as a key, or nesting serde-saphyr's budget may refuse.
                if matches!(open.last(), Some(Open::Map(_, _, None, _))) || open.len() >= DEPTH {
                    return None;
                }
                let pos = pos(text, &span);
                open.push(match event {
                    Event::SequenceStart(..) => Open::Seq(pos, Vec::new()),
                    _ => Open::Map(pos, Vec::new(), None, Vec::new()),
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop()? {
                Open::Seq(pos, items) => located(text, pos, Value::Seq(items)),
                Open::Map(pos, entries, None, mut keys) => {
                    keys.sort_unstable();
                    if keys.windows(2).any(|k| k[0] == k[1]) {
                        return None;
                    }
                    located(text, pos, Value::Map(entries))
                }
                Open::Map(_, _, Some(_), _) => return None,
            },
            // Anchors, aliases, tags.
            _ => return None,
        };
        nodes += 1;
        if nodes > NODES {
            return None;
        }
        match open.last_mut() {
            None if root.is_none() => root = Some(node),
            None => return None,
            Some(Open::Seq(_, items)) => items.push(node),
            Some(Open::Map(_, entries, key @ Some(_), _)) => {
                entries.push((key.take().expect("a key waits"), node))
            }
            Some(Open::Map(_, _, key, _)) => *key = Some(node),
        }
    }
    // A lone scalar (or nothing) is rare in a manifest, and serde-saphyr reads an empty one as
    // no document at all.
    root.filter(|r| matches!(r.value, Value::Seq(_) | Value::Map(_)))
}

/// The parser options serde-saphyr uses with `super::options()`.
fn options() -> Options {
    let mut options = Options::default();
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = options.block_nesting_limit.max(MAX_DEPTH + 1);
    options.simple_key_max_lookahead = serde_saphyr::Budget::default().simple_key_max_lookahead;
    options
}

fn pos(text: &str, span: &Span) -> Pos {
    let (start, end) = (span.start.byte_offset(), span.end.byte_offset());
    let len = start.zip(end).map(|(s, e)| e.saturating_sub(s));
    pos_at(text, span.start.line(), span.start.col() + 1, start, len)
}

/// An untagged scalar as serde-saphyr types it (with `strict_booleans`), when that is plain to
/// see: quoted and block scalars are text; a plain one is null, a boolean, text that cannot be
/// a number, or a decimal integer or fraction short enough to be read exactly. `None` for the
/// rest (`1e3`, `0x1F`, `1_000`, `007`, `.inf`, ...).
fn scalar(value: &str, style: ScalarStyle) -> Option<Value> {
    if style != ScalarStyle::Plain {
        return Some(Value::Str(value.to_string()));
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // serde-saphyr trims these before typing; a plain scalar never starts or ends with them.
    if value.trim_matches([' ', '\t', '\r', '\n']) != value {
        return None;
    }
    let text = || Some(Value::Str(value.to_string()));
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let b = unsigned.as_bytes();
    match b.first() {
        None => return None,
        // Every integer, and every number YAML or Rust spells with digits, starts (after a
        // sign) with a digit or a dot; `inf` and `nan` are not numbers to serde-saphyr.
        Some(c) if !c.is_ascii_digit() && *c != b'.' => return text(),
        // `.inf`, `.nan`
        Some(b'.') if b.get(1).is_some_and(u8::is_ascii_alphabetic) => return None,
        Some(_) => {}
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 17 && s.bytes().all(|c| c.is_ascii_digit());
    let whole = |s: &str| digits(s) && (s == "0" || !s.starts_with('0'));
    let decimal = value.strip_prefix('-').unwrap_or(value);
    if whole(decimal) {
        return value.parse().ok().map(Value::Int);
    }
    if let Some((int, frac)) = decimal.split_once('.')
        && whole(int)
        && digits(frac)
    {
        return value.parse().ok().map(Value::Float);
    }
    // Characters of no integer (`0x1F`, `0o17`, `0b1`, `1_000`) or float (`1.5e-3`) spelling;
    // more than one dot; a sign inside, other than an exponent's: text.
    let numeric = |c: u8| {
        c.is_ascii_hexdigit() || matches!(c, b'x' | b'X' | b'o' | b'O' | b'_' | b'+' | b'-' | b'.')
    };
    let inner_sign = b
        .iter()
        .enumerate()
        .any(|(i, c)| i > 0 && matches!(c, b'+' | b'-') && !matches!(b[i - 1], b'e' | b'E'));
    if !b.iter().all(|c| numeric(*c)) || b.iter().filter(|c| **c == b'.').count() > 1 || inner_sign
    {
        return text();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse_with_serde;
    use std::path::Path;

    /// The tree read directly is serde-saphyr's, node for node: values, positions, plainness.
    fn same(text: &str) -> bool {
        let Some(direct) = super::parse(text) else {
            return false;
        };
        let serde = parse_with_serde(text);
        assert_eq!(
            format!("{:?}", Ok::<_, super::super::YamlError>(direct)),
            format!("{serde:?}"),
            "{text}"
        );
        true
    }

    fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "md")
            {
                out.push(p);
            }
        }
    }

    /// Scalars of every shape, as values, keys and list items, in block and flow style.
    #[test]
    fn scalars_match_serde_saphyr() {
        let scalars = [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "nULL",
            "true",
            "True",
            "TRUE",
            "tRUE",
            "false",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "0",
            "-0",
            "+0",
            "00",
            "007",
            "1",
            "-1",
            "+1",
            "12345678901234567",
            "123456789012345678",
            "99999999999999999999",
            "-9223372036854775808",
            "1.5",
            "-1.5",
            "+1.5",
            "0.5",
            "00.5",
            ".5",
            "5.",
            "1.10",
            "3.10",
            "1e3",
            "1E3",
            "1.5e-3",
            "1e400",
            "-1e400",
            "0x1F",
            "0X1F",
            "0o17",
            "0O17",
            "0b11",
            "0B11",
            "1_000",
            ".inf",
            "-.inf",
            "+.Inf",
            ".nan",
            "-.nan",
            ".NaN",
            "inf",
            "-inf",
            "nan",
            "infinity",
            "1.0.0",
            "10.0.0.1",
            "2026-01-01",
            "2026-01-01T00:00:00Z",
            "12:30",
            "1:30:00",
            "1-2",
            "1+2",
            "1e+5",
            "e5",
            "bad",
            "face",
            "cafe1",
            "v1",
            "-x",
            "+x",
            "-",
            "+",
            ".",
            "..",
            "...",
            "a b",
            "a  b",
            "é",
            "ü1",
            "<<",
            "=",
            "a:b",
            "http://x/y",
            "#x",
            "\"quoted\"",
            "'single'",
            "\"1\"",
            "'1'",
            "\"true\"",
            "\"\"",
            "''",
            "\"a\\tb\\u00e9\"",
            "'it''s'",
            "\"\\n\"",
        ];
        let mut read = 0;
        for s in scalars {
            for text in [
                format!("k: {s}\n"),
                format!("{s}: v\n"),
                format!("- {s}\n"),
                format!("[{s}]\n"),
                format!("{{k: {s}}}\n"),
                format!("a:\n  b: {s}\n  c:\n    - {s}\n"),
                format!("k: {s} # note\r\n"),
            ] {
                read += usize::from(same(&text));
            }
        }
        assert!(read > 300, "{read}");
    }

    /// Structures: block scalars, multi-line plain scalars, empty values, repeated keys,
    /// documents, directives, anchors, tags, and broken YAML.
    #[test]
    fn structures_match_serde_saphyr() {
        for text in [
            "a: |\n  x\n  y\nb: >-\n  z\n  w\n",
            "a: x\n  y\n  z\nb: 1\n",
            "a:\nb:\n  -\n  - \nc: {}\nd: []\n",
            "a: 1\na: 2\n",
            "a: 1\n\"a\": 2\n",
            "1: a\n\"1\": b\n",
            "~: a\nnull: b\n",
            "1.0: a\n1.00: b\n",
            "true: a\nTrue: b\nyes: c\n",
            "1: a\n-1: b\n'1': c\n",
            "a:\n  x: 1\nb:\n  x: 1\n",
            "? a\n: b\n",
            "? [a]\n: b\n",
            "[a]: b\n",
            "---\na: 1\n...\n",
            "---\na: 1\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n<<: {c: 2}\n",
            "\u{feff}a: 1\n",
            "a: 1\n\tb: 2\n",
            "a: [1, 2\n",
            "a: b: c\n",
            "- a\nb: c\n",
            "",
            "# only a comment\n",
            "a\n",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
            "a:\n  - b: 1\n    c: [x, {d: e}]\n  - - f\n    - g\n",
        ] {
            same(text);
        }
    }

    proptest::proptest! {
        /// Whatever is read directly is read as serde-saphyr reads it, however odd the text.
        #[test]
        fn odd_text_matches_serde_saphyr(text in "([a-z0-9 :\\-\\[\\]{},'\"#&*!|>~?.+\\n\\t]|e|\\.5|- |: ){0,40}") {
            same(&text);
        }
    }

    #[test]
    fn matches_serde_saphyr() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["registry", "tests/corpus", "tests/fixtures", "docs"] {
            yaml_files(&root.join(dir), &mut files);
        }
        let (mut read, mut total) = (0, 0);
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let text = match crate::registry::files::front_matter(&text) {
                Some((_, front)) => front.to_string(),
                None if f.extension().is_some_and(|x| x == "md") => continue,
                None => text,
            };
            total += 1;
            read += usize::from(same(&text));
        }
        eprintln!("{read} of {total} files read directly");
        assert!(read * 10 >= total * 8, "{read} of {total}");
    }
}
