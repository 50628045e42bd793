//! One module per subcommand, each turning its parsed arguments into an exit status, and what
//! they share: how failures and reports are printed, and which exit status each outcome gets.

pub mod build;
pub mod check;
pub mod pull;
pub mod resolve;
pub mod serve;

use crate::cli::{Cli, Color, Command, Format, ReportArgs};
use crate::diag::{Report, Severity};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit statuses: success, registry errors, usage or I/O failure.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERRORS: u8 = 1;
pub const EXIT_FAILURE: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Build(args) => build::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Serve(args) => serve::run(args),
    };
    ExitCode::from(code)
}

/// A fatal failure: usage or I/O, not a problem in the registry.
fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_FAILURE
}

/// The registry folder as diagnostics show it, or the failure of a path that is not a folder.
fn registry_dir(dir: &std::path::Path) -> Result<String, u8> {
    if !dir.is_dir() {
        return Err(fail(format_args!(
            "`{}` is not a folder (give the registry folder, or --spec FILE)",
            dir.display()
        )));
    }
    Ok(dir.to_string_lossy().trim_end_matches('/').to_string())
}

fn failed(report: &Report, args: &ReportArgs) -> bool {
    report.count(Severity::Error) > 0 || (args.deny_warnings && report.count(Severity::Warning) > 0)
}

/// Print the report in the chosen format; the exit status it calls for.
fn emit(report: &Report, args: &ReportArgs, summary: &str) -> u8 {
    let text = match args.format {
        Format::Human => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            format!("{}{summary}\n", report.render_human(color))
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
    if failed(report, args) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}
