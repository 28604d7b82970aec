//! The owner thread: the only thread that touches the ledger.

use crate::ledger::Ledger;
use crate::runtime::envelope::{DetachedOutcome, Envelope, ReplyTo};
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
        let mut draining = false;
        loop {
            let first = if draining {
                match self.commands.try_recv() {
                    Ok(envelope) => envelope,
                    Err(_) => break,
                }
            } else {
                match wait::recv(&self.commands, self.wait) {
                    Some(envelope) => envelope,
                    None => break,
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
            #[cfg(not(capvault_loom_mutant = "publish_before_apply"))]
            self.publish();
        }
    }

    /// Applies one envelope and answers it. Returns `true` for a shutdown request. No locks and
    /// no heap allocation: the ledger is preallocated, a reply is one slot per handle and the
    /// outcome queues are bounded. (A parked submitter is woken through a mutex: the slow path.)
    fn process(&mut self, envelope: Envelope) -> bool {
        let (command, reply) = match envelope {
            Envelope::Command { command, reply } => (command, reply),
            Envelope::Shutdown => return true,
        };
        let result = self.ledger.apply(&command);
        if result.is_ok() {
            self.seq += 1;
            self.stats.accepted += 1;
        } else {
            self.stats.rejected += 1;
        }
        let seq = self.seq;
        match reply {
            ReplyTo::Waiting(responder) => responder.answer((seq, result)),
            ReplyTo::Detached { ticket, outcomes } => {
                if outcomes.try_send(DetachedOutcome { ticket, seq, result }).is_err() {
                    self.stats.outcomes_dropped += 1;
                }
            }
        }
        false
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
