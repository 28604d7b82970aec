//! Order lifecycles and book commands end to end: partial fills, cancel after a partial fill,
//! release of exactly what an order used, idempotent reservations, the resolved-id window, forced
//! resets that report what they dropped, reconciliation that never wipes reservations, atomic
//! trades, the strategy views, and a configuration file from disk.

mod common;

use capvault::*;
use common::*;

#[test]
fn partial_fills_then_cancel_then_release() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, buy(id(1), 2, 0, units(10_000)));
    assert_eq!(
        ok(&mut l, Command::Fill { id: id(1), amount: units(3000) }),
        Outcome::Filled { state: OrderState::PartiallyFilled, remaining: units(7000) }
    );
    assert_eq!(
        ok(&mut l, Command::Fill { id: id(1), amount: units(2000) }),
        Outcome::Filled { state: OrderState::PartiallyFilled, remaining: units(5000) }
    );
    let s = l.book(CNY).unwrap().strategy(2).unwrap();
    assert_eq!((s.frozen(), s.used()), (units(5000), units(5000)));
    assert_eq!(
        ok(&mut l, Command::Cancel { id: id(1) }),
        Outcome::Cancelled { returned: units(5000), held: units(5000) }
    );
    assert_eq!(l.order(id(1)).unwrap().state(), OrderState::Cancelled);
    assert_eq!(l.balance(CNY, 1), Ok(units(295_000)));
    assert_eq!(
        ok(&mut l, Command::ReleaseOrder { id: id(1) }),
        Outcome::OrderReleased { returned: units(5000) }
    );
    assert_eq!(l.balance(CNY, 1), Ok(units(300_000)));
    assert_eq!(l.order(id(1)), None);
    assert_eq!(l.resolved_state(id(1)), Some(OrderState::Released));
}

#[test]
fn release_returns_what_was_reserved_not_a_market_value() {
    let mut l = seed_000(Limits::default());
    for (n, amount) in [(1, units(20_000)), (2, amount("20123.45"))] {
        ok(&mut l, buy(id(n), 3, n as u32, amount));
        ok(&mut l, Command::Fill { id: id(n), amount });
    }
    assert_eq!(
        ok(&mut l, Command::ReleaseOrder { id: id(2) }),
        Outcome::OrderReleased { returned: amount("20123.45") }
    );
    assert_eq!(l.balance(CNY, 3), Ok(units(20_000)));
}

#[test]
fn a_repeated_reservation_is_answered_without_a_second_charge() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, buy(id(7), 2, 0, units(1000)));
    let after_first = l.clone();
    for _ in 0..3 {
        assert_eq!(
            ok(&mut l, buy(id(7), 2, 0, units(1000))),
            Outcome::AlreadyReserved { state: OrderState::Pending }
        );
    }
    assert!(l == after_first);
    ok(&mut l, Command::Fill { id: id(7), amount: units(1000) });
    assert_eq!(
        ok(&mut l, buy(id(7), 2, 0, units(1000))),
        Outcome::AlreadyReserved { state: OrderState::Filled }
    );
}

#[test]
fn resolved_ids_are_remembered_within_the_window_only() {
    let mut l = seed_000(Limits { resolved_max: 2, ..Limits::default() });
    for n in 1..=3 {
        ok(&mut l, buy(id(n), 2, 1, units(10)));
        ok(&mut l, Command::Cancel { id: id(n) });
    }
    // id 1 fell out of the window; 2 and 3 are still refused for reuse.
    assert_eq!(l.resolved_state(id(1)), None);
    assert_eq!(
        rejected(&mut l, buy(id(3), 2, 1, units(10))),
        Rejection::IdResolved { id: id(3), state: OrderState::Cancelled }
    );
    assert_eq!(rejected(&mut l, Command::Cancel { id: id(1) }), Rejection::UnknownOrder { id: id(1) });
    ok(&mut l, buy(id(1), 2, 1, units(10)));
}

#[test]
fn a_forced_reset_reports_everything_it_dropped() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, buy(id(1), 2, 1, units(1000)));
    ok(&mut l, buy(id(2), 3, 1, units(500)));
    ok(&mut l, Command::Fill { id: id(2), amount: units(200) });
    ok(&mut l, Command::Allocate { book: CNY, slot: 4, amount: units(70) });
    ok(&mut l, Command::RecordAlpha { book: CNY, slot: 2, amount: amount("3500.5") });
    let outcome = ok(&mut l, Command::Reset { book: CNY, balance: units(250_000), force: true });
    assert_eq!(
        outcome,
        Outcome::Reset {
            dropped_orders: 2,
            dropped_frozen: units(1300),
            dropped_used: units(200),
            dropped_direct: units(70),
            health: Health::Sound
        }
    );
    let book = l.book(CNY).unwrap();
    assert_eq!((book.total(), book.pool(), book.orders_live()), (units(250_000), units(250_000), 0));
    assert_eq!(book.strategy(2).unwrap().acc_alpha(), amount("3500.5"), "alpha is history, not capital");
    assert_eq!(l.resolved_state(id(1)), Some(OrderState::Dropped));
}

#[test]
fn reconciliation_reports_drift_and_keeps_reservations() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, buy(id(1), 2, 0, units(100_000)));
    ok(&mut l, Command::Fill { id: id(1), amount: units(60_000) });
    ok(&mut l, buy(id(2), 3, 0, units(100_000)));
    // The exchange reports 150,000: the pool absorbs -150,000 and goes to -50,000.
    let outcome = ok(&mut l, Command::Set { book: CNY, slot: 0, amount: units(150_000) });
    assert_eq!(
        outcome,
        Outcome::Set {
            drift: units(-150_000),
            health: Health::Unrecoverable { pool: units(-50_000), credit_limit: Amount::ZERO }
        }
    );
    assert_eq!(l.orders().len(), 2, "live reservations are never wiped by a reconciliation");
    assert_eq!(l.balance(CNY, 2), Ok(units(100_000)));
    // New capital is refused until the caller resets or the balance recovers ...
    assert!(matches!(rejected(&mut l, buy(id(3), 4, 1, units(1))), Rejection::ExceedsCreditLimit { .. }));
    // ... while fills, cancels and releases still go through.
    ok(&mut l, Command::Cancel { id: id(2) });
    ok(&mut l, Command::Fill { id: id(1), amount: units(40_000) });
    ok(&mut l, Command::ReleaseOrder { id: id(1) });
    assert_eq!(l.book(CNY).unwrap().health(), Health::Sound);
}

#[test]
fn a_trade_changes_both_books_or_neither() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, Command::Reset { book: USDT, balance: units(5000), force: false });
    let outcome =
        ok(&mut l, Command::Trade { book_a: USDT, delta_a: units(-1000), book_b: CNY, delta_b: units(7100) });
    assert_eq!(outcome, Outcome::Traded { health_a: Health::Sound, health_b: Health::Sound });
    assert_eq!((l.balance(USDT, 0), l.balance(CNY, 0)), (Ok(units(4000)), Ok(units(307_100))));
    // The second leg would overflow: the first must not have moved either.
    ok(&mut l, Command::Reset { book: USDT, balance: Amount::MAX, force: false });
    let rejection =
        rejected(&mut l, Command::Trade { book_a: CNY, delta_a: units(-1), book_b: USDT, delta_b: units(1) });
    assert_eq!(rejection, Rejection::Overflow);
}

#[test]
fn set_and_adjust_on_strategy_and_pool_slots() {
    let mut l = seed_000(Limits::default());
    assert_eq!(
        ok(&mut l, Command::Set { book: CNY, slot: 4, amount: units(900) }),
        Outcome::Set { drift: units(900), health: Health::Sound }
    );
    ok(&mut l, Command::Adjust { book: CNY, slot: 4, delta: units(-400) });
    assert_eq!(l.balance(CNY, 4), Ok(units(500)));
    // The pool's own slot: the total follows it.
    ok(&mut l, Command::Set { book: CNY, slot: 1, amount: units(299_600) });
    assert_eq!((l.balance(CNY, 0), l.balance(CNY, 1)), (Ok(units(300_100)), Ok(units(299_600))));
    ok(&mut l, Command::Adjust { book: CNY, slot: 1, delta: units(-100) });
    assert_eq!(l.balance(CNY, 0), Ok(units(300_000)));
    assert_eq!(l.balance(CNY, 9), Err(Rejection::SlotOutOfRange { slot: 9, slot_count: 5 }));
}

#[test]
fn forced_reduce_blocks_buys_but_not_releases_and_a_sell_holds_nothing() {
    let mut l = seed_000(Limits::default());
    ok(&mut l, buy(id(1), 3, 0, units(5000)));
    ok(&mut l, Command::Fill { id: id(1), amount: units(5000) });
    assert_eq!(
        ok(&mut l, Command::MarkLoss { book: CNY, slot: 3, loss: units(15_001) }),
        Outcome::LossMarked { forced_reduce: true }
    );
    assert!(matches!(rejected(&mut l, buy(id(2), 3, 1, units(1))), Rejection::ForcedReduce { .. }));
    // A sell needs no capital, so the vault holds none for it, in forced-reduce or not.
    let sell =
        Command::Reserve { id: id(3), book: CNY, slot: 3, side: Side::Sell, layer: 1, amount: units(10) };
    let before = l.clone();
    assert_eq!(rejected(&mut l, sell), Rejection::SellNotReserved { id: id(3) });
    assert_eq!(l, before);
    ok(&mut l, Command::ReleaseOrder { id: id(1) });
    // Exactly at the limit is not above it: the strategy may buy again.
    assert_eq!(
        ok(&mut l, Command::MarkLoss { book: CNY, slot: 3, loss: units(15_000) }),
        Outcome::LossMarked { forced_reduce: false }
    );
    ok(&mut l, buy(id(2), 3, 1, units(1)));
}

#[test]
fn a_sell_in_a_spending_book_holds_what_it_spends_and_moves_as_a_buy() {
    // Seed 004's venue: selling BTC for USD spends BTC, a book of its own.
    let config = LedgerConfig::from_json(
        r#"{ "books": [
            { "venue": "KRAKEN", "currency": "USD", "slot_count": 4, "balance": 10000 },
            { "venue": "KRAKEN", "currency": "BTC", "slot_count": 4, "balance": 2, "decimals": 8, "sells": "spend",
              "strategies": [ { "slot": 2, "cap": "1.9" } ] } ] }"#,
    )
    .unwrap();
    let mut l = Ledger::from_config(&config).unwrap();
    let (usd, btc) = (BookId::new(0), BookId::new(1));
    assert_eq!(l.book(btc).unwrap().spec().sells, SellRule::Spend);
    let btc_amount = |text: &str| text.parse::<Amount>().unwrap();
    let sell = |n, layer, amount| Command::Reserve {
        id: id(n),
        book: btc,
        slot: 2,
        side: Side::Sell,
        layer,
        amount,
    };

    ok(&mut l, sell(1, 1, btc_amount("0.5")));
    assert_eq!(l.balance(btc, 1).unwrap(), btc_amount("1.5"));
    assert_eq!(l.order(id(1)).unwrap().side(), Side::Sell);
    // The same rules as a buy, in the same order: the nominal cap, then the funds.
    assert!(matches!(rejected(&mut l, sell(2, 1, btc_amount("1.5"))), Rejection::ExceedsNominalCap { .. }));
    // The first-layer rule too: 15% of the 2 BTC stays in the pool.
    assert!(matches!(rejected(&mut l, sell(3, 0, btc_amount("1.3"))), Rejection::ExceedsReserveRatio { .. }));
    // Fill, cancel the rest, release what was spent: the model table's moves.
    ok(&mut l, Command::Fill { id: id(1), amount: btc_amount("0.2") });
    assert_eq!(
        ok(&mut l, Command::Cancel { id: id(1) }),
        Outcome::Cancelled { returned: btc_amount("0.3"), held: btc_amount("0.2") }
    );
    assert_eq!(l.balance(btc, 1).unwrap(), btc_amount("1.8"));
    ok(&mut l, Command::ReleaseOrder { id: id(1) });
    assert_eq!(l.balance(btc, 1).unwrap(), btc_amount("2"));
    l.audit().unwrap();

    // The USD book keeps the default: its sells hold nothing, as seed 000's cash book.
    let usd_sell =
        Command::Reserve { id: id(4), book: usd, slot: 2, side: Side::Sell, layer: 1, amount: units(10) };
    assert_eq!(rejected(&mut l, usd_sell), Rejection::SellNotReserved { id: id(4) });
}

#[test]
fn books_are_found_by_venue_and_currency_and_config_loads_from_disk() {
    let dir = std::env::temp_dir().join(format!("capvault-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capvault.json");
    std::fs::write(
        &path,
        r#"{ "credit_limits": { "USDC": 5000 },
             "books": [ { "venue": "KRAKEN", "currency": "USDC", "slot_count": 8, "balance": 10000 } ] }"#,
    )
    .unwrap();
    let l = Ledger::from_config(&LedgerConfig::load(&path).unwrap()).unwrap();
    let book = l.book_id(Venue::new("KRAKEN").unwrap(), Currency::new("USDC").unwrap()).unwrap();
    assert_eq!(l.book(book).unwrap().credit_limit(), units(5000));
    assert_eq!(l.balance(book, 0), Ok(units(10_000)));
    assert!(LedgerConfig::load(dir.join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    std::fs::remove_dir_all(&dir).unwrap();

    // A configuration the ledger refuses names the book and the rule.
    let bad =
        LedgerConfig::from_json(r#"{ "books": [ { "venue": "A", "currency": "B", "slot_count": 70 } ] }"#)
            .unwrap();
    assert_eq!(
        Ledger::from_config(&bad).unwrap_err(),
        ConfigError::Book { index: 0, rejection: Rejection::SlotCountOutOfRange { slot_count: 70 } }
    );
}

#[test]
fn commands_and_outcomes_round_trip_through_json() {
    let command = buy(id(42), 2, 0, amount("1234.5"));
    let text = serde_json::to_string(&command).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
    let text = serde_json::to_string(&Rejection::ExceedsReserveRatio {
        committed: units(222_000),
        amount: amount("40000.5"),
        limit: units(255_000),
    })
    .unwrap();
    assert_eq!(
        text,
        r#"{"rejection":"exceeds_reserve_ratio","committed":222000,"amount":40000.5,"limit":255000}"#
    );
}
