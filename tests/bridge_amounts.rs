//! A buy reserves what the broker can spend: a stated `amount` below `price x shares` (at the
//! book's minor unit) is refused, and a broker fill above a reservation is an event and a line
//! of the result file, never a silent cap.

mod common;

use std::fs;

use capvault::bridge::{
    Account, Broker, BrokerOrder, Entry, Event, PlaceError, Report, ResultStatus, Signal, Step,
};
use capvault::{ClientOrderId, OrderState, Side};
use common::bridge::*;
use common::*;

#[test]
fn a_buy_whose_amount_is_below_price_times_shares_is_refused() {
    let dir = scratch("amount-below");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    // 1.153 x 8600 = 9915.80: one minor unit below is refused, the value itself and more pass.
    let low =
        Signal { amount: Some(amount("9915.79")), ..signal("b1", "159201.SZ", Side::Buy, "1.153", 8600) };
    let result = b.consume(Entry::Signal(low), 0).unwrap();
    assert_eq!((result.status, result.step), (ResultStatus::Refused, Step::Validation), "{result:?}");
    assert!(result.reason.as_deref().unwrap().contains("below price x shares = 9915.8"), "{result:?}");
    assert_eq!(b.broker().working(), 0);
    assert_eq!(pool(&mut b), units(300_000));
    // The seed's case: 1,000 stated for 100,000 shares at 2.5 would have spent 250,000.
    let tiny = Signal { amount: Some(units(1_000)), ..signal("b2", "159201.SZ", Side::Buy, "2.5", 100_000) };
    assert_eq!(b.consume(Entry::Signal(tiny), 0).unwrap().status, ResultStatus::Refused);
    let exact =
        Signal { amount: Some(amount("9915.8")), ..signal("b3", "159201.SZ", Side::Buy, "1.153", 8600) };
    assert_eq!(b.consume(Entry::Signal(exact), 0).unwrap().status, ResultStatus::Placed);
    let above = Signal { amount: Some(units(10_000)), ..signal("b4", "159201.SZ", Side::Buy, "1.153", 8600) };
    let result = b.consume(Entry::Signal(above), 0).unwrap();
    assert_eq!((result.status, result.amount), (ResultStatus::Placed, Some(units(10_000))));
    let _ = fs::remove_dir_all(&dir);
}

/// A broker that takes every order and reports it filled for 50 more than its limit value.
struct Overfilling {
    placed: Vec<BrokerOrder>,
    reports: Vec<Report>,
}

impl Broker for Overfilling {
    fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError> {
        let value = order.price.checked_mul_int(i64::try_from(order.shares).unwrap()).unwrap();
        let value = value.checked_add(units(50)).unwrap();
        self.reports.push(Report::Fill { id: order.id, shares: order.shares, value, done: true });
        self.placed.push(order.clone());
        Ok(())
    }
    fn cancel(&mut self, _: ClientOrderId) {}
    fn reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }
    fn account(&mut self) -> Account {
        Account { cash: units(300_000), available: units(300_000), positions: Vec::new() }
    }
}

#[test]
fn a_fill_above_the_reservation_is_an_event_and_a_result_line() {
    let dir = scratch("amount-overfill");
    let config = capvault::bridge::BridgeConfig {
        results: dir.join("order_result.jsonl"),
        expiry_ms: None,
        sync: false,
    };
    let broker = Overfilling { placed: Vec::new(), reports: Vec::new() };
    let mut b = capvault::bridge::Bridge::new(vault(&dir), broker, config, 0).unwrap();
    let result = b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1", 10_000)), 0).unwrap();
    assert_eq!(result.status, ResultStatus::Placed);
    let id = ClientOrderId::from_text("b1");
    let events = b.pump().unwrap();
    let over = Event::FillExceedsReservation { id, value: units(10_050), reserved: units(10_000) };
    assert_eq!(events, [over.clone(), Event::Filled { id, value: units(10_000), repeat: false }]);
    let order = *b.snapshot().order(id).unwrap();
    assert_eq!((order.state(), order.used()), (OrderState::Filled, units(10_000)));
    // The result file holds the signal's line and the event's.
    let text = fs::read_to_string(dir.join("order_result.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[1], serde_json::to_value(&over).unwrap());
    assert_eq!(lines[1]["event"], "fill_exceeds_reservation");
    // The event line is not a signal's result: a restarted bridge reads the file as before.
    assert_eq!(capvault::bridge::read_results(&dir.join("order_result.jsonl")).unwrap().len(), 1);
    let _ = fs::remove_dir_all(&dir);
}
