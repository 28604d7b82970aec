//! The latency report: the vault's round trip per wait strategy beside its baselines, measured
//! in one run on the same two cores, with hdrhistogram.
//!
//! - floor: an atomic ping-pong between the two cores (nothing can be faster);
//! - channel: a raw crossbeam-channel round trip, both sides spinning (the design's transport);
//! - vault: submit a reservation and get its outcome, owner pinned to the other core, for each
//!   wait strategy;
//! - mutex: the same ledger behind a `std::sync::Mutex`, called from two threads;
//! - seed style: lock a file, read, modify and rewrite a JSON file per operation (what the seed's
//!   Python singleton does), in Rust.
//!
//! It also measures the snapshot read and fire-and-forget throughput. The last line is one JSON
//! object for scripts.
//!
//! Run: `cargo run --release --example latency [-- --quick] [-- --hgrm DIR]`; `-- --group-commit`,
//! `-- --ipc`, `-- --remote` or `-- --replicated` runs those rows alone (the remote and replicated
//! rows need nats-server: `NATS_SERVER` or PATH).

mod group;
mod ipc;
#[cfg(feature = "nats")]
mod remote;
#[cfg(feature = "nats")]
mod replicated;
mod scaling;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use capvault::{
    Amount, BookId, Builder, ClientOrderId, Command, Durability, Ledger, LedgerConfig, Side, WaitStrategy,
};
use hdrhistogram::Histogram;

const BOOK: BookId = BookId::new(0);

struct Settings {
    quick: bool,
    hgrm: Option<PathBuf>,
    producer_core: Option<core_affinity::CoreId>,
    owner_core: Option<usize>,
}

impl Settings {
    /// Samples for a fast measurement, fewer when `--quick`.
    fn samples(&self, full: u64) -> u64 {
        if self.quick {
            full / 10
        } else {
            full
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if ipc::child(&args)? {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let hgrm = args.iter().position(|a| a == "--hgrm").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let plot = args.iter().position(|a| a == "--plot").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (producer_core, owner_core) = match cores.as_slice() {
        [a, b, ..] => (Some(*a), Some(b.id)),
        _ => (None, None),
    };
    let settings = Settings { quick, hgrm, producer_core, owner_core };
    if args.iter().any(|a| a == "--scaling") {
        // The scaling section alone, for working on it.
        if let Some(core) = settings.producer_core {
            core_affinity::set_for_current(core);
        }
        println!("{{{}}}", scaling::report(&settings)?);
        return Ok(());
    }
    if let Some(core) = settings.producer_core {
        core_affinity::set_for_current(core);
    }
    println!(
        "capvault latency report: {} cores, producer on core {:?}, owner on core {:?}{}",
        cores.len(),
        settings.producer_core.map(|c| c.id),
        settings.owner_core,
        if quick { ", --quick" } else { "" }
    );
    println!("clock: Instant::now() costs {:.1} ns (included in every sample)", clock_cost_ns());

    if section_alone(&args, &settings)? {
        return Ok(());
    }
    let rows = round_trip_rows(&settings)?;
    print_rows(&rows, &settings)?;
    if let Some(dir) = &plot {
        plot_rows(dir, &rows)?;
    }
    let durability = durability_report(&settings)?;
    let group = group::report(&settings)?;
    let scaling = scaling::report(&settings)?;
    let (_, ipc_keys) = ipc::report(&settings)?;
    let remote_keys = remote_keys(&settings)?;

    let snapshot_read_ns = snapshot_read(&settings)?;
    println!();
    println!("snapshot read (uncontended, wait-free load + field read): {snapshot_read_ns:.1} ns");
    let throughput_1 = throughput(&settings, 1, false)?;
    let throughput_2 = throughput(&settings, 2, false)?;
    let throughput_full = throughput(&settings, 1, true)?;
    println!("fire-and-forget throughput, busy-spin owner: 1 producer {throughput_1:.0} cmds/s, 2 producers {throughput_2:.0} cmds/s; 1 producer with both mirrors {throughput_full:.0} cmds/s");
    let full = rows.iter().find(|(n, _)| n == "vault: busy-spin, mirrors on").ok_or("no full row")?;
    let full_keys = format!(
        "\"full_roundtrip_p50_ns\":{},\"full_roundtrip_p999_ns\":{},\"full_throughput_cmds_per_s\":{throughput_full:.0}",
        full.1.value_at_quantile(0.5),
        full.1.value_at_quantile(0.999)
    );

    print_summary(
        &rows,
        &settings,
        &[durability, group, scaling, ipc_keys, full_keys, remote_keys]
            .into_iter()
            .filter(|keys| !keys.is_empty())
            .collect::<Vec<_>>()
            .join(","),
        snapshot_read_ns,
        (throughput_1, throughput_2),
    )
}

/// The `remote_*` and `replicated_*` keys (none without the `nats` feature).
fn remote_keys(settings: &Settings) -> Result<String, Box<dyn std::error::Error>> {
    #[cfg(feature = "nats")]
    return Ok([remote::report(settings)?, replicated::report(settings, false)?]
        .into_iter()
        .filter(|keys| !keys.is_empty())
        .collect::<Vec<_>>()
        .join(","));
    #[cfg(not(feature = "nats"))]
    return Ok(String::new());
}

/// `--ipc`, `--remote` or `--group-commit`: that section's rows alone (for working on it).
fn section_alone(args: &[String], settings: &Settings) -> Result<bool, Box<dyn std::error::Error>> {
    if args.iter().any(|a| a == "--ipc") {
        // The cross-process rows (with `CAPVAULT_CPP_CLIENT`, the C++ client's too).
        println!("{{{}}}", ipc::report(settings)?.1);
        return Ok(true);
    }
    #[cfg(feature = "nats")]
    if args.iter().any(|a| a == "--remote") {
        // The remote rows (`docs/performance.md`, "Remote commands").
        println!("{{{}}}", remote::report(settings)?);
        return Ok(true);
    }
    #[cfg(feature = "nats")]
    if args.iter().any(|a| a == "--replicated") {
        // The replicated rows (`docs/performance.md`, "Replication").
        println!("{{{}}}", replicated::report(settings, args.iter().any(|a| a == "--sync-always"))?);
        return Ok(true);
    }
    if args.iter().any(|a| a == "--group-commit") {
        // The group-commit rows (`docs/performance.md`, "Group commit").
        println!("{{{}}}", group::report(settings)?);
        return Ok(true);
    }
    Ok(false)
}

/// Draws the round-trip rows as percentile curves (the way `capvault latency --plot` draws a
/// latency log): the vault's rows beside the floor and the baselines, and the interleaved pairs.
fn plot_rows(dir: &Path, rows: &Rows) -> Result<(), Box<dyn std::error::Error>> {
    fs::create_dir_all(dir)?;
    let pick = |names: &[&str]| -> Vec<(String, &Histogram<u64>)> {
        rows.iter()
            .filter(|(name, _)| names.iter().any(|n| name.starts_with(n)))
            .map(|(n, h)| (n.clone(), h))
            .collect()
    };
    let plots = [
        (
            "round_trip.svg",
            "round trip: the vault beside its floor and the baselines",
            pick(&[
                "floor",
                "channel",
                "vault: busy-spin",
                "vault: spin-park (default)",
                "mutex",
                "seed style",
            ]),
        ),
        (
            "interleaved.svg",
            "round trip: mirrors and latency recording, off and on",
            pick(&["vault: mirrors", "vault: latency recording"]),
        ),
    ];
    for (file, title, series) in plots {
        capvault::tools::report::plot_percentiles(&dir.join(file), title, &series)?;
        println!("drew {}", dir.join(file).display());
    }
    Ok(())
}

/// Named round-trip histograms, in print order.
type Rows = Vec<(String, Histogram<u64>)>;

/// The round-trip rows: the floors, each wait strategy, the mirrors interleaved, the baselines.
fn round_trip_rows(settings: &Settings) -> Result<Rows, Box<dyn std::error::Error>> {
    let mut rows: Vec<(String, Histogram<u64>)> = Vec::new();
    rows.push(("floor: atomic ping-pong".into(), ping_pong(settings)));
    rows.push(("channel: crossbeam round trip".into(), channel_round_trip(settings)));
    let strategies = [
        ("vault: busy-spin", WaitStrategy::BusySpin, 200_000),
        ("vault: spin-yield", WaitStrategy::SpinYield { spin: Duration::from_micros(50) }, 200_000),
        ("vault: spin-park (default)", WaitStrategy::default(), 200_000),
        ("vault: blocking", WaitStrategy::Blocking, 3_000),
    ];
    for (name, strategy, samples) in strategies {
        rows.push((name.into(), vault_round_trip(settings, strategy, settings.samples(samples))?));
    }
    rows.push(("vault: busy-spin, mirrors on".into(), full_round_trip(settings)?));
    let (mirrors_off, mirrors_on) = mirror_comparison(settings)?;
    rows.push(("vault: mirrors off (interleaved)".into(), mirrors_off));
    rows.push(("vault: mirrors on (interleaved)".into(), mirrors_on));
    let (recording_off, recording_on) = recording_comparison(settings)?;
    rows.push(("vault: latency recording off (interleaved)".into(), recording_off));
    rows.push(("vault: latency recording on (interleaved)".into(), recording_on));
    rows.push(("vault: spin-park, 1 ms apart".into(), vault_idle_round_trip(settings)?));
    rows.push(("mutex: ledger in a Mutex, 2 threads".into(), mutex_baseline(settings)?));
    rows.push(("seed style: flock + JSON rewrite".into(), seed_style(settings)?));

    Ok(rows)
}

/// Prints the round-trip table, and writes each row's `.hgrm` when asked.
fn print_rows(
    rows: &[(String, Histogram<u64>)],
    settings: &Settings,
) -> Result<(), Box<dyn std::error::Error>> {
    println!();
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "round trip (ns)", "samples", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    for (name, h) in rows {
        println!(
            "{:<38} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
            name,
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.value_at_quantile(0.9999),
            h.max()
        );
    }
    if let Some(dir) = &settings.hgrm {
        fs::create_dir_all(dir)?;
        for (name, h) in rows {
            write_hgrm(&dir.join(format!("{}.hgrm", slug(name))), h)?;
        }
        println!("histograms written to {}", dir.display());
    }

    Ok(())
}

/// The ratios to the floor and the one-line JSON summary.
fn print_summary(
    rows: &[(String, Histogram<u64>)],
    settings: &Settings,
    durability: &str,
    snapshot_read_ns: f64,
    (throughput_1, throughput_2): (f64, f64),
) -> Result<(), Box<dyn std::error::Error>> {
    let p50 = |name: &str| rows.iter().find(|(n, _)| n == name).map_or(0, |(_, h)| h.value_at_quantile(0.5));
    let busy = &rows.iter().find(|(n, _)| n == "vault: busy-spin").ok_or("no busy-spin row")?.1;
    let floor = p50("floor: atomic ping-pong");
    let roundtrip = busy.value_at_quantile(0.5);
    let seed = p50("seed style: flock + JSON rewrite");
    let mirrored = p50("vault: mirrors on (interleaved)");
    let unmirrored = p50("vault: mirrors off (interleaved)");
    let (recorded, unrecorded) =
        (p50("vault: latency recording on (interleaved)"), p50("vault: latency recording off (interleaved)"));
    println!("latency recording on / off p50 = {:.3}", recorded as f64 / unrecorded.max(1) as f64);
    println!();
    println!(
        "ratios (this run): vault p50 / floor p50 = {:.2}, vault p99.9 / floor p50 = {:.2}, seed style p50 / vault p50 = {:.0}, mirrors on / off p50 = {:.3}",
        roundtrip as f64 / floor as f64,
        busy.value_at_quantile(0.999) as f64 / floor as f64,
        seed as f64 / roundtrip as f64,
        mirrored as f64 / unmirrored as f64
    );
    println!(
        "{{\"roundtrip_p50_ns\":{},\"roundtrip_p999_ns\":{},\"floor_p50_ns\":{},\"channel_rt_p50_ns\":{},\"snapshot_read_ns\":{:.1},\"throughput_cmds_per_s\":{:.0},\"throughput_2p_cmds_per_s\":{:.0},\"mutex_p50_ns\":{},\"seed_style_p50_ns\":{},\"spin_yield_p50_ns\":{},\"spin_park_p50_ns\":{},\"blocking_p50_ns\":{},\"mirrors_off_p50_ns\":{},\"mirrors_on_p50_ns\":{},\"recording_off_p50_ns\":{unrecorded},\"recording_on_p50_ns\":{recorded},{},\"quick\":{}}}",
        roundtrip,
        busy.value_at_quantile(0.999),
        floor,
        p50("channel: crossbeam round trip"),
        snapshot_read_ns,
        throughput_1,
        throughput_2,
        p50("mutex: ledger in a Mutex, 2 threads"),
        seed,
        p50("vault: spin-yield"),
        p50("vault: spin-park (default)"),
        p50("vault: blocking"),
        unmirrored,
        mirrored,
        durability,
        settings.quick
    );
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

fn record(h: &mut Histogram<u64>, start: Instant) {
    let _ = h.record(start.elapsed().as_nanos().max(1) as u64);
}

fn clock_cost_ns() -> f64 {
    let n = 1_000_000;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(Instant::now());
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Two threads bounce a counter through one atomic: the cost of moving a cache line across cores
/// and back.
fn ping_pong(settings: &Settings) -> Histogram<u64> {
    let samples = settings.samples(500_000);
    let cell = Arc::new(AtomicU64::new(0));
    let other = cell.clone();
    let owner_core = settings.owner_core;
    let echo = thread::spawn(move || {
        if let Some(core) = owner_core {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        let mut expect = 1;
        while expect < 2 * samples {
            // Acquire/Release: the hand-off of each ball.
            while other.load(Ordering::Acquire) != expect {
                std::hint::spin_loop();
            }
            other.store(expect + 1, Ordering::Release);
            expect += 2;
        }
    });
    let mut h = histogram();
    for i in 0..samples {
        let start = Instant::now();
        cell.store(2 * i + 1, Ordering::Release);
        while cell.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
        record(&mut h, start);
    }
    let _ = echo.join();
    h
}

/// A request channel and a reply channel, both bounded, both sides spinning on `try_recv`.
fn channel_round_trip(settings: &Settings) -> Histogram<u64> {
    let samples = settings.samples(300_000);
    let (req_tx, req_rx) = crossbeam_channel::bounded::<u64>(1024);
    let (rep_tx, rep_rx) = crossbeam_channel::bounded::<u64>(1);
    let owner_core = settings.owner_core;
    let echo = thread::spawn(move || {
        if let Some(core) = owner_core {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        loop {
            match req_rx.try_recv() {
                Ok(v) => {
                    let _ = rep_tx.try_send(v);
                }
                Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        }
    });
    let mut h = histogram();
    for i in 0..samples {
        let start = Instant::now();
        let _ = req_tx.send(i);
        loop {
            match rep_rx.try_recv() {
                Ok(_) => break,
                Err(_) => std::hint::spin_loop(),
            }
        }
        record(&mut h, start);
    }
    drop(req_tx);
    let _ = echo.join();
    h
}

fn ledger() -> Result<Ledger, Box<dyn std::error::Error>> {
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "orders_max": 1024, "resolved_max": 1024 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                          "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
                                          { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#,
    )?;
    Ok(Ledger::from_config(&config)?)
}

fn reserve(n: u64, slot: u8) -> Command {
    Command::Reserve {
        id: ClientOrderId::snowflake(n).expect("ids start at 1"),
        book: BOOK,
        slot,
        side: Side::Buy,
        layer: 1,
        amount: Amount::from_units(100).unwrap_or(Amount::ZERO),
    }
}

fn allocate(units: i64) -> Command {
    Command::Allocate { book: BOOK, slot: 3, amount: Amount::from_units(units).unwrap_or(Amount::ZERO) }
}

fn release(units: i64) -> Command {
    Command::Release { book: BOOK, slot: 3, amount: Amount::from_units(units).unwrap_or(Amount::ZERO) }
}

fn cancel(n: u64) -> Command {
    Command::Cancel { id: ClientOrderId::snowflake(n).expect("ids start at 1") }
}

fn vault(settings: &Settings, wait: WaitStrategy) -> Result<capvault::Handle, Box<dyn std::error::Error>> {
    vault_with(settings, Builder::new(ledger()?).wait(wait).reply_wait(wait))
}

fn vault_with(settings: &Settings, builder: Builder) -> Result<capvault::Handle, Box<dyn std::error::Error>> {
    let mut builder = builder;
    if let Some(core) = settings.owner_core {
        builder = builder.pin_to_core(core);
    }
    Ok(builder.spawn()?)
}

/// Submit a reservation, get its outcome: timed. Cancel it: untimed, so the book stays level.
fn vault_round_trip(
    settings: &Settings,
    wait: WaitStrategy,
    samples: u64,
) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let mut handle = vault(settings, wait)?;
    let mut h = histogram();
    for n in 1..=samples {
        timed_pair(&mut handle, &mut h, n)?;
    }
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(h)
}

fn timed_pair(
    handle: &mut capvault::Handle,
    h: &mut Histogram<u64>,
    n: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    handle.submit(reserve(n, 2))?;
    record(h, start);
    handle.submit(cancel(n))?;
    Ok(())
}

/// The round trip with both mirrors off and on, measured under the same conditions: two vaults
/// (one with the shared-memory file and `shared_pool.json`, one without) whose owners share a
/// core, spin for 20 µs and then park, driven in alternating chunks of 1,000 round trips; the
/// first 100 of each chunk (while the other owner is still spinning, and this one waking) are not
/// recorded. Rows measured one after the other differ
/// by 20% on this machine from their position alone.
fn mirror_comparison(
    settings: &Settings,
) -> Result<(Histogram<u64>, Histogram<u64>), Box<dyn std::error::Error>> {
    let wait = WaitStrategy::SpinPark { spin: Duration::from_micros(20) };
    let mirrors = Mirrors::new("interleaved")?;
    let plain = vault(settings, wait)?;
    let mirrored = vault_with(settings, mirrors.attach(Builder::new(ledger()?).wait(wait).reply_wait(wait)))?;
    interleaved(settings, plain, mirrored)
}

/// Both mirrors in a scratch place (the shared-memory file and `shared_pool.json`), removed when
/// dropped.
struct Mirrors {
    dir: PathBuf,
    shm: PathBuf,
}

impl Mirrors {
    fn new(tag: &str) -> Result<Mirrors, Box<dyn std::error::Error>> {
        let name = format!("capvault-latency-{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        fs::create_dir_all(&dir)?;
        Ok(Mirrors { dir, shm: capvault::shm_path(&name) })
    }

    fn attach(&self, builder: Builder) -> Builder {
        if std::env::var("ONLY").as_deref() == Ok("shm") {
            return builder.mirror_shm(&self.shm);
        }
        if std::env::var("ONLY").as_deref() == Ok("json") {
            return builder.mirror_json(self.dir.join("shared_pool.json"));
        }
        builder.mirror_shm(&self.shm).mirror_json(self.dir.join("shared_pool.json"))
    }
}

impl Drop for Mirrors {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.shm);
        let _ = fs::remove_file(format!("{}.lock", self.shm.display()));
    }
}

/// The busy-spin round trip of the vault as it is used: both mirrors on and latency recording on
/// (the default), no journal.
fn full_round_trip(settings: &Settings) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let mirrors = Mirrors::new("full")?;
    let wait = WaitStrategy::BusySpin;
    let mut handle =
        vault_with(settings, mirrors.attach(Builder::new(ledger()?).wait(wait).reply_wait(wait)))?;
    let mut h = histogram();
    for n in 1..=settings.samples(200_000) {
        timed_pair(&mut handle, &mut h, n)?;
    }
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(h)
}

/// The round trip with the vault's own latency recording off and on (`Builder::record_latency`),
/// measured as the mirrors are: two vaults driven in alternating chunks.
fn recording_comparison(
    settings: &Settings,
) -> Result<(Histogram<u64>, Histogram<u64>), Box<dyn std::error::Error>> {
    let wait = WaitStrategy::SpinPark { spin: Duration::from_micros(20) };
    let builder = |record| -> Result<Builder, Box<dyn std::error::Error>> {
        Ok(Builder::new(ledger()?).wait(wait).reply_wait(wait).record_latency(record))
    };
    let plain = vault_with(settings, builder(false)?)?;
    let recording = vault_with(settings, builder(true)?)?;
    interleaved(settings, plain, recording)
}

/// Round trips on vaults `a` and `b` in alternating chunks of 1,000, the first 100 of each chunk
/// (while the other owner is still spinning and this one waking) not recorded; then shuts both
/// down.
fn interleaved(
    settings: &Settings,
    mut a: capvault::Handle,
    mut b: capvault::Handle,
) -> Result<(Histogram<u64>, Histogram<u64>), Box<dyn std::error::Error>> {
    let (mut in_a, mut in_b) = (histogram(), histogram());
    let mut scratch = histogram();
    let mut n = 0;
    for _ in 0..settings.samples(200) {
        for (handle, h) in [(&mut a, &mut in_a), (&mut b, &mut in_b)] {
            for i in 0..1_000 {
                n += 1;
                timed_pair(handle, if i < 100 { &mut scratch } else { &mut *h }, n)?;
            }
        }
    }
    a.shutdown().map_err(|e| e.to_string())?;
    b.shutdown().map_err(|e| e.to_string())?;
    Ok((in_a, in_b))
}

/// The default strategy when commands are 1 ms apart: the owner has parked by the time each
/// arrives, so every round trip pays a wake-up.
fn vault_idle_round_trip(settings: &Settings) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let mut handle = vault(settings, WaitStrategy::default())?;
    let mut h = histogram();
    for n in 1..=settings.samples(1_000) {
        thread::sleep(Duration::from_millis(1));
        let start = Instant::now();
        handle.submit(reserve(n, 2))?;
        record(&mut h, start);
        handle.submit(cancel(n))?;
    }
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(h)
}

/// The same ledger behind a Mutex: this thread's lock + apply + unlock is timed while another
/// thread on the other core does the same in a loop.
fn mutex_baseline(settings: &Settings) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let ledger = Arc::new(Mutex::new(ledger()?));
    let stop = Arc::new(AtomicBool::new(false));
    let (other_ledger, other_stop) = (ledger.clone(), stop.clone());
    let owner_core = settings.owner_core;
    let rival = thread::spawn(move || {
        if let Some(core) = owner_core {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        let mut n = 1_u64 << 40;
        // Relaxed: a stop flag, nothing is published through it.
        while !other_stop.load(Ordering::Relaxed) {
            n += 1;
            let mut l = other_ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = l.apply(&reserve(n, 3));
            let _ = l.apply(&cancel(n));
        }
    });
    let mut h = histogram();
    for n in 1..=settings.samples(300_000) {
        let start = Instant::now();
        {
            let mut l = ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = l.apply(&reserve(n, 2));
        }
        record(&mut h, start);
        let _ = ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner).apply(&cancel(n));
    }
    // Relaxed: see above.
    stop.store(true, Ordering::Relaxed);
    let _ = rival.join();
    Ok(h)
}

/// The seed's way: a file lock, then read, parse, modify and rewrite `shared_pool.json`, per
/// operation.
fn seed_style(settings: &Settings) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("capvault-seed-style-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let pool = dir.join("shared_pool.json");
    fs::write(
        &pool,
        r#"{"used_159201": 120000, "used_512890": 80000, "frozen_159201": 0, "frozen_512890": 22000,
            "acc_alpha_159201": 3500.5, "acc_alpha_512890": 2100.0, "updated_at": "2026-02-16T12:00:00"}"#,
    )?;
    let lock = File::create(dir.join("shared_pool.lock"))?;
    let mut h = histogram();
    for n in 0..settings.samples(20_000) {
        let start = Instant::now();
        lock.lock()?;
        let text = fs::read_to_string(&pool)?;
        let mut value: serde_json::Value = serde_json::from_str(&text)?;
        let delta = if n % 2 == 0 { 100.0 } else { -100.0 };
        let frozen = value["frozen_159201"].as_f64().unwrap_or(0.0) + delta;
        value["frozen_159201"] = serde_json::json!(frozen);
        File::create(&pool)?.write_all(serde_json::to_string(&value)?.as_bytes())?;
        lock.unlock()?;
        record(&mut h, start);
    }
    fs::remove_dir_all(&dir)?;
    Ok(h)
}

/// Average cost of `reader.snapshot()` plus one field read, owner idle.
fn snapshot_read(settings: &Settings) -> Result<f64, Box<dyn std::error::Error>> {
    let handle = vault(settings, WaitStrategy::Blocking)?;
    let reader = handle.reader();
    let n = settings.samples(20_000_000);
    let start = Instant::now();
    let mut sum = 0_u64;
    for _ in 0..n {
        sum = sum.wrapping_add(reader.snapshot().seq());
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    std::hint::black_box(sum);
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(ns)
}

/// Detached reservations and cancels from `producers` threads as fast as the channel takes them,
/// busy-spin owner; commands per second until the last is applied.
fn throughput(
    settings: &Settings,
    producers: u64,
    mirrored: bool,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mirrors = Mirrors::new("throughput")?;
    let mut builder = Builder::new(ledger()?);
    if mirrored {
        builder = mirrors.attach(builder);
    }
    let handle = builder
        .wait(WaitStrategy::BusySpin)
        .capacity(4096)
        .batch_max(1024)
        .outcomes_max(16)
        .pin_to_core(settings.owner_core.unwrap_or(0))
        .spawn()?;
    let reader = handle.reader();
    let per_producer = settings.samples(2_000_000) / producers / 2 * 2;
    let start = Instant::now();
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let mut h = handle.clone();
            let slot = 2 + (p % 2) as u8;
            thread::spawn(move || {
                for i in 0..per_producer / 2 {
                    let n = (p << 40) + i + 1;
                    let _ = h.submit_detached(reserve(n, slot));
                    let _ = h.submit_detached(cancel(n));
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let total = per_producer * producers;
    while reader.snapshot().stats().accepted + reader.snapshot().stats().rejected < total {
        std::hint::spin_loop();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(rate)
}

/// Round trip and throughput for each durability policy, journal in the temporary folder:
/// one producer with blocking submits (every batch is one command: one write, and one fsync for
/// `FsyncBatch`), then two producers submitting detached (batches form: one fsync covers many).
/// Returns the JSON fields for the last line.
fn durability_report(settings: &Settings) -> Result<String, Box<dyn std::error::Error>> {
    println!();
    let columns = ["samples", "p50", "p99", "p99.9", "max", "1 producer/s", "2 detached/s", "cmds/batch"];
    let widths = [8, 9, 9, 10, 11, 13, 14, 10];
    let mut header = String::new();
    for (column, width) in columns.iter().zip(widths) {
        header += &format!(" {column:>width$}");
    }
    println!("{:<30}{header}", "durability (ns, cmds/s)");
    let mut json = Vec::new();
    let mut stall = None;
    for (name, durability, samples) in [
        ("none", Durability::None, 100_000),
        ("write", Durability::Write, 50_000),
        ("fsync per batch", Durability::FsyncBatch, 3_000),
    ] {
        let samples = settings.samples(samples).max(100);
        let dir = std::env::temp_dir().join(format!("capvault-latency-journal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let builder = || -> Result<Builder, Box<dyn std::error::Error>> {
            Ok(Builder::new(ledger()?)
                .wait(WaitStrategy::BusySpin)
                .reply_wait(WaitStrategy::BusySpin)
                .data_dir(&dir)
                .durability(durability)
                .checkpoint_every(samples / 4 + 1, Duration::from_secs(3600)))
        };
        let mut handle = vault_with(settings, builder()?)?;
        let mut h = histogram();
        let start = Instant::now();
        for n in 1..=samples {
            timed_pair(&mut handle, &mut h, n)?;
        }
        let one = 2.0 * samples as f64 / start.elapsed().as_secs_f64();
        let reader = handle.reader();
        handle.shutdown().map_err(|e| e.to_string())?;
        if durability == Durability::FsyncBatch {
            stall = Some(reader.checkpoint_stats().owner_stall_max);
        }
        let _ = fs::remove_dir_all(&dir);
        let (two, per_batch) = detached_pair_rate(settings, builder()?, samples)?;
        let _ = fs::remove_dir_all(&dir);
        println!(
            "{:<30} {:>8} {:>9} {:>9} {:>10} {:>11} {:>13.0} {:>14.0} {:>10.1}",
            name,
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            one,
            two,
            per_batch
        );
        let key = name.replace(' ', "_");
        json.push(format!(
            "\"durability_{key}_p50_ns\":{},\"durability_{key}_cmds_per_s\":{one:.0},\"durability_{key}_2p_cmds_per_s\":{two:.0}",
            h.value_at_quantile(0.5)
        ));
    }
    if let Some(stall) = stall {
        println!(
            "checkpoint hand-over (owner stall: journal rotation + ledger copy), max: {} µs",
            stall.as_micros()
        );
        json.push(format!("\"checkpoint_stall_max_us\":{}", stall.as_micros()));
    }
    Ok(json.join(","))
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// `HdrHistogram`'s percentile-distribution text (`.hgrm`), for the usual plotters.
fn write_hgrm(path: &Path, h: &Histogram<u64>) -> std::io::Result<()> {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0;
    for v in h.iter_quantiles(1) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 { format!("{:.2}", 1.0 / (1.0 - q)) } else { "inf".into() };
        out.push_str(&format!(
            "{:12.3} {:14.12} {:10} {:>14}\n",
            v.value_iterated_to() as f64,
            q,
            total,
            inverse
        ));
    }
    out.push_str(&format!(
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n",
        h.mean(),
        h.stdev(),
        h.max() as f64,
        h.len()
    ));
    fs::write(path, out)
}

/// Two producers submitting detached: the owner drains what queued during the last fsync into
/// one batch, and one fsync covers it (group commit). Returns commands per second and commands
/// per batch.
fn detached_pair_rate(
    settings: &Settings,
    builder: Builder,
    samples: u64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let handle = vault_with(settings, builder)?;
    let reader = handle.reader();
    let start = Instant::now();
    let threads: Vec<_> = (0..2_u64)
        .map(|p| {
            let mut h = handle.clone();
            thread::spawn(move || {
                for i in 0..samples / 2 {
                    let n = (p << 40) + i + 1;
                    let _ = h.submit_detached(reserve(n, 2 + p as u8));
                    let _ = h.submit_detached(cancel(n));
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    while reader.snapshot().stats().accepted < samples / 2 * 4 {
        thread::sleep(Duration::from_micros(50));
    }
    let batches = reader.snapshot().stats().batches.max(1);
    let two = (samples / 2 * 4) as f64 / start.elapsed().as_secs_f64();
    let per_batch = (samples / 2 * 4) as f64 / batches as f64;
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok((two, per_batch))
}
