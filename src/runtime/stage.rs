//! Stages: what the owner runs around each batch besides the ledger. The runtime knows only this
//! interface; the builder plugs in the journal, the shared-memory mirror and the publish hook
//! (and later the gateway), in that order.

use crate::ledger::{Command, Ledger, RequestKey};
use crate::runtime::snapshot::Snapshot;

/// One step of the owner's batch, called on the owner thread in this order per batch:
/// [`accepted`](Stage::accepted) for each accepted command, [`commit`](Stage::commit) before
/// any answer goes out, [`published`](Stage::published) once the snapshot is visible, then
/// [`after_batch`](Stage::after_batch). [`close`](Stage::close) once, when the owner leaves.
///
/// Every method runs while submitters wait: keep them short, allocation-free on the steady path,
/// and never wait for the owner itself.
pub(crate) trait Stage: Send {
    /// An accepted command and its sequence, in order, with its request key if it came keyed
    /// (the journal appends both).
    fn accepted(&mut self, _seq: u64, _key: Option<RequestKey>, _command: &Command) {}

    /// An accepted part of a linked reservation, in order; `linked` while the chain goes on in
    /// the next part (the journal keeps a chain whole or not at all).
    fn accepted_linked(&mut self, seq: u64, command: &Command, _linked: bool) {
        self.accepted(seq, None, command);
    }

    /// Whether the batch's answers wait for [`Stage::commit`] (a journal makes them durable
    /// first).
    fn holds_answers(&self) -> bool {
        false
    }

    /// Whether [`Stage::commit`] waits for the disk (an `fsync`): answers then take a sync's
    /// time, and a submitter waiting for one parks at once instead of spinning.
    fn syncs(&self) -> bool {
        false
    }

    /// The end of a batch, before its answers go out.
    ///
    /// # Errors
    /// A failure stops the vault; the owner answers the batch's waiting submitters with what
    /// [`StageFailure::undone`] says.
    fn commit(&mut self) -> Result<(), StageFailure> {
        Ok(())
    }

    /// The batch's snapshot, right after readers can see it.
    fn published(&mut self, _snapshot: &Snapshot) {}

    /// After the batch is answered and published, with the ledger it left (a checkpoint copies
    /// it from here).
    ///
    /// # Errors
    /// A failure stops the vault; every answer given so far stands.
    fn after_batch(&mut self, _seq: u64, _ledger: &Ledger) -> Result<(), StageFailure> {
        Ok(())
    }

    /// The owner is leaving: `orderly` after a shutdown or when every handle is gone; not after
    /// a stage failure or a panic.
    fn close(&mut self, _orderly: bool) {}
}

/// Why a stage stopped the vault.
#[derive(Debug)]
pub(crate) struct StageFailure {
    /// What failed, for [`Handle::failure`](crate::Handle::failure).
    pub(crate) error: String,
    /// `true` if the failed batch's accepted commands were taken back out (they will not be
    /// there after a restart); `false` if they may or may not be.
    pub(crate) undone: bool,
}

/// The publish hook as a stage.
pub(crate) struct HookStage(pub(crate) Box<dyn FnMut(&Snapshot) + Send>);

impl Stage for HookStage {
    fn published(&mut self, snapshot: &Snapshot) {
        (self.0)(snapshot);
    }
}
