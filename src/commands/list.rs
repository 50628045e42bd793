//! `mlreg list`.

use super::Ui;
use crate::cli::ListArgs;

pub fn run(ui: &Ui, _args: ListArgs) -> u8 {
    ui.fail("`mlreg list` is being written")
}
