//! The frozen payload codec: any bytes either fail to decode or decode to an event that
//! encodes back to the same bytes (no trailing bytes, one encoding per value); envelopes too.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::payload_codec(bytes));
