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

/// Allocations of one batch of `COMMANDS` commands (2,048 new orders, each reserved then partly
/// filled) beside `resting` live orders in another slot.
fn batch_allocations(resting: u64) -> usize {
    let limits = Limits { orders_max: 16_384, ..Limits::default() };
    // The hook runs after each publish: it reports the allocation count there, and holds the
    // owner after the set-up batch until released.
    let (count_tx, count_rx) = mpsc::sync_channel::<usize>(16);
    let (release_tx, release_rx) = mpsc::sync_channel::<()>(1);
    let (hold_tx, hold_rx) = mpsc::sync_channel::<()>(1);
    let mut handle = Builder::new(seed_000(limits))
        .capacity((COMMANDS + resting) as usize + 2)
        .batch_max((COMMANDS + resting) as usize + 2)
        .outcomes_max((COMMANDS + resting) as usize + 2)
        .wait(WaitStrategy::Blocking)
        .on_publish(move |_| {
            let _ = count_tx.send(allocations());
            if hold_rx.try_recv().is_ok() {
                let _ = release_rx.recv();
            }
        })
        .spawn()
        .unwrap();
    for n in 0..resting {
        handle.submit_detached(buy(id(1_000_000 + n), 3, 1, units(1))).unwrap();
    }
    hold_tx.send(()).unwrap();
    handle.submit_detached(Command::Reset { book: CNY, balance: units(1_000_000), force: true }).unwrap();
    for n in 0..resting {
        handle.submit_detached(buy(id(2_000_000 + n), 3, 1, units(1))).unwrap();
    }
    count_rx.recv().unwrap();
    // The owner is held after the set-up batch: queue a whole batch behind it.
    for n in 1..=COMMANDS / 2 {
        handle.submit_detached(buy(id(n), 4, 1, units(10))).unwrap();
        handle.submit_detached(Command::Fill { id: id(n), amount: units(4) }).unwrap();
    }
    let before = allocations();
    release_tx.send(()).unwrap();
    let after = count_rx.recv().unwrap();
    while handle.try_outcome().is_some() {}
    let last = handle.shutdown().unwrap();
    assert_eq!(last.orders().len() as u64, resting + COMMANDS / 2);
    after - before
}

#[test]
fn a_batch_allocates_for_what_it_changed_not_for_what_is_live() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let alone = batch_allocations(0);
    let beside = batch_allocations(8_000);
    // The snapshot (its Arc, the books vector, the changed book) and the order table's nodes the
    // batch grows or copies: per changed order at most two allocations per level of its path
    // (a node and a leaf's vector), and the path is at most 5 levels below 2^20 orders
    // (`docs/design.md`, "Publication"). Never one per live order: the 8,000 resting orders are
    // not copied.
    let changed = (COMMANDS / 2) as usize;
    assert!(alone <= 16 + 2 * changed, "{alone} allocations for {changed} new orders beside none");
    assert!(beside <= 16 + 2 * 5 * changed, "{beside} allocations for {changed} new orders beside 8,000");
    assert!(beside < 8_000 * 2, "a batch must not copy the live orders ({beside} allocations)");
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
    // Each round trip is one batch and publishes one snapshot: its Arc and its books vector (the
    // books and the order table are shared, nothing changed). Parking may allocate nothing.
    assert!(per_round <= 3.0, "{per_round} allocations per round trip");
    handle.shutdown().unwrap();
}
