//! The alerting chain, proved with the real Prometheus tools: every tool's `--prom-file` passes
//! `promtool check metrics` (OK, FAIL and PARTIAL runs), `docs/metrics.md` lists exactly the
//! families the code writes, node_exporter exposes them all without a scrape error, the shipped
//! rules pass `promtool check rules`, and `promtool test rules` — on series built from what real
//! mmops runs wrote, scraped through a real node_exporter — shows each alert firing when it
//! should and silent when it should not. The dashboard's mmops row uses documented names only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::edge_sim::mirror::{LiveStep, Status};
use crate::prom_tools::{
    Family, NODE_EXPORTER, NODE_EXPORTER_INSTALL, NodeExporter, PROMTOOL_INSTALL, parse_exposition, promtool,
    value_of,
};
use crate::support::{Expect, TestEnv, tool_available, utc};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const RULES: &str = "deploy/prometheus/mmops_rules.yml";
/// Target labels Prometheus would add to every scraped series.
const INSTANCE: &str = "bot-1:9100";
const JOB: &str = "node";
/// A textfile written by something other than mmops, broken, to make node_exporter fail a scrape.
const FOREIGN: &str = "textfiles/foreign.prom";

fn promtool_available() -> bool {
    tool_available("promtool", PROMTOOL_INSTALL)
}

fn node_exporter_available() -> bool {
    tool_available(NODE_EXPORTER, NODE_EXPORTER_INSTALL)
}

/// `1970-01-01T00:00:00Z + seconds`: promtool's unit tests start their clock at Unix time 0, so
/// the runs feeding them use CI_FAKE_UTC near it.
fn epoch_plus(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a make-ready run ends.
#[derive(Clone, Copy, PartialEq)]
enum Release {
    /// Every step passes, the score is 100: MAKE_READY=OK.
    Ok,
    /// Score 85 under `go_at: 90, marginal_at: 80`, accepted with `--sign-off`:
    /// MAKE_READY=OK_SIGNED_OFF (exit 0).
    SignedOff,
    /// A pre-live step fails: MAKE_READY=BLOCKED.
    Blocked,
}

/// What `bundle verify` is given.
#[derive(Clone, Copy, PartialEq)]
enum Zip {
    Intact,
    /// The sidecar names another hash.
    BadSidecar,
    /// The zip cut in half (its end record gone): not a readable zip at all.
    Truncated,
}

/// One run of a tool, writing its textfile at the path given.
type Scenario<'a> = &'a dyn Fn(&str);

/// The alerts expected to fire at one instant: alert name and the labels of its series.
type Firing<'a> = Vec<(&'a str, BTreeMap<String, String>)>;

/// A scratch repository where every tool runs, writing its textfiles into `textfiles/`.
struct Lab {
    env: TestEnv,
}

impl Lab {
    fn new() -> Lab {
        // Its rotate runs go through setpriv when root: a missing one fails here with the fix.
        assert!(crate::support::nobody_available(), "setpriv is needed: apt-get install util-linux");
        let env = TestEnv::new();
        env.mkdir("textfiles");
        // make-ready's inputs: VERSION, seven perfect soak reports.
        env.write("VERSION", "1.4.0\n");
        // ... and seven with edge 1.25 bps (score 85) for a MARGINAL release.
        for day in 1..=7 {
            for (dir, edge) in [("artifacts", 3.0), ("marginal", 1.25)] {
                env.write(
                    format!("{dir}/REPORT_SOAK_202611{day:02}.json"),
                    format!("{{\"edge_net_bps\": {edge}, \"order_age_p95_ms\": 300, \"taker_share_pct\": 10, \"reg_guard\": {{\"reason\": \"NONE\"}}, \"drift\": {{\"reason\": \"NONE\"}}, \"chaos_result\": \"OK\", \"bug_bash\": \"OK\"}}"),
                );
            }
        }
        env.write(
            "cron.yaml",
            "tasks:\n  - {name: backup, artifact: jobs/backup.json, max_age: 5m}\n  - {name: report, artifact: jobs/report.json, max_age: 1h}\n  - {name: maint, artifact: jobs/maint.json, max_age: 1h, enabled: false}\n  - {name: 'odd \"name\"', artifact: jobs/odd.json, max_age: 1h}\n  - {name: hourly, artifact: jobs/odd.json, schedule: '@hourly', grace: 30m}\n",
        );
        env.write("bundle.yaml", "files:\n  - path: VERSION\n  - path: cron.yaml\n");
        Lab { env }
    }

    fn prom(&self, name: &str) -> String {
        format!("textfiles/{name}")
    }

    /// cron-sentinel at `now`: all tasks fresh, or `backup` stale and `report` missing.
    fn cron(&self, now: DateTime<Utc>, healthy: bool, prom: &str) {
        let env = &self.env;
        env.write("jobs/odd.json", "{}");
        env.set_mtime("jobs/odd.json", now - Duration::minutes(1));
        env.write("jobs/backup.json", "{}");
        if healthy {
            env.set_mtime("jobs/backup.json", now - Duration::minutes(1));
            env.write("jobs/report.json", "{}");
            env.set_mtime("jobs/report.json", now - Duration::minutes(1));
        } else {
            env.set_mtime("jobs/backup.json", now - Duration::minutes(20));
            let _ = std::fs::remove_file(env.path("jobs/report.json"));
        }
        let (code, marker) = if healthy {
            (0, "| cron_sentinel | OK | CRON_SENTINEL=OK |")
        } else {
            (1, "| cron_sentinel | FAIL | CRON_SENTINEL=FAIL |")
        };
        env.check(["cron-sentinel", "--config", "cron.yaml", "--prom-file", prom])
            .env("CI_FAKE_UTC", &rfc3339(now))
            .code(code)
            .stdout_contains(marker)
            .stderr_empty()
            .run();
    }

    /// rotate at `now` (≥ 60 s after the epoch): keeps the newest file; `partial` adds a folder
    /// nobody can read, which makes the run PARTIAL.
    fn rotate(&self, now: DateTime<Utc>, partial: bool, prom: &str) {
        let env = &self.env;
        env.write("rot/old", "x");
        env.set_mtime("rot/old", epoch_plus(1));
        env.write("rot/new", "y");
        env.set_mtime("rot/new", epoch_plus(2));
        let args = ["rotate", "--base-dir", "rot", "--keep", "1", "--prom-file", prom];
        if !partial {
            env.check(args)
                .env("CI_FAKE_UTC", &rfc3339(now))
                .code(0)
                .stdout_contains("| rotate | OK | ROTATE=DONE |")
                .stderr_empty()
                .run();
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        env.write("rot/locked/secret", "z");
        env.set_mtime("rot/locked/secret", epoch_plus(0));
        for path in ["rot", "rot/old", "rot/new", "textfiles"] {
            env.give_to_nobody(path);
        }
        for path in [prom, "rot/.mmops-rotate.lock"] {
            if env.exists(path) {
                env.give_to_nobody(path);
            }
        }
        std::fs::set_permissions(env.path("rot/locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let run = env.run_as_nobody_with_env(args, &[("CI_FAKE_UTC", &rfc3339(now))]);
        std::fs::set_permissions(env.path("rot/locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
        run.expect_code(1);
        assert!(run.stdout.ends_with("| rotate | FAIL | ROTATE=PARTIAL |\n"), "{}", run.stdout);
        assert_eq!(run.stderr, "mmops: error: cannot read rot/locked: Permission denied (os error 13)\n");
        std::fs::remove_dir_all(env.path("rot/locked")).unwrap();
    }

    /// make-ready at `now` on `branch`: one passing step, plus a failing one when blocked.
    fn make_ready(&self, now: DateTime<Utc>, release: Release, branch: &str, prom: &str) {
        let mut config = "steps:\n  - name: lint\n    run: [sh, -c, 'exit 0']\n".to_string();
        let mut args = vec!["make-ready", "--config", "make_ready.yaml", "--jobs", "2", "--prom-file", prom];
        let (code, marker) = match release {
            Release::Ok => (0, "| make_ready | OK | MAKE_READY=OK |"),
            Release::SignedOff => {
                config.push_str("scoring:\n  go_at: 90\n  marginal_at: 80\n");
                args.extend(["--reports-dir", "marginal", "--sign-off", "Ana Ruiz: holiday week"]);
                (0, "| make_ready | OK | MAKE_READY=OK_SIGNED_OFF |")
            }
            Release::Blocked => {
                config.push_str("  - name: smoke\n    run: [sh, -c, 'exit 3']\n");
                (1, "| make_ready | FAIL | MAKE_READY=BLOCKED |")
            }
        };
        self.env.write("make_ready.yaml", config);
        self.env
            .check(args)
            .env("CI_FAKE_UTC", &rfc3339(now))
            .env("GITHUB_REF_NAME", branch)
            .code(code)
            .stdout_contains(marker)
            .stderr_contains("pre-live pack:")
            .run();
    }

    /// One live step of the edge sentinel for the window closing at `close`; returns the profile.
    fn edge(&self, close: DateTime<Utc>, ema1h: f64, ema24h: f64, prom: &str) -> String {
        let (ts, ema1h, ema24h) = (rfc3339(close), ema1h.to_string(), ema24h.to_string());
        let run = self
            .env
            .check([
                "edge-sim",
                "--state",
                "edge.json",
                "--ts",
                &ts,
                "--ema1h",
                &ema1h,
                "--ema24h",
                &ema24h,
                "--prom-file",
                prom,
            ])
            .env("CI_FAKE_UTC", &ts)
            .code(0)
            .stdout_contains("| edge_sim | OK | EDGE_PROFILE=")
            .stderr_empty()
            .run();
        run.last_line().trim_end_matches(" |").rsplit('=').next().unwrap().to_string()
    }

    /// Builds the release zip (at a time zip can represent) once.
    fn bundle(&self, prom: &str) {
        self.env
            .check([
                "bundle",
                "--config",
                "bundle.yaml",
                "--no-reports",
                "--out-dir",
                "release",
                "--prom-file",
                prom,
            ])
            .env("CI_FAKE_UTC", "2026-01-01T00:00:00Z")
            .code(0)
            .stdout_contains("| bundle | OK | RELEASE_BUNDLE=release/mm-bot-v1.4.0.zip |")
            .stderr_empty()
            .run();
    }

    /// bundle verify at `now` of the zip as `zip` says (broken first, repaired after).
    fn verify(&self, now: DateTime<Utc>, zip: Zip, prom: &str) {
        const ZIP: &str = "release/mm-bot-v1.4.0.zip";
        if !self.env.exists(ZIP) {
            self.bundle(&self.prom("mmops_bundle_first.prom"));
            std::fs::remove_file(self.env.path(self.prom("mmops_bundle_first.prom"))).unwrap();
        }
        let sidecar = "release/mm-bot-v1.4.0.zip.sha256";
        let (good_sidecar, good_zip) = (self.env.read(sidecar), std::fs::read(self.env.path(ZIP)).unwrap());
        match zip {
            Zip::Intact => {}
            Zip::BadSidecar => {
                self.env.write(sidecar, format!("{}  mm-bot-v1.4.0.zip\n", "0".repeat(64)));
            }
            Zip::Truncated => {
                self.env.write(ZIP, &good_zip[..good_zip.len() / 2]);
            }
        }
        let marker = if zip == Zip::Intact {
            "| bundle_verify | OK | BUNDLE_VERIFY=OK |"
        } else {
            "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |"
        };
        let run = self
            .env
            .check(["bundle", "verify", ZIP, "--prom-file", prom])
            .env("CI_FAKE_UTC", &rfc3339(now))
            .code(i32::from(zip != Zip::Intact))
            .stdout_contains(marker)
            .stderr_empty()
            .run();
        if zip == Zip::Truncated {
            assert!(
                run.stdout.contains(
                    "FAIL release/mm-bot-v1.4.0.zip is not a readable zip archive (no end-of-central-directory record)\n"
                ),
                "{}",
                run.stdout
            );
        }
        self.env.write(sidecar, good_sidecar);
        self.env.write(ZIP, good_zip);
    }

    /// One run of every tool in every outcome, each into its own file; returns them by scenario.
    fn every_outcome(&self) -> Vec<(&'static str, PathBuf)> {
        let now = epoch_plus(3600);
        let scenarios: [(&str, Scenario); 11] = [
            ("cron_sentinel OK", &|prom| self.cron(now, true, prom)),
            ("cron_sentinel FAIL", &|prom| self.cron(now, false, prom)),
            ("rotate OK", &|prom| self.rotate(now, false, prom)),
            ("rotate PARTIAL", &|prom| self.rotate(now, true, prom)),
            ("make_ready OK", &|prom| self.make_ready(now, Release::Ok, "release/1.4", prom)),
            ("make_ready BLOCKED", &|prom| self.make_ready(now, Release::Blocked, "feature/\"x\"\\y", prom)),
            ("edge_sim live step", &|prom| {
                self.edge(epoch_plus(1800), -1.0, 0.0, prom);
            }),
            ("bundle created", &|prom| self.bundle(prom)),
            ("bundle_verify FAIL", &|prom| self.verify(now, Zip::BadSidecar, prom)),
            ("make_ready OK_SIGNED_OFF", &|prom| {
                self.make_ready(now, Release::SignedOff, "release/1.4", prom)
            }),
            ("bundle_verify truncated zip", &|prom| self.verify(now, Zip::Truncated, prom)),
        ];
        let mut written = Vec::new();
        for (index, (scenario, run)) in scenarios.iter().enumerate() {
            let prom = self.prom(&format!("scenario_{index}.prom"));
            run(&prom);
            written.push((*scenario, self.env.path(&prom)));
        }
        let prom = self.prom("scenario_verify_ok.prom");
        self.verify(now, Zip::Intact, &prom);
        written.push(("bundle_verify OK", self.env.path(&prom)));
        written
    }
}

/// One row of the table in docs/metrics.md.
#[derive(Debug, Clone, PartialEq)]
struct Documented {
    kind: String,
    labels: BTreeSet<String>,
}

fn documented_metrics() -> BTreeMap<String, Documented> {
    let text = std::fs::read_to_string(Path::new(REPO).join("docs/metrics.md")).unwrap();
    let mut table = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("| `mmops_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let labels = cells[3]
            .split(',')
            .map(|label| label.trim().trim_matches('`').to_string())
            .filter(|label| !label.is_empty())
            .collect();
        let previous = table.insert(name.clone(), Documented { kind: cells[2].to_string(), labels });
        assert!(previous.is_none(), "docs/metrics.md lists {name} twice");
    }
    table
}

/// Every `"mmops_…"` string literal in src/ (the naming rules' own tests excepted): the families
/// the code can write, whether or not a test run happened to write them.
fn metric_names_in_source() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![Path::new(REPO).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs")
                && !path.ends_with("src/prometheus.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("\"mmops_").skip(1) {
                    let end =
                        piece.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(piece.len());
                    if piece[end..].starts_with('"') {
                        names.insert(format!("mmops_{}", &piece[..end]));
                    }
                }
            }
        }
    }
    names
}

/// `promtool check metrics` on one textfile: no error and no lint warning.
fn check_metrics(text: &str, what: &str) {
    let run = promtool(&["check", "metrics"], text.as_bytes());
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{what}:\n{text}");
}

#[test]
fn shipped_rules_pass_promtool_check_rules() {
    if !promtool_available() {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(REPO).join("deploy/prometheus"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "yml" || extension == "yaml"))
        .collect();
    files.sort();
    assert!(files.iter().any(|path| path.ends_with(RULES)), "{files:?}");
    assert!(files.iter().any(|path| path.ends_with("alerts_soak.yml")), "{files:?}");
    for file in files {
        let run = promtool(&["check", "rules", file.to_str().unwrap()], b"");
        assert_eq!(run.code, 0, "promtool check rules {}:\n{}{}", file.display(), run.stdout, run.stderr);
        assert!(run.stdout.contains("SUCCESS"), "{}", run.stdout);
        assert_eq!(run.stderr, "", "{}", file.display());
    }
}

#[test]
fn every_textfile_passes_promtool_and_docs_list_exactly_the_families_written() {
    let lab = Lab::new();
    let written = lab.every_outcome();
    let documented = documented_metrics();
    let check_with_promtool = promtool_available();
    let mut seen: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for (scenario, path) in &written {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|_| panic!("{scenario}: no file {}", path.display()));
        if check_with_promtool {
            check_metrics(&text, scenario);
        }
        for family in parse_exposition(&text) {
            assert!(
                !family.help.is_empty() && !family.kind.is_empty(),
                "{scenario}: {} lacks HELP or TYPE",
                family.name
            );
            assert!(!family.samples.is_empty(), "{scenario}: {} has no sample", family.name);
            let entry =
                seen.entry(family.name.clone()).or_insert_with(|| (family.kind.clone(), BTreeSet::new()));
            assert_eq!(entry.0, family.kind, "{} changes type between runs", family.name);
            for (labels, _) in &family.samples {
                entry.1.extend(labels.keys().cloned());
            }
        }
    }
    let seen_names: BTreeSet<&String> = seen.keys().collect();
    let documented_names: BTreeSet<&String> = documented.keys().collect();
    assert_eq!(seen_names, documented_names, "families written by the runs vs docs/metrics.md");
    for (name, (kind, labels)) in &seen {
        assert_eq!(
            (kind, labels),
            (&documented[name].kind, &documented[name].labels),
            "{name} in docs/metrics.md"
        );
    }
    let in_source = metric_names_in_source();
    assert_eq!(
        in_source.iter().collect::<BTreeSet<_>>(),
        documented_names,
        "metric names in src/ vs docs/metrics.md"
    );

    // Values the runs must have written, and escaping of awkward label values.
    let read = |index: usize| parse_exposition(&std::fs::read_to_string(&written[index].1).unwrap());
    let cron_fail = read(1);
    let fresh = cron_fail.iter().find(|family| family.name == "mmops_cron_sentinel_task_fresh").unwrap();
    let by_task: BTreeMap<&str, f64> =
        fresh.samples.iter().map(|(labels, value)| (labels["task"].as_str(), *value)).collect();
    assert_eq!(
        by_task,
        BTreeMap::from([
            ("backup", 0.0),
            ("hourly", 1.0),
            ("maint", 0.0),
            ("odd \"name\"", 1.0),
            ("report", 0.0)
        ])
    );
    assert_eq!(value_of(&read(3), "mmops_rotate_success"), Some(0.0));
    assert_eq!(value_of(&read(2), "mmops_rotate_success"), Some(1.0));
    let blocked = read(5);
    assert_eq!(value_of(&blocked, "mmops_make_ready_success"), Some(0.0));
    let info = blocked.iter().find(|family| family.name == "mmops_make_ready_info").unwrap();
    assert_eq!(info.samples[0].0["branch"], "feature/\"x\"\\y");
    assert_eq!(value_of(&read(4), "mmops_make_ready_success"), Some(1.0));
    assert_eq!(value_of(&read(8), "mmops_bundle_verify_success"), Some(0.0));
    assert_eq!(value_of(&read(11), "mmops_bundle_verify_success"), Some(1.0));
    // Regression: a signed-off MARGINAL release (exit 0) was exported as success 0, which paged
    // MmopsMakeReadyBlocked; and the GO threshold was --min-score even under scoring.go_at.
    let thresholds = |index: usize| {
        let families = read(index);
        [
            "mmops_make_ready_success",
            "mmops_make_ready_signed_off",
            "mmops_make_ready_readiness_score",
            "mmops_make_ready_readiness_go_threshold",
            "mmops_make_ready_readiness_marginal_threshold",
        ]
        .map(|name| value_of(&families, name).unwrap_or_else(|| panic!("{}: no {name}", written[index].0)))
    };
    assert_eq!(thresholds(4), [1.0, 0.0, 100.0, 100.0, 100.0], "OK under --min-score 100");
    assert_eq!(thresholds(9), [1.0, 1.0, 85.0, 90.0, 80.0], "OK_SIGNED_OFF under go_at 90, marginal_at 80");
    assert_eq!(thresholds(5)[..2], [0.0, 0.0], "BLOCKED");
    // Regression: a zip that is not a zip (truncated) was exit 2 with no textfile, so the last
    // good verify's success 1 stayed in place.
    let truncated = read(10);
    assert_eq!(value_of(&truncated, "mmops_bundle_verify_success"), Some(0.0));
    // Not a zip, and (cut short) no longer the bytes its sidecar and its provenance name.
    assert_eq!(value_of(&truncated, "mmops_bundle_verify_problems"), Some(3.0));
    assert_eq!(value_of(&read(4), "mmops_make_ready_last_run_timestamp_seconds"), Some(3600.0));
    let textfiles: Vec<String> = std::fs::read_dir(lab.env.path("textfiles"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".mmops-tmp-"))
        .collect();
    assert_eq!(textfiles, Vec::<String>::new(), "no temporary file left behind");
}

#[test]
fn node_exporter_exposes_every_family_without_a_scrape_error() {
    if !node_exporter_available() {
        return;
    }
    let lab = Lab::new();
    // One file per tool, as on a host (two files holding the same series would break the scrape).
    let now = epoch_plus(3600);
    lab.cron(now, false, &lab.prom("mmops_cron.prom"));
    lab.rotate(now, true, &lab.prom("mmops_rotate.prom"));
    lab.make_ready(now, Release::Blocked, "release/1.4", &lab.prom("mmops_make_ready.prom"));
    lab.edge(epoch_plus(1800), -1.0, 0.0, &lab.prom("mmops_edge_sim.prom"));
    lab.bundle(&lab.prom("mmops_bundle.prom"));
    lab.verify(now, Zip::BadSidecar, &lab.prom("mmops_bundle_verify.prom"));
    if promtool_available() {
        for name in [
            "mmops_cron",
            "mmops_rotate",
            "mmops_make_ready",
            "mmops_edge_sim",
            "mmops_bundle",
            "mmops_bundle_verify",
        ] {
            let prom = lab.prom(&format!("{name}.prom"));
            check_metrics(&lab.env.read(&prom), &prom);
        }
    }
    let exporter = NodeExporter::start(&lab.env.path("textfiles"));
    let scraped = parse_exposition(&exporter.scrape());
    drop(exporter);
    assert_eq!(value_of(&scraped, "node_textfile_scrape_error"), Some(0.0));
    let exposed: BTreeSet<&str> =
        scraped.iter().map(|family| family.name.as_str()).filter(|name| name.starts_with("mmops_")).collect();
    let documented = documented_metrics();
    assert_eq!(
        exposed,
        documented.keys().map(String::as_str).collect(),
        "families node_exporter exposes vs docs/metrics.md"
    );
    let mtimes = scraped.iter().find(|family| family.name == "node_textfile_mtime_seconds").unwrap();
    let mut files: Vec<String> = mtimes
        .samples
        .iter()
        .map(|(labels, _)| Path::new(&labels["file"]).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "mmops_bundle.prom",
            "mmops_bundle_verify.prom",
            "mmops_cron.prom",
            "mmops_edge_sim.prom",
            "mmops_make_ready.prom",
            "mmops_rotate.prom"
        ]
    );
}

/// The rules file as far as the expected alerts need it: each alert's labels and annotations.
#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// `{{ $labels.x }}` expanded as Prometheus does (the summaries use nothing else).
fn render(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed template") + start;
        let inner = rest[start + 2..end].trim();
        let key = inner.strip_prefix("$labels.").unwrap_or_else(|| panic!("unexpected template {inner}"));
        out.push_str(labels.get(key).map_or("", String::as_str));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What node_exporter exposed over time: each scrape holds from its instant until the next.
struct Timeline {
    lab: Lab,
    exporter: NodeExporter,
    scrapes: Vec<(i64, Vec<Family>)>,
}

impl Timeline {
    fn new() -> Timeline {
        let lab = Lab::new();
        let exporter = NodeExporter::start(&lab.env.path("textfiles"));
        Timeline { lab, exporter, scrapes: Vec::new() }
    }

    /// After runs at `at`: the files they wrote get that instant as mtime (as if the clock were
    /// then), and node_exporter is scraped.
    fn scrape_at(&mut self, at: i64, written: &[&str]) {
        for prom in written {
            self.lab.env.set_mtime(prom, epoch_plus(at));
            check_metrics(&self.lab.env.read(prom), prom);
        }
        let families: Vec<Family> = parse_exposition(&self.exporter.scrape())
            .into_iter()
            .filter(|family| family.name.starts_with("mmops_") || family.name.starts_with("node_textfile_"))
            .collect();
        // Only a file mmops did not write (the foreign one a test plants) may break the scrape.
        let foreign = self.lab.env.exists(FOREIGN);
        assert_eq!(value_of(&families, "node_textfile_scrape_error"), Some(f64::from(u8::from(foreign))));
        self.scrapes.push((at, families));
    }

    /// The scrape in force at `at`.
    fn at(&self, at: i64) -> &[Family] {
        &self.scrapes.iter().rev().find(|(instant, _)| *instant <= at).expect("a scrape before").1
    }

    /// promtool input series, one sample a minute from 0 to `end`, with the target labels added.
    fn input_series(&self, end: i64) -> Vec<serde_json::Value> {
        let minutes = end / 60;
        let mut series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        for minute in 0..=minutes {
            let Some((_, families)) = self.scrapes.iter().rev().find(|(instant, _)| *instant <= minute * 60)
            else {
                continue;
            };
            for family in families {
                for (labels, value) in &family.samples {
                    let mut labels = labels.clone();
                    labels.insert("instance".into(), INSTANCE.into());
                    labels.insert("job".into(), JOB.into());
                    let rendered: Vec<String> = labels
                        .iter()
                        .map(|(key, value)| {
                            format!("{key}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
                        })
                        .collect();
                    let key = format!("{}{{{}}}", family.name, rendered.join(","));
                    series.entry(key).or_insert_with(|| vec![None; minutes as usize + 1])[minute as usize] =
                        Some(*value);
                }
            }
        }
        series
            .into_iter()
            .map(|(key, values)| serde_json::json!({"series": key, "values": encode(&values)}))
            .collect()
    }
}

/// promtool's expanding notation: `v+0xN` is v repeated N+1 times, `_xN` is N missing samples.
fn encode(values: &[Option<f64>]) -> String {
    let mut parts = Vec::new();
    let mut index = 0;
    while index < values.len() {
        let run = values[index..].iter().take_while(|value| **value == values[index]).count();
        parts.push(match values[index] {
            None => format!("_x{run}"),
            Some(value) if run == 1 => format!("{value}"),
            Some(value) => format!("{value}+0x{}", run - 1),
        });
        index += run;
    }
    parts.join(" ")
}

/// The labels of the series an alert is about, plus the target labels.
fn target(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> =
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    labels.insert("instance".into(), INSTANCE.into());
    labels.insert("job".into(), JOB.into());
    labels
}

/// One promtool test: the series of a timeline, and at each instant the alerts that must fire
/// (every other alert of the file must be silent then).
fn promtool_test(
    timeline: &Timeline,
    end: i64,
    rules: &[Rule],
    ignored: &[&str],
    checks: &[(i64, Firing<'_>)],
) -> serde_json::Value {
    let mut alert_tests = Vec::new();
    for (at, firing) in checks {
        for rule in rules {
            let name = rule.alert.as_deref().unwrap();
            if ignored.contains(&name) {
                continue;
            }
            let expected: Vec<serde_json::Value> = firing
                .iter()
                .filter(|(alert, _)| *alert == name)
                .map(|(_, series)| {
                    let mut labels = series.clone();
                    labels.extend(rule.labels.clone());
                    let annotations: BTreeMap<&String, String> =
                        rule.annotations.iter().map(|(key, text)| (key, render(text, &labels))).collect();
                    serde_json::json!({"exp_labels": labels, "exp_annotations": annotations})
                })
                .collect();
            alert_tests.push(
                serde_json::json!({"eval_time": format!("{at}s"), "alertname": name, "exp_alerts": expected}),
            );
        }
    }
    for (alert, _) in checks.iter().flat_map(|(_, firing)| firing) {
        assert!(rules.iter().any(|rule| rule.alert.as_deref() == Some(alert)), "no alert {alert} in {RULES}");
    }
    serde_json::json!({"interval": "1m", "input_series": timeline.input_series(end), "alert_rule_test": alert_tests})
}

#[test]
fn alert_rules_fire_and_stay_silent_on_series_real_runs_wrote() {
    if !promtool_available() || !node_exporter_available() {
        return;
    }
    let rules_path = Path::new(REPO).join(RULES);
    let rule_file: RuleFile = serde_saphyr::from_str(&std::fs::read_to_string(&rules_path).unwrap()).unwrap();
    let rules: Vec<Rule> = rule_file
        .groups
        .into_iter()
        .flat_map(|group| group.rules)
        .filter(|rule| rule.alert.is_some())
        .collect();
    let (minute, hour) = (60, 3600);
    let mut tests = Vec::new();

    // 1. Everything healthy at 20m, then every job stops: silence first, then the staleness alerts.
    let mut healthy = Timeline::new();
    let lab = &healthy.lab;
    let start = 20 * minute;
    let files = [
        "mmops_cron.prom",
        "mmops_rotate.prom",
        "mmops_make_ready.prom",
        "mmops_edge_sim.prom",
        "mmops_bundle_verify.prom",
    ]
    .map(|name| lab.prom(name));
    lab.cron(epoch_plus(start), true, &files[0]);
    lab.rotate(epoch_plus(start), false, &files[1]);
    lab.make_ready(epoch_plus(start), Release::Ok, "release/1.4", &files[2]);
    lab.edge(epoch_plus(start), 1.0, 2.0, &files[3]);
    lab.verify(epoch_plus(start), Zip::Intact, &files[4]);
    healthy.scrape_at(start, &files.each_ref().map(String::as_str));
    // At 40m a MARGINAL release signed off on the release branch: it ships, nobody is paged.
    let signed_off = 40 * minute;
    healthy.lab.make_ready(epoch_plus(signed_off), Release::SignedOff, "release/1.4", &files[2]);
    healthy.scrape_at(signed_off, &[&files[2]]);
    let stale_files: Vec<String> = healthy
        .at(start)
        .iter()
        .find(|family| family.name == "node_textfile_mtime_seconds")
        .unwrap()
        .samples
        .iter()
        .map(|(labels, _)| labels["file"].clone())
        .filter(|file| !file.ends_with("/mmops_make_ready.prom"))
        .collect();
    assert_eq!(stale_files.len(), 4, "{stale_files:?}");
    let rotate_dir = [("base_dir", "rot")];
    let end = 27 * hour;
    // The edge live step's last run was at 20m: over an hour old from 1h20m, firing 15m later.
    let stopped = vec![("MmopsCronSentinelNotRunning", target(&[])), ("MmopsEdgeSimNotRunning", target(&[]))];
    let mut at_27h = stopped.clone();
    at_27h.push(("MmopsRotateNotRunning", target(&rotate_dir)));
    at_27h.extend(stale_files.iter().map(|file| ("MmopsTextfileStale", target(&[("file", file)]))));
    tests.push(promtool_test(
        &healthy,
        end,
        &rules,
        &[],
        &[
            (30 * minute, vec![]),
            (signed_off + 5 * minute, vec![]),
            (start + hour - 5 * minute, vec![]),
            (start + hour + 10 * minute, vec![("MmopsCronSentinelNotRunning", target(&[]))]),
            (start + hour + 20 * minute, stopped.clone()),
            (start + 26 * hour - 5 * minute, stopped),
            (end, at_27h),
        ],
    ));
    drop(healthy);

    // 2. Failures at 20m (stale and missing tasks, PARTIAL rotation, BLOCKED release, tampered
    //    bundle); cron-sentinel sees every task fresh again at 40m.
    let mut failing = Timeline::new();
    let lab = &failing.lab;
    let files = ["mmops_cron.prom", "mmops_rotate.prom", "mmops_make_ready.prom", "mmops_bundle_verify.prom"]
        .map(|name| lab.prom(name));
    lab.cron(epoch_plus(start), false, &files[0]);
    lab.rotate(epoch_plus(start), true, &files[1]);
    lab.make_ready(epoch_plus(start), Release::Blocked, "release/1.4", &files[2]);
    lab.verify(epoch_plus(start), Zip::BadSidecar, &files[3]);
    failing.scrape_at(start, &files.each_ref().map(String::as_str));
    let recovered = 40 * minute;
    failing.lab.cron(epoch_plus(recovered), true, &files[0]);
    failing.scrape_at(recovered, &[&files[0]]);
    let results = vec![
        ("MmopsRotateFailed", target(&rotate_dir)),
        ("MmopsMakeReadyBlocked", target(&[("branch", "release/1.4"), ("version", "1.4.0")])),
        ("MmopsBundleVerifyFailed", target(&[("bundle", "mm-bot-v1.4.0.zip")])),
    ];
    let with = |extra: &[(&'static str, BTreeMap<String, String>)]| {
        let mut all = results.clone();
        all.extend_from_slice(extra);
        all
    };
    let not_fresh = [
        ("MmopsCronTaskNotFresh", target(&[("task", "backup")])),
        ("MmopsCronTaskNotFresh", target(&[("task", "report")])),
    ];
    tests.push(promtool_test(
        &failing,
        2 * hour,
        &rules,
        &[],
        &[
            (25 * minute, with(&[])),
            (35 * minute, with(&not_fresh)),
            // Fresh again since 40m, but keep_firing_for holds the alert for 30 minutes.
            (recovered + 25 * minute, with(&not_fresh)),
            (recovered + 35 * minute, with(&[])),
        ],
    ));
    drop(failing);

    // 3. BLOCKED on a feature branch: not a release, no page.
    let mut feature = Timeline::new();
    let prom = feature.lab.prom("mmops_make_ready.prom");
    feature.lab.make_ready(epoch_plus(start), Release::Blocked, "feature/faster-quotes", &prom);
    feature.scrape_at(start, &[&prom]);
    // From 2h to 3h another program's broken textfile sits in the folder.
    feature.lab.env.write(FOREIGN, "this is not the text format\n");
    feature.scrape_at(2 * hour, &[]);
    std::fs::remove_file(feature.lab.env.path(FOREIGN)).unwrap();
    feature.scrape_at(3 * hour, &[]);
    // Nothing else runs on this host: the absence alerts fire once their `for` has passed, and
    // the old make-ready file is not "stale" (release runs are not scheduled).
    tests.push(promtool_test(
        &feature,
        27 * hour,
        &rules,
        &[],
        &[
            (30 * minute, vec![]),
            (hour + 10 * minute, vec![("MmopsCronSentinelAbsent", BTreeMap::new())]),
            (
                2 * hour + 5 * minute,
                vec![("MmopsCronSentinelAbsent", BTreeMap::new()), ("MmopsTextfileScrapeError", target(&[]))],
            ),
            (3 * hour + 5 * minute, vec![("MmopsCronSentinelAbsent", BTreeMap::new())]),
            (
                27 * hour,
                vec![("MmopsCronSentinelAbsent", BTreeMap::new()), ("MmopsRotateAbsent", BTreeMap::new())],
            ),
        ],
    ));
    drop(feature);

    // 4. The edge degrades to Conservative and stays there, then recovers.
    let mut stuck = Timeline::new();
    let prom = stuck.lab.prom("mmops_edge_sim.prom");
    let (mut switched, mut recovered) = (None, None);
    let mut close = 30 * minute;
    while close <= 16 * hour {
        let recovering = close >= 15 * hour;
        let profile = stuck.lab.edge(
            epoch_plus(close),
            if recovering { 1.0 } else { -1.0 },
            if recovering { 2.0 } else { 0.0 },
            &prom,
        );
        stuck.scrape_at(close, &[&prom]);
        if profile == "Conservative" && switched.is_none() {
            switched = Some(close);
        }
        if profile == "Moderate" && switched.is_some() && recovered.is_none() {
            recovered = Some(close);
        }
        close += 30 * minute;
    }
    let (switched, recovered) = (switched.expect("reached Conservative"), recovered.expect("recovered"));
    let conservative = [("MmopsEdgeStuckConservative", target(&[("profile", "Conservative")]))];
    tests.push(promtool_test(
        &stuck,
        16 * hour,
        &rules,
        &["MmopsCronSentinelAbsent"],
        &[
            (switched + 11 * hour + 50 * minute, vec![]),
            (switched + 12 * hour + 10 * minute, conservative.to_vec()),
            (recovered + 20 * minute, conservative.to_vec()),
            (recovered + 40 * minute, vec![]),
        ],
    ));
    drop(stuck);

    // 5. The edge flaps: degrade after three bad windows, recover on the next good one, again.
    let mut flapping = Timeline::new();
    let prom = flapping.lab.prom("mmops_edge_sim.prom");
    let mut reached: BTreeMap<u64, i64> = BTreeMap::new();
    for window in 1..=16 {
        let close = window * 30 * minute;
        let good = window % 4 == 0;
        flapping.lab.edge(
            epoch_plus(close),
            if good { 1.0 } else { -1.0 },
            if good { 2.0 } else { 0.0 },
            &prom,
        );
        flapping.scrape_at(close, &[&prom]);
        let changes = value_of(flapping.at(close), "mmops_edge_sim_policy_changes_total").unwrap() as u64;
        reached.entry(changes).or_insert(close);
    }
    let (fourth, fifth) = (reached[&4], reached[&5]);
    assert!(fifth - reached[&1] < 6 * hour, "five changes within 6 hours: {reached:?}");
    tests.push(promtool_test(
        &flapping,
        8 * hour + 30 * minute,
        &rules,
        &["MmopsCronSentinelAbsent"],
        &[(fourth + minute, vec![]), (fifth + minute, vec![("MmopsEdgeProfileFlapping", target(&[]))])],
    ));
    drop(flapping);

    // 6. The deployed bundle verifies at 20m; at 1h its zip is found truncated (not a zip at all).
    //    Regression: that was exit 2 with no textfile, so the good result stayed and nobody knew.
    let mut damaged = Timeline::new();
    let prom = damaged.lab.prom("mmops_bundle_verify.prom");
    damaged.lab.verify(epoch_plus(start), Zip::Intact, &prom);
    damaged.scrape_at(start, &[&prom]);
    damaged.lab.verify(epoch_plus(hour), Zip::Truncated, &prom);
    damaged.scrape_at(hour, &[&prom]);
    tests.push(promtool_test(
        &damaged,
        2 * hour,
        &rules,
        &["MmopsCronSentinelAbsent"],
        &[
            (hour - minute, vec![]),
            (hour + minute, vec![("MmopsBundleVerifyFailed", target(&[("bundle", "mm-bot-v1.4.0.zip")]))]),
        ],
    ));
    drop(damaged);

    // Every alert of the file is expected to fire somewhere, and to stay silent elsewhere.
    let mut never_fired: BTreeSet<&str> = rules.iter().filter_map(|rule| rule.alert.as_deref()).collect();
    for test in &tests {
        for check in test["alert_rule_test"].as_array().unwrap() {
            if !check["exp_alerts"].as_array().unwrap().is_empty() {
                never_fired.remove(check["alertname"].as_str().unwrap());
            }
        }
    }
    assert_eq!(never_fired, BTreeSet::new(), "alerts no scenario makes fire");

    let dir = tempfile::tempdir().unwrap();
    let test_file = dir.path().join("mmops_rules_test.json");
    let document = serde_json::json!({
        "rule_files": [rules_path.to_str().unwrap()],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    std::fs::write(&test_file, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let run = promtool(&["test", "rules", test_file.to_str().unwrap()], b"");
    assert_eq!(run.code, 0, "promtool test rules:\n{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("SUCCESS"), "{}", run.stdout);
    assert_eq!(run.stderr, "");

    // The test can fail: a rule file whose flapping threshold is off by one makes promtool fail.
    let broken_rules = dir.path().join("broken_rules.yml");
    let text = std::fs::read_to_string(&rules_path).unwrap();
    std::fs::write(&broken_rules, text.replace("[6h]) > 4", "[6h]) > 3")).unwrap();
    let mut broken = document.clone();
    broken["rule_files"] = serde_json::json!([broken_rules.to_str().unwrap()]);
    let broken_file = dir.path().join("broken_test.json");
    std::fs::write(&broken_file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let run = promtool(&["test", "rules", broken_file.to_str().unwrap()], b"");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("alertname: MmopsEdgeProfileFlapping"), "{}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("alertname: MmopsCron"), "only the flapping alert is off: {}", run.stderr);
}

#[test]
fn dashboard_mmops_row_queries_only_documented_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(REPO).join("deploy/grafana/dashboards/mm_operability.json"))
            .unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let row = panels
        .iter()
        .position(|panel| panel["type"] == "row" && panel["title"] == "mmops")
        .expect("an mmops row");
    let documented = documented_metrics();
    let mut queried = BTreeSet::new();
    for panel in panels[row + 1..].iter().take_while(|panel| panel["type"] != "row") {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names_in_query(expr);
            assert!(!names.is_empty(), "panel {}: {expr} queries no metric", panel["title"]);
            for name in names {
                assert!(
                    documented.contains_key(&name),
                    "panel {}: {name} is not in docs/metrics.md",
                    panel["title"]
                );
                queried.insert(name);
            }
        }
    }
    assert!(queried.len() >= 8, "{queried:?}");
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords, label
/// names (inside `{}` or the lists of by/on/ignoring/group_left), durations or numbers.
fn metric_names_in_query(expr: &str) -> Vec<String> {
    // Aggregations may put `by (…)` before their parenthesis: `max by (profile) (x)`.
    const KEYWORDS: [&str; 22] = [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let (mut index, mut depth_braces, mut depth_brackets) = (0, 0, 0);
    let mut label_list = false;
    while index < bytes.len() {
        let character = bytes[index] as char;
        match character {
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            ')' => label_list = false,
            '"' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = index;
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_' || bytes[index] == b':')
                {
                    index += 1;
                }
                let word = &expr[start..index];
                let next = expr[index..].trim_start().chars().next();
                let in_list = label_list;
                if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word) {
                    label_list = true;
                } else if depth_braces == 0
                    && depth_brackets == 0
                    && !in_list
                    && next != Some('(')
                    && !KEYWORDS.contains(&word)
                {
                    names.push(word.to_string());
                }
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    names
}

#[test]
fn query_parser_finds_metric_names_only() {
    assert_eq!(
        metric_names_in_query(
            "count(a_b{x=\"y\"} == 0 unless c) * on (instance, job) group_left (v) d + changes(e[6h]) or vector(0)"
        ),
        ["a_b", "c", "d", "e"]
    );
}

#[test]
fn a_prom_file_that_cannot_be_written_is_exit_2_and_nothing_changes() {
    let env = TestEnv::new();
    env.mkdir("artifacts"); // make-ready's reports folder (a missing one is exit 2 by itself)
    env.mkdir("textfiles/taken.prom");
    for (prom, message) in [
        (
            "textfiles/edge.txt",
            "mmops: error: --prom-file textfiles/edge.txt: node_exporter's textfile collector reads only files ending in .prom; give the file a .prom name\n",
        ),
        (
            "textfiles/taken.prom",
            "mmops: error: cannot write the Prometheus file textfiles/taken.prom (--prom-file): textfiles/taken.prom is a folder, not a regular file; remove it or choose another path\n",
        ),
    ] {
        env.check([
            "edge-sim",
            "--state",
            "edge.json",
            "--ts",
            "1800",
            "--ema1h",
            "0",
            "--ema24h",
            "0",
            "--prom-file",
            prom,
        ])
        .code(2)
        .stdout_empty()
        .stderr_is(message)
        .run();
        assert!(!env.exists("edge.json"), "the live step did not run");
    }
    env.write("VERSION", "1.4.0\n");
    env.check(["make-ready", "--skip-pre-live", "--prom-file", "textfiles/taken.prom"])
        .code(2)
        .stdout_empty()
        .stderr_contains("textfiles/taken.prom is a folder, not a regular file")
        .run();
    assert!(!env.exists("artifacts/reports/readiness.json"), "make-ready wrote nothing");
    env.check(["bundle", "--dry-run", "--prom-file", "textfiles/x.prom"])
        .code(2)
        .stdout_empty()
        .stderr_contains("error: the argument '--dry-run' cannot be used with '--prom-file <PATH>'")
        .run();
    // Regression: rotate and cron-sentinel skipped these checks. `rotate --prom-file x.txt` exited
    // 0 writing a file node_exporter ignores; `--prom-file` naming the task list replaced it; a
    // textfile inside the base dir became an artifact the next rotation counts and deletes.
    env.write("rot/old", "x");
    env.set_mtime("rot/old", utc("2025-01-01T00:00:00Z"));
    env.write("rot/new", "y");
    let policy = "rules:\n  - {name: all, match: '**', keep: 1}\n";
    env.write("p.prom", policy);
    let cron = "tasks:\n  - {name: backup, artifact: backup.json, max_age: 1h}\n";
    env.write("c.prom", cron);
    std::os::unix::fs::symlink("rot", env.path("link")).unwrap();
    for (args, message) in [
        (
            vec!["rotate", "--base-dir", "rot", "--keep", "1", "--prom-file", "textfiles/rot.txt"],
            "mmops: error: --prom-file textfiles/rot.txt: node_exporter's textfile collector reads only files ending in .prom; give the file a .prom name\n",
        ),
        (
            vec![
                "rotate",
                "--dry-run",
                "--base-dir",
                "rot",
                "--keep",
                "1",
                "--prom-file",
                "textfiles/rot.txt",
            ],
            "mmops: error: --prom-file textfiles/rot.txt: node_exporter's textfile collector reads only files ending in .prom; give the file a .prom name\n",
        ),
        (
            vec!["rotate", "--base-dir", "rot", "--policy", "p.prom", "--prom-file", "./p.prom"],
            "mmops: error: --prom-file ./p.prom is also the --policy file; give the Prometheus file its own path\n",
        ),
        (
            vec![
                "rotate",
                "--base-dir",
                "rot",
                "--keep",
                "1",
                "--prom-file",
                "textfiles/../rot/mmops_rotate.prom",
            ],
            "mmops: error: --prom-file textfiles/../rot/mmops_rotate.prom is inside --base-dir rot, where the rotation would count it as an artifact and delete it; write it to node_exporter's textfile folder instead; nothing was deleted\n",
        ),
        // Through a symlink, into a folder not made yet: still inside the base dir.
        (
            vec!["rotate", "--base-dir", "rot", "--keep", "1", "--prom-file", "link/new/m.prom"],
            "mmops: error: --prom-file link/new/m.prom is inside --base-dir rot, where the rotation would count it as an artifact and delete it; write it to node_exporter's textfile folder instead; nothing was deleted\n",
        ),
        (
            vec!["cron-sentinel", "--config", "c.prom", "--prom-file", "textfiles/cron.txt"],
            "mmops: error: --prom-file textfiles/cron.txt: node_exporter's textfile collector reads only files ending in .prom; give the file a .prom name\n",
        ),
        (
            vec!["cron-sentinel", "--config", "c.prom", "--prom-file", "textfiles/../c.prom"],
            "mmops: error: --prom-file textfiles/../c.prom is also the --config file; give the Prometheus file its own path\n",
        ),
    ] {
        env.check(&args).code(2).stdout_empty().stderr_is(message).run();
        assert!(env.exists("rot/old"), "{args:?}: nothing was deleted");
        assert_eq!(env.read("p.prom"), policy, "{args:?}");
        assert_eq!(env.read("c.prom"), cron, "{args:?}");
    }
    let names: Vec<String> = std::fs::read_dir(env.path("textfiles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["taken.prom"]);
    let names: Vec<String> = std::fs::read_dir(env.path("rot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(".mmops-rotate.lock"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["new", "old"]);
}

#[test]
fn prom_file_timestamps_follow_the_runs_clock() {
    let env = TestEnv::new();
    let run_at = utc("2026-03-01T12:00:00Z");
    env.check([
        "edge-sim",
        "--state",
        "edge.json",
        "--ts",
        "2026-03-01T11:45:00Z",
        "--ema1h",
        "0",
        "--ema24h",
        "0",
        "--prom-file",
        "edge.prom",
    ])
    .env("CI_FAKE_UTC", &rfc3339(run_at))
    .code(0)
    .stdout_contains("| edge_sim | OK | EDGE_PROFILE=Moderate |")
    .stderr_empty()
    .run();
    let families = parse_exposition(&env.read("edge.prom"));
    assert_eq!(
        value_of(&families, "mmops_edge_sim_last_run_timestamp_seconds"),
        Some(run_at.timestamp() as f64)
    );
    // 11:45 falls in the window closing at 12:00.
    assert_eq!(
        value_of(&families, "mmops_edge_sim_last_window_timestamp_seconds"),
        Some(run_at.timestamp() as f64)
    );
    let profile = families.iter().find(|family| family.name == "mmops_edge_sim_profile").unwrap();
    let shown: Vec<(&str, f64)> =
        profile.samples.iter().map(|(labels, value)| (labels["profile"].as_str(), *value)).collect();
    assert_eq!(shown, [("Conservative", 0.0), ("Moderate", 1.0)]);
}

#[test]
fn make_ready_branch_label_comes_from_the_checkout_without_github() {
    let env = TestEnv::new();
    env.mkdir("artifacts"); // make-ready's reports folder (a missing one is exit 2 by itself)
    env.write("VERSION", "1.4.0\n");
    let branch_of = |env: &TestEnv| {
        // An empty GITHUB_REF_NAME counts as unset (the variable is not inherited either way).
        env.check(["make-ready", "--skip-pre-live", "--prom-file", "mmops_make_ready.prom"])
            .env("GITHUB_REF_NAME", "")
            .code(1)
            .stdout_contains("| make_ready | FAIL | MAKE_READY=BLOCKED |")
            .stderr_contains("pre-live pack skipped")
            .run();
        let families = parse_exposition(&env.read("mmops_make_ready.prom"));
        let info = families.iter().find(|family| family.name == "mmops_make_ready_info").unwrap();
        info.samples[0].0["branch"].clone()
    };
    assert_eq!(branch_of(&env), "", "no repository: empty label");
    env.write(".git/HEAD", "ref: refs/heads/release/1.5\n");
    assert_eq!(branch_of(&env), "release/1.5");
    env.write(".git/HEAD", "3f786850e387550fdab836ed7e6dc881de23001b\n");
    assert_eq!(branch_of(&env), "", "detached HEAD: empty label");
    // A worktree: `.git` is a file naming the real git folder.
    std::fs::remove_dir_all(env.path(".git")).unwrap();
    env.write("gitdirs/wt/HEAD", "ref: refs/heads/release\n");
    env.write(".git", format!("gitdir: {}\n", env.path("gitdirs/wt").display()));
    assert_eq!(branch_of(&env), "release");
}

/// Regression: `--prom-file` naming the run's own state or report file replaced that file with
/// the textfile (the next live step then found a corrupt state).
#[test]
fn a_prom_file_naming_another_output_of_the_run_is_refused() {
    let env = TestEnv::new();
    env.mkdir("artifacts"); // make-ready's reports folder (a missing one is exit 2 by itself)
    env.check(["edge-sim", "--state", "x.prom", "--ts", "1800", "--ema1h", "0", "--ema24h", "0", "--prom-file", "./x.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: --prom-file ./x.prom is also the --state file; give the Prometheus file its own path\n")
        .run();
    assert!(!env.exists("x.prom"));
    env.write("VERSION", "1.4.0\n");
    env.check(["make-ready", "--skip-pre-live", "--out-json", "out/r.prom", "--prom-file", "out/../out/r.prom"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --prom-file out/../out/r.prom is also the --out-json file; give the Prometheus file its own path\n",
        )
        .run();
    assert!(!env.exists("out/r.prom"));
}

/// Regression: re-sending a window with another value replays it from the state before it, so
/// `policy_applied_count` can go down, and the counter built from it did (1 → 0): Prometheus
/// reads that as a reset. The counter now counts the switches the bot was told to make.
#[test]
fn edge_policy_changes_counter_never_decreases_on_a_resend() {
    let env = TestEnv::new();
    let check_with_promtool = promtool_available();
    let mut counts = Vec::new();
    for (ts, ema1h, profile) in [
        ("1800", "-1", "Moderate"),
        ("3600", "-1", "Moderate"),
        ("5400", "-1", "Conservative"),
        // The same window again with a good value: the degrade is undone, the bot switches back.
        ("5400", "1", "Moderate"),
        ("5400", "-1", "Conservative"),
        ("7200", "-1", "Conservative"),
    ] {
        env.check([
            "edge-sim",
            "--state",
            "edge.json",
            "--ts",
            ts,
            "--ema1h",
            ema1h,
            "--ema24h",
            "0",
            "--prom-file",
            "mmops_edge_sim.prom",
        ])
        .code(0)
        .stdout_contains(&format!("| edge_sim | OK | EDGE_PROFILE={profile} |"))
        .stderr_empty()
        .run();
        let text = env.read("mmops_edge_sim.prom");
        if check_with_promtool {
            check_metrics(&text, ts);
        }
        counts.push(value_of(&parse_exposition(&text), "mmops_edge_sim_policy_changes_total").unwrap());
        if counts.len() == 3 {
            // No re-send has undone a change yet: the state keeps its bytes (no new field).
            assert!(!env.read("edge.json").contains("profile_switches"), "{}", env.read("edge.json"));
        }
    }
    assert_eq!(counts, [0.0, 0.0, 1.0, 2.0, 3.0, 3.0]);
    let state: serde_json::Value = serde_json::from_str(&env.read("edge.json")).unwrap();
    assert_eq!(
        (state["current"]["policy_applied_count"].as_u64(), state["profile_switches"].as_u64()),
        (Some(1), Some(3))
    );
    // The JSON document carries the same number.
    let document: LiveStep = env
        .check([
            "edge-sim",
            "--state",
            "edge.json",
            "--ts",
            "9000",
            "--ema1h",
            "-1",
            "--ema24h",
            "0",
            "--format",
            "json",
        ])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!((document.policy_applied_count, document.profile_switches), (1, 3));
    // Nothing changed at this window (already Conservative), so the counters are the state's.
    assert_eq!((document.changed, document.profile.name.as_str()), (false, "Conservative"));
    assert!(document.transition.is_none());
    assert_eq!((document.status, document.marker.as_str()), (Status::Ok, "EDGE_PROFILE=Conservative"));
}

/// Every file mmops ships or documents, for the path checks below: README, docs, deploy.
fn shipped_text_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(REPO).join("README.md"), Path::new(REPO).join("CHANGELOG.md")];
    let mut stack = vec![Path::new(REPO).join("docs"), Path::new(REPO).join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| {
                ["md", "yml", "yaml", "json", "service", "timer"].contains(&extension.to_str().unwrap_or(""))
            }) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Regression: the units and docs wrote to /var/lib/node_exporter/textfile_collector, but
/// Debian's prometheus-node-exporter reads /var/lib/prometheus/node-exporter by default, so a
/// stock install exposed no mmops metric at all. Every absolute `--prom-file` path shipped or
/// documented is in the folder the installed exporter reads by default, and a unit that
/// sandboxes its writes (ReadWritePaths) may write there.
#[test]
fn shipped_units_and_docs_write_where_debian_node_exporter_reads() {
    if !node_exporter_available() {
        return;
    }
    let help = std::process::Command::new(NODE_EXPORTER).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned() + &String::from_utf8_lossy(&help.stderr);
    let default_dir = help
        .split_once("--collector.textfile.directory=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(dir, _)| dir.to_string())
        .unwrap_or_else(|| panic!("no textfile directory default in --help:\n{help}"));
    let mut checked = 0;
    for file in shipped_text_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(REPO).unwrap().display().to_string();
        // In a container the textfile folder is a volume the exporter (or a Pushgateway push)
        // is pointed at, not a Debian host's default (docs/object-storage.md says how).
        if shown.starts_with("deploy/k8s/") || shown == "docs/object-storage.md" {
            continue;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        for (index, word) in words.iter().enumerate() {
            let path = match word.strip_prefix("--prom-file") {
                Some("") => words.get(index + 1).copied().unwrap_or(""),
                Some(rest) => rest.trim_start_matches('='),
                None => continue,
            };
            let path = path.trim_matches(|c: char| "`'\",;".contains(c));
            if !path.starts_with('/') {
                continue;
            }
            assert_eq!(
                Path::new(path).parent().unwrap(),
                Path::new(&default_dir),
                "{shown}: --prom-file {path} is not in node_exporter's default textfile folder"
            );
            checked += 1;
        }
        for line in text.lines().filter(|line| line.starts_with("ReadWritePaths=")) {
            assert!(
                line.split_whitespace().any(|dir| dir.trim_start_matches("ReadWritePaths=") == default_dir),
                "{shown}: {line} does not let the unit write into {default_dir}"
            );
        }
    }
    assert!(checked >= 5, "only {checked} --prom-file paths found");
    let alerting = std::fs::read_to_string(Path::new(REPO).join("docs/alerting.md")).unwrap();
    assert!(alerting.contains(&default_dir), "docs/alerting.md does not name {default_dir}");
    assert!(
        alerting.contains("/etc/default/prometheus-node-exporter"),
        "docs/alerting.md: how to point it elsewhere"
    );
}

/// Regression: without the tools, a plain `cargo test` said nothing about the skipped checks (the
/// harness captured the message and shows captured output only for failures). The test binary
/// is run again on one test with an empty PATH and without CI: its stderr names the skip.
#[test]
fn a_missing_tool_says_it_was_skipped_on_a_plain_cargo_test() {
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "metrics::shipped_rules_pass_promtool_check_rules", "--test-threads", "1"])
        .env("PATH", empty.path())
        .env_remove("CI")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    assert!(
        stderr.contains("skipped: promtool is not installed (install: apt-get install prometheus)\n"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Under CI=true the same missing tool fails the test.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "metrics::shipped_rules_pass_promtool_check_rules", "--test-threads", "1"])
        .env("PATH", empty.path())
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "promtool is not installed, and CI=true requires it; install: apt-get install prometheus"
        ),
        "{stdout}"
    );
}

/// Regression: CHANGELOG.md named `mmops_cron_task_warn` and
/// `mmops_cron_task_last_due_timestamp_seconds`, which no tool writes. Every full metric name in
/// README, CHANGELOG, docs and deploy files is one docs/metrics.md lists — except a former name
/// on the left of a `→` in CHANGELOG's rename entries. File names (`mmops_cron.prom`) and
/// patterns (`mmops_rotate_*`) are not metric names.
#[test]
fn every_metric_name_the_docs_mention_exists() {
    let documented = documented_metrics();
    let mut unknown = Vec::new();
    let mut mentioned = 0;
    for file in shipped_text_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(REPO).unwrap().display().to_string();
        for (line_number, line) in text.lines().enumerate() {
            for (start, _) in line.match_indices("mmops_") {
                let tail = &line[start..];
                let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
                let (name, after) = tail.split_at(end);
                let inside_a_word = line[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                if inside_a_word
                    || name.ends_with('_')
                    || after.starts_with(['.', '*'])
                    || !prometheus_tool_prefix(name)
                {
                    continue;
                }
                let renamed_from =
                    shown == "CHANGELOG.md" && after.trim_start_matches('`').trim_start().starts_with('→');
                mentioned += 1;
                if !renamed_from && !documented.contains_key(name) {
                    unknown.push(format!("{shown}:{}: {name}", line_number + 1));
                }
            }
        }
    }
    assert_eq!(unknown, Vec::<String>::new(), "metric names not in docs/metrics.md");
    assert!(mentioned > 40, "only {mentioned} metric names found");
}

/// Whether a word starts like a metric of one of mmops's tools (`mmops_<tool>_…`).
fn prometheus_tool_prefix(name: &str) -> bool {
    ["bundle_verify", "cron_sentinel", "cron", "make_ready", "edge_sim", "bundle", "rotate"].iter().any(
        |tool| {
            name.strip_prefix("mmops_")
                .and_then(|rest| rest.strip_prefix(tool))
                .is_some_and(|rest| rest.starts_with('_'))
        },
    )
}

/// Attack on the counter: random windows sent to the real binary, re-sends (30%) and gaps (10%)
/// included. The counter must equal the number of times the profile the bot was given differs
/// from the one before — never less, never down. Seeded (`MMOPS_METRICS_SEED` replays).
#[test]
fn edge_policy_changes_counter_equals_the_switches_the_bot_saw() {
    let seed: u64 = std::env::var("MMOPS_METRICS_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or(2);
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let env = TestEnv::new();
    const TRIALS: usize = 60;
    let (mut window, mut previous_profile, mut switches, mut last_count) =
        (1u64, "Moderate".to_string(), 0u64, 0.0);
    for trial in 0..TRIALS {
        window += match next(10) {
            0..=2 => 0,
            3 => 2,
            _ => 1,
        };
        let ts = (window * 1800).to_string();
        let ema1h = if next(3) == 0 { "1" } else { "-1" };
        let ema24h = if next(2) == 0 { "2" } else { "0" };
        let run = env
            .check([
                "edge-sim",
                "--state",
                "edge.json",
                "--ts",
                &ts,
                "--ema1h",
                ema1h,
                "--ema24h",
                ema24h,
                "--prom-file",
                "e.prom",
            ])
            .code(0)
            .stdout_contains("| edge_sim | OK | EDGE_PROFILE=")
            .stderr_empty()
            .run();
        let profile = run.last_line().trim_end_matches(" |").rsplit('=').next().unwrap().to_string();
        switches += u64::from(profile != previous_profile);
        previous_profile = profile;
        let count =
            value_of(&parse_exposition(&env.read("e.prom")), "mmops_edge_sim_policy_changes_total").unwrap();
        assert!(count >= last_count, "seed {seed} trial {trial}: counter went down {last_count} -> {count}");
        assert_eq!(count, switches as f64, "seed {seed} trial {trial}: counter vs switches the bot saw");
        last_count = count;
    }
    assert!(switches >= 5, "seed {seed}: only {switches} switches in {TRIALS} steps");
    use std::io::Write as _;
    let _ =
        writeln!(std::io::stderr(), "edge counter attack: {TRIALS} steps, {switches} switches (seed {seed})");
}
