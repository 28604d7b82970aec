//! `bridge::write_signals` loses no signal with many writers on one `order_signal.json` (seed
//! 000's two strategy nodes, one file): 4 processes x 4 threads x 1,000 signals written while
//! an executor takes the file, every signal consumed exactly once.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use capvault::bridge::{write_signals, Inbox, ResultStatus, Signal};
use capvault::{Builder, Limits, Side};
use common::bridge::*;
use common::*;

const PROCESSES: usize = 4;
const THREADS: usize = 4;
const SIGNALS: usize = 1_000;
const WRITER: &str = "CAPVAULT_TEST_SIGNAL_WRITER";
const FILE: &str = "CAPVAULT_TEST_SIGNAL_FILE";

fn one(process: &str, thread: usize, n: usize) -> Signal {
    signal(&format!("p{process}-t{thread}-{n}"), "512890.SH", Side::Buy, "0.001", 100)
}

/// The child: four threads, each writing its signals one call at a time.
fn write_as_child(process: &str, path: &Path) {
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for n in 0..SIGNALS {
                    write_signals(path, &[one(process, thread, n)]).unwrap();
                }
            });
        }
    });
}

#[test]
fn many_writer_processes_and_threads_lose_no_signal() {
    if let (Ok(process), Ok(path)) = (std::env::var(WRITER), std::env::var(FILE)) {
        write_as_child(&process, Path::new(&path));
        return;
    }
    let dir = scratch("writers");
    let path = dir.join("order_signal.json");
    let handle = Builder::new(seed_000(Limits { orders_max: 20_000, ..Limits::default() })).spawn().unwrap();
    let mut broker = broker();
    broker.set_price("512890.SH", amount("0.001"));
    let mut b = bridge(&dir, handle, broker, None);
    let mut inbox = Inbox::new(&path, 50);
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let process = p.to_string();
            child("many_writer_processes_and_threads_lose_no_signal", &[(WRITER, &process), (FILE, &path)])
        })
        .collect();
    let expected = PROCESSES * THREADS * SIGNALS;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        for result in b.poll(&mut inbox, 0).unwrap() {
            assert_eq!(result.status, ResultStatus::Placed, "{result:?}");
            *seen.entry(result.signal_id).or_default() += 1;
        }
        let all_exited = children.iter_mut().all(|c| c.0.try_wait().unwrap().is_some());
        if all_exited && !path.exists() && seen.len() >= expected {
            break;
        }
        assert!(Instant::now() < deadline, "{} of {expected} signals consumed", seen.len());
        std::thread::sleep(Duration::from_millis(2));
    }
    for child in &mut children {
        let status = child.0.wait().unwrap();
        assert!(status.success(), "a writer failed: {status}");
    }
    assert_eq!(seen.len(), expected, "every signal consumed");
    assert!(seen.values().all(|&n| n == 1), "each exactly once");
    for p in 0..PROCESSES {
        for t in 0..THREADS {
            for n in [0, SIGNALS / 2, SIGNALS - 1] {
                assert_eq!(seen.get(&format!("p{p}-t{t}-{n}")), Some(&1));
            }
        }
    }
    assert_eq!(b.snapshot().orders().count(), expected);
    let stray: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(stray.iter().all(|name| !name.to_string_lossy().contains(".tmp-")), "{stray:?}");
    let _ = fs::remove_dir_all(&dir);
}
