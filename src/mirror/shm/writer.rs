//! The writer: the owner thread's end of the shared-memory mirror.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ledger::{ClientOrderId, Order};
use crate::mirror::shm::error::ShmError;
use crate::mirror::shm::file::{create_mapped, open_mapped};
use crate::mirror::shm::layout::{
    self, Geometry, FLAGS_WORD, FLAG_CLOSED, FLAG_FAILED, HEARTBEAT_WORD, SEQ_WORD,
};
use crate::mirror::shm::map::WordMap;
use crate::platform::{self, FileAccess};
use crate::runtime::snapshot::Snapshot;
use crate::runtime::OrderChange;
use crate::runtime::{Metric, Summary};
use crate::sync::seqlock::SeqLock;

/// Writes snapshots into a shared-memory file with a seqlock. One per file: the file lock
/// refuses a second writer, even in another process.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Geometry, Ledger, Limits, ShmReader, ShmWriter};
/// // The vault's builder makes one (`mirror_shm`); a writer of its own copies any snapshot.
/// let snapshot = Builder::new(Ledger::new(Limits::default())?).spawn()?.shutdown()?;
/// let path = std::env::temp_dir().join(format!("capvault-doc-writer-{}", std::process::id()));
/// let handle = ShmWriter::create(&path, Geometry { books_max: 4, orders_max: 16 })?;
/// handle.write(&snapshot);
/// assert_eq!(ShmReader::open(&path)?.read()?.seq(), snapshot.seq());
/// # drop(handle); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
pub struct ShmWriter {
    map: WordMap,
    geometry: Geometry,
    path: PathBuf,
    /// What the file holds, for writing only what changed. Locked by whoever writes: the mirror
    /// thread, and the owner once, when it leaves.
    written: Mutex<Written>,
    /// Held for the writer's life: the exclusive lock is the "one writer" rule.
    _lock: File,
}

/// The file's contents as the writer left them: the snapshot last written and where each order's
/// record is. Records `0..ids.len()` are in use, in no particular order: a removed order's record
/// is filled with the last one, so the records stay packed and a change costs one or two record
/// writes.
#[derive(Default)]
struct Written {
    last: Option<Arc<Snapshot>>,
    record_of: HashMap<ClientOrderId, usize>,
    ids: Vec<ClientOrderId>,
    /// The changes of the write in progress (kept for its capacity): `true` for an order added
    /// or changed, `false` for one removed.
    changes: Vec<(bool, Order)>,
}

impl Written {
    /// The record of `id`, a new one at the end if it has none.
    fn place(&mut self, id: ClientOrderId) -> usize {
        *self.record_of.entry(id).or_insert_with(|| {
            self.ids.push(id);
            self.ids.len() - 1
        })
    }

    /// Frees the record of `id`; returns `(from, to)` if the last record moves into the hole.
    fn free(&mut self, id: ClientOrderId) -> Option<(usize, usize)> {
        let hole = self.record_of.remove(&id)?;
        let last = self.ids.len() - 1;
        self.ids.swap_remove(hole);
        if hole == last {
            return None;
        }
        self.record_of.insert(self.ids[hole], hole);
        Some((last, hole))
    }
}

impl ShmWriter {
    /// Creates (or replaces) the file at `path`, sized for `geometry`, and takes the writer lock.
    /// The file is built under a temporary name and renamed into place, so a reader never maps a
    /// half-initialised file, and a reader of the previous file keeps a valid mapping.
    ///
    /// # Errors
    /// [`ShmError::WriterActive`] if another live process writes this path, [`ShmError::Io`] if
    /// the file cannot be created.
    pub fn create(path: impl AsRef<Path>, geometry: Geometry) -> Result<ShmWriter, ShmError> {
        ShmWriter::create_with(path, geometry, FileAccess::Owner)
    }

    /// As [`ShmWriter::create`], with the file readable by `access` (`docs/security.md`).
    ///
    /// # Errors
    /// As [`ShmWriter::create`], and [`ShmError::Unsafe`] if the path or its lock file belongs to
    /// another user or is not a regular file.
    pub fn create_with(
        path: impl AsRef<Path>,
        geometry: Geometry,
        access: FileAccess,
    ) -> Result<ShmWriter, ShmError> {
        let path = path.as_ref();
        // The live writer's pid, as its file says (the header is fixed before the rename).
        let pid_of = |path: &Path| {
            let (map, _, _) = open_mapped(path, layout::HEADER_BYTES, platform::euid()).ok()?;
            // Relaxed: fixed at creation.
            Some(map.words()[layout::WRITER_PID_WORD].load(Ordering::Relaxed) as u32)
        };
        let (map, lock) =
            create_mapped(path, geometry.total_size(), &geometry.header(std::process::id()), access, pid_of)?;
        let writer =
            ShmWriter { map, geometry, path: path.to_owned(), written: Mutex::default(), _lock: lock };
        writer.heartbeat();
        Ok(writer)
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds.
    #[must_use]
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Writes one snapshot whole, as one seqlock update.
    pub fn write(&self, snapshot: &Snapshot) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        self.write_whole(&mut written, snapshot);
        written.last = None;
    }

    fn write_whole(&self, written: &mut Written, snapshot: &Snapshot) {
        written.record_of.clear();
        written.ids.clear();
        for order in snapshot.orders().take(self.geometry.orders_max) {
            written.place(order.id());
        }
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        lock.write(|guard| layout::encode(&self.geometry, snapshot, |word, value| guard.set(word, value)));
    }

    /// Whether the file holds `snapshot` (the last one [`Self::follow`] wrote).
    pub(crate) fn holds(&self, snapshot: &Arc<Snapshot>) -> bool {
        let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        written.last.as_ref().is_some_and(|last| Arc::ptr_eq(last, snapshot))
    }

    /// Brings the file to `snapshot`, writing only what changed since the snapshot it last
    /// wrote: the header, the books that are not the same shared copy, and the records of the
    /// orders that changed, as one seqlock update. Returns `false` if the file already holds
    /// `snapshot`.
    pub(crate) fn follow(&self, snapshot: &Arc<Snapshot>) -> bool {
        self.follow_with(snapshot, &mut |_| {})
    }

    /// As [`Self::follow`], calling `writing(true)` just before the sequence turns odd and
    /// `writing(false)` just after it turns even again. The changes are found first, by
    /// comparing the two snapshots' shared order tables, so readers wait only for the stores.
    pub(crate) fn follow_with(&self, snapshot: &Arc<Snapshot>, writing: &mut dyn FnMut(bool)) -> bool {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let written = &mut *written;
        let last = match &written.last {
            Some(last) if Arc::ptr_eq(last, snapshot) => return false,
            Some(last) if last.books().len() == snapshot.books().len() => last.clone(),
            _ => {
                writing(true);
                self.write_whole(written, snapshot);
                writing(false);
                written.last = Some(snapshot.clone());
                return true;
            }
        };
        let mut changes = std::mem::take(&mut written.changes);
        changes.clear();
        last.order_changes(snapshot, &mut |change| match change {
            OrderChange::Upsert(order) => changes.push((true, *order)),
            OrderChange::Removed(order) => changes.push((false, *order)),
        });
        writing(true);
        self.write_changes(written, &last, snapshot, &changes);
        writing(false);
        written.changes = changes;
        written.last = Some(snapshot.clone());
        true
    }

    fn write_changes(
        &self,
        written: &mut Written,
        last: &Snapshot,
        snapshot: &Snapshot,
        changes: &[(bool, Order)],
    ) {
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        let geometry = &self.geometry;
        lock.write(|guard| {
            let mut set = |word: usize, value: u64| guard.set(word, value);
            for (index, (old, new)) in last.books().iter().zip(snapshot.books()).enumerate() {
                if !Arc::ptr_eq(old, new) && index < geometry.books_max {
                    layout::encode_book(index, new, &mut set);
                }
            }
            for (upsert, order) in changes {
                if *upsert {
                    let record = written.place(order.id());
                    if record < geometry.orders_max {
                        layout::encode_order(geometry, record, order, &mut set);
                    }
                } else if let Some((from, to)) = written.free(order.id()) {
                    let (from, to) = (layout::order_words(geometry, from), layout::order_words(geometry, to));
                    for (from, to) in from.zip(to) {
                        // Relaxed: this thread wrote the word; no one else writes the file.
                        set(to, words[from].load(Ordering::Relaxed));
                    }
                }
            }
            let books = snapshot.books().len().min(geometry.books_max);
            layout::encode_header(snapshot, books, written.ids.len().min(geometry.orders_max), &mut set);
        });
    }

    /// Writes the vault's latency summary (one seqlock update).
    pub(crate) fn write_latency(&self, summaries: &[(Metric, Summary)]) {
        // Serialised with the snapshot writes: one writer at a time holds the sequence odd.
        let _written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        lock.write(|guard| {
            for (index, (_, summary)) in summaries.iter().enumerate().take(layout::LATENCY_METRICS) {
                let base = layout::LATENCY_WORD + index * layout::LATENCY_FIELDS;
                let fields = [summary.count, summary.p50, summary.p99, summary.p999, summary.max];
                for (offset, value) in fields.into_iter().enumerate() {
                    guard.set(base + offset, value);
                }
            }
        });
    }

    /// Stamps the heartbeat with the current time, so readers can tell a live writer from a hung
    /// one.
    pub fn heartbeat(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        // Relaxed: a timestamp on its own, outside the seqlock; readers only compare it to now.
        self.map.words()[HEARTBEAT_WORD].store(now, Ordering::Relaxed);
    }
}

impl ShmWriter {
    /// Marks the file closed cleanly: the figures are final. Only an orderly shutdown calls it;
    /// a writer dropped without it reads as dead (or failed) to readers.
    pub fn close(&self) {
        // Release: a reader that sees the flag sees the last write.
        self.map.words()[FLAGS_WORD].fetch_or(FLAG_CLOSED, Ordering::Release);
    }

    /// Marks the file's vault failed (an owner panic, a journal failure): the figures are the
    /// last published before the failure, not final ones.
    pub fn fail(&self) {
        // Release: as in `close`.
        self.map.words()[FLAGS_WORD].fetch_or(FLAG_FAILED, Ordering::Release);
    }
}

impl std::fmt::Debug for ShmWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmWriter")
            .field("path", &self.path)
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}
