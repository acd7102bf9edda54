//! `mmops completions <shell>`: shell completion scripts generated from the clap definition.

use std::io::Write;

use anyhow::Result;

use crate::cli::CompletionsArgs;
use crate::outcome::Verdict;

pub fn run(args: &CompletionsArgs) -> Result<Verdict> {
    let mut buffer = Vec::new();
    clap_complete::generate(args.shell, &mut crate::cli::command(), "mmops", &mut buffer);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&buffer).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(Verdict::Pass),
    }
}
