//! A full disk, for real: each test mounts its own 256 KiB tmpfs (CI runs as root; a test that
//! cannot mount fails, it does not skip). Sixteen producers fill the journal until the vault
//! stops; every answer is then compared with what a restart recovers: acknowledged commands are
//! there, commands answered "not applied" are not (their half-written batch was cut back out of
//! the journal before the answer), and only commands answered "in doubt" may go either way. A
//! checkpoint that fails on the full disk leaves no temporary file behind, and the journal is
//! rotated once for it, not once per batch.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use capvault::{
    Builder, ClientOrderId, Command, Handle, Limits, ShmReader, ShutdownError, Side, Stopped, SubmitError,
    WriterState,
};
use common::*;

/// A tmpfs of `size` mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("capvault-disk-full-{}-{name}", std::process::id()));
        let _ = Process::new("umount").arg(&dir).status();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let status = Process::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("the mount command runs");
        assert!(status.success(), "cannot mount a tmpfs at {} (this test needs root)", dir.display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg("-l").arg(&self.0).status();
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn limits() -> Limits {
    Limits { orders_max: 50_000, resolved_max: 1_000, ..Limits::default() }
}

fn reserve(n: u64) -> Command {
    Command::Reserve { id: id(n), book: CNY, slot: 4, side: Side::Buy, layer: 1, amount: units(1) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Acknowledged(u64),
    NotApplied,
    InDoubt,
}

/// Fills `dir` with a file until the disk is full, then frees `leave` bytes of it.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).unwrap();
    let block = vec![0xAB_u8; 4096];
    while file.write_all(&block).and_then(|()| file.sync_all()).is_ok() {}
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(leave)).unwrap();
    path
}

/// Producer `p` reserves until its first answer that is not an acknowledgement.
fn produce(handle: &mut Handle, p: u64, barrier: &Barrier) -> Vec<(u64, Answer)> {
    barrier.wait();
    let mut answers = Vec::new();
    for n in 1..=50_000 {
        let id = (p + 1) * 1_000_000 + n;
        let answer = match handle.submit(reserve(id)) {
            Ok(receipt) => Answer::Acknowledged(receipt.seq),
            Err(SubmitError::Stopped(Stopped::JournalFailed)) => Answer::NotApplied,
            Err(SubmitError::InDoubt(Stopped::JournalFailed)) => Answer::InDoubt,
            Err(other) => panic!("producer {p}: {other:?}"),
        };
        answers.push((id, answer));
        if !matches!(answer, Answer::Acknowledged(_)) {
            break;
        }
    }
    answers
}

#[test]
fn every_answer_agrees_with_what_a_restart_recovers() {
    let disk = Tmpfs::mount("answers", "256k");
    let dir = disk.0.join("data");
    let shm = std::env::temp_dir().join(format!("capvault-disk-full-{}.shm", std::process::id()));
    // Room the restart will need: freed once the vault has stopped.
    let reserve_room = disk.0.join("room");
    fs::write(&reserve_room, vec![0_u8; 32 * 1024]).unwrap();
    let handle = Builder::new(seed_000(limits()))
        .data_dir(&dir)
        .mirror_shm(&shm)
        .checkpoint_every(u64::MAX, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    let producers = 16;
    let barrier = Arc::new(Barrier::new(producers));
    let threads: Vec<_> = (0..producers as u64)
        .map(|p| {
            let mut handle = handle.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || produce(&mut handle, p, &barrier))
        })
        .collect();
    let answers: Vec<(u64, Answer)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let failure = handle.failure().expect("the vault says why it stopped");
    assert!(failure.contains("No space"), "{failure}");
    // The owner marks the mirror as it leaves, after the last answers: `shutdown` joins it.
    assert_eq!(handle.shutdown().unwrap_err(), ShutdownError::Stopped(Stopped::JournalFailed));
    let mirror = ShmReader::open(&shm).unwrap();
    assert_eq!(mirror.writer().state, WriterState::Failed, "the mirror must not say its figures are final");

    let count = |wanted: fn(&Answer) -> bool| answers.iter().filter(|(_, a)| wanted(a)).count();
    let acknowledged = count(|a| matches!(a, Answer::Acknowledged(_)));
    let not_applied = count(|a| *a == Answer::NotApplied);
    let in_doubt = count(|a| *a == Answer::InDoubt);
    assert!(acknowledged > 1_000, "only {acknowledged} acknowledged before the disk filled");
    assert!(not_applied + in_doubt >= producers, "every producer's last answer is a failure");

    // Free space, restart, compare.
    fs::remove_file(&reserve_room).unwrap();
    let restarted =
        Builder::new(seed_000(limits())).data_dir(&dir).spawn().expect("restarts after space is freed");
    let snapshot = restarted.snapshot();
    let present = |n: u64| snapshot.order(ClientOrderId::snowflake(n).unwrap()).is_some();
    let mut doubtful_present = 0;
    for &(n, answer) in &answers {
        match answer {
            Answer::Acknowledged(seq) => {
                assert!(present(n), "acknowledged order {n} (seq {seq}) lost");
                assert!(snapshot.seq() >= seq);
            }
            Answer::NotApplied => assert!(!present(n), "order {n} answered 'not applied' came back"),
            Answer::InDoubt => doubtful_present += u64::from(present(n)),
        }
    }
    assert_eq!(
        snapshot.seq(),
        acknowledged as u64 + doubtful_present,
        "recovered commands nobody was told of"
    );
    assert_eq!(snapshot.orders().len() as u64, snapshot.seq());
    restarted.shutdown().unwrap();
    eprintln!("{acknowledged} acknowledged, {not_applied} not applied, {in_doubt} in doubt; all agree with the restart");
    let _ = fs::remove_file(&shm);
    let _ = fs::remove_file(format!("{}.lock", shm.display()));
}

#[test]
fn a_failed_checkpoint_leaves_no_temporary_file_and_rotates_once() {
    let disk = Tmpfs::mount("checkpoint", "256k");
    let dir = disk.0.join("data");
    let mut handle = Builder::new(seed_000(limits()))
        .data_dir(&dir)
        .checkpoint_every(400, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    for n in 1..400 {
        handle.submit(reserve(n)).unwrap();
    }
    // 12 KiB left: room for a new segment and its records, not for a checkpoint of 400 orders.
    fill(&disk.0, 12 * 1024);
    handle.submit(reserve(400)).unwrap();
    let reader = handle.reader();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.checkpoint_stats().failures == 0 {
        assert!(Instant::now() < deadline, "the checkpoint neither failed nor succeeded");
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = reader.checkpoint_stats();
    assert_eq!(stats.written, 0, "the checkpoint thread wrote nothing (seq 0 is written at spawn)");
    assert!(stats.last_error.unwrap().contains("No space"));
    let names: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(
        !names
            .iter()
            .any(|n| std::path::Path::new(n).extension().is_some_and(|e| e.eq_ignore_ascii_case("tmp"))),
        "a temporary file was left: {names:?}"
    );
    // The journal goes on in the one new segment.
    for n in 401..=420 {
        handle.submit(reserve(n)).unwrap();
    }
    let segments = names.iter().filter(|n| n.starts_with("journal-")).count();
    assert_eq!(segments, 2, "one rotation for the one checkpoint: {names:?}");
    handle.shutdown().unwrap();
}
