//! `mlreg import <layout> SOURCE --out DIR`: a new registry folder from another layout, with
//! what was skipped and what was changed beyond filling templates.

use super::{EXIT_OK, Ui};
use crate::cli::{AssetsImportArgs, ImportArgs, ImportFrom};
use crate::diag::plural;
use crate::registry::kind::Kind;

pub fn run(ui: &Ui, args: ImportArgs) -> u8 {
    match args.from {
        ImportFrom::AzuremlAssets(a) => azureml_assets(ui, a),
        ImportFrom::Mlflow(_) => ui.fail("`mlreg import mlflow` is being written"),
    }
}

fn azureml_assets(ui: &Ui, args: AssetsImportArgs) -> u8 {
    if !args.source.is_dir() {
        return ui.fail(format_args!("`{}` is not a folder", args.source.display()));
    }
    if let Some(why) = crate::registry::names::registry_name_problem(&args.name) {
        return ui.fail(format_args!("--name `{}`: {why}", args.name));
    }
    let imported = crate::import::azureml_assets::import(&args.source, &args.out, &args.name);
    let imported = match imported {
        Ok(i) => i,
        Err(e) => return ui.fail(e),
    };
    for note in &imported.notes {
        ui.status(format_args!("note: {note}"));
    }
    for skipped in &imported.skipped {
        ui.status(format_args!("skipped: {skipped}"));
    }
    let count = |k: Kind| imported.versions.iter().filter(|v| v.0 == k).count();
    let text = format!(
        "imported {} into {} ({} models, {} components, {} environments, {} data); {} skipped\n",
        plural(imported.versions.len(), "version"),
        args.out.display(),
        count(Kind::Model),
        count(Kind::Component),
        count(Kind::Environment),
        count(Kind::Data),
        imported.skipped.len()
    );
    if ui.quiet {
        return EXIT_OK;
    }
    match ui.out(&text) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}
