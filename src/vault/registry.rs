//! The vaults running on this machine, found by name (`capvault list`, `capvault inspect NAME`).
//!
//! Each vault that others can look at (one with a shared-memory mirror or a service) writes one
//! small JSON file into a folder of its user's (`<shm>/capvault-vaults-<uid>/`) when it starts and
//! removes it when it stops. A vault killed leaves its file behind: an entry names its process
//! by pid and start time, so a reader skips (and removes) the entries of processes that are gone
//! even after their pid is reused.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform;

/// One running vault, as it registered itself.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct VaultEntry {
    /// The vault's name (`Builder::name`; by default its service, else its mirror's file name).
    pub name: String,
    /// The process it runs in.
    pub pid: u32,
    /// When that process started (clock ticks since boot): with `pid`, one process.
    pub started: u64,
    /// Its shared-memory mirror (`capvault inspect` reads it).
    pub mirror: Option<PathBuf>,
    /// The service it serves other processes under (`capvault::Client::connect`).
    pub service: Option<String>,
    /// Its journal's folder.
    pub data_dir: Option<PathBuf>,
    /// Its `shared_pool.json` mirror.
    pub json: Option<PathBuf>,
    /// Its latency log (`capvault latency` reads it).
    pub latency_log: Option<PathBuf>,
}

impl VaultEntry {
    /// Whether the process that registered it still runs.
    #[must_use]
    pub fn is_running(&self) -> bool {
        platform::process_start(self.pid) == Some(self.started)
    }
}

/// The folder of this user's entries.
#[must_use]
pub fn registry_dir() -> PathBuf {
    platform::shm_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("capvault-vaults-{}", platform::euid()))
}

/// The vaults of this user running on this machine, by name. Entries of processes that are
/// gone are removed on the way.
#[must_use]
pub fn running() -> Vec<VaultEntry> {
    let Ok(listing) = fs::read_dir(registry_dir()) else { return Vec::new() };
    let mut entries: Vec<VaultEntry> = listing
        .filter_map(Result::ok)
        .filter(|file| file.path().extension().is_some_and(|ext| ext == "json"))
        .filter_map(|file| {
            let entry: VaultEntry = serde_json::from_slice(&fs::read(file.path()).ok()?).ok()?;
            if entry.is_running() {
                Some(entry)
            } else {
                let _ = fs::remove_file(file.path());
                None
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
    entries
}

/// The running vaults named `name` (more than one if two processes chose the same name).
#[must_use]
pub fn find(name: &str) -> Vec<VaultEntry> {
    running().into_iter().filter(|entry| entry.name == name).collect()
}

/// A vault's entry, removed when dropped (the vault stopped).
#[derive(Debug)]
pub(crate) struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes `entry` (its pid and start time filled in) into the registry.
pub(crate) fn register(mut entry: VaultEntry) -> io::Result<Registration> {
    let dir = registry_dir();
    match platform::private_dir(&dir, platform::FileAccess::Owner)? {
        Ok(()) => {}
        Err(refusal) => return Err(io::Error::new(io::ErrorKind::PermissionDenied, refusal.to_string())),
    }
    entry.pid = std::process::id();
    entry.started = platform::process_start(entry.pid).unwrap_or(0);
    let path = dir.join(format!("{}-{}.json", entry.pid, platform::random_suffix()));
    let text = serde_json::to_vec_pretty(&entry).map_err(io::Error::other)?;
    write_new(&path, &text)?;
    Ok(Registration { path })
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = platform::create_new(path, platform::FileAccess::Owner)?;
    file.write_all(bytes)
}

/// The default name of a vault: its service, else its mirror's file name without the
/// `capvault-` prefix and any extension (`/dev/shm/capvault-example` is `example`).
pub(crate) fn default_name(service: Option<&str>, mirror: Option<&Path>) -> Option<String> {
    if let Some(service) = service {
        return Some(service.to_owned());
    }
    let stem = mirror?.file_stem()?.to_string_lossy().into_owned();
    Some(stem.strip_prefix("capvault-").map_or_else(|| stem.clone(), str::to_owned))
}
