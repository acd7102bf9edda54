//! `bundle --prom-file` and `bundle verify --prom-file`: the release and its check as Prometheus
//! textfiles — which version was bundled, how big the zip is and when it was made; whether the
//! last verify passed and when it ran.

use std::path::Path;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use super::CreateReport;
use super::verify::VerifyReport;
use crate::prometheus::{Exposition, MetricType, unix_seconds};

/// The label naming a bundle: its file name, the same from any working folder.
fn bundle_label(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

pub(super) fn create_exposition(
    report: &CreateReport,
    name: &str,
    zip_path: &Path,
    now: DateTime<Utc>,
) -> Exposition {
    let manifest = &report.manifest;
    let created = DateTime::parse_from_rfc3339(&manifest.created_at)
        .map(|instant| unix_seconds(instant.with_timezone(&Utc)))
        .unwrap_or(f64::NAN);
    let mut exposition = Exposition::new();
    exposition
        .metric(
            "mmops_bundle_info",
            "The release the last bundle run made or found in place (always 1).",
            MetricType::Gauge,
            &[(
                vec![
                    ("bundle", bundle_label(zip_path).as_str()),
                    ("name", name),
                    ("version", manifest.version.as_str()),
                ],
                1.0,
            )],
        )
        .single(
            "mmops_bundle_size_bytes",
            "Size of the release zip.",
            MetricType::Gauge,
            report.size.unwrap_or_default() as f64,
        )
        .single(
            "mmops_bundle_files",
            "Files in the release zip, MANIFEST.json excluded.",
            MetricType::Gauge,
            manifest.files.len() as f64,
        )
        .single(
            "mmops_bundle_created_timestamp_seconds",
            "The bundle's creation time as recorded in it (SOURCE_DATE_EPOCH or the run's time).",
            MetricType::Gauge,
            created,
        )
        .single(
            "mmops_bundle_last_run_timestamp_seconds",
            "When the last bundle run finished (Unix seconds).",
            MetricType::Gauge,
            unix_seconds(now),
        );
    exposition
}

pub(super) fn verify_exposition(report: &VerifyReport, zip: &Path, now: DateTime<Utc>) -> Result<Exposition> {
    let document = serde_json::to_value(report).context("cannot turn the verify report into metrics")?;
    let problems = document["problems"].as_array().map_or(0, Vec::len);
    let label = bundle_label(zip);
    let labels = || vec![("bundle", label.as_str())];
    let mut exposition = Exposition::new();
    exposition
        .metric(
            "mmops_bundle_verify_success",
            "1 when the last verify found the bundle intact (sidecar, manifest, every entry), else 0.",
            MetricType::Gauge,
            &[(labels(), f64::from(u8::from(problems == 0)))],
        )
        .metric(
            "mmops_bundle_verify_problems",
            "Problems the last verify found.",
            MetricType::Gauge,
            &[(labels(), problems as f64)],
        )
        .metric(
            "mmops_bundle_verify_size_bytes",
            "Size of the verified zip.",
            MetricType::Gauge,
            &[(labels(), document["size"].as_f64().unwrap_or(0.0))],
        )
        .metric(
            "mmops_bundle_verify_last_run_timestamp_seconds",
            "When the last verify ran (Unix seconds).",
            MetricType::Gauge,
            &[(labels(), unix_seconds(now))],
        );
    Ok(exposition)
}
