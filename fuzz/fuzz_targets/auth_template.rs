//! The `$.auth` template parser: any JSON template gives references that are valid field
//! names, each once, or a refusal that never carries more than the reference it names.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::auth_template(bytes));
