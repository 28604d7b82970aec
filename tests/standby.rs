//! A hot standby against a real nats-server: `capvault serve --standby` follows the leader's
//! replicated journal and takes over when the leader's lease lapses. A remote client keeps
//! sending through it all; at the end every acknowledged command is in the stream exactly once,
//! and the stream replayed on a plain ledger equals what the serving vault shows.
//!
//! The faults: the leader `kill -9`ed (the standby takes over; the old leader rejoins as a
//! standby and catches up), then the new leader paused (`SIGSTOP`) until the other took over
//! and resumed (`SIGCONT`): its next batch is refused by the stream and it stops (exit code 5),
//! having appended nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use capvault::remote::{RemoteClient, RemoteOptions};
use capvault::replication::{read_stream, replay, ReplicationConfig};
use capvault::{BookId, Command, Ledger, LedgerConfig};
use common::nats::{free_port, nats_server, wait_port};
use common::{units, KillOnDrop};

const CNY: BookId = BookId::new(0);
const LEDGER: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 1000000,
    "strategies": [ { "slot": 2, "label": "159201" }, { "slot": 3, "label": "512890" } ] } ] }"#;
const TTL_MS: u64 = 1_000;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-standby-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn replication(url: &str) -> serde_json::Value {
    serde_json::json!({ "servers": [url], "stream": "CAPVAULT_HA", "subject": "capvault.ha.journal",
        "replicas": 1, "lease_ttl_ms": TTL_MS, "ack_timeout_ms": 2_000 })
}

/// CONFIG of vault `which` (its own data folder, as on its own host).
fn config(dir: &Path, which: &str, url: &str) -> PathBuf {
    let file = dir.join(format!("{which}.json"));
    let text = serde_json::json!({
        "name": "ha",
        "ledger": serde_json::from_str::<serde_json::Value>(LEDGER).unwrap(),
        "data_dir": dir.join(format!("data-{which}")),
        "gateway": false,
        "nats": { "servers": [url], "kv": false, "others": { "kinds": ["allocate", "release"] } },
        "replication": replication(url),
    });
    std::fs::write(&file, text.to_string()).unwrap();
    file
}

/// `capvault serve CONFIG [--standby]` and its first line (`ready ...` or `standby ...`).
fn serve(config: &Path, standby: bool) -> (KillOnDrop, BufReader<std::process::ChildStdout>, String) {
    let mut command = Process::new(env!("CARGO_BIN_EXE_capvault"));
    command.arg("serve").arg(config).stdout(Stdio::piped()).stderr(Stdio::null());
    if standby {
        command.arg("--standby");
    }
    let mut child = command.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    (KillOnDrop(child), out, line)
}

fn next_line(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line
}

fn signal(child: &Child, signal: &str) {
    assert!(Process::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
}

/// Allocations of 1 to alternating slots, each acknowledged or not; the acknowledged ones are
/// counted per slot.
struct Load {
    client: RemoteClient,
    acknowledged: [i64; 2],
    sent: u64,
}

impl Load {
    fn connect(url: &str) -> Load {
        let mut options = RemoteOptions::new(url, "ha", "trader");
        options.attempt = Duration::from_millis(300);
        options.deadline = Duration::from_secs(30);
        Load { client: RemoteClient::connect(options).unwrap(), acknowledged: [0, 0], sent: 0 }
    }

    /// Sends `n` commands; the time from the first to the last answer.
    fn send(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            let slot = 2 + (self.sent % 2) as u8;
            self.sent += 1;
            self.client.submit(Command::Allocate { book: CNY, slot, amount: units(1) }).unwrap();
            self.acknowledged[usize::from(slot - 2)] += 1;
        }
        start.elapsed()
    }
}

/// The stream replayed on a plain ledger; its balances equal the acknowledged counts and the
/// serving vault's snapshot.
fn check(url: &str, load: &mut Load) {
    let config: ReplicationConfig = serde_json::from_value(replication(url)).unwrap();
    let batches = read_stream(&config).unwrap();
    let mut ledger = Ledger::from_config(&LedgerConfig::from_json(LEDGER).unwrap()).unwrap();
    let last = replay(&batches, &mut ledger).unwrap();
    for slot in [2_u8, 3] {
        let acknowledged = load.acknowledged[usize::from(slot - 2)];
        assert_eq!(
            ledger.balance(CNY, slot).unwrap(),
            units(acknowledged),
            "slot {slot}: each acknowledged command once"
        );
    }
    let read = load.client.read(last).unwrap();
    assert_eq!(read.seq, last, "the serving vault is at the stream's end");
    let book = serde_json::to_value(ledger.book(CNY).unwrap()).unwrap();
    assert_eq!(read.snapshot["books"][0], book, "the serving vault equals the stream replayed");
}

#[test]
fn a_standby_takes_over_a_killed_leader_and_a_paused_leader_is_fenced() {
    let dir = scratch();
    let port = free_port();
    let _nats = KillOnDrop(
        Process::new(nats_server())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("jetstream"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_port("127.0.0.1", port);
    let url = format!("nats://127.0.0.1:{port}");
    let (a, b) = (config(&dir, "a", &url), config(&dir, "b", &url));

    let (leader, _leader_out, line) = serve(&a, false);
    assert!(line.starts_with("ready ha"), "{line:?}");
    // A second leader is refused while the lease is held.
    let refused = Process::new(env!("CARGO_BIN_EXE_capvault")).arg("serve").arg(&b).output().unwrap();
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--standby"));
    let (standby, mut standby_out, line) = serve(&b, true);
    assert!(line.starts_with("standby ha"), "{line:?}");

    let mut load = Load::connect(&url);
    load.send(50);
    // The leader killed: the client's next command waits for the standby to take over.
    drop(leader);
    let took = load.send(1);
    assert!(next_line(&mut standby_out).starts_with("ready ha"));
    eprintln!("takeover: the first command after the kill answered in {took:?}");
    assert!(took < Duration::from_millis(TTL_MS) + Duration::from_secs(10), "took over in {took:?}");
    load.send(50);
    check(&url, &mut load);

    // The old leader rejoins as a standby and catches up.
    let (rejoined, mut rejoined_out, line) = serve(&a, true);
    assert!(line.starts_with("standby ha"), "{line:?}");
    load.send(20);

    // The new leader paused until the lease lapses and the rejoined vault leads; resumed, its
    // next batch is refused and it stops.
    signal(&standby.0, "-STOP");
    let paused = std::thread::spawn(move || {
        let mut standby = standby;
        std::thread::sleep(Duration::from_millis(TTL_MS * 4));
        signal(&standby.0, "-CONT");
        let status = standby.0.wait().unwrap();
        status.code()
    });
    load.send(20);
    assert!(next_line(&mut rejoined_out).starts_with("ready ha"));
    // The paused leader may have held requests when it stopped: resumed, it answers none of them
    // as applied, and exits as a failed vault (or on losing its lease).
    assert_eq!(paused.join().unwrap(), Some(5), "the fenced leader stops with exit code 5");
    load.send(20);
    check(&url, &mut load);
    drop(rejoined);
    let _ = std::fs::remove_dir_all(&dir);
}
