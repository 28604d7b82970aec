//! Reconciliation reads the broker's account only after draining its reports, and a position
//! that still disagrees with the vault holds the total back (or, asked to, sets it anyway):
//! a sell's proceeds are never counted beside the buys it closed.

mod common;

use std::fs;

use capvault::bridge::{
    Account, Bridge, BridgeConfig, Broker, BrokerOrder, Entry, Event, Mismatch, PlaceError, Position, Report,
    ResultStatus, SimBroker,
};
use capvault::{ClientOrderId, Side};
use common::bridge::*;
use common::*;

#[test]
fn a_filled_sell_whose_report_is_unread_is_pumped_before_the_account_is_read() {
    let dir = scratch("reconcile-unread");
    let mut b = bridge(&dir, vault(&dir), broker(), None);
    b.broker().set_price("159201.SZ", amount("1.5"));
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1.5", 100_000)), 0).unwrap();
    b.broker().advance(1);
    b.pump().unwrap();
    b.broker().set_price("159201.SZ", amount("1.515"));
    let result = b.consume(Entry::Signal(sell("s1", "159201.SZ", "1.515", 100_000, &["b1"])), 2).unwrap();
    assert_eq!(result.status, ResultStatus::Placed);
    // The sell fills at the broker; its report waits in the queue when reconciliation starts.
    b.broker().advance(3);
    let r = b.reconcile(CNY, Mismatch::Hold).unwrap();
    let sell_id = ClientOrderId::from_text("s1");
    assert!(r.events.contains(&Event::Released { sell: sell_id, amount: units(150_000) }), "{r:?}");
    // 300,000 - 150,000 + 151,500: the profit is 1,500, not 151,500.
    assert_eq!((r.capital, r.drift, r.applied), (units(301_500), units(1_500), true), "{r:?}");
    assert_eq!(pool(&mut b), units(301_500));
    let _ = fs::remove_dir_all(&dir);
}

/// A broker whose account the test sets, with reports held back as a slow broker would.
struct Frozen {
    account: Account,
    inner: SimBroker,
}

impl Broker for Frozen {
    fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError> {
        self.inner.place(order)
    }
    fn cancel(&mut self, id: ClientOrderId) {
        self.inner.cancel(id);
    }
    fn reports(&mut self) -> Vec<Report> {
        self.inner.reports()
    }
    fn account(&mut self) -> Account {
        self.account.clone()
    }
}

#[test]
fn positions_that_still_disagree_hold_the_total_back_unless_told_to_apply() {
    let dir = scratch("reconcile-mismatch");
    let mut inner = broker();
    inner.set_price("159201.SZ", amount("1.2"));
    // The broker's view: the buy's shares are gone and the cash holds the proceeds (a sell
    // the bridge has no report of).
    let account = Account { cash: units(301_500), available: units(301_500), positions: Vec::new() };
    let config = BridgeConfig { results: dir.join("order_result.jsonl"), expiry_ms: None, sync: false };
    let mut b = Bridge::new(vault(&dir), Frozen { account, inner }, config, 0).unwrap();
    b.consume(Entry::Signal(signal("b1", "159201.SZ", Side::Buy, "1.2", 100_000)), 0).unwrap();
    b.broker().inner.advance(1);
    b.pump().unwrap();
    let total = b.snapshot().book(CNY).unwrap().total();
    // Hold: reported, the total untouched, the drift is what the set would have moved.
    let r = b.reconcile(CNY, Mismatch::Hold).unwrap();
    assert_eq!(r.mismatches, [("159201 (slot 2)".to_owned(), units(0), units(120_000))]);
    assert_eq!((r.applied, r.capital, r.drift), (false, units(421_500), units(121_500)));
    assert_eq!(b.snapshot().book(CNY).unwrap().total(), total);
    assert_eq!(pool(&mut b), units(180_000));
    // Apply: the operator's choice; the total is set and the mismatch still reported.
    let r = b.reconcile(CNY, Mismatch::Apply).unwrap();
    assert_eq!((r.applied, r.mismatches.len()), (true, 1));
    assert_eq!(b.snapshot().book(CNY).unwrap().total(), units(421_500));
    // A cost that agrees applies under Hold.
    b.broker().account = Account {
        cash: units(180_000),
        available: units(180_000),
        positions: vec![Position { code: "159201.SZ".into(), shares: 100_000, cost: units(120_000) }],
    };
    let r = b.reconcile(CNY, Mismatch::Hold).unwrap();
    assert_eq!((r.applied, r.mismatches.len(), r.capital), (true, 0, units(300_000)));
    assert_eq!(pool(&mut b), units(180_000));
    let _ = fs::remove_dir_all(&dir);
}
