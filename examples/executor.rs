//! A seed 000 executor in a few lines: the library's bridge consumes `order_signal.json` (one
//! object or a list, as strategy nodes write it) through idempotency, validation, the funds
//! precheck, the vault and the broker (here the simulated one), writes the order results, and
//! turns broker reports into fills, returned remainders and a sell's releases.
//!
//! Run: `cargo run --example executor`

use std::error::Error;

use capvault::bridge::{Bridge, BridgeConfig, Inbox, Mismatch, SimBroker};
use capvault::{Amount, Builder, LedgerConfig, SLOT_POOL};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 }, { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#;

/// Signals as seed 000's strategy nodes write them (section 6.3): a repeat, an unknown code,
/// a buy above the nominal cap, and a sell that closes the first buy.
const SIGNALS: &str = r#"[
  { "signal_id": "sig-20260216-0001", "code": "159201.SZ", "direction": "BUY", "price": 1.153, "shares": 8600 },
  { "signal_id": "sig-20260216-0002", "code": "512890.SH", "direction": "BUY", "price": 0.987, "shares": 20000 },
  { "signal_id": "sig-20260216-0002", "code": "512890.SH", "direction": "BUY", "price": 0.987, "shares": 20000 },
  { "signal_id": "sig-20260216-0003", "code": "600000.SH", "direction": "BUY", "price": 10.0, "shares": 100 },
  { "signal_id": "sig-20260216-0004", "code": "512890.SH", "direction": "BUY", "price": 0.990, "shares": 210000, "layer_index": 1 },
  { "signal_id": "sig-20260216-0005", "code": "159201.SZ", "direction": "SELL", "price": 1.171, "shares": 8600,
    "release_client_order_ids": ["sig-20260216-0001"] }
]"#;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("capvault-executor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?.spawn()?;
    let mut broker = SimBroker::new(1, Amount::from_units(300_000).ok_or("cash")?).with_behaviour(0, 0, 0);
    broker.set_price("159201.SZ", "1.153".parse()?);
    broker.set_price("512890.SH", "0.987".parse()?);
    let config = BridgeConfig { results: dir.join("order_result.jsonl"), expiry_ms: None, sync: true };
    let mut bridge = Bridge::new(handle, broker, config, 0)?;
    let mut inbox = Inbox::new(dir.join("order_signal.json"), 3);

    // The first five signals, then the fills, then the sell (it needs the shares bought).
    let signals: Vec<serde_json::Value> = serde_json::from_str(SIGNALS)?;
    let (buys, sell) = signals.split_at(5);
    for batch in [buys, sell] {
        std::fs::write(inbox.path(), serde_json::to_vec(batch)?)?;
        for result in bridge.poll(&mut inbox, 0)? {
            let why = result.reason.as_deref().unwrap_or("");
            println!("{}: {:?} at {:?} {why}", result.signal_id, result.status, result.step);
        }
        bridge.broker().advance(1);
        for event in bridge.pump()? {
            println!("  {}", bridge.describe(&event));
        }
        bridge.broker().set_price("159201.SZ", "1.171".parse()?);
    }
    let r = bridge.reconcile(capvault::BookId::new(0), Mismatch::Hold)?;
    println!(
        "reconciled: capital {} = cash {} + held {}; drift {} (the sell's profit)",
        r.capital, r.cash, r.held, r.drift
    );
    println!("pool {}", bridge.snapshot().balance(capvault::BookId::new(0), SLOT_POOL).ok_or("no book")?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
