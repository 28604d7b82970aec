//! After a restart nothing is silently different: the counters carry on from the recovered
//! sequence, and a configuration whose settings differ from the recovered state (a cap, a loss
//! limit, a label, a credit limit, a new or missing book, the limits) is never ignored. By
//! default the vault refuses to start, listing every difference; told to, it applies what
//! commands can apply, as journalled commands that survive the next restart, or keeps the
//! recovered settings and reports the differences.

mod common;

use std::fs;
use std::path::PathBuf;

use capvault::{
    BookConfig, Builder, Currency, Drift, DriftPolicy, Ledger, LedgerConfig, Limits, SpawnError,
    StrategySlotConfig, Venue,
};
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-settings-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Seed 000's account, with the caps and the credit limit given.
fn config(cap_159201: i64, usdt_credit: Option<i64>, with_bnb: bool) -> LedgerConfig {
    let strategy = |slot, label: &str, cap| StrategySlotConfig {
        slot,
        label: Some(label.parse().unwrap()),
        cap: Some(units(cap)),
        loss_limit: None,
    };
    let book = |venue: &str, currency: &str, slot_count, balance, strategies| BookConfig {
        venue: Venue::new(venue).unwrap(),
        currency: Currency::new(currency).unwrap(),
        slot_count,
        reserve_ratio: capvault::Ratio::from_ppm(150_000),
        penalty: capvault::PenaltyConfig::default(),
        decimals: 2,
        sells: capvault::SellRule::HoldNothing,
        balance: units(balance),
        strategies,
    };
    let mut books = vec![
        book(
            "SSE",
            "CNY",
            5,
            300_000,
            vec![strategy(2, "159201", cap_159201), strategy(3, "512890", 200_000)],
        ),
        book("KRAKEN", "USDT", 3, 0, vec![]),
    ];
    if with_bnb {
        books.push(book("BINANCE", "BNB", 4, 0, vec![strategy(2, "mm", 50)]));
    }
    let credit_limits = usdt_credit.map(|c| (Currency::new("USDT").unwrap(), units(c))).into_iter().collect();
    LedgerConfig { limits: Limits::default(), credit_limits, books }
}

fn ledger(config: &LedgerConfig) -> Ledger {
    Ledger::from_config(config).unwrap()
}

/// A folder that has seen 16 accepted commands under the original configuration.
fn history(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut handle = Builder::new(ledger(&config(200_000, None, false))).data_dir(&dir).spawn().unwrap();
    for n in 1..=16 {
        handle.submit(buy(id(n), 2, 1, units(10))).unwrap();
    }
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap(); // an idempotent repeat
    handle.shutdown().unwrap();
    dir
}

#[test]
fn stats_carry_on_from_the_recovered_sequence() {
    let dir = history("stats");
    let handle = Builder::new(ledger(&config(200_000, None, false))).data_dir(&dir).spawn().unwrap();
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.seq(), 16);
    assert_eq!(snapshot.stats().accepted, snapshot.seq(), "accepted equals the sequence after a restart");
    handle.shutdown().unwrap();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_different_configuration_refuses_to_start_by_default_listing_every_difference() {
    let dir = history("refuse");
    let changed = ledger(&config(150_000, Some(5_000), true));
    match Builder::new(changed).data_dir(&dir).spawn() {
        Err(SpawnError::ConfigDrift(drifts)) => {
            assert_eq!(drifts.len(), 3, "{drifts:?}");
            assert!(drifts.iter().any(|d| matches!(d, Drift::CreditLimit { .. })));
            assert!(drifts.iter().any(|d| matches!(d, Drift::BookMissing { .. })));
            assert!(drifts.iter().any(|d| matches!(d, Drift::Strategy { slot: 2, .. })));
            let message = SpawnError::ConfigDrift(drifts).to_string();
            assert!(message.contains("slot 2") && message.contains("150000"), "{message}");
        }
        other => panic!("spawn answered {other:?}"),
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn apply_makes_the_differences_journalled_commands() {
    let dir = history("apply");
    let changed = config(150_000, Some(5_000), true);
    let handle =
        Builder::new(ledger(&changed)).data_dir(&dir).on_config_drift(DriftPolicy::Apply).spawn().unwrap();
    assert_eq!(handle.recovery().unwrap().config_drift.len(), 3);
    let snapshot = handle.snapshot();
    let cny = snapshot.book(CNY).unwrap();
    assert_eq!(cny.strategy(2).unwrap().config().cap, Some(units(150_000)));
    assert_eq!(snapshot.book(USDT).unwrap().credit_limit(), units(5_000));
    let bnb = snapshot.books().iter().find(|b| b.currency().as_str() == "BNB").expect("the new book is open");
    assert_eq!(bnb.strategy(2).unwrap().config().cap, Some(units(50)));
    assert_eq!(cny.total(), units(300_000), "balances are history, not settings");
    assert!(snapshot.seq() > 16, "applied as commands, with sequences");
    handle.shutdown().unwrap();
    // Journalled: the next restart with the new configuration finds nothing to change.
    let again = Builder::new(ledger(&changed)).data_dir(&dir).spawn().expect("no drift left");
    assert!(again.recovery().unwrap().config_drift.is_empty());
    again.shutdown().unwrap();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn what_no_command_can_change_refuses_even_under_apply() {
    let dir = history("limits");
    let mut changed = config(200_000, None, false);
    changed.limits.orders_max = 999;
    let spawned = Builder::new(ledger(&changed)).data_dir(&dir).on_config_drift(DriftPolicy::Apply).spawn();
    assert!(matches!(spawned, Err(SpawnError::ConfigDrift(d)) if matches!(d[..], [Drift::Limits { .. }])));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn keep_recovered_keeps_them_and_reports_the_differences() {
    let dir = history("keep");
    let handle = Builder::new(ledger(&config(150_000, None, false)))
        .data_dir(&dir)
        .on_config_drift(DriftPolicy::KeepRecovered)
        .spawn()
        .unwrap();
    let drift = handle.recovery().unwrap().config_drift;
    assert!(matches!(drift[..], [Drift::Strategy { slot: 2, .. }]), "{drift:?}");
    assert_eq!(handle.snapshot().book(CNY).unwrap().strategy(2).unwrap().config().cap, Some(units(200_000)));
    handle.shutdown().unwrap();
    let _ = fs::remove_dir_all(&dir);
}
