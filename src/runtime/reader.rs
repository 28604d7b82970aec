//! Readers: threads that only look.

use std::ops::Deref;

use crate::runtime::error::Stopped;
use crate::runtime::shared::Shared;
use crate::runtime::snapshot::Snapshot;
use crate::sync::{Arc, Loaded};

/// Reads the vault's latest snapshot without waiting. `Clone + Send + Sync`; holds no sender,
/// so readers never keep the owner alive.
#[derive(Clone)]
pub struct Reader {
    shared: Arc<Shared>,
}

/// A loaded snapshot. Cheap to hold briefly; for long keeping, [`Reader::snapshot_arc`].
pub struct SnapshotRef(Loaded<Snapshot>);

impl Deref for SnapshotRef {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>) -> Reader {
        Reader { shared }
    }

    /// The latest published snapshot: a wait-free load.
    pub fn snapshot(&self) -> SnapshotRef {
        SnapshotRef(self.shared.snapshot.load())
    }

    /// The latest published snapshot as an `Arc`, to keep.
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// What the builder started beside the owner, for the layer that knows its type.
    pub(crate) fn companion(&self) -> Option<&dyn std::any::Any> {
        self.shared.companion.get().map(|companion| companion.as_any())
    }

    /// `Some` once the owner has stopped, with why.
    pub fn stopped(&self) -> Option<Stopped> {
        self.shared.stopped()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("seq", &self.snapshot().seq()).finish()
    }
}
