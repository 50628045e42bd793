//! Reading manifests out of located YAML trees, collecting every problem.
//!
//! serde's derive stops at the first error in a file; a reviewer wants all of them, each on its
//! line. So manifests are decoded by hand over [`Node`]s through [`Cx`] and [`Fields`]:
//! unknown fields (with the nearest valid name as a hint), missing fields, wrong types, bad enum
//! values and numbers that must be quoted all become diagnostics, and decoding goes on.

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A value together with where it was written.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Located<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Located { value, loc }
    }
}

pub type Text = Located<String>;

/// The file being decoded and the diagnostics found so far.
pub struct Cx<'a> {
    pub file: Arc<str>,
    /// The file's text, to read back how a scalar was spelled.
    pub text: Arc<str>,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    pub fn new(file: Arc<str>, text: Arc<str>, diags: &'a mut Vec<Diagnostic>) -> Self {
        Cx { file, text, diags }
    }

    pub fn loc(&self, node: &Node) -> Loc {
        Loc::at(&self.file, node.pos)
    }

    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn error(&mut self, code: crate::diag::Code, node: &Node, message: impl Into<String>) {
        let loc = self.loc(node);
        self.diags.push(Diagnostic::new(code, Some(loc), message));
    }

    pub fn error_help(
        &mut self,
        code: crate::diag::Code,
        node: &Node,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let loc = self.loc(node);
        self.diags
            .push(Diagnostic::new(code, Some(loc), message).help(help));
    }

    pub fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        let found = node.type_name();
        self.error(
            codes::WRONG_TYPE,
            node,
            format!("{what} must be {expected}, found {found}"),
        );
    }

    /// Open a mapping, or report that `what` should have been one.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        match node.as_map() {
            Some(entries) => {
                for (k, _) in entries {
                    if k.as_str().is_none() {
                        self.wrong_type(k, &format!("a key in {what}"), "a string");
                    }
                }
                Some(Fields {
                    node,
                    entries,
                    what: what.to_string(),
                })
            }
            None => {
                self.wrong_type(node, what, "a mapping");
                None
            }
        }
    }

    pub fn text(&mut self, node: &Node, what: &str) -> Option<Text> {
        match &node.value {
            Value::Str(s) => Some(Located::new(s.clone(), self.loc(node))),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// A string that YAML may have read as a number or boolean: accepted only when it reads back
    /// as the same text, so that every YAML reader agrees on it (`3` yes; `1.10`, `01`, `1e3` no).
    pub fn stringish(&mut self, node: &Node, what: &str) -> Option<Text> {
        match &node.value {
            Value::Str(s) => Some(Located::new(s.clone(), self.loc(node))),
            Value::Int(_) | Value::Float(_) => {
                let text = node.scalar_text().unwrap_or_default();
                let raw = self.raw_text(node);
                if raw.as_deref() == Some(text.as_str()) {
                    Some(Located::new(text, self.loc(node)))
                } else {
                    let raw = raw.unwrap_or_else(|| text.clone());
                    self.error_help(
                        codes::UNQUOTED_NUMBER,
                        node,
                        format!("{what} `{raw}` is read by YAML as the number {text}, not the text `{raw}`"),
                        format!("quote it: \"{raw}\""),
                    );
                    None
                }
            }
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// The scalar's source text, when it is a plain one-line scalar.
    pub fn raw_text(&self, node: &Node) -> Option<String> {
        if !node.plain || node.pos.len == 0 {
            return None;
        }
        self.text
            .get(node.pos.offset..node.pos.offset + node.pos.len)
            .map(str::to_string)
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(node, what, "true or false");
                None
            }
        }
    }

    pub fn integer(&mut self, node: &Node, what: &str) -> Option<i64> {
        match node.value {
            Value::Int(i) => Some(i),
            _ => {
                self.wrong_type(node, what, "an integer");
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        match node.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => {
                self.wrong_type(node, what, "a number");
                None
            }
        }
    }

    /// A list of strings.
    pub fn texts(&mut self, node: &Node, what: &str) -> Vec<Text> {
        match node.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|n| self.text(n, &format!("each entry of {what}")))
                .collect(),
            None => {
                self.wrong_type(node, what, "a list of strings");
                Vec::new()
            }
        }
    }

    /// A string-to-string mapping, as Azure requires for `tags`.
    pub fn tags(&mut self, node: &Node, what: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(fields) = self.map(node, what) else {
            return out;
        };
        for (k, v) in fields.entries {
            let Some(key) = k.as_str() else { continue };
            match &v.value {
                Value::Str(s) => {
                    out.insert(key.to_string(), s.clone());
                }
                _ => {
                    // Show the value as written: `3.10`, not the 3.1 YAML made of it.
                    let shown = self
                        .raw_text(v)
                        .or_else(|| v.scalar_text())
                        .unwrap_or_else(|| v.type_name().to_string());
                    self.error_help(
                        codes::TAG_NOT_STRING,
                        v,
                        format!(
                            "the value of {what} `{key}` must be a string, found {}",
                            v.type_name()
                        ),
                        format!("quote it: {key}: \"{shown}\""),
                    );
                }
            }
        }
        out
    }

    /// Tags as azure-ai-ml takes them on models, environments and data: any value, which it
    /// turns into text (`8`, `true`, even a mapping). A number YAML reads as something else
    /// than what was written (`3.10` as 3.1) is still an error, since the text that arrives is
    /// not the text written.
    pub fn loose_tags(&mut self, node: &Node, what: &str) {
        let Some(fields) = self.map(node, what) else {
            return;
        };
        for (k, v) in fields.entries {
            let Some(key) = k.as_str() else { continue };
            if !matches!(v.value, Value::Int(_) | Value::Float(_)) {
                continue;
            }
            let read = v.scalar_text().unwrap_or_default();
            let Some(raw) = self.raw_text(v).filter(|raw| *raw != read) else {
                continue;
            };
            self.error_help(
                codes::UNQUOTED_NUMBER,
                v,
                format!(
                    "the value of {what} `{key}`, `{raw}`, is read by YAML as the number {read}"
                ),
                format!("quote it: {key}: \"{raw}\""),
            );
        }
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Option<Text> {
        let t = self.text(node, what)?;
        if allowed.contains(&t.value.as_str()) {
            return Some(t);
        }
        let list = allowed.join(", ");
        let mut d = Diagnostic::new(
            codes::BAD_ENUM,
            Some(t.loc.clone()),
            format!("{what} `{}` is not one of: {list}", t.value),
        );
        if let Some(near) = nearest(&t.value, allowed) {
            d = d.help(format!("did you mean `{near}`?"));
        }
        self.report(d);
        None
    }
}

/// A mapping being decoded.
pub struct Fields<'n> {
    pub node: &'n Node,
    pub entries: &'n [(Node, Node)],
    pub what: String,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn keys(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> {
        self.entries
            .iter()
            .filter_map(|(k, v)| k.as_str().map(|s| (s, k, v)))
    }

    /// Unknown keys are errors, with the nearest allowed key as a hint.
    pub fn allow(&self, cx: &mut Cx, allowed: &[&str]) {
        self.unknown(cx, allowed, codes::UNKNOWN_FIELD);
    }

    /// Unknown keys are warnings: for places where Azure itself accepts anything, but a typo
    /// is still likely.
    pub fn allow_leniently(&self, cx: &mut Cx, allowed: &[&str]) {
        self.unknown(cx, allowed, codes::LENIENT_FIELD);
    }

    fn unknown(&self, cx: &mut Cx, allowed: &[&str], code: crate::diag::Code) {
        for (key, knode, _) in self.keys() {
            if allowed.contains(&key) {
                continue;
            }
            let accepted = if code == codes::LENIENT_FIELD {
                " (accepted, but not a known field)"
            } else {
                ""
            };
            let mut d = Diagnostic::new(
                code,
                Some(cx.loc(knode)),
                format!("unknown field `{key}` in {}{accepted}", self.what),
            );
            if let Some(near) = nearest(key, allowed) {
                d = d.help(format!("did you mean `{near}`?"));
            } else {
                d = d.help(format!("valid fields: {}", allowed.join(", ")));
            }
            cx.report(d);
        }
    }

    /// A required field: reports it missing, pointing at the mapping.
    pub fn require(&self, cx: &mut Cx, key: &str) -> Option<&'n Node> {
        let v = self.get(key);
        if v.is_none() {
            let node = self.node;
            cx.error(
                codes::MISSING_FIELD,
                node,
                format!("{} is missing the required field `{key}`", self.what),
            );
        }
        v
    }

    pub fn text(&self, cx: &mut Cx, key: &str) -> Option<Text> {
        self.get(key).and_then(|n| cx.text(n, &format!("`{key}`")))
    }

    pub fn req_text(&self, cx: &mut Cx, key: &str) -> Option<Text> {
        self.require(cx, key)
            .and_then(|n| cx.text(n, &format!("`{key}`")))
    }

    pub fn boolean(&self, cx: &mut Cx, key: &str) -> Option<bool> {
        self.get(key)
            .and_then(|n| cx.boolean(n, &format!("`{key}`")))
    }

    pub fn texts(&self, cx: &mut Cx, key: &str) -> Vec<Text> {
        self.get(key)
            .map(|n| cx.texts(n, &format!("`{key}`")))
            .unwrap_or_default()
    }

    pub fn tags(&self, cx: &mut Cx, key: &str) -> BTreeMap<String, String> {
        self.get(key)
            .map(|n| cx.tags(n, &format!("`{key}`")))
            .unwrap_or_default()
    }

    pub fn loose_tags(&self, cx: &mut Cx, key: &str) {
        if let Some(n) = self.get(key) {
            cx.loose_tags(n, &format!("`{key}`"));
        }
    }

    /// A list of mappings (`workspaces`, `metrics`, ...): its entries that are mappings; the
    /// others, and a `key` that is not a list, are reported.
    pub fn maps(&self, cx: &mut Cx, key: &str, each: &str) -> Vec<Fields<'n>> {
        let Some(n) = self.get(key) else {
            return Vec::new();
        };
        let Some(items) = n.as_seq() else {
            cx.wrong_type(n, &format!("`{key}`"), "a list");
            return Vec::new();
        };
        items.iter().filter_map(|item| cx.map(item, each)).collect()
    }

    pub fn map(&self, cx: &mut Cx, key: &str) -> Option<Fields<'n>> {
        self.get(key).and_then(|n| cx.map(n, &format!("`{key}`")))
    }

    pub fn choice(&self, cx: &mut Cx, key: &str, allowed: &[&str]) -> Option<Text> {
        self.get(key)
            .and_then(|n| cx.choice(n, &format!("`{key}`"), allowed))
    }

    /// A free-form mapping (Azure `properties`, `flavors`): only its shape is checked.
    pub fn any_map(&self, cx: &mut Cx, key: &str) {
        if let Some(n) = self.get(key) {
            cx.map(n, &format!("`{key}`"));
        }
    }
}

/// The allowed word closest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_lowercase();
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&lower, &a.to_lowercase()), *a))
        .filter(|(d, a)| *d <= (a.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(
            nearest("descripton", &["description", "display_name"]),
            Some("description")
        );
        assert_eq!(
            nearest("enviroment", &["environment", "code"]),
            Some("environment")
        );
        assert_eq!(nearest("zzz", &["environment", "code"]), None);
        assert_eq!(nearest("Name", &["name"]), Some("name"));
    }
}
