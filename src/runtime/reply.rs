//! The reply slot: how the owner hands a blocked submitter its answer.
//!
//! A channel per reply would cost a reference-count round trip and a second queue per command.
//! A handle has at most one blocking submit in flight, so its answer needs one slot: the owner
//! writes the answer and flips one atomic; the submitter spins on that atomic (or parks, per its
//! wait strategy). Measured: a crossbeam request with this kind of reply takes about 2x the
//! cross-core floor, a crossbeam request and reply about 3x (see `docs/performance.md`).
//!
//! The protocol, on `state`:
//!
//! ```text
//! EMPTY ──owner: answer──▶ FILLED ──submitter: take──▶ EMPTY
//!   │   ──owner: dropped─▶ ABANDONED ─submitter: take─▶ EMPTY
//!   └──submitter: about to park──▶ PARKED ──owner: answer or drop, then unpark──▶ FILLED / ABANDONED
//! ```
//!
//! Lifetime: the slot is owned by its handle. A [`Responder`] points at it only while a submit is
//! in flight, and `submit` does not return before the responder has made its last access (the
//! final store to `state`), so the slot outlives every responder. loom checks the accesses
//! (`loom-tests/`).
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::ledger::outcome::Outcome;
use crate::runtime::error::SubmitError;
use crate::runtime::wait::{self, WaitStrategy};
use crate::sync::{thread, AtomicU32, AtomicU64, Mutex, Ordering, UnsafeCell};

const EMPTY: u32 = 0;
const FILLED: u32 = 1;
const ABANDONED: u32 = 2;
const PARKED: u32 = 3;

/// A command's answer: the sequence of the snapshot that shows it, and the ledger's result.
pub(crate) type Answer = (u64, Result<Outcome, SubmitError>);

#[repr(align(128))]
pub(crate) struct ReplySlot {
    state: AtomicU32,
    /// The submitter's previous round trip (clock ticks, 0: none), for the owner to record: kept
    /// here, in the line the owner writes its answer to, rather than in the envelope.
    round_trip: AtomicU64,
    answer: UnsafeCell<MaybeUninit<Answer>>,
    /// The parked submitter, set only on the slow path.
    waiter: Mutex<Option<thread::Thread>>,
}

// SAFETY: `answer` is written only by the one responder while `state` is EMPTY or PARKED, and read
// only by the submitter after it saw FILLED with Acquire, which the responder's Release store
// published; the other fields are thread-safe.
unsafe impl Sync for ReplySlot {}

impl ReplySlot {
    pub(crate) fn new() -> ReplySlot {
        ReplySlot {
            state: AtomicU32::new(EMPTY),
            round_trip: AtomicU64::new(0),
            answer: UnsafeCell::new(MaybeUninit::uninit()),
            waiter: Mutex::new(None),
        }
    }

    /// The responder for the next command, carrying the submitter's previous `round_trip`. The
    /// caller must then `wait` before arming again.
    pub(crate) fn arm(&self, round_trip: u64) -> Responder {
        // Relaxed: only this thread writes EMPTY back; a stale read could only be EMPTY too.
        debug_assert_eq!(self.state.load(Ordering::Relaxed), EMPTY, "a reply is already in flight");
        // Relaxed: the command's send (release) and the owner's receive (acquire) order it.
        self.round_trip.store(round_trip, Ordering::Relaxed);
        Responder { slot: NonNull::from(self) }
    }

    /// Waits until the responder answers (`Some`) or is dropped unanswered (`None`), and re-arms
    /// the slot for the next command.
    pub(crate) fn wait(&self, strategy: WaitStrategy) -> Option<Answer> {
        // Acquire: pairs with the responder's Release, making the answer visible.
        let ready = || self.state.load(Ordering::Acquire) != EMPTY;
        let state =
            if wait::spin_until(strategy, ready) { self.state.load(Ordering::Acquire) } else { self.park() };
        let answer = match state {
            // SAFETY: FILLED was published with Release after the answer was written, and no
            // responder exists any more, so this read is alone and sees a whole answer.
            FILLED => Some(self.answer.with(|answer| unsafe { (*answer).assume_init_read() })),
            ABANDONED => None,
            other => unreachable!("reply slot in state {other} after waiting"),
        };
        // Relaxed: the next responder is created by this thread and reaches the owner through
        // the command channel, which orders this store before it.
        self.state.store(EMPTY, Ordering::Relaxed);
        answer
    }

    /// The slow path: leave our thread handle, then park until the state leaves PARKED.
    fn park(&self) -> u32 {
        *self.waiter.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(thread::current());
        // AcqRel: on success, the responder's Acquire failure read sees the waiter stored above
        // (through the mutex too); on failure, Acquire makes the answer visible.
        match self.state.compare_exchange(EMPTY, PARKED, Ordering::AcqRel, Ordering::Acquire) {
            Err(state) => state,
            Ok(_) => loop {
                thread::park();
                // Acquire: pairs with the responder's Release store of FILLED or ABANDONED.
                let state = self.state.load(Ordering::Acquire);
                if state != PARKED {
                    break state;
                }
            },
        }
    }

    /// Moves the slot to `to`; wakes the submitter if it parked. The last access to the slot.
    fn complete(&self, to: u32) {
        // Release: publishes the answer. Acquire on failure: sees the waiter the submitter left.
        // (The mutant build weakens it, for the loom models to catch; see docs/design.md.)
        let publish = if crate::sync::mutant::RELAXED_REPLY { Ordering::Relaxed } else { Ordering::Release };
        match self.state.compare_exchange(EMPTY, to, publish, Ordering::Acquire) {
            Ok(_) => {}
            Err(PARKED) => {
                // The submitter is parked and cannot leave before the store below, so the slot is
                // still there; the thread handle is taken out first because after the store it
                // may not be.
                let waiter = self.waiter.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                // Release: publishes the answer to the parked submitter.
                self.state.store(to, publish);
                if let Some(thread) = waiter {
                    thread.unpark();
                }
            }
            Err(other) => unreachable!("reply slot completed twice (state {other})"),
        }
    }
}

/// The owner's end of one reply: answering or dropping it completes the slot exactly once.
pub(crate) struct Responder {
    slot: NonNull<ReplySlot>,
}

// SAFETY: the slot is `Sync` and outlives the responder (module docs); the responder only hands
// the slot one answer.
unsafe impl Send for Responder {}

impl Responder {
    /// The round trip the submitter reported with this command: read before answering, since
    /// the submitter arms the slot again once it has its answer.
    pub(crate) fn round_trip(&self) -> u64 {
        // SAFETY: the slot outlives the responder (module docs).
        unsafe { self.slot.as_ref() }.round_trip.load(Ordering::Relaxed)
    }

    pub(crate) fn answer(self, answer: Answer) {
        // SAFETY: the slot outlives the responder (module docs).
        let slot = unsafe { self.slot.as_ref() };
        // SAFETY: the state is EMPTY or PARKED, so the submitter is not reading; this responder is
        // the only writer.
        slot.answer.with_mut(|cell| unsafe { (*cell).write(answer) });
        slot.complete(FILLED);
        std::mem::forget(self);
    }
}

impl Drop for Responder {
    /// Dropped unanswered: the owner stopped. The submitter learns it at once.
    fn drop(&mut self) {
        // SAFETY: the slot outlives the responder (module docs).
        unsafe { self.slot.as_ref() }.complete(ABANDONED);
    }
}
