//! An answer says truly why the vault stopped: when applying a command panics the owner, the
//! submitter of that very command (whose reply is dropped while the panic unwinds) is told
//! `OwnerPanicked`, never `ShutDown`, and so is every submitter waiting behind it. Built with
//! `--features failpoints`: the panic is injected inside the owner's apply (`src/failpoint.rs`).

mod common;

use std::sync::{Arc, Barrier};

use capvault::{Builder, Limits, Stopped, SubmitError, WaitStrategy};
use common::*;

#[test]
fn the_command_that_panics_the_owner_is_answered_owner_panicked() {
    // The 40th command the owner applies panics inside `apply`.
    std::env::set_var("CAPVAULT_FAILPOINT", "owner.apply:40");
    let handle = Builder::new(seed_000(Limits::default()))
        .wait(WaitStrategy::Blocking)
        // Spinning submitters see a dropped reply within nanoseconds: the window in which the
        // owner had not yet marked itself panicked.
        .reply_wait(WaitStrategy::BusySpin)
        .spawn()
        .unwrap();
    let producers = 2;
    let barrier = Arc::new(Barrier::new(producers));
    let threads: Vec<_> = (0..producers as u64)
        .map(|p| {
            let (mut handle, barrier) = (handle.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut answers = Vec::new();
                for n in 1..=40 {
                    let answer = handle.submit(buy(id(p * 100 + n), 2, 1, units(1)));
                    let stop = answer.is_err();
                    answers.push(answer);
                    if stop {
                        break;
                    }
                }
                answers
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let accepted = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(accepted, 39, "the 39 commands before the panic were applied");
    for answer in answers.iter().filter(|a| a.is_err()) {
        assert_eq!(*answer, Err(SubmitError::Stopped(Stopped::OwnerPanicked)));
    }
    assert_eq!(answers.len() - accepted, producers, "every producer's last answer names the panic");
}
