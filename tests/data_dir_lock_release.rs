//! "Held until the vault has stopped" is exact on every path: a vault whose handles were all
//! dropped without `shutdown` frees its data folder before it reports itself stopped (the
//! checkpoint thread, which holds the lock, is joined first), and a child process forked while
//! the vault ran does not keep the lock after the vault lets it go.
#![allow(unsafe_code)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capvault::{Builder, Limits};
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-lockrel-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn vault(dir: &Path) -> Builder {
    // A checkpoint every command keeps the checkpoint thread busy when the handles go.
    Builder::new(seed_000(Limits::default())).data_dir(dir).checkpoint_every(1, Duration::from_secs(3600))
}

#[test]
fn a_vault_whose_handles_were_dropped_frees_its_folder_before_it_reports_stopped() {
    let dir = scratch("dropped");
    // Load on the other core, as a busy executor host would have.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    for round in 0..40_u64 {
        let mut handle = vault(&dir).spawn().unwrap_or_else(|e| panic!("round {round}: {e}"));
        for n in 0..50 {
            handle.submit(buy(id(round * 100 + n + 1), 2, 1, units(1))).unwrap();
        }
        let reader = handle.reader();
        drop(handle);
        let deadline = Instant::now() + Duration::from_secs(30);
        while reader.stopped().is_none() {
            assert!(Instant::now() < deadline, "round {round}: the vault never stopped");
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_forked_child_does_not_keep_the_data_folder_locked() {
    let dir = scratch("forked");
    let mut handle = vault(&dir).spawn().unwrap();
    handle.submit(buy(id(1), 2, 1, units(1))).unwrap();
    // SAFETY: the child calls only async-signal-safe functions (`sleep`, `_exit`) before it
    // ends, so forking a multi-threaded process is sound here. It shares every open file,
    // the data folder's lock among them, as a child of `Command::spawn` does until it execs.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        // SAFETY: see above.
        unsafe {
            libc::sleep(5);
            libc::_exit(0);
        }
    }
    handle.shutdown().unwrap();
    let again = vault(&dir).spawn();
    // SAFETY: `child` is our child's pid; kill and reap it whatever the result.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    let again = again.expect("the forked child kept the lock");
    again.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
