//! The `mlreg` binary: parse the command line and hand it to [`mlreg::run`].

use clap::Parser;

// glibc's malloc spends a third of a large build in lock contention and fragmentation
// (rendering allocates many small strings on every thread); mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mlreg::run(mlreg::cli::Cli::parse())
}
