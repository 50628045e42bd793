//! Writing a blob's bytes into its files on a thread of their own, while the caller reads and
//! hashes the next ones: on two cores a pull then takes about as long as the slower of the two
//! halves rather than their sum (a small blob is written inline, see [`THREAD_FROM`]). The
//! same bytes go to every file (a download's cache part file and its file in the fresh
//! folder), so a blob is written once per file and never copied back out of the cache. This
//! module only writes: the caller hashes what it hands over and decides what the files are
//! worth.

use std::fs::File;
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::mpsc;

/// Chunks handed over but not yet written: enough to ride out an uneven disk, few enough that
/// a download holds a bounded few MiB (this many chunks, plus the two being filled and written).
const DEPTH: usize = 4;

/// Bytes from which a blob is written on a thread of its own. A smaller one is written on the
/// caller's thread: it is a few chunks at most, too few to overlap, and starting a thread for
/// it would cost more than it saves (a version of thousands of small files pulls no slower).
const THREAD_FROM: u64 = 1 << 20;

/// What is done to every file.
enum Op<'a> {
    Append(&'a [u8]),
    /// The source started over: every file is emptied.
    Restart,
}

/// Apply `op` to every file; the error names the file.
fn apply(files: &[(&File, &Path)], op: &Op<'_>) -> Result<(), String> {
    for &(mut file, path) in files {
        match op {
            Op::Append(bytes) => file.write_all(bytes),
            Op::Restart => file.set_len(0).and_then(|()| file.rewind()),
        }
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// A write failed, and nothing more is written: its error is the one [`tee`] returns.
pub(super) struct Stopped;

/// The caller's end.
pub(super) struct Tee<'a>(Way<'a>);

enum Way<'a> {
    Inline {
        files: &'a [(&'a File, &'a Path)],
        failed: Option<String>,
    },
    /// Chunks are copied into recycled buffers, so that the caller's own buffer is free again
    /// as soon as [`Tee::write`] returns; `None` is a restart.
    Thread {
        to: mpsc::SyncSender<Option<Vec<u8>>>,
        free: mpsc::Receiver<Vec<u8>>,
    },
}

impl Tee<'_> {
    /// Append `chunk` to every file, in order.
    pub(super) fn write(&mut self, chunk: &[u8]) -> Result<(), Stopped> {
        match &mut self.0 {
            Way::Inline { files, failed } => inline(files, failed, &Op::Append(chunk)),
            Way::Thread { to, free } => {
                let mut buf = free.try_recv().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(chunk);
                to.send(Some(buf)).map_err(|_| Stopped)
            }
        }
    }

    /// Empty every file, once what was handed over before is written.
    pub(super) fn restart(&mut self) -> Result<(), Stopped> {
        match &mut self.0 {
            Way::Inline { files, failed } => inline(files, failed, &Op::Restart),
            Way::Thread { to, .. } => to.send(None).map_err(|_| Stopped),
        }
    }
}

fn inline(
    files: &[(&File, &Path)],
    failed: &mut Option<String>,
    op: &Op<'_>,
) -> Result<(), Stopped> {
    if failed.is_some() {
        return Err(Stopped);
    }
    apply(files, op).map_err(|e| {
        *failed = Some(e);
        Stopped
    })
}

/// Run `body` with a [`Tee`] into `files` (each with its path, for errors), written on a
/// second thread when the blob is `size` bytes of at least [`THREAD_FROM`]. Returns what
/// `body` returned and whether every chunk it handed over reached every file: the first write
/// that fails stops the writing (a pull that cannot write one of its files has failed, and
/// writing the others on would only cost time), and is the error.
pub(super) fn tee<T>(
    files: &[(&File, &Path)],
    size: u64,
    body: impl FnOnce(&mut Tee<'_>) -> T,
) -> (T, Result<(), String>) {
    if size < THREAD_FROM {
        let mut tee = Tee(Way::Inline {
            files,
            failed: None,
        });
        let answer = body(&mut tee);
        let Way::Inline { failed, .. } = tee.0 else {
            unreachable!("made inline just above")
        };
        return (answer, failed.map_or(Ok(()), Err));
    }
    let (to, from) = mpsc::sync_channel::<Option<Vec<u8>>>(DEPTH);
    let (give_back, free) = mpsc::channel();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            for message in from {
                match message {
                    Some(buf) => {
                        apply(files, &Op::Append(&buf))?;
                        // The caller may be gone already, its last chunk handed over: no matter.
                        let _ = give_back.send(buf);
                    }
                    None => apply(files, &Op::Restart)?,
                }
            }
            Ok(())
        });
        let mut tee = Tee(Way::Thread { to, free });
        let answer = body(&mut tee);
        // Hang up, so that the thread ends once it has written everything.
        drop(tee);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err("the writing thread panicked".to_string()));
        (answer, written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read(path: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        File::open(path).unwrap().read_to_end(&mut bytes).unwrap();
        bytes
    }

    /// Both ways: inline, and on a thread.
    const SIZES: [u64; 2] = [0, THREAD_FROM];

    #[test]
    fn every_file_gets_every_chunk_in_order_and_a_restart_empties_them() {
        for size in SIZES {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            let (fa, fb) = (File::create(&a).unwrap(), File::create(&b).unwrap());
            let files = [(&fa, a.as_path()), (&fb, b.as_path())];
            let (answer, written) = tee(&files, size, |t| {
                for i in 0..100u8 {
                    assert!(t.write(&[i; 1000]).is_ok());
                    if i == 49 {
                        assert!(t.restart().is_ok());
                    }
                }
                7
            });
            assert_eq!(answer, 7);
            assert_eq!(written, Ok(()));
            let expected: Vec<u8> = (50..100u8).flat_map(|i| [i; 1000]).collect();
            assert_eq!(read(&a), expected, "{size}");
            assert_eq!(read(&b), expected, "{size}");
        }
    }

    #[test]
    fn a_failed_write_stops_the_writing_and_is_the_error() {
        for size in SIZES {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            std::fs::write(&b, b"").unwrap();
            let fa = File::create(&a).unwrap();
            // Opened for reading only: every write to it fails.
            let fb = File::open(&b).unwrap();
            let files = [(&fa, a.as_path()), (&fb, b.as_path())];
            let (stopped, written) = tee(&files, size, |t| {
                (0..1000).any(|_| t.write(&[1; 1000]).is_err())
            });
            assert!(
                stopped,
                "{size}: the caller is told, and stops handing over chunks"
            );
            let e = written.unwrap_err();
            assert!(
                e.starts_with(&format!("cannot write `{}`", b.display())),
                "{size}: {e}"
            );
        }
    }
}
