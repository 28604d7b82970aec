//! The ledger's unit tests: edges, limits, restore checks, the audit and the money check.

use crate::ledger::book::{BookId, Health, StrategyConfig};
use crate::ledger::code::{Currency, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::LedgerConfig;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::Outcome;
use crate::ledger::ratio::Ratio;

use super::check::expected_move;
use super::*;

fn id(n: u64) -> ClientOrderId {
    ClientOrderId::snowflake(n).unwrap()
}

fn units(n: i64) -> Amount {
    Amount::from_units(n).unwrap()
}

/// Two books (CNY with slots 2-4, USDT with slot 2), a CNY credit limit, live orders 1
/// (slot 2, partly filled) and 2 (slot 3), order 3 resolved, a direct allocation in slot 4.
fn ledger() -> Ledger {
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "books_max": 2, "currencies_max": 1, "orders_max": 3, "resolved_max": 2 },
             "credit_limits": { "CNY": 100 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 5, "balance": 1000 },
                        { "venue": "SSE", "currency": "USDT", "slot_count": 3 } ] }"#,
    )
    .unwrap();
    let mut ledger = Ledger::from_config(&config).unwrap();
    let cny = BookId::new(0);
    let reserve = |n, slot| Command::Reserve {
        id: id(n),
        book: cny,
        slot,
        side: Side::Buy,
        layer: 1,
        amount: units(10),
    };
    for command in [
        reserve(1, 2),
        reserve(2, 3),
        reserve(3, 3),
        Command::Cancel { id: id(3) },
        Command::Fill { id: id(1), amount: units(4) },
        Command::Allocate { book: cny, slot: 4, amount: units(7) },
    ] {
        ledger.apply(&command).unwrap();
    }
    ledger
}

fn parts(ledger: &Ledger) -> LedgerParts {
    let (requests, watermarks) = ledger.requests.image();
    let mut orders: Vec<Order> = ledger.orders.values().copied().collect();
    orders.sort_by_key(|o| o.id);
    LedgerParts {
        limits: ledger.limits,
        credit_limits: ledger.credit_limits.clone(),
        books: ledger.books.clone(),
        orders,
        resolved: ledger.resolved.iter().map(|(id, r)| (id, r.state, r.filled)).collect(),
        signals: ledger.signals.iter().collect(),
        requests,
        watermarks,
    }
}

/// `from_parts` refuses the parts changed by `change`, and says `why`.
fn refused(why: &str, change: impl FnOnce(&mut LedgerParts)) {
    let mut parts = parts(&ledger());
    change(&mut parts);
    match Ledger::from_parts(parts) {
        Err(reason) => assert!(reason.contains(why), "expected {why:?}, got {reason:?}"),
        Ok(_) => panic!("accepted parts that should fail with {why:?}"),
    }
}

#[test]
fn parts_of_a_ledger_rebuild_it() {
    let ledger = ledger();
    // The two books share their venue: only the (venue, currency) pair must be unique.
    assert_eq!(ledger.books[0].venue(), ledger.books[1].venue());
    assert!(Ledger::from_parts(parts(&ledger)).unwrap() == ledger);
    // A reserve ratio of exactly one is a valid book.
    let mut whole = parts(&ledger);
    whole.books[1].spec.reserve_ratio = Ratio::ONE;
    assert!(Ledger::from_parts(whole).is_ok());
}

#[test]
fn edges_of_the_commands_are_accepted() {
    let mut ledger = ledger();
    // A book may keep all of its total in reserve.
    let mut spec =
        crate::ledger::book::BookSpec::new(Venue::new("X").unwrap(), Currency::new("X").unwrap(), 3);
    spec.reserve_ratio = Ratio::ONE;
    ledger.limits.books_max = 3;
    assert!(matches!(ledger.apply(&Command::OpenBook { spec }), Ok(Outcome::BookOpened { .. })));
    // A slot may carry its own default name.
    let config = StrategyConfig { label: Some("slot3".parse().unwrap()), ..StrategyConfig::default() };
    ledger.apply(&Command::ConfigureStrategy { book: BookId::new(0), slot: 3, config }).unwrap();
    // Credit: both CNY-less books follow USDT; one of them goes unrecoverable.
    let usdt = Currency::new("USDT").unwrap();
    ledger.books[1].pool = units(-5);
    ledger.books[1].total = units(-5);
    ledger.limits.currencies_max = 2;
    let outcome = ledger.apply(&Command::SetCreditLimit { currency: usdt, limit: units(1) }).unwrap();
    assert_eq!(outcome, Outcome::CreditLimitSet { books: 1, books_unrecoverable: 1 });
}

#[test]
fn the_whole_range_can_be_reserved_to_the_last_unit() {
    let config = LedgerConfig::from_json(
        r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 10000000000 } ] }"#,
    )
    .unwrap();
    let mut ledger = Ledger::from_config(&config).unwrap();
    let all = Amount::MAX;
    let reserve =
        Command::Reserve { id: id(1), book: BookId::new(0), slot: 2, side: Side::Buy, layer: 2, amount: all };
    assert!(matches!(ledger.apply(&reserve), Ok(Outcome::Reserved { .. })), "the pool to exactly zero");
    assert_eq!(ledger.books[0].pool, Amount::ZERO);
}

#[test]
fn more_entries_than_the_limits_allow_are_refused() {
    let many = "more entries than the limits allow";
    refused(many, |p| p.limits.books_max = 1);
    refused(many, |p| p.credit_limits.push((Currency::new("USDT").unwrap(), units(1))));
    refused(many, |p| p.limits.orders_max = 1);
    refused(many, |p| {
        p.resolved.push((id(50), OrderState::Cancelled, Amount::ZERO));
        p.resolved.push((id(51), OrderState::Released, Amount::ZERO));
    });
}

#[test]
fn each_book_check_names_its_rule() {
    refused("negative or repeated", |p| p.credit_limits[0].1 = units(-1));
    refused("negative or repeated", |p| {
        p.limits.currencies_max = 2;
        p.credit_limits.push(p.credit_limits[0]);
    });
    refused("says it is", |p| p.books[1].id = BookId::new(0));
    refused("opened twice", |p| p.books[1].spec = p.books[0].spec);
    refused("slot count or ratios", |p| {
        p.books[1].strategies.push(crate::ledger::book::Strategy::default());
    });
    refused("slot count or ratios", |p| p.books[1].spec.reserve_ratio = Ratio::from_ppm(1_000_001));
    refused("slot count or ratios", |p| p.books[1].spec.penalty.leave = Ratio::from_ppm(950_000));
    refused("is not its currency's", |p| p.books[1].credit_limit = units(5));
    refused("negative or inconsistent", |p| p.books[0].strategies[2].direct = units(8));
    refused("negative or inconsistent", |p| p.books[1].strategies[0].config.cap = Some(units(-1)));
    refused("negative or inconsistent", |p| p.books[1].strategies[0].config.loss_limit = units(-1));
    for field in 0..3 {
        refused("negative or inconsistent", |p| {
            let s = &mut p.books[1].strategies[0];
            *[&mut s.frozen, &mut s.used, &mut s.direct][field] = units(-1);
        });
    }
}

#[test]
fn each_order_check_names_its_rule() {
    refused("is duplicated", |p| p.orders[1].id = id(1));
    refused("does not exist", |p| p.orders[0].book = BookId::new(7));
    for slot in [0, 1, 5, 60] {
        refused("not a strategy slot", |p| p.orders[0].slot = slot);
    }
    refused("live but in state", |p| p.orders[0].state = OrderState::Released);
    refused("live but in state", |p| p.orders[0].state = OrderState::Dropped);
    refused("do not fit amount", |p| p.orders[0].amount = Amount::ZERO);
    refused("do not fit amount", |p| p.orders[0].frozen = units(-1));
    refused("do not fit amount", |p| p.orders[0].used = units(-1));
    refused("do not fit amount", |p| p.orders[0].amount = units(9));
    // A pending order: 10 frozen and nothing used do not fit 9 (a product would).
    refused("do not fit amount", |p| p.orders[1].amount = units(9));
}

#[test]
fn each_resolved_check_names_its_rule() {
    refused("duplicated or still live", |p| p.resolved.push(p.resolved[0]));
    refused("duplicated or still live", |p| p.resolved[0].0 = id(1));
    refused("not an end", |p| p.resolved[0].1 = OrderState::Pending);
}

#[test]
fn the_audit_catches_what_each_part_alone_cannot() {
    // Every part valid on its own; only the sums disagree.
    refused("!= orders'", |p| {
        p.books[0].strategies[0].frozen = units(7);
        p.books[0].total = units(1002);
    });
    refused("!= orders'", |p| {
        p.books[0].strategies[0].used = units(5);
        p.books[0].total = units(1001);
    });
    refused("live orders counted", |p| p.books[0].strategies[0].orders_live = 2);
    refused("live orders counted", |p| p.books[0].orders_live = 3);
    refused("+ committed", |p| p.books[0].pool = units(900));
    // An order whose state and split disagree.
    let inconsistent: [fn(&mut Order); 5] = [
        |o| o.state = OrderState::Pending,
        |o| o.state = OrderState::Filled,
        |o| o.state = OrderState::Cancelled,
        |o| {
            o.frozen = Amount::ZERO;
            o.used = units(10);
        },
        |o| {
            o.frozen = units(10);
            o.used = Amount::ZERO;
        },
    ];
    for change in inconsistent {
        refused("is inconsistent", |p| change(&mut p.orders[0]));
    }
    // The sums agree, only the state's own rule fails: pending with part of it unfrozen, and
    // filled with part of it never used.
    refused("is inconsistent", |p| {
        p.orders[1].frozen = units(9);
        p.books[0].strategies[1].frozen = units(9);
        p.books[0].total = units(999);
    });
    refused("is inconsistent", |p| {
        p.orders[0].state = OrderState::Filled;
        p.orders[0].frozen = Amount::ZERO;
        p.books[0].strategies[0].frozen = Amount::ZERO;
        p.books[0].total = units(994);
    });
}

#[test]
fn default_names_are_exactly_slot_and_a_number() {
    let name = |text: &str| default_name_slot(text.parse().unwrap());
    assert_eq!(name("slot7"), Some(7));
    assert_eq!(name("slot63"), Some(63));
    for text in ["slot07", "slot", "slotx", "slot300", "Slot7", "159201"] {
        assert_eq!(name(text), None, "{text}");
    }
}

#[test]
fn accessors_and_debug_show_the_ledger() {
    let ledger = ledger();
    assert_eq!(ledger.books().len(), 2);
    assert_eq!(ledger.credit_limits().collect::<Vec<_>>(), vec![(Currency::new("CNY").unwrap(), units(100))]);
    let debug = format!("{ledger:?}");
    assert!(
        debug.contains("Ledger") && debug.contains("orders_live: 2") && debug.contains("resolved: 1"),
        "{debug}"
    );
}

#[test]
#[allow(clippy::too_many_lines, reason = "a table: one row per line of the model table")]
fn the_money_check_reads_the_model_table() {
    let cny = BookId::new(0);
    let a = units(10);
    let raw = i128::from(a.raw());
    let reserve = Command::Reserve { id: id(9), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: a };
    let cases = [
        (reserve, Outcome::Reserved { book: cny }, 2, [0, -raw, raw, 0]),
        (reserve, Outcome::AlreadyReserved { state: OrderState::Pending }, 2, [0; 4]),
        (
            Command::Fill { id: id(9), amount: a },
            Outcome::Filled { state: OrderState::Filled, remaining: Amount::ZERO },
            2,
            [0, 0, -raw, raw],
        ),
        (
            Command::Cancel { id: id(9) },
            Outcome::Cancelled { returned: a, held: Amount::ZERO },
            2,
            [0, raw, -raw, 0],
        ),
        (Command::ReleaseOrder { id: id(9) }, Outcome::OrderReleased { returned: a }, 2, [0, raw, 0, -raw]),
        (
            Command::Allocate { book: cny, slot: 4, amount: a },
            Outcome::Allocated { balance: a },
            4,
            [0, -raw, 0, raw],
        ),
        (
            Command::Release { book: cny, slot: 4, amount: a },
            Outcome::Released { balance: a },
            4,
            [0, raw, 0, -raw],
        ),
        (
            Command::Adjust { book: cny, slot: 0, delta: a },
            Outcome::Adjusted { health: Health::Sound },
            0,
            [raw, raw, 0, 0],
        ),
        (
            Command::Adjust { book: cny, slot: 3, delta: a },
            Outcome::Adjusted { health: Health::Sound },
            3,
            [0, -raw, 0, raw],
        ),
        (
            Command::Set { book: cny, slot: 1, amount: a },
            Outcome::Set { drift: a.neg(), health: Health::Sound },
            1,
            [-raw, -raw, 0, 0],
        ),
        (
            Command::Set { book: cny, slot: 4, amount: a },
            Outcome::Set { drift: a, health: Health::Sound },
            4,
            [0, -raw, 0, raw],
        ),
        (
            Command::RecordAlpha { book: cny, slot: 2, amount: a },
            Outcome::AlphaRecorded { acc_alpha: a },
            2,
            [0; 4],
        ),
    ];
    for (command, outcome, slot, moved) in cases {
        assert_eq!(expected_move(&command, &outcome, slot), moved, "{command:?}");
    }
}

#[test]
fn every_accepted_command_passes_the_money_check() {
    // `apply` runs the check; this walks the commands of the model table through it.
    let mut ledger = ledger();
    let cny = BookId::new(0);
    for command in [
        Command::Reserve { id: id(20), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: units(20) },
        Command::Fill { id: id(20), amount: units(5) },
        Command::Cancel { id: id(20) },
        Command::ReleaseOrder { id: id(20) },
        Command::Allocate { book: cny, slot: 3, amount: units(3) },
        Command::Release { book: cny, slot: 3, amount: units(1) },
        Command::Adjust { book: cny, slot: 0, delta: units(-5) },
        Command::Adjust { book: cny, slot: 4, delta: units(2) },
        Command::Set { book: cny, slot: 0, amount: units(1_500) },
        Command::Set { book: cny, slot: 4, amount: units(1) },
        Command::Trade { book_a: cny, delta_a: units(-100), book_b: BookId::new(1), delta_b: units(14) },
        Command::Reset { book: cny, balance: units(900), force: true },
    ] {
        ledger.apply(&command).unwrap_or_else(|r| panic!("{command:?}: {r}"));
    }
    ledger.audit().unwrap();
}

#[test]
#[should_panic(expected = "answered Reserved")]
fn money_that_moved_otherwise_stops_the_ledger() {
    let mut ledger = ledger();
    let cny = BookId::new(0);
    let command =
        Command::Reserve { id: id(30), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: units(5) };
    let before = ledger.figures_before(&command);
    let outcome = ledger.apply_rules(&command).unwrap();
    // As if the pool had been debited twice: the figures read before no longer match.
    ledger.books[0].pool = ledger.books[0].pool.checked_sub(units(5)).unwrap();
    ledger.assert_moved(&command, &outcome, before);
}
