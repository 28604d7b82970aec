//! The mirrors: a shared-memory file reads back equal to the snapshot it was written from; bad
//! files (missing, empty, truncated, foreign, another version, owned by a live writer) each get
//! their own error; the writer's state reads alive, then closed; and after shutdown the JSON
//! mirror equals the final snapshot field by field in seed 000's schema.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use capvault::*;
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-mirrors-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A vault with a few strategies, orders in every state, alpha and a penalty.
fn busy_vault(builder: Builder) -> Handle {
    let mut h = builder.wait(WaitStrategy::Blocking).reply_wait(WaitStrategy::Blocking).spawn().unwrap();
    h.submit(buy(id(1), 2, 0, units(120_000))).unwrap();
    h.submit(Command::Fill { id: id(1), amount: units(120_000) }).unwrap();
    h.submit(buy(id(2), 3, 0, units(80_000))).unwrap();
    h.submit(Command::Fill { id: id(2), amount: units(30_000) }).unwrap();
    h.submit(Command::Reserve {
        id: "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b".parse().unwrap(),
        book: CNY,
        slot: 3,
        side: Side::Buy,
        layer: 2,
        amount: amount("22000.5"),
    })
    .unwrap();
    h.submit(buy(id(3), 4, 1, units(50_000))).unwrap();
    h.submit(Command::RecordAlpha { book: CNY, slot: 2, amount: amount("3500.5") }).unwrap();
    h.submit(Command::RecordAlpha { book: CNY, slot: 3, amount: units(2100) }).unwrap();
    h.submit(Command::MarkLoss { book: CNY, slot: 4, loss: units(16_000) }).unwrap();
    let last = h.submit(Command::Reset { book: USDT, balance: units(5000), force: false }).unwrap();
    // Answers come before publication, and a busy owner extends its batch: wait for the
    // snapshot that shows the last command.
    let reader = h.reader();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reader.snapshot().seq() < last.seq {
        assert!(std::time::Instant::now() < deadline, "seq {} never published", last.seq);
        std::thread::yield_now();
    }
    h
}

#[test]
fn shared_memory_reads_back_the_snapshot() {
    let dir = scratch("roundtrip");
    let path = dir.join("vault.shm");
    let handle = busy_vault(Builder::new(seed_000(Limits::default())).mirror_shm(&path));
    let reader = ShmReader::open(&path).unwrap();
    assert_eq!(reader.writer().state, WriterState::Alive);
    assert_eq!(reader.writer_pid(), std::process::id());
    let expected = handle.reader().snapshot_arc();
    let read = reader.wait_for(expected.seq(), Duration::from_secs(10)).unwrap();
    assert_eq!(read.seq(), expected.seq());
    assert_eq!(read.books(), expected.books());
    assert!(read.orders().eq(expected.orders()), "the same orders, in the same order");
    // One book alone, from its record only: the same book, at the same seq.
    for book in [CNY, USDT] {
        let (seq, alone) = reader.read_book(book).unwrap();
        assert_eq!(seq, expected.seq());
        assert_eq!(alone.as_ref(), expected.book(book), "{book}");
    }
    assert_eq!(reader.read_book(BookId::new(3)).unwrap(), (expected.seq(), None), "a book the ledger lacks");
    assert_eq!(reader.read_book(BookId::new(999)).unwrap(), (expected.seq(), None), "past the file's books");
    let view = read.view(CNY).unwrap();
    assert_eq!(view.committed(), amount("272000.5"));
    assert!(read.book(CNY).unwrap().penalty().is_active(), "{view:?}");

    // A second writer on the same file is refused while the first lives.
    match Builder::new(seed_000(Limits::default())).mirror_shm(&path).spawn() {
        Err(SpawnError::Shm(ShmError::WriterActive { pid, .. })) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected WriterActive, got {other:?}"),
    }
    let last = handle.shutdown().unwrap();
    assert_eq!(reader.writer().state, WriterState::Closed);
    assert_eq!(reader.read().unwrap().books(), last.books());
    // Once the writer is gone, a new one may take the path; the old reader sees it replaced.
    let again = Builder::new(seed_000(Limits::default())).mirror_shm(&path).spawn().unwrap();
    assert_eq!(reader.writer().state, WriterState::Replaced);
    again.shutdown().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_files_get_their_own_errors() {
    let dir = scratch("bad");
    let good = dir.join("good.shm");
    let handle = busy_vault(Builder::new(seed_000(Limits::default())).mirror_shm(&good));
    handle.shutdown().unwrap();
    // Copied once the writer is done: a copy taken mid-write would hold an odd sequence.
    let bytes = fs::read(&good).unwrap();

    let missing = dir.join("missing.shm");
    assert!(matches!(ShmReader::open(&missing), Err(ShmError::Missing { .. })));

    let empty = dir.join("empty.shm");
    fs::write(&empty, b"").unwrap();
    assert!(matches!(ShmReader::open(&empty), Err(ShmError::Empty { .. })));

    let short = dir.join("short.shm");
    fs::write(&short, &bytes[..100]).unwrap();
    assert!(matches!(ShmReader::open(&short), Err(ShmError::Truncated { len: 100, expected: 448, .. })));

    let truncated = dir.join("truncated.shm");
    fs::write(&truncated, &bytes[..bytes.len() - 64]).unwrap();
    match ShmReader::open(&truncated) {
        Err(ShmError::Truncated { len, expected, .. }) => {
            assert_eq!((len, expected), (bytes.len() as u64 - 64, bytes.len() as u64));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }

    let foreign = dir.join("foreign.shm");
    let mut other = bytes.clone();
    other[..8].copy_from_slice(b"NOTVAULT");
    fs::write(&foreign, &other).unwrap();
    assert!(matches!(ShmReader::open(&foreign), Err(ShmError::Foreign { .. })));

    let older = dir.join("older.shm");
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&0_u32.to_le_bytes());
    fs::write(&older, &other).unwrap();
    assert!(matches!(
        ShmReader::open(&older),
        Err(ShmError::Version { found: 0, expected: LAYOUT_VERSION, .. })
    ));

    // A stable read of an impossible field: the book's slot count set to 99.
    let corrupt = dir.join("corrupt.shm");
    let mut other = bytes.clone();
    other[448 + 24..448 + 28].copy_from_slice(&99_u32.to_le_bytes());
    fs::write(&corrupt, &other).unwrap();
    assert!(matches!(ShmReader::open(&corrupt).unwrap().read(), Err(ShmError::Corrupt { offset: 472, .. })));

    // A writer that died without closing: no lock held, no clean flag.
    let dead = dir.join("dead.shm");
    let mut other = bytes.clone();
    other[13 * 8..13 * 8 + 8].copy_from_slice(&0_u64.to_le_bytes());
    fs::write(&dead, &other).unwrap();
    assert_eq!(ShmReader::open(&dead).unwrap().writer().state, WriterState::Dead);

    // A write in progress that never ends (odd sequence). With nobody holding the writer lock
    // the writer died mid-write: Dead, at once. With a live lock holder: bounded retries, Busy.
    let stuck = dir.join("stuck.shm");
    let mut other = bytes.clone();
    other[40..48].copy_from_slice(&7_u64.to_le_bytes());
    fs::write(&stuck, &other).unwrap();
    assert!(matches!(ShmReader::open(&stuck).unwrap().read_with_tries(50), Err(ShmError::WriterDead { .. })));
    let lock = fs::File::create(dir.join("stuck.shm.lock")).unwrap();
    lock.lock().unwrap();
    assert!(matches!(
        ShmReader::open(&stuck).unwrap().read_with_tries(50),
        Err(ShmError::Busy { tries: 50, .. })
    ));
    drop(lock);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_json_mirror_equals_the_final_snapshot_in_the_seed_schema() {
    let dir = scratch("json");
    let path = dir.join("shared_pool.json");
    let handle = busy_vault(
        Builder::new(seed_000(Limits::default()))
            .mirror_json(&path)
            .mirror_interval(Duration::from_secs(3600)),
    );
    let reader = handle.reader();
    let last = handle.shutdown().unwrap();
    let stats = reader.mirror_stats();
    assert_eq!(stats.json_failures, 0);
    assert_eq!(stats.json_seq, Some(last.seq()), "the shutdown write carries the final state");

    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let object = json.as_object().unwrap();
    let book = last.book(CNY).unwrap();
    for (slot, name) in [(2, "159201"), (3, "512890"), (4, "slot4")] {
        let s = book.strategy(slot).unwrap();
        let number = |key: String| Amount::from_f64(object[&key].as_f64().unwrap()).unwrap();
        assert_eq!(number(format!("used_{name}")), s.used(), "{name}");
        assert_eq!(number(format!("frozen_{name}")), s.frozen(), "{name}");
        assert_eq!(number(format!("acc_alpha_{name}")), s.acc_alpha(), "{name}");
        let allocations = object[&format!("allocations_{name}")].as_array().unwrap();
        let live: Vec<_> = last.orders().filter(|o| o.book() == CNY && o.slot() == slot).collect();
        assert_eq!(allocations.len(), live.len(), "{name}");
        for (entry, order) in allocations.iter().zip(live) {
            assert_eq!(entry["client_order_id"], order.id().to_string());
            // What the order holds now (frozen + filled), and its frozen part.
            let holds = order.frozen().checked_add(order.used()).unwrap();
            assert_eq!(Amount::from_f64(entry["amount"].as_f64().unwrap()).unwrap(), holds);
            assert_eq!(Amount::from_f64(entry["frozen"].as_f64().unwrap()).unwrap(), order.frozen());
        }
    }
    assert_eq!(object["used_159201"], serde_json::json!(120_000), "whole amounts are plain integers");
    assert_eq!(object["acc_alpha_159201"], serde_json::json!(3500.5));
    let updated_at = object["updated_at"].as_str().unwrap();
    assert!(
        updated_at.len() == 24 && updated_at.ends_with('Z') && updated_at.as_bytes()[10] == b'T',
        "{updated_at}"
    );
    // The USDT book's one strategy has no label: it is named by its slot.
    assert_eq!(object["used_slot2"], serde_json::json!(0));
    // Per strategy: used, frozen, direct, acc_alpha, allocations; per book: total, pool,
    // utilisation, penalty; and updated_at.
    assert_eq!(object.len(), 4 * 5 + 2 * 4 + 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_json_write_is_counted_and_the_ledger_goes_on() {
    let dir = scratch("failing");
    let path = dir.join("no-such-folder").join("shared_pool.json");
    let mut handle = Builder::new(seed_000(Limits::default()))
        .mirror_json(&path)
        .mirror_interval(Duration::from_millis(1))
        .wait(WaitStrategy::Blocking)
        .spawn()
        .unwrap();
    let reader = handle.reader();
    for n in 1..=20 {
        handle.submit(buy(id(n), 2, 1, units(10))).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reader.mirror_stats().json_failures < 2 {
        assert!(std::time::Instant::now() < deadline, "the mirror never retried");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(handle.shutdown().unwrap().seq(), 20);
    let stats = reader.mirror_stats();
    assert_eq!(stats.json_writes, 0);
    assert!(stats.last_error.unwrap().contains("no-such-folder"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn single_quotes_write_and_read_back_per_key() {
    let dir = scratch("quotes");
    let path = dir.join("quotes.shm");
    let writer = QuoteWriter::create(&path, 8).unwrap();
    let kraken = Venue::new("KRAKEN").unwrap();
    let usdt = Currency::new("USDT").unwrap();
    let usdc = Currency::new("USDC").unwrap();
    let reader = QuoteReader::open(&path).unwrap();
    assert_eq!(reader.get_balance(kraken, usdt).unwrap(), None);
    writer.write_balance(kraken, usdt, 10_000.0, Some(1_771_243_200_000_000)).unwrap();
    writer.write_balance(kraken, usdc, 5_000.5, Some(7)).unwrap();
    let quote = reader.get_balance(kraken, usdt).unwrap().unwrap();
    assert_eq!(
        quote,
        SingleQuote {
            timestamp: 1_771_243_200_000_000,
            local_timestamp: 1_771_243_200_000_000,
            mid: 10_000.0
        }
    );
    writer.write_balance(kraken, usdt, 9_000.25, Some(8)).unwrap();
    assert_eq!(reader.get_balance(kraken, usdt).unwrap().unwrap().mid, 9_000.25);
    assert_eq!(reader.get_balance(kraken, usdc).unwrap().unwrap().mid, 5_000.5);
    assert_eq!(reader.get(kraken, DataType::Position, usdt).unwrap(), None);
    // One writer per file.
    assert!(matches!(QuoteWriter::create(&path, 8), Err(ShmError::WriterActive { .. })));
    // A ledger mirror is not a quote file, and the other way round.
    let ledger_file = dir.join("ledger.shm");
    let vault = Builder::new(seed_000(Limits::default())).mirror_shm(&ledger_file).spawn().unwrap();
    assert!(matches!(QuoteReader::open(&ledger_file), Err(ShmError::Foreign { .. })));
    assert!(matches!(ShmReader::open(&path), Err(ShmError::Foreign { .. })));
    vault.shutdown().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_inspector_shows_a_vault_and_explains_bad_files() {
    let dir = scratch("inspector");
    let path = dir.join("vault.shm");
    let handle = busy_vault(Builder::new(seed_000(Limits::default())).mirror_shm(&path));
    // The mirror thread writes the file shortly after the vault publishes.
    ShmReader::open(&path)
        .unwrap()
        .wait_for(handle.reader().snapshot().seq(), Duration::from_secs(10))
        .unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_capvault")).args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let shown = path.to_str().unwrap();
    let (code, out, _) = run(&["inspect", shown]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("ALIVE")
            && out.contains("SSE/CNY")
            && out.contains("159201")
            && out.contains("penalty ON"),
        "{out}"
    );
    assert!(out.contains("FORCED-REDUCE") && out.contains("9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b"), "{out}");

    let (code, out, _) = run(&["inspect", shown, "--json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The summary is there (refreshed at each heartbeat, so its counts may lag the commands).
    assert!(json["latency"]["queue"]["count"].is_u64(), "{json}");
    assert_eq!(json["latency"]["journal"]["count"], 0);
    assert_eq!(json["writer"]["state"], "alive");
    assert_eq!(json["books"][0]["strategies"][0]["used"], serde_json::json!(120_000));
    assert_eq!(json["orders"].as_array().unwrap().len(), 4);

    let (code, out, _) = run(&["watch", shown, "--count", "2", "--interval-ms", "10"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.matches("\x1b[H\x1b[2J").count(), 2, "two frames drawn in place");
    assert!(out.contains("alpha race 1. 159201 3,500.50  2. 512890 2,100.00"), "{out}");
    // The latency section is drawn; the mirror refreshes its summary at each heartbeat, so its
    // rows may lag the commands (tests/latency.rs checks the summary's figures).
    assert!(out.contains("latency since start") || out.contains("latency: nothing recorded yet"), "{out}");

    handle.shutdown().unwrap();
    let (_, out, _) = run(&["inspect", shown]);
    assert!(out.contains("CLOSED"), "{out}");

    let (code, _, err) = run(&["inspect", dir.join("missing.shm").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no such file"), "{err}");
    let foreign = dir.join("foreign.shm");
    fs::write(&foreign, vec![7_u8; 4096]).unwrap();
    let (code, _, err) = run(&["inspect", foreign.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not a capvault shared-memory file"), "{err}");
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("Usage: capvault"), "{err}");
    let (code, out, _) = run(&["--version"]);
    assert_eq!((code, out.trim()), (Some(0), concat!("capvault ", env!("CARGO_PKG_VERSION"))));
    fs::remove_dir_all(&dir).unwrap();
}

/// With 16,000 live orders and a producer reserving and cancelling as fast as it can, readers of
/// the shared-memory file almost never come back `Busy` (at most 1% of reads), every read is a
/// consistent snapshot, and `capvault watch` draws every frame it is asked for.
#[test]
fn readers_keep_up_with_a_busy_writer_of_sixteen_thousand_orders() {
    const RESTING: u64 = 16_000;
    let dir = scratch("busy");
    let path = dir.join("vault.shm");
    let mut handle = Builder::new(seed_000(Limits::default())).mirror_shm(&path).spawn().unwrap();
    for n in 1..=RESTING {
        handle.submit_detached(buy(id(n), 3, 1, units(1))).unwrap();
    }
    let resting = handle.submit(Command::RecordAlpha { book: CNY, slot: 3, amount: units(1) }).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (mut handle, stop) = (handle.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 10_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                handle.submit(buy(id(n), 2, 1, units(1))).unwrap();
                handle.submit(Command::Cancel { id: id(n) }).unwrap();
            }
            n - 10_000_000
        })
    };
    let reader = ShmReader::open(&path).unwrap();
    reader.wait_for(resting.seq, Duration::from_secs(30)).unwrap();
    let watch = std::process::Command::new(env!("CARGO_BIN_EXE_capvault"))
        .args(["watch", path.to_str().unwrap(), "--json", "--count", "10", "--interval-ms", "10"])
        .output();
    let (mut busy, mut reads, mut last_seq) = (0, 0, 0);
    // Debug builds decode 16,000 orders slowly; 100 reads keep the test short.
    while reads < 100 {
        reads += 1;
        match reader.read() {
            Ok(snapshot) => {
                assert!(snapshot.seq() >= last_seq, "the file never goes back");
                last_seq = snapshot.seq();
                assert!(snapshot.orders().len() >= RESTING as usize);
                let book = snapshot.book(CNY).unwrap();
                let committed: Amount =
                    book.strategies().map(|(_, s)| s.committed()).sum::<Option<Amount>>().unwrap();
                assert_eq!(book.total(), (book.pool() + committed).unwrap());
            }
            Err(ShmError::Busy { .. }) => busy += 1,
            Err(other) => panic!("{other}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pairs = producer.join().unwrap();
    let watch = watch.unwrap();
    assert!(watch.status.success(), "{}", String::from_utf8_lossy(&watch.stderr));
    assert_eq!(String::from_utf8_lossy(&watch.stdout).lines().count(), 10);
    assert!(busy * 100 <= reads, "{busy} of {reads} reads were busy");
    assert!(pairs > 100, "the producer ran alongside ({pairs} pairs)");
    handle.shutdown().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}
