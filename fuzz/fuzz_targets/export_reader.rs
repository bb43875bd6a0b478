//! The export-file reader: any bytes are read to the end or refused with an error, never a
//! panic, an endless loop or an allocation the input does not justify.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::export_reader(bytes));
