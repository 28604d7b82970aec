//! The owner-thread runtime end to end: blocking submits answer with receipts whose `seq` a
//! snapshot then shows; `try_submit` never blocks and hands the command back when the channel is
//! full; detached outcomes arrive in ticket order; shutdown drains and answers everything;
//! dropping every handle stops the owner; an owner panic turns every waiting and later submit
//! into an error at once; every wait strategy serves commands; a missing core is an error.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use capvault::*;
use common::*;

/// Waits for `done`, failing the test after 20 s instead of hanging it.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn vault() -> Builder {
    Builder::new(seed_000(Limits::default())).wait(WaitStrategy::Blocking).reply_wait(WaitStrategy::Blocking)
}

/// A builder whose owner stops after publishing the batch that starts the test, until the
/// returned sender is dropped or sent to.
fn gated() -> (Builder, mpsc::Sender<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let mut first = true;
    let builder = vault().on_publish(move |_| {
        if std::mem::take(&mut first) {
            let _ = release_rx.recv();
        }
    });
    (builder, release_tx)
}

#[test]
fn a_receipt_names_the_snapshot_that_shows_the_command() {
    let mut handle = vault().spawn().unwrap();
    let reader = handle.reader();
    assert_eq!(reader.snapshot().seq(), 0);
    let receipt = handle.submit(buy(id(1), 2, 0, units(120_000))).unwrap();
    assert_eq!(receipt, Receipt { seq: 1, outcome: Outcome::Reserved { book: CNY } });
    eventually("the snapshot of seq 1", || reader.snapshot().seq() >= 1);
    let snapshot = reader.snapshot();
    assert_eq!(snapshot.order(id(1)).map(capvault::Order::frozen), Some(units(120_000)));
    assert_eq!(snapshot.balance(CNY, 1), Some(units(180_000)));
    assert_eq!(snapshot.view(CNY).unwrap().committed(), units(120_000));

    let rejection = handle.submit(buy(id(2), 2, 0, units(200_000))).unwrap_err();
    assert!(matches!(rejection, SubmitError::Rejected(Rejection::ExceedsNominalCap { .. })), "{rejection:?}");
    let receipt = handle.submit(Command::Fill { id: id(1), amount: units(1) }).unwrap();
    assert_eq!(receipt.seq, 2, "a rejection does not advance the sequence");
    let last = handle.shutdown().unwrap();
    assert_eq!((last.seq(), last.stats().accepted, last.stats().rejected), (2, 2, 1));
}

#[test]
fn try_submit_hands_the_command_back_when_full() {
    let (builder, release) = gated();
    let mut handle = builder.capacity(2).spawn().unwrap();
    let reader = handle.reader();
    handle.try_submit(buy(id(1), 2, 1, units(10))).unwrap();
    eventually("the owner to hold the first batch", || reader.snapshot().seq() == 1);
    handle.try_submit(buy(id(2), 2, 1, units(10))).unwrap();
    handle.try_submit(buy(id(3), 2, 1, units(10))).unwrap();
    let refused = buy(id(4), 2, 1, units(10));
    assert_eq!(handle.try_submit(refused), Err(TrySubmitError::Full(refused)));
    drop(release);
    let last = handle.shutdown().unwrap();
    assert_eq!(last.seq(), 3);
    assert!(last.order(id(4)).is_none());
}

#[test]
fn detached_outcomes_arrive_in_ticket_order() {
    let mut handle = vault().spawn().unwrap();
    let mut tickets = Vec::new();
    for n in 1..=50 {
        tickets.push(handle.submit_detached(buy(id(n), 2, 1, units(1000))).unwrap());
    }
    // Capped at 200,000: the 201st thousand would exceed; these 50 all fit.
    let mut seen = Vec::new();
    eventually("50 outcomes", || {
        while let Some(outcome) = handle.try_outcome() {
            assert_eq!(outcome.result, Ok(Outcome::Reserved { book: CNY }));
            seen.push((outcome.ticket, outcome.seq));
        }
        seen.len() == 50
    });
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), tickets);
    assert_eq!(seen.last().map(|s| s.1), Some(50));
    assert_eq!(handle.shutdown().unwrap().view(CNY).unwrap().committed(), units(50_000));
}

#[test]
fn shutdown_applies_and_answers_everything_queued() {
    let (builder, release) = gated();
    let mut handle = builder.spawn().unwrap();
    let reader = handle.reader();
    handle.submit_detached(buy(id(1), 2, 1, units(10))).unwrap();
    eventually("the owner to hold the first batch", || reader.snapshot().seq() == 1);
    for n in 2..=20 {
        handle.submit_detached(buy(id(n), 2, 1, units(10))).unwrap();
    }
    // A blocked submitter on another handle, most likely queued behind them; whether it lands
    // before or after the shutdown request, it must get exactly one answer.
    let mut other = handle.clone();
    let waiter = std::thread::spawn(move || other.submit(buy(id(21), 3, 1, units(10))));
    std::thread::sleep(Duration::from_millis(20));
    let shutter = std::thread::spawn(move || handle.shutdown());
    std::thread::sleep(Duration::from_millis(20));
    drop(release);
    let last = shutter.join().unwrap().unwrap();
    let waited = waiter.join().unwrap();
    assert_eq!(last.seq(), 20 + u64::from(waited.is_ok()));
    assert_eq!(last.orders().len() as u64, last.seq());
    assert_eq!(reader.stopped(), Some(Stopped::ShutDown));
}

#[test]
fn submits_after_shutdown_fail_at_once() {
    let handle = vault().spawn().unwrap();
    let mut other = handle.clone();
    handle.shutdown().unwrap();
    assert_eq!(other.submit(Command::Cancel { id: id(1) }), Err(SubmitError::Stopped(Stopped::ShutDown)));
    let command = Command::Cancel { id: id(1) };
    assert_eq!(other.try_submit(command), Err(TrySubmitError::Stopped(command, Stopped::ShutDown)));
    assert_eq!(other.submit_detached(command), Err(SubmitError::Stopped(Stopped::ShutDown)));
}

#[test]
fn dropping_every_handle_stops_the_owner() {
    let mut handle = vault().spawn().unwrap();
    let reader = handle.reader();
    let clone = handle.clone();
    handle.submit_detached(buy(id(1), 2, 1, units(10))).unwrap();
    drop(handle);
    drop(clone);
    eventually("the owner to stop", || reader.stopped().is_some());
    assert_eq!(reader.stopped(), Some(Stopped::ShutDown));
    assert_eq!(reader.snapshot().seq(), 1, "what was queued was applied first");
}

#[test]
fn an_owner_panic_fails_every_waiting_and_later_submit() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (boom_tx, boom_rx) = mpsc::channel::<()>();
    // The first snapshot that shows order 2, however the owner batched the two commands: the
    // test does not depend on batching (it used to wait for a second batch that need not come).
    let mut fired = false;
    let mut handle = vault()
        .on_publish(move |snapshot| {
            if !fired && snapshot.order(id(2)).is_some() {
                fired = true;
                let _ = entered_tx.send(());
                let _ = boom_rx.recv();
                panic!("injected owner failure");
            }
        })
        .spawn()
        .unwrap();
    let reader = handle.reader();
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    handle.submit_detached(buy(id(2), 2, 1, units(10))).unwrap();
    entered_rx.recv().unwrap();
    // Two submitters wait behind the doomed batch.
    let waiters: Vec<_> = (3..5)
        .map(|n| {
            let mut h = handle.clone();
            std::thread::spawn(move || h.submit(buy(id(n), 2, 1, units(10))))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    boom_tx.send(()).unwrap();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Err(SubmitError::Stopped(Stopped::OwnerPanicked)));
    }
    assert_eq!(
        handle.submit(Command::Cancel { id: id(1) }),
        Err(SubmitError::Stopped(Stopped::OwnerPanicked))
    );
    assert_eq!(reader.stopped(), Some(Stopped::OwnerPanicked));
    assert_eq!(reader.snapshot().seq(), 2, "the last published snapshot stays readable");
    assert_eq!(handle.shutdown().unwrap_err(), ShutdownError::Stopped(Stopped::OwnerPanicked));
}

#[test]
fn every_wait_strategy_serves_commands() {
    let strategies = [
        WaitStrategy::BusySpin,
        WaitStrategy::SpinYield { spin: Duration::from_micros(10) },
        WaitStrategy::SpinPark { spin: Duration::from_micros(10) },
        WaitStrategy::Blocking,
    ];
    for owner in strategies {
        for reply in strategies {
            let mut handle =
                Builder::new(seed_000(Limits::default())).wait(owner).reply_wait(reply).spawn().unwrap();
            for n in 1..=5 {
                assert_eq!(handle.submit(buy(id(n), 2, 1, units(10))).unwrap().seq, n);
            }
            assert_eq!(handle.shutdown().unwrap().seq(), 5, "{owner:?} / {reply:?}");
        }
    }
}

#[test]
fn settings_and_cores_are_checked() {
    let missing = 100_000;
    match vault().pin_to_core(missing).spawn() {
        Err(SpawnError::CoreNotFound { core, available }) => {
            assert_eq!(core, missing);
            assert!(available >= 1);
        }
        other => panic!("expected CoreNotFound, got {other:?}"),
    }
    assert!(matches!(vault().capacity(0).spawn(), Err(SpawnError::Setting { name: "capacity", .. })));
    assert!(matches!(vault().batch_max(0).spawn(), Err(SpawnError::Setting { name: "batch_max", .. })));
    let mut pinned = vault().pin_to_core(0).spawn().unwrap();
    assert_eq!(pinned.submit(buy(id(1), 2, 1, units(10))).unwrap().seq, 1);
    pinned.shutdown().unwrap();
}

/// A batch re-copies only the books it changed: a snapshot shares every other book with the one
/// before it (`docs/design.md`, "What publication costs").
#[test]
fn a_snapshot_shares_the_books_a_batch_did_not_change() {
    use std::sync::Arc;
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let reader = handle.reader();
    let wait = |seq| reader.wait_for(seq, std::time::Duration::from_secs(5)).unwrap();
    let receipt = handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    let first = wait(receipt.seq);
    let receipt = handle.submit(Command::Fill { id: id(1), amount: units(4) }).unwrap();
    let second = wait(receipt.seq);
    assert!(!Arc::ptr_eq(&first.books()[0], &second.books()[0]), "the CNY book changed: a new copy");
    assert!(Arc::ptr_eq(&first.books()[1], &second.books()[1]), "the USDT book did not: shared");
    assert_eq!(second.books()[0].strategy(2).unwrap().used(), units(4));
    let receipt = handle.submit(Command::Adjust { book: USDT, slot: 0, delta: units(5) }).unwrap();
    let third = wait(receipt.seq);
    assert!(Arc::ptr_eq(&second.books()[0], &third.books()[0]));
    assert_eq!(third.books()[1].total(), units(5));
    drop((first, second, third));
    handle.shutdown().unwrap();
}

/// A handle's snapshot shows what that handle was last answered, though the owner answers before
/// it publishes and lingers for a next command first: with spinning waits (the default spins
/// before it parks), a submitter reads its snapshot within the linger, and without waiting for
/// its own `seq` it would see the snapshot before its command most of the time.
#[test]
fn a_handle_reads_its_own_writes() {
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let mut clone = handle.clone();
    for n in 1..=2_000 {
        let receipt = handle.submit(buy(id(n), 2, 1, units(1))).unwrap();
        assert!(handle.snapshot().seq() >= receipt.seq, "command {n}: its snapshot is not shown");
        let receipt = handle.submit(Command::Cancel { id: id(n) }).unwrap();
        assert!(handle.snapshot().seq() >= receipt.seq, "cancel {n}: its snapshot is not shown");
    }
    // A clone starts from what the handle it came from had seen.
    let receipt = handle.submit(buy(id(9_999), 2, 1, units(1))).unwrap();
    let cloned = handle.clone();
    assert!(cloned.snapshot().seq() >= receipt.seq);
    drop(cloned);
    assert!(clone.submit(Command::Cancel { id: id(9_999) }).is_ok());
    handle.shutdown().unwrap();
}
