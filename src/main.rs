//! `mmops`: parse the command line, dispatch to one subcommand, exit with its code.

use std::process::ExitCode;

use mmops::cli::Command;
use mmops::context::Context;
use mmops::outcome::Exit;
use mmops::output::{self, Printer};
use mmops::{bundle, completions, cron_sentinel, edge_sim, make_ready, man, rotate};

fn main() -> ExitCode {
    let cli = match mmops::cli::parse() {
        Ok(cli) => cli,
        Err(error) => return output::command_line_error(error),
    };
    let printer = Printer::new(cli.global.format, cli.global.quiet, cli.global.color)
        .with_marker_only(cli.global.marker_only);
    let result = Context::from_global(&cli.global, printer.clone()).and_then(|context| match &cli.command {
        Command::CronSentinel(args) => cron_sentinel::run(args, &context),
        Command::Rotate(args) => rotate::run(args, &context),
        Command::Bundle(args) => bundle::run(args, &context),
        Command::EdgeSim(args) => edge_sim::run(args, &context),
        Command::MakeReady(args) => make_ready::run(args, &context),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::StepLauncher(args) => make_ready::launch_step(args, &context.printer),
    });
    match result {
        Ok(verdict) => verdict.exit().into(),
        Err(error) => {
            let exit = Exit::for_error(&error);
            printer.fatal(&error, exit);
            exit.into()
        }
    }
}
