//! The vault's own latency: every command is counted once per metric it passes through, from
//! any number of submitting threads, with readers asking at the same time; the journal is
//! measured only with a data directory; recording off records nothing; the interval log reads
//! back (HdrHistogram V2) with the same counts; the shared-memory mirror carries the summary.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use capvault::*;
use common::*;
use hdrhistogram::Histogram;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-latency-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn builder() -> Builder {
    Builder::new(seed_000(Limits::default())).wait(WaitStrategy::Blocking).reply_wait(WaitStrategy::Blocking)
}

fn allocate(handle: &mut Handle, n: u64) {
    for _ in 0..n {
        handle.submit(Command::Allocate { book: CNY, slot: 2, amount: units(1) }).unwrap();
    }
}

#[test]
fn every_blocking_submit_is_counted_once_in_queue_wait_and_round_trip() {
    let mut handle = builder().spawn().unwrap();
    let reader = handle.reader();
    allocate(&mut handle, 200);
    // While the vault runs: the owner, idle now, has handed over everything; the last round trip
    // travels with the next command, so 199 of 200 are in.
    let running = reader.latency();
    assert!(running.enabled());
    assert_eq!(running.summary(Metric::Queue).count, 200);
    assert_eq!(running.summary(Metric::RoundTrip).count, 199);
    let batches: u64 = running
        .histogram(Metric::Batch)
        .iter_recorded()
        .map(|v| v.value_iterated_to() * v.count_at_value())
        .sum();
    assert_eq!(batches, 200, "the batch sizes add up to the commands");
    assert_eq!(running.summary(Metric::Apply).count, running.summary(Metric::Batch).count);
    assert_eq!(running.summary(Metric::Journal).count, 0, "no data directory, no journal");
    handle.shutdown().unwrap();
    let last = reader.latency();
    assert_eq!(last.summary(Metric::RoundTrip).count, 200, "shutdown reports the last round trip");
    for (metric, summary) in last.summaries() {
        assert!(
            summary.p50 <= summary.p99 && summary.p99 <= summary.p999 && summary.p999 <= summary.max,
            "{metric:?}"
        );
    }
    // Round trips include the queue wait: the slowest is at least the slowest wait.
    assert!(last.summary(Metric::RoundTrip).max >= last.summary(Metric::Queue).max);
    let interval = last.since(&running);
    assert_eq!(interval.summary(Metric::RoundTrip).count, 1);
    assert_eq!(interval.summary(Metric::Queue).count, 0);
}

#[test]
fn nothing_is_lost_from_many_submitters_while_readers_ask() {
    let handle = Builder::new(seed_000(Limits::default())).spawn().unwrap();
    let reader = handle.reader();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asking = {
        let (reader, stop) = (reader.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut asked = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let latency = reader.latency();
                assert!(latency.summary(Metric::Queue).count <= 4 * 1000);
                asked += 1;
            }
            asked
        })
    };
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut handle = handle.clone();
            std::thread::spawn(move || {
                for n in 0..1000 {
                    if n % 2 == 0 {
                        handle.submit(Command::Allocate { book: CNY, slot: 2, amount: units(1) }).unwrap();
                    } else {
                        handle
                            .submit_detached(Command::Release { book: CNY, slot: 2, amount: units(1) })
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    handle.shutdown().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(asking.join().unwrap() > 0);
    let latency = reader.latency();
    assert_eq!(latency.summary(Metric::Queue).count, 4000, "every command's queue wait");
    assert_eq!(latency.summary(Metric::RoundTrip).count, 2000, "every blocking submit's round trip");
    let depth = latency.summary(Metric::Depth);
    assert!(depth.max >= latency.summary(Metric::Batch).max);
}

#[test]
fn the_journal_is_timed_per_batch_with_a_data_directory() {
    let dir = scratch("journal");
    let mut handle = builder().data_dir(dir.join("data")).spawn().unwrap();
    allocate(&mut handle, 20);
    let latency = handle.reader().latency();
    let journal = latency.summary(Metric::Journal);
    assert_eq!(journal.count, latency.summary(Metric::Batch).count, "one journal commit per batch");
    assert!(journal.p50 > 0);
    handle.shutdown().unwrap();
}

#[test]
fn recording_off_records_nothing() {
    let mut handle = builder().record_latency(false).spawn().unwrap();
    allocate(&mut handle, 20);
    let reader = handle.reader();
    handle.shutdown().unwrap();
    let latency = reader.latency();
    assert!(!latency.enabled());
    for (metric, summary) in latency.summaries() {
        assert_eq!(summary, LatencySummary::default(), "{metric:?}");
    }
}

/// Each tag's histograms in the log, added up.
fn read_log(path: &std::path::Path) -> std::collections::BTreeMap<String, Histogram<u64>> {
    let metrics = read_latency_log(&std::fs::read(path).unwrap()).unwrap();
    metrics
        .into_iter()
        .map(|(tag, intervals)| {
            let mut sum = Histogram::new(3).unwrap();
            for interval in intervals {
                sum.add(interval.histogram).unwrap();
            }
            (tag, sum)
        })
        .collect()
}

#[test]
fn the_interval_log_reads_back_with_every_count() {
    let dir = scratch("log");
    let log = dir.join("latency.hlog");
    let mut handle = builder().latency_log(&log, Duration::from_millis(20)).spawn().unwrap();
    allocate(&mut handle, 50);
    std::thread::sleep(Duration::from_millis(60));
    allocate(&mut handle, 50);
    let reader = handle.reader();
    handle.shutdown().unwrap();
    let stats = reader.latency_log_stats();
    assert!(stats.intervals >= 2, "{stats:?}");
    assert_eq!(stats.failures, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("#[StartTime: "), "{text}");
    let tags = read_log(&log);
    assert_eq!(tags["queue"].len(), 100);
    assert_eq!(tags["round_trip"].len(), 100);
    assert!(!tags.contains_key("journal"), "a metric never recorded is left out");
    assert_eq!(tags["queue"].max(), reader.latency().histogram(Metric::Queue).max());
}

#[test]
fn a_latency_log_that_cannot_be_created_stops_the_spawn() {
    let dir = scratch("log-missing");
    let error = builder()
        .latency_log(dir.join("no/such/dir/latency.hlog"), Duration::from_secs(1))
        .spawn()
        .unwrap_err();
    assert!(matches!(error, SpawnError::LatencyLog { .. }), "{error}");
    let error =
        builder().latency_log(dir.join("latency.hlog"), Duration::from_millis(1)).spawn().unwrap_err();
    assert!(matches!(error, SpawnError::Setting { .. }), "{error}");
}

#[test]
fn the_shared_memory_mirror_carries_the_summary() {
    let dir = scratch("shm");
    let path = dir.join("vault.shm");
    let mut handle = builder().mirror_shm(&path).mirror_interval(Duration::from_millis(20)).spawn().unwrap();
    allocate(&mut handle, 30);
    // The mirror thread writes within its gap (500 µs) and times the write.
    let reader = handle.reader();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reader.latency().summary(Metric::Shm).count == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.shutdown().unwrap();
    let shm = ShmReader::open(&path).unwrap();
    let summaries: std::collections::BTreeMap<_, _> =
        shm.latency().unwrap().into_iter().map(|(metric, summary)| (metric.name(), summary)).collect();
    let latency = reader.latency();
    assert_eq!(summaries["queue"], latency.summary(Metric::Queue));
    assert_eq!(summaries["round_trip"].count, 30);
    assert!(summaries["shm"].count > 0, "the mirror thread times its own writes");
}

fn capvault(args: &[&str]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capvault")).args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[test]
fn capvault_latency_prints_plots_and_writes_hgrm() {
    let dir = scratch("cli");
    let log = dir.join("latency.hlog");
    let mut handle =
        builder().data_dir(dir.join("data")).latency_log(&log, Duration::from_millis(20)).spawn().unwrap();
    allocate(&mut handle, 40);
    handle.shutdown().unwrap();
    let log = log.to_str().unwrap();

    let (code, out, err) = capvault(&["latency", log]);
    assert_eq!(code, Some(0), "{err}");
    let queue = out.lines().find(|line| line.starts_with("queue ")).unwrap();
    assert_eq!(queue.split_whitespace().nth(1), Some("40"), "{out}");
    assert!(out.contains("journal") && out.contains("p99.9"), "{out}");
    // Each row says what it counts: a command, a batch, or commands per batch.
    assert!(queue.contains("time per command"), "{out}");
    let journal = out.lines().find(|line| line.starts_with("journal ")).unwrap();
    assert!(journal.contains("time per batch"), "{out}");
    let batch = out.lines().find(|line| line.starts_with("batch ")).unwrap();
    assert!(batch.contains("commands per batch"), "{out}");

    let (code, out, _) = capvault(&["latency", log, "--tag", "journal", "--hgrm"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("# journal (microseconds)"), "{out}");
    assert!(out.contains("1/(1-Percentile)") && out.contains("#[Max     ="), "{out}");
    assert!(!out.contains("# queue"), "{out}");

    let svg = dir.join("latency.svg");
    let (code, out, err) = capvault(&["latency", log, "--plot", "-o", svg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("curves"), "{out}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.starts_with("<svg")
            && drawn.contains("queue")
            && drawn.contains("90%")
            && drawn.contains("99%")
            && drawn.contains("latency (µs, log scale)")
            && drawn.contains("time per batch"),
        "{drawn}"
    );

    let (code, _, err) = capvault(&["latency", log, "--tag", "nonesuch"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no histogram tagged \"nonesuch\""), "{err}");
    let garbage = dir.join("garbage.hlog");
    std::fs::write(&garbage, "Tag=queue,not numbers\n").unwrap();
    let (code, _, err) = capvault(&["latency", garbage.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not an HdrHistogram interval log"), "{err}");
    let (code, _, err) = capvault(&["latency", log, "--plot"]);
    assert_eq!(code, Some(2), "--plot needs -o: {err}");
}
