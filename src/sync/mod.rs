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

        pub(crate) fn store(&self, value: Arc<T>) {
            self.0.store(value);
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
        pub(crate) use crossbeam_channel::TrySendError;
    }

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
            Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
        }

        pub(crate) fn store(&self, value: Arc<T>) {
            *self.0.write().unwrap_or_else(|e| e.into_inner()) = value;
        }
    }
}

pub(crate) use imp::*;
