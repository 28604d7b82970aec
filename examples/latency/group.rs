//! Group commit: N synchronous callers on one vault under `FsyncBatch`, each submitting a
//! reservation and its cancel in a loop with blocking submits and the builder's default waits,
//! against what one `fdatasync` of a batch of N commands' journal bytes allows (N / its time),
//! measured in the same run and the same folder.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use capvault::{Builder, Durability, Ledger, LedgerConfig};
use hdrhistogram::Histogram;

use super::{cancel, histogram, record, reserve, Settings};

/// Callers per row.
const CALLERS: [u64; 3] = [1, 8, 64];

/// Prints the rows and returns the JSON fields: per N, `group_commit_{n}_cmds_per_s`, the ideal
/// `group_commit_{n}_ideal_cmds_per_s`, their ratio and the commands per batch; the lone
/// caller's p50 round trip.
pub fn report(settings: &Settings) -> Result<String, Box<dyn std::error::Error>> {
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>7} {:>10} {:>11} {:>10}",
        "group commit (FsyncBatch)", "cmds/s", "ideal/s", "ratio", "cmds/batch", "fsync µs", "p50 µs"
    );
    let run_for = if settings.quick { Duration::from_millis(600) } else { Duration::from_secs(2) };
    let dir = std::env::temp_dir().join(format!("capvault-latency-group-{}", std::process::id()));
    let mut keys = Vec::new();
    for callers in CALLERS {
        let _ = fs::remove_dir_all(&dir);
        let row = run(&dir, callers, run_for)?;
        let fsync = fsync_of(&dir, (row.bytes_per_command * callers as f64).ceil() as usize, settings)?;
        let ideal = callers as f64 / fsync.as_secs_f64();
        let ratio = row.rate / ideal;
        println!(
            "{:<34} {:>12.0} {:>12.0} {:>7.2} {:>10.1} {:>11.0} {:>10.0}",
            format!("{callers} synchronous caller(s)"),
            row.rate,
            ideal,
            ratio,
            row.per_batch,
            fsync.as_secs_f64() * 1e6,
            row.latency.value_at_quantile(0.5) as f64 / 1e3
        );
        keys.push(format!(
            "\"group_commit_{callers}_cmds_per_s\":{:.0},\"group_commit_{callers}_ideal_cmds_per_s\":{ideal:.0},\"group_commit_{callers}_ratio\":{ratio:.2},\"group_commit_{callers}_cmds_per_batch\":{:.1}",
            row.rate, row.per_batch
        ));
        if callers == 1 {
            keys.push(format!("\"group_commit_1_p50_ns\":{}", row.latency.value_at_quantile(0.5)));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(keys.join(","))
}

struct Row {
    rate: f64,
    per_batch: f64,
    bytes_per_command: f64,
    /// The reservations' round trips, every caller's.
    latency: Histogram<u64>,
}

/// `callers` threads for `run_for`; the journal's growth gives the bytes per command.
fn run(dir: &Path, callers: u64, run_for: Duration) -> Result<Row, Box<dyn std::error::Error>> {
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "orders_max": 4096, "resolved_max": 4096 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 100000000,
                          "strategies": [ { "slot": 2, "label": "159201" }, { "slot": 3, "label": "512890" } ] } ] }"#,
    )?;
    let handle = Builder::new(Ledger::from_config(&config)?)
        .data_dir(dir)
        .durability(Durability::FsyncBatch)
        .checkpoint_every(u64::MAX / 2, Duration::from_secs(3600))
        .spawn()?;
    let reader = handle.reader();
    let before = (dir_bytes(dir)?, *reader.snapshot().stats());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..callers)
        .map(|caller| {
            let mut handle = handle.clone();
            let stop = stop.clone();
            thread::spawn(move || -> Histogram<u64> {
                let mut h = histogram();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = (caller + 1) << 40 | n;
                    let started = Instant::now();
                    if handle.submit(reserve(id, 2)).is_err() {
                        break;
                    }
                    record(&mut h, started);
                    if handle.submit(cancel(id)).is_err() {
                        break;
                    }
                }
                h
            })
        })
        .collect();
    thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let mut latency = histogram();
    for thread in threads {
        latency.add(thread.join().map_err(|_| "a caller panicked")?)?;
    }
    let elapsed = start.elapsed();
    let after = (dir_bytes(dir)?, *reader.snapshot().stats());
    handle.shutdown().map_err(|e| e.to_string())?;
    let commands = (after.1.accepted - before.1.accepted) as f64;
    let batches = (after.1.batches - before.1.batches).max(1) as f64;
    Ok(Row {
        rate: commands / elapsed.as_secs_f64(),
        per_batch: commands / batches,
        bytes_per_command: (after.0.saturating_sub(before.0)) as f64 / commands.max(1.0),
        latency,
    })
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// The median time of appending `bytes` to a file in `dir` and `fdatasync`ing it.
fn fsync_of(dir: &Path, bytes: usize, settings: &Settings) -> std::io::Result<Duration> {
    fs::create_dir_all(dir)?;
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let buffer = vec![0x5a_u8; bytes.max(1)];
    let mut h = histogram();
    for _ in 0..settings.samples(2_000).max(100) {
        let started = Instant::now();
        file.write_all(&buffer)?;
        file.sync_data()?;
        record(&mut h, started);
    }
    drop(file);
    fs::remove_file(&path)?;
    Ok(Duration::from_nanos(h.value_at_quantile(0.5)))
}
