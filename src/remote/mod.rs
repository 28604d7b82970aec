//! Remote commands over NATS (`docs/distribution.md`): the vault's front ([`NatsFront`], which
//! `capvault serve` starts from its configuration) and a client on any host ([`RemoteClient`]).
//!
//! Every command is a NATS request on `<prefix>.<vault>.cmd.<client>`, answered after it is
//! applied and as durable as the vault's durability says. The client's name is the last token of
//! the subject, and NATS authorization decides who may publish there: identity comes from the
//! server's authentication, never from the request. Every request carries the client's request
//! number, the key of the vault's request window (`Ledger::apply_once`): a resend after a timeout
//! or a reconnect is answered with the original outcome and applies nothing. The encoding is JSON
//! in the one schema (`docs/wire.md`, "Remote requests over NATS").

mod client;
mod server;
mod wire;

pub use client::{RemoteClient, RemoteOptions, RemoteSnapshot, VaultInfo};
pub use server::{NatsConfig, NatsFront, NatsStartError, SERVICE_NAME};
pub use wire::REMOTE_VERSION;

use crate::ledger::{Amount, BookId, BookSpec, ClientOrderId, Command, Currency, Health, Outcome};
use crate::ledger::{Side, StrategyConfig, SLOT_TOTAL};
use crate::runtime::typed::typed_helpers;
use crate::runtime::{
    Balance, Cancellation, CumulativeFill, FillReport, HealthReport, Receipt, Reservation, ResetReport,
    SignalReport, SubmitError,
};

typed_helpers!(RemoteClient);

/// The subject a client named `client` sends the commands of vault `vault` on.
#[must_use]
pub fn command_subject(prefix: &str, vault: &str, client: &str) -> String {
    format!("{prefix}.{vault}.cmd.{client}")
}

/// The subject a client named `client` reads the snapshot of vault `vault` on.
#[must_use]
pub fn read_subject(prefix: &str, vault: &str, client: &str) -> String {
    format!("{prefix}.{vault}.read.{client}")
}

/// The subject the vault answers `capvault clients --nats` on: the counters of each client name
/// it has seen (an endpoint of its NATS service).
#[must_use]
pub fn clients_subject(prefix: &str, vault: &str) -> String {
    format!("{prefix}.{vault}.clients")
}

/// The subject the vault publishes each new snapshot (the `shared_pool.json` document) on.
#[must_use]
pub fn snapshot_subject(prefix: &str, vault: &str) -> String {
    format!("{prefix}.{vault}.snapshot")
}

/// The JetStream key-value bucket holding the vault's latest snapshot: key `shared_pool` (the
/// whole document) and `book.<VENUE>.<CURRENCY>` (one book's entry).
#[must_use]
pub fn bucket(prefix: &str, vault: &str) -> String {
    format!("{prefix}_{vault}").replace(['.', '-'], "_")
}

/// A name usable as one subject token: the gateway's client names without `.` (a subject
/// separator).
pub(crate) fn valid_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}
