//! The mapped file's life: created under a temporary name behind its writer lock, opened for
//! reading with its owner checked. Shared by the ledger mirror and the quote table, writers and
//! readers alike.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::mirror::shm::error::ShmError;
use crate::mirror::shm::map::WordMap;
use crate::platform::{self, FileAccess, PathRefusal};

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

pub(crate) fn refused(path: &Path, refusal: &PathRefusal) -> ShmError {
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
        .map_err(|r| refused(&lock_path, &r))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(ShmError::WriterActive { path: path.to_owned(), pid: pid_of(path) })
        }
        Err(TryLockError::Error(error)) => return Err(ShmError::Io { path: lock_path, error }),
    }
    platform::check_replaceable(path).map_err(|r| refused(path, &r))?;
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
    let file = platform::open_read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => ShmError::Missing { path: path.to_owned() },
        _ if platform::is_symlink_refusal(&error) => refused(path, &PathRefusal::Kind),
        _ => ShmError::Io { path: path.to_owned(), error },
    })?;
    let metadata = file.metadata().map_err(io(path))?;
    if !metadata.is_file() {
        return Err(refused(path, &PathRefusal::Kind));
    }
    if platform::owner_of(&metadata) != owner {
        return Err(refused(path, &PathRefusal::Owner { uid: platform::owner_of(&metadata) }));
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
