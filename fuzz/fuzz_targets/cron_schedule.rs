#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mmops::fuzzing::cron_schedule(data));
