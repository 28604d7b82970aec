//! State shared by the owner thread, the handles and the readers.

use crate::runtime::envelope::Envelope;
use crate::runtime::error::Stopped;
use crate::runtime::snapshot::Snapshot;
use crate::sync::channel::Receiver;
use crate::sync::{fence, owner_mark, thread, AtomicBool, Mutex, Ordering, SnapshotCell};

pub(crate) struct Shared {
    /// The latest published snapshot.
    pub(crate) snapshot: SnapshotCell<Snapshot>,
    /// Set by `shutdown` (and when the owner stops): new submissions fail fast.
    pub(crate) closing: AtomicBool,
    /// Set when the owner has left its loop: nothing queued from now on will be applied.
    pub(crate) stopped: AtomicBool,
    /// Set when the owner left its loop by panicking.
    pub(crate) panicked: AtomicBool,
    /// Set when the owner stopped because a stage failed (the journal could not be written).
    pub(crate) stage_failed: AtomicBool,
    /// A second receiver on the command channel, for dropping envelopes nobody will apply (see
    /// [`Shared::discard_queued`]).
    discard: Receiver<Envelope>,
    /// The owner thread, joined by the first `shutdown`.
    pub(crate) join: Mutex<Option<thread::JoinHandle<()>>>,
    /// What the builder started beside the owner (checkpoint and mirror threads), stopped by
    /// `shutdown` after the owner; the runtime knows it only through [`Companion`].
    pub(crate) companion: std::sync::OnceLock<Box<dyn Companion>>,
    /// The error that stopped the vault (a journal write or rotation), for `Handle::failure`.
    pub(crate) failure: Mutex<Option<String>>,
    /// The latency histograms and their clock.
    pub(crate) latency: std::sync::Arc<crate::runtime::latency::Shared>,
    /// The thread that collects the owner's latency figures, joined by the first `shutdown`.
    pub(crate) collector: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Work that lives beside the owner: stopped after it, and readable by the layer that made it.
pub(crate) trait Companion: Send + Sync {
    /// Stops and joins whatever threads it runs; called once the owner has stopped.
    fn stop(&self);
    /// The companion itself, for the layer that knows its type.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl Shared {
    pub(crate) fn new(
        snapshot: Snapshot,
        discard: Receiver<Envelope>,
        latency: std::sync::Arc<crate::runtime::latency::Shared>,
    ) -> Shared {
        Shared {
            snapshot: SnapshotCell::new(crate::sync::Arc::new(snapshot)),
            closing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            stage_failed: AtomicBool::new(false),
            discard,
            join: Mutex::new(None),
            companion: std::sync::OnceLock::new(),
            failure: Mutex::new(None),
            latency,
            collector: std::sync::Mutex::new(None),
        }
    }

    /// Joins the latency collector (it ends on its own once the owner has stopped).
    pub(crate) fn stop_collector(&self) {
        let thread = self.collector.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }

    pub(crate) fn set_failure(&self, error: String) {
        *self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    /// `true` on the owner thread of this vault: a blocking call there would wait for itself.
    pub(crate) fn on_owner_thread(&self) -> bool {
        owner_mark::is(std::ptr::from_ref(self) as usize)
    }

    /// Marks the calling thread as this vault's owner thread.
    pub(crate) fn enter_owner_thread(&self) {
        owner_mark::enter(std::ptr::from_ref(self) as usize);
    }

    /// Stops what the builder started beside the owner.
    pub(crate) fn stop_companion(&self) {
        if let Some(companion) = self.companion.get() {
            companion.stop();
        }
    }

    pub(crate) fn stop_reason(&self) -> Stopped {
        // Acquire pairs with the owner's SeqCst store in `StopGuard`: a submitter that sees it
        // stopped also sees why.
        if self.stage_failed.load(Ordering::Acquire) {
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
        if crate::sync::mutant::NO_DISCARD {
            return;
        }
        while let Ok(envelope) = self.discard.try_recv() {
            drop(envelope);
        }
    }

    /// Called by a submitter right after it enqueued an envelope. If the owner stopped, the
    /// envelope may have landed after the owner's last drain, so the submitter drains instead.
    ///
    /// The two `SeqCst` fences (here and in `StopGuard::drop`) make a Dekker pair: either the
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
