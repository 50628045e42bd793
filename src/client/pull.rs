//! Downloading a resolved version into a folder: every file streamed, checked for size and
//! sha256, written atomically; a file already there with the right hash is kept; each file is
//! tried from every source in turn; an interrupted run leaves only `.part` files, which the
//! next run discards and starts again.

use super::Source;
use super::cache::Cache;
use super::resolve::Resolved;
use crate::publish::index::Ref;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// Names in a destination folder that are `pull`'s own, never a version's file: the normalized
/// spec and the record of what was pulled.
pub const RESERVED: &[&str] = &["spec.yaml", ".mlreg-pull.json"];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    pub fetched: usize,
    pub from_cache: usize,
    pub kept: usize,
    pub bytes: u64,
}

/// Everything `dest` should hold for `resolved`: `spec.yaml` (the normalized spec) and the files.
pub fn wanted(resolved: &Resolved) -> Vec<(String, Ref)> {
    let mut out = vec![(
        "spec.yaml".to_string(),
        resolved.version_doc.spec_file.clone(),
    )];
    out.extend(resolved.version_doc.files.iter().map(|f| {
        (
            f.path.clone(),
            Ref {
                path: f.blob.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
            },
        )
    }));
    out
}

/// Pull every file into `dest`. `progress` is told the file at hand and the bytes done so far
/// (of all files), as they arrive.
pub fn pull(
    sources: &[Source],
    cache: &Cache,
    resolved: &Resolved,
    dest: &Path,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<PullStats, String> {
    let mut stats = PullStats::default();
    let mut done = 0u64;
    for (rel, r) in wanted(resolved) {
        super::check_ref(&r)?;
        if rel.split('/').any(|p| p == ".." || p.is_empty()) || rel.starts_with('/') {
            return Err(format!(
                "refusing the file name `{rel}`: it would leave {}",
                dest.display()
            ));
        }
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        // What an interrupted run left is never trusted: start that file again.
        let tmp = target.with_file_name(format!(
            ".{}.part",
            target.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = std::fs::remove_file(&tmp);
        if crate::publish::hash::file(&target).is_ok_and(|(h, n)| h == r.sha256 && n == r.size) {
            stats.kept += 1;
            done += r.size;
            progress(&rel, done);
            continue;
        }
        let cached = match cache.blob(&r.sha256, r.size) {
            Some(p) if crate::publish::hash::file(&p).is_ok_and(|(h, _)| h == r.sha256) => {
                stats.from_cache += 1;
                p
            }
            _ => {
                let p = fetch(sources, cache, &r, &mut |n| progress(&rel, done + n))?;
                stats.fetched += 1;
                stats.bytes += r.size;
                p
            }
        };
        std::fs::copy(&cached, &tmp)
            .map_err(|e| format!("cannot write `{}`: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &target)
            .map_err(|e| format!("cannot write `{}`: {e}", target.display()))?;
        done += r.size;
        progress(&rel, done);
    }
    Ok(stats)
}

/// Download one blob into the cache, streaming and hashing as it comes, from the first source
/// that delivers the right bytes.
fn fetch(
    sources: &[Source],
    cache: &Cache,
    r: &Ref,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<std::path::PathBuf, String> {
    let mut errors = Vec::new();
    for source in sources {
        let part = cache.temp(&r.sha256);
        match download(source, r, &part, on_bytes) {
            Ok(()) => return cache.adopt(&r.sha256, &part),
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                errors.push(format!("{}: {e}", source.location()));
            }
        }
    }
    Err(format!(
        "{} could not be fetched: {}",
        r.path,
        errors.join("; ")
    ))
}

/// `on_bytes` is told how much of this file has arrived from this source.
fn download(
    source: &Source,
    r: &Ref,
    part: &Path,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<(), String> {
    let mut file = std::fs::File::create(part).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut reader: Box<dyn Read> = match source {
        Source::Object(o) => {
            let mut got = 0u64;
            o.stream(&r.path, r.size, &mut |chunk| {
                hasher.update(chunk);
                got += chunk.len() as u64;
                on_bytes(got);
                file.write_all(chunk).map_err(|e| e.to_string())
            })?;
            return finish(file, hasher, r, r.size);
        }
        Source::Folder(dir) => {
            Box::new(std::fs::File::open(dir.join(&r.path)).map_err(|e| e.to_string())?)
        }
        Source::Http { base, agent } => {
            let response = agent
                .get(&format!("{base}{}", r.path))
                .call()
                .map_err(|e| e.to_string())?;
            if response.status() != 200 {
                return Err(format!("HTTP {}", response.status()));
            }
            Box::new(
                response
                    .into_body()
                    .into_with_config()
                    .limit(r.size + 1)
                    .reader(),
            )
        }
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > r.size {
            return Err(format!("more than the {} bytes expected", r.size));
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        on_bytes(size);
    }
    finish(file, hasher, r, size)
}

/// Check what was written against the reference, and make it durable before it is renamed.
fn finish(file: std::fs::File, hasher: Sha256, r: &Ref, size: u64) -> Result<(), String> {
    if size != r.size {
        return Err(format!("{size} bytes, expected {}", r.size));
    }
    let actual = crate::publish::hash::hex(&hasher.finalize());
    if actual != r.sha256 {
        return Err(format!("sha256 {actual}, expected {}", r.sha256));
    }
    file.sync_all().map_err(|e| e.to_string())
}
