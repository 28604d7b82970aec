//! The mirrors: copies of the published snapshots for other processes. The shared-memory file
//! (written by a thread beside the owner, read by [`ShmReader`](crate::ShmReader)), seed 004's quote
//! table beside it, and seed 000's `shared_pool.json` (written by a mirror thread).

pub(crate) mod json;
pub(crate) mod latency_log;
pub(crate) mod quote;
pub(crate) mod shm;
