//! Replication in `capvault serve`: the leader's lease, the standby's loop (follow the stream,
//! take the lease once it lapses, read to the end, take over), and the thread that renews the
//! lease while the vault leads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ledger::LedgerConfig;
use crate::replication::{Follower, Lease, ReplicationConfig, ReplicationError};
use crate::runtime::Handle;
use crate::tools::serve::{build, follower, ExitKind, ServeError, ServiceConfig};
use crate::vault::SpawnError;

fn start_error(message: String) -> ServeError {
    ServeError { kind: ExitKind::Start, message }
}

/// Who holds the lease, as other vaults and operators read it.
fn holder(name: &str) -> String {
    format!("{name} pid {} on {}", std::process::id(), crate::platform::host_name())
}

/// How a vault comes to lead.
pub(super) enum Leading {
    /// Not replicated: it leads alone.
    Alone,
    /// It holds the lease (taken at start, or by the standby once it lapsed).
    Leased(Box<Lease>),
    /// A signal stopped the standby before it led.
    Stopped,
}

/// The lease for this vault: taken at once, or as a standby once the leader's lapses.
pub(super) fn lead(
    config: &ServiceConfig,
    ledger: &LedgerConfig,
    standby: bool,
    stop: &AtomicBool,
) -> Result<Leading, ServeError> {
    match (&config.replication, standby) {
        (None, true) => Err(ServeError {
            kind: ExitKind::Config,
            message: "--standby needs a replication section in CONFIG".into(),
        }),
        (None, false) => Ok(Leading::Alone),
        (Some(_), true) => {
            Ok(follow(config, ledger, stop)?
                .map_or(Leading::Stopped, |lease| Leading::Leased(Box::new(lease))))
        }
        (Some(replication), false) => Ok(Leading::Leased(Box::new(acquire(replication, &config.name)?))),
    }
}

/// The lease for a vault started to lead: refused with who holds it if another does.
fn acquire(replication: &ReplicationConfig, name: &str) -> Result<Lease, ServeError> {
    let mut lease =
        Lease::open(replication, &holder(name)).map_err(|e| start_error(format!("the lease: {e}")))?;
    match lease.try_take() {
        Ok(true) => Ok(lease),
        Ok(false) => {
            let who = lease.holder().ok().flatten().unwrap_or_else(|| "another vault".into());
            Err(start_error(format!(
                "the lease of {} is held by {who}: start this vault with --standby (it takes over when the lease lapses)",
                replication.stream
            )))
        }
        Err(error) => Err(start_error(format!("the lease: {error}"))),
    }
}

fn failed(error: &ReplicationError) -> ServeError {
    ServeError { kind: ExitKind::Failed, message: format!("standby: {error}") }
}

/// The standby: a vault without a gateway or NATS front, kept equal to the stream, until it
/// takes the lease (then `Some`, with the vault shut down and caught up to the stream's end) or
/// a signal stops it (`None`).
fn follow(
    config: &ServiceConfig,
    ledger: &LedgerConfig,
    stop: &AtomicBool,
) -> Result<Option<Lease>, ServeError> {
    let replication = config.replication.as_ref().ok_or_else(|| start_error("no replication".into()))?;
    let mut handle = follower(config, ledger)?
        .spawn()
        .map_err(|e| start_error(format!("the standby's vault did not start: {e}")))?;
    let mut follower = Follower::start(replication, handle.snapshot().seq()).map_err(|e| failed(&e))?;
    let poll = Duration::from_millis((replication.lease_ttl_ms / 10).clamp(20, 200));
    // The first catch-up: a cluster still electing a stream leader (a server just restarted) is
    // waited for, as later turns wait for it.
    loop {
        match follower.catch_up(&mut handle) {
            Ok(_) => break,
            Err(ReplicationError::Nats(why)) => tracing::warn!(why, "standby: the stream is unreachable"),
            Err(error) => return Err(failed(&error)),
        }
        if stop.load(Ordering::Relaxed) {
            handle.shutdown().map_err(|e| failed(&ReplicationError::Nats(e.to_string())))?;
            return Ok(None);
        }
        std::thread::sleep(poll);
    }
    println!(
        "standby {} pid {} following {} at seq {}",
        config.name,
        std::process::id(),
        replication.stream,
        follower.seq()
    );
    tracing::info!(name = %config.name, stream = replication.stream, seq = follower.seq(), "standby following");
    let mut lease = Lease::open(replication, &holder(&config.name)).map_err(|e| failed(&e))?;
    loop {
        if stop.load(Ordering::Relaxed) {
            handle.shutdown().map_err(|e| failed(&ReplicationError::Nats(e.to_string())))?;
            return Ok(None);
        }
        match step(&mut follower, &mut handle, &mut lease) {
            Ok(true) => {
                tracing::info!(name = %config.name, seq = follower.seq(), epoch = follower.epoch(), "lease taken: taking over");
                handle.shutdown().map_err(|e| failed(&ReplicationError::Nats(e.to_string())))?;
                return Ok(Some(lease));
            }
            Ok(false) => {}
            // NATS unreachable for a moment (a server restarting): keep following.
            Err(ReplicationError::Nats(why)) => tracing::warn!(why, "standby: the stream is unreachable"),
            Err(error) => return Err(failed(&error)),
        }
        std::thread::sleep(poll);
    }
}

/// One turn of the standby: follow the stream; take the lease if it lapsed, and then read to
/// the end (the old leader's last batches). `true` once it holds the lease.
fn step(follower: &mut Follower, handle: &mut Handle, lease: &mut Lease) -> Result<bool, ReplicationError> {
    follower.catch_up(handle)?;
    if !lease.try_take()? {
        return Ok(false);
    }
    follower.catch_up(handle)?;
    Ok(true)
}

/// The leading vault. A stale leader that appended after the standby read to the end makes the
/// stream end past the local journal: catch up once more and try again.
pub(super) fn spawn_leader(config: &ServiceConfig, ledger: &LedgerConfig) -> Result<Handle, ServeError> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match build(config, ledger)?.spawn() {
            Err(SpawnError::Replication(ReplicationError::Diverged { stream, local })) if stream > local => {
                let replication =
                    config.replication.as_ref().ok_or_else(|| start_error("no replication".into()))?;
                let mut handle = follower(config, ledger)?
                    .spawn()
                    .map_err(|e| start_error(format!("the vault did not start: {e}")))?;
                let mut follower = Follower::start(replication, local).map_err(|e| failed(&e))?;
                follower.catch_up(&mut handle).map_err(|e| failed(&e))?;
                handle.shutdown().map_err(|e| failed(&ReplicationError::Nats(e.to_string())))?;
            }
            // NATS or JetStream not ready (a server restarting, the cluster electing a stream
            // leader): try again for a while.
            Err(SpawnError::Replication(ReplicationError::Nats(why))) if Instant::now() < deadline => {
                tracing::warn!(why, "replication not ready: trying again");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(error) => return Err(start_error(format!("the vault did not start: {error}"))),
            Ok(handle) => return Ok(handle),
        }
        if Instant::now() >= deadline {
            return Err(start_error(
                "the stream kept moving past this vault's journal: another vault still appends".into(),
            ));
        }
    }
}

/// The thread that renews the lease while the vault leads.
pub(super) struct Keeper {
    lost: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<Box<Lease>>>,
}

impl Keeper {
    /// Whether a renewal failed: another vault may lead now, and this one must stop.
    pub(super) fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Ends the renewals and gives the lease up (a clean stop: the standby need not wait).
    pub(super) fn release(self) {
        self.done.store(true, Ordering::Relaxed);
        if let Ok(Some(lease)) = self.thread.join() {
            lease.release();
        }
    }
}

/// Renews `lease` every third of its time to live until released, stopped, or lost.
pub(super) fn keep(mut lease: Box<Lease>, replication: Option<&ReplicationConfig>) -> Keeper {
    let ttl = Duration::from_millis(replication.map_or(3_000, |r| r.lease_ttl_ms));
    let (lost, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (lost_flag, done_flag) = (lost.clone(), done.clone());
    let thread = std::thread::spawn(move || {
        let mut renewed = Instant::now();
        loop {
            if done_flag.load(Ordering::Relaxed) {
                return Some(lease);
            }
            if renewed.elapsed() >= ttl / 3 {
                if let Err(error) = lease.renew() {
                    tracing::error!(%error, "the lease could not be renewed");
                    lost_flag.store(true, Ordering::Relaxed);
                    return None;
                }
                renewed = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    Keeper { lost, done, thread }
}
