use clap::Parser;

fn main() -> std::process::ExitCode {
    mlreg::run(mlreg::cli::Cli::parse())
}
