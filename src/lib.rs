//! capvault: one account's capital, shared exactly among many strategies.
//!
//! A [`Ledger`] holds one [`Book`] per (venue, currency). Slot 0 of a book is the account's real
//! total, slot 1 the pool of unallocated cash, slots 2.. the strategies, each with capital
//! `frozen` by working orders and `used` by fills or direct allocations. After every command,
//! exactly:
//!
//! ```text
//! total == pool + Σ (frozen_i + used_i)
//! ```
//!
//! Money is [`Amount`], a fixed-point integer; every rule is an exact integer comparison; every
//! refusal is one [`Rejection`] variant and leaves the ledger unchanged. The model, the order
//! of the checks and the names the seed documents use are in `docs/model.md`.
//!
//! Around the ledger:
//! - [`Builder`] starts a vault: one owner thread applies every command it receives over a bounded
//!   channel from [`Handle`]s and publishes an immutable [`Snapshot`] per batch that [`Reader`]s
//!   load without waiting (`docs/design.md`, `docs/performance.md`);
//! - `Builder::mirror_shm` and `Builder::mirror_json` mirror it into a seqlocked shared-memory
//!   file ([`ShmReader`], `docs/shm-layout.md`) and seed 000's `shared_pool.json`;
//! - `Builder::data_dir` journals every accepted command and recovers after a crash
//!   ([`Durability`], `docs/durability.md`).
//!
//! ```
//! use capvault::{Amount, BookSpec, ClientOrderId, Command, Currency, Ledger, Limits, Outcome, Side, Venue};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut ledger = Ledger::new(Limits::default())?;
//! let spec = BookSpec::new(Venue::new("SSE")?, Currency::new("CNY")?, 4);
//! let Outcome::BookOpened { book } = ledger.apply(&Command::OpenBook { spec })? else { unreachable!() };
//! ledger.apply(&Command::Reset { book, balance: "300000".parse()?, force: false })?;
//!
//! let id: ClientOrderId = "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b".parse()?;
//! let amount: Amount = "20000".parse()?;
//! ledger.apply(&Command::Reserve { id, book, slot: 2, side: Side::Buy, layer: 0, amount })?;
//! ledger.apply(&Command::Fill { id, amount })?;
//! assert_eq!(ledger.balance(book, 1)?, "280000".parse()?); // the pool
//! assert_eq!(ledger.balance(book, 2)?, amount); // the strategy
//! # Ok(())
//! # }
//! ```

#![cfg_attr(capvault_loom, allow(dead_code, unused_imports))]

/// The project's documents, readable in rustdoc. Each page is the file of the same name under
/// `docs/`; its Rust examples run as doctests.
pub mod docs {
    #[doc = include_str!("../docs/model.md")]
    pub mod model {}
    #[doc = include_str!("../docs/design.md")]
    pub mod design {}
    #[doc = include_str!("../docs/durability.md")]
    pub mod durability {}
    #[doc = include_str!("../docs/performance.md")]
    pub mod performance {}
    #[doc = include_str!("../docs/security.md")]
    pub mod security {}
    #[doc = include_str!("../docs/shm-layout.md")]
    pub mod shm_layout {}
    #[doc = include_str!("../docs/ipc.md")]
    pub mod ipc {}
    #[doc = include_str!("../docs/python.md")]
    pub mod python {}
    #[doc = include_str!("../docs/wire.md")]
    pub mod wire {}
    #[doc = include_str!("../docs/serve.md")]
    pub mod serve {}
    #[doc = include_str!("../docs/distribution.md")]
    pub mod distribution {}
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// The layers, each importing only those above it in this list (`docs/design.md`). The loom
// build compiles the model, the runtime core and the concurrency primitives alone.
#[doc(hidden)]
pub mod failpoint;
#[cfg(all(target_os = "linux", not(capvault_loom)))]
mod gateway;
#[cfg(not(capvault_loom))]
mod journal;
mod ledger;
#[cfg(not(capvault_loom))]
mod mirror;
#[cfg(all(unix, not(capvault_loom)))]
mod platform;
#[cfg(all(feature = "nats", not(capvault_loom)))]
pub mod remote;
#[cfg(all(feature = "nats", not(capvault_loom)))]
pub mod replication;
mod runtime;
mod sync;
#[cfg(not(capvault_loom))]
mod vault;

pub use ledger::{
    drift, label_matches, securities_capital, Amount, AmountError, AmountRule, Book, BookConfig, BookId,
    BookSpec, ClientOrderId, CodeError, Command, CommandKind, ConfigError, Currency, Drift, DriftPolicy,
    Grant, GrantMask, Grouped, Health, Holding, Label, Ledger, LedgerConfig, Limits, LinkedRejection,
    Mismatch, Once, Order, OrderIdError, OrderState, Outcome, PenaltyConfig, PoolView, PositionMismatch,
    Ratio, RatioError, RatioSetting, Rejection, RequestKey, ReserveField, SecuritiesCapital, SellRule, Side,
    SignalStatus, StepPenalty, Strategy, StrategyConfig, StrategySlotConfig, Venue, LINKED_MAX, SLOTS_MAX,
    SLOT_FIRST_STRATEGY, SLOT_POOL, SLOT_TOTAL,
};
pub use runtime::{
    Balance, Cancellation, CumulativeFill, DetachedOutcome, FillReport, Handle, HealthReport, Latency,
    LinkedError, LinkedReceipt, Metric, Orders, PublishHook, Reader, Receipt, Refusal, Reservation,
    ResetReport, SecuritiesReport, ShutdownError, SignalReport, Snapshot, SnapshotRef, StartError, Stats,
    Stopped, SubmitError, Summary as LatencySummary, TrySubmitError, WaitError, WaitStrategy,
};

#[cfg(all(target_os = "linux", not(capvault_loom)))]
pub use gateway::{clients, service_dir, Client, ClientInfo, ConnectError, ServeConfig, WIRE_VERSION};
#[cfg(not(capvault_loom))]
pub use journal::{
    recover, CheckpointStats, Durability, JournalError, Recovery, TornTail, FORMAT_VERSION as JOURNAL_VERSION,
};
#[cfg(not(capvault_loom))]
pub use mirror::json::{iso8601, shared_pool_json, MirrorStats};
#[cfg(not(capvault_loom))]
pub use mirror::latency_log::{
    read_latency_log, LatencyLogError, LatencyLogStats, LoggedInterval, LoggedMetrics,
};
#[cfg(not(capvault_loom))]
pub use mirror::quote::{DataType, QuoteReader, QuoteWriter, SingleQuote};
#[cfg(not(capvault_loom))]
pub use mirror::shm::{
    shm_path, Geometry, ShmError, ShmReader, ShmWriter, WriterState, WriterStatus, LAYOUT_VERSION,
};
#[cfg(all(unix, not(capvault_loom)))]
pub use platform::FileAccess;
#[cfg(not(capvault_loom))]
pub use vault::{find_vaults, registry_dir, running_vaults, Builder, SpawnError, VaultEntry};

pub mod bridge;

#[cfg(all(feature = "cli", not(capvault_loom)))]
pub mod tools;

/// The histogram library [`Latency`] hands out, re-exported so an embedding program uses the same
/// version.
pub use hdrhistogram;

/// Under loom the vault is its runtime core alone.
#[cfg(capvault_loom)]
pub use runtime::CoreBuilder as Builder;

/// The seqlock, exposed to the loom models only.
#[cfg(capvault_loom)]
#[doc(hidden)]
pub mod loom_seqlock {
    pub use crate::sync::seqlock::{ReadError, SeqLock, WriteGuard};
}

/// The request/answer ring, exposed to the loom models only.
#[cfg(capvault_loom)]
#[doc(hidden)]
pub mod loom_ring {
    pub use crate::sync::ring::{words_for, Corrupt, Ring, ENTRY_WORDS};
}
