//! `rotate --base-dir s3://…` against a real S3-compatible server (moto) on loopback.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::moto::{self, Fault, Moto, Proxy, SECRET_KEY};
use super::support::{Check, Expect, Run, TestEnv};
use crate::bundle::mirror::{CreateDoc, PublishOutcome};
use crate::rotate::mirror::{Document as RotateDocument, FileResult, Locked, Reason, Status};

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

    /// `mmops ARGS` against the shared server, for the caller to state what it expects.
    fn check(&self, args: &[&str], extra: &[(&str, &str)]) -> S3Check<'_> {
        self.check_at(&self.moto.endpoint(), args, extra)
    }

    /// `mmops ARGS` against `endpoint` (a fault-injecting proxy, a closed port).
    fn check_at(&self, endpoint: &str, args: &[&str], extra: &[(&str, &str)]) -> S3Check<'_> {
        S3Check::new(&self.env, endpoint, args, extra)
    }
}

/// A [`Check`] with the store's environment whose `run` also asserts that the secret key was
/// printed nowhere.
struct S3Check<'a>(Check<'a>);

impl<'a> S3Check<'a> {
    fn new(env: &'a TestEnv, endpoint: &str, args: &[&str], extra: &[(&str, &str)]) -> S3Check<'a> {
        let mut check = env.check(args);
        for (key, value) in moto::env_for(endpoint) {
            check = check.env(key, &value);
        }
        for (key, value) in extra {
            check = check.env(key, value);
        }
        S3Check(check)
    }

    fn code(self, code: i32) -> Self {
        S3Check(self.0.code(code))
    }

    fn stdout(self, expect: Expect) -> Self {
        S3Check(self.0.stdout(expect))
    }

    fn stdout_is(self, text: &str) -> Self {
        S3Check(self.0.stdout_is(text))
    }

    fn stdout_contains(self, part: &str) -> Self {
        S3Check(self.0.stdout_contains(part))
    }

    fn stdout_empty(self) -> Self {
        S3Check(self.0.stdout_empty())
    }

    fn stderr_is(self, text: &str) -> Self {
        S3Check(self.0.stderr_is(text))
    }

    fn stderr_contains(self, part: &str) -> Self {
        S3Check(self.0.stderr_contains(part))
    }

    fn stderr_empty(self) -> Self {
        S3Check(self.0.stderr_empty())
    }

    #[track_caller]
    fn run(self) -> Run {
        let run = self.0.run();
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

/// A `rotate --format json` run at `now` that must succeed quietly: its document.
#[track_caller]
fn rotate_json(bucket: &Bucket, args: &[&str], now: &str) -> RotateDocument {
    bucket
        .check(args, &[("CI_FAKE_UTC", now)])
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as()
}

fn now_plus(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
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

    let dry = bucket
        .check(
            &["rotate", "--base-dir", &url, "--keep", "1", "--exclude", "*.pin", "--dry-run"],
            &[("CI_FAKE_UTC", &fake_now)],
        )
        .code(0)
        .stdout_contains("would delete  a.json")
        .stdout_contains("would delete  sub/c.json")
        // A dry run only lists.
        .stderr_is("mmops: requests: 1 list, 0 head, 0 DeleteObjects, 0 delete, 0 put\n")
        .run();
    assert_eq!(bucket.listing(), before, "a dry run changed the listing");
    assert!(!dry.stdout.contains("d.json"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("hidden") || dry.stdout.contains("skipped"), "{}", dry.stdout);
    assert_eq!(dry.last_line(), "| rotate | OK | ROTATE=DRYRUN |");

    let json = rotate_json(
        &bucket,
        &["rotate", "--base-dir", &url, "--keep", "1", "--exclude", "*.pin", "--format", "json"],
        &fake_now,
    );
    assert_eq!(json.base_dir, url.as_str());
    assert_eq!(
        (json.tool.as_str(), json.status, json.marker.as_str()),
        ("rotate", Status::Ok, "ROTATE=DONE")
    );
    assert!(!json.dry_run);
    assert_eq!(json.now, fake_now);
    assert_eq!((json.scan.files, json.scan.bytes), (4, 100));
    assert_eq!((json.scan.skipped.hidden, json.scan.skipped.excluded), (2, 1));
    assert!(json.scan.errors.is_empty());
    assert_eq!((json.totals.deleted_files, json.totals.deleted_bytes), (3, 60));
    assert_eq!((json.totals.kept_files, json.totals.kept_bytes), (1, 40));
    assert_eq!(json.totals.failed + json.totals.changed + json.totals.vanished, 0);
    let rows: Vec<(&str, Reason, FileResult, u64)> =
        json.files.iter().map(|f| (f.path.as_str(), f.reason, f.result, f.size)).collect();
    assert_eq!(
        rows,
        [
            ("a.json", Reason::Count, FileResult::Deleted, 10),
            ("b.json", Reason::Count, FileResult::Deleted, 20),
            ("sub/c.json", Reason::Count, FileResult::Deleted, 30)
        ]
    );
    assert_eq!(json.rules.len(), 1);
    assert_eq!((json.rules[0].keep, json.rules[0].days, json.rules[0].max_size), (Some(1), None, None));
    assert!(json.warnings.is_empty() && json.refusal.is_none() && json.output_error.is_none());
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
    let json =
        rotate_json(&bucket, &["rotate", "--base-dir", &url, "--days", "2s", "--format", "json"], &now);
    let reasons: Vec<(&str, Reason)> = json.files.iter().map(|row| (row.path.as_str(), row.reason)).collect();
    assert_eq!(reasons, [("old1.json", Reason::Ttl), ("old2.json", Reason::Ttl)]);
    assert!(
        json.files.iter().all(|row| row.result == FileResult::Deleted && row.error.is_none()),
        "{:?}",
        json.files
    );
    assert_eq!(bucket.keys(), ["r/new1.json", "r/new2.json"]);

    // 400 B left; at most 350 B kept: the oldest (new1, 100 B) goes.
    let json =
        rotate_json(&bucket, &["rotate", "--base-dir", &url, "--max-size", "350", "--format", "json"], &now);
    assert_eq!(json.totals.kept_bytes, 300);
    assert_eq!(bucket.keys(), ["r/new2.json"]);
}

#[test]
fn guards_refuse_delete_all_and_max_delete_with_nothing_deleted() {
    let Some(bucket) = Bucket::new("guards") else { return };
    bucket.put(&[("g/a", 1), ("g/b", 1), ("g/c", 1)]);
    let before = bucket.listing();
    let url = bucket.url("g/");
    let now = now_plus(60);
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "0"], &[("CI_FAKE_UTC", &now)])
        .code(2)
        .stdout_empty()
        .stderr_contains("nothing was deleted")
        .stderr_contains("--allow-delete-all")
        .run();
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1", "--max-delete", "1"], &[("CI_FAKE_UTC", &now)])
        .code(2)
        .stdout_empty()
        .stderr_contains("--max-delete")
        .run();
    assert_eq!(bucket.listing(), before);
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "0", "--allow-delete-all"], &[("CI_FAKE_UTC", &now)])
        .code(0)
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        // The lease's put; its release (a DELETE) comes after this line and is not counted.
        .stderr_is("mmops: requests: 1 list, 3 head, 1 DeleteObjects, 0 delete, 1 put\n")
        .run();
    assert!(bucket.keys().is_empty());
}

#[test]
fn archive_and_prune_are_refused_on_object_storage() {
    let Some(bucket) = Bucket::new("archive") else { return };
    bucket.put(&[("a/x", 1)]);
    bucket
        .check(&["rotate", "--base-dir", &bucket.url("a/"), "--keep", "0", "--archive", "zips"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("--archive")
        .stderr_contains("not supported for object storage yet")
        .run();
    bucket
        .check(&["rotate", "--base-dir", &bucket.url("a/"), "--keep", "0", "--prune-empty-dirs"], &[])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: --prune-empty-dirs has no meaning on object storage (there are no folders to remove); \
             drop it\n",
        )
        .run();
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
    let json: RotateDocument = bucket
        .check_at(
            &proxy.endpoint(),
            &[
                "rotate",
                "--base-dir",
                &bucket.url("o/"),
                "--keep",
                "0",
                "--allow-delete-all",
                "--format",
                "json",
            ],
            &[("CI_FAKE_UTC", &now_plus(60))],
        )
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    assert_eq!(json.totals.changed, 1);
    assert_eq!(json.totals.deleted_files, 2);
    let row = &json.files[0];
    assert_eq!((row.path.as_str(), row.result), ("a.log", FileResult::Changed));
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

    // Like a held local lock: the error line, and the ROTATE=LOCKED marker row CI greps for.
    let held = format!(
        "another rotation holds the lease {url}.mmops-rotate.lock (mmops rotate on host-7 pid 42 until \
         2099-01-01T00:00:00Z); did not wait (no --wait-lock); nothing was deleted — let it finish, or wait for it \
         with --wait-lock 10m"
    );
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1"], &[("CI_FAKE_UTC", &now)])
        .code(1)
        .stdout_is("| rotate | FAIL | ROTATE=LOCKED |\n")
        .stderr_is(&format!("mmops: error: {held}\n"))
        .run();
    let locked: Locked = bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1", "--format", "json"], &[("CI_FAKE_UTC", &now)])
        .code(1)
        .stdout(Expect::Anything)
        .stderr_is(&format!("mmops: error: {held}\n"))
        .run()
        .json_as();
    assert_eq!(
        locked,
        Locked {
            base_dir: url.clone(),
            lock: format!("{url}.mmops-rotate.lock"),
            holder: "mmops rotate on host-7 pid 42 until 2099-01-01T00:00:00Z".into(),
            waited_seconds: 0.0,
            error: held.clone(),
            tool: "rotate".into(),
            status: Status::Fail,
            marker: "ROTATE=LOCKED".into(),
        }
    );

    let started = Instant::now();
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1", "--wait-lock", "1s"], &[("CI_FAKE_UTC", &now)])
        .code(1)
        .stdout_is("| rotate | FAIL | ROTATE=LOCKED |\n")
        .stderr_contains("holds the lease")
        .stderr_contains("gave up after waiting 1s")
        .stderr_contains("host-7 pid 42")
        .run();
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait");
    // A dry run needs no lease.
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1", "--dry-run"], &[("CI_FAKE_UTC", &now)])
        .code(0)
        .stdout_contains("| rotate | OK | ROTATE=DRYRUN |\n")
        .stderr_is("mmops: requests: 1 list, 0 head, 0 DeleteObjects, 0 delete, 0 put\n")
        .run();
    assert_eq!(bucket.keys(), ["l/.mmops-rotate.lock", "l/a", "l/b"]);

    put_lease(&bucket, "l/.mmops-rotate.lock", "mmops rotate on host-7 pid 42", "2020-01-01T00:00:00Z");
    bucket
        .check(&["rotate", "--base-dir", &url, "--keep", "1"], &[("CI_FAKE_UTC", &now)])
        .code(0)
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        // Two puts: the create-only one that found the lease, then the takeover.
        .stderr_is(&format!(
            "mmops: warning: took over the expired lease {url}.mmops-rotate.lock from mmops rotate on host-7 pid 42 \
             (expired 2020-01-01T00:00:00Z)\n\
             mmops: requests: 1 list, 1 head, 1 DeleteObjects, 0 delete, 2 put\n"
        ))
        .run();
    assert_eq!(bucket.keys(), ["l/b"], "one object deleted and the lease released");
}

#[test]
fn two_concurrent_real_runs_on_one_prefix_never_both_delete() {
    let Some(bucket) = Bucket::new("concurrent") else { return };
    bucket.put_many("c", 1500);
    let url = bucket.url("c/");
    let now = now_plus(60);
    // Which run wins is a race, so the exit code cannot be stated up front as a `Check` needs:
    // each outcome's three streams are asserted below instead.
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut command = bucket.env.command();
                    command.args(["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"]);
                    command.env("CI_FAKE_UTC", &now).stdin(std::process::Stdio::null());
                    for (key, value) in bucket.moto.env() {
                        command.env(key, value);
                    }
                    let output = command.output().expect("run mmops");
                    let run = Run {
                        code: output.status.code().unwrap_or(-1),
                        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                    };
                    assert_no_secret(&run);
                    run
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
                assert_eq!(run.stderr, "", "{run:?}");
                let json: RotateDocument = run.json_as();
                assert_eq!(json.marker, "ROTATE=DONE");
                deleted += json.totals.deleted_files;
                assert_eq!(json.totals.failed, 0);
            }
            1 => {
                assert!(run.stderr.contains("holds the lease"), "{}", run.stderr);
                assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
                // A held lease is rotate's locked report, as a held local lock is.
                let locked: Locked = run.json_as();
                assert_eq!((locked.status, locked.marker.as_str()), (Status::Fail, "ROTATE=LOCKED"));
                assert_eq!(format!("mmops: error: {}\n", locked.error), run.stderr);
            }
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
    let run = bucket
        .check_at(
            &proxy.endpoint(),
            &["rotate", "--base-dir", &url, "--keep", "100"],
            &[("CI_FAKE_UTC", &now_plus(60))],
        )
        .code(1)
        .stdout_contains("| rotate | FAIL | ROTATE=PARTIAL |\n")
        .stderr_contains("cannot delete")
        .run();
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(proxy.killed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(run.last_line(), "| rotate | FAIL | ROTATE=PARTIAL |", "{}", run.stdout);
    let keys = bucket.keys();
    assert_eq!(keys.len(), 1601, "exactly the first batch of 1000 went; the lease stays");
    assert!(keys.contains(&"k/.mmops-rotate.lock".to_string()));

    // The killed run could not release its lease; a rerun after it expired takes it over.
    let json: RotateDocument = bucket
        .check(
            &["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"],
            &[("CI_FAKE_UTC", &now_plus(3600))],
        )
        .code(0)
        .stdout(Expect::Anything)
        .stderr_contains("took over the expired lease")
        .run()
        .json_as();
    assert_eq!(json.totals.deleted_files, 1500);
    let keys = bucket.keys();
    assert_eq!(keys.len(), 100);
    // The 100 newest are kept (put in index order, 16 at a time: near a second boundary two
    // neighbours may swap).
    assert!(keys.iter().all(|key| key.as_str() >= "k/f02480.log"), "{keys:?}");
}

#[test]
fn an_unknown_bucket_and_a_store_that_is_down_are_exit_2_naming_bucket_and_key() {
    let Some(bucket) = Bucket::new("errors") else { return };
    bucket
        .check(&["rotate", "--base-dir", "s3://no-such-bucket-16/p/", "--keep", "1", "--dry-run"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("s3://no-such-bucket-16/")
        .stderr_contains("HTTP 404 NoSuchBucket")
        .run();
    bucket
        .check(&["rotate", "--base-dir", "s3://no-such-bucket-16/p/", "--keep", "1"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("s3://no-such-bucket-16/p/.mmops-rotate.lock")
        .run();

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    bucket
        .check_at(
            &format!("http://127.0.0.1:{closed}"),
            &["rotate", "--base-dir", &bucket.url("p/"), "--keep", "1"],
            &[],
        )
        .code(2)
        .stdout_empty()
        .stderr_contains("no answer from the store")
        .stderr_contains(&bucket.url("p/.mmops-rotate.lock"))
        .run();
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());

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
    bucket
        .check_at(
            &format!("http://127.0.0.1:{silent_port}"),
            &["rotate", "--base-dir", &bucket.url("p/"), "--keep", "1", "--dry-run"],
            &[],
        )
        .code(2)
        .stdout_empty()
        .stderr_contains(&bucket.url("p/"))
        .stderr_contains("no answer from the store")
        .run();
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn refused_credentials_are_exit_2_with_the_status_and_never_print_the_secret() {
    // Its own server with authentication on: the test credentials are unknown to it.
    let Some(moto) = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]) else { return };
    let env = TestEnv::new();
    S3Check::new(
        &env,
        &moto.endpoint(),
        &["rotate", "--base-dir", "s3://some-bucket/p/", "--keep", "1", "--dry-run"],
        &[],
    )
    .code(2)
    .stdout_empty()
    .stderr_contains("s3://some-bucket/p/")
    .stderr_contains("HTTP 403")
    .run();
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
    let document: crate::cron_sentinel::mirror::Document = bucket
        .check_at(
            &proxy.endpoint(),
            &["cron-sentinel", "--config", "sentinel.yaml", "--format", "json"],
            &[("CI_FAKE_UTC", &now_plus(600))],
        )
        .code(1)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    use crate::cron_sentinel::mirror::TaskStatus;
    let statuses: Vec<(String, TaskStatus, String)> = document
        .tasks
        .iter()
        .map(|task| {
            (task.name.clone(), task.status, task.path.clone().unwrap_or_else(|| task.artifact.clone()))
        })
        .collect();
    let status = |name: &str| statuses.iter().find(|row| row.0 == name).unwrap().1;
    assert_eq!(status("nightly"), TaskStatus::Fresh, "{statuses:?}");
    assert_eq!(status("nightly-small"), TaskStatus::Empty);
    assert_eq!(status("summary"), TaskStatus::Fresh);
    assert_eq!(status("summary-size"), TaskStatus::Empty, "the newest match (b, 2 B) counts");
    assert_eq!(status("gone"), TaskStatus::Missing);
    assert_eq!(status("nomatch"), TaskStatus::Missing);
    assert_eq!(status("stale"), TaskStatus::Stale);
    assert_eq!(proxy.seen(), 2, "one listing for reports/, one for other/");
    let s = &document.summary;
    assert_eq!((s.total, s.fresh, s.empty, s.missing, s.stale), (7, 2, 2, 2, 1));
    let summary = document.tasks.iter().find(|task| task.name == "summary").unwrap();
    assert_eq!(summary.path, Some(format!("s3://{name}/reports/b/summary.json")));
    assert_eq!(summary.size, Some(2));

    bucket
        .check(
            &["cron-sentinel", "--config", "sentinel.yaml", "--task", "nightly"],
            &[("CI_FAKE_UTC", &now_plus(600))],
        )
        .code(0)
        .stdout_contains(&format!("s3://{name}/reports/nightly.json"))
        .stdout_contains("| cron_sentinel | OK | CRON_SENTINEL=OK |\n")
        .stderr_empty()
        .run();

    bucket.env.write(
        "bad.yaml",
        "tasks:\n  - {name: a, artifact: 's3://no-such-bucket-16/r/x.json', max_age: 1h}\n",
    );
    bucket
        .check(&["cron-sentinel", "--config", "bad.yaml"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("s3://no-such-bucket-16/r/")
        .stderr_contains("HTTP 404 NoSuchBucket")
        .run();
}

const RELEASE_NOW: &str = "2025-10-11T12:00:00Z";

/// The bundle tests' six release inputs, with `readme` as README.md.
fn release_repo(bucket: &Bucket, readme: &str) {
    for (path, text) in crate::bundle::REPO_FILES {
        bucket.env.write(path, if path == "README.md" { readme } else { text });
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

    bucket
        .check(&["bundle", "--publish", &url], &now)
        .code(0)
        .stdout_contains(&format!("published: {zip_url}\n"))
        .stdout_contains(&format!("published: {zip_url}.sha256\n"))
        .stderr_empty()
        .run();
    let local = std::fs::read(bucket.env.path("artifacts/release/mm-bot-v1.4.0.zip")).unwrap();
    let local_sha: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&local).iter().map(|byte| format!("{byte:02x}")).collect()
    };
    assert_eq!(object_sha256(&bucket, "releases/mm-bot-v1.4.0.zip"), local_sha);
    let before = bucket.listing();

    let json: CreateDoc = bucket
        .check(&["bundle", "--publish", &url, "--format", "json"], &now)
        .code(0)
        .stdout(Expect::Anything)
        .stderr_empty()
        .run()
        .json_as();
    let published: Vec<(&str, PublishOutcome, &str)> =
        json.published.iter().map(|p| (p.url.as_str(), p.outcome, p.sha256.as_str())).collect();
    assert_eq!(published[0], (zip_url.as_str(), PublishOutcome::AlreadyThere, local_sha.as_str()));
    assert_eq!(published.len(), 3, "{published:?}");
    assert!(published.iter().all(|p| p.1 == PublishOutcome::AlreadyThere), "{published:?}");
    assert_eq!(json.published[0].size, local.len() as u64);
    assert_eq!((json.sha256.as_deref(), json.size), (Some(local_sha.as_str()), Some(local.len() as u64)));
    assert_eq!((json.version.as_str(), json.created_at.as_str()), ("1.4.0", "2025-10-11T12:00:00Z"));
    assert_eq!(json.bundle, "artifacts/release/mm-bot-v1.4.0.zip");
    assert_eq!((json.tool.as_str(), json.status), ("bundle", Status::Ok));
    assert_eq!(json.marker, "RELEASE_BUNDLE=artifacts/release/mm-bot-v1.4.0.zip");
    assert!(json.signature.is_none() && json.key_id.is_none() && json.summary.is_none());
    assert_eq!(bucket.listing(), before, "nothing rewritten");
    bucket
        .check(&["bundle", "--publish", &url], &now)
        .code(0)
        .stdout_contains(&format!("published (already there): {zip_url}\n"))
        .stderr_empty()
        .run();

    let run = bucket
        .check(&["bundle", "verify", &zip_url], &[])
        .code(0)
        .stdout_contains(&format!("checked {zip_url}:"))
        .stderr_empty()
        .run();
    assert_eq!(run.last_line(), "| bundle_verify | OK | BUNDLE_VERIFY=OK |");

    // Another build of the same version (other bytes) into another local folder: refused.
    release_repo(&bucket, "# mm-bot, edited\n");
    bucket
        .check(&["bundle", "--out-dir", "other", "--publish", &url], &now)
        .code(1)
        .stdout_empty()
        .stderr_contains(&format!(
            "mmops: error: other/mm-bot-v1.4.0.zip is in place, but publishing failed: {zip_url} already exists \
             with different content (sha256 {local_sha}, this build "
        ))
        .stderr_contains("); releases are immutable: bump the version, or pass --force to replace it\n")
        .run();
    // The refusal comes after the local build: that zip is written (exit 1, not 2), and the
    // error line says so.
    assert!(bucket.env.exists("other/mm-bot-v1.4.0.zip"));
    assert_eq!(bucket.listing(), before, "nothing replaced");
    bucket
        .check(&["bundle", "--out-dir", "other", "--publish", &url, "--force"], &now)
        .code(0)
        .stdout_contains(&format!("published (replaced, --force): {zip_url}\n"))
        .stderr_empty()
        .run();
    bucket
        .check(&["bundle", "verify", &zip_url], &[])
        .code(0)
        .stdout_contains("| bundle_verify | OK | BUNDLE_VERIFY=OK |\n")
        .stderr_empty()
        .run();

    // A tampered object fails verification.
    bucket.moto.python(&format!(
        "b = bytearray(s3.get_object(Bucket='{0}', Key='releases/mm-bot-v1.4.0.zip')['Body'].read()); b[40] ^= 1\n\
         s3.put_object(Bucket='{0}', Key='releases/mm-bot-v1.4.0.zip', Body=bytes(b))",
        bucket.name
    ));
    let run = bucket
        .check(&["bundle", "verify", &zip_url], &[])
        .code(1)
        .stdout_contains("| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |\n")
        .stderr_empty()
        .run();
    assert_eq!(run.last_line(), "| bundle_verify | FAIL | BUNDLE_VERIFY=FAIL |");
    bucket
        .check(&["bundle", "verify", &format!("{url}mm-bot-v9.9.9.zip")], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("does not exist")
        .run();
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
    bucket
        .check(&["bundle", "--publish", &url, "--level", "0"], &[("CI_FAKE_UTC", RELEASE_NOW)])
        .code(0)
        .stdout_contains(&format!("published: {url}mm-bot-v1.4.0.zip\n"))
        .stderr_empty()
        .run();
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
    bucket
        .check(&["bundle", "--publish", &url, "--level", "0"], &[("CI_FAKE_UTC", RELEASE_NOW)])
        .code(0)
        .stdout_contains(&format!("published (already there): {url}mm-bot-v1.4.0.zip\n"))
        .stderr_empty()
        .run();
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
    let json = rotate_json(
        &bucket,
        &["rotate", "--base-dir", &bucket.url("w/"), "--keep", "1", "--format", "json"],
        &now_plus(60),
    );
    assert_eq!(json.totals.deleted_files, 7, "{json:?}");
    let mut paths: Vec<&str> = json.files.iter().map(|row| row.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["100%.txt", "a b.txt", "a%2Fb.txt", "hash#x.txt", "plus+x.txt", "q?x.txt", "ü.txt"]);
    assert_eq!(bucket.keys(), ["w%2Fdecoy.txt", "w/newest.txt", "w2/a b.txt"], "only the planned keys went");

    // A key the client cannot name in a request (a `..` segment, a control character): exit 2
    // before anything is planned, the character escaped in the message.
    bucket.moto.python(&format!(
        "s3.put_object(Bucket='{0}', Key='w/../up.txt', Body=b'1'); s3.put_object(Bucket='{0}', Key='v/ctl\\x01.txt', Body=b'1')",
        bucket.name
    ));
    bucket
        .check(&["rotate", "--base-dir", &bucket.url("w/"), "--keep", "0", "--allow-delete-all"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("cannot handle")
        .stderr_contains("w/../up.txt")
        .run();
    let run = bucket
        .check(&["rotate", "--base-dir", &bucket.url("v/"), "--keep", "0", "--allow-delete-all"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("cannot handle")
        .run();
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
    bucket
        .check(
            &["rotate", "--base-dir", &url, "--keep", "1", "--prom-file", "rotate.prom"],
            &[("CI_FAKE_UTC", &now)],
        )
        .code(0)
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_is("mmops: requests: 1 list, 1 head, 1 DeleteObjects, 0 delete, 1 put\n")
        .run();
    let prom = bucket.env.read("rotate.prom");
    assert!(prom.contains(&format!("mmops_rotate_deleted_files{{base_dir=\"{url}\"}} 1")), "{prom}");
    assert!(prom.contains(&format!("mmops_rotate_success{{base_dir=\"{url}\"}} 1")), "{prom}");
    assert_eq!(bucket.keys(), ["m/.h/b", "m/c"]);

    // --include-hidden makes .h/b a candidate; the lease of a run is never one.
    bucket.put(&[("m/.mmops-rotate.lock", 1)]);
    let json: RotateDocument = bucket
        .check(
            &[
                "rotate",
                "--base-dir",
                &url,
                "--keep",
                "1",
                "--include-hidden",
                "--no-lock",
                "--format",
                "json",
            ],
            &[("CI_FAKE_UTC", &now)],
        )
        .code(0)
        .stdout(Expect::Anything)
        .stderr_contains("--no-lock: no lease taken")
        .run()
        .json_as();
    assert_eq!(json.totals.deleted_files, 1);
    assert_eq!(json.files.iter().map(|row| row.path.as_str()).collect::<Vec<_>>(), [".h/b"]);
    assert_eq!(bucket.keys(), ["m/.mmops-rotate.lock", "m/c"]);

    bucket.env.mkdir("local");
    bucket
        .check(&["rotate", "--base-dir", "local", "--keep", "1", "--no-lock"], &[])
        .code(2)
        .stdout_empty()
        .stderr_contains("--no-lock applies to object storage only")
        .run();
}

#[test]
fn the_server_gone_during_the_re_check_deletes_nothing_and_gives_up_quickly() {
    let Some(bucket) = Bucket::new("killed-head") else { return };
    bucket.put_many("h", 1200);
    let url = bucket.url("h/");
    let proxy = Proxy::start(bucket.moto.port, Fault::KillOn("HEAD /", 40));
    let started = Instant::now();
    let json: RotateDocument = bucket
        .check_at(
            &proxy.endpoint(),
            &["rotate", "--base-dir", &url, "--keep", "100", "--format", "json"],
            &[("CI_FAKE_UTC", &now_plus(60))],
        )
        .code(1)
        .stdout(Expect::Anything)
        .stderr_contains("stopped answering")
        .run()
        .json_as();
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!((json.status, json.marker.as_str()), (Status::Fail, "ROTATE=PARTIAL"));
    assert_eq!(json.totals.deleted_files, 0);
    assert_eq!(json.totals.failed, 1100);
    assert!(
        json.files.iter().all(|row| row.result == FileResult::Failed),
        "every planned object is reported failed"
    );
    assert_eq!(bucket.keys().len(), 1201, "nothing deleted; the lease stays until it expires");
}
