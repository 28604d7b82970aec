//! The owner thread: the only thread that touches the ledger.

use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::rejection::Rejection;
use crate::runtime::envelope::{DetachedOutcome, Envelope, ReplyTo};
use crate::runtime::error::SubmitError;
use crate::runtime::shared::{Shared, StopGuard};
use crate::runtime::PublishHook;
use crate::snapshot::{Snapshot, Stats};
use crate::sync::channel::Receiver;
use crate::sync::Arc;
use crate::wait::{self, WaitStrategy};

pub(crate) struct Owner {
    pub(crate) ledger: Ledger,
    pub(crate) commands: Receiver<Envelope>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) wait: WaitStrategy,
    pub(crate) batch_max: usize,
    pub(crate) on_publish: Option<PublishHook>,
    pub(crate) seq: u64,
    pub(crate) stats: Stats,
    /// The shared-memory mirror, written after each publish.
    #[cfg(not(capvault_loom))]
    pub(crate) shm: Option<std::sync::Arc<crate::shm::ShmWriter>>,
    /// The journal and checkpoint schedule, with a data directory.
    #[cfg(not(capvault_loom))]
    pub(crate) durable: Option<Durable>,
    /// Answers held until the batch is durable; allocated for `batch_max` up front.
    pub(crate) pending: Vec<(ReplyTo, u64, Result<Outcome, Rejection>)>,
}

/// The journal and when to checkpoint.
#[cfg(not(capvault_loom))]
pub(crate) struct Durable {
    pub(crate) journal: crate::journal::JournalWriter,
    pub(crate) every: u64,
    pub(crate) interval: std::time::Duration,
    pub(crate) last_seq: u64,
    pub(crate) last_at: std::time::Instant,
    pub(crate) jobs: std::sync::mpsc::SyncSender<crate::journal::CheckpointJob>,
    /// Set while the checkpoint thread holds a job: no rotation until it is done.
    pub(crate) busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Marks the shared-memory mirror when the owner leaves: closed cleanly only after an orderly
/// stop, failed otherwise (a panic unwinding through, or a journal failure), so readers never
/// take a failed vault's last figures for final ones.
#[cfg(not(capvault_loom))]
struct MirrorClose {
    shm: Option<std::sync::Arc<crate::shm::ShmWriter>>,
    orderly: bool,
}

#[cfg(not(capvault_loom))]
impl Drop for MirrorClose {
    fn drop(&mut self) {
        if let Some(shm) = &self.shm {
            // `orderly` is set only when the loop returned, never while a panic unwinds.
            if self.orderly {
                shm.close();
            } else {
                shm.fail();
            }
        }
    }
}

/// Set while one command is applied: if applying it panics, this is dropped before the command's
/// reply, so the flag is up by the time the submitter learns it will get no answer, and it
/// reports `OwnerPanicked`, not `ShutDown`.
struct PanicFlag<'a>(&'a Shared);

impl Drop for PanicFlag<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.panicked.store(true, crate::sync::Ordering::SeqCst);
        }
    }
}

impl Owner {
    /// Serves commands until every handle is gone or a shutdown has drained the queue.
    ///
    /// Each batch: wait for one envelope, take up to `batch_max - 1` more without waiting, apply
    /// and answer each in order, then publish one snapshot. Answering before publishing keeps
    /// the round trip short; the receipt's `seq` tells a submitter which snapshot shows its
    /// command.
    pub(crate) fn run(mut self) {
        let _guard = StopGuard(self.shared.clone());
        self.shared.enter_owner_thread();
        #[cfg(not(capvault_loom))]
        let mut mirror = MirrorClose { shm: self.shm.clone(), orderly: false };
        let orderly = self.serve();
        #[cfg(not(capvault_loom))]
        {
            mirror.orderly = orderly;
        }
        #[cfg(capvault_loom)]
        let _ = orderly;
    }

    /// The batch loop. Returns `true` after an orderly stop (shutdown, or every handle gone),
    /// `false` when the journal failed.
    fn serve(&mut self) -> bool {
        let mut draining = false;
        loop {
            let first = if draining {
                match self.commands.try_recv() {
                    Ok(envelope) => envelope,
                    Err(_) => return true,
                }
            } else {
                match wait::recv(&self.commands, self.wait) {
                    Some(envelope) => envelope,
                    None => return true,
                }
            };
            // A deliberately broken build for the loom models to catch (see docs/design.md).
            #[cfg(capvault_loom_mutant = "publish_before_apply")]
            self.publish();
            draining |= self.process(first);
            for _ in 1..self.batch_max {
                match self.commands.try_recv() {
                    Ok(envelope) => draining |= self.process(envelope),
                    Err(_) => break,
                }
            }
            if !self.make_durable() {
                return false;
            }
            // Taken out and put back, so the vector keeps its capacity: nothing is allocated.
            let mut pending = std::mem::take(&mut self.pending);
            for (reply, seq, result) in pending.drain(..) {
                self.answer(reply, seq, result);
            }
            self.pending = pending;
            #[cfg(not(capvault_loom_mutant = "publish_before_apply"))]
            self.publish();
            #[cfg(not(capvault_loom))]
            if !self.maybe_checkpoint() {
                return false;
            }
        }
    }

    /// Writes (and syncs, per the durability) the batch's journal records, before any answer of
    /// the batch goes out. A journal that cannot be written stops the vault: answering commands
    /// that would not survive a crash would break the promise of the journal. Each waiting
    /// submitter of the failed batch is told the truth: a rejection stays a rejection; an
    /// accepted command is "not applied" if the batch was cut back out of the journal, "in
    /// doubt" if it could not be. Returns `false` after such a failure.
    fn make_durable(&mut self) -> bool {
        #[cfg(not(capvault_loom))]
        if let Some(durable) = self.durable.as_mut() {
            if let Err(failure) = durable.journal.commit() {
                // SeqCst: before any answer below, so every later reader of the reason sees it.
                self.shared.journal_failed.store(true, crate::sync::Ordering::SeqCst);
                self.shared.set_failure(failure.error.to_string());
                let stopped = crate::runtime::error::Stopped::JournalFailed;
                for (reply, seq, result) in self.pending.drain(..) {
                    if let ReplyTo::Waiting(responder) = reply {
                        let answer = match result {
                            Err(rejection) => Err(SubmitError::Rejected(rejection)),
                            Ok(_) if failure.undone => Err(SubmitError::Stopped(stopped)),
                            Ok(_) => Err(SubmitError::InDoubt(stopped)),
                        };
                        responder.answer((seq, answer));
                    }
                }
                return false;
            }
        }
        true
    }

    /// Checkpoints every `every` commands or `interval`, whichever comes first: rotates the
    /// journal and hands a copy of the ledger to the checkpoint thread. The owner's cost is the
    /// copy and one file creation (`docs/durability.md`).
    /// Returns `false` if the journal could not be rotated (the vault stops; every answer given
    /// so far is durable).
    #[cfg(not(capvault_loom))]
    fn maybe_checkpoint(&mut self) -> bool {
        use std::sync::atomic::Ordering;
        let Some(durable) = self.durable.as_mut() else { return true };
        let due = self.seq >= durable.last_seq + durable.every
            || (self.seq > durable.last_seq && durable.last_at.elapsed() >= durable.interval);
        // Acquire: pairs with the checkpoint thread's Release when it finishes a job. A
        // checkpoint still being written makes this one wait: no rotation, the journal keeps
        // everything meanwhile, and the next batch asks again.
        if !due || durable.busy.load(Ordering::Acquire) {
            return true;
        }
        let started = std::time::Instant::now();
        if let Err(error) = durable.journal.rotate(self.seq) {
            self.shared.journal_failed.store(true, crate::sync::Ordering::SeqCst);
            self.shared.set_failure(format!("journal rotation: {error}"));
            return false;
        }
        let ledger = Box::new(self.ledger.clone());
        let job = crate::journal::CheckpointJob { seq: self.seq, ledger, owner_stall: started.elapsed() };
        // Relaxed: the channel hand-over below orders the job; the flag only gates rotation.
        durable.busy.store(true, Ordering::Relaxed);
        if durable.jobs.try_send(job).is_err() {
            durable.busy.store(false, Ordering::Relaxed);
        }
        durable.last_seq = self.seq;
        durable.last_at = std::time::Instant::now();
        true
    }

    /// Applies one envelope and answers it. Returns `true` for a shutdown request. No locks and
    /// no heap allocation: the ledger is preallocated, a reply is one slot per handle and the
    /// outcome queues are bounded. (A parked submitter is woken through a mutex: the slow path.)
    fn process(&mut self, envelope: Envelope) -> bool {
        let (command, reply) = match envelope {
            Envelope::Command { command, reply } => (command, reply),
            Envelope::Shutdown => return true,
        };
        let flag = PanicFlag(&self.shared);
        #[cfg(not(capvault_loom))]
        crate::failpoint::panic_at("owner.apply");
        let result = self.ledger.apply(&command);
        drop(flag);
        if let Ok(Outcome::AlreadyReserved { .. }) = result {
            // An idempotent repeat changes nothing: no new sequence, nothing to journal.
            self.stats.repeated += 1;
        } else if result.is_ok() {
            self.seq += 1;
            self.stats.accepted += 1;
            #[cfg(not(capvault_loom))]
            if let Some(durable) = self.durable.as_mut() {
                durable.journal.append(self.seq, &command);
            }
        } else {
            self.stats.rejected += 1;
        }
        if self.defers_answers() {
            self.pending.push((reply, self.seq, result));
        } else {
            self.answer(reply, self.seq, result);
        }
        false
    }

    /// With a journal, answers wait for the batch to be durable.
    fn defers_answers(&self) -> bool {
        #[cfg(not(capvault_loom))]
        return self.durable.is_some();
        #[cfg(capvault_loom)]
        return false;
    }

    fn answer(&mut self, reply: ReplyTo, seq: u64, result: Result<Outcome, Rejection>) {
        match reply {
            ReplyTo::Waiting(responder) => responder.answer((seq, result.map_err(SubmitError::Rejected))),
            ReplyTo::Detached { ticket, outcomes } => {
                if outcomes.try_send(DetachedOutcome { ticket, seq, result }).is_err() {
                    self.stats.outcomes_dropped += 1;
                }
            }
        }
    }

    /// Publishes one immutable snapshot of the batch's result: the only allocation per batch.
    fn publish(&mut self) {
        self.stats.batches += 1;
        let snapshot = Arc::new(Snapshot::capture(&self.ledger, self.seq, self.stats));
        self.shared.snapshot.store(snapshot.clone());
        // Memory only (a mapped file under /dev/shm by default), no system call: the seqlocked
        // copy costs tens of nanoseconds for a few strategies and live orders.
        #[cfg(not(capvault_loom))]
        if let Some(shm) = &self.shm {
            shm.write(&snapshot);
        }
        if let Some(hook) = self.on_publish.as_mut() {
            hook(&snapshot);
        }
    }
}
