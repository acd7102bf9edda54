//! The `rollback-vs-alerts` check: the rollback policy must agree with the Prometheus alert rules
//! (every gate names an alert of the same severity, hard gates roll back, soft gates notify).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Deserialize;

/// Prometheus rule file, only the parts the check needs.
#[derive(Debug, Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    expr: Option<String>,
    #[serde(default, rename = "for")]
    hold: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A hard gate of the rollback policy with the alert rule it maps to: a canary rollback trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trigger {
    pub alert: String,
    pub severity: String,
    pub action: String,
    /// The alert rule's expression, `for:` and summary annotation (empty when absent).
    pub expr: String,
    pub hold: String,
    pub summary: String,
}

/// The canary's rollback triggers: every hard gate of the policy, in policy order, with its
/// alert rule; also the soft gates' alert names (they notify only). A hard gate with no alert
/// rule, or a policy with no hard gate, is an error: a canary plan must not silently lack one.
pub(crate) fn canary_triggers(alerts_path: &Path, policy_path: &Path) -> Result<CanaryPolicy> {
    let rules: RuleFile = crate::config_file::load(alerts_path)?;
    let policy: RollbackPolicy = crate::config_file::load(policy_path)?;
    let mut by_name: BTreeMap<&str, &Rule> = BTreeMap::new();
    for rule in rules.groups.iter().flat_map(|group| &group.rules) {
        if let Some(alert) = &rule.alert {
            by_name.insert(alert, rule);
        }
    }
    let mut triggers = Vec::new();
    let mut soft = Vec::new();
    for gate in &policy.gates {
        if gate.severity != "hard" {
            soft.push(gate.alert.clone());
            continue;
        }
        let Some(rule) = by_name.get(gate.alert.as_str()) else {
            anyhow::bail!(
                "{}: hard gate {} names no alert rule in {}; fix the policy (check: rollback-vs-alerts finds every mismatch)",
                policy_path.display(),
                gate.alert,
                alerts_path.display()
            );
        };
        let one_line = |text: &Option<String>| {
            text.as_deref().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
        };
        triggers.push(Trigger {
            alert: gate.alert.clone(),
            severity: gate.severity.clone(),
            action: gate.action.clone(),
            expr: one_line(&rule.expr),
            hold: one_line(&rule.hold),
            summary: one_line(&rule.annotations.get("summary").cloned()),
        });
    }
    if triggers.is_empty() {
        anyhow::bail!(
            "{}: no hard gate: a canary needs at least one rollback trigger (a gate with severity: hard)",
            policy_path.display()
        );
    }
    let rollback_actions = policy
        .actions
        .get("rollback")
        .map(|steps| steps.iter().map(ActionStep::describe).collect())
        .unwrap_or_default();
    Ok(CanaryPolicy { triggers, soft, rollback_actions })
}

/// What the canary checklist takes from the rollback policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanaryPolicy {
    /// The hard gates, in policy order.
    pub triggers: Vec<Trigger>,
    /// The soft gates' alerts (notify only), in policy order.
    pub soft: Vec<String>,
    /// `actions.rollback`, each step in words.
    pub rollback_actions: Vec<String>,
}

impl ActionStep {
    /// `scale_strategy mm-bot-strategy to 0 replicas`, `notify #mm-oncall`.
    fn describe(&self) -> String {
        let mut text = self.action.clone();
        if let Some(target) = &self.target {
            text.push_str(&format!(" {target}"));
        }
        if let Some(replicas) = self.replicas {
            text.push_str(&format!(" to {replicas} replicas"));
        }
        if let Some(channel) = &self.channel {
            text.push_str(&format!(" {channel}"));
        }
        text
    }
}

/// The rollback policy (deploy/policies/rollback.yaml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackPolicy {
    pub name: String,
    pub auto_rollback: AutoRollback,
    pub actions: BTreeMap<String, Vec<ActionStep>>,
    pub verify: Verify,
    pub gates: Vec<Gate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoRollback {
    pub enabled: bool,
    #[serde(deserialize_with = "crate::units::deserialize_duration")]
    pub cooldown: std::time::Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionStep {
    pub action: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub replicas: Option<u32>,
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Verify {
    #[serde(deserialize_with = "crate::units::deserialize_duration")]
    pub after: std::time::Duration,
    pub metric: String,
    pub equals: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Gate {
    pub alert: String,
    pub severity: String,
    pub action: String,
}

/// Every gate names an existing alert with the same severity; hard gates roll back, soft gates
/// notify; every hard/soft alert has a gate; each gate's action is defined.
pub(crate) fn rollback_vs_alerts(alerts_path: &Path, policy_path: &Path) -> Result<Vec<String>> {
    let rules: RuleFile = crate::config_file::load(alerts_path)?;
    let policy: RollbackPolicy = crate::config_file::load(policy_path)?;
    let mut severities: BTreeMap<String, Option<String>> = BTreeMap::new();
    for rule in rules.groups.iter().flat_map(|group| &group.rules) {
        if let Some(alert) = &rule.alert {
            severities.insert(alert.clone(), rule.labels.get("severity").cloned());
        }
    }
    Ok(consistency_findings(&policy, &severities, &policy_path.display().to_string()))
}

/// The pure part of [`rollback_vs_alerts`].
pub(crate) fn consistency_findings(
    policy: &RollbackPolicy,
    severities: &BTreeMap<String, Option<String>>,
    origin: &str,
) -> Vec<String> {
    let mut findings = Vec::new();
    for gate in &policy.gates {
        let at = format!("{origin}: gate {}", gate.alert);
        match severities.get(&gate.alert) {
            None => findings.push(format!("{at}: no alert of that name in the alert rules")),
            Some(label) if label.as_deref() != Some(gate.severity.as_str()) => findings.push(format!(
                "{at}: severity {} but the alert rule says {}",
                gate.severity,
                label.as_deref().unwrap_or("nothing")
            )),
            Some(_) => {}
        }
        let expected = match gate.severity.as_str() {
            "hard" => Some("rollback"),
            "soft" => Some("notify"),
            _ => None,
        };
        match expected {
            None => findings.push(format!("{at}: severity {} is neither hard nor soft", gate.severity)),
            Some(expected) if gate.action != expected => {
                findings.push(format!("{at}: a {} gate must {expected}, not {}", gate.severity, gate.action));
            }
            Some(_) => {}
        }
        if !policy.actions.contains_key(&gate.action) {
            findings.push(format!("{at}: action {} is not defined under actions", gate.action));
        }
        if policy.gates.iter().filter(|other| other.alert == gate.alert).count() > 1 {
            findings.push(format!("{at}: named by more than one gate"));
        }
    }
    for (alert, severity) in severities {
        if matches!(severity.as_deref(), Some("hard" | "soft"))
            && !policy.gates.iter().any(|gate| &gate.alert == alert)
        {
            findings
                .push(format!("{origin}: alert {alert} ({}) has no gate", severity.as_deref().unwrap_or("")));
        }
    }
    findings.extend(action_findings(policy, origin));
    if policy.auto_rollback.enabled && policy.actions.get("rollback").is_none_or(|steps| steps.is_empty()) {
        findings.push(format!("{origin}: auto_rollback is enabled but actions.rollback is empty"));
    }
    findings.dedup();
    findings
}

/// The action steps mmops knows how a rollback executes.
const KNOWN_ACTIONS: [&str; 4] = ["scale_strategy", "open_circuit", "freeze_orders", "notify"];

/// Each action step is known and complete; verification fits inside the cooldown.
fn action_findings(policy: &RollbackPolicy, origin: &str) -> Vec<String> {
    let mut findings = Vec::new();
    if policy.name.trim().is_empty() {
        findings.push(format!("{origin}: name is empty"));
    }
    for (name, steps) in &policy.actions {
        for (index, step) in steps.iter().enumerate() {
            let at = format!("{origin}: actions.{name}[{index}] ({})", step.action);
            if !KNOWN_ACTIONS.contains(&step.action.as_str()) {
                findings.push(format!("{at}: unknown action; use one of {}", KNOWN_ACTIONS.join(", ")));
            }
            if step.action == "scale_strategy" && (step.target.is_none() || step.replicas.is_none()) {
                findings.push(format!("{at}: needs target and replicas"));
            }
            if step.action == "notify" && step.channel.as_deref().is_none_or(str::is_empty) {
                findings.push(format!("{at}: needs a channel"));
            }
        }
    }
    if policy.verify.metric.trim().is_empty() {
        findings.push(format!("{origin}: verify.metric is empty"));
    }
    if !policy.verify.equals.is_finite() {
        findings.push(format!("{origin}: verify.equals must be a number"));
    }
    if policy.verify.after >= policy.auto_rollback.cooldown {
        findings.push(format!("{origin}: verify.after must be shorter than auto_rollback.cooldown"));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(gates: &str) -> RollbackPolicy {
        crate::config_file::parse(
            &format!(
                "name: p\nauto_rollback: {{enabled: true, cooldown: 15m}}\nactions:\n  rollback: [{{action: freeze_orders}}, {{action: scale_strategy, target: mm, replicas: 0}}]\n  notify: [{{action: notify, channel: ops}}]\nverify: {{after: 60s, metric: m, equals: 0}}\ngates:\n{gates}"
            ),
            "p",
        )
        .unwrap()
    }

    #[test]
    fn consistency_checks_names_severities_and_actions() {
        let severities: BTreeMap<String, Option<String>> = [
            ("Hard".to_string(), Some("hard".to_string())),
            ("Soft".to_string(), Some("soft".to_string())),
            ("Info".to_string(), Some("info".to_string())),
        ]
        .into();
        let good = policy(
            "  - {alert: Hard, severity: hard, action: rollback}\n  - {alert: Soft, severity: soft, action: notify}\n",
        );
        assert!(consistency_findings(&good, &severities, "p").is_empty());
        let bad = policy(
            "  - {alert: Hard, severity: hard, action: notify}\n  - {alert: Gone, severity: soft, action: notify}\n  - {alert: Soft, severity: hard, action: rollback}\n",
        );
        assert_eq!(
            consistency_findings(&bad, &severities, "p"),
            [
                "p: gate Hard: a hard gate must rollback, not notify",
                "p: gate Gone: no alert of that name in the alert rules",
                "p: gate Soft: severity hard but the alert rule says soft",
            ]
        );
        let mut broken = policy(
            "  - {alert: Hard, severity: hard, action: rollback}\n  - {alert: Soft, severity: soft, action: notify}\n",
        );
        broken.actions.get_mut("rollback").unwrap()[0].action = "reboot".into();
        broken.actions.get_mut("rollback").unwrap()[1].replicas = None;
        broken.verify.after = std::time::Duration::from_secs(3600);
        assert_eq!(
            consistency_findings(&broken, &severities, "p"),
            [
                "p: actions.rollback[0] (reboot): unknown action; use one of scale_strategy, open_circuit, freeze_orders, notify",
                "p: actions.rollback[1] (scale_strategy): needs target and replicas",
                "p: verify.after must be shorter than auto_rollback.cooldown",
            ]
        );
        let missing = policy("  - {alert: Hard, severity: hard, action: rollback}\n");
        assert_eq!(consistency_findings(&missing, &severities, "p"), ["p: alert Soft (soft) has no gate"]);
    }
}
