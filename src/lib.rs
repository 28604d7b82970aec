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

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod book;
mod code;
mod command;
mod config;
mod drift;
#[cfg(not(capvault_loom))]
#[doc(hidden)]
pub mod failpoint;
mod id_map;
#[cfg(not(capvault_loom))]
mod journal;
mod ledger;
#[cfg(not(capvault_loom))]
mod mirror;
mod money;
mod order;
mod order_id;
mod outcome;
#[cfg(all(unix, not(capvault_loom)))]
mod platform;
mod ratio;
mod rejection;
mod resolved;
mod runtime;
mod shm;
mod snapshot;
mod sync;
mod view;
mod wait;

pub use book::{
    Book, BookId, BookSpec, Health, Strategy, StrategyConfig, SLOTS_MAX, SLOT_FIRST_STRATEGY, SLOT_POOL,
    SLOT_TOTAL,
};
pub use code::{CodeError, Currency, Label, Venue};
pub use command::Command;
pub use config::{BookConfig, ConfigError, LedgerConfig, Limits, StrategySlotConfig};
pub use drift::{drift, Drift, DriftPolicy};
#[cfg(not(capvault_loom))]
pub use journal::{recover, CheckpointStats, Durability, JournalError, Recovery, TornTail};
pub use ledger::Ledger;
#[cfg(not(capvault_loom))]
pub use mirror::{iso8601, shared_pool_json, MirrorStats};
pub use money::{Amount, AmountError, Grouped};
pub use order::{Order, OrderState, Side};
pub use order_id::{ClientOrderId, OrderIdError};
pub use outcome::Outcome;
#[cfg(all(unix, not(capvault_loom)))]
pub use platform::FileAccess;
pub use ratio::{Ratio, RatioError};
pub use rejection::{AmountRule, RatioSetting, Rejection, ReserveField};
pub use runtime::{
    Builder, DetachedOutcome, Handle, PublishHook, Reader, Receipt, ShutdownError, SnapshotRef, SpawnError,
    Stopped, SubmitError, TrySubmitError,
};
#[cfg(not(capvault_loom))]
pub use shm::{
    shm_path, DataType, Geometry, QuoteReader, QuoteWriter, ShmError, ShmReader, ShmWriter, SingleQuote,
    WriterState, WriterStatus, LAYOUT_VERSION,
};

/// The seqlock, exposed to the loom models only.
#[cfg(capvault_loom)]
#[doc(hidden)]
pub mod loom_seqlock {
    pub use crate::shm::seqlock::{ReadError, SeqLock, WriteGuard};
}
pub use snapshot::{Snapshot, Stats};
pub use view::{PenaltyConfig, PoolView, StepPenalty};
pub use wait::WaitStrategy;
