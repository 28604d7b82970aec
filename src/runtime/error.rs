//! Errors of the runtime: spawning it and talking to it.

use std::fmt;

use crate::ledger::command::Command;
use crate::ledger::rejection::Rejection;
use crate::ledger::LinkedRejection;

/// Why the runtime is no longer taking commands.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Command, Ledger, Limits, Stopped, SubmitError};
/// let mut handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let mut other = handle.clone();
/// handle.shutdown()?;
/// let refused = other.submit(Command::SetCreditLimit { currency: "CNY".parse()?, limit: "1".parse()? });
/// assert_eq!(refused.unwrap_err(), SubmitError::Stopped(Stopped::ShutDown));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Stopped {
    /// `shutdown` was called, or every handle was dropped.
    ShutDown,
    /// The owner thread panicked. The ledger it held is gone with it; the last published
    /// snapshot is still readable.
    OwnerPanicked,
    /// The journal could not be written (a full disk, an I/O error): the vault stopped rather
    /// than answer commands that would not survive a crash. Restart recovers every command that
    /// was acknowledged; a command answered with this reason was not applied and will not be
    /// after the restart (its records were cut from the journal before the answer went out).
    JournalFailed,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Stopped {}

impl Stopped {
    /// The reason in a few words.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Stopped::ShutDown => "the vault is shut down",
            Stopped::OwnerPanicked => "the vault's owner thread panicked",
            Stopped::JournalFailed => "the vault stopped: its journal could not be written",
        }
    }
}

/// Why a blocking submit did not return a receipt.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, LedgerConfig, Rejection, SubmitError};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// match handle.fill("1790000000000000009".parse()?, "1".parse()?) {
///     Err(SubmitError::Rejected(Rejection::UnknownOrder { .. })) => {}   // nothing changed
///     other => panic!("{other:?}"),
/// }
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum SubmitError {
    /// The ledger refused the command; nothing changed.
    Rejected(Rejection),
    /// The runtime stopped before the command was applied; nothing changed, now or after a
    /// restart.
    Stopped(Stopped),
    /// The vault stopped while making this command durable and could not cut its records back
    /// out of the journal: it may or may not be part of the state recovered at restart. Look at
    /// the recovered state (the order, the slot) before sending it again; never resubmit blindly.
    InDoubt(Stopped),
    /// A blocking call from the owner thread itself (an `on_publish` hook): the owner would wait
    /// for itself forever. Nothing was enqueued.
    OwnerThread,
    /// A client lost its vault (the vault process stopped or closed the service) before the
    /// answer came. A command already sent may or may not have been applied: reconnect and
    /// resubmit; a repeated reservation is answered "already reserved".
    Disconnected,
    /// The gateway refused the request before the ledger saw it; nothing changed.
    Refused(Refusal),
    /// A client found its own answer ring in shared memory broken (another process wrote over
    /// it): the connection is closed, and a command sent may or may not have been applied, as
    /// with `Disconnected`. Reconnect (a new place, new rings) and resubmit.
    AnswersCorrupt,
}

/// Why a vault's gateway refused a request from another process before the ledger saw it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Refusal {
    /// The request's bytes did not decode as a command.
    Malformed,
    /// The request was encoded with another wire version.
    WireVersion {
        /// The version the request carried.
        found: u8,
        /// The version this vault reads.
        expected: u8,
    },
    /// The client has as many requests in flight as its limit allows.
    InFlightLimit {
        /// The limit.
        limit: u32,
    },
    /// The client's name has no grant (a remote client its NATS user names; `capvault serve`'s
    /// `nats.clients`).
    NoGrant,
    /// The request is larger than the front accepts.
    TooLarge {
        /// The limit in bytes.
        limit: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed => f.write_str("the request does not decode as a command"),
            Refusal::WireVersion { found, expected } => {
                write!(f, "wire version {found}; this vault reads version {expected}")
            }
            Refusal::InFlightLimit { limit } => write!(f, "{limit} requests are in flight, the limit"),
            Refusal::NoGrant => f.write_str("the client has no grant on this vault"),
            Refusal::TooLarge { limit } => write!(f, "the request is larger than {limit} bytes, the limit"),
        }
    }
}

impl std::error::Error for Refusal {}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Rejected(rejection) => write!(f, "rejected: {rejection}"),
            SubmitError::Stopped(stopped) => write!(f, "not applied: {stopped}"),
            SubmitError::InDoubt(stopped) => {
                write!(
                    f,
                    "in doubt ({stopped}): it may be applied after a restart; check before resubmitting"
                )
            }
            SubmitError::OwnerThread => f.write_str(
                "a blocking call from the vault's own owner thread (an on_publish hook) would deadlock",
            ),
            SubmitError::Disconnected => f.write_str(
                "the vault went away before answering: the command may or may not be applied; reconnect and resubmit",
            ),
            SubmitError::Refused(refusal) => write!(f, "refused by the gateway: {refusal}"),
            SubmitError::AnswersCorrupt => f.write_str(
                "this client's answer ring in shared memory is corrupt (written over by another process): \
                 the connection is closed, the command may or may not be applied; reconnect and resubmit",
            ),
        }
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::Rejected(rejection) => Some(rejection),
            SubmitError::Stopped(stopped) | SubmitError::InDoubt(stopped) => Some(stopped),
            SubmitError::Refused(refusal) => Some(refusal),
            SubmitError::OwnerThread | SubmitError::Disconnected | SubmitError::AnswersCorrupt => None,
        }
    }
}

/// Why a linked reservation (`Handle::submit_linked`) was not applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum LinkedError {
    /// The ledger refused a part, named with its rejection; nothing changed.
    Rejected(LinkedRejection),
    /// The vault did not answer it as applied: stopped before it, or in doubt after it (as
    /// [`SubmitError`] says).
    Failed(SubmitError),
}

impl fmt::Display for LinkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkedError::Rejected(refused) => refused.fmt(f),
            LinkedError::Failed(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for LinkedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinkedError::Rejected(refused) => Some(refused),
            LinkedError::Failed(error) => Some(error),
        }
    }
}

/// Why `try_submit` did not enqueue the command. Either way the command is handed back.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Command, Ledger, Limits, TrySubmitError};
/// let mut handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let command = Command::SetCreditLimit { currency: "CNY".parse()?, limit: "1".parse()? };
/// match handle.try_submit(command) {
///     Ok(_ticket) => {}
///     Err(TrySubmitError::Full(command)) => drop(command),   // handed back: retry later
///     Err(error) => return Err(error.into()),
/// }
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum TrySubmitError {
    /// The command channel is full.
    Full(Command),
    /// The runtime has stopped.
    Stopped(Command, Stopped),
    /// A client lost its vault; the command was not sent.
    Disconnected(Command),
}

/// Why `shutdown` did not end in an orderly stop.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let last = handle.shutdown()?;   // Err(ShutdownError) if the vault had failed instead
/// assert_eq!(last.seq(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The vault had already stopped for this reason (not a shutdown).
    Stopped(Stopped),
    /// Called from the owner thread itself (an `on_publish` hook), which cannot join itself.
    /// Nothing was done.
    OwnerThread,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::Stopped(stopped) => write!(f, "{stopped}"),
            ShutdownError::OwnerThread => f.write_str("shutdown called from the vault's own owner thread"),
        }
    }
}

impl std::error::Error for ShutdownError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShutdownError::Stopped(stopped) => Some(stopped),
            ShutdownError::OwnerThread => None,
        }
    }
}

impl TrySubmitError {
    /// The command that was not enqueued.
    #[must_use]
    pub fn into_inner(self) -> Command {
        match self {
            TrySubmitError::Full(command)
            | TrySubmitError::Stopped(command, _)
            | TrySubmitError::Disconnected(command) => command,
        }
    }
}

impl fmt::Display for TrySubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("the command channel is full"),
            TrySubmitError::Stopped(_, stopped) => write!(f, "not enqueued: {stopped}"),
            TrySubmitError::Disconnected(_) => f.write_str("not sent: the vault went away"),
        }
    }
}

impl std::error::Error for TrySubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrySubmitError::Stopped(_, stopped) => Some(stopped),
            TrySubmitError::Full(_) | TrySubmitError::Disconnected(_) => None,
        }
    }
}

/// Why the runtime core could not start (the builder reports each as the
/// [`SpawnError`](crate::SpawnError) variant of the same name).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits, SpawnError};
/// let refused = Builder::new(Ledger::new(Limits::default())?).capacity(0).spawn();
/// assert!(matches!(refused, Err(SpawnError::Setting { name: "capacity", .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
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
    /// The owner thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Setting { name, reason } => write!(f, "{name}: {reason}"),
            StartError::CoreNotFound { core, available } => {
                write!(f, "cannot pin to core {core}: it does not exist or is not available ({available} cores available)")
            }
            StartError::Spawn(error) => write!(f, "cannot spawn the owner thread: {error}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Spawn(error) => Some(error),
            _ => None,
        }
    }
}

/// Why [`Reader::wait_for`](crate::Reader::wait_for) returned without the snapshot.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use capvault::{Builder, Ledger, Limits, WaitError};
/// let handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let waited = handle.reader().wait_for(1, Duration::from_millis(1));
/// assert_eq!(waited.unwrap_err(), WaitError::TimedOut { seen: 0 });
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum WaitError {
    /// The timeout passed first.
    TimedOut {
        /// The latest sequence published when it did.
        seen: u64,
    },
    /// The owner stopped before publishing the sequence.
    Stopped(Stopped),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut { seen } => {
                write!(f, "timed out waiting for the snapshot (latest seq {seen})")
            }
            WaitError::Stopped(stopped) => write!(f, "the vault stopped: {}", stopped.reason()),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Stopped(stopped) => Some(stopped),
            WaitError::TimedOut { .. } => None,
        }
    }
}
