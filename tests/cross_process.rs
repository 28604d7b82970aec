//! Another process reads the shared-memory ledger while this one applies thousands of commands:
//! the test binary runs itself again as the child reader. Every view the child reads satisfies
//! the invariant (and each slot's frozen and used equal the sums over its orders plus its direct
//! allocation); the child's last view, read after the writer closed, equals the final snapshot.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use capvault::*;
use common::*;

const CHILD_ENV: &str = "CAPVAULT_CROSS_PROCESS_SHM";

/// Checks one view; returns a description of the first broken rule.
fn check(view: &Snapshot) -> Result<(), String> {
    for book in view.books() {
        let mut committed = 0_i128;
        for (slot, s) in book.strategies() {
            if s.frozen().is_negative() || s.used().is_negative() {
                return Err(format!("slot {slot}: negative frozen or used"));
            }
            let orders = view.orders().filter(|o| o.book() == book.id() && o.slot() == slot);
            let (frozen, used) =
                orders.fold((0_i64, 0_i64), |(f, u), o| (f + o.frozen().raw(), u + o.used().raw()));
            if frozen != s.frozen().raw() || used + s.direct().raw() != s.used().raw() {
                return Err(format!("slot {slot}: frozen/used differ from the orders' sums"));
            }
            committed += i128::from(s.committed().raw());
        }
        if i128::from(book.total().raw()) != i128::from(book.pool().raw()) + committed {
            return Err(format!("{}: total != pool + committed at seq {}", book.id(), view.seq()));
        }
    }
    Ok(())
}

/// The child: read until the writer closes, checking every view, then print the last one.
#[test]
fn child_reader() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let reader = ShmReader::open(&path).expect("the parent created the file");
    println!("READY");
    let mut views = 0_u64;
    let mut last_seq = 0;
    // A deadline of its own: if the parent died without closing the file, stop anyway.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the writer never closed the file");
        let closed = reader.writer().state == WriterState::Closed;
        let view = match reader.read() {
            Ok(view) => view,
            // Every try overlapped a write (the writer was descheduled mid-write on a loaded
            // machine): an honest "no view", never a torn one. Once closed, reads always succeed.
            Err(ShmError::Busy { .. }) if !closed => continue,
            Err(error) => panic!("read failed: {error}"),
        };
        check(&view).unwrap_or_else(|broken| panic!("view {views}: {broken}"));
        assert!(view.seq() >= last_seq, "seq went back");
        last_seq = view.seq();
        views += 1;
        if closed {
            println!("VIEWS {views}");
            println!("FINAL {} {:?} {:?}", view.seq(), view.books(), view.orders());
            return;
        }
    }
}

#[test]
fn another_process_reads_consistent_views() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let path = std::env::temp_dir().join(format!("capvault-cross-process-{}.shm", std::process::id()));
    let mut handle = Builder::new(seed_000(Limits::default()))
        .mirror_shm(&path)
        .wait(WaitStrategy::Blocking)
        .reply_wait(WaitStrategy::Blocking)
        .spawn()
        .unwrap();
    // Killed with this test if it fails: no reader left spinning.
    let mut child = child("child_reader", &[(CHILD_ENV, &path)]);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("the child printed READY").unwrap();
        if line.contains("READY") {
            break;
        }
        assert!(Instant::now() < deadline);
    }

    for n in 1..=1500_u64 {
        let slot = 2 + (n % 3) as u8;
        let amount = Amount::from_raw(1_000_000_000 + (n % 7) as i64 * 1_000_000).unwrap();
        handle.submit(buy(id(n), slot, 1, amount)).unwrap();
        handle.submit(Command::Fill { id: id(n), amount: units(5) }).unwrap();
        if n % 2 == 0 {
            handle.submit(Command::Cancel { id: id(n) }).unwrap();
        }
        if n % 4 == 0 {
            handle.submit(Command::ReleaseOrder { id: id(n) }).unwrap();
        }
        if n % 100 == 0 {
            handle.submit(Command::Allocate { book: CNY, slot: 4, amount: units(1) }).unwrap();
        }
    }
    let last = handle.shutdown().unwrap();

    let mut views = 0;
    let mut final_line = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(count) = line.strip_prefix("VIEWS ") {
            views = count.parse().unwrap();
        }
        if let Some(rest) = line.strip_prefix("FINAL ") {
            final_line = Some(rest.to_owned());
        }
    }
    assert!(child.0.wait().unwrap().success(), "the child reader failed a check");
    assert!(views >= 2, "the child read only {views} views");
    eprintln!("child read {views} views");
    assert_eq!(final_line.unwrap(), format!("{} {:?} {:?}", last.seq(), last.books(), last.orders()));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{}.lock", path.display()));
}
