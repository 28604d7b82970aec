//! Configuration: limits fixed up front, credit limits, and the books to open, from code or JSON.
//!
//! ```json
//! {
//!   "limits": { "books_max": 8, "orders_max": 4096 },
//!   "credit_limits": { "USDC": 5000 },
//!   "books": [
//!     { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
//!       "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
//!                       { "slot": 3, "label": "512890", "cap": 200000 } ] }
//!   ]
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ledger::book::{BookSpec, SellRule, StrategyConfig};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::money::Amount;
use crate::ledger::ratio::Ratio;
use crate::ledger::rejection::Rejection;
use crate::ledger::view::PenaltyConfig;

/// Upper bounds fixed when the ledger is built. Everything is preallocated to them, so applying
/// a command never allocates.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Ledger, Limits};
/// let ledger = Ledger::new(Limits { orders_max: 100_000, ..Limits::default() })?;
/// assert_eq!(ledger.limits().orders_max, 100_000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Books (venue, currency pairs). Default 16.
    pub books_max: u16,
    /// Currencies with a credit limit. Default 16.
    pub currencies_max: u16,
    /// Live orders across all books. Default 16,384.
    pub orders_max: u32,
    /// Resolved ids remembered for idempotency. Default 65,536.
    pub resolved_max: u32,
}

impl Limits {
    /// The largest `orders_max` accepted: 4 Mi orders.
    pub const ORDERS_MAX_MAX: u32 = 1 << 22;
    /// The largest `resolved_max` accepted: 16 Mi ids.
    pub const RESOLVED_MAX_MAX: u32 = 1 << 24;

    /// Checks every limit is at least 1 and at most its maximum.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] naming the first limit out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name, value: u64, max: u64| {
            if value == 0 || value > max {
                Err(ConfigError::Limit { name, value, max })
            } else {
                Ok(())
            }
        };
        bad("books_max", u64::from(self.books_max), u64::from(u16::MAX))?;
        bad("currencies_max", u64::from(self.currencies_max), u64::from(u16::MAX))?;
        bad("orders_max", u64::from(self.orders_max), u64::from(Self::ORDERS_MAX_MAX))?;
        bad("resolved_max", u64::from(self.resolved_max), u64::from(Self::RESOLVED_MAX_MAX))
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { books_max: 16, currencies_max: 16, orders_max: 16_384, resolved_max: 65_536 }
    }
}

/// A strategy slot in a configuration file.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = capvault::LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4,
///     "strategies": [ { "slot": 2, "label": "159201", "cap": 200000, "loss_limit": 15000 } ] } ] }"#)?;
/// assert_eq!(config.books[0].strategies[0].slot, 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySlotConfig {
    /// The slot (2..).
    pub slot: u8,
    /// Its label.
    #[serde(default)]
    pub label: Option<Label>,
    /// Its nominal cap.
    #[serde(default)]
    pub cap: Option<Amount>,
    /// Its loss limit (default 15,000).
    #[serde(default)]
    pub loss_limit: Option<Amount>,
}

impl StrategySlotConfig {
    /// The settings, with defaults filled in.
    #[must_use]
    pub fn to_strategy_config(&self) -> StrategyConfig {
        let default = StrategyConfig::default();
        StrategyConfig {
            label: self.label,
            cap: self.cap,
            loss_limit: self.loss_limit.unwrap_or(default.loss_limit),
        }
    }
}

fn decimals_default() -> u8 {
    BookSpec::DECIMALS_DEFAULT
}

fn reserve_ratio_default() -> Ratio {
    Ratio::from_ppm(150_000)
}

/// A book in a configuration file.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = capvault::LedgerConfig::from_json(r#"{ "books": [ { "venue": "KRAKEN", "currency": "USDT",
///     "slot_count": 10, "balance": 10000, "decimals": 6 } ] }"#)?;
/// assert_eq!(config.books[0].spec().decimals, 6);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookConfig {
    /// The venue.
    pub venue: Venue,
    /// The currency.
    pub currency: Currency,
    /// Slots including total and pool.
    pub slot_count: u8,
    /// The first-layer reserve (default 0.15).
    #[serde(default = "reserve_ratio_default")]
    pub reserve_ratio: Ratio,
    /// The step-penalty thresholds (default 0.90 / 0.85 / 1.5).
    #[serde(default)]
    pub penalty: PenaltyConfig,
    /// The currency's minor unit as decimal places (default 2): what floats are rounded to.
    #[serde(default = "decimals_default")]
    pub decimals: u8,
    /// What a sell reservation holds (default `hold_nothing`, seed 000; `spend` for a book
    /// whose currency a sell spends, a crypto asset).
    #[serde(default)]
    pub sells: SellRule,
    /// The starting total (default 0), applied as a reset.
    #[serde(default)]
    pub balance: Amount,
    /// Strategy settings.
    #[serde(default)]
    pub strategies: Vec<StrategySlotConfig>,
}

impl BookConfig {
    /// The spec the book is opened with.
    #[must_use]
    pub fn spec(&self) -> BookSpec {
        BookSpec {
            venue: self.venue,
            currency: self.currency,
            slot_count: self.slot_count,
            reserve_ratio: self.reserve_ratio,
            penalty: self.penalty,
            decimals: self.decimals,
            sells: self.sells,
        }
    }
}

/// Everything a ledger starts from.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "credit_limits": { "USDT": 500 },
///     "books": [ { "venue": "KRAKEN", "currency": "USDT", "slot_count": 10, "balance": 10000 } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// assert_eq!(ledger.credit_limit("USDT".parse()?), "500".parse()?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The limits.
    #[serde(default)]
    pub limits: Limits,
    /// Credit limit per currency (seed 004: "configured separately for each asset"). A currency
    /// named twice is refused, never silently resolved to the last value.
    #[serde(default, deserialize_with = "unique_keys")]
    pub credit_limits: BTreeMap<Currency, Amount>,
    /// Books to open, in order: the first gets `BookId(0)`.
    #[serde(default)]
    pub books: Vec<BookConfig>,
}

/// A JSON object into a map, refusing a key given twice (serde's own map keeps the last).
fn unique_keys<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<Currency, Amount>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = BTreeMap<Currency, Amount>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of currency: limit")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some((currency, limit)) = access.next_entry::<Currency, Amount>()? {
                if map.insert(currency, limit).is_some() {
                    return Err(serde::de::Error::custom(format!("currency {currency} is given twice")));
                }
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(Visitor)
}

impl LedgerConfig {
    /// Parses a JSON configuration: an object, every field known, nothing given twice.
    ///
    /// # Errors
    /// [`ConfigError::Json`] naming the field (`books[0].strategies[1].cap`) and what is wrong
    /// with it, or [`ConfigError::Field`] for a strategy slot configured twice.
    pub fn from_json(text: &str) -> Result<LedgerConfig, ConfigError> {
        if !text.trim_start().starts_with('{') {
            return Err(ConfigError::Json {
                field: "(top level)".into(),
                message: "a configuration is a JSON object { ... }".into(),
            });
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let config: LedgerConfig = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let field = error.path().to_string();
            ConfigError::Json { field, message: error.into_inner().to_string() }
        })?;
        deserializer
            .end()
            .map_err(|e| ConfigError::Json { field: "(end)".into(), message: e.to_string() })?;
        config.check_slots()?;
        Ok(config)
    }

    /// Reads and parses a JSON configuration file; every error names the file.
    ///
    /// # Errors
    /// [`ConfigError::File`] wrapping [`ConfigError::Io`] if the file cannot be read, or what
    /// [`LedgerConfig::from_json`] refuses.
    pub fn load(path: impl AsRef<Path>) -> Result<LedgerConfig, ConfigError> {
        let path = path.as_ref();
        let in_file = |error| ConfigError::File { path: path.to_owned(), error: Box::new(error) };
        let text = std::fs::read_to_string(path).map_err(|e| in_file(ConfigError::Io(e.to_string())))?;
        LedgerConfig::from_json(&text).map_err(in_file)
    }

    /// A strategy slot may be configured once per book: a second entry would silently replace
    /// the first (and its cap).
    fn check_slots(&self) -> Result<(), ConfigError> {
        for (b, book) in self.books.iter().enumerate() {
            for (i, strategy) in book.strategies.iter().enumerate() {
                if let Some(first) = book.strategies[..i].iter().position(|s| s.slot == strategy.slot) {
                    return Err(ConfigError::Field {
                        field: format!("books[{b}].strategies[{i}].slot"),
                        reason: format!(
                            "slot {} is already configured by books[{b}].strategies[{first}]",
                            strategy.slot
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Why a configuration could not build a ledger.
///
/// ```
/// let error = capvault::LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE" } ] }"#).unwrap_err();
/// assert!(error.to_string().contains("currency"), "{error}");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io(String),
    /// The JSON is malformed or has a bad field.
    Json {
        /// The field's path, as `books[0].strategies[1].cap`.
        field: String,
        /// What is wrong, with serde's line and column.
        message: String,
    },
    /// A field's value is refused by a rule of the configuration itself.
    Field {
        /// The field's path.
        field: String,
        /// Why.
        reason: String,
    },
    /// An error in a configuration file.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        error: Box<ConfigError>,
    },
    /// A limit is zero or above its maximum.
    Limit {
        /// The limit's name.
        name: &'static str,
        /// The value given.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A credit limit was refused.
    CreditLimit {
        /// The currency.
        currency: Currency,
        /// Why.
        rejection: Rejection,
    },
    /// A book, one of its strategies or its balance was refused.
    Book {
        /// Its position in `books`.
        index: usize,
        /// Why.
        rejection: Rejection,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(message) => write!(f, "cannot read the configuration: {message}"),
            ConfigError::Json { field, message } => write!(f, "bad configuration at {field}: {message}"),
            ConfigError::Field { field, reason } => write!(f, "bad configuration at {field}: {reason}"),
            ConfigError::File { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::Limit { name, value, max } => {
                write!(f, "limit {name} = {value} is outside 1..={max}")
            }
            ConfigError::CreditLimit { currency, rejection } => {
                write!(f, "credit limit for {currency}: {rejection}")
            }
            ConfigError::Book { index, rejection } => write!(f, "books[{index}]: {rejection}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::File { error, .. } => Some(&**error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let config = LedgerConfig::from_json(
            r#"{
              "limits": { "books_max": 8, "orders_max": 4096 },
              "credit_limits": { "USDC": 5000 },
              "books": [
                { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                  "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
                                  { "slot": 3, "label": "512890", "cap": 200000 } ] }
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(config.limits.books_max, 8);
        assert_eq!(config.limits.resolved_max, Limits::default().resolved_max);
        let usdc = Currency::new("USDC").unwrap();
        assert_eq!(config.credit_limits[&usdc], Amount::from_units(5000).unwrap());
        let book = &config.books[0];
        assert_eq!(book.reserve_ratio, Ratio::from_ppm(150_000));
        assert_eq!(book.strategies[1].to_strategy_config().loss_limit, Amount::from_units(15_000).unwrap());
    }

    #[test]
    fn refuses_bad_fields_with_a_message() {
        for (text, needle) in [
            (r#"{"limitz": {}}"#, "limitz"),
            (r#"{"credit_limits": {"usdc": 1}}"#, "outside its alphabet"),
            (r#"{"credit_limits": {"USDC": 0.000000001}}"#, "fractional digits"),
            (r#"{"books": [{"venue": "SSE", "currency": "CNY"}]}"#, "slot_count"),
        ] {
            let error = LedgerConfig::from_json(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn refuses_zero_and_oversized_limits() {
        let limits = Limits { orders_max: 0, ..Limits::default() };
        assert_eq!(
            limits.validate(),
            Err(ConfigError::Limit { name: "orders_max", value: 0, max: u64::from(Limits::ORDERS_MAX_MAX) })
        );
        let limits = Limits { resolved_max: Limits::RESOLVED_MAX_MAX + 1, ..Limits::default() };
        assert!(limits.validate().is_err());
    }
}
