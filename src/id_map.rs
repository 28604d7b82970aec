//! A fixed-capacity map keyed by client order id, with no tombstones and no rehash.
//!
//! The ledger inserts and removes an order per reservation and per resolution. A general hash map
//! leaves a tombstone per removal and, once they pile up, rehashes the whole table in place: a
//! pause of microseconds every few thousand commands, which showed as the round trip's p99.9
//! (see `docs/performance.md`). This map keeps the entries dense in a `Vec` (iteration is over
//! live entries only) and indexes them with a linear-probing table of `u32` positions at most half
//! full, deleting by backward shift, so no operation ever does more than a short probe.

use std::hash::BuildHasher;

use crate::order_id::{ClientOrderId, IdHashBuilder};

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(crate) struct IdMap<V> {
    /// Live entries, in no particular order.
    entries: Vec<(ClientOrderId, V)>,
    /// Positions in `entries`, or `EMPTY`; a power of two at least twice `capacity`.
    slots: Box<[u32]>,
    mask: usize,
    capacity: usize,
}

fn hash(id: &ClientOrderId) -> usize {
    IdHashBuilder::default().hash_one(id) as usize
}

impl<V> IdMap<V> {
    /// A map for up to `capacity` entries, allocated up front.
    pub(crate) fn new(capacity: usize) -> IdMap<V> {
        assert!(capacity < EMPTY as usize / 2, "IdMap capacity {capacity} is beyond u32 positions");
        let slots = (capacity * 2).next_power_of_two().max(8);
        IdMap {
            entries: Vec::with_capacity(capacity),
            slots: vec![EMPTY; slots].into_boxed_slice(),
            mask: slots - 1,
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slot holding `id`, or the empty slot where it would go.
    fn find(&self, id: &ClientOrderId) -> (usize, bool) {
        let mut slot = hash(id) & self.mask;
        loop {
            let position = self.slots[slot];
            if position == EMPTY {
                return (slot, false);
            }
            if self.entries[position as usize].0 == *id {
                return (slot, true);
            }
            slot = (slot + 1) & self.mask;
        }
    }

    pub(crate) fn get(&self, id: &ClientOrderId) -> Option<&V> {
        match self.find(id) {
            (slot, true) => Some(&self.entries[self.slots[slot] as usize].1),
            _ => None,
        }
    }

    /// Inserts or replaces. Returns the replaced value.
    ///
    /// # Panics
    /// If a new key would exceed the capacity: callers check their limit first.
    pub(crate) fn insert(&mut self, id: ClientOrderId, value: V) -> Option<V> {
        match self.find(&id) {
            (slot, true) => Some(std::mem::replace(&mut self.entries[self.slots[slot] as usize].1, value)),
            (slot, false) => {
                assert!(self.entries.len() < self.capacity, "IdMap is full ({} entries)", self.capacity);
                // Below capacity, which fits u32 (checked in `new`).
                self.slots[slot] = self.entries.len() as u32;
                self.entries.push((id, value));
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, id: &ClientOrderId) -> Option<V> {
        let (mut hole, found) = self.find(id);
        if !found {
            return None;
        }
        let position = self.slots[hole] as usize;
        // Backward shift: walk the cluster after the hole and move back every entry whose home
        // slot is not between the hole and where it sits, so no probe ever crosses a gap.
        let mut next = hole;
        loop {
            next = (next + 1) & self.mask;
            let moved = self.slots[next];
            if moved == EMPTY {
                break;
            }
            let home = hash(&self.entries[moved as usize].0) & self.mask;
            let stays = if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
            if !stays {
                self.slots[hole] = moved;
                hole = next;
            }
        }
        self.slots[hole] = EMPTY;
        // Keep the entries dense: the last one takes the removed one's place. Its slot is found
        // while `entries` is still whole, then pointed at the new position.
        let last = self.entries.len() - 1;
        if position != last {
            let (slot, found) = self.find(&self.entries[last].0);
            debug_assert!(found);
            self.slots[slot] = position as u32;
        }
        let (_, value) = self.entries.swap_remove(position);
        Some(value)
    }

    pub(crate) fn values(&self) -> impl ExactSizeIterator<Item = &V> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Keeps the entries for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&ClientOrderId, &V) -> bool) {
        let doomed: Vec<ClientOrderId> =
            self.entries.iter().filter(|(id, value)| !keep(id, value)).map(|(id, _)| *id).collect();
        for id in doomed {
            self.remove(&id);
        }
    }
}

impl<V: PartialEq> PartialEq for IdMap<V> {
    /// Equal as maps: the same keys with the same values, whatever the layout.
    fn eq(&self, other: &IdMap<V>) -> bool {
        self.capacity == other.capacity
            && self.len() == other.len()
            && self.entries.iter().all(|(id, value)| other.get(id) == Some(value))
    }
}

impl<V: Eq> Eq for IdMap<V> {}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn id(n: u64) -> ClientOrderId {
        ClientOrderId::Snowflake(n)
    }

    #[test]
    fn inserts_finds_replaces_and_removes() {
        let mut map = IdMap::new(4);
        assert_eq!(map.insert(id(1), 'a'), None);
        assert_eq!(map.insert(id(2), 'b'), None);
        assert_eq!(map.insert(id(1), 'c'), Some('a'));
        assert_eq!(map.get(&id(1)), Some(&'c'));
        assert_eq!(map.remove(&id(1)), Some('c'));
        assert_eq!(map.remove(&id(1)), None);
        assert_eq!(map.get(&id(2)), Some(&'b'));
        assert_eq!(map.len(), 1);
    }

    #[test]
    #[should_panic(expected = "IdMap is full")]
    fn refuses_to_grow_past_capacity() {
        let mut map = IdMap::new(2);
        for n in 1..=3 {
            map.insert(id(n), ());
        }
    }

    proptest! {
        /// Random inserts and removes over a small key space (many collisions and clusters)
        /// agree with `HashMap` at every step.
        #[test]
        fn agrees_with_a_hash_map(ops in prop::collection::vec((any::<bool>(), 1..40_u64, any::<u8>()), 1..400)) {
            let mut map = IdMap::new(40);
            let mut reference = HashMap::new();
            for (insert, key, value) in ops {
                if insert {
                    prop_assert_eq!(map.insert(id(key), value), reference.insert(key, value));
                } else {
                    prop_assert_eq!(map.remove(&id(key)), reference.remove(&key));
                }
                prop_assert_eq!(map.len(), reference.len());
                for k in 1..40 {
                    prop_assert_eq!(map.get(&id(k)), reference.get(&k));
                }
            }
        }
    }
}
