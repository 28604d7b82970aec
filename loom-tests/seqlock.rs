//! loom model of the shared-memory seqlock: a writer updating a three-word record twice, and a
//! reader with a retry bound. The reader never returns a torn record (the three words always
//! belong to one write), and with a bound of tries it either reads or says `Busy`, never spins
//! forever. Three words with one invariant (`a + b == c`) stand for the ledger's
//! `total == pool + committed`.
//!
//! Run: `RUSTFLAGS="--cfg capvault_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom_seqlock`
#![cfg(capvault_loom)]

use capvault::loom_seqlock::{ReadError, SeqLock};
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;

struct Region {
    seq: AtomicU64,
    words: [AtomicU64; 3],
}

#[test]
fn a_reader_never_sees_a_torn_record() {
    loom::model(|| {
        let region = Arc::new(Region {
            seq: AtomicU64::new(0),
            words: [AtomicU64::new(1), AtomicU64::new(2), AtomicU64::new(3)],
        });
        let writer_region = region.clone();
        let writer = thread::spawn(move || {
            let lock = SeqLock::new(&writer_region.seq, &writer_region.words);
            for (a, b) in [(10, 20), (100, 200)] {
                lock.write(|guard| {
                    guard.set(0, a);
                    guard.set(1, b);
                    guard.set(2, a + b);
                });
            }
        });
        let lock = SeqLock::new(&region.seq, &region.words);
        let mut last_seq = 0;
        for _ in 0..2 {
            match lock.read(3, |get| Ok::<_, ()>((get(0), get(1), get(2)))) {
                Ok(((a, b, c), seq)) => {
                    assert_eq!(a + b, c, "torn read: {a} + {b} != {c} at seq {seq}");
                    assert!([(1, 2), (10, 20), (100, 200)].contains(&(a, b)), "never written: {a}, {b}");
                    assert_eq!(seq % 2, 0, "a returned read is never mid-write");
                    assert!(seq >= last_seq, "sequence went back");
                    last_seq = seq;
                }
                // The bound holds: after 3 overlapped tries the reader gives up instead of spinning.
                Err(ReadError::Busy) => {}
                Err(ReadError::Invalid(())) => unreachable!(),
            }
        }
        writer.join().unwrap();
        // Once the writer is done, a read always succeeds with the last record.
        let ((a, b, c), seq) = lock.read(1, |get| Ok::<_, ()>((get(0), get(1), get(2)))).unwrap();
        assert_eq!((a, b, c, seq), (100, 200, 300, 4));
    });
}
