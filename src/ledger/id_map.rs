//! A fixed-capacity map keyed by client order id, with no tombstones and no rehash.
//!
//! The ledger inserts and removes an order per reservation and per resolution. A general hash map
//! leaves a tombstone per removal and, once they pile up, rehashes the whole table in place: a
//! pause of microseconds every few thousand commands, which showed as the round trip's p99.9
//! (see `docs/performance.md`). This map keeps the entries dense in a `Vec` (iteration is over
//! live entries only) and indexes them with a linear-probing table of `u32` positions at most half
//! full, deleting by backward shift, so no operation ever does more than a short probe.
//!
//! Ids come from outside (strategies, the gateway, files), so the table's hash is keyed with a
//! random key per map: without the key nobody can choose ids that pile into one cluster (with the
//! fixed hash this replaced, 16,000 chosen uuids all landed in one cluster; keyed, the longest
//! cluster for the same ids measured 27-32 slots over five runs). Nothing the
//! ledger does depends on the layout: entries are kept in insertion order with swap-removal, so
//! iteration order, checkpoints and replay are the same whatever the key.

use std::hash::{BuildHasher, Hasher};

use crate::ledger::order_id::ClientOrderId;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(crate) struct IdMap<V> {
    /// Live entries, in no particular order.
    entries: Vec<(ClientOrderId, V)>,
    /// Positions in `entries`, or `EMPTY`; a power of two at least twice `capacity`.
    slots: Box<[u32]>,
    mask: usize,
    capacity: usize,
    key: HashKey,
}

/// Two random words, drawn per map from the operating system's randomness (through std's
/// `RandomState`, which seeds `SipHash` the same way).
#[derive(Clone, Copy, Debug)]
struct HashKey([u64; 2]);

impl HashKey {
    fn random() -> HashKey {
        let draw = |salt: u64| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(salt);
            hasher.finish()
        };
        HashKey([draw(1), draw(2)])
    }

    /// A folded 64x64->128 multiply of the id's two words, each mixed with a key word, then once
    /// more with the key (the construction of foldhash and wyhash). Both words of a uuid go
    /// through the keyed multiply, so no fixed compression lets chosen ids collide for every key.
    fn hash(&self, id: &ClientOrderId) -> usize {
        const TAG: u64 = 0x243F_6A88_85A3_08D3;
        let (high, low) = id.words();
        let high = if matches!(id, ClientOrderId::Snowflake(_)) { TAG } else { high };
        let mixed = fold(low ^ self.0[0], high ^ self.0[1]);
        fold(mixed, self.0[0] ^ TAG) as usize
    }
}

fn fold(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
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
            key: HashKey::random(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slot holding `id`, or the empty slot where it would go.
    fn find(&self, id: &ClientOrderId) -> (usize, bool) {
        let mut slot = self.key.hash(id) & self.mask;
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
            let home = self.key.hash(&self.entries[moved as usize].0) & self.mask;
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
        ClientOrderId::snowflake(n).unwrap()
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

    /// The longest run of occupied slots: the worst probe any lookup can make.
    fn longest_cluster<V>(map: &IdMap<V>) -> usize {
        let (mut longest, mut run) = (0, 0);
        // Twice round, so a cluster that wraps past the end is counted whole.
        for slot in map.slots.iter().chain(map.slots.iter()) {
            run = if *slot == EMPTY { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        longest
    }

    #[test]
    fn chosen_ids_do_not_cluster() {
        // 16,000 uuids whose two halves fold to the same word (`low ^ high.rotate_left(1)`, the
        // fixed hash this map used before): every one of them landed in a single cluster.
        let mut map = IdMap::new(16_000);
        for n in 1..=16_000_u64 {
            let high = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let low = 0x5555_5555_5555_5555 ^ high.rotate_left(1);
            let id = ClientOrderId::uuid((u128::from(high) << 64) | u128::from(low)).unwrap();
            map.insert(id, n);
        }
        assert_eq!(map.len(), 16_000);
        let longest = longest_cluster(&map);
        eprintln!("longest cluster: {longest} of {} slots", map.slots.len());
        assert!(longest < 200, "a cluster of {longest} slots");
    }

    #[test]
    fn keys_differ_between_maps_and_layout_does_not_matter() {
        let (mut a, mut b) = (IdMap::new(64), IdMap::new(64));
        assert_ne!(a.key.0, b.key.0, "two maps drew the same key");
        for n in 1..=40 {
            a.insert(id(n), n);
            b.insert(id(n), n);
        }
        for n in (1..=40).step_by(3) {
            a.remove(&id(n));
            b.remove(&id(n));
        }
        let order = |map: &IdMap<u64>| map.values().copied().collect::<Vec<_>>();
        assert_eq!(order(&a), order(&b), "iteration order depends on the key");
        assert!(a == b);
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
