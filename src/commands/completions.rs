//! `mlreg completions <shell>`: the completion script clap_complete generates from the same
//! definitions that parse the command line, so it never drifts from them.

use super::{EXIT_OK, Ui};
use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;

pub fn run(ui: &Ui, args: CompletionsArgs) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mlreg", &mut script);
    match ui.out(&String::from_utf8_lossy(&script)) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}
