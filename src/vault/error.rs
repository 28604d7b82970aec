//! Why a vault could not start.

use std::fmt;

use crate::journal::JournalError;
use crate::ledger::{ConfigError, Drift};
use crate::mirror::shm::ShmError;
use crate::runtime::StartError;

/// Why the runtime could not start.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits, SpawnError};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-locked-{}", std::process::id()));
/// let first = Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).spawn()?;
/// let second = Builder::new(Ledger::new(Limits::default())?).data_dir(&dir).spawn();
/// assert!(matches!(second, Err(SpawnError::DataDirLocked { .. })));
/// first.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// A setting is out of range.
    Setting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The core to pin the owner to does not exist or is not available to this process.
    CoreNotFound {
        /// The core asked for.
        core: usize,
        /// The cores there are.
        available: usize,
    },
    /// The ledger configuration was refused.
    Config(ConfigError),
    /// The data directory could not be recovered or its journal started.
    Journal(JournalError),
    /// Replication (`Builder::replicate`) could not start: NATS, the stream, or a stream that
    /// does not end where the recovered ledger does.
    #[cfg(feature = "nats")]
    Replication(crate::replication::ReplicationError),
    /// Another vault (in this process or another) holds the data directory's lock.
    DataDirLocked {
        /// The lock file.
        path: std::path::PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        pid: Option<u32>,
    },
    /// A path the vault would use is refused: owned by another user, a symlink, or a folder
    /// others may write into (`docs/security.md`).
    UnsafePath {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The configuration given to the builder differs from the state recovered from the data
    /// directory, and the builder was told to refuse (see [`Builder::on_config_drift`]).
    ///
    /// [`Builder::on_config_drift`]: crate::Builder::on_config_drift
    ConfigDrift(Vec<Drift>),
    /// The shared-memory mirror could not be created.
    Shm(ShmError),
    /// The latency log could not be created.
    LatencyLog {
        /// The log's path.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The service for other processes could not be created (`Builder::serve`).
    Serve {
        /// The service's folder.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Another running vault serves that name.
    ServiceActive {
        /// The name.
        name: String,
    },
    /// The owner thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Setting { name, reason } => write!(f, "{name}: {reason}"),
            SpawnError::CoreNotFound { core, available } => {
                write!(f, "cannot pin to core {core}: it does not exist or is not available ({available} cores available)")
            }
            SpawnError::Config(error) => write!(f, "{error}"),
            SpawnError::Shm(error) => write!(f, "shared-memory mirror: {error}"),
            SpawnError::LatencyLog { path, error } => write!(f, "latency log {}: {error}", path.display()),
            SpawnError::Journal(error) => write!(f, "data directory: {error}"),
            #[cfg(feature = "nats")]
            SpawnError::Replication(error) => write!(f, "{error}"),
            SpawnError::DataDirLocked { path, pid } => match pid {
                Some(pid) => write!(f, "{}: the data directory is in use by process {pid}", path.display()),
                None => write!(f, "{}: the data directory is in use by another vault", path.display()),
            },
            SpawnError::UnsafePath { path, reason } => write!(f, "{}: refused: {reason}", path.display()),
            SpawnError::ConfigDrift(drifts) => {
                write!(f, "the configuration differs from the recovered state:")?;
                for drift in drifts {
                    write!(f, "\n  {drift}")?;
                }
                Ok(())
            }
            SpawnError::Serve { path, error } => write!(f, "service {}: {error}", path.display()),
            SpawnError::ServiceActive { name } => write!(f, "another running vault serves \"{name}\""),
            SpawnError::Spawn(error) => write!(f, "cannot spawn the owner thread: {error}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Config(error) => Some(error),
            SpawnError::Journal(error) => Some(error),
            SpawnError::Shm(error) => Some(error),
            SpawnError::LatencyLog { error, .. }
            | SpawnError::Serve { error, .. }
            | SpawnError::Spawn(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StartError> for SpawnError {
    fn from(error: StartError) -> SpawnError {
        match error {
            StartError::Setting { name, reason } => SpawnError::Setting { name, reason },
            StartError::CoreNotFound { core, available } => SpawnError::CoreNotFound { core, available },
            StartError::Spawn(error) => SpawnError::Spawn(error),
        }
    }
}

impl From<ConfigError> for SpawnError {
    fn from(error: ConfigError) -> SpawnError {
        SpawnError::Config(error)
    }
}
