//! `mmops completions <shell>`: shell completion scripts generated from the clap definition,
//! offering only what a user can use: no hidden subcommand (`__step-launcher`), and no global
//! options on `completions` and `man`, which ignore them.

use anyhow::Result;

use crate::cli::CompletionsArgs;
use crate::outcome::Verdict;

/// Subcommands that print a fixed text and ignore `--format`, `--quiet`, `-C`, …
const IGNORE_GLOBALS: [&str; 2] = ["completions", "man"];

pub fn run(args: &CompletionsArgs) -> Result<Verdict> {
    let mut buffer = Vec::new();
    clap_complete::generate(args.shell, &mut completion_command(), "mmops", &mut buffer);
    crate::output::write_verbatim(&buffer)?;
    Ok(Verdict::Pass)
}

/// The command line as completion scripts should offer it. Built from the parsed-ready command
/// (global options already copied into each subcommand), then rebuilt without the hidden
/// subcommands, with the globals made local to the root (so they are not copied again), and with
/// [`IGNORE_GLOBALS`] subcommands stripped of them.
pub fn completion_command() -> clap::Command {
    let full = crate::cli::command();
    let globals: Vec<clap::Id> =
        full.get_arguments().filter(|arg| arg.is_global_set()).map(|arg| arg.get_id().clone()).collect();
    let subcommands = full
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .map(|sub| {
            let Some(name) = IGNORE_GLOBALS.iter().find(|name| **name == sub.get_name()) else {
                return sub.clone();
            };
            let local =
                sub.get_arguments().filter(|arg| !globals.contains(arg.get_id()) && !generated(arg)).cloned();
            let mut stripped = clap::Command::new(*name).args(local);
            if let Some(about) = sub.get_about() {
                stripped = stripped.about(about.clone());
            }
            stripped
        })
        .collect::<Vec<_>>();
    let root_args = full.get_arguments().filter(|arg| !generated(arg)).map(|arg| arg.clone().global(false));
    let mut command = clap::Command::new("mmops").args(root_args).subcommands(subcommands);
    if full.get_version().is_some() {
        command = command.version(env!("CARGO_PKG_VERSION"));
    }
    if let Some(about) = full.get_about() {
        command = command.about(about.clone());
    }
    command
}

/// clap's own `--help`/`--version`, which the rebuilt command adds again.
fn generated(arg: &clap::Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_offer_no_hidden_subcommand_and_no_ignored_globals() {
        let mut command = completion_command();
        command.build();
        command.clone().debug_assert();
        let names: Vec<&str> = command.get_subcommands().map(clap::Command::get_name).collect();
        assert!(!names.contains(&"__step-launcher"), "{names:?}");
        for name in ["cron-sentinel", "rotate", "bundle", "edge-sim", "make-ready", "completions", "man"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let longs = |name: &str| -> Vec<String> {
            let sub = command.find_subcommand(name).unwrap();
            sub.get_arguments().filter_map(|arg| arg.get_long().map(str::to_string)).collect()
        };
        for name in IGNORE_GLOBALS {
            for global in ["format", "quiet", "marker-only", "chdir", "color"] {
                assert!(!longs(name).contains(&global.to_string()), "{name} offers --{global}");
            }
        }
        // The subcommands that honour them still offer them.
        assert!(longs("rotate").contains(&"format".to_string()));
        assert!(longs("rotate").contains(&"days".to_string()));
    }
}
