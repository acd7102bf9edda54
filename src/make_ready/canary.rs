//! `artifacts/release/CANARY_CHECKLIST.md`: the rollout plan for an RC tag. Stages from the
//! config (`canary.stages`, default 5 % → 25 % → 50 % → 100 %) with their hold times, the
//! rollback triggers read from the hard gates of the rollback policy with the alert rule each
//! maps to, and sign-off lines. Pure rendering: deterministic for the same inputs.

use super::release::{Facts, sections_line};
use crate::sanitize::{display_path, display_text};
use crate::units::format_duration;

/// A table cell: one line, `|` escaped, control characters shown escaped.
fn cell(text: &str) -> String {
    display_text(text, false).replace('|', "\\|")
}

pub(crate) fn checklist(facts: &Facts) -> String {
    let plan = facts.plan;
    let document = facts.document;
    let mut text = format!(
        "# Canary checklist: {}\n\nmmops make-ready --tag-rc wrote this with the tag; the tag message holds the same facts.\n\n- tag: `{}` on commit `{}` (not pushed: `git push origin {}`)\n- version: {}\n- made: {}\n- gate: MAKE_READY={}, readiness {} with score {} ({})\n",
        plan.name,
        plan.name,
        plan.commit,
        plan.name,
        cell(&plan.version),
        facts.utc,
        facts.verdict,
        document.verdict.label(),
        document.score,
        sections_line(document)
    );
    match &document.sign_off {
        Some(sign_off) => text.push_str(&format!(
            "- MARGINAL signed off by {}: {}\n",
            cell(&sign_off.name),
            cell(&sign_off.reason)
        )),
        None => text.push_str("- sign-off: none needed\n"),
    }
    if facts.bundles.is_empty() {
        text.push_str(
            "- bundle: not built yet; run `mmops bundle` on this tag and record its sha256 here: ________\n",
        );
    }
    for bundle in facts.bundles {
        text.push_str(&format!("- bundle: `{}` sha256 `{}`\n", cell(&bundle.file), bundle.sha256));
    }

    text.push_str(
        "\n## Stages\n\nMove to the next stage only after the whole hold with no rollback trigger firing.\n\n| stage | traffic | hold | started (UTC) | held until (UTC) | checked by |\n|---|---|---|---|---|---|\n",
    );
    for (index, stage) in plan.stages.iter().enumerate() {
        text.push_str(&format!(
            "| {} | {} % | {} | | | |\n",
            index + 1,
            stage.traffic,
            format_duration(stage.hold)
        ));
    }

    text.push_str(&format!(
        "\n## Rollback triggers\n\nThe hard gates of `{}`, each with its alert rule in `{}`. Any of them firing at any stage: roll back now, then stop the canary.\n\n| alert | severity | action | fires when | for | summary |\n|---|---|---|---|---|---|\n",
        cell(&display_path(&plan.policy_path)),
        cell(&display_path(&plan.alerts_path))
    ));
    for trigger in &plan.policy.triggers {
        text.push_str(&format!(
            "| {} | {} | {} | `{}` | {} | {} |\n",
            cell(&trigger.alert),
            cell(&trigger.severity),
            cell(&trigger.action),
            cell(&trigger.expr).replace('`', "'"),
            cell(&trigger.hold),
            cell(&trigger.summary)
        ));
    }
    if !plan.policy.rollback_actions.is_empty() {
        let actions: Vec<String> = plan.policy.rollback_actions.iter().map(|action| cell(action)).collect();
        text.push_str(&format!("\nA rollback runs: {}.\n", actions.join(", then ")));
    }
    if !plan.policy.soft.is_empty() {
        let soft: Vec<String> = plan.policy.soft.iter().map(|alert| cell(alert)).collect();
        text.push_str(&format!(
            "\nSoft gates notify only and do not stop the canary: {}.\n",
            soft.join(", ")
        ));
    }

    text.push_str("\n## Sign-off\n\n");
    for stage in &plan.stages {
        text.push_str(&format!(
            "- [ ] {} % held {} with no trigger firing: name ________ time (UTC) ________\n",
            stage.traffic,
            format_duration(stage.hold)
        ));
    }
    text.push_str("- [ ] Release complete, canary closed: release manager ________ time (UTC) ________\n");
    text
}
