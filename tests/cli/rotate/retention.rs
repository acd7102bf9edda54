//! Issue 17 end to end: `keep_*` periods (flags and policy), `keep_within` and `tz`, `order`,
//! `max_size` after the periods, companions, `unit: dir` folders and `--min-free`.

use super::*;

/// Soak reports 1, 2, 3, 4, 5, 8, 9, 15, 40 and 70 days old (NOW is Saturday 2025-10-11, so
/// the ones 1 to 5 days old share ISO week 41 and the 8- and 9-day-old ones week 40).
fn soak_tree(env: &TestEnv) {
    for age in [1, 2, 3, 4, 5, 8, 9, 15, 40, 70] {
        file(env, &format!("soak/r{age:02}.json"), 2, f64::from(age));
    }
}

#[test]
fn keep_daily_and_weekly_flags_keep_the_newest_of_each_period() {
    let env = TestEnv::new();
    soak_tree(&env);
    rotate(&env, &["--dry-run", "--keep-daily", "3", "--keep-weekly", "2"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 10 files, 20 B in 2 folders\n\
             limits (keep_daily 3, keep_weekly 2): 10 files, 6 selected, 4 kept (8 B)\n\
             would delete  soak/r70.json  2 B  70.0 days  retention\n\
             would delete  soak/r40.json  2 B  40.0 days  retention\n\
             would delete  soak/r15.json  2 B  15.0 days  retention\n\
             would delete  soak/r09.json  2 B   9.0 days  retention\n\
             would delete  soak/r05.json  2 B   5.0 days  retention\n\
             would delete  soak/r04.json  2 B   4.0 days  retention\n\
             would free 6 files, 12 B; would keep 4 files, 8 B\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
    // The rule's periods in JSON: only the ones given are written, with the time zone.
    let document =
        rotate_document(&env, &["--dry-run", "--keep-daily", "3", "--keep-weekly", "2", "--format", "json"]);
    let rule = &document.rules[0];
    assert_eq!((rule.keep_daily, rule.keep_weekly), (Some(3), Some(2)));
    assert_eq!(
        (rule.keep_last, rule.keep_hourly, rule.keep_monthly, rule.keep_yearly),
        (None, None, None, None)
    );
    assert_eq!((rule.keep_within_seconds, rule.tz.as_deref()), (None, Some("UTC")));
    assert_eq!((rule.days, rule.keep, rule.max_size), (None, None, None));
    // Every period flag lands in its own field.
    let document: Document = rotate(
        &env,
        &[
            "--dry-run",
            "--keep-last",
            "1",
            "--keep-hourly",
            "2",
            "--keep-monthly",
            "3",
            "--keep-yearly",
            "4",
            "--format",
            "json",
        ],
    )
    .code(0)
    .stdout(Expect::Anything)
    .stderr_empty()
    .run()
    .json_as();
    let rule = &document.rules[0];
    assert_eq!(
        (
            rule.keep_last,
            rule.keep_hourly,
            rule.keep_daily,
            rule.keep_weekly,
            rule.keep_monthly,
            rule.keep_yearly
        ),
        (Some(1), Some(2), None, None, Some(3), Some(4))
    );
    // The real run deletes exactly what the dry run listed.
    rotate(&env, &["--keep-daily", "3", "--keep-weekly", "2"])
        .code(0)
        .stdout_contains("freed 6 files, 12 B; kept 4 files, 8 B\n| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("artifacts/soak")), ["r01.json", "r02.json", "r03.json", "r08.json"]);
}

#[test]
fn days_with_keep_periods_is_refused_and_nothing_changes() {
    let env = TestEnv::new();
    soak_tree(&env);
    let before = snapshot(&env.path("artifacts"));
    rotate(&env, &["--days", "7", "--keep-daily", "3"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --days cannot be combined with --keep-* periods; use --keep-within (such as \
             --keep-within 7d) to keep everything younger than an age\n",
        )
        .run();
    env.write("policy.yaml", "rules:\n  - glob: 'soak/*'\n    days: 7\n    keep_weekly: 2\n");
    rotate(&env, &["--policy", "policy.yaml"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: cannot load retention policy policy.yaml: policy.yaml:2:5: rule \"soak/*\": days cannot \
             be combined with keep_* periods; use keep_within (such as keep_within: 7d) to keep everything younger \
             than an age\n",
        )
        .run();
    assert_eq!(snapshot(&env.path("artifacts")), before);
}

#[test]
fn max_size_is_a_hard_cap_after_the_periods_oldest_first() {
    let env = TestEnv::new();
    soak_tree(&env);
    // keep_daily 5 keeps r01..r05 (10 B); a 5 B cap then takes the oldest two of them.
    let document =
        rotate_document(&env, &["--dry-run", "--format", "json", "--keep-daily", "5", "--max-size", "6"]);
    let reasons: Vec<(&str, Reason)> =
        document.files.iter().map(|row| (row.path.as_str(), row.reason)).collect();
    assert_eq!(
        reasons,
        [
            ("soak/r70.json", Reason::Retention),
            ("soak/r40.json", Reason::Retention),
            ("soak/r15.json", Reason::Retention),
            ("soak/r09.json", Reason::Retention),
            ("soak/r08.json", Reason::Retention),
            ("soak/r05.json", Reason::Size),
            ("soak/r04.json", Reason::Size),
        ]
    );
    let rule = &document.rules[0];
    assert_eq!((rule.keep_daily, rule.max_size), (Some(5), Some(6)));
    assert_eq!(rule.kept_bytes, 6);
}

#[test]
fn keep_within_and_tz_decide_in_local_days() {
    let env = TestEnv::new();
    // 02:00 UTC on the 11th is 22:00 on the 10th in New York; 20:00 UTC on the 10th is 16:00
    // there; 03:00 UTC on the 10th is 23:00 on the 9th there.
    for (name, time) in
        [("a", "2025-10-11T02:00:00Z"), ("b", "2025-10-10T20:00:00Z"), ("c", "2025-10-10T03:00:00Z")]
    {
        env.write(format!("artifacts/{name}"), "x");
        env.set_mtime(format!("artifacts/{name}"), utc(time));
    }
    let selected = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--dry-run", "--format", "json"];
        all.extend_from_slice(args);
        rotate(&env, &all).code(0).stdout(Expect::Anything).stderr_empty().run().json_as::<Document>().paths()
    };
    assert_eq!(selected(&["--keep-daily", "2"]), ["c"]);
    assert_eq!(selected(&["--keep-daily", "2", "--tz", "America/New_York"]), ["b"]);
    // keep_within is an exact duration from now: b is 16 h old, c 33 h.
    assert_eq!(selected(&["--keep-daily", "1", "--keep-within", "17h"]), ["c"]);
    assert_eq!(selected(&["--keep-within", "11h"]), ["c", "b"]);
    // The time zone and keep_within are in the rule's JSON.
    let document: Document = rotate(
        &env,
        &[
            "--dry-run",
            "--keep-daily",
            "2",
            "--keep-within",
            "11h",
            "--tz",
            "America/New_York",
            "--format",
            "json",
        ],
    )
    .code(0)
    .stdout(Expect::Anything)
    .stderr_empty()
    .run()
    .json_as();
    assert_eq!(document.rules[0].tz.as_deref(), Some("America/New_York"));
    assert_eq!(document.rules[0].keep_within_seconds, Some(39_600.0));
    rotate(&env, &["--dry-run", "--keep-daily", "1", "--tz", "Europe/Berln"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --tz: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?\n",
        )
        .run();
}

#[test]
fn name_numeric_order_puts_9_before_10() {
    let env = TestEnv::new();
    // Written in the "wrong" order: the highest number is the oldest file.
    file(&env, "ITER_SUMMARY_11.json", 1, 3.0);
    file(&env, "ITER_SUMMARY_10.json", 1, 2.0);
    file(&env, "ITER_SUMMARY_9.json", 1, 1.0);
    let kept = |order: &str| -> Vec<String> {
        let document =
            rotate_document(&env, &["--dry-run", "--format", "json", "--keep", "1", "--order", order]);
        // The default mtime order is not written; the others are.
        let written = if order == "mtime" { None } else { Some(order) };
        assert_eq!(document.rules[0].order.as_deref(), written);
        let selected = document.paths();
        listing(&env.path("artifacts")).into_iter().filter(|name| !selected.contains(name)).collect()
    };
    assert_eq!(kept("mtime"), ["ITER_SUMMARY_9.json"]);
    assert_eq!(kept("name"), ["ITER_SUMMARY_9.json"]);
    assert_eq!(kept("name-numeric"), ["ITER_SUMMARY_11.json"]);
    // clap checks the value: its own error format (no `mmops:` prefix), with the close match.
    rotate(&env, &["--dry-run", "--keep", "1", "--order", "numeric"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "error: invalid value 'numeric' for '--order <ORDER>'\n  [possible values: mtime, name, name-numeric]\n\n  \
             tip: a similar value exists: 'name-numeric'\n\nFor more information, try '--help'.\n",
        )
        .run();
}

const RELEASE_POLICY: &str =
    "rules:\n  - glob: 'release/*.zip'\n    keep: 1\n    companions: ['.sha256', '.minisig']\n";

#[test]
fn companions_go_with_their_primary_and_orphans_are_selected() {
    let env = TestEnv::new();
    env.write("policy.yaml", RELEASE_POLICY);
    file(&env, "release/v1.zip", 10, 9.0);
    // A sidecar written later than its zip still goes with it.
    file(&env, "release/v1.zip.sha256", 2, 1.0);
    file(&env, "release/v1.zip.sha256.minisig", 2, 1.0);
    file(&env, "release/v2.zip", 10, 5.0);
    file(&env, "release/v2.zip.sha256", 2, 5.0);
    file(&env, "release/v0.zip.minisig", 2, 30.0);
    let document = rotate_document(&env, &["--policy", "policy.yaml", "--format", "json"]);
    assert_eq!(
        document.rows(),
        [
            ("release/v0.zip.minisig".into(), Reason::Orphan, FileResult::Deleted),
            ("release/v1.zip".into(), Reason::Count, FileResult::Deleted),
            ("release/v1.zip.sha256".into(), Reason::Count, FileResult::Deleted),
            ("release/v1.zip.sha256.minisig".into(), Reason::Count, FileResult::Deleted),
        ]
    );
    assert_eq!(document.rules[0].companions, [".sha256", ".minisig"]);
    assert_eq!(listing(&env.path("artifacts/release")), ["v2.zip", "v2.zip.sha256"]);
}

#[test]
fn shipped_policy_moves_release_sidecars_with_their_zip() {
    let env = TestEnv::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ops/rotation.yaml");
    for index in 0..12 {
        let age = 100.0 - f64::from(index);
        file(&env, &format!("release/mm-bot-v1.{index}.zip"), 10, age);
        // Sidecars re-signed last week: counted apart they would all be kept.
        file(&env, &format!("release/mm-bot-v1.{index}.zip.sha256"), 1, 7.0);
        file(&env, &format!("release/mm-bot-v1.{index}.zip.minisig"), 1, 7.0);
    }
    file(&env, "release/mm-bot-v0.9.zip.sha256", 1, 300.0);
    let document = rotate_document(&env, &["--policy", shipped.to_str().unwrap(), "--format", "json"]);
    let left = listing(&env.path("artifacts/release"));
    assert_eq!(left.len(), 30, "{left:?}");
    for index in 2..12 {
        for suffix in ["", ".sha256", ".minisig"] {
            assert!(left.contains(&format!("mm-bot-v1.{index}.zip{suffix}")), "{left:?}");
        }
    }
    let rows = document.rows();
    assert_eq!(rows[0], ("release/mm-bot-v0.9.zip.sha256".into(), Reason::Orphan, FileResult::Deleted));
    assert_eq!(rows.len(), 7);
}

#[test]
fn a_folder_unit_is_deleted_whole_and_one_holding_a_hidden_file_is_kept() {
    let env = TestEnv::new();
    // RUN_12 is last in name-numeric order, but it is set aside (its hidden file cannot go), and
    // set-aside items take no place in a count: keep_last 1 keeps RUN_11.
    env.write(
        "policy.yaml",
        "rules:\n  - glob: 'runs/RUN_*'\n    unit: dir\n    keep_last: 1\n    order: name-numeric\n",
    );
    for (run, age) in [(9, 1.0), (10, 20.0), (11, 30.0), (12, 40.0)] {
        file(&env, &format!("runs/RUN_{run}/summary.json"), 3, age);
        file(&env, &format!("runs/RUN_{run}/logs/bot.log"), 5, age + 0.5);
    }
    env.mkdir("artifacts/runs/RUN_10/logs/empty");
    env.write("artifacts/runs/RUN_12/.keep-me", "x");
    rotate(&env, &["--policy", "policy.yaml"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 8 files, 32 B in 11 folders; skipped 1 hidden\n\
             policy policy.yaml\n\
             \x20 rule runs/RUN_* (keep_last 1, order name-numeric, unit dir): 8 files, 4 selected, 4 kept (16 B)\n\
             deleted       runs/RUN_10/logs/bot.log  5 B  20.5 days  retention\n\
             deleted       runs/RUN_10/summary.json  3 B  20.0 days  retention\n\
             deleted       runs/RUN_9/logs/bot.log   5 B   1.5 days  retention\n\
             deleted       runs/RUN_9/summary.json   3 B   1.0 days  retention\n\
             removed empty folder runs/RUN_10\n\
             removed empty folder runs/RUN_10/logs\n\
             removed empty folder runs/RUN_10/logs/empty\n\
             removed empty folder runs/RUN_9\n\
             removed empty folder runs/RUN_9/logs\n\
             freed 4 files, 16 B; kept 4 files, 16 B\n\
             | rotate | OK | ROTATE=DONE |\n",
        )
        .stderr_is(
            "mmops: warning: folder runs/RUN_12 holds something rotate does not delete (a hidden or excluded \
             file, a symlink, a special file, a mount, an unreadable folder or a file of another rule), so it \
             cannot go whole; kept\n",
        )
        .run();
    assert!(!env.exists("artifacts/runs/RUN_9") && !env.exists("artifacts/runs/RUN_10"));
    assert!(env.exists("artifacts/runs/RUN_11/logs/bot.log") && env.exists("artifacts/runs/RUN_12/.keep-me"));
    assert!(env.exists("artifacts/runs/RUN_12/logs/bot.log"));
}

#[test]
fn min_free_that_cannot_be_met_exits_1_with_the_shortfall() {
    let env = TestEnv::new();
    soak_tree(&env);
    // No real filesystem is ever 100% free: the target cannot be met whatever is deleted.
    let run = rotate(&env, &["--dry-run", "--keep-daily", "3", "--min-free", "100%", "--format", "json"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_contains(" short even after deleting every file a rule with a limit keeps")
        .run();
    let document: Document = run.json_as();
    let view = document.min_free.as_ref().unwrap();
    assert_eq!(view.target, "100%");
    assert_eq!(view.target_bytes, view.total_bytes);
    assert!(view.shortfall_bytes > 0, "{view:?}");
    assert_eq!(view.shortfall_bytes, view.target_bytes - view.projected_bytes, "{view:?}");
    assert_eq!((view.selected_files, view.selected_bytes), (0, 0), "{view:?}");
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=MIN_FREE_UNMET", mirror::Status::Fail));
    // The periods keep r01-r03 and min_free never takes what a period keeps.
    assert_eq!(document.files.len(), 7);
    assert!(document.files.iter().all(|row| row.reason == Reason::Retention));
    assert!(run.stderr.starts_with("mmops: error: the free-space target 100% ("), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    // A target already met takes nothing and says so.
    rotate(&env, &["--dry-run", "--keep-daily", "3", "--min-free", "0%"])
        .code(0)
        .stdout_contains("\nfree space: ")
        .stdout_contains(", target 0% (0 B); would be ")
        .stdout_contains("| rotate | OK | ROTATE=DRYRUN |\n")
        .stderr_empty()
        .run();
    let percentage = "use a number from 0 to 100 such as 10%";
    for (bad, error) in [
        ("120%", format!("invalid free-space percentage \"120%\"; {percentage}")),
        ("x", "invalid size \"x\"; use bytes or a number with a unit such as 500M, 1.5G, 2GiB or 2GB".into()),
        ("-1%", format!("invalid free-space percentage \"-1%\"; {percentage}")),
    ] {
        let flag = format!("--min-free={bad}");
        rotate(&env, &["--dry-run", "--keep-daily", "3", &flag])
            .code(2)
            .stdout_empty()
            .stderr_is(&format!("mmops: error: --min-free: {error}\n"))
            .run();
    }
}

/// `--min-free` on a real 1 MiB tmpfs in a private mount namespace: six 128 KiB files fill
/// 768 KiB; a 60% target (614.4 KiB) needs 358.4 KiB more; the period frees 128 KiB, so exactly
/// the two oldest files of the limited rule go (reason `min_free`), while a rule without limits
/// and a keep_* period keep theirs. Under CI=true a
/// refused mount fails the test.
#[test]
fn min_free_on_a_real_tmpfs_deletes_the_oldest_until_the_target_is_met() {
    if !crate::support::mount_namespace_available() {
        return;
    }
    let env = TestEnv::new();
    env.mkdir("artifacts");
    env.write(
        "policy.yaml",
        "min_free: 60%\nrules:\n  - glob: 'pinned/*'\n  - glob: 'soak/*'\n    keep_last: 1\n  - glob: 'logs/*'\n    keep: 100\n",
    );
    let script = r#"set -e
mount -t tmpfs -o size=1M tmpfs artifacts
mkdir artifacts/logs artifacts/pinned artifacts/soak
for name in logs/a logs/b logs/c pinned/p soak/s1 soak/s2; do
    head -c 131072 /dev/zero > "artifacts/$name"
done
touch -d 2025-10-01T00:00:00Z artifacts/pinned/p
touch -d 2025-10-02T00:00:00Z artifacts/soak/s1
touch -d 2025-10-03T00:00:00Z artifacts/logs/a
touch -d 2025-10-04T00:00:00Z artifacts/soak/s2
touch -d 2025-10-05T00:00:00Z artifacts/logs/b
touch -d 2025-10-06T00:00:00Z artifacts/logs/c
"$MMOPS" rotate --policy policy.yaml --dry-run --format json > dry.json || echo "dry exit $?"
"$MMOPS" rotate --policy policy.yaml > real.txt 2> real.err || echo "real exit $?"
find artifacts/logs artifacts/pinned artifacts/soak -type f | sort
umount artifacts
"#;
    let output = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .current_dir(env.root())
        .env("MMOPS", env!("CARGO_BIN_EXE_mmops"))
        .env("CI_FAKE_UTC", NOW)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    // The dry run's stderr went to the script's: nothing.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    // s1 goes by its period (keep_last 1), then min_free takes logs/a and logs/b; pinned/p (no
    // limit) and soak/s2 (kept by a period) stay although they are older than logs/b.
    assert_eq!(stdout, "artifacts/logs/c\nartifacts/pinned/p\nartifacts/soak/s2\n");
    let dry: Document = serde_json::from_str(&env.read("dry.json")).expect("dry.json is the rotate document");
    assert_eq!(
        dry.rows(),
        [
            ("soak/s1".into(), Reason::Retention, FileResult::WouldDelete),
            ("logs/a".into(), Reason::MinFree, FileResult::WouldDelete),
            ("logs/b".into(), Reason::MinFree, FileResult::WouldDelete)
        ]
    );
    assert_eq!(
        dry.min_free,
        Some(mirror::MinFree {
            target: "60%".into(),
            target_bytes: 629_146,
            total_bytes: 1 << 20,
            available_bytes: 256 << 10,
            projected_bytes: 640 << 10,
            selected_files: 2,
            selected_bytes: 256 << 10,
            shortfall_bytes: 0,
        })
    );
    assert_eq!(dry.warnings, Vec::<String>::new());
    // The real run's lock file (one 4 KiB page on tmpfs) is written before the space is read.
    let real = env.read("real.txt");
    assert!(
        real.contains(
            "free space: 252.0 KiB available of 1.0 MiB, target 60% (614.4 KiB); projected 636.0 KiB after \
             this run (2 files taken for it, 256.0 KiB)\n"
        ),
        "{real}"
    );
    assert!(real.ends_with("| rotate | OK | ROTATE=DONE |\n"), "{real}");
    assert_eq!(env.read("real.err"), "");
}

/// splitmix64, for the seeded random trees below.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

const SIDECARS: [&str; 4] = [".sha256", ".minisig", ".sha256.minisig", ".intoto.json"];

/// Companions never split, through the real binary on seeded random release trees: after a
/// real run every sidecar whose zip was there before is present exactly when its zip is, and an
/// orphaned sidecar is gone unless something in its chain could not be deleted (future-dated
/// or excluded). `MMOPS_COMPANION_SEED` replays a seed.
#[test]
#[allow(clippy::print_stderr)] // the trial count is the test's report
fn companions_never_split_on_random_trees() {
    const TRIALS: u64 = 40;
    let seed = std::env::var("MMOPS_COMPANION_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(1717);
    let mut rng = Rng(seed);
    let mut deleted_units = 0;
    for trial in 0..TRIALS {
        let env = TestEnv::new();
        env.mkdir("artifacts/release/sub");
        let limits = [
            format!("keep: {}", rng.below(5)),
            format!("keep_daily: {}\n    keep_weekly: {}", rng.below(4), rng.below(3)),
            format!("max_size: {}", rng.below(200)),
            format!("days: {}", rng.below(200)),
            format!("keep_last: {}\n    order: name-numeric", rng.below(4)),
        ];
        let limit = &limits[rng.below(limits.len() as u64) as usize];
        env.write(
            "policy.yaml",
            format!(
                "rules:\n  - glob: 'release/**/*.zip'\n    {limit}\n    companions: ['.sha256', '.minisig', '.intoto.json']\n"
            ),
        );
        let mut present: Vec<String> = Vec::new();
        let mut pinned: Vec<String> = Vec::new(); // future-dated or excluded
        let mut excludes: Vec<String> = Vec::new();
        for stem in 0..8 {
            let folder = if rng.below(3) == 0 { "release/sub" } else { "release" };
            let primary = format!("{folder}/v{stem}.zip");
            let mut names = Vec::new();
            if rng.below(5) != 0 {
                names.push(primary.clone());
            }
            for sidecar in SIDECARS {
                if rng.below(2) == 0 {
                    names.push(format!("{primary}{sidecar}"));
                }
            }
            for name in names {
                let age = if rng.below(15) == 0 { -2.0 } else { rng.below(400 * 24) as f64 / 24.0 };
                file(&env, &name, 1 + rng.below(40) as usize, age);
                if age < 0.0 {
                    pinned.push(name.clone());
                } else if name != primary && rng.below(12) == 0 {
                    excludes.push(name.clone());
                    pinned.push(name.clone());
                }
                present.push(name);
            }
        }
        let mut args = vec!["--policy".to_string(), "policy.yaml".into(), "--allow-delete-all".into()];
        for exclude in &excludes {
            args.push("--exclude".into());
            args.push(exclude.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Future-dated files make warnings; what they say is not the point here.
        let run = rotate(&env, &args).code(0).stdout(Expect::Anything).stderr(Expect::Anything).run();
        assert!(
            run.stderr.lines().all(|line| line.starts_with("mmops: warning: ")),
            "seed {seed} trial {trial} ({limit}): {}",
            run.stderr
        );
        let exists = |name: &str| env.exists(format!("artifacts/{name}"));
        // A companion hangs on the name it extends by one listed suffix (`x.zip.sha256.minisig`
        // on `x.zip.sha256`); with that name absent it is an orphan, and so is what hangs on it.
        let parent_of = |name: &str| -> Option<String> {
            [".intoto.json", ".sha256", ".minisig"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).map(str::to_string))
        };
        for name in &present {
            let Some(parent) = parent_of(name) else { continue };
            if present.contains(&parent) {
                assert_eq!(
                    exists(name),
                    exists(&parent),
                    "seed {seed} trial {trial} ({limit}): {name} split from {parent}\n{}",
                    run.stdout
                );
            } else if !pinned.iter().any(|other| other.starts_with(name.as_str())) {
                assert!(!exists(name), "seed {seed} trial {trial}: orphan {name} kept\n{}", run.stdout);
            }
        }
        deleted_units +=
            run.stdout.lines().filter(|line| line.starts_with("deleted") && line.contains(".zip  ")).count();
    }
    eprintln!(
        "companions never split: {TRIALS} random trees, {deleted_units} zips deleted with their sidecars (seed {seed})"
    );
}

/// A file inside a run folder that an earlier rule owns pins the folder: deleting the folder's
/// other files would leave it half gone, and every real run would find it "changed".
#[test]
fn a_folder_unit_holding_a_file_of_another_rule_is_kept() {
    let env = TestEnv::new();
    env.write(
        "policy.yaml",
        "rules:\n  - glob: '**/*.pin'\n  - glob: 'runs/RUN_*'\n    unit: dir\n    keep_last: 0\n",
    );
    file(&env, "runs/RUN_1/summary.json", 3, 5.0);
    file(&env, "runs/RUN_1/verdict.pin", 3, 5.0);
    file(&env, "runs/RUN_2/summary.json", 3, 5.0);
    let warning = "folder runs/RUN_1 holds something rotate does not delete (a hidden or excluded file, a symlink, \
                   a special file, a mount, an unreadable folder or a file of another rule), so it cannot go \
                   whole; kept";
    let document: Document = rotate(&env, &["--policy", "policy.yaml", "--format", "json"])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: warning: {warning}\n"))
        .run()
        .json_as();
    assert_eq!(document.rows(), [("runs/RUN_2/summary.json".into(), Reason::Retention, FileResult::Deleted)]);
    assert_eq!(document.pruned_dirs, ["runs/RUN_2"]);
    assert_eq!(document.warnings, [warning]);
    assert_eq!(document.rules[1].unit.as_deref(), Some("dir"));
    assert_eq!(document.rules[1].keep_last, Some(0));
    assert_eq!(listing(&env.path("artifacts/runs")), ["RUN_1/summary.json", "RUN_1/verdict.pin"]);
}

/// `--min-free` takes whole units: a zip with its sidecars, a run folder with everything in it
/// (removed like any selected folder). An unmet target still deletes what it may, then exits 1.
#[test]
fn min_free_takes_companions_and_folders_whole() {
    let env = TestEnv::new();
    env.write(
        "policy.yaml",
        "rules:\n  - glob: 'release/*.zip'\n    keep: 5\n    companions: ['.sha256']\n  \
         - glob: 'runs/RUN_*'\n    unit: dir\n    keep: 5\n",
    );
    file(&env, "release/a.zip", 3, 9.0);
    file(&env, "release/a.zip.sha256", 1, 1.0);
    file(&env, "runs/RUN_1/summary.json", 3, 8.0);
    file(&env, "runs/RUN_1/logs/bot.log", 3, 2.0);
    file(&env, "notes.txt", 1, 50.0);
    let run = rotate(&env, &["--policy", "policy.yaml", "--min-free", "100%", "--format", "json"])
        .code(1)
        .stdout(Expect::Anything)
        .stderr(Expect::Anything) // one error line, asserted below
        .run();
    assert!(run.stderr.starts_with("mmops: error: the free-space target 100% ("), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let document: Document = run.json_as();
    assert_eq!(
        document.rows(),
        [
            ("release/a.zip".into(), Reason::MinFree, FileResult::Deleted),
            ("runs/RUN_1/summary.json".into(), Reason::MinFree, FileResult::Deleted),
            ("runs/RUN_1/logs/bot.log".into(), Reason::MinFree, FileResult::Deleted),
            ("release/a.zip.sha256".into(), Reason::MinFree, FileResult::Deleted),
        ]
    );
    assert_eq!(document.pruned_dirs, ["runs/RUN_1", "runs/RUN_1/logs"]);
    let view = document.min_free.as_ref().unwrap();
    assert_eq!((view.selected_files, view.selected_bytes), (4, 10));
    assert_eq!((document.marker.as_str(), document.status), ("ROTATE=MIN_FREE_UNMET", mirror::Status::Fail));
    assert_eq!(document.uncovered.files, 1);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "notes.txt"]);
}

/// A rule without limits protects its files: with `companions` alone it groups sidecars but
/// deletes nothing, not even an orphan.
#[test]
fn a_companion_rule_without_limits_protects_orphans_too() {
    let env = TestEnv::new();
    env.write("policy.yaml", "rules:\n  - glob: 'release/*.zip'\n    companions: ['.sha256']\n");
    file(&env, "release/a.zip", 3, 9.0);
    file(&env, "release/gone.zip.sha256", 1, 90.0);
    file(&env, "other", 1, 90.0);
    rotate(&env, &["--policy", "policy.yaml", "--dry-run"])
        .code(0)
        .stdout_is(
            "scanned artifacts: 3 files, 5 B in 2 folders\n\
             policy policy.yaml\n\
             \x20 rule release/*.zip (companions .sha256): 2 files, 0 selected, 2 kept (4 B)\n\
             \x20 not covered by any rule (kept): 1 file, 1 B\n\
             would free 0 files, 0 B; would keep 3 files, 5 B\n\
             | rotate | OK | ROTATE=DRYRUN |\n",
        )
        .stderr_empty()
        .run();
}

/// A FIFO or a symlink inside a run folder pins it like a hidden file; the warnings are sorted.
#[test]
fn folder_units_holding_a_fifo_or_a_symlink_are_kept_with_sorted_warnings() {
    let env = TestEnv::new();
    env.write("policy.yaml", "rules:\n  - glob: 'runs/RUN_*'\n    unit: dir\n    keep_last: 0\n");
    for run in 1..=3 {
        file(&env, &format!("runs/RUN_{run}/summary.json"), 1, f64::from(run));
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        env.path("artifacts/runs/RUN_1/pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    symlink("/etc/hostname", env.path("artifacts/runs/RUN_2/link")).unwrap();
    let held = |folder: &str| {
        format!(
            "mmops: warning: folder {folder} holds something rotate does not delete (a hidden or excluded file, a \
             symlink, a special file, a mount, an unreadable folder or a file of another rule), so it cannot go \
             whole; kept\n"
        )
    };
    rotate(&env, &["--policy", "policy.yaml", "--allow-delete-all"])
        .code(0)
        .stdout_contains("deleted       runs/RUN_3/summary.json  1 B  3.0 days  retention\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_is(&format!("{}{}", held("runs/RUN_1"), held("runs/RUN_2")))
        .run();
    assert_eq!(
        listing(&env.path("artifacts/runs")),
        ["RUN_1/pipe", "RUN_1/summary.json", "RUN_2/link", "RUN_2/summary.json"]
    );
}
