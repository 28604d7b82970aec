//! The ledger: a single-threaded state machine over books and orders.
//!
//! Every change is a [`Command`] passed to [`Ledger::apply`], which checks the command's rules in
//! a fixed order, and either rejects it with the first rule that fails, changing nothing, or
//! applies it whole and asserts the book invariant before returning. The order of the checks is
//! part of the contract and is written in `docs/model.md`.

use std::collections::HashMap;
use std::fmt;

use crate::ledger::book::{
    Book, BookId, BookSpec, Health, StrategyConfig, SLOTS_MAX, SLOT_FIRST_STRATEGY, SLOT_POOL, SLOT_TOTAL,
};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::{ConfigError, LedgerConfig, Limits};
use crate::ledger::id_map::IdMap;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::{Outcome, SignalStatus};
use crate::ledger::ratio::Ratio;
use crate::ledger::rejection::{AmountRule, RatioSetting, Rejection, ReserveField};
use crate::ledger::request::{changes, Once, Recall, RequestKey, Requests};
use crate::ledger::resolved::{Resolved, ResolvedWindow, Window};
use crate::ledger::view::PoolView;

/// Everything a checkpoint holds, borrowed from a ledger.
pub(crate) struct LedgerImage<'a> {
    pub(crate) limits: Limits,
    pub(crate) credit_limits: &'a [(Currency, Amount)],
    pub(crate) books: &'a [Book],
    pub(crate) orders: Vec<Order>,
    pub(crate) resolved: Vec<(ClientOrderId, OrderState, Amount)>,
    pub(crate) signals: Vec<(ClientOrderId, SignalStatus)>,
    pub(crate) requests: Vec<(RequestKey, u64, Outcome)>,
    pub(crate) watermarks: Vec<(u64, u64)>,
}

/// The parts of a ledger decoded from a checkpoint, for `Ledger::from_parts` to validate.
pub(crate) struct LedgerParts {
    pub(crate) limits: Limits,
    pub(crate) credit_limits: Vec<(Currency, Amount)>,
    pub(crate) books: Vec<Book>,
    pub(crate) orders: Vec<Order>,
    pub(crate) resolved: Vec<(ClientOrderId, OrderState, Amount)>,
    pub(crate) signals: Vec<(ClientOrderId, SignalStatus)>,
    pub(crate) requests: Vec<(RequestKey, u64, Outcome)>,
    pub(crate) watermarks: Vec<(u64, u64)>,
}

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

/// What the money check of an accepted command needs besides the command and its outcome:
/// the figures read before it, and for a cumulative fill the delta it applied. Not ledger state:
/// equal ledgers may differ here.
#[derive(Clone, Copy, Default, Debug)]
struct Unchecked(Option<(Before, Option<Amount>)>);

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
struct Versions {
    next: u64,
    of: Vec<u64>,
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
struct Figures {
    total: i64,
    pool: i64,
    frozen: i64,
    used: i64,
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
enum Before {
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
fn expected_move(command: &Command, outcome: &Outcome, slot: u8) -> [i128; 4] {
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

/// A validated move of capital between the pool and one strategy, ready to commit.
#[derive(Clone, Copy)]
struct Move {
    book: usize,
    slot: u8,
    pool: Amount,
    strategy_value: Amount,
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

    /// The ledger's whole state, for a checkpoint.
    pub(crate) fn image(&self) -> LedgerImage<'_> {
        let (requests, watermarks) = self.requests.image();
        LedgerImage {
            limits: self.limits,
            credit_limits: &self.credit_limits,
            books: &self.books,
            orders: self.orders.values().copied().collect(),
            resolved: self.resolved.iter().map(|(id, r)| (id, r.state, r.filled)).collect(),
            signals: self.signals.iter().collect(),
            requests,
            watermarks,
        }
    }

    /// A ledger rebuilt from a checkpoint's parts, checked: limits, counts, every invariant and
    /// every per-order sum (`audit`).
    ///
    /// # Errors
    /// A description of the first thing that does not hold.
    pub(crate) fn from_parts(parts: LedgerParts) -> Result<Ledger, String> {
        let mut ledger = Ledger::new(parts.limits).map_err(|e| e.to_string())?;
        if parts.books.len() > usize::from(parts.limits.books_max)
            || parts.credit_limits.len() > usize::from(parts.limits.currencies_max)
            || parts.orders.len() > parts.limits.orders_max as usize
            || parts.resolved.len() > parts.limits.resolved_max as usize
            || parts.signals.len() > parts.limits.resolved_max as usize
        {
            return Err("more entries than the limits allow".into());
        }
        for (index, &(currency, limit)) in parts.credit_limits.iter().enumerate() {
            if limit.is_negative() || parts.credit_limits[..index].iter().any(|(c, _)| *c == currency) {
                return Err(format!("credit limit for {currency} is negative or repeated"));
            }
        }
        ledger.credit_limits = parts.credit_limits;
        for (index, book) in parts.books.iter().enumerate() {
            ledger.check_restored_book(index, book, &parts.books[..index])?;
        }
        ledger.books = parts.books;
        for book in &mut ledger.books {
            // Derived, never trusted from the parts.
            book.sums = book.recount();
        }
        for order in parts.orders {
            ledger.check_restored_order(&order)?;
            ledger.orders.insert(order.id, order);
        }
        for (id, state, filled) in parts.resolved {
            if ledger.resolved.get(&id).is_some() || ledger.orders.get(&id).is_some() {
                return Err(format!("resolved id {id} is duplicated or still live"));
            }
            let end = matches!(
                state,
                OrderState::Cancelled | OrderState::Expired | OrderState::Released | OrderState::Dropped
            );
            if !end {
                return Err(format!("resolved id {id} in state {state:?}, which is not an end"));
            }
            if filled.is_negative() {
                return Err(format!("resolved id {id} has a negative filled amount {filled}"));
            }
            ledger.resolved.insert(id, Resolved { state, filled });
        }
        for (id, status) in parts.signals {
            if ledger.signals.get(&id).is_some() || status == SignalStatus::New {
                return Err(format!("signal {id} is duplicated or has no status"));
            }
            ledger.signals.insert(id, status);
        }
        ledger.requests =
            Requests::restore(parts.limits.resolved_max as usize, parts.requests, parts.watermarks)?;
        ledger.audit()?;
        Ok(ledger)
    }

    /// A checkpointed book is what `open_book` and the commands could have made: its id is its
    /// position, its pair is unique, its spec valid, its credit limit its currency's, every
    /// strategy's figures non-negative with `direct <= used`, and a cap or loss limit not
    /// negative. (The balance invariant and the per-order sums are `audit`'s.)
    fn check_restored_book(&self, index: usize, book: &Book, before: &[Book]) -> Result<(), String> {
        let spec = &book.spec;
        if book.id.index() != index {
            return Err(format!("book at position {index} says it is {}", book.id));
        }
        if before.iter().any(|b| b.venue() == spec.venue && b.currency() == spec.currency) {
            return Err(format!("{} {}/{} is opened twice", book.id, spec.venue, spec.currency));
        }
        let slots_ok = (SLOT_FIRST_STRATEGY..=SLOTS_MAX).contains(&spec.slot_count)
            && book.strategies.len() == usize::from(spec.slot_count - SLOT_FIRST_STRATEGY);
        if !slots_ok || spec.reserve_ratio > Ratio::ONE || !spec.penalty.is_valid() {
            return Err(format!("{}: slot count or ratios out of range", book.id));
        }
        if book.credit_limit != self.credit_limit(spec.currency) {
            return Err(format!("{}: credit limit {} is not its currency's", book.id, book.credit_limit));
        }
        for (slot, s) in book.strategies() {
            let negative = [s.frozen, s.used, s.direct].iter().any(|a| a.is_negative())
                || s.config.cap.is_some_and(Amount::is_negative)
                || s.config.loss_limit.is_negative();
            if negative || s.direct > s.used {
                return Err(format!("{} slot {slot}: negative or inconsistent amounts", book.id));
            }
        }
        Ok(())
    }

    /// A checkpointed order is live, unique, in a strategy slot of a book that exists, with a
    /// positive amount split into non-negative frozen and used parts that do not exceed it.
    fn check_restored_order(&self, order: &Order) -> Result<(), String> {
        let id = order.id;
        if self.orders.get(&id).is_some() {
            return Err(format!("order {id} is duplicated"));
        }
        let Some(book) = self.book(order.book) else {
            return Err(format!("order {id} names {}, which does not exist", order.book));
        };
        if !(SLOT_FIRST_STRATEGY..book.slot_count()).contains(&order.slot) {
            return Err(format!("order {id} is in slot {}, not a strategy slot of {}", order.slot, book.id));
        }
        if order.state.is_terminal() {
            return Err(format!("order {id} is live but in state {:?}", order.state));
        }
        let split = i128::from(order.frozen.raw()) + i128::from(order.used.raw());
        if !order.amount.is_positive()
            || order.frozen.is_negative()
            || order.used.is_negative()
            || split > i128::from(order.amount.raw())
        {
            return Err(format!(
                "order {id}: frozen {} and used {} do not fit amount {}",
                order.frozen, order.used, order.amount
            ));
        }
        Ok(())
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
    fn touch(&mut self, command: &Command, before: Before) {
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

    /// Applies one command's rules: `apply` without the check of the money it moved.
    fn apply_rules(&mut self, command: &Command) -> Result<Outcome, Rejection> {
        match *command {
            Command::OpenBook { spec } => self.open_book(spec),
            Command::ConfigureStrategy { book, slot, config } => self.configure_strategy(book, slot, config),
            Command::SetCreditLimit { currency, limit } => self.set_credit_limit(currency, limit),
            Command::Reset { book, balance, force } => self.reset(book, balance, force),
            Command::Set { book, slot, amount } => self.set(book, slot, amount),
            Command::Adjust { book, slot, delta } => self.adjust(book, slot, delta),
            Command::Allocate { book, slot, amount } => {
                positive(amount)?;
                let index = self.strategy_slot(book, slot)?;
                let balance = self.commit_move(self.check_allocate(index, slot, amount)?);
                Ok(Outcome::Allocated { balance })
            }
            Command::Release { book, slot, amount } => {
                positive(amount)?;
                let index = self.strategy_slot(book, slot)?;
                let balance = self.commit_move(self.check_release(index, slot, amount)?);
                Ok(Outcome::Released { balance })
            }
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
            Command::RecordAlpha { book, slot, amount } => {
                non_zero(amount)?;
                let index = self.strategy_slot(book, slot)?;
                let strategy = self.books[index].strategy_mut(slot);
                strategy.acc_alpha = add(strategy.acc_alpha, amount)?;
                Ok(Outcome::AlphaRecorded { acc_alpha: strategy.acc_alpha })
            }
            Command::MarkLoss { book, slot, loss } => {
                non_negative(loss)?;
                let index = self.strategy_slot(book, slot)?;
                let strategy = self.books[index].strategy_mut(slot);
                strategy.float_loss = loss;
                Ok(Outcome::LossMarked { forced_reduce: strategy.is_forced_reduce() })
            }
        }
    }

    /// The money of book `index` and its slot `slot` (frozen and used are zero for slots 0
    /// and 1).
    fn figures(&self, index: usize, slot: u8) -> Figures {
        let book = &self.books[index];
        let (frozen, used) = book.strategy(slot).map_or((0, 0), |s| (s.frozen.raw(), s.used.raw()));
        Figures { total: book.total.raw(), pool: book.pool.raw(), frozen, used }
    }

    /// What a command may move, read before it is applied: the book and slot it touches (an
    /// order's, for the order commands), or both books of a trade.
    fn figures_before(&self, command: &Command) -> Before {
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
    fn assert_moved(&self, command: &Command, outcome: &Outcome, before: Before) {
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
    fn audit_kept_sums(&self) -> Result<(), String> {
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

    // ----- lookups shared by the commands -----

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

    // ----- book-level commands (seed 004) -----

    fn open_book(&mut self, spec: BookSpec) -> Result<Outcome, Rejection> {
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

    fn configure_strategy(
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

    fn set_credit_limit(&mut self, currency: Currency, limit: Amount) -> Result<Outcome, Rejection> {
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

    fn reset(&mut self, book: BookId, balance: Amount, force: bool) -> Result<Outcome, Rejection> {
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

    fn set(&mut self, book: BookId, slot: u8, amount: Amount) -> Result<Outcome, Rejection> {
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
                let current = b.strategy(slot).map_or(Amount::ZERO, super::book::Strategy::committed);
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

    fn adjust(&mut self, book: BookId, slot: u8, delta: Amount) -> Result<Outcome, Rejection> {
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
    fn shift_total(&mut self, index: usize, delta: Amount) -> Result<(), Rejection> {
        let b = &self.books[index];
        let total = add(b.total, delta)?;
        let pool = add(b.pool, delta)?;
        let b = &mut self.books[index];
        b.total = total;
        b.pool = pool;
        self.settle(index);
        Ok(())
    }

    fn trade(
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

    /// Checks a move of `amount` from the pool into a strategy's direct allocation: forced-reduce,
    /// nominal cap, credit limit, in that order.
    fn check_allocate(&self, index: usize, slot: u8, amount: Amount) -> Result<Move, Rejection> {
        let b = &self.books[index];
        let strategy = b.strategy(slot).ok_or(Rejection::SlotNotStrategy { slot })?;
        Self::check_buy_rules(b, slot, amount)?;
        Self::check_funds(b, amount)?;
        Ok(Move {
            book: index,
            slot,
            pool: sub(b.pool, amount)?,
            strategy_value: add(strategy.direct, amount)?,
        })
    }

    /// Checks a move of `amount` from a strategy's direct allocation back to the pool.
    fn check_release(&self, index: usize, slot: u8, amount: Amount) -> Result<Move, Rejection> {
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
    fn commit_move(&mut self, m: Move) -> Amount {
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

    /// The rules for capital that adds exposure: forced-reduce, then the nominal cap.
    fn check_buy_rules(b: &Book, slot: u8, amount: Amount) -> Result<(), Rejection> {
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
    fn check_funds(b: &Book, amount: Amount) -> Result<(), Rejection> {
        let after = i128::from(b.pool.raw()) - i128::from(amount.raw());
        if after < -i128::from(b.credit_limit.raw()) {
            return Err(Rejection::ExceedsCreditLimit { pool: b.pool, amount, credit_limit: b.credit_limit });
        }
        if i128::from(b.total.raw()) - after > i128::from(Amount::MAX.raw()) {
            return Err(Rejection::Overflow);
        }
        Ok(())
    }

    // ----- order-level commands (seed 000) -----

    fn reserve(
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
        if side == Side::Sell {
            return Err(Rejection::SellNotReserved { id });
        }
        if self.orders.len() >= self.limits.orders_max as usize {
            return Err(Rejection::OrdersLimitReached { orders_max: self.limits.orders_max });
        }
        let b = &self.books[index];
        Self::check_buy_rules(b, slot, amount)?;
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
    fn live_order(&self, id: ClientOrderId) -> Result<&Order, Rejection> {
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
    fn fill(&mut self, id: ClientOrderId, amount: Amount) -> Result<(Outcome, Before), Rejection> {
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
    fn fill_to(&self, id: ClientOrderId, filled: Amount) -> Result<Result<Amount, Outcome>, Rejection> {
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
    fn cancel(&mut self, id: ClientOrderId, end: OrderState) -> Result<(Outcome, Before), Rejection> {
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
    fn release_order(&mut self, id: ClientOrderId) -> Result<(Outcome, Before), Rejection> {
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

    fn strategy_of(&self, order: &Order) -> &crate::ledger::book::Strategy {
        self.books[order.book.index()]
            .strategy(order.slot)
            .unwrap_or_else(|| unreachable!("order {} names a slot its book lacks", order.id))
    }

    /// Moves a resolved order from the live table to the resolved window.
    fn forget(&mut self, order: &Order, state: OrderState) {
        let b = &mut self.books[order.book.index()];
        b.orders_live -= 1;
        b.strategy_mut(order.slot).orders_live -= 1;
        self.orders.remove(&order.id);
        self.resolved.insert(order.id, Resolved { state, filled: order.used });
    }

    // ----- signals (the executor bridge) -----

    fn claim_signal(&mut self, signal: ClientOrderId) -> Outcome {
        if let Some(status) = self.signals.get(&signal) {
            return Outcome::Signal { status, fresh: false };
        }
        self.signals.insert(signal, SignalStatus::InFlight);
        Outcome::Signal { status: SignalStatus::InFlight, fresh: true }
    }

    fn consume_signal(&mut self, signal: ClientOrderId, placed: bool) -> Outcome {
        let status = if placed { SignalStatus::Placed } else { SignalStatus::Refused };
        match self.signals.get(&signal) {
            Some(earlier) if earlier.is_consumed() => Outcome::Signal { status: earlier, fresh: false },
            Some(_) => {
                self.signals.update(signal, status);
                Outcome::Signal { status, fresh: true }
            }
            None => {
                self.signals.insert(signal, status);
                Outcome::Signal { status, fresh: true }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ClientOrderId {
        ClientOrderId::snowflake(n).unwrap()
    }

    fn units(n: i64) -> Amount {
        Amount::from_units(n).unwrap()
    }

    /// Two books (CNY with slots 2-4, USDT with slot 2), a CNY credit limit, live orders 1
    /// (slot 2, partly filled) and 2 (slot 3), order 3 resolved, a direct allocation in slot 4.
    fn ledger() -> Ledger {
        let config = LedgerConfig::from_json(
            r#"{ "limits": { "books_max": 2, "currencies_max": 1, "orders_max": 3, "resolved_max": 2 },
                 "credit_limits": { "CNY": 100 },
                 "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 5, "balance": 1000 },
                            { "venue": "SSE", "currency": "USDT", "slot_count": 3 } ] }"#,
        )
        .unwrap();
        let mut ledger = Ledger::from_config(&config).unwrap();
        let cny = BookId::new(0);
        let reserve = |n, slot| Command::Reserve {
            id: id(n),
            book: cny,
            slot,
            side: Side::Buy,
            layer: 1,
            amount: units(10),
        };
        for command in [
            reserve(1, 2),
            reserve(2, 3),
            reserve(3, 3),
            Command::Cancel { id: id(3) },
            Command::Fill { id: id(1), amount: units(4) },
            Command::Allocate { book: cny, slot: 4, amount: units(7) },
        ] {
            ledger.apply(&command).unwrap();
        }
        ledger
    }

    fn parts(ledger: &Ledger) -> LedgerParts {
        let (requests, watermarks) = ledger.requests.image();
        let mut orders: Vec<Order> = ledger.orders.values().copied().collect();
        orders.sort_by_key(|o| o.id);
        LedgerParts {
            limits: ledger.limits,
            credit_limits: ledger.credit_limits.clone(),
            books: ledger.books.clone(),
            orders,
            resolved: ledger.resolved.iter().map(|(id, r)| (id, r.state, r.filled)).collect(),
            signals: ledger.signals.iter().collect(),
            requests,
            watermarks,
        }
    }

    /// `from_parts` refuses the parts changed by `change`, and says `why`.
    fn refused(why: &str, change: impl FnOnce(&mut LedgerParts)) {
        let mut parts = parts(&ledger());
        change(&mut parts);
        match Ledger::from_parts(parts) {
            Err(reason) => assert!(reason.contains(why), "expected {why:?}, got {reason:?}"),
            Ok(_) => panic!("accepted parts that should fail with {why:?}"),
        }
    }

    #[test]
    fn parts_of_a_ledger_rebuild_it() {
        let ledger = ledger();
        // The two books share their venue: only the (venue, currency) pair must be unique.
        assert_eq!(ledger.books[0].venue(), ledger.books[1].venue());
        assert!(Ledger::from_parts(parts(&ledger)).unwrap() == ledger);
        // A reserve ratio of exactly one is a valid book.
        let mut whole = parts(&ledger);
        whole.books[1].spec.reserve_ratio = Ratio::ONE;
        assert!(Ledger::from_parts(whole).is_ok());
    }

    #[test]
    fn edges_of_the_commands_are_accepted() {
        let mut ledger = ledger();
        // A book may keep all of its total in reserve.
        let mut spec =
            crate::ledger::book::BookSpec::new(Venue::new("X").unwrap(), Currency::new("X").unwrap(), 3);
        spec.reserve_ratio = Ratio::ONE;
        ledger.limits.books_max = 3;
        assert!(matches!(ledger.apply(&Command::OpenBook { spec }), Ok(Outcome::BookOpened { .. })));
        // A slot may carry its own default name.
        let config = StrategyConfig { label: Some("slot3".parse().unwrap()), ..StrategyConfig::default() };
        ledger.apply(&Command::ConfigureStrategy { book: BookId::new(0), slot: 3, config }).unwrap();
        // Credit: both CNY-less books follow USDT; one of them goes unrecoverable.
        let usdt = Currency::new("USDT").unwrap();
        ledger.books[1].pool = units(-5);
        ledger.books[1].total = units(-5);
        ledger.limits.currencies_max = 2;
        let outcome = ledger.apply(&Command::SetCreditLimit { currency: usdt, limit: units(1) }).unwrap();
        assert_eq!(outcome, Outcome::CreditLimitSet { books: 1, books_unrecoverable: 1 });
    }

    #[test]
    fn the_whole_range_can_be_reserved_to_the_last_unit() {
        let config = LedgerConfig::from_json(
            r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 10000000000 } ] }"#,
        )
        .unwrap();
        let mut ledger = Ledger::from_config(&config).unwrap();
        let all = Amount::MAX;
        let reserve = Command::Reserve {
            id: id(1),
            book: BookId::new(0),
            slot: 2,
            side: Side::Buy,
            layer: 2,
            amount: all,
        };
        assert!(matches!(ledger.apply(&reserve), Ok(Outcome::Reserved { .. })), "the pool to exactly zero");
        assert_eq!(ledger.books[0].pool, Amount::ZERO);
    }

    #[test]
    fn more_entries_than_the_limits_allow_are_refused() {
        let many = "more entries than the limits allow";
        refused(many, |p| p.limits.books_max = 1);
        refused(many, |p| p.credit_limits.push((Currency::new("USDT").unwrap(), units(1))));
        refused(many, |p| p.limits.orders_max = 1);
        refused(many, |p| {
            p.resolved.push((id(50), OrderState::Cancelled, Amount::ZERO));
            p.resolved.push((id(51), OrderState::Released, Amount::ZERO));
        });
    }

    #[test]
    fn each_book_check_names_its_rule() {
        refused("negative or repeated", |p| p.credit_limits[0].1 = units(-1));
        refused("negative or repeated", |p| {
            p.limits.currencies_max = 2;
            p.credit_limits.push(p.credit_limits[0]);
        });
        refused("says it is", |p| p.books[1].id = BookId::new(0));
        refused("opened twice", |p| p.books[1].spec = p.books[0].spec);
        refused("slot count or ratios", |p| {
            p.books[1].strategies.push(crate::ledger::book::Strategy::default());
        });
        refused("slot count or ratios", |p| p.books[1].spec.reserve_ratio = Ratio::from_ppm(1_000_001));
        refused("slot count or ratios", |p| p.books[1].spec.penalty.leave = Ratio::from_ppm(950_000));
        refused("is not its currency's", |p| p.books[1].credit_limit = units(5));
        refused("negative or inconsistent", |p| p.books[0].strategies[2].direct = units(8));
        refused("negative or inconsistent", |p| p.books[1].strategies[0].config.cap = Some(units(-1)));
        refused("negative or inconsistent", |p| p.books[1].strategies[0].config.loss_limit = units(-1));
        for field in 0..3 {
            refused("negative or inconsistent", |p| {
                let s = &mut p.books[1].strategies[0];
                *[&mut s.frozen, &mut s.used, &mut s.direct][field] = units(-1);
            });
        }
    }

    #[test]
    fn each_order_check_names_its_rule() {
        refused("is duplicated", |p| p.orders[1].id = id(1));
        refused("does not exist", |p| p.orders[0].book = BookId::new(7));
        for slot in [0, 1, 5, 60] {
            refused("not a strategy slot", |p| p.orders[0].slot = slot);
        }
        refused("live but in state", |p| p.orders[0].state = OrderState::Released);
        refused("live but in state", |p| p.orders[0].state = OrderState::Dropped);
        refused("do not fit amount", |p| p.orders[0].amount = Amount::ZERO);
        refused("do not fit amount", |p| p.orders[0].frozen = units(-1));
        refused("do not fit amount", |p| p.orders[0].used = units(-1));
        refused("do not fit amount", |p| p.orders[0].amount = units(9));
        // A pending order: 10 frozen and nothing used do not fit 9 (a product would).
        refused("do not fit amount", |p| p.orders[1].amount = units(9));
    }

    #[test]
    fn each_resolved_check_names_its_rule() {
        refused("duplicated or still live", |p| p.resolved.push(p.resolved[0]));
        refused("duplicated or still live", |p| p.resolved[0].0 = id(1));
        refused("not an end", |p| p.resolved[0].1 = OrderState::Pending);
    }

    #[test]
    fn the_audit_catches_what_each_part_alone_cannot() {
        // Every part valid on its own; only the sums disagree.
        refused("!= orders'", |p| {
            p.books[0].strategies[0].frozen = units(7);
            p.books[0].total = units(1002);
        });
        refused("!= orders'", |p| {
            p.books[0].strategies[0].used = units(5);
            p.books[0].total = units(1001);
        });
        refused("live orders counted", |p| p.books[0].strategies[0].orders_live = 2);
        refused("live orders counted", |p| p.books[0].orders_live = 3);
        refused("+ committed", |p| p.books[0].pool = units(900));
        // An order whose state and split disagree.
        let inconsistent: [fn(&mut Order); 5] = [
            |o| o.state = OrderState::Pending,
            |o| o.state = OrderState::Filled,
            |o| o.state = OrderState::Cancelled,
            |o| {
                o.frozen = Amount::ZERO;
                o.used = units(10);
            },
            |o| {
                o.frozen = units(10);
                o.used = Amount::ZERO;
            },
        ];
        for change in inconsistent {
            refused("is inconsistent", |p| change(&mut p.orders[0]));
        }
        // The sums agree, only the state's own rule fails: pending with part of it unfrozen, and
        // filled with part of it never used.
        refused("is inconsistent", |p| {
            p.orders[1].frozen = units(9);
            p.books[0].strategies[1].frozen = units(9);
            p.books[0].total = units(999);
        });
        refused("is inconsistent", |p| {
            p.orders[0].state = OrderState::Filled;
            p.orders[0].frozen = Amount::ZERO;
            p.books[0].strategies[0].frozen = Amount::ZERO;
            p.books[0].total = units(994);
        });
    }

    #[test]
    fn default_names_are_exactly_slot_and_a_number() {
        let name = |text: &str| default_name_slot(text.parse().unwrap());
        assert_eq!(name("slot7"), Some(7));
        assert_eq!(name("slot63"), Some(63));
        for text in ["slot07", "slot", "slotx", "slot300", "Slot7", "159201"] {
            assert_eq!(name(text), None, "{text}");
        }
    }

    #[test]
    fn accessors_and_debug_show_the_ledger() {
        let ledger = ledger();
        assert_eq!(ledger.books().len(), 2);
        assert_eq!(
            ledger.credit_limits().collect::<Vec<_>>(),
            vec![(Currency::new("CNY").unwrap(), units(100))]
        );
        let debug = format!("{ledger:?}");
        assert!(
            debug.contains("Ledger") && debug.contains("orders_live: 2") && debug.contains("resolved: 1"),
            "{debug}"
        );
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "a table: one row per line of the model table")]
    fn the_money_check_reads_the_model_table() {
        let cny = BookId::new(0);
        let a = units(10);
        let raw = i128::from(a.raw());
        let reserve =
            Command::Reserve { id: id(9), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: a };
        let cases = [
            (reserve, Outcome::Reserved { book: cny }, 2, [0, -raw, raw, 0]),
            (reserve, Outcome::AlreadyReserved { state: OrderState::Pending }, 2, [0; 4]),
            (
                Command::Fill { id: id(9), amount: a },
                Outcome::Filled { state: OrderState::Filled, remaining: Amount::ZERO },
                2,
                [0, 0, -raw, raw],
            ),
            (
                Command::Cancel { id: id(9) },
                Outcome::Cancelled { returned: a, held: Amount::ZERO },
                2,
                [0, raw, -raw, 0],
            ),
            (
                Command::ReleaseOrder { id: id(9) },
                Outcome::OrderReleased { returned: a },
                2,
                [0, raw, 0, -raw],
            ),
            (
                Command::Allocate { book: cny, slot: 4, amount: a },
                Outcome::Allocated { balance: a },
                4,
                [0, -raw, 0, raw],
            ),
            (
                Command::Release { book: cny, slot: 4, amount: a },
                Outcome::Released { balance: a },
                4,
                [0, raw, 0, -raw],
            ),
            (
                Command::Adjust { book: cny, slot: 0, delta: a },
                Outcome::Adjusted { health: Health::Sound },
                0,
                [raw, raw, 0, 0],
            ),
            (
                Command::Adjust { book: cny, slot: 3, delta: a },
                Outcome::Adjusted { health: Health::Sound },
                3,
                [0, -raw, 0, raw],
            ),
            (
                Command::Set { book: cny, slot: 1, amount: a },
                Outcome::Set { drift: a.neg(), health: Health::Sound },
                1,
                [-raw, -raw, 0, 0],
            ),
            (
                Command::Set { book: cny, slot: 4, amount: a },
                Outcome::Set { drift: a, health: Health::Sound },
                4,
                [0, -raw, 0, raw],
            ),
            (
                Command::RecordAlpha { book: cny, slot: 2, amount: a },
                Outcome::AlphaRecorded { acc_alpha: a },
                2,
                [0; 4],
            ),
        ];
        for (command, outcome, slot, moved) in cases {
            assert_eq!(expected_move(&command, &outcome, slot), moved, "{command:?}");
        }
    }

    #[test]
    fn every_accepted_command_passes_the_money_check() {
        // `apply` runs the check; this walks the commands of the model table through it.
        let mut ledger = ledger();
        let cny = BookId::new(0);
        for command in [
            Command::Reserve { id: id(20), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: units(20) },
            Command::Fill { id: id(20), amount: units(5) },
            Command::Cancel { id: id(20) },
            Command::ReleaseOrder { id: id(20) },
            Command::Allocate { book: cny, slot: 3, amount: units(3) },
            Command::Release { book: cny, slot: 3, amount: units(1) },
            Command::Adjust { book: cny, slot: 0, delta: units(-5) },
            Command::Adjust { book: cny, slot: 4, delta: units(2) },
            Command::Set { book: cny, slot: 0, amount: units(1_500) },
            Command::Set { book: cny, slot: 4, amount: units(1) },
            Command::Trade { book_a: cny, delta_a: units(-100), book_b: BookId::new(1), delta_b: units(14) },
            Command::Reset { book: cny, balance: units(900), force: true },
        ] {
            ledger.apply(&command).unwrap_or_else(|r| panic!("{command:?}: {r}"));
        }
        ledger.audit().unwrap();
    }

    #[test]
    #[should_panic(expected = "answered Reserved")]
    fn money_that_moved_otherwise_stops_the_ledger() {
        let mut ledger = ledger();
        let cny = BookId::new(0);
        let command =
            Command::Reserve { id: id(30), book: cny, slot: 2, side: Side::Buy, layer: 1, amount: units(5) };
        let before = ledger.figures_before(&command);
        let outcome = ledger.apply_rules(&command).unwrap();
        // As if the pool had been debited twice: the figures read before no longer match.
        ledger.books[0].pool = ledger.books[0].pool.checked_sub(units(5)).unwrap();
        ledger.assert_moved(&command, &outcome, before);
    }
}
