//! The builder that wires a vault: the runtime core, with the journal and the mirrors plugged in
//! as stages, and the threads that run beside the owner.

mod error;
mod registry;
mod services;
mod storage;

pub use error::SpawnError;
pub use registry::{find as find_vaults, registry_dir, running as running_vaults, VaultEntry};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::journal::Durability;
use crate::ledger::{ConfigError, DriftPolicy, Ledger, LedgerConfig};
use crate::mirror::json::Mirror;
use crate::mirror::latency_log::LatencyLog;
use crate::mirror::shm::follow::{Follower, ShmStage, Signal};
use crate::mirror::shm::{Geometry, ShmWriter};
use crate::platform::FileAccess;
use crate::runtime::{CoreBuilder, Handle, Snapshot, WaitStrategy};
use services::Services;

/// Configures and starts a vault: a ledger served by its owner thread, with an optional journal
/// (`data_dir`) and mirrors (`mirror_shm`, `mirror_json`).
///
/// ```
/// use capvault::{Builder, LedgerConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = LedgerConfig::from_json(r#"{"books": [{"venue": "SSE", "currency": "CNY", "slot_count": 4}]}"#)?;
/// let handle = Builder::from_config(&config)?.capacity(256).spawn()?;
/// assert_eq!(handle.snapshot().books().len(), 1);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `spawn`"]
pub struct Builder {
    core: CoreBuilder,
    storage: Storage,
    mirrors: Mirrors,
    #[cfg(target_os = "linux")]
    serve: Option<crate::gateway::ServeConfig>,
    #[cfg(feature = "nats")]
    replication: Option<crate::replication::ReplicationConfig>,
    name: Option<String>,
    stop_on_signals: bool,
}

/// Where the journal and checkpoints go, and how durable answers are.
#[derive(Debug)]
struct Storage {
    dir: Option<PathBuf>,
    durability: Durability,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    access: FileAccess,
    drift: DriftPolicy,
}

/// Where the mirrors go.
#[derive(Debug, Default)]
struct Mirrors {
    shm: Option<PathBuf>,
    json: Option<PathBuf>,
    interval: Option<Duration>,
    shm_gap: Option<Duration>,
    foreground: bool,
    latency_log: Option<(PathBuf, Duration)>,
}

impl Builder {
    /// The largest command channel accepted.
    pub const CAPACITY_MAX: usize = CoreBuilder::CAPACITY_MAX;
    /// The largest batch accepted.
    pub const BATCH_MAX_MAX: usize = CoreBuilder::BATCH_MAX_MAX;

    /// A builder serving `ledger`, with the defaults: a channel of 1024 commands, batches of up
    /// to 256, 1024 detached outcomes per handle, spin-then-park waits, no pinning, no journal,
    /// no mirrors.
    pub fn new(ledger: Ledger) -> Builder {
        Builder {
            core: CoreBuilder::new(ledger),
            storage: Storage {
                dir: None,
                durability: Durability::FsyncBatch,
                checkpoint_every: 100_000,
                checkpoint_interval: Duration::from_secs(60),
                access: FileAccess::Owner,
                drift: DriftPolicy::Refuse,
            },
            mirrors: Mirrors::default(),
            #[cfg(target_os = "linux")]
            serve: None,
            #[cfg(feature = "nats")]
            replication: None,
            name: None,
            stop_on_signals: false,
        }
    }

    /// The name `capvault list` shows and `capvault inspect NAME` finds the vault by (default:
    /// its service's name, else its shared-memory mirror's file name without `capvault-`). A
    /// vault with neither a mirror nor a service is not listed: there is nothing to look at.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Replicates the journal through a NATS JetStream stream (`docs/distribution.md`,
    /// "Replication"): each batch is published to the stream as one message, chained on the
    /// previous one, and acknowledged before the local journal writes it and before its answers
    /// go out. Needs a data directory. At spawn the stream must end where the recovered ledger
    /// does ([`ReplicationError::Diverged`](crate::replication::ReplicationError) otherwise).
    #[cfg(feature = "nats")]
    pub fn replicate(mut self, config: crate::replication::ReplicationConfig) -> Builder {
        self.replication = Some(config);
        self
    }

    /// Shuts the vault down cleanly on SIGTERM, SIGINT or SIGHUP (everything queued is applied,
    /// the journal synced, the mirrors write their last state and read `closed`), then lets the
    /// signal end the process as it would have. For programs that own their process (a
    /// service, an executor); a library inside someone else's program should leave signals to
    /// it. With it, the vault stops on [`Handle::shutdown`] or a signal, not when every handle is
    /// dropped (the signal thread holds one).
    pub fn stop_on_signals(mut self, stop: bool) -> Builder {
        self.stop_on_signals = stop;
        self
    }

    /// A builder serving a ledger built from `config`.
    ///
    /// # Errors
    /// [`ConfigError`] if the configuration is refused.
    pub fn from_config(config: &LedgerConfig) -> Result<Builder, ConfigError> {
        Ok(Builder::new(Ledger::from_config(config)?))
    }

    /// Journals every accepted command in `dir` and checkpoints the ledger there; at spawn,
    /// recovers from `dir` if it holds state (the recovered ledger replaces the one given to the
    /// builder). The default durability with a data directory is `FsyncBatch`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.storage.dir = Some(dir.into());
        self
    }

    /// How durable an answer is (`docs/durability.md`). `None` keeps the data directory
    /// unused.
    pub fn durability(mut self, durability: Durability) -> Builder {
        self.storage.durability = durability;
        self
    }

    /// Checkpoints after every `commands` accepted commands or `interval`, whichever comes
    /// first (default 100,000 and 60 s).
    pub fn checkpoint_every(mut self, commands: u64, interval: Duration) -> Builder {
        self.storage.checkpoint_every = commands.max(1);
        self.storage.checkpoint_interval = interval;
        self
    }

    /// Who may read the files the vault creates (data folder, journal, checkpoints, mirrors):
    /// the owner only by default (folders 0700, files 0600, whatever the umask), or its group too
    /// (0750 / 0640). See `docs/security.md`.
    pub fn file_access(mut self, access: FileAccess) -> Builder {
        self.storage.access = access;
        self
    }

    /// What to do when the ledger given to the builder (its configuration) has other settings
    /// than the state recovered from the data directory: refuse to start (the default), apply
    /// the differences as journalled commands, or keep the recovered settings. Every difference
    /// is listed in [`Recovery::config_drift`](crate::Recovery::config_drift) either way.
    pub fn on_config_drift(mut self, policy: DriftPolicy) -> Builder {
        self.storage.drift = policy;
        self
    }

    /// Serves the vault to other processes on this machine: [`Client::connect`] with
    /// `config.name` commands it over shared memory, within the grant `config` gives the
    /// client's name (`docs/ipc.md`). Without a shared-memory mirror, one is added at
    /// `shm_path("capvault-<name>.shm")`, where clients read their snapshots.
    ///
    /// [`Client::connect`]: crate::Client::connect
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Builder, Client, Grant, LedgerConfig, ServeConfig};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
    /// let name = format!("doc-serve-{}", std::process::id());
    /// let serve = ServeConfig::new(&name).client("ops", Grant::all());
    /// let handle = Builder::from_config(&config)?.serve(serve).spawn()?;
    /// let mut client = Client::connect(&name, "ops")?;   // from any process of this user
    /// assert_eq!(client.allocate(BookId::new(0), 2, "500".parse()?)?.amount, "500".parse()?);
    /// drop(client);
    /// handle.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(target_os = "linux")]
    pub fn serve(mut self, config: crate::gateway::ServeConfig) -> Builder {
        self.serve = Some(config);
        self
    }

    /// Mirrors the ledger into a seqlocked shared-memory file at `path` (for example
    /// `/dev/shm/capvault`). A mirror thread writes what each published snapshot changed, at
    /// most once per [`mirror_shm_gap`](Builder::mirror_shm_gap); the owner only wakes it when
    /// it went idle. The layout is in `docs/shm-layout.md`.
    pub fn mirror_shm(mut self, path: impl Into<PathBuf>) -> Builder {
        self.mirrors.shm = Some(path.into());
        self
    }

    /// The shortest time between two writes of the shared-memory file (default 500 µs): how far
    /// the file may lag the vault under a steady stream of commands, and the quiet time a reader
    /// has to copy it (a reader of 16,000 orders copies 1 MiB). After a quiet spell the first
    /// publish is written as soon as the mirror thread wakes.
    pub fn mirror_shm_gap(mut self, gap: Duration) -> Builder {
        self.mirrors.shm_gap = Some(gap);
        self
    }

    /// Mirrors the ledger into `shared_pool.json` at `path` (seed 000's schema), written by a
    /// mirror thread at most once per interval and once more at shutdown.
    pub fn mirror_json(mut self, path: impl Into<PathBuf>) -> Builder {
        self.mirrors.json = Some(path.into());
        self
    }

    /// Whether the mirror threads run in the background (the default: `true`): on Linux they
    /// are `SCHED_IDLE` threads, which never preempt another thread when they wake and run on
    /// what the other threads leave idle. On a machine whose cores a busy-spinning owner and its
    /// producers fill, a mirror thread in the foreground preempts one of them at each write (the
    /// round trip's p99.9 beside 16,000 live orders went from 5 µs to 117 µs on two cores,
    /// `docs/performance.md`); in the background the mirror may lag while the cores stay full.
    /// The shared-memory thread comes back to the ordinary policy for each write (the few
    /// microseconds readers wait for), which Linux allows root or an `RLIMIT_NICE` of 20 or
    /// more; without that permission it stays an ordinary thread. `false` keeps both ordinary.
    pub fn mirrors_in_background(mut self, background: bool) -> Builder {
        self.mirrors.foreground = !background;
        self
    }

    /// How often the mirror threads write the JSON file and the shared-memory heartbeat
    /// (default 100 ms).
    pub fn mirror_interval(mut self, interval: Duration) -> Builder {
        self.mirrors.interval = Some(interval);
        self
    }

    /// Whether the vault records its latency (on by default): per stage HdrHistograms that
    /// [`Reader::latency`](crate::Reader::latency) returns, the shared-memory mirror summarises
    /// and [`latency_log`](Builder::latency_log) writes. Recording costs the round trip about one
    /// TSC read on each side (`docs/performance.md`); off, no clock is read.
    pub fn record_latency(self, record: bool) -> Builder {
        self.with_core(|core| core.record_latency(record))
    }

    /// Writes the vault's latency to `path` every `interval` (at least 10 ms) as an HdrHistogram
    /// interval log (`.hlog`, V2): per interval one histogram per metric, tagged with its name
    /// (`queue`, `apply`, `journal`, `publish`, `shm`, `round_trip`, `batch`, `depth`). The file
    /// is created, or emptied if it is this user's, at spawn; `capvault latency PATH` reads it.
    /// A failed write is counted in [`Reader::latency_log_stats`](crate::Reader::latency_log_stats)
    /// and the next interval is tried all the same.
    pub fn latency_log(mut self, path: impl Into<PathBuf>, interval: Duration) -> Builder {
        self.mirrors.latency_log = Some((path.into(), interval));
        self
    }

    /// Commands the channel holds before `submit` blocks and `try_submit` hands back
    /// (`1..=2^20`).
    pub fn capacity(self, capacity: usize) -> Builder {
        self.with_core(|core| core.capacity(capacity))
    }

    /// Commands applied per published snapshot at most (`1..=2^16`).
    pub fn batch_max(self, batch_max: usize) -> Builder {
        self.with_core(|core| core.batch_max(batch_max))
    }

    /// Outcomes of detached submissions each handle keeps until read (`1..=2^20`).
    pub fn outcomes_max(self, outcomes_max: usize) -> Builder {
        self.with_core(|core| core.outcomes_max(outcomes_max))
    }

    /// How the owner waits for commands.
    pub fn wait(self, wait: WaitStrategy) -> Builder {
        self.with_core(|core| core.wait(wait))
    }

    /// How a blocking `submit` waits for its answer.
    pub fn reply_wait(self, wait: WaitStrategy) -> Builder {
        self.with_core(|core| core.reply_wait(wait))
    }

    /// Pins the owner thread to this core (opt-in).
    pub fn pin_to_core(self, core: usize) -> Builder {
        self.with_core(|builder| builder.pin_to_core(core))
    }

    /// Calls `hook` with each published snapshot, on the owner thread.
    pub fn on_publish(self, hook: impl FnMut(&Snapshot) + Send + 'static) -> Builder {
        self.with_core(|core| core.on_publish(hook))
    }

    fn with_core(mut self, set: impl FnOnce(CoreBuilder) -> CoreBuilder) -> Builder {
        self.core = set(self.core);
        self
    }

    /// Starts the owner thread and returns the first handle.
    ///
    /// # Errors
    /// [`SpawnError`] for a setting out of range, a core that does not exist or cannot be
    /// pinned, a data directory that cannot be locked, recovered or journalled, configuration
    /// drift the policy refuses, a mirror that cannot be created, or a thread that cannot be
    /// spawned. Nothing is left running after an error.
    pub fn spawn(mut self) -> Result<Handle, SpawnError> {
        self.core.check()?;
        let mut services = Services::default();
        let drift_to_apply = self.open_storage(&mut services)?;
        #[cfg(target_os = "linux")]
        let gateway = self.open_gateway()?;
        let shm = self.create_shm()?;
        let signal = Arc::new(Signal::default());
        if let Some(writer) = &shm {
            self.core.stage(Box::new(ShmStage { writer: writer.clone(), signal: signal.clone() }));
        }
        let latency_log = self.open_latency_log()?;
        let (json, access) = (self.mirrors.json.take(), self.storage.access);
        let entry = self.registry_entry(json.clone());
        let interval = self.mirrors.interval.unwrap_or(Duration::from_millis(100));
        #[cfg(target_os = "linux")]
        let opener = gateway.map(|gateway| {
            let opener = gateway.opener();
            self.core.inbox(Box::new(gateway));
            opener
        });
        let mut handle = self.core.start(Some(Box::new(services)))?;
        if let Some(writer) = shm {
            let mut follower = Follower::new(writer, signal, handle.reader());
            follower.gap = self.mirrors.shm_gap.unwrap_or(follower.gap);
            follower.heartbeat = interval;
            follower.background = !self.mirrors.foreground;
            if let Err(error) = start_thread(&handle, "capvault-shm", move |stop| follower.run(stop)) {
                let _ = handle.shutdown();
                return Err(error);
            }
        }
        if let Some(json) = json {
            let stats = services_of(&handle).mirror_stats.clone();
            let background = !self.mirrors.foreground;
            let mirror = Mirror { reader: handle.reader(), json, interval, access, stats, background };
            if let Err(error) = start_thread(&handle, "capvault-mirror", move |stop| mirror.run(stop)) {
                let _ = handle.shutdown();
                return Err(error);
            }
        }
        if let Some((path, file, interval)) = latency_log {
            let stats = services_of(&handle).latency_log_stats.clone();
            let log = LatencyLog { reader: handle.reader(), path, file, interval, stats };
            if let Err(error) = start_thread(&handle, "capvault-latency-log", move |stop| log.run(stop)) {
                let _ = handle.shutdown();
                return Err(error);
            }
        }
        if let Err(error) = storage::apply_drift(&mut handle, &drift_to_apply) {
            let _ = handle.shutdown();
            return Err(error);
        }
        // Last: clients command the vault `spawn` returns, never one still starting.
        #[cfg(target_os = "linux")]
        if let Some(opener) = opener {
            opener.open();
        }
        if let Some(registration) = entry.and_then(|entry| registry::register(entry).ok()) {
            services_of(&handle).set_registration(registration);
        }
        if self.stop_on_signals {
            if let Err(error) = stop_on_signals(&handle) {
                let _ = handle.shutdown();
                return Err(error);
            }
        }
        Ok(handle)
    }

    /// The vault's entry in this user's registry (`capvault list`) if it has a mirror or a
    /// service; its entry goes when it stops. A registry that cannot be written leaves the vault
    /// unlisted, not unstarted: it works the same, it is only harder to find.
    fn registry_entry(&self, json: Option<PathBuf>) -> Option<VaultEntry> {
        #[cfg(target_os = "linux")]
        let service = self.serve.as_ref().map(|config| config.name.clone());
        #[cfg(not(target_os = "linux"))]
        let service: Option<String> = None;
        let mirror = self.mirrors.shm.clone();
        if mirror.is_none() && service.is_none() {
            return None;
        }
        let name =
            self.name.clone().or_else(|| registry::default_name(service.as_deref(), mirror.as_deref()))?;
        Some(VaultEntry {
            name,
            pid: 0,
            started: 0,
            mirror,
            service,
            data_dir: self.storage.dir.clone(),
            json,
            latency_log: self.mirrors.latency_log.as_ref().map(|(path, _)| path.clone()),
        })
    }

    /// Opens the service for other processes, adding the shared-memory mirror its clients read
    /// if there is none.
    #[cfg(target_os = "linux")]
    fn open_gateway(&mut self) -> Result<Option<crate::gateway::server::Gateway>, SpawnError> {
        let Some(config) = &self.serve else { return Ok(None) };
        config.check().map_err(|(name, reason)| SpawnError::Setting { name, reason })?;
        let mirror = self
            .mirrors
            .shm
            .get_or_insert_with(|| crate::mirror::shm::shm_path(&format!("capvault-{}.shm", config.name)))
            .clone();
        crate::gateway::open(config, &mirror).map(Some).map_err(|error| match error {
            crate::gateway::OpenError::Io(path, error) => SpawnError::Serve { path, error },
            crate::gateway::OpenError::Active => SpawnError::ServiceActive { name: config.name.clone() },
        })
    }

    /// Opens the latency log, emptied, refusing a symlink or another user's file.
    fn open_latency_log(&self) -> Result<Option<(PathBuf, std::fs::File, Duration)>, SpawnError> {
        let Some((path, interval)) = &self.mirrors.latency_log else { return Ok(None) };
        if *interval < Duration::from_millis(10) {
            return Err(SpawnError::Setting { name: "latency_log interval", reason: "below 10 ms" });
        }
        let io = |error: std::io::Error| SpawnError::LatencyLog { path: path.clone(), error };
        let file = crate::platform::open_own(path, self.storage.access)
            .map_err(io)?
            .map_err(|refusal| SpawnError::UnsafePath { path: path.clone(), reason: refusal.to_string() })?;
        file.set_len(0).map_err(io)?;
        Ok(Some((path.clone(), file, *interval)))
    }

    /// Creates the shared-memory file and writes the first snapshot into it.
    fn create_shm(&self) -> Result<Option<Arc<ShmWriter>>, SpawnError> {
        let Some(path) = &self.mirrors.shm else { return Ok(None) };
        let limits = self.core.ledger().limits();
        let geometry =
            Geometry { books_max: usize::from(limits.books_max), orders_max: limits.orders_max as usize };
        let writer = ShmWriter::create_with(path, geometry, self.storage.access).map_err(SpawnError::Shm)?;
        writer.follow(&Arc::new(self.core.first_snapshot()));
        Ok(Some(Arc::new(writer)))
    }
}

/// Catches SIGTERM, SIGINT and SIGHUP on a thread that shuts the vault down and then lets the
/// signal end the process.
fn stop_on_signals(handle: &Handle) -> Result<(), SpawnError> {
    let stopper = handle.clone();
    let (closer, _thread) = crate::platform::on_termination(move |_| {
        let _ = stopper.shutdown();
    })
    .map_err(SpawnError::Spawn)?;
    services_of(handle).set_signals(closer);
    Ok(())
}

/// Starts a thread beside the owner and hands it to the vault's services, which stop it after
/// the owner.
fn start_thread(
    handle: &Handle,
    name: &str,
    run: impl FnOnce(&dyn Fn() -> bool) + Send + 'static,
) -> Result<(), SpawnError> {
    let services = services_of(handle);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Acquire: pairs with the Release store in `Services::stop`.
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(&|| flag.load(Ordering::Acquire)))
        .map_err(SpawnError::Spawn)?;
    services.mirrors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((thread, stop));
    Ok(())
}

/// The services this builder gave the handle's vault.
fn services_of(handle: &Handle) -> &Services {
    handle
        .companion()
        .and_then(<dyn std::any::Any>::downcast_ref)
        .expect("the builder starts every vault with its services")
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("core", &self.core)
            .field("storage", &self.storage)
            .field("mirrors", &self.mirrors)
            .finish_non_exhaustive()
    }
}
