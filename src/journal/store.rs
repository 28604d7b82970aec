//! Writing: journal segments on the owner thread, checkpoints on their own thread.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use crate::command::Command;
use crate::journal::codec::{encode_command, encode_ledger};
use crate::journal::{crc, io, Durability, JournalError};
use crate::ledger::Ledger;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"CVJOURNL";
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"CVCHKPNT";
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Segment header: magic (8), version (4), reserved (4).
pub(crate) const SEGMENT_HEADER: usize = 16;
/// Record header: payload length (4), CRC-32 of sequence and payload (4), sequence (8).
pub(crate) const RECORD_HEADER: usize = 16;
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
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The owner's end of the journal: records of the current batch are encoded into a buffer and
/// written (and synced, per the durability) once per batch, before the batch's answers go out.
pub(crate) struct JournalWriter {
    dir: PathBuf,
    durability: Durability,
    file: File,
    path: PathBuf,
    batch: Vec<u8>,
    payload: Vec<u8>,
}

impl JournalWriter {
    /// Starts a new segment whose first record will be `next_seq`.
    pub(crate) fn open(
        dir: &Path,
        durability: Durability,
        next_seq: u64,
    ) -> Result<JournalWriter, JournalError> {
        let (file, path) = Self::segment(dir, next_seq)?;
        Ok(JournalWriter {
            dir: dir.to_owned(),
            durability,
            file,
            path,
            // Room for a large batch, so appending does not allocate in steady state.
            batch: Vec::with_capacity(64 * 1024),
            payload: Vec::with_capacity(128),
        })
    }

    fn segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), JournalError> {
        let path = segment_path(dir, first_seq);
        let mut file =
            OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io(&path))?;
        let mut header = [0_u8; SEGMENT_HEADER];
        header[..8].copy_from_slice(&SEGMENT_MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_all(&header).and_then(|()| file.sync_all()).map_err(io(&path))?;
        sync_dir(dir)?;
        Ok((file, path))
    }

    /// Adds an accepted command to the batch.
    pub(crate) fn append(&mut self, seq: u64, command: &Command) {
        self.payload.clear();
        encode_command(command, &mut self.payload);
        let crc = crc::update(crc::update(0, &seq.to_le_bytes()), &self.payload);
        self.batch.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        self.batch.extend_from_slice(&crc.to_le_bytes());
        self.batch.extend_from_slice(&seq.to_le_bytes());
        self.batch.extend_from_slice(&self.payload);
    }

    /// Writes the batch (and syncs it for `FsyncBatch`): one system call, one sync, per batch.
    pub(crate) fn commit(&mut self) -> Result<(), JournalError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.batch).map_err(io(&self.path))?;
        if self.durability == Durability::FsyncBatch {
            self.file.sync_data().map_err(io(&self.path))?;
        }
        self.batch.clear();
        Ok(())
    }

    /// Closes the segment after `seq` and starts the next at `seq + 1`, so that a checkpoint at
    /// `seq` covers every older segment whole.
    pub(crate) fn rotate(&mut self, seq: u64) -> Result<(), JournalError> {
        self.commit()?;
        let (file, path) = Self::segment(&self.dir, seq + 1)?;
        self.file = file;
        self.path = path;
        Ok(())
    }
}

/// A ledger copy to checkpoint, taken by the owner right after rotating the journal at `seq`.
pub(crate) struct CheckpointJob {
    pub(crate) seq: u64,
    pub(crate) ledger: Box<Ledger>,
    /// How long the owner spent rotating the journal and copying the ledger.
    pub(crate) owner_stall: std::time::Duration,
}

/// What the checkpoint thread has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Checkpoints written.
    pub written: u64,
    /// The newest checkpoint's sequence.
    pub last_seq: Option<u64>,
    /// Checkpoints that failed (the journal still holds everything; retried at the next trigger).
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// The longest the owner stopped serving commands to hand over a checkpoint (journal
    /// rotation and the ledger copy).
    pub owner_stall_max: std::time::Duration,
}

/// Writes checkpoints off the owner thread and removes what they cover.
pub(crate) struct Checkpointer {
    pub(crate) dir: PathBuf,
    pub(crate) jobs: mpsc::Receiver<CheckpointJob>,
    pub(crate) stats: Arc<Mutex<CheckpointStats>>,
}

impl Checkpointer {
    pub(crate) fn run(self) {
        while let Ok(job) = self.jobs.recv() {
            let result =
                write_checkpoint(&self.dir, job.seq, &job.ledger).and_then(|()| prune(&self.dir, job.seq));
            let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
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
        }
    }
}

/// Writes `checkpoint-<seq>.ckpt` atomically: temporary file, fsync, rename, fsync of the folder.
pub(crate) fn write_checkpoint(dir: &Path, seq: u64, ledger: &Ledger) -> Result<(), JournalError> {
    let mut payload = Vec::new();
    encode_ledger(&ledger.image(), &mut payload);
    let mut header = [0_u8; CHECKPOINT_HEADER];
    header[..8].copy_from_slice(&CHECKPOINT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[32..36].copy_from_slice(&crc::update(0, &payload).to_le_bytes());
    let path = checkpoint_path(dir, seq);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary).map_err(io(&temporary))?;
    file.write_all(&header)
        .and_then(|()| file.write_all(&payload))
        .and_then(|()| file.sync_all())
        .map_err(io(&temporary))?;
    fs::rename(&temporary, &path).map_err(io(&path))?;
    sync_dir(dir)
}

/// Removes the segments and older checkpoints a durable checkpoint at `seq` covers.
fn prune(dir: &Path, seq: u64) -> Result<(), JournalError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let covered = parse_name(&name, "journal-", ".log").is_some_and(|first| first <= seq)
            || parse_name(&name, "checkpoint-", ".ckpt").is_some_and(|older| older < seq);
        if covered {
            fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    sync_dir(dir)
}
