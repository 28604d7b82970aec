//! Readers: threads that only look.

use std::ops::Deref;

use crate::runtime::error::{Stopped, WaitError};
use crate::runtime::shared::Shared;
use crate::runtime::snapshot::Snapshot;
use crate::sync::{Arc, Loaded};

/// Reads the vault's latest snapshot without waiting. `Clone + Send + Sync`; holds no sender,
/// so readers never keep the owner alive.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use capvault::{BookId, Builder, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let reader = handle.reader();   // Clone + Send + Sync; never keeps the vault alive
/// let balance = handle.allocate(BookId::new(0), 2, "10".parse()?)?;
/// let snapshot = reader.wait_for(balance.seq, Duration::from_secs(1))?;
/// assert_eq!(snapshot.balance(BookId::new(0), 2), Some("10".parse()?));
/// drop(snapshot);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Reader {
    shared: Arc<Shared>,
}

/// A loaded snapshot. Cheap to hold briefly; for long keeping, [`Reader::snapshot_arc`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let snapshot = handle.snapshot();   // a wait-free load; derefs to `Snapshot`
/// assert_eq!(snapshot.seq(), 0);
/// drop(snapshot);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
pub struct SnapshotRef(Loaded<Snapshot>);

impl Deref for SnapshotRef {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.0
    }
}

impl std::fmt::Debug for SnapshotRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>) -> Reader {
        Reader { shared }
    }

    /// The latest published snapshot: a wait-free load.
    #[must_use]
    pub fn snapshot(&self) -> SnapshotRef {
        SnapshotRef(self.shared.snapshot.load())
    }

    /// The latest published snapshot as an `Arc`, to keep.
    #[must_use]
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// What the builder started beside the owner, for the layer that knows its type.
    pub(crate) fn companion(&self) -> Option<&dyn std::any::Any> {
        self.shared.companion.get().map(|companion| companion.as_any())
    }

    /// Waits until the published snapshot shows sequence `seq` (a receipt's `seq`), and returns
    /// it: spins briefly (the owner publishes right after answering), then yields, then sleeps
    /// in short steps, so a long wait does not burn a core.
    ///
    /// # Errors
    /// [`WaitError::TimedOut`] with the latest sequence seen if `timeout` passes first,
    /// [`WaitError::Stopped`] if the owner stopped before publishing it.
    pub fn wait_for(&self, seq: u64, timeout: std::time::Duration) -> Result<SnapshotRef, WaitError> {
        let started = std::time::Instant::now();
        for round in 0_u32.. {
            let snapshot = self.snapshot();
            if snapshot.seq() >= seq {
                return Ok(snapshot);
            }
            if let Some(stopped) = self.stopped() {
                // The last snapshot is published before the owner is marked stopped.
                let last = self.snapshot();
                return if last.seq() >= seq { Ok(last) } else { Err(WaitError::Stopped(stopped)) };
            }
            if started.elapsed() >= timeout {
                return Err(WaitError::TimedOut { seen: snapshot.seq() });
            }
            match round {
                0..64 => crate::sync::spin_loop(),
                64..1024 => crate::sync::thread::yield_now(),
                _ => std::thread::sleep(std::time::Duration::from_micros(50)),
            }
        }
        unreachable!("the loop returns")
    }

    /// The vault's latency since it started: per [`Metric`](crate::Metric) an HdrHistogram of
    /// queue waits, batch stages, shared-memory writes and the handles' round trips (see
    /// `docs/performance.md`, "The vault's own latency"). Asks the owner for what it has not
    /// handed over yet and waits up to 10 ms
    /// for it; never delays the owner.
    #[must_use]
    pub fn latency(&self) -> crate::runtime::Latency {
        self.shared.latency.latency(|| self.shared.stopped().is_none())
    }

    /// The latency shared by the vault's threads, for the mirror thread.
    pub(crate) fn latency_shared(&self) -> &std::sync::Arc<crate::runtime::latency::Shared> {
        &self.shared.latency
    }

    /// `Some` once the owner has stopped, with why.
    #[must_use]
    pub fn stopped(&self) -> Option<Stopped> {
        self.shared.stopped()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("seq", &self.snapshot().seq()).finish()
    }
}
