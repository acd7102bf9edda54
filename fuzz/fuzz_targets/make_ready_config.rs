#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mmops::fuzzing::make_ready_config(data));
