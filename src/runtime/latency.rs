//! The vault's own latency: per-stage HdrHistograms recorded by the owner (and the handles and
//! the mirror thread), read by anyone through [`Reader::latency`](crate::Reader::latency).
//!
//! The owner records into a set of histograms it alone holds: nothing shared is touched while a
//! batch runs, and a record is an index computation and an increment into memory allocated at
//! start. Every [`FLUSH_EVERY`] of busy time, and whenever it is about to wait idle, the owner
//! swaps its full set for an empty spare and hands the full one over a channel to the
//! collector thread, which adds it to the running totals and returns it emptied. Neither side
//! ever waits for the other: with no spare at hand a busy owner keeps recording into the set it
//! has, and an owner about to park adds it to the totals itself, so nothing stays behind while
//! it sleeps. Timestamps come from the TSC through `quanta` (about 11 ns a read here, against 30 ns for
//! `Instant::now`); the owner reads the clock once per batch on its answer path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;

/// What the vault measures. Times are in nanoseconds; [`Metric::Batch`] and [`Metric::Depth`]
/// count commands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Metric {
    /// From a handle's enqueue to the start of the batch that takes the command.
    Queue,
    /// Applying a batch and answering it (when no journal holds the answers), per batch.
    Apply,
    /// The journal's write and sync of a batch, per batch (only with a data directory).
    Journal,
    /// Answering a journalled batch, capturing its snapshot and handing it to the mirrors.
    Publish,
    /// One write of the shared-memory mirror, on the mirror thread.
    Shm,
    /// A blocking submit as its caller sees it: enqueue to answer, measured on the handle.
    RoundTrip,
    /// Commands per batch.
    Batch,
    /// Commands waiting when a batch was taken: those it took, plus those left queued when it
    /// was full.
    Depth,
}

impl Metric {
    /// Every metric, in the order reports list them.
    pub const ALL: [Metric; 8] = [
        Metric::Queue,
        Metric::Apply,
        Metric::Journal,
        Metric::Publish,
        Metric::Shm,
        Metric::RoundTrip,
        Metric::Batch,
        Metric::Depth,
    ];

    /// The metric's name in reports, logs (the interval log's tag) and the mirrors.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Metric::Queue => "queue",
            Metric::Apply => "apply",
            Metric::Journal => "journal",
            Metric::Publish => "publish",
            Metric::Shm => "shm",
            Metric::RoundTrip => "round_trip",
            Metric::Batch => "batch",
            Metric::Depth => "depth",
        }
    }

    /// The metric named `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|metric| metric.name() == name)
    }

    /// What one sample of the metric is: a command's time, a batch's time, a mirror write's
    /// time, or a count of commands per batch (reports say it beside each row).
    #[must_use]
    pub fn sample(self) -> &'static str {
        match self {
            Metric::Queue | Metric::RoundTrip => "time per command",
            Metric::Apply | Metric::Journal | Metric::Publish => "time per batch",
            Metric::Shm => "time per mirror write",
            Metric::Batch => "commands per batch",
            Metric::Depth => "commands waiting per batch",
        }
    }

    /// `true` for a time in nanoseconds, `false` for a count of commands.
    #[must_use]
    pub fn is_time(self) -> bool {
        !matches!(self, Metric::Batch | Metric::Depth)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn histogram(self) -> Histogram<u64> {
        // Times from 1 ns to a minute, counts up to the largest channel; three significant
        // digits (0.1%), the HdrHistogram default.
        let high = if self.is_time() { 60_000_000_000 } else { 1 << 21 };
        Histogram::new_with_bounds(1, high, 3).expect("the bounds are valid")
    }
}

/// How often a busy owner hands its histograms over; a spinning idle one every tenth of that,
/// and one about to park at once.
pub const FLUSH_EVERY: Duration = Duration::from_millis(10);

/// One histogram per metric.
#[derive(Clone, Debug)]
pub(crate) struct Set([Histogram<u64>; Metric::ALL.len()]);

impl Set {
    fn new() -> Set {
        Set(Metric::ALL.map(Metric::histogram))
    }

    /// A set that records nothing, for a vault with recording off: a few bytes per histogram
    /// instead of ~216 KB (the loom models start thousands of vaults).
    fn off() -> Set {
        Set(Metric::ALL.map(|_| Histogram::new_with_bounds(1, 2, 1).expect("the bounds are valid")))
    }

    fn for_recording(enabled: bool) -> Set {
        if enabled {
            Set::new()
        } else {
            Set::off()
        }
    }

    fn record(&mut self, metric: Metric, value: u64) {
        self.0[metric.index()].saturating_record(value);
    }

    fn add(&mut self, other: &Set) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            // Same bounds on both sides: the addition cannot fail.
            let _ = mine.add(theirs);
        }
    }

    fn reset(&mut self) {
        for histogram in &mut self.0 {
            histogram.reset();
        }
    }
}

/// Percentiles of one metric, in its unit (nanoseconds or commands).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value recorded.
    pub max: u64,
}

impl Summary {
    /// The summary of `histogram` (all zero when it is empty).
    #[must_use]
    pub fn of(histogram: &Histogram<u64>) -> Summary {
        if histogram.is_empty() {
            return Summary::default();
        }
        Summary {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// Every metric's histogram since the vault started, from [`Reader::latency`](crate::Reader::latency).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig, Metric};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// for _ in 0..10 {
///     handle.allocate(BookId::new(0), 2, "1".parse()?)?;
/// }
/// let latency = handle.reader().latency();
/// let queue = latency.summary(Metric::Queue);
/// assert_eq!(queue.count, 10);
/// assert!(queue.p50 <= queue.p999 && queue.p999 <= queue.max);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Latency {
    set: Set,
    enabled: bool,
}

impl Latency {
    /// The histogram of `metric`: times in nanoseconds, counts in commands.
    #[must_use]
    pub fn histogram(&self, metric: Metric) -> &Histogram<u64> {
        &self.set.0[metric.index()]
    }

    /// The percentiles of `metric`.
    #[must_use]
    pub fn summary(&self, metric: Metric) -> Summary {
        Summary::of(self.histogram(metric))
    }

    /// Every metric with its percentiles, in [`Metric::ALL`] order.
    #[must_use]
    pub fn summaries(&self) -> [(Metric, Summary); Metric::ALL.len()] {
        Metric::ALL.map(|metric| (metric, self.summary(metric)))
    }

    /// `false` when the vault was built with recording off (every histogram stays empty).
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// What was recorded since `earlier` (an earlier report of the same vault): the latest
    /// interval.
    #[must_use]
    pub fn since(&self, earlier: &Latency) -> Latency {
        let mut set = self.set.clone();
        for (mine, theirs) in set.0.iter_mut().zip(&earlier.set.0) {
            // A later total holds every count of an earlier one; if `earlier` is from another
            // vault, the counts it lacks stay.
            let _ = mine.subtract(theirs);
        }
        Latency { set, enabled: self.enabled }
    }
}

/// The latency state every thread of one vault shares.
pub(crate) struct Shared {
    pub(crate) enabled: bool,
    pub(crate) clock: quanta::Clock,
    /// Full sets from the owner to the collector.
    full: (Sender<Box<Set>>, Receiver<Box<Set>>),
    /// Emptied sets back to the owner.
    spare: (Sender<Box<Set>>, Receiver<Box<Set>>),
    /// Everything collected since start.
    total: Mutex<Set>,
    /// Set by a reader that wants the owner's latest figures handed over now.
    wanted: AtomicBool,
    /// Set while the owner holds figures it has not handed over.
    holding: AtomicBool,
    /// The collector thread, woken by an owner that hands a set over before it parks.
    collector: std::sync::OnceLock<std::thread::Thread>,
}

/// Sets in circulation between the owner and the collector: the one the owner records into,
/// and spares.
const SETS: usize = 4;

impl Shared {
    pub(crate) fn new(enabled: bool) -> Shared {
        let full = crossbeam_channel::bounded(SETS);
        let spare = crossbeam_channel::bounded(SETS);
        if enabled {
            for _ in 1..SETS {
                let _ = spare.0.try_send(Box::new(Set::new()));
            }
        }
        Shared {
            enabled,
            clock: quanta::Clock::new(),
            full,
            spare,
            total: Mutex::new(Set::for_recording(enabled)),
            wanted: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            collector: std::sync::OnceLock::new(),
        }
    }

    /// The clock, or 0 when recording is off (no clock is read then).
    fn now(&self) -> u64 {
        if self.enabled {
            self.clock.raw()
        } else {
            0
        }
    }

    /// The owner's recorder: the set it records into first.
    pub(crate) fn recorder(self: &Arc<Self>) -> Recorder {
        let now = self.clock.raw();
        Recorder {
            shared: self.clone(),
            current: Box::new(Set::for_recording(self.enabled)),
            dirty: false,
            last_flush: now,
            flush_every: if self.enabled { ticks_in(&self.clock, FLUSH_EVERY) } else { 0 },
            batch_start: now,
        }
    }

    /// Adds every set the owner handed over to the totals and returns them emptied.
    pub(crate) fn collect(&self) {
        // The lock is taken before a set leaves the channel: a reader never finds the channel
        // empty while another collector holds a set it has not added yet.
        let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        while let Ok(mut set) = self.full.1.try_recv() {
            total.add(&set);
            set.reset();
            let _ = self.spare.0.try_send(set);
        }
    }

    /// Records a value measured off the owner thread (the mirror thread's writes).
    pub(crate) fn record(&self, metric: Metric, value: u64) {
        if self.enabled {
            self.total.lock().unwrap_or_else(PoisonError::into_inner).record(metric, value);
        }
    }

    /// Everything recorded so far. Asks the owner to hand over what it holds, and waits for it
    /// up to `FLUSH_EVERY` while the owner is running (an idle owner has handed it over already).
    pub(crate) fn latency(&self, running: impl Fn() -> bool) -> Latency {
        if self.enabled {
            self.wanted.store(true, Ordering::Relaxed);
            let deadline = std::time::Instant::now() + FLUSH_EVERY;
            loop {
                self.collect();
                // Acquire pairs with the owner's Release after its hand-over: seeing it done, the
                // next collect finds the set.
                if !self.holding.load(Ordering::Acquire)
                    || !running()
                    || std::time::Instant::now() >= deadline
                {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            self.collect();
        }
        let set = self.total.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Latency { set, enabled: self.enabled }
    }

    /// Every metric's percentiles from what was collected so far, without asking the owner and
    /// without copying the histograms (the mirror thread's summary).
    pub(crate) fn summaries(&self) -> [(Metric, Summary); Metric::ALL.len()] {
        self.collect();
        let total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        Metric::ALL.map(|metric| (metric, Summary::of(&total.0[metric.index()])))
    }

    /// The collector thread's loop: collects every `FLUSH_EVERY` until `stopped`, then once more.
    pub(crate) fn run_collector(&self, stopped: impl Fn() -> bool) {
        let _ = self.collector.set(std::thread::current());
        while !stopped() {
            std::thread::park_timeout(FLUSH_EVERY);
            self.collect();
        }
        self.collect();
    }
}

fn ticks_in(clock: &quanta::Clock, span: Duration) -> u64 {
    // The clock's ticks per nanosecond, measured over a short sleep-free spin.
    let start = clock.raw();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_micros(200) {
        std::hint::spin_loop();
    }
    let ticks = clock.raw().saturating_sub(start).max(1);
    let nanos = clock.delta_as_nanos(start, start + ticks).max(1);
    (span.as_nanos() as u64).saturating_mul(ticks) / nanos
}

/// The owner's side: stamps per batch, records at the batch's end, hands sets over.
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    current: Box<Set>,
    /// Something was recorded since the last hand-over.
    dirty: bool,
    last_flush: u64,
    flush_every: u64,
    batch_start: u64,
}

/// Clock readings of one batch.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchTimes {
    /// After every command was applied (and answered, without a journal).
    pub(crate) applied: u64,
    /// After the journal committed (equal to `applied` without one).
    pub(crate) committed: u64,
    /// After the journalled answers went out (equal to `committed` without a journal).
    pub(crate) answered: u64,
}

impl Recorder {
    pub(crate) fn enabled(&self) -> bool {
        self.shared.enabled
    }

    /// The clock, or 0 when recording is off.
    pub(crate) fn now(&self) -> u64 {
        self.shared.now()
    }

    /// A batch starts: its first command was just taken.
    pub(crate) fn batch_started(&mut self) {
        if self.shared.enabled {
            self.batch_start = self.shared.clock.raw();
            if !self.dirty {
                // Before any answer of the batch: a submitter that has its answer and asks for
                // the latency sees the owner holding figures, and waits for them.
                self.dirty = true;
                self.shared.holding.store(true, Ordering::Relaxed);
            }
        }
    }

    /// A command of the batch, with the stamps its handle sent: recorded at once, after the
    /// command was answered (off its round trip). A command taken while the owner lingered after
    /// its batch's first commands (`runtime::owner`) was sent after the batch started: its queue
    /// wait counts as 0, the owner having taken it as it arrived.
    pub(crate) fn command(&mut self, sent: u64, round_trip: u64) {
        if self.shared.enabled {
            let clock = &self.shared.clock;
            self.current.record(Metric::Queue, clock.delta_as_nanos(sent, self.batch_start));
            if round_trip > 0 {
                self.current.record(Metric::RoundTrip, clock.delta_as_nanos(0, round_trip));
            }
        }
    }

    /// A round trip a handle reported on its own (when it was dropped).
    pub(crate) fn round_trip(&mut self, round_trip: u64) {
        if self.shared.enabled {
            let ticks = self.shared.clock.delta_as_nanos(0, round_trip);
            self.current.record(Metric::RoundTrip, ticks);
        }
    }

    /// The batch is over (`commands` applied, `left` still queued if it was full): records it,
    /// and hands the set over if it is time.
    pub(crate) fn batch_ended(&mut self, times: BatchTimes, commands: usize, left: usize, journal: bool) {
        if !self.shared.enabled {
            return;
        }
        let clock = &self.shared.clock;
        let end = clock.raw();
        let start = self.batch_start;
        let set = &mut self.current;
        set.record(Metric::Apply, clock.delta_as_nanos(start, times.applied));
        if journal {
            set.record(Metric::Journal, clock.delta_as_nanos(times.applied, times.committed));
        }
        set.record(Metric::Publish, clock.delta_as_nanos(times.answered, end));
        set.record(Metric::Batch, commands as u64);
        set.record(Metric::Depth, (commands + left) as u64);
        if end.wrapping_sub(self.last_flush) >= self.flush_every || self.shared.wanted.load(Ordering::Relaxed)
        {
            let _ = self.flush(end);
        }
    }

    /// The owner has no command to take (called every few dozen polls while it spins, with
    /// `parking` before it parks): hands over what it holds if it is about to park, if a reader
    /// asked, or if a tenth of `FLUSH_EVERY` has passed, so readers see an idle vault's latest
    /// figures without waiting for the next batch.
    pub(crate) fn idle(&mut self, parking: bool) {
        if !self.shared.enabled || !self.dirty {
            return;
        }
        let now = self.shared.clock.raw();
        if parking {
            // About to park: nothing may stay behind while the owner sleeps. The collector is
            // woken to return the set at once (the owner is idle; the wake costs it a few µs),
            // and with no spare at hand the owner adds its figures to the totals itself.
            if self.flush(now) {
                if let Some(collector) = self.shared.collector.get() {
                    collector.unpark();
                }
            } else {
                self.merge();
            }
        } else if self.shared.wanted.load(Ordering::Relaxed)
            || now.wrapping_sub(self.last_flush) >= self.flush_every / 10
        {
            let _ = self.flush(now);
        }
    }

    /// Swaps the full set for a spare and sends it to the collector. Without a spare it does
    /// nothing and returns `false`: the owner keeps recording into the set it has.
    fn flush(&mut self, now: u64) -> bool {
        let Ok(spare) = self.shared.spare.1.try_recv() else { return false };
        let full = std::mem::replace(&mut self.current, spare);
        // `SETS` circulate and the channel holds as many: the send cannot find it full.
        let _ = self.shared.full.0.try_send(full);
        self.dirty = false;
        self.last_flush = now;
        self.shared.wanted.store(false, Ordering::Relaxed);
        // Release: a reader that sees this sees the set in the channel.
        self.shared.holding.store(false, Ordering::Release);
        true
    }

    /// Adds the owner's figures to the totals directly (tens of microseconds: every count of
    /// every histogram), for an owner about to park without a spare set, or leaving.
    fn merge(&mut self) {
        self.shared.total.lock().unwrap_or_else(PoisonError::into_inner).add(&self.current);
        self.current.reset();
        self.dirty = false;
        self.shared.wanted.store(false, Ordering::Relaxed);
        self.shared.holding.store(false, Ordering::Release);
    }

    /// The owner is leaving: adds what it holds to the totals.
    pub(crate) fn close(&mut self) {
        if self.shared.enabled && self.dirty {
            self.merge();
        }
    }
}

/// A handle's side: stamps its commands and measures its blocking submits' round trips, which it
/// reports with its next command.
#[derive(Clone)]
pub(crate) struct Stamper {
    shared: Arc<Shared>,
    /// The last round trip, in clock ticks, not yet reported (0: none).
    pub(crate) unreported: u64,
}

impl Stamper {
    pub(crate) fn new(shared: Arc<Shared>) -> Stamper {
        Stamper { shared, unreported: 0 }
    }

    /// The clock, or 0 when recording is off.
    pub(crate) fn now(&self) -> u64 {
        self.shared.now()
    }

    /// The round trip that started at `sent` ended now.
    pub(crate) fn answered(&mut self, sent: u64) {
        if self.shared.enabled {
            self.unreported = self.shared.clock.raw().saturating_sub(sent).max(1);
        }
    }

    /// Takes the unreported round trip, to send with a command.
    pub(crate) fn take(&mut self) -> u64 {
        std::mem::take(&mut self.unreported)
    }
}
