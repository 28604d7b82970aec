//! Crash safety, by killing the process for real. The test binary runs itself as a child that
//! serves a vault with `FsyncBatch` from a data directory and submits a deterministic random
//! stream of commands, printing each acknowledged outcome; the parent kills it with SIGKILL at a
//! random moment, recovers the directory itself, and checks, for 50 rounds: every acknowledged
//! command is reflected, the recovered ledger is exactly the stream applied up to the recovered
//! sequence (nothing half-applied, nothing extra), the invariant holds, and a reservation
//! acknowledged before the crash is not reserved again.

mod common;

use std::time::{Duration, Instant};

use common::stream::{acknowledged, limits, lines, serve_round, started, Reference, Rng};
use common::*;

const DIR_ENV: &str = "CAPVAULT_CRASH_DIR";
const ROUND_ENV: &str = "CAPVAULT_CRASH_ROUND";
const ROUNDS: u64 = 50;

#[test]
fn child_vault() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else { return };
    serve_round(&dir, round.parse().unwrap(), 7, 100_000);
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("capvault-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut reference = Reference { ledger: seed_000(limits()), seq: 0 };
    let mut rng = Rng(42);
    let mut acknowledged_total = 0;
    for round in 0..ROUNDS {
        assert!(Instant::now() < deadline, "the crash test ran out of time at round {round}");
        let mut child = child("child_vault", &[(DIR_ENV, &dir), (ROUND_ENV, &round.to_string())]);
        let mut output = lines(&mut child.0);
        let start = started(&mut child.0, &mut output, round);
        assert_eq!(start, reference.seq, "round {round}: the child recovered to another sequence");
        std::thread::sleep(Duration::from_millis(5 + rng.below(40)));
        drop(child); // SIGKILL, then reaped
        let (last_ack, count) = acknowledged(output);
        acknowledged_total += count;
        reference.check(&dir, round, last_ack);
    }
    assert!(
        acknowledged_total >= ROUNDS,
        "only {acknowledged_total} commands were acknowledged in {ROUNDS} rounds"
    );
    eprintln!("{ROUNDS} kills, {acknowledged_total} acknowledged commands, final seq {}", reference.seq);
    let _ = std::fs::remove_dir_all(&dir);
}
