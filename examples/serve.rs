//! One process of a two-process example: the vault, served to other processes as
//! `capvault-demo`. Run `cargo run --release --example client` beside it (or
//! `capvault clients capvault-demo`, `capvault submit capvault-demo '{"op":...}'`).
//!
//! `cargo run --release --example serve -- [SECONDS]` serves for SECONDS (default 60).

use std::time::Duration;

use capvault::{BookId, Builder, Grant, LedgerConfig, ServeConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(60), |s| s.parse())?;
    let config = LedgerConfig::from_json(
        r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
             "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
                             { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#,
    )?;
    // Each grid strategy may reserve, fill, cancel and release on its own slot only; the
    // operator's tool may do everything.
    let serve = ServeConfig::new("capvault-demo")
        .client("grid-159201", Grant::strategy(BookId::new(0), 2))
        .client("grid-512890", Grant::strategy(BookId::new(0), 3))
        .client("ops", Grant::all());
    // SIGTERM or Ctrl-C shut the vault down cleanly (its mirror reads `closed`), then end the
    // process as the signal would.
    let handle = Builder::from_config(&config)?.serve(serve).stop_on_signals(true).spawn()?;
    println!("serving capvault-demo for {seconds} s: cargo run --release --example client");
    println!("look at it: capvault list · capvault inspect capvault-demo · capvault clients capvault-demo");
    println!("  (from this checkout: cargo run --release --bin capvault -- inspect capvault-demo)");
    std::thread::sleep(Duration::from_secs(seconds));
    let last = handle.shutdown()?;
    println!("served; last seq {}, pool {}", last.seq(), last.books()[0].pool());
    Ok(())
}
