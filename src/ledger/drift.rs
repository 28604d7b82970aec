//! Configuration drift: how the settings a vault is started with differ from the state it
//! recovered from its data directory.
//!
//! After a restart the recovered ledger is the truth about money, but its settings (caps, loss
//! limits, labels, credit limits, books) were fixed by earlier commands, and the configuration the
//! operator starts with may have changed since. Such a difference is never ignored silently: the
//! builder lists every one and, as the caller chose, refuses to start, applies the difference as
//! journalled commands, or keeps the recovered settings and reports the list
//! ([`crate::Builder::on_config_drift`]). Balances are not settings: a recovered total that differs
//! from a configured starting balance is history, reconciled with the exchange, not drift.

use std::fmt;

use crate::ledger::book::{BookId, BookSpec, StrategyConfig};
use crate::ledger::code::{Currency, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::Limits;
use crate::ledger::money::Amount;
use crate::ledger::Ledger;

/// What to do when the configuration differs from the recovered state.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, DriftPolicy, Ledger, Limits};
/// let dir = std::env::temp_dir().join(format!("capvault-doc-drift-{}", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?)
///     .data_dir(&dir)
///     .on_config_drift(DriftPolicy::Apply)   // journal the differences as commands
///     .spawn()?;
/// handle.shutdown()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum DriftPolicy {
    /// Refuse to start with [`SpawnError::ConfigDrift`](crate::SpawnError::ConfigDrift) listing
    /// every difference (the default).
    #[default]
    Refuse,
    /// Apply every difference as journalled commands before serving (credit limits, strategy
    /// settings, new books). A difference no command can make (limits, a book's spec, a recovered
    /// book missing from the configuration) still refuses to start.
    Apply,
    /// Keep the recovered settings; the differences are listed in
    /// [`Recovery::config_drift`](crate::Recovery::config_drift).
    KeepRecovered,
}

/// One difference between the configured and the recovered settings.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{drift, Ledger, LedgerConfig};
/// let configured = Ledger::from_config(&LedgerConfig::from_json(r#"{ "credit_limits": { "CNY": 100 } }"#)?)?;
/// let recovered = Ledger::from_config(&LedgerConfig::default())?;
/// let drifts = drift(&configured, &recovered);
/// assert_eq!(drifts.len(), 1);
/// assert!(drifts[0].is_applicable(), "a credit limit can be set by a command");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Drift {
    /// The limits differ. No command changes them.
    Limits {
        /// Configured.
        configured: Limits,
        /// Recovered.
        recovered: Limits,
    },
    /// A currency's credit limit differs (a missing one counts as zero).
    CreditLimit {
        /// The currency.
        currency: Currency,
        /// Configured.
        configured: Amount,
        /// Recovered.
        recovered: Amount,
    },
    /// A configured book that the recovered state does not have.
    BookMissing {
        /// Its spec.
        spec: BookSpec,
        /// Its configured strategies (slot, settings), those not at the defaults.
        strategies: Vec<(u8, StrategyConfig)>,
    },
    /// A recovered book the configuration does not list. No command closes a book.
    BookNotConfigured {
        /// The recovered book.
        book: BookId,
        /// Its venue.
        venue: Venue,
        /// Its currency.
        currency: Currency,
    },
    /// A book's slot count, reserve ratio or penalty differs, or books come in another order.
    /// No command changes them.
    BookSpec {
        /// The recovered book.
        book: BookId,
        /// Configured.
        configured: BookSpec,
        /// Recovered.
        recovered: BookSpec,
    },
    /// A strategy's label, cap or loss limit differs.
    Strategy {
        /// The book.
        book: BookId,
        /// The slot.
        slot: u8,
        /// Configured.
        configured: StrategyConfig,
        /// Recovered.
        recovered: StrategyConfig,
    },
}

impl Drift {
    /// `true` if journalled commands can make the recovered state match the configuration
    /// (credit limits, strategy settings, a missing book); `false` for limits, a book's spec, or
    /// a recovered book the configuration lacks.
    #[must_use]
    pub fn is_applicable(&self) -> bool {
        matches!(self, Drift::CreditLimit { .. } | Drift::BookMissing { .. } | Drift::Strategy { .. })
    }

    /// The commands that apply this difference. A missing book's strategies are configured in the
    /// book `opened` names, the id its `OpenBook` answered.
    #[must_use]
    pub fn commands(&self, opened: Option<BookId>) -> Vec<Command> {
        match self {
            Drift::CreditLimit { currency, configured, .. } => {
                vec![Command::SetCreditLimit { currency: *currency, limit: *configured }]
            }
            Drift::BookMissing { spec, strategies } => match opened {
                None => vec![Command::OpenBook { spec: *spec }],
                Some(book) => strategies
                    .iter()
                    .map(|&(slot, config)| Command::ConfigureStrategy { book, slot, config })
                    .collect(),
            },
            Drift::Strategy { book, slot, configured, .. } => {
                vec![Command::ConfigureStrategy { book: *book, slot: *slot, config: *configured }]
            }
            Drift::Limits { .. } | Drift::BookNotConfigured { .. } | Drift::BookSpec { .. } => Vec::new(),
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Limits { configured, recovered } => {
                write!(f, "limits: configured {configured:?}, recovered {recovered:?}")
            }
            Drift::CreditLimit { currency, configured, recovered } => {
                write!(f, "credit limit {currency}: configured {configured}, recovered {recovered}")
            }
            Drift::BookMissing { spec, .. } => {
                write!(f, "book {}/{}: configured, not in the recovered state", spec.venue, spec.currency)
            }
            Drift::BookNotConfigured { book, venue, currency } => {
                write!(f, "{book} {venue}/{currency}: recovered, not in the configuration")
            }
            Drift::BookSpec { book, configured, recovered } => {
                write!(f, "{book}: spec configured {configured:?}, recovered {recovered:?}")
            }
            Drift::Strategy { book, slot, configured, recovered } => write!(
                f,
                "{book} slot {slot}: configured {}, recovered {}",
                describe(configured),
                describe(recovered)
            ),
        }
    }
}

fn describe(config: &StrategyConfig) -> String {
    let label = config.label.map_or_else(|| "-".to_owned(), |label| label.to_string());
    let cap = config.cap.map_or_else(|| "none".to_owned(), |cap| cap.to_string());
    format!("label {label} cap {cap} loss limit {}", config.loss_limit)
}

/// Every difference between the settings of `configured` (the ledger the builder was given) and
/// `recovered`, in a fixed order: limits, credit limits, then book by book.
#[must_use]
///
/// # Panics
/// Never: each recovered book looked up here was found by its (venue, currency) first.
pub fn drift(configured: &Ledger, recovered: &Ledger) -> Vec<Drift> {
    let mut drifts = Vec::new();
    if configured.limits() != recovered.limits() {
        drifts.push(Drift::Limits { configured: *configured.limits(), recovered: *recovered.limits() });
    }
    let mut currencies: Vec<Currency> =
        configured.books().iter().chain(recovered.books()).map(super::book::Book::currency).collect();
    currencies.extend(configured.credit_limits().map(|(currency, _)| currency));
    currencies.extend(recovered.credit_limits().map(|(currency, _)| currency));
    currencies.sort_unstable();
    currencies.dedup();
    for currency in currencies {
        let (configured, recovered) = (configured.credit_limit(currency), recovered.credit_limit(currency));
        if configured != recovered {
            drifts.push(Drift::CreditLimit { currency, configured, recovered });
        }
    }
    for book in configured.books() {
        let Some(id) = recovered.book_id(book.venue(), book.currency()) else {
            let strategies = book
                .strategies()
                .filter(|(_, s)| *s.config() != StrategyConfig::default())
                .map(|(slot, s)| (slot, *s.config()))
                .collect();
            drifts.push(Drift::BookMissing { spec: *book.spec(), strategies });
            continue;
        };
        let theirs = recovered.book(id).expect("found by its pair");
        if theirs.spec() != book.spec() || id != book.id() {
            drifts.push(Drift::BookSpec { book: id, configured: *book.spec(), recovered: *theirs.spec() });
            continue;
        }
        for ((slot, mine), (_, recovered)) in book.strategies().zip(theirs.strategies()) {
            if mine.config() != recovered.config() {
                drifts.push(Drift::Strategy {
                    book: id,
                    slot,
                    configured: *mine.config(),
                    recovered: *recovered.config(),
                });
            }
        }
    }
    for book in recovered.books() {
        if configured.book_id(book.venue(), book.currency()).is_none() {
            drifts.push(Drift::BookNotConfigured {
                book: book.id(),
                venue: book.venue(),
                currency: book.currency(),
            });
        }
    }
    drifts
}
