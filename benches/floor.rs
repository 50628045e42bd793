//! The floor of a build: the time a trivial program takes to write the same number and sizes of
//! files to the same disk. benches/scale.py lists the files of a cold build's output and times
//! this program writing them into an empty folder next to it.
//!
//! usage: floor [--rename] DEST [LIST]
//!
//! LIST (or stdin) has one file a line: its size in bytes, a tab, its path relative to DEST.
//! Each file is created (with its missing parent folders) and filled with one write of that many
//! bytes; nothing is fsynced, as mlreg's build does not fsync either.
//!
//! mlreg writes each output file to a temporary name next to it and renames it into place
//! (src/publish/output.rs, `atomic_write`), which costs a second metadata operation per file; with
//! `--rename` the floor does the same (`.<name>.tmp-<pid>`, then rename), so that the comparison is
//! fair. scale.py prints both.
//!
//! Build: rustc -O benches/floor.rs -o target/floor (std only).

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rename = match args.iter().position(|a| a == "--rename") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let (dest, list) = match args.as_slice() {
        [dest] => (PathBuf::from(dest), None),
        [dest, list] => (PathBuf::from(dest), Some(list.clone())),
        _ => return Err("usage: floor [--rename] DEST [LIST]".into()),
    };
    let input: Box<dyn BufRead> = match &list {
        Some(path) => Box::new(io::BufReader::new(
            fs::File::open(path).map_err(|e| format!("cannot read `{path}`: {e}"))?,
        )),
        None => Box::new(io::stdin().lock()),
    };
    let mut files = Vec::new();
    for line in input.lines() {
        let line = line.map_err(|e| format!("cannot read the list: {e}"))?;
        if line.is_empty() {
            continue;
        }
        let (size, rel) = line
            .split_once('\t')
            .ok_or_else(|| format!("not `SIZE<tab>PATH`: {line:?}"))?;
        let size: usize = size.parse().map_err(|_| format!("not a size: {line:?}"))?;
        files.push((size, rel.to_string()));
    }
    let largest = files.iter().map(|(size, _)| *size).max().unwrap_or(0);
    let bytes = vec![b'x'; largest];
    let pid = std::process::id();
    let mut made: HashSet<PathBuf> = HashSet::new();
    for (size, rel) in &files {
        let path = dest.join(rel);
        let parent = path.parent().unwrap_or(Path::new("."));
        if !made.contains(parent) {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
            made.insert(parent.to_path_buf());
        }
        let target = match rename {
            true => {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                path.with_file_name(format!(".{name}.tmp-{pid}"))
            }
            false => path.clone(),
        };
        let mut file = fs::File::create(&target)
            .map_err(|e| format!("cannot create `{}`: {e}", target.display()))?;
        file.write_all(&bytes[..*size])
            .map_err(|e| format!("cannot write `{}`: {e}", target.display()))?;
        drop(file);
        if rename {
            fs::rename(&target, &path)
                .map_err(|e| format!("cannot rename to `{}`: {e}", path.display()))?;
        }
    }
    Ok(())
}
