//! Snapshots: immutable copies of the ledger's books and live orders, published once per batch.

use std::sync::Arc;

use crate::ledger::book::{Book, BookId};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::money::Amount;
use crate::ledger::order::Order;
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::view::PoolView;
use crate::ledger::Ledger;
use crate::runtime::orders::{Change as OrderChange, Iter as Orders, OrderTable};

/// Counters since the runtime started.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let handle = Builder::new(Ledger::new(Limits::default())?).spawn()?;
/// let last = handle.shutdown()?;
/// assert_eq!((last.stats().accepted, last.stats().rejected), (0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Commands accepted (equal to the snapshot's `seq`).
    pub accepted: u64,
    /// Commands rejected; they changed nothing.
    pub rejected: u64,
    /// Reservations repeated with the same id and fields, answered "already reserved"; they
    /// changed nothing.
    pub repeated: u64,
    /// Batches applied, each published as one snapshot.
    pub batches: u64,
    /// Outcomes of detached commands that found their handle's outcome queue full. The commands
    /// were applied; only the notice was dropped.
    pub outcomes_dropped: u64,
}

/// The ledger as it was after the first `seq` accepted commands. Immutable: every batch
/// publishes a new one, and a reader holding an old one keeps a consistent view.
///
/// Serialized, it is the one JSON schema every tool prints (`capvault inspect --json`,
/// `read_shm.py --json`): `{"seq", "stats", "books": [...], "orders": [...]}`, `snake_case`
/// throughout (`docs/model.md`, "JSON").
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let handle = Builder::from_config(&config)?.spawn()?;
/// let snapshot = handle.shutdown()?;
/// let (book, slot) = snapshot.slot_of("159201".parse()?).ok_or("no such code")?;
/// assert_eq!(snapshot.balance(book, slot), Some(capvault::Amount::ZERO));
/// let json = serde_json::to_value(&*snapshot)?;   // the one JSON schema
/// assert_eq!(json["books"][0]["venue"], "SSE");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct Snapshot {
    seq: u64,
    /// One shared copy per book: a batch re-copies only the books it changed.
    books: Vec<Arc<Book>>,
    /// Shared with the owner's table: publishing is one `Arc` clone (`runtime::orders`).
    orders: OrderTable,
    stats: Stats,
}

/// The books of the last published snapshot with their versions: the copies a batch reuses for
/// every book it did not change.
#[derive(Default)]
pub(crate) struct PublishedBooks(Vec<(u64, Arc<Book>)>);

impl Snapshot {
    /// The ledger as it is, every book copied.
    pub(crate) fn capture(ledger: &Ledger, seq: u64, stats: Stats) -> Snapshot {
        let orders = OrderTable::from_orders(ledger.orders());
        Snapshot::capture_reusing(ledger, seq, stats, &mut PublishedBooks::default(), &orders)
    }

    /// The ledger as it is, reusing `published`'s copy of each book whose version did not change
    /// and recording the new copies there.
    pub(crate) fn capture_reusing(
        ledger: &Ledger,
        seq: u64,
        stats: Stats,
        published: &mut PublishedBooks,
        orders: &OrderTable,
    ) -> Snapshot {
        let mut snapshot =
            Snapshot { seq, books: Vec::with_capacity(ledger.books().len()), orders: orders.clone(), stats };
        snapshot.refill(ledger, published);
        snapshot
    }

    /// Makes a retired snapshot that no reader holds any more (`Arc::get_mut` succeeded) the
    /// ledger's current state, reusing its allocations: the books the batch changed are copied
    /// into the retired copies where no one else holds them, the others shared with `published`.
    ///
    /// Returns the order table it held, for the owner to free bit by bit.
    pub(crate) fn recapture(
        &mut self,
        ledger: &Ledger,
        seq: u64,
        stats: Stats,
        published: &mut PublishedBooks,
        orders: &OrderTable,
    ) -> OrderTable {
        self.seq = seq;
        self.stats = stats;
        let old = std::mem::replace(&mut self.orders, orders.clone());
        self.books.truncate(ledger.books().len());
        self.refill(ledger, published);
        old
    }

    /// Brings `books` to the ledger's, book by book: a book whose version `published` has is
    /// shared, another is copied (in place when this snapshot holds the only reference).
    fn refill(&mut self, ledger: &Ledger, published: &mut PublishedBooks) {
        for (index, book) in ledger.books().iter().enumerate() {
            let version = ledger.book_version(index);
            let copy = match published.0.get(index) {
                Some((seen, copy)) if *seen == version => Arc::clone(copy),
                _ => {
                    let copy = match self.books.get_mut(index).and_then(Arc::get_mut) {
                        Some(retired) => {
                            retired.clone_from(book);
                            Arc::clone(&self.books[index])
                        }
                        None => Arc::new(book.clone()),
                    };
                    if index < published.0.len() {
                        published.0[index] = (version, Arc::clone(&copy));
                    } else {
                        published.0.push((version, Arc::clone(&copy)));
                    }
                    copy
                }
            };
            match self.books.get_mut(index) {
                Some(slot) => {
                    if !Arc::ptr_eq(slot, &copy) {
                        *slot = copy;
                    }
                }
                None => self.books.push(copy),
            }
        }
    }

    pub(crate) fn from_parts(seq: u64, books: Vec<Book>, orders: &[Order], stats: Stats) -> Snapshot {
        let orders = OrderTable::from_orders(orders);
        Snapshot { seq, books: books.into_iter().map(Arc::new).collect(), orders, stats }
    }

    /// The book of `venue` and `currency`, if it is open.
    #[must_use]
    pub fn book_of(&self, venue: Venue, currency: Currency) -> Option<&Book> {
        self.books
            .iter()
            .find(|book| book.venue() == venue && book.currency() == currency)
            .map(|book| &**book)
    }

    /// The book and slot of the strategy labelled `label` (a signal's `code` such as `159201`),
    /// if exactly one strategy carries it; `None` if none does or several books do (ask each
    /// book with [`Book::slot_of`] then).
    #[must_use]
    pub fn slot_of(&self, label: Label) -> Option<(BookId, u8)> {
        let mut found =
            self.books.iter().filter_map(|book| book.slot_of(label).map(|slot| (book.id(), slot)));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// The strategy trading the security `code` (`159201.SZ`): the one labelled with the code
    /// itself, else the one labelled with its number (`159201`); `None` if none or several are.
    #[must_use]
    pub fn slot_of_security(&self, code: &str) -> Option<(BookId, u8)> {
        if let Some(found) = code.parse::<Label>().ok().and_then(|label| self.slot_of(label)) {
            return Some(found);
        }
        let number = code.split('.').next()?;
        (number != code).then(|| number.parse::<Label>().ok().and_then(|label| self.slot_of(label)))?
    }

    /// How many accepted commands this snapshot reflects. A command answered with receipt
    /// `seq = s` is visible in every snapshot with `seq >= s`.
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// Counters at publication.
    #[must_use]
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Every book, in id order.
    #[must_use]
    pub fn books(&self) -> &[Arc<Book>] {
        &self.books
    }

    /// A book by id.
    #[must_use]
    pub fn book(&self, book: BookId) -> Option<&Book> {
        self.books.get(book.index()).map(|book| &**book)
    }

    /// One slot's balance: total, pool or a strategy's committed amount.
    #[must_use]
    pub fn balance(&self, book: BookId, slot: u8) -> Option<Amount> {
        self.book(book)?.balance(slot)
    }

    /// The view strategies use: utilisation, first-layer rule, penalty.
    pub fn view(&self, book: BookId) -> Option<PoolView> {
        self.book(book).map(Book::view)
    }

    /// Every live order, in a fixed order (by a hash of the id, the same in every process).
    #[must_use]
    pub fn orders(&self) -> Orders<'_> {
        self.orders.iter()
    }

    /// A live order by id: a walk of at most 16 levels, whatever the number of orders.
    #[must_use]
    pub fn order(&self, id: ClientOrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// Calls `change` for each order that differs between `self` and `newer`: the newer order
    /// for one added or changed, the old one for one removed. Time grows with what changed, not
    /// with the orders held (the tables share what did not change).
    pub(crate) fn order_changes<'a>(&'a self, newer: &'a Snapshot, change: &mut impl FnMut(OrderChange<'a>)) {
        OrderTable::diff(&self.orders, &newer.orders, change);
    }
}
