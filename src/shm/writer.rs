//! The writer: the owner thread's end of the shared-memory mirror.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::platform::{self, FileAccess, PathRefusal};
use crate::shm::error::ShmError;
use crate::shm::layout::{self, Geometry, FLAGS_WORD, FLAG_CLOSED, FLAG_FAILED, HEARTBEAT_WORD, SEQ_WORD};
use crate::shm::map::WordMap;
use crate::shm::seqlock::SeqLock;
use crate::snapshot::Snapshot;

/// The lock file next to a shared-memory file: held exclusively by the writer for its whole life,
/// so a second writer is refused and readers can tell whether a writer is alive.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> ShmError + '_ {
    move |error| ShmError::Io { path: path.to_owned(), error }
}

pub(crate) fn refused(path: &Path, refusal: PathRefusal) -> ShmError {
    ShmError::Unsafe { path: path.to_owned(), reason: refusal.to_string() }
}

/// Takes the writer lock of `path`, then builds the file under a new temporary name of its own
/// (created exclusively, never through a symlink, with `access`'s mode) and renames it into
/// place, so a reader never maps a half-initialised file and a reader of the previous file keeps
/// a valid mapping. An existing lock file or mirror owned by another user is refused. Returns
/// the mapping and the held lock. `pid_of` names the live writer when the lock is taken.
pub(crate) fn create_mapped(
    path: &Path,
    total_size: usize,
    header: &[(usize, u64)],
    access: FileAccess,
    pid_of: impl Fn(&Path) -> Option<u32>,
) -> Result<(WordMap, File), ShmError> {
    let lock_path = lock_path(path);
    let lock = platform::open_own(&lock_path, access)
        .map_err(io(&lock_path))?
        .map_err(|r| refused(&lock_path, r))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(ShmError::WriterActive { path: path.to_owned(), pid: pid_of(path) })
        }
        Err(TryLockError::Error(error)) => return Err(ShmError::Io { path: lock_path, error }),
    }
    platform::check_replaceable(path).map_err(|r| refused(path, r))?;
    let map = platform::replace_file(path, access, |file| {
        file.set_len(total_size as u64)?;
        let map = WordMap::read_write(file)?;
        for &(word, value) in header {
            // Relaxed: the rename publishes the file; nobody maps it before.
            map.words()[word].store(value, Ordering::Relaxed);
        }
        Ok(map)
    })
    .map_err(io(path))?;
    Ok((map, lock))
}

/// Opens an existing mapped file for reading: its length, with the missing and empty cases named.
///
/// The file must belong to `owner` (by default this process's user): a file another user planted
/// at the path is refused rather than shown.
pub(crate) fn open_mapped(
    path: &Path,
    header_len: u64,
    owner: u32,
) -> Result<(WordMap, u64, File), ShmError> {
    use std::os::unix::fs::MetadataExt;
    let file = platform::open_read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ShmError::Missing { path: path.to_owned() },
        _ if error.raw_os_error() == Some(libc::ELOOP) => refused(path, PathRefusal::Kind),
        _ => ShmError::Io { path: path.to_owned(), error },
    })?;
    let metadata = file.metadata().map_err(io(path))?;
    if !metadata.is_file() {
        return Err(refused(path, PathRefusal::Kind));
    }
    if metadata.uid() != owner {
        return Err(refused(path, PathRefusal::Owner { uid: metadata.uid() }));
    }
    let len = metadata.len();
    if len == 0 {
        return Err(ShmError::Empty { path: path.to_owned() });
    }
    if len < header_len {
        return Err(ShmError::Truncated { path: path.to_owned(), len, expected: header_len });
    }
    let map = WordMap::read_only(&file).map_err(io(path))?;
    Ok((map, len, file))
}

/// Writes snapshots into a shared-memory file with a seqlock. One per file: the file lock
/// refuses a second writer, even in another process.
pub struct ShmWriter {
    map: WordMap,
    geometry: Geometry,
    path: PathBuf,
    /// Held for the writer's life: the exclusive lock is the "one writer" rule.
    _lock: File,
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
        let pid_of =
            |path: &Path| crate::shm::reader::ShmReader::open(path).ok().map(|reader| reader.writer_pid());
        let (map, lock) =
            create_mapped(path, geometry.total_size(), &geometry.header(std::process::id()), access, pid_of)?;
        let writer = ShmWriter { map, geometry, path: path.to_owned(), _lock: lock };
        writer.heartbeat();
        Ok(writer)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Writes one snapshot, as one seqlock update.
    pub fn write(&self, snapshot: &Snapshot) {
        let words = self.map.words();
        let lock = SeqLock::new(&words[SEQ_WORD], words);
        lock.write(|guard| layout::encode(&self.geometry, snapshot, |word, value| guard.set(word, value)));
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
        f.debug_struct("ShmWriter").field("path", &self.path).field("geometry", &self.geometry).finish()
    }
}
