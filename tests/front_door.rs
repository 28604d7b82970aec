//! The front door an executor uses: typed helpers on `Handle` that return what each command did,
//! `Reader::wait_for`, lookups by name on a snapshot, `Display` for outcomes, and error chains.

mod common;

use std::error::Error as _;
use std::time::Duration;

use capvault::{
    Amount, Builder, Currency, Health, Label, Limits, OrderState, Outcome, Rejection, Side, Stopped,
    SubmitError, Venue, WaitError, SLOT_TOTAL,
};
use common::*;

#[test]
fn each_helper_returns_what_its_command_did() {
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let reserved = handle.reserve(id(1), CNY, 2, Side::Buy, 0, units(20_000)).unwrap();
    assert_eq!(reserved.repeated, None);
    let again = handle.reserve(id(1), CNY, 2, Side::Buy, 0, units(20_000)).unwrap();
    assert_eq!(
        (again.repeated, again.seq),
        (Some(OrderState::Pending), reserved.seq),
        "a repeat changes nothing"
    );

    let fill = handle.fill(id(1), units(5_000)).unwrap();
    assert_eq!((fill.state, fill.remaining), (OrderState::PartiallyFilled, units(15_000)));
    assert_eq!(fill.seq, reserved.seq + 1);
    let cancelled = handle.cancel(id(1)).unwrap();
    assert_eq!((cancelled.returned, cancelled.held), (units(15_000), units(5_000)));
    let released = handle.release_order(id(1)).unwrap();
    assert_eq!(released.amount, units(5_000));

    assert_eq!(handle.allocate(CNY, 3, units(1_000)).unwrap().amount, units(1_000));
    assert_eq!(handle.release(CNY, 3, units(400)).unwrap().amount, units(600));
    let adjusted = handle.adjust(CNY, SLOT_TOTAL, units(-100)).unwrap();
    assert_eq!((adjusted.drift, adjusted.health), (units(-100), Health::Sound));
    let set = handle.set(CNY, SLOT_TOTAL, units(300_000)).unwrap();
    assert_eq!(set.drift, units(100));
    assert_eq!(handle.record_alpha(CNY, 2, amount("12.5")).unwrap().amount, amount("12.5"));
    assert!(!handle.mark_loss(CNY, 2, units(10)).unwrap());
    let reports = handle.set_totals(&[(CNY, units(299_000))]);
    assert_eq!(reports[0].as_ref().unwrap().drift, units(-1_000));
    let usdt = Currency::new("USDT").unwrap();
    assert_eq!(handle.set_credit_limit(usdt, units(50)).unwrap(), 0);
    let (a, b) = handle.trade((CNY, units(-700)), (USDT, units(100))).unwrap();
    assert_eq!((a, b), (Health::Sound, Health::Sound));
    let reset = handle.reset(USDT, units(10), false).unwrap();
    assert_eq!((reset.dropped_orders, reset.health), (0, Health::Sound));

    // A refusal is the ledger's rejection, typed, with the figures that explain it.
    match handle.reserve(id(2), CNY, 2, Side::Buy, 0, units(250_000)) {
        Err(SubmitError::Rejected(
            Rejection::ExceedsNominalCap { .. } | Rejection::ExceedsReserveRatio { .. },
        )) => {}
        other => panic!("expected a cap or reserve rejection, got {other:?}"),
    }
    let snapshot = handle.shutdown().unwrap();
    assert_eq!(snapshot.balance(CNY, 3), Some(units(600)));
}

#[test]
fn wait_for_returns_the_snapshot_that_shows_a_receipt() {
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let reader = handle.reader();
    let receipt = handle.reserve(id(1), CNY, 2, Side::Buy, 0, units(1_000)).unwrap();
    let snapshot = reader.wait_for(receipt.seq, Duration::from_secs(5)).unwrap();
    assert!(snapshot.seq() >= receipt.seq);
    assert!(snapshot.order(id(1)).is_some());
    match reader.wait_for(receipt.seq + 10, Duration::from_millis(20)) {
        Err(WaitError::TimedOut { seen }) => assert_eq!(seen, receipt.seq),
        other => panic!("{other:?}"),
    }
    handle.shutdown().unwrap();
    assert_eq!(
        reader.wait_for(receipt.seq + 10, Duration::from_secs(5)).unwrap_err(),
        WaitError::Stopped(Stopped::ShutDown),
        "a stopped vault ends the wait at once"
    );
    assert!(reader.wait_for(receipt.seq, Duration::ZERO).is_ok(), "what was published stays readable");
}

#[test]
fn a_signal_code_finds_its_book_and_slot_by_name() {
    let handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let snapshot = handle.snapshot();
    let label = |text: &str| -> Label { text.parse().unwrap() };
    assert_eq!(snapshot.slot_of(label("159201")), Some((CNY, 2)));
    assert_eq!(snapshot.slot_of(label("512890")), Some((CNY, 3)));
    assert_eq!(snapshot.slot_of(label("600000")), None);
    let book = snapshot.book_of(Venue::new("SSE").unwrap(), Currency::new("CNY").unwrap()).unwrap();
    assert_eq!(book.id(), CNY);
    assert!(snapshot.book_of(Venue::new("SSE").unwrap(), Currency::new("USD").unwrap()).is_none());
    drop(snapshot);
    handle.shutdown().unwrap();
}

#[test]
fn outcomes_read_as_sentences_and_errors_chain_to_their_cause() {
    let cancelled = Outcome::Cancelled { returned: units(500), held: amount("300.5") };
    assert_eq!(cancelled.to_string(), "cancelled: 500 back to the pool, 300.5 held until released");
    let filled = Outcome::Filled { state: OrderState::PartiallyFilled, remaining: units(7) };
    assert_eq!(filled.to_string(), "filled (partially_filled); 7 still frozen");
    let unrecoverable = Outcome::Set {
        drift: units(-10),
        health: Health::Unrecoverable { pool: units(-10), credit_limit: Amount::ZERO },
    };
    assert_eq!(unrecoverable.to_string(), "set (drift -10); unrecoverable (pool -10 + credit limit 0 < 0)");

    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let error = handle.fill(id(99), units(1)).unwrap_err();
    let cause = error.source().expect("a rejection is the cause");
    assert_eq!(cause.to_string(), Rejection::UnknownOrder { id: id(99) }.to_string());
    handle.shutdown().unwrap();

    let dir = std::env::temp_dir().join(format!("capvault-front-door-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-folder");
    std::fs::write(&path, b"x").unwrap();
    let error = Builder::new(seed_000(Limits::default())).data_dir(path.join("sub")).spawn().unwrap_err();
    assert!(error.source().is_some(), "{error}: the io error is its source");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every journalled command has a typed helper: the match below names each `CommandKind` with
/// no catch-all arm, so a new command without a helper (and an arm here) does not compile, and
/// each arm checks that its helper did what the command does.
#[test]
#[allow(clippy::too_many_lines, reason = "one arm per command kind: the point of the test")]
fn every_command_has_a_typed_helper() {
    use capvault::{BookSpec, ClientOrderId, CommandKind, CumulativeFill, SignalStatus, StrategyConfig};
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let mut next = 100;
    let mut reserve = |handle: &mut capvault::Handle, amount: Amount| {
        next += 1;
        let _ = handle.reserve(id(next), CNY, 2, Side::Buy, 1, amount).unwrap();
        id(next)
    };
    for kind in CommandKind::ALL {
        match kind {
            CommandKind::OpenBook => {
                let spec = BookSpec::new(Venue::new("KRAKEN").unwrap(), Currency::new("USDC").unwrap(), 4);
                let book = handle.open_book(spec).unwrap();
                assert!(handle.snapshot().book(book).is_some());
            }
            CommandKind::ConfigureStrategy => {
                let config =
                    StrategyConfig { label: Some(Label::new("maker").unwrap()), ..StrategyConfig::default() };
                handle.configure_strategy(CNY, 3, config).unwrap();
                assert!(handle.snapshot().slot_of(Label::new("maker").unwrap()).is_some());
            }
            CommandKind::SetCreditLimit => {
                assert_eq!(handle.set_credit_limit(Currency::new("USDT").unwrap(), units(5)).unwrap(), 0);
            }
            CommandKind::Reset => {
                assert_eq!(handle.reset(USDT, units(20), false).unwrap().health, Health::Sound);
            }
            CommandKind::Set => assert_eq!(handle.set(USDT, SLOT_TOTAL, units(30)).unwrap().drift, units(10)),
            CommandKind::Adjust => {
                assert_eq!(handle.adjust(USDT, SLOT_TOTAL, units(-5)).unwrap().drift, units(-5));
            }
            CommandKind::Allocate => assert_eq!(handle.allocate(USDT, 2, units(3)).unwrap().amount, units(3)),
            CommandKind::Release => assert_eq!(handle.release(USDT, 2, units(1)).unwrap().amount, units(2)),
            CommandKind::Trade => {
                let healths = handle.trade((CNY, units(-7)), (USDT, units(1))).unwrap();
                assert_eq!(healths, (Health::Sound, Health::Sound));
            }
            CommandKind::Reserve => {
                let order = reserve(&mut handle, units(10));
                assert_eq!(
                    handle.snapshot().order(order).map(capvault::Order::state),
                    Some(OrderState::Pending)
                );
            }
            CommandKind::Fill => {
                let order = reserve(&mut handle, units(10));
                assert_eq!(handle.fill(order, units(4)).unwrap().remaining, units(6));
            }
            CommandKind::Cancel => {
                let order = reserve(&mut handle, units(10));
                assert_eq!(handle.cancel(order).unwrap().returned, units(10));
            }
            CommandKind::ReleaseOrder => {
                let order = reserve(&mut handle, units(10));
                handle.fill(order, units(10)).unwrap();
                assert_eq!(handle.release_order(order).unwrap().amount, units(10));
            }
            CommandKind::RecordAlpha => {
                assert_eq!(handle.record_alpha(CNY, 2, units(2)).unwrap().amount, units(2));
            }
            CommandKind::MarkLoss => assert!(!handle.mark_loss(CNY, 2, units(1)).unwrap()),
            CommandKind::FillTo => {
                let order = reserve(&mut handle, units(10));
                match handle.fill_to(order, units(6)).unwrap() {
                    CumulativeFill::Applied(fill) => assert_eq!(fill.remaining, units(4)),
                    other @ CumulativeFill::AlreadyApplied { .. } => {
                        panic!("a first report applies, got {other:?}")
                    }
                }
                match handle.fill_to(order, units(6)).unwrap() {
                    CumulativeFill::AlreadyApplied { filled, .. } => assert_eq!(filled, units(6)),
                    other @ CumulativeFill::Applied(_) => {
                        panic!("a repeated report changes nothing, got {other:?}")
                    }
                }
            }
            CommandKind::Expire => {
                let order = reserve(&mut handle, units(10));
                assert_eq!(handle.expire(order).unwrap().returned, units(10));
                assert!(matches!(
                    handle.fill(order, units(1)),
                    Err(SubmitError::Rejected(Rejection::OrderExpired { .. }))
                ));
            }
            CommandKind::ClaimSignal => {
                let signal = ClientOrderId::from_text("sig-claim");
                let claimed = handle.claim_signal(signal).unwrap();
                assert_eq!((claimed.status, claimed.fresh), (SignalStatus::InFlight, true));
            }
            CommandKind::ConsumeSignal => {
                let signal = ClientOrderId::from_text("sig-consume");
                handle.claim_signal(signal).unwrap();
                let consumed = handle.consume_signal(signal, true).unwrap();
                assert_eq!((consumed.status, consumed.fresh), (SignalStatus::Placed, true));
                assert!(!handle.consume_signal(signal, true).unwrap().fresh, "a repeat changes nothing");
            }
        }
    }
    handle.shutdown().unwrap();
}
