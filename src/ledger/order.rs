//! Orders: the two-phase reservations that tie capital to a client order id.

use serde::{Deserialize, Serialize};

use crate::ledger::book::BookId;
use crate::ledger::money::Amount;
use crate::ledger::order_id::ClientOrderId;

/// The direction of an order. What a sell holds is the book's rule ([`SellRule`]). By default
/// (seed 000's cash book of a securities account) only a buy commits the book's cash: a sell
/// spends a position, not the pool, so the ledger refuses to reserve for it
/// ([`Rejection::SellNotReserved`]), seed 000's rules (15% first layer, nominal cap,
/// forced-reduce) apply to buys alone, and a sell's success releases the buy orders it closes
/// ([`Command::ReleaseOrder`]). In a book whose sells spend its currency (a crypto asset:
/// selling BTC spends BTC) a sell is reserved as a buy is; `docs/model.md`, "Sells".
///
/// [`SellRule`]: crate::SellRule
///
/// [`Rejection::SellNotReserved`]: crate::Rejection::SellNotReserved
/// [`Command::ReleaseOrder`]: crate::Command::ReleaseOrder
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::Side;
/// let side: Side = serde_json::from_str(r#""BUY""#)?;   // the seed's signals write it so
/// assert_eq!((side, side.to_string()), (Side::Buy, "buy".to_owned()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Opens or adds to a position. (`"BUY"` is read too: the seed's signals write it so.)
    #[serde(alias = "BUY")]
    Buy,
    /// Reduces a position.
    #[serde(alias = "SELL")]
    Sell,
}

/// Where an order is in its life. See the state diagram in `docs/model.md`.
///
/// ```text
/// Pending ──fill──▶ PartiallyFilled ──fill──▶ Filled ──release──▶ Released
///    │                    │
///    └──cancel──┬─────────┘            Cancelled / Expired ──release──▶ Released
///    └──expire──┤
///               ▼
///           Cancelled or Expired (remainder returned; filled part held until release)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Reserved, nothing filled: `frozen == amount`, `used == 0`.
    Pending,
    /// Some filled, some still working: `frozen > 0`, `used > 0`.
    PartiallyFilled,
    /// Everything filled: `frozen == 0`, `used == amount`.
    Filled,
    /// Cancelled: the unfilled remainder went back to the pool. If part had filled, the order
    /// still holds that `used` until it is released.
    Cancelled,
    /// Closed: its `used` went back to the pool. Terminal.
    Released,
    /// Dropped by a forced reset of its book. Terminal.
    Dropped,
    /// Expired: no broker report came within its expiry, and the unfilled remainder went back
    /// to the pool ([`Command::Expire`]). Like `Cancelled`, a filled part stays held until it
    /// is released; a later fill is refused ([`Rejection::OrderExpired`]).
    ///
    /// [`Command::Expire`]: crate::Command::Expire
    /// [`Rejection::OrderExpired`]: crate::Rejection::OrderExpired
    Expired,
}

impl Side {
    /// The side's code in the journal and the shared-memory layout: 1 buy, 2 sell.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Side::Buy => 1,
            Side::Sell => 2,
        }
    }

    /// The side a code stands for.
    pub(crate) const fn from_code(code: u8) -> Option<Side> {
        match code {
            1 => Some(Side::Buy),
            2 => Some(Side::Sell),
            _ => None,
        }
    }
}

impl OrderState {
    /// The state's code in the journal and the shared-memory layout: 1 pending, 2 partially
    /// filled, 3 filled, 4 cancelled, 5 released, 6 dropped, 7 expired.
    pub(crate) const fn code(self) -> u8 {
        match self {
            OrderState::Pending => 1,
            OrderState::PartiallyFilled => 2,
            OrderState::Filled => 3,
            OrderState::Cancelled => 4,
            OrderState::Released => 5,
            OrderState::Dropped => 6,
            OrderState::Expired => 7,
        }
    }

    /// The state a code stands for.
    pub(crate) const fn from_code(code: u8) -> Option<OrderState> {
        Some(match code {
            1 => OrderState::Pending,
            2 => OrderState::PartiallyFilled,
            3 => OrderState::Filled,
            4 => OrderState::Cancelled,
            5 => OrderState::Released,
            6 => OrderState::Dropped,
            7 => OrderState::Expired,
            _ => return None,
        })
    }
}

impl OrderState {
    /// `true` once nothing more can happen to the order.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, OrderState::Released | OrderState::Dropped)
    }
}

impl OrderState {
    /// The state's `snake_case` name, as in the JSON schema: `partially_filled`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::Filled => "filled",
            OrderState::Cancelled => "cancelled",
            OrderState::Released => "released",
            OrderState::Dropped => "dropped",
            OrderState::Expired => "expired",
        }
    }
}

/// The state's name ([`OrderState::name`]).
impl std::fmt::Display for OrderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `buy` or `sell`, as in the JSON schema.
impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// A live order: reserved and not yet fully resolved.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, OrderState, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let id = "1790000000000000001".parse()?;
/// ledger.apply(&Command::Reserve { id, book: BookId::new(0), slot: 2, side: Side::Buy, layer: 1, amount: "1000".parse()? })?;
/// ledger.apply(&Command::Fill { id, amount: "400".parse()? })?;
/// let order = ledger.order(id).ok_or("no order")?;
/// assert_eq!((order.frozen(), order.used(), order.state()), ("600".parse()?, "400".parse()?, OrderState::PartiallyFilled));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Order {
    #[serde(rename = "client_order_id")]
    pub(crate) id: ClientOrderId,
    pub(crate) book: BookId,
    pub(crate) slot: u8,
    pub(crate) side: Side,
    pub(crate) layer: u32,
    pub(crate) amount: Amount,
    pub(crate) frozen: Amount,
    pub(crate) used: Amount,
    pub(crate) state: OrderState,
}

impl Order {
    /// The client order id.
    #[must_use]
    pub const fn id(&self) -> ClientOrderId {
        self.id
    }
    /// The book the capital comes from.
    #[must_use]
    pub const fn book(&self) -> BookId {
        self.book
    }
    /// The strategy slot that placed it.
    #[must_use]
    pub const fn slot(&self) -> u8 {
        self.slot
    }
    /// Buy or sell.
    #[must_use]
    pub const fn side(&self) -> Side {
        self.side
    }
    /// The grid layer; 0 opens a first layer.
    #[must_use]
    pub const fn layer(&self) -> u32 {
        self.layer
    }
    /// The amount reserved when the order was sent.
    #[must_use]
    pub const fn amount(&self) -> Amount {
        self.amount
    }
    /// The part still reserved for the working order.
    #[must_use]
    pub const fn frozen(&self) -> Amount {
        self.frozen
    }
    /// The part filled and not yet released.
    #[must_use]
    pub const fn used(&self) -> Amount {
        self.used
    }
    /// Where the order is in its life.
    #[must_use]
    pub const fn state(&self) -> OrderState {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones_and_round_trip() {
        use OrderState::*;
        for (side, code) in [(Side::Buy, 1), (Side::Sell, 2)] {
            assert_eq!(side.code(), code);
            assert_eq!(Side::from_code(code), Some(side));
        }
        for (state, code) in [
            (Pending, 1),
            (PartiallyFilled, 2),
            (Filled, 3),
            (Cancelled, 4),
            (Released, 5),
            (Dropped, 6),
            (Expired, 7),
        ] {
            assert_eq!(state.code(), code);
            assert_eq!(OrderState::from_code(code), Some(state));
        }
        for code in [0, 8, 255] {
            assert_eq!(OrderState::from_code(code), None);
            assert_eq!(Side::from_code(code), None);
        }
        assert_eq!(Side::from_code(3), None);
    }

    #[test]
    fn accessors_return_their_fields() {
        let order = Order {
            id: ClientOrderId::snowflake(7).unwrap(),
            book: BookId::new(3),
            slot: 5,
            side: Side::Sell,
            layer: 9,
            amount: Amount::from_units(10).unwrap(),
            frozen: Amount::from_units(6).unwrap(),
            used: Amount::from_units(4).unwrap(),
            state: OrderState::PartiallyFilled,
        };
        assert_eq!((order.book().index(), order.slot(), order.layer()), (3, 5, 9));
        assert_eq!((order.side(), order.state()), (Side::Sell, OrderState::PartiallyFilled));
        assert_eq!(
            (order.amount(), order.frozen(), order.used()),
            (Amount::from_units(10).unwrap(), Amount::from_units(6).unwrap(), Amount::from_units(4).unwrap())
        );
    }

    #[test]
    fn only_released_and_dropped_are_terminal() {
        use OrderState::*;
        for (state, terminal) in [
            (Pending, false),
            (PartiallyFilled, false),
            (Filled, false),
            (Cancelled, false),
            (Expired, false),
            (Released, true),
            (Dropped, true),
        ] {
            assert_eq!(state.is_terminal(), terminal, "{state:?}");
        }
    }
}
