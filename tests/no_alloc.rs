//! The owner applies and answers commands without heap allocation: this binary counts every
//! allocation of every thread (a counting global allocator), holds the owner while 4,096
//! commands queue up, then lets it apply all of them as one batch and counts what it allocated:
//! only the one snapshot of that batch, whatever the number of commands. The blocking submit
//! path is measured the same way per round trip.

#![allow(unsafe_code)] // the counting allocator below; the library itself has none

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use capvault::*;
use common::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a plain event counter, read after the threads involved have synchronised.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Relaxed: see `alloc`.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is process-wide, so the tests in this binary take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

const COMMANDS: u64 = 4096;

#[test]
fn a_batch_of_commands_allocates_only_its_snapshot() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let limits = Limits { orders_max: 8192, ..Limits::default() };
    // The hook runs after each publish: it reports the allocation count there, and holds the
    // owner after the first batch until released.
    let (count_tx, count_rx) = mpsc::sync_channel::<usize>(16);
    let (release_tx, release_rx) = mpsc::sync_channel::<()>(1);
    let mut batches = 0;
    let mut handle = Builder::new(seed_000(limits))
        .capacity(COMMANDS as usize + 1)
        .batch_max(COMMANDS as usize + 1)
        .outcomes_max(COMMANDS as usize + 1)
        .wait(WaitStrategy::Blocking)
        .on_publish(move |_| {
            batches += 1;
            let _ = count_tx.send(allocations());
            if batches == 1 {
                let _ = release_rx.recv();
            }
        })
        .spawn()
        .unwrap();

    handle.submit_detached(Command::Reset { book: CNY, balance: units(1_000_000), force: false }).unwrap();
    count_rx.recv().unwrap();
    // The owner is held after batch 1: queue a whole mixed batch behind it.
    for n in 1..=COMMANDS / 2 {
        handle.submit_detached(buy(id(n), 4, 1, units(10))).unwrap();
        handle.submit_detached(Command::Fill { id: id(n), amount: units(4) }).unwrap();
    }
    let before = allocations();
    release_tx.send(()).unwrap();
    let after = count_rx.recv().unwrap();
    let allocated = after - before;
    // One snapshot: the Arc, the books, each book's strategies, the orders, and slack for the
    // reader side. Per command there is nothing.
    assert!(allocated <= 16, "{allocated} allocations for a batch of {COMMANDS} commands");

    let mut seen = 0;
    while let Some(outcome) = handle.try_outcome() {
        assert!(outcome.result.is_ok(), "{outcome:?}");
        seen += 1;
    }
    assert_eq!(seen, COMMANDS + 1);
    let last = handle.shutdown().unwrap();
    assert_eq!(last.seq(), COMMANDS + 1);
    // The reset, the 4,096 commands, and the shutdown request.
    assert_eq!(last.stats().batches, 3);
}

#[test]
fn a_blocking_round_trip_allocates_only_its_snapshot() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut handle = Builder::new(seed_000(Limits::default()))
        .wait(WaitStrategy::Blocking)
        .reply_wait(WaitStrategy::Blocking)
        .spawn()
        .unwrap();
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    let rounds = 200;
    let before = allocations();
    for _ in 0..rounds {
        handle.submit(Command::Fill { id: id(9), amount: units(1) }).unwrap_err();
    }
    let per_round = (allocations() - before) as f64 / f64::from(rounds);
    // Each round trip is one batch and publishes one snapshot (the Arc, the books vector, each
    // book's strategies, the orders vector: 5 here). Parking a thread may allocate nothing.
    assert!(per_round <= 6.0, "{per_round} allocations per round trip");
    handle.shutdown().unwrap();
}
