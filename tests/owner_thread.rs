//! A call from the owner thread itself (an `on_publish` hook holding a handle) that would wait
//! for the owner is refused with an error instead of deadlocking the vault or panicking it:
//! `submit`, `submit_detached` and `shutdown` answer `OwnerThread` at once, nothing is enqueued,
//! and the vault goes on serving. `try_submit`, which never waits, is allowed.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use capvault::{Builder, Handle, Limits, ShutdownError, SubmitError};
use common::*;

#[test]
fn blocking_calls_from_the_hook_are_refused_and_the_vault_goes_on() {
    let inner: Arc<Mutex<Option<Handle>>> = Arc::new(Mutex::new(None));
    let (answers_tx, answers_rx) = mpsc::channel();
    let hook_handle = inner.clone();
    let mut handle = Builder::new(seed_000(Limits::default()))
        .on_publish(move |snapshot| {
            if snapshot.seq() != 1 {
                return;
            }
            let mut slot = hook_handle.lock().unwrap();
            let Some(mut handle) = slot.take() else { return };
            let submitted = handle.submit(buy(id(100), 2, 1, units(10)));
            let detached = handle.submit_detached(buy(id(101), 2, 1, units(10)));
            let tried = handle.try_submit(buy(id(102), 2, 1, units(10))).is_ok();
            let shutdown = handle.clone().shutdown().map(|_| ());
            let _ = answers_tx.send((submitted, detached, tried, shutdown));
            *slot = Some(handle);
        })
        .spawn()
        .unwrap();
    *inner.lock().unwrap() = Some(handle.clone());
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    let (submitted, detached, tried, shutdown) = answers_rx.recv().unwrap();
    assert_eq!(submitted, Err(SubmitError::OwnerThread));
    assert_eq!(detached, Err(SubmitError::OwnerThread));
    assert!(tried, "try_submit never waits, so the hook may use it");
    assert_eq!(shutdown, Err(ShutdownError::OwnerThread));
    // The vault is alive and serving; only the try_submit from the hook was applied.
    let receipt = handle.submit(buy(id(2), 2, 1, units(10))).unwrap();
    // Answers go out before the batch is published: wait for the snapshot that shows it.
    let snapshot = handle.reader().wait_for(receipt.seq, std::time::Duration::from_secs(5)).unwrap();
    assert!(snapshot.order(id(100)).is_none() && snapshot.order(id(101)).is_none());
    assert!(snapshot.order(id(102)).is_some());
    drop(inner.lock().unwrap().take());
    handle.shutdown().unwrap();
}
