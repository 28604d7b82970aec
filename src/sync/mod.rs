//! Every concurrency primitive the crate uses, from one place.
//!
//! Built normally, these are `std`, `crossbeam-channel` and `arc-swap`. Built with
//! `RUSTFLAGS="--cfg capvault_loom"`, they are loom's types and stand-ins with the same API and
//! contract: a bounded queue on loom's `Mutex` and `Condvar` for the channel, and an `RwLock`
//! around an `Arc` for the snapshot cell (the strategy arc-swap's own tests use). The runtime
//! code above this module is the same in both builds, so loom checks the real thing.

#[cfg(not(capvault_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
    pub(crate) use std::sync::{Arc, Mutex};
    pub(crate) use std::thread;

    /// `std`'s `UnsafeCell` with loom's closure-based API, so loom can track every access.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// The bounded channel.
    pub(crate) mod channel {
        pub(crate) use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
    }

    /// A hint inside a spin loop.
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// Spawns a named thread.
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(
        name: &str,
        f: F,
    ) -> std::io::Result<thread::JoinHandle<()>> {
        thread::Builder::new().name(name.to_owned()).spawn(f)
    }

    /// The cell that holds the latest snapshot: loads are wait-free.
    pub(crate) struct SnapshotCell<T>(arc_swap::ArcSwap<T>);

    /// A loaded snapshot.
    pub(crate) type Loaded<T> = arc_swap::Guard<Arc<T>>;

    impl<T> SnapshotCell<T> {
        pub(crate) fn new(value: Arc<T>) -> SnapshotCell<T> {
            SnapshotCell(arc_swap::ArcSwap::new(value))
        }

        /// A wait-free load (arc-swap's debt-list fast path).
        pub(crate) fn load(&self) -> Loaded<T> {
            self.0.load()
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            self.0.load_full()
        }

        /// Stores `value` and returns the snapshot it replaced.
        pub(crate) fn swap(&self, value: Arc<T>) -> Arc<T> {
            self.0.swap(value)
        }
    }
}

#[cfg(capvault_loom)]
mod loom_channel;

#[cfg(capvault_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
    pub(crate) use loom::sync::{Arc, Mutex, RwLock};
    pub(crate) use loom::thread;

    /// The bounded channel: a stand-in on loom primitives.
    pub(crate) mod channel {
        pub(crate) use super::super::loom_channel::{bounded, Receiver, Sender};
        pub(crate) use crossbeam_channel::{TryRecvError, TrySendError};
    }

    /// A hint inside a spin loop: under loom, a yield, so the model explores the other threads.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    #[allow(clippy::unnecessary_wraps, reason = "the same signature as the real build's spawn")]
    pub(crate) fn spawn<F: FnOnce() + Send + 'static>(
        _name: &str,
        f: F,
    ) -> std::io::Result<thread::JoinHandle<()>> {
        Ok(thread::spawn(f))
    }

    /// The snapshot cell's stand-in: arc-swap's contract (a load returns some stored `Arc`
    /// whole) through an `RwLock`.
    pub(crate) struct SnapshotCell<T>(RwLock<Arc<T>>);

    pub(crate) type Loaded<T> = Arc<T>;

    impl<T> SnapshotCell<T> {
        pub(crate) fn new(value: Arc<T>) -> SnapshotCell<T> {
            SnapshotCell(RwLock::new(value))
        }

        pub(crate) fn load(&self) -> Loaded<T> {
            self.load_full()
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
        }

        pub(crate) fn swap(&self, value: Arc<T>) -> Arc<T> {
            std::mem::replace(&mut *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner), value)
        }
    }
}

pub(crate) use imp::*;

pub(crate) mod ring;
pub(crate) mod seqlock;

/// `true` in the loom build. Loom has no clock and explores every step of a spin loop, so the
/// waits take their blocking path there (`runtime::wait`); the branch is constant, and the
/// other build compiles it away.
pub(crate) const MODELLED: bool = cfg!(capvault_loom);

/// The deliberately broken builds the loom models must catch (`docs/design.md`, "Loom
/// mutants"). Each is `false` in every real build.
pub(crate) mod mutant {
    /// The owner publishes a batch's snapshot before applying it.
    pub(crate) const PUBLISH_BEFORE_APPLY: bool = cfg!(capvault_loom_mutant = "publish_before_apply");
    pub(crate) const RING_RELAXED_PUBLISH: bool = cfg!(capvault_loom_mutant = "ring_relaxed_publish");
    /// A stopped owner leaves queued envelopes in the channel.
    pub(crate) const NO_DISCARD: bool = cfg!(capvault_loom_mutant = "no_discard");
    /// The reply slot publishes its answer with `Relaxed`.
    pub(crate) const RELAXED_REPLY: bool = cfg!(capvault_loom_mutant = "relaxed_reply");
    /// The owner brings the shared order table up to date after capturing the snapshot, so a
    /// snapshot pairs a batch's books with the previous batch's orders.
    pub(crate) const ORDERS_AFTER_PUBLISH: bool = cfg!(capvault_loom_mutant = "orders_after_publish");
    /// The seqlock reader leaves out its fence.
    pub(crate) const SEQLOCK_NO_FENCE: bool = cfg!(capvault_loom_mutant = "seqlock_no_fence");
}

/// Which vault's owner runs on the current thread, so a blocking call from there can be refused
/// instead of waiting for itself. Loom runs every modelled thread on one OS thread, where a
/// thread-local cannot tell them apart: there it never matches.
pub(crate) mod owner_mark {
    #[cfg(not(capvault_loom))]
    std::thread_local! {
        /// The address of the vault state whose owner runs on this thread, or 0.
        static OWNER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Marks the calling thread as the owner of the vault state at `address`.
    pub(crate) fn enter(address: usize) {
        #[cfg(not(capvault_loom))]
        OWNER_OF.with(|owner| owner.set(address));
        #[cfg(capvault_loom)]
        let _ = address;
    }

    /// `true` on the owner thread of the vault state at `address`.
    pub(crate) fn is(address: usize) -> bool {
        #[cfg(not(capvault_loom))]
        return OWNER_OF.with(|owner| owner.get() == address);
        #[cfg(capvault_loom)]
        {
            let _ = address;
            false
        }
    }
}

/// Pins the calling thread to `core`; `false` if it cannot be. (Loom: always pinned.)
pub(crate) fn pin_current(core: usize) -> bool {
    #[cfg(not(capvault_loom))]
    return core_affinity::set_for_current(core_affinity::CoreId { id: core });
    #[cfg(capvault_loom)]
    {
        let _ = core;
        true
    }
}

/// The cores this process may run on now.
pub(crate) fn cores_available() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}
