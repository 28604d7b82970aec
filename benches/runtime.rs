//! criterion benches of the owner-thread runtime, each beside its baseline in the same run:
//! - `snapshot_read`: the wait-free snapshot load, beside a plain `Arc` clone;
//! - `submit_round_trip/<wait strategy>`: a blocking submit, beside a raw crossbeam round trip;
//! - `fire_and_forget/<producers>`: detached submissions until applied, 1 and 2 producers.
//!
//! Run: `cargo bench --bench runtime`. With two cores or more, the bench thread is pinned to the
//! first and the owner to the last, as in `examples/latency.rs`.
#![allow(missing_docs)] // criterion's macros generate the entry points

use std::sync::Arc;
use std::time::{Duration, Instant};

use capvault::{Amount, BookId, Builder, ClientOrderId, Command, Ledger, LedgerConfig, Side, WaitStrategy};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BOOK: BookId = BookId::new(0);

fn ledger() -> Ledger {
    let config = LedgerConfig::from_json(
        r#"{ "limits": { "orders_max": 4096, "resolved_max": 4096 },
             "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000 } ] }"#,
    )
    .expect("the bench configuration parses");
    Ledger::from_config(&config).expect("the bench configuration is valid")
}

/// The owner's core; also pins the calling (bench) thread to the first core, once.
fn owner_core() -> Option<usize> {
    static CORES: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        (cores.len() >= 2).then(|| (cores[0].id, cores[cores.len() - 1].id))
    });
    if let Some((bench, _)) = cores {
        core_affinity::set_for_current(core_affinity::CoreId { id: bench });
    }
    cores.map(|(_, owner)| owner)
}

fn builder(wait: WaitStrategy) -> Builder {
    let builder = Builder::new(ledger()).wait(wait).reply_wait(wait);
    match owner_core() {
        Some(core) => builder.pin_to_core(core),
        None => builder,
    }
}

/// Alternating +1 and -1 raw units on the total: always accepted, the book stays level.
fn nudge(n: u64) -> Command {
    let delta = Amount::from_raw(if n.is_multiple_of(2) { 1 } else { -1 }).unwrap_or(Amount::ZERO);
    Command::Adjust { book: BOOK, slot: 0, delta }
}

fn snapshot_read(c: &mut Criterion) {
    let handle = builder(WaitStrategy::Blocking).spawn().expect("the vault starts");
    let reader = handle.reader();
    let mut group = c.benchmark_group("snapshot_read");
    group.bench_function("vault_snapshot", |b| b.iter(|| reader.snapshot().seq()));
    let plain = Arc::new(0_u64);
    group.bench_function("baseline_arc_clone", |b| b.iter(|| *Arc::clone(&plain)));
    group.finish();
    handle.shutdown().expect("the vault stops");
}

fn submit_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("submit_round_trip");
    let strategies = [
        ("busy_spin", WaitStrategy::BusySpin),
        ("spin_yield", WaitStrategy::SpinYield { spin: Duration::from_micros(50) }),
        ("spin_park", WaitStrategy::default()),
        ("blocking", WaitStrategy::Blocking),
    ];
    for (name, wait) in strategies {
        if wait == WaitStrategy::Blocking {
            group.sample_size(20).measurement_time(Duration::from_secs(2));
        }
        let mut handle = builder(wait).spawn().expect("the vault starts");
        let mut n = 0_u64;
        group.bench_function(BenchmarkId::new("vault", name), |b| {
            b.iter(|| {
                n += 1;
                handle.submit(nudge(n)).expect("a nudge is accepted")
            });
        });
        handle.shutdown().expect("the vault stops");
    }
    // The transport alone: a request channel and a reply channel, both sides spinning.
    let (req_tx, req_rx) = crossbeam_channel::bounded::<u64>(1024);
    let (rep_tx, rep_rx) = crossbeam_channel::bounded::<u64>(1);
    let core = owner_core();
    let echo = std::thread::spawn(move || {
        if let Some(core) = core {
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
    group.bench_function("baseline_crossbeam_round_trip", |b| {
        b.iter(|| {
            let _ = req_tx.send(1);
            loop {
                if let Ok(v) = rep_rx.try_recv() {
                    break v;
                }
                std::hint::spin_loop();
            }
        });
    });
    drop(req_tx);
    let _ = echo.join();
    group.finish();
}

fn fire_and_forget(c: &mut Criterion) {
    let mut group = c.benchmark_group("fire_and_forget");
    group.sample_size(10);
    let per_iteration = 100_000_u64;
    for producers in [1_u64, 2] {
        group.throughput(Throughput::Elements(per_iteration));
        group.bench_function(BenchmarkId::from_parameter(format!("{producers}_producers")), |b| {
            b.iter_custom(|iterations| {
                let handle = builder(WaitStrategy::BusySpin)
                    .capacity(4096)
                    .batch_max(1024)
                    .outcomes_max(16)
                    .spawn()
                    .expect("starts");
                let reader = handle.reader();
                let total = iterations * per_iteration;
                let start = Instant::now();
                let threads: Vec<_> = (0..producers)
                    .map(|p| {
                        let mut h = handle.clone();
                        std::thread::spawn(move || {
                            for i in 0..total / producers {
                                let _ = h.submit_detached(nudge(p + i));
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    let _ = t.join();
                }
                let expected = total / producers * producers;
                while reader.snapshot().stats().accepted < expected {
                    std::hint::spin_loop();
                }
                let elapsed = start.elapsed();
                handle.shutdown().expect("the vault stops");
                elapsed
            });
        });
    }
    group.finish();
}

fn ids(c: &mut Criterion) {
    // Keeps `ClientOrderId` parsing honest: the edge conversion an executor does per signal.
    let mut group = c.benchmark_group("edge");
    group.bench_function("parse_uuid_hex", |b| {
        b.iter(|| "3f2b8c1d9e4a4b7c8d6e5f4a3b2c1d0e".parse::<ClientOrderId>().expect("parses"));
    });
    group.bench_function("reserve_command_apply", |b| {
        let mut l = ledger();
        let mut n = 0_u64;
        b.iter(|| {
            n += 1;
            let id = ClientOrderId::snowflake(n).expect("ids start at 1");
            let amount = Amount::from_units(10).unwrap_or(Amount::ZERO);
            let _ = l.apply(&Command::Reserve { id, book: BOOK, slot: 2, side: Side::Buy, layer: 1, amount });
            l.apply(&Command::Cancel { id })
        });
    });
    // The owner's cost of the shared-memory mirror per published snapshot, beside the reader's.
    let path = capvault::shm_path(&format!("capvault-bench-{}", std::process::id()));
    let mut vault = builder(WaitStrategy::Blocking).spawn().expect("starts");
    for n in 1..=3 {
        let amount = Amount::from_units(10).unwrap_or(Amount::ZERO);
        let id = ClientOrderId::snowflake(n).expect("ids start at 1");
        vault
            .submit(Command::Reserve { id, book: BOOK, slot: 2, side: Side::Buy, layer: 1, amount })
            .expect("fits");
    }
    let snapshot = loop {
        let snapshot = vault.reader().snapshot_arc();
        if snapshot.seq() >= 3 {
            break snapshot;
        }
    };
    let writer = capvault::ShmWriter::create(&path, capvault::Geometry { books_max: 16, orders_max: 4096 })
        .expect("creates");
    group.bench_function("shm_write_1_book_3_orders", |b| b.iter(|| writer.write(&snapshot)));
    let reader = capvault::ShmReader::open(&path).expect("opens");
    group.bench_function("shm_read_1_book_3_orders", |b| b.iter(|| reader.read().expect("reads")));
    drop(writer);
    vault.shutdown().expect("stops");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{}.lock", path.display()));
    group.finish();
}

criterion_group!(benches, snapshot_read, submit_round_trip, fire_and_forget, ids);
criterion_main!(benches);
