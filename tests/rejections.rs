//! Every rejection variant, provoked on purpose: each is the documented one, carries its
//! figures, and leaves the ledger exactly as it was (compared with a clone taken before).
//! The last test checks that no variant was left out.

mod common;

use std::collections::BTreeSet;

use capvault::*;
use common::*;

fn limits() -> Limits {
    Limits { books_max: 2, currencies_max: 1, orders_max: 6, resolved_max: 8 }
}

/// Runs every provocation and returns the codes seen.
#[allow(clippy::too_many_lines, reason = "a table: one provocation per rejection, in the documented order")]
fn provoke_all() -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    let mut l = seed_000(limits());
    let mut check = |l: &mut Ledger, command: Command, expected: Rejection| {
        let rejection = rejected(l, command);
        assert_eq!(rejection, expected, "{command:?}");
        seen.insert(rejection.code());
    };
    let cny = Currency::new("CNY").unwrap();
    let sse = Venue::new("SSE").unwrap();

    // Amounts on their own.
    check(
        &mut l,
        buy(id(1), 2, 0, Amount::ZERO),
        Rejection::InvalidAmount { amount: Amount::ZERO, rule: AmountRule::Positive },
    );
    check(
        &mut l,
        Command::Adjust { book: CNY, slot: 0, delta: Amount::ZERO },
        Rejection::InvalidAmount { amount: Amount::ZERO, rule: AmountRule::NonZero },
    );
    check(
        &mut l,
        Command::MarkLoss { book: CNY, slot: 2, loss: units(-1) },
        Rejection::InvalidAmount { amount: units(-1), rule: AmountRule::NonNegative },
    );
    check(
        &mut l,
        Command::Set { book: CNY, slot: 2, amount: units(-1) },
        Rejection::InvalidAmount { amount: units(-1), rule: AmountRule::NonNegative },
    );

    // Books.
    let mut spec = BookSpec::new(sse, Currency::new("USD").unwrap(), 1);
    check(&mut l, Command::OpenBook { spec }, Rejection::SlotCountOutOfRange { slot_count: 1 });
    spec.slot_count = 65;
    check(&mut l, Command::OpenBook { spec }, Rejection::SlotCountOutOfRange { slot_count: 65 });
    spec.slot_count = 3;
    spec.decimals = 9;
    check(&mut l, Command::OpenBook { spec }, Rejection::DecimalsOutOfRange { decimals: 9 });
    spec.decimals = 2;
    spec.reserve_ratio = Ratio::from_ppm(1_000_001);
    check(
        &mut l,
        Command::OpenBook { spec },
        Rejection::InvalidRatio { setting: RatioSetting::ReserveRatio, ratio: Ratio::from_ppm(1_000_001) },
    );
    spec.reserve_ratio = Ratio::ZERO;
    spec.penalty.leave = Ratio::from_ppm(950_000);
    check(
        &mut l,
        Command::OpenBook { spec },
        Rejection::InvalidRatio { setting: RatioSetting::PenaltyLeave, ratio: Ratio::from_ppm(950_000) },
    );
    check(
        &mut l,
        Command::OpenBook { spec: BookSpec::new(sse, cny, 3) },
        Rejection::BookExists { venue: sse, currency: cny, book: CNY },
    );
    check(
        &mut l,
        Command::OpenBook { spec: BookSpec::new(sse, Currency::new("USD").unwrap(), 3) },
        Rejection::BooksLimitReached { books_max: 2 },
    );
    check(
        &mut l,
        Command::Reset { book: BookId::new(7), balance: units(1), force: false },
        Rejection::UnknownBook { book: BookId::new(7) },
    );

    // Credit table.
    ok(&mut l, Command::SetCreditLimit { currency: cny, limit: units(10) });
    check(
        &mut l,
        Command::SetCreditLimit { currency: Currency::new("USDT").unwrap(), limit: units(10) },
        Rejection::CurrenciesLimitReached { currencies_max: 1 },
    );

    // Slots and labels.
    check(
        &mut l,
        Command::Allocate { book: CNY, slot: 5, amount: units(1) },
        Rejection::SlotOutOfRange { slot: 5, slot_count: 5 },
    );
    check(
        &mut l,
        Command::Allocate { book: CNY, slot: 1, amount: units(1) },
        Rejection::SlotNotStrategy { slot: 1 },
    );
    check(&mut l, buy(id(1), 0, 1, units(1)), Rejection::SlotNotStrategy { slot: 0 });
    let label: Label = "159201".parse().unwrap();
    check(
        &mut l,
        Command::ConfigureStrategy {
            book: CNY,
            slot: 4,
            config: StrategyConfig { label: Some(label), ..StrategyConfig::default() },
        },
        Rejection::LabelTaken { label, slot: 2 },
    );

    // Trades.
    check(
        &mut l,
        Command::Trade { book_a: CNY, delta_a: units(1), book_b: CNY, delta_b: units(-1) },
        Rejection::TradeSameBook { book: CNY },
    );
    check(
        &mut l,
        Command::Trade { book_a: CNY, delta_a: units(1), book_b: USDT, delta_b: units(1) },
        Rejection::TradeNotOpposite { delta_a: units(1), delta_b: units(1) },
    );

    // Ids.
    ok(&mut l, buy(id(1), 2, 1, units(1000)));
    for (command, field) in [
        (
            Command::Reserve {
                id: id(1),
                book: USDT,
                slot: 2,
                side: Side::Buy,
                layer: 1,
                amount: units(1000),
            },
            ReserveField::Book { existing: CNY, requested: USDT },
        ),
        (buy(id(1), 3, 1, units(1000)), ReserveField::Slot { existing: 2, requested: 3 }),
        (
            Command::Reserve {
                id: id(1),
                book: CNY,
                slot: 2,
                side: Side::Sell,
                layer: 1,
                amount: units(1000),
            },
            ReserveField::Side { existing: Side::Buy, requested: Side::Sell },
        ),
        (buy(id(1), 2, 2, units(1000)), ReserveField::Layer { existing: 1, requested: 2 }),
        (buy(id(1), 2, 1, units(999)), ReserveField::Amount { existing: units(1000), requested: units(999) }),
    ] {
        // Its figures are named in snake_case like every other name in the JSON.
        let name = match field {
            ReserveField::Book { .. } => "book",
            ReserveField::Slot { .. } => "slot",
            ReserveField::Side { .. } => "side",
            ReserveField::Layer { .. } => "layer",
            ReserveField::Amount { .. } => "amount",
        };
        let json = serde_json::to_value(Rejection::IdConflict { id: id(1), field }).unwrap();
        assert!(json.to_string().contains(&format!("\"field\":{{\"{name}\"")), "{json}");
        check(&mut l, command, Rejection::IdConflict { id: id(1), field });
    }
    // The same fields again: already applied, nothing changes.
    let before = l.clone();
    assert_eq!(
        l.apply(&buy(id(1), 2, 1, units(1000))),
        Ok(Outcome::AlreadyReserved { state: OrderState::Pending })
    );
    assert!(l == before);

    check(&mut l, Command::Cancel { id: id(99) }, Rejection::UnknownOrder { id: id(99) });
    check(&mut l, Command::ReleaseOrder { id: id(1) }, Rejection::ReleaseNotFilled { id: id(1) });
    check(
        &mut l,
        Command::Fill { id: id(1), amount: amount("1000.00000001") },
        Rejection::FillExceedsFrozen { id: id(1), frozen: units(1000), fill: amount("1000.00000001") },
    );
    ok(&mut l, Command::Fill { id: id(1), amount: units(400) });
    check(
        &mut l,
        Command::ReleaseOrder { id: id(1) },
        Rejection::ReleaseWorking { id: id(1), frozen: units(600) },
    );
    ok(&mut l, Command::Fill { id: id(1), amount: units(600) });
    check(&mut l, Command::Cancel { id: id(1) }, Rejection::OrderFilled { id: id(1) });
    check(&mut l, Command::Fill { id: id(1), amount: units(1) }, Rejection::OrderFilled { id: id(1) });
    ok(&mut l, Command::ReleaseOrder { id: id(1) });
    check(&mut l, Command::ReleaseOrder { id: id(1) }, Rejection::OrderReleased { id: id(1) });
    check(&mut l, Command::Fill { id: id(1), amount: units(1) }, Rejection::OrderReleased { id: id(1) });
    check(
        &mut l,
        buy(id(1), 2, 1, units(1000)),
        Rejection::IdResolved { id: id(1), state: OrderState::Released },
    );

    ok(&mut l, buy(id(2), 2, 1, units(1000)));
    ok(&mut l, Command::Cancel { id: id(2) });
    check(&mut l, Command::Fill { id: id(2), amount: units(1) }, Rejection::OrderCancelled { id: id(2) });
    check(&mut l, Command::Cancel { id: id(2) }, Rejection::OrderCancelled { id: id(2) });
    // Cancelled after a partial fill: still live, holding its used part.
    ok(&mut l, buy(id(3), 2, 1, units(1000)));
    ok(&mut l, Command::Fill { id: id(3), amount: units(100) });
    ok(&mut l, Command::Cancel { id: id(3) });
    check(&mut l, Command::Cancel { id: id(3) }, Rejection::OrderCancelled { id: id(3) });
    check(&mut l, Command::Fill { id: id(3), amount: units(1) }, Rejection::OrderCancelled { id: id(3) });
    // A cumulative report above what was filled before the cancel: refused; at or below it:
    // already applied.
    check(&mut l, Command::FillTo { id: id(3), filled: units(101) }, Rejection::OrderCancelled { id: id(3) });
    assert_eq!(
        ok(&mut l, Command::FillTo { id: id(3), filled: units(100) }),
        Outcome::FillAlreadyApplied { state: OrderState::Cancelled, filled: units(100) }
    );

    // A sell holds no cash (after the id checks: a buy's id is refused as a conflict first).
    check(
        &mut l,
        Command::Reserve { id: id(4), book: CNY, slot: 2, side: Side::Sell, layer: 1, amount: units(10) },
        Rejection::SellNotReserved { id: id(4) },
    );
    // A cumulative fill above the order's amount.
    ok(&mut l, buy(id(4), 2, 1, units(1000)));
    check(
        &mut l,
        Command::FillTo { id: id(4), filled: amount("1000.00000001") },
        Rejection::FillExceedsAmount { id: id(4), amount: units(1000), filled: amount("1000.00000001") },
    );
    // An expired order refuses a late fill and a cancel, resolved or still holding a fill.
    ok(&mut l, Command::Expire { id: id(4) });
    check(&mut l, Command::Fill { id: id(4), amount: units(1) }, Rejection::OrderExpired { id: id(4) });
    check(&mut l, Command::FillTo { id: id(4), filled: units(1) }, Rejection::OrderExpired { id: id(4) });
    check(&mut l, Command::Cancel { id: id(4) }, Rejection::OrderExpired { id: id(4) });
    check(&mut l, Command::Expire { id: id(4) }, Rejection::OrderExpired { id: id(4) });
    ok(&mut l, buy(id(5), 2, 1, units(1000)));
    ok(&mut l, Command::FillTo { id: id(5), filled: units(300) });
    ok(&mut l, Command::Expire { id: id(5) });
    check(&mut l, Command::FillTo { id: id(5), filled: units(301) }, Rejection::OrderExpired { id: id(5) });
    check(&mut l, Command::Cancel { id: id(5) }, Rejection::OrderExpired { id: id(5) });
    assert_eq!(
        ok(&mut l, Command::ReleaseOrder { id: id(5) }),
        Outcome::OrderReleased { returned: units(300) }
    );

    // Limits on live orders (6): id(3) is live, add five more.
    for n in 10..15 {
        ok(&mut l, buy(id(n), 4, 1, units(1)));
    }
    check(&mut l, buy(id(15), 4, 1, units(1)), Rejection::OrdersLimitReached { orders_max: 6 });

    // Resets.
    check(
        &mut l,
        Command::Reset { book: CNY, balance: units(1), force: false },
        Rejection::LiveOrders { book: CNY, orders: 6 },
    );
    let mut forced = l.clone();
    ok(&mut forced, Command::Reset { book: CNY, balance: units(300_000), force: true });
    check(
        &mut forced,
        Command::Fill { id: id(10), amount: units(1) },
        Rejection::OrderDropped { id: id(10) },
    );

    // Direct allocations.
    ok(&mut l, Command::Allocate { book: CNY, slot: 4, amount: units(50) });
    check(
        &mut l,
        Command::Release { book: CNY, slot: 4, amount: units(51) },
        Rejection::ExceedsAllocation { slot: 4, direct: units(50), amount: units(51) },
    );
    check(
        &mut l,
        Command::Set { book: CNY, slot: 4, amount: units(0) },
        Rejection::ExceedsAllocation { slot: 4, direct: units(50), amount: units(55) },
    );

    // Business rules, with room for one more order.
    ok(&mut l, Command::Cancel { id: id(14) });
    ok(&mut l, Command::MarkLoss { book: CNY, slot: 3, loss: amount("15000.00000001") });
    check(
        &mut l,
        buy(id(20), 3, 1, units(1)),
        Rejection::ForcedReduce { slot: 3, loss: amount("15000.00000001"), loss_limit: units(15_000) },
    );
    check(
        &mut l,
        Command::Allocate { book: CNY, slot: 3, amount: units(1) },
        Rejection::ForcedReduce { slot: 3, loss: amount("15000.00000001"), loss_limit: units(15_000) },
    );
    // 159201 holds the 100 filled by id 3; its cap is 200,000.
    check(
        &mut l,
        Command::Allocate { book: CNY, slot: 2, amount: amount("199900.00000001") },
        Rejection::ExceedsNominalCap {
            committed: units(100),
            amount: amount("199900.00000001"),
            cap: units(200_000),
        },
    );
    ok(&mut l, Command::Release { book: CNY, slot: 4, amount: units(50) });
    // The pool is 300,000 - 100 - 4 (ids 10..13); with a credit limit of 10 it may fund 299,906.
    let pool = units(299_896);
    assert_eq!(l.balance(CNY, 1), Ok(pool));
    ok(&mut l, Command::Allocate { book: CNY, slot: 4, amount: units(299_906) });
    ok(&mut l, Command::Release { book: CNY, slot: 4, amount: units(299_906) });
    check(
        &mut l,
        Command::Allocate { book: CNY, slot: 4, amount: amount("299906.00000001") },
        Rejection::ExceedsCreditLimit { pool, amount: amount("299906.00000001"), credit_limit: units(10) },
    );

    // The reserve rule on an empty book.
    let mut fresh = seed_000(limits());
    check(
        &mut fresh,
        buy(id(1), 4, 0, amount("255000.00000001")),
        Rejection::ExceedsReserveRatio {
            committed: Amount::ZERO,
            amount: amount("255000.00000001"),
            limit: units(255_000),
        },
    );

    // Overflow: a total at the top of the range cannot grow.
    ok(&mut fresh, Command::Reset { book: CNY, balance: Amount::MAX, force: false });
    check(
        &mut fresh,
        Command::Adjust { book: CNY, slot: 0, delta: amount("0.00000001") },
        Rejection::Overflow,
    );
    check(&mut fresh, Command::Set { book: CNY, slot: 0, amount: Amount::MAX.neg() }, Rejection::Overflow);
    // A keyed request older than the request window (as many keys as `resolved_max`).
    let mut fresh = seed_000(limits());
    let key = |n| capvault::RequestKey::new("ops", n).unwrap();
    let window = u64::from(limits().resolved_max);
    for n in 1..=window + 1 {
        fresh.apply_once(key(n), n, &Command::RecordAlpha { book: CNY, slot: 2, amount: units(1) }).unwrap();
    }
    let expired = fresh
        .apply_once(key(1), 0, &Command::RecordAlpha { book: CNY, slot: 2, amount: units(1) })
        .unwrap_err();
    assert_eq!(expired, Rejection::RequestExpired { request: 1, watermark: 1 });
    seen.insert(expired.code());
    // Linked reservations: their shape first, then each part's own rules.
    let mut fresh = seed_000(limits());
    let before = fresh.clone();
    let too_long = vec![buy(id(1), 2, 1, units(1)); capvault::LINKED_MAX + 1];
    for (parts, part, expected) in [
        (Vec::new(), 0, Rejection::LinkLength { parts: 0, max: 64 }),
        (too_long, 0, Rejection::LinkLength { parts: 65, max: 64 }),
        (
            vec![buy(id(1), 2, 1, units(1)), Command::Cancel { id: id(1) }],
            1,
            Rejection::NotLinkable { part: 1 },
        ),
    ] {
        let refused = fresh.reserve_linked(&parts).unwrap_err();
        assert_eq!((refused.part, refused.rejection), (part, expected));
        assert_eq!(fresh, before);
        seen.insert(expected.code());
    }
    seen
}

#[test]
fn every_rejection_is_exact_and_changes_nothing() {
    provoke_all();
}

#[test]
fn no_rejection_variant_is_left_untested() {
    let all: BTreeSet<&str> = [
        "invalid_amount",
        "invalid_ratio",
        "slot_count_out_of_range",
        "decimals_out_of_range",
        "unknown_book",
        "book_exists",
        "books_limit_reached",
        "currencies_limit_reached",
        "slot_out_of_range",
        "slot_not_strategy",
        "label_taken",
        "trade_same_book",
        "trade_not_opposite",
        "id_conflict",
        "id_resolved",
        "orders_limit_reached",
        "unknown_order",
        "order_cancelled",
        "order_filled",
        "order_released",
        "order_dropped",
        "fill_exceeds_frozen",
        "release_not_filled",
        "release_working",
        "live_orders",
        "exceeds_allocation",
        "forced_reduce",
        "exceeds_nominal_cap",
        "exceeds_reserve_ratio",
        "exceeds_credit_limit",
        "overflow",
        "sell_not_reserved",
        "order_expired",
        "fill_exceeds_amount",
        "request_expired",
        "link_length",
        "not_linkable",
    ]
    .into();
    assert_eq!(provoke_all(), all);
}

#[test]
fn a_credit_limit_refusal_names_its_floor_without_a_minus_zero() {
    let none =
        Rejection::ExceedsCreditLimit { pool: units(1_000), amount: units(2_000), credit_limit: units(0) };
    assert_eq!(none.to_string(), "pool 1000 - 2000 goes below the floor 0 (credit limit 0)");
    let some = Rejection::ExceedsCreditLimit {
        pool: units(1_000),
        amount: units(7_000),
        credit_limit: units(5_000),
    };
    assert_eq!(some.to_string(), "pool 1000 - 7000 goes below the floor -5000 (credit limit 5000)");
}

#[test]
fn each_command_kind_is_named_as_its_json_op() {
    use capvault::CommandKind;
    for kind in CommandKind::ALL {
        let json = serde_json::to_value(kind).unwrap();
        assert_eq!(json.as_str(), Some(kind.name()), "{kind:?}");
    }
    let refused = Rejection::NotGranted { kind: CommandKind::ReleaseOrder, book: None, slot: None };
    assert_eq!(refused.to_string(), "this client's grant does not allow release_order");
}
