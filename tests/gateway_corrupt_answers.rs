//! A client whose own answer ring is written over (a head word no vault writes) fails with
//! `SubmitError::AnswersCorrupt` instead of spinning forever, says so on every later call, and
//! is whole again after a reconnect.
//!
//! The offsets follow `docs/ipc.md`: a 64-word header, then per place 16 control words, the
//! request ring and the answer ring, each 16 header words and 16 words per entry.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use capvault::{
    service_dir, BookId, Builder, Client, Grant, LedgerConfig, ServeConfig, SubmitError, WaitStrategy,
};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#;
const CAPACITY: usize = 4;

fn answer_head_offset(slot: usize) -> u64 {
    let ring = 16 + CAPACITY * 16;
    let place = 16 + 2 * ring;
    ((64 + slot * place + 16 + ring) * 8) as u64
}

#[test]
fn a_corrupt_answer_ring_is_an_error_not_a_spin() {
    let name = format!("t-corrupt-answers-{}", std::process::id());
    let config = ServeConfig::new(&name).others(Some(Grant::all())).slots(2).in_flight_max(CAPACITY);
    let vault = Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
        .unwrap()
        .serve(config)
        .spawn()
        .unwrap();
    let mut client = Client::connect_with(&name, "victim", WaitStrategy::Blocking).unwrap();
    client.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap();
    let slot = client.slot();
    let file = std::fs::OpenOptions::new().write(true).open(service_dir(&name).join("service")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                file.write_all_at(&0xDEAD_BEEF_0000_0000_u64.to_le_bytes(), answer_head_offset(slot))
                    .unwrap();
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    };
    // Submits until the corruption is seen; a client that spins never answers the channel.
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut error = None;
        for _ in 0..100_000 {
            if let Err(e) = client.allocate(BookId::new(0), 2, "1".parse().unwrap()) {
                error = Some(e);
                break;
            }
        }
        let later = client.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap_err();
        tx.send((error, later)).unwrap();
        client
    });
    let (error, later) =
        rx.recv_timeout(Duration::from_secs(60)).expect("the client never returned: it spins");
    stop.store(true, Ordering::Relaxed);
    scribbler.join().unwrap();
    assert_eq!(error, Some(SubmitError::AnswersCorrupt));
    assert_eq!(later, SubmitError::AnswersCorrupt, "every later call says so at once");
    let mut client = worker.join().unwrap();
    client.reconnect_within(Duration::from_secs(5)).unwrap();
    client.allocate(BookId::new(0), 2, "1".parse().unwrap()).expect("a new place, new rings");
    drop(client);
    vault.shutdown().unwrap();
}
