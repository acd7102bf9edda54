//! Prometheus textfile-collector output, shared by every subcommand that offers `--prom-file`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::atomic_write::write_atomically;

/// Metric kind, as in the `# TYPE` line.
#[derive(Debug, Clone, Copy)]
pub enum MetricType {
    Gauge,
    Counter,
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

    /// Adds one metric family; each sample is (labels, value). Label values are escaped.
    pub fn metric(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        samples: &[(Vec<(&str, &str)>, f64)],
    ) -> &mut Self {
        let kind = match kind {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.text.push_str(name);
            if !labels.is_empty() {
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(key, value)| format!("{key}=\"{}\"", escape_label_value(value)))
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

    /// Writes the exposition atomically, so the collector never reads half a file.
    pub fn write_to(&self, path: &Path) -> Result<()> {
        write_atomically(path, self.text.as_bytes())
    }
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
            .metric("x_fresh", "Whether fresh.", MetricType::Gauge, &[(vec![("task", "a\"b\\c\nd")], 1.0)])
            .single("x_last_run_timestamp_seconds", "Last run.", MetricType::Gauge, 1.5e9);
        assert_eq!(
            exposition.as_str(),
            "# HELP x_fresh Whether fresh.\n# TYPE x_fresh gauge\nx_fresh{task=\"a\\\"b\\\\c\\nd\"} 1\n\
             # HELP x_last_run_timestamp_seconds Last run.\n# TYPE x_last_run_timestamp_seconds gauge\n\
             x_last_run_timestamp_seconds 1500000000\n"
        );
    }
}
