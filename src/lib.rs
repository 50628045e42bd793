#![forbid(unsafe_code)]
//! mlreg: a static registry for machine-learning assets.
//!
//! Data flows one way: `discover` (which file is what) → `load` (bounded reads, YAML via
//! `yaml`, decoding via `manifest`/`spec`, single-manifest rules via `validate`) → `resolve`
//! (references, stages, lineage → `model::Registry`). Problems are `diag::Diagnostic`s,
//! collected and reported together; only usage and I/O failures stop a run.

pub mod check;
pub mod cli;
pub mod decode;
pub mod diag;
pub mod discover;
pub mod load;
pub mod manifest;
pub mod model;
pub mod reference;
pub mod resolve;
pub mod spec;
pub mod validate;
pub mod yaml;

use cli::{CheckArgs, Cli, Color, Command, Format, KindArg};
use diag::Severity;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit statuses: success, registry errors, usage or I/O failure.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERRORS: u8 = 1;
pub const EXIT_FAILURE: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check(args) => check(args),
    };
    ExitCode::from(code)
}

fn check(args: CheckArgs) -> u8 {
    let outcome = if args.spec.is_empty() {
        if !args.dir.is_dir() {
            eprintln!(
                "error: `{}` is not a folder (give the registry folder, or --spec FILE)",
                args.dir.display()
            );
            return EXIT_FAILURE;
        }
        let display = args.dir.to_string_lossy().trim_end_matches('/').to_string();
        check::registry(&args.dir, &display)
    } else {
        let kind = args.kind.map(|k| match k {
            KindArg::Model => manifest::Kind::Model,
            KindArg::Environment => manifest::Kind::Environment,
            KindArg::Data => manifest::Kind::Data,
            KindArg::Component => manifest::Kind::Component,
        });
        check::specs(&args.spec, kind, !args.no_file_check)
    };
    let report = &outcome.report;
    let text = match args.format {
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            let mut s = report.render_human(color);
            s = format!("{s}checked {}\n", outcome.subject);
            s
        }
        Format::Json => report.render_json(),
        Format::Github => report.render_github(),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return EXIT_FAILURE;
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}
