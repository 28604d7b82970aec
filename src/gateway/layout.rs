//! The service file: a header, then one place per client with its two rings
//! (`docs/ipc.md` has the table). Every field is a 64-bit word accessed atomically.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::mirror::shm::map::WordMap;
use crate::sync::ring::{self, Ring};

/// "CAPVGW01" as a little-endian word.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"CAPVGW01");
/// The layout of the service file; a client refuses any other.
pub(crate) const LAYOUT_VERSION: u64 = 1;
/// The encoding of requests and answers (`docs/ipc.md`); a request with another is refused.
pub const WIRE_VERSION: u8 = 1;

pub(crate) const HEADER_WORDS: usize = 64;
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_LAYOUT: usize = 1;
pub(crate) const H_WIRE: usize = 2;
pub(crate) const H_SLOTS: usize = 3;
pub(crate) const H_CAPACITY: usize = 4;
pub(crate) const H_PID: usize = 6;
pub(crate) const H_STATE: usize = 7;
pub(crate) const H_EPOCH: usize = 8;
pub(crate) const H_SLEEPING: usize = 9;
pub(crate) const H_DOORBELL: usize = 10;
pub(crate) const H_INSTANCE: usize = 11;
pub(crate) const H_IN_FLIGHT: usize = 13;
/// 32 words: the shared-memory mirror's path, NUL-padded.
pub(crate) const H_MIRROR: usize = 16;
pub(crate) const MIRROR_PATH_MAX: usize = 256;

/// Made, not yet open: the vault is still starting (configuration drift being applied), and
/// clients are told it is not served.
pub(crate) const SERVICE_STARTING: u64 = 0;
pub(crate) const SERVICE_OPEN: u64 = 1;
pub(crate) const SERVICE_CLOSED: u64 = 2;

pub(crate) const CONTROL_WORDS: usize = 16;
pub(crate) const C_STATE: usize = 0;
pub(crate) const C_PID: usize = 1;
pub(crate) const C_GENERATION: usize = 2;
/// 4 words: the client's name, NUL-padded.
pub(crate) const C_NAME: usize = 3;
pub(crate) const NAME_MAX: usize = 32;
pub(crate) const C_ANSWERED: usize = 7;
pub(crate) const C_SINCE: usize = 8;

/// A place's state (low byte of its state word; the next byte is a reason code).
pub(crate) const FREE: u64 = 0;
pub(crate) const CLAIMED: u64 = 1;
pub(crate) const ACTIVE: u64 = 2;
pub(crate) const REFUSED: u64 = 3;
pub(crate) const DEAD: u64 = 4;
pub(crate) const KICKED: u64 = 5;

/// Why a place was refused or kicked (the state word's second byte).
pub(crate) const REASON_NO_GRANT: u64 = 1;
pub(crate) const REASON_USER: u64 = 2;
pub(crate) const REASON_PROTOCOL: u64 = 3;

/// Payload bytes in a request entry (words 4..16) and in an answer entry (words 3..16).
pub(crate) const REQUEST_BYTES: usize = 96;
/// Request flag (byte 1 of word 0): the payload starts with the client's request number (`u64`,
/// little-endian), and the command applies at most once under it (`docs/wire.md`).
pub(crate) const FLAG_KEYED: u8 = 1;
/// Request flag: the entry is a part of a linked reservation (`docs/ipc.md`); the parts come in
/// consecutive entries with consecutive request numbers, and nothing else comes between them.
pub(crate) const FLAG_LINK: u8 = 2;
/// Request flag, with `FLAG_LINK`: the chain's last part. The vault applies the chain then.
pub(crate) const FLAG_LINK_END: u8 = 4;
pub(crate) const ANSWER_BYTES: usize = 104;

/// The words of one client's place: control, request ring, answer ring.
pub(crate) const fn slot_words(capacity: usize) -> usize {
    CONTROL_WORDS + 2 * ring::words_for(capacity)
}

/// The whole file's words.
pub(crate) const fn total_words(slots: usize, capacity: usize) -> usize {
    HEADER_WORDS + slots * slot_words(capacity)
}

/// The mapped service file.
pub(crate) struct ServiceMap {
    pub(crate) map: WordMap,
    pub(crate) slots: usize,
    pub(crate) capacity: usize,
}

impl ServiceMap {
    pub(crate) fn header(&self, index: usize) -> &AtomicU64 {
        &self.map.words()[index]
    }

    fn slot(&self, slot: usize) -> &[AtomicU64] {
        let start = HEADER_WORDS + slot * slot_words(self.capacity);
        &self.map.words()[start..start + slot_words(self.capacity)]
    }

    pub(crate) fn control(&self, slot: usize, index: usize) -> &AtomicU64 {
        &self.slot(slot)[index]
    }

    /// The client's requests to the vault.
    pub(crate) fn requests(&self, slot: usize) -> Ring<'_> {
        Ring::new(&self.slot(slot)[CONTROL_WORDS..], self.capacity)
    }

    /// The vault's answers to the client.
    pub(crate) fn answers(&self, slot: usize) -> Ring<'_> {
        Ring::new(&self.slot(slot)[CONTROL_WORDS + ring::words_for(self.capacity)..], self.capacity)
    }

    pub(crate) fn state(&self, slot: usize) -> (u64, u64) {
        // Acquire: a state stored with Release publishes the fields written before it.
        let word = self.control(slot, C_STATE).load(Ordering::Acquire);
        (word & 0xff, (word >> 8) & 0xff)
    }

    pub(crate) fn set_state(&self, slot: usize, state: u64, reason: u64) {
        self.control(slot, C_STATE).store(state | (reason << 8), Ordering::Release);
    }

    pub(crate) fn name(&self, slot: usize) -> String {
        read_text(&(0..NAME_MAX / 8).map(|i| self.control(slot, C_NAME + i)).collect::<Vec<_>>())
    }

    pub(crate) fn mirror_path(&self) -> String {
        read_text(&(0..MIRROR_PATH_MAX / 8).map(|i| self.header(H_MIRROR + i)).collect::<Vec<_>>())
    }
}

/// Writes `text` into `words`, NUL-padded (truncated to fit).
pub(crate) fn write_text(words: &[&AtomicU64], text: &str) {
    let mut bytes = vec![0_u8; words.len() * 8];
    let len = text.len().min(bytes.len());
    bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
    for (word, chunk) in words.iter().zip(bytes.chunks_exact(8)) {
        word.store(u64::from_le_bytes(chunk.try_into().unwrap_or_default()), Ordering::Relaxed);
    }
}

/// Reads NUL-padded text; bytes that are not UTF-8 are replaced.
pub(crate) fn read_text(words: &[&AtomicU64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Copies `bytes` into `words` (little-endian, zero-padded).
pub(crate) fn write_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut buf = [0_u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(buf), Ordering::Relaxed);
    }
}

/// Reads `len` bytes out of `words` into `out`.
pub(crate) fn read_bytes(words: &[AtomicU64], len: usize, out: &mut Vec<u8>) {
    out.clear();
    for word in words {
        out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        if out.len() >= len {
            break;
        }
    }
    out.truncate(len);
}
