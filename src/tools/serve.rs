//! `capvault serve CONFIG`: a vault as a process. One JSON file names the ledger, the journal,
//! the mirrors and the local gateway; the process logs through `tracing` to standard error,
//! says it is ready on standard output (and in a file, for a supervisor), shuts down cleanly on
//! SIGTERM, SIGINT or SIGHUP, and exits with a code a supervisor can act on (`ExitKind`).
//!
//! ```json
//! { "name": "desk",
//!   "ledger": "ledger.json",
//!   "data_dir": "/var/lib/capvault/desk", "durability": "fsync_batch",
//!   "mirrors": { "shm": "/dev/shm/capvault-desk", "json": "shared_pool.json", "latency_log": "desk.hlog" },
//!   "gateway": { "clients": { "grid-159201": { "kinds": ["reserve", "fill", "cancel", "release_order"], "books": [0], "slots": [2] } } },
//!   "ready_file": "/run/capvault/desk.ready" }
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::gateway::ServeConfig;
use crate::journal::Durability;
use crate::ledger::LedgerConfig;
use crate::vault::Builder;

mod standby;

/// The service's configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The vault's name: `capvault list` shows it, `capvault inspect NAME` finds it, and it is
    /// the gateway's service name unless `gateway.name` says otherwise.
    pub name: String,
    /// The ledger's configuration: a path (relative to this file) or the object itself.
    pub ledger: LedgerSource,
    /// The journal's folder (relative to this file); none: nothing survives the process.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// `none`, `write` or `fsync_batch` (the default with a data folder).
    #[serde(default)]
    pub durability: Option<String>,
    /// The mirrors.
    #[serde(default)]
    pub mirrors: MirrorsConfig,
    /// The local gateway (other processes of this host); absent: served to this user's processes
    /// with every command. `"gateway": false` serves none.
    #[serde(default)]
    pub gateway: GatewaySetting,
    /// A file written when the vault serves (its first line: `ready`), removed when it stops.
    #[serde(default)]
    pub ready_file: Option<PathBuf>,
    /// The NATS front: clients on other hosts (`docs/distribution.md`); absent: none.
    #[serde(default)]
    pub nats: Option<crate::remote::NatsConfig>,
    /// The journal replicated through JetStream, the lease, and `--standby`
    /// (`docs/distribution.md`, "Replication"); absent: the local journal only.
    #[serde(default)]
    pub replication: Option<crate::replication::ReplicationConfig>,
}

/// Where the ledger's configuration is.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum LedgerSource {
    /// A file.
    Path(PathBuf),
    /// The configuration itself.
    Inline(serde_json::Value),
}

/// The mirrors a service writes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorsConfig {
    /// The shared-memory mirror (default: `/dev/shm/capvault-<name>.shm` when served).
    #[serde(default)]
    pub shm: Option<PathBuf>,
    /// Seed 000's `shared_pool.json`.
    #[serde(default)]
    pub json: Option<PathBuf>,
    /// The latency interval log (`capvault latency NAME` reads it).
    #[serde(default)]
    pub latency_log: Option<PathBuf>,
}

/// The gateway setting: on with defaults, off, or configured.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum GatewaySetting {
    /// `true`: this user's processes, every command; `false`: no gateway.
    Enabled(bool),
    /// A `ServeConfig` without its name (or with one).
    Configured(serde_json::Value),
}

impl Default for GatewaySetting {
    fn default() -> GatewaySetting {
        GatewaySetting::Enabled(true)
    }
}

/// How `capvault serve` ended, as its exit code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExitKind {
    /// 0: stopped by a signal, cleanly (the journal synced, the mirrors `closed`).
    Stopped = 0,
    /// 3: the configuration file is missing or invalid (the message names the field): fix it;
    /// restarting will not help.
    Config = 3,
    /// 4: the vault could not start (the service name or data folder in use, a file refused, an
    /// I/O error): the message says which; a restart may help once the cause is gone.
    Start = 4,
    /// 5: the vault stopped on an error while serving (its journal failed): look before restarting.
    Failed = 5,
}

/// A failure with its exit kind.
#[derive(Debug)]
pub struct ServeError {
    /// How the process should exit.
    pub kind: ExitKind,
    /// What to tell the operator.
    pub message: String,
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn config_error(message: String) -> ServeError {
    ServeError { kind: ExitKind::Config, message }
}

/// Reads and checks a service configuration, resolving its paths against its folder.
///
/// # Errors
/// [`ExitKind::Config`] naming the field at fault.
pub fn load(path: &Path) -> Result<(ServiceConfig, LedgerConfig), ServeError> {
    let text = std::fs::read_to_string(path).map_err(|e| config_error(format!("{}: {e}", path.display())))?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let mut config: ServiceConfig = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| config_error(format!("{}: at {}: {}", path.display(), e.path(), e.inner())))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let resolve = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    config.data_dir.as_mut().map(resolve);
    config.mirrors.json.as_mut().map(resolve);
    config.mirrors.latency_log.as_mut().map(resolve);
    config.ready_file.as_mut().map(resolve);
    let ledger = match &mut config.ledger {
        LedgerSource::Path(file) => {
            resolve(file);
            let text = std::fs::read_to_string(&*file)
                .map_err(|e| config_error(format!("ledger: {}: {e}", file.display())))?;
            LedgerConfig::from_json(&text)
                .map_err(|e| config_error(format!("ledger: {}: {e}", file.display())))?
        }
        LedgerSource::Inline(value) => LedgerConfig::from_json(&value.to_string())
            .map_err(|e| config_error(format!("{}: ledger: {e}", path.display())))?,
    };
    if let Some(nats) = &config.nats {
        nats.validate().map_err(|e| config_error(format!("{}: at nats.{e}", path.display())))?;
    }
    if let Some(replication) = config.replication.take() {
        let replication = replication.for_vault(&config.name);
        replication
            .validate()
            .map_err(|e| config_error(format!("{}: at replication.{e}", path.display())))?;
        if config.data_dir.is_none() || config.durability.as_deref() == Some("none") {
            return Err(config_error(format!(
                "{}: at replication: a replicated vault needs a data_dir and a local durability (its own journal)",
                path.display()
            )));
        }
        config.replication = Some(replication);
    }
    if let Some(durability) = &config.durability {
        if !matches!(durability.as_str(), "none" | "write" | "fsync_batch") {
            return Err(config_error(format!(
                "{}: at durability: {durability:?} is not \"none\", \"write\" or \"fsync_batch\"",
                path.display()
            )));
        }
    }
    Ok((config, ledger))
}

fn serve_config(config: &ServiceConfig) -> Result<Option<ServeConfig>, ServeError> {
    match &config.gateway {
        GatewaySetting::Enabled(false) => Ok(None),
        GatewaySetting::Enabled(true) => {
            Ok(Some(ServeConfig::new(&config.name).others(Some(crate::ledger::Grant::all()))))
        }
        GatewaySetting::Configured(value) => {
            let mut value = value.clone();
            if let Some(object) = value.as_object_mut() {
                object.entry("name").or_insert_with(|| serde_json::Value::String(config.name.clone()));
            }
            let text = value.to_string();
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut deserializer)
                .map(Some)
                .map_err(|e| config_error(format!("at gateway.{}: {}", e.path(), e.inner())))
        }
    }
}

/// Builds the vault the configuration describes.
///
/// # Errors
/// [`ExitKind::Config`] for a setting the builder refuses, [`ExitKind::Start`] if it cannot start.
pub fn build(config: &ServiceConfig, ledger: &LedgerConfig) -> Result<Builder, ServeError> {
    let mut builder = follower(config, ledger)?;
    #[cfg(target_os = "linux")]
    if let Some(serve) = serve_config(config)? {
        builder = builder.serve(serve);
    }
    if let Some(replication) = &config.replication {
        builder = builder.replicate(replication.clone());
    }
    Ok(builder)
}

/// The vault without what takes commands (the gateway) or appends to the stream: a standby's,
/// which follows the leader's stream.
pub(super) fn follower(config: &ServiceConfig, ledger: &LedgerConfig) -> Result<Builder, ServeError> {
    let mut builder = Builder::from_config(ledger).map_err(|e| config_error(format!("ledger: {e}")))?;
    builder = builder.name(config.name.clone());
    if let Some(dir) = &config.data_dir {
        builder = builder.data_dir(dir);
    }
    match config.durability.as_deref() {
        Some("none") => builder = builder.durability(Durability::None),
        Some("write") => builder = builder.durability(Durability::Write),
        Some("fsync_batch") => builder = builder.durability(Durability::FsyncBatch),
        _ => {}
    }
    if let Some(shm) = &config.mirrors.shm {
        builder = builder.mirror_shm(shm);
    }
    if let Some(json) = &config.mirrors.json {
        builder = builder.mirror_json(json);
    }
    if let Some(log) = &config.mirrors.latency_log {
        builder = builder.record_latency(true).latency_log(log, Duration::from_secs(1));
    }
    Ok(builder)
}

/// The NATS front, if CONFIG has one.
fn start_front(
    config: &ServiceConfig,
    handle: &crate::runtime::Handle,
) -> Result<Option<crate::remote::NatsFront>, ServeError> {
    let Some(nats) = &config.nats else { return Ok(None) };
    crate::remote::NatsFront::start(&config.name, nats, handle).map(Some).map_err(|e| ServeError {
        kind: if matches!(e, crate::remote::NatsStartError::Config(_)) {
            ExitKind::Config
        } else {
            ExitKind::Start
        },
        message: e.to_string(),
    })
}

/// Logs that the vault serves, writes the ready file and prints the ready line.
fn announce_ready(config: &ServiceConfig, handle: &crate::runtime::Handle) -> Result<(), ServeError> {
    let snapshot = handle.snapshot();
    tracing::info!(
        name = %config.name,
        pid = std::process::id(),
        books = snapshot.books().len(),
        seq = snapshot.seq(),
        recovered = handle.recovery().is_some(),
        "vault serving"
    );
    drop(snapshot);
    let ready = format!(
        "ready {} pid {} (capvault inspect {} / capvault clients {})",
        config.name,
        std::process::id(),
        config.name,
        config.name
    );
    if let Some(file) = &config.ready_file {
        std::fs::write(file, format!("{ready}\n"))
            .map_err(|e| ServeError { kind: ExitKind::Start, message: format!("{}: {e}", file.display()) })?;
    }
    println!("{ready}");
    Ok(())
}

/// Runs the service until a signal or a failure.
///
/// # Errors
/// How it failed, with its exit kind; `Ok` is a clean stop.
pub fn run(path: &Path, standby: bool) -> Result<(), ServeError> {
    let (config, ledger) = load(path)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| ServeError { kind: ExitKind::Start, message: format!("signals: {e}") })?;
    }
    let lease = match standby::lead(&config, &ledger, standby, &stop)? {
        standby::Leading::Stopped => return Ok(()),
        standby::Leading::Alone => None,
        standby::Leading::Leased(lease) => Some(lease),
    };
    // The lease is renewed from here on: starting may take a few tries (the stream's cluster
    // electing a leader).
    let lost = lease.map(|lease| standby::keep(lease, config.replication.as_ref()));
    let handle = standby::spawn_leader(&config, &ledger)?;
    // Remote clients after local ones: the vault is whole (recovered, drift applied) by now.
    let front = start_front(&config, &handle)?;
    announce_ready(&config, &handle)?;
    let reader = handle.reader();
    let failed = loop {
        if lost.as_ref().is_some_and(standby::Keeper::lost) {
            break Some("the lease was lost (another vault may lead now): this one stopped".to_owned());
        }
        if stop.load(Ordering::Relaxed) {
            break None;
        }
        if let Some(stopped) = reader.stopped() {
            break Some(stopped.to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(file) = &config.ready_file {
        let _ = std::fs::remove_file(file);
    }
    // No new remote request after this; those taken are answered first.
    if let Some(front) = front {
        front.stop();
    }
    match failed {
        None => {
            tracing::info!(name = %config.name, "stopping on a signal");
            let last = handle.shutdown().map_err(|e| ServeError {
                kind: ExitKind::Failed,
                message: format!("the vault stopped on an error while shutting down: {e}"),
            })?;
            tracing::info!(name = %config.name, seq = last.seq(), "vault stopped cleanly");
            if let Some(keeper) = lost {
                keeper.release();
            }
            Ok(())
        }
        Some(stopped) => {
            tracing::error!(name = %config.name, reason = %stopped, "the vault stopped on an error");
            Err(ServeError { kind: ExitKind::Failed, message: format!("the vault stopped: {stopped}") })
        }
    }
}
