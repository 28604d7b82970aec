//! One signal, one true result line: a crash between a signal's result line and its
//! consumption does not write a second line on restart, and a signal the vault's window has
//! forgotten is still refused as a repeat by the result file.

mod common;

use std::fs;

use capvault::bridge::{read_results, Broker, BrokerOrder, Entry, ResultStatus, Step};
use capvault::{Builder, ClientOrderId, Command, Durability, Limits, Outcome, Side, SignalStatus};
use common::bridge::*;
use common::*;

#[test]
fn a_crash_between_the_result_line_and_the_consumption_writes_no_second_line() {
    // The line as an uninterrupted executor writes it.
    let first = scratch("results-line-a");
    let buy = signal("s1", "159201.SZ", Side::Buy, "1.153", 1_000);
    let mut b = bridge(&first, vault(&first), broker(), None);
    let recorded = b.consume(Entry::Signal(buy.clone()), 0).unwrap();
    assert_eq!(recorded.status, ResultStatus::Placed);
    // The state the crash leaves: claimed, reserved, sent, the line written, not consumed.
    let dir = scratch("results-line-b");
    fs::copy(first.join("order_result.jsonl"), dir.join("order_result.jsonl")).unwrap();
    let mut handle = vault(&dir);
    let key = ClientOrderId::from_text("s1");
    handle.submit(Command::ClaimSignal { signal: key }).unwrap();
    let reserve =
        Command::Reserve { id: key, book: CNY, slot: 2, side: Side::Buy, layer: 1, amount: amount("1153") };
    handle.submit(reserve).unwrap();
    let mut sent = broker();
    let order = BrokerOrder {
        id: key,
        code: buy.code.clone(),
        side: Side::Buy,
        price: buy.price,
        shares: buy.shares,
        closes: Vec::new(),
    };
    sent.place(&order).unwrap();
    handle.shutdown().unwrap();
    // The restarted executor reads the same signal again.
    let mut b = bridge(&dir, vault(&dir), sent, None);
    let again = b.consume(Entry::Signal(buy.clone()), 1).unwrap();
    assert_eq!(again, recorded, "the recorded line stands");
    let lines = read_results(&dir.join("order_result.jsonl")).unwrap();
    assert_eq!(lines, [recorded], "no second line");
    let claim = b.handle().submit(Command::ClaimSignal { signal: key }).unwrap().outcome;
    assert_eq!(claim, Outcome::Signal { status: SignalStatus::Placed, fresh: false }, "consumed now");
    assert_eq!(pool(&mut b), amount("298847"), "reserved once");
    // A further repeat is a duplicate, with its own line.
    let repeat = b.consume(Entry::Signal(buy), 2).unwrap();
    assert_eq!((repeat.status, repeat.step), (ResultStatus::Duplicate, Step::Idempotency));
    let _ = fs::remove_dir_all(&first);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_signal_older_than_the_vaults_window_is_still_a_repeat() {
    let dir = scratch("results-window");
    let limits = Limits { resolved_max: 4, ..Limits::default() };
    let handle = Builder::new(seed_000(limits))
        .data_dir(dir.join("vault"))
        .durability(Durability::Write)
        .spawn()
        .unwrap();
    let mut b = bridge(&dir, handle, broker_after(60_000), None);
    b.broker().set_price("159201.SZ", amount("1"));
    let signals: Vec<_> =
        (0..12).map(|n| signal(&format!("w{n}"), "159201.SZ", Side::Buy, "1", 100)).collect();
    for s in &signals {
        assert_eq!(b.consume(Entry::Signal(s.clone()), 0).unwrap().status, ResultStatus::Placed);
    }
    // A window of 4 has forgotten w0-w2's claims; the bridge has not (after a restart too).
    let (handle, broker) = b.into_parts();
    let mut b = bridge(&dir, handle, broker, None);
    for s in &signals[..3] {
        let result = b.consume(Entry::Signal(s.clone()), 1).unwrap();
        assert_eq!((result.status, result.step), (ResultStatus::Duplicate, Step::Idempotency), "{result:?}");
    }
    assert_eq!(b.broker().working(), 12);
    assert_eq!(pool(&mut b), units(298_800));
    let placed = read_results(&dir.join("order_result.jsonl")).unwrap();
    assert_eq!(placed.iter().filter(|r| r.status == ResultStatus::Placed).count(), 12);
    // The repeat recorded the consumption again: the vault knows w0 as placed.
    let claim = b.handle().submit(Command::ClaimSignal { signal: ClientOrderId::from_text("w0") }).unwrap();
    assert_eq!(claim.outcome, Outcome::Signal { status: SignalStatus::Placed, fresh: false });
    let _ = fs::remove_dir_all(&dir);
}
