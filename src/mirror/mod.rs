//! The mirrors: copies of the published snapshots for other processes. The shared-memory file
//! (written by the owner as a stage, read by [`ShmReader`](crate::ShmReader)), seed 004's quote
//! table beside it, and seed 000's `shared_pool.json` (written by a mirror thread).

pub(crate) mod json;
pub(crate) mod quote;
pub(crate) mod shm;
