//! Rejections: why a command was refused. A rejected command changes nothing.
//!
//! Each command checks its rules in the fixed order written in `docs/model.md` and returns the
//! first that fails, with the figures that explain it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ledger::book::BookId;
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::grant::CommandKind;
use crate::ledger::money::Amount;
use crate::ledger::order::{OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::ratio::Ratio;

/// What is wrong with an amount on its own.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{AmountRule, BookId, Command, Ledger, LedgerConfig, Rejection};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let refused = ledger.apply(&Command::Allocate { book: BookId::new(0), slot: 2, amount: "-1".parse()? });
/// assert!(matches!(refused, Err(Rejection::InvalidAmount { rule: AmountRule::Positive, .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum AmountRule {
    /// It must not be zero.
    NonZero,
    /// It must be greater than zero.
    Positive,
    /// It must not be negative.
    NonNegative,
}

/// A ratio setting that a command validates.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookSpec, Command, Ledger, Limits, Ratio, RatioSetting, Rejection};
/// let mut ledger = Ledger::new(Limits::default())?;
/// let spec = BookSpec { reserve_ratio: Ratio::from_ppm(1_500_000), ..BookSpec::new("SSE".parse()?, "CNY".parse()?, 4) };
/// let refused = ledger.apply(&Command::OpenBook { spec });
/// assert!(matches!(refused, Err(Rejection::InvalidRatio { setting: RatioSetting::ReserveRatio, .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum RatioSetting {
    /// `BookSpec::reserve_ratio`: at most 1.
    ReserveRatio,
    /// `PenaltyConfig::leave`: at most `enter`.
    PenaltyLeave,
}

/// Which field of a repeated reservation differs from the one already applied.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, Rejection, ReserveField, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let (book, id) = (BookId::new(0), "1790000000000000001".parse()?);
/// ledger.apply(&Command::Reserve { id, book, slot: 2, side: Side::Buy, layer: 1, amount: "100".parse()? })?;
/// let again = ledger.apply(&Command::Reserve { id, book, slot: 2, side: Side::Buy, layer: 1, amount: "200".parse()? });
/// assert!(matches!(again, Err(Rejection::IdConflict { field: ReserveField::Amount { .. }, .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReserveField {
    /// The book.
    Book {
        /// Applied.
        existing: BookId,
        /// Requested.
        requested: BookId,
    },
    /// The slot.
    Slot {
        /// Applied.
        existing: u8,
        /// Requested.
        requested: u8,
    },
    /// The side.
    Side {
        /// Applied.
        existing: Side,
        /// Requested.
        requested: Side,
    },
    /// The layer.
    Layer {
        /// Applied.
        existing: u32,
        /// Requested.
        requested: u32,
    },
    /// The amount.
    Amount {
        /// Applied.
        existing: Amount,
        /// Requested.
        requested: Amount,
    },
}

/// Why a command was refused. One variant per rule.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, Rejection, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let id = "1790000000000000001".parse()?;
/// let refused = ledger
///     .apply(&Command::Reserve { id, book: BookId::new(0), slot: 2, side: Side::Buy, layer: 0, amount: "260000".parse()? })
///     .unwrap_err();
/// assert_eq!(refused.code(), "exceeds_nominal_cap");   // the cap of 200,000 is checked first
/// assert!(matches!(refused, Rejection::ExceedsNominalCap { .. }));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "rejection", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rejection {
    /// An amount breaks its rule (zero, negative where not allowed).
    InvalidAmount {
        /// The amount.
        amount: Amount,
        /// The rule it breaks.
        rule: AmountRule,
    },
    /// A ratio is out of its range (a reserve ratio above 1, a penalty that leaves above where
    /// it enters).
    InvalidRatio {
        /// The setting.
        setting: RatioSetting,
        /// The value given.
        ratio: Ratio,
    },
    /// A book's slot count is outside `2..=64`.
    SlotCountOutOfRange {
        /// The count given.
        slot_count: u8,
    },
    /// A book's minor unit has more decimal places than amounts keep (8).
    DecimalsOutOfRange {
        /// The decimal places given.
        decimals: u8,
    },
    /// No book has this id.
    UnknownBook {
        /// The id.
        book: BookId,
    },
    /// A book for this (venue, currency) is already open.
    BookExists {
        /// The venue.
        venue: Venue,
        /// The currency.
        currency: Currency,
        /// The open book.
        book: BookId,
    },
    /// The ledger holds `books_max` books already.
    BooksLimitReached {
        /// The configured limit.
        books_max: u16,
    },
    /// The credit table holds `currencies_max` currencies already.
    CurrenciesLimitReached {
        /// The configured limit.
        currencies_max: u16,
    },
    /// The slot is beyond the book's slot count.
    SlotOutOfRange {
        /// The slot.
        slot: u8,
        /// The book's slot count.
        slot_count: u8,
    },
    /// The command needs a strategy slot (2..), not the total or the pool.
    SlotNotStrategy {
        /// The slot.
        slot: u8,
    },
    /// Another strategy of the book already carries this label.
    LabelTaken {
        /// The label.
        label: Label,
        /// The slot that carries it.
        slot: u8,
    },
    /// A trade names the same book twice.
    TradeSameBook {
        /// The book.
        book: BookId,
    },
    /// A trade's two changes do not have opposite signs.
    TradeNotOpposite {
        /// The first change.
        delta_a: Amount,
        /// The second change.
        delta_b: Amount,
    },
    /// A reservation repeats a live id with a different field.
    IdConflict {
        /// The id.
        id: ClientOrderId,
        /// The first field that differs.
        field: ReserveField,
    },
    /// A reservation reuses an id that was already resolved (cancelled, released or dropped).
    IdResolved {
        /// The id.
        id: ClientOrderId,
        /// How it was resolved.
        state: OrderState,
    },
    /// The ledger holds `orders_max` live orders already.
    OrdersLimitReached {
        /// The configured limit.
        orders_max: u32,
    },
    /// No live or recently resolved order has this id.
    UnknownOrder {
        /// The id.
        id: ClientOrderId,
    },
    /// A fill, cancel or release of an order that was cancelled.
    OrderCancelled {
        /// The id.
        id: ClientOrderId,
    },
    /// A fill or cancel of an order that is fully filled.
    OrderFilled {
        /// The id.
        id: ClientOrderId,
    },
    /// A fill, cancel or release of an order that was released.
    OrderReleased {
        /// The id.
        id: ClientOrderId,
    },
    /// A fill, cancel or release of an order dropped by a forced reset.
    OrderDropped {
        /// The id.
        id: ClientOrderId,
    },
    /// A fill larger than what is still frozen.
    FillExceedsFrozen {
        /// The id.
        id: ClientOrderId,
        /// Still frozen.
        frozen: Amount,
        /// The fill.
        fill: Amount,
    },
    /// A release of an order that has not filled at all.
    ReleaseNotFilled {
        /// The id.
        id: ClientOrderId,
    },
    /// A release of an order that is still working (part frozen): cancel or fill it first.
    ReleaseWorking {
        /// The id.
        id: ClientOrderId,
        /// Still frozen.
        frozen: Amount,
    },
    /// A reset of a book with live orders, without `force`.
    LiveOrders {
        /// The book.
        book: BookId,
        /// Its live orders.
        orders: u32,
    },
    /// A release larger than the strategy's direct allocation.
    ExceedsAllocation {
        /// The slot.
        slot: u8,
        /// Its direct allocation.
        direct: Amount,
        /// The amount asked back.
        amount: Amount,
    },
    /// The strategy is in forced-reduce: its floating loss exceeds its limit.
    ForcedReduce {
        /// The slot.
        slot: u8,
        /// The marked loss.
        loss: Amount,
        /// The limit.
        loss_limit: Amount,
    },
    /// `committed + amount` would exceed the strategy's nominal cap.
    ExceedsNominalCap {
        /// The strategy's committed amount.
        committed: Amount,
        /// The amount asked.
        amount: Amount,
        /// The cap.
        cap: Amount,
    },
    /// A first layer would leave less than the reserve: `committed + amount > total × (1 - r)`.
    ExceedsReserveRatio {
        /// The book's committed amount.
        committed: Amount,
        /// The amount asked.
        amount: Amount,
        /// `floor(total × (1 - reserve_ratio))`.
        limit: Amount,
    },
    /// The pool would go below `-credit_limit`.
    ExceedsCreditLimit {
        /// The pool.
        pool: Amount,
        /// The amount asked.
        amount: Amount,
        /// The credit limit.
        credit_limit: Amount,
    },
    /// A result would leave the amount range (±10^10 units).
    Overflow,
    /// A reservation for a sell in a book whose sells hold nothing (`SellRule::HoldNothing`, the
    /// default: in a securities account a sell spends a position, not the cash, and seed 000
    /// reserves for buys only).
    SellNotReserved {
        /// The order.
        id: ClientOrderId,
    },
    /// A fill or cancel for an order that expired (`Command::Expire`): the executor must
    /// resolve it with the broker.
    OrderExpired {
        /// The order.
        id: ClientOrderId,
    },
    /// A keyed request (`Ledger::apply_once`) older than the request window: it may have been
    /// applied, and its outcome is no longer held, so it is not applied again. Look at the
    /// ledger before sending it under a new request number.
    RequestExpired {
        /// The request number.
        request: u64,
        /// The highest request number of the client that left the window.
        watermark: u64,
    },
    /// A cumulative fill report above the order's amount.
    FillExceedsAmount {
        /// The order.
        id: ClientOrderId,
        /// The order's amount.
        amount: Amount,
        /// The cumulative filled amount reported.
        filled: Amount,
    },
    /// A linked reservation (`Ledger::reserve_linked`) with no part, or with more than `max`.
    LinkLength {
        /// The parts it had.
        parts: u32,
        /// The most a chain may have (`ledger::LINKED_MAX`).
        max: u32,
    },
    /// Part `part` (from 0) of a linked reservation is not a `Reserve`: only reservations link.
    NotLinkable {
        /// The part.
        part: u32,
    },
    /// The client's grant does not allow this command (`Grant`); nothing changed.
    NotGranted {
        /// The command's kind.
        kind: CommandKind,
        /// The book it touches, if it touches one (an order command: its order's book).
        book: Option<BookId>,
        /// The slot it touches, if it touches one.
        slot: Option<u8>,
    },
}

impl Rejection {
    /// A stable `snake_case` name for logs, metrics and JSON.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidAmount { .. } => "invalid_amount",
            Rejection::InvalidRatio { .. } => "invalid_ratio",
            Rejection::SlotCountOutOfRange { .. } => "slot_count_out_of_range",
            Rejection::DecimalsOutOfRange { .. } => "decimals_out_of_range",
            Rejection::UnknownBook { .. } => "unknown_book",
            Rejection::BookExists { .. } => "book_exists",
            Rejection::BooksLimitReached { .. } => "books_limit_reached",
            Rejection::CurrenciesLimitReached { .. } => "currencies_limit_reached",
            Rejection::SlotOutOfRange { .. } => "slot_out_of_range",
            Rejection::SlotNotStrategy { .. } => "slot_not_strategy",
            Rejection::LabelTaken { .. } => "label_taken",
            Rejection::TradeSameBook { .. } => "trade_same_book",
            Rejection::TradeNotOpposite { .. } => "trade_not_opposite",
            Rejection::IdConflict { .. } => "id_conflict",
            Rejection::IdResolved { .. } => "id_resolved",
            Rejection::OrdersLimitReached { .. } => "orders_limit_reached",
            Rejection::UnknownOrder { .. } => "unknown_order",
            Rejection::OrderCancelled { .. } => "order_cancelled",
            Rejection::OrderFilled { .. } => "order_filled",
            Rejection::OrderReleased { .. } => "order_released",
            Rejection::OrderDropped { .. } => "order_dropped",
            Rejection::FillExceedsFrozen { .. } => "fill_exceeds_frozen",
            Rejection::ReleaseNotFilled { .. } => "release_not_filled",
            Rejection::ReleaseWorking { .. } => "release_working",
            Rejection::LiveOrders { .. } => "live_orders",
            Rejection::ExceedsAllocation { .. } => "exceeds_allocation",
            Rejection::ForcedReduce { .. } => "forced_reduce",
            Rejection::ExceedsNominalCap { .. } => "exceeds_nominal_cap",
            Rejection::ExceedsReserveRatio { .. } => "exceeds_reserve_ratio",
            Rejection::ExceedsCreditLimit { .. } => "exceeds_credit_limit",
            Rejection::Overflow => "overflow",
            Rejection::NotGranted { .. } => "not_granted",
            Rejection::SellNotReserved { .. } => "sell_not_reserved",
            Rejection::OrderExpired { .. } => "order_expired",
            Rejection::FillExceedsAmount { .. } => "fill_exceeds_amount",
            Rejection::RequestExpired { .. } => "request_expired",
            Rejection::LinkLength { .. } => "link_length",
            Rejection::NotLinkable { .. } => "not_linkable",
        }
    }
}

impl fmt::Display for Rejection {
    #[allow(clippy::too_many_lines, reason = "one arm per variant")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejection::InvalidAmount { amount, rule } => {
                let rule = match rule {
                    AmountRule::NonZero => "non-zero",
                    AmountRule::Positive => "positive",
                    AmountRule::NonNegative => "non-negative",
                };
                write!(f, "amount {amount} must be {rule}")
            }
            Rejection::InvalidRatio { setting, ratio } => write!(f, "{setting:?} {ratio} is out of range"),
            Rejection::DecimalsOutOfRange { decimals } => {
                write!(f, "a minor unit of {decimals} decimal places is finer than amounts keep (8)")
            }
            Rejection::SlotCountOutOfRange { slot_count } => {
                write!(f, "slot count {slot_count} is outside 2..=64")
            }
            Rejection::UnknownBook { book } => write!(f, "{book} does not exist"),
            Rejection::BookExists { venue, currency, book } => {
                write!(f, "{venue}/{currency} is already open as {book}")
            }
            Rejection::BooksLimitReached { books_max } => write!(f, "{books_max} books are open, the limit"),
            Rejection::CurrenciesLimitReached { currencies_max } => {
                write!(f, "{currencies_max} currencies have credit limits, the limit")
            }
            Rejection::SlotOutOfRange { slot, slot_count } => {
                write!(f, "slot {slot} is beyond the book's {slot_count} slots")
            }
            Rejection::SlotNotStrategy { slot } => {
                write!(f, "slot {slot} is not a strategy slot (strategies start at 2)")
            }
            Rejection::LabelTaken { label, slot } => write!(f, "label {label} is taken by slot {slot}"),
            Rejection::TradeSameBook { book } => write!(f, "trade names {book} twice"),
            Rejection::TradeNotOpposite { delta_a, delta_b } => {
                write!(f, "trade changes {delta_a} and {delta_b} do not have opposite signs")
            }
            Rejection::IdConflict { .. }
            | Rejection::IdResolved { .. }
            | Rejection::OrdersLimitReached { .. }
            | Rejection::UnknownOrder { .. }
            | Rejection::OrderCancelled { .. }
            | Rejection::OrderFilled { .. }
            | Rejection::OrderReleased { .. }
            | Rejection::OrderDropped { .. }
            | Rejection::FillExceedsFrozen { .. }
            | Rejection::ReleaseNotFilled { .. }
            | Rejection::ReleaseWorking { .. }
            | Rejection::SellNotReserved { .. }
            | Rejection::OrderExpired { .. }
            | Rejection::FillExceedsAmount { .. } => self.fmt_order(f),
            Rejection::LiveOrders { book, orders } => {
                write!(f, "{book} has {orders} live orders; reset with force to drop them")
            }
            Rejection::RequestExpired { request, watermark } => write!(
                f,
                "request {request} is older than the request window (up to {watermark} left it): it may have been applied; look before sending it anew"
            ),
            Rejection::ExceedsAllocation { slot, direct, amount } => {
                write!(f, "slot {slot} releases {amount} but holds {direct} allocated directly")
            }
            Rejection::ForcedReduce { slot, loss, loss_limit } => {
                write!(f, "slot {slot} is in forced-reduce: loss {loss} exceeds {loss_limit}")
            }
            Rejection::ExceedsNominalCap { committed, amount, cap } => {
                write!(f, "committed {committed} + {amount} exceeds the nominal cap {cap}")
            }
            Rejection::ExceedsReserveRatio { committed, amount, limit } => {
                write!(f, "first layer: committed {committed} + {amount} exceeds {limit}")
            }
            Rejection::ExceedsCreditLimit { pool, amount, credit_limit } => {
                // The floor is minus the limit: 0 when there is none (not "-0").
                write!(
                    f,
                    "pool {pool} - {amount} goes below the floor {} (credit limit {credit_limit})",
                    credit_limit.neg()
                )
            }
            Rejection::Overflow => f.write_str("result leaves the amount range"),
            Rejection::LinkLength { parts, max } => {
                write!(f, "a linked reservation of {parts} parts: it takes 1 to {max}")
            }
            Rejection::NotLinkable { part } => {
                write!(f, "part {part} of the linked reservation is not a reservation: only reservations link")
            }
            Rejection::NotGranted { kind, book, slot } => {
                write!(f, "this client's grant does not allow {}", kind.name())?;
                match (book, slot) {
                    (Some(book), Some(slot)) => write!(f, " on {book} slot {slot}"),
                    (Some(book), None) => write!(f, " on {book}"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Rejection {
    /// The messages of the order rules.
    fn fmt_order(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejection::IdConflict { id, field } => {
                write!(f, "order {id} was reserved with different fields: {field:?}")
            }
            Rejection::IdResolved { id, state } => {
                write!(f, "order {id} is already resolved ({state:?}); ids are not reused")
            }
            Rejection::OrdersLimitReached { orders_max } => {
                write!(f, "{orders_max} orders are live, the limit")
            }
            Rejection::UnknownOrder { id } => write!(f, "order {id} is unknown"),
            Rejection::OrderCancelled { id } => write!(f, "order {id} was cancelled"),
            Rejection::OrderFilled { id } => write!(f, "order {id} is fully filled"),
            Rejection::OrderReleased { id } => write!(f, "order {id} was released"),
            Rejection::OrderDropped { id } => write!(f, "order {id} was dropped by a forced reset"),
            Rejection::FillExceedsFrozen { id, frozen, fill } => {
                write!(f, "fill {fill} of order {id} exceeds its frozen {frozen}")
            }
            Rejection::ReleaseNotFilled { id } => write!(f, "order {id} has not filled; nothing to release"),
            Rejection::ReleaseWorking { id, frozen } => {
                write!(f, "order {id} still has {frozen} frozen; cancel or fill it before release")
            }
            Rejection::SellNotReserved { id } => {
                write!(f, "order {id} is a sell, and this book's sells hold nothing (a sell spends a position, not its cash): release the buys it closes")
            }
            Rejection::OrderExpired { id } => {
                write!(f, "order {id} expired before its fill; resolve it with the broker")
            }
            Rejection::FillExceedsAmount { id, amount, filled } => {
                write!(f, "cumulative fill {filled} of order {id} exceeds its amount {amount}")
            }
            _ => unreachable!("called for order rejections only"),
        }
    }
}

impl std::error::Error for Rejection {}
