//! What the builder starts beside the owner: the checkpoint thread and the mirror thread, with
//! what they report. The runtime stops it after the owner (as its `Companion`) and knows nothing
//! else about it; the accessors below read it back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::journal::{CheckpointStats, Recovery};
use crate::mirror::json::MirrorStats;
use crate::mirror::latency_log::LatencyLogStats;
use crate::runtime::{Companion, Handle, Reader};
use crate::vault::registry::Registration;

/// The threads beside the owner, and their reports.
#[derive(Default)]
pub(crate) struct Services {
    /// What recovery found at start, with a data directory.
    pub(crate) recovery: Option<Recovery>,
    /// What the checkpoint thread has done.
    pub(crate) checkpoint_stats: Arc<Mutex<CheckpointStats>>,
    /// What the JSON mirror has done.
    pub(crate) mirror_stats: Arc<Mutex<MirrorStats>>,
    /// What the latency log has done.
    pub(crate) latency_log_stats: Arc<Mutex<LatencyLogStats>>,
    /// The mirror threads (shared memory, JSON) with their stop flags.
    pub(crate) mirrors: Mutex<Vec<(JoinHandle<()>, Arc<AtomicBool>)>>,
    /// The vault's entry in this user's registry, removed when it stops.
    registration: Mutex<Option<Registration>>,
    /// Closes the signal thread of `Builder::stop_on_signals`.
    signals: Mutex<Option<signal_hook::iterator::Handle>>,
}

impl Services {
    pub(crate) fn set_registration(&self, registration: Registration) {
        *lock(&self.registration) = Some(registration);
    }

    pub(crate) fn set_signals(&self, closer: signal_hook::iterator::Handle) {
        *lock(&self.signals) = Some(closer);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Companion for Services {
    /// Stops the mirror threads (each writes a last time) and joins them. (The checkpoint
    /// thread was joined by the journal stage when the owner stopped.)
    fn stop(&self) {
        for (thread, stop) in std::mem::take(&mut *lock(&self.mirrors)) {
            // Release: the mirror's Acquire load sees everything before the stop.
            stop.store(true, Ordering::Release);
            thread.thread().unpark();
            let _ = thread.join();
        }
        // After the mirrors' last write: a listed vault's mirror reads `closed`.
        drop(lock(&self.registration).take());
        // Not joined: this may be the signal thread itself, stopping the vault.
        if let Some(closer) = lock(&self.signals).take() {
            closer.close();
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn services(companion: Option<&dyn std::any::Any>) -> Option<&Services> {
    companion.and_then(<dyn std::any::Any>::downcast_ref)
}

impl Handle {
    /// What recovery found when the vault started from a data directory.
    #[must_use]
    pub fn recovery(&self) -> Option<Recovery> {
        services(self.companion()).and_then(|services| services.recovery.clone())
    }
}

impl Reader {
    /// What the JSON mirror has done: writes, failures, the last error.
    #[must_use]
    pub fn mirror_stats(&self) -> MirrorStats {
        services(self.companion()).map(|services| lock(&services.mirror_stats).clone()).unwrap_or_default()
    }

    /// What the latency log (`Builder::latency_log`) has written.
    #[must_use]
    pub fn latency_log_stats(&self) -> LatencyLogStats {
        services(self.companion())
            .map(|services| lock(&services.latency_log_stats).clone())
            .unwrap_or_default()
    }

    /// What the checkpoint thread has done.
    #[must_use]
    pub fn checkpoint_stats(&self) -> CheckpointStats {
        services(self.companion())
            .map(|services| lock(&services.checkpoint_stats).clone())
            .unwrap_or_default()
    }
}
