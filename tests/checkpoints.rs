//! Checkpoints: a checkpoint whose checksum is right but whose contents could not have come from
//! the ledger (an order in a slot its book does not have, a missing book, a negative or oversized
//! amount, an id both live and resolved, a strategy's direct allocation above its used) refuses
//! to start with an error naming the file, instead of panicking on the first fill; so does an
//! absurd stated length. A checkpoint taken with every table exactly full (books, currencies, live
//! orders, the resolved window) restores exactly. And while a checkpoint is being written the
//! journal is not rotated again: one rotation per checkpoint handed over.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capvault::{
    recover, Amount, BookSpec, Builder, Command, Currency, JournalError, Ledger, Limits, Side, SpawnError,
    Venue, WaitStrategy,
};
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-checkpoints-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// CRC-32 (IEEE, reflected), as the checkpoint header carries it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
        }
    }
    !crc
}

const HEADER: usize = 40;

fn newest_checkpoint(dir: &Path) -> PathBuf {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ckpt"))
        .collect();
    names.sort();
    names.pop().unwrap()
}

/// Rewrites the checkpoint's payload with `patch` and fixes its checksum.
fn patch(path: &Path, patch: impl FnOnce(&mut Vec<u8>)) {
    let bytes = fs::read(path).unwrap();
    let mut payload = bytes[HEADER..].to_vec();
    patch(&mut payload);
    let mut out = bytes[..HEADER].to_vec();
    out[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out[32..36].copy_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    fs::write(path, out).unwrap();
}

/// Where the order with snowflake `n` is encoded in a checkpoint payload: its kind byte.
fn order_at(payload: &[u8], n: u64) -> usize {
    let mut needle = vec![2_u8];
    needle.extend_from_slice(&u128::from(n).to_le_bytes());
    payload
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the order is in the checkpoint")
}

// Offsets in an order record, from its kind byte: id (17), book (2), slot, side, layer (4),
// amount, frozen, used (8 each), state.
const BOOK: usize = 17;
const SLOT: usize = 19;
const AMOUNT: usize = 25;
const FROZEN: usize = 33;
const STATE: usize = 49;

/// A folder whose newest checkpoint holds orders 1 and 2 live and order 3 resolved, and a
/// direct allocation of 1234.5678 to slot 4.
fn checkpointed(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(&dir)
        .checkpoint_every(5, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    handle.submit(buy(id(1), 2, 1, units(100))).unwrap();
    handle.submit(buy(id(2), 3, 1, units(200))).unwrap();
    handle.submit(buy(id(3), 3, 1, units(300))).unwrap();
    handle.submit(Command::Cancel { id: id(3) }).unwrap();
    handle.submit(Command::Allocate { book: CNY, slot: 4, amount: amount("1234.5678") }).unwrap();
    handle.shutdown().unwrap();
    assert!(newest_checkpoint(&dir).ends_with("checkpoint-00000000000000000005.ckpt"));
    dir
}

fn refuses(dir: &Path, what: &str) {
    match recover(dir) {
        Err(JournalError::Checkpoint { path, .. }) => assert_eq!(path, newest_checkpoint(dir), "{what}"),
        other => panic!("{what}: recovery answered {other:?}"),
    }
    let spawned = Builder::new(seed_000(Limits::default())).data_dir(dir).spawn();
    assert!(matches!(spawned, Err(SpawnError::Journal(JournalError::Checkpoint { .. }))), "{what}");
}

type Patch = Box<dyn FnOnce(&mut Vec<u8>)>;

/// CRC-valid checkpoints that break a rule only `from_parts` checks.
fn impossible_cases() -> Vec<(&'static str, Patch)> {
    vec![
        (
            "an order in slot 60 of a 5-slot book",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + SLOT] = 60;
            }),
        ),
        (
            "an order in the pool's slot",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + SLOT] = 1;
            }),
        ),
        (
            "an order naming a missing book",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + BOOK..at + BOOK + 2].copy_from_slice(&9_u16.to_le_bytes());
            }),
        ),
        (
            "a negative frozen amount",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + FROZEN..at + FROZEN + 8].copy_from_slice(&(-1_i64).to_le_bytes());
            }),
        ),
        (
            "frozen above the amount",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + AMOUNT..at + AMOUNT + 8].copy_from_slice(&1_i64.to_le_bytes());
            }),
        ),
        (
            "a live order in a resolved state",
            Box::new(|p| {
                let at = order_at(p, 1);
                p[at + STATE] = 5;
            }),
        ),
        (
            "a duplicated live id",
            Box::new(|p| {
                let at = order_at(p, 2);
                p[at + 1..at + 17].copy_from_slice(&1_u128.to_le_bytes());
            }),
        ),
        (
            "an id both live and resolved",
            Box::new(|p| {
                let at = order_at(p, 3);
                p[at + 1..at + 17].copy_from_slice(&1_u128.to_le_bytes());
            }),
        ),
        (
            "direct above used",
            Box::new(|p| {
                let direct = amount("1234.5678").raw().to_le_bytes();
                let at = p.windows(8).rposition(|w| w == direct).expect("the direct allocation is there");
                p[at..at + 8].copy_from_slice(&amount("999999").raw().to_le_bytes());
            }),
        ),
    ]
}

#[test]
fn a_consistent_looking_but_impossible_checkpoint_refuses_to_start() {
    for (what, change) in impossible_cases() {
        let dir = checkpointed("impossible");
        patch(&newest_checkpoint(&dir), change);
        refuses(&dir, what);
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn an_absurd_stated_length_is_an_error_not_a_panic() {
    let dir = checkpointed("length");
    let path = newest_checkpoint(&dir);
    let mut bytes = fs::read(&path).unwrap();
    for len in [u64::MAX - 20, u64::MAX, (bytes.len() - HEADER + 1) as u64] {
        bytes[24..32].copy_from_slice(&len.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(recover(&dir), Err(JournalError::Checkpoint { offset: 24, .. })), "length {len}");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_with_every_table_full_restores_exactly() {
    let limits = Limits { books_max: 2, currencies_max: 1, orders_max: 8, resolved_max: 6 };
    let dir = scratch("full");
    let commands: Vec<Command> = std::iter::once(Command::SetCreditLimit {
        currency: Currency::new("CNY").unwrap(),
        limit: units(1_000),
    })
    // Six reservations cancelled unfilled: the resolved window is exactly full, then two more
    // push the oldest out.
    .chain((1..=8).flat_map(|n| [buy(id(n), 2, 1, units(10)), Command::Cancel { id: id(n) }]))
    // Eight live orders: the order table is exactly full.
    .chain((100..108).map(|n| buy(id(n), 3, 1, units(10))))
    .collect();
    let mut reference = seed_000(limits);
    let mut handle = Builder::new(seed_000(limits))
        .data_dir(&dir)
        .checkpoint_every(commands.len() as u64, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    for command in &commands {
        handle.submit(*command).unwrap();
        reference.apply(command).unwrap();
    }
    handle.shutdown().unwrap();
    assert_eq!(reference.orders().len(), 8);
    let (recovered, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(
        (recovery.checkpoint_seq, recovery.replayed),
        (commands.len() as u64, 0),
        "from the checkpoint alone"
    );
    assert!(recovered == reference, "the full checkpoint did not restore exactly");
    // And it goes on: one more resolution evicts the oldest id, one more order is refused.
    let mut recovered: Ledger = recovered;
    recovered.apply(&Command::Cancel { id: id(100) }).unwrap();
    reference.apply(&Command::Cancel { id: id(100) }).unwrap();
    assert!(recovered == reference);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_in_progress_is_not_rotated_again() {
    let dir = scratch("rotations");
    let mut handle = Builder::new(seed_000(Limits { orders_max: 10_000, ..Limits::default() }))
        .data_dir(&dir)
        .checkpoint_every(3, Duration::from_millis(1))
        .wait(WaitStrategy::Blocking)
        .spawn()
        .unwrap();
    let (done, most) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let watcher = {
        let (dir, done, most) = (dir.clone(), done.clone(), most.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let segments = fs::read_dir(&dir).map_or(0, |entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
                        .count()
                });
                most.fetch_max(segments, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    for n in 1..=3_000 {
        let layer = u32::from(n % 2 == 0);
        handle
            .submit(Command::Reserve {
                id: id(n),
                book: CNY,
                slot: 2,
                side: Side::Buy,
                layer,
                amount: Amount::from_raw(1).unwrap(),
            })
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    handle.shutdown().unwrap();
    let most = most.load(Ordering::Relaxed);
    // The segment being written, the one a checkpoint in progress covers, and one it has not yet
    // pruned: never a pile of segments rotated while the checkpoint thread was busy.
    assert!(most <= 3, "{most} journal segments at once");
    let _ = fs::remove_dir_all(&dir);
}

/// The spec of the book of `venue`/`currency` in a checkpoint payload: where its venue starts.
fn spec_at(payload: &[u8], venue: &str, currency: &str) -> usize {
    let mut needle = [0_u8; 24];
    needle[..venue.len()].copy_from_slice(venue.as_bytes());
    needle[16..16 + currency.len()].copy_from_slice(currency.as_bytes());
    payload.windows(24).position(|w| w == needle).expect("the book is in the checkpoint")
}

#[test]
fn a_version_5_folder_is_read_with_sells_holding_nothing() {
    let dir = checkpointed("version5");
    let before = recover(&dir).unwrap().unwrap().0;
    // Rewrite the folder as version 5 wrote it: no sell rule byte after each book's minor unit.
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("ckpt") => patch(&path, |p| {
                for (venue, currency) in [("SSE", "CNY"), ("KRAKEN", "USDT")] {
                    let at = spec_at(p, venue, currency) + 42;
                    assert_eq!(p[at], 0, "the sell rule byte of {venue}/{currency}");
                    p.remove(at);
                }
            }),
            Some("log") => {}
            _ => continue,
        }
        let mut bytes = fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&5_u32.to_le_bytes());
        fs::write(&path, bytes).unwrap();
    }
    let (after, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.seq, 5);
    assert_eq!(after, before);
    assert!(after.books().iter().all(|book| book.spec().sells == capvault::SellRule::HoldNothing));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_version_2_folder_is_read_with_the_default_minor_unit() {
    let dir = checkpointed("version2");
    let before = recover(&dir).unwrap().unwrap().0;
    // Rewrite the folder as version 2 wrote it: no minor-unit byte at the end of each book's
    // spec (venue 16, currency 8, slot count 1, four ratios 16), no filled amount after the one
    // resolved order (8 bytes, zero) and no signal window (its count, 4 bytes, zero) at the end
    // (both version 4), no request window and watermarks (two counts of 4 bytes, zero: version
    // 5), no sell rule after the minor unit (one byte: version 6), version 2 in each header.
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("ckpt") => {
                patch(&path, |p| {
                    let end = p.len() - 20;
                    assert_eq!(p[end..], [0; 20], "a zero filled amount, empty signal and request windows");
                    p.truncate(end);
                    for (venue, currency) in [("SSE", "CNY"), ("KRAKEN", "USDT")] {
                        let at = spec_at(p, venue, currency) + 41;
                        assert_eq!(p[at], 2, "the minor unit byte of {venue}/{currency}");
                        assert_eq!(p[at + 1], 0, "the sell rule byte of {venue}/{currency} (version 6)");
                        p.drain(at..at + 2);
                    }
                });
            }
            Some("log") => {}
            _ => continue,
        }
        let mut bytes = fs::read(&path).unwrap();
        assert_eq!(bytes[8..12], capvault::JOURNAL_VERSION.to_le_bytes());
        bytes[8..12].copy_from_slice(&2_u32.to_le_bytes());
        fs::write(&path, bytes).unwrap();
    }
    let (after, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.seq, 5);
    assert_eq!(after, before, "the same ledger, minor units at their default");
    assert!(after.books().iter().all(|book| book.decimals() == 2));
    // A vault starts on it and writes the current version from there on.
    let mut handle = Builder::new(seed_000(Limits::default())).data_dir(&dir).spawn().unwrap();
    handle.submit(buy(id(9), 2, 1, units(1))).unwrap();
    handle.shutdown().unwrap();
    assert_eq!(recover(&dir).unwrap().unwrap().1.seq, 6);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_book_minor_unit_survives_the_journal_a_checkpoint_and_the_mirror() {
    let dir = scratch("decimals");
    let shm = dir.with_extension("shm");
    let spec = BookSpec {
        decimals: 4,
        ..BookSpec::new(Venue::new("KRAKEN").unwrap(), Currency::new("BTC").unwrap(), 3)
    };
    let mut handle =
        Builder::new(seed_000(Limits::default())).data_dir(&dir).mirror_shm(&shm).spawn().unwrap();
    let receipt = handle.submit(Command::OpenBook { spec }).unwrap();
    let capvault::Outcome::BookOpened { book } = receipt.outcome else { panic!("{receipt:?}") };
    // The mirror is written shortly after the snapshot is published, which follows the answer.
    let reader = capvault::ShmReader::open(&shm).unwrap();
    let mirrored = reader.wait_for(receipt.seq, Duration::from_secs(10)).unwrap();
    assert_eq!(mirrored.book(book).map(capvault::Book::decimals), Some(4));
    handle.shutdown().unwrap();
    let from_journal = recover(&dir).unwrap().unwrap().0;
    assert_eq!(from_journal.book(book).map(capvault::Book::decimals), Some(4));
    assert_eq!(from_journal.book(book).unwrap().amount_from_f64(0.123_456_7).unwrap(), amount("0.1235"));
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(&dir)
        .on_config_drift(capvault::DriftPolicy::KeepRecovered)
        .checkpoint_every(1, Duration::from_millis(1))
        .spawn()
        .unwrap();
    handle.set(book, 0, units(1)).unwrap();
    handle.shutdown().unwrap();
    let from_checkpoint = recover(&dir).unwrap().unwrap();
    assert_eq!(from_checkpoint.0.book(book).map(capvault::Book::decimals), Some(4));
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_file(&shm);
    let _ = fs::remove_file(format!("{}.lock", shm.display()));
}

/// Every checkpoint holds exactly the ledger the owner had at its sequence, though the owner no
/// longer copies it: the checkpoint thread's replica, replayed from the journal, matches the
/// snapshot the owner published at that sequence.
#[test]
fn each_checkpoint_equals_the_published_state_at_its_sequence() {
    let dir = scratch("replica");
    let published: Arc<Mutex<Vec<Arc<capvault::Snapshot>>>> = Arc::default();
    let seen = published.clone();
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(&dir)
        .checkpoint_every(37, Duration::from_secs(3600))
        .on_publish(move |snapshot| seen.lock().unwrap().push(Arc::new(snapshot.clone())))
        .spawn()
        .unwrap();
    for command in common::stream::stream(3).take(2_000) {
        let _ = handle.submit(command);
    }
    let stats = handle.reader().checkpoint_stats();
    handle.shutdown().unwrap();
    assert!(stats.written >= 10, "{stats:?}");
    assert_eq!(stats.failures, 0, "{stats:?}");
    // Keep only the newest checkpoint: recovery from it alone is the checkpoint's content.
    let newest = newest_checkpoint(&dir);
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            fs::remove_file(path).unwrap();
        }
    }
    let (ledger, recovery) = recover(&dir).unwrap().unwrap();
    let at = published.lock().unwrap().iter().find(|s| s.seq() == recovery.seq).cloned();
    let snapshot = at.unwrap_or_else(|| panic!("no snapshot published at {}", recovery.seq));
    let published: Vec<&capvault::Book> = snapshot.books().iter().map(|book| &**book).collect();
    assert_eq!(ledger.books().iter().collect::<Vec<_>>(), published, "{}", newest.display());
    let mut orders: Vec<capvault::Order> = ledger.orders().copied().collect();
    let mut expected = snapshot.orders().copied().collect::<Vec<_>>();
    orders.sort_by_key(|o| o.id().words());
    expected.sort_by_key(|o| o.id().words());
    assert_eq!(orders, expected);
    let _ = fs::remove_dir_all(&dir);
}
