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
pub use error::{ShutdownError, SpawnError, Stopped, SubmitError, TrySubmitError};
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
    #[cfg(not(capvault_loom))]
    storage: Storage,
}

/// Where the journal and checkpoints go, and how durable answers are.
#[cfg(not(capvault_loom))]
struct Storage {
    dir: Option<std::path::PathBuf>,
    durability: crate::journal::Durability,
    checkpoint_every: u64,
    checkpoint_interval: std::time::Duration,
    access: crate::platform::FileAccess,
    drift: crate::drift::DriftPolicy,
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
            #[cfg(not(capvault_loom))]
            storage: Storage {
                dir: None,
                durability: crate::journal::Durability::FsyncBatch,
                checkpoint_every: 100_000,
                checkpoint_interval: std::time::Duration::from_secs(60),
                access: crate::platform::FileAccess::Owner,
                drift: crate::drift::DriftPolicy::Refuse,
            },
        }
    }

    /// Journals every accepted command in `dir` and checkpoints the ledger there; at spawn,
    /// recovers from `dir` if it holds state (the recovered ledger replaces the one given to the
    /// builder). The default durability with a data directory is `FsyncBatch`.
    #[cfg(not(capvault_loom))]
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Builder {
        self.storage.dir = Some(dir.into());
        self
    }

    /// How durable an answer is (`docs/durability.md`). `None` keeps the data directory
    /// unused.
    #[cfg(not(capvault_loom))]
    pub fn durability(mut self, durability: crate::journal::Durability) -> Builder {
        self.storage.durability = durability;
        self
    }

    /// Checkpoints after every `commands` accepted commands or `interval`, whichever comes
    /// first (default 100,000 and 60 s).
    #[cfg(not(capvault_loom))]
    pub fn checkpoint_every(mut self, commands: u64, interval: std::time::Duration) -> Builder {
        self.storage.checkpoint_every = commands.max(1);
        self.storage.checkpoint_interval = interval;
        self
    }

    /// Who may read the files the vault creates (data folder, journal, checkpoints, mirrors):
    /// the owner only by default (folders 0700, files 0600, whatever the umask), or its group too
    /// (0750 / 0640). See `docs/security.md`.
    #[cfg(not(capvault_loom))]
    pub fn file_access(mut self, access: crate::platform::FileAccess) -> Builder {
        self.storage.access = access;
        self
    }

    /// What to do when the ledger given to the builder (its configuration) has other settings
    /// than the state recovered from the data directory: refuse to start (the default), apply
    /// the differences as journalled commands, or keep the recovered settings. Every difference
    /// is listed in [`Recovery::config_drift`](crate::Recovery::config_drift) either way.
    #[cfg(not(capvault_loom))]
    pub fn on_config_drift(mut self, policy: crate::drift::DriftPolicy) -> Builder {
        self.storage.drift = policy;
        self
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

        #[cfg_attr(capvault_loom, allow(unused_mut))]
        let mut builder = self;
        #[cfg(not(capvault_loom))]
        let (durable, recovery, checkpointer) = builder.open_storage()?;
        #[cfg(not(capvault_loom))]
        let seq = recovery.as_ref().map_or(0, |r| r.seq);
        #[cfg(capvault_loom)]
        let seq = 0;
        // Every accepted command advanced the sequence by one: after recovery the count of
        // accepted commands is the sequence (rejections and repeats since the first start are
        // not journalled, so they count from this start).
        let stats = Stats { accepted: seq, ..Stats::default() };
        let this = builder;
        let (commands_tx, commands_rx) = channel::bounded(this.capacity);
        let snapshot = Snapshot::capture(&this.ledger, seq, stats);
        #[cfg(not(capvault_loom))]
        let shm = match &this.mirrors.shm {
            None => None,
            Some(path) => {
                let limits = this.ledger.limits();
                let geometry = crate::shm::Geometry {
                    books_max: usize::from(limits.books_max),
                    orders_max: limits.orders_max as usize,
                };
                let writer = crate::shm::ShmWriter::create_with(path, geometry, this.storage.access)
                    .map_err(SpawnError::Shm)?;
                writer.write(&snapshot);
                Some(std::sync::Arc::new(writer))
            }
        };
        let shared = Arc::new(Shared::new(snapshot, commands_rx.clone()));
        let owner = Owner {
            ledger: this.ledger,
            commands: commands_rx,
            shared: shared.clone(),
            wait: this.wait,
            batch_max: this.batch_max,
            on_publish: this.on_publish,
            seq,
            stats,
            #[cfg(not(capvault_loom))]
            shm: shm.clone(),
            #[cfg(not(capvault_loom))]
            durable,
            pending: Vec::with_capacity(this.batch_max),
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
                    let core = this.core.unwrap_or_default();
                    let available = core_affinity_count();
                    return Err(SpawnError::CoreNotFound { core, available });
                }
                Ok(thread)
            }
        }
        .map_err(SpawnError::Spawn)?;
        *shared.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        #[cfg(not(capvault_loom))]
        let drift_to_apply = match (&recovery, this.storage.drift) {
            (Some(recovery), crate::drift::DriftPolicy::Apply) => recovery.config_drift.clone(),
            _ => Vec::new(),
        };
        #[cfg(not(capvault_loom))]
        {
            *shared.recovery.lock().unwrap_or_else(|e| e.into_inner()) = recovery;
            if let Some(checkpointer) = checkpointer {
                let stats = shared.checkpoint_stats.clone();
                let thread = std::thread::Builder::new()
                    .name("capvault-checkpoint".into())
                    .spawn(move || crate::journal::Checkpointer { stats, ..checkpointer }.run())
                    .map_err(SpawnError::Spawn)?;
                *shared.checkpointer.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
            }
        }
        #[cfg(not(capvault_loom))]
        if shm.is_some() || this.mirrors.json.is_some() {
            let stop = std::sync::Arc::new(crate::sync::AtomicBool::new(false));
            let mirror = crate::mirror::Mirror {
                reader: Reader::new(shared.clone()),
                json: this.mirrors.json,
                shm,
                interval: this.mirrors.interval.unwrap_or(std::time::Duration::from_millis(100)),
                access: this.storage.access,
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
        #[cfg_attr(capvault_loom, allow(unused_mut))]
        let mut handle = Handle::new(commands_tx, shared, this.outcomes_max, this.reply_wait);
        #[cfg(not(capvault_loom))]
        if let Err(error) = apply_drift(&mut handle, &drift_to_apply) {
            let _ = handle.shutdown();
            return Err(error);
        }
        Ok(handle)
    }
}

/// Applies configuration differences as ordinary (journalled) commands, in order, and returns
/// once the published snapshot shows them all (a receipt comes before its snapshot).
#[cfg(not(capvault_loom))]
fn apply_drift(handle: &mut Handle, drifts: &[crate::drift::Drift]) -> Result<(), SpawnError> {
    let mut last_seq = 0;
    for drift in drifts {
        let refused = || SpawnError::ConfigDrift(vec![drift.clone()]);
        let mut opened = None;
        for command in drift.commands(None) {
            let receipt = handle.submit(command).map_err(|_| refused())?;
            last_seq = receipt.seq;
            if let crate::Outcome::BookOpened { book } = receipt.outcome {
                opened = Some(book);
            }
        }
        if opened.is_some() {
            for command in drift.commands(opened) {
                last_seq = handle.submit(command).map_err(|_| refused())?.seq;
            }
        }
    }
    // The owner publishes right after answering; the wait is that long (or until it stops).
    let reader = handle.reader();
    while reader.snapshot().seq() < last_seq {
        if let Some(stopped) = reader.stopped() {
            return Err(SpawnError::Setting { name: "on_config_drift", reason: stopped.reason() });
        }
        std::thread::yield_now();
    }
    Ok(())
}

#[cfg(not(capvault_loom))]
type Storage3 =
    (Option<owner::Durable>, Option<crate::journal::Recovery>, Option<crate::journal::Checkpointer>);

#[cfg(not(capvault_loom))]
impl Builder {
    /// Locks the data directory, recovers from it (or writes its first checkpoint), checks the
    /// configuration against what was recovered, and opens the journal.
    fn open_storage(&mut self) -> Result<Storage3, SpawnError> {
        use crate::journal::{self, Durability, JournalError};
        use crate::platform::{self, ExclusiveLock, LockError};
        let Some(dir) = self.storage.dir.clone() else { return Ok((None, None, None)) };
        if self.storage.durability == Durability::None {
            return Ok((None, None, None));
        }
        let access = self.storage.access;
        let io = |path: &std::path::Path, error| {
            SpawnError::Journal(JournalError::Io { path: path.to_owned(), error })
        };
        let unsafe_path = |path: &std::path::Path, refusal: platform::PathRefusal| SpawnError::UnsafePath {
            path: path.to_owned(),
            reason: refusal.to_string(),
        };
        platform::private_dir(&dir, access).map_err(|e| io(&dir, e))?.map_err(|r| unsafe_path(&dir, r))?;
        // Taken before recovery reads anything, held by the checkpoint thread for the vault's life.
        let lock_path = dir.join(journal::LOCK_NAME);
        let lock = ExclusiveLock::try_take(&lock_path, access).map_err(|error| match error {
            LockError::Held { pid } => SpawnError::DataDirLocked { path: dir.clone(), pid },
            LockError::Refused(refusal) => unsafe_path(&lock_path, refusal),
            LockError::Io(error) => io(&lock_path, error),
        })?;
        let recovery = match journal::recover_with(&dir, access).map_err(SpawnError::Journal)? {
            Some((ledger, mut recovery)) => {
                recovery.config_drift = crate::drift::drift(&self.ledger, &ledger);
                self.check_drift(&recovery.config_drift)?;
                self.ledger = ledger;
                Some(recovery)
            }
            None => {
                journal::write_checkpoint(&dir, access, 0, &self.ledger).map_err(SpawnError::Journal)?;
                None
            }
        };
        let seq = recovery.as_ref().map_or(0, |r| r.seq);
        let journal = journal::JournalWriter::open(&dir, self.storage.durability, access, seq + 1)
            .map_err(SpawnError::Journal)?;
        let (jobs, receiver) = std::sync::mpsc::sync_channel(1);
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let durable = owner::Durable {
            journal,
            every: self.storage.checkpoint_every,
            interval: self.storage.checkpoint_interval,
            last_seq: seq,
            last_at: std::time::Instant::now(),
            jobs,
            busy: busy.clone(),
        };
        let checkpointer =
            journal::Checkpointer { dir, access, jobs: receiver, busy, stats: Default::default(), lock };
        Ok((Some(durable), recovery, Some(checkpointer)))
    }

    /// Refuses to start on configuration drift unless the policy says otherwise; with `Apply`,
    /// refuses a difference no command can make.
    fn check_drift(&self, drifts: &[crate::drift::Drift]) -> Result<(), SpawnError> {
        use crate::drift::DriftPolicy;
        let refuse = match self.storage.drift {
            DriftPolicy::Refuse => !drifts.is_empty(),
            DriftPolicy::Apply => drifts.iter().any(|drift| !drift.is_applicable()),
            DriftPolicy::KeepRecovered => false,
        };
        if refuse {
            return Err(SpawnError::ConfigDrift(drifts.to_vec()));
        }
        Ok(())
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
