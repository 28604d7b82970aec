//! The executor bridge of seed 000: the pipeline, the signal file, broker reports, sells,
//! expiry, reconciliation, and idempotency across restarts.

mod common;

use std::fs;

use capvault::bridge::{Broker, Entry, Event, Inbox, Mismatch, ResultStatus, Signal, SimBroker, Step, Taken};
use capvault::{ClientOrderId, Command, Handle, OrderState, Outcome, Rejection, Side, SignalStatus};
use common::bridge::*;
use common::*;

#[test]
fn a_buy_is_reserved_placed_filled_and_a_repeat_changes_nothing() {
    let dir = scratch("buy");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    let buy = signal("sig-20260216-0005", "159201.SZ", Side::Buy, "1.153", 8600);
    let result = b.consume(Entry::Signal(buy.clone()), 0).unwrap();
    assert_eq!((result.status, result.step), (ResultStatus::Placed, Step::Order));
    // price x shares = 9915.80, the book's minor unit is 0.01.
    assert_eq!(result.amount, Some(amount("9915.8")));
    let id = ClientOrderId::from_text("sig-20260216-0005");
    assert_eq!(b.snapshot().order(id).unwrap().frozen(), amount("9915.8"));
    assert_eq!(pool(&mut b), amount("290084.2"));

    b.broker().advance(1);
    let events = b.pump().unwrap();
    assert_eq!(events, [Event::Filled { id, value: amount("9915.8"), repeat: false }]);
    let order = *b.snapshot().order(id).unwrap();
    assert_eq!((order.state(), order.used()), (OrderState::Filled, amount("9915.8")));

    // The same signal again: a duplicate, nothing applied; the same id with other fields: said so.
    let again = b.consume(Entry::Signal(buy.clone()), 2).unwrap();
    assert_eq!((again.status, again.step), (ResultStatus::Duplicate, Step::Idempotency));
    let other = Signal { shares: 100, ..buy };
    let reused = b.consume(Entry::Signal(other), 3).unwrap();
    assert_eq!(reused.status, ResultStatus::Duplicate);
    assert!(reused.reason.unwrap().contains("other fields"));
    assert_eq!(pool(&mut b), amount("290084.2"));
    assert_eq!(b.broker().working(), 0);

    // A fill report delivered twice (a replayed callback) is already applied.
    let outcome = b.handle().submit(Command::FillTo { id, filled: amount("9915.8") }).unwrap().outcome;
    assert_eq!(outcome, Outcome::FillAlreadyApplied { state: OrderState::Filled, filled: amount("9915.8") });
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn each_step_refuses_with_its_reason_and_the_signal_is_consumed() {
    let dir = scratch("refusals");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    let cases = [
        (signal("v1", "600000.SH", Side::Buy, "1", 100), Step::Validation, "code"),
        (signal("v2", "159201.SZ", Side::Buy, "1", 150), Step::Validation, "shares"),
        (signal("v3", "159201.SZ", Side::Buy, "0", 100), Step::Validation, "price"),
        (
            Signal {
                release_client_order_ids: vec!["x".into()],
                ..signal("v4", "159201.SZ", Side::Buy, "1", 100)
            },
            Step::Validation,
            "release_client_order_ids",
        ),
        (signal("f1", "159201.SZ", Side::Buy, "1", 400_000), Step::Funds, "available cash"),
        (signal("f2", "512890.SH", Side::Sell, "1.02", 100), Step::Funds, "shares held"),
    ];
    for (signal, step, field) in cases {
        let result = b.consume(Entry::Signal(signal.clone()), 0).unwrap();
        assert_eq!((result.status, result.step), (ResultStatus::Refused, step), "{signal:?}");
        assert!(result.reason.as_deref().unwrap().contains(field), "{result:?}");
        let key = ClientOrderId::from_text(&signal.signal_id);
        let again = b.consume(Entry::Signal(signal), 1).unwrap();
        assert_eq!(again.status, ResultStatus::Duplicate, "a refused signal is consumed: {key}");
    }
    // The vault's rules: a first layer above the 85% line.
    let first = Signal { layer_index: 0, ..signal("r1", "159201.SZ", Side::Buy, "1", 200_100) };
    let result = b.consume(Entry::Signal(first), 0).unwrap();
    assert_eq!(
        (result.status, result.step, result.rule.as_deref()),
        (ResultStatus::Refused, Step::Vault, Some("exceeds_nominal_cap"))
    );
    let first = Signal { layer_index: 0, ..signal("r2", "159201.SZ", Side::Buy, "1", 150_000) };
    assert_eq!(b.consume(Entry::Signal(first), 0).unwrap().status, ResultStatus::Placed);
    let first = Signal { layer_index: 0, ..signal("r3", "512890.SH", Side::Buy, "1", 110_000) };
    let result = b.consume(Entry::Signal(first), 0).unwrap();
    assert_eq!(result.rule.as_deref(), Some("exceeds_reserve_ratio"));
    // A malformed entry: refused under its id, nothing applied.
    let entries = capvault::bridge::parse_entries(
        r#"{ "signal_id": "m1", "code": "159201.SZ", "direction": "HOLD", "price": 1, "shares": 100 }"#,
    )
    .unwrap();
    let result = b.consume(entries.into_iter().next().unwrap(), 0).unwrap();
    assert_eq!((result.status, result.signal_id.as_str()), (ResultStatus::Refused, "m1"));
    assert!(result.reason.unwrap().contains("direction"));
    assert_eq!(pool(&mut b), units(150_000));
    let (handle, _) = b.into_parts();
    let last = handle.shutdown().unwrap();
    assert_eq!(last.orders().count(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_sell_holds_no_cash_and_its_fill_releases_exactly_the_buys_it_names() {
    let dir = scratch("sell");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    for n in ["b1", "b2"] {
        b.consume(Entry::Signal(signal(n, "159201.SZ", Side::Buy, "1.153", 10_000)), 0).unwrap();
    }
    b.broker().advance(1);
    b.pump().unwrap();
    assert_eq!(pool(&mut b), amount("276940"));
    b.broker().set_price("159201.SZ", amount("1.16"));
    let sell = Signal {
        release_client_order_ids: vec!["b1".into(), "b2".into()],
        ..signal("s1", "159201.SZ", Side::Sell, "1.16", 20_000)
    };
    let result = b.consume(Entry::Signal(sell), 2).unwrap();
    assert_eq!(result.status, ResultStatus::Placed);
    assert_eq!(pool(&mut b), amount("276940"), "placing a sell takes nothing from the pool");
    b.broker().advance(3);
    let events = b.pump().unwrap();
    assert!(
        events.contains(&Event::Released { sell: ClientOrderId::from_text("s1"), amount: amount("23060") }),
        "{events:?}"
    );
    assert_eq!(pool(&mut b), units(300_000));
    // The profit is the broker's cash: reconciliation books it.
    assert_eq!(b.broker().account().cash, units(300_140));
    let r = b.reconcile(CNY, Mismatch::Hold).unwrap();
    assert_eq!((r.capital, r.drift, r.mismatches.len()), (units(300_140), units(140), 0));
    assert_eq!(pool(&mut b), units(300_140));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn reconciling_with_cash_and_positions_keeps_the_pool_after_a_fill() {
    let dir = scratch("reconcile");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    b.broker().set_price("159201.SZ", amount("1.2"));
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1.2", 100_000)), 0).unwrap();
    b.broker().advance(1);
    b.pump().unwrap();
    let account = b.broker().account();
    assert_eq!((account.cash, account.positions[0].cost), (units(180_000), units(120_000)));
    let r = b.reconcile(CNY, Mismatch::Hold).unwrap();
    // Cash alone as the total would shrink the pool to 60,000; cash plus positions keeps it.
    assert_eq!((r.capital, r.drift, r.applied), (units(300_000), capvault::Amount::ZERO, true));
    assert_eq!(pool(&mut b), units(180_000));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_buy_without_a_report_expires_and_a_late_fill_is_refused() {
    let dir = scratch("expiry");
    let slow = SimBroker::new(1, units(300_000)).with_behaviour(60_000, 0, 0);
    let mut b = bridge(&dir, vault(&dir), slow, Some(5_000));
    b.broker().set_price("159201.SZ", amount("1"));
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1", 10_000)), 1_000).unwrap();
    assert!(b.expire_due(5_999).unwrap().is_empty());
    let id = ClientOrderId::from_text("b1");
    assert_eq!(b.expire_due(6_000).unwrap(), [Event::Expired { id, returned: units(10_000) }]);
    assert_eq!(pool(&mut b), units(300_000));
    // The broker was asked to cancel; a fill that raced it is refused and reported.
    let late = b.handle().submit(Command::FillTo { id, filled: units(10_000) });
    assert!(matches!(late, Err(capvault::SubmitError::Rejected(Rejection::OrderExpired { .. }))));
    let (handle, _) = b.into_parts();
    handle.shutdown().unwrap();
    // The expiry is journalled: after a restart the order is still expired.
    let mut handle = vault(&dir);
    let again = handle.submit(Command::Fill { id, amount: units(1) });
    assert!(matches!(again, Err(capvault::SubmitError::Rejected(Rejection::OrderExpired { .. }))));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn claims_consumptions_and_cumulative_fills_survive_a_restart() {
    let dir = scratch("restart");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1", 10_000)), 0).unwrap();
    let id = ClientOrderId::from_text("b1");
    b.handle().submit(Command::FillTo { id, filled: units(4_000) }).unwrap();
    b.handle().submit(Command::ClaimSignal { signal: ClientOrderId::from_text("half") }).unwrap();
    let (handle, _) = b.into_parts();
    handle.shutdown().unwrap();

    let mut handle = vault(&dir);
    let twice = handle.submit(Command::FillTo { id, filled: units(4_000) }).unwrap().outcome;
    assert_eq!(
        twice,
        Outcome::FillAlreadyApplied { state: OrderState::PartiallyFilled, filled: units(4_000) }
    );
    let older = handle.submit(Command::FillTo { id, filled: units(3_000) }).unwrap().outcome;
    assert!(matches!(older, Outcome::FillAlreadyApplied { .. }));
    let claim = |h: &mut Handle, text: &str| {
        h.submit(Command::ClaimSignal { signal: ClientOrderId::from_text(text) }).unwrap().outcome
    };
    assert_eq!(claim(&mut handle, "b1"), Outcome::Signal { status: SignalStatus::Placed, fresh: false });
    assert_eq!(claim(&mut handle, "half"), Outcome::Signal { status: SignalStatus::InFlight, fresh: false });
    assert_eq!(claim(&mut handle, "new"), Outcome::Signal { status: SignalStatus::InFlight, fresh: true });
    // Released, the order still answers a repeated report.
    handle.submit(Command::FillTo { id, filled: units(10_000) }).unwrap();
    handle.submit(Command::ReleaseOrder { id }).unwrap();
    let after = handle.submit(Command::FillTo { id, filled: units(10_000) }).unwrap().outcome;
    assert_eq!(after, Outcome::FillAlreadyApplied { state: OrderState::Released, filled: units(10_000) });
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_signal_file_is_taken_whole_retried_while_written_and_kept_when_bad() {
    let dir = scratch("inbox");
    let path = dir.join("order_signal.json");
    let mut inbox = Inbox::new(&path, 3);
    assert_eq!(inbox.take().unwrap(), Taken::Nothing);
    // Half a file: retried, not consumed, until it is whole.
    let whole =
        r#"[{ "signal_id": "a", "code": "159201.SZ", "direction": "BUY", "price": 1, "shares": 100 }]"#;
    fs::write(&path, &whole[..30]).unwrap();
    assert_eq!(inbox.take().unwrap(), Taken::Incomplete);
    let taking = dir.join("order_signal.json.taking");
    fs::write(&taking, whole).unwrap();
    assert!(matches!(inbox.take().unwrap(), Taken::Entries(entries) if entries.len() == 1));
    inbox.done().unwrap();
    assert!(!taking.exists());
    // Bytes that stay unreadable are moved aside, not lost.
    fs::write(&path, "{ not json").unwrap();
    for _ in 0..2 {
        assert_eq!(inbox.take().unwrap(), Taken::Incomplete);
    }
    match inbox.take().unwrap() {
        Taken::Malformed { kept, .. } => assert_eq!(fs::read_to_string(kept).unwrap(), "{ not json"),
        other => panic!("{other:?}"),
    }
    // Through the bridge: a malformed file is one result line.
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    fs::write(&path, "[1, 2").unwrap();
    let mut inbox = Inbox::new(&path, 1);
    let results = b.poll(&mut inbox, 0).unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0].reason.as_deref().unwrap().contains("unreadable"));
    capvault::bridge::write_signals(&path, &[signal("w1", "512890.SH", Side::Buy, "1.02", 100)]).unwrap();
    capvault::bridge::write_signals(&path, &[signal("w2", "512890.SH", Side::Buy, "1.02", 100)]).unwrap();
    let results = b.poll(&mut inbox, 0).unwrap();
    assert_eq!(results.iter().map(|r| r.status).collect::<Vec<_>>(), [ResultStatus::Placed; 2]);
    let lines = capvault::bridge::read_results(&dir.join("order_result.jsonl")).unwrap();
    assert_eq!(lines.len(), 3);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_sell_sent_before_a_crash_is_resumed_not_refused_and_still_releases() {
    let dir = scratch("resume");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1.153", 1_000)), 0).unwrap();
    b.broker().advance(1);
    b.pump().unwrap();
    // A crash between sending the sell and consuming its signal: claimed, sent, filled.
    let sell = Signal {
        release_client_order_ids: vec!["b1".into()],
        ..signal("s1", "159201.SZ", Side::Sell, "1.153", 1_000)
    };
    let key = ClientOrderId::from_text("s1");
    b.handle().submit(Command::ClaimSignal { signal: key }).unwrap();
    let order = capvault::bridge::BrokerOrder {
        id: key,
        code: sell.code.clone(),
        side: Side::Sell,
        price: sell.price,
        shares: 1_000,
        closes: vec![ClientOrderId::from_text("b1")],
    };
    b.broker().place(&order).unwrap();
    b.broker().advance(2);
    assert!(b.broker().account().positions.is_empty(), "the broker sold the shares");
    // The restarted executor reads the signal again: the shares are gone, but the sell is its own.
    let result = b.consume(Entry::Signal(sell), 3).unwrap();
    assert_eq!(result.status, ResultStatus::Placed, "{result:?}");
    let events = b.pump().unwrap();
    assert!(events.contains(&Event::Released { sell: key, amount: amount("1153") }), "{events:?}");
    assert_eq!(pool(&mut b), units(300_000));
    let _ = fs::remove_dir_all(&dir);
}

/// A broker whose reports the test writes.
struct Scripted {
    reports: Vec<capvault::bridge::Report>,
}

impl Broker for Scripted {
    fn place(&mut self, _: &capvault::bridge::BrokerOrder) -> Result<(), capvault::bridge::PlaceError> {
        Ok(())
    }
    fn cancel(&mut self, _: ClientOrderId) {}
    fn reports(&mut self) -> Vec<capvault::bridge::Report> {
        std::mem::take(&mut self.reports)
    }
    fn account(&mut self) -> capvault::bridge::Account {
        capvault::bridge::Account { cash: units(300_000), available: units(300_000), positions: Vec::new() }
    }
}

#[test]
fn a_cancel_after_a_partial_fill_says_its_fill_is_a_repeat_and_events_name_the_signal() {
    use capvault::bridge::{Bridge, BridgeConfig, Report};
    let dir = scratch("partial-cancel");
    let config = BridgeConfig { results: dir.join("order_result.jsonl"), expiry_ms: None, sync: false };
    let mut b = Bridge::new(vault(&dir), Scripted { reports: Vec::new() }, config, 0).unwrap();
    let result =
        b.consume(Entry::Signal(signal("sig-partial", "159201.SZ", Side::Buy, "1.153", 8600)), 0).unwrap();
    assert_eq!(result.status, ResultStatus::Placed);
    let id = ClientOrderId::from_text("sig-partial");
    let half = amount("4957.9");
    b.broker().reports.push(Report::Fill { id, shares: 4300, value: half, done: false });
    assert_eq!(b.pump().unwrap(), [Event::Filled { id, value: half, repeat: false }]);
    b.broker().reports.push(Report::Cancelled { id, value: half });
    let events = b.pump().unwrap();
    assert_eq!(events[0], Event::Filled { id, value: half, repeat: true }, "the cancel repeats the fill");
    assert_eq!(events[1], Event::Returned { id, amount: amount("4957.9") });
    assert_eq!(b.text_of(id), Some("sig-partial"));
    let said = b.describe(&events[0]);
    assert!(said.starts_with("sig-partial filled 4957.9") && said.contains("a repeat"), "{said}");
    assert!(!b.describe(&events[1]).contains(&id.to_string()), "the signal's text, not the hash");
    let _ = fs::remove_dir_all(&dir);
}

/// A strategy labelled with its exchange suffix (`159201.SZ`, as a config may say) trades that
/// code: the bridge matches it instead of refusing the signal as "no strategy's label".
#[test]
fn a_label_with_its_exchange_suffix_matches_its_code() {
    use capvault::{Builder, LedgerConfig};
    let dir = scratch("suffixed-label");
    let config = LedgerConfig::from_json(
        r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 300000,
             "strategies": [ { "slot": 2, "label": "159201.SZ", "cap": 200000 } ] } ] }"#,
    )
    .unwrap();
    let handle = Builder::from_config(&config).unwrap().spawn().unwrap();
    let mut b = bridge(&dir, handle, broker(), None);
    let placed =
        b.consume(Entry::Signal(signal("sig-suffix", "159201.SZ", Side::Buy, "1.153", 100)), 0).unwrap();
    assert_eq!(placed.status, ResultStatus::Placed, "{:?}", placed.reason);
    let other =
        b.consume(Entry::Signal(signal("sig-other", "159201.SH", Side::Buy, "1.153", 100)), 1).unwrap();
    assert_eq!(
        (other.status, other.step),
        (ResultStatus::Refused, Step::Validation),
        "another exchange's code"
    );
    let _ = fs::remove_dir_all(&dir);
}
