// The executor of examples/executor.rs written against the API of commit 9c2ba3c (before
// issue 9's front door), kept to measure what the front door saved. It compiles there, not here:
//   git worktree add /tmp/before 9c2ba3c && cp docs/front-door/executor_before.rs /tmp/before/examples/
//   cd /tmp/before && cargo run --example executor_before

//! A small seed 000-style executor: signals in, a reservation per buy, simulated fills, and a
//! sell that releases exactly what the buys it names hold.
//!
//! Run: `cargo run --example executor`

use std::error::Error;

use capvault::{Amount, BookId, Builder, ClientOrderId, Command, Handle, Label, LedgerConfig, Outcome, Side};
use serde::Deserialize;
use serde_json::json;

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 }, { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#;

/// Signals as seed 000's strategy nodes write them (section 6.3).
const SIGNALS: &str = r#"[
  { "signal_id": 1001, "code": "159201", "direction": "BUY", "price": 1.153, "shares": 8600 },
  { "signal_id": 1002, "code": "512890", "direction": "BUY", "price": 0.987, "shares": 20000 },
  { "signal_id": 1002, "code": "512890", "direction": "BUY", "price": 0.987, "shares": 20000 },
  { "signal_id": 1003, "code": "159201", "direction": "BUY", "price": 1.141, "shares": 90000, "layer_index": 1 },
  { "signal_id": 1004, "code": "600000", "direction": "BUY", "price": 10.0, "shares": 100 },
  { "signal_id": 1005, "code": "512890", "direction": "BUY", "price": 0.990, "shares": 300000 },
  { "signal_id": 1006, "code": "159201", "direction": "SELL", "price": 1.171, "shares": 8600,
    "release_client_order_ids": [1001] }
]"#;

#[derive(Deserialize)]
struct Signal {
    signal_id: u64,
    code: String,
    direction: Side,
    price: f64,
    shares: u32,
    #[serde(default)]
    layer_index: u32,
    #[serde(default)]
    release_client_order_ids: Vec<u64>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut vault = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?.spawn()?;
    for signal in serde_json::from_str::<Vec<Signal>>(SIGNALS)? {
        if let Err(error) = execute(&mut vault, &signal) {
            println!("{}: refused: {error}", signal.signal_id);
        }
    }
    let snapshot = vault.shutdown()?;
    println!("{}", serde_json::to_string_pretty(&book_json(&snapshot.books()[0]))?);
    Ok(())
}

/// The signal's code to a book and strategy slot: the first book whose strategy carries it.
fn find_slot(vault: &Handle, code: &str) -> Result<Option<(BookId, u8)>, Box<dyn Error>> {
    let label: Label = code.parse()?;
    let snapshot = vault.snapshot();
    for book in snapshot.books() {
        if let Some(slot) = book.slot_of(label) {
            return Ok(Some((book.id(), slot)));
        }
    }
    Ok(None)
}

/// price x shares to cents: `Amount::from_f64` refuses 1.153 * 8600 = 9915.800000000001, so
/// round through the text. (Rounds half away from zero on the printed digits.)
fn to_amount(price: f64, shares: u32) -> Result<Amount, Box<dyn Error>> {
    let value = price * f64::from(shares);
    if !value.is_finite() {
        return Err("amount is not finite".into());
    }
    Ok(format!("{value:.2}").parse::<Amount>()?)
}

/// Idempotency, validation, vault approval, order, fills: seed 000 section 3.4's pipeline.
fn execute(vault: &mut Handle, signal: &Signal) -> Result<(), Box<dyn Error>> {
    let id = ClientOrderId::snowflake(signal.signal_id)?;
    let (book, slot) = find_slot(vault, &signal.code)?.ok_or("unknown code")?;
    let amount = to_amount(signal.price, signal.shares)?;
    if signal.direction == Side::Sell {
        for &buy in &signal.release_client_order_ids {
            let receipt = vault.submit(Command::ReleaseOrder { id: ClientOrderId::snowflake(buy)? })?;
            match receipt.outcome {
                Outcome::OrderReleased { returned } => {
                    println!("{}: sold; buy {buy} released {returned}", signal.signal_id)
                }
                other => return Err(format!("unexpected outcome {other:?}").into()),
            }
        }
        return Ok(());
    }
    let reserve = Command::Reserve { id, book, slot, side: Side::Buy, layer: signal.layer_index, amount };
    match vault.submit(reserve)?.outcome {
        Outcome::Reserved { .. } => {}
        Outcome::AlreadyReserved { state } => {
            println!("{id}: already reserved ({state:?}); not sent again");
            return Ok(());
        }
        other => return Err(format!("unexpected outcome {other:?}").into()),
    }
    // The simulated broker fills the order in two parts.
    let half = Amount::from_raw(amount.raw() / 2).ok_or("range")?;
    match vault.submit(Command::Fill { id, amount: half })?.outcome {
        Outcome::Filled { .. } => {}
        other => return Err(format!("unexpected outcome {other:?}").into()),
    }
    let rest = amount.checked_sub(half).ok_or("range")?;
    match vault.submit(Command::Fill { id, amount: rest })?.outcome {
        Outcome::Filled { state, .. } => println!("{id}: bought {amount} ({state:?})"),
        other => return Err(format!("unexpected outcome {other:?}").into()),
    }
    Ok(())
}

/// The book as JSON, field by field (no Serialize on `Book`).
fn book_json(book: &capvault::Book) -> serde_json::Value {
    let view = book.view();
    let strategies: Vec<serde_json::Value> = book
        .strategies()
        .map(|(slot, s)| {
            json!({
                "slot": slot,
                "label": s.config().label.map(|l| l.to_string()),
                "frozen": s.frozen(),
                "used": s.used(),
                "direct": s.direct(),
                "committed": s.committed(),
                "cap": s.config().cap,
                "loss_limit": s.config().loss_limit,
                "acc_alpha": s.acc_alpha(),
                "float_loss": s.float_loss(),
                "forced_reduce": s.is_forced_reduce(),
                "orders_live": s.orders_live(),
            })
        })
        .collect();
    json!({
        "id": book.id().index(),
        "venue": book.venue().as_str(),
        "currency": book.currency().as_str(),
        "slot_count": book.slot_count(),
        "total": book.total(),
        "pool": book.pool(),
        "committed": view.committed(),
        "utilisation": view.utilisation(),
        "credit_limit": book.credit_limit(),
        "reserve_ratio": book.spec().reserve_ratio,
        "penalty": {
            "active": book.penalty().is_active(),
            "enter": book.penalty().config().enter,
            "leave": book.penalty().config().leave,
            "multiplier": book.penalty().config().multiplier,
        },
        "health": if book.health() == capvault::Health::Sound { json!({"state": "sound"}) } else { json!({"state": "unrecoverable"}) },
        "strategies": strategies,
    })
}
