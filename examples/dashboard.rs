//! Draws one frame of `capvault watch`'s dashboard for seed 000's two grid strategies into an
//! SVG picture (README's), from a vault running in this process: the frame `capvault watch`
//! shows another process through the shared-memory mirror.
//!
//! ```text
//! cargo run --example dashboard -- docs/img/watch.svg
//! ```

use std::time::Duration;

use capvault::tools::dashboard::{self, View};
use capvault::{BookId, Builder, Command, LedgerConfig, ShmReader, Side};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "watch.svg".into());
    let config = LedgerConfig::from_json(
        r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
            "strategies": [ { "slot": 2, "label": "159201", "cap": 200000, "loss_limit": 3000 },
                            { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#,
    )?;
    let shm = std::env::temp_dir().join(format!("capvault-dashboard-{}", std::process::id()));
    let mut handle =
        Builder::from_config(&config)?.mirror_shm(&shm).mirror_interval(Duration::from_millis(20)).spawn()?;
    let book = BookId::new(0);
    let mut n = 1_790_000_000_000_000_000_u64;
    let mut reserve = |handle: &mut capvault::Handle, slot, side, layer, amount: &str| {
        n += 1;
        let id = n.to_string().parse()?;
        handle.submit(Command::Reserve { id, book, slot, side, layer, amount: amount.parse()? })?;
        Ok::<_, Box<dyn std::error::Error>>(id)
    };
    let first = reserve(&mut handle, 2, Side::Buy, 0, "120000")?;
    handle.submit(Command::Fill { id: first, amount: "120000".parse()? })?;
    reserve(&mut handle, 2, Side::Buy, 1, "30000")?;
    let second = reserve(&mut handle, 3, Side::Buy, 0, "95000")?;
    handle.submit(Command::Fill { id: second, amount: "60000".parse()? })?;
    handle.submit(Command::RecordAlpha { book, slot: 2, amount: "3500.5".parse()? })?;
    handle.submit(Command::RecordAlpha { book, slot: 3, amount: "2100".parse()? })?;
    handle.submit(Command::MarkLoss { book, slot: 2, loss: "3200".parse()? })?;
    for _ in 0..2_000 {
        handle.submit(Command::Allocate { book, slot: 3, amount: "1".parse()? })?;
        handle.submit(Command::Release { book, slot: 3, amount: "1".parse()? })?;
    }
    // Two heartbeats: the mirror's latency summary is refreshed at each.
    std::thread::sleep(Duration::from_millis(50));
    let reader = ShmReader::open(&shm)?;
    let snapshot = reader.read()?;
    let writer = reader.writer();
    let latency = reader.latency()?;
    let view =
        View { source: shm.display().to_string(), snapshot: &snapshot, writer: &writer, latency: &latency };
    let mut terminal = Terminal::new(TestBackend::new(118, 21))?;
    terminal.draw(|frame| dashboard::draw(frame, &view))?;
    std::fs::write(&out, dashboard::svg_of(terminal.backend().buffer()))?;
    println!("{}", dashboard::text_of(terminal.backend().buffer()));
    handle.shutdown()?;
    drop(reader);
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_file(format!("{}.lock", shm.display()));
    println!("drew {out}");
    Ok(())
}
