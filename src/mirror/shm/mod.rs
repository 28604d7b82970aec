//! The shared-memory mirror: the ledger, seqlocked, in a memory-mapped file other processes read.
//! The layout is documented byte by byte in `docs/shm-layout.md`; the seqlock is
//! `crate::sync::seqlock`, where the loom model reaches it.

mod error;
pub(crate) mod file;
pub(crate) mod follow;
pub(crate) mod layout;
pub(crate) mod map;
mod reader;
mod writer;

pub use error::ShmError;
pub use layout::{Geometry, LAYOUT_VERSION};
pub use reader::{ShmReader, WriterState, WriterStatus};
pub use writer::ShmWriter;

/// Where a shared-memory file named `name` goes by default: `/dev/shm/<name>` where `/dev/shm`
/// exists (Linux's memory-backed file system), the temporary folder otherwise.
pub fn shm_path(name: &str) -> std::path::PathBuf {
    crate::platform::shm_dir().unwrap_or_else(std::env::temp_dir).join(name)
}
