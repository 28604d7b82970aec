//! The ledger: a single-threaded state machine over books and orders.
//!
//! Every change is a [`Command`] passed to [`Ledger::apply`], which checks the command's rules in
//! a fixed order, and either rejects it with the first rule that fails, changing nothing, or
//! applies it whole and asserts the book invariant before returning. The order of the checks is
//! part of the contract and is written in `docs/model.md`.

mod books;
mod check;
mod linked;
mod orders;
mod restore;
mod signals;
#[cfg(test)]
mod tests;

pub use linked::{LinkedRejection, LINKED_MAX};
pub(crate) use restore::{LedgerImage, LedgerParts};

use std::fmt;

use crate::ledger::book::{Book, BookId, SLOT_FIRST_STRATEGY};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::{ConfigError, LedgerConfig, Limits};
use crate::ledger::id_map::IdMap;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::{Outcome, SignalStatus};
use crate::ledger::rejection::{AmountRule, Rejection};
use crate::ledger::request::{changes, Once, Recall, RequestKey, Requests};
use crate::ledger::resolved::{ResolvedWindow, Window};
use crate::ledger::view::PoolView;

use check::{Before, Unchecked, Versions};

/// The capital ledger. See the crate docs and `docs/model.md`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let (book, id) = (BookId::new(0), "1790000000000000001".parse()?);
/// ledger.apply(&Command::Reserve { id, book, slot: 2, side: Side::Buy, layer: 1, amount: "20000".parse()? })?;
/// assert_eq!(ledger.balance(book, 1)?, "280000".parse()?);   // the pool
/// ledger.audit()?;                                         // every derived figure recomputed
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Ledger {
    limits: Limits,
    books: Vec<Book>,
    credit_limits: Vec<(Currency, Amount)>,
    orders: IdMap<Order>,
    resolved: ResolvedWindow,
    /// The signals the executor bridge claimed or consumed, as many as `resolved_max`.
    signals: Window<SignalStatus>,
    /// The applied keyed commands, for answering a resend with its original outcome.
    requests: Requests,
    /// When each book last changed, for publishing only what changed (not part of the state).
    versions: Versions,
    /// The money check of the command `apply_unchecked` accepted last, until `check_moved` runs.
    unchecked: Unchecked,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("books", &self.books)
            .field("credit_limits", &self.credit_limits)
            .field("orders_live", &self.orders.len())
            .field("resolved", &self.resolved.len())
            .field("signals", &self.signals.len())
            .finish_non_exhaustive()
    }
}

/// The slot whose unlabelled name is `label` (`slot7` -> 7), if it is one.
fn default_name_slot(label: Label) -> Option<u8> {
    let digits = label.as_str().strip_prefix("slot")?;
    let slot: u8 = digits.parse().ok()?;
    (slot.to_string() == digits).then_some(slot)
}

fn positive(amount: Amount) -> Result<(), Rejection> {
    if amount.is_positive() {
        Ok(())
    } else {
        Err(Rejection::InvalidAmount { amount, rule: AmountRule::Positive })
    }
}

fn non_negative(amount: Amount) -> Result<(), Rejection> {
    if amount.is_negative() {
        Err(Rejection::InvalidAmount { amount, rule: AmountRule::NonNegative })
    } else {
        Ok(())
    }
}

fn non_zero(amount: Amount) -> Result<(), Rejection> {
    if amount.is_zero() {
        Err(Rejection::InvalidAmount { amount, rule: AmountRule::NonZero })
    } else {
        Ok(())
    }
}

fn add(a: Amount, b: Amount) -> Result<Amount, Rejection> {
    a.checked_add(b).ok_or(Rejection::Overflow)
}

fn sub(a: Amount, b: Amount) -> Result<Amount, Rejection> {
    a.checked_sub(b).ok_or(Rejection::Overflow)
}

impl Ledger {
    /// An empty ledger with `limits`, every table allocated to its bound.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] if a limit is zero or above its maximum.
    pub fn new(limits: Limits) -> Result<Ledger, ConfigError> {
        limits.validate()?;
        Ok(Ledger {
            limits,
            books: Vec::with_capacity(usize::from(limits.books_max)),
            credit_limits: Vec::with_capacity(usize::from(limits.currencies_max)),
            orders: IdMap::new(limits.orders_max as usize),
            resolved: ResolvedWindow::new(limits.resolved_max as usize),
            signals: Window::new(limits.resolved_max as usize),
            requests: Requests::new(limits.resolved_max as usize),
            versions: Versions { next: 0, of: Vec::with_capacity(usize::from(limits.books_max)) },
            unchecked: Unchecked::default(),
        })
    }

    /// A ledger built from a configuration: limits, credit limits, then each book opened,
    /// its strategies configured and its balance set, through the same commands a caller uses.
    ///
    /// # Errors
    /// [`ConfigError`] naming the limit, currency or book that was refused, and why.
    pub fn from_config(config: &LedgerConfig) -> Result<Ledger, ConfigError> {
        let mut ledger = Ledger::new(config.limits)?;
        for (&currency, &limit) in &config.credit_limits {
            ledger
                .apply(&Command::SetCreditLimit { currency, limit })
                .map_err(|rejection| ConfigError::CreditLimit { currency, rejection })?;
        }
        for (index, book_config) in config.books.iter().enumerate() {
            let refused = |rejection| ConfigError::Book { index, rejection };
            let book = match ledger.apply(&Command::OpenBook { spec: book_config.spec() }).map_err(refused)? {
                Outcome::BookOpened { book } => book,
                other => unreachable!("OpenBook answered {other:?}"),
            };
            for strategy in &book_config.strategies {
                let config = strategy.to_strategy_config();
                ledger
                    .apply(&Command::ConfigureStrategy { book, slot: strategy.slot, config })
                    .map_err(refused)?;
            }
            if !book_config.balance.is_zero() {
                ledger
                    .apply(&Command::Reset { book, balance: book_config.balance, force: false })
                    .map_err(refused)?;
            }
        }
        Ok(ledger)
    }

    /// Every credit limit that was set, as (currency, limit).
    pub fn credit_limits(&self) -> impl Iterator<Item = (Currency, Amount)> + '_ {
        self.credit_limits.iter().copied()
    }

    /// The limits the ledger was built with.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Every open book, in id order.
    #[must_use]
    pub fn books(&self) -> &[Book] {
        &self.books
    }

    /// A book by id (seed 004 `get`).
    #[must_use]
    pub fn book(&self, book: BookId) -> Option<&Book> {
        self.books.get(book.index())
    }

    /// The id of the book for (venue, currency).
    pub fn book_id(&self, venue: Venue, currency: Currency) -> Option<BookId> {
        self.books.iter().find(|b| b.venue() == venue && b.currency() == currency).map(Book::id)
    }

    /// One slot's balance (seed 004 `get_balance`).
    ///
    /// # Errors
    /// [`Rejection::UnknownBook`] or [`Rejection::SlotOutOfRange`].
    pub fn balance(&self, book: BookId, slot: u8) -> Result<Amount, Rejection> {
        let b = self.book(book).ok_or(Rejection::UnknownBook { book })?;
        b.balance(slot).ok_or(Rejection::SlotOutOfRange { slot, slot_count: b.slot_count() })
    }

    /// The view of a book that strategies use.
    pub fn view(&self, book: BookId) -> Option<PoolView> {
        self.book(book).map(Book::view)
    }

    /// Each strategy's `used`, with its slot and label (seed 000 `get_used_map`).
    pub fn used_map(&self, book: BookId) -> impl Iterator<Item = (u8, Option<Label>, Amount)> + '_ {
        self.book(book)
            .into_iter()
            .flat_map(Book::strategies)
            .map(|(slot, s)| (slot, s.config().label, s.used()))
    }

    /// Each strategy's `frozen`, with its slot and label (seed 000 `get_frozen_map`).
    pub fn frozen_map(&self, book: BookId) -> impl Iterator<Item = (u8, Option<Label>, Amount)> + '_ {
        self.book(book)
            .into_iter()
            .flat_map(Book::strategies)
            .map(|(slot, s)| (slot, s.config().label, s.frozen()))
    }

    /// A live order: reserved and not yet released, cancelled with nothing filled, or dropped.
    #[must_use]
    pub fn order(&self, id: ClientOrderId) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Every live order, in no particular order.
    #[must_use]
    pub fn orders(&self) -> impl ExactSizeIterator<Item = &Order> {
        self.orders.values()
    }

    /// How a recently resolved id ended, while it is in the resolved window.
    #[must_use]
    pub fn resolved_state(&self, id: ClientOrderId) -> Option<OrderState> {
        self.resolved.get(&id).map(|resolved| resolved.state)
    }

    /// Where a signal is, while it is in the signal window (as many as `resolved_max`): `New`
    /// if the ledger has no record of it.
    #[must_use]
    pub fn signal_status(&self, signal: ClientOrderId) -> SignalStatus {
        self.signals.get(&signal).unwrap_or(SignalStatus::New)
    }

    /// The credit limit of a currency (zero unless set).
    #[must_use]
    pub fn credit_limit(&self, currency: Currency) -> Amount {
        self.credit_limits.iter().find(|(c, _)| *c == currency).map_or(Amount::ZERO, |&(_, limit)| limit)
    }

    /// Applies one command: all of it, or, with a [`Rejection`], none of it.
    ///
    /// # Errors
    /// The first rule the command breaks, in the order `docs/model.md` gives.
    ///
    /// # Panics
    /// If an accepted command left a book breaking its invariant: that is a bug in the ledger,
    /// and trading on a broken ledger is worse than stopping.
    pub fn apply(&mut self, command: &Command) -> Result<Outcome, Rejection> {
        let outcome = self.apply_unchecked(command)?;
        self.check_moved(command, &outcome);
        Ok(outcome)
    }

    /// Applies `command` at most once for `key` (`ledger::request`): a key the window holds is
    /// answered with its original outcome and sequence ([`Once::Repeated`]) and applies nothing;
    /// a new one is applied as [`Ledger::apply`] does and, if it changed the ledger, remembered
    /// with `seq`, the sequence the caller gives it (a vault's journal sequence).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Command, Ledger, LedgerConfig, Once, RequestKey};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000 } ] }"#)?;
    /// let mut ledger = Ledger::from_config(&config)?;
    /// let key = RequestKey::new("ops", 1).unwrap();
    /// let allocate = Command::Allocate { book: BookId::new(0), slot: 2, amount: "1000".parse()? };
    /// let first = ledger.apply_once(key, 7, &allocate)?;
    /// let resent = ledger.apply_once(key, 8, &allocate)?;   // the answer was lost; sent again
    /// assert_eq!(resent, Once::Repeated { outcome: first.outcome(), seq: 7 });
    /// assert_eq!(ledger.balance(BookId::new(0), 2)?, "1000".parse()?, "allocated once");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The command's [`Rejection`], or [`Rejection::RequestExpired`] for a key older than the
    /// window that may have been applied.
    pub fn apply_once(&mut self, key: RequestKey, seq: u64, command: &Command) -> Result<Once, Rejection> {
        if let Some((outcome, seq)) = self.recall(key)? {
            return Ok(Once::Repeated { outcome, seq });
        }
        let outcome = self.apply(command)?;
        if changes(&outcome) {
            self.remember(key, seq, outcome);
        }
        Ok(Once::Applied(outcome))
    }

    /// What the request window holds for `key`: the original outcome and sequence of an applied
    /// command, `None` for a key not seen.
    ///
    /// # Errors
    /// [`Rejection::RequestExpired`] for a key at or below its client's watermark.
    pub fn recall(&self, key: RequestKey) -> Result<Option<(Outcome, u64)>, Rejection> {
        match self.requests.recall(key) {
            Recall::New => Ok(None),
            Recall::Applied { outcome, seq } => Ok(Some((outcome, seq))),
            Recall::Expired { watermark } => {
                Err(Rejection::RequestExpired { request: key.request(), watermark })
            }
        }
    }

    /// Remembers that `key`'s command was applied at `seq` with `outcome`; the caller had
    /// `Ok(None)` from [`Ledger::recall`] and the outcome changes the ledger (`request::changes`).
    pub(crate) fn remember(&mut self, key: RequestKey, seq: u64, outcome: Outcome) {
        self.requests.remember(key, seq, outcome);
    }

    /// [`Ledger::apply`] without its money check, which the caller runs with
    /// [`Ledger::check_moved`] before anything else changes the ledger: the owner answers first
    /// when nothing waits for a journal (`runtime::owner`), so the check is not on the round
    /// trip. The book invariant is still asserted here.
    pub(crate) fn apply_unchecked(&mut self, command: &Command) -> Result<Outcome, Rejection> {
        // The order commands read their order's book and slot while they check it; the others
        // name them.
        let (outcome, before, fill) = match *command {
            Command::Fill { id, amount } => {
                let (outcome, before) = self.fill(id, amount)?;
                (outcome, before, None)
            }
            Command::FillTo { id, filled } => match self.fill_to(id, filled)? {
                // Checked as the delta fill it is.
                Ok(amount) => {
                    let (outcome, before) = self.fill(id, amount)?;
                    (outcome, before, Some(amount))
                }
                Err(already) => (already, Before::Nothing, None),
            },
            Command::Cancel { id } => {
                let (outcome, before) = self.cancel(id, OrderState::Cancelled)?;
                (outcome, before, None)
            }
            Command::Expire { id } => {
                let (outcome, before) = self.cancel(id, OrderState::Expired)?;
                (outcome, before, None)
            }
            Command::ReleaseOrder { id } => {
                let (outcome, before) = self.release_order(id)?;
                (outcome, before, None)
            }
            _ => {
                let before = self.figures_before(command);
                (self.apply_rules(command)?, before, None)
            }
        };
        self.touch(command, before);
        self.unchecked = Unchecked(Some((before, fill)));
        Ok(outcome)
    }

    /// Applies one command's rules: `apply` without the check of the money it moved.
    fn apply_rules(&mut self, command: &Command) -> Result<Outcome, Rejection> {
        match *command {
            Command::OpenBook { spec } => self.open_book(spec),
            Command::ConfigureStrategy { book, slot, config } => self.configure_strategy(book, slot, config),
            Command::SetCreditLimit { currency, limit } => self.set_credit_limit(currency, limit),
            Command::Reset { book, balance, force } => self.reset(book, balance, force),
            Command::Set { book, slot, amount } => self.set(book, slot, amount),
            Command::Adjust { book, slot, delta } => self.adjust(book, slot, delta),
            Command::Allocate { book, slot, amount } => self.allocate(book, slot, amount),
            Command::Release { book, slot, amount } => self.release(book, slot, amount),
            Command::Trade { book_a, delta_a, book_b, delta_b } => {
                self.trade(book_a, delta_a, book_b, delta_b)
            }
            Command::Reserve { id, book, slot, side, layer, amount } => {
                self.reserve(id, book, slot, side, layer, amount)
            }
            Command::Fill { id, amount } => self.fill(id, amount).map(|(outcome, _)| outcome),
            Command::FillTo { id, filled } => match self.fill_to(id, filled)? {
                Ok(amount) => self.fill(id, amount).map(|(outcome, _)| outcome),
                Err(already) => Ok(already),
            },
            Command::Cancel { id } => self.cancel(id, OrderState::Cancelled).map(|(outcome, _)| outcome),
            Command::Expire { id } => self.cancel(id, OrderState::Expired).map(|(outcome, _)| outcome),
            Command::ClaimSignal { signal } => Ok(self.claim_signal(signal)),
            Command::ConsumeSignal { signal, placed } => Ok(self.consume_signal(signal, placed)),
            Command::ReleaseOrder { id } => self.release_order(id).map(|(outcome, _)| outcome),
            Command::RecordAlpha { book, slot, amount } => self.record_alpha(book, slot, amount),
            Command::MarkLoss { book, slot, loss } => self.mark_loss(book, slot, loss),
        }
    }

    fn book_index(&self, book: BookId) -> Result<usize, Rejection> {
        if book.index() < self.books.len() {
            Ok(book.index())
        } else {
            Err(Rejection::UnknownBook { book })
        }
    }

    /// The book's index, after checking that `slot` is within its slot count.
    fn any_slot(&self, book: BookId, slot: u8) -> Result<usize, Rejection> {
        let index = self.book_index(book)?;
        let slot_count = self.books[index].slot_count();
        if slot >= slot_count {
            return Err(Rejection::SlotOutOfRange { slot, slot_count });
        }
        Ok(index)
    }

    /// The book's index, after checking that `slot` is one of its strategy slots.
    fn strategy_slot(&self, book: BookId, slot: u8) -> Result<usize, Rejection> {
        let index = self.any_slot(book, slot)?;
        if slot < SLOT_FIRST_STRATEGY {
            return Err(Rejection::SlotNotStrategy { slot });
        }
        Ok(index)
    }

    /// Updates what follows a change to a book (its penalty gate) and asserts its invariant.
    fn settle(&mut self, index: usize) {
        let book = &mut self.books[index];
        let view = book.view();
        book.penalty.update(&view);
        book.assert_invariant();
    }
}
