//! `mlreg add`.

use super::Ui;
use crate::cli::AddArgs;

pub fn run(ui: &Ui, _args: AddArgs) -> u8 {
    ui.fail("`mlreg add` is being written")
}
