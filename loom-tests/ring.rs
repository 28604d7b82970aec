//! loom model of the gateway's request ring: a producer process publishing three messages
//! through a ring of one entry, and a consumer reading them. The consumer never reads a message
//! half-written, and the producer never overwrites an entry the consumer is still reading: each
//! message's two words (`n`, `n * 3`) always arrive together and in order.
//!
//! Run: `RUSTFLAGS="--cfg capvault_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_ring`
#![cfg(capvault_loom)]

use capvault::loom_ring::{words_for, Ring};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

const MESSAGES: u64 = 3;

fn words(capacity: usize) -> Arc<Vec<AtomicU64>> {
    Arc::new((0..words_for(capacity)).map(|_| AtomicU64::new(0)).collect())
}

#[test]
fn every_message_arrives_whole_and_in_order() {
    loom::model(|| {
        let shared = words(1);
        let producer_words = shared.clone();
        let producer = thread::spawn(move || {
            let ring = Ring::new(&producer_words, 1);
            let mut head = 0;
            while head < MESSAGES {
                if ring.in_flight(head).expect("a correct consumer") < ring.capacity() {
                    let n = head + 1;
                    ring.publish(head, |entry| {
                        entry[0].store(n, Ordering::Relaxed);
                        entry[1].store(n * 3, Ordering::Relaxed);
                    });
                    head += 1;
                } else {
                    thread::yield_now();
                }
            }
        });
        let ring = Ring::new(&shared, 1);
        let mut tail = 0;
        while tail < MESSAGES {
            match ring.peek(tail).expect("a correct producer") {
                Some(entry) => {
                    let (n, triple) = (entry[0].load(Ordering::Relaxed), entry[1].load(Ordering::Relaxed));
                    assert_eq!(n, tail + 1, "message {} arrived as {n}", tail + 1);
                    assert_eq!(triple, n * 3, "message {n} arrived half-written");
                    ring.consume(tail);
                    tail += 1;
                }
                None => thread::yield_now(),
            }
        }
        producer.join().unwrap();
    });
}

#[test]
fn a_counter_out_of_range_is_corrupt() {
    loom::model(|| {
        let shared = words(2);
        let ring = Ring::new(&shared, 2);
        // A rogue producer claims five messages in a ring of two.
        ring.publish(4, |_| {});
        assert!(ring.peek(0).is_err());
        // A rogue consumer claims to have read past what was published.
        ring.consume(9);
        assert!(ring.in_flight(5).is_err());
    });
}
