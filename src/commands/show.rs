//! `mlreg show`.

use super::Ui;
use crate::cli::ShowArgs;

pub fn run(ui: &Ui, _args: ShowArgs) -> u8 {
    ui.fail("`mlreg show` is being written")
}
