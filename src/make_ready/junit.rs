//! JUnit XML for CI systems: one testcase per pre-live step and one for readiness. A step's
//! output is its bounded capture (first and last 64 KiB, the rest counted as elided).

use super::pre_live::{StepResult, StepStatus};

/// A readiness testcase: `None` = passed, `Some(message)` = failed.
pub(crate) struct ReadinessCase<'a> {
    pub failure: Option<&'a str>,
    pub detail: &'a str,
}

/// Escapes text for XML attributes and text nodes; drops characters XML 1.0 cannot carry.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

pub(crate) fn render(steps: &[StepResult], readiness: &ReadinessCase<'_>) -> String {
    let failures = steps.iter().filter(|step| step.status == StepStatus::Fail).count()
        + usize::from(readiness.failure.is_some());
    let skipped = steps
        .iter()
        .filter(|step| matches!(step.status, StepStatus::Waived | StepStatus::ReportOnly))
        .count();
    let total_time: f64 = steps.iter().map(|step| step.duration).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"make_ready\" tests=\"{}\" failures=\"{failures}\">\n",
        steps.len() + 1
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"make_ready\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total_time:.3}\">\n",
        steps.len() + 1
    ));
    for step in steps {
        let open = format!(
            "    <testcase classname=\"pre_live_pack\" name=\"{}\" time=\"{:.3}\"",
            escape(&step.name),
            step.duration
        );
        let message = step.notes().join("; ");
        match step.status {
            StepStatus::Ok => xml.push_str(&format!("{open}/>\n")),
            StepStatus::Waived | StepStatus::ReportOnly => xml.push_str(&format!(
                "{open}>\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    </testcase>\n",
                escape(&message),
                escape(&step.output)
            )),
            StepStatus::Fail => xml.push_str(&format!(
                "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(&message),
                escape(&step.output)
            )),
        }
    }
    let open = "    <testcase classname=\"readiness\" name=\"readiness_score\" time=\"0.000\"";
    match readiness.failure {
        None => xml.push_str(&format!(
            "{open}>\n      <system-out>{}</system-out>\n    </testcase>\n",
            escape(readiness.detail)
        )),
        Some(message) => xml.push_str(&format!(
            "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
            escape(message),
            escape(readiness.detail)
        )),
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>\u{1b}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}");
    }
}
