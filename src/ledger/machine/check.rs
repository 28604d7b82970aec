//! The money check and the audit: what an accepted command moved is compared with the model
//! table of `docs/model.md`, and every derived figure can be recomputed from the books and orders.
//! Also the per-book versions that tell publication which books changed.

use std::collections::HashMap;

use crate::ledger::book::{BookId, SLOT_FIRST_STRATEGY, SLOT_TOTAL};
use crate::ledger::command::Command;
use crate::ledger::money::Amount;
use crate::ledger::order::OrderState;
use crate::ledger::outcome::Outcome;

use super::Ledger;

/// What the money check of an accepted command needs besides the command and its outcome:
/// the figures read before it, and for a cumulative fill the delta it applied. Not ledger state:
/// equal ledgers may differ here.
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Unchecked(pub(super) Option<(Before, Option<Amount>)>);

impl PartialEq for Unchecked {
    fn eq(&self, _: &Unchecked) -> bool {
        true
    }
}

impl Eq for Unchecked {}

/// A version per book, raised whenever an accepted command may have changed it. Bookkeeping for
/// publication, not ledger state: two ledgers with the same books and orders are equal whatever
/// their versions.
#[derive(Clone, Default)]
pub(super) struct Versions {
    pub(super) next: u64,
    pub(super) of: Vec<u64>,
}

impl Versions {
    fn touch(&mut self, index: usize) {
        if self.of.len() <= index {
            self.of.resize(index + 1, 0);
        }
        self.next += 1;
        self.of[index] = self.next;
    }
}

impl PartialEq for Versions {
    fn eq(&self, _: &Versions) -> bool {
        true
    }
}

impl Eq for Versions {}

/// One book's total and pool, and one slot's frozen and used, as raw amounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Figures {
    pub(super) total: i64,
    pub(super) pool: i64,
    pub(super) frozen: i64,
    pub(super) used: i64,
}

impl Figures {
    /// `[total, pool, frozen, used]` of `self` minus `earlier`, wide enough for any difference.
    fn less(self, earlier: Figures) -> [i128; 4] {
        let d = |now: i64, then: i64| i128::from(now) - i128::from(then);
        [
            d(self.total, earlier.total),
            d(self.pool, earlier.pool),
            d(self.frozen, earlier.frozen),
            d(self.used, earlier.used),
        ]
    }
}

/// What `apply` read before a command, to check the money it moved.
#[derive(Clone, Copy, Debug, Default)]
pub(super) enum Before {
    /// A book index, a slot, and their figures.
    One(usize, u8, Figures),
    /// The two books of a trade.
    Two([(usize, Figures); 2]),
    /// Nothing to compare (a new book, a credit limit, a reset: checked on its own).
    #[default]
    Nothing,
}

/// The model table of `docs/model.md`: `[total, pool, frozen, used]` an accepted command moves
/// in its book and slot.
pub(super) fn expected_move(command: &Command, outcome: &Outcome, slot: u8) -> [i128; 4] {
    let raw = |amount: Amount| i128::from(amount.raw());
    match (*command, *outcome) {
        (Command::Reserve { amount, .. }, Outcome::Reserved { .. }) => [0, -raw(amount), raw(amount), 0],
        (Command::Fill { amount, .. }, _) => [0, 0, -raw(amount), raw(amount)],
        (Command::Cancel { .. } | Command::Expire { .. }, Outcome::Cancelled { returned, .. }) => {
            [0, raw(returned), -raw(returned), 0]
        }
        (Command::ReleaseOrder { .. }, Outcome::OrderReleased { returned }) => {
            [0, raw(returned), 0, -raw(returned)]
        }
        (Command::Allocate { amount, .. }, _) => [0, -raw(amount), 0, raw(amount)],
        (Command::Release { amount, .. }, _) => [0, raw(amount), 0, -raw(amount)],
        (Command::Adjust { delta, .. }, _) if slot < SLOT_FIRST_STRATEGY => [raw(delta), raw(delta), 0, 0],
        (Command::Adjust { delta, .. }, _) => [0, -raw(delta), 0, raw(delta)],
        (Command::Set { .. }, Outcome::Set { drift, .. }) if slot < SLOT_FIRST_STRATEGY => {
            [raw(drift), raw(drift), 0, 0]
        }
        (Command::Set { .. }, Outcome::Set { drift, .. }) => [0, -raw(drift), 0, raw(drift)],
        // An idempotent repeat, an alpha record, a loss mark, a strategy's settings: no money.
        _ => [0, 0, 0, 0],
    }
}

impl Ledger {
    /// Asserts that `command`, which [`Ledger::apply_unchecked`] accepted last with `outcome`,
    /// moved exactly the money the model table says; called before the ledger changes again.
    ///
    /// # Panics
    /// If it moved anything else: a bug in the ledger.
    pub(crate) fn check_moved(&mut self, command: &Command, outcome: &Outcome) {
        let Some((before, fill)) = self.unchecked.0.take() else { return };
        match (*command, fill) {
            (Command::FillTo { id, .. }, Some(amount)) => {
                self.assert_moved(&Command::Fill { id, amount }, outcome, before);
            }
            _ => self.assert_moved(command, outcome, before),
        }
    }

    /// The version of book `index`: it changes whenever an accepted command may have changed
    /// the book, so a publisher can reuse its copy of a book whose version is unchanged.
    #[must_use]
    pub fn book_version(&self, index: usize) -> u64 {
        self.versions.of.get(index).copied().unwrap_or(0)
    }

    /// Raises the version of every book an accepted command may have changed.
    pub(super) fn touch(&mut self, command: &Command, before: Before) {
        match *command {
            Command::OpenBook { .. } => self.versions.touch(self.books.len() - 1),
            Command::SetCreditLimit { currency, .. } => {
                for index in 0..self.books.len() {
                    if self.books[index].currency() == currency {
                        self.versions.touch(index);
                    }
                }
            }
            Command::Trade { book_a, book_b, .. } => {
                self.versions.touch(book_a.index());
                self.versions.touch(book_b.index());
            }
            Command::Fill { .. }
            | Command::FillTo { .. }
            | Command::Cancel { .. }
            | Command::Expire { .. }
            | Command::ReleaseOrder { .. } => {
                if let Before::One(index, ..) = before {
                    self.versions.touch(index);
                }
            }
            // The signal window is not published with the books.
            Command::ClaimSignal { .. } | Command::ConsumeSignal { .. } => {}
            Command::Reserve { book, .. }
            | Command::Allocate { book, .. }
            | Command::Release { book, .. }
            | Command::Adjust { book, .. }
            | Command::Set { book, .. }
            | Command::RecordAlpha { book, .. }
            | Command::MarkLoss { book, .. }
            | Command::ConfigureStrategy { book, .. }
            | Command::Reset { book, .. } => self.versions.touch(book.index()),
        }
    }

    /// The money of book `index` and its slot `slot` (frozen and used are zero for slots 0
    /// and 1).
    pub(super) fn figures(&self, index: usize, slot: u8) -> Figures {
        let book = &self.books[index];
        let (frozen, used) = book.strategy(slot).map_or((0, 0), |s| (s.frozen.raw(), s.used.raw()));
        Figures { total: book.total.raw(), pool: book.pool.raw(), frozen, used }
    }

    /// What a command may move, read before it is applied: the book and slot it touches (an
    /// order's, for the order commands), or both books of a trade.
    pub(super) fn figures_before(&self, command: &Command) -> Before {
        let one = |book: BookId, slot: u8| match self.book_index(book) {
            Ok(index) if slot < self.books[index].slot_count() => {
                Before::One(index, slot, self.figures(index, slot))
            }
            _ => Before::Nothing,
        };
        match *command {
            Command::Reserve { book, slot, .. }
            | Command::Allocate { book, slot, .. }
            | Command::Release { book, slot, .. }
            | Command::Adjust { book, slot, .. }
            | Command::Set { book, slot, .. }
            | Command::RecordAlpha { book, slot, .. }
            | Command::MarkLoss { book, slot, .. }
            | Command::ConfigureStrategy { book, slot, .. } => one(book, slot),
            Command::Trade { book_a, book_b, .. } => match (self.book_index(book_a), self.book_index(book_b))
            {
                (Ok(a), Ok(b)) => {
                    Before::Two([(a, self.figures(a, SLOT_TOTAL)), (b, self.figures(b, SLOT_TOTAL))])
                }
                _ => Before::Nothing,
            },
            // An order command reads its own (`fill`, `cancel`, `release_order`); a reset is
            // checked on its own.
            Command::Fill { .. }
            | Command::FillTo { .. }
            | Command::Cancel { .. }
            | Command::Expire { .. }
            | Command::ReleaseOrder { .. }
            | Command::ClaimSignal { .. }
            | Command::ConsumeSignal { .. }
            | Command::Reset { .. }
            | Command::OpenBook { .. }
            | Command::SetCreditLimit { .. } => Before::Nothing,
        }
    }

    /// Asserts that an accepted command moved exactly the money the model table of
    /// `docs/model.md` says, in release builds too: a ledger that moved anything else must stop,
    /// not trade on. (The book invariant is asserted separately, in `settle`.)
    pub(super) fn assert_moved(&self, command: &Command, outcome: &Outcome, before: Before) {
        if let Before::Two([(a, was_a), (b, was_b)]) = before {
            let Command::Trade { delta_a, delta_b, .. } = *command else { return };
            for (index, was, delta) in [(a, was_a, delta_a), (b, was_b, delta_b)] {
                let moved = i128::from(delta.raw());
                assert_eq!(self.figures(index, SLOT_TOTAL).less(was), [moved, moved, 0, 0], "{command:?}");
            }
            return;
        }
        if let Command::Reset { book, balance, .. } = *command {
            let b = &self.books[book.index()];
            assert!(b.total == balance && b.pool == balance, "{command:?} left {b:?}");
            assert!(b.strategies.iter().all(|s| s.frozen.is_zero() && s.used.is_zero()), "{command:?}");
            return;
        }
        let Before::One(index, slot, was) = before else { return };
        let moved = self.figures(index, slot).less(was);
        assert_eq!(moved, expected_move(command, outcome, slot), "{command:?} answered {outcome:?}");
        if let Some(s) = self.books[index].strategy(slot) {
            // The touched slot's own rules (the whole book is checked slot by slot in debug builds).
            let sound = !s.frozen.is_negative() && !s.used.is_negative() && !s.direct.is_negative();
            assert!(sound && s.direct <= s.used, "{command:?} left slot {slot}: {s:?}");
        }
    }

    /// Each book's kept `(Σ frozen, Σ used)` against its strategies.
    pub(super) fn audit_kept_sums(&self) -> Result<(), String> {
        for book in &self.books {
            if book.sums != book.recount() {
                return Err(format!(
                    "{}: kept sums {:?} differ from the strategies' {:?}",
                    book.id,
                    book.sums,
                    book.recount()
                ));
            }
        }
        Ok(())
    }

    /// Checks a full recomputation of every derived figure against the stored ones: each
    /// strategy's `frozen` and `used` against the sums over its live orders plus its direct
    /// allocation, each book's live order count, and the book invariant. `O(orders)`; for tests
    /// and audits, not for the apply path.
    ///
    /// # Errors
    /// A description of the first mismatch.
    pub fn audit(&self) -> Result<(), String> {
        self.audit_kept_sums()?;
        let mut sums: HashMap<(usize, u8), (i128, i128, u32)> = HashMap::new();
        for order in self.orders.values() {
            let entry = sums.entry((order.book.index(), order.slot)).or_default();
            entry.0 += i128::from(order.frozen.raw());
            entry.1 += i128::from(order.used.raw());
            entry.2 += 1;
            let consistent = match order.state {
                OrderState::Pending => order.frozen == order.amount && order.used.is_zero(),
                OrderState::PartiallyFilled => {
                    order.frozen.is_positive()
                        && order.used.is_positive()
                        && i128::from(order.frozen.raw()) + i128::from(order.used.raw())
                            == i128::from(order.amount.raw())
                }
                OrderState::Filled => order.frozen.is_zero() && order.used == order.amount,
                OrderState::Cancelled | OrderState::Expired => {
                    order.frozen.is_zero() && order.used.is_positive()
                }
                OrderState::Released | OrderState::Dropped => false,
            };
            if !consistent {
                return Err(format!("order {} is inconsistent: {order:?}", order.id));
            }
        }
        for book in &self.books {
            let mut orders_live = 0;
            for (slot, strategy) in book.strategies() {
                let (frozen, used, count) = sums.get(&(book.id.index(), slot)).copied().unwrap_or_default();
                if i128::from(strategy.frozen.raw()) != frozen {
                    return Err(format!(
                        "{} slot {slot}: frozen {} != orders' {frozen}",
                        book.id, strategy.frozen
                    ));
                }
                if i128::from(strategy.used.raw()) != used + i128::from(strategy.direct.raw()) {
                    return Err(format!(
                        "{} slot {slot}: used {} != orders' {used} + direct {}",
                        book.id, strategy.used, strategy.direct
                    ));
                }
                if strategy.orders_live != count {
                    return Err(format!(
                        "{} slot {slot}: {} live orders counted, {count} held",
                        book.id, strategy.orders_live
                    ));
                }
                orders_live += count;
            }
            if book.orders_live != orders_live {
                return Err(format!(
                    "{}: {} live orders counted, {orders_live} held",
                    book.id, book.orders_live
                ));
            }
            let committed: i128 =
                book.strategies().map(|(_, s)| i128::from(s.frozen.raw()) + i128::from(s.used.raw())).sum();
            if i128::from(book.total.raw()) != i128::from(book.pool.raw()) + committed {
                return Err(format!(
                    "{}: total {} != pool {} + committed {committed}",
                    book.id, book.total, book.pool
                ));
            }
        }
        Ok(())
    }
}
