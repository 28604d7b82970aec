//! A memory-mapped file seen as atomic 64-bit words. The only place that turns mapped bytes into
//! atomics.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

use memmap2::{Mmap, MmapMut};

enum Mapping {
    ReadWrite(MmapMut),
    ReadOnly(Mmap),
}

/// A mapped file of `len / 8` words.
pub(crate) struct WordMap {
    mapping: Mapping,
}

impl WordMap {
    /// Maps `file` for reading and writing. The file's length must be a multiple of 8.
    pub(crate) fn read_write(file: &File) -> io::Result<WordMap> {
        // SAFETY: the writer holds the exclusive writer lock and never truncates a mapped file
        // (a new file replaces it by rename), so the mapping stays valid; other processes only
        // access it through atomics.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(WordMap { mapping: Mapping::ReadWrite(map) })
    }

    /// Maps `file` for reading only.
    pub(crate) fn read_only(file: &File) -> io::Result<WordMap> {
        // SAFETY: writers never truncate a file once created (they replace it by rename), so the
        // mapping stays valid; its contents are only read through atomics.
        let map = unsafe { Mmap::map(file)? };
        Ok(WordMap { mapping: Mapping::ReadOnly(map) })
    }

    fn bytes(&self) -> (*const u8, usize) {
        match &self.mapping {
            Mapping::ReadWrite(map) => (map.as_ptr(), map.len()),
            Mapping::ReadOnly(map) => (map.as_ptr(), map.len()),
        }
    }

    /// The words. Other processes may change them at any time; every access is atomic.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        let (ptr, len) = self.bytes();
        if len < 8 {
            return &[];
        }
        assert_eq!(ptr as usize % std::mem::align_of::<AtomicU64>(), 0, "mappings are page-aligned");
        // SAFETY: the mapping is page-aligned (checked above), `len / 8` whole words lie inside
        // it, it lives as long as `self`, and `AtomicU64` has the size and alignment of `u64`.
        // Concurrent access from other processes is through atomic operations only, and atomic
        // loads of 8 bytes on read-only memory are sound on the platforms we support (lock-free
        // 64-bit atomics).
        #[allow(clippy::cast_ptr_alignment, reason = "the alignment is asserted just above")]
        unsafe {
            std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), len / 8)
        }
    }
}
