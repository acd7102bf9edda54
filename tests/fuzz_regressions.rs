//! Replays every input kept under `fuzz/regressions/<target>/` (crashes once found by fuzzing,
//! and hostile inputs written by hand) through the same entry point the fuzz target uses. CI
//! runs this instead of fuzzing; `fuzz/run` does the fuzzing.

// Tests read and write fixtures with std::fs; clippy.toml's rules are for mmops.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::Path;

fn replay(target: &str, run_target: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for source in ["regressions", "seeds"] {
        let Ok(entries) = fs::read_dir(fuzz.join(source).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            run_target(&fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no inputs for {target} under {}/{{regressions,seeds}}", fuzz.display());
}

/// One test per fuzz target, replaying its kept inputs through `mmops::fuzzing::<target>`.
macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), mmops::fuzzing::$target);
            }
        )*
    };
}

replay_tests!(
    units,
    cron_sentinel_config,
    rotation_policy,
    bundle_config,
    edge_config,
    edge_input,
    make_ready_config,
    soak_report,
    bundle_verify,
    time_conversions,
    cron_schedule,
);
