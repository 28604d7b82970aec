//! The runtime core: one owner thread applies every command; everyone else submits over a
//! bounded channel and reads immutable snapshots without waiting. It knows no files: the journal
//! and the mirrors plug in as [`Stage`]s, wired by the vault's builder. See `docs/design.md`.

mod envelope;
mod error;
mod handle;
mod inbox;
pub(crate) mod latency;
mod orders;
mod owner;
mod reader;
mod reply;
mod shared;
pub(crate) mod snapshot;
mod stage;
pub(crate) mod typed;
pub(crate) mod wait;

pub use envelope::DetachedOutcome;
pub(crate) use envelope::{Envelope, Keyed, LinkedReply, LinkedTo, ReplyTo};
pub use error::{
    LinkedError, Refusal, ShutdownError, StartError, Stopped, SubmitError, TrySubmitError, WaitError,
};
pub use handle::{Handle, LinkedReceipt, Receipt};
pub(crate) use inbox::{Inbox, Parked, RemoteReply};
pub use latency::{Latency, Metric, Summary};
pub(crate) use orders::Change as OrderChange;
pub use orders::Iter as Orders;
pub use reader::{Reader, SnapshotRef};
pub(crate) use shared::Companion;
use snapshot::PublishedBooks;
pub use snapshot::{Snapshot, Stats};
pub(crate) use stage::{HookStage, Stage, StageFailure};
pub use typed::{
    Balance, Cancellation, CumulativeFill, FillReport, HealthReport, Reservation, ResetReport,
    SecuritiesReport, SignalReport,
};
pub use wait::WaitStrategy;
#[cfg(feature = "nats")]
pub(crate) use {
    envelope::{LinkedAnswer, Notified, Notify},
    reply::Answer as ReplyAnswer,
};

use crate::ledger::Ledger;
use crate::sync::channel;
use crate::sync::Arc;
use owner::Owner;
use shared::Shared;

/// A function the owner calls with each snapshot it publishes, on the owner thread, after the
/// snapshot is visible to readers. Keep it short: the next batch waits for it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use capvault::{Builder, Ledger, Limits};
/// let published = Arc::new(AtomicU64::new(0));
/// let seen = published.clone();
/// let handle = Builder::new(Ledger::new(Limits::default())?)
///     .on_publish(move |snapshot| seen.store(snapshot.seq(), Ordering::Relaxed))
///     .spawn()?;
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
pub type PublishHook = Box<dyn FnMut(&Snapshot) + Send>;

/// The runtime core's settings: what the owner thread serves and how. The vault's
/// [`Builder`](crate::Builder) holds one and adds the stages; the loom models use it alone.
#[must_use = "a builder does nothing until `spawn`"]
pub struct CoreBuilder {
    ledger: Ledger,
    seq: u64,
    capacity: usize,
    batch_max: usize,
    outcomes_max: usize,
    wait: WaitStrategy,
    /// `None`: the default, which depends on the stages (`CoreBuilder::reply_wait`).
    reply_wait: Option<WaitStrategy>,
    core: Option<usize>,
    stages: Vec<Box<dyn Stage>>,
    inbox: Option<Box<dyn Inbox>>,
    on_publish: Option<PublishHook>,
    record_latency: bool,
}

impl CoreBuilder {
    /// The largest command channel accepted.
    pub const CAPACITY_MAX: usize = 1 << 20;
    /// The largest batch accepted.
    pub const BATCH_MAX_MAX: usize = 1 << 16;

    /// Serves `ledger` with the defaults: a channel of 1024 commands, batches of up to 256, 1024
    /// detached outcomes per handle, spin-then-park waits, no pinning.
    pub fn new(ledger: Ledger) -> CoreBuilder {
        CoreBuilder {
            ledger,
            seq: 0,
            capacity: 1024,
            batch_max: 256,
            outcomes_max: 1024,
            wait: WaitStrategy::default(),
            reply_wait: None,
            core: None,
            stages: Vec::new(),
            inbox: None,
            on_publish: None,
            record_latency: true,
        }
    }

    /// Whether the vault records its latency (on by default; see [`Reader::latency`]). Off, the
    /// owner and the handles read no clock and every histogram stays empty.
    pub fn record_latency(mut self, record: bool) -> CoreBuilder {
        self.record_latency = record;
        self
    }

    /// Commands the channel holds before `submit` blocks (`1..=2^20`).
    pub fn capacity(mut self, capacity: usize) -> CoreBuilder {
        self.capacity = capacity;
        self
    }

    /// Commands applied per published snapshot at most (`1..=2^16`).
    pub fn batch_max(mut self, batch_max: usize) -> CoreBuilder {
        self.batch_max = batch_max;
        self
    }

    /// Outcomes of detached submissions each handle keeps until read (`1..=2^20`).
    pub fn outcomes_max(mut self, outcomes_max: usize) -> CoreBuilder {
        self.outcomes_max = outcomes_max;
        self
    }

    /// How the owner waits for commands.
    pub fn wait(mut self, wait: WaitStrategy) -> CoreBuilder {
        self.wait = wait;
        self
    }

    /// How a blocking `submit` waits for its answer. By default it spins 50 µs and then parks
    /// ([`WaitStrategy::default`]), and parks at once when answers wait for an `fsync`
    /// ([`WaitStrategy::Blocking`]): a sync takes 100-250 µs, and N submitters spinning through
    /// it would take the cores the owner and the others need (docs/performance.md, "Group
    /// commit").
    pub fn reply_wait(mut self, wait: WaitStrategy) -> CoreBuilder {
        self.reply_wait = Some(wait);
        self
    }

    /// Pins the owner thread to this core (opt-in).
    pub fn pin_to_core(mut self, core: usize) -> CoreBuilder {
        self.core = Some(core);
        self
    }

    /// Calls `hook` with each published snapshot, on the owner thread, after every other stage.
    pub fn on_publish(mut self, hook: impl FnMut(&Snapshot) + Send + 'static) -> CoreBuilder {
        self.on_publish = Some(Box::new(hook));
        self
    }

    /// The ledger to serve.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Replaces the ledger and its sequence (a recovered one).
    pub(crate) fn recovered(&mut self, ledger: Ledger, seq: u64) {
        self.ledger = ledger;
        self.seq = seq;
    }

    /// Adds a stage after those already added.
    pub(crate) fn stage(&mut self, stage: Box<dyn Stage>) {
        self.stages.push(stage);
    }

    /// Plugs in an inbox the owner polls beside its channel (the gateway).
    #[allow(dead_code, reason = "the vault's builder plugs in the gateway; the loom build has none")]
    pub(crate) fn inbox(&mut self, inbox: Box<dyn Inbox>) {
        self.inbox = Some(inbox);
    }

    /// The first snapshot the vault will show.
    pub(crate) fn first_snapshot(&self) -> Snapshot {
        Snapshot::capture(&self.ledger, self.seq, self.first_stats())
    }

    /// Every accepted command advanced the sequence by one: after recovery the count of accepted
    /// commands is the sequence (rejections and repeats since the first start are not
    /// journalled, so they count from this start).
    fn first_stats(&self) -> Stats {
        Stats { accepted: self.seq, ..Stats::default() }
    }

    /// Refuses a setting out of range, or a core that cannot exist, before anything is started.
    ///
    /// # Errors
    /// [`StartError::Setting`] or [`StartError::CoreNotFound`].
    pub(crate) fn check(&self) -> Result<(), StartError> {
        let check = |name, value: usize, max: usize| {
            if value == 0 || value > max {
                Err(StartError::Setting { name, reason: "out of range" })
            } else {
                Ok(())
            }
        };
        check("capacity", self.capacity, Self::CAPACITY_MAX)?;
        check("batch_max", self.batch_max, Self::BATCH_MAX_MAX)?;
        check("outcomes_max", self.outcomes_max, Self::CAPACITY_MAX)?;
        match self.core {
            // The affinity mask has 1024 bits; a core below that but outside this process's mask
            // may still exist, so pinning is tried and its failure reported.
            Some(core) if core >= CORES_MAX => {
                Err(StartError::CoreNotFound { core, available: crate::sync::cores_available() })
            }
            _ => Ok(()),
        }
    }

    /// Starts the owner thread and returns the first handle.
    ///
    /// # Errors
    /// [`StartError`] for a setting out of range, a core that does not exist or cannot be
    /// pinned, or a thread that cannot be spawned.
    #[allow(dead_code, reason = "the vault's builder calls `start`; the loom models call this")]
    pub fn spawn(self) -> Result<Handle, StartError> {
        self.start(None)
    }

    /// Starts the owner thread with `companion` beside it (stopped after the owner by
    /// `shutdown`), and returns the first handle.
    pub(crate) fn start(mut self, companion: Option<Box<dyn Companion>>) -> Result<Handle, StartError> {
        self.check()?;
        let (commands_tx, commands_rx) = channel::bounded(self.capacity);
        // The first snapshot's order table and book copies are the owner's to start from.
        let orders = orders::OrderTable::from_orders(self.ledger.orders());
        let mut published_books = PublishedBooks::default();
        let first = Snapshot::capture_reusing(
            &self.ledger,
            self.seq,
            self.first_stats(),
            &mut published_books,
            &orders,
        );
        // Loom cannot model the clock or the collector thread: the models run with recording off.
        let latency =
            std::sync::Arc::new(latency::Shared::new(self.record_latency && !crate::sync::MODELLED));
        let shared = Arc::new(Shared::new(first, commands_rx.clone(), latency.clone()));
        if let Some(companion) = companion {
            // A new cell: the set cannot fail.
            let _ = shared.companion.set(companion);
        }
        if let Some(hook) = self.on_publish.take() {
            self.stages.push(Box::new(HookStage(hook)));
        }
        let (core, outcomes_max, reply_wait) = (self.core, self.outcomes_max, self.reply_wait);
        let holds_answers = self.stages.iter().any(|stage| stage.holds_answers());
        let syncs = self.stages.iter().any(|stage| stage.syncs());
        let reply_wait =
            reply_wait.unwrap_or(if syncs { WaitStrategy::Blocking } else { WaitStrategy::default() });
        let owner = Owner {
            commands: commands_rx,
            shared: shared.clone(),
            wait: self.wait,
            batch_max: self.batch_max,
            seq: self.seq,
            stats: self.first_stats(),
            pending: Vec::with_capacity(self.batch_max),
            ledger: self.ledger,
            stages: self.stages,
            inbox: self.inbox,
            holds_answers,
            orderly: false,
            published_books,
            orders,
            orders_named: Vec::with_capacity(self.batch_max),
            orders_reset: false,
            latency: latency.recorder(),
            retired: None,
            commit_time: std::time::Duration::ZERO,
            garbage: orders::Garbage::with_capacity(owner::GARBAGE_HELD),
            answered: [0, 0],
        };
        let thread = spawn_owner(owner, core)?;
        *shared.join.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(thread);
        if latency.enabled {
            let stopped = shared.clone();
            let collector = std::thread::Builder::new()
                .name("capvault-latency".to_owned())
                .spawn(move || latency.run_collector(|| stopped.stopped().is_some()))
                .map_err(StartError::Spawn)?;
            *shared.collector.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(collector);
        }
        Ok(Handle::new(commands_tx, shared, outcomes_max, reply_wait))
    }
}

/// Cores above this are refused before trying: the affinity mask has 1024 bits.
const CORES_MAX: usize = 1024;

/// Spawns the owner thread, pinned if asked. Pinning happens on the new thread; it reports back
/// before serving, so a core that cannot be pinned is an error here, not a silently unpinned
/// owner.
fn spawn_owner(owner: Owner, core: Option<usize>) -> Result<crate::sync::thread::JoinHandle<()>, StartError> {
    let Some(core) = core else {
        return crate::sync::spawn("capvault-owner", move || owner.run()).map_err(StartError::Spawn);
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<bool>(1);
    let thread = crate::sync::spawn("capvault-owner", move || {
        let pinned = crate::sync::pin_current(core);
        let _ = ready_tx.send(pinned);
        if pinned {
            owner.run();
        }
    })
    .map_err(StartError::Spawn)?;
    if !ready_rx.recv().unwrap_or(false) {
        let _ = thread.join();
        return Err(StartError::CoreNotFound { core, available: crate::sync::cores_available() });
    }
    Ok(thread)
}

impl std::fmt::Debug for CoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreBuilder")
            .field("seq", &self.seq)
            .field("capacity", &self.capacity)
            .field("batch_max", &self.batch_max)
            .field("outcomes_max", &self.outcomes_max)
            .field("wait", &self.wait)
            .field("reply_wait", &self.reply_wait)
            .field("core", &self.core)
            .field("stages", &self.stages.len())
            .field("record_latency", &self.record_latency)
            .finish_non_exhaustive()
    }
}
