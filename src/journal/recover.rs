//! Recovery: the newest checkpoint, then every journal record after it, in order.
//!
//! Recovery refuses rather than guesses. A damaged record is cut off only when it is provably the
//! last write of the last segment (no valid record follows it anywhere), and the bytes cut are
//! kept in a side file. Segments must continue each other exactly. Every checkpoint is checked
//! field by field before the ledger is rebuilt from it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::journal::codec::{decode_ledger, decode_record, Record};
use crate::journal::store::{
    parse_name, record_crc, CHECKPOINT_HEADER, CHECKPOINT_MAGIC, FORMAT_VERSION, RECORD_HEADER,
    RECORD_PAYLOAD_MAX, SEGMENT_HEADER, SEGMENT_MAGIC,
};
use crate::journal::{crc, io, JournalError};
use crate::ledger::{Ledger, Once};
use crate::platform::{self, FileAccess};

/// A torn last record, cut off at recovery.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("capvault-doc-torn-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// if let Some((_ledger, recovery)) = capvault::recover(&dir)? {
///     if let Some(torn) = recovery.torn_tail {
///         println!("cut {} bytes at {}, kept in {}", torn.bytes, torn.offset, torn.saved_to.display());
///     }
/// }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Where the torn record started; the file now ends here.
    pub offset: u64,
    /// Bytes cut.
    pub bytes: u64,
    /// Where the cut bytes were saved (`<segment>.torn`, or `.torn.<n>` if that exists).
    pub saved_to: PathBuf,
}

/// What recovery found and did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-recovery-{}", std::process::id()));
/// Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).spawn()?.shutdown()?;
/// let handle = Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).spawn()?;
/// let recovery = handle.recovery().ok_or("recovered")?;
/// assert_eq!(recovery.seq, 0);
/// handle.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    /// How the configuration the vault was started with differs from the recovered settings
    /// (empty from [`recover`] itself, which knows no configuration; the builder fills it).
    pub config_drift: Vec<crate::ledger::drift::Drift>,
}

fn read(path: &Path) -> Result<Vec<u8>, JournalError> {
    let mut bytes = Vec::new();
    platform::open_read(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io(path))?;
    Ok(bytes)
}

/// The files of a data folder that recovery reads, sorted by sequence.
struct Listing {
    checkpoints: Vec<(u64, PathBuf)>,
    segments: Vec<(u64, PathBuf)>,
}

/// Lists the vault's own files. Only the vault's own unfinished checkpoints
/// (`checkpoint-<seq>.ckpt.<16 hex>.tmp`) are removed; any other name is left alone.
fn list(dir: &Path) -> Result<Listing, JournalError> {
    let mut listing = Listing { checkpoints: Vec::new(), segments: Vec::new() };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let checkpoint = parse_name(&name, "checkpoint-", ".ckpt");
        let segment = parse_name(&name, "journal-", ".log");
        let temporary =
            name.strip_suffix(".tmp").and_then(|rest| rest.rsplit_once('.')).is_some_and(|(stem, _)| {
                parse_name(stem, "checkpoint-", ".ckpt").is_some() && platform::is_temp_of(&name, stem)
            });
        if checkpoint.is_none() && segment.is_none() && !temporary {
            continue;
        }
        let is_file = entry.file_type().map_err(io(&path))?.is_file();
        if !is_file {
            return Err(JournalError::Corrupt {
                path,
                offset: 0,
                reason: "a vault file name on something that is not a regular file".into(),
            });
        }
        if temporary {
            // An unfinished checkpoint: never renamed into place, never relied on.
            fs::remove_file(&path).map_err(io(&path))?;
        } else if let Some(seq) = checkpoint {
            listing.checkpoints.push((seq, path));
        } else if let Some(seq) = segment {
            listing.segments.push((seq, path));
        }
    }
    listing.checkpoints.sort();
    listing.segments.sort();
    Ok(listing)
}

/// Loads the newest checkpoint in `dir` and replays the journal after it. `None` for a folder
/// with no checkpoint and no journal (a fresh start).
///
/// # Errors
/// [`JournalError`] naming the file and offset of a damaged checkpoint, a corrupt record that is
/// not provably the last write, a gap or overlap between segments, a file of another version, or
/// a record the ledger refuses on replay. A torn last record is not an error: it is cut off,
/// saved beside its segment and reported.
pub fn recover(dir: impl AsRef<Path>) -> Result<Option<(Ledger, Recovery)>, JournalError> {
    recover_with(dir.as_ref(), FileAccess::Owner)
}

pub(crate) fn recover_with(
    dir: &Path,
    access: FileAccess,
) -> Result<Option<(Ledger, Recovery)>, JournalError> {
    let Listing { mut checkpoints, segments } = list(dir)?;
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
    // A segment is covered by the checkpoint when the next one starts at or before the
    // checkpoint's successor: all its records are in the checkpoint. Pruning may have left some.
    let first = segments
        .iter()
        .enumerate()
        .position(|(i, _)| segments.get(i + 1).is_none_or(|(next, _)| *next > checkpoint_seq + 1))
        .unwrap_or(segments.len());
    let live = &segments[first..];
    if let Some((start, path)) = live.first() {
        if *start > checkpoint_seq + 1 {
            return Err(JournalError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!(
                    "starts at record {start} but the checkpoint ends at {checkpoint_seq}: records \
                     {}..{} are missing",
                    checkpoint_seq + 1,
                    start - 1
                ),
            });
        }
    }
    let mut replay = Replay { ledger: &mut ledger, seq: checkpoint_seq, replayed: 0, torn_tail: None };
    for (index, (start, path)) in live.iter().enumerate() {
        let last = index + 1 == live.len();
        let next = replay.segment(path, *start, last, access)?;
        if let Some((following, following_path)) = live.get(index + 1) {
            if *following != next {
                let what = if *following > next { "a gap" } else { "an overlap" };
                return Err(JournalError::Corrupt {
                    path: following_path.clone(),
                    offset: 0,
                    reason: format!(
                        "{what}: {} ends before record {next} but this segment starts at {following}",
                        path.display()
                    ),
                });
            }
        }
    }
    let (seq, replayed, torn_tail) = (replay.seq, replay.replayed, replay.torn_tail);
    Ok(Some((
        ledger,
        Recovery { checkpoint, checkpoint_seq, replayed, seq, torn_tail, config_drift: Vec::new() },
    )))
}

/// Brings `ledger`, at record `from`, up to record `to` by replaying the closed segments of
/// `dir` (the checkpoint thread's replica: the owner has rotated the journal at `to`, so every
/// record up to it is in a segment that no longer grows). Returns the sequence reached, and an
/// error if it is not `to`.
///
/// # Errors
/// As recovery: a damaged or missing record, or one the ledger refuses.
pub(crate) fn catch_up(
    dir: &Path,
    ledger: &mut Ledger,
    from: u64,
    to: u64,
    access: FileAccess,
) -> (u64, Result<(), JournalError>) {
    let mut replay = Replay { ledger, seq: from, replayed: 0, torn_tail: None };
    let result = list(dir).and_then(|Listing { segments, .. }| {
        for (index, (start, path)) in segments.iter().enumerate() {
            let covered = segments.get(index + 1).is_some_and(|(next, _)| *next <= from + 1);
            if !covered && *start <= to {
                replay.segment(path, *start, false, access)?;
            }
        }
        if replay.seq == to {
            Ok(())
        } else {
            Err(JournalError::Corrupt {
                path: dir.to_owned(),
                offset: 0,
                reason: format!(
                    "the closed segments end at record {}, the checkpoint is at {to}",
                    replay.seq
                ),
            })
        }
    });
    (replay.seq, result)
}

struct Replay<'a> {
    ledger: &'a mut Ledger,
    /// The last record applied (or the checkpoint's sequence).
    seq: u64,
    replayed: u64,
    torn_tail: Option<TornTail>,
}

impl Replay<'_> {
    /// Replays one segment whose name says it starts at `start`; returns the sequence the next
    /// segment must start at.
    fn segment(
        &mut self,
        path: &Path,
        start: u64,
        last: bool,
        access: FileAccess,
    ) -> Result<u64, JournalError> {
        let bytes = read(path)?;
        if bytes.len() < SEGMENT_HEADER || bytes[..8] != SEGMENT_MAGIC {
            // A segment created by a crash before its whole header reached the disk (nothing, zeros,
            // or the start of a header) is an empty tail: it holds no record.
            // (Of this version's header or the previous one's.)
            let partial = (2..=FORMAT_VERSION).any(|version: u32| {
                let mut header = [0_u8; SEGMENT_HEADER];
                header[..8].copy_from_slice(&SEGMENT_MAGIC);
                header[8..12].copy_from_slice(&version.to_le_bytes());
                bytes.len() < SEGMENT_HEADER && header.starts_with(&bytes)
            });
            if last && (partial || bytes.iter().all(|&b| b == 0)) {
                return Ok(start);
            }
            return Err(JournalError::Version { path: path.to_owned(), found: "no journal header".into() });
        }
        let version = check_version(path, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]))?;
        let mut expected = start;
        let mut offset = SEGMENT_HEADER;
        // The parts of a linked reservation read so far, applied only once its last part is read.
        let mut chain: Vec<(u64, Record, usize)> = Vec::new();
        while offset < bytes.len() {
            let corrupt = |reason: String| JournalError::Corrupt {
                path: path.to_owned(),
                offset: offset as u64,
                reason,
            };
            let (seq, payload, end) = match parse_record(&bytes, offset) {
                Ok(parsed) => parsed,
                Err(_) if last && nothing_valid_follows(&bytes, offset) => {
                    self.torn_tail = Some(cut_tail(path, &bytes, offset, access)?);
                    break;
                }
                Err(reason) => return Err(corrupt(reason)),
            };
            if seq != expected {
                return Err(corrupt(format!("record {seq} where record {expected} belongs")));
            }
            if seq > self.seq {
                let record = decode_record(payload, version).map_err(|e| corrupt(e.to_string()))?;
                if record.linked || !chain.is_empty() {
                    let closes = !record.linked;
                    chain.push((seq, record, offset));
                    if closes {
                        for (seq, record, offset) in chain.drain(..) {
                            self.apply(path, seq, &record, offset)?;
                        }
                    }
                } else {
                    self.apply(path, seq, &record, offset)?;
                }
            }
            expected += 1;
            offset = end;
        }
        if let Some(&(first, _, at)) = chain.first() {
            // A linked reservation whose last part never reached the journal was never answered:
            // cut off whole, as a torn record is, so that no part of it is applied.
            if !last {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    offset: at as u64,
                    reason: "a linked reservation left open before the last segment".into(),
                });
            }
            self.torn_tail = Some(cut_tail(path, &bytes, at, access)?);
            return Ok(first);
        }
        Ok(expected)
    }

    /// Applies one record at `seq` (with its key when it came keyed).
    fn apply(&mut self, path: &Path, seq: u64, record: &Record, offset: usize) -> Result<(), JournalError> {
        let applied = match record.key {
            Some(key) => self.ledger.apply_once(key, seq, &record.command),
            None => self.ledger.apply(&record.command).map(Once::Applied),
        };
        // A journalled key was new when it was applied: found again, the journal is damaged.
        if let Ok(Once::Repeated { seq: first, .. }) = applied {
            return Err(JournalError::Corrupt {
                path: path.to_owned(),
                offset: offset as u64,
                reason: format!("record {seq} repeats the request key of record {first}"),
            });
        }
        applied.map_err(|rejection| JournalError::Replay {
            path: path.to_owned(),
            offset: offset as u64,
            seq,
            rejection,
        })?;
        self.seq = seq;
        self.replayed += 1;
        Ok(())
    }
}

/// The file's format version, if this build reads it: 2 (no minor unit in a book's spec) up to
/// the current one (`store::FORMAT_VERSION` lists what each added).
fn check_version(path: &Path, version: u32) -> Result<u32, JournalError> {
    match version {
        2..=FORMAT_VERSION => Ok(version),
        1 => Err(JournalError::Version {
            path: path.to_owned(),
            found: "format version 1, whose record checksums do not cover the record length; this build \
                    reads versions 2 and later only and does not migrate: start from a new data folder (and \
                    reconcile from the exchange)"
                .to_owned(),
        }),
        other => Err(JournalError::Version {
            path: path.to_owned(),
            found: format!("format version {other}; this build reads versions 2 to {FORMAT_VERSION}"),
        }),
    }
}

/// The record at `offset`: its sequence, payload and end, or why it is not a whole, valid record.
fn parse_record(bytes: &[u8], offset: usize) -> Result<(u64, &[u8], usize), String> {
    let header = bytes.get(offset..offset.saturating_add(RECORD_HEADER)).ok_or("record header cut short")?;
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > RECORD_PAYLOAD_MAX {
        return Err(format!("record length {len} above the largest command ({RECORD_PAYLOAD_MAX})"));
    }
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut seq = [0; 8];
    seq.copy_from_slice(&header[8..16]);
    let end = offset + RECORD_HEADER + len;
    let payload = bytes.get(offset + RECORD_HEADER..end).ok_or("record payload cut short")?;
    if record_crc(len_bytes, seq, payload) != crc {
        return Err("checksum mismatch".into());
    }
    Ok((u64::from_le_bytes(seq), payload, end))
}

/// A bad record is the torn last write only if no valid record starts anywhere after its first
/// byte: a crash cuts the end of the last batch, it does not leave whole records behind the cut.
/// Each candidate costs at most one checksum of `RECORD_PAYLOAD_MAX` bytes.
fn nothing_valid_follows(bytes: &[u8], offset: usize) -> bool {
    (offset + 1..bytes.len()).all(|at| parse_record(bytes, at).is_err())
}

/// Saves the bytes from `offset` to a side file beside the segment, syncs it, then cuts the
/// segment there: recovery never destroys bytes, it moves them where they cannot be replayed.
fn cut_tail(path: &Path, bytes: &[u8], offset: usize, access: FileAccess) -> Result<TornTail, JournalError> {
    let tail = &bytes[offset..];
    let mut saved_to = PathBuf::from(format!("{}.torn", path.display()));
    let mut attempt = 0;
    let mut file = loop {
        match platform::create_new(&saved_to, access) {
            Ok(file) => break file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
                saved_to = PathBuf::from(format!("{}.torn.{attempt}", path.display()));
            }
            Err(error) => return Err(JournalError::Io { path: saved_to, error }),
        }
    };
    file.write_all(tail).and_then(|()| file.sync_all()).map_err(io(&saved_to))?;
    let segment = platform::open_write(path).map_err(io(path))?;
    segment.set_len(offset as u64).and_then(|()| segment.sync_all()).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        platform::sync_dir(dir).map_err(io(dir))?;
    }
    Ok(TornTail { path: path.to_owned(), offset: offset as u64, bytes: tail.len() as u64, saved_to })
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
    let version = check_version(path, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]))?;
    if word(16) != seq {
        return Err(fail(16, "sequence differs from the file name"));
    }
    let end = usize::try_from(word(24))
        .ok()
        .and_then(|len| CHECKPOINT_HEADER.checked_add(len))
        .filter(|&end| end <= bytes.len())
        .ok_or(fail(24, "shorter than its stated length"))?;
    if bytes.len() != end {
        return Err(fail(end, "longer than its stated length"));
    }
    let payload = &bytes[CHECKPOINT_HEADER..end];
    let crc = u32::from_le_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
    if crc::update(0, payload) != crc {
        return Err(fail(32, "checksum mismatch"));
    }
    let parts = decode_ledger(payload, version).map_err(|e| fail(CHECKPOINT_HEADER + e.offset, e.what))?;
    Ledger::from_parts(parts).map_err(|reason| fail(CHECKPOINT_HEADER, &reason))
}
