//! `mlreg init`.

use super::Ui;
use crate::cli::InitArgs;

pub fn run(ui: &Ui, _args: InitArgs) -> u8 {
    ui.fail("`mlreg init` is being written")
}
