#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mmops::fuzzing::time_conversions(data));
