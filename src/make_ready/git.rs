//! The `git` command line, as release tools use it (`--tag-rc`, `--baseline-tag`). Every call
//! has a bounded wait (a hung git, a credential prompt, a lock held by a stuck process is killed
//! after [`TIMEOUT`]) and bounded output; git's own refusal is reported with its message.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};

/// Longest any one git call may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes read from git's stdout (a tag message holds one readiness JSON) and stderr.
const STDOUT_MAX: u64 = crate::limits::READINESS_MAX + 256 * 1024;
const STDERR_MAX: u64 = 64 * 1024;

/// What one git call printed.
#[derive(Debug)]
pub(crate) struct GitOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// git's message, trimmed, lines joined with "; ".
    pub stderr: String,
}

impl GitOutput {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }
}

/// Runs `git ARGS` in the working folder with `stdin` as its input, waiting at most [`TIMEOUT`].
/// A git that cannot start is an error saying how to install it.
pub(crate) fn run(args: &[&str], stdin: Option<&[u8]>) -> Result<GitOutput> {
    run_program("git", args, stdin, TIMEOUT)
}

/// [`run`] with any program and time limit (the tests use a program that hangs).
fn run_program(program: &str, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Result<GitOutput> {
    let shown = format!("{program} {}", args.join(" "));
    let mut command = Command::new(program);
    command
        .args(args)
        // Parsable messages, no prompt for credentials or an editor, no optional index locks.
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "false")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "git is not installed (not found on PATH); make-ready uses the git command line for release tags: install git (apt-get install git)"
        ),
        Err(error) => return Err(error).with_context(|| format!("cannot run {shown}")),
    };
    let writer = child.stdin.take().zip(stdin.map(<[u8]>::to_vec)).map(|(mut pipe, bytes)| {
        // git may exit before reading everything (a refusal); a closed pipe is then expected.
        std::thread::spawn(move || drop(pipe.write_all(&bytes)))
    });
    let stdout = child.stdout.take().map(|pipe| std::thread::spawn(move || read_bounded(pipe, STDOUT_MAX)));
    let stderr = child.stderr.take().map(|pipe| std::thread::spawn(move || read_bounded(pipe, STDERR_MAX)));
    let started = crate::clock::monotonic();
    let status = loop {
        if let Some(status) = child.try_wait().with_context(|| format!("cannot wait for {shown}"))? {
            break status;
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {} and was stopped", crate::units::format_duration(timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let join = |handle: Option<std::thread::JoinHandle<(Vec<u8>, bool)>>| {
        handle.map(|handle| handle.join().unwrap_or_default()).unwrap_or_default()
    };
    let (stdout, stdout_cut) = join(stdout);
    let (stderr, _) = join(stderr);
    if stdout_cut {
        bail!("{shown} printed more than {} bytes; refusing to read it", STDOUT_MAX);
    }
    let stderr = String::from_utf8_lossy(&stderr)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Ok(GitOutput { status, stdout, stderr: crate::sanitize::display_text(&stderr, false) })
}

/// Up to `max` bytes, then drains the rest (so git never blocks on a full pipe); `true` when
/// something was left out.
fn read_bounded(pipe: impl Read, max: u64) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut pipe = pipe;
    let _ = (&mut pipe).take(max).read_to_end(&mut bytes);
    let rest = std::io::copy(&mut pipe, &mut std::io::sink()).unwrap_or(0);
    (bytes, rest > 0)
}

/// `git ARGS`, which must succeed: its trimmed stdout, or an error with git's message.
pub(crate) fn text(args: &[&str]) -> Result<String> {
    let output = run(args, None)?;
    if !output.status.success() {
        return Err(refusal(args, &output));
    }
    Ok(output.text())
}

fn refusal(args: &[&str], output: &GitOutput) -> anyhow::Error {
    let message = if output.stderr.is_empty() { "no message".to_string() } else { output.stderr.clone() };
    anyhow!("git {} failed ({}): {message}", args.join(" "), describe(output.status))
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => "killed by a signal".to_string(),
    }
}

/// The repository the working folder is in, as `--tag-rc` needs it.
#[derive(Debug, Clone)]
pub(crate) struct Repository {
    /// The commit HEAD names (full object id).
    pub head: String,
}

/// Checks that git runs, the working folder is inside a work tree with a commit at HEAD, and a
/// tagger identity is configured. Every refusal says how to fix it.
pub(crate) fn repository() -> Result<Repository> {
    let output = run(&["rev-parse", "--is-inside-work-tree"], None)?;
    if !output.status.success() || output.text() != "true" {
        bail!(
            "not a git work tree ({}); --tag-rc tags the repository make-ready runs in: run it in a clone or use -C DIR",
            if output.stderr.is_empty() {
                "inside a .git folder or a bare repository".into()
            } else {
                output.stderr
            }
        );
    }
    let head = run(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], None)?;
    if !head.status.success() {
        bail!("the repository has no commit at HEAD; commit the release first, then tag it");
    }
    let ident = run(&["var", "GIT_COMMITTER_IDENT"], None)?;
    if !ident.status.success() {
        bail!(
            "git has no tagger identity ({}); set user.name and user.email (git config) or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL",
            ident.stderr
        );
    }
    Ok(Repository { head: head.text() })
}

/// Uncommitted changes: modified, staged, deleted and untracked (not ignored) paths, as git
/// prints them, leaving out this process's own temporary output files.
pub(crate) fn uncommitted_changes() -> Result<Vec<String>> {
    let output =
        text_raw(&["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules=none"])?;
    let own = format!("{}{}-", crate::atomic_write::TEMP_PREFIX, std::process::id());
    Ok(porcelain_changes(&output, &own))
}

/// `XY path` entries of `git status --porcelain=v1 -z` (a rename's or copy's source field
/// skipped), leaving out untracked files named `own_prefix*`; sorted.
fn porcelain_changes(output: &[u8], own_prefix: &str) -> Vec<String> {
    let mut entries = output.split(|byte| *byte == 0).filter(|entry| !entry.is_empty());
    let mut changes = Vec::new();
    while let Some(entry) = entries.next() {
        let entry = String::from_utf8_lossy(entry);
        let (code, path) = (entry.get(..2).unwrap_or(""), entry.get(3..).unwrap_or(""));
        if code.starts_with('R') || code.starts_with('C') {
            entries.next(); // the rename's source
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if code == "??" && name.starts_with(own_prefix) {
            continue;
        }
        changes.push(format!("{} {}", code.trim(), crate::sanitize::display_text(path, false)));
    }
    changes.sort();
    changes
}

fn text_raw(args: &[&str]) -> Result<Vec<u8>> {
    let output = run(args, None)?;
    if !output.status.success() {
        return Err(refusal(args, &output));
    }
    Ok(output.stdout)
}

/// Every tag name, sorted.
pub(crate) fn tags() -> Result<Vec<String>> {
    let listed = text(&["for-each-ref", "--format=%(refname:strip=2)", "refs/tags/"])?;
    let mut tags: Vec<String> = listed.lines().filter(|line| !line.is_empty()).map(str::to_string).collect();
    tags.sort();
    Ok(tags)
}

/// Whether `name` is a valid tag name (`git check-ref-format`).
pub(crate) fn valid_tag_name(name: &str) -> Result<bool> {
    Ok(run(&["check-ref-format", &format!("refs/tags/{name}")], None)?.status.success())
}

/// Why creating a tag failed.
#[derive(Debug)]
pub(crate) enum TagError {
    /// The name exists already (another run, or someone by hand, got there first).
    Exists(String),
    Other(anyhow::Error),
}

/// `git tag -a NAME COMMIT` with `message` verbatim. git refuses an existing name, which closes
/// the race between counting the tags and creating one.
///
/// The message goes to git as a complete file, not through a pipe: killed while writing a pipe,
/// make-ready would hand git an early end of input, and git would create the tag with half a
/// message (found by the chaos suite under load). git outlives a killed make-ready and finishes
/// the tag whole.
pub(crate) fn create_annotated_tag(name: &str, commit: &str, message: &str) -> Result<(), TagError> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!("{}{}-tag-", crate::atomic_write::TEMP_PREFIX, std::process::id()))
        .tempfile()
        .and_then(|mut file| file.write_all(message.as_bytes()).and_then(|()| file.flush()).map(|()| file))
        .map_err(|error| {
            TagError::Other(anyhow::anyhow!("cannot write the tag message to a temporary file: {error}"))
        })?;
    let _ = file.as_file_mut().sync_all();
    let from = format!("--file={}", file.path().display());
    let args = ["tag", "--annotate", "--cleanup=verbatim", &from, name, commit];
    let output = run(&args, None).map_err(TagError::Other)?;
    if output.status.success() {
        return Ok(());
    }
    if output.stderr.contains("already exists") {
        return Err(TagError::Exists(output.stderr));
    }
    // Named without the temporary file's path, which says nothing to the reader.
    let shown = ["tag", "--annotate", "--cleanup=verbatim", "--file=<message>", name, commit];
    Err(TagError::Other(refusal(&shown, &output)))
}

/// The message of the annotated tag `name` (what follows the tag object's header).
pub(crate) fn tag_message(name: &str) -> Result<String> {
    let reference = format!("refs/tags/{name}");
    let kind = run(&["cat-file", "-t", &reference], None)?;
    if !kind.status.success() {
        bail!(
            "no tag {name:?} in this repository (git tag --list shows the tags; fetch them with git fetch --tags)"
        );
    }
    if kind.text() != "tag" {
        bail!(
            "tag {name:?} is a lightweight tag ({}): it has no message to read a readiness JSON from",
            kind.text()
        );
    }
    let object = text_raw(&["cat-file", "-p", &reference])?;
    let object = String::from_utf8(object).map_err(|_| anyhow!("tag {name:?}: its message is not UTF-8"))?;
    let message = object.split_once("\n\n").map(|(_, message)| message).unwrap_or("");
    Ok(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_program_is_stopped_at_the_time_limit() {
        let started = crate::clock::monotonic();
        let error = run_program("sleep", &["30"], None, Duration::from_secs(1)).unwrap_err();
        assert_eq!(error.to_string(), "sleep 30 did not finish within 1s and was stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Input is fed and output read while waiting; a program that is not there says so.
        let output = run_program("cat", &[], Some(b"tag message\n"), TIMEOUT).unwrap();
        assert_eq!((output.status.success(), output.text().as_str()), (true, "tag message"));
        assert!(
            run_program("mmops-no-such-program", &[], None, TIMEOUT)
                .unwrap_err()
                .to_string()
                .contains("git is not installed")
        );
    }

    #[test]
    fn porcelain_entries_skip_rename_sources_and_own_temp_files_only() {
        let own = format!("{}42-", crate::atomic_write::TEMP_PREFIX);
        let output = format!(
            " M VERSION\0R  new.txt\0old.txt\0?? artifacts/{own}abc\0?? artifacts/.mmops-tmp-7-abc\0A  line\nbreak\0"
        );
        assert_eq!(
            porcelain_changes(output.as_bytes(), &own),
            ["?? artifacts/.mmops-tmp-7-abc", "A line\\nbreak", "M VERSION", "R new.txt"]
        );
        assert!(porcelain_changes(b"", &own).is_empty());
    }
}
