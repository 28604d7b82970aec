//! The house rules of `docs/design.md`, checked on the source: each layer imports only the layers
//! below it, the loom switch is named only in `src/sync/` and `src/lib.rs`, and platform calls
//! live in `src/platform.rs`.

use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Code lines only: doc and plain comments may name other layers (as links, as explanations).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line.to_owned()))
        .collect()
}

/// Every `crate::<module>` a file's code names.
fn crate_modules(path: &Path) -> Vec<(usize, String)> {
    let mut named = Vec::new();
    for (n, line) in code_lines(path) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let module: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            named.push((n, module));
        }
    }
    named
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    // Layer -> what it may name besides itself. Upper-case names are re-exports at the crate
    // root, which a lower layer must not lean on either.
    let rules: [(&str, &[&str]); 10] = [
        ("ledger", &[]),
        ("runtime", &["ledger", "sync", "failpoint"]),
        ("journal", &["ledger", "runtime", "sync", "failpoint", "platform"]),
        ("mirror", &["ledger", "runtime", "sync", "failpoint", "platform"]),
        // The gateway reuses the journal's codec and the mirror's mapped words (docs/design.md).
        ("gateway", &["ledger", "runtime", "sync", "failpoint", "platform", "journal", "mirror"]),
        // Replication: a stage publishing the journal's records to JetStream.
        ("replication", &["ledger", "runtime", "journal"]),
        (
            "vault",
            &[
                "ledger",
                "runtime",
                "sync",
                "failpoint",
                "platform",
                "journal",
                "mirror",
                "gateway",
                "replication",
            ],
        ),
        // The executor bridge drives a vault through a handle: the model and the runtime only.
        ("bridge", &["ledger", "runtime"]),
        // The NATS front and client: a front end over handles, rendering snapshots as the JSON
        // mirror does, naming its host (platform).
        ("remote", &["ledger", "runtime", "mirror", "platform"]),
        (
            "tools",
            &[
                "ledger",
                "runtime",
                "sync",
                "platform",
                "journal",
                "mirror",
                "vault",
                "gateway",
                "remote",
                "replication",
            ],
        ),
    ];
    let mut broken = Vec::new();
    for (layer, allowed) in rules {
        for path in sources(&src().join(layer)) {
            for (line, module) in crate_modules(&path) {
                if module != layer && !allowed.contains(&module.as_str()) {
                    broken.push(format!("{}:{line} names crate::{module}", path.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layer rule broken:\n{}", broken.join("\n"));
}

#[test]
fn only_sync_and_lib_name_the_loom_switch() {
    let mut named = Vec::new();
    for path in sources(&src()) {
        let relative = path.strip_prefix(src()).unwrap().to_string_lossy().into_owned();
        if relative.starts_with("sync/") || relative == "lib.rs" {
            continue;
        }
        for (line, text) in code_lines(&path) {
            if text.contains("capvault_loom") {
                named.push(format!("{relative}:{line}"));
            }
        }
    }
    assert!(named.is_empty(), "capvault_loom named outside src/sync/ and lib.rs: {named:?}");
}

#[test]
fn platform_calls_live_in_the_platform_module() {
    let platform_only = ["libc::", "std::os::unix", "/dev/shm\""];
    let mut found = Vec::new();
    for path in sources(&src()) {
        if path.ends_with("platform.rs") {
            continue;
        }
        for (line, text) in code_lines(&path) {
            if let Some(call) = platform_only.iter().find(|call| text.contains(*call)) {
                found.push(format!("{}:{line} uses {call}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "platform-specific code outside src/platform.rs:\n{}", found.join("\n"));
}
