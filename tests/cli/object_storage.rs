//! `rotate --base-dir s3://…` against a real S3-compatible server (moto) on loopback.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::moto::{self, Fault, Moto, Proxy, SECRET_KEY};
use super::support::{Run, TestEnv};

struct Bucket {
    moto: &'static Moto,
    name: String,
    env: TestEnv,
}

impl Bucket {
    fn new(test: &str) -> Option<Bucket> {
        let moto = Moto::shared()?;
        let name = moto::bucket(test);
        moto.python(&format!("s3.create_bucket(Bucket='{name}')"));
        Some(Bucket { moto, name, env: TestEnv::new() })
    }

    /// Puts objects `(key, size)`; each body is its key repeated to the size.
    fn put(&self, objects: &[(&str, usize)]) {
        let list: Vec<String> = objects.iter().map(|(key, size)| format!("('{key}', {size})")).collect();
        self.moto.python(&format!(
            "for key, size in [{}]:\n    s3.put_object(Bucket='{}', Key=key, Body=(key.encode() * (size // max(len(key), 1) + 1))[:size])",
            list.join(", "),
            self.name
        ));
    }

    /// Puts `count` objects `prefix/fNNNNN.log` of 10 bytes, in one batch of requests.
    fn put_many(&self, prefix: &str, count: usize) {
        self.moto.python(&format!(
            "from concurrent.futures import ThreadPoolExecutor\n\
             def put(i): s3.put_object(Bucket='{}', Key=f'{prefix}/f{{i:05}}.log', Body=b'0123456789')\n\
             list(ThreadPoolExecutor(16).map(put, range({count})))",
            self.name
        ));
    }

    /// Every object: key → [etag, last-modified, size], sorted by key.
    fn listing(&self) -> Value {
        let text = self.moto.python(&format!(
            "out = {{}}\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{}'):\n\
             \x20   for o in page.get('Contents', []): out[o['Key']] = [o['ETag'], o['LastModified'].isoformat(), o['Size']]\n\
             print(json.dumps(out, sort_keys=True))",
            self.name
        ));
        serde_json::from_str(&text).unwrap()
    }

    fn keys(&self) -> Vec<String> {
        self.listing().as_object().unwrap().keys().cloned().collect()
    }

    fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.name)
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        self.run_at(&self.moto.endpoint(), args, extra)
    }

    fn run_at(&self, endpoint: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut env = moto::env_for(endpoint);
        for (key, value) in extra {
            env.push((key, value.to_string()));
        }
        let pairs: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
        let run = self.env.run_with_env(args, &pairs);
        assert_no_secret(&run);
        run
    }
}

#[track_caller]
fn assert_no_secret(run: &Run) {
    assert!(
        !run.stdout.contains(SECRET_KEY) && !run.stderr.contains(SECRET_KEY),
        "the secret key was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

fn now_plus(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn totals(run: &Run) -> Value {
    run.json()["totals"].clone()
}

#[test]
fn keep_limit_dry_run_leaves_the_listing_identical_and_the_real_run_deletes_the_oldest() {
    let Some(bucket) = Bucket::new("keep") else { return };
    bucket.put(&[("p/a.json", 10), ("p/b.json", 20), ("p/sub/c.json", 30)]);
    bucket.put(&[("p/.hidden/x.json", 5), ("p/.dot.json", 5), ("p/keep.pin", 5), ("other/z.json", 5)]);
    // Listings give last-modified to the second: the newest object must be a second newer.
    std::thread::sleep(Duration::from_millis(1100));
    bucket.put(&[("p/d.json", 40)]);
    let before = bucket.listing();
    let url = bucket.url("p/");
    let fake_now = now_plus(60);

    let dry = bucket.run(
        &["rotate", "--base-dir", &url, "--keep", "1", "--exclude", "*.pin", "--dry-run"],
        &[("CI_FAKE_UTC", &fake_now)],
    );
    dry.expect_code(0);
    assert_eq!(bucket.listing(), before, "a dry run changed the listing");
    assert!(dry.stdout.contains("would delete  a.json"), "{}", dry.stdout);
    assert!(dry.stdout.contains("would delete  sub/c.json"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("d.json"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("hidden") || dry.stdout.contains("skipped"), "{}", dry.stdout);
    assert_eq!(dry.last_line(), "| rotate | OK | ROTATE=DRYRUN |");

    let real = bucket.run(
        &["rotate", "--base-dir", &url, "--keep", "1", "--exclude", "*.pin", "--format", "json"],
        &[("CI_FAKE_UTC", &fake_now)],
    );
    real.expect_code(0);
    let json = real.json();
    assert_eq!(json["base_dir"], url.as_str());
    assert_eq!(json["scan"]["skipped"]["hidden"], 2);
    assert_eq!(json["scan"]["skipped"]["excluded"], 1);
    assert_eq!(totals(&real)["deleted_files"], 3);
    assert_eq!(totals(&real)["kept_files"], 1);
    assert_eq!(
        bucket.keys(),
        ["other/z.json", "p/.dot.json", "p/.hidden/x.json", "p/d.json", "p/keep.pin"],
        "only the planned objects went; the lease was released"
    );
}

#[test]
fn days_and_max_size_limits_use_last_modified_and_object_sizes() {
    let Some(bucket) = Bucket::new("days") else { return };
    bucket.put(&[("r/old1.json", 100), ("r/old2.json", 100)]);
    std::thread::sleep(Duration::from_millis(2100));
    bucket.put(&[("r/new1.json", 100), ("r/new2.json", 300)]);
    let url = bucket.url("r");
    let now = now_plus(1);
    let run = bucket
        .run(&["rotate", "--base-dir", &url, "--days", "2s", "--format", "json"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(0);
    let rows = run.json()["files"].clone();
    let reasons: Vec<(String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["path"].as_str().unwrap().to_string(), row["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(reasons, [("old1.json".into(), "ttl".into()), ("old2.json".into(), "ttl".into())]);
    assert_eq!(bucket.keys(), ["r/new1.json", "r/new2.json"]);

    // 400 B left; at most 350 B kept: the oldest (new1, 100 B) goes.
    let run = bucket.run(
        &["rotate", "--base-dir", &url, "--max-size", "350", "--format", "json"],
        &[("CI_FAKE_UTC", &now)],
    );
    run.expect_code(0);
    assert_eq!(totals(&run)["kept_bytes"], 300);
    assert_eq!(bucket.keys(), ["r/new2.json"]);
}

#[test]
fn guards_refuse_delete_all_and_max_delete_with_nothing_deleted() {
    let Some(bucket) = Bucket::new("guards") else { return };
    bucket.put(&[("g/a", 1), ("g/b", 1), ("g/c", 1)]);
    let before = bucket.listing();
    let url = bucket.url("g/");
    let now = now_plus(60);
    let run = bucket.run(&["rotate", "--base-dir", &url, "--keep", "0"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(2);
    assert!(run.stderr.contains("nothing was deleted"), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-delete-all"), "{}", run.stderr);
    let run = bucket
        .run(&["rotate", "--base-dir", &url, "--keep", "1", "--max-delete", "1"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(2);
    assert!(run.stderr.contains("--max-delete"), "{}", run.stderr);
    assert_eq!(bucket.listing(), before);
    let run = bucket
        .run(&["rotate", "--base-dir", &url, "--keep", "0", "--allow-delete-all"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(0);
    assert!(bucket.keys().is_empty());
}

#[test]
fn archive_and_prune_are_refused_on_object_storage() {
    let Some(bucket) = Bucket::new("archive") else { return };
    bucket.put(&[("a/x", 1)]);
    let run =
        bucket.run(&["rotate", "--base-dir", &bucket.url("a/"), "--keep", "0", "--archive", "zips"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("not supported for object storage yet"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let run =
        bucket.run(&["rotate", "--base-dir", &bucket.url("a/"), "--keep", "0", "--prune-empty-dirs"], &[]);
    run.expect_code(2);
    assert_eq!(bucket.keys(), ["a/x"]);
}

#[test]
fn an_object_overwritten_between_plan_and_delete_survives_and_is_reported_changed() {
    let Some(bucket) = Bucket::new("overwrite") else { return };
    bucket.put(&[("o/a.log", 10), ("o/b.log", 10), ("o/c.log", 10)]);
    let endpoint = bucket.moto.endpoint();
    let name = bucket.name.clone();
    // The first HEAD (the re-check) waits until a.log has been rewritten behind mmops's back.
    let proxy = Proxy::start(
        bucket.moto.port,
        Fault::Before(
            "HEAD /",
            Box::new(move || {
                std::process::Command::new(
                    std::env::var("MMOPS_TEST_PYTHON")
                        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").into()),
                )
                .args([
                    "-c",
                    &format!(
                        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
                         aws_access_key_id='x', aws_secret_access_key='y').put_object(Bucket='{name}', Key='o/a.log', \
                         Body=b'rewritten')"
                    ),
                ])
                .status()
                .expect("overwrite");
            }),
        ),
    );
    let run = bucket.run_at(
        &proxy.endpoint(),
        &["rotate", "--base-dir", &bucket.url("o/"), "--keep", "0", "--allow-delete-all", "--format", "json"],
        &[("CI_FAKE_UTC", &now_plus(60))],
    );
    run.expect_code(0);
    assert_eq!(totals(&run)["changed"], 1);
    assert_eq!(totals(&run)["deleted_files"], 2);
    let row = &run.json()["files"][0];
    assert_eq!(row["path"], "a.log");
    assert_eq!(row["result"], "changed");
    assert_eq!(bucket.keys(), ["o/a.log"]);
}

fn put_lease(bucket: &Bucket, key: &str, holder: &str, expires: &str) {
    bucket.moto.python(&format!(
        "s3.put_object(Bucket='{}', Key='{key}', Body=json.dumps({{'holder': '{holder}', 'acquired': '2020-01-01T00:00:00Z', 'expires': '{expires}'}}).encode())",
        bucket.name
    ));
}

#[test]
fn a_live_lease_stops_a_second_run_and_an_expired_one_is_taken_over() {
    let Some(bucket) = Bucket::new("lease") else { return };
    bucket.put(&[("l/a", 1), ("l/b", 1)]);
    let url = bucket.url("l/");
    let now = now_plus(60);
    put_lease(&bucket, "l/.mmops-rotate.lock", "mmops rotate on host-7 pid 42", "2099-01-01T00:00:00Z");

    let run = bucket.run(&["rotate", "--base-dir", &url, "--keep", "1"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(1);
    assert!(run.stderr.contains("holds the lease"), "{}", run.stderr);
    assert!(run.stderr.contains("host-7 pid 42"), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    let started = Instant::now();
    let run = bucket
        .run(&["rotate", "--base-dir", &url, "--keep", "1", "--wait-lock", "1s"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(1);
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait");
    // A dry run needs no lease.
    bucket
        .run(&["rotate", "--base-dir", &url, "--keep", "1", "--dry-run"], &[("CI_FAKE_UTC", &now)])
        .expect_code(0);
    assert_eq!(bucket.keys(), ["l/.mmops-rotate.lock", "l/a", "l/b"]);

    put_lease(&bucket, "l/.mmops-rotate.lock", "mmops rotate on host-7 pid 42", "2020-01-01T00:00:00Z");
    let run = bucket.run(&["rotate", "--base-dir", &url, "--keep", "1"], &[("CI_FAKE_UTC", &now)]);
    run.expect_code(0);
    assert!(run.stderr.contains("took over the expired lease"), "{}", run.stderr);
    assert!(run.stderr.contains("host-7 pid 42"), "{}", run.stderr);
    assert_eq!(bucket.keys(), ["l/b"], "one object deleted and the lease released");
}

#[test]
fn two_concurrent_real_runs_on_one_prefix_never_both_delete() {
    let Some(bucket) = Bucket::new("concurrent") else { return };
    bucket.put_many("c", 1500);
    let url = bucket.url("c/");
    let now = now_plus(60);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    bucket.run(
                        &["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"],
                        &[("CI_FAKE_UTC", &now)],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let mut deleted = 0;
    let mut winners = 0;
    for run in &runs {
        match run.code {
            0 => {
                winners += 1;
                deleted += totals(run)["deleted_files"].as_u64().unwrap();
                assert_eq!(totals(run)["failed"], 0);
            }
            1 => assert!(run.stderr.contains("holds the lease"), "{}", run.stderr),
            _ => panic!("unexpected exit\n{}\n{}", run.stdout, run.stderr),
        }
    }
    assert!(winners >= 1);
    assert_eq!(deleted, 1400, "every planned object deleted exactly once");
    assert_eq!(bucket.keys().len(), 100);
}

#[test]
fn the_server_gone_mid_delete_is_partial_and_a_rerun_finishes_the_job() {
    let Some(bucket) = Bucket::new("killed") else { return };
    bucket.put_many("k", 2600);
    let url = bucket.url("k/");
    // The second DeleteObjects request never arrives: the server is gone from then on.
    let proxy = Proxy::start(bucket.moto.port, Fault::KillOn("?delete", 2));
    let started = Instant::now();
    let run = bucket.run_at(
        &proxy.endpoint(),
        &["rotate", "--base-dir", &url, "--keep", "100"],
        &[("CI_FAKE_UTC", &now_plus(60))],
    );
    run.expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(proxy.killed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(run.last_line(), "| rotate | FAIL | ROTATE=PARTIAL |", "{}", run.stdout);
    assert!(run.stderr.contains("cannot delete"), "{}", run.stderr);
    let keys = bucket.keys();
    assert_eq!(keys.len(), 1601, "exactly the first batch of 1000 went; the lease stays");
    assert!(keys.contains(&"k/.mmops-rotate.lock".to_string()));

    // The killed run could not release its lease; a rerun after it expired takes it over.
    let run = bucket.run(
        &["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"],
        &[("CI_FAKE_UTC", &now_plus(3600))],
    );
    run.expect_code(0);
    assert!(run.stderr.contains("took over the expired lease"), "{}", run.stderr);
    assert_eq!(totals(&run)["deleted_files"], 1500);
    let keys = bucket.keys();
    assert_eq!(keys.len(), 100);
    // The 100 newest are kept (put in index order, 16 at a time: near a second boundary two
    // neighbours may swap).
    assert!(keys.iter().all(|key| key.as_str() >= "k/f02480.log"), "{keys:?}");
}

#[test]
fn an_unknown_bucket_and_a_store_that_is_down_are_exit_2_naming_bucket_and_key() {
    let Some(bucket) = Bucket::new("errors") else { return };
    let run =
        bucket.run(&["rotate", "--base-dir", "s3://no-such-bucket-16/p/", "--keep", "1", "--dry-run"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("s3://no-such-bucket-16/"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 404 NoSuchBucket"), "{}", run.stderr);
    let run = bucket.run(&["rotate", "--base-dir", "s3://no-such-bucket-16/p/", "--keep", "1"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("s3://no-such-bucket-16/p/.mmops-rotate.lock"), "{}", run.stderr);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let run = bucket.run_at(
        &format!("http://127.0.0.1:{closed}"),
        &["rotate", "--base-dir", &bucket.url("p/"), "--keep", "1"],
        &[],
    );
    run.expect_code(2);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(run.stderr.contains("no answer from the store"), "{}", run.stderr);
    assert!(run.stderr.contains(&bucket.url("p/.mmops-rotate.lock")), "{}", run.stderr);

    // A store that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let run = bucket.run_at(
        &format!("http://127.0.0.1:{silent_port}"),
        &["rotate", "--base-dir", &bucket.url("p/"), "--keep", "1", "--dry-run"],
        &[],
    );
    run.expect_code(2);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(run.stderr.contains(&bucket.url("p/")), "{}", run.stderr);
    assert!(run.stderr.contains("no answer from the store"), "{}", run.stderr);
}

#[test]
fn refused_credentials_are_exit_2_with_the_status_and_never_print_the_secret() {
    // Its own server with authentication on: the test credentials are unknown to it.
    let Some(moto) = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]) else { return };
    let env = TestEnv::new();
    let vars = moto.env();
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let run =
        env.run_with_env(["rotate", "--base-dir", "s3://some-bucket/p/", "--keep", "1", "--dry-run"], &pairs);
    assert_no_secret(&run);
    run.expect_code(2);
    assert!(run.stderr.contains("s3://some-bucket/p/"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 403"), "{}", run.stderr);
}

#[test]
fn cron_sentinel_checks_keys_and_globs_with_one_listing_per_prefix() {
    let Some(bucket) = Bucket::new("sentinel") else { return };
    bucket.put(&[("reports/nightly.json", 40), ("reports/a/summary.json", 10)]);
    std::thread::sleep(Duration::from_millis(1100));
    bucket.put(&[("reports/b/summary.json", 2)]);
    let name = &bucket.name;
    bucket.env.write(
        "sentinel.yaml",
        format!(
            "tasks:\n\
             \x20 - {{name: nightly, artifact: 's3://{name}/reports/nightly.json', max_age: 1h}}\n\
             \x20 - {{name: nightly-small, artifact: 's3://{name}/reports/nightly.json', max_age: 1h, min_size: 1K}}\n\
             \x20 - {{name: summary, artifact: 's3://{name}/reports/*/summary.json', max_age: 1h}}\n\
             \x20 - {{name: summary-size, artifact: 's3://{name}/reports/*/summary.json', max_age: 1h, min_size: 5}}\n\
             \x20 - {{name: gone, artifact: 's3://{name}/reports/missing.json', max_age: 1h}}\n\
             \x20 - {{name: nomatch, artifact: 's3://{name}/other/*.json', max_age: 1h}}\n\
             \x20 - {{name: stale, artifact: 's3://{name}/reports/nightly.json', max_age: 1m}}\n"
        ),
    );
    let proxy = Proxy::start(bucket.moto.port, Fault::Count("list-type=2"));
    let run = bucket.run_at(
        &proxy.endpoint(),
        &["cron-sentinel", "--config", "sentinel.yaml", "--format", "json"],
        &[("CI_FAKE_UTC", &now_plus(600))],
    );
    run.expect_code(1);
    let statuses: Vec<(String, String, String)> = run.json()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            (
                task["name"].as_str().unwrap().to_string(),
                task["status"].as_str().unwrap().to_string(),
                task["path"].as_str().or(task["artifact"].as_str()).unwrap_or("").to_string(),
            )
        })
        .collect();
    let status = |name: &str| statuses.iter().find(|row| row.0 == name).unwrap().1.clone();
    assert_eq!(status("nightly"), "FRESH", "{statuses:?}");
    assert_eq!(status("nightly-small"), "EMPTY");
    assert_eq!(status("summary"), "FRESH");
    assert_eq!(status("summary-size"), "EMPTY", "the newest match (b, 2 B) counts");
    assert_eq!(status("gone"), "MISSING");
    assert_eq!(status("nomatch"), "MISSING");
    assert_eq!(status("stale"), "STALE");
    assert_eq!(proxy.seen(), 2, "one listing for reports/, one for other/");

    let run = bucket.run(
        &["cron-sentinel", "--config", "sentinel.yaml", "--task", "nightly"],
        &[("CI_FAKE_UTC", &now_plus(600))],
    );
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("s3://{name}/reports/nightly.json")), "{}", run.stdout);

    bucket.env.write(
        "bad.yaml",
        "tasks:\n  - {name: a, artifact: 's3://no-such-bucket-16/r/x.json', max_age: 1h}\n",
    );
    let run = bucket.run(&["cron-sentinel", "--config", "bad.yaml"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("s3://no-such-bucket-16/r/"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTP 404 NoSuchBucket"), "{}", run.stderr);
}

const RELEASE_NOW: &str = "2025-10-11T12:00:00Z";

fn release_repo(bucket: &Bucket, readme: &str) {
    for (path, text) in [
        ("VERSION", "1.4.0\n"),
        ("README.md", readme),
        ("CHANGELOG.md", "## 1.4.0\n- faster\n"),
        ("deploy/prometheus/alerts_soak.yml", "groups:\n  - name: soak_test_alerts\n"),
        ("deploy/policies/rollback.yaml", "hard_gates: rollback\n"),
        ("deploy/grafana/dashboards/mm_operability.json", "{\"title\": \"MM Bot Operability\"}\n"),
    ] {
        bucket.env.write(path, text);
    }
}

fn object_sha256(bucket: &Bucket, key: &str) -> String {
    bucket
        .moto
        .python(&format!(
            "import hashlib; print(hashlib.sha256(s3.get_object(Bucket='{}', Key='{key}')['Body'].read()).hexdigest())",
            bucket.name
        ))
        .trim()
        .to_string()
}

#[test]
fn publish_twice_is_already_there_different_bytes_are_refused_unless_force_and_verify_reads_the_bucket() {
    let Some(bucket) = Bucket::new("publish") else { return };
    release_repo(&bucket, "# mm-bot\n");
    let url = bucket.url("releases/");
    let zip_url = format!("{url}mm-bot-v1.4.0.zip");
    let now = [("CI_FAKE_UTC", RELEASE_NOW)];

    let run = bucket.run(&["bundle", "--publish", &url], &now);
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("published: {zip_url}\n")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("published: {zip_url}.sha256\n")), "{}", run.stdout);
    let local = std::fs::read(bucket.env.path("artifacts/release/mm-bot-v1.4.0.zip")).unwrap();
    let local_sha: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&local).iter().map(|byte| format!("{byte:02x}")).collect()
    };
    assert_eq!(object_sha256(&bucket, "releases/mm-bot-v1.4.0.zip"), local_sha);
    let before = bucket.listing();

    let run = bucket.run(&["bundle", "--publish", &url, "--format", "json"], &now);
    run.expect_code(0);
    let published = run.json()["published"].clone();
    assert_eq!(published[0]["outcome"], "already_there");
    assert_eq!(published[0]["sha256"], local_sha.as_str());
    assert_eq!(bucket.listing(), before, "nothing rewritten");
    let run = bucket.run(&["bundle", "--publish", &url], &now);
    assert!(run.stdout.contains(&format!("published (already there): {zip_url}\n")), "{}", run.stdout);

    let run = bucket.run(&["bundle", "verify", &zip_url], &[]);
    run.expect_code(0);
    assert_eq!(run.last_line(), "| bundle_verify | OK | BUNDLE_VERIFY=OK |");
    assert!(run.stdout.contains(&format!("checked {zip_url}:")), "{}", run.stdout);

    // Another build of the same version (other bytes) into another local folder: refused.
    release_repo(&bucket, "# mm-bot, edited\n");
    let run = bucket.run(&["bundle", "--out-dir", "other", "--publish", &url], &now);
    run.expect_code(1);
    assert!(run.stderr.contains("already exists with different content"), "{}", run.stderr);
    assert!(run.stderr.contains(&zip_url), "{}", run.stderr);
    assert_eq!(bucket.listing(), before, "nothing replaced");
    let run = bucket.run(&["bundle", "--out-dir", "other", "--publish", &url, "--force"], &now);
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("published (replaced, --force): {zip_url}\n")), "{}", run.stdout);
    bucket.run(&["bundle", "verify", &zip_url], &[]).expect_code(0);

    // A tampered object fails verification.
    bucket.moto.python(&format!(
        "b = bytearray(s3.get_object(Bucket='{0}', Key='releases/mm-bot-v1.4.0.zip')['Body'].read()); b[40] ^= 1\n\
         s3.put_object(Bucket='{0}', Key='releases/mm-bot-v1.4.0.zip', Body=bytes(b))",
        bucket.name
    ));
    let run = bucket.run(&["bundle", "verify", &zip_url], &[]);
    run.expect_code(1);
    assert_eq!(run.last_line(), "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |");
    let run = bucket.run(&["bundle", "verify", &format!("{url}mm-bot-v9.9.9.zip")], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn a_large_zip_goes_up_in_parts_create_only_and_reads_back_the_same() {
    let Some(bucket) = Bucket::new("multipart") else { return };
    // 12 MiB of incompressible text: above the 8 MiB single-put limit at --level 0.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let readme: String = (0..12 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    release_repo(&bucket, &readme);
    let url = bucket.url("big/");
    let run = bucket.run(&["bundle", "--publish", &url, "--level", "0"], &[("CI_FAKE_UTC", RELEASE_NOW)]);
    run.expect_code(0);
    let local = std::fs::read(bucket.env.path("artifacts/release/mm-bot-v1.4.0.zip")).unwrap();
    assert!(local.len() > 8 << 20);
    let local_sha: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&local).iter().map(|byte| format!("{byte:02x}")).collect()
    };
    assert_eq!(object_sha256(&bucket, "big/mm-bot-v1.4.0.zip"), local_sha);
    assert_eq!(
        bucket.keys(),
        ["big/mm-bot-v1.4.0.zip", "big/mm-bot-v1.4.0.zip.intoto.json", "big/mm-bot-v1.4.0.zip.sha256"],
        "no staging object left"
    );
    let run = bucket.run(&["bundle", "--publish", &url, "--level", "0"], &[("CI_FAKE_UTC", RELEASE_NOW)]);
    run.expect_code(0);
    assert!(run.stdout.contains("published (already there)"), "{}", run.stdout);
}

#[test]
fn keys_with_spaces_percent_signs_and_unicode_are_deleted_exactly_and_unusable_keys_stop_the_run() {
    let Some(bucket) = Bucket::new("odd-keys") else { return };
    let odd =
        ["w/a b.txt", "w/100%.txt", "w/a%2Fb.txt", "w/plus+x.txt", "w/hash#x.txt", "w/q?x.txt", "w/ü.txt"];
    let objects: Vec<(&str, usize)> = odd.iter().map(|key| (*key, 3)).collect();
    bucket.put(&objects);
    std::thread::sleep(Duration::from_millis(1100));
    bucket.put(&[("w/newest.txt", 3), ("w%2Fdecoy.txt", 3), ("w2/a b.txt", 3)]);
    let run = bucket.run(
        &["rotate", "--base-dir", &bucket.url("w/"), "--keep", "1", "--format", "json"],
        &[("CI_FAKE_UTC", &now_plus(60))],
    );
    run.expect_code(0);
    assert_eq!(totals(&run)["deleted_files"], 7, "{}", run.stdout);
    assert_eq!(bucket.keys(), ["w%2Fdecoy.txt", "w/newest.txt", "w2/a b.txt"], "only the planned keys went");

    // A key the client cannot name in a request (a `..` segment, a control character): exit 2
    // before anything is planned, the character escaped in the message.
    bucket.moto.python(&format!(
        "s3.put_object(Bucket='{0}', Key='w/../up.txt', Body=b'1'); s3.put_object(Bucket='{0}', Key='v/ctl\\x01.txt', Body=b'1')",
        bucket.name
    ));
    let run =
        bucket.run(&["rotate", "--base-dir", &bucket.url("w/"), "--keep", "0", "--allow-delete-all"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot handle"), "{}", run.stderr);
    let run =
        bucket.run(&["rotate", "--base-dir", &bucket.url("v/"), "--keep", "0", "--allow-delete-all"], &[]);
    run.expect_code(2);
    assert!(!run.stderr.contains('\u{1}'), "control character printed raw: {:?}", run.stderr);
    assert_eq!(bucket.keys().len(), 5, "nothing deleted");
}

#[test]
fn prom_file_no_lock_and_include_hidden_on_a_bucket() {
    let Some(bucket) = Bucket::new("prom") else { return };
    bucket.put(&[("m/a", 1), ("m/.h/b", 1)]);
    std::thread::sleep(Duration::from_millis(1100));
    bucket.put(&[("m/c", 1)]);
    let url = bucket.url("m/");
    let now = now_plus(60);
    let run = bucket.run(
        &["rotate", "--base-dir", &url, "--keep", "1", "--prom-file", "rotate.prom"],
        &[("CI_FAKE_UTC", &now)],
    );
    run.expect_code(0);
    let prom = bucket.env.read("rotate.prom");
    assert!(prom.contains(&format!("mmops_rotate_deleted_files{{base_dir=\"{url}\"}} 1")), "{prom}");
    assert!(prom.contains(&format!("mmops_rotate_success{{base_dir=\"{url}\"}} 1")), "{prom}");
    assert_eq!(bucket.keys(), ["m/.h/b", "m/c"]);

    // --include-hidden makes .h/b a candidate; the lease of a run is never one.
    bucket.put(&[("m/.mmops-rotate.lock", 1)]);
    let run = bucket.run(
        &["rotate", "--base-dir", &url, "--keep", "1", "--include-hidden", "--no-lock", "--format", "json"],
        &[("CI_FAKE_UTC", &now)],
    );
    run.expect_code(0);
    assert!(run.stderr.contains("--no-lock: no lease taken"), "{}", run.stderr);
    assert_eq!(totals(&run)["deleted_files"], 1);
    assert_eq!(bucket.keys(), ["m/.mmops-rotate.lock", "m/c"]);

    bucket.env.mkdir("local");
    let run = bucket.run(&["rotate", "--base-dir", "local", "--keep", "1", "--no-lock"], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("--no-lock applies to object storage only"), "{}", run.stderr);
}

#[test]
fn the_server_gone_during_the_re_check_deletes_nothing_and_gives_up_quickly() {
    let Some(bucket) = Bucket::new("killed-head") else { return };
    bucket.put_many("h", 1200);
    let url = bucket.url("h/");
    let proxy = Proxy::start(bucket.moto.port, Fault::KillOn("HEAD /", 40));
    let started = Instant::now();
    let run = bucket.run_at(
        &proxy.endpoint(),
        &["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"],
        &[("CI_FAKE_UTC", &now_plus(60))],
    );
    run.expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(run.json()["marker"], "ROTATE=PARTIAL");
    assert_eq!(totals(&run)["deleted_files"], 0);
    assert_eq!(totals(&run)["failed"], 1100);
    assert!(run.stderr.contains("stopped answering"), "{}", run.stderr);
    assert_eq!(bucket.keys().len(), 1201, "nothing deleted; the lease stays until it expires");
}
