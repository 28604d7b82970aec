//! How a thread waits for a message: the owner for commands, a submitter for its reply.

use std::time::Duration;
use std::time::Instant;

use crate::runtime::envelope::Envelope;
use crate::runtime::inbox::{Inbox, Parked};
use crate::sync::channel::Receiver;
use crate::sync::channel::TryRecvError;

/// How a waiting thread spends its time.
///
/// On a machine where a parked thread takes milliseconds to wake (a virtual CPU that sleeps; about
/// 4 ms measured here), only spinning gives microsecond latency, and a spinning thread takes a
/// whole core. See `docs/performance.md` for what each costs.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use capvault::{Builder, Ledger, Limits, WaitStrategy};
/// let handle = Builder::new(Ledger::new(Limits::default())?)
///     .wait(WaitStrategy::SpinPark { spin: Duration::from_micros(50) })   // the default
///     .reply_wait(WaitStrategy::Blocking)                                 // a script that can wait
///     .spawn()?;
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WaitStrategy {
    /// Polls without pause. Lowest latency; burns its core even when idle. For a dedicated,
    /// pinned core.
    BusySpin,
    /// Polls for `spin`, then polls with `yield_now` between tries. Latency near busy-spin while
    /// the other threads on the core are idle; still burns CPU.
    SpinYield {
        /// How long to poll before yielding.
        spin: Duration,
    },
    /// Polls for `spin`, then parks until woken. Busy traffic is served at spinning latency;
    /// a quiet period costs one wake-up (microseconds on bare metal, milliseconds here).
    SpinPark {
        /// How long to poll before parking.
        spin: Duration,
    },
    /// Parks at once. No CPU when idle; every message pays a wake-up.
    Blocking,
}

impl Default for WaitStrategy {
    /// Spin for 50 µs, then park: a machine that is not dedicated keeps its cores, and a stream
    /// of commands closer together than 50 µs never parks.
    fn default() -> WaitStrategy {
        WaitStrategy::SpinPark { spin: Duration::from_micros(50) }
    }
}

/// Polls between clock reads: `Instant::now()` costs tens of nanoseconds.
const POLLS_PER_CLOCK_READ: u32 = 64;

/// Waits for the next message on `rx` the way `strategy` says. `None` once the channel is
/// empty and every sender is gone.
/// Also calls `idle(false)` every `POLLS_PER_CLOCK_READ` empty polls while it spins and
/// `idle(true)` before it parks (the owner hands its latency figures over then).
pub(crate) fn recv_idle<T>(
    rx: &Receiver<T>,
    strategy: WaitStrategy,
    idle: &mut dyn FnMut(bool),
) -> Option<T> {
    if crate::sync::MODELLED {
        // Loom has no clock; a blocking receive keeps the models small and explores the same
        // hand-offs.
        return rx.recv().ok();
    }
    match strategy {
        WaitStrategy::BusySpin => {
            let mut polls = 0_u32;
            loop {
                match rx.try_recv() {
                    Ok(message) => return Some(message),
                    Err(TryRecvError::Empty) => {
                        polls = polls.wrapping_add(1);
                        if polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
                            idle(false);
                        }
                        crate::sync::spin_loop();
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            }
        }
        WaitStrategy::SpinYield { spin } => match spin_for(rx, spin, idle) {
            Ok(message) => Some(message),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => loop {
                match rx.try_recv() {
                    Ok(message) => return Some(message),
                    Err(TryRecvError::Empty) => {
                        idle(false);
                        crate::sync::thread::yield_now();
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            },
        },
        WaitStrategy::SpinPark { spin } => match spin_for(rx, spin, idle) {
            Ok(message) => Some(message),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                idle(true);
                rx.recv().ok()
            }
        },
        WaitStrategy::Blocking => match rx.try_recv() {
            Ok(message) => Some(message),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                idle(true);
                rx.recv().ok()
            }
        },
    }
}

/// [`recv_idle`] for an owner with an inbox: polls the inbox and the channel in turn, the
/// inbox first (a busy channel cannot starve other processes), and parks through the inbox,
/// which wakes on either.
pub(crate) fn recv_with_inbox(
    rx: &Receiver<Envelope>,
    strategy: WaitStrategy,
    idle: &mut dyn FnMut(bool),
    inbox: &mut dyn Inbox,
) -> Option<Envelope> {
    let window = match strategy {
        WaitStrategy::BusySpin => None,
        WaitStrategy::SpinYield { spin } | WaitStrategy::SpinPark { spin } => Some(spin),
        WaitStrategy::Blocking => Some(Duration::ZERO),
    };
    let parks = matches!(strategy, WaitStrategy::SpinPark { .. } | WaitStrategy::Blocking);
    let mut clock = window.map(SpinClock::new);
    let (mut polls, mut past) = (0_u32, false);
    loop {
        if let Some(envelope) = inbox.poll() {
            return Some(envelope);
        }
        match rx.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
            idle(false);
        }
        past = past || clock.as_mut().is_some_and(|clock| clock.window.is_zero() || clock.expired());
        if !past {
            crate::sync::spin_loop();
        } else if parks {
            idle(true);
            match inbox.park(rx) {
                Parked::Envelope(message) => return Some(message),
                Parked::Disconnected => return None,
                Parked::Rang => {
                    clock = window.map(SpinClock::new);
                    past = false;
                }
            }
        } else {
            crate::sync::thread::yield_now();
        }
    }
}

/// Polls `ready` the way `strategy` spins: forever for busy-spin, then with yields for
/// spin-yield (both return `true` once ready), for the spin window for spin-park (then `false`:
/// the caller parks), not at all for blocking.
pub(crate) fn spin_until(strategy: WaitStrategy, mut ready: impl FnMut() -> bool) -> bool {
    if crate::sync::MODELLED {
        // One look, then the caller parks, which explores the slow path.
        return ready();
    }
    let spin_window = |window: Duration, ready: &mut dyn FnMut() -> bool| {
        let mut clock = SpinClock::new(window);
        loop {
            if ready() {
                return true;
            }
            if clock.expired() {
                return false;
            }
            crate::sync::spin_loop();
        }
    };
    match strategy {
        WaitStrategy::BusySpin => loop {
            if ready() {
                return true;
            }
            crate::sync::spin_loop();
        },
        WaitStrategy::SpinYield { spin } => {
            if spin_window(spin, &mut ready) {
                return true;
            }
            loop {
                if ready() {
                    return true;
                }
                crate::sync::thread::yield_now();
            }
        }
        WaitStrategy::SpinPark { spin } => spin_window(spin, &mut ready),
        WaitStrategy::Blocking => ready(),
    }
}

/// Polls `rx` for up to `window`.
fn spin_for<T>(rx: &Receiver<T>, window: Duration, idle: &mut dyn FnMut(bool)) -> Result<T, TryRecvError> {
    let mut clock = SpinClock::new(window);
    loop {
        match rx.try_recv() {
            Err(TryRecvError::Empty) => {}
            other => return other,
        }
        if clock.polls.wrapping_add(1).is_multiple_of(POLLS_PER_CLOCK_READ) {
            idle(false);
        }
        if clock.expired() {
            return Err(TryRecvError::Empty);
        }
        crate::sync::spin_loop();
    }
}

/// Times a spin window cheaply: the clock is read every `POLLS_PER_CLOCK_READ` polls, and the
/// window starts at the first read, so a message that arrives within the first polls (the common
/// case under load) costs no clock read at all.
struct SpinClock {
    window: Duration,
    polls: u32,
    start: Option<Instant>,
}

impl SpinClock {
    fn new(window: Duration) -> SpinClock {
        SpinClock { window, polls: 0, start: None }
    }

    fn expired(&mut self) -> bool {
        self.polls = self.polls.wrapping_add(1);
        if !self.polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
            return false;
        }
        match self.start {
            None => {
                self.start = Some(Instant::now());
                false
            }
            Some(start) => start.elapsed() >= self.window,
        }
    }
}
