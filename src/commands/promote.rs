//! `mlreg promote`.

use super::Ui;
use crate::cli::PromoteArgs;

pub fn run(ui: &Ui, _args: PromoteArgs) -> u8 {
    ui.fail("`mlreg promote` is being written")
}
