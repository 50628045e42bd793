//! `mlreg man [COMMAND]`: the man page (roff) of mlreg or of one command, rendered by
//! clap_mangen from the command-line definitions, with the exit statuses.

use super::{EXIT_OK, Ui};
use crate::cli::{Cli, ManArgs};
use clap::CommandFactory;

pub fn run(ui: &Ui, args: ManArgs) -> u8 {
    let top = Cli::command();
    let command = match &args.command {
        None => top,
        Some(name) => {
            let Some(sub) = top.find_subcommand(name) else {
                let names: Vec<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
                return ui.fail(format_args!(
                    "`{name}` is not a command of mlreg ({})",
                    names.join(", ")
                ));
            };
            // Pages of commands are named like git's: mlreg-check(1).
            let name = format!("mlreg-{}", sub.get_name());
            sub.clone().display_name(name)
        }
    };
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(command).render(&mut page) {
        return ui.fail(format_args!("cannot render the man page: {e}"));
    }
    match ui.out(&String::from_utf8_lossy(&page)) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}
