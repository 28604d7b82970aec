//! The owner-thread runtime: one thread applies every command; everyone else submits over a
//! bounded channel and reads immutable snapshots without waiting. See `docs/design.md`.

mod envelope;
mod error;
mod handle;
mod owner;
mod reader;
mod reply;
mod shared;

pub use envelope::DetachedOutcome;
pub use error::{SpawnError, Stopped, SubmitError, TrySubmitError};
pub use handle::{Handle, Receipt};
pub use reader::{Reader, SnapshotRef};

use crate::config::LedgerConfig;
use crate::ledger::Ledger;
use crate::snapshot::{Snapshot, Stats};
use crate::sync::channel;
use crate::sync::Arc;
use crate::wait::WaitStrategy;
use owner::Owner;
use shared::Shared;

/// A function the owner calls with each snapshot it publishes, on the owner thread, after the
/// snapshot is visible to readers. Keep it short: the next batch waits for it.
pub type PublishHook = Box<dyn FnMut(&Snapshot) + Send>;

/// Configures and starts a vault: a ledger served by its owner thread.
pub struct Builder {
    ledger: Ledger,
    capacity: usize,
    batch_max: usize,
    outcomes_max: usize,
    wait: WaitStrategy,
    reply_wait: WaitStrategy,
    core: Option<usize>,
    on_publish: Option<PublishHook>,
    #[cfg(not(capvault_loom))]
    mirrors: Mirrors,
}

/// Where the mirrors go.
#[cfg(not(capvault_loom))]
#[derive(Default)]
struct Mirrors {
    shm: Option<std::path::PathBuf>,
    json: Option<std::path::PathBuf>,
    interval: Option<std::time::Duration>,
}

impl Builder {
    /// The largest command channel accepted.
    pub const CAPACITY_MAX: usize = 1 << 20;
    /// The largest batch accepted.
    pub const BATCH_MAX_MAX: usize = 1 << 16;

    /// A builder serving `ledger`, with the defaults: a channel of 1024 commands, batches of up
    /// to 256, 1024 detached outcomes per handle, spin-then-park waits, no pinning.
    pub fn new(ledger: Ledger) -> Builder {
        Builder {
            ledger,
            capacity: 1024,
            batch_max: 256,
            outcomes_max: 1024,
            wait: WaitStrategy::default(),
            reply_wait: WaitStrategy::default(),
            core: None,
            on_publish: None,
            #[cfg(not(capvault_loom))]
            mirrors: Mirrors::default(),
        }
    }

    /// Mirrors the ledger into a seqlocked shared-memory file at `path` (for example
    /// `/dev/shm/capvault`), written by the owner after each published snapshot. The layout is in
    /// `docs/shm-layout.md`.
    #[cfg(not(capvault_loom))]
    pub fn mirror_shm(mut self, path: impl Into<std::path::PathBuf>) -> Builder {
        self.mirrors.shm = Some(path.into());
        self
    }

    /// Mirrors the ledger into `shared_pool.json` at `path` (seed 000's schema), written by a
    /// mirror thread at most once per interval and once more at shutdown.
    #[cfg(not(capvault_loom))]
    pub fn mirror_json(mut self, path: impl Into<std::path::PathBuf>) -> Builder {
        self.mirrors.json = Some(path.into());
        self
    }

    /// How often the mirror thread writes the JSON file and the shared-memory heartbeat
    /// (default 100 ms).
    #[cfg(not(capvault_loom))]
    pub fn mirror_interval(mut self, interval: std::time::Duration) -> Builder {
        self.mirrors.interval = Some(interval);
        self
    }

    /// A builder serving a ledger built from `config`.
    ///
    /// # Errors
    /// [`ConfigError`](crate::ConfigError) if the configuration is refused.
    pub fn from_config(config: &LedgerConfig) -> Result<Builder, crate::ConfigError> {
        Ok(Builder::new(Ledger::from_config(config)?))
    }

    /// Commands the channel holds before `submit` blocks and `try_submit` hands back
    /// (`1..=2^20`).
    pub fn capacity(mut self, capacity: usize) -> Builder {
        self.capacity = capacity;
        self
    }

    /// Commands applied per published snapshot at most (`1..=2^16`).
    pub fn batch_max(mut self, batch_max: usize) -> Builder {
        self.batch_max = batch_max;
        self
    }

    /// Outcomes of detached submissions each handle keeps until read (`1..=2^20`).
    pub fn outcomes_max(mut self, outcomes_max: usize) -> Builder {
        self.outcomes_max = outcomes_max;
        self
    }

    /// How the owner waits for commands.
    pub fn wait(mut self, wait: WaitStrategy) -> Builder {
        self.wait = wait;
        self
    }

    /// How a blocking `submit` waits for its answer.
    pub fn reply_wait(mut self, wait: WaitStrategy) -> Builder {
        self.reply_wait = wait;
        self
    }

    /// Pins the owner thread to this core (opt-in).
    pub fn pin_to_core(mut self, core: usize) -> Builder {
        self.core = Some(core);
        self
    }

    /// Calls `hook` with each published snapshot, on the owner thread.
    pub fn on_publish(mut self, hook: impl FnMut(&Snapshot) + Send + 'static) -> Builder {
        self.on_publish = Some(Box::new(hook));
        self
    }

    /// Starts the owner thread and returns the first handle.
    ///
    /// # Errors
    /// [`SpawnError`] for a setting out of range, a core that does not exist or cannot be
    /// pinned, or a thread that cannot be spawned.
    pub fn spawn(self) -> Result<Handle, SpawnError> {
        let check = |name, value: usize, max: usize| {
            if value == 0 || value > max {
                Err(SpawnError::Setting { name, reason: "out of range" })
            } else {
                Ok(())
            }
        };
        check("capacity", self.capacity, Self::CAPACITY_MAX)?;
        check("batch_max", self.batch_max, Self::BATCH_MAX_MAX)?;
        check("outcomes_max", self.outcomes_max, Self::CAPACITY_MAX)?;
        let core = match self.core {
            Some(core) => Some(find_core(core)?),
            None => None,
        };

        let (commands_tx, commands_rx) = channel::bounded(self.capacity);
        let snapshot = Snapshot::capture(&self.ledger, 0, Stats::default());
        #[cfg(not(capvault_loom))]
        let shm = match &self.mirrors.shm {
            None => None,
            Some(path) => {
                let limits = self.ledger.limits();
                let geometry = crate::shm::Geometry {
                    books_max: usize::from(limits.books_max),
                    orders_max: limits.orders_max as usize,
                };
                let writer = crate::shm::ShmWriter::create(path, geometry).map_err(SpawnError::Shm)?;
                writer.write(&snapshot);
                Some(std::sync::Arc::new(writer))
            }
        };
        let shared = Arc::new(Shared::new(snapshot, commands_rx.clone()));
        let owner = Owner {
            ledger: self.ledger,
            commands: commands_rx,
            shared: shared.clone(),
            wait: self.wait,
            batch_max: self.batch_max,
            on_publish: self.on_publish,
            seq: 0,
            stats: Stats::default(),
            #[cfg(not(capvault_loom))]
            shm: shm.clone(),
        };
        let thread = match core {
            None => crate::sync::spawn("capvault-owner", move || owner.run()),
            Some(core) => {
                // Pinning happens on the new thread; it reports back before serving so a core that
                // cannot be pinned is an error here, not a silently unpinned owner.
                let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<bool>(1);
                let thread = crate::sync::spawn("capvault-owner", move || {
                    let pinned = pin(core);
                    let _ = ready_tx.send(pinned);
                    if pinned {
                        owner.run();
                    }
                })
                .map_err(SpawnError::Spawn)?;
                if !ready_rx.recv().unwrap_or(false) {
                    let _ = thread.join();
                    let core = self.core.unwrap_or_default();
                    let available = core_affinity_count();
                    return Err(SpawnError::CoreNotFound { core, available });
                }
                Ok(thread)
            }
        }
        .map_err(SpawnError::Spawn)?;
        *shared.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        #[cfg(not(capvault_loom))]
        if shm.is_some() || self.mirrors.json.is_some() {
            let stop = std::sync::Arc::new(crate::sync::AtomicBool::new(false));
            let mirror = crate::mirror::Mirror {
                reader: Reader::new(shared.clone()),
                json: self.mirrors.json,
                shm,
                interval: self.mirrors.interval.unwrap_or(std::time::Duration::from_millis(100)),
                stats: shared.mirror_stats.clone(),
            };
            let flag = stop.clone();
            // Acquire: pairs with the Release store in `stop_mirror`.
            let thread = std::thread::Builder::new()
                .name("capvault-mirror".into())
                .spawn(move || mirror.run(&|| flag.load(crate::sync::Ordering::Acquire)))
                .map_err(SpawnError::Spawn)?;
            *shared.mirror.lock().unwrap_or_else(|e| e.into_inner()) = Some((thread, stop));
        }
        Ok(Handle::new(commands_tx, shared, self.outcomes_max, self.reply_wait))
    }
}

#[cfg(not(capvault_loom))]
type CoreId = core_affinity::CoreId;
#[cfg(capvault_loom)]
type CoreId = usize;

/// Cores above this are refused before trying: the affinity mask has 1024 bits.
#[cfg(not(capvault_loom))]
const CORES_MAX: usize = 1024;

/// The core to pin to. The cores listed are those this process may run on now (its affinity
/// mask); a core outside the list may still exist, so pinning is tried and its failure reported.
#[cfg(not(capvault_loom))]
fn find_core(core: usize) -> Result<CoreId, SpawnError> {
    if core >= CORES_MAX {
        let available = core_affinity::get_core_ids().map_or(0, |cores| cores.len());
        return Err(SpawnError::CoreNotFound { core, available });
    }
    Ok(core_affinity::CoreId { id: core })
}

#[cfg(not(capvault_loom))]
fn pin(core: CoreId) -> bool {
    core_affinity::set_for_current(core)
}

#[cfg(not(capvault_loom))]
fn core_affinity_count() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

#[cfg(capvault_loom)]
fn core_affinity_count() -> usize {
    0
}

#[cfg(capvault_loom)]
fn find_core(core: usize) -> Result<CoreId, SpawnError> {
    Ok(core)
}

#[cfg(capvault_loom)]
fn pin(_core: CoreId) -> bool {
    true
}
