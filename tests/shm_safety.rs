//! The shared-memory mirror never misleads a reader: only an orderly shutdown marks it closed
//! (an owner panic marks it failed); a reader checks each book's invariant and every field, so a
//! damaged or crafted file is an error, never wrong figures or a panic, and the Rust and Python
//! readers give the same verdict on thousands of damaged files; a writer killed mid-write reads as
//! dead; a file truncated under a reader is an error, not SIGBUS; `watch` waits out a busy writer;
//! the mirror carries every counter of the vault's snapshot; and quote tables check their size.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use capvault::{
    Builder, Command, Currency, DataType, Limits, QuoteWriter, ShmError, ShmReader, SingleQuote, Venue,
    WriterState,
};
use common::stream::Rng;
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-shm-safety-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn small() -> Limits {
    Limits { books_max: 2, orders_max: 8, ..Limits::default() }
}

/// A closed mirror of seed 000 with a few orders, and its bytes.
fn mirror(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("ledger.shm");
    let mut handle = Builder::new(seed_000(small())).mirror_shm(&path).spawn().unwrap();
    handle.submit(buy(id(1), 2, 1, units(50_000))).unwrap();
    handle.submit(Command::Fill { id: id(1), amount: units(20_000) }).unwrap();
    handle.submit(buy(id(2), 3, 1, units(10_000))).unwrap();
    handle.shutdown().unwrap();
    let bytes = fs::read(&path).unwrap();
    (path, bytes)
}

const BOOK: usize = 448;
const STRATEGIES: usize = BOOK + 80;

fn word(bytes: &mut [u8], offset: usize, value: i64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn only_an_orderly_shutdown_marks_the_mirror_closed() {
    let dir = scratch("closed");
    let (path, _) = mirror(&dir);
    assert_eq!(ShmReader::open(&path).unwrap().writer().state, WriterState::Closed);

    let failed = dir.join("failed.shm");
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let mut handle = Builder::new(seed_000(small()))
        .mirror_shm(&failed)
        .on_publish(move |snapshot| {
            if snapshot.seq() == 1 {
                let _ = entered_tx.send(());
                panic!("injected owner failure");
            }
        })
        .spawn()
        .unwrap();
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    entered_rx.recv().unwrap();
    let reader = ShmReader::open(&failed).unwrap();
    while handle.reader().stopped().is_none() {
        std::thread::yield_now();
    }
    let _ = handle.shutdown();
    assert_eq!(reader.writer().state, WriterState::Failed, "a panicked vault's figures are not final");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_book_that_breaks_its_invariant_is_refused_not_shown() {
    let dir = scratch("invariant");
    let (_, bytes) = mirror(&dir);
    let read = |bytes: &[u8], name: &str| {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        ShmReader::open(&path).unwrap().read()
    };
    assert!(read(&bytes, "good.shm").is_ok());
    let mut broken = bytes.clone();
    word(&mut broken, STRATEGIES + 16, 1); // slot 2's frozen: total != pool + committed
    assert!(matches!(
        read(&broken, "broken.shm"),
        Err(ShmError::Corrupt { reason: "total != pool + committed", .. })
    ));
    // 62 strategies each frozen at the largest amount: their sum leaves i64. Refused, no panic.
    let mut crafted = bytes.clone();
    crafted[BOOK + 24..BOOK + 28].copy_from_slice(&64_u32.to_le_bytes());
    for slot in 0..62 {
        word(&mut crafted, STRATEGIES + slot * 80 + 16, 1_000_000_000_000_000_000);
        word(&mut crafted, STRATEGIES + slot * 80 + 24, 0);
        word(&mut crafted, STRATEGIES + slot * 80 + 32, 0);
    }
    assert!(matches!(read(&crafted, "crafted.shm"), Err(ShmError::Corrupt { .. })));
    let mut negative = bytes.clone();
    word(&mut negative, STRATEGIES + 32, -5); // slot 2's direct
    assert!(matches!(read(&negative, "negative.shm"), Err(ShmError::Corrupt { .. })));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_rust_and_python_readers_agree_on_every_damaged_file() {
    let dir = scratch("agree");
    let (_, bytes) = mirror(&dir);
    // The words in use: the header, both books with their strategies (3 and 1), the 2 orders.
    let orders = BOOK + 2 * 5040;
    let used = [
        (0, 448),
        (BOOK, BOOK + 80 + 3 * 80),
        (BOOK + 5040, BOOK + 5040 + 80 + 80),
        (orders, orders + 2 * 64),
    ];
    let used_bits: Vec<usize> = used.iter().flat_map(|&(from, to)| from * 8..to * 8).collect();
    let mut rng = Rng(2026);
    let mut paths = Vec::new();
    let mut verdicts = Vec::new();
    for n in 0..2_000 {
        let mut damaged = bytes.clone();
        let bit = used_bits[rng.below(used_bits.len() as u64) as usize];
        damaged[bit / 8] ^= 1 << (bit % 8);
        let path = dir.join(format!("{n}.shm"));
        fs::write(&path, &damaged).unwrap();
        let verdict = match ShmReader::open(&path).and_then(|r| r.read_with_tries(20)) {
            Ok(_) => "ok",
            Err(_) => "corrupt",
        };
        verdicts.push(verdict);
        paths.push(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/read_shm.py");
    let output =
        Process::new("python3").arg(script).arg("--check").args(&paths).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let python: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(python.len(), paths.len());
    let mut disagree = Vec::new();
    for (i, (rust, python)) in verdicts.iter().zip(&python).enumerate() {
        if rust != python {
            disagree.push(format!("{}: rust {rust}, python {python}", paths[i].display()));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} disagreements, e.g. {:?}",
        disagree.len(),
        &disagree[..disagree.len().min(5)]
    );
    let corrupt = verdicts.iter().filter(|v| **v == "corrupt").count();
    assert!(
        corrupt > 600,
        "only {corrupt} of 2000 damaged files were refused: the damage missed the figures"
    );
    eprintln!("{corrupt} of 2000 damaged files refused by both readers, the rest read alike");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_file_truncated_under_a_reader_is_an_error_not_sigbus() {
    let dir = scratch("truncated");
    let (path, bytes) = mirror(&dir);
    let reader = ShmReader::open(&path).unwrap();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(bytes.len() as u64 / 2).unwrap();
    assert!(matches!(reader.read(), Err(ShmError::Truncated { .. })));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn watch_waits_out_a_busy_writer() {
    let dir = scratch("watch");
    let (path, mut bytes) = mirror(&dir);
    // A live writer (its lock held) in the middle of a write: odd sequence.
    let sequence = u64::from_le_bytes(bytes[40..48].try_into().unwrap());
    bytes[40..48].copy_from_slice(&(sequence + 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let lock = fs::File::open(format!("{}.lock", path.display())).unwrap();
    lock.lock().unwrap();
    let child = KillOnDrop(
        Process::new(env!("CARGO_BIN_EXE_capvault"))
            .args(["watch", path.to_str().unwrap(), "--count", "1", "--interval-ms", "10", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // The write completes: the sequence word changes in place, as the writer's does.
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&(sequence + 2).to_le_bytes(), 40).unwrap();
    let mut child = child;
    let status = child.0.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    let output = (status, stdout, stderr);
    assert!(output.0.success(), "watch gave up ({:?}): {}", output.0, output.2);
    assert!(output.1.contains("\"seq\""), "{}", output.1);
    drop(lock);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_mirror_carries_every_counter_of_the_snapshot() {
    let dir = scratch("stats");
    let path = dir.join("ledger.shm");
    let mut handle = Builder::new(seed_000(small())).mirror_shm(&path).outcomes_max(1).spawn().unwrap();
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap();
    handle.submit(buy(id(1), 2, 1, units(10))).unwrap(); // an idempotent repeat
    for n in 2..=4 {
        handle.submit_detached(buy(id(n), 2, 1, units(10))).unwrap(); // outcomes beyond 1 dropped
    }
    let last = handle.shutdown().unwrap();
    assert!(last.stats().repeated == 1 && last.stats().outcomes_dropped >= 1, "{:?}", last.stats());
    let mirrored = ShmReader::open(&path).unwrap().read().unwrap();
    assert_eq!(mirrored.stats(), last.stats());
    assert_eq!(mirrored.seq(), last.seq());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn quote_tables_check_their_size_and_report_full() {
    let dir = scratch("quotes");
    for entries in [0, (1 << 61) - 1, 1 << 61, QuoteWriter::ENTRIES_MAX + 1] {
        assert!(
            matches!(QuoteWriter::create(dir.join("q.shm"), entries), Err(ShmError::Size { .. })),
            "entries_max {entries}"
        );
    }
    let writer = QuoteWriter::create(dir.join("q.shm"), 2).unwrap();
    let quote = SingleQuote { timestamp: 1, local_timestamp: 2, mid: 1.0 };
    let venue = Venue::new("KRAKEN").unwrap();
    for currency in ["USDT", "USDC"] {
        writer.write(venue, DataType::Balance, Currency::new(currency).unwrap(), quote).unwrap();
    }
    let third = writer.write(venue, DataType::Balance, Currency::new("BTC").unwrap(), quote);
    assert!(matches!(third, Err(ShmError::Full { entries_max: 2, .. })), "{third:?}");
    let _ = fs::remove_dir_all(&dir);
}
