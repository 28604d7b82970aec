//! Recovery: the newest checkpoint, then every journal record after it, in order.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::journal::codec::{decode_command, decode_ledger};
use crate::journal::store::{
    parse_name, CHECKPOINT_HEADER, CHECKPOINT_MAGIC, FORMAT_VERSION, RECORD_HEADER, SEGMENT_HEADER,
    SEGMENT_MAGIC,
};
use crate::journal::{crc, io, JournalError};
use crate::ledger::Ledger;

/// A torn last record, cut off at recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Where the torn record started; the file now ends here.
    pub offset: u64,
    /// Bytes cut.
    pub bytes: u64,
}

/// What recovery found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The checkpoint loaded.
    pub checkpoint: PathBuf,
    /// Its sequence.
    pub checkpoint_seq: u64,
    /// Journal records replayed after it.
    pub replayed: u64,
    /// The sequence after recovery: every command acknowledged before the crash is at or below.
    pub seq: u64,
    /// A torn last record that was cut off, if any.
    pub torn_tail: Option<TornTail>,
}

fn read(path: &Path) -> Result<Vec<u8>, JournalError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io(path))?;
    Ok(bytes)
}

/// Loads the newest checkpoint in `dir` and replays the journal after it. `None` for a folder
/// with no checkpoint and no journal (a fresh start).
///
/// # Errors
/// [`JournalError`] naming the file and offset of a damaged checkpoint, a corrupt record before
/// the end of the journal, a gap in the sequence, a file of another version, or a record the
/// ledger refuses on replay. A torn last record is not an error: it is cut off and reported.
pub fn recover(dir: impl AsRef<Path>) -> Result<Option<(Ledger, Recovery)>, JournalError> {
    let dir = dir.as_ref();
    let mut checkpoints = Vec::new();
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(seq) = parse_name(&name, "checkpoint-", ".ckpt") {
            checkpoints.push((seq, entry.path()));
        } else if let Some(seq) = parse_name(&name, "journal-", ".log") {
            segments.push((seq, entry.path()));
        } else if name.ends_with(".tmp") {
            // An unfinished checkpoint: never renamed into place, never relied on.
            fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    checkpoints.sort();
    segments.sort();
    let Some((checkpoint_seq, checkpoint)) = checkpoints.pop() else {
        return match segments.first() {
            None => Ok(None),
            Some((_, path)) => Err(JournalError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "journal without any checkpoint".into(),
            }),
        };
    };
    let mut ledger = load_checkpoint(&checkpoint, checkpoint_seq)?;
    let mut seq = checkpoint_seq;
    let mut replayed = 0;
    let mut torn_tail = None;
    let last = segments.len().saturating_sub(1);
    for (index, (_, path)) in segments.iter().enumerate() {
        let bytes = read(path)?;
        if bytes.len() < SEGMENT_HEADER || bytes[..8] != SEGMENT_MAGIC {
            // A segment created by a crash before its header reached the disk is an empty tail.
            if index == last && bytes.iter().all(|&b| b == 0) {
                continue;
            }
            return Err(JournalError::Version { path: path.clone(), found: "no journal header".into() });
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != FORMAT_VERSION {
            return Err(JournalError::Version {
                path: path.clone(),
                found: format!("format version {version}"),
            });
        }
        let mut offset = SEGMENT_HEADER;
        while offset < bytes.len() {
            let corrupt =
                |reason: String| JournalError::Corrupt { path: path.clone(), offset: offset as u64, reason };
            let record = parse_record(&bytes, offset);
            let (seq_here, payload, end) = match record {
                Ok(parsed) => parsed,
                Err(reason) => {
                    if index == last && is_torn_tail(&bytes, offset) {
                        let file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
                        file.set_len(offset as u64).and_then(|()| file.sync_all()).map_err(io(path))?;
                        torn_tail = Some(TornTail {
                            path: path.clone(),
                            offset: offset as u64,
                            bytes: (bytes.len() - offset) as u64,
                        });
                        break;
                    }
                    return Err(corrupt(reason));
                }
            };
            if seq_here > seq {
                if seq_here != seq + 1 {
                    return Err(corrupt(format!("record {seq_here} follows {seq}: records are missing")));
                }
                let command = decode_command(payload).map_err(|e| corrupt(e.to_string()))?;
                ledger.apply(&command).map_err(|rejection| JournalError::Replay {
                    path: path.clone(),
                    offset: offset as u64,
                    seq: seq_here,
                    rejection,
                })?;
                seq = seq_here;
                replayed += 1;
            }
            offset = end;
        }
    }
    Ok(Some((ledger, Recovery { checkpoint, checkpoint_seq, replayed, seq, torn_tail })))
}

/// The record at `offset`: its sequence, payload and end, or why it is not a whole, valid record.
fn parse_record(bytes: &[u8], offset: usize) -> Result<(u64, &[u8], usize), String> {
    let header = bytes.get(offset..offset + RECORD_HEADER).ok_or("record header cut short")?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let seq_bytes = &header[8..16];
    let end = offset + RECORD_HEADER + len;
    let payload = bytes.get(offset + RECORD_HEADER..end).ok_or("record payload cut short")?;
    if crc::update(crc::update(0, seq_bytes), payload) != crc {
        return Err("checksum mismatch".into());
    }
    let mut seq = [0; 8];
    seq.copy_from_slice(seq_bytes);
    Ok((u64::from_le_bytes(seq), payload, end))
}

/// A bad record is a torn tail (the crash hit while the last batch was written) if nothing whole
/// follows it: it runs past the end of the file, or it is the file's last record, or everything
/// after its start is zero.
fn is_torn_tail(bytes: &[u8], offset: usize) -> bool {
    let rest = &bytes[offset..];
    if rest.len() < RECORD_HEADER || rest.iter().all(|&b| b == 0) {
        return true;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    RECORD_HEADER + len >= rest.len()
}

fn load_checkpoint(path: &Path, seq: u64) -> Result<Ledger, JournalError> {
    let bytes = read(path)?;
    let fail = |offset: usize, reason: &str| JournalError::Checkpoint {
        path: path.to_owned(),
        offset: offset as u64,
        reason: reason.into(),
    };
    if bytes.len() < CHECKPOINT_HEADER {
        return Err(fail(0, "shorter than its header"));
    }
    if bytes[..8] != CHECKPOINT_MAGIC {
        return Err(JournalError::Version { path: path.to_owned(), found: "no checkpoint header".into() });
    }
    let word = |at: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(JournalError::Version {
            path: path.to_owned(),
            found: format!("format version {version}"),
        });
    }
    if word(16) != seq {
        return Err(fail(16, "sequence differs from the file name"));
    }
    let len = word(24) as usize;
    let payload = bytes
        .get(CHECKPOINT_HEADER..CHECKPOINT_HEADER + len)
        .ok_or(fail(24, "shorter than its stated length"))?;
    if bytes.len() != CHECKPOINT_HEADER + len {
        return Err(fail(CHECKPOINT_HEADER + len, "longer than its stated length"));
    }
    let crc = u32::from_le_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
    if crc::update(0, payload) != crc {
        return Err(fail(32, "checksum mismatch"));
    }
    let parts = decode_ledger(payload).map_err(|e| fail(CHECKPOINT_HEADER + e.offset, e.what))?;
    Ledger::from_parts(parts).map_err(|reason| fail(CHECKPOINT_HEADER, &reason))
}
