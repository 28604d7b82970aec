//! The journal and checkpoints: a restart recovers every acknowledged command and keeps ids
//! idempotent; checkpoints prune what they cover; a torn last record is cut and reported; a
//! corrupt record in the middle, a damaged checkpoint or a foreign version refuses to start,
//! naming the file and offset; replaying a journal of random commands from empty gives the state
//! of applying them live; reconciliation after a restart reports drift and unrecoverable books.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capvault::{
    recover, Amount, Builder, Command, Durability, Handle, Health, JournalError, Limits, OrderState, Outcome,
    Receipt, Rejection, Side, SpawnError, SubmitError, WaitStrategy,
};
use common::*;
use proptest::prelude::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-durability-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn vault(dir: &Path) -> Builder {
    Builder::new(seed_000(Limits::default()))
        .data_dir(dir)
        .wait(WaitStrategy::Blocking)
        .reply_wait(WaitStrategy::Blocking)
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

fn some_commands(handle: &mut Handle, from: u64, to: u64) -> Receipt {
    let mut last = None;
    for n in from..=to {
        last = Some(handle.submit(buy(id(n), 2 + (n % 2) as u8, 1, units(100))).unwrap());
        if n % 3 == 0 {
            last = Some(handle.submit(Command::Fill { id: id(n), amount: units(40) }).unwrap());
        }
        if n % 5 == 0 {
            last = Some(handle.submit(Command::Cancel { id: id(n) }).unwrap());
        }
    }
    last.unwrap()
}

#[test]
fn a_restart_recovers_every_acknowledged_command() {
    let dir = scratch("restart");
    let mut handle = vault(&dir).spawn().unwrap();
    assert_eq!(handle.recovery(), None, "a fresh directory");
    let last = some_commands(&mut handle, 1, 40);
    let before = handle.shutdown().unwrap();
    assert_eq!(before.seq(), last.seq);

    let mut again = vault(&dir).spawn().unwrap();
    let recovery = again.recovery().unwrap();
    assert_eq!((recovery.checkpoint_seq, recovery.seq, recovery.replayed), (0, last.seq, last.seq));
    assert_eq!(recovery.torn_tail, None);
    let after = again.reader().snapshot_arc();
    assert_eq!(after.seq(), before.seq());
    assert_eq!(after.books(), before.books());
    let mut left: Vec<_> = before.orders().copied().collect::<Vec<_>>();
    let mut right: Vec<_> = after.orders().copied().collect::<Vec<_>>();
    left.sort_by_key(capvault::Order::id);
    right.sort_by_key(capvault::Order::id);
    assert_eq!(left, right);
    // Idempotency survives the restart: a live id is already applied, a resolved one is refused.
    assert_eq!(
        again.submit(buy(id(1), 3, 1, units(100))).unwrap().outcome,
        Outcome::AlreadyReserved { state: OrderState::Pending }
    );
    assert_eq!(
        again.submit(buy(id(5), 3, 1, units(100))),
        Err(SubmitError::Rejected(Rejection::IdResolved { id: id(5), state: OrderState::Cancelled }))
    );
    // The sequence continues where it stopped.
    assert_eq!(again.submit(Command::Cancel { id: id(1) }).unwrap().seq, last.seq + 1);
    again.shutdown().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_prune_what_they_cover() {
    let dir = scratch("checkpoints");
    let mut handle = vault(&dir).checkpoint_every(10, Duration::from_secs(3600)).spawn().unwrap();
    let reader = handle.reader();
    // Checkpoints are written beside the owner and a request made while one is being written
    // is folded into the next: wait for each, so three are written in every build profile.
    let mut last = None;
    for round in 0..3 {
        last = Some(some_commands(&mut handle, round * 10 + 1, round * 10 + 10));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while reader.checkpoint_stats().written <= round {
            assert!(std::time::Instant::now() < deadline, "{:?}", reader.checkpoint_stats());
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let last = last.unwrap();
    let before = handle.shutdown().unwrap();
    let stats = reader.checkpoint_stats();
    assert!(stats.written >= 3, "{stats:?}");
    assert_eq!(stats.failures, 0);
    let checkpoints = files(&dir, "checkpoint-");
    assert_eq!(checkpoints.len(), 1, "older checkpoints are removed: {checkpoints:?}");
    let newest = stats.last_seq.unwrap();
    assert_eq!(checkpoints[0], format!("checkpoint-{newest:020}.ckpt"));
    // Only the segments after the newest checkpoint remain.
    for segment in files(&dir, "journal-") {
        let first: u64 = segment["journal-".len()..segment.len() - 4].parse().unwrap();
        assert!(first > newest, "{segment} is covered by checkpoint {newest}");
    }
    let (ledger, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.checkpoint_seq, newest);
    assert_eq!(recovery.seq, last.seq);
    assert!(ledger.books().iter().eq(before.books().iter().map(|book| &**book)));
    fs::remove_dir_all(&dir).unwrap();
}

fn newest_segment(dir: &Path) -> PathBuf {
    dir.join(
        files(dir, "journal-")
            .into_iter()
            .rev()
            .find(|name| fs::metadata(dir.join(name)).unwrap().len() > 16)
            .unwrap(),
    )
}

#[test]
fn a_torn_last_record_is_cut_and_reported() {
    let dir = scratch("torn");
    let mut handle = vault(&dir).spawn().unwrap();
    let last = some_commands(&mut handle, 1, 10);
    handle.shutdown().unwrap();
    let segment = newest_segment(&dir);
    let len = fs::metadata(&segment).unwrap().len();
    // The crash hit in the middle of the last record.
    fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();
    let (ledger, recovery) = recover(&dir).unwrap().unwrap();
    let torn = recovery.torn_tail.unwrap();
    assert_eq!(torn.path, segment);
    assert!(torn.offset < len - 5 && torn.bytes == len - 5 - torn.offset, "{torn:?}");
    assert_eq!(recovery.seq, last.seq - 1, "the torn command was never acknowledged under FsyncBatch");
    assert_eq!(fs::metadata(&segment).unwrap().len(), torn.offset, "cut off");
    ledger.audit().unwrap();
    // A second recovery finds a clean journal.
    assert_eq!(recover(&dir).unwrap().unwrap().1.torn_tail, None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_refuses_to_start_and_names_the_place() {
    let dir = scratch("damage");
    let mut handle = vault(&dir).spawn().unwrap();
    some_commands(&mut handle, 1, 20);
    handle.shutdown().unwrap();
    let segment = newest_segment(&dir);
    let pristine = fs::read(&segment).unwrap();

    // A flipped byte in the middle of the journal.
    let mut bytes = pristine.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&segment, &bytes).unwrap();
    match vault(&dir).spawn() {
        Err(SpawnError::Journal(JournalError::Corrupt { path, offset, .. })) => {
            assert_eq!(path, segment);
            assert!(offset as usize <= middle && offset >= 16, "offset {offset}, flipped {middle}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Another layout version.
    let mut bytes = pristine.clone();
    bytes[8] = 9;
    fs::write(&segment, &bytes).unwrap();
    assert!(matches!(recover(&dir), Err(JournalError::Version { .. })));
    fs::write(&segment, &pristine).unwrap();

    // A damaged checkpoint.
    let checkpoint = dir.join(&files(&dir, "checkpoint-")[0]);
    let mut bytes = fs::read(&checkpoint).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&checkpoint, &bytes).unwrap();
    match recover(&dir) {
        Err(JournalError::Checkpoint { path, offset, reason }) => {
            assert_eq!(path, checkpoint);
            assert_eq!((offset, reason.as_str()), (32, "checksum mismatch"));
        }
        other => panic!("expected Checkpoint, got {other:?}"),
    }
    let message = vault(&dir).spawn().unwrap_err().to_string();
    assert!(message.contains("checkpoint-") && message.contains("refusing to start"), "{message}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reconciliation_after_a_restart_reports_drift_and_unrecoverable_books() {
    let dir = scratch("reconcile");
    let mut handle = vault(&dir).spawn().unwrap();
    handle.submit(buy(id(1), 2, 0, units(100_000))).unwrap();
    handle.submit(Command::Fill { id: id(1), amount: units(100_000) }).unwrap();
    handle.shutdown().unwrap();
    let mut again = vault(&dir).spawn().unwrap();
    let reports = again.set_totals(&[(CNY, amount("299870.25")), (USDT, units(-10))]);
    let outcomes: Vec<(Amount, Health)> =
        reports.into_iter().map(|r| r.map(|r| (r.drift, r.health)).unwrap()).collect();
    assert_eq!(
        outcomes,
        [
            (amount("-129.75"), Health::Sound),
            (units(-10), Health::Unrecoverable { pool: units(-10), credit_limit: Amount::ZERO }),
        ]
    );
    assert_eq!(again.reader().snapshot_arc().orders().len(), 1, "the reservation is kept");
    again.shutdown().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

fn arbitrary_command() -> impl Strategy<Value = Command> {
    let book = prop_oneof![Just(CNY), Just(USDT)];
    let money =
        prop_oneof![(1..50_000_i64).prop_map(units), (-2_000..2_000_i64).prop_map(units), Just(Amount::ZERO)];
    let n = 1..20_u64;
    prop_oneof![
        (n.clone(), book.clone(), 2..5_u8, 0..3_u32, money.clone()).prop_map(
            |(n, book, slot, layer, amount)| Command::Reserve {
                id: id(n),
                book,
                slot,
                side: Side::Buy,
                layer,
                amount
            }
        ),
        (n.clone(), money.clone()).prop_map(|(n, amount)| Command::Fill { id: id(n), amount }),
        n.clone().prop_map(|n| Command::Cancel { id: id(n) }),
        n.prop_map(|n| Command::ReleaseOrder { id: id(n) }),
        (book.clone(), 0..5_u8, money.clone()).prop_map(|(book, slot, delta)| Command::Adjust {
            book,
            slot,
            delta
        }),
        (book.clone(), 2..5_u8, money.clone()).prop_map(|(book, slot, amount)| Command::Allocate {
            book,
            slot,
            amount
        }),
        (book.clone(), money.clone(), any::<bool>()).prop_map(|(book, balance, force)| Command::Reset {
            book,
            balance,
            force
        }),
        (book, 2..5_u8, money).prop_map(|(book, slot, amount)| Command::RecordAlpha { book, slot, amount }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Replaying the journal (from a checkpoint taken every few commands) gives exactly the
    /// ledger that applying the same commands live gives.
    #[test]
    fn replay_equals_live(commands in prop::collection::vec(arbitrary_command(), 1..60), every in 1..8_u64) {
        let dir = scratch(&format!("prop-{every}-{}", commands.len()));
        let mut handle = vault(&dir).durability(Durability::Write).checkpoint_every(every, Duration::from_secs(3600)).spawn().unwrap();
        let mut live = seed_000(Limits::default());
        for command in &commands {
            let expected = live.apply(command);
            let got = handle.submit(*command).map(|r| r.outcome);
            prop_assert_eq!(got.map_err(|e| match e { SubmitError::Rejected(r) => r, other => panic!("{other}") }), expected);
        }
        handle.shutdown().unwrap();
        let (recovered, recovery) = recover(&dir).unwrap().unwrap();
        prop_assert!(recovered == live, "recovered {:?} != live {:?} after {:?}", recovered, live, recovery);
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn the_mirrors_start_from_the_recovered_state() {
    let dir = scratch("mirrors");
    let mut handle = vault(&dir).spawn().unwrap();
    some_commands(&mut handle, 1, 12);
    let before = handle.shutdown().unwrap();
    let shm = dir.join("vault.shm");
    let json = dir.join("shared_pool.json");
    let again = vault(&dir).mirror_shm(&shm).mirror_json(&json).spawn().unwrap();
    let seen = capvault::ShmReader::open(&shm).unwrap().read().unwrap();
    assert_eq!((seen.seq(), seen.books()), (before.seq(), before.books()));
    again.shutdown().unwrap();
    let pool: serde_json::Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let used = before.book(CNY).unwrap().strategy(2).unwrap().used();
    assert_eq!(Amount::from_f64(pool["used_159201"].as_f64().unwrap()).unwrap(), used);
    fs::remove_dir_all(&dir).unwrap();
}
