//! `mlreg deprecate`.

use super::Ui;
use crate::cli::DeprecateArgs;

pub fn run(ui: &Ui, _args: DeprecateArgs) -> u8 {
    ui.fail("`mlreg deprecate` is being written")
}
