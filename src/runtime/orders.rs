//! The live orders of a snapshot: a persistent hash trie shared between snapshots.
//!
//! Each batch changes a few orders; copying every live order into every snapshot made a batch
//! cost O(live orders) (`docs/performance.md`, "Scaling"). Here a snapshot holds the root of a
//! trie of `Arc` nodes: publishing is one `Arc` clone, and the owner's next change copies only
//! the nodes on its path (`Arc::make_mut`: a node no snapshot holds any more is changed in
//! place). Lookups walk at most 16 levels of 16-way branches on a fixed hash of the id.
//!
//! Iteration order is canonical: by the id's hash, then the id. Leaves keep their orders in that
//! order and branches visit their children by hash digit, so any two tables with the same orders
//! iterate alike, whatever their history (the shared-memory mirror and its readers rely on it).

use std::sync::Arc;

use crate::ledger::{ClientOrderId, Order};

/// Branch fan-out: 4 bits of the hash per level.
const BITS: u32 = 4;
const FANOUT: usize = 1 << BITS;
/// Orders a leaf holds before it splits into a branch.
const LEAF: usize = 8;
/// Levels of hash digits: below this a leaf holds any number of orders (only ids whose 64-bit
/// hashes are equal get there).
const DEPTH_MAX: u32 = u64::BITS / BITS;

/// A fixed hash of an id (`splitmix64`'s finalizer over both words): the same in every process,
/// so iteration order is too.
fn hash(id: ClientOrderId) -> u64 {
    let (high, low) = id.words();
    let mut x = low ^ high.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn digit(hash: u64, depth: u32) -> usize {
    ((hash >> (u64::BITS - BITS * (depth + 1))) & (FANOUT as u64 - 1)) as usize
}

/// The canonical order.
fn key(order: &Order) -> (u64, (u64, u64)) {
    (hash(order.id()), order.id().words())
}

#[derive(Clone)]
enum Node {
    /// Up to `LEAF` orders in canonical order (any number at `DEPTH_MAX`).
    Leaf(Vec<Order>),
    Branch([Option<Arc<Node>>; FANOUT]),
}

/// The live orders, shared between snapshots. Cloning is one `Arc` clone.
#[derive(Clone, Default)]
pub(crate) struct OrderTable {
    root: Option<Arc<Node>>,
    len: usize,
}

impl OrderTable {
    /// A table of `orders`.
    pub(crate) fn from_orders<'a>(orders: impl IntoIterator<Item = &'a Order>) -> OrderTable {
        let mut table = OrderTable::default();
        for order in orders {
            table.insert(*order);
        }
        table
    }

    /// The order with `id`.
    pub(crate) fn get(&self, id: ClientOrderId) -> Option<&Order> {
        let hash = hash(id);
        let mut node = self.root.as_deref()?;
        let mut depth = 0;
        loop {
            match node {
                Node::Leaf(orders) => return orders.iter().find(|order| order.id() == id),
                Node::Branch(children) => {
                    node = children[digit(hash, depth)].as_deref()?;
                    depth += 1;
                }
            }
        }
    }

    /// Adds `order`, or replaces the order with its id.
    pub(crate) fn insert(&mut self, order: Order) {
        let root = self.root.get_or_insert_with(|| Arc::new(Node::Leaf(Vec::with_capacity(LEAF))));
        if insert(root, order, hash(order.id()), 0) {
            self.len += 1;
        }
    }

    /// Removes the order with `id`, if there is one.
    pub(crate) fn remove(&mut self, id: ClientOrderId) {
        if let Some(root) = self.root.as_mut() {
            if remove(root, id, hash(id), 0) {
                self.len -= 1;
            }
        }
    }

    /// The orders in canonical order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter { stack: self.root.as_deref().map(|root| vec![(root, 0)]).unwrap_or_default(), left: self.len }
    }

    /// Calls `change` for every order that differs between `old` and `new`: the new order for
    /// one added or changed, the old one for one removed. Subtrees the two tables share are
    /// skipped by pointer, so two snapshots a few batches apart compare in time proportional to
    /// what changed between them (times the trie's depth), not to the orders they hold.
    pub(crate) fn diff<'a>(old: &'a OrderTable, new: &'a OrderTable, change: &mut impl FnMut(Change<'a>)) {
        diff_nodes(old.root.as_deref(), new.root.as_deref(), change);
    }
}

/// Tables the owner let go of, freed a few nodes at a time while it waits for commands
/// (`runtime::owner`): a snapshot replaced after a batch that changed many orders holds the old
/// copies of every node on their paths, and freeing them all at once stalled the next command by
/// tens of microseconds beside 16,000 live orders (`docs/performance.md`, "Issue 24").
pub(crate) struct Garbage(Vec<Arc<Node>>);

impl Garbage {
    pub(crate) fn with_capacity(capacity: usize) -> Garbage {
        Garbage(Vec::with_capacity(capacity))
    }

    /// Takes `table`'s nodes, to free later.
    pub(crate) fn push(&mut self, table: OrderTable) {
        if let Some(root) = table.root {
            self.0.push(root);
        }
    }

    /// Nodes (or shared references) waiting.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Lets go of up to `budget` nodes; returns whether any are left. A node another table still
    /// shares only loses a reference; one held here alone is freed, its children queued.
    pub(crate) fn free(&mut self, budget: usize) -> bool {
        for _ in 0..budget {
            let Some(node) = self.0.pop() else { return false };
            if let Ok(Node::Branch(children)) = Arc::try_unwrap(node) {
                self.0.extend(children.into_iter().flatten());
            }
        }
        !self.0.is_empty()
    }
}

/// One difference between two tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Change<'a> {
    /// In the new table, and not in the old one or not equal to it there.
    Upsert(&'a Order),
    /// In the old table only.
    Removed(&'a Order),
}

fn diff_nodes<'a>(old: Option<&'a Node>, new: Option<&'a Node>, change: &mut impl FnMut(Change<'a>)) {
    match (old, new) {
        (Some(a), Some(b)) if std::ptr::eq(a, b) => {}
        (Some(Node::Branch(a)), Some(Node::Branch(b))) => {
            for (a, b) in a.iter().zip(b) {
                diff_nodes(a.as_deref(), b.as_deref(), change);
            }
        }
        (Some(Node::Leaf(a)), Some(Node::Leaf(b))) => merge(a.iter(), b.iter(), change),
        // A leaf that split (or nothing against something): both sides in canonical order.
        (a, b) => merge(iter_node(a), iter_node(b), change),
    }
}

fn iter_node(node: Option<&Node>) -> Iter<'_> {
    Iter { stack: node.map(|node| vec![(node, 0)]).unwrap_or_default(), left: 0 }
}

/// Both sides in canonical order: a merge finds the differences.
fn merge<'a>(
    old: impl Iterator<Item = &'a Order>,
    new: impl Iterator<Item = &'a Order>,
    change: &mut impl FnMut(Change<'a>),
) {
    let (mut old, mut new) = (old.peekable(), new.peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => return,
            (Some(&a), None) => {
                change(Change::Removed(a));
                old.next();
            }
            (None, Some(&b)) => {
                change(Change::Upsert(b));
                new.next();
            }
            (Some(&a), Some(&b)) => match key(a).cmp(&key(b)) {
                std::cmp::Ordering::Less => {
                    change(Change::Removed(a));
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    change(Change::Upsert(b));
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if a != b {
                        change(Change::Upsert(b));
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
}

/// Inserts below `node` at `depth`; `true` if the table grew.
fn insert(node: &mut Arc<Node>, order: Order, hash: u64, depth: u32) -> bool {
    let inner = Arc::make_mut(node);
    if let Node::Leaf(orders) = inner {
        if let Some(same) = orders.iter_mut().find(|o| o.id() == order.id()) {
            *same = order;
            return false;
        }
        if orders.len() < LEAF || depth >= DEPTH_MAX {
            let at = orders.partition_point(|o| key(o) < key(&order));
            orders.insert(at, order);
            return true;
        }
        // Full: split into a branch of leaves by the next digit.
        let moved = std::mem::take(orders);
        let mut children: [Option<Arc<Node>>; FANOUT] = Default::default();
        for order in moved.into_iter().chain(std::iter::once(order)) {
            let hash = self::hash(order.id());
            let child = children[digit(hash, depth)]
                .get_or_insert_with(|| Arc::new(Node::Leaf(Vec::with_capacity(LEAF))));
            insert(child, order, hash, depth + 1);
        }
        *inner = Node::Branch(children);
        return true;
    }
    let Node::Branch(children) = inner else { unreachable!("a leaf returned above") };
    match &mut children[digit(hash, depth)] {
        Some(child) => insert(child, order, hash, depth + 1),
        empty @ None => {
            let mut leaf = Vec::with_capacity(LEAF);
            leaf.push(order);
            *empty = Some(Arc::new(Node::Leaf(leaf)));
            true
        }
    }
}

/// Removes `id` below `node` at `depth`; `true` if it was there. An emptied child is dropped
/// from its branch.
fn remove(node: &mut Arc<Node>, id: ClientOrderId, hash: u64, depth: u32) -> bool {
    // Look before copying: removing an id that is not there changes nothing.
    if !contains(node, id, hash, depth) {
        return false;
    }
    match Arc::make_mut(node) {
        Node::Leaf(orders) => {
            orders.retain(|order| order.id() != id);
            true
        }
        Node::Branch(children) => {
            let slot = &mut children[digit(hash, depth)];
            let Some(child) = slot.as_mut() else { return false };
            let removed = remove(child, id, hash, depth + 1);
            if matches!(&**child, Node::Leaf(orders) if orders.is_empty()) {
                *slot = None;
            }
            removed
        }
    }
}

fn contains(node: &Node, id: ClientOrderId, hash: u64, depth: u32) -> bool {
    match node {
        Node::Leaf(orders) => orders.iter().any(|order| order.id() == id),
        Node::Branch(children) => {
            children[digit(hash, depth)].as_deref().is_some_and(|child| contains(child, id, hash, depth + 1))
        }
    }
}

/// The orders of a table, in canonical order.
pub struct Iter<'a> {
    /// Nodes being walked, each with the next child (or order) to visit.
    stack: Vec<(&'a Node, usize)>,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Order;

    fn next(&mut self) -> Option<&'a Order> {
        while let Some((node, next)) = self.stack.last_mut() {
            match node {
                Node::Leaf(orders) => {
                    if let Some(order) = orders.get(*next) {
                        *next += 1;
                        self.left = self.left.saturating_sub(1);
                        return Some(order);
                    }
                    self.stack.pop();
                }
                Node::Branch(children) => {
                    let child = children[*next..].iter().position(Option::is_some).map(|i| *next + i);
                    match child {
                        Some(i) => {
                            *next = i + 1;
                            let child = children[i].as_deref().expect("found above");
                            self.stack.push((child, 0));
                        }
                        None => {
                            self.stack.pop();
                        }
                    }
                }
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("left", &self.left).finish_non_exhaustive()
    }
}

impl PartialEq for OrderTable {
    fn eq(&self, other: &OrderTable) -> bool {
        // Canonical order: equal tables iterate alike.
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for OrderTable {}

impl std::hash::Hash for OrderTable {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        for order in self.iter() {
            order.hash(state);
        }
    }
}

impl std::fmt::Debug for OrderTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl serde::Serialize for OrderTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Amount, BookId, OrderState, Side};
    use std::collections::BTreeMap;

    fn order(n: u64) -> Order {
        Order {
            id: ClientOrderId::snowflake(n).unwrap(),
            book: BookId::new(0),
            slot: 2,
            side: Side::Buy,
            layer: 1,
            amount: Amount::from_units(n as i64 % 1000 + 1).unwrap(),
            frozen: Amount::from_units(n as i64 % 1000 + 1).unwrap(),
            used: Amount::ZERO,
            state: OrderState::Pending,
        }
    }

    #[test]
    fn the_table_agrees_with_a_map_through_inserts_updates_and_removes() {
        let mut table = OrderTable::default();
        let mut model: BTreeMap<(u64, u64), Order> = BTreeMap::new();
        let mut held = Vec::new();
        let mut x = 7_u64;
        for step in 0..40_000_u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let n = (x >> 33) % 3_000 + 1;
            let mut o = order(n);
            match (x >> 20) % 3 {
                0 | 1 => {
                    o.layer = (step % 7) as u32;
                    table.insert(o);
                    model.insert(o.id().words(), o);
                }
                _ => {
                    table.remove(o.id());
                    model.remove(&o.id().words());
                }
            }
            if step % 5_000 == 0 {
                // An old table stays what it was while the new one changes.
                held.push((table.clone(), model.clone()));
            }
        }
        for (old, then) in &held {
            assert_eq!(old.iter().len(), then.len());
            assert!(then.values().all(|o| old.get(o.id()) == Some(o)));
        }
        assert_eq!(table.iter().len(), model.len());
        for n in 1..=3_001 {
            let id = ClientOrderId::snowflake(n).unwrap();
            assert_eq!(table.get(id), model.get(&id.words()), "order {n}");
        }
        // Canonical: a table rebuilt from the same orders in another order iterates alike.
        let mut shuffled: Vec<Order> = model.values().copied().collect();
        shuffled.reverse();
        let rebuilt = OrderTable::from_orders(&shuffled);
        assert!(rebuilt == table);
        let keys: Vec<_> = table.iter().map(key).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "iteration is by (hash, id)");
    }

    /// The differences `diff` reports, as the map a full comparison gives.
    fn differences(old: &OrderTable, new: &OrderTable) -> BTreeMap<(u64, u64), Option<Order>> {
        let mut seen = BTreeMap::new();
        OrderTable::diff(old, new, &mut |change| {
            let (id, value) = match change {
                Change::Upsert(order) => (order.id().words(), Some(*order)),
                Change::Removed(order) => (order.id().words(), None),
            };
            assert!(seen.insert(id, value).is_none(), "one change per order");
        });
        seen
    }

    fn full_comparison(old: &OrderTable, new: &OrderTable) -> BTreeMap<(u64, u64), Option<Order>> {
        let mut expected = BTreeMap::new();
        for order in old.iter() {
            if new.get(order.id()).is_none() {
                expected.insert(order.id().words(), None);
            }
        }
        for order in new.iter() {
            if old.get(order.id()) != Some(order) {
                expected.insert(order.id().words(), Some(*order));
            }
        }
        expected
    }

    #[test]
    fn diff_reports_exactly_what_changed_between_two_tables() {
        let mut table = OrderTable::default();
        let mut x = 11_u64;
        let mut previous = table.clone();
        let mut checked = 0;
        for step in 0..30_000_u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let n = (x >> 33) % 2_000 + 1;
            if (x >> 20) % 3 == 2 {
                table.remove(ClientOrderId::snowflake(n).unwrap());
            } else {
                table.insert(Order { layer: (step % 5) as u32, ..order(n) });
            }
            // Compare over gaps of 1 to 300 steps: splits, emptied leaves and unchanged updates.
            if (x >> 40).is_multiple_of(300) || step.is_multiple_of(997) {
                assert_eq!(differences(&previous, &table), full_comparison(&previous, &table), "step {step}");
                previous = table.clone();
                checked += 1;
            }
        }
        assert!(checked > 50);
        assert!(differences(&table, &table.clone()).is_empty());
        let empty = OrderTable::default();
        assert_eq!(differences(&empty, &table).len(), table.iter().count());
        assert_eq!(differences(&table, &empty).len(), table.iter().count());
        // Two tables of the same orders built apart share no node: still equal.
        assert!(differences(&table, &OrderTable::from_orders(table.iter())).is_empty());
    }

    #[test]
    fn twenty_thousand_orders_are_all_there() {
        let mut table = OrderTable::default();
        for n in 1..=20_000_u64 {
            let id = ClientOrderId::snowflake(1_000_000 + n).unwrap();
            table.insert(Order { id, ..order(1) });
        }
        assert_eq!(table.iter().len(), 20_000);
        assert_eq!(table.iter().count(), 20_000);
        for n in 1..=20_000_u64 {
            assert!(table.get(ClientOrderId::snowflake(1_000_000 + n).unwrap()).is_some(), "{n}");
        }
    }

    #[test]
    fn iteration_visits_every_order_after_churn_and_rebuilds() {
        let mut table = OrderTable::default();
        for n in 0..16_000 {
            table.insert(order(1_000_000 + n));
        }
        for n in 1..5_000 {
            table.insert(order(n));
            if n % 3 != 0 {
                table.remove(ClientOrderId::snowflake(n).unwrap());
            }
        }
        let expected = 16_000 + (1..5_000).filter(|n| n % 3 == 0).count();
        assert_eq!(table.iter().count(), expected);
        let rebuilt = OrderTable::from_orders(table.iter());
        assert_eq!(rebuilt.iter().count(), expected);
    }
}
