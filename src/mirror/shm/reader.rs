//! The reader: how other processes (and the `capvault` binary) look at a running vault.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::mirror::shm::error::ShmError;
use crate::mirror::shm::file::{io, lock_path, open_mapped};
use crate::mirror::shm::layout::{
    self, Geometry, Header, FLAGS_WORD, FLAG_CLOSED, FLAG_FAILED, HEADER_WORDS, HEARTBEAT_WORD,
    LAYOUT_VERSION, MAGIC, SEQ_WORD, STRATEGIES_PER_BOOK,
};
use crate::mirror::shm::map::WordMap;
use crate::runtime::snapshot::Snapshot;
use crate::sync::seqlock::{ReadError, SeqLock};

/// Is the file's writer alive?
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits, ShmReader, WriterState};
/// let path = std::env::temp_dir().join(format!("capvault-doc-writer-state-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?).mirror_shm(&path).spawn()?;
/// let reader = ShmReader::open(&path)?;
/// assert_eq!(reader.writer().state, WriterState::Alive);
/// handle.shutdown()?;
/// assert_eq!(reader.writer().state, WriterState::Closed);   // final figures
/// # std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WriterState {
    /// A process holds the writer lock and its heartbeat is recent.
    Alive,
    /// A process holds the writer lock but its heartbeat is older than the stale limit: it may be
    /// hung.
    Stale,
    /// No process holds the writer lock and the file was not closed cleanly: the writer died.
    Dead,
    /// The writer closed the file cleanly (the vault shut down): the figures are final.
    Closed,
    /// The writer's vault failed (its owner thread panicked or its journal could not be
    /// written): the figures are the last published before the failure, not final.
    Failed,
    /// Another file has replaced this one at the path (a new writer started): reopen.
    Replaced,
}

/// What a reader knows of the writer.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits, ShmReader};
/// let path = std::env::temp_dir().join(format!("capvault-doc-writer-status-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?).mirror_shm(&path).spawn()?;
/// let status = ShmReader::open(&path)?.writer();
/// assert_eq!(status.pid, std::process::id());
/// handle.shutdown()?;
/// # std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct WriterStatus {
    /// Alive, stale, dead, closed or replaced.
    pub state: WriterState,
    /// The writer's process id.
    pub pid: u32,
    /// Time since the last heartbeat.
    pub heartbeat_age: Duration,
}

/// Reads a shared-memory file written by a vault in another process (or this one).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, LedgerConfig, ShmReader};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let path = capvault::shm_path(&format!("capvault-doc-reader-{}", std::process::id()));
/// let handle = Builder::from_config(&config)?.mirror_shm(&path).spawn()?;
/// // In another process:
/// let snapshot = ShmReader::open(&path)?.read()?;   // never torn
/// assert_eq!(snapshot.books()[0].total(), "300000".parse()?);
/// handle.shutdown()?;
/// # std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
pub struct ShmReader {
    map: WordMap,
    geometry: Geometry,
    path: PathBuf,
    /// Kept open to check the length before each read: a file truncated under the mapping would
    /// otherwise raise SIGBUS on the first access past its end.
    file: File,
    inode: u64,
    owner: u32,
}

impl ShmReader {
    /// Tries per read before [`ShmError::Busy`].
    pub const TRIES: u32 = 10_000;
    /// How long [`Self::read`] waits out a writer before it reports `Busy`.
    pub const PATIENCE: Duration = Duration::from_millis(100);
    /// A heartbeat older than this marks a live writer stale.
    pub const STALE_AFTER: Duration = Duration::from_secs(2);

    /// Opens and validates the file: its length, magic, version and stated geometry.
    ///
    /// # Errors
    /// [`ShmError::Missing`], [`Empty`](ShmError::Empty), [`Truncated`](ShmError::Truncated),
    /// [`Foreign`](ShmError::Foreign), [`Version`](ShmError::Version) or
    /// [`Corrupt`](ShmError::Corrupt), each naming the path; [`Unsafe`](ShmError::Unsafe) for a
    /// file that is not this user's (use [`ShmReader::open_owned_by`] to read another user's).
    pub fn open(path: impl AsRef<Path>) -> Result<ShmReader, ShmError> {
        ShmReader::open_owned_by(path, crate::platform::euid())
    }

    /// Opens a file that must belong to the user `uid` (a vault run by another account that
    /// shares its mirror with a group).
    ///
    /// # Errors
    /// As [`ShmReader::open`].
    pub fn open_owned_by(path: impl AsRef<Path>, uid: u32) -> Result<ShmReader, ShmError> {
        let path = path.as_ref();
        let (map, len, file) = open_mapped(path, std::mem::size_of::<Header>() as u64, uid)?;
        let inode = file.metadata().map_err(io(path)).map(|m| crate::platform::file_id(&m))?;
        // Relaxed: the header's fixed words were written before the file was renamed into place.
        let word = |index: usize| map.words()[index].load(Ordering::Relaxed);
        if word(layout::word!(Header, magic)) != MAGIC {
            return Err(ShmError::Foreign { path: path.to_owned() });
        }
        let version = word(layout::word!(Header, version_and_header_size)) as u32;
        if version != LAYOUT_VERSION {
            return Err(ShmError::Version {
                path: path.to_owned(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let books = word(layout::word!(Header, books_max_and_strategies));
        let corrupt = |field: usize| ShmError::Corrupt {
            path: path.to_owned(),
            offset: field * 8,
            reason: "header field out of range",
        };
        if (books >> 32) as usize != STRATEGIES_PER_BOOK || (books as u32) > u32::from(u16::MAX) {
            return Err(corrupt(layout::word!(Header, books_max_and_strategies)));
        }
        let orders_max = word(layout::word!(Header, orders_max));
        if orders_max > u64::from(crate::ledger::Limits::ORDERS_MAX_MAX) {
            return Err(corrupt(layout::word!(Header, orders_max)));
        }
        let geometry = Geometry { books_max: books as u32 as usize, orders_max: orders_max as usize };
        let expected = geometry.total_size() as u64;
        let stated = word(layout::word!(Header, total_size));
        if stated != expected {
            return Err(corrupt(layout::word!(Header, total_size)));
        }
        if len < expected {
            return Err(ShmError::Truncated { path: path.to_owned(), len, expected });
        }
        debug_assert!(map.words().len() >= HEADER_WORDS);
        Ok(ShmReader { map, geometry, path: path.to_owned(), file, inode, owner: uid })
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds.
    #[must_use]
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The writer's process id, as the file says.
    #[must_use]
    pub fn writer_pid(&self) -> u32 {
        // Relaxed: fixed at creation.
        self.map.words()[layout::word!(Header, writer_pid)].load(Ordering::Relaxed) as u32
    }

    /// A consistent copy of the ledger as last written: never torn. A read that overlaps a write
    /// tries again, yielding between rounds of [`Self::TRIES`] tries, for up to
    /// [`Self::PATIENCE`]: a writer copying thousands of orders takes longer than a round of
    /// tries, and a reader should wait it out rather than report it busy.
    ///
    /// # Errors
    /// [`ShmError::Busy`] if every try for [`Self::PATIENCE`] overlapped a write,
    /// [`ShmError::WriterDead`] if the writer died in the middle of one, [`ShmError::Corrupt`] if
    /// a stable read does not decode or a book breaks its invariant, [`ShmError::Truncated`] if
    /// the file was cut shorter than its layout.
    pub fn read(&self) -> Result<Snapshot, ShmError> {
        Self::patiently(|| self.read_with_tries(Self::TRIES))
    }

    /// As [`Self::read`], with a given number of tries.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_with_tries(&self, tries: u32) -> Result<Snapshot, ShmError> {
        self.check_length()?;
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        // Copy first, decode after: a try lasts as long as the copy, not as long as building a
        // snapshot of thousands of orders, so it fits between two writes.
        let mut copy = vec![0_u64; words.len()];
        match lock.copy(tries, |get| layout::in_use(&self.geometry, get), &mut copy) {
            Ok(_) => layout::decode(&self.geometry, &|index| copy[index]).map_err(|error| {
                ShmError::Corrupt { path: self.path.clone(), offset: error.word * 8, reason: error.reason }
            }),
            Err(ReadError::Busy) => Err(self.busy_or_dead(tries)),
            Err(ReadError::Invalid(never)) => match never {},
        }
    }

    /// One book of the snapshot the file holds, with the snapshot's `seq`, reading that book's
    /// record only (a few kilobytes) instead of copying every order: for a reader that asks
    /// about one book. `None` for a book the ledger does not have.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_book(
        &self,
        book: crate::ledger::BookId,
    ) -> Result<(u64, Option<crate::ledger::Book>), ShmError> {
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        Self::patiently(|| {
            self.check_length()?;
            if book.index() >= self.geometry.books_max {
                let seq = self.seq()?;
                return Ok((seq, None));
            }
            // Copy the header and the record under the seqlock, decode after.
            let range = layout::one_book_words(book.index());
            let copied = lock.read(Self::TRIES, |get| {
                let header: Vec<u64> = (0..layout::HEADER_WORDS).map(get).collect();
                let record: Vec<u64> = range.clone().map(get).collect();
                Ok::<_, std::convert::Infallible>((header, record))
            });
            let (header, record) = match copied {
                Ok((words, _)) => words,
                Err(ReadError::Busy) => return Err(self.busy_or_dead(Self::TRIES)),
                Err(ReadError::Invalid(never)) => match never {},
            };
            let get = |index: usize| {
                if index < header.len() {
                    header[index]
                } else {
                    index.checked_sub(range.start).and_then(|at| record.get(at)).copied().unwrap_or(0)
                }
            };
            layout::decode_one_book(&self.geometry, book.index(), &get).map_err(|error| ShmError::Corrupt {
                path: self.path.clone(),
                offset: error.word * 8,
                reason: error.reason,
            })
        })
    }

    /// The `seq` of the snapshot the file holds, without copying the rest: a poller reads it
    /// cheaply and copies the whole snapshot only when it moved.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn seq(&self) -> Result<u64, ShmError> {
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        Self::patiently(|| {
            self.check_length()?;
            let read = lock
                .read(Self::TRIES, |get| Ok::<_, std::convert::Infallible>(get(layout::SNAPSHOT_SEQ_WORD)));
            match read {
                Ok((seq, _)) => Ok(seq),
                Err(ReadError::Busy) => Err(self.busy_or_dead(Self::TRIES)),
                Err(ReadError::Invalid(never)) => match never {},
            }
        })
    }

    /// The vault's latency summary as the writer's mirror thread last wrote it (refreshed at
    /// each heartbeat): per metric the count, p50, p99, p99.9 and max, in nanoseconds (commands
    /// for batch and depth). All zero for a metric not recorded yet.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn latency(&self) -> Result<Vec<(crate::runtime::Metric, crate::runtime::Summary)>, ShmError> {
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        Self::patiently(|| {
            self.check_length()?;
            let read = lock.read(Self::TRIES, |get| {
                let summaries = crate::runtime::Metric::ALL
                    .iter()
                    .enumerate()
                    .map(|(index, metric)| {
                        let field =
                            |offset| get(layout::LATENCY_WORD + index * layout::LATENCY_FIELDS + offset);
                        let summary = crate::runtime::Summary {
                            count: field(0),
                            p50: field(1),
                            p99: field(2),
                            p999: field(3),
                            max: field(4),
                        };
                        (*metric, summary)
                    })
                    .collect::<Vec<_>>();
                Ok::<_, std::convert::Infallible>(summaries)
            });
            match read {
                Ok((summaries, _)) => Ok(summaries),
                Err(ReadError::Busy) => Err(self.busy_or_dead(Self::TRIES)),
                Err(ReadError::Invalid(never)) => match never {},
            }
        })
    }

    /// Runs `attempt` again while it reports `Busy`, yielding between attempts, for up to
    /// [`Self::PATIENCE`].
    fn patiently<T>(attempt: impl Fn() -> Result<T, ShmError>) -> Result<T, ShmError> {
        let started = std::time::Instant::now();
        loop {
            match attempt() {
                Err(ShmError::Busy { .. }) if started.elapsed() < Self::PATIENCE => std::thread::yield_now(),
                other => return other,
            }
        }
    }

    /// A file truncated under the mapping would raise SIGBUS at the first access past its end.
    fn check_length(&self) -> Result<(), ShmError> {
        let expected = self.geometry.total_size() as u64;
        let len = self.file.metadata().map_err(io(&self.path))?.len();
        if len < expected {
            return Err(ShmError::Truncated { path: self.path.clone(), len, expected });
        }
        Ok(())
    }

    /// Every try overlapped a write: a busy writer, or one that died mid-write (the sequence
    /// stays odd and no process holds the writer lock).
    fn busy_or_dead(&self, tries: u32) -> ShmError {
        // Relaxed: a write in progress shows as an odd sequence; with no live writer it will
        // stay odd.
        let odd = self.map.words()[SEQ_WORD].load(Ordering::Relaxed) & 1 == 1;
        if odd && !self.lock_held() {
            ShmError::WriterDead { path: self.path.clone() }
        } else {
            ShmError::Busy { path: self.path.clone(), tries }
        }
    }

    /// Reads until the file shows sequence `seq` or later (a command's [`Receipt::seq`]), for
    /// up to `timeout`: the mirror thread writes the file shortly after the vault publishes.
    ///
    /// # Errors
    /// As [`Self::read`], and [`ShmError::Timeout`] if the file stayed behind `seq`.
    ///
    /// [`Receipt::seq`]: crate::Receipt::seq
    pub fn wait_for(&self, seq: u64, timeout: Duration) -> Result<Snapshot, ShmError> {
        let started = std::time::Instant::now();
        loop {
            let seen = self.seq()?;
            if seen >= seq {
                return self.read();
            }
            if started.elapsed() >= timeout {
                return Err(ShmError::Timeout { path: self.path.clone(), wanted: seq, seen });
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Whether the writer is alive, hung, dead, closed, or replaced by a new file.
    #[must_use]
    pub fn writer(&self) -> WriterStatus {
        let words = self.map.words();
        // Relaxed: a timestamp on its own.
        let heartbeat = words[HEARTBEAT_WORD].load(Ordering::Relaxed);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let heartbeat_age = Duration::from_nanos(now.saturating_sub(heartbeat));
        let pid = self.writer_pid();
        // Acquire: pairs with the writer's Release when it closes or fails.
        let flags = words[FLAGS_WORD].load(Ordering::Acquire);
        let replaced =
            std::fs::metadata(&self.path).map_or(true, |m| crate::platform::file_id(&m) != self.inode);
        let state = if replaced {
            WriterState::Replaced
        } else if flags & FLAG_FAILED != 0 {
            WriterState::Failed
        } else if flags & FLAG_CLOSED != 0 {
            WriterState::Closed
        } else if !self.lock_held() {
            WriterState::Dead
        } else if heartbeat_age > Self::STALE_AFTER {
            WriterState::Stale
        } else {
            WriterState::Alive
        };
        WriterStatus { state, pid, heartbeat_age }
    }
}

impl ShmReader {
    /// `true` if a process holds the writer lock, on a lock file of the mirror's owner (a lock
    /// file someone else planted says nothing about the writer).
    fn lock_held(&self) -> bool {
        let Ok(lock) = crate::platform::open_read(&lock_path(&self.path)) else { return false };
        if lock.metadata().map_or(true, |m| crate::platform::owner_of(&m) != self.owner) {
            return false;
        }
        lock_held(&lock)
    }
}

/// `true` if some process holds the lock on `lock`.
fn lock_held(lock: &File) -> bool {
    match lock.try_lock_shared() {
        Ok(()) => {
            let _ = lock.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

impl std::fmt::Debug for ShmReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmReader")
            .field("path", &self.path)
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}
