//! The seeds' worked examples, with their exact numbers: seed 004's 10,000 USDC split
//! 4000/2000/3000/1000 with its business scenarios, and seed 000's 300,000 pool with its
//! 15% reserve (255,000), 90%/85% penalty (270,000 / 255,000) and `client_order_id` chain.

mod common;

use capvault::*;
use common::*;

#[test]
fn seed_004_split_of_10000_and_its_scenarios() {
    let mut ledger = Ledger::new(Limits::default()).unwrap();
    let spec = BookSpec::new(Venue::new("KRAKEN").unwrap(), Currency::new("USDC").unwrap(), 5);
    let Outcome::BookOpened { book } = ok(&mut ledger, Command::OpenBook { spec }) else { panic!() };
    ok(&mut ledger, Command::Reset { book, balance: units(10_000), force: false });
    ok(&mut ledger, Command::Allocate { book, slot: 2, amount: units(2000) });
    ok(&mut ledger, Command::Allocate { book, slot: 3, amount: units(3000) });
    ok(&mut ledger, Command::Allocate { book, slot: 4, amount: units(1000) });
    let balances: Vec<Amount> = (0..5).map(|slot| ledger.balance(book, slot).unwrap()).collect();
    assert_eq!(balances, [units(10_000), units(4000), units(2000), units(3000), units(1000)]);

    // "策略A 归还 500 USDC"
    ok(&mut ledger, Command::Release { book, slot: 2, amount: units(500) });
    assert_eq!(ledger.balance(book, 1).unwrap(), units(4500));
    assert_eq!(ledger.balance(book, 2).unwrap(), units(1500));

    // A buy and a sell of USDC against USD are total changes; the pool absorbs them.
    ok(&mut ledger, Command::Adjust { book, slot: 0, delta: units(1000) });
    ok(&mut ledger, Command::Adjust { book, slot: 0, delta: units(-500) });
    assert_eq!(ledger.balance(book, 0).unwrap(), units(10_500));
    assert_eq!(ledger.balance(book, 1).unwrap(), units(5000));
    assert_eq!(ledger.balance(book, 3).unwrap(), units(3000), "strategies keep what they hold");

    // Error recovery: the exchange says 4,000; the pool absorbs the drift down to -1,000.
    let outcome = ok(&mut ledger, Command::Set { book, slot: 0, amount: units(4000) });
    assert_eq!(
        outcome,
        Outcome::Set {
            drift: units(-6500),
            health: Health::Unrecoverable { pool: units(-1500), credit_limit: Amount::ZERO }
        }
    );
    // With a 5,000 credit limit the same book is sound again (-1,500 + 5,000 >= 0).
    let usdc = Currency::new("USDC").unwrap();
    let outcome = ok(&mut ledger, Command::SetCreditLimit { currency: usdc, limit: units(5000) });
    assert_eq!(outcome, Outcome::CreditLimitSet { books: 1, books_unrecoverable: 0 });
    assert_eq!(ledger.book(book).unwrap().health(), Health::Sound);
    // Borrowing: the pool may go to -5,000 and no further.
    ok(&mut ledger, Command::Allocate { book, slot: 4, amount: units(3500) });
    assert_eq!(ledger.balance(book, 1).unwrap(), units(-5000));
    let rejection = rejected(&mut ledger, Command::Allocate { book, slot: 4, amount: amount("0.00000001") });
    assert!(matches!(rejection, Rejection::ExceedsCreditLimit { .. }), "{rejection:?}");
}

#[test]
fn seed_000_pool_thresholds_and_id_chain() {
    let mut ledger = seed_000(Limits::default());
    // 120,000 used by 159201, 80,000 used by 512890, 22,000 frozen for 512890.
    ok(&mut ledger, buy(id(1), 2, 0, units(120_000)));
    ok(&mut ledger, Command::Fill { id: id(1), amount: units(120_000) });
    ok(&mut ledger, buy(id(2), 3, 0, units(80_000)));
    ok(&mut ledger, Command::Fill { id: id(2), amount: units(80_000) });
    ok(&mut ledger, buy(id(3), 3, 1, units(22_000)));
    let used: Vec<_> =
        ledger.used_map(CNY).map(|(_, label, used)| (label.map(|l| l.to_string()), used)).collect();
    assert_eq!(
        used,
        [
            (Some("159201".into()), units(120_000)),
            (Some("512890".into()), units(80_000)),
            (None, Amount::ZERO)
        ]
    );
    let frozen: Vec<_> = ledger.frozen_map(CNY).map(|(slot, _, frozen)| (slot, frozen)).collect();
    assert_eq!(frozen, [(2, Amount::ZERO), (3, units(22_000)), (4, Amount::ZERO)]);
    let view = ledger.view(CNY).unwrap();
    assert_eq!(view.committed(), units(222_000));
    assert_eq!(view.first_layer_limit(), units(255_000));

    // Remaining 15% = 45,000: a first layer may bring committed to 255,000 and no further.
    let over = rejected(&mut ledger, buy(id(4), 2, 0, amount("33000.00000001")));
    assert_eq!(
        over,
        Rejection::ExceedsReserveRatio {
            committed: units(222_000),
            amount: amount("33000.00000001"),
            limit: units(255_000)
        }
    );
    // Exactly 255,000 is allowed.
    ok(&mut ledger, buy(id(4), 2, 0, units(33_000)));
    assert!(!ledger.book(CNY).unwrap().penalty().is_active());
    // 270,000 is exactly 90%: not above it, so no penalty yet.
    // An added layer skips the rule.
    ok(&mut ledger, buy(id(5), 2, 1, units(15_000)));
    assert_eq!(ledger.view(CNY).unwrap().committed(), units(270_000));
    assert!(!ledger.book(CNY).unwrap().penalty().is_active());
    ok(&mut ledger, buy(id(6), 4, 1, units(1)));
    assert!(ledger.book(CNY).unwrap().penalty().is_active(), "above 90%");
    // A sell takes nothing from the pool: the vault refuses to hold cash for it, and neither
    // the committed figure nor the penalty moves.
    let sell =
        Command::Reserve { id: id(7), book: CNY, slot: 4, side: Side::Sell, layer: 0, amount: units(1000) };
    assert_eq!(ledger.apply(&sell), Err(Rejection::SellNotReserved { id: id(7) }));
    assert_eq!(ledger.view(CNY).unwrap().committed(), units(270_001));

    // Cancel the 15,000 and the 1: 255,000 = exactly 85%, not below, so the penalty holds.
    ok(&mut ledger, Command::Cancel { id: id(5) });
    ok(&mut ledger, Command::Cancel { id: id(6) });
    assert_eq!(ledger.view(CNY).unwrap().committed(), units(255_000));
    assert!(ledger.book(CNY).unwrap().penalty().is_active(), "85% is inside the band");
    // Closing 159201's first position releases exactly the 120,000 it reserved.
    let released = ok(&mut ledger, Command::ReleaseOrder { id: id(1) });
    assert_eq!(released, Outcome::OrderReleased { returned: units(120_000) });
    assert!(!ledger.book(CNY).unwrap().penalty().is_active(), "below 85%");
    assert_eq!(ledger.balance(CNY, 1).unwrap(), units(165_000));
}
