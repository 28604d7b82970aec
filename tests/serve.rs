//! `capvault serve CONFIG`: a vault as a process. Ready on stdout and in its ready file, found
//! by name, commanded through its gateway with the grants of its file, stopped cleanly by
//! SIGTERM (exit 0, mirror `closed`), recovered from its journal on restart; a bad file exits 3
//! naming the field, a name in use exits 4.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use capvault::{BookId, Client, ShmReader, WriterState};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A service file for `name` in `dir`: seed 000's ledger, a journal, a ready file, a strategy
/// client limited to its slot and an operator.
fn config(dir: &Path, name: &str) -> PathBuf {
    let text = format!(
        r#"{{ "name": "{name}",
             "ledger": {{ "books": [ {{ "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                          "strategies": [ {{ "slot": 2, "label": "159201" }}, {{ "slot": 3, "label": "512890" }} ] }} ] }},
             "data_dir": "data", "durability": "write",
             "mirrors": {{ "shm": "{shm}" }},
             "gateway": {{ "clients": {{ "grid": {{ "kinds": ["reserve", "fill", "cancel", "release_order"], "books": [0], "slots": [2] }},
                                         "ops": {{ "kinds": ["allocate", "release", "set"] }} }} }},
             "ready_file": "ready" }}"#,
        shm = dir.join("mirror").display()
    );
    let path = dir.join("service.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capvault"))
        .args(["serve", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line)
}

fn terminate(child: &Child) {
    // SAFETY: kill(2) on the pid of a child this test started and has not waited for.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
}

#[test]
fn a_served_vault_is_ready_commanded_stopped_cleanly_and_recovered() {
    let dir = scratch("life");
    let name = format!("serve-life-{}", std::process::id());
    let path = config(&dir, &name);
    let (mut child, line) = start(&path);
    assert!(line.starts_with(&format!("ready {name} pid {}", child.id())), "{line}");
    assert!(std::fs::read_to_string(dir.join("ready")).unwrap().starts_with("ready"));

    let mut ops = Client::connect(&name, "ops").unwrap();
    assert_eq!(
        ops.allocate(BookId::new(0), 2, "500".parse().unwrap()).unwrap().amount,
        "500".parse().unwrap()
    );
    let mut grid = Client::connect(&name, "grid").unwrap();
    assert!(grid.allocate(BookId::new(0), 2, "1".parse().unwrap()).is_err(), "outside its grant");
    drop((ops, grid));
    let listed =
        Command::new(env!("CARGO_BIN_EXE_capvault")).args(["inspect", &name, "--json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("\"alive\""), "{listed:?}");

    terminate(&child);
    let status = child.wait().unwrap();
    assert_eq!((status.code(), status.signal()), (Some(0), None), "a clean stop exits 0");
    assert!(!dir.join("ready").exists(), "the ready file goes with it");
    assert_eq!(ShmReader::open(dir.join("mirror")).unwrap().writer().state, WriterState::Closed);

    // Restarted on the same journal: the allocation is there.
    let (mut again, _) = start(&path);
    let snapshot = Client::connect(&name, "ops").unwrap().snapshot().unwrap();
    assert_eq!(snapshot.balance(BookId::new(0), 2), Some("500".parse().unwrap()));
    // A second service under the same name cannot start: exit 4.
    let second = Command::new(env!("CARGO_BIN_EXE_capvault"))
        .args(["serve", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(4), "{}", String::from_utf8_lossy(&second.stderr));
    terminate(&again);
    assert_eq!(again.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_service_file_exits_3_naming_what_is_wrong() {
    let dir = scratch("bad");
    let run = |text: &str| {
        let path = dir.join("bad.json");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_capvault"))
            .args(["serve", path.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, said) = run(r#"{ "name": "x", "ledger": {}, "mirors": {} }"#);
    assert_eq!(code, Some(3));
    assert!(said.contains("mirors"), "{said}");
    let (code, said) = run(r#"{ "name": "x", "ledger": { "books": [ { "venue": "SSE" } ] } }"#);
    assert_eq!(code, Some(3));
    assert!(said.contains("books[0]") && said.contains("currency"), "{said}");
    let (code, said) = run(r#"{ "name": "x", "ledger": {}, "durability": "sometimes" }"#);
    assert_eq!(code, Some(3));
    assert!(said.contains("durability"), "{said}");
    let (code, said) = run(r#"{ "name": "x", "ledger": "no-such-ledger.json" }"#);
    assert_eq!(code, Some(3));
    assert!(said.contains("no-such-ledger.json"), "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}
