//! JSON request bodies through the API's extractor: every body is taken or refused with a
//! 4xx problem, and a refusal never echoes a value of the body (canary-like values: digits
//! and letters, at least 6 characters, not also a key).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::json_bodies(bytes));
