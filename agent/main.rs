//! The `dutywatch` binary: parse arguments, set up logging, run a command.

use std::process::ExitCode;

use clap::Parser as _;
use dutywatch::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = dutywatch::telemetry::init(cli.log_format, cli.default_log_level()) {
        eprintln!("dutywatch: cannot set up logging: {error:#}");
        return ExitCode::FAILURE;
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("dutywatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}
