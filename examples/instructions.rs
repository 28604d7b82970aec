//! The command mix the instruction-count guard runs (`benches/instructions.py`): seed 000's
//! book with both mirrors on, `resting` live orders placed first, then
//! `cycles` rounds of reserve, fill, cancel, `release_order` and allocate from one synchronous
//! caller. The owner and the caller block while they wait (no spinning), so the instructions
//! each thread executes depend on the commands alone, not on timing; the script runs it under
//! callgrind at two cycle counts and divides the difference by the commands between them.
//! Latency recording is off here: its collector folds histograms on a clock, which under
//! callgrind (about 50 times slower) dominates the run; its cost on the owner is measured by
//! the wall-clock report (`recording_on_p50_ns` against `recording_off_p50_ns`).
//!
//! Run: `python3 benches/instructions.py` (builds this example and runs it under callgrind).

use std::time::Duration;

use capvault::{BookId, Builder, ClientOrderId, Command, Ledger, LedgerConfig, Side, WaitStrategy};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CONFIG: &str = r#"{ "limits": { "orders_max": 65536, "resolved_max": 1024 },
    "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 1000000000,
    "strategies": [ { "slot": 2, "label": "159201" }, { "slot": 3, "label": "512890" } ] } ] }"#;
const BOOK: BookId = BookId::new(0);
fn id(n: u64) -> Result<ClientOrderId> {
    Ok(ClientOrderId::snowflake(n)?)
}

fn main() -> Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let [resting, cycles, ..] = args[..] else {
        return Err("usage: instructions <resting> <cycles>".into());
    };
    let dir = std::env::temp_dir().join(format!("capvault-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let shm = dir.join("mirror.shm");
    let mut handle = Builder::new(Ledger::from_config(&LedgerConfig::from_json(CONFIG)?)?)
        .wait(WaitStrategy::Blocking)
        .reply_wait(WaitStrategy::Blocking)
        .record_latency(false)
        .mirror_shm(&shm)
        .mirror_json(dir.join("shared_pool.json"))
        .mirror_interval(Duration::from_millis(100))
        .spawn()?;
    let one = "1".parse()?;
    for n in 0..resting {
        let reserve = Command::Reserve {
            id: id(1 << 40 | n)?,
            book: BOOK,
            slot: 3,
            side: Side::Buy,
            layer: 1,
            amount: one,
        };
        handle.submit(reserve)?;
    }
    let (amount, part) = ("100".parse()?, "40".parse()?);
    for n in 0..cycles {
        let order = id(n + 1)?;
        handle.submit(Command::Reserve {
            id: order,
            book: BOOK,
            slot: 2,
            side: Side::Buy,
            layer: 1,
            amount,
        })?;
        handle.submit(Command::Fill { id: order, amount: part })?;
        handle.submit(Command::Cancel { id: order })?;
        handle.submit(Command::ReleaseOrder { id: order })?;
        handle.submit(Command::Allocate { book: BOOK, slot: 3, amount: one })?;
    }
    let last = handle.shutdown()?;
    assert_eq!(last.orders().count() as u64, resting);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
