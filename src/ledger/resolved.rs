//! The window of recently resolved order ids.
//!
//! A resolved id (cancelled with nothing filled, released, dropped) leaves the live table but is
//! remembered here, so a late fill or a retried reservation with that id gets a precise answer
//! instead of "unknown" or, worse, a fresh reservation. The window is bounded: once it holds
//! `resolved_max` ids, resolving one more forgets the oldest. An id older than the window is
//! unknown again; size the window above the longest retry horizon of the executor.

use std::collections::VecDeque;

use crate::ledger::id_map::IdMap;
use crate::ledger::order::OrderState;
use crate::ledger::order_id::ClientOrderId;

#[derive(Clone, Debug)]
pub(crate) struct ResolvedWindow {
    order: VecDeque<ClientOrderId>,
    states: IdMap<OrderState>,
    capacity: usize,
}

impl ResolvedWindow {
    /// A window of `capacity` ids, allocated up front so that resolving never allocates.
    pub(crate) fn new(capacity: usize) -> ResolvedWindow {
        assert!(capacity > 0, "the resolved window needs room for at least one id");
        ResolvedWindow { order: VecDeque::with_capacity(capacity), states: IdMap::new(capacity), capacity }
    }

    pub(crate) fn get(&self, id: &ClientOrderId) -> Option<OrderState> {
        self.states.get(id).copied()
    }

    pub(crate) fn insert(&mut self, id: ClientOrderId, state: OrderState) {
        debug_assert!(self.states.get(&id).is_none(), "{id} resolved twice");
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.states.remove(&oldest);
            }
        }
        self.order.push_back(id);
        self.states.insert(id, state);
    }

    /// The remembered ids with how they ended, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ClientOrderId, OrderState)> + '_ {
        self.order.iter().filter_map(|id| self.states.get(id).map(|state| (*id, *state)))
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

impl PartialEq for ResolvedWindow {
    fn eq(&self, other: &ResolvedWindow) -> bool {
        // The deque fixes the eviction order; the map adds only the states.
        self.capacity == other.capacity && self.order == other.order && self.states == other.states
    }
}

impl Eq for ResolvedWindow {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut window = ResolvedWindow::new(2);
        let id = |n| ClientOrderId::snowflake(n).unwrap();
        window.insert(id(1), OrderState::Released);
        window.insert(id(2), OrderState::Cancelled);
        window.insert(id(3), OrderState::Dropped);
        assert_eq!(window.len(), 2);
        assert_eq!(window.get(&id(1)), None);
        assert_eq!(window.get(&id(2)), Some(OrderState::Cancelled));
        assert_eq!(window.get(&id(3)), Some(OrderState::Dropped));
    }
}
