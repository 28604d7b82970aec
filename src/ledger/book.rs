//! Books: one per (venue, currency), slot 0 the total, slot 1 the pool, slots 2.. strategies.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::money::Amount;
use crate::ledger::ratio::Ratio;
use crate::ledger::view::{PenaltyConfig, PoolView, StepPenalty};

/// Slots a book may have, counting the total and the pool (seed 004: 1 wallet + 62 strategies).
pub const SLOTS_MAX: u8 = 64;
/// Slot 0: the account's real balance.
pub const SLOT_TOTAL: u8 = 0;
/// Slot 1: the pool, the unallocated cash every strategy draws from.
pub const SLOT_POOL: u8 = 1;
/// The first strategy slot.
pub const SLOT_FIRST_STRATEGY: u8 = 2;

/// A book's index in its ledger, assigned in opening order.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// let book: BookId = ledger.book_id("SSE".parse()?, "CNY".parse()?).ok_or("no book")?;
/// assert_eq!(book, BookId::new(0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookId(u16);

impl BookId {
    /// The book opened `index`-th (from 0).
    #[must_use]
    pub const fn new(index: u16) -> BookId {
        BookId(index)
    }

    /// The index, for tables.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for BookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "book#{}", self.0)
    }
}

/// What a book is opened with.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookSpec, Command, Currency, Ledger, Limits, Venue};
/// let spec = BookSpec { decimals: 8, ..BookSpec::new(Venue::new("KRAKEN")?, Currency::new("BTC")?, 10) };
/// let mut ledger = Ledger::new(Limits::default())?;
/// ledger.apply(&Command::OpenBook { spec })?;
/// assert_eq!(ledger.books()[0].decimals(), 8);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct BookSpec {
    /// The venue.
    pub venue: Venue,
    /// The currency.
    pub currency: Currency,
    /// Slots including total and pool: `2..=64`, fixed for the book's life.
    pub slot_count: u8,
    /// The first-layer reserve (default 0.15): at most 1.
    pub reserve_ratio: Ratio,
    /// The step-penalty thresholds.
    pub penalty: PenaltyConfig,
    /// The currency's minor unit as decimal places (CNY 2: 0.01), `0..=8`: what a float at the
    /// edge is rounded to ([`Book::amount_from_f64`]). Default 2.
    #[serde(default = "BookSpec::decimals_default")]
    pub decimals: u8,
    /// What a sell reservation holds here ([`SellRule`]). Default: nothing (seed 000).
    #[serde(default)]
    pub sells: SellRule,
}

impl BookSpec {
    /// The default minor unit: 2 decimal places.
    pub const DECIMALS_DEFAULT: u8 = 2;

    const fn decimals_default() -> u8 {
        Self::DECIMALS_DEFAULT
    }

    /// A spec with the seed's defaults: a 15% reserve and the 90%/85%/1.5 penalty.
    #[must_use]
    pub fn new(venue: Venue, currency: Currency, slot_count: u8) -> BookSpec {
        BookSpec {
            venue,
            currency,
            slot_count,
            reserve_ratio: Ratio::from_ppm(150_000),
            penalty: PenaltyConfig::default(),
            decimals: Self::DECIMALS_DEFAULT,
            sells: SellRule::HoldNothing,
        }
    }
}

/// What a sell reservation holds in a book: a per-book rule (`docs/model.md`, "Sells").
///
/// In a securities account (seed 000) a sell spends shares, not the account's cash, so the cash
/// book holds nothing for it. On a crypto venue (seed 004's Kraken) every book is a currency that
/// an order can spend: selling BTC for USD spends BTC, so the BTC book reserves what the sell
/// spends, with the same rules and the same moves as a buy in a quote currency's book.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, LedgerConfig, Ledger, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "KRAKEN", "currency": "BTC", "slot_count": 3,
///     "balance": 2, "decimals": 8, "sells": "spend" } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let sell = Command::Reserve { id: "1790000000000000001".parse()?, book: BookId::new(0), slot: 2,
///     side: Side::Sell, layer: 1, amount: "0.5".parse()? };
/// ledger.apply(&sell)?;
/// assert_eq!(ledger.balance(BookId::new(0), 1)?, "1.5".parse()?);   // the pool
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SellRule {
    /// A sell spends something else (a securities account's shares): it holds nothing here, and
    /// a sell reservation is refused (`Rejection::SellNotReserved`). The default: seed 000.
    #[default]
    HoldNothing,
    /// A sell spends this book's currency (a crypto asset): it is reserved as a buy is, checked
    /// by the same rules in the same order.
    Spend,
}

/// A strategy's settings.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Ledger, LedgerConfig, StrategyConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// let config = StrategyConfig { label: Some("512890".parse()?), cap: Some("200000".parse()?), loss_limit: "15000".parse()? };
/// ledger.apply(&Command::ConfigureStrategy { book: BookId::new(0), slot: 3, config })?;
/// assert_eq!(ledger.books()[0].slot_of("512890".parse()?), Some(3));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Its label, unique in the book (the symbol it trades).
    #[serde(default)]
    pub label: Option<Label>,
    /// The nominal cap: `committed` may not exceed it. `None` for no cap.
    #[serde(default)]
    pub cap: Option<Amount>,
    /// The single-cycle floating loss above which the strategy is forced to reduce
    /// (default 15,000, seed 000 section 5.3).
    #[serde(default = "StrategyConfig::loss_limit_default")]
    pub loss_limit: Amount,
}

impl StrategyConfig {
    fn loss_limit_default() -> Amount {
        Amount::from_units(15_000).unwrap_or(Amount::ZERO)
    }
}

impl Default for StrategyConfig {
    fn default() -> StrategyConfig {
        StrategyConfig { label: None, cap: None, loss_limit: StrategyConfig::loss_limit_default() }
    }
}

/// A strategy slot's state.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// let strategy = ledger.book(BookId::new(0)).and_then(|book| book.strategy(2)).ok_or("no slot")?;
/// assert_eq!((strategy.frozen(), strategy.used()), (capvault::Amount::ZERO, capvault::Amount::ZERO));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Strategy {
    pub(crate) config: StrategyConfig,
    pub(crate) frozen: Amount,
    pub(crate) used: Amount,
    pub(crate) direct: Amount,
    pub(crate) acc_alpha: Amount,
    pub(crate) float_loss: Amount,
    pub(crate) orders_live: u32,
}

impl Strategy {
    /// Its settings.
    #[must_use]
    pub const fn config(&self) -> &StrategyConfig {
        &self.config
    }
    /// Reserved by working orders.
    #[must_use]
    pub const fn frozen(&self) -> Amount {
        self.frozen
    }
    /// Filled by orders plus allocated directly.
    #[must_use]
    pub const fn used(&self) -> Amount {
        self.used
    }
    /// The part of `used` allocated directly (seed 004 `allocate`), not through orders.
    #[must_use]
    pub const fn direct(&self) -> Amount {
        self.direct
    }
    /// `frozen + used`: the strategy's balance.
    #[must_use]
    pub fn committed(&self) -> Amount {
        // The invariant keeps both parts and their sum within the book's total.
        self.frozen.checked_add(self.used).unwrap_or(Amount::MAX)
    }
    /// Realized alpha, outside the invariant.
    #[must_use]
    pub const fn acc_alpha(&self) -> Amount {
        self.acc_alpha
    }
    /// The last marked single-cycle floating loss.
    #[must_use]
    pub const fn float_loss(&self) -> Amount {
        self.float_loss
    }
    /// `true` while the floating loss exceeds the limit: new buys are refused.
    #[must_use]
    pub fn is_forced_reduce(&self) -> bool {
        self.float_loss > self.config.loss_limit
    }
    /// Orders of this strategy still holding capital.
    #[must_use]
    pub const fn orders_live(&self) -> u32 {
        self.orders_live
    }
}

/// Whether a book can still fund its strategies (seed 004, error recovery).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, Health, Ledger, LedgerConfig, Outcome};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut ledger = Ledger::from_config(&config)?;
/// // The exchange reports less than what is committed: nothing is wiped, the book says so.
/// ledger.apply(&Command::Allocate { book: BookId::new(0), slot: 2, amount: "100000".parse()? })?;
/// let Outcome::Set { health, .. } = ledger.apply(&Command::Set { book: BookId::new(0), slot: 0, amount: "50000".parse()? })? else { unreachable!() };
/// assert!(matches!(health, Health::Unrecoverable { .. }));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// `pool + credit_limit >= 0`.
    Sound,
    /// `pool + credit_limit < 0`: the ledger cannot repair this by itself. The caller decides
    /// whether to `reset`; live reservations are never wiped silently.
    Unrecoverable {
        /// The pool.
        pool: Amount,
        /// The currency's credit limit.
        credit_limit: Amount,
    },
}

/// `sound`, or `unrecoverable (pool P + credit limit L < 0)`.
impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Sound => f.write_str("sound"),
            Health::Unrecoverable { pool, credit_limit } => {
                write!(f, "unrecoverable (pool {pool} + credit limit {credit_limit} < 0)")
            }
        }
    }
}

/// One (venue, currency) book.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// let book = &ledger.books()[0];
/// assert_eq!((book.total(), book.pool()), ("300000".parse()?, "300000".parse()?));
/// assert_eq!(book.amount_from_f64(1.153 * 8600.0)?, "9915.8".parse()?);
/// # Ok(())
/// # }
/// ```
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Book {
    pub(crate) id: BookId,
    pub(crate) spec: BookSpec,
    pub(crate) credit_limit: Amount,
    pub(crate) total: Amount,
    pub(crate) pool: Amount,
    /// Indexed by `slot - 2`.
    pub(crate) strategies: Vec<Strategy>,
    pub(crate) penalty: StepPenalty,
    pub(crate) orders_live: u32,
    /// `(Σ frozen, Σ used)` over the strategies, kept as they change, so the view and the
    /// invariant cost O(1) per command whatever the slot count. Wide: a book decoded from a
    /// damaged file may hold figures whose sum leaves `i64`.
    pub(crate) sums: (i128, i128),
}

impl Clone for Book {
    fn clone(&self) -> Book {
        let mut copy = Book::new(self.id, self.spec, self.credit_limit);
        copy.clone_from(self);
        copy
    }

    /// Copies `source` into this book without allocating when the strategies fit: the owner
    /// refreshes a retired snapshot's copy this way (`runtime::snapshot`).
    fn clone_from(&mut self, source: &Book) {
        let Book { id, spec, credit_limit, total, pool, strategies, penalty, orders_live, sums } = source;
        self.id = *id;
        self.spec = *spec;
        self.credit_limit = *credit_limit;
        self.total = *total;
        self.pool = *pool;
        self.strategies.clone_from(strategies);
        self.penalty = *penalty;
        self.orders_live = *orders_live;
        self.sums = *sums;
    }
}

impl Book {
    pub(crate) fn new(id: BookId, spec: BookSpec, credit_limit: Amount) -> Book {
        let strategies = usize::from(spec.slot_count - SLOT_FIRST_STRATEGY);
        Book {
            id,
            spec,
            credit_limit,
            total: Amount::ZERO,
            pool: Amount::ZERO,
            strategies: vec![Strategy::default(); strategies],
            penalty: StepPenalty::new(spec.penalty),
            sums: (0, 0),
            orders_live: 0,
        }
    }

    /// Its index in the ledger.
    #[must_use]
    pub const fn id(&self) -> BookId {
        self.id
    }
    /// The currency's minor unit, as decimal places.
    #[must_use]
    pub const fn decimals(&self) -> u8 {
        self.spec.decimals
    }

    /// An amount from a float at the edge (a Python price times shares), rounded half to even to
    /// this book's minor unit: `1.153 * 8600` is 9,915.80 in a CNY book.
    ///
    /// # Errors
    /// As [`Amount::from_f64_rounded`].
    pub fn amount_from_f64(&self, value: f64) -> Result<Amount, crate::ledger::money::AmountError> {
        Amount::from_f64_rounded(value, u32::from(self.spec.decimals))
    }

    /// What the book was opened with.
    #[must_use]
    pub const fn spec(&self) -> &BookSpec {
        &self.spec
    }
    /// The venue.
    #[must_use]
    pub const fn venue(&self) -> Venue {
        self.spec.venue
    }
    /// The currency.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.spec.currency
    }
    /// Slots including total and pool.
    #[must_use]
    pub const fn slot_count(&self) -> u8 {
        self.spec.slot_count
    }
    /// Slot 0: the account's real balance.
    #[must_use]
    pub const fn total(&self) -> Amount {
        self.total
    }
    /// Slot 1: unallocated cash. May be negative down to `-credit_limit`.
    #[must_use]
    pub const fn pool(&self) -> Amount {
        self.pool
    }
    /// The currency's credit limit.
    #[must_use]
    pub const fn credit_limit(&self) -> Amount {
        self.credit_limit
    }
    /// Orders drawing on this book that still hold capital.
    #[must_use]
    pub const fn orders_live(&self) -> u32 {
        self.orders_live
    }
    /// The book's step-penalty gate, updated after every command.
    #[must_use]
    pub const fn penalty(&self) -> &StepPenalty {
        &self.penalty
    }

    /// The strategy in `slot`, if `slot` is a strategy slot of this book.
    #[must_use]
    pub fn strategy(&self, slot: u8) -> Option<&Strategy> {
        self.strategies.get(usize::from(slot.checked_sub(SLOT_FIRST_STRATEGY)?))
    }

    pub(crate) fn strategy_mut(&mut self, slot: u8) -> &mut Strategy {
        &mut self.strategies[usize::from(slot - SLOT_FIRST_STRATEGY)]
    }

    /// The strategies with their slot numbers.
    #[must_use]
    pub fn strategies(&self) -> impl ExactSizeIterator<Item = (u8, &Strategy)> {
        // Slot numbers are below 64, so the cast is exact.
        self.strategies.iter().enumerate().map(|(i, s)| (SLOT_FIRST_STRATEGY + i as u8, s))
    }

    /// A slot's balance (seed 004 `get_balance`): the total for 0, the pool for 1, `committed`
    /// for a strategy. `None` beyond the slot count.
    pub fn balance(&self, slot: u8) -> Option<Amount> {
        match slot {
            SLOT_TOTAL => Some(self.total),
            SLOT_POOL => Some(self.pool),
            _ => self.strategy(slot).map(Strategy::committed),
        }
    }

    /// The view strategies use: utilisation, the first-layer rule, the penalty.
    #[must_use]
    pub fn view(&self) -> PoolView {
        let (frozen, used) = self.sums;
        let clamp = |sum: i128| i64::try_from(sum).ok().and_then(Amount::from_raw).unwrap_or(Amount::MAX);
        PoolView {
            total: self.total,
            pool: self.pool,
            frozen: clamp(frozen),
            used: clamp(used),
            credit_limit: self.credit_limit,
            reserve_ratio: self.spec.reserve_ratio,
        }
    }

    /// `Sound` while `pool + credit_limit >= 0`.
    #[must_use]
    pub fn health(&self) -> Health {
        if i128::from(self.pool.raw()) + i128::from(self.credit_limit.raw()) < 0 {
            Health::Unrecoverable { pool: self.pool, credit_limit: self.credit_limit }
        } else {
            Health::Sound
        }
    }

    /// The slot whose strategy carries `label`, if any.
    #[must_use]
    pub fn slot_of(&self, label: Label) -> Option<u8> {
        self.strategies().find(|(_, s)| s.config.label == Some(label)).map(|(slot, _)| slot)
    }

    /// Panics if the book breaks its invariant: `total == pool + Σ(frozen + used)`, every
    /// `frozen`, `used` and `direct` non-negative, `direct <= used`. Runs after every accepted
    /// command, in release builds too: a broken ledger must stop, not trade on.
    pub(crate) fn assert_invariant(&self) {
        assert_eq!(
            i128::from(self.total.raw()),
            i128::from(self.pool.raw()) + self.sums.0 + self.sums.1,
            "{}: total {} != pool + committed",
            self.id,
            self.total
        );
        // The whole book, slot by slot, in debug builds (every test): the kept sums must be the
        // real ones. Release builds check the slot a command touched (`Ledger::assert_moved`).
        if cfg!(debug_assertions) {
            self.assert_slots();
        }
    }

    /// `(Σ frozen, Σ used)` recomputed from the strategies.
    pub(crate) fn recount(&self) -> (i128, i128) {
        self.strategies
            .iter()
            .fold((0, 0), |(f, u), s| (f + i128::from(s.frozen.raw()), u + i128::from(s.used.raw())))
    }

    /// Moves one strategy's frozen and used to new values, keeping the book's sums.
    pub(crate) fn set_figures(&mut self, slot: u8, frozen: Amount, used: Amount) {
        let strategy = self.strategy_mut(slot);
        let (was_frozen, was_used) = (strategy.frozen, strategy.used);
        strategy.frozen = frozen;
        strategy.used = used;
        self.sums.0 += i128::from(frozen.raw()) - i128::from(was_frozen.raw());
        self.sums.1 += i128::from(used.raw()) - i128::from(was_used.raw());
    }

    /// Panics if any strategy breaks its rules or the kept sums differ from the strategies.
    pub(crate) fn assert_slots(&self) {
        assert_eq!(self.sums, self.recount(), "{}: kept sums differ from the strategies", self.id);
        let mut sum = i128::from(self.pool.raw());
        for (slot, s) in self.strategies() {
            assert!(!s.frozen.is_negative(), "{} slot {slot}: frozen {} < 0", self.id, s.frozen);
            assert!(!s.used.is_negative(), "{} slot {slot}: used {} < 0", self.id, s.used);
            assert!(!s.direct.is_negative(), "{} slot {slot}: direct {} < 0", self.id, s.direct);
            assert!(s.direct <= s.used, "{} slot {slot}: direct {} > used {}", self.id, s.direct, s.used);
            sum += i128::from(s.frozen.raw()) + i128::from(s.used.raw());
        }
        assert_eq!(
            i128::from(self.total.raw()),
            sum,
            "{}: total {} != pool + committed",
            self.id,
            self.total
        );
    }
}

/// The one JSON schema of a strategy (`docs/model.md`, "JSON"): its figures, its settings and
/// what derives from them.
impl Serialize for Strategy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SlotEntry(None, self).serialize(serializer)
    }
}

/// A strategy with its slot, as a book lists it.
struct SlotEntry<'a>(Option<u8>, &'a Strategy);

impl Serialize for SlotEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (slot, s) = (self.0, self.1);
        let mut map = serializer.serialize_map(None)?;
        if let Some(slot) = slot {
            map.serialize_entry("slot", &slot)?;
        }
        map.serialize_entry("label", &s.config.label)?;
        map.serialize_entry("frozen", &s.frozen)?;
        map.serialize_entry("used", &s.used)?;
        map.serialize_entry("direct", &s.direct)?;
        map.serialize_entry("committed", &s.committed())?;
        map.serialize_entry("cap", &s.config.cap)?;
        map.serialize_entry("loss_limit", &s.config.loss_limit)?;
        map.serialize_entry("acc_alpha", &s.acc_alpha)?;
        map.serialize_entry("float_loss", &s.float_loss)?;
        map.serialize_entry("forced_reduce", &s.is_forced_reduce())?;
        map.serialize_entry("orders_live", &s.orders_live)?;
        map.end()
    }
}

/// The one JSON schema of a book: its figures, settings and gates, and its strategies by slot.
impl Serialize for Book {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let view = self.view();
        let penalty = self.penalty();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("venue", &self.spec.venue)?;
        map.serialize_entry("currency", &self.spec.currency)?;
        map.serialize_entry("slot_count", &self.spec.slot_count)?;
        map.serialize_entry("decimals", &self.spec.decimals)?;
        map.serialize_entry("total", &self.total)?;
        map.serialize_entry("pool", &self.pool)?;
        map.serialize_entry("committed", &view.committed())?;
        map.serialize_entry("utilisation", &view.utilisation())?;
        map.serialize_entry("credit_limit", &self.credit_limit)?;
        map.serialize_entry("reserve_ratio", &self.spec.reserve_ratio)?;
        map.serialize_entry("first_layer_limit", &view.first_layer_limit())?;
        map.serialize_entry("penalty", &penalty)?;
        map.serialize_entry("health", &self.health())?;
        let strategies: Vec<SlotEntry<'_>> =
            self.strategies().map(|(slot, s)| SlotEntry(Some(slot), s)).collect();
        map.serialize_entry("strategies", &strategies)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(total: i64, pool: i64, credit: i64) -> Book {
        let spec = BookSpec::new(Venue::new("SSE").unwrap(), Currency::new("CNY").unwrap(), 4);
        let mut book = Book::new(BookId::new(0), spec, Amount::from_units(credit).unwrap());
        book.total = Amount::from_units(total).unwrap();
        book.pool = Amount::from_units(pool).unwrap();
        book
    }

    #[test]
    fn ids_display_and_counters_read_back() {
        assert_eq!(BookId::new(3).to_string(), "book#3");
        let mut book = book(0, 0, 0);
        book.orders_live = 5;
        book.strategies[1].orders_live = 4;
        assert_eq!(book.orders_live(), 5);
        assert_eq!(book.strategy(3).unwrap().orders_live(), 4);
        assert_eq!(book.strategy(2).unwrap().orders_live(), 0);
    }

    #[test]
    fn health_is_sound_down_to_pool_plus_credit_equal_to_zero() {
        assert_eq!(book(0, -500, 500).health(), Health::Sound, "exactly at the limit");
        let below = book(0, -501, 500);
        assert_eq!(
            below.health(),
            Health::Unrecoverable {
                pool: Amount::from_units(-501).unwrap(),
                credit_limit: Amount::from_units(500).unwrap()
            }
        );
    }

    #[test]
    fn the_invariant_assertion_fires_on_every_broken_part() {
        let mut sound = book(300, 200, 0);
        sound.set_figures(2, Amount::ZERO, Amount::from_units(100).unwrap());
        sound.assert_invariant();
        sound.assert_slots();
        let broken: [fn(&mut Book); 5] = [
            |b| b.total = Amount::from_units(301).unwrap(),
            |b| b.strategies[1].frozen = Amount::from_units(-1).unwrap(),
            |b| b.strategies[0].used = Amount::from_units(-1).unwrap(),
            |b| b.strategies[0].direct = Amount::from_units(-1).unwrap(),
            |b| b.strategies[0].direct = Amount::from_units(101).unwrap(),
        ];
        for (case, breaks) in broken.iter().enumerate() {
            let mut book = sound.clone();
            breaks(&mut book);
            // Release builds check the sums in `assert_invariant` and the slots apart (the ones a
            // command touched): both halves, in every profile.
            let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                book.assert_invariant();
                book.assert_slots();
            }));
            assert!(fired.is_err(), "case {case}: a broken book passed the invariant assertion");
        }
    }
}
