//! Whether another mlreg process still runs: how what a process leaves beside its work (a
//! build's lock and hidden folders, a pull's sibling folders, a download's part files) is told
//! apart from what a killed run left.

use std::path::Path;

/// Whether the process `pid` runs, asked of /proc; `None` where there is no /proc to ask (the
/// caller then goes by the age of what the process left, or leaves it).
pub fn running(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    /// This process runs; one of the largest id no system gives out does not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_runs_until_it_is_gone() {
        assert_eq!(super::running(std::process::id()), Some(true));
        assert_eq!(super::running(u32::MAX), Some(false));
    }
}
