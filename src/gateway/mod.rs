//! The gateway: other processes on this machine command a running vault through shared memory
//! (`docs/ipc.md`).
//!
//! The vault's builder opens a service folder (`Builder::serve`) and plugs the gateway into the
//! owner as an inbox: the owner polls each client's request ring beside its channel and writes
//! each answer into the client's answer ring. A helper thread admits clients, frees the places
//! of dead ones and wakes a parked owner. [`Client`] is the other end.

mod client;
mod config;
pub(crate) mod layout;
pub(crate) mod server;
mod wire;

pub use client::{clients, Client, ClientInfo, ConnectError};
pub use config::ServeConfig;
pub use layout::WIRE_VERSION;
pub use server::service_dir;
pub(crate) use server::{open, OpenError};

use crate::ledger::{Amount, BookId, BookSpec, ClientOrderId, Command, Currency, Health, Outcome};
use crate::ledger::{Side, StrategyConfig, SLOT_TOTAL};
use crate::runtime::typed::typed_helpers;
use crate::runtime::{
    Balance, Cancellation, CumulativeFill, FillReport, HealthReport, Receipt, Reservation, ResetReport,
    SignalReport, SubmitError,
};

typed_helpers!(Client);
