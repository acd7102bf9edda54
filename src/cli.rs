//! The whole command line, declared with clap's derive API.
//!
//! This file only describes syntax: doc comments are the help text, value parsers turn flag text
//! into typed values. It does no I/O; each subcommand turns its `XxxArgs` into a checked plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::units;

const EXIT_CODES: &str = "\
Exit codes:
  0    the check passed / the job was done
  1    the check failed (stale task, not ready, bundle mismatch), or PARTIAL: a failure after
       something irreversible was done (the report says what)
  2    could not run: bad flag, bad config, unreadable input (nothing was changed on disk)
  130  interrupted by SIGINT/SIGTERM at a safe point (marker value INTERRUPTED; the report says
       what was done)

Environment:
  CI_FAKE_UTC        RFC 3339 instant used as \"now\" everywhere (e.g. 1970-01-01T00:00:00Z)
  SOURCE_DATE_EPOCH  Unix seconds used as the bundle timestamp when CI_FAKE_UTC is unset
  NO_COLOR           disables colour when set to a non-empty value";

const CRON_SENTINEL_HELP: &str = "\
Examples:
  mmops cron-sentinel                               check deploy/cron/sentinel.yaml
  mmops --quiet cron-sentinel --prom-file x.prom    from cron: output only when a task is not fresh
  mmops cron-sentinel --check-config                validate the config, look at no artifact

Exit codes:
  0    every task is FRESH, WARN or PAUSED
  1    a task is STALE, MISSING, EMPTY, TOO_LARGE, FUTURE or ERROR (or WARN with --fail-on-warn)
  2    could not run: bad config or flag (nothing was written)";

const ROTATE_HELP: &str = "\
Examples:
  mmops rotate --dry-run                            what the shipped policy would delete
  mmops rotate --days 7 --keep 100 --max-size 2G    delete by age, count and total size
  mmops rotate --days 30 --archive /backup/mm       zip (and read back) before deleting
  mmops rotate --dry-run --summary                  counts per rule and reason, not per file
  mmops rotate --explain logs/bot.log               why that file would be kept or deleted

Exit codes:
  0    done (or the dry run's plan, or --explain, printed)
  1    another run held the lock past --wait-lock (LOCKED: nothing deleted), or some files could
       not be deleted (PARTIAL: the report lists what was deleted)
  2    could not run or refused by a guard: nothing was deleted
  130  interrupted between two files (INTERRUPTED: the report lists what was deleted)";

const BUNDLE_HELP: &str = "\
Examples:
  mmops bundle --dry-run                            hash everything, print the manifest, write nothing
  SOURCE_DATE_EPOCH=1760000000 mmops bundle         the release zip, byte-reproducible
  mmops bundle verify artifacts/release/mm-bot-v0.1.0.zip
  mmops bundle keygen --out ~/.mmops-keys           a minisign key pair (password from the terminal)
  MMOPS_SIGNING_PASSWORD=… mmops bundle --sign ~/.mmops-keys/mmops.key

Exit codes:
  0    the bundle was written (or an identical one already existed)
  1    an existing release differs (use --force), or a write failed after the zip was in place
       (PARTIAL)
  2    could not run: missing input, bad config or version (nothing was written)";

const BUNDLE_VERIFY_HELP: &str = "\
Examples:
  mmops bundle verify artifacts/release/mm-bot-v0.1.0.zip
  mmops --format json bundle verify release.zip --no-sidecar
  mmops bundle verify release.zip --pubkey-file mmops.pub   signature and provenance too
  mmops -C checkout bundle verify release.zip --rebuild     rebuild from the tree, compare bytes

Exit codes:
  0    every check passed
  1    a check failed: the problems are listed
  2    could not run: the zip cannot be opened, a bad public key";

const BUNDLE_KEYGEN_HELP: &str = "\
Examples:
  mmops bundle keygen --out ~/.mmops-keys                  asks for the password (no echo)
  MMOPS_SIGNING_PASSWORD=… mmops bundle keygen --out keys  password from the environment
  mmops bundle keygen --out keys --unencrypted             no password (keep the file safe)

The files are minisign's: `minisign -Vm FILE -p DIR/mmops.pub` verifies what mmops signs.

Exit codes:
  0    the key pair was written
  1    the secret key was written but the public key could not be (PARTIAL)
  2    could not run: a key already exists there (never overwritten), no password";

const EDGE_SIM_HELP: &str = "\
Examples:
  mmops edge-sim --input deploy/edge/sample_windows.csv
  mmops edge-sim --input series.csv --sweep consecutive_windows=2,3,4
  mmops edge-sim --state /var/lib/mm/edge.json --ts 1760142600 --ema1h -0.2 --ema24h 1.1

Exit codes:
  0    the replay or live step ran
  1    a live step could not take the state lock in time
  2    could not run: bad input, config or state file (nothing was written)";

const MAKE_READY_HELP: &str = "\
Examples:
  mmops make-ready --reports-dir deploy/examples/soak/good
  mmops make-ready --skip-pre-live --reports-dir artifacts --max-evidence-age 3d
  mmops make-ready --validate artifacts/reports/readiness.json

Exit codes:
  0    MAKE_READY=OK: every pre-live step passed (or was waived) and readiness is GO
  1    MAKE_READY=BLOCKED: a step failed or readiness is HOLD; MAKE_READY=PARTIAL: an output
       failed after another was written (the report names what was written)
  2    could not run: bad config, flag or reports (nothing was written)
  130  MAKE_READY=INTERRUPTED: running steps were killed with everything they started";

const COMPLETIONS_HELP: &str = "\
Examples:
  mmops completions bash > ~/.local/share/bash-completion/completions/mmops
  mmops completions zsh > ~/.zfunc/_mmops           (with fpath+=~/.zfunc before compinit)
  mmops completions fish > ~/.config/fish/completions/mmops.fish

Exit codes:
  0    the script was printed
  2    unknown shell";

const MAN_HELP: &str = "\
Examples:
  mmops man | man -l -                              read the mmops page
  mmops man rotate > /usr/local/share/man/man1/mmops-rotate.1
  mmops man bundle-verify | man -l -

Exit codes:
  0    the page was printed
  2    no such subcommand page";

/// Operations toolkit for the mm-bot market maker.
///
/// Every subcommand ends its text output with a marker row such as
/// `| cron_sentinel | OK | CRON_SENTINEL=OK |` that CI can grep, and its exit code says the same.
#[derive(Debug, Parser)]
#[command(name = "mmops", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: human-readable text ending in a marker row, or one JSON document.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Silent when all is well (for cron mail): nothing on a passing run; on a failing one the
    /// report's problem lines and the marker row. Errors are always printed.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print only the marker row, pass or fail (for CI steps that grep it); errors still go to stderr.
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub marker_only: bool,

    /// Run as if started in DIR; relative paths resolve there.
    #[arg(short = 'C', long = "chdir", global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// When to colour the output: only on a terminal without NO_COLOR (auto), always, or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the files scheduled jobs produce are fresh.
    #[command(after_help = CRON_SENTINEL_HELP)]
    CronSentinel(CronSentinelArgs),

    /// Delete old artifacts by age, total size and count (try --dry-run first).
    #[command(after_help = ROTATE_HELP)]
    Rotate(RotateArgs),

    /// Build a reproducible release ZIP with a SHA-256 manifest and provenance (signed with --sign), or verify one.
    #[command(after_help = BUNDLE_HELP, args_conflicts_with_subcommands = true)]
    Bundle(BundleArgs),

    /// Replay a metrics series through the edge sentinel's profile-switching rules.
    #[command(after_help = EDGE_SIM_HELP)]
    EdgeSim(EdgeSimArgs),

    /// One release verdict from the pre-live checks and the readiness score.
    #[command(after_help = MAKE_READY_HELP)]
    MakeReady(MakeReadyArgs),

    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),

    /// Print the manual page (roff), e.g. `mmops man | man -l -`.
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),

    /// Internal: runs one make-ready step tied to make-ready's life (see make_ready/launcher.rs).
    #[command(name = "__step-launcher", hide = true)]
    StepLauncher(StepLauncherArgs),
}

/// cron-sentinel's `--config` default, relative to the repository root.
pub const DEFAULT_SENTINEL_CONFIG: &str = "deploy/cron/sentinel.yaml";
/// make-ready's `--config` default, relative to the repository root.
pub const DEFAULT_MAKE_READY_CONFIG: &str = "deploy/release/make_ready.yaml";

#[derive(Debug, Args)]
pub struct CronSentinelArgs {
    /// Task list (YAML or JSON).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_SENTINEL_CONFIG)]
    pub config: PathBuf,

    /// Check only this task (repeatable).
    #[arg(long = "task", value_name = "NAME")]
    pub tasks: Vec<String>,

    /// Also write the result as a Prometheus textfile-collector file.
    #[arg(long, value_name = "PATH", conflicts_with = "check_config")]
    pub prom_file: Option<PathBuf>,

    /// Only validate the config (and --task names); do not look at any artifact.
    #[arg(long)]
    pub check_config: bool,

    /// A WARN task (older than its warn_age) fails the run too.
    #[arg(long, conflicts_with_all = ["check_config", "explain"])]
    pub fail_on_warn: bool,

    /// Print the next scheduled starts of TASK and the last one, in its zone and in UTC.
    #[arg(long, value_name = "TASK", conflicts_with_all = ["check_config", "prom_file", "tasks"])]
    pub explain: Option<String>,

    /// How many upcoming starts --explain prints.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "explain", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub runs: u16,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Folder whose files are rotated (it may itself be a symlink; nothing below it is followed),
    /// or an object-store prefix s3://bucket/prefix/ (see docs/object-storage.md). Repeatable:
    /// every folder is planned first, then each is rotated in the order given, under its own lock.
    #[arg(long = "base-dir", value_name = "DIR", default_value = "artifacts", action = ArgAction::Append)]
    pub base_dirs: Vec<PathBuf>,

    /// Delete files older than N days (a number of days, decimals allowed, or a duration such as
    /// 7d or 36h; 0 selects every file older than now).
    #[arg(long, value_name = "N", value_parser = units::parse_days, allow_hyphen_values = true)]
    pub days: Option<f64>,

    /// Delete oldest files until the kept total is at most SIZE (2G = 2 GiB, 2GB = 2·10⁹ bytes).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_typed_size, allow_hyphen_values = true)]
    pub max_size: Option<units::TypedSize>,

    /// Keep only the N newest files (0 keeps none).
    #[arg(long, value_name = "N", value_parser = units::parse_count, allow_hyphen_values = true)]
    pub keep: Option<u64>,

    /// Keep the N last files (as --keep; with the other --keep-* flags).
    #[arg(long, value_name = "N", value_parser = units::parse_count, conflicts_with = "keep")]
    pub keep_last: Option<u64>,

    /// Keep the newest file of each of the last N hours that have one (restic forget rules).
    #[arg(long, value_name = "N", value_parser = units::parse_count)]
    pub keep_hourly: Option<u64>,

    /// Keep the newest file of each of the last N days that have one.
    #[arg(long, value_name = "N", value_parser = units::parse_count)]
    pub keep_daily: Option<u64>,

    /// Keep the newest file of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", value_parser = units::parse_count)]
    pub keep_weekly: Option<u64>,

    /// Keep the newest file of each of the last N months that have one.
    #[arg(long, value_name = "N", value_parser = units::parse_count)]
    pub keep_monthly: Option<u64>,

    /// Keep the newest file of each of the last N years that have one.
    #[arg(long, value_name = "N", value_parser = units::parse_count)]
    pub keep_yearly: Option<u64>,

    /// Keep every file younger than DURATION (such as 36h or 7d) besides the --keep-* periods.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_flag_duration)]
    pub keep_within: Option<Duration>,

    /// Time zone of the --keep-hourly/daily/weekly/monthly/yearly periods (IANA name; default UTC).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// The order --keep, --keep-last and --max-size use: mtime, name or name-numeric
    /// (digit runs compared as numbers: RUN_9 before RUN_10).
    #[arg(long, value_name = "ORDER", value_parser = ["mtime", "name", "name-numeric"])]
    pub order: Option<String>,

    /// After the limits, delete more files (oldest first, from rules with a limit, never files a
    /// keep_* period keeps) until the base dir's filesystem has SIZE (10G) or PERCENT (10%) free.
    #[arg(long, value_name = "SIZE|PERCENT")]
    pub min_free: Option<String>,

    /// Multi-tier retention rules (YAML or JSON); default deploy/ops/rotation.yaml when no limit is given.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Protect files whose path relative to the base dir matches GLOB (repeatable; `*` stays in one
    /// folder, `**` crosses folders, a GLOB without `/` also matches bare file names).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,

    /// Also consider files and folders whose name starts with `.`.
    #[arg(long)]
    pub include_hidden: bool,

    /// Zip the selected files into DIR/artifacts-<UTC timestamp>.zip before deleting them.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,

    /// Remove folders this run left empty.
    #[arg(long)]
    pub prune_empty_dirs: bool,

    /// Print what would be deleted; write nothing at all.
    #[arg(long)]
    pub dry_run: bool,

    /// Wait up to DURATION (with a unit: 30s, 10m) for another run's lock, then exit 1 (default:
    /// do not wait).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_flag_duration_allow_zero, allow_hyphen_values = true)]
    pub wait_lock: Option<Duration>,

    /// Print counts per rule and reason instead of one line per file (files that fail, change or
    /// vanish are still listed).
    #[arg(long)]
    pub summary: bool,

    /// Say why PATH (relative to the base dir, or starting with it) would be kept or selected,
    /// with the limits that decide it; nothing is deleted.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["summary", "archive", "prune_empty_dirs", "prom_file"])]
    pub explain: Option<PathBuf>,

    /// Allow a run that would delete every candidate file.
    #[arg(long)]
    pub allow_delete_all: bool,

    /// Refuse a run that would delete more than N files.
    #[arg(long, value_name = "N", value_parser = units::parse_count, allow_hyphen_values = true)]
    pub max_delete: Option<u64>,

    /// Object storage only: take no lease (for stores without conditional puts, where only one run
    /// can ever touch the prefix).
    #[arg(long)]
    pub no_lock: bool,

    /// Also write the result as a Prometheus textfile-collector file.
    #[arg(long, value_name = "PATH")]
    pub prom_file: Option<PathBuf>,
}

impl RotateArgs {
    /// The first `--base-dir` (the only one, unless it was repeated).
    pub fn base_dir(&self) -> &std::path::Path {
        self.base_dirs.first().map_or(std::path::Path::new("artifacts"), PathBuf::as_path)
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub action: Option<BundleAction>,

    #[command(flatten)]
    pub create: BundleCreateArgs,
}

#[derive(Debug, Subcommand)]
pub enum BundleAction {
    /// Check a bundle against its sidecar, manifest and provenance without extracting anything;
    /// with a public key its signatures, with --rebuild that the tree reproduces it.
    #[command(after_help = BUNDLE_VERIFY_HELP)]
    Verify(BundleVerifyArgs),

    /// Make a minisign key pair for signing releases: DIR/mmops.key (0600) and DIR/mmops.pub.
    #[command(after_help = BUNDLE_KEYGEN_HELP)]
    Keygen(BundleKeygenArgs),
}

#[derive(Debug, Args)]
pub struct BundleKeygenArgs {
    /// Folder for mmops.key and mmops.pub (created when missing); existing keys are never replaced.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Store the secret key without a password.
    #[arg(long)]
    pub unencrypted: bool,

    /// Read the password from this file (first line); default: $MMOPS_SIGNING_PASSWORD, else asked
    /// on the terminal.
    #[arg(long, value_name = "FILE", conflicts_with = "unencrypted")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleCreateArgs {
    /// Release version (SemVer); default: the VERSION file.
    #[arg(long, value_name = "X")]
    pub version: Option<String>,

    /// Bundle name: the zip is <out-dir>/<name>-v<version>.zip.
    #[arg(long, value_name = "NAME", default_value = "mm-bot")]
    pub name: String,

    /// Where the zip and its .sha256 are written.
    #[arg(long, value_name = "DIR", default_value = "artifacts/release")]
    pub out_dir: PathBuf,

    /// Where the optional reports are taken from.
    #[arg(long, value_name = "DIR", default_value = "artifacts/reports")]
    pub reports_dir: PathBuf,

    /// Leave the optional reports out.
    #[arg(long)]
    pub no_reports: bool,

    /// File list (YAML or JSON) replacing the built-in one (deploy/release/bundle.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Deflate level, 0 (store) to 9.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,

    /// Overwrite an existing bundle that differs.
    #[arg(long)]
    pub force: bool,

    /// After building, upload the zip, its sidecar and any signature/provenance files beside it
    /// to object storage (s3://bucket/releases/), create-only.
    #[arg(long, value_name = "URL", conflicts_with = "dry_run")]
    pub publish: Option<PathBuf>,

    /// Resolve and hash everything, print the manifest and summary, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Also write the release (version, zip size, created time) as a Prometheus textfile (*.prom).
    #[arg(long, value_name = "PATH", conflicts_with = "dry_run")]
    pub prom_file: Option<PathBuf>,

    /// Sign the zip and its provenance with this minisign secret key (<zip>.minisig,
    /// <zip>.intoto.json.minisig).
    #[arg(long, value_name = "KEYFILE", conflicts_with = "dry_run")]
    pub sign: Option<PathBuf>,

    /// Read the signing key's password from this file (first line); default:
    /// $MMOPS_SIGNING_PASSWORD, else asked on the terminal.
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub password_file: Option<PathBuf>,

    /// Refuse a signing key that group or others can access (default: a warning).
    #[arg(long, requires = "sign")]
    pub strict_key_perms: bool,
}

#[derive(Debug, Args)]
pub struct BundleVerifyArgs {
    /// The bundle to check.
    #[arg(value_name = "ZIP")]
    pub zip: PathBuf,

    /// Do not require the <ZIP>.sha256 sidecar.
    #[arg(long)]
    pub no_sidecar: bool,

    /// Check <ZIP>.minisig (and the provenance's signature) with this minisign public key
    /// (base64, as in the second line of mmops.pub).
    #[arg(long, value_name = "KEY", conflicts_with = "pubkey_file")]
    pub pubkey: Option<String>,

    /// Like --pubkey, from a public key file (mmops.pub).
    #[arg(long, value_name = "FILE")]
    pub pubkey_file: Option<PathBuf>,

    /// Rebuild the bundle from the working tree (-C DIR) with the config and SOURCE_DATE_EPOCH
    /// recorded in <ZIP>.intoto.json, in a temporary folder, and compare the bytes.
    #[arg(long)]
    pub rebuild: bool,

    /// Also write the result as a Prometheus textfile (*.prom).
    #[arg(long, value_name = "PATH")]
    pub prom_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EdgeSimArgs {
    /// Metrics series: CSV with a header or JSON Lines; `-` reads stdin.
    #[arg(long, value_name = "FILE", required_unless_present = "state")]
    pub input: Option<PathBuf>,

    /// Rules and profiles (YAML or JSON); default: the built-in rules (= deploy/edge/sentinel.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write one CSV row per window (ts, ema1h, ema24h, profile, streak, recovery_streak, changed).
    #[arg(long, value_name = "FILE.csv")]
    pub timeline: Option<PathBuf>,

    /// Draw the series, thresholds and profile changes as an SVG chart.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Replay under every combination of values (repeatable), e.g. ema1h_threshold=-0.5,0,0.5.
    /// Keys: ema1h_threshold, consecutive_windows, ema24h_recovery_threshold, recovery_windows,
    /// window, min_dwell, gap_policy, max_gap, cooldown_backoff.{factor,max_windows,reset_after},
    /// or PROFILE.key for one profile's override.
    #[arg(long = "sweep", value_name = "KEY=V1,V2,...", conflicts_with_all = ["timeline", "plot"])]
    pub sweeps: Vec<String>,

    /// Replay operator pins with the series (YAML or JSON: `pins: [{profile, from, until}]`),
    /// as `--pin` would have held them; the chart marks the pinned stretches.
    #[arg(long, value_name = "FILE", requires = "input", conflicts_with_all = ["sweeps", "state"])]
    pub pins: Option<PathBuf>,

    /// Live step: apply one window to this JSON state file (created on first use).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["input", "timeline", "plot", "sweeps"])]
    pub state: Option<PathBuf>,

    /// Live step: the window's timestamp (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "T", requires = "state")]
    pub ts: Option<String>,

    /// Live step: the window's ema1h (bps).
    #[arg(long, value_name = "X", requires = "state", allow_negative_numbers = true)]
    pub ema1h: Option<f64>,

    /// Live step: the window's ema24h (bps).
    #[arg(long, value_name = "Y", requires = "state", allow_negative_numbers = true)]
    pub ema24h: Option<f64>,

    /// Live step: how long to wait while another step holds the state's lock, with a unit (10s,
    /// 2m; 0s does not wait), then exit 1.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = units::parse_flag_duration_allow_zero, allow_hyphen_values = true)]
    pub lock_wait: Duration,

    /// Live step: compute and report the step without saving the state (try a config beside the
    /// live one).
    #[arg(long, requires = "state", conflicts_with_all = ["pin", "unpin"])]
    pub shadow: bool,

    /// Operator: hold this profile until --until (at most max_pin ahead), with --reason.
    #[arg(long, value_name = "PROFILE", requires_all = ["state", "until", "reason"], conflicts_with_all = ["ts", "ema1h", "ema24h", "unpin"])]
    pub pin: Option<String>,

    /// Operator: when the --pin ends (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "T", requires = "pin")]
    pub until: Option<String>,

    /// Operator: why, for the audit log in the state file.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Operator: end the pin in force now, with --reason.
    #[arg(long, requires_all = ["state", "reason"], conflicts_with_all = ["ts", "ema1h", "ema24h"])]
    pub unpin: bool,

    /// Live step: also write the profile, streaks and changes as a Prometheus textfile (*.prom).
    #[arg(long, value_name = "PATH", requires = "state", conflicts_with_all = ["shadow", "pin", "unpin"])]
    pub prom_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MakeReadyArgs {
    /// Pre-live steps (YAML or JSON).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_MAKE_READY_CONFIG)]
    pub config: PathBuf,

    /// Folder holding the REPORT_SOAK_*.json soak reports.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    pub reports_dir: PathBuf,

    /// Where the readiness JSON (and its .md twin) is written.
    #[arg(long, value_name = "FILE", default_value = "artifacts/reports/readiness.json")]
    pub out_json: PathBuf,

    /// Lowest readiness score that counts as GO.
    #[arg(long, value_name = "N", default_value_t = 100.0)]
    pub min_score: f64,

    /// Steps run at once (default: number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,

    /// Also write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Skip the pre-live pack; compute the readiness score only.
    #[arg(long)]
    pub skip_pre_live: bool,

    /// Readiness is HOLD when the newest soak report is older than DURATION (with a unit: 3d, 36h).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_flag_duration, allow_hyphen_values = true)]
    pub max_evidence_age: Option<Duration>,

    /// Only validate a readiness JSON file and exit.
    #[arg(long, value_name = "FILE")]
    pub validate: Option<PathBuf>,

    /// Also write the verdict, score, sections and steps as a Prometheus textfile (*.prom).
    #[arg(long, value_name = "PATH", conflicts_with = "validate")]
    pub prom_file: Option<PathBuf>,

    /// Accept a MARGINAL verdict (needs a scoring: section): "name: reason", recorded in the
    /// readiness JSON and Markdown; the marker becomes MAKE_READY=OK_SIGNED_OFF.
    #[arg(long, value_name = "NAME: REASON", conflicts_with = "validate")]
    pub sign_off: Option<String>,

    /// Compare with a previous readiness JSON: each section's change is shown, and the
    /// scoring: max_drop settings block a release that got worse by more.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["validate", "baseline_tag"])]
    pub baseline: Option<PathBuf>,

    /// Like --baseline, with the readiness JSON recorded in the message of an RC tag made by
    /// --tag-rc (e.g. the last release's v1.3.0-rc2).
    #[arg(long, value_name = "TAG", conflicts_with = "validate")]
    pub baseline_tag: Option<String>,

    /// After MAKE_READY=OK (or OK_SIGNED_OFF) in a clean git work tree: create the annotated
    /// tag v<VERSION>-rc<N> on HEAD holding the KPI summary and the readiness JSON, and write
    /// artifacts/release/CANARY_CHECKLIST.md. Never pushes.
    #[arg(long, conflicts_with_all = ["validate", "skip_pre_live"])]
    pub tag_rc: bool,

    /// With --tag-rc: print the tag name and message it would create; write nothing.
    #[arg(long, requires = "tag_rc")]
    pub dry_run: bool,
}

/// The command line as completion scripts and man pages describe it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    command.build();
    command
}

/// Parses the process's arguments.
pub fn parse() -> Result<Cli, clap::Error> {
    Cli::try_parse()
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's own page (e.g. rotate, or bundle-verify); default: the mmops page.
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

#[derive(Debug, Args)]
pub struct StepLauncherArgs {
    /// PID of the make-ready that started this launcher; if it is gone, the step never starts.
    #[arg(long, value_name = "PID")]
    pub parent: i32,

    /// The step's argv.
    #[arg(last = true, required = true, value_name = "ARGV")]
    pub argv: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }
}
