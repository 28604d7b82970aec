//! The `capvault` binary behaves in a pipeline: when the reader of its output goes away
//! (`capvault inspect ... | head -1`) it exits quietly with success, with no panic or backtrace.

mod common;

use std::fs;
use std::process::{Command as Process, Stdio};

use capvault::{Builder, Limits};
use common::*;

#[test]
fn a_closed_pipe_ends_inspect_quietly() {
    let path = std::env::temp_dir().join(format!("capvault-cli-{}.shm", std::process::id()));
    let mut handle = Builder::new(seed_000(Limits::default())).mirror_shm(&path).spawn().unwrap();
    for n in 1..=50 {
        handle.submit(buy(id(n), 2 + (n % 3) as u8, 1, units(10))).unwrap();
    }
    handle.shutdown().unwrap();
    for args in
        [vec!["inspect"], vec!["inspect", "--json"], vec!["watch", "--count", "3", "--interval-ms", "10"]]
    {
        let mut child = Process::new(env!("CARGO_BIN_EXE_capvault"))
            .args(&args[..1])
            .arg(&path)
            .args(&args[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the binary writes: its first write meets a broken pipe.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {:?} {stderr}", output.status);
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
    let _ = fs::remove_file(&path);
    let _ = fs::remove_file(format!("{}.lock", path.display()));
}
