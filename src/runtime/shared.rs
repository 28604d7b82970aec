//! State shared by the owner thread, the handles and the readers.

use crate::runtime::envelope::Envelope;
use crate::runtime::error::Stopped;
use crate::snapshot::Snapshot;
use crate::sync::channel::Receiver;
use crate::sync::{fence, thread, AtomicBool, Mutex, Ordering, SnapshotCell};

#[cfg(not(capvault_loom))]
std::thread_local! {
    /// The address of the `Shared` whose owner runs on this thread, or 0.
    static OWNER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(crate) struct Shared {
    /// The latest published snapshot.
    pub(crate) snapshot: SnapshotCell<Snapshot>,
    /// Set by `shutdown` (and when the owner stops): new submissions fail fast.
    pub(crate) closing: AtomicBool,
    /// Set when the owner has left its loop: nothing queued from now on will be applied.
    pub(crate) stopped: AtomicBool,
    /// Set when the owner left its loop by panicking.
    pub(crate) panicked: AtomicBool,
    /// Set when the owner stopped because the journal could not be written.
    pub(crate) journal_failed: AtomicBool,
    /// A second receiver on the command channel, for dropping envelopes nobody will apply (see
    /// [`Shared::discard_queued`]).
    discard: Receiver<Envelope>,
    /// The owner thread, joined by the first `shutdown`.
    pub(crate) join: Mutex<Option<thread::JoinHandle<()>>>,
    /// The mirror thread and its stop flag, stopped and joined after the owner.
    #[cfg(not(capvault_loom))]
    pub(crate) mirror: Mutex<Option<(std::thread::JoinHandle<()>, std::sync::Arc<AtomicBool>)>>,
    /// What the JSON mirror has done.
    #[cfg(not(capvault_loom))]
    pub(crate) mirror_stats: std::sync::Arc<std::sync::Mutex<crate::mirror::MirrorStats>>,
    /// The checkpoint thread, joined after the owner (which holds its job sender).
    #[cfg(not(capvault_loom))]
    pub(crate) checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// What the checkpoint thread has done.
    #[cfg(not(capvault_loom))]
    pub(crate) checkpoint_stats: std::sync::Arc<std::sync::Mutex<crate::journal::CheckpointStats>>,
    /// What recovery found at start, with a data directory.
    #[cfg(not(capvault_loom))]
    pub(crate) recovery: Mutex<Option<crate::journal::Recovery>>,
    /// The error that stopped the vault (a journal write or rotation), for `Handle::failure`.
    #[cfg(not(capvault_loom))]
    pub(crate) failure: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(snapshot: Snapshot, discard: Receiver<Envelope>) -> Shared {
        Shared {
            snapshot: SnapshotCell::new(crate::sync::Arc::new(snapshot)),
            closing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            journal_failed: AtomicBool::new(false),
            discard,
            join: Mutex::new(None),
            #[cfg(not(capvault_loom))]
            mirror: Mutex::new(None),
            #[cfg(not(capvault_loom))]
            mirror_stats: Default::default(),
            #[cfg(not(capvault_loom))]
            checkpointer: Mutex::new(None),
            #[cfg(not(capvault_loom))]
            checkpoint_stats: Default::default(),
            #[cfg(not(capvault_loom))]
            recovery: Mutex::new(None),
            #[cfg(not(capvault_loom))]
            failure: Mutex::new(None),
        }
    }

    #[cfg(not(capvault_loom))]
    pub(crate) fn set_failure(&self, error: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// `true` on the owner thread of this vault: a blocking call there would wait for itself.
    pub(crate) fn on_owner_thread(&self) -> bool {
        #[cfg(not(capvault_loom))]
        return OWNER_OF.with(|owner| owner.get() == self as *const Shared as usize);
        // Loom runs every modelled thread on one OS thread: a thread-local cannot tell them apart.
        #[cfg(capvault_loom)]
        return false;
    }

    /// Marks the calling thread as this vault's owner thread.
    pub(crate) fn enter_owner_thread(&self) {
        #[cfg(not(capvault_loom))]
        OWNER_OF.with(|owner| owner.set(self as *const Shared as usize));
    }

    /// Joins the checkpoint thread (it ends when the owner drops its job sender).
    #[cfg(not(capvault_loom))]
    pub(crate) fn join_checkpointer(&self) {
        let thread = self.checkpointer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Stops the mirror thread (which writes a last time) and joins it.
    #[cfg(not(capvault_loom))]
    pub(crate) fn stop_mirror(&self) {
        let mirror = self.mirror.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((thread, stop)) = mirror {
            // Release: the mirror's Acquire load sees everything before the stop.
            stop.store(true, Ordering::Release);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }

    pub(crate) fn stop_reason(&self) -> Stopped {
        // Acquire pairs with the owner's SeqCst store in `StopGuard`: a submitter that sees it
        // stopped also sees why.
        if self.journal_failed.load(Ordering::Acquire) {
            Stopped::JournalFailed
        } else if self.panicked.load(Ordering::Acquire) {
            Stopped::OwnerPanicked
        } else {
            Stopped::ShutDown
        }
    }

    /// `Some` once the owner has stopped.
    pub(crate) fn stopped(&self) -> Option<Stopped> {
        // Acquire: see `stop_reason`.
        self.stopped.load(Ordering::Acquire).then(|| self.stop_reason())
    }

    /// Drops every queued envelope. Dropping a waiting submitter's envelope drops its only reply
    /// sender, so its receive fails at once with "stopped" instead of hanging.
    pub(crate) fn discard_queued(&self) {
        // A deliberately broken build for the loom models to catch (see docs/design.md).
        if cfg!(capvault_loom_mutant = "no_discard") {
            return;
        }
        while let Ok(envelope) = self.discard.try_recv() {
            drop(envelope);
        }
    }

    /// Called by a submitter right after it enqueued an envelope. If the owner stopped, the
    /// envelope may have landed after the owner's last drain, so the submitter drains instead.
    ///
    /// The two SeqCst fences (here and in `StopGuard::drop`) make a Dekker pair: either the
    /// owner's drain sees the envelope, or this load sees `stopped`.
    pub(crate) fn after_enqueue(&self) {
        fence(Ordering::SeqCst);
        if self.stopped.load(Ordering::SeqCst) {
            self.discard_queued();
        }
    }
}

/// Marks the runtime stopped when the owner leaves its loop, by return or by panic, and drops
/// whatever is still queued so no submitter waits for an answer that will not come.
pub(crate) struct StopGuard(pub(crate) crate::sync::Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let shared = &self.0;
        if std::thread::panicking() {
            shared.panicked.store(true, Ordering::SeqCst);
        }
        shared.closing.store(true, Ordering::SeqCst);
        shared.stopped.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        shared.discard_queued();
    }
}
