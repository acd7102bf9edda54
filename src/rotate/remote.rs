//! `mmops rotate --base-dir s3://bucket/prefix/`: the same planner, guards and report as on a
//! disk, over an object-store listing.
//!
//! One run: take the lease object (real runs) → list the prefix page by page into a [`Scan`]
//! ([`ListingScan`]) → plan (the same [`plan::plan`]) → the same guards → for each batch of at
//! most 1000 selected keys: renew the lease, HEAD each key and keep only those whose ETag and
//! last-modified are still the listed ones (`changed` / `vanished` otherwise), delete the rest
//! in one `DeleteObjects` request → release the lease → report. A dry run sends only the listing.
//!
//! Between a key's HEAD and its delete there is a window of one request in which an overwrite is
//! not seen; `docs/object-storage.md` says so.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::atomic_write::AtomicFile;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::object_storage::{DELETE_BATCH, NO_ANSWER, NOT_ATTEMPTED, Object, Put, Store, StoreUrl};
use crate::outcome::Verdict;
use crate::sanitize::display_path;

use super::apply::{Attempt, FileResult};
use super::plan::{self, GuardInput, GuardRule, PlanFile as _, check_guards};
use super::policy::Retention;
use super::report::{FilesView, RotateReport, Totals};
use super::scan::{LOCK_FILE_NAME, ListingScan, Scan, ScanOptions};

/// How long a lease is valid without renewal; a run renews it before each batch.
const LEASE_TTL: Duration = Duration::from_secs(15 * 60);
/// A lease older than this since its last write is renewed before the next batch.
const LEASE_RENEW_AFTER: Duration = Duration::from_secs(5 * 60);
/// How often a run waiting for the lease (`--wait-lock`) asks again.
const LEASE_POLL: Duration = Duration::from_millis(500);
/// The largest lease object read back.
const LEASE_MAX_BYTES: u64 = 4096;
/// How many future-dated objects a warning names before summarising.
const FUTURE_NAMES_SHOWN: usize = 5;

/// What the lease object holds.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    acquired: String,
    expires: String,
}

/// A lease this run holds.
struct Lease {
    key: String,
    etag: String,
    holder: String,
    acquired: String,
    written: Instant,
}

pub(super) fn run(
    args: &RotateArgs,
    context: &Context,
    url: StoreUrl,
    retention: Retention,
) -> Result<Verdict> {
    let printer = &context.printer;
    if args.archive.is_some() {
        bail!(
            "--archive with {}: not supported for object storage yet; nothing was deleted",
            url.show_prefix()
        );
    }
    // The retention planner's fields work on files and folders of a local tree only so far.
    if let Some(rule) = retention.rules.iter().find(|rule| rule.is_shaped()) {
        bail!(
            "rule {}: keep_* periods, companions, unit and order are not supported for object storage yet \
             ({}); use days, keep and max_size there; nothing was deleted",
            display_path(std::path::Path::new(&rule.label)),
            url.show_prefix()
        );
    }
    if retention.min_free.is_some() {
        bail!("--min-free / min_free has no meaning on object storage (no filesystem to free); drop it");
    }
    if args.explain.is_some() {
        bail!(
            "--explain works on a local base dir only so far; use --dry-run --format json on {}",
            url.show_prefix()
        );
    }
    if args.prune_empty_dirs {
        bail!(
            "--prune-empty-dirs has no meaning on object storage (there are no folders to remove); drop it"
        );
    }
    let store = Store::connect(&url)?;
    let started = crate::clock::monotonic();
    let now_nanos = i128::from(context.now.timestamp()) * 1_000_000_000
        + i128::from(context.now.timestamp_subsec_nanos());
    // "Now" as the lease sees it: the run's now plus the time the run has taken so far.
    let lease_now = || context.now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();

    let mut lease = None;
    if !args.dry_run {
        if args.no_lock {
            printer.warn(format!(
                "--no-lock: no lease taken on {}; a concurrent run may delete the same objects",
                url.show_prefix()
            ));
        } else {
            let (taken, takeover) =
                match acquire_lease(&store, args.wait_lock.unwrap_or(Duration::ZERO), &lease_now) {
                    Ok(taken) => taken,
                    Err(error) => match error.downcast::<super::apply::LockHeld>() {
                        Ok(held) => {
                            printer.problem(&held);
                            let shown = url.show_prefix();
                            return printer.emit(&super::report::LockedReport::new(shown, held));
                        }
                        Err(error) => return Err(error),
                    },
                };
            if let Some(previous) = takeover {
                printer.warn(format!("took over the expired lease {} from {previous}", url.show(&taken.key)));
            }
            lease = Some(taken);
        }
    }
    // From here on a failure must release the lease.
    let result = rotate(args, context, &store, &retention, now_nanos, &mut lease, &lease_now);
    if let Some(lease) = &lease
        && let Err(error) = release_lease(&store, lease)
    {
        printer.problem(format!("{error}; it expires by itself"));
    }
    result
}

fn rotate(
    args: &RotateArgs,
    context: &Context,
    store: &Store,
    retention: &Retention,
    now_nanos: i128,
    lease: &mut Option<Lease>,
    lease_now: &dyn Fn() -> DateTime<Utc>,
) -> Result<Verdict> {
    let printer = &context.printer;
    let url = &store.url;
    let options = ScanOptions { include_hidden: args.include_hidden, retention, archive_dir: None };
    let mut listing = ListingScan::new(&options);
    // The listed ETag of each candidate, by its position in the listing (`walk_order`).
    let mut etags: Vec<Option<Box<str>>> = Vec::new();
    let list_prefix = url.prefix.clone();
    let strip = if list_prefix.is_empty() { 0 } else { list_prefix.len() + 1 };
    store.list(&list_prefix, |object| {
        let Some(relative) = object.key.get(strip..) else { return };
        if listing.add(relative, object.size, object.last_modified_nanos) {
            etags.push(object.etag.map(String::into_boxed_str));
        }
    })?;
    let mut scan = listing.finish();
    etags.shrink_to_fit();
    scan.sort_oldest_first();

    let limits: Vec<plan::Limits> = retention.rules.iter().map(|rule| rule.limits).collect();
    let plan = plan::plan(&scan.files, |a, b| scan.compare_paths(a, b), &limits, now_nanos);
    let candidate_count = scan.files.len() as u64;
    let refusal = check_guards(&GuardInput {
        selected: plan.selected.len() as u64,
        candidates: candidate_count,
        rules: retention
            .rules
            .iter()
            .zip(&plan.groups)
            .map(|(rule, summary)| GuardRule {
                label: &rule.label,
                limits: rule.limits,
                within_days: rule.within_only_days(),
                summary,
            })
            .collect(),
        newest: scan.files.last().map(|file| (display_path(&scan.relative_path(file)), file.mtime_nanos())),
        now_nanos,
        allow_delete_all: args.allow_delete_all,
        max_delete: args.max_delete,
    });

    let mut warnings = Vec::new();
    if !plan.future.is_empty() {
        let names: Vec<String> = plan
            .future
            .iter()
            .take(FUTURE_NAMES_SHOWN)
            .map(|&index| display_path(&scan.relative_path(&scan.files[index as usize])))
            .collect();
        let more = plan.future.len().saturating_sub(FUTURE_NAMES_SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let count = if plan.future.len() == 1 {
            "1 object is".to_string()
        } else {
            format!("{} objects are", plan.future.len())
        };
        warnings
            .push(format!("{count} dated in the future (clock skew?) and kept: {}{more}", names.join(", ")));
    }
    for (rule, summary) in retention.rules.iter().zip(&plan.groups) {
        if !summary.unmet.is_empty() {
            warnings.push(format!(
                "rule {}: the kept objects still exceed {} because future-dated objects are never deleted",
                rule.label,
                summary.unmet.join(" and ")
            ));
        }
    }

    let mut attempts: Vec<Attempt> = vec![(FileResult::WouldDelete, None); plan.selected.len()];
    let mut dry_run_refusal = None;
    let mut prom_output = None;
    if args.dry_run {
        if let Some(refusal) = &refusal {
            dry_run_refusal = Some(refusal.message());
        }
        if args.prom_file.is_some() {
            warnings.push("--prom-file is not written on a dry run (a dry run writes nothing)".to_string());
        }
    } else {
        if let Some(refusal) = refusal {
            bail!("{}; nothing was deleted", refusal.message());
        }
        if let Some(path) = &args.prom_file {
            prom_output = Some(AtomicFile::create(path).context("--prom-file: nothing was deleted")?);
        }
        let watch = crate::interrupt::Watch::start()?;
        let mut stopped: Option<String> = None;
        for (batch_number, batch) in plan.selected.chunks(DELETE_BATCH).enumerate() {
            let offset = batch_number * DELETE_BATCH;
            let results = &mut attempts[offset..offset + batch.len()];
            if let Some(reason) = &stopped {
                for result in results.iter_mut() {
                    *result = (FileResult::Failed, Some(reason.clone()));
                }
                continue;
            }
            if watch.requested() {
                for result in results.iter_mut() {
                    *result = (FileResult::Interrupted, None);
                }
                continue;
            }
            if let Some(held) = lease.as_mut()
                && let Err(error) = renew_lease(store, held, lease_now)
            {
                let reason = format!("not attempted: {error}");
                printer.problem(format!("{error}; stopping before the next batch"));
                for result in results.iter_mut() {
                    *result = (FileResult::Failed, Some(reason.clone()));
                }
                stopped = Some(reason);
                continue;
            }
            if let Err(error) = delete_batch(store, &scan, &etags, batch, results) {
                let reason = format!("{NOT_ATTEMPTED}: {error}");
                printer.problem(format!("{error}; the objects not yet deleted are kept"));
                stopped = Some(reason);
            }
        }
        if watch.requested() {
            printer.problem("interrupted: stopped between two batches; the objects not yet deleted are kept");
        }
        for ((index, _), (result, error)) in plan.selected.iter().zip(&attempts) {
            if *result == FileResult::Failed {
                printer.problem(format!(
                    "cannot delete {}: {}",
                    url.show(&url.key(&display_path(&scan.relative_path(&scan.files[*index as usize])))),
                    error.as_deref().unwrap_or("unknown error")
                ));
            }
        }
    }
    for warning in &warnings {
        printer.warn(warning);
    }

    let mut totals = Totals {
        selected_files: plan.selected.len() as u64,
        selected_bytes: plan.selected_bytes(&scan.files),
        ..Totals::default()
    };
    let mut vanished_bytes = 0;
    for ((index, _), (result, _)) in plan.selected.iter().zip(&attempts) {
        let size = scan.files[*index as usize].size;
        match result {
            FileResult::Deleted => {
                totals.deleted_files += 1;
                totals.deleted_bytes += size;
            }
            FileResult::Vanished => {
                totals.vanished += 1;
                vanished_bytes += size;
            }
            FileResult::Changed => totals.changed += 1,
            FileResult::Failed => totals.failed += 1,
            FileResult::Interrupted => totals.interrupted += 1,
            FileResult::Quarantined => totals.quarantined += 1,
            FileResult::WouldDelete => {}
        }
    }
    let scanned_bytes = scan.total_bytes();
    let gone = if args.dry_run {
        (totals.selected_files, totals.selected_bytes)
    } else {
        (totals.deleted_files + totals.vanished, totals.deleted_bytes + vanished_bytes)
    };
    totals.kept_files = candidate_count - gone.0;
    totals.kept_bytes = scanned_bytes - gone.1;

    let rule_labels: Vec<String> = retention.rules.iter().map(|rule| rule.label.clone()).collect();
    let views = super::plan_views(retention, &plan, &scan, candidate_count, scanned_bytes);
    let by_reason = super::reason_counts(retention, &scan, &plan.selected, &attempts);
    let report = RotateReport {
        would_archive: None,
        by_reason,
        summary_only: args.summary,
        left_in_quarantine: Vec::new(),
        output_error: None,
        min_free: None,
        base_dir: url.show_prefix(),
        dry_run: args.dry_run,
        now: crate::clock::format_utc(context.now),
        policy: views.policy,
        default_policy: views.default_policy,
        rules: views.rules,
        uncovered: plan.uncovered.clone(),
        scan: views.scan,
        files: FilesView { scan, selected: plan.selected, results: attempts, rule_labels, now_nanos },
        totals,
        future_dated: views.future_dated,
        archive: None,
        pruned_dirs: Vec::new(),
        refusal: dry_run_refusal,
        base_dir_removed: false,
        warnings,
    };
    let requests = store.requests();
    printer.note(format!(
        "requests: {} list, {} head, {} DeleteObjects, {} delete, {} put",
        requests.list, requests.head, requests.delete_batches, requests.delete, requests.put
    ));
    let deleted_any = report.totals.deleted_files > 0;
    let done = || {
        format!(
            "{} {} deleted ({})",
            report.totals.deleted_files,
            if report.totals.deleted_files == 1 { "object was" } else { "objects were" },
            crate::units::format_size(report.totals.deleted_bytes),
        )
    };
    if let Some(mut atomic) = prom_output {
        let written = atomic
            .write_all(super::prom_text(&[&report], &[], context).as_bytes())
            .context("cannot write --prom-file")
            .and_then(|()| atomic.commit());
        if let Err(error) = written {
            let _ = printer.emit(&report);
            return Err(super::partial(error.context(format!("{}; ROTATE=PARTIAL", done()))));
        }
    }
    if let Some(refusal) = &report.refusal {
        if printer.format() == crate::cli::Format::Text {
            printer.emit(&report)?;
        }
        bail!("a real run would be refused: {refusal}");
    }
    match printer.emit(&report) {
        Ok(verdict) => Ok(verdict),
        Err(error) if deleted_any => {
            printer.problem(format!("{}; | rotate | FAIL | ROTATE=PARTIAL |", done()));
            Err(super::partial(error))
        }
        Err(error) => Err(error),
    }
}

/// Re-checks one batch against the listing and deletes what is unchanged, in one request.
/// `Err` when the store stopped answering: the batch's results say what is known.
fn delete_batch(
    store: &Store,
    scan: &Scan,
    etags: &[Option<Box<str>>],
    batch: &[(u32, plan::Reason)],
    results: &mut [Attempt],
) -> Result<()> {
    let url = &store.url;
    let keys: Vec<String> = batch
        .iter()
        .map(|(index, _)| url.key(&key_text(&scan.relative_path(&scan.files[*index as usize]))))
        .collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let heads = store.head_many(&key_refs);
    let store_down = heads.iter().any(|head| {
        head.as_ref().is_err_and(|error| error.starts_with(NO_ANSWER) || error.starts_with(NOT_ATTEMPTED))
    });
    let mut to_delete = Vec::new();
    let mut positions = Vec::new();
    for (position, ((index, _), head)) in batch.iter().zip(heads).enumerate() {
        let file = &scan.files[*index as usize];
        let listed_etag = etags[file.walk_order as usize].as_deref();
        results[position] = match head {
            Ok(None) => (FileResult::Vanished, None),
            Ok(Some(now)) if same_object(&now, listed_etag, file.mtime_nanos(), file.size) => {
                to_delete.push(keys[position].clone());
                positions.push(position);
                continue;
            }
            Ok(Some(_)) => (FileResult::Changed, Some("overwritten since it was listed; kept".to_string())),
            Err(error) => (FileResult::Failed, Some(format!("cannot re-check it: {error}"))),
        };
    }
    if store_down {
        // Nothing of this batch is deleted: the store stopped answering while it was re-checked.
        let reason = format!("{NOT_ATTEMPTED}: the store stopped answering during the re-check");
        for &position in &positions {
            results[position] = (FileResult::Failed, Some(reason.clone()));
        }
        bail!("the store {} stopped answering", url.show_prefix());
    }
    let outcome = match store.delete_batch(&to_delete) {
        Ok(outcome) => outcome,
        Err(error) => {
            let reason = format!("the delete request failed: {error}");
            for &position in &positions {
                results[position] = (FileResult::Failed, Some(reason.clone()));
            }
            return Err(anyhow!("{error}"));
        }
    };
    for (position, answer) in positions.into_iter().zip(outcome) {
        results[position] = match answer {
            Ok(()) => (FileResult::Deleted, None),
            Err(message) => (FileResult::Failed, Some(message)),
        };
    }
    Ok(())
}

/// Whether the object a HEAD saw is the one the listing saw.
fn same_object(now: &Object, listed_etag: Option<&str>, listed_nanos: i128, listed_size: u64) -> bool {
    let etag_same = match (now.etag.as_deref(), listed_etag) {
        (Some(now), Some(listed)) => now.trim_matches('"') == listed.trim_matches('"'),
        (None, None) => true,
        _ => false,
    };
    // Listings report last-modified to the millisecond, HEAD to the second (HTTP date).
    let seconds_same =
        now.last_modified_nanos.div_euclid(1_000_000_000) == listed_nanos.div_euclid(1_000_000_000);
    etag_same && seconds_same && now.size == listed_size
}

/// A relative path from the scan as the key text it came from (keys are UTF-8).
fn key_text(relative: &Path) -> String {
    relative.to_string_lossy().into_owned()
}

fn holder_name() -> String {
    // The kernel's host name; in a Kubernetes pod, the pod's name.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = if host.trim().is_empty() { "an unknown host" } else { host.trim() };
    format!("mmops rotate on {host} pid {}", std::process::id())
}

/// Takes the lease object with a create-only put, waiting up to `wait` for a live one to go, and
/// taking over one that expired (by a put conditional on the expired lease's ETag, so two runs
/// cannot both take it over). Returns the lease and, on a takeover, who held it.
fn acquire_lease(
    store: &Store,
    wait: Duration,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Result<(Lease, Option<String>)> {
    let url = &store.url;
    let key = url.key(LOCK_FILE_NAME);
    let shown = url.show(&key);
    let holder = holder_name();
    let deadline = crate::clock::monotonic().checked_add(wait).unwrap_or_else(crate::clock::monotonic);
    loop {
        let acquired = now();
        let body = lease_body(&holder, acquired);
        match store.put_create(&key, body.clone()).map_err(|error| not_supported_hint(error, &shown))? {
            Put::Written(etag) => {
                let lease = Lease {
                    etag: etag.unwrap_or_default(),
                    key,
                    holder,
                    acquired: crate::clock::format_utc(acquired),
                    written: crate::clock::monotonic(),
                };
                return Ok((lease, None));
            }
            Put::Refused => {}
        }
        let Some((bytes, object)) = store.get_small(&key, LEASE_MAX_BYTES)? else {
            continue; // released between our put and our read: try again at once
        };
        let existing: Option<LeaseBody> = serde_json::from_slice(&bytes).ok();
        let expires = existing
            .as_ref()
            .and_then(|lease| DateTime::parse_from_rfc3339(&lease.expires).ok())
            .map(|time| time.with_timezone(&Utc));
        let current_holder = existing.as_ref().map_or_else(
            || "an unreadable lease (not written by mmops?)".to_string(),
            |lease| crate::sanitize::display_text(&lease.holder, false),
        );
        if let Some(expires) = expires
            && expires < now()
        {
            let etag = object.etag.clone().unwrap_or_default();
            if let Put::Written(new_etag) = store.put_update(&key, body, &etag)? {
                let lease = Lease {
                    etag: new_etag.unwrap_or_default(),
                    key,
                    holder,
                    acquired: crate::clock::format_utc(acquired),
                    written: crate::clock::monotonic(),
                };
                let previous = format!("{current_holder} (expired {})", crate::clock::format_utc(expires));
                return Ok((lease, Some(previous)));
            }
            continue; // another run took it over first: look again
        }
        if crate::clock::monotonic() >= deadline {
            let until =
                expires.map_or(String::new(), |time| format!(" until {}", crate::clock::format_utc(time)));
            // The same report as a held local lock: exit 1 with the ROTATE=LOCKED marker row.
            return Err(anyhow::Error::new(super::apply::LockHeld {
                kind: "lease",
                lock: shown,
                holder: format!("{current_holder}{until}"),
                waited: wait,
            }));
        }
        std::thread::sleep(LEASE_POLL.min(deadline.saturating_duration_since(crate::clock::monotonic())));
    }
}

/// A store that rejects `If-None-Match` cannot give a lease; say so and how to go on.
fn not_supported_hint(error: anyhow::Error, shown: &str) -> anyhow::Error {
    let text = error.to_string();
    if text.contains("HTTP 501") || text.contains("NotImplemented") {
        anyhow!(
            "cannot take the lease {shown}: the store does not support conditional puts (If-None-Match: *), so \
             two runs could not be kept apart; refusing (pass --no-lock if only one run can ever touch this prefix)"
        )
    } else {
        error
    }
}

fn lease_body(holder: &str, acquired: DateTime<Utc>) -> Vec<u8> {
    let expires = acquired + chrono::Duration::from_std(LEASE_TTL).unwrap_or_default();
    let body = LeaseBody {
        holder: holder.to_string(),
        acquired: crate::clock::format_utc(acquired),
        expires: crate::clock::format_utc(expires),
    };
    let mut bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Extends the lease when it was last written long ago; fails when someone else took it.
fn renew_lease(store: &Store, lease: &mut Lease, now: &dyn Fn() -> DateTime<Utc>) -> Result<()> {
    if lease.written.elapsed() < LEASE_RENEW_AFTER {
        return Ok(());
    }
    let shown = store.url.show(&lease.key);
    let mut body = lease_body(&lease.holder, now());
    // Keep the first acquisition time in the body.
    if let Ok(mut parsed) = serde_json::from_slice::<LeaseBody>(&body) {
        parsed.acquired = lease.acquired.clone();
        body = serde_json::to_vec_pretty(&parsed).unwrap_or(body);
    }
    match store.put_update(&lease.key, body, &lease.etag)? {
        Put::Written(etag) => {
            lease.etag = etag.unwrap_or_default();
            lease.written = crate::clock::monotonic();
            Ok(())
        }
        Put::Refused => bail!("lost the lease {shown}: another run took it over"),
    }
}

/// Deletes the lease if it is still ours.
fn release_lease(store: &Store, lease: &Lease) -> Result<()> {
    let shown = store.url.show(&lease.key);
    match store.head(&lease.key) {
        Ok(Some(object)) if object.etag.as_deref() == Some(lease.etag.as_str()) => {
            store.delete(&lease.key).map_err(|error| anyhow!("cannot release the lease {shown}: {error}"))
        }
        Ok(_) => Ok(()), // taken over or gone: not ours to delete
        Err(error) => Err(anyhow!("cannot release the lease {shown}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy::PathGlob;
    use super::*;

    fn retention(excludes: &[&str]) -> Retention {
        Retention {
            excludes: excludes.iter().map(|glob| PathGlob::new(glob).unwrap()).collect(),
            ..Retention::select_everything()
        }
    }

    #[test]
    fn listed_keys_become_candidates_in_folders_and_hidden_keys_never_do() {
        let retention = retention(&["*.pin"]);
        let options = ScanOptions { include_hidden: false, retention: &retention, archive_dir: None };
        let mut listing = ListingScan::new(&options);
        let added: Vec<bool> = [
            "a.json",
            "x/y/b.json",
            "x/y/c.json",
            ".mmops-rotate.lock",
            ".hidden/one",
            ".hidden/two",
            "x/.cache/three",
            "x/.dot",
            "keep.pin",
            "x/",
        ]
        .iter()
        .map(|key| listing.add(key, 1, 1_000_000_000))
        .collect();
        assert_eq!(added, [true, true, true, false, false, false, false, false, false, false]);
        let scan = listing.finish();
        let paths: Vec<String> =
            scan.files.iter().map(|file| scan.relative_path(file).to_string_lossy().into_owned()).collect();
        assert_eq!(paths, ["a.json", "x/y/b.json", "x/y/c.json"]);
        assert_eq!(scan.dirs.len(), 3, "root, x, x/y");
        // A hidden folder counts once, like on disk.
        assert_eq!(scan.skipped.hidden, 3);
        assert_eq!(scan.skipped.excluded, 1);
        assert_eq!(scan.skipped.special, 1);
        assert_eq!(scan.files[1].walk_order, 1);

        let options = ScanOptions { include_hidden: true, retention: &retention, archive_dir: None };
        let mut listing = ListingScan::new(&options);
        assert!(listing.add(".hidden/one", 1, 0));
        assert!(!listing.add(".mmops-rotate.lock", 1, 0), "the lease is never a candidate");
    }

    #[test]
    fn the_re_check_compares_etag_second_and_size() {
        let listed = Object {
            key: "k".into(),
            size: 3,
            last_modified_nanos: 5_250_000_000,
            etag: Some("\"abc\"".into()),
        };
        assert!(same_object(&listed, Some("abc"), 5_000_000_000, 3), "HEAD's second precision");
        assert!(!same_object(&listed, Some("abd"), 5_250_000_000, 3));
        assert!(!same_object(&listed, Some("abc"), 6_000_000_000, 3));
        assert!(!same_object(&listed, Some("abc"), 5_250_000_000, 4));
        assert!(!same_object(&listed, None, 5_250_000_000, 3));
    }
}
