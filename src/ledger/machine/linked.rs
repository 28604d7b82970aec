//! Linked reservations: several orders reserved all or none (a ladder of grid layers, a basket,
//! an engine's order list), as TigerBeetle links transfers. Each part is checked by every rule
//! of a reservation, in order, against the ledger the parts before it left; the first refusal
//! takes the earlier parts back and refuses the whole.

use std::fmt;

use crate::ledger::book::Book;
use crate::ledger::command::Command;
use crate::ledger::outcome::Outcome;
use crate::ledger::rejection::Rejection;

use super::Ledger;

/// The most parts a linked reservation may have.
pub const LINKED_MAX: usize = 64;

/// Why a linked reservation was refused: the first part that failed (from 0) and its rejection.
/// Nothing changed: the parts before it were taken back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkedRejection {
    /// The part that failed.
    pub part: usize,
    /// Why.
    pub rejection: Rejection,
}

impl fmt::Display for LinkedRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "part {} of the linked reservation: {}", self.part, self.rejection)
    }
}

impl std::error::Error for LinkedRejection {}

impl Ledger {
    /// Reserves every part of `parts` or none (`docs/model.md`, "Linked reservations"). Each
    /// part is a [`Command::Reserve`] and is checked by every rule of a reservation in order,
    /// against the ledger the parts before it left (two parts share the pool as two orders
    /// would). A part whose order is already live with the same fields is answered
    /// [`Outcome::AlreadyReserved`], so a chain sent again reserves nothing twice.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Command, Ledger, LedgerConfig, Side};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 10000 } ] }"#)?;
    /// let mut ledger = Ledger::from_config(&config)?;
    /// let layer = |n: u64, amount: &str| -> Result<Command, Box<dyn std::error::Error>> {
    ///     Ok(Command::Reserve { id: capvault::ClientOrderId::snowflake(n)?, book: BookId::new(0), slot: 2,
    ///         side: Side::Buy, layer: 1, amount: amount.parse()? })
    /// };
    /// // Three grid layers of 4,000 do not fit in 10,000: none is reserved.
    /// let refused = ledger.reserve_linked(&[layer(1, "4000")?, layer(2, "4000")?, layer(3, "4000")?]).unwrap_err();
    /// assert_eq!(refused.part, 2);
    /// assert_eq!(ledger.balance(BookId::new(0), 1)?, "10000".parse()?);
    /// ledger.reserve_linked(&[layer(1, "4000")?, layer(2, "4000")?])?;
    /// assert_eq!(ledger.balance(BookId::new(0), 1)?, "2000".parse()?);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The first part refused, with its rejection: [`Rejection::LinkLength`] (part 0) for no
    /// part or more than [`LINKED_MAX`], [`Rejection::NotLinkable`] for a part that is not a
    /// reservation, or the part's own rejection.
    pub fn reserve_linked(&mut self, parts: &[Command]) -> Result<Vec<Outcome>, LinkedRejection> {
        Self::check_linked(parts)?;
        let mut outcomes = Vec::with_capacity(parts.len());
        // The books as they were before the chain: taken back whole on a refusal, so that state
        // a reservation moves one way only (the step penalty's hysteresis) comes back exactly.
        let mut saved: Vec<(usize, Book)> = Vec::new();
        for (part, command) in parts.iter().enumerate() {
            if let Command::Reserve { book, .. } = *command {
                if let Ok(index) = self.book_index(book) {
                    if saved.iter().all(|(saved, _)| *saved != index) {
                        saved.push((index, self.books[index].clone()));
                    }
                }
            }
            match self.apply(command) {
                Ok(outcome) => outcomes.push(outcome),
                Err(rejection) => {
                    self.take_back(parts, &outcomes, saved);
                    return Err(LinkedRejection { part, rejection });
                }
            }
        }
        Ok(outcomes)
    }

    /// A chain's shape: 1 to [`LINKED_MAX`] parts, each a reservation.
    pub(crate) fn check_linked(parts: &[Command]) -> Result<(), LinkedRejection> {
        if parts.is_empty() || parts.len() > LINKED_MAX {
            let parts = u32::try_from(parts.len()).unwrap_or(u32::MAX);
            return Err(LinkedRejection {
                part: 0,
                rejection: Rejection::LinkLength { parts, max: LINKED_MAX as u32 },
            });
        }
        match parts.iter().position(|part| !matches!(part, Command::Reserve { .. })) {
            Some(part) => Err(LinkedRejection {
                part,
                rejection: Rejection::NotLinkable { part: u32::try_from(part).unwrap_or(u32::MAX) },
            }),
            None => Ok(()),
        }
    }

    /// Takes back the parts a refused chain reserved: their orders, then the books as saved.
    fn take_back(&mut self, parts: &[Command], outcomes: &[Outcome], saved: Vec<(usize, Book)>) {
        for (part, outcome) in parts.iter().zip(outcomes) {
            if let (Command::Reserve { id, .. }, Outcome::Reserved { .. }) = (part, outcome) {
                self.orders.remove(id);
            }
        }
        for (index, book) in saved {
            self.books[index] = book;
        }
    }
}
