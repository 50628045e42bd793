//! Changes to the spec's text, made line by line so that the user's text and comments stay; where
//! the text does not allow it, made to the parsed tree, which is serialized anew. And how the
//! offsets of the new text map back to the spec's, to point the diagnostics of a refused version
//! at what the user wrote.

use crate::diag::Loc;
use crate::registry::yaml::{self, Node, Value};

/// Changes to the spec's text, applied line by line where the text allows it; otherwise the
/// same changes made to the parsed tree, which is serialized anew.
pub(super) struct Edits<'a> {
    text: &'a str,
    root: &'a Node,
    /// (start, end, replacement) byte ranges of `text`.
    ranges: Vec<(usize, usize, String)>,
    /// The same changes, for a tree: keys to drop, keys to add (after `$schema`), and
    /// (offset of a scalar, its new text).
    dropped: Vec<usize>,
    added: Vec<(String, String)>,
    replaced: Vec<(usize, String)>,
    /// Why the text cannot be edited in place, once that is known.
    whole: Option<&'static str>,
}

impl<'a> Edits<'a> {
    pub(super) fn new(text: &'a str, root: &'a Node) -> Edits<'a> {
        let flow = text.as_bytes().get(root.pos.offset) == Some(&b'{');
        Edits {
            text,
            root,
            ranges: Vec::new(),
            dropped: Vec::new(),
            added: Vec::new(),
            replaced: Vec::new(),
            whole: flow.then_some("its top level is a flow mapping, `{...}`"),
        }
    }

    fn entries(&self) -> &'a [(Node, Node)] {
        self.root.as_map().unwrap_or(&[])
    }

    /// Drop the `i`th top-level entry: its lines, from its key to the next key, less the comment
    /// and blank lines just above that key, which belong to it.
    pub(super) fn drop_entry(&mut self, i: usize) {
        self.dropped.push(i);
        let entries = self.entries();
        let key = &entries[i].0;
        let start = line_start(self.text, key.pos.offset);
        let mut end = match entries.get(i + 1) {
            Some((next, _)) => line_start(self.text, next.pos.offset),
            None => self.text.len(),
        };
        let indent = (key.pos.col as usize).saturating_sub(1);
        while end > 0 {
            let prev = line_start(self.text, end - 1);
            if prev <= start {
                break;
            }
            let line = &self.text[prev..end];
            let body = line.trim_start_matches(' ');
            let comment = body.starts_with('#') && line.len() - body.len() <= indent;
            if !(comment || body.trim().is_empty()) {
                break;
            }
            end = prev;
        }
        self.ranges.push((start, end, String::new()));
    }

    /// Insert top-level `key: value` lines after the line where `after` falls (first of all,
    /// when it is `None`).
    pub(super) fn insert(&mut self, after: Option<usize>, lines: &[String]) {
        for line in lines {
            if let Some((k, v)) = line.split_once(": ") {
                self.added.push((k.to_string(), v.to_string()));
            }
        }
        let first = self.entries().first().map(|(k, _)| k);
        let indent = " ".repeat(first.map_or(0, |k| (k.pos.col as usize).saturating_sub(1)));
        let mut text: String = lines.iter().map(|l| format!("{indent}{l}\n")).collect();
        let at = match after {
            Some(offset) => match self.text[offset..].find('\n') {
                Some(nl) => offset + nl + 1,
                None => {
                    text.insert(0, '\n');
                    self.text.len()
                }
            },
            None => first.map_or(self.text.len(), |k| line_start(self.text, k.pos.offset)),
        };
        self.ranges.push((at, at, text));
    }

    /// Replace a scalar written at `loc` with `with` (YAML text, quoted as needed).
    pub(super) fn replace(&mut self, loc: &Loc, with: &str) {
        self.replaced.push((loc.offset, with.to_string()));
        let written = self
            .text
            .get(loc.offset..loc.offset + loc.len)
            .unwrap_or("");
        if written.is_empty() || written.contains('\n') {
            self.whole
                .get_or_insert("a path to rewrite is written over several lines");
            return;
        }
        self.ranges
            .push((loc.offset, loc.offset + loc.len, with.to_string()));
    }

    /// The new text, and how its offsets map back to the spec's, or why it was serialized anew.
    pub(super) fn finish(self) -> (String, Result<Shifts, &'static str>) {
        if let Some(why) = self.whole {
            return (self.serialized(), Err(why));
        }
        let mut ranges = self.ranges;
        ranges.sort_by_key(|r| (r.0, r.1));
        let mut out = String::with_capacity(self.text.len());
        let mut shifts = Vec::new();
        let mut at = 0;
        for (start, end, with) in ranges {
            out.push_str(&self.text[at..start.max(at)]);
            shifts.push((
                out.len(),
                out.len() + with.len(),
                start.max(at),
                end.max(at),
            ));
            out.push_str(&with);
            at = at.max(end);
        }
        out.push_str(&self.text[at..]);
        (out, Ok(Shifts(shifts)))
    }

    /// The tree with the changes made, as YAML.
    fn serialized(&self) -> String {
        fn rewrite(n: &mut Node, replaced: &[(usize, String)]) {
            match &mut n.value {
                Value::Str(s) => {
                    if let Some((_, with)) = replaced.iter().find(|(o, _)| *o == n.pos.offset) {
                        *s = yaml::parse(with)
                            .ok()
                            .and_then(|p| p.as_str().map(str::to_string))
                            .unwrap_or_else(|| with.clone());
                    }
                }
                Value::Seq(items) => items.iter_mut().for_each(|i| rewrite(i, replaced)),
                Value::Map(entries) => entries.iter_mut().for_each(|(_, v)| rewrite(v, replaced)),
                _ => {}
            }
        }
        let mut root = self.root.clone();
        rewrite(&mut root, &self.replaced);
        let text = |s: &str| Node {
            value: Value::Str(s.to_string()),
            pos: Default::default(),
            plain: false,
        };
        if let Value::Map(entries) = &mut root.value {
            let mut kept: Vec<(Node, Node)> = entries
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.dropped.contains(i))
                .map(|(_, e)| e.clone())
                .collect();
            let after = kept
                .iter()
                .position(|(k, _)| k.as_str() == Some("$schema"))
                .map_or(0, |i| i + 1);
            for (i, (k, v)) in self.added.iter().enumerate() {
                let value = yaml::parse(v)
                    .ok()
                    .and_then(|p| p.as_str().map(str::to_string))
                    .unwrap_or_else(|| v.clone());
                kept.insert(after + i, (text(k), text(&value)));
            }
            *entries = kept;
        }
        yaml::to_yaml(&root.to_json())
    }
}

/// Where the edits of a spec are: (start, end) in the new text and (start, end) in the old.
pub(super) struct Shifts(Vec<(usize, usize, usize, usize)>);

impl Shifts {
    /// The offset in the old text of `offset` in the new one (the start of an edit, inside it).
    pub(super) fn back(&self, offset: usize) -> usize {
        let mut delta: isize = 0;
        for &(out_start, out_end, in_start, in_end) in &self.0 {
            if offset < out_start {
                break;
            }
            if offset < out_end {
                return in_start;
            }
            delta += out_end as isize - out_start as isize - (in_end as isize - in_start as isize);
        }
        offset.saturating_add_signed(-delta)
    }
}

pub(super) fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn edited(text: &str, f: impl FnOnce(&mut Edits)) -> (String, Option<&'static str>) {
        let root = yaml::parse(text).unwrap();
        let mut e = Edits::new(text, &root);
        f(&mut e);
        let (out, shifts) = e.finish();
        (out, shifts.err())
    }

    #[test]
    fn read_only_entries_go_with_their_lines_but_not_the_next_keys_comments() {
        let text = "# top\n$schema: s\nid: /subscriptions/x\ncreation_context:\n  created_by: a\n  created_at: b\n\n# the model\npath: model\n";
        let (out, whole) = edited(text, |e| {
            e.drop_entry(1);
            e.drop_entry(2);
        });
        assert_eq!(out, "# top\n$schema: s\n\n# the model\npath: model\n");
        assert_eq!(whole, None);
    }

    #[test]
    fn name_and_version_go_after_schema_even_when_what_follows_is_dropped() {
        let text = "$schema: s # kind\nid: x\npath: model";
        let (out, _) = edited(text, |e| {
            e.drop_entry(1);
            e.insert(
                Some("$schema: s".len()),
                &["name: m".into(), "version: \"2\"".into()],
            );
        });
        assert_eq!(
            out,
            "$schema: s # kind\nname: m\nversion: \"2\"\npath: model"
        );
        let (out, _) = edited("path: model", |e| {
            e.insert(Some(11), &["version: \"1\"".into()])
        });
        assert_eq!(out, "path: model\nversion: \"1\"\n");
        let (out, _) = edited("# c\n  path: m\n", |e| e.insert(None, &["name: x".into()]));
        assert_eq!(out, "# c\n  name: x\n  path: m\n");
    }

    #[test]
    fn paths_are_replaced_in_place_or_the_spec_is_serialized_anew() {
        let text = "code: '../src' # shared\ncommand: run\n";
        let root = yaml::parse(text).unwrap();
        let code = &root.as_map().unwrap()[0].1;
        let loc = Loc::at(&Arc::from("s"), code.pos);
        let (out, _) = edited(text, |e| e.replace(&loc, "src"));
        assert_eq!(out, "code: src # shared\ncommand: run\n");

        let flow = "{code: ../src, id: x}";
        let root = yaml::parse(flow).unwrap();
        let loc = Loc::at(&Arc::from("s"), root.as_map().unwrap()[0].1.pos);
        let (out, whole) = edited(flow, |e| {
            e.replace(&loc, "src");
            e.drop_entry(1);
            e.insert(None, &["name: x".into()]);
        });
        assert!(whole.is_some());
        let back = yaml::parse(&out).unwrap().to_json();
        assert_eq!(back, serde_json::json!({"code": "src", "name": "x"}));
    }

    #[test]
    fn offsets_of_the_new_text_map_back_to_the_spec() {
        let text = "$schema: s\nid: x\npath: ../m\ndescripton: d\n";
        let root = yaml::parse(text).unwrap();
        let path = &root.as_map().unwrap()[2].1;
        let mut e = Edits::new(text, &root);
        e.drop_entry(1);
        e.insert(Some(10), &["name: n".into()]);
        e.replace(&Loc::at(&Arc::from("s"), path.pos), "m");
        let (out, shifts) = e.finish();
        assert_eq!(out, "$schema: s\nname: n\npath: m\ndescripton: d\n");
        let shifts = shifts.unwrap();
        let typo = out.find("descripton").unwrap();
        assert_eq!(shifts.back(typo), text.find("descripton").unwrap());
        assert_eq!(
            shifts.back(out.find("name").unwrap()),
            text.find("id").unwrap()
        );
        assert_eq!(
            shifts.back(out.find("path: m").unwrap() + 6),
            path.pos.offset
        );
        assert_eq!(shifts.back(3), 3);
    }
}
