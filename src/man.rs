//! `mmops man [SUBCOMMAND]`: the manual page, generated from the same clap definition as the
//! help, so the two cannot disagree.

use anyhow::{Result, bail};

use crate::cli::ManArgs;
use crate::outcome::Verdict;

pub fn run(args: &ManArgs) -> Result<Verdict> {
    let page = render(args.subcommand.as_deref())?;
    crate::output::write_verbatim(&page)?;
    Ok(Verdict::Pass)
}

/// The roff text of the mmops page, or of one subcommand's (`bundle-verify` for nested ones).
pub fn render(subcommand: Option<&str>) -> Result<Vec<u8>> {
    let command = crate::cli::command();
    let command = match subcommand {
        None => command,
        Some(name) => {
            let path: Vec<&str> = name.split(['-', ' ']).collect();
            match find(&command, name).or_else(|| find_nested(&command, &path)) {
                Some(found) => found,
                None => {
                    let names: Vec<String> = command
                        .get_subcommands()
                        .flat_map(|sub| {
                            std::iter::once(sub.get_name().to_string()).chain(
                                sub.get_subcommands()
                                    .map(move |nested| format!("{}-{}", sub.get_name(), nested.get_name())),
                            )
                        })
                        .collect();
                    bail!("no manual page for {name:?}; choose one of {}", names.join(", "))
                }
            }
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    Ok(page)
}

fn find(command: &clap::Command, name: &str) -> Option<clap::Command> {
    let found = command.get_subcommands().find(|sub| sub.get_name() == name)?;
    Some(found.clone().version(env!("CARGO_PKG_VERSION")))
}

fn find_nested(command: &clap::Command, path: &[&str]) -> Option<clap::Command> {
    let [parent, child] = path else { return None };
    let parent_command = command.get_subcommands().find(|sub| sub.get_name() == *parent)?;
    let found = parent_command.get_subcommands().find(|sub| sub.get_name() == *child)?;
    Some(found.clone().version(env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_subcommand_and_their_flags() {
        let main = String::from_utf8(render(None).unwrap()).unwrap();
        assert!(main.starts_with(".ie \\n(.g .ds Aq"), "roff header");
        assert!(main.contains(".TH mmops 1"), "{main}");
        for sub in ["cron\\-sentinel", "rotate", "bundle", "edge\\-sim", "make\\-ready"] {
            assert!(main.contains(sub), "main page lacks {sub}");
        }
        let rotate = String::from_utf8(render(Some("rotate")).unwrap()).unwrap();
        assert!(rotate.contains(".TH mmops-rotate 1"), "{rotate}");
        assert!(rotate.contains("\\-\\-dry\\-run"), "{rotate}");
        assert!(rotate.contains("Exit codes:"), "{rotate}");
        let verify = String::from_utf8(render(Some("bundle-verify")).unwrap()).unwrap();
        assert!(verify.contains("\\-\\-no\\-sidecar"), "{verify}");
        let error = render(Some("nope")).unwrap_err().to_string();
        assert!(
            error.starts_with("no manual page for \"nope\"; choose one of cron-sentinel, rotate"),
            "{error}"
        );
    }
}
