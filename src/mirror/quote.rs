//! Seed 004's simple case: one strategy per account, no split. A `SingleQuote`
//! `{timestamp, local_timestamp, mid}` per (venue, data type, currency) in shared memory, written
//! by one process and read by any, each entry with its own sequence so a reader never mixes two
//! writes. `mid` is an `atomic_float::AtomicF64` over the entry's word.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use atomic_float::AtomicF64;

use crate::ledger::code::{Currency, Venue};
use crate::mirror::shm::file::{create_mapped, open_mapped};
use crate::mirror::shm::map::WordMap;
use crate::mirror::shm::ShmError;
use crate::sync::seqlock::{ReadError, SeqLock};

/// `b"CVQUOTES"` as a little-endian `u64`.
const QUOTE_MAGIC: u64 = u64::from_le_bytes(*b"CVQUOTES");
const QUOTE_VERSION: u64 = 1;
/// Header: magic, version, `entries_max`, `total_size`, writer pid, 3 reserved.
const HEADER_WORDS: usize = 8;
/// Entry: venue (2 words), currency, data type (0 = free), sequence, timestamp, local
/// timestamp, mid.
const ENTRY_WORDS: usize = 8;
const SEQ: usize = 4;

const _: () = assert!(std::mem::size_of::<AtomicF64>() == std::mem::size_of::<AtomicU64>());
const _: () = assert!(std::mem::align_of::<AtomicF64>() == std::mem::align_of::<AtomicU64>());

/// What a quote is of (seed 004's `DataType`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{DataType, QuoteReader, QuoteWriter};
/// let path = std::env::temp_dir().join(format!("capvault-doc-quotes-{}", std::process::id()));
/// let writer = QuoteWriter::create(&path, 64)?;
/// writer.write_balance("KRAKEN".parse()?, "USDT".parse()?, 9_000.25, None)?;
/// let reader = QuoteReader::open(&path)?;
/// assert!(reader.get("KRAKEN".parse()?, DataType::Balance, "USDT".parse()?)?.is_some());
/// # drop(writer); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum DataType {
    /// An account balance.
    Balance = 1,
    /// A position.
    Position = 2,
    /// A price.
    Price = 3,
}

/// One value with its times (seed 004's `SingleQuote`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{QuoteReader, QuoteWriter};
/// let path = std::env::temp_dir().join(format!("capvault-doc-single-quote-{}", std::process::id()));
/// let handle = QuoteWriter::create(&path, 16)?;
/// handle.write_balance("KRAKEN".parse()?, "USDC".parse()?, 5_000.5, None)?;
/// let quote = QuoteReader::open(&path)?.get_balance("KRAKEN".parse()?, "USDC".parse()?)?.ok_or("written")?;
/// assert_eq!(quote.mid, 5_000.5);
/// # drop(handle); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct SingleQuote {
    /// The source's time, microseconds since the Unix epoch.
    pub timestamp: i64,
    /// The local receive time, microseconds since the Unix epoch.
    pub local_timestamp: i64,
    /// The value.
    pub mid: f64,
}

fn key(venue: Venue, data_type: DataType, currency: Currency) -> [u64; 4] {
    let v = venue.as_bytes();
    let mut low = [0; 8];
    let mut high = [0; 8];
    low.copy_from_slice(&v[..8]);
    high.copy_from_slice(&v[8..]);
    [
        u64::from_le_bytes(low),
        u64::from_le_bytes(high),
        u64::from_le_bytes(*currency.as_bytes()),
        data_type as u64,
    ]
}

fn mid(word: &AtomicU64) -> &AtomicF64 {
    // SAFETY: `AtomicF64` has the size and alignment of `AtomicU64` (asserted above) and is a
    // transparent wrapper over the same 64 bits; the reference lives no longer than `word`.
    unsafe { &*std::ptr::from_ref::<AtomicU64>(word).cast::<AtomicF64>() }
}

/// The table of quotes in one file.
struct Table {
    map: WordMap,
    entries_max: usize,
    path: PathBuf,
}

impl Table {
    fn entry(&self, index: usize) -> &[AtomicU64] {
        let start = HEADER_WORDS + index * ENTRY_WORDS;
        &self.map.words()[start..start + ENTRY_WORDS]
    }

    /// The entry holding `key`, or `None`. Keys are claimed in order and never freed, so a
    /// search stops at the first free entry.
    fn find(&self, key: &[u64; 4]) -> Option<usize> {
        (0..self.entries_max)
            .map_while(|i| {
                let entry = self.entry(i);
                // Acquire: pairs with the writer's Release store of the data type, which it makes
                // after the other key words.
                let data_type = entry[3].load(Ordering::Acquire);
                (data_type != 0).then_some(i)
            })
            .find(|&i| {
                let entry = self.entry(i);
                // Relaxed: ordered by the Acquire above.
                (0..4).all(|w| entry[w].load(Ordering::Relaxed) == key[w])
            })
    }
}

/// Writes quotes. One per file (a file lock refuses a second writer).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::QuoteWriter;
/// // Seed 004's simple case: one balance per venue and currency, for other processes to read.
/// let path = std::env::temp_dir().join(format!("capvault-doc-quote-writer-{}", std::process::id()));
/// let handle = QuoteWriter::create(&path, 1024)?;
/// handle.write_balance("KRAKEN".parse()?, "USDT".parse()?, 10_000.0, Some(8))?;
/// # drop(handle); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
pub struct QuoteWriter {
    table: Table,
    _lock: File,
}

impl QuoteWriter {
    /// The most entries a table may hold (a 64 MiB file).
    pub const ENTRIES_MAX: usize = 1 << 20;

    /// Creates (or replaces) the quote file at `path` with room for `entries_max` keys.
    ///
    /// # Errors
    /// [`ShmError::Size`] for `entries_max` outside `1..=ENTRIES_MAX`,
    /// [`ShmError::WriterActive`] if another live process writes it, [`ShmError::Io`] otherwise.
    pub fn create(path: impl AsRef<Path>, entries_max: usize) -> Result<QuoteWriter, ShmError> {
        let path = path.as_ref();
        if !(1..=Self::ENTRIES_MAX).contains(&entries_max) {
            return Err(ShmError::Size {
                path: path.to_owned(),
                requested: entries_max,
                max: Self::ENTRIES_MAX,
            });
        }
        let total = (HEADER_WORDS + entries_max * ENTRY_WORDS) * 8;
        let header = [
            (0, QUOTE_MAGIC),
            (1, QUOTE_VERSION),
            (2, entries_max as u64),
            (3, total as u64),
            (4, u64::from(std::process::id())),
        ];
        let (map, lock) = create_mapped(path, total, &header, crate::platform::FileAccess::Owner, |_| None)?;
        Ok(QuoteWriter { table: Table { map, entries_max, path: path.to_owned() }, _lock: lock })
    }

    /// The table's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.table.path
    }

    /// Writes one quote (seed 004 `ShareMemorySingleQuote::write`).
    ///
    /// # Errors
    /// [`ShmError::Full`] naming the file if every entry is taken by other keys.
    pub fn write(
        &self,
        venue: Venue,
        data_type: DataType,
        currency: Currency,
        quote: SingleQuote,
    ) -> Result<(), ShmError> {
        let key = key(venue, data_type, currency);
        let index = if let Some(index) = self.table.find(&key) {
            index
        } else {
            let free = (0..self.table.entries_max)
                // Relaxed: only this writer claims entries.
                .find(|&i| self.table.entry(i)[3].load(Ordering::Relaxed) == 0)
                .ok_or(ShmError::Full {
                    path: self.table.path.clone(),
                    entries_max: self.table.entries_max,
                })?;
            let entry = self.table.entry(free);
            for w in 0..3 {
                // Relaxed: published by the Release store of the data type.
                entry[w].store(key[w], Ordering::Relaxed);
            }
            // Release: the key words above are visible to a reader that sees the data type.
            entry[3].store(key[3], Ordering::Release);
            free
        };
        let entry = self.table.entry(index);
        SeqLock::new(&entry[SEQ], entry).write(|guard| {
            guard.set(5, quote.timestamp as u64);
            guard.set(6, quote.local_timestamp as u64);
            // The mid goes through `AtomicF64`; Relaxed like every data word of a seqlock.
            mid(&entry[7]).store(quote.mid, Ordering::Relaxed);
        });
        Ok(())
    }

    /// Seed 004's `write_balance`: the balance of a currency at a venue, stamped now unless a
    /// local timestamp is given.
    ///
    /// # Errors
    /// As [`QuoteWriter::write`].
    pub fn write_balance(
        &self,
        venue: Venue,
        currency: Currency,
        balance: f64,
        local_timestamp: Option<i64>,
    ) -> Result<(), ShmError> {
        let now = local_timestamp.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64)
        });
        self.write(
            venue,
            DataType::Balance,
            currency,
            SingleQuote { timestamp: now, local_timestamp: now, mid: balance },
        )
    }
}

/// Reads quotes written by a [`QuoteWriter`] in any process.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{QuoteReader, QuoteWriter};
/// let path = std::env::temp_dir().join(format!("capvault-doc-quote-reader-{}", std::process::id()));
/// let handle = QuoteWriter::create(&path, 16)?;
/// let reader = QuoteReader::open(&path)?;   // in another process
/// assert!(reader.get_balance("KRAKEN".parse()?, "USDT".parse()?)?.is_none(), "nothing written yet");
/// # drop(handle); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
pub struct QuoteReader {
    table: Table,
}

impl QuoteReader {
    /// Opens and validates a quote file.
    ///
    /// # Errors
    /// [`ShmError::Missing`], [`Empty`](ShmError::Empty), [`Truncated`](ShmError::Truncated),
    /// [`Foreign`](ShmError::Foreign) or [`Version`](ShmError::Version).
    pub fn open(path: impl AsRef<Path>) -> Result<QuoteReader, ShmError> {
        let path = path.as_ref();
        let (map, len, _) = open_mapped(path, (HEADER_WORDS * 8) as u64, crate::platform::euid())?;
        // Relaxed: fixed before the file was renamed into place.
        let word = |i: usize| map.words()[i].load(Ordering::Relaxed);
        if word(0) != QUOTE_MAGIC {
            return Err(ShmError::Foreign { path: path.to_owned() });
        }
        if word(1) != QUOTE_VERSION {
            return Err(ShmError::Version {
                path: path.to_owned(),
                found: word(1) as u32,
                expected: QUOTE_VERSION as u32,
            });
        }
        let entries_max = word(2) as usize;
        if !(1..=QuoteWriter::ENTRIES_MAX).contains(&entries_max) {
            return Err(ShmError::Corrupt {
                path: path.to_owned(),
                offset: 16,
                reason: "entries_max out of range",
            });
        }
        let expected = ((HEADER_WORDS + entries_max * ENTRY_WORDS) * 8) as u64;
        if word(3) != expected || len < expected {
            return Err(ShmError::Truncated { path: path.to_owned(), len, expected });
        }
        Ok(QuoteReader { table: Table { map, entries_max, path: path.to_owned() } })
    }

    /// The latest quote for the key (seed 004 `ShareMemorySingleQuote::get`), or `None` if none
    /// was ever written.
    ///
    /// # Errors
    /// [`ShmError::Busy`] if every try overlapped a write.
    pub fn get(
        &self,
        venue: Venue,
        data_type: DataType,
        currency: Currency,
    ) -> Result<Option<SingleQuote>, ShmError> {
        let Some(index) = self.table.find(&key(venue, data_type, currency)) else { return Ok(None) };
        let entry = self.table.entry(index);
        let tries = 10_000;
        let read = SeqLock::new(&entry[SEQ], entry).read(tries, |get| {
            Ok::<_, ()>(SingleQuote {
                timestamp: get(5) as i64,
                local_timestamp: get(6) as i64,
                // Same word as `get(7)`, read as the float it is.
                mid: f64::from_bits(get(7)),
            })
        });
        match read {
            Ok((quote, _)) => Ok(Some(quote)),
            Err(ReadError::Busy | ReadError::Invalid(())) => {
                Err(ShmError::Busy { path: self.table.path.clone(), tries })
            }
        }
    }

    /// Seed 004's `get_balance`.
    ///
    /// # Errors
    /// As [`QuoteReader::get`].
    pub fn get_balance(&self, venue: Venue, currency: Currency) -> Result<Option<SingleQuote>, ShmError> {
        self.get(venue, DataType::Balance, currency)
    }
}

impl std::fmt::Debug for QuoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuoteWriter")
            .field("path", &self.table.path)
            .field("entries_max", &self.table.entries_max)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for QuoteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuoteReader")
            .field("path", &self.table.path)
            .field("entries_max", &self.table.entries_max)
            .finish_non_exhaustive()
    }
}
