//! GitHub Actions integration: a Markdown job summary appended to `$GITHUB_STEP_SUMMARY`, and
//! `::error::` workflow commands for blocking failures when `GITHUB_ACTIONS=true`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};

/// Appends to the summary file (GitHub owns it; appending is the documented protocol).
#[allow(
    clippy::disallowed_methods,
    reason = "a documented exception to atomic_write (ARCHITECTURE.md): GitHub's protocol is to append"
)]
pub(crate) fn append_summary(path: &Path, markdown: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY file {}", path.display()))?;
    file.write_all(markdown.as_bytes())
        .with_context(|| format!("cannot append to GITHUB_STEP_SUMMARY file {}", path.display()))
}

/// `::error title=…::message`, with the characters GitHub's command syntax reserves escaped.
pub(crate) fn error_annotation(title: &str, message: &str) -> String {
    let data = |text: &str| text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |text: &str| data(text).replace(':', "%3A").replace(',', "%2C");
    format!("::error title={}::{}", property(title), data(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_escapes_reserved_characters() {
        assert_eq!(
            error_annotation("make-ready: a,b", "50% done\nnext"),
            "::error title=make-ready%3A a%2Cb::50%25 done%0Anext"
        );
    }
}
