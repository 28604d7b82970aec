//! The journal as a stage of the owner: append each accepted command, commit each batch before
//! its answers go out, checkpoint on schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::journal::store::{CheckpointJob, JournalWriter};
use crate::ledger::{Command, Ledger, RequestKey};
use crate::runtime::{Stage, StageFailure};

/// The journal and when to checkpoint.
pub(crate) struct JournalStage {
    pub(crate) journal: JournalWriter,
    pub(crate) every: u64,
    pub(crate) interval: Duration,
    pub(crate) last_seq: u64,
    pub(crate) last_at: Instant,
    /// `None` once closed: dropping it ends the checkpoint thread.
    pub(crate) jobs: Option<SyncSender<CheckpointJob>>,
    /// Set while the checkpoint thread holds a job: no rotation until it is done.
    pub(crate) busy: Arc<AtomicBool>,
    /// The checkpoint thread, which holds the data folder's lock: joined when the stage
    /// closes, before the vault is marked stopped, so "stopped" means the folder is free.
    pub(crate) checkpointer: Option<std::thread::JoinHandle<()>>,
}

impl Stage for JournalStage {
    /// Ends the checkpoint thread (a checkpoint under way is finished) and waits for it: the
    /// owner closes its stages before it marks the vault stopped, on every path (shutdown, the
    /// last handle dropped, a failure, a panic).
    fn close(&mut self, _orderly: bool) {
        self.jobs = None;
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }

    fn accepted(&mut self, seq: u64, key: Option<RequestKey>, command: &Command) {
        self.journal.append(seq, key, command, false);
    }

    fn accepted_linked(&mut self, seq: u64, command: &Command, linked: bool) {
        self.journal.append(seq, None, command, linked);
    }

    fn holds_answers(&self) -> bool {
        true
    }

    fn syncs(&self) -> bool {
        self.journal.syncs()
    }

    /// Writes (and syncs, per the durability) the batch's records. On failure the journal cuts
    /// the segment back to the batch start; `undone` says whether that worked.
    fn commit(&mut self) -> Result<(), StageFailure> {
        self.journal
            .commit()
            .map_err(|failure| StageFailure { error: failure.error.to_string(), undone: failure.undone })
    }

    /// Checkpoints every `every` commands or `interval`, whichever comes first: rotates the
    /// journal and tells the checkpoint thread, which replays the closed segments into its own
    /// replica of the ledger. The owner's cost is one file creation, whatever the ledger's size
    /// (`docs/durability.md`). A rotation that fails stops the vault; every answer given so far
    /// is durable.
    fn after_batch(&mut self, seq: u64, _ledger: &Ledger) -> Result<(), StageFailure> {
        let due = seq >= self.last_seq + self.every
            || (seq > self.last_seq && self.last_at.elapsed() >= self.interval);
        // Acquire: pairs with the checkpoint thread's Release when it finishes a job. A
        // checkpoint still being written makes this one wait: no rotation, the journal keeps
        // everything meanwhile, and the next batch asks again.
        if !due || self.busy.load(Ordering::Acquire) {
            return Ok(());
        }
        let started = Instant::now();
        self.journal
            .rotate(seq)
            .map_err(|error| StageFailure { error: format!("journal rotation: {error}"), undone: false })?;
        let job = CheckpointJob { seq, owner_stall: started.elapsed() };
        // Relaxed: the channel hand-over below orders the job; the flag only gates rotation.
        self.busy.store(true, Ordering::Relaxed);
        if self.jobs.as_ref().is_none_or(|jobs| jobs.try_send(job).is_err()) {
            self.busy.store(false, Ordering::Relaxed);
        }
        self.last_seq = seq;
        self.last_at = Instant::now();
        Ok(())
    }
}
