//! The other process of the two-process example: strategy 159201 commanding the vault that
//! `cargo run --release --example serve` runs, within its grant.

use std::time::Duration;

use capvault::{BookId, Client, ConnectError, Rejection, Side, SubmitError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut client = connect()?;
    let (book, slot) = (BookId::new(0), 2);
    let id = format!("17900000000{:08}", std::process::id()).parse()?;
    let reserved = client.reserve(id, book, slot, Side::Buy, 1, "1000".parse()?)?;
    println!(
        "reserved 1000 at seq {} ({})",
        reserved.seq,
        if reserved.repeated.is_some() { "repeat" } else { "new" }
    );
    let fill = client.fill(id, "400".parse()?)?;
    println!("filled 400: {} still frozen", fill.remaining);
    let cancelled = client.cancel(id)?;
    println!("cancelled: {} back to the pool, {} held", cancelled.returned, cancelled.held);
    // Outside the grant: another strategy's slot.
    match client.allocate(book, 3, "10".parse()?) {
        Err(SubmitError::Rejected(rejection @ Rejection::NotGranted { .. })) => {
            println!("refused: {rejection}");
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    // The mirror shows a command once its sequence is written (within a heartbeat).
    let snapshot = client.reader()?.wait_for(cancelled.seq, Duration::from_secs(1))?;
    println!("pool {} at seq {}", snapshot.books()[0].pool(), snapshot.seq());
    Ok(())
}

/// Connects, waiting up to 10 s for the vault to start.
fn connect() -> Result<Client, ConnectError> {
    let start = std::time::Instant::now();
    loop {
        match Client::connect("capvault-demo", "grid-159201") {
            Err(ConnectError::NotServed { .. }) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}
