//! A single-producer, single-consumer ring of fixed-size messages over atomic words, for two
//! processes that do not trust each other's memory: one writes requests, the other answers.
//!
//! Layout (words): `[0]` head, the count of messages published (producer); `[1]` the consumer's
//! "waiting" flag; `[8]` tail, the count consumed (consumer), on its own cache line; then
//! `capacity` entries of [`ENTRY_WORDS`] words. Message `n` lives in entry `n % capacity`.
//!
//! Each side keeps its own counter in private memory and only publishes it: a side never
//! re-reads its own counter from the shared words, which the other process could overwrite.
//! The counter read from the other side is checked (`0 <= head - tail <= capacity`); a value
//! outside is [`Corrupt`], and the caller stops talking to that peer.
//!
//! Orderings: the producer writes the entry with `Relaxed` stores, then publishes head with
//! `Release`; the consumer loads head with `Acquire`, so it sees the entry; it reads the entry,
//! then publishes tail with `Release`, and the producer loads tail with `Acquire` before reusing
//! the entry, so the consumer's reads happen before the producer's next writes there (Lamport's
//! ring, with C++11 orderings). The loom model `loom-tests/ring.rs` checks both hand-offs.

use crate::sync::{mutant, AtomicU64, Ordering};

/// Words per message: a 128-byte entry.
pub const ENTRY_WORDS: usize = 16;
/// Words before the first entry: head and flags on one cache line, tail on the next.
pub const HEADER_WORDS: usize = 16;

const HEAD: usize = 0;
const WAITING: usize = 1;
const TAIL: usize = 8;

/// The words a ring of `capacity` entries takes.
#[must_use]
pub const fn words_for(capacity: usize) -> usize {
    HEADER_WORDS + capacity * ENTRY_WORDS
}

/// The peer published a counter that no correct peer could: the ring cannot be trusted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Corrupt;

/// One ring over its words.
#[derive(Clone, Copy, Debug)]
pub struct Ring<'a> {
    words: &'a [AtomicU64],
    capacity: u64,
}

impl<'a> Ring<'a> {
    /// The ring of `capacity` entries (a power of two) at the start of `words`.
    ///
    /// # Panics
    /// If `words` is shorter than [`words_for`]`(capacity)`, or `capacity` is not a power of two.
    #[must_use]
    pub fn new(words: &'a [AtomicU64], capacity: usize) -> Ring<'a> {
        assert!(capacity.is_power_of_two(), "ring capacity {capacity} is not a power of two");
        assert!(words.len() >= words_for(capacity), "ring words too short");
        Ring { words, capacity: capacity as u64 }
    }

    /// Entries in the ring.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Empties the ring. Only while neither side uses it (a slot being handed to a new client).
    pub fn reset(&self) {
        for index in [HEAD, WAITING, TAIL] {
            // Release: published to the next users by the slot's state word, stored after this.
            self.words[index].store(0, Ordering::Release);
        }
    }

    fn entry(&self, n: u64) -> &'a [AtomicU64] {
        let start = HEADER_WORDS + (n % self.capacity) as usize * ENTRY_WORDS;
        &self.words[start..start + ENTRY_WORDS]
    }

    /// The head word: a consumer that blocks waits on it (its low 32 bits change with every
    /// message).
    #[must_use]
    pub fn head_word(&self) -> &'a AtomicU64 {
        &self.words[HEAD]
    }

    // The producer's side.

    /// Messages in flight as the producer sees them: published (`head`, its own count) minus
    /// consumed.
    ///
    /// # Errors
    /// [`Corrupt`] if the consumer's tail is ahead of `head` or more than a ring behind it.
    pub fn in_flight(&self, head: u64) -> Result<u64, Corrupt> {
        // Acquire: the consumer's reads of the entries it freed happen before our next writes.
        let tail = self.words[TAIL].load(Ordering::Acquire);
        let used = head.wrapping_sub(tail);
        if used > self.capacity {
            return Err(Corrupt);
        }
        Ok(used)
    }

    /// Writes message number `head` (the producer's own count) with `write`, which gets the
    /// entry's words, and publishes it. The caller has checked there is room
    /// ([`Ring::in_flight`] below the capacity).
    pub fn publish(&self, head: u64, write: impl FnOnce(&[AtomicU64])) {
        write(self.entry(head));
        // Release: the entry's stores happen before the consumer sees the new head.
        let order = if mutant::RING_RELAXED_PUBLISH { Ordering::Relaxed } else { Ordering::Release };
        self.words[HEAD].store(head.wrapping_add(1), order);
    }

    /// Whether the consumer says it is about to block on the head word.
    #[must_use]
    pub fn consumer_waiting(&self) -> bool {
        self.words[WAITING].load(Ordering::SeqCst) != 0
    }

    // The consumer's side.

    /// Message number `tail` (the consumer's own count) if it has been published.
    ///
    /// # Errors
    /// [`Corrupt`] if the producer's head is behind `tail` or more than a ring ahead of it.
    pub fn peek(&self, tail: u64) -> Result<Option<&'a [AtomicU64]>, Corrupt> {
        // Acquire: pairs with `publish`'s Release, so the entry's words are visible.
        let head = self.words[HEAD].load(Ordering::Acquire);
        let ready = head.wrapping_sub(tail);
        if ready > self.capacity {
            return Err(Corrupt);
        }
        Ok((ready > 0).then(|| self.entry(tail)))
    }

    /// Frees message number `tail` after reading it: publishes `tail + 1`.
    pub fn consume(&self, tail: u64) {
        // Release: our reads of the entry happen before the producer reuses it.
        self.words[TAIL].store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Raises or lowers the consumer's "about to block" flag. Raised, the consumer must look
    /// once more before blocking: `SeqCst` on both sides (the producer's `consumer_waiting`
    /// after its head store and a fence) means one of the two sees the other.
    pub fn set_waiting(&self, waiting: bool) {
        self.words[WAITING].store(u64::from(waiting), Ordering::SeqCst);
    }
}
