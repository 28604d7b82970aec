//! Crash safety, by killing the process for real. The test binary runs itself as a child that
//! serves a vault with `FsyncBatch` from a data directory and submits a deterministic random
//! stream of commands, printing each acknowledged outcome; the parent kills it with SIGKILL at a
//! random moment, recovers the directory itself, and checks, for 50 rounds: every acknowledged
//! command is reflected, the recovered ledger is exactly the stream applied up to the recovered
//! sequence (nothing half-applied, nothing extra), the invariant holds, and a reservation
//! acknowledged before the crash is not reserved again.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use capvault::{recover, Amount, Builder, Command, Ledger, Limits, Outcome, Rejection, Side};
use common::*;

const DIR_ENV: &str = "CAPVAULT_CRASH_DIR";
const ROUND_ENV: &str = "CAPVAULT_CRASH_ROUND";
const ROUNDS: u64 = 50;

/// splitmix64: the same stream in parent and child.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The round's command stream: reservations, partial fills, cancels, releases, allocations and
/// total adjustments, over ids unique to the round.
fn stream(round: u64) -> impl Iterator<Item = Command> {
    let mut rng = Rng(round.wrapping_mul(0x5851_F42D_4C95_7F2D) + 1);
    let base = (round + 1) * 1_000_000;
    (0..).map(move |i: u64| {
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

fn limits() -> Limits {
    Limits { orders_max: 100_000, resolved_max: 100_000, ..Limits::default() }
}

#[test]
fn child_vault() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else { return };
    let round: u64 = round.parse().unwrap();
    let mut handle = Builder::new(seed_000(limits()))
        .data_dir(&dir)
        .checkpoint_every(7, Duration::from_secs(3600))
        .spawn()
        .expect("the vault recovers");
    let recovered = handle.recovery().map_or(0, |r| r.seq);
    println!("START {recovered}");
    for (i, command) in stream(round).enumerate().take(100_000) {
        match handle.submit(command) {
            Ok(receipt) => println!("ACK {i} {}", receipt.seq),
            Err(capvault::SubmitError::Rejected(_)) => println!("REJ {i}"),
            Err(stopped) => panic!("{stopped}"),
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("capvault-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut reference: Ledger = seed_000(limits());
    let mut reference_seq = 0_u64;
    let mut rng = Rng(42);
    let mut acknowledged_total = 0;
    for round in 0..ROUNDS {
        assert!(Instant::now() < deadline, "the crash test ran out of time at round {round}");
        let mut child = Process::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_vault", "--nocapture", "--test-threads", "1"])
            .env(DIR_ENV, &dir)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let start = loop {
            let Some(line) = lines.next() else {
                let mut message = String::new();
                std::io::Read::read_to_string(&mut stderr, &mut message).unwrap();
                panic!("round {round}: the child stopped before starting:\n{message}");
            };
            let line = line.unwrap();
            // The test harness prints "test child_vault ... " on the same line.
            if let Some((_, seq)) = line.split_once("START ") {
                break seq.trim().parse::<u64>().unwrap();
            }
        };
        assert_eq!(start, reference_seq, "round {round}: the child recovered to another sequence");
        std::thread::sleep(Duration::from_millis(5 + rng.below(40)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // What the child saw acknowledged before it died.
        let mut last_ack: Option<(usize, u64)> = None;
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (i, seq) = rest.split_once(' ').unwrap();
                last_ack = Some((i.parse().unwrap(), seq.parse().unwrap()));
                acknowledged_total += 1;
            }
        }

        let (recovered, recovery) = recover(&dir).unwrap().expect("state after the first round");
        recovered.audit().unwrap();
        if let Some((_, seq)) = last_ack {
            assert!(
                recovery.seq >= seq,
                "round {round}: acknowledged seq {seq} lost, recovered {}",
                recovery.seq
            );
        }
        // Replay the round's stream on the reference until it reaches the recovered sequence:
        // the recovered ledger must be exactly that.
        let mut commands = stream(round);
        let mut last_reserve = None;
        while reference_seq < recovery.seq {
            let command = commands.next().unwrap();
            match reference.apply(&command) {
                Ok(Outcome::AlreadyReserved { .. }) => {}
                Ok(_) => {
                    reference_seq += 1;
                    if matches!(command, Command::Reserve { .. }) {
                        last_reserve = Some(command);
                    }
                }
                Err(_) => {}
            }
        }
        assert!(
            recovered == reference,
            "round {round}: recovered ledger differs from the stream up to seq {}",
            recovery.seq
        );
        // Idempotency across the crash: the last reservation applied is not applied again.
        if let Some(command) = last_reserve {
            let mut probe = recovered.clone();
            match probe.apply(&command) {
                Ok(Outcome::AlreadyReserved { .. }) | Err(Rejection::IdResolved { .. }) => {}
                other => panic!("round {round}: {command:?} after recovery answered {other:?}"),
            }
        }
    }
    assert!(
        acknowledged_total >= ROUNDS,
        "only {acknowledged_total} commands were acknowledged in {ROUNDS} rounds"
    );
    eprintln!("{ROUNDS} kills, {acknowledged_total} acknowledged commands, final seq {reference_seq}");
    let _ = std::fs::remove_dir_all(PathBuf::from(&dir));
}
