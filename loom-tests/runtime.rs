//! loom models of the owner-thread runtime: every interleaving (up to `LOOM_MAX_PREEMPTIONS`)
//! of a few threads around the real runtime code, with loom's channel and snapshot-cell
//! stand-ins from `src/sync/`.
//!
//! Run: `RUSTFLAGS="--cfg capvault_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_runtime`
#![cfg(capvault_loom)]

use capvault::*;
use loom::thread;

fn units(n: i64) -> Amount {
    Amount::from_units(n).unwrap()
}

fn id(n: u64) -> ClientOrderId {
    ClientOrderId::snowflake(n).unwrap()
}

const BOOK: BookId = BookId::new(0);

fn ledger() -> Ledger {
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "books_max": 1, "currencies_max": 1, "orders_max": 4, "resolved_max": 4 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 1000 } ] }"#,
    )
    .unwrap();
    Ledger::from_config(&config).unwrap()
}

fn vault() -> Handle {
    Builder::new(ledger()).capacity(2).batch_max(2).outcomes_max(2).spawn().unwrap()
}

fn reserve(n: u64, slot: u8, amount: i64) -> Command {
    Command::Reserve { id: id(n), book: BOOK, slot, side: Side::Buy, layer: 1, amount: units(amount) }
}

/// The invariant, restated from the snapshot's own figures, and the orders agreeing with their
/// slots: each slot's frozen is the sum of its live orders' frozen (the shared order table and
/// the books come from the same batch).
fn check_invariant(snapshot: &Snapshot) {
    let book = snapshot.book(BOOK).unwrap();
    let committed: i64 = book.strategies().map(|(_, s)| s.frozen().raw() + s.used().raw()).sum();
    assert_eq!(book.total().raw(), book.pool().raw() + committed, "seq {}", snapshot.seq());
    for order in snapshot.orders() {
        assert!(order.frozen().raw() + order.used().raw() <= order.amount().raw(), "{order:?}");
    }
    for (slot, strategy) in book.strategies() {
        let frozen: i64 = snapshot.orders().filter(|o| o.slot() == slot).map(|o| o.frozen().raw()).sum();
        assert_eq!(strategy.frozen().raw(), frozen, "slot {slot} at seq {}", snapshot.seq());
    }
}

/// Waits until a snapshot shows `seq`. `yield_now` tells loom this thread waits on others: if
/// no other thread can make progress, loom reports the model as stuck.
fn wait_for(reader: &Reader, seq: u64) -> SnapshotRef {
    loop {
        let snapshot = reader.snapshot();
        if snapshot.seq() >= seq {
            return snapshot;
        }
        thread::yield_now();
    }
}

/// Model 1: two producers and a reader. Every snapshot satisfies the invariant, sequence numbers
/// never go back, and a receipt's `seq` is eventually published with the command's effect.
#[test]
fn snapshots_keep_the_invariant_and_the_order_of_commands() {
    loom::model(|| {
        let mut a = vault();
        let mut b = a.clone();
        let reader = a.reader();
        let reader_a = a.reader();

        let producer = thread::spawn(move || {
            let receipt = a.submit(reserve(1, 2, 100)).unwrap();
            let seen = wait_for(&reader_a, receipt.seq);
            assert_eq!(seen.order(id(1)).map(capvault::Order::frozen), Some(units(100)));
            a.submit(Command::Fill { id: id(1), amount: units(100) }).unwrap();
            a
        });
        let looker = thread::spawn(move || {
            let first = reader.snapshot().seq();
            check_invariant(&reader.snapshot());
            let second = reader.snapshot();
            check_invariant(&second);
            assert!(second.seq() >= first, "sequence went back: {} then {}", first, second.seq());
        });

        let receipt = b.submit(reserve(2, 3, 200)).unwrap();
        b.submit(Command::Cancel { id: id(2) }).unwrap();
        let seen = wait_for(&b.reader(), receipt.seq);
        check_invariant(&seen);

        let a = producer.join().unwrap();
        looker.join().unwrap();
        drop(a);
        let last = b.shutdown().unwrap();
        assert_eq!(last.seq(), 4);
        check_invariant(&last);
        assert_eq!(last.balance(BOOK, 2), Some(units(100)));
        assert_eq!(last.balance(BOOK, 1), Some(units(900)));
    });
}

/// Model 2: across a fill, a reader never sees the filled amount in both frozen and used, or in
/// neither: the order's and the slot's committed amount is constant once reserved.
#[test]
fn a_fill_moves_frozen_to_used_atomically() {
    loom::model(|| {
        let mut handle = vault();
        handle.submit(reserve(1, 2, 100)).unwrap();
        let reader = handle.reader();

        let looker = thread::spawn(move || {
            for _ in 0..2 {
                let snapshot = reader.snapshot();
                let slot = snapshot.book(BOOK).unwrap().strategy(2).unwrap();
                if snapshot.seq() >= 1 {
                    assert_eq!(slot.committed(), units(100), "seq {}", snapshot.seq());
                    let order = snapshot.order(id(1)).unwrap();
                    assert_eq!(order.frozen().raw() + order.used().raw(), units(100).raw());
                    assert_eq!((slot.frozen(), slot.used()), (order.frozen(), order.used()));
                }
            }
        });
        let receipt = handle.submit(Command::Fill { id: id(1), amount: units(60) }).unwrap();
        assert_eq!(
            receipt.outcome,
            Outcome::Filled { state: OrderState::PartiallyFilled, remaining: units(40) }
        );
        let seen = wait_for(&handle.reader(), receipt.seq);
        let slot = seen.book(BOOK).unwrap().strategy(2).unwrap();
        assert_eq!((slot.frozen(), slot.used()), (units(40), units(60)));
        looker.join().unwrap();
        handle.shutdown().unwrap();
    });
}

/// Model 3: shutdown racing two in-flight submits. Each submit gets exactly one answer (a
/// receipt or "shut down"), nothing hangs, and the final snapshot holds exactly the commands
/// that were answered with a receipt.
#[test]
fn shutdown_answers_every_submit_exactly_once() {
    loom::model(|| {
        let handle = vault();
        let submitters: Vec<_> = (1..=2)
            .map(|n| {
                let mut h = handle.clone();
                thread::spawn(move || h.submit(reserve(n, 2, 10)))
            })
            .collect();
        let last = handle.shutdown().unwrap();
        let mut accepted = 0;
        for submitter in submitters {
            match submitter.join().unwrap() {
                Ok(_) => accepted += 1,
                Err(SubmitError::Stopped(Stopped::ShutDown)) => {}
                Err(other) => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(last.seq(), accepted);
        assert_eq!(last.orders().len() as u64, accepted);
    });
}
