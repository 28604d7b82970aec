//! Crash safety where it is hardest: the test binary runs itself as a child vault that
//! checkpoints every 2 commands and aborts (as `kill -9` would: no destructor, no flush) at a
//! chosen failure point: half a batch written, just after a journal rotation, a checkpoint's
//! temporary file written but not renamed, renamed but the folder not synced, pruning half done
//! or just done. The parent recovers the folder after each of at least 200 rounds and checks that
//! every acknowledged command is there and that the state is exactly the command stream applied
//! up to the recovered sequence. Built with `--features failpoints` (`src/failpoint.rs`).

mod common;

use std::time::{Duration, Instant};

use capvault::failpoint::POINTS;
use common::stream::{acknowledged, limits, lines, serve_round, started, Reference, Rng};
use common::*;

const DIR_ENV: &str = "CAPVAULT_FAULT_DIR";
const ROUND_ENV: &str = "CAPVAULT_FAULT_ROUND";
const ROUNDS: u64 = 240;
/// Commands a child submits before it stops on its own (if its failure point never came).
const COMMANDS: usize = 100;

#[test]
fn child_vault() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else { return };
    serve_round(&dir, round.parse().unwrap(), 2, COMMANDS);
}

#[test]
fn aborts_at_every_failure_point_lose_nothing_acknowledged() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("capvault-fault-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut reference = Reference { ledger: seed_000(limits()), seq: 0 };
    let mut rng = Rng(7);
    let (mut aborted, mut acknowledged_total) = (0, 0);
    for round in 0..ROUNDS {
        assert!(Instant::now() < deadline, "the fault test ran out of time at round {round}");
        let point = POINTS[(round as usize) % POINTS.len()];
        let nth = 1 + rng.below(8);
        let plan = format!("{point}:{nth}");
        let round_text = round.to_string();
        let mut child =
            child("child_vault", &[(DIR_ENV, &dir), (ROUND_ENV, &round_text), ("CAPVAULT_FAILPOINT", &plan)]);
        let mut output = lines(&mut child.0);
        let start = started(&mut child.0, &mut output, round);
        assert_eq!(
            start, reference.seq,
            "round {round} ({point}:{nth}): the child recovered to another sequence"
        );
        let (last_ack, count) = acknowledged(output);
        let status = child.0.wait().unwrap();
        aborted += u64::from(!status.success());
        acknowledged_total += count;
        reference.check(&dir, round, last_ack);
    }
    // Most rounds must really have died at their point, or the test proves little.
    assert!(aborted >= ROUNDS * 3 / 4, "only {aborted} of {ROUNDS} children reached their failure point");
    eprintln!("{ROUNDS} rounds, {aborted} aborted at a failure point, {acknowledged_total} acknowledged");
    let _ = std::fs::remove_dir_all(&dir);
}
