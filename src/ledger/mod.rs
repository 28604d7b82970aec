//! The model: money, codes, order ids, books, orders, and the ledger, a single-threaded state
//! machine that applies one [`Command`] at a time. Pure: no I/O, no threads, no clock; nothing
//! in this folder imports anything outside it. The rules are in `docs/model.md`.

pub(crate) mod book;
pub(crate) mod code;
pub(crate) mod command;
pub(crate) mod config;
pub(crate) mod drift;
pub(crate) mod grant;
pub(crate) mod id_map;
mod machine;
pub(crate) mod money;
pub(crate) mod order;
pub(crate) mod order_id;
pub(crate) mod outcome;
pub(crate) mod ratio;
pub(crate) mod rejection;
pub(crate) mod request;
pub(crate) mod resolved;
pub(crate) mod securities;
pub(crate) mod view;

pub use book::{
    Book, BookId, BookSpec, Health, SellRule, Strategy, StrategyConfig, SLOTS_MAX, SLOT_FIRST_STRATEGY,
    SLOT_POOL, SLOT_TOTAL,
};
pub use code::{CodeError, Currency, Label, Venue};
pub use command::Command;
pub use config::{BookConfig, ConfigError, LedgerConfig, Limits, StrategySlotConfig};
pub use drift::{drift, Drift, DriftPolicy};
pub use grant::{CommandKind, Grant, GrantMask};
pub use machine::{Ledger, LinkedRejection, LINKED_MAX};
pub(crate) use machine::{LedgerImage, LedgerParts};
pub use money::{Amount, AmountError, Grouped};
pub use order::{Order, OrderState, Side};
pub use order_id::{ClientOrderId, OrderIdError};
pub use outcome::{Outcome, SignalStatus};
pub use ratio::{Ratio, RatioError};
pub use rejection::{AmountRule, RatioSetting, Rejection, ReserveField};
pub use request::{Once, RequestKey};
pub use securities::{
    label_matches, securities_capital, Holding, Mismatch, PositionMismatch, SecuritiesCapital,
};
pub use view::{PenaltyConfig, PoolView, StepPenalty};
