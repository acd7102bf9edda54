//! `mmops completions <shell>`: shell completion scripts generated from the clap definition.

use anyhow::Result;

use crate::cli::CompletionsArgs;
use crate::outcome::Verdict;

pub fn run(args: &CompletionsArgs) -> Result<Verdict> {
    let mut buffer = Vec::new();
    clap_complete::generate(args.shell, &mut crate::cli::command(), "mmops", &mut buffer);
    crate::output::write_verbatim(&buffer)?;
    Ok(Verdict::Pass)
}
