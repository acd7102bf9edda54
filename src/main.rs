//! `mmops`: parse the command line, dispatch to one subcommand, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use mmops::cli::{Cli, Command};
use mmops::context::Context;
use mmops::outcome::Exit;
use mmops::output::Printer;
use mmops::{bundle, completions, cron_sentinel, edge_sim, make_ready, rotate};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.format, cli.global.quiet, cli.global.color);
    let result = Context::from_global(&cli.global, printer.clone()).and_then(|context| match &cli.command {
        Command::CronSentinel(args) => cron_sentinel::run(args, &context),
        Command::Rotate(args) => rotate::run(args, &context),
        Command::Bundle(args) => bundle::run(args, &context),
        Command::EdgeSim(args) => edge_sim::run(args, &context),
        Command::MakeReady(args) => make_ready::run(args, &context),
        Command::Completions(args) => completions::run(args),
        Command::StepLauncher(args) => make_ready::launch_step(args, &context.printer),
    });
    match result {
        Ok(verdict) => verdict.exit().into(),
        Err(error) => {
            printer.fatal(&error);
            Exit::for_error(&error).into()
        }
    }
}
