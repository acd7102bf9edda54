//! The safety guards: delete-all, per rule and by age, and --max-delete.

use super::*;

#[test]
fn delete_all_guard_refuses_unless_allowed_and_dry_run_warns() {
    let env = TestEnv::new();
    file(&env, "a", 1, 30.0);
    file(&env, "b", 1, 20.0);
    rotate(&env, &["--days", "7"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: refusing to delete all 2 candidate files (a clock far ahead or a limit of 0 makes \
             every file look old); check the clock and the limits, or pass --allow-delete-all; nothing was \
             deleted\n",
        )
        .run();
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "a", "b"]);

    // The dry run says so and exits as the real run would, also with --quiet (the pre-live step
    // that dry-runs the policy must catch it); it used to print ROTATE=DRYRUN and exit 0.
    let refused = "mmops: error: a real run would be refused: refusing to delete all 2 candidate files (a clock \
                   far ahead or a limit of 0 makes every file look old); check the clock and the limits, or pass \
                   --allow-delete-all\n";
    rotate(&env, &["--dry-run", "--days", "7"])
        .code(2)
        .stdout_is(
            "scanned artifacts: 2 files, 2 B in 1 folder\n\
             limits (days 7): 2 files, 2 selected, 0 kept (0 B)\n\
             would delete  a  1 B  30.0 days  ttl\n\
             would delete  b  1 B  20.0 days  ttl\n\
             would free 2 files, 2 B; would keep 0 files, 0 B\n\
             a real run would stop here: refusing to delete all 2 candidate files (a clock far ahead or a limit \
             of 0 makes every file look old); check the clock and the limits, or pass --allow-delete-all\n\
             | rotate | FAIL | ROTATE=REFUSED |\n",
        )
        .stderr_is(refused)
        .run();
    rotate(&env, &["--dry-run", "--quiet", "--keep", "0"])
        .code(2)
        .stdout_is(
            "a real run would stop here: refusing to delete all 2 candidate files (a clock far ahead or a limit \
             of 0 makes every file look old); check the clock and the limits, or pass --allow-delete-all\n\
             | rotate | FAIL | ROTATE=REFUSED |\n",
        )
        .stderr_is(refused)
        .run();
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "a", "b"]);

    rotate(&env, &["--days", "7", "--allow-delete-all"])
        .code(0)
        .stdout_contains("deleted       a  1 B  30.0 days  ttl\ndeleted       b  1 B  20.0 days  ttl\n")
        .stdout_contains("| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock"]);
}

#[test]
fn max_delete_refuses_a_larger_run() {
    let env = TestEnv::new();
    for index in 0..5 {
        file(&env, &format!("f{index}"), 1, 30.0 - f64::from(index));
    }
    rotate(&env, &["--keep", "1", "--max-delete", "3"])
        .code(2)
        .stdout_empty()
        .stderr_is(
            "mmops: error: refusing to delete 4 files, more than --max-delete 3; check the limits, or raise \
             --max-delete; nothing was deleted\n",
        )
        .run();
    assert_eq!(listing(&env.path("artifacts")).len(), 6);
    rotate(&env, &["--keep", "1", "--max-delete", "4"])
        .code(0)
        .stdout_contains("freed 4 files, 4 B; kept 1 file, 1 B\n| rotate | OK | ROTATE=DONE |\n")
        .stderr_empty()
        .run();
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "f4"]);
}
