//! Reading manifest text with every guard (size limit, regular files only, UTF-8, no NUL byte),
//! and the YAML front matter of cards.

use crate::diag::{Diagnostic, Loc, codes};
use crate::registry::yaml::{self, Node};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Manifests (YAML, cards) larger than this are refused unread: real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Read at most `MAX_MANIFEST_BYTES` (plus one, to notice a larger file), as UTF-8 without NUL.
pub fn read_bounded(abs: &Path, file: &Arc<str>) -> Result<Arc<str>, Diagnostic> {
    let loc = Some(Loc::file(file));
    // Never open a FIFO or device: opening a FIFO blocks until someone writes to it.
    match std::fs::metadata(abs) {
        Ok(m) if m.is_file() => read_regular(abs, file),
        Ok(_) => Err(Diagnostic::new(
            codes::READ_FAILED,
            loc,
            "not a regular file",
        )),
        Err(e) => Err(Diagnostic::new(
            codes::READ_FAILED,
            loc,
            format!("cannot read: {e}"),
        )),
    }
}

/// [`read_bounded`] of a file known to be a regular file (its folder's listing has just said
/// so): opened without looking at it first, a lookup of its whole path that a large registry's
/// hundreds of thousands of manifests make costly.
pub fn read_regular(abs: &Path, file: &Arc<str>) -> Result<Arc<str>, Diagnostic> {
    let loc = Some(Loc::file(file));
    let f = std::fs::File::open(abs).map_err(|e| {
        Diagnostic::new(codes::READ_FAILED, loc.clone(), format!("cannot read: {e}"))
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let too_large = |n: u64| {
        Diagnostic::new(
            codes::TOO_LARGE,
            loc.clone(),
            format!(
                "this file is {n} bytes; manifests and cards are limited to {MAX_MANIFEST_BYTES} bytes"
            ),
        )
    };
    if len > MAX_MANIFEST_BYTES {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Diagnostic::new(codes::READ_FAILED, loc.clone(), format!("cannot read: {e}"))
        })?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let bad = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..bad]).into_owned();
            return Err(at_offset(
                file,
                &valid,
                bad,
                codes::NOT_UTF8,
                "invalid UTF-8 here: manifests must be UTF-8 text",
            ));
        }
    };
    if let Some(nul) = text.find('\0') {
        return Err(at_offset(
            file,
            &text,
            nul,
            codes::NUL_BYTE,
            "NUL byte here: manifests must be text",
        ));
    }
    Ok(Arc::from(text))
}

fn at_offset(
    file: &Arc<str>,
    text: &str,
    offset: usize,
    code: crate::diag::Code,
    message: &str,
) -> Diagnostic {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Diagnostic::new(
        code,
        Some(Loc {
            file: file.clone(),
            line,
            col,
            offset: offset.min(text.len()),
            len: 0,
        }),
        message,
    )
}

/// The front matter of a card: (byte offset where its YAML starts, the YAML).
pub fn front_matter(text: &str) -> Option<(usize, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let start = text.len() - rest.len();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((start, &rest[..offset]));
        }
        offset += line.len();
    }
    None
}

/// Move positions of a tree parsed from a slice to where the slice sits in its file.
pub fn shift(node: &mut Node, text: &str, start: usize) {
    let lines = text[..start].matches('\n').count() as u32;
    fn go(n: &mut Node, lines: u32, start: usize) {
        n.pos.line += lines;
        n.pos.offset += start;
        match &mut n.value {
            yaml::Value::Seq(items) => items.iter_mut().for_each(|c| go(c, lines, start)),
            yaml::Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                go(k, lines, start);
                go(v, lines, start);
            }),
            _ => {}
        }
    }
    go(node, lines, start);
}
