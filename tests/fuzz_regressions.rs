//! Replays the inputs kept under `tests/fuzz_regressions/<target>/` (crashes the fuzzers
//! found, and seeds) through the checks of the fuzz targets (`fuzz/checks.rs`), so that
//! `cargo test` keeps what fuzzing once broke fixed without needing the fuzzer.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("the regression folder exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read input");
        check(&bytes);
        count += 1;
    }
    count
}

#[test]
fn payload_codec_inputs() {
    assert!(replay("payload_codec", checks::payload_codec) >= 1);
}

#[test]
fn export_reader_inputs() {
    assert!(replay("export_reader", checks::export_reader) >= 1);
}

#[test]
fn auth_template_inputs() {
    assert!(replay("auth_template", checks::auth_template) >= 1);
}

#[test]
fn json_bodies_inputs() {
    assert!(replay("json_bodies", checks::json_bodies) >= 1);
}
