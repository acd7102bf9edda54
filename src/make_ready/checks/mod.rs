//! The built-in dry checks a pre-live step can name with `check:`. Each returns its findings, one
//! line each (empty = pass).

mod rollback;
mod secrets;

pub(crate) use rollback::{CanaryPolicy, canary_triggers, rollback_vs_alerts};
pub(crate) use secrets::secret_scan;
