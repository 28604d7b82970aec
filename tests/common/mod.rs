//! Fixtures shared by the integration tests.
#![allow(dead_code)]

pub mod bridge;
pub mod nats;
pub mod stream;

use capvault::{
    Amount, BookConfig, BookId, ClientOrderId, Command, Currency, Ledger, LedgerConfig, Limits, Outcome,
    Rejection, Side, StrategySlotConfig, Venue,
};

pub fn units(n: i64) -> Amount {
    Amount::from_units(n).unwrap()
}

pub fn amount(text: &str) -> Amount {
    text.parse().unwrap()
}

pub fn id(n: u64) -> ClientOrderId {
    ClientOrderId::snowflake(n).unwrap()
}

pub const CNY: BookId = BookId::new(0);
pub const USDT: BookId = BookId::new(1);

/// Seed 000's account: a 300,000 CNY book with 159201 in slot 2 and 512890 in slot 3, each
/// capped at 200,000, slot 4 uncapped and unlabelled; and an empty KRAKEN/USDT book.
pub fn seed_000(limits: Limits) -> Ledger {
    let strategy = |slot, label: &str, cap| StrategySlotConfig {
        slot,
        label: Some(label.parse().unwrap()),
        cap,
        loss_limit: None,
    };
    let config = LedgerConfig {
        limits,
        credit_limits: std::collections::BTreeMap::default(),
        books: vec![
            BookConfig {
                venue: Venue::new("SSE").unwrap(),
                currency: Currency::new("CNY").unwrap(),
                slot_count: 5,
                reserve_ratio: capvault::Ratio::from_ppm(150_000),
                penalty: capvault::PenaltyConfig::default(),
                decimals: 2,
                sells: capvault::SellRule::HoldNothing,
                balance: units(300_000),
                strategies: vec![
                    strategy(2, "159201", Some(units(200_000))),
                    strategy(3, "512890", Some(units(200_000))),
                ],
            },
            BookConfig {
                venue: Venue::new("KRAKEN").unwrap(),
                currency: Currency::new("USDT").unwrap(),
                slot_count: 3,
                reserve_ratio: capvault::Ratio::from_ppm(150_000),
                penalty: capvault::PenaltyConfig::default(),
                decimals: 2,
                sells: capvault::SellRule::HoldNothing,
                balance: Amount::ZERO,
                strategies: vec![],
            },
        ],
    };
    Ledger::from_config(&config).unwrap()
}

pub fn buy(id: ClientOrderId, slot: u8, layer: u32, amount: Amount) -> Command {
    Command::Reserve { id, book: CNY, slot, side: Side::Buy, layer, amount }
}

/// Applies a command that must be accepted, and audits the ledger afterwards.
pub fn ok(ledger: &mut Ledger, command: Command) -> Outcome {
    let outcome = ledger.apply(&command).unwrap_or_else(|r| panic!("{command:?} rejected: {r}"));
    ledger.audit().unwrap();
    outcome
}

/// Applies a command that must be rejected, and checks that the ledger is unchanged.
pub fn rejected(ledger: &mut Ledger, command: Command) -> Rejection {
    let before = ledger.clone();
    let rejection = match ledger.apply(&command) {
        Ok(outcome) => panic!("{command:?} accepted: {outcome:?}"),
        Err(rejection) => rejection,
    };
    assert!(*ledger == before, "{command:?} was rejected ({rejection}) but changed the ledger");
    rejection
}

/// A child process killed (and reaped) when dropped, so a failing test never leaves it running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs this test binary again as a child that runs only `test`, with `envs` set and its output
/// piped: how the crash, lock and cross-process tests get a second process.
pub fn child(test: &str, envs: &[(&str, &dyn AsRef<std::ffi::OsStr>)]) -> KillOnDrop {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--nocapture", "--test-threads", "1"]);
    for (key, value) in envs {
        command.env(key, value);
    }
    let spawned = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn();
    KillOnDrop(spawned.unwrap())
}
