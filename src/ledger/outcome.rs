//! What an accepted command did.

use serde::{Deserialize, Serialize};

use crate::ledger::book::{BookId, Health};
use crate::ledger::money::Amount;
use crate::ledger::order::OrderState;

/// Where a signal is in the executor bridge's pipeline, as the ledger records it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalStatus {
    /// Not seen before the command that answered.
    New,
    /// Claimed and not consumed: its processing was interrupted (or is under way).
    InFlight,
    /// Consumed with an order placed.
    Placed,
    /// Consumed without an order (refused by a rule, the broker, or found malformed).
    Refused,
}

impl SignalStatus {
    /// The status's code in the journal: 1 in flight, 2 placed, 3 refused (0 new).
    pub(crate) const fn code(self) -> u8 {
        match self {
            SignalStatus::New => 0,
            SignalStatus::InFlight => 1,
            SignalStatus::Placed => 2,
            SignalStatus::Refused => 3,
        }
    }

    /// The status a code stands for.
    pub(crate) const fn from_code(code: u8) -> Option<SignalStatus> {
        Some(match code {
            0 => SignalStatus::New,
            1 => SignalStatus::InFlight,
            2 => SignalStatus::Placed,
            3 => SignalStatus::Refused,
            _ => return None,
        })
    }

    /// `true` once the signal is consumed.
    #[must_use]
    pub const fn is_consumed(self) -> bool {
        matches!(self, SignalStatus::Placed | SignalStatus::Refused)
    }
}

/// `new`, `in_flight`, `placed`, `refused`.
impl SignalStatus {
    /// The status's `snake_case` name, as in the JSON schema: `in_flight`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SignalStatus::New => "new",
            SignalStatus::InFlight => "in_flight",
            SignalStatus::Placed => "placed",
            SignalStatus::Refused => "refused",
        }
    }
}

impl std::fmt::Display for SignalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of an accepted command, with the figures a caller acts on.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, Outcome};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let outcome = ledger.apply(&Command::Allocate { book: BookId::new(0), slot: 2, amount: "500".parse()? })?;
/// assert_eq!(outcome, Outcome::Allocated { balance: "500".parse()? });
/// assert_eq!(outcome.to_string(), "allocated; the slot holds 500");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// A book was opened.
    BookOpened {
        /// Its id.
        book: BookId,
    },
    /// A strategy's settings were replaced.
    StrategyConfigured,
    /// A credit limit was set.
    CreditLimitSet {
        /// Books of that currency now updated.
        books: u16,
        /// Of those, books now `Unrecoverable`.
        books_unrecoverable: u16,
    },
    /// A book was reset.
    Reset {
        /// Live orders dropped (only with `force`).
        dropped_orders: u32,
        /// Their frozen amount, returned to the new pool.
        dropped_frozen: Amount,
        /// Their used amount, returned to the new pool.
        dropped_used: Amount,
        /// Direct allocations returned to the new pool.
        dropped_direct: Amount,
        /// The book's health afterwards.
        health: Health,
    },
    /// A slot was set.
    Set {
        /// New value minus old value: for slot 0, the drift between the ledger and the exchange.
        drift: Amount,
        /// The book's health afterwards.
        health: Health,
    },
    /// A slot was adjusted.
    Adjusted {
        /// The book's health afterwards.
        health: Health,
    },
    /// Capital was allocated to a strategy.
    Allocated {
        /// The strategy's balance afterwards.
        balance: Amount,
    },
    /// Capital was released from a strategy.
    Released {
        /// The strategy's balance afterwards.
        balance: Amount,
    },
    /// A two-currency exchange was applied.
    Traded {
        /// The first book's health afterwards.
        health_a: Health,
        /// The second book's health afterwards.
        health_b: Health,
    },
    /// An order's capital was reserved.
    Reserved {
        /// The book it came from.
        book: BookId,
    },
    /// The same reservation was already applied; nothing changed.
    AlreadyReserved {
        /// Where the order is now.
        state: OrderState,
    },
    /// A fill moved frozen to used.
    Filled {
        /// `PartiallyFilled` or `Filled`.
        state: OrderState,
        /// What is still frozen.
        remaining: Amount,
    },
    /// A cumulative fill report asked for no more than the order has already filled; nothing
    /// changed.
    FillAlreadyApplied {
        /// Where the order is now (or how it ended).
        state: OrderState,
        /// What the ledger holds as filled.
        filled: Amount,
    },
    /// A signal was claimed or consumed.
    Signal {
        /// Its status after the command.
        status: SignalStatus,
        /// `false` when the command found it already so (or already consumed) and changed
        /// nothing.
        fresh: bool,
    },
    /// An order was cancelled (or expired).
    Cancelled {
        /// The unfilled remainder returned to the pool.
        returned: Amount,
        /// The filled part the order still holds until it is released.
        held: Amount,
    },
    /// An order's used capital was returned to the pool.
    OrderReleased {
        /// The amount returned.
        returned: Amount,
    },
    /// Alpha was recorded.
    AlphaRecorded {
        /// The strategy's accumulated alpha afterwards.
        acc_alpha: Amount,
    },
    /// A floating loss was marked.
    LossMarked {
        /// Whether the strategy is in forced-reduce afterwards.
        forced_reduce: bool,
    },
}

/// One line saying what the command did: `reserved in book#0`, `cancelled: 500 back to the
/// pool, 300 held until released`.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::BookOpened { book } => write!(f, "opened {book}"),
            Outcome::StrategyConfigured => f.write_str("strategy configured"),
            Outcome::CreditLimitSet { books, books_unrecoverable } => {
                write!(f, "credit limit set on {books} books ({books_unrecoverable} unrecoverable)")
            }
            Outcome::Reset { dropped_orders, dropped_frozen, dropped_used, dropped_direct, health } => {
                write!(
                    f,
                    "reset ({dropped_orders} orders dropped: frozen {dropped_frozen}, used {dropped_used}, \
                 direct {dropped_direct}); {health}"
                )
            }
            Outcome::Set { drift, health } => write!(f, "set (drift {drift}); {health}"),
            Outcome::Adjusted { health } => write!(f, "adjusted; {health}"),
            Outcome::Allocated { balance } => write!(f, "allocated; the slot holds {balance}"),
            Outcome::Released { balance } => write!(f, "released; the slot holds {balance}"),
            Outcome::Traded { health_a, health_b } => write!(f, "traded; {health_a} / {health_b}"),
            Outcome::Reserved { book } => write!(f, "reserved in {book}"),
            Outcome::AlreadyReserved { state } => write!(f, "already reserved ({state}); nothing changed"),
            Outcome::Filled { state, remaining } => write!(f, "filled ({state}); {remaining} still frozen"),
            Outcome::FillAlreadyApplied { state, filled } => {
                write!(f, "already applied ({state}, {filled} filled); nothing changed")
            }
            Outcome::Signal { status, fresh } => {
                write!(f, "signal {status}{}", if *fresh { "" } else { " already; nothing changed" })
            }
            Outcome::Cancelled { returned, held } => {
                write!(f, "cancelled: {returned} back to the pool, {held} held until released")
            }
            Outcome::OrderReleased { returned } => write!(f, "released: {returned} back to the pool"),
            Outcome::AlphaRecorded { acc_alpha } => write!(f, "alpha recorded; accumulated {acc_alpha}"),
            Outcome::LossMarked { forced_reduce } => {
                write!(
                    f,
                    "loss marked; {}",
                    if *forced_reduce { "forced reduce" } else { "within the limit" }
                )
            }
        }
    }
}
