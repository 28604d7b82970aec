//! One JSON schema: `capvault inspect --json`, `read_shm.py --json` and `serde_json` of the
//! `Snapshot` itself print the same document for the same mirror, in `snake_case` throughout.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command as Process;

use capvault::{Builder, Command, Limits, Side};
use common::*;
use serde_json::Value;

/// Numbers compared as `f64` (Python writes `120000` and `0.5` as Rust does, but an integer
/// and a float of equal value must still compare equal).
fn normalise(value: &mut Value) {
    match value {
        Value::Number(n) => *value = serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(map) => map.values_mut().for_each(normalise),
        _ => {}
    }
}

fn keys_and_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| keys_and_names(v, out)),
        Value::Object(map) => {
            for (key, v) in map {
                out.push(key.clone());
                keys_and_names(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_cli_the_python_reader_and_serde_print_one_schema() {
    let path = std::env::temp_dir().join(format!("capvault-schema-{}.shm", std::process::id()));
    let mut handle = Builder::new(seed_000(Limits::default())).mirror_shm(&path).spawn().unwrap();
    for n in 1..=6 {
        handle.submit(buy(id(n), 2 + (n % 2) as u8, 1, amount("1000.25"))).unwrap();
    }
    handle.submit(Command::Fill { id: id(1), amount: amount("400.125") }).unwrap();
    handle.submit(Command::Fill { id: id(2), amount: amount("1000.25") }).unwrap();
    // The mirror shows the six, so the cancel below frees a record in the middle of the file.
    let six = handle.reader().snapshot().seq();
    capvault::ShmReader::open(&path).unwrap().wait_for(six, std::time::Duration::from_secs(10)).unwrap();
    handle.submit(Command::Cancel { id: id(3) }).unwrap();
    handle.submit(Command::Cancel { id: id(5) }).unwrap();
    handle
        .submit(Command::Reserve {
            id: id(7),
            book: capvault::BookId::new(0),
            slot: 2,
            side: Side::Buy,
            layer: 0,
            amount: units(5),
        })
        .unwrap();
    // Every state a live order can have in the mirror: an expired order holding its filled part.
    handle.submit(buy(id(8), 3, 1, units(300))).unwrap();
    handle.submit(Command::Fill { id: id(8), amount: units(100) }).unwrap();
    handle.submit(Command::Expire { id: id(8) }).unwrap();
    handle.submit(buy(id(9), 3, 1, units(300))).unwrap();
    handle.submit(Command::Fill { id: id(9), amount: units(100) }).unwrap();
    handle.submit(Command::Cancel { id: id(9) }).unwrap();
    let snapshot = handle.shutdown().unwrap();

    let cli = Process::new(env!("CARGO_BIN_EXE_capvault"))
        .arg("inspect")
        .arg(&path)
        .arg("--json")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/read_shm.py");
    let python = Process::new("python3").arg(script).arg(&path).arg("--json").output().expect("python3 runs");
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));

    let mut from_cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let mut from_python: Value = serde_json::from_slice(&python.stdout).unwrap();
    let mut from_serde = serde_json::to_value(&*snapshot).unwrap();
    // The latency summary is the mirror's, not the snapshot's: the same from both readers.
    assert_eq!(from_cli["latency"], from_python["latency"]);
    assert!(from_cli["latency"]["queue"]["count"].as_u64().unwrap() > 0, "{}", from_cli["latency"]);
    for value in [&mut from_cli, &mut from_python] {
        assert_eq!(value["writer"]["state"], "closed");
        let map = value.as_object_mut().unwrap();
        map.remove("writer");
        map.remove("path");
        map.remove("latency");
    }
    for value in [&mut from_cli, &mut from_python, &mut from_serde] {
        normalise(value);
    }
    assert_eq!(from_cli, from_serde, "capvault inspect --json differs from the Snapshot's schema");
    assert_eq!(from_python, from_serde, "read_shm.py --json differs from the Snapshot's schema");

    // snake_case keys, and snake_case names for sides and states.
    let mut keys = Vec::new();
    keys_and_names(&from_serde, &mut keys);
    for key in &keys {
        assert!(key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "key {key}");
    }
    let states: Vec<&str> =
        from_serde["orders"].as_array().unwrap().iter().map(|o| o["state"].as_str().unwrap()).collect();
    for state in ["pending", "partially_filled", "filled", "cancelled", "expired"] {
        assert!(states.contains(&state), "{state} missing from {states:?}");
    }
    let sides: Vec<&str> =
        from_serde["orders"].as_array().unwrap().iter().map(|o| o["side"].as_str().unwrap()).collect();
    assert!(sides.iter().all(|side| *side == "buy"), "{sides:?}");
    let _ = fs::remove_file(&path);
    let _ = fs::remove_file(format!("{}.lock", path.display()));
}
