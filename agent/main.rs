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
        // `dutywatch status | head` closes the pipe early: not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dutywatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
