//! Exactly once over an unreliable link (`ledger::request`): a keyed command resent after its
//! answer was lost is answered with the original outcome and sequence and applies nothing, for
//! non-idempotent commands too, through a handle and through the gateway, across a restart from
//! the journal and from a checkpoint; a key older than the window is refused, never reapplied.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use capvault::{
    Builder, Client, Command, Grant, Ledger, Limits, Once, Receipt, Rejection, RequestKey, ServeConfig,
    SubmitError,
};
use common::*;

fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-once-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A vault on `dir`: the seed 000 ledger when the folder is new, else what it recovers.
fn vault(dir: &Path, limits: Limits) -> Builder {
    Builder::new(seed_000(limits)).data_dir(dir)
}

fn allocate(n: i64) -> Command {
    Command::Allocate { book: CNY, slot: 3, amount: units(n) }
}

#[test]
fn a_resend_is_answered_with_the_original_and_applies_nothing_across_restarts() {
    let dir = data_dir("handle");
    let key = |n| RequestKey::new("grid-159201", n).unwrap();
    let mut handle = vault(&dir, Limits::default()).spawn().unwrap();
    let first = handle.submit_once(key(1), allocate(1_000)).unwrap();
    let trade = Command::Adjust { book: CNY, slot: capvault::SLOT_TOTAL, delta: units(-250) };
    let adjusted = handle.submit_once(key(2), trade).unwrap();
    assert_eq!(handle.submit_once(key(1), allocate(1_000)).unwrap(), first);
    assert_eq!(handle.submit_once(key(2), trade).unwrap(), adjusted);
    // Another client's request 1 is its own.
    let other = handle.submit_once(RequestKey::new("grid-512890", 1).unwrap(), allocate(5)).unwrap();
    assert!(other.seq > adjusted.seq);
    handle.shutdown().unwrap();

    // Recovered from the journal: the window is rebuilt by replay.
    let mut handle = vault(&dir, Limits::default()).spawn().unwrap();
    assert_eq!(handle.submit_once(key(1), allocate(1_000)).unwrap(), first, "after a restart");
    assert_eq!(handle.submit_once(key(2), trade).unwrap(), adjusted);
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.balance(CNY, 3), Some(units(1_005)), "each allocation applied once");
    assert_eq!(snapshot.balance(CNY, capvault::SLOT_TOTAL), Some(units(299_750)));
    handle.shutdown().unwrap();

    // Recovered from a checkpoint that holds the window (one written every command).
    let mut handle =
        vault(&dir, Limits::default()).checkpoint_every(1, Duration::from_secs(3600)).spawn().unwrap();
    handle.submit_once(key(3), allocate(1)).unwrap();
    handle.submit(allocate(1)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let written = handle.reader().checkpoint_stats().written;
    handle.shutdown().unwrap();
    assert!(written > 0, "a checkpoint was written");
    let mut handle = vault(&dir, Limits::default()).spawn().unwrap();
    assert_eq!(handle.submit_once(key(1), allocate(1_000)).unwrap(), first, "after a checkpoint");
    assert_eq!(handle.snapshot().balance(CNY, 3), Some(units(1_007)));
    handle.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_request_is_checked_again_and_applies_at_most_once() {
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let key = RequestKey::new("ops", 7).unwrap();
    let release = Command::Release { book: CNY, slot: 3, amount: units(10) };
    assert!(matches!(
        handle.submit_once(key, release),
        Err(SubmitError::Rejected(Rejection::ExceedsAllocation { .. }))
    ));
    handle.submit(allocate(10)).unwrap();
    let applied = handle.submit_once(key, release).unwrap();
    assert_eq!(handle.submit_once(key, release).unwrap(), applied, "now remembered");
    assert_eq!(handle.snapshot().balance(CNY, 3), Some(units(0)));
    handle.shutdown().unwrap();
}

#[test]
fn a_key_older_than_the_window_is_refused_not_reapplied() {
    let limits = Limits { resolved_max: 4, ..Limits::default() };
    let mut ledger = seed_000(limits);
    let key = |n| RequestKey::new("ops", n).unwrap();
    for n in 1..=6 {
        assert!(matches!(ledger.apply_once(key(n), n, &allocate(1)), Ok(Once::Applied(_))));
    }
    assert_eq!(
        ledger.apply_once(key(2), 99, &allocate(1)),
        Err(Rejection::RequestExpired { request: 2, watermark: 2 })
    );
    assert!(matches!(ledger.apply_once(key(3), 99, &allocate(1)), Ok(Once::Repeated { seq: 3, .. })));
    assert!(matches!(ledger.apply_once(key(7), 7, &allocate(1)), Ok(Once::Applied(_))));
    assert_eq!(ledger.balance(CNY, 3), Ok(units(7)));
    // A ledger without the window (replayed unkeyed) differs: the window is state.
    let mut plain = seed_000(limits);
    for _ in 0..7 {
        plain.apply(&allocate(1)).unwrap();
    }
    assert_ne!(plain, ledger);
    let _: Ledger = plain;
}

#[test]
fn a_gateway_client_resends_under_its_number_across_a_vault_restart() {
    let dir = data_dir("gateway");
    let name = format!("t-once-{}", std::process::id());
    let serve = || ServeConfig::new(&name).others(Some(Grant::all())).slots(2);
    let handle = vault(&dir, Limits::default()).serve(serve()).spawn().unwrap();
    let mut client = Client::connect(&name, "grid-159201").unwrap();
    let first: Receipt = client.submit_once(1_764_806_400_000_001, allocate(300)).unwrap();
    assert_eq!(client.submit_once(1_764_806_400_000_001, allocate(300)).unwrap(), first);
    handle.shutdown().unwrap();

    let handle = vault(&dir, Limits::default()).serve(serve()).spawn().unwrap();
    client.reconnect_within(Duration::from_secs(5)).unwrap();
    assert_eq!(client.submit_once(1_764_806_400_000_001, allocate(300)).unwrap(), first, "after the restart");
    // The key is the client's name and number: a local handle's request 1_764_806_400_000_001
    // of another name is new.
    let mut local = handle.clone();
    let other =
        local.submit_once(RequestKey::new("ops", 1_764_806_400_000_001).unwrap(), allocate(1)).unwrap();
    assert!(other.seq > first.seq);
    // The same name through a handle is the same key: the front ends share one window.
    let same = RequestKey::new("grid-159201", 1_764_806_400_000_001).unwrap();
    assert_eq!(local.submit_once(same, allocate(300)).unwrap(), first);
    assert!(matches!(client.submit_once(0, allocate(1)), Err(SubmitError::Refused(_))));
    drop(client);
    let snapshot = handle.shutdown().unwrap();
    assert_eq!(snapshot.balance(CNY, 3), Some(units(301)));
    std::fs::remove_dir_all(&dir).unwrap();
}
