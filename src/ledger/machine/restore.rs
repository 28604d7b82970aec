//! A ledger to and from a checkpoint: its image, and the parts a checkpoint decodes, each
//! checked before they become a ledger.

use crate::ledger::book::{Book, SLOTS_MAX, SLOT_FIRST_STRATEGY};
use crate::ledger::code::Currency;
use crate::ledger::config::Limits;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::{Outcome, SignalStatus};
use crate::ledger::ratio::Ratio;
use crate::ledger::request::{RequestKey, Requests};
use crate::ledger::resolved::Resolved;

use super::Ledger;

/// Everything a checkpoint holds, borrowed from a ledger.
pub(crate) struct LedgerImage<'a> {
    pub(crate) limits: Limits,
    pub(crate) credit_limits: &'a [(Currency, Amount)],
    pub(crate) books: &'a [Book],
    pub(crate) orders: Vec<Order>,
    pub(crate) resolved: Vec<(ClientOrderId, OrderState, Amount)>,
    pub(crate) signals: Vec<(ClientOrderId, SignalStatus)>,
    pub(crate) requests: Vec<(RequestKey, u64, Outcome)>,
    pub(crate) watermarks: Vec<(u64, u64)>,
}

/// The parts of a ledger decoded from a checkpoint, for `Ledger::from_parts` to validate.
pub(crate) struct LedgerParts {
    pub(crate) limits: Limits,
    pub(crate) credit_limits: Vec<(Currency, Amount)>,
    pub(crate) books: Vec<Book>,
    pub(crate) orders: Vec<Order>,
    pub(crate) resolved: Vec<(ClientOrderId, OrderState, Amount)>,
    pub(crate) signals: Vec<(ClientOrderId, SignalStatus)>,
    pub(crate) requests: Vec<(RequestKey, u64, Outcome)>,
    pub(crate) watermarks: Vec<(u64, u64)>,
}

impl Ledger {
    /// The ledger's whole state, for a checkpoint.
    pub(crate) fn image(&self) -> LedgerImage<'_> {
        let (requests, watermarks) = self.requests.image();
        LedgerImage {
            limits: self.limits,
            credit_limits: &self.credit_limits,
            books: &self.books,
            orders: self.orders.values().copied().collect(),
            resolved: self.resolved.iter().map(|(id, r)| (id, r.state, r.filled)).collect(),
            signals: self.signals.iter().collect(),
            requests,
            watermarks,
        }
    }

    /// A ledger rebuilt from a checkpoint's parts, checked: limits, counts, every invariant and
    /// every per-order sum (`audit`).
    ///
    /// # Errors
    /// A description of the first thing that does not hold.
    pub(crate) fn from_parts(parts: LedgerParts) -> Result<Ledger, String> {
        let mut ledger = Ledger::new(parts.limits).map_err(|e| e.to_string())?;
        if parts.books.len() > usize::from(parts.limits.books_max)
            || parts.credit_limits.len() > usize::from(parts.limits.currencies_max)
            || parts.orders.len() > parts.limits.orders_max as usize
            || parts.resolved.len() > parts.limits.resolved_max as usize
            || parts.signals.len() > parts.limits.resolved_max as usize
        {
            return Err("more entries than the limits allow".into());
        }
        for (index, &(currency, limit)) in parts.credit_limits.iter().enumerate() {
            if limit.is_negative() || parts.credit_limits[..index].iter().any(|(c, _)| *c == currency) {
                return Err(format!("credit limit for {currency} is negative or repeated"));
            }
        }
        ledger.credit_limits = parts.credit_limits;
        for (index, book) in parts.books.iter().enumerate() {
            ledger.check_restored_book(index, book, &parts.books[..index])?;
        }
        ledger.books = parts.books;
        for book in &mut ledger.books {
            // Derived, never trusted from the parts.
            book.sums = book.recount();
        }
        for order in parts.orders {
            ledger.check_restored_order(&order)?;
            ledger.orders.insert(order.id, order);
        }
        for (id, state, filled) in parts.resolved {
            if ledger.resolved.get(&id).is_some() || ledger.orders.get(&id).is_some() {
                return Err(format!("resolved id {id} is duplicated or still live"));
            }
            let end = matches!(
                state,
                OrderState::Cancelled | OrderState::Expired | OrderState::Released | OrderState::Dropped
            );
            if !end {
                return Err(format!("resolved id {id} in state {state:?}, which is not an end"));
            }
            if filled.is_negative() {
                return Err(format!("resolved id {id} has a negative filled amount {filled}"));
            }
            ledger.resolved.insert(id, Resolved { state, filled });
        }
        for (id, status) in parts.signals {
            if ledger.signals.get(&id).is_some() || status == SignalStatus::New {
                return Err(format!("signal {id} is duplicated or has no status"));
            }
            ledger.signals.insert(id, status);
        }
        ledger.requests =
            Requests::restore(parts.limits.resolved_max as usize, parts.requests, parts.watermarks)?;
        ledger.audit()?;
        Ok(ledger)
    }

    /// A checkpointed book is what `open_book` and the commands could have made: its id is its
    /// position, its pair is unique, its spec valid, its credit limit its currency's, every
    /// strategy's figures non-negative with `direct <= used`, and a cap or loss limit not
    /// negative. (The balance invariant and the per-order sums are `audit`'s.)
    pub(super) fn check_restored_book(
        &self,
        index: usize,
        book: &Book,
        before: &[Book],
    ) -> Result<(), String> {
        let spec = &book.spec;
        if book.id.index() != index {
            return Err(format!("book at position {index} says it is {}", book.id));
        }
        if before.iter().any(|b| b.venue() == spec.venue && b.currency() == spec.currency) {
            return Err(format!("{} {}/{} is opened twice", book.id, spec.venue, spec.currency));
        }
        let slots_ok = (SLOT_FIRST_STRATEGY..=SLOTS_MAX).contains(&spec.slot_count)
            && book.strategies.len() == usize::from(spec.slot_count - SLOT_FIRST_STRATEGY);
        if !slots_ok || spec.reserve_ratio > Ratio::ONE || !spec.penalty.is_valid() {
            return Err(format!("{}: slot count or ratios out of range", book.id));
        }
        if book.credit_limit != self.credit_limit(spec.currency) {
            return Err(format!("{}: credit limit {} is not its currency's", book.id, book.credit_limit));
        }
        for (slot, s) in book.strategies() {
            let negative = [s.frozen, s.used, s.direct].iter().any(|a| a.is_negative())
                || s.config.cap.is_some_and(Amount::is_negative)
                || s.config.loss_limit.is_negative();
            if negative || s.direct > s.used {
                return Err(format!("{} slot {slot}: negative or inconsistent amounts", book.id));
            }
        }
        Ok(())
    }

    /// A checkpointed order is live, unique, in a strategy slot of a book that exists, with a
    /// positive amount split into non-negative frozen and used parts that do not exceed it.
    pub(super) fn check_restored_order(&self, order: &Order) -> Result<(), String> {
        let id = order.id;
        if self.orders.get(&id).is_some() {
            return Err(format!("order {id} is duplicated"));
        }
        let Some(book) = self.book(order.book) else {
            return Err(format!("order {id} names {}, which does not exist", order.book));
        };
        if !(SLOT_FIRST_STRATEGY..book.slot_count()).contains(&order.slot) {
            return Err(format!("order {id} is in slot {}, not a strategy slot of {}", order.slot, book.id));
        }
        if order.state.is_terminal() {
            return Err(format!("order {id} is live but in state {:?}", order.state));
        }
        let split = i128::from(order.frozen.raw()) + i128::from(order.used.raw());
        if !order.amount.is_positive()
            || order.frozen.is_negative()
            || order.used.is_negative()
            || split > i128::from(order.amount.raw())
        {
            return Err(format!(
                "order {id}: frozen {} and used {} do not fit amount {}",
                order.frozen, order.used, order.amount
            ));
        }
        Ok(())
    }
}
