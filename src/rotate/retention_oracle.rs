//! The oracle for the calendar rules: restic itself. For seeded random sets of times (spanning
//! years, summer-time changes in four zones, period boundaries and ties) it makes one restic
//! snapshot per time with `restic backup --time`, asks `restic forget --dry-run --json` which to
//! keep under random `--keep-*` flags, and checks that [`calendar_keep`] keeps exactly the same
//! times. A disagreement prints the case.
//!
//! restic opens a repository with a deliberately slow key derivation (~0.3 s a command), so the
//! cases share snapshots: each zone has one repository with five hosts (one time profile each),
//! snapshots carry random tags, and each `forget` groups them differently (by host, by host and
//! tags, all together, or filtered by a tag) — one `forget` run checks many cases. Equal-time
//! snapshots are indistinguishable to restic, so kept times are compared as multisets.
//! `MMOPS_RESTIC_ORACLE_SEED` replays a seed.

#![allow(clippy::print_stderr)] // the trial counts and timing are the test's report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

use super::{Calendar, calendar_keep};

const ZONES: [Tz; 4] =
    [Tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe];
const HOSTS: usize = 5;
const SNAPSHOTS_PER_HOST: usize = 5;
const FORGETS_PER_ZONE: usize = 10;
const PASSWORD: &str = "mmops-oracle";

/// splitmix64: small, seedable, good enough to spread test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// restic on PATH, with the fixture's rule: under CI=true a missing tool fails the test.
fn restic_available() -> bool {
    if Command::new("restic").arg("version").output().is_ok_and(|output| output.status.success()) {
        return true;
    }
    let install = "apt-get install restic";
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("restic is not installed, and CI=true requires it; install: {install}");
    }
    eprintln!("skipped: restic is not installed (install: {install})");
    false
}

fn restic(repository: &Path, tz: Tz, args: &[String]) -> Command {
    let mut command = Command::new("restic");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", repository.parent().unwrap())
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_REPOSITORY", repository)
        .env("RESTIC_CACHE_DIR", repository.parent().unwrap().join("cache"))
        .env("TZ", tz.name())
        .args(["--no-cache", "--quiet"])
        .args(args);
    command
}

fn run_ok(mut command: Command) -> Vec<u8> {
    let output = command.output().expect("cannot run restic");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs the commands on a few threads; results in input order.
fn run_all(commands: Vec<Command>) -> Vec<Vec<u8>> {
    let threads = std::thread::available_parallelism().map_or(2, |count| count.get()).clamp(2, 4);
    let next = AtomicUsize::new(0);
    let jobs: Vec<Mutex<Option<Command>>> =
        commands.into_iter().map(|command| Mutex::new(Some(command))).collect();
    let results: Vec<Mutex<Vec<u8>>> = jobs.iter().map(|_| Mutex::new(Vec::new())).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, AtomicOrdering::SeqCst);
                    let Some(job) = jobs.get(index) else { break };
                    let command = job.lock().unwrap().take().unwrap();
                    *results[index].lock().unwrap() = run_ok(command);
                }
            });
        }
    });
    results.into_iter().map(|result| result.into_inner().unwrap()).collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Instants (UTC seconds) where the zone's offset changes in 2021, found hour by hour.
fn transitions(tz: Tz) -> Vec<i64> {
    let start =
        NaiveDate::from_ymd_opt(2021, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let offset = |seconds: i64| {
        tz.offset_from_utc_datetime(&DateTime::from_timestamp(seconds, 0).unwrap().naive_utc()).fix()
    };
    (0..366 * 24)
        .map(|hour| start + hour * 3600)
        .filter(|&seconds| offset(seconds) != offset(seconds + 3600))
        .map(|seconds| seconds + 3600)
        .collect()
}

/// The UTC instant of a local wall-clock time (the earlier one when it is ambiguous).
fn local_instant(tz: Tz, year: i32, month: u32, day: u32, hms: (u32, u32, u32)) -> i64 {
    tz.with_ymd_and_hms(year, month, day, hms.0, hms.1, hms.2).earliest().map_or_else(
        || local_instant(tz, year, month, day, (hms.0 + 1, hms.1, hms.2)),
        |time| time.timestamp(),
    )
}

/// The times of one host: profile 0 crowds a summer-time change, 1 the ISO year end, 2 spans
/// years, 3 a year, 4 sits on local hour and day boundaries; every profile repeats some times.
fn host_times(rng: &mut Rng, tz: Tz, profile: usize) -> Vec<i64> {
    let utc = |y, m, d| {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
    };
    let changes = transitions(tz);
    let mut times: Vec<i64> = Vec::new();
    while times.len() < SNAPSHOTS_PER_HOST {
        if !times.is_empty() && rng.chance(15) {
            times.push(times[rng.range(0, times.len() as i64) as usize]);
            continue;
        }
        let time = match profile {
            0 => {
                let center = match changes.len() {
                    0 => utc(2021, 3, 28),
                    count => changes[rng.range(0, count as i64) as usize],
                };
                center + rng.range(-36 * 60, 36 * 60) * 60 + rng.range(0, 2) * 59
            }
            1 => utc(2020, 12, 20) + rng.range(0, 27 * 86_400),
            2 => utc(2014, 1, 1) + rng.range(0, 11 * 365 * 86_400),
            3 => utc(2022, 1, 1) + rng.range(0, 365 * 86_400),
            _ => {
                let day = rng.range(1, 28) as u32;
                let month = rng.range(1, 13) as u32;
                let hms =
                    [(0, 0, 0), (23, 59, 59), (0, 59, 59), (1, 0, 0), (12, 0, 0)][rng.range(0, 5) as usize];
                local_instant(tz, 2023, month, day, hms)
            }
        };
        times.push(time);
    }
    times
}

/// Random `--keep-*` flags and the same limits as a [`Calendar`].
fn random_flags(rng: &mut Rng, tz: Tz) -> (Vec<String>, Calendar) {
    loop {
        let mut flags = Vec::new();
        let mut calendar = Calendar { tz, ..Calendar::default() };
        let fields: [(&str, &mut Option<u64>, i64); 6] = [
            ("--keep-last", &mut calendar.last, 6),
            ("--keep-hourly", &mut calendar.hourly, 9),
            ("--keep-daily", &mut calendar.daily, 9),
            ("--keep-weekly", &mut calendar.weekly, 6),
            ("--keep-monthly", &mut calendar.monthly, 7),
            ("--keep-yearly", &mut calendar.yearly, 5),
        ];
        for (flag, field, max) in fields {
            if rng.chance(40) {
                let count = rng.range(1, max);
                flags.extend([flag.to_string(), count.to_string()]);
                *field = Some(count as u64);
            }
        }
        if rng.chance(30) {
            let hours = rng.range(1, 24 * 90);
            flags.extend(["--keep-within".to_string(), format!("{hours}h")]);
            calendar.within_nanos = Some(i128::from(hours) * 3_600_000_000_000);
        }
        if !flags.is_empty() {
            return (flags, calendar);
        }
    }
}

fn nanos_of(snapshot: &serde_json::Value) -> i128 {
    let text = snapshot["time"].as_str().expect("snapshot without time");
    let time =
        DateTime::parse_from_rfc3339(text).unwrap_or_else(|error| panic!("restic time {text:?}: {error}"));
    i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos())
}

#[test]
fn calendar_rules_keep_what_restic_forget_keeps() {
    if !restic_available() {
        return;
    }
    let started = Instant::now();
    let seed =
        std::env::var("MMOPS_RESTIC_ORACLE_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or(17);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, "one tiny file").unwrap();
    let template = dir.path().join("template");
    run_ok(restic(&template, Tz::UTC, &["init".to_string()]));

    // Every zone's backups, all at once.
    let mut commands = Vec::new();
    let mut repositories: Vec<PathBuf> = Vec::new();
    for tz in ZONES {
        let repository = dir.path().join(tz.name().replace('/', "_"));
        copy_tree(&template, &repository);
        for host in 0..HOSTS {
            for time in host_times(&mut rng, tz, host) {
                let local = tz.timestamp_opt(time, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
                let mut args: Vec<String> =
                    ["backup", "--host", &format!("h{host}"), "--time", &local].map(String::from).to_vec();
                for tag in ["a", "b"] {
                    if rng.chance(50) {
                        args.extend(["--tag".to_string(), tag.to_string()]);
                    }
                }
                args.push(data.display().to_string());
                commands.push(restic(&repository, tz, &args));
            }
        }
        repositories.push(repository);
    }
    let backups = commands.len();
    run_all(commands);
    let backups_took = started.elapsed().as_secs_f64();

    let mut forgets = Vec::new();
    let mut cases_of_forget = Vec::new();
    for (tz, repository) in ZONES.iter().zip(&repositories) {
        for _ in 0..FORGETS_PER_ZONE {
            let (flags, calendar) = random_flags(&mut rng, *tz);
            // host,tags gives the most (smaller) cases per run; "" one large case.
            let grouping: &[&str] = match rng.range(0, 10) {
                0..=3 => &["--group-by", "host,tags"],
                4 | 5 => &["--group-by", "host"],
                6 => &["--group-by", ""],
                7 | 8 => &["--group-by", "host", "--tag", "a"],
                _ => &["--group-by", "host", "--tag", "a,b"],
            };
            let mut args: Vec<String> =
                ["forget", "--no-lock", "--dry-run", "--json"].map(String::from).to_vec();
            args.extend(grouping.iter().map(|text| text.to_string()));
            args.extend(flags.iter().cloned());
            forgets.push(restic(repository, *tz, &args));
            cases_of_forget.push((*tz, flags, grouping.join(" "), calendar));
        }
    }
    let outputs = run_all(forgets);

    let (mut cases, mut snapshots_checked, mut largest) = (0, 0, 0);
    let mut offsets_seen: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        Default::default();
    for ((tz, flags, grouping, calendar), output) in cases_of_forget.iter().zip(&outputs) {
        let groups: Vec<serde_json::Value> = serde_json::from_slice(output).unwrap_or_else(|error| {
            panic!("restic forget --json: {error}: {}", String::from_utf8_lossy(output))
        });
        for group in &groups {
            let list = |key: &str| group[key].as_array().cloned().unwrap_or_default();
            let (kept, removed) = (list("keep"), list("remove"));
            let mut restic_kept: Vec<i128> = kept.iter().map(nanos_of).collect();
            let mut times: Vec<i128> =
                restic_kept.iter().copied().chain(removed.iter().map(nanos_of)).collect();
            for snapshot in kept.iter().chain(&removed) {
                let text = snapshot["time"].as_str().unwrap();
                offsets_seen.entry(tz.name()).or_default().insert(text[19..].to_string());
            }
            times.sort_unstable_by(|a, b| b.cmp(a));
            let newest_first: Vec<u32> = (0..times.len() as u32).collect();
            let now = times[0];
            let flags_by_time = calendar_keep(calendar, &times, &newest_first, &newest_first, now);
            let mut ours: Vec<i128> = times
                .iter()
                .zip(&flags_by_time)
                .filter(|(_, flags)| **flags != 0)
                .map(|(time, _)| *time)
                .collect();
            ours.sort_unstable();
            restic_kept.sort_unstable();
            if ours != restic_kept {
                let show = |list: &[i128]| -> Vec<String> {
                    list.iter()
                        .map(|nanos| {
                            tz.timestamp_opt((nanos / 1_000_000_000) as i64, 0)
                                .unwrap()
                                .format("%F %T %:z")
                                .to_string()
                        })
                        .collect()
                };
                panic!(
                    "mmops and restic disagree (seed {seed}, TZ={}, restic forget {} {}, group host={} tags={}):\n\
                     times (newest first): {:#?}\nrestic keeps: {:#?}\nmmops keeps: {:#?}",
                    tz.name(),
                    grouping,
                    flags.join(" "),
                    group["host"],
                    group["tags"],
                    show(&times),
                    show(&restic_kept),
                    show(&ours)
                );
            }
            cases += 1;
            snapshots_checked += times.len();
            largest = largest.max(times.len());
        }
    }
    // restic must really have used the zones (it falls back to UTC without zone data).
    for tz in &ZONES[1..] {
        assert!(
            offsets_seen[tz.name()].len() >= 2,
            "{}: restic saw one offset only: {:?}",
            tz.name(),
            offsets_seen
        );
    }
    eprintln!(
        "restic oracle: seed {seed}, {cases} cases ({snapshots_checked} snapshot decisions, largest case \
         {largest}) from {backups} backups ({backups_took:.1} s) and {} forget runs in {:.1} s in all",
        outputs.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(cases >= 150, "only {cases} cases were checked");
}
