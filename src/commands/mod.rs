//! One module per subcommand, each turning its parsed arguments into an exit status, and what
//! they share: the [`Ui`] that prints (quietly when asked, in color when wanted, never
//! panicking on a closed pipe), how reports are printed and judged, and the exit statuses.

pub mod add;
mod authoring;
pub mod build;
pub mod check;
pub mod completions;
pub mod deprecate;
pub mod diff;
pub mod gc;
pub mod import;
pub mod init;
mod inspect;
pub mod keygen;
pub mod list;
pub mod man;
pub mod promote;
pub mod publish;
pub mod pull;
pub mod resolve;
pub mod serve;
pub mod show;

use crate::cli::{Cli, Color, Command, Format, GlobalArgs, ReportArgs};
use crate::diag::{Report, Severity};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit statuses (listed for users in `cli::EXIT_STATUS`).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERRORS: u8 = 1;
pub const EXIT_FAILURE: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_MOVED_ON: u8 = 4;

pub fn run(cli: Cli) -> ExitCode {
    let ui = Ui::new(&cli.global);
    let code = match cli.command {
        Command::Check(args) => check::run(&ui, args),
        Command::Build(args) => build::run(&ui, args),
        Command::Publish(args) => publish::run(&ui, args),
        Command::Gc(args) => gc::run(&ui, args),
        Command::Keygen(args) => keygen::run(&ui, args),
        Command::Init(args) => init::run(&ui, args),
        Command::Add(args) => add::run(&ui, args),
        Command::Promote(args) => promote::run(&ui, args),
        Command::Deprecate(args) => deprecate::run(&ui, args),
        Command::List(args) => list::run(&ui, args),
        Command::Show(args) => show::run(&ui, args),
        Command::Diff(args) => diff::run(&ui, args),
        Command::Resolve(args) => resolve::run(&ui, args),
        Command::Pull(args) => pull::run(&ui, args),
        Command::Serve(args) => serve::run(&ui, args),
        Command::Import(args) => import::run(&ui, args),
        Command::Completions(args) => completions::run(&ui, args),
        Command::Man(args) => man::run(&ui, args),
    };
    ExitCode::from(code)
}

/// How a command talks to whoever runs it.
pub struct Ui {
    /// Only what was asked for: no summaries, no progress.
    pub quiet: bool,
    /// Colors in human output on stdout.
    pub color: bool,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Ui {
        // NO_COLOR counts when it is set to anything but the empty string (no-color.org).
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match global.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::io::stdout().is_terminal() && !no_color,
        };
        Ui {
            quiet: global.quiet,
            color,
        }
    }

    /// Write what the command was asked for to stdout. A reader that went away (`| head -1`)
    /// has what it wanted, so a closed pipe ends the output quietly; other failures are I/O
    /// failures.
    pub fn out(&self, text: &str) -> Result<(), u8> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(self.fail(format_args!("cannot write the output: {e}"))),
        }
    }

    /// A line about how things went, on stderr; not with `--quiet`.
    pub fn status(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }

    /// A fatal failure (usage or I/O, not a problem in the registry), on stderr.
    pub fn fail(&self, message: impl std::fmt::Display) -> u8 {
        let _ = writeln!(std::io::stderr(), "error: {message}");
        EXIT_FAILURE
    }

    /// A client failure: not found (with its hint) or broken.
    pub fn failure(&self, failure: crate::client::Failure) -> u8 {
        match failure {
            crate::client::Failure::NotFound(m) => {
                let _ = writeln!(std::io::stderr(), "error: {m}");
                EXIT_NOT_FOUND
            }
            crate::client::Failure::Broken(m) => self.fail(m),
        }
    }
}

/// The registry folder as diagnostics show it, or the failure of a path that is not a folder.
fn registry_dir(ui: &Ui, dir: &std::path::Path) -> Result<String, u8> {
    if !dir.is_dir() {
        return Err(ui.fail(format_args!(
            "`{}` is not a folder (give the registry folder, or --spec FILE)",
            dir.display()
        )));
    }
    Ok(dir.to_string_lossy().trim_end_matches('/').to_string())
}

fn failed(report: &Report, args: &ReportArgs) -> bool {
    report.count(Severity::Error) > 0 || (args.deny_warnings && report.count(Severity::Warning) > 0)
}

/// Print the report in the chosen format, with `summary` after human output (not with
/// `--quiet`); the exit status it calls for.
fn emit(ui: &Ui, report: &Report, args: &ReportArgs, summary: &str) -> u8 {
    let text = match args.format {
        Format::Human if ui.quiet => report.render_diagnostics(ui.color),
        Format::Human => format!("{}{summary}\n", report.render_human(ui.color)),
        Format::Json => report.render_json(),
        Format::Github => report.render_github(),
    };
    if let Err(code) = ui.out(&text) {
        return code;
    }
    if failed(report, args) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}
