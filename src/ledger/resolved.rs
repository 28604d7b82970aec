//! Windows of recent ids: the resolved orders, and the signals the executor bridge consumed.
//!
//! A resolved id (cancelled with nothing filled, released, dropped) leaves the live table but is
//! remembered here, so a late fill or a retried reservation with that id gets a precise answer
//! instead of "unknown" or, worse, a fresh reservation. The window is bounded: once it holds
//! `resolved_max` ids, resolving one more forgets the oldest. An id older than the window is
//! unknown again; size the window above the longest retry horizon of the executor.

use std::collections::VecDeque;

use crate::ledger::id_map::IdMap;
use crate::ledger::money::Amount;
use crate::ledger::order::OrderState;
use crate::ledger::order_id::ClientOrderId;

/// How a resolved order ended, and how much of it had filled: a repeated cumulative fill report
/// (`Command::FillTo`) that asks for no more than this is answered "already applied".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Resolved {
    pub(crate) state: OrderState,
    pub(crate) filled: Amount,
}

/// The resolved orders the ledger remembers.
pub(crate) type ResolvedWindow = Window<Resolved>;

/// A bounded memory of ids: once it holds `capacity` ids, adding one more forgets the oldest.
#[derive(Clone, Debug)]
pub(crate) struct Window<V> {
    order: VecDeque<ClientOrderId>,
    states: IdMap<V>,
    capacity: usize,
}

impl<V: Copy> Window<V> {
    /// A window of `capacity` ids, allocated up front so that adding never allocates.
    pub(crate) fn new(capacity: usize) -> Window<V> {
        assert!(capacity > 0, "a window needs room for at least one id");
        Window { order: VecDeque::with_capacity(capacity), states: IdMap::new(capacity), capacity }
    }

    pub(crate) fn get(&self, id: &ClientOrderId) -> Option<V> {
        self.states.get(id).copied()
    }

    /// Adds a new id; the caller has checked that it is not held.
    pub(crate) fn insert(&mut self, id: ClientOrderId, value: V) {
        self.insert_evicting(id, value);
    }

    /// [`Window::insert`], returning the id it forgot to make room, if any.
    pub(crate) fn insert_evicting(&mut self, id: ClientOrderId, value: V) -> Option<ClientOrderId> {
        debug_assert!(self.states.get(&id).is_none(), "{id} added twice");
        let evicted = if self.order.len() == self.capacity { self.order.pop_front() } else { None };
        if let Some(oldest) = evicted {
            self.states.remove(&oldest);
        }
        self.order.push_back(id);
        self.states.insert(id, value);
        evicted
    }

    /// Changes the value of an id the window holds, keeping its place in the eviction order.
    pub(crate) fn update(&mut self, id: ClientOrderId, value: V) {
        debug_assert!(self.states.get(&id).is_some(), "{id} is not held");
        self.states.insert(id, value);
    }

    /// The remembered ids with their values, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ClientOrderId, V)> + '_ {
        self.order.iter().filter_map(|id| self.states.get(id).map(|value| (*id, *value)))
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

impl<V: PartialEq> PartialEq for Window<V> {
    fn eq(&self, other: &Window<V>) -> bool {
        // The deque fixes the eviction order; the map adds only the values.
        self.capacity == other.capacity && self.order == other.order && self.states == other.states
    }
}

impl<V: Eq> Eq for Window<V> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut window = Window::new(2);
        let id = |n| ClientOrderId::snowflake(n).unwrap();
        window.insert(id(1), OrderState::Released);
        window.insert(id(2), OrderState::Cancelled);
        window.insert(id(3), OrderState::Dropped);
        assert_eq!(window.len(), 2);
        assert_eq!(window.get(&id(1)), None);
        assert_eq!(window.get(&id(2)), Some(OrderState::Cancelled));
        assert_eq!(window.get(&id(3)), Some(OrderState::Dropped));
        window.update(id(2), OrderState::Released);
        window.insert(id(4), OrderState::Expired);
        assert_eq!(window.get(&id(2)), None, "an update keeps the id's place in the eviction order");
        assert_eq!(
            window.iter().collect::<Vec<_>>(),
            [(id(3), OrderState::Dropped), (id(4), OrderState::Expired)]
        );
    }
}
