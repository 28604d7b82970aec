//! The journal replicated through NATS JetStream (`Builder::replicate`) against a real
//! nats-server: every accepted command is in the stream once, in order, and replaying the stream
//! on a plain ledger gives the vault's state; a vault whose stream was taken over (an epoch
//! marker appended by another) has its next batch refused, tells its caller the truth (not
//! applied), stops, and nothing of it reaches the stream; a vault whose journal does not end
//! where the stream does refuses to start.

mod common;

use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use capvault::replication::{fence, read_stream, replay, ReplicationConfig, ReplicationError};
use capvault::{
    Builder, Command, Handle, Ledger, LedgerConfig, RequestKey, Side, SpawnError, Stopped, SubmitError,
};
use common::nats::{free_port, nats_server, wait_port};
use common::{id, units, KillOnDrop, CNY};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 }, { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-replication-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One nats-server with JetStream (a stream of one replica: the cluster's Raft is NATS's, not
/// what these tests check).
fn server(dir: &std::path::Path) -> (KillOnDrop, ReplicationConfig) {
    let port = free_port();
    let child = Process::new(nats_server())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("jetstream"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port("127.0.0.1", port);
    let config: ReplicationConfig = serde_json::from_value(serde_json::json!({
        "servers": [format!("nats://127.0.0.1:{port}")],
        "stream": "CAPVAULT_TEST", "subject": "capvault.test.journal", "replicas": 1,
    }))
    .unwrap();
    (KillOnDrop(child), config)
}

fn vault(data: &std::path::Path, config: &ReplicationConfig) -> Result<Handle, SpawnError> {
    Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
        .unwrap()
        .data_dir(data)
        .replicate(config.clone())
        .spawn()
}

fn some_commands(handle: &mut Handle) {
    handle.allocate(CNY, 2, units(10_000)).unwrap();
    let _ = handle.reserve(id(1), CNY, 3, Side::Buy, 1, units(20_000)).unwrap();
    handle.submit(Command::FillTo { id: id(1), filled: units(12_000) }).unwrap();
    handle.cancel(id(1)).unwrap();
    handle
        .submit_once(
            RequestKey::new("ops", 7).unwrap(),
            Command::Release { book: CNY, slot: 2, amount: units(1) },
        )
        .unwrap();
    // A rejection changes nothing and is not journalled.
    assert!(matches!(handle.release(CNY, 2, units(1_000_000)), Err(SubmitError::Rejected(_))));
}

/// Every book of the vault equals the same book replayed from the stream.
fn assert_stream_equals(handle: &Handle, config: &ReplicationConfig) -> u64 {
    let batches = read_stream(config).unwrap();
    let mut ledger = Ledger::from_config(&LedgerConfig::from_json(CONFIG).unwrap()).unwrap();
    let last = replay(&batches, &mut ledger).unwrap();
    let snapshot = handle.snapshot();
    assert_eq!(last, snapshot.seq(), "every accepted command is in the stream, once");
    for book in snapshot.books() {
        let replayed = ledger.book(book.id()).unwrap();
        assert_eq!(serde_json::to_value(&**book).unwrap(), serde_json::to_value(replayed).unwrap());
    }
    last
}

#[test]
fn every_accepted_command_is_in_the_stream_once_and_replays_to_the_vaults_state() {
    let dir = scratch("replay");
    let (_server, config) = server(&dir);
    let mut handle = vault(&dir.join("a"), &config).unwrap();
    some_commands(&mut handle);
    // Concurrent submitters share batches: each batch is one message, its records in order.
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let mut handle = handle.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    handle.allocate(CNY, 2 + n % 2, units(1)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(assert_stream_equals(&handle, &config), 205);
    // Restarted from its journal, the vault finds the stream where it left it and goes on.
    handle.shutdown().unwrap();
    let mut handle = vault(&dir.join("a"), &config).unwrap();
    handle.allocate(CNY, 2, units(1)).unwrap();
    assert_eq!(assert_stream_equals(&handle, &config), 206);
    handle.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fenced_vault_applies_nothing_more_says_so_and_stops() {
    let dir = scratch("fence");
    let (_server, config) = server(&dir);
    let mut handle = vault(&dir.join("a"), &config).unwrap();
    some_commands(&mut handle);
    let before = handle.snapshot().seq();

    // Another vault takes the stream over: its epoch marker follows the last batch.
    let head = fence(&config).unwrap();
    assert_eq!((head.epoch, head.seq), (2, before));

    // The old leader's next batch is refused by the stream: not applied, and it stops.
    let refused = handle.allocate(CNY, 2, units(5));
    assert!(matches!(refused, Err(SubmitError::Stopped(Stopped::JournalFailed))), "{refused:?}");
    assert!(handle.failure().unwrap().contains("fenced"), "{:?}", handle.failure());
    assert!(matches!(handle.allocate(CNY, 2, units(5)), Err(SubmitError::Stopped(_))));
    // Nothing of it reached the stream: the marker is the last message, and the stream replays
    // to the state before the refused command.
    let batches = read_stream(&config).unwrap();
    let last = batches.last().unwrap();
    assert!(last.records.is_empty() && last.epoch == 2);
    let mut ledger = Ledger::from_config(&LedgerConfig::from_json(CONFIG).unwrap()).unwrap();
    assert_eq!(replay(&batches, &mut ledger).unwrap(), before);
    // Nor its local journal: restarted, it recovers the state before the refused command.
    drop(handle);
    let recovered = Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
        .unwrap()
        .data_dir(dir.join("a"))
        .spawn()
        .unwrap();
    assert_eq!(recovered.snapshot().seq(), before);
    assert_eq!(recovered.snapshot().balance(CNY, 2), ledger.balance(CNY, 2).ok());
    recovered.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_vault_whose_journal_does_not_end_where_the_stream_does_refuses_to_start() {
    let dir = scratch("diverged");
    let (_server, config) = server(&dir);
    let mut handle = vault(&dir.join("a"), &config).unwrap();
    handle.allocate(CNY, 2, units(1)).unwrap();
    handle.shutdown().unwrap();
    // A second vault with an empty journal on the same stream: it is behind the stream.
    let refused = vault(&dir.join("b"), &config);
    let Err(SpawnError::Replication(ReplicationError::Diverged { stream: 1, local: 0 })) = refused else {
        panic!("{refused:?}")
    };
    let _ = std::fs::remove_dir_all(&dir);
}
