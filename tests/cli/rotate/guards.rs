//! The safety guards: delete-all, per rule and by age, and --max-delete.

use super::*;

#[test]
fn delete_all_guard_refuses_unless_allowed_and_dry_run_warns() {
    let env = TestEnv::new();
    file(&env, "a", 1, 30.0);
    file(&env, "b", 1, 20.0);
    let run = rotate(&env, &["--days", "7"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: refusing to delete all 2 candidate files (a clock far ahead or a limit of 0 makes every \
         file look old); check the clock and the limits, or pass --allow-delete-all; nothing was deleted\n"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "a", "b"]);

    // The dry run says so and exits as the real run would, also with --quiet (the pre-live step
    // that dry-runs the policy must catch it); it used to print ROTATE=DRYRUN and exit 0.
    let refused = "mmops: error: a real run would be refused: refusing to delete all 2 candidate files (a clock \
                   far ahead or a limit of 0 makes every file look old); check the clock and the limits, or pass \
                   --allow-delete-all\n";
    let run = rotate(&env, &["--dry-run", "--days", "7"]);
    run.expect_code(2);
    assert_eq!(run.stderr, refused);
    assert!(run.stdout.contains("would delete  a  1 B  30.0 days  ttl\n"), "{}", run.stdout);
    assert!(run.stdout.contains("a real run would stop here: refusing"), "{}", run.stdout);
    assert_eq!(run.last_line(), "| rotate | FAIL | ROTATE=REFUSED |");
    let run = rotate(&env, &["--dry-run", "--quiet", "--keep", "0"]);
    run.expect_code(2);
    assert_eq!(
        run.stdout,
        "a real run would stop here: refusing to delete all 2 candidate files (a clock far ahead or a limit of \
         0 makes every file look old); check the clock and the limits, or pass --allow-delete-all\n\
         | rotate | FAIL | ROTATE=REFUSED |\n"
    );
    assert_eq!(run.stderr, refused);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "a", "b"]);

    let run = rotate(&env, &["--days", "7", "--allow-delete-all"]);
    run.expect_code(0);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock"]);
}

#[test]
fn max_delete_refuses_a_larger_run() {
    let env = TestEnv::new();
    for index in 0..5 {
        file(&env, &format!("f{index}"), 1, 30.0 - f64::from(index));
    }
    let run = rotate(&env, &["--keep", "1", "--max-delete", "3"]);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "mmops: error: refusing to delete 4 files, more than --max-delete 3; check the limits, or raise \
         --max-delete; nothing was deleted\n"
    );
    assert_eq!(listing(&env.path("artifacts")).len(), 6);
    rotate(&env, &["--keep", "1", "--max-delete", "4"]).expect_code(0);
    assert_eq!(listing(&env.path("artifacts")), [".mmops-rotate.lock", "f4"]);
}
