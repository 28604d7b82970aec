//! Errors of the shared-memory mirror.

use std::fmt;
use std::path::PathBuf;

/// Why a shared-memory file could not be created, opened or read.
#[derive(Debug)]
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
    /// A field is out of range in a read that no write overlapped.
    Corrupt {
        /// The path.
        path: PathBuf,
        /// The byte offset of the bad field.
        offset: usize,
    },
    /// Every try overlapped a write (the writer is writing continuously, or stopped mid-write).
    Busy {
        /// The path.
        path: PathBuf,
        /// Tries made.
        tries: u32,
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
            ShmError::Corrupt { path, offset } => {
                write!(f, "{}: corrupt field at byte {offset}", path.display())
            }
            ShmError::Busy { path, tries } => {
                write!(f, "{}: no consistent read in {tries} tries (a write overlapped each)", path.display())
            }
            ShmError::WriterActive { path, pid } => match pid {
                Some(pid) => write!(f, "{}: already written by live process {pid}", path.display()),
                None => write!(f, "{}: already written by another live process", path.display()),
            },
            ShmError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ShmError {}
