//! The shared-memory mirror: the ledger, seqlocked, in a memory-mapped file other processes read.
//! The layout is documented byte by byte in `docs/shm-layout.md`. Under loom only the seqlock is
//! built, for its model in `loom-tests/seqlock.rs`.

#[cfg(not(capvault_loom))]
mod error;
#[cfg(not(capvault_loom))]
mod layout;
#[cfg(not(capvault_loom))]
mod map;
#[cfg(not(capvault_loom))]
mod quote;
#[cfg(not(capvault_loom))]
mod reader;
pub(crate) mod seqlock;
#[cfg(not(capvault_loom))]
mod writer;

#[cfg(not(capvault_loom))]
pub use error::ShmError;
#[cfg(not(capvault_loom))]
pub use layout::{Geometry, LAYOUT_VERSION};
#[cfg(not(capvault_loom))]
pub use quote::{DataType, QuoteReader, QuoteWriter, SingleQuote};
#[cfg(not(capvault_loom))]
pub use reader::{ShmReader, WriterState, WriterStatus};
#[cfg(not(capvault_loom))]
pub use writer::ShmWriter;

#[cfg(not(capvault_loom))]
/// Where a shared-memory file named `name` goes by default: `/dev/shm/<name>` where `/dev/shm`
/// exists (Linux's memory-backed file system), the temporary folder otherwise.
pub fn shm_path(name: &str) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join(name)
    } else {
        std::env::temp_dir().join(name)
    }
}
