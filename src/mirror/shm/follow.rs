//! The shared-memory mirror thread, and the owner's stage that wakes it.
//!
//! The owner does not write the file: a thread beside it follows the published snapshots and
//! writes what changed since its last write, at most once per `gap`. Two reasons, both measured
//! (`docs/design.md`, "The shared-memory mirror"): the owner's round trip no longer pays for the
//! file, and a reader copying a large file (16,000 orders are 1 MiB) needs quiet time between
//! two writes to finish a copy; a writer that wrote after every batch of a busy producer left
//! none, and most reads came back `Busy`.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::mirror::shm::ShmWriter;
use crate::runtime::Metric;
use crate::runtime::{Reader, Snapshot, Stage};

/// Rounds of `gap` with nothing new before the thread parks until the owner wakes it.
const QUIET_ROUNDS: u32 = 4;

/// While every round finds at least `BUSY_COMMANDS` new commands (a vault under sustained
/// load), the pause between two writes doubles up to this many `gap`s: each write wakes this
/// thread on a core that a spinning owner or submitter is using, and the fewer such wakes, the
/// fewer round trips they delay (docs/design.md, "The shared-memory mirror"). A round with fewer
/// brings it back to `gap`.
const BUSY_GAPS_MAX: u32 = 8;

/// Commands between two writes that make a vault busy: 256 in a 500 µs gap is half a million
/// commands a second. A vault that applies a command every few hundred microseconds is not busy:
/// its mirror stays one gap behind.
const BUSY_COMMANDS: u64 = 256;

/// What the owner's stage and the mirror thread share.
#[derive(Default)]
pub(crate) struct Signal {
    /// The thread is parked (or about to be) and wants a wake-up at the next publish.
    idle: AtomicBool,
    thread: OnceLock<Thread>,
    /// Set once the vault is running: the owner's final write reads the last snapshot here.
    reader: OnceLock<Reader>,
}

impl Signal {
    /// Wakes the thread if it went idle. Costs one load on the owner's path when it did not.
    fn wake(&self) {
        // SeqCst fence: with the thread's fence in `run`, either this load sees it idle or the
        // thread's next look sees the snapshot just published (the two-flag handshake).
        fence(Ordering::SeqCst);
        // Relaxed: the fence orders it; the swap makes one waker out of racing publishes.
        if self.idle.load(Ordering::Relaxed) && self.idle.swap(false, Ordering::Relaxed) {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }
}

/// The owner's stage: wakes an idle mirror thread at a publish, and when the owner leaves writes
/// the final snapshot itself before it marks the file closed (or failed), so a reader that sees
/// "closed" reads the final figures.
pub(crate) struct ShmStage {
    pub(crate) writer: Arc<ShmWriter>,
    pub(crate) signal: Arc<Signal>,
}

impl Stage for ShmStage {
    fn published(&mut self, _snapshot: &Snapshot) {
        self.signal.wake();
    }

    fn close(&mut self, orderly: bool) {
        if let Some(reader) = self.signal.reader.get() {
            self.writer.follow(&reader.snapshot_arc());
        }
        if orderly {
            self.writer.close();
        } else {
            self.writer.fail();
        }
    }
}

/// The mirror thread's settings.
pub(crate) struct Follower {
    pub(crate) writer: Arc<ShmWriter>,
    pub(crate) signal: Arc<Signal>,
    pub(crate) reader: Reader,
    /// The shortest time between two writes.
    pub(crate) gap: Duration,
    /// How often the heartbeat is stamped.
    pub(crate) heartbeat: Duration,
    /// Run as a background thread (`Builder::mirrors_in_background`).
    pub(crate) background: bool,
}

impl Follower {
    /// Hands the reader to the owner's stage, for its final write.
    pub(crate) fn new(writer: Arc<ShmWriter>, signal: Arc<Signal>, reader: Reader) -> Follower {
        let _ = signal.reader.set(reader.clone());
        Follower {
            writer,
            signal,
            reader,
            gap: Duration::from_micros(500),
            heartbeat: Duration::from_millis(100),
            background: true,
        }
    }

    /// Follows the snapshots until `stop`, then writes once more.
    pub(crate) fn run(self, stop: &dyn Fn() -> bool) {
        let _ = self.signal.thread.set(std::thread::current());
        // Background only if the thread may come back for its writes: a write holds the
        // sequence odd, and a background thread preempted mid-write would keep readers waiting
        // for as long as the cores stay busy.
        let background = self.background
            && crate::platform::may_leave_background()
            && crate::platform::set_background(true);
        let mut writing = |started: bool| {
            if background {
                crate::platform::set_background(!started);
            }
        };
        let mut beat: Option<Instant> = None;
        let mut quiet = 0;
        let mut pause = self.gap;
        let mut written = 0;
        loop {
            let finishing = stop() || self.reader.stopped().is_some();
            let started = Instant::now();
            let snapshot = self.reader.snapshot_arc();
            let wrote = self.writer.follow_with(&snapshot, &mut writing);
            let latency = self.reader.latency_shared();
            if wrote {
                latency.record(Metric::Shm, started.elapsed().as_nanos() as u64);
            }
            if finishing || beat.is_none_or(|at| at.elapsed() >= self.heartbeat) {
                if latency.enabled {
                    self.writer.write_latency(&latency.summaries());
                }
                self.writer.heartbeat();
                beat = Some(Instant::now());
            }
            if finishing {
                return;
            }
            // Many commands since the last write: the vault is busy, the pause grows.
            let busy = wrote && snapshot.seq().saturating_sub(written) >= BUSY_COMMANDS;
            pause = if busy { (pause * 2).min(self.gap * BUSY_GAPS_MAX) } else { self.gap };
            if wrote {
                written = snapshot.seq();
            }
            quiet = if wrote { 0 } else { quiet + 1 };
            if quiet < QUIET_ROUNDS {
                std::thread::sleep(pause);
                continue;
            }
            // Relaxed store, then the SeqCst fence that pairs with the owner's in `Signal::wake`.
            self.signal.idle.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if !self.writer.holds(&self.reader.snapshot_arc()) || stop() {
                self.signal.idle.store(false, Ordering::Relaxed);
                continue;
            }
            std::thread::park_timeout(self.heartbeat);
            self.signal.idle.store(false, Ordering::Relaxed);
        }
    }
}
