//! An order id is one signal's, and a sell releases only its own strategy's buys: a signal
//! that names an id another signal or order holds, or a sell that names a buy it does not own,
//! is refused at validation with its reason, and the first order's money is untouched.

mod common;

use std::fs;

use capvault::bridge::{Broker, BrokerOrder, Entry, Event, ResultStatus, Signal, Step};
use capvault::{ClientOrderId, OrderState, Side};
use common::bridge::*;
use common::*;

fn refused_at_validation(result: &capvault::bridge::OrderResult, field: &str) {
    assert_eq!((result.status, result.step), (ResultStatus::Refused, Step::Validation), "{result:?}");
    let reason = result.reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with(field), "{reason}");
}

#[test]
fn a_sell_reusing_a_working_buys_id_is_refused_and_the_buy_still_fills() {
    let dir = scratch("ids-sell-reuse");
    let mut b = bridge(&dir, vault(&dir), broker_after(1_000), Some(10_000));
    let buy = signal("b1", "159201.SZ", Side::Buy, "1.153", 10_000);
    assert_eq!(b.consume(Entry::Signal(buy), 0).unwrap().status, ResultStatus::Placed);
    // A sell under another signal id that names the working buy's order id.
    let sell =
        Signal { client_order_id: Some("b1".into()), ..signal("s1", "159201.SZ", Side::Sell, "1.2", 100) };
    let result = b.consume(Entry::Signal(sell), 1).unwrap();
    refused_at_validation(&result, "client_order_id");
    assert!(result.reason.unwrap().contains("signal b1"));
    // The buy's own fill is applied, and the buy stays in the expiry sweep until it reports.
    b.broker().advance(1_000);
    let id = ClientOrderId::from_text("b1");
    assert_eq!(b.pump().unwrap(), [Event::Filled { id, value: units(11_530), repeat: false }]);
    let order = *b.snapshot().order(id).unwrap();
    assert_eq!((order.state(), order.used(), order.frozen()), (OrderState::Filled, units(11_530), units(0)));
    assert_eq!(b.broker().working(), 0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_second_signal_naming_an_existing_order_is_refused_not_reported_placed() {
    let dir = scratch("ids-second");
    let mut b = bridge(&dir, vault(&dir), broker_after(1_000), None);
    let first =
        Signal { client_order_id: Some("o1".into()), ..signal("s1", "159201.SZ", Side::Buy, "1.153", 1_000) };
    assert_eq!(b.consume(Entry::Signal(first.clone()), 0).unwrap().status, ResultStatus::Placed);
    // The same order fields under another signal id: nothing would be placed, so not "placed".
    let second = Signal { signal_id: "s2".into(), ..first };
    refused_at_validation(&b.consume(Entry::Signal(second), 1).unwrap(), "client_order_id");
    assert_eq!(b.broker().working(), 1);
    assert_eq!(pool(&mut b), amount("298847"));
    // Also once the first order has filled and after a restart (the owner comes from the result file).
    b.broker().advance(1_000);
    b.pump().unwrap();
    let (handle, _) = b.into_parts();
    handle.shutdown().unwrap();
    let mut b = bridge(&dir, vault(&dir), broker_after(1_000), None);
    let third =
        Signal { client_order_id: Some("o1".into()), ..signal("s3", "159201.SZ", Side::Buy, "1.153", 100) };
    refused_at_validation(&b.consume(Entry::Signal(third), 2).unwrap(), "client_order_id");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_id_the_broker_already_holds_is_refused_for_a_fresh_signal_and_its_reservation_returned() {
    let dir = scratch("ids-broker-dup");
    let mut b = bridge(&dir, vault(&dir), broker_after(1_000), None);
    // An order the broker has under this id, placed by someone else (a manual order, another
    // executor): a fresh signal's send answers `Duplicate`, and it is not this signal's.
    let foreign = BrokerOrder {
        id: ClientOrderId::from_text("x1"),
        code: "512890.SH".into(),
        side: Side::Buy,
        price: amount("1.02"),
        shares: 100,
        closes: Vec::new(),
    };
    b.broker().place(&foreign).unwrap();
    let result = b.consume(Entry::Signal(signal("x1", "159201.SZ", Side::Buy, "1.153", 1_000)), 0).unwrap();
    assert_eq!((result.status, result.step), (ResultStatus::Refused, Step::Order), "{result:?}");
    assert!(result.reason.unwrap().contains("already has an order"));
    assert_eq!(pool(&mut b), units(300_000), "the reservation went back");
    assert!(b.snapshot().order(ClientOrderId::from_text("x1")).is_none_or(|o| o.frozen().is_zero()));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_sell_releases_only_live_or_filled_buys_of_its_own_strategy() {
    let dir = scratch("ids-sell-own");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    for (id, code, price) in
        [("a1", "159201.SZ", "1.153"), ("a2", "159201.SZ", "1.153"), ("c1", "512890.SH", "1.02")]
    {
        let result = b.consume(Entry::Signal(signal(id, code, Side::Buy, price, 10_000)), 0).unwrap();
        assert_eq!(result.status, ResultStatus::Placed);
    }
    b.broker().advance(1);
    b.pump().unwrap();
    let held = pool(&mut b);
    // 512890's sell naming 159201's buy: refused; the buy keeps its capital.
    let other = sell("s1", "512890.SH", "1.02", 10_000, &["a1"]);
    refused_at_validation(&b.consume(Entry::Signal(other), 1).unwrap(), "release_client_order_ids");
    // An id the vault does not hold, and one named twice.
    let unknown = sell("s2", "159201.SZ", "1.2", 10_000, &["nope"]);
    refused_at_validation(&b.consume(Entry::Signal(unknown), 2).unwrap(), "release_client_order_ids");
    let twice = sell("s3", "159201.SZ", "1.2", 20_000, &["a1", "a1"]);
    refused_at_validation(&b.consume(Entry::Signal(twice), 3).unwrap(), "release_client_order_ids");
    // A buy a working sell already closes cannot be closed by a second sell.
    let first = sell("s4", "159201.SZ", "1.3", 10_000, &["a1"]);
    assert_eq!(b.consume(Entry::Signal(first), 4).unwrap().status, ResultStatus::Placed);
    let second = sell("s5", "159201.SZ", "1.3", 10_000, &["a1"]);
    let result = b.consume(Entry::Signal(second), 5).unwrap();
    refused_at_validation(&result, "release_client_order_ids");
    assert!(result.reason.unwrap().contains("s4"));
    assert_eq!(pool(&mut b), held);
    for id in ["a1", "a2", "c1"] {
        assert_eq!(b.snapshot().order(ClientOrderId::from_text(id)).unwrap().state(), OrderState::Filled);
    }
    let _ = fs::remove_dir_all(&dir);
}
