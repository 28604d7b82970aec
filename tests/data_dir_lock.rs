//! One vault per data directory: a second spawn on a live vault's directory, in this process or
//! another, is refused with `SpawnError::DataDirLocked` naming the holder's pid, before it reads
//! anything; the lock goes with the vault (shutdown) or with its process (`kill -9`), so a
//! restart is never blocked by a stale lock.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use capvault::{Builder, Limits, SpawnError};
use common::*;

const DIR_ENV: &str = "CAPVAULT_LOCK_DIR";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-lock-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn vault(dir: &PathBuf) -> Builder {
    Builder::new(seed_000(Limits::default())).data_dir(dir)
}

#[test]
fn a_second_vault_in_this_process_is_refused_until_the_first_stops() {
    let dir = scratch("same-process");
    let mut first = vault(&dir).spawn().unwrap();
    first.submit(buy(id(1), 2, 1, units(10))).unwrap();
    let files_before: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    match vault(&dir).spawn() {
        Err(SpawnError::DataDirLocked { path, pid }) => {
            assert_eq!(path, dir);
            assert_eq!(pid, Some(std::process::id()));
        }
        other => panic!("second spawn answered {other:?}"),
    }
    let files_after: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files_before, files_after, "the refused vault touched the directory");
    first.submit(buy(id(2), 2, 1, units(10))).unwrap();
    first.shutdown().unwrap();
    let again = vault(&dir).spawn().unwrap();
    let snapshot = again.snapshot();
    assert!(snapshot.order(id(1)).is_some() && snapshot.order(id(2)).is_some(), "both orders survive");
    again.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn child_holds_the_directory() {
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let handle = Builder::new(seed_000(Limits::default())).data_dir(&dir).spawn().unwrap();
    println!("READY");
    // Held until the parent kills this process (or a deadline, if the parent is gone).
    std::thread::sleep(Duration::from_secs(60));
    drop(handle);
}

#[test]
fn another_process_is_refused_and_its_kill_leaves_no_stale_lock() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let dir = scratch("other-process");
    let mut child = child("child_holds_the_directory", &[(DIR_ENV, &dir)]);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert!(lines.any(|line| line.unwrap().contains("READY")), "the child did not start its vault");
    match vault(&dir).spawn() {
        Err(SpawnError::DataDirLocked { pid, .. }) => assert_eq!(pid, Some(child.0.id())),
        other => panic!("spawn beside a live vault answered {other:?}"),
    }
    drop(child); // SIGKILL: the kernel drops the lock with the process.
    let handle = vault(&dir).spawn().expect("a killed holder leaves no stale lock");
    handle.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
