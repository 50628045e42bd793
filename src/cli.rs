//! Command-line interface: clap types and help text only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A static registry for machine-learning assets: Azure ML specs in git, checked, built into a
/// static site and JSON index that workspaces fetch.
#[derive(Debug, Parser)]
#[command(name = "mlreg", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a registry folder (or lone Azure spec files) and report every problem.
    ///
    /// Exit status: 0 no errors, 1 the registry has errors, 2 usage or I/O failure.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The registry folder.
    #[arg(default_value = "registry", conflicts_with = "spec")]
    pub dir: PathBuf,

    /// Check these Azure ML spec files on their own, outside a registry.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub spec: Vec<String>,

    /// The kind of the --spec files (default: from their `$schema`).
    #[arg(long, value_enum, requires = "spec")]
    pub kind: Option<KindArg>,

    /// With --spec: do not require local files (code, conda files, model folders) to exist.
    #[arg(long, requires = "spec")]
    pub no_file_check: bool,

    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,

    /// Colors in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style messages with a source snippet.
    Human,
    /// One JSON document with every diagnostic.
    Json,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Model,
    Environment,
    Data,
    Component,
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
