//! Durability: an append-only journal of accepted commands, periodic checkpoints of the whole
//! ledger, and recovery by loading the newest checkpoint and replaying the journal after it.
//! The format and the guarantees are in `docs/durability.md`.

pub(crate) mod codec;
mod crc;
mod recover;
mod stage;
pub(crate) mod store;

pub(crate) use recover::recover_with;
pub use recover::{recover, Recovery, TornTail};
pub(crate) use stage::JournalStage;
pub(crate) use store::{write_checkpoint, Checkpointer, JournalWriter, LOCK_NAME};
pub use store::{CheckpointStats, FORMAT_VERSION};

use std::fmt;
use std::path::PathBuf;

/// How far an accepted command is carried before its answer goes out.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Durability, Ledger, Limits};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-durability-enum-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).durability(Durability::Write).spawn()?;
/// handle.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Durability {
    /// Not journalled: a crash loses everything since start (the in-memory ledger only).
    None,
    /// Each batch is written to the journal (handed to the operating system) before its answers
    /// go out: survives the process dying, not the machine.
    Write,
    /// Each batch is written and `fdatasync`ed before its answers go out (group commit: one sync
    /// per batch): survives a power cut. The default with a data directory.
    FsyncBatch,
}

/// Why the journal or a checkpoint could not be written or recovered.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, JournalError, Ledger, Limits, SpawnError};
/// let file = std::env::temp_dir().join(format!("capvault-doc-journal-error-{}", std::process::id()));
/// std::fs::write(&file, b"not a folder")?;
/// let refused = Builder::new(Ledger::new(Limits::default())?).data_dir(file.join("data")).spawn();
/// assert!(matches!(refused, Err(SpawnError::Journal(JournalError::Io { .. }))));
/// # std::fs::remove_file(&file)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system error on a file.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A file from another layout version (or not a capvault file at all).
    Version {
        /// The file.
        path: PathBuf,
        /// What is wrong with its header.
        found: String,
    },
    /// A damaged record before the end of the journal, or a record out of sequence: refusing to
    /// start rather than skip it.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint that fails its check.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The byte offset where the check failed.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A journalled command that the ledger refuses on replay: the journal does not belong to
    /// this checkpoint.
    Replay {
        /// The file.
        path: PathBuf,
        /// The record's byte offset.
        offset: u64,
        /// Its sequence.
        seq: u64,
        /// The ledger's refusal.
        rejection: crate::ledger::Rejection,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            JournalError::Version { path, found } => {
                write!(f, "{}: not a journal this build reads: {found}", path.display())
            }
            JournalError::Corrupt { path, offset, reason } => {
                write!(f, "{}: corrupt record at byte {offset}: {reason}; refusing to start", path.display())
            }
            JournalError::Checkpoint { path, offset, reason } => {
                write!(
                    f,
                    "{}: checkpoint fails its check at byte {offset}: {reason}; refusing to start",
                    path.display()
                )
            }
            JournalError::Replay { path, offset, seq, rejection } => write!(
                f,
                "{}: record {seq} at byte {offset} is refused on replay ({rejection}); refusing to start",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { error, .. } => Some(error),
            JournalError::Replay { rejection, .. } => Some(rejection),
            _ => None,
        }
    }
}

pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |error| JournalError::Io { path: path.to_owned(), error }
}
