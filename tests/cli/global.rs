//! Behaviour shared by every subcommand: help, version, usage errors, completions, -C, CI_FAKE_UTC.

use crate::support::TestEnv;

#[test]
fn help_documents_exit_codes_and_environment() {
    let run = TestEnv::new().run(["--help"]);
    run.expect_code(0);
    for needle in
        ["Exit codes:", "0  the check passed", "1  the check failed", "2  could not run", "CI_FAKE_UTC"]
    {
        assert!(run.stdout.contains(needle), "help lacks {needle:?}:\n{}", run.stdout);
    }
    for subcommand in ["cron-sentinel", "rotate", "bundle", "edge-sim", "make-ready", "completions"] {
        assert!(run.stdout.contains(subcommand), "help lacks {subcommand}");
    }
}

#[test]
fn version_comes_from_the_crate() {
    let run = TestEnv::new().run(["--version"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("mmops {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    env.run(["no-such-subcommand"]).expect_code(2);
    env.run(["--format", "xml", "cron-sentinel"]).expect_code(2);
    env.run(Vec::<&str>::new()).expect_code(2);
}

#[test]
fn completions_for_each_shell() {
    let env = TestEnv::new();
    for (shell, needle) in [("bash", "_mmops()"), ("zsh", "#compdef mmops"), ("fish", "complete -c mmops")] {
        let run = env.run(["completions", shell]);
        run.expect_code(0);
        assert!(run.stdout.contains(needle), "{shell} completion lacks {needle:?}");
        assert!(run.stdout.contains("cron-sentinel"), "{shell} completion lacks subcommands");
    }
    env.run(["completions", "tcsh"]).expect_code(2);
}

#[test]
fn bad_fake_clock_is_exit_2_naming_the_variable() {
    let env = TestEnv::new();
    let run = env.run_with_env(["cron-sentinel"], &[("CI_FAKE_UTC", "yesterday")]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with("mmops: error: CI_FAKE_UTC=\"yesterday\" is not an RFC 3339 instant"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn chdir_to_missing_folder_is_exit_2() {
    let run = TestEnv::new().run(["-C", "nowhere", "cron-sentinel"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot change to directory nowhere (-C)"), "{}", run.stderr);
}

#[test]
fn check_builder_states_all_three_streams() {
    let env = TestEnv::new();
    env.check(["--version"]).code(0).stdout_contains("mmops ").stderr_empty().run();
}

#[test]
#[should_panic(expected = "a Check must state")]
fn check_builder_refuses_an_unstated_stream() {
    TestEnv::new().check(["--version"]).code(0).stdout_contains("mmops").run();
}

#[test]
#[should_panic(expected = "stderr: expected Empty")]
fn check_builder_fails_on_an_unexpected_warning() {
    // A bad CI_FAKE_UTC is an error on stderr, so an empty-stderr expectation must fail.
    TestEnv::new()
        .check(["cron-sentinel"])
        .env("CI_FAKE_UTC", "soon")
        .code(2)
        .stdout_empty()
        .stderr_empty()
        .run();
}

#[test]
fn a_config_from_a_device_fails_fast_with_a_size_or_kind_error() {
    TestEnv::new()
        .check(["cron-sentinel", "--config", "/dev/zero"])
        .code(2)
        .stdout_empty()
        .stderr_is("mmops: error: /dev/zero: the config file is a character device, not a regular file\n")
        .run();
}
