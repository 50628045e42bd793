//! `mlreg serve`: the registry built into memory behind a loopback server (see [`crate::serve`]).

use super::{EXIT_OK, fail, registry_dir};
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> u8 {
    if let Err(code) = registry_dir(&args.dir) {
        return code;
    }
    match crate::serve::serve(&args.dir, args.port, args.templates.as_deref()) {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}
