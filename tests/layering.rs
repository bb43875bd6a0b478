//! The HTTP layer only translates: no handler reads the read model's state or applies an
//! access rule itself (docs/architecture.md, "Where each rule lives"). This test reads the
//! sources of `src/http` and names the file and the line of any that does.

use std::path::{Path, PathBuf};

/// Reading the live read model or its store from the HTTP layer (whitespace removed first,
/// so a call split over lines is found too). `model().applied()`, the read model's position
/// for `/readyz` and `/metrics`, is an operational figure, not its state, and is allowed.
const READS_OF_THE_MODEL: &[&str] = &[".model().model()", ".model().store()", ".model().settle()"];

/// The access rules of `domain`; `app` applies them for a caller, never a handler.
const ACCESS_RULES: &[&str] = &[
    "is_administrator(",
    "administered_organizations(",
    "decide_access(",
    ".allows(",
    "authorize_directory(",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/http") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn http_handlers_neither_read_the_model_nor_decide_access() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 5, "found the HTTP sources: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for pattern in READS_OF_THE_MODEL {
            if squeezed.contains(pattern) {
                found.push(format!(
                    "{}: reads the read model ({pattern})",
                    file.display()
                ));
            }
        }
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for rule in ACCESS_RULES {
                if code.contains(rule) {
                    found.push(format!(
                        "{}:{}: applies an access rule ({rule})",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "move these into app:\n{}",
        found.join("\n")
    );
}
