//! For unit tests that call a real tool (unzip, python3): the integration tests' rule in one
//! place for `src/`. Under `CI=true` a missing tool fails the test (CI installs every tool, so a
//! missing one is a broken CI script); elsewhere the test prints that it skipped the check and how
//! to install the tool (`bash .ci/install-test-tools`).

/// Whether `tool` runs (`tool --version`-style probe `args`); see the module comment for a
/// missing one.
pub(crate) fn tool_available(tool: &str, probe: &[&str], install: &str) -> bool {
    if std::process::Command::new(tool)
        .args(probe)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
    {
        return true;
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("{tool} is not installed, and CI=true requires it; install: {install}");
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("skipped: {tool} is not installed (install: {install})");
    }
    false
}
