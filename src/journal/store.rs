//! Writing: journal segments on the owner thread, checkpoints on their own thread.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::journal::codec::{encode_ledger, encode_record};
use crate::journal::{crc, io, Durability, JournalError};
use crate::ledger::command::Command;
use crate::ledger::{Ledger, RequestKey};
use crate::platform::{self, FileAccess};

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"CVJOURNL";
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"CVCHKPNT";
/// Version 2: a record's checksum covers its length and sequence as well as its payload.
/// Version 3: a book's spec ends with its minor unit (one byte of decimal places).
/// Version 4: the commands `fill_to`, `expire`, `claim_signal`, `consume_signal`; a checkpoint
/// keeps each resolved order's filled amount and the signal window.
/// Version 5: a record may carry a request key before its command (tag `0x80`,
/// `Ledger::apply_once`); a checkpoint keeps the request window and the clients' watermarks.
/// Version 6 (written now): a book's spec ends with its sell rule (one byte: 0 holds nothing,
/// 1 spends; older specs hold nothing); a record may start with the linked tag (`0x81`: a linked
/// reservation goes on in the next record).
/// All five are read; a data folder keeps its older files until checkpoints replace them. (A
/// journal holding a sell reservation, which version 4 refuses, does not replay: start a new
/// data folder and reconcile.)
pub const FORMAT_VERSION: u32 = 6;
/// Segment header: magic (8), version (4), reserved (4).
pub(crate) const SEGMENT_HEADER: usize = 16;
/// Record header: payload length (4), CRC-32 of length, sequence and payload (4), sequence (8).
pub(crate) const RECORD_HEADER: usize = 16;
/// The largest payload a record may state: every command encodes to far less, so a length above
/// it is damage, found without reading on.
pub(crate) const RECORD_PAYLOAD_MAX: usize = 512;
/// The lock file that makes one vault the only user of a data folder.
pub(crate) const LOCK_NAME: &str = "LOCK";
/// Checkpoint header: magic (8), version (4), reserved (4), sequence (8), payload length (8),
/// CRC-32 of the payload (4), reserved (4).
pub(crate) const CHECKPOINT_HEADER: usize = 40;

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("journal-{first_seq:020}.log"))
}

pub(crate) fn checkpoint_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("checkpoint-{seq:020}.ckpt"))
}

/// Parses `journal-<seq>.log` or `checkpoint-<seq>.ckpt`.
pub(crate) fn parse_name(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    platform::sync_dir(dir).map_err(io(dir))
}

/// The checksum of a record: its length and sequence bytes, then its payload.
pub(crate) fn record_crc(len: [u8; 4], seq: [u8; 8], payload: &[u8]) -> u32 {
    crc::update(crc::update(crc::update(0, &len), &seq), payload)
}

/// Why a batch did not reach the journal, and what became of its records.
#[derive(Debug)]
pub(crate) struct CommitError {
    pub(crate) error: Box<JournalError>,
    /// `true` if the segment was cut back to where the batch began and that was synced: none of
    /// the batch's records can come back at recovery. `false`: some may.
    pub(crate) undone: bool,
}

/// The owner's end of the journal: records of the current batch are encoded into a buffer and
/// written (and synced, per the durability) once per batch, before the batch's answers go out.
pub(crate) struct JournalWriter {
    dir: PathBuf,
    durability: Durability,
    access: FileAccess,
    file: File,
    path: PathBuf,
    /// Bytes of the segment known written: where the next batch starts.
    len: u64,
    batch: Vec<u8>,
    payload: Vec<u8>,
}

impl JournalWriter {
    /// Starts a new segment whose first record will be `next_seq`.
    pub(crate) fn open(
        dir: &Path,
        durability: Durability,
        access: FileAccess,
        next_seq: u64,
    ) -> Result<JournalWriter, JournalError> {
        let (file, path) = Self::segment(dir, access, next_seq)?;
        Ok(JournalWriter {
            dir: dir.to_owned(),
            durability,
            access,
            file,
            path,
            len: SEGMENT_HEADER as u64,
            // Room for a large batch, so appending does not allocate in steady state.
            batch: Vec::with_capacity(64 * 1024),
            payload: Vec::with_capacity(128),
        })
    }

    /// Creates `journal-<first_seq>.log`. A file of that name can only be an empty segment a
    /// crash left (recovery proved it holds no record, or the sequence would be past it), so it
    /// is replaced.
    fn segment(dir: &Path, access: FileAccess, first_seq: u64) -> Result<(File, PathBuf), JournalError> {
        let path = segment_path(dir, first_seq);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(JournalError::Io { path, error }),
        }
        let mut file = platform::create_new(&path, access).map_err(io(&path))?;
        let mut header = [0_u8; SEGMENT_HEADER];
        header[..8].copy_from_slice(&SEGMENT_MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_all(&header).and_then(|()| file.sync_all()).map_err(io(&path))?;
        sync_dir(dir)?;
        Ok((file, path))
    }

    /// Adds an accepted command to the batch.
    pub(crate) fn append(&mut self, seq: u64, key: Option<RequestKey>, command: &Command, linked: bool) {
        self.payload.clear();
        encode_record(key, command, linked, &mut self.payload);
        assert!(
            self.payload.len() <= RECORD_PAYLOAD_MAX,
            "a command encoded to {} bytes",
            self.payload.len()
        );
        let len = (self.payload.len() as u32).to_le_bytes();
        let seq = seq.to_le_bytes();
        self.batch.extend_from_slice(&len);
        self.batch.extend_from_slice(&record_crc(len, seq, &self.payload).to_le_bytes());
        self.batch.extend_from_slice(&seq);
        self.batch.extend_from_slice(&self.payload);
    }

    /// Whether each commit syncs the file (`FsyncBatch`).
    pub(crate) fn syncs(&self) -> bool {
        self.durability == Durability::FsyncBatch
    }

    /// Writes the batch (and syncs it for `FsyncBatch`): one system call, one sync, per batch.
    ///
    /// On failure (a full disk, an I/O error) the segment is cut back to where the batch began
    /// and synced, so that no record of a batch answered "not applied" can reappear at recovery;
    /// [`CommitError::undone`] says whether that worked.
    pub(crate) fn commit(&mut self) -> Result<(), CommitError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        crate::failpoint::hit("journal.partial_batch", || {
            let _ = self.file.write_all(&self.batch[..self.batch.len() / 2]);
        });
        let mut result = self.file.write_all(&self.batch);
        if result.is_ok() && self.durability == Durability::FsyncBatch {
            result = self.file.sync_data();
        }
        let written = self.batch.len() as u64;
        self.batch.clear();
        match result {
            Ok(()) => {
                self.len += written;
                Ok(())
            }
            Err(error) => {
                let undone = self.file.set_len(self.len).and_then(|()| self.file.sync_data()).is_ok();
                Err(CommitError {
                    error: Box::new(JournalError::Io { path: self.path.clone(), error }),
                    undone,
                })
            }
        }
    }

    /// Closes the segment after `seq` and starts the next at `seq + 1`, so that a checkpoint at
    /// `seq` covers every older segment whole.
    /// Called between batches, with nothing pending.
    pub(crate) fn rotate(&mut self, seq: u64) -> Result<(), JournalError> {
        debug_assert!(self.batch.is_empty(), "rotation inside a batch");
        let (file, path) = Self::segment(&self.dir, self.access, seq + 1)?;
        self.file = file;
        self.path = path;
        self.len = SEGMENT_HEADER as u64;
        crate::failpoint::hit("journal.rotated", || {});
        Ok(())
    }
}

/// A checkpoint to write at `seq`, handed over by the owner right after rotating the journal
/// there. The checkpoint thread brings its own replica of the ledger up to `seq` from the closed
/// segments: the owner copies nothing.
pub(crate) struct CheckpointJob {
    pub(crate) seq: u64,
    /// How long the owner spent rotating the journal.
    pub(crate) owner_stall: std::time::Duration,
}

/// What the checkpoint thread has done.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-checkpoints-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).spawn()?;
/// let stats = handle.reader().checkpoint_stats();
/// assert_eq!(stats.failures, 0);
/// handle.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheckpointStats {
    /// Checkpoints written.
    pub written: u64,
    /// The newest checkpoint's sequence.
    pub last_seq: Option<u64>,
    /// Checkpoints that failed (the journal still holds everything; retried at the next trigger).
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// The longest the owner stopped serving commands to hand over a checkpoint: the journal
    /// rotation (the ledger is not copied; the checkpoint thread keeps a replica).
    pub owner_stall_max: std::time::Duration,
}

/// Writes checkpoints off the owner thread and removes what they cover. It holds the data
/// folder's lock: the checkpoint thread is the last of the vault's threads to touch the folder
/// (it ends after the owner drops its job sender), so the lock lives exactly as long as the
/// vault may write there.
pub(crate) struct Checkpointer {
    pub(crate) dir: PathBuf,
    pub(crate) access: FileAccess,
    pub(crate) jobs: mpsc::Receiver<CheckpointJob>,
    /// Set by the owner when it hands a job over, cleared here when the job is done: the owner
    /// rotates the journal only for a checkpoint it can hand over.
    pub(crate) busy: Arc<AtomicBool>,
    pub(crate) stats: Arc<Mutex<CheckpointStats>>,
    /// Held, never read: the folder stays locked until this thread ends.
    #[allow(dead_code, reason = "held for its drop")]
    pub(crate) lock: platform::ExclusiveLock,
    /// The ledger as of record `replica_seq`, kept in step with the journal by replaying closed
    /// segments before each checkpoint (`docs/durability.md`, "Checkpoints").
    pub(crate) replica: Ledger,
    pub(crate) replica_seq: u64,
}

impl Checkpointer {
    pub(crate) fn run(mut self) {
        while let Ok(job) = self.jobs.recv() {
            let result = self.checkpoint(job.seq);
            let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            stats.owner_stall_max = stats.owner_stall_max.max(job.owner_stall);
            match result {
                Ok(()) => {
                    stats.written += 1;
                    stats.last_seq = Some(job.seq);
                    stats.last_error = None;
                }
                Err(error) => {
                    stats.failures += 1;
                    stats.last_error = Some(error.to_string());
                }
            }
            drop(stats);
            // Release: the owner's Acquire load sees the job finished before it rotates again.
            self.busy.store(false, Ordering::Release);
        }
    }

    /// Replays the closed segments into the replica up to `seq`, writes the checkpoint, prunes
    /// what it covers. A failure leaves the replica where the replay stopped (the segments stay)
    /// and the next job continues from there.
    fn checkpoint(&mut self, seq: u64) -> Result<(), JournalError> {
        let (reached, result) =
            super::recover::catch_up(&self.dir, &mut self.replica, self.replica_seq, seq, self.access);
        self.replica_seq = reached;
        result?;
        write_checkpoint(&self.dir, self.access, seq, &self.replica)?;
        prune(&self.dir, seq)
    }
}

/// Writes `checkpoint-<seq>.ckpt` atomically: a new temporary file with an unpredictable name,
/// fsync, rename, fsync of the folder. A failure removes the temporary file, so a full disk is not
/// made fuller by half-written checkpoints.
pub(crate) fn write_checkpoint(
    dir: &Path,
    access: FileAccess,
    seq: u64,
    ledger: &Ledger,
) -> Result<(), JournalError> {
    let mut payload = Vec::new();
    encode_ledger(&ledger.image(), &mut payload);
    let mut header = [0_u8; CHECKPOINT_HEADER];
    header[..8].copy_from_slice(&CHECKPOINT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[32..36].copy_from_slice(&crc::update(0, &payload).to_le_bytes());
    let path = checkpoint_path(dir, seq);
    platform::replace_file(&path, access, |file| {
        file.write_all(&header)?;
        file.write_all(&payload)?;
        file.sync_all()?;
        crate::failpoint::hit("checkpoint.temp_written", || {});
        Ok(())
    })
    .map_err(io(&path))?;
    crate::failpoint::hit("checkpoint.renamed", || {});
    sync_dir(dir)
}

/// Removes the segments and older checkpoints a durable checkpoint at `seq` covers.
fn prune(dir: &Path, seq: u64) -> Result<(), JournalError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let covered = parse_name(&name, "journal-", ".log").is_some_and(|first| first <= seq)
            || parse_name(&name, "checkpoint-", ".ckpt").is_some_and(|older| older < seq);
        if covered {
            fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            crate::failpoint::hit("prune.one_removed", || {});
        }
    }
    sync_dir(dir)?;
    crate::failpoint::hit("prune.done", || {});
    Ok(())
}
