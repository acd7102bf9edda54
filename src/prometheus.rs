//! Prometheus textfile-collector output, shared by every subcommand that offers `--prom-file`.
//!
//! One naming scheme for every tool (checked by [`check_family`] each time a family is added, and
//! by the tests against every file the tools write): `mmops_<tool>_` prefix, base units in the
//! name (`_seconds`, `_bytes`, `_timestamp_seconds`), `_total` on counters and only on counters,
//! `_info` gauges (value 1) to carry labels. Names are written out in full in the code, so a test
//! can find every one of them and compare with `docs/metrics.md`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::atomic_write::AtomicFile;
use crate::sanitize::display_path;

/// The tools as they appear in metric names, longest first so `bundle_verify` wins over `bundle`.
pub const TOOLS: [&str; 6] = ["bundle_verify", "cron_sentinel", "make_ready", "edge_sim", "bundle", "rotate"];

/// Unit words that have a base unit instead (Prometheus wants seconds and bytes).
const NON_BASE_UNITS: [&str; 14] = [
    "ms",
    "msec",
    "millis",
    "milliseconds",
    "us",
    "microseconds",
    "minutes",
    "hours",
    "days",
    "kb",
    "kib",
    "mb",
    "mib",
    "gb",
];

/// Metric kind, as in the `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
}

impl MetricType {
    fn word(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// Whether a family name follows mmops' naming scheme; the error says which rule it breaks.
pub fn check_family(name: &str, kind: MetricType) -> Result<(), String> {
    let Some(rest) = name.strip_prefix("mmops_") else {
        return Err(format!("{name}: every mmops metric starts with mmops_<tool>_"));
    };
    if !TOOLS.iter().any(|tool| rest.strip_prefix(tool).is_some_and(|after| after.starts_with('_'))) {
        return Err(format!("{name}: the part after mmops_ must be a tool ({})", TOOLS.join(", ")));
    }
    if !name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        || name.ends_with('_')
        || name.contains("__")
    {
        return Err(format!("{name}: names are lower-case snake_case"));
    }
    let words: Vec<&str> = name.split('_').collect();
    if let Some(unit) = words.iter().find(|word| NON_BASE_UNITS.contains(word)) {
        return Err(format!("{name}: `{unit}` is not a base unit; use _seconds or _bytes"));
    }
    if words.contains(&"timestamp") && !name.ends_with("_timestamp_seconds") {
        return Err(format!("{name}: timestamps end in _timestamp_seconds (Unix seconds)"));
    }
    match (kind, name.ends_with("_total")) {
        (MetricType::Counter, false) => Err(format!("{name}: a counter's name ends in _total")),
        (MetricType::Gauge, true) => Err(format!("{name}: _total is for counters only")),
        _ => Ok(()),
    }
}

/// Whether a label name is valid (and not reserved: `__` is Prometheus's own).
pub fn check_label_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|byte| byte.is_ascii_alphabetic() || byte == b'_');
    if !first_ok || !bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') || name.starts_with("__")
    {
        return Err(format!(
            "label {name:?}: label names are [a-zA-Z_][a-zA-Z0-9_]* and do not start with __"
        ));
    }
    Ok(())
}

/// A text exposition built metric by metric, each with its HELP and TYPE lines.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Adds one metric family; each sample is (labels, value). Label values are escaped. A family
    /// without samples is left out (HELP and TYPE alone say nothing). Debug builds (and so every
    /// test) panic on a name or label that breaks the naming scheme.
    pub fn metric(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: &[(Vec<(&str, &str)>, f64)],
    ) -> &mut Self {
        debug_assert_eq!(check_family(name, kind), Ok(()));
        debug_assert!(
            !name.ends_with("_info") || samples.iter().all(|(_, value)| *value == 1.0),
            "{name}: an _info gauge is always 1"
        );
        if samples.is_empty() {
            return self;
        }
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.word());
        for (labels, value) in samples {
            self.text.push_str(name);
            if !labels.is_empty() {
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(key, value)| {
                        debug_assert_eq!(check_label_name(key), Ok(()));
                        format!("{key}=\"{}\"", escape_label_value(value))
                    })
                    .collect();
                let _ = write!(self.text, "{{{}}}", rendered.join(","));
            }
            let _ = writeln!(self.text, " {}", format_value(*value));
        }
        self
    }

    /// Adds a metric family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: MetricType, value: f64) -> &mut Self {
        self.metric(name, help, kind, &[(Vec::new(), value)])
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A `--prom-file` being written: created (temporary file and all) before a run's first
/// irreversible step, so a path that cannot take it is exit 2 with nothing changed, and committed
/// with the run's exposition at the end. Dropped without commit, the old file stays as it was.
pub struct PromFile {
    file: AtomicFile,
}

impl PromFile {
    /// Refuses a name node_exporter would ignore (it reads only `*.prom`), then creates the
    /// temporary file next to it.
    pub fn create(path: &Path) -> Result<PromFile> {
        check_name(path)?;
        let file = AtomicFile::create(path).with_context(|| {
            format!("cannot write the Prometheus file {} (--prom-file)", display_path(path))
        })?;
        Ok(PromFile { file })
    }

    /// [`PromFile::create`], after refusing a path that names another file of the same run
    /// (`(flag, path)` pairs): the textfile would replace it, e.g. the edge-sim state file.
    pub fn create_apart(path: &Path, others: &[(&str, &Path)]) -> Result<PromFile> {
        PromFile::check_path(path, others)?;
        PromFile::create(path)
    }

    /// The checks of [`PromFile::create_apart`] without creating anything: for a tool that
    /// refuses bad input before it takes locks or makes its other outputs (rotate).
    pub fn check_path(path: &Path, others: &[(&str, &Path)]) -> Result<()> {
        check_name(path)?;
        if let Some((flag, _)) =
            others.iter().find(|(_, other)| crate::atomic_write::same_destination(path, other))
        {
            bail!(
                "--prom-file {} is also the {flag} file; give the Prometheus file its own path",
                display_path(path)
            );
        }
        Ok(())
    }

    /// The exposition written into the temporary file, not yet committed: for a tool that
    /// commits all its outputs together.
    pub fn prepared(mut self, exposition: &Exposition) -> Result<AtomicFile> {
        let shown = display_path(self.file.path());
        self.file
            .write_all(exposition.as_str().as_bytes())
            .with_context(|| format!("cannot write the Prometheus file {shown} (--prom-file)"))?;
        Ok(self.file)
    }

    /// Writes the exposition and renames it over the final name.
    pub fn commit(mut self, exposition: &Exposition) -> Result<()> {
        let shown = display_path(self.file.path());
        self.file
            .write_all(exposition.as_str().as_bytes())
            .with_context(|| format!("cannot write the Prometheus file {shown} (--prom-file)"))?;
        self.file.commit().with_context(|| format!("cannot write the Prometheus file {shown} (--prom-file)"))
    }

    /// [`PromFile::commit`] for a run that already did something irreversible (`done` says what):
    /// a failure here is PARTIAL (exit 1), never exit 2, and the message keeps what was done.
    pub fn commit_after(self, exposition: &Exposition, done: &str) -> Result<()> {
        self.commit(exposition).map_err(|error| {
            error.context(crate::outcome::Partial(format!("{done}, but the Prometheus file was not updated")))
        })
    }
}

/// node_exporter's textfile collector reads only files whose name ends in `.prom`.
fn check_name(path: &Path) -> Result<()> {
    if path.extension().is_none_or(|extension| extension != "prom") {
        bail!(
            "--prom-file {}: node_exporter's textfile collector reads only files ending in .prom; \
             give the file a .prom name",
            display_path(path)
        );
    }
    Ok(())
}

/// A Unix time in seconds as a sample value.
pub fn unix_seconds(instant: chrono::DateTime<chrono::Utc>) -> f64 {
    instant.timestamp() as f64 + f64::from(instant.timestamp_subsec_millis()) / 1000.0
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

/// Label values escape backslash, double quote and newline.
pub fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// HELP text escapes backslash and newline.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_with_escaped_labels() {
        let mut exposition = Exposition::new();
        exposition
            .metric(
                "mmops_rotate_fresh",
                "Whether fresh.",
                MetricType::Gauge,
                &[(vec![("task", "a\"b\\c\nd")], 1.0)],
            )
            .single("mmops_rotate_last_run_timestamp_seconds", "Last run.", MetricType::Gauge, 1.5e9)
            .metric("mmops_rotate_nothing", "No samples.", MetricType::Gauge, &[]);
        assert_eq!(
            exposition.as_str(),
            "# HELP mmops_rotate_fresh Whether fresh.\n# TYPE mmops_rotate_fresh gauge\nmmops_rotate_fresh{task=\"a\\\"b\\\\c\\nd\"} 1\n\
             # HELP mmops_rotate_last_run_timestamp_seconds Last run.\n# TYPE mmops_rotate_last_run_timestamp_seconds gauge\n\
             mmops_rotate_last_run_timestamp_seconds 1500000000\n"
        );
    }

    #[test]
    fn naming_scheme_is_enforced() {
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;
        assert_eq!(check_family("mmops_edge_sim_policy_changes_total", counter), Ok(()));
        assert_eq!(check_family("mmops_bundle_verify_success", gauge), Ok(()));
        assert_eq!(check_family("mmops_make_ready_step_duration_seconds", gauge), Ok(()));
        for (name, kind, rule) in [
            ("mm_rotate_success", gauge, "starts with mmops_"),
            ("mmops_cron_task_fresh", gauge, "must be a tool"),
            ("mmops_rotate_Success", gauge, "snake_case"),
            ("mmops_rotate__x", gauge, "snake_case"),
            ("mmops_rotate_duration_ms", gauge, "not a base unit"),
            ("mmops_rotate_size_mib", gauge, "not a base unit"),
            ("mmops_rotate_last_run_timestamp", gauge, "_timestamp_seconds"),
            ("mmops_rotate_runs", counter, "ends in _total"),
            ("mmops_rotate_runs_total", gauge, "counters only"),
        ] {
            let error = check_family(name, kind).expect_err(name);
            assert!(error.contains(rule), "{name}: {error}");
        }
        assert!(check_label_name("base_dir").is_ok());
        for bad in ["", "9x", "a-b", "__name__"] {
            assert!(check_label_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prom_file_needs_a_prom_name_and_leaves_the_old_file_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let error = PromFile::create(&dir.path().join("x.txt")).err().unwrap();
        assert!(error.to_string().contains("reads only files ending in .prom"), "{error}");
        let path = dir.path().join("x.prom");
        std::fs::write(&path, "old\n").unwrap();
        let file = PromFile::create(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        drop(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        let mut exposition = Exposition::new();
        exposition.single("mmops_rotate_success", "Ok.", MetricType::Gauge, 1.0);
        PromFile::create(&path).unwrap().commit(&exposition).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), exposition.as_str());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
