#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mmops::fuzzing::bundle_verify(data));
