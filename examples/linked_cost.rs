//! What a linked reservation costs against the same orders reserved one by one: a ladder of
//! `PARTS` grid layers reserved through a handle in this process and through the gateway from a
//! client, each way timed per ladder (median and 99th percentile, microseconds), and the ratio.
//! The orders are cancelled between rounds, untimed.
//!
//! ```text
//! cargo run --release --example linked_cost [ROUNDS] [PARTS]
//! ```

use std::time::Instant;

use capvault::{
    Amount, BookId, Builder, Client, ClientOrderId, Command, Grant, Handle, LedgerConfig, LinkedError,
    LinkedReceipt, Receipt, ServeConfig, Side, SubmitError,
};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 100000000,
    "strategies": [ { "slot": 2, "label": "159201" } ] } ] }"#;

/// Either end a vault is commanded from.
trait Submitter {
    fn one(&mut self, command: Command) -> Result<Receipt, SubmitError>;
    fn chain(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError>;
}

impl Submitter for Handle {
    fn one(&mut self, command: Command) -> Result<Receipt, SubmitError> {
        self.submit(command)
    }
    fn chain(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError> {
        self.submit_linked(parts)
    }
}

impl Submitter for Client {
    fn one(&mut self, command: Command) -> Result<Receipt, SubmitError> {
        self.submit(command)
    }
    fn chain(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError> {
        self.submit_linked(parts)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let parts: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let name = format!("linked-cost-{}", std::process::id());
    let mut handle = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?
        .serve(ServeConfig::new(&name).client("grid", Grant::all()))
        .spawn()?;
    let mut client = Client::connect(&name, "grid")?;
    println!("{parts} layers a ladder, {rounds} ladders each way, alternating; microseconds per ladder");
    let mut next = 1_u64;
    let mut report = |label: &str, end: &mut dyn Submitter| -> Result<(), Box<dyn std::error::Error>> {
        let (mut single, mut linked) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        for round in 0..rounds * 2 {
            let ladder = (0..parts)
                .map(|n| {
                    Ok(Command::Reserve {
                        id: ClientOrderId::snowflake(1_790_000_000_000_000_000 + next + n)?,
                        book: BookId::new(0),
                        slot: 2,
                        side: Side::Buy,
                        layer: 1,
                        amount: Amount::from_units(100 + n as i64).unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<Command>, capvault::OrderIdError>>()?;
            next += parts;
            let start = Instant::now();
            if round % 2 == 0 {
                for part in &ladder {
                    end.one(*part)?;
                }
                single.push(start.elapsed().as_secs_f64() * 1e6);
            } else {
                end.chain(&ladder)?;
                linked.push(start.elapsed().as_secs_f64() * 1e6);
            }
            for part in &ladder {
                if let Command::Reserve { id, .. } = part {
                    end.one(Command::Cancel { id: *id })?;
                }
            }
        }
        let (s50, s99) = percentiles(&mut single);
        let (l50, l99) = percentiles(&mut linked);
        println!(
            "{label:<9} one by one p50 {s50:7.1} p99 {s99:7.1} | linked p50 {l50:7.1} p99 {l99:7.1} | linked/one-by-one p50 {:.2}",
            l50 / s50
        );
        Ok(())
    };
    report("handle", &mut handle)?;
    report("gateway", &mut client)?;
    drop(client);
    handle.shutdown()?;
    Ok(())
}

/// The median and the 99th percentile.
fn percentiles(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}
