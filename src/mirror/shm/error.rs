//! Errors of the shared-memory mirror.

use std::fmt;
use std::path::PathBuf;

/// Why a shared-memory file could not be created, opened or read.
///
/// ```
/// use capvault::{ShmError, ShmReader};
/// let missing = std::env::temp_dir().join("capvault-doc-no-such-mirror");
/// assert!(matches!(ShmReader::open(&missing), Err(ShmError::Missing { .. })));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ShmError {
    /// No file at the path.
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The file is empty.
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// The file is shorter than its header, or than the size its header states.
    Truncated {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The length expected.
        expected: u64,
    },
    /// The file does not start with the capvault magic: it is something else.
    Foreign {
        /// The path.
        path: PathBuf,
    },
    /// The file was written with another layout version.
    Version {
        /// The path.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// A field is out of range, or a book breaks its invariant, in a read that no write
    /// overlapped.
    Corrupt {
        /// The path.
        path: PathBuf,
        /// The byte offset of the bad field.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The writer died in the middle of a write (the sequence is odd and nobody holds the writer
    /// lock): the file will never be consistent again.
    WriterDead {
        /// The path.
        path: PathBuf,
    },
    /// Every entry of a quote table holds another key.
    Full {
        /// The path.
        path: PathBuf,
        /// Entries in the table.
        entries_max: usize,
    },
    /// A table size out of range.
    Size {
        /// The path.
        path: PathBuf,
        /// The size asked for.
        requested: usize,
        /// The largest accepted.
        max: usize,
    },
    /// A file the vault would write or trust is owned by another user, or is not a regular file
    /// (`docs/security.md`).
    Unsafe {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Every try overlapped a write (the writer is writing continuously, or stopped mid-write).
    Busy {
        /// The path.
        path: PathBuf,
        /// Tries made.
        tries: u32,
    },
    /// The file did not show the sequence waited for in time.
    Timeout {
        /// The path.
        path: PathBuf,
        /// The sequence waited for.
        wanted: u64,
        /// The sequence the file showed last.
        seen: u64,
    },
    /// Another live process is the file's writer.
    WriterActive {
        /// The path.
        path: PathBuf,
        /// The writer's process id, as its file says.
        pid: Option<u32>,
    },
    /// An operating-system error.
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Missing { path } => write!(
                f,
                "{}: no such file (is the vault running with a shared-memory mirror?)",
                path.display()
            ),
            ShmError::Empty { path } => write!(f, "{}: the file is empty", path.display()),
            ShmError::Truncated { path, len, expected } => {
                write!(f, "{}: truncated: {len} bytes, expected {expected}", path.display())
            }
            ShmError::Foreign { path } => {
                write!(f, "{}: not a capvault shared-memory file (bad magic)", path.display())
            }
            ShmError::Version { path, found, expected } => {
                write!(f, "{}: layout version {found}, this build reads version {expected}", path.display())
            }
            ShmError::Corrupt { path, offset, reason } => {
                write!(f, "{}: corrupt at byte {offset}: {reason}", path.display())
            }
            ShmError::WriterDead { path } => {
                write!(f, "{}: the writer died in the middle of a write; restart the vault", path.display())
            }
            ShmError::Full { path, entries_max } => {
                write!(f, "{}: all {entries_max} entries hold other keys", path.display())
            }
            ShmError::Size { path, requested, max } => {
                write!(f, "{}: a table of {requested} entries is outside 1..={max}", path.display())
            }
            ShmError::Unsafe { path, reason } => write!(f, "{}: refused: {reason}", path.display()),
            ShmError::Busy { path, tries } => {
                write!(f, "{}: no consistent read in {tries} tries (a write overlapped each)", path.display())
            }
            ShmError::Timeout { path, wanted, seen } => {
                write!(f, "{}: still at seq {seen}, waited for {wanted}", path.display())
            }
            ShmError::WriterActive { path, pid } => match pid {
                Some(pid) => write!(f, "{}: already written by live process {pid}", path.display()),
                None => write!(f, "{}: already written by another live process", path.display()),
            },
            ShmError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
