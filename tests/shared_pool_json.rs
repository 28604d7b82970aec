//! `shared_pool.json` tells the truth about what each order holds: an allocation entry is what
//! the order holds now (and its frozen part), so a strategy's entries plus its direct allocation
//! add up to its committed amount exactly, after fills, partial fills and cancels; the books'
//! real totals, pools, utilisation and penalty are there (no dashboard needs to hard-code
//! 300,000); every seed key is unchanged; and every strategy appears exactly once, whatever the
//! labels (a label cannot take another slot's default name).

mod common;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use capvault::{shared_pool_json, Amount, Builder, Command, Label, Limits, Rejection, StrategyConfig};
use common::*;
use serde_json::Value;

fn money(value: &Value) -> Amount {
    Amount::from_f64(value.as_f64().unwrap()).unwrap()
}

#[test]
fn allocations_are_what_orders_hold_and_add_up_to_committed() {
    let mut handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    handle.submit(buy(id(1), 2, 1, units(50_000))).unwrap();
    handle.submit(Command::Fill { id: id(1), amount: units(35_000) }).unwrap();
    handle.submit(Command::Cancel { id: id(1) }).unwrap();
    handle.submit(buy(id(2), 2, 1, units(20_000))).unwrap();
    handle.submit(Command::Fill { id: id(2), amount: units(5_000) }).unwrap();
    handle.submit(buy(id(3), 3, 1, units(10_000))).unwrap();
    handle.submit(Command::Allocate { book: CNY, slot: 3, amount: units(7_000) }).unwrap();
    handle.submit(Command::Set { book: CNY, slot: 0, amount: units(310_000) }).unwrap();
    let snapshot = handle.shutdown().unwrap();
    let json = shared_pool_json(&snapshot, UNIX_EPOCH);
    let object = json.as_object().unwrap();

    let entry = |label: &str, n: u64| {
        object[&format!("allocations_{label}")]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["client_order_id"].as_str() == Some(n.to_string().as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("order {n} missing from allocations_{label}"))
    };
    // Reserved 50,000, filled 35,000, cancelled: it holds 35,000, none of it frozen.
    assert_eq!(money(&entry("159201", 1)["amount"]), units(35_000));
    assert_eq!(money(&entry("159201", 1)["frozen"]), Amount::ZERO);
    assert_eq!(money(&entry("159201", 2)["amount"]), units(20_000));
    assert_eq!(money(&entry("159201", 2)["frozen"]), units(15_000));
    for (slot, label) in [(2, "159201"), (3, "512890")] {
        let strategy = snapshot.book(CNY).unwrap().strategy(slot).unwrap();
        let held: Amount = object[&format!("allocations_{label}")]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| money(&e["amount"]))
            .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap());
        let direct = money(&object[&format!("direct_{label}")]);
        assert_eq!(held.checked_add(direct).unwrap(), strategy.committed(), "{label}");
        assert_eq!(money(&object[&format!("used_{label}")]), strategy.used());
        assert_eq!(money(&object[&format!("frozen_{label}")]), strategy.frozen());
    }
    // The real figures, after the reconcile to 310,000.
    let book = snapshot.book(CNY).unwrap();
    assert_eq!(money(&object["total_SSE/CNY"]), units(310_000));
    assert_eq!(money(&object["pool_SSE/CNY"]), book.pool());
    assert_eq!(object["utilisation_SSE/CNY"].as_f64(), book.view().utilisation());
    assert_eq!(object["penalty_SSE/CNY"], Value::Bool(book.penalty().is_active()));
    assert!(object.contains_key("total_KRAKEN/USDT"));
    assert!(!object.contains_key("total"), "plain keys only with a single book");
    for key in ["acc_alpha_159201", "acc_alpha_512890", "updated_at"] {
        assert!(object.contains_key(key), "seed key {key}");
    }
}

#[test]
fn a_single_book_also_has_the_plain_keys() {
    let one = capvault::LedgerConfig::from_json(
        r#"{"books": [{"venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
            "strategies": [{"slot": 2, "label": "159201"}, {"slot": 3, "label": "512890"}]}]}"#,
    )
    .unwrap();
    let ledger = capvault::Ledger::from_config(&one).unwrap();
    let snapshot = Builder::new(ledger).spawn().unwrap().shutdown().unwrap();
    let json = shared_pool_json(&snapshot, SystemTime::now());
    assert_eq!(money(&json["total"]), units(300_000));
    assert_eq!(money(&json["pool"]), units(300_000));
    assert_eq!(json["utilisation"].as_f64(), Some(0.0));
    assert_eq!(json["penalty"], Value::Bool(false));
}

#[test]
fn every_strategy_appears_once_whatever_the_labels() {
    let mut ledger = seed_000(Limits::default());
    let label = |text: &str| Some(text.parse::<Label>().unwrap());
    let configure = |slot, text: &str| Command::ConfigureStrategy {
        book: CNY,
        slot,
        config: StrategyConfig { label: label(text), ..StrategyConfig::default() },
    };
    // slot 3 may not go by slot 4's name (slot 4 is unlabelled and writes `slot4`), nor by a name
    // another strategy has; its own default name is harmless.
    assert_eq!(
        rejected(&mut ledger, configure(3, "slot4")),
        Rejection::LabelTaken { label: "slot4".parse().unwrap(), slot: 4 }
    );
    assert!(matches!(rejected(&mut ledger, configure(3, "159201")), Rejection::LabelTaken { slot: 2, .. }));
    ok(&mut ledger, configure(3, "slot3"));
    ok(&mut ledger, configure(3, "slot04"));
    // The same label in both books is disambiguated by book.
    ok(
        &mut ledger,
        Command::ConfigureStrategy {
            book: USDT,
            slot: 2,
            config: StrategyConfig { label: label("159201"), ..StrategyConfig::default() },
        },
    );
    let snapshot = Builder::new(ledger).spawn().unwrap().shutdown().unwrap();
    let json = shared_pool_json(&snapshot, SystemTime::now());
    let keys: BTreeSet<&String> =
        json.as_object().unwrap().keys().filter(|k| k.starts_with("used_")).collect();
    let strategies: usize = snapshot.books().iter().map(|b| b.strategies().len()).sum();
    assert_eq!(keys.len(), strategies, "{keys:?}");
    assert!(
        keys.contains(&"used_159201@SSE/CNY".to_owned())
            && keys.contains(&"used_159201@KRAKEN/USDT".to_owned())
    );
}
