//! A small seed 000-style executor: signals in, a reservation per buy, simulated fills, and a
//! sell that releases exactly what the buys it names hold.
//!
//! Run: `cargo run --example executor`

use std::error::Error;

use capvault::{Amount, Builder, ClientOrderId, Handle, Label, LedgerConfig, Side};
use serde::Deserialize;

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
#[allow(clippy::struct_field_names, reason = "the seed's own field names")]
struct Signal {
    signal_id: u64,
    code: Label,
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
    println!("{}", serde_json::to_string_pretty(&snapshot.books()[0])?);
    Ok(())
}

/// Idempotency, validation, vault approval, order, fills: seed 000 section 3.4's pipeline.
fn execute(vault: &mut Handle, signal: &Signal) -> Result<(), Box<dyn Error>> {
    let id = ClientOrderId::snowflake(signal.signal_id)?;
    let snapshot = vault.snapshot();
    let (book, slot) = snapshot.slot_of(signal.code).ok_or("unknown code")?;
    // price x shares, rounded half to even to the book's minor unit (CNY: 0.01).
    let amount =
        snapshot.book(book).ok_or("no book")?.amount_from_f64(signal.price * f64::from(signal.shares))?;
    drop(snapshot);
    if signal.direction == Side::Sell {
        for &buy in &signal.release_client_order_ids {
            let released = vault.release_order(ClientOrderId::snowflake(buy)?)?;
            println!("{}: sold; buy {buy} released {}", signal.signal_id, released.amount);
        }
        return Ok(());
    }
    if let Some(state) = vault.reserve(id, book, slot, Side::Buy, signal.layer_index, amount)?.repeated {
        println!("{id}: already reserved ({state}); not sent again");
        return Ok(());
    }
    // The simulated broker fills the order in two parts.
    let half = Amount::from_raw(amount.raw() / 2).ok_or("range")?;
    vault.fill(id, half)?;
    let fill = vault.fill(id, (amount - half).ok_or("range")?)?;
    println!("{id}: bought {amount} ({})", fill.state);
    Ok(())
}
