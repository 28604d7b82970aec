//! The deterministic command stream and the recovery check shared by the crash tests: a child
//! process serves a vault and prints what was acknowledged; the parent recovers the folder and
//! compares it with the same stream applied to a reference ledger.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;

use std::time::{Duration, Instant};

use capvault::{recover, Amount, Builder, Command, Ledger, Limits, Outcome, Rejection, Side};

use super::{id, seed_000, CNY};

/// splitmix64: the same stream in parent and child.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The round's command stream: a forced reset of the book (so every round starts with money to
/// reserve, and a reset that drops live orders is replayed too), then reservations, partial
/// fills, cancels, releases, allocations and total adjustments, over ids unique to the round.
pub fn stream(round: u64) -> impl Iterator<Item = Command> {
    let mut rng = Rng(round.wrapping_mul(0x5851_F42D_4C95_7F2D) + 1);
    let base = (round + 1) * 1_000_000;
    (0..).map(move |i: u64| {
        if i == 0 {
            return Command::Reset { book: CNY, balance: Amount::from_units(300_000).unwrap(), force: true };
        }
        let known = base + rng.below(i.max(1));
        let money = Amount::from_units(1 + rng.below(2_000) as i64).unwrap();
        match rng.below(10) {
            0..=3 => Command::Reserve {
                id: id(base + i),
                book: CNY,
                slot: 2 + rng.below(3) as u8,
                side: Side::Buy,
                layer: 1,
                amount: money,
            },
            4 | 5 => Command::Fill {
                id: id(known),
                amount: Amount::from_units(1 + rng.below(500) as i64).unwrap(),
            },
            6 => Command::Cancel { id: id(known) },
            7 => Command::ReleaseOrder { id: id(known) },
            8 => Command::Allocate {
                book: CNY,
                slot: 4,
                amount: Amount::from_units(1 + rng.below(50) as i64).unwrap(),
            },
            _ => Command::Adjust {
                book: CNY,
                slot: 0,
                delta: Amount::from_units(rng.below(201) as i64 - 100)
                    .unwrap()
                    .max(Amount::from_raw(1).unwrap()),
            },
        }
    })
}

/// The child's side: serves a vault on `dir` with a checkpoint every `every` commands, prints
/// `START <recovered seq>`, then submits up to `commands` of the round's stream, printing each
/// answer, and shuts down. It stops on its own after a minute if nobody killed it.
pub fn serve_round(dir: &str, round: u64, every: u64, commands: usize) {
    let mut handle = Builder::new(seed_000(limits()))
        .data_dir(dir)
        .checkpoint_every(every, Duration::from_secs(3600))
        .spawn()
        .expect("the vault recovers");
    println!("START {}", handle.recovery().map_or(0, |r| r.seq));
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, command) in stream(round).enumerate().take(commands) {
        if Instant::now() > deadline {
            break;
        }
        match handle.submit(command) {
            Ok(receipt) => println!("ACK {i} {}", receipt.seq),
            Err(capvault::SubmitError::Rejected(_)) => println!("REJ {i}"),
            Err(stopped) => panic!("{stopped}"),
        }
    }
    handle.shutdown().unwrap();
}

pub fn limits() -> Limits {
    Limits { orders_max: 100_000, resolved_max: 100_000, ..Limits::default() }
}

/// Waits for the child's `START <seq>` line and returns the sequence it recovered to.
pub fn started(
    child: &mut Child,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    round: u64,
) -> u64 {
    loop {
        let Some(line) = lines.next() else {
            let mut message = String::new();
            child.stderr.take().unwrap().read_to_string(&mut message).unwrap();
            panic!("round {round}: the child stopped before starting:\n{message}");
        };
        let line = line.unwrap();
        // The test harness prints "test child_vault ... " on the same line.
        if let Some((_, seq)) = line.split_once("START ") {
            return seq.trim().parse::<u64>().unwrap();
        }
    }
}

pub fn lines(child: &mut Child) -> impl Iterator<Item = std::io::Result<String>> {
    BufReader::new(child.stdout.take().unwrap()).lines()
}

/// The highest sequence the child printed as acknowledged, and how many acknowledgements.
pub fn acknowledged(lines: impl Iterator<Item = std::io::Result<String>>) -> (Option<u64>, u64) {
    let (mut last, mut count) = (None, 0);
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (_, seq) = rest.split_once(' ').unwrap();
            last = Some(seq.parse().unwrap());
            count += 1;
        }
    }
    (last, count)
}

/// The reference ledger and its sequence, advanced over the rounds.
pub struct Reference {
    pub ledger: Ledger,
    pub seq: u64,
}

impl Reference {
    /// Recovers `dir` and checks it against the round's stream: every acknowledged sequence is
    /// there, the recovered ledger is exactly the stream applied up to the recovered sequence,
    /// and the last reservation applied is not applied again.
    pub fn check(&mut self, dir: &Path, round: u64, last_ack: Option<u64>) {
        let (recovered, recovery) = recover(dir)
            .unwrap_or_else(|e| panic!("round {round}: recovery refused: {e}"))
            .expect("state after the first round");
        recovered.audit().unwrap();
        if let Some(seq) = last_ack {
            assert!(
                recovery.seq >= seq,
                "round {round}: acknowledged seq {seq} lost, recovered {}",
                recovery.seq
            );
        }
        let mut commands = stream(round);
        let mut last_reserve = None;
        while self.seq < recovery.seq {
            let command = commands.next().unwrap();
            match self.ledger.apply(&command) {
                Ok(Outcome::AlreadyReserved { .. }) | Err(_) => {}
                Ok(_) => {
                    self.seq += 1;
                    if matches!(command, Command::Reserve { .. }) {
                        last_reserve = Some(command);
                    }
                }
            }
        }
        assert!(
            recovered == self.ledger,
            "round {round}: recovered ledger differs from the stream up to seq {}",
            recovery.seq
        );
        if let Some(command) = last_reserve {
            let mut probe = recovered.clone();
            match probe.apply(&command) {
                Ok(Outcome::AlreadyReserved { .. }) | Err(Rejection::IdResolved { .. }) => {}
                other => panic!("round {round}: {command:?} after recovery answered {other:?}"),
            }
        }
    }
}
