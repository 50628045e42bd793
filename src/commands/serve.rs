//! `mlreg serve`: the registry built into memory behind a loopback server (see [`crate::serve`]).

use super::{EXIT_OK, Ui, registry_dir};
use crate::cli::ServeArgs;

pub fn run(ui: &Ui, args: ServeArgs) -> u8 {
    if let Err(code) = registry_dir(ui, &args.dir) {
        return code;
    }
    match crate::serve::serve(
        &args.dir,
        args.port,
        args.templates.as_deref(),
        args.poll,
        ui.quiet,
    ) {
        Ok(()) => EXIT_OK,
        Err(e) => ui.fail(e),
    }
}
