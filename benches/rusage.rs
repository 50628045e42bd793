//! Run a command and report its wall time and peak memory, for benches/common.py.
//!
//! usage: rusage REPORT COMMAND [ARG...]
//!
//! Runs COMMAND (stdin, stdout and stderr inherited), waits for it with wait4(2), and writes
//! `<wall nanoseconds> <ru_maxrss KiB> <exit code>` to the file REPORT. Exits 0 whatever the
//! command's exit, unless it could not be started.
//!
//! Why not wait4 from Python: a process's ru_maxrss starts from the resident size of the memory
//! it had before exec, which for a child forked (or vforked, as posix_spawn does) by the
//! benchmark script is the script's own, hundreds of MB once it has walked a large output folder.
//! This program is a few MB, so what it reports is the command's own peak.
//!
//! Build: rustc -O benches/rusage.rs -o target/rusage (std only; Linux, 64-bit).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Instant;

/// struct rusage of 64-bit Linux: two timevals, then fourteen longs, ru_maxrss first.
#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [report, command, rest @ ..] = args.as_slice() else {
        eprintln!("usage: rusage REPORT COMMAND [ARG...]");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let child = match Command::new(command).args(rest).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("rusage: cannot run `{command}`: {e}");
            return ExitCode::from(2);
        }
    };
    let mut status = 0;
    let mut usage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: wait4 fills the status and the rusage we pass; the child is ours and not reaped.
    if unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) } < 0 {
        eprintln!("rusage: wait4: {}", std::io::Error::last_os_error());
        return ExitCode::from(2);
    }
    let wall = start.elapsed().as_nanos();
    let status = ExitStatus::from_raw(status);
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if let Err(e) = std::fs::write(report, format!("{wall} {} {code}\n", usage.maxrss)) {
        eprintln!("rusage: cannot write `{report}`: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
