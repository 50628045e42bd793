//! `mlreg import <layout> SOURCE --out DIR`: a new registry folder from another layout, with
//! what was skipped and what was changed beyond filling templates; `mlreg import mlflow RUN`:
//! one model version from an MLflow run, added to a registry, with what could not be carried.

use super::{EXIT_ERRORS, EXIT_NOT_FOUND, EXIT_OK, Ui};
use crate::cli::{AssetsImportArgs, ImportArgs, ImportFrom, MlflowImportArgs};
use crate::diag::plural;
use crate::registry::kind::Kind;

pub fn run(ui: &Ui, args: ImportArgs) -> u8 {
    match args.from {
        ImportFrom::AzuremlAssets(a) => azureml_assets(ui, a),
        ImportFrom::Mlflow(a) => mlflow(ui, a),
    }
}

fn mlflow(ui: &Ui, args: MlflowImportArgs) -> u8 {
    use crate::import::mlflow::{Failure, Request, import};
    let request = Request {
        run: args.run,
        tracking_uri: args.tracking_uri,
        token: std::env::var("MLFLOW_TRACKING_TOKEN").ok(),
        registry: args.registry,
        name: args.name,
        version: args.version,
        artifact: args.artifact,
        aliases: args.alias,
        by: args.by,
    };
    let imported = match import(&request) {
        Ok(i) => i,
        Err(Failure::Usage(m)) => return ui.fail(m),
        Err(Failure::NotFound(m)) => {
            ui.fail(m);
            return EXIT_NOT_FOUND;
        }
        Err(Failure::Check(report)) => {
            let _ = ui.out(&report.render_diagnostics(ui.color));
            ui.fail(format_args!(
                "the imported version would give the registry {}; nothing was changed",
                plural(report.diagnostics.len(), "new error")
            ));
            return EXIT_ERRORS;
        }
    };
    for note in &imported.notes {
        ui.status(format_args!("note: {note}"));
    }
    for skipped in &imported.skipped {
        ui.status(format_args!("skipped: {skipped}"));
    }
    let stages: Vec<String> = imported
        .stages
        .iter()
        .map(|(alias, stage)| format!("{stage} (alias {alias})"))
        .collect();
    let text = format!(
        "imported models/{}@{} from MLflow run {}: {}, {} in lineage{}; {} skipped\n",
        imported.name,
        imported.version,
        imported.run,
        plural(imported.files, "model file"),
        plural(imported.metrics, "metric"),
        if stages.is_empty() {
            String::new()
        } else {
            format!(", stages {}", stages.join(", "))
        },
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
