//! temp
use capvault::{Amount, BookId, Builder, ClientOrderId, Command, Ledger, LedgerConfig, Side, WaitStrategy};
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).unwrap().parse()?;
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "orders_max": 1024, "resolved_max": 1024 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                          "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
                                          { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#,
    )?;
    let b = Builder::new(Ledger::from_config(&config)?)
        .wait(WaitStrategy::Blocking)
        .capacity(4096)
        .batch_max(1024)
        .outcomes_max(16);
    let b = b.record_latency(std::env::var("REC").is_ok()).wait(if std::env::var("SPIN").is_ok() {
        WaitStrategy::BusySpin
    } else {
        WaitStrategy::Blocking
    });
    let mut h = b.spawn()?;
    let start = std::time::Instant::now();
    for i in 1..=n {
        let _ = h.submit_detached(Command::Reserve {
            id: ClientOrderId::snowflake(i)?,
            book: BookId::new(0),
            slot: 2,
            side: Side::Buy,
            layer: 1,
            amount: Amount::from_units(100).unwrap(),
        });
        let _ = h.submit_detached(Command::Cancel { id: ClientOrderId::snowflake(i)? });
    }
    let reader = h.reader();
    while reader.snapshot().stats().accepted < 2 * n {
        std::hint::spin_loop();
    }
    println!("{:.2} M/s", 2.0 * n as f64 / start.elapsed().as_secs_f64() / 1e6);
    h.shutdown()?;
    Ok(())
}
