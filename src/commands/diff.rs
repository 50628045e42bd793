//! `mlreg diff`.

use super::Ui;
use crate::cli::DiffArgs;

pub fn run(ui: &Ui, _args: DiffArgs) -> u8 {
    ui.fail("`mlreg diff` is being written")
}
