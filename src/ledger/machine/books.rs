//! The book-level commands (seed 004): open a book, configure a strategy, credit limits, reset,
//! set, adjust, allocate, release, trade, and the strategy figures (alpha, the loss mark).

use crate::ledger::book::{
    Book, BookId, BookSpec, Health, StrategyConfig, SLOTS_MAX, SLOT_FIRST_STRATEGY, SLOT_POOL, SLOT_TOTAL,
};
use crate::ledger::code::Currency;
use crate::ledger::money::Amount;
use crate::ledger::order::OrderState;
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::Outcome;
use crate::ledger::ratio::Ratio;
use crate::ledger::rejection::{RatioSetting, Rejection};
use crate::ledger::resolved::Resolved;

use super::{add, default_name_slot, non_negative, non_zero, positive, sub, Ledger};

/// A validated move of capital between the pool and one strategy, ready to commit.
#[derive(Clone, Copy)]
pub(super) struct Move {
    book: usize,
    slot: u8,
    pool: Amount,
    strategy_value: Amount,
}

impl Ledger {
    pub(super) fn open_book(&mut self, spec: BookSpec) -> Result<Outcome, Rejection> {
        if !(SLOT_FIRST_STRATEGY..=SLOTS_MAX).contains(&spec.slot_count) {
            return Err(Rejection::SlotCountOutOfRange { slot_count: spec.slot_count });
        }
        if u32::from(spec.decimals) > Amount::DECIMALS {
            return Err(Rejection::DecimalsOutOfRange { decimals: spec.decimals });
        }
        if spec.reserve_ratio > Ratio::ONE {
            return Err(Rejection::InvalidRatio {
                setting: RatioSetting::ReserveRatio,
                ratio: spec.reserve_ratio,
            });
        }
        if !spec.penalty.is_valid() {
            return Err(Rejection::InvalidRatio {
                setting: RatioSetting::PenaltyLeave,
                ratio: spec.penalty.leave,
            });
        }
        if let Some(book) = self.book_id(spec.venue, spec.currency) {
            return Err(Rejection::BookExists { venue: spec.venue, currency: spec.currency, book });
        }
        if self.books.len() >= usize::from(self.limits.books_max) {
            return Err(Rejection::BooksLimitReached { books_max: self.limits.books_max });
        }
        // The limit check above keeps the index within u16.
        let id = BookId::new(self.books.len() as u16);
        self.books.push(Book::new(id, spec, self.credit_limit(spec.currency)));
        self.settle(id.index());
        Ok(Outcome::BookOpened { book: id })
    }

    pub(super) fn configure_strategy(
        &mut self,
        book: BookId,
        slot: u8,
        config: StrategyConfig,
    ) -> Result<Outcome, Rejection> {
        if let Some(cap) = config.cap {
            non_negative(cap)?;
        }
        non_negative(config.loss_limit)?;
        let index = self.strategy_slot(book, slot)?;
        if let Some(label) = config.label {
            if let Some(taken) = self.books[index].slot_of(label).filter(|&s| s != slot) {
                return Err(Rejection::LabelTaken { label, slot: taken });
            }
            // `slot<M>` is the name slot M goes by without a label (`shared_pool.json`): no other
            // slot may take it, or two strategies would share one set of keys.
            if let Some(owner) = default_name_slot(label).filter(|&s| s != slot) {
                return Err(Rejection::LabelTaken { label, slot: owner });
            }
        }
        self.books[index].strategy_mut(slot).config = config;
        Ok(Outcome::StrategyConfigured)
    }

    pub(super) fn set_credit_limit(
        &mut self,
        currency: Currency,
        limit: Amount,
    ) -> Result<Outcome, Rejection> {
        non_negative(limit)?;
        match self.credit_limits.iter().position(|(c, _)| *c == currency) {
            Some(entry) => self.credit_limits[entry].1 = limit,
            None if self.credit_limits.len() >= usize::from(self.limits.currencies_max) => {
                return Err(Rejection::CurrenciesLimitReached { currencies_max: self.limits.currencies_max });
            }
            None => self.credit_limits.push((currency, limit)),
        }
        let (mut books, mut books_unrecoverable) = (0, 0);
        for book in self.books.iter_mut().filter(|b| b.currency() == currency) {
            book.credit_limit = limit;
            books += 1;
            if book.health() != Health::Sound {
                books_unrecoverable += 1;
            }
        }
        Ok(Outcome::CreditLimitSet { books, books_unrecoverable })
    }

    pub(super) fn reset(&mut self, book: BookId, balance: Amount, force: bool) -> Result<Outcome, Rejection> {
        let index = self.book_index(book)?;
        let orders = self.books[index].orders_live;
        if orders > 0 && !force {
            return Err(Rejection::LiveOrders { book, orders });
        }
        let (mut dropped_frozen, mut dropped_used) = (Amount::ZERO, Amount::ZERO);
        // Dropped ids enter the bounded resolved window in ascending order, so which ids it
        // forgets is fixed by the commands alone (replay gives the same window). A forced reset
        // is rare and may allocate.
        let mut doomed: Vec<ClientOrderId> =
            self.orders.values().filter(|order| order.book == book).map(|order| order.id).collect();
        doomed.sort_unstable();
        for id in doomed {
            let order = self.orders.remove(&id).expect("listed from the live table");
            // Each sum is part of the book's committed amount, which is in range.
            dropped_frozen = dropped_frozen.checked_add(order.frozen).unwrap_or(Amount::MAX);
            dropped_used = dropped_used.checked_add(order.used).unwrap_or(Amount::MAX);
            self.resolved.insert(id, Resolved { state: OrderState::Dropped, filled: order.used });
        }
        let b = &mut self.books[index];
        let mut dropped_direct = Amount::ZERO;
        for strategy in &mut b.strategies {
            dropped_direct = dropped_direct.checked_add(strategy.direct).unwrap_or(Amount::MAX);
            strategy.frozen = Amount::ZERO;
            strategy.used = Amount::ZERO;
            strategy.direct = Amount::ZERO;
            strategy.orders_live = 0;
        }
        b.sums = (0, 0);
        b.orders_live = 0;
        b.total = balance;
        b.pool = balance;
        let health = b.health();
        self.settle(index);
        Ok(Outcome::Reset { dropped_orders: orders, dropped_frozen, dropped_used, dropped_direct, health })
    }

    pub(super) fn set(&mut self, book: BookId, slot: u8, amount: Amount) -> Result<Outcome, Rejection> {
        let index = self.any_slot(book, slot)?;
        let b = &self.books[index];
        match slot {
            SLOT_TOTAL | SLOT_POOL => {
                let current = if slot == SLOT_TOTAL { b.total } else { b.pool };
                let drift = sub(amount, current)?;
                self.shift_total(index, drift)?;
                Ok(Outcome::Set { drift, health: self.books[index].health() })
            }
            _ => {
                non_negative(amount)?;
                let current = b.strategy(slot).map_or(Amount::ZERO, crate::ledger::book::Strategy::committed);
                let drift = sub(amount, current)?;
                if drift.is_positive() {
                    self.commit_move(self.check_allocate(index, slot, drift)?);
                } else if drift.is_negative() {
                    self.commit_move(self.check_release(index, slot, drift.neg())?);
                }
                Ok(Outcome::Set { drift, health: self.books[index].health() })
            }
        }
    }

    pub(super) fn adjust(&mut self, book: BookId, slot: u8, delta: Amount) -> Result<Outcome, Rejection> {
        non_zero(delta)?;
        let index = self.any_slot(book, slot)?;
        match slot {
            SLOT_TOTAL | SLOT_POOL => self.shift_total(index, delta)?,
            _ if delta.is_positive() => {
                self.commit_move(self.check_allocate(index, slot, delta)?);
            }
            _ => {
                self.commit_move(self.check_release(index, slot, delta.neg())?);
            }
        }
        Ok(Outcome::Adjusted { health: self.books[index].health() })
    }

    /// Moves the total and the pool together by `delta`: the exchange says the account holds
    /// more or less, and the strategies keep what they hold. Never refused for the credit
    /// limit: the ledger must follow reality, and a pool pushed below `-credit_limit` is
    /// reported as `Health::Unrecoverable`.
    pub(super) fn shift_total(&mut self, index: usize, delta: Amount) -> Result<(), Rejection> {
        let b = &self.books[index];
        let total = add(b.total, delta)?;
        let pool = add(b.pool, delta)?;
        let b = &mut self.books[index];
        b.total = total;
        b.pool = pool;
        self.settle(index);
        Ok(())
    }

    pub(super) fn trade(
        &mut self,
        book_a: BookId,
        delta_a: Amount,
        book_b: BookId,
        delta_b: Amount,
    ) -> Result<Outcome, Rejection> {
        non_zero(delta_a)?;
        non_zero(delta_b)?;
        let a = self.book_index(book_a)?;
        let b = self.book_index(book_b)?;
        if a == b {
            return Err(Rejection::TradeSameBook { book: book_a });
        }
        if delta_a.is_positive() == delta_b.is_positive() {
            return Err(Rejection::TradeNotOpposite { delta_a, delta_b });
        }
        // Check both sides before touching either.
        let (ba, bb) = (&self.books[a], &self.books[b]);
        add(ba.total, delta_a)?;
        add(ba.pool, delta_a)?;
        add(bb.total, delta_b)?;
        add(bb.pool, delta_b)?;
        self.shift_total(a, delta_a)?;
        self.shift_total(b, delta_b)?;
        Ok(Outcome::Traded { health_a: self.books[a].health(), health_b: self.books[b].health() })
    }

    /// Moves `amount` from the pool to strategy `slot` (seed 004 `allocate`).
    pub(super) fn allocate(&mut self, book: BookId, slot: u8, amount: Amount) -> Result<Outcome, Rejection> {
        positive(amount)?;
        let index = self.strategy_slot(book, slot)?;
        let balance = self.commit_move(self.check_allocate(index, slot, amount)?);
        Ok(Outcome::Allocated { balance })
    }

    /// Moves `amount` from strategy `slot` back to the pool (seed 004 `release`).
    pub(super) fn release(&mut self, book: BookId, slot: u8, amount: Amount) -> Result<Outcome, Rejection> {
        positive(amount)?;
        let index = self.strategy_slot(book, slot)?;
        let balance = self.commit_move(self.check_release(index, slot, amount)?);
        Ok(Outcome::Released { balance })
    }

    /// Adds to the strategy's accumulated alpha (seed 000's step penalty reads it).
    pub(super) fn record_alpha(
        &mut self,
        book: BookId,
        slot: u8,
        amount: Amount,
    ) -> Result<Outcome, Rejection> {
        non_zero(amount)?;
        let index = self.strategy_slot(book, slot)?;
        let strategy = self.books[index].strategy_mut(slot);
        strategy.acc_alpha = add(strategy.acc_alpha, amount)?;
        Ok(Outcome::AlphaRecorded { acc_alpha: strategy.acc_alpha })
    }

    /// Marks the strategy's floating loss (seed 000's loss stop reads it).
    pub(super) fn mark_loss(&mut self, book: BookId, slot: u8, loss: Amount) -> Result<Outcome, Rejection> {
        non_negative(loss)?;
        let index = self.strategy_slot(book, slot)?;
        let strategy = self.books[index].strategy_mut(slot);
        strategy.float_loss = loss;
        Ok(Outcome::LossMarked { forced_reduce: strategy.is_forced_reduce() })
    }

    /// Checks a move of `amount` from the pool into a strategy's direct allocation: forced-reduce,
    /// nominal cap, credit limit, in that order.
    pub(super) fn check_allocate(&self, index: usize, slot: u8, amount: Amount) -> Result<Move, Rejection> {
        let b = &self.books[index];
        let strategy = b.strategy(slot).ok_or(Rejection::SlotNotStrategy { slot })?;
        Self::check_spend_rules(b, slot, amount)?;
        Self::check_funds(b, amount)?;
        Ok(Move {
            book: index,
            slot,
            pool: sub(b.pool, amount)?,
            strategy_value: add(strategy.direct, amount)?,
        })
    }

    /// Checks a move of `amount` from a strategy's direct allocation back to the pool.
    pub(super) fn check_release(&self, index: usize, slot: u8, amount: Amount) -> Result<Move, Rejection> {
        let b = &self.books[index];
        let strategy = b.strategy(slot).ok_or(Rejection::SlotNotStrategy { slot })?;
        if amount > strategy.direct {
            return Err(Rejection::ExceedsAllocation { slot, direct: strategy.direct, amount });
        }
        Ok(Move {
            book: index,
            slot,
            pool: add(b.pool, amount)?,
            strategy_value: sub(strategy.direct, amount)?,
        })
    }

    /// Commits a checked move of a direct allocation; returns the strategy's balance.
    pub(super) fn commit_move(&mut self, m: Move) -> Amount {
        let b = &mut self.books[m.book];
        let strategy = b.strategy_mut(m.slot);
        let delta = m.strategy_value.raw() - strategy.direct.raw();
        strategy.direct = m.strategy_value;
        // `used` moves with `direct`; both stay within the book's committed amount.
        let (frozen, used) =
            (strategy.frozen, Amount::from_raw(strategy.used.raw() + delta).unwrap_or(Amount::MAX));
        b.set_figures(m.slot, frozen, used);
        let balance = b.strategy_mut(m.slot).committed();
        b.pool = m.pool;
        self.settle(m.book);
        balance
    }
}
