//! The HTTP layer only translates: no handler reads the read model's state or applies an
//! access rule itself (docs/architecture.md, "Where each rule lives"). This test reads the
//! sources of `src/http` and of the dashboard (`src/dashboard`) and names the file and the
//! line of any that does.

use std::path::{Path, PathBuf};

/// Reading the live read model or its store from the HTTP layer (whitespace removed first,
/// so a call split over lines is found too). `model().applied()`, the read model's position
/// for `/readyz` and `/metrics`, is an operational figure, not its state, and is allowed.
const READS_OF_THE_MODEL: &[&str] = &[".model().model()", ".model().store()", ".model().settle()"];

/// The access rules of `domain`; `app` applies them for a caller, never a handler. A rule
/// called as a method (`state.app.audit_scope(…)`, the app operation of the same name) is
/// the app's and allowed; called as a free function it is the handler deciding.
const ACCESS_RULES: &[&str] = &[
    "is_administrator(",
    "administered_organizations(",
    "decide_access(",
    "authorize_directory(",
    "authorize_checkpoints(",
    "audit_scope(",
    "users_visible_to(",
    "tokens_visible_to(",
    "manages_user(",
    "decide_token(",
    "membership_command(",
    "decide_resolve(",
    "resolving_user(",
    "reachable(",
    "members_visible(",
    "may_look_back(",
    "visible_to(",
];

/// Access rules that are methods of what a handler must not hold (the read model's state,
/// a custom service's record).
const ACCESS_METHODS: &[&str] = &[".allows(", ".visible_to(", ".view_for("];

/// Whether `code` calls `rule` as a free function (not as a method of the app).
fn calls_as_function(code: &str, rule: &str) -> bool {
    code.match_indices(rule).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c == '.' || c == '_' || c.is_ascii_alphanumeric())
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the sources") {
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
    let mut files = Vec::new();
    for interface in ["src/http", "src/dashboard"] {
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(interface),
            &mut files,
        );
    }
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
            let methods = ACCESS_METHODS.iter().filter(|m| code.contains(**m));
            let functions = ACCESS_RULES
                .iter()
                .filter(|rule| calls_as_function(code, rule));
            for rule in methods.chain(functions) {
                found.push(format!(
                    "{}:{}: applies an access rule ({rule})",
                    file.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "move these into app:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_rule_is_found_as_a_free_function_but_not_as_an_app_method() {
    assert!(calls_as_function(
        "let s = audit_scope(&d, &p)?;",
        "audit_scope("
    ));
    assert!(calls_as_function(
        "x(decide_access(d, u, w, a))",
        "decide_access("
    ));
    assert!(!calls_as_function(
        "state.app.audit_scope(&who).await",
        "audit_scope("
    ));
    assert!(!calls_as_function("model.reachable(h, f)", "reachable("));
    assert!(!calls_as_function("fn tokens_visible_to_x(", "visible_to("));
}
