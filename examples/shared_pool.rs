//! The seed 000 scenario, scripted: one 300,000 CNY account shared by the ETF grid strategies
//! 159201 and 512890 (nominal caps 200,000 each), through reservations, partial fills, cancels,
//! releases, a first layer refused by the 15% rule, the step penalty switching on above 90% and
//! off below 85%, a forced-reduce, an idempotent retry and a reconciliation with drift.
//!
//! It runs the ledger inside the vault (the owner thread) with both mirrors on, and prints where
//! they are so that `capvault inspect` and `examples/read_shm.py` can look at them.
//!
//! Run: `cargo run --release --example shared_pool`

use std::error::Error;
use std::time::Duration;

use capvault::{
    shm_path, Amount, BookId, Builder, ClientOrderId, Command, LedgerConfig, Reader, Receipt, Side, Snapshot,
    SubmitError, SLOT_POOL, SLOT_TOTAL,
};

/// Seed 000's account: 300,000 CNY, 159201 and 512890 capped at 200,000 each with a 15,000
/// loss limit, the 15% reserve and the 90%/85% penalty.
const CONFIG: &str = include_str!("seed_000.json");

const BOOK: BookId = BookId::new(0);
const S159201: u8 = 2;
const S512890: u8 = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let shm = shm_path("capvault-example");
    let json_dir = std::env::temp_dir().join("capvault-example");
    std::fs::create_dir_all(&json_dir)?;
    let json = json_dir.join("shared_pool.json");
    let log = json_dir.join("latency.hlog");
    let mut vault = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?
        .mirror_shm(&shm)
        .mirror_json(&json)
        .mirror_interval(Duration::from_millis(20))
        .latency_log(&log, Duration::from_millis(100))
        .spawn()?;
    let reader = vault.reader();
    show(&reader.snapshot_arc(), "start: 300,000 CNY in the pool, two strategies capped at 200,000", None);
    let steps = steps()?;
    for (what, command) in steps {
        let result = vault.submit(command);
        show(&settled(&reader, &result), what, Some(result));
    }

    let last = vault.shutdown()?;
    report(&last, &shm, &json)?;
    println!("  latency log       {} (capvault latency {})", log.display(), log.display());
    Ok(())
}

/// The snapshot that shows a submitted command: answers come before publication.
fn settled(reader: &Reader, result: &Result<Receipt, SubmitError>) -> std::sync::Arc<Snapshot> {
    let seq = result.as_ref().map_or(0, |receipt| receipt.seq);
    // A rejection or a stopped vault has nothing to wait for: the latest snapshot is it.
    match reader.wait_for(seq, Duration::from_secs(5)) {
        Ok(_) | Err(_) => reader.snapshot_arc(),
    }
}

/// Prints one step: what happened, then the book as a table.
fn show(snapshot: &Snapshot, what: &str, result: Option<Result<Receipt, SubmitError>>) {
    let Some(book) = snapshot.book(BOOK) else { return };
    let view = book.view();
    let answer = match result {
        None => String::new(),
        Some(Ok(receipt)) => format!("  -> ok (seq {}): {}", receipt.seq, receipt.outcome),
        Some(Err(SubmitError::Rejected(rejection))) => {
            format!("  -> REFUSED {}: {rejection}", rejection.code())
        }
        Some(Err(error)) => format!("  -> {error}"),
    };
    println!("== {what}\n{answer}");
    let room = (view.first_layer_limit().raw() - view.committed().raw()).max(0);
    println!(
        "   total {:>12}  pool {:>12}  committed {:>12} ({:>5.1}%)  first-layer room {:>11}  penalty {}",
        money(book.total()),
        money(book.balance(SLOT_POOL).unwrap_or(Amount::ZERO)),
        money(view.committed()),
        view.utilisation().unwrap_or(0.0) * 100.0,
        money(Amount::from_raw(room).unwrap_or(Amount::ZERO)),
        if book.penalty().is_active() { "ON  (buy steps x1.5)" } else { "off" },
    );
    println!(
        "   {:<6} {:>12} {:>12} {:>12} {:>12} {:>10}  state",
        "label", "frozen", "used", "committed", "cap", "alpha"
    );
    for (slot, s) in book.strategies() {
        let label = s.config().label.map_or_else(|| format!("#{slot}"), |l| l.to_string());
        let cap = s.config().cap.map_or_else(|| "-".into(), money);
        let orders: Vec<String> = snapshot
            .orders()
            .filter(|o| o.slot() == slot)
            .map(|o| format!("…{}:{}", tail(&o.id().to_string()), o.state()))
            .collect();
        println!(
            "   {:<6} {:>12} {:>12} {:>12} {:>12} {:>10}  {}{}",
            label,
            money(s.frozen()),
            money(s.used()),
            money(s.committed()),
            cap,
            money(s.acc_alpha()),
            if s.is_forced_reduce() { "FORCED-REDUCE " } else { "" },
            orders.join(" "),
        );
    }
}

/// `1234567.5` as `1,234,567.50`.
fn money(amount: Amount) -> String {
    amount.grouped(2).to_string()
}

/// The last four characters of an id, enough to tell the script's orders apart.
fn tail(id: &str) -> &str {
    &id[id.len().saturating_sub(4)..]
}

/// The scripted commands, each with what it does.
fn steps() -> Result<Vec<(&'static str, Command)>, Box<dyn Error>> {
    let cny = |text: &str| text.parse::<Amount>();
    // Executors send uuid4().hex or snowflake ids; both are fixed-size keys here.
    let a1: ClientOrderId = "3f2b8c1d9e4a4b7c8d6e5f4a3b2c1d0e".parse()?;
    let b1: ClientOrderId = "1790000000000000001".parse()?;
    let b2: ClientOrderId = "1790000000000000002".parse()?;
    let a2: ClientOrderId = "7c1e2d3f4a5b4c6d8e7f9a0b1c2d3e4f".parse()?;
    let a3: ClientOrderId = "0d9c8b7a6f5e4d3c8b2a1f0e9d8c7b6a".parse()?;
    let b3: ClientOrderId = "1790000000000000003".parse()?;

    let reserve =
        |id, slot, layer, amount| Command::Reserve { id, book: BOOK, slot, side: Side::Buy, layer, amount };

    Ok(vec![
        ("159201 sends a first-layer buy: reserve 120,000", reserve(a1, S159201, 0, cny("120000")?)),
        ("  partial fill of 50,000", Command::Fill { id: a1, amount: cny("50000")? }),
        ("  the rest fills: 70,000", Command::Fill { id: a1, amount: cny("70000")? }),
        ("512890 sends a first-layer buy: reserve 80,000", reserve(b1, S512890, 0, cny("80000")?)),
        ("  filled", Command::Fill { id: b1, amount: cny("80000")? }),
        ("512890 adds layer 1: reserve 22,000 (working)", reserve(b2, S512890, 1, cny("22000")?)),
        (
            "159201 asks a new first layer of 40,000: 222,000 + 40,000 > 255,000",
            reserve(a2, S159201, 0, cny("40000")?),
        ),
        ("the executor retries 512890's layer 1 with the same id", reserve(b2, S512890, 1, cny("22000")?)),
        (
            "159201 adds layer 1: reserve 50,000 -> 272,000 committed (90.7%)",
            reserve(a3, S159201, 1, cny("50000")?),
        ),
        ("  35,000 of it fills", Command::Fill { id: a3, amount: cny("35000")? }),
        ("  the rest is cancelled: 257,000 (85.7%), inside the band", Command::Cancel { id: a3 }),
        ("512890's layer 1 fills 10,000", Command::Fill { id: b2, amount: cny("10000")? }),
        ("  the rest is cancelled: 245,000 (81.7%), below 85%", Command::Cancel { id: b2 }),
        ("159201 closes its first position: release exactly 120,000", Command::ReleaseOrder { id: a1 }),
        (
            "159201 books realized alpha of 3,500.50",
            Command::RecordAlpha { book: BOOK, slot: S159201, amount: cny("3500.5")? },
        ),
        (
            "512890 books realized alpha of 2,100",
            Command::RecordAlpha { book: BOOK, slot: S512890, amount: cny("2100")? },
        ),
        (
            "512890's floating loss reaches 16,000 (limit 15,000)",
            Command::MarkLoss { book: BOOK, slot: S512890, loss: cny("16000")? },
        ),
        ("  512890 tries to buy another layer", reserve(b3, S512890, 2, cny("5000")?)),
        ("  512890 closes its first position anyway", Command::ReleaseOrder { id: b1 }),
        (
            "the exchange reports 299,870.25 CNY (fees): reconcile slot 0",
            Command::Set { book: BOOK, slot: SLOT_TOTAL, amount: cny("299870.25")? },
        ),
    ])
}

/// Checks the invariant on the final snapshot and says where the mirrors are.
fn report(last: &Snapshot, shm: &std::path::Path, json: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let book = last.book(BOOK).ok_or("the book is gone")?;
    let committed: i128 = book.strategies().map(|(_, s)| i128::from(s.committed().raw())).sum();
    assert_eq!(i128::from(book.total().raw()), i128::from(book.pool().raw()) + committed);
    println!(
        "invariant holds: total {} == pool {} + committed {}",
        money(book.total()),
        money(book.pool()),
        money(Amount::from_raw(committed as i64).ok_or("committed out of range")?)
    );
    println!();
    println!("mirrors written (final state):");
    println!("  shared memory     {}", shm.display());
    println!("  shared_pool.json  {}", json.display());
    println!("look at them:");
    println!("  cargo run --release --bin capvault -- inspect example     (its mirror's name; or the path)");
    println!("  python3 examples/read_shm.py {}", shm.display());
    println!("  cat {}", json.display());
    Ok(())
}
