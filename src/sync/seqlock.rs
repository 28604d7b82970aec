//! A seqlock over a region of atomic words: one writer, any number of readers, no reader ever
//! returns a torn view, and no reader waits for more than a bounded number of tries.
//!
//! Every data word is an atomic accessed with `Relaxed`, so a reader racing the writer reads
//! stale or mixed values but never undefined behaviour; the sequence and two fences tell it to
//! throw such a read away (H.-J. Boehm, "Can seqlocks get along with programming language memory
//! models?", 2012; crossbeam's `AtomicCell` fallback uses the same scheme).

use crate::sync::{fence, AtomicU64, Ordering};

/// A view of the region: the sequence word and the data words.
#[derive(Debug)]
pub struct SeqLock<'a> {
    seq: &'a AtomicU64,
    words: &'a [AtomicU64],
}

/// Why a read returned nothing.
#[allow(missing_docs)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ReadError<E> {
    /// Every try overlapped a write.
    Busy,
    /// A stable read (no write overlapped) that failed to decode: the data itself is bad.
    Invalid(E),
}

/// Words written between two sequence bumps.
#[derive(Debug)]
pub struct WriteGuard<'a> {
    words: &'a [AtomicU64],
}

impl WriteGuard<'_> {
    /// Stores one data word.
    pub fn set(&self, index: usize, value: u64) {
        // Relaxed: ordered by the fences of `SeqLock::write` (see the module docs).
        self.words[index].store(value, Ordering::Relaxed);
    }
}

impl<'a> SeqLock<'a> {
    /// The seqlock whose sequence is `seq` over `words`.
    #[must_use]
    pub fn new(seq: &'a AtomicU64, words: &'a [AtomicU64]) -> SeqLock<'a> {
        SeqLock { seq, words }
    }

    /// Runs `write` as one update. Only one thread may write (the file lock guarantees it
    /// across processes).
    pub fn write(&self, write: impl FnOnce(&WriteGuard<'_>)) {
        // Relaxed: this thread is the only one that changes the sequence.
        let start = self.seq.load(Ordering::Relaxed);
        // Relaxed store, then a Release fence: the odd sequence is ordered before every data
        // store below, so a reader that sees any of them also sees the sequence moved.
        self.seq.store(start.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        write(&WriteGuard { words: self.words });
        // Release: every data store is ordered before the even sequence.
        self.seq.store(start.wrapping_add(2), Ordering::Release);
    }

    /// Copies the words `ranges` names (chosen from the words themselves, for example from a
    /// count word) into `out` at the same indexes, until one copy overlaps no write, at most
    /// `tries` times. Returns the sequence it was read at. A plain loop over slices: a try lasts
    /// as long as the copy, so a reader of a large region fits between two writes.
    ///
    /// # Errors
    /// [`ReadError::Busy`] if every try overlapped a write.
    pub fn copy<const N: usize>(
        &self,
        tries: u32,
        ranges: impl Fn(&dyn Fn(usize) -> u64) -> [std::ops::Range<usize>; N],
        out: &mut [u64],
    ) -> Result<u64, ReadError<std::convert::Infallible>> {
        self.read(tries, |get| {
            for range in ranges(get) {
                for (to, from) in out[range.clone()].iter_mut().zip(&self.words[range]) {
                    // Relaxed: validated by the fence and the second sequence load in `read`.
                    *to = from.load(Ordering::Relaxed);
                }
            }
            Ok(())
        })
        .map(|((), seq)| seq)
    }

    /// Reads with `decode` until one read overlaps no write, at most `tries` times. Returns the
    /// decoded value and the sequence it was read at.
    ///
    /// # Errors
    /// [`ReadError::Busy`] if every try overlapped a write, [`ReadError::Invalid`] if a stable
    /// read failed to decode.
    pub fn read<T, E>(
        &self,
        tries: u32,
        mut decode: impl FnMut(&dyn Fn(usize) -> u64) -> Result<T, E>,
    ) -> Result<(T, u64), ReadError<E>> {
        let load = |index: usize| {
            // Relaxed: validated by the fence and the second sequence load below.
            self.words[index].load(Ordering::Relaxed)
        };
        for _ in 0..tries {
            // Acquire: a read that starts after a completed write sees all of its data.
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                crate::sync::thread::yield_now();
                continue;
            }
            let decoded = decode(&load);
            // Acquire fence: if any data load above saw a store of a later write, the sequence
            // load below sees that write's odd sequence (fence-fence synchronisation). The mutant
            // build drops it, for the loom model to catch (docs/design.md).
            if !crate::sync::mutant::SEQLOCK_NO_FENCE {
                fence(Ordering::Acquire);
            }
            // Relaxed: ordered by the fence.
            let after = self.seq.load(Ordering::Relaxed);
            if before == after {
                return decoded.map(|value| (value, before)).map_err(ReadError::Invalid);
            }
        }
        Err(ReadError::Busy)
    }
}
