//! The order-level commands (seed 000): reserve, fill, cancel or expire, and release what an
//! order holds, each with its rules in the order `docs/model.md` gives.

use crate::ledger::book::{Book, BookId, SellRule};
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::Outcome;
use crate::ledger::rejection::{Rejection, ReserveField};
use crate::ledger::resolved::Resolved;

use super::check::Before;
use super::{add, positive, sub, Ledger};

impl Ledger {
    /// The rules for capital that adds exposure: forced-reduce, then the nominal cap.
    pub(super) fn check_spend_rules(b: &Book, slot: u8, amount: Amount) -> Result<(), Rejection> {
        let strategy = b.strategy(slot).ok_or(Rejection::SlotNotStrategy { slot })?;
        if strategy.is_forced_reduce() {
            return Err(Rejection::ForcedReduce {
                slot,
                loss: strategy.float_loss,
                loss_limit: strategy.config.loss_limit,
            });
        }
        if let Some(cap) = strategy.config.cap {
            let committed = strategy.committed();
            if add(committed, amount)? > cap {
                return Err(Rejection::ExceedsNominalCap { committed, amount, cap });
            }
        }
        Ok(())
    }

    /// The credit rule: `pool - amount >= -credit_limit`. Also keeps the book's committed
    /// amount within range, so every sum over a book fits an [`Amount`].
    pub(super) fn check_funds(b: &Book, amount: Amount) -> Result<(), Rejection> {
        let after = i128::from(b.pool.raw()) - i128::from(amount.raw());
        if after < -i128::from(b.credit_limit.raw()) {
            return Err(Rejection::ExceedsCreditLimit { pool: b.pool, amount, credit_limit: b.credit_limit });
        }
        if i128::from(b.total.raw()) - after > i128::from(Amount::MAX.raw()) {
            return Err(Rejection::Overflow);
        }
        Ok(())
    }

    pub(super) fn reserve(
        &mut self,
        id: ClientOrderId,
        book: BookId,
        slot: u8,
        side: Side,
        layer: u32,
        amount: Amount,
    ) -> Result<Outcome, Rejection> {
        positive(amount)?;
        let index = self.strategy_slot(book, slot)?;
        if let Some(order) = self.orders.get(&id) {
            let field = if order.book != book {
                Some(ReserveField::Book { existing: order.book, requested: book })
            } else if order.slot != slot {
                Some(ReserveField::Slot { existing: order.slot, requested: slot })
            } else if order.side != side {
                Some(ReserveField::Side { existing: order.side, requested: side })
            } else if order.layer != layer {
                Some(ReserveField::Layer { existing: order.layer, requested: layer })
            } else if order.amount != amount {
                Some(ReserveField::Amount { existing: order.amount, requested: amount })
            } else {
                None
            };
            return match field {
                Some(field) => Err(Rejection::IdConflict { id, field }),
                None => Ok(Outcome::AlreadyReserved { state: order.state }),
            };
        }
        if let Some(resolved) = self.resolved.get(&id) {
            return Err(Rejection::IdResolved { id, state: resolved.state });
        }
        if side == Side::Sell && self.books[index].spec().sells == SellRule::HoldNothing {
            return Err(Rejection::SellNotReserved { id });
        }
        if self.orders.len() >= self.limits.orders_max as usize {
            return Err(Rejection::OrdersLimitReached { orders_max: self.limits.orders_max });
        }
        let b = &self.books[index];
        Self::check_spend_rules(b, slot, amount)?;
        if layer == 0 {
            let view = b.view();
            if !view.can_open_first_layer(amount) {
                return Err(Rejection::ExceedsReserveRatio {
                    committed: view.committed(),
                    amount,
                    limit: view.first_layer_limit(),
                });
            }
        }
        Self::check_funds(b, amount)?;
        let pool = sub(b.pool, amount)?;
        let frozen = add(b.strategy(slot).map_or(Amount::ZERO, |s| s.frozen), amount)?;

        let b = &mut self.books[index];
        b.pool = pool;
        b.orders_live += 1;
        let used = b.strategy_mut(slot).used;
        b.set_figures(slot, frozen, used);
        b.strategy_mut(slot).orders_live += 1;
        self.orders.insert(
            id,
            Order {
                id,
                book,
                slot,
                side,
                layer,
                amount,
                frozen: amount,
                used: Amount::ZERO,
                state: OrderState::Pending,
            },
        );
        self.settle(index);
        Ok(Outcome::Reserved { book })
    }

    /// The live order with `id`, or the rejection that explains why there is none.
    pub(super) fn live_order(&self, id: ClientOrderId) -> Result<&Order, Rejection> {
        if let Some(order) = self.orders.get(&id) {
            return Ok(order);
        }
        Err(match self.resolved.get(&id).map(|resolved| resolved.state) {
            Some(OrderState::Released) => Rejection::OrderReleased { id },
            Some(OrderState::Dropped) => Rejection::OrderDropped { id },
            Some(OrderState::Expired) => Rejection::OrderExpired { id },
            Some(_) => Rejection::OrderCancelled { id },
            None => Rejection::UnknownOrder { id },
        })
    }

    /// A fill, with the figures of the order's book and slot before it.
    pub(super) fn fill(&mut self, id: ClientOrderId, amount: Amount) -> Result<(Outcome, Before), Rejection> {
        positive(amount)?;
        let order = *self.live_order(id)?;
        match order.state {
            OrderState::Cancelled => return Err(Rejection::OrderCancelled { id }),
            OrderState::Expired => return Err(Rejection::OrderExpired { id }),
            OrderState::Filled => return Err(Rejection::OrderFilled { id }),
            _ => {}
        }
        if amount > order.frozen {
            return Err(Rejection::FillExceedsFrozen { id, frozen: order.frozen, fill: amount });
        }
        let index = order.book.index();
        let before = Before::One(index, order.slot, self.figures(index, order.slot));
        let strategy = self.strategy_of(&order);
        let (strategy_frozen, strategy_used) = (sub(strategy.frozen, amount)?, add(strategy.used, amount)?);
        let (order_frozen, order_used) = (sub(order.frozen, amount)?, add(order.used, amount)?);
        let state = if order_frozen.is_zero() { OrderState::Filled } else { OrderState::PartiallyFilled };

        self.books[index].set_figures(order.slot, strategy_frozen, strategy_used);
        self.orders.insert(id, Order { frozen: order_frozen, used: order_used, state, ..order });
        self.settle(index);
        Ok((Outcome::Filled { state, remaining: order_frozen }, before))
    }

    /// What a cumulative fill report asks for: `Ok(delta)` to fill, or `Err(outcome)` when the
    /// ledger already holds as much filled (live or resolved) and nothing is to change.
    pub(super) fn fill_to(
        &self,
        id: ClientOrderId,
        filled: Amount,
    ) -> Result<Result<Amount, Outcome>, Rejection> {
        positive(filled)?;
        let (state, held_filled, amount) = match self.orders.get(&id) {
            Some(order) => (order.state, order.used, order.amount),
            None => match self.resolved.get(&id) {
                Some(resolved) if filled <= resolved.filled => {
                    return Ok(Err(Outcome::FillAlreadyApplied {
                        state: resolved.state,
                        filled: resolved.filled,
                    }))
                }
                _ => return Err(self.live_order(id).err().unwrap_or(Rejection::UnknownOrder { id })),
            },
        };
        if filled <= held_filled {
            return Ok(Err(Outcome::FillAlreadyApplied { state, filled: held_filled }));
        }
        if filled > amount {
            return Err(Rejection::FillExceedsAmount { id, amount, filled });
        }
        // The rest of the checks (a cancelled or expired order) are `fill`'s.
        sub(filled, held_filled).map(Ok)
    }

    /// A cancel (or an expiry, `end` = `Expired`), with the figures of the order's book and
    /// slot before it.
    pub(super) fn cancel(
        &mut self,
        id: ClientOrderId,
        end: OrderState,
    ) -> Result<(Outcome, Before), Rejection> {
        let order = *self.live_order(id)?;
        match order.state {
            OrderState::Cancelled => return Err(Rejection::OrderCancelled { id }),
            OrderState::Expired => return Err(Rejection::OrderExpired { id }),
            OrderState::Filled => return Err(Rejection::OrderFilled { id }),
            _ => {}
        }
        let index = order.book.index();
        let before = Before::One(index, order.slot, self.figures(index, order.slot));
        let returned = order.frozen;
        let pool = add(self.books[index].pool, returned)?;
        let strategy_frozen = sub(self.strategy_of(&order).frozen, returned)?;

        let b = &mut self.books[index];
        b.pool = pool;
        let used = b.strategy_mut(order.slot).used;
        b.set_figures(order.slot, strategy_frozen, used);
        if order.used.is_zero() {
            self.forget(&order, end);
        } else {
            self.orders.insert(id, Order { frozen: Amount::ZERO, state: end, ..order });
        }
        self.settle(index);
        Ok((Outcome::Cancelled { returned, held: order.used }, before))
    }

    /// A release of an order, with the figures of its book and slot before it.
    pub(super) fn release_order(&mut self, id: ClientOrderId) -> Result<(Outcome, Before), Rejection> {
        let order = *self.live_order(id)?;
        match order.state {
            OrderState::Pending => return Err(Rejection::ReleaseNotFilled { id }),
            OrderState::PartiallyFilled => {
                return Err(Rejection::ReleaseWorking { id, frozen: order.frozen })
            }
            _ => {}
        }
        let index = order.book.index();
        let before = Before::One(index, order.slot, self.figures(index, order.slot));
        let returned = order.used;
        let pool = add(self.books[index].pool, returned)?;
        let strategy_used = sub(self.strategy_of(&order).used, returned)?;

        let b = &mut self.books[index];
        b.pool = pool;
        let frozen = b.strategy_mut(order.slot).frozen;
        b.set_figures(order.slot, frozen, strategy_used);
        self.forget(&order, OrderState::Released);
        self.settle(index);
        Ok((Outcome::OrderReleased { returned }, before))
    }

    pub(super) fn strategy_of(&self, order: &Order) -> &crate::ledger::book::Strategy {
        self.books[order.book.index()]
            .strategy(order.slot)
            .unwrap_or_else(|| unreachable!("order {} names a slot its book lacks", order.id))
    }

    /// Moves a resolved order from the live table to the resolved window.
    pub(super) fn forget(&mut self, order: &Order, state: OrderState) {
        let b = &mut self.books[order.book.index()];
        b.orders_live -= 1;
        b.strategy_mut(order.slot).orders_live -= 1;
        self.orders.remove(&order.id);
        self.resolved.insert(order.id, Resolved { state, filled: order.used });
    }
}
