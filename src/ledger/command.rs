//! Commands: every change to the ledger is one of these, applied by [`Ledger::apply`].
//!
//! Commands are `Copy` and fixed-size, so they travel over bounded channels and into a journal
//! without allocating.
//!
//! [`Ledger::apply`]: crate::Ledger::apply

use serde::{Deserialize, Serialize};

use crate::ledger::book::{BookId, BookSpec, StrategyConfig};
use crate::ledger::code::Currency;
use crate::ledger::money::Amount;
use crate::ledger::order::Side;
use crate::ledger::order_id::ClientOrderId;

/// A change to the ledger. The seed names each maps to are in `docs/model.md`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let id = "1790000000000000001".parse()?;
/// ledger.apply(&Command::Reserve { id, book: BookId::new(0), slot: 2, side: Side::Buy, layer: 1, amount: "1000".parse()? })?;
/// // Commands also read from JSON, tagged by `op`.
/// let fill: Command = serde_json::from_str(r#"{ "op": "fill", "id": "1790000000000000001", "amount": 400 }"#)?;
/// ledger.apply(&fill)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Command {
    /// Opens a book for a (venue, currency); its total and pool start at zero.
    OpenBook {
        /// What to open.
        spec: BookSpec,
    },
    /// Sets a strategy's label, nominal cap and loss limit.
    ConfigureStrategy {
        /// The book.
        book: BookId,
        /// A strategy slot (2..).
        slot: u8,
        /// The settings.
        config: StrategyConfig,
    },
    /// Sets how far below zero a currency's pools may go (seed 004, borrowing).
    SetCreditLimit {
        /// The currency; every book in it follows.
        currency: Currency,
        /// At least zero.
        limit: Amount,
    },
    /// `total = pool = balance`, strategies to zero (seed 004 `reset`). Refused while orders
    /// are live unless `force`, which drops them and reports what was dropped.
    Reset {
        /// The book.
        book: BookId,
        /// The new total.
        balance: Amount,
        /// Drop live orders and direct allocations.
        force: bool,
    },
    /// Sets one slot (seed 004 `set`). Slot 0 reconciles the total with the exchange and the
    /// pool absorbs the drift; slot 1 sets the pool and the total follows; a strategy slot is
    /// moved to `amount` through its direct allocation.
    Set {
        /// The book.
        book: BookId,
        /// Any slot of the book.
        slot: u8,
        /// The new value.
        amount: Amount,
    },
    /// Changes one slot by `delta` (seed 004 `adjust`). Slots 0 and 1 change the total and the
    /// pool together (a buy, a sell, a transfer); a strategy slot allocates or releases.
    Adjust {
        /// The book.
        book: BookId,
        /// Any slot of the book.
        slot: u8,
        /// Non-zero.
        delta: Amount,
    },
    /// Moves `amount` from the pool into a strategy's direct allocation (seed 004 `allocate`).
    Allocate {
        /// The book.
        book: BookId,
        /// A strategy slot.
        slot: u8,
        /// Positive.
        amount: Amount,
    },
    /// Moves `amount` of a strategy's direct allocation back to the pool (seed 004 `release`).
    Release {
        /// The book.
        book: BookId,
        /// A strategy slot.
        slot: u8,
        /// Positive, at most the direct allocation.
        amount: Amount,
    },
    /// A two-currency exchange applied atomically: both totals change or neither (seed 004's
    /// buy and sell as a pair of `adjust`s).
    Trade {
        /// The first book.
        book_a: BookId,
        /// Its change; non-zero, the opposite sign of `delta_b`.
        delta_a: Amount,
        /// The second book, not `book_a`.
        book_b: BookId,
        /// Its change.
        delta_b: Amount,
    },
    /// Reserves capital for an order about to be sent (seed 000 `request_allocation`): a buy,
    /// or a sell in a book whose sells spend its currency (`SellRule::Spend`, a crypto asset).
    /// In a book whose sells hold nothing (the default, seed 000's cash) a sell is refused
    /// (`Rejection::SellNotReserved`). A refused reservation leaves no trace, so its id can be
    /// reserved later (`docs/model.md`, "Ids").
    Reserve {
        /// The client order id; a repeat with the same fields is answered "already applied".
        id: ClientOrderId,
        /// The book the capital comes from.
        book: BookId,
        /// The strategy slot placing the order.
        slot: u8,
        /// Buy or sell.
        side: Side,
        /// The grid layer; 0 opens a first layer and must pass the reserve rule.
        layer: u32,
        /// Positive.
        amount: Amount,
    },
    /// Moves `amount` of an order's reservation from frozen to used (seed 000 `on_fill`). Not
    /// idempotent: a report delivered twice fills twice. Feed broker reports through
    /// [`Command::FillTo`] instead.
    Fill {
        /// The order.
        id: ClientOrderId,
        /// Positive, at most what is still frozen.
        amount: Amount,
    },
    /// The broker says the order has filled `filled` in all (its cumulative filled amount):
    /// moves the difference from what the ledger holds as filled from frozen to used. A report
    /// at or below what is already filled (a repeat, a replayed callback, an older report
    /// arriving late) is answered "already applied" and changes nothing, also after a restart
    /// and after the order was released.
    FillTo {
        /// The order.
        id: ClientOrderId,
        /// Positive, at most the order's amount.
        filled: Amount,
    },
    /// Returns an order's unfilled remainder to the pool (seed 000 `on_cancel`).
    Cancel {
        /// The order.
        id: ClientOrderId,
    },
    /// Cancels an order whose broker report never came within its expiry: like `Cancel`, but
    /// the order ends `Expired` and a late fill is refused (`Rejection::OrderExpired`) for the
    /// executor to resolve with the broker. The clock is the caller's (the executor bridge's
    /// sweep), so replaying the journal gives the same ledger.
    Expire {
        /// The order.
        id: ClientOrderId,
    },
    /// Marks a signal as being processed (the executor bridge's idempotency step). Answers how
    /// it was found: new, in flight (a crash interrupted it: resume), placed or refused.
    ClaimSignal {
        /// The signal's key (`ClientOrderId::from_text` of its `signal_id`).
        signal: ClientOrderId,
    },
    /// Marks a signal as consumed, placed or refused. Idempotent: the first consumption wins
    /// and a repeat changes nothing.
    ConsumeSignal {
        /// The signal's key.
        signal: ClientOrderId,
        /// Whether an order was placed for it.
        placed: bool,
    },
    /// Returns exactly what an order used to the pool when its position is closed
    /// (seed 000 `release(client_order_id)`).
    ReleaseOrder {
        /// The order.
        id: ClientOrderId,
    },
    /// Adds realized alpha to a strategy's accumulator.
    RecordAlpha {
        /// The book.
        book: BookId,
        /// A strategy slot.
        slot: u8,
        /// Non-zero; negative for a loss.
        amount: Amount,
    },
    /// Marks a strategy's single-cycle floating loss; above its loss limit the strategy is in
    /// forced-reduce (seed 000 section 5.3).
    MarkLoss {
        /// The book.
        book: BookId,
        /// A strategy slot.
        slot: u8,
        /// The loss as a non-negative amount.
        loss: Amount,
    },
}
