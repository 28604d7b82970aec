//! The journal's format protects what it acknowledged: a flipped bit anywhere in a record's
//! header or payload refuses to start, naming the file and offset, unless the record is provably
//! the last write; a torn tail is cut off but its bytes are kept in a side file; segments must
//! continue each other exactly (a missing segment is a gap, not a fresh start); and a journal of
//! the previous format version is refused with a clear message.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capvault::{recover, Builder, JournalError, Limits, WaitStrategy};
use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-journal-format-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Runs a vault on `dir` that applies `count` reservations with ids from `first`, then stops.
fn run(dir: &Path, first: u64, count: u64) {
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(dir)
        .checkpoint_every(1_000_000, Duration::from_secs(3600))
        .wait(WaitStrategy::Blocking)
        .reply_wait(WaitStrategy::Blocking)
        .spawn()
        .unwrap();
    for n in first..first + count {
        handle.submit(buy(id(n), 2, 1, units(10))).unwrap();
    }
    handle.shutdown().unwrap();
}

fn segment(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("journal-{first_seq:020}.log"))
}

/// The byte offset of every record in a segment.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    offsets
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_flipped_bit_in_a_record_header_never_truncates_acknowledged_records() {
    let dir = scratch("bitflip");
    run(&dir, 1, 12);
    let path = segment(&dir, 1);
    let original = fs::read(&path).unwrap();
    let offsets = record_offsets(&original);
    assert_eq!(offsets.len(), 12);
    let trial = scratch("bitflip-trial");
    let mut refused = 0;
    // Every bit of the length, checksum and sequence fields of every record but the last.
    for &offset in &offsets[..offsets.len() - 1] {
        for bit in 0..16 * 8 {
            copy_dir(&dir, &trial);
            let mut bytes = original.clone();
            bytes[offset + bit / 8] ^= 1 << (bit % 8);
            fs::write(segment(&trial, 1), &bytes).unwrap();
            match recover(&trial) {
                Err(JournalError::Corrupt { path, offset: at, .. }) => {
                    assert_eq!(path, segment(&trial, 1));
                    assert_eq!(at, offset as u64, "bit {bit} of the record at {offset}");
                    refused += 1;
                }
                other => panic!("bit {bit} of the record at {offset}: recovery answered {other:?}"),
            }
            assert_eq!(fs::read(segment(&trial, 1)).unwrap(), bytes, "recovery changed the segment");
        }
    }
    assert_eq!(refused, 11 * 128);
    let _ = fs::remove_dir_all(&trial);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_tail_is_cut_and_its_bytes_are_kept_beside_the_segment() {
    let dir = scratch("torn");
    run(&dir, 1, 6);
    let path = segment(&dir, 1);
    let bytes = fs::read(&path).unwrap();
    let last = *record_offsets(&bytes).last().unwrap();
    // The crash hit in the middle of the last record.
    let cut = last + 20;
    fs::write(&path, &bytes[..cut]).unwrap();
    let (_, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.seq, 5);
    let torn = recovery.torn_tail.expect("the torn record is reported");
    assert_eq!((torn.path.clone(), torn.offset, torn.bytes), (path.clone(), last as u64, 20));
    assert_eq!(torn.saved_to, PathBuf::from(format!("{}.torn", path.display())));
    assert_eq!(fs::read(&torn.saved_to).unwrap(), &bytes[last..cut], "the cut bytes are kept");
    assert_eq!(fs::read(&path).unwrap(), &bytes[..last]);
    // A second torn tail does not overwrite the first side file.
    let mut again = bytes[..last].to_vec();
    again.extend_from_slice(&[7; 9]);
    fs::write(&path, &again).unwrap();
    let (_, recovery) = recover(&dir).unwrap().unwrap();
    let torn = recovery.torn_tail.unwrap();
    assert_eq!(torn.saved_to, PathBuf::from(format!("{}.torn.1", path.display())));
    assert_eq!(fs::read(torn.saved_to).unwrap(), vec![7; 9]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_record_followed_by_a_valid_one_refuses_to_start() {
    let dir = scratch("followed");
    run(&dir, 1, 6);
    let path = segment(&dir, 1);
    let mut bytes = fs::read(&path).unwrap();
    let offsets = record_offsets(&bytes);
    // The payload of the fifth record: only the sixth follows it.
    bytes[offsets[4] + 18] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    match recover(&dir) {
        Err(JournalError::Corrupt { offset, .. }) => assert_eq!(offset, offsets[4] as u64),
        other => panic!("recovery answered {other:?}"),
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_segment_is_a_gap_that_refuses_to_start() {
    let dir = scratch("gap");
    run(&dir, 1, 5); // journal-1: records 1..5
    run(&dir, 100, 5); // journal-6: records 6..10
    run(&dir, 200, 0); // journal-11: empty
    for first in [1, 6, 11] {
        assert!(segment(&dir, first).exists(), "journal-{first}");
    }
    assert_eq!(recover(&dir).unwrap().unwrap().1.seq, 10);
    fs::remove_file(segment(&dir, 6)).unwrap();
    match recover(&dir) {
        Err(JournalError::Corrupt { path, reason, .. }) => {
            assert_eq!(path, segment(&dir, 11));
            assert!(reason.contains("gap"), "{reason}");
        }
        other => panic!("recovery answered {other:?}"),
    }
    // And the vault refuses to start: it must not reuse sequence 6.
    let started = Builder::new(seed_000(Limits::default())).data_dir(&dir).spawn();
    assert!(matches!(started, Err(capvault::SpawnError::Journal(JournalError::Corrupt { .. }))));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn overlapping_segments_refuse_to_start() {
    let dir = scratch("overlap");
    run(&dir, 1, 5);
    run(&dir, 100, 5);
    // A copy of journal-6 under the name journal-4: records 6.. where 4 belongs.
    fs::copy(segment(&dir, 6), segment(&dir, 4)).unwrap();
    assert!(matches!(recover(&dir), Err(JournalError::Corrupt { .. })));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_last_segment_with_part_of_its_header_is_an_empty_tail() {
    let dir = scratch("partial-header");
    run(&dir, 1, 3);
    let header = fs::read(segment(&dir, 1)).unwrap()[..16].to_vec();
    for len in [0, 5, 8, 11, 15] {
        fs::write(segment(&dir, 4), &header[..len]).unwrap();
        assert_eq!(recover(&dir).unwrap().unwrap().1.seq, 3, "{len} bytes of header");
    }
    // Not a header's start: refused.
    fs::write(segment(&dir, 4), b"NOTJOURN").unwrap();
    assert!(matches!(recover(&dir), Err(JournalError::Version { .. })));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_previous_format_version_is_refused_by_name() {
    let dir = scratch("version");
    run(&dir, 1, 3);
    let path = segment(&dir, 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&1_u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    match recover(&dir) {
        Err(error @ JournalError::Version { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("format version 1") && message.contains("versions 2 and later"),
                "{message}"
            );
        }
        other => panic!("recovery answered {other:?}"),
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A linked reservation is journalled whole: recovered whole, or, when its last part never
/// reached the disk, cut off whole (never answered, so nothing of it may come back).
#[test]
fn a_linked_reservation_is_recovered_whole_or_not_at_all() {
    let dir = scratch("linked");
    run(&dir, 1, 2);
    let mut handle = Builder::new(seed_000(Limits::default()))
        .data_dir(&dir)
        .checkpoint_every(1_000_000, Duration::from_secs(3600))
        .spawn()
        .unwrap();
    let ladder = [buy(id(10), 2, 1, units(10)), buy(id(11), 2, 1, units(20)), buy(id(12), 3, 1, units(30))];
    let receipt = handle.submit_linked(&ladder).unwrap();
    assert_eq!(receipt.seq, 5);
    // Refused at its second part: nothing of it is journalled.
    let refused = handle.submit_linked(&[buy(id(13), 2, 1, units(1)), buy(id(14), 2, 1, units(0))]);
    assert!(matches!(refused, Err(capvault::LinkedError::Rejected(r)) if r.part == 1));
    handle.shutdown().unwrap();

    let (whole, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.seq, 5);
    assert!([10, 11, 12].iter().all(|&n| whole.order(id(n)).is_some()));
    assert!(whole.order(id(13)).is_none());

    // The chain's last part lost (a crash while the batch was written): its first two parts are
    // whole records on disk, and still none of the chain comes back.
    let path = segment(&dir, 3);
    let bytes = fs::read(&path).unwrap();
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), 3, "the restarted vault's segment holds the chain");
    fs::write(&path, &bytes[..offsets[2]]).unwrap();
    let (cut, recovery) = recover(&dir).unwrap().unwrap();
    assert_eq!(recovery.seq, 2, "the chain is cut off whole");
    let torn = recovery.torn_tail.expect("the open chain is reported as a torn tail");
    assert_eq!(torn.offset, offsets[0] as u64);
    assert!([10, 11, 12].iter().all(|&n| cut.order(id(n)).is_none()));
    assert_eq!(cut.order(id(1)).map(capvault::Order::amount), Some(units(10)));
    // The journal goes on where the chain was cut.
    run(&dir, 20, 1);
    assert_eq!(recover(&dir).unwrap().unwrap().1.seq, 3);
    let _ = fs::remove_dir_all(&dir);
}
