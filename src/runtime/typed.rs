//! Typed helpers on [`Handle`]: one method per command, each returning what that command does,
//! so a caller never matches an [`Outcome`] with an "unexpected" arm.

use crate::ledger::{
    securities_capital, Amount, BookId, BookSpec, ClientOrderId, Command, Currency, Health, Holding,
    Mismatch, OrderState, Outcome, Rejection, SecuritiesCapital, Side, SignalStatus,
};
use crate::ledger::{StrategyConfig, SLOT_TOTAL};
use crate::runtime::error::SubmitError;
use crate::runtime::handle::Handle;
#[allow(unused_imports, reason = "used by the helpers' expansion")]
use crate::runtime::handle::Receipt;

/// What a reservation did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig, OrderState, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let id = "1790000000000000001".parse()?;
/// let first = handle.reserve(id, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;
/// let retry = handle.reserve(id, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;   // same id and fields
/// assert_eq!((first.repeated, retry.repeated), (None, Some(OrderState::Pending)));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[must_use = "a repeated reservation must not be sent to the broker again"]
pub struct Reservation {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// `None` for a new reservation; the order's state for an idempotent repeat (the same id and
    /// fields), which changed nothing.
    pub repeated: Option<OrderState>,
}

/// What a fill did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig, OrderState, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let id = "1790000000000000001".parse()?;
/// let _ = handle.reserve(id, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;
/// let fill = handle.fill(id, "30".parse()?)?;
/// assert_eq!((fill.state, fill.remaining), (OrderState::PartiallyFilled, "70".parse()?));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct FillReport {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// The order's state after the fill.
    pub state: OrderState,
    /// What is still frozen for the working order.
    pub remaining: Amount,
}

/// What a cancel did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let id = "1790000000000000001".parse()?;
/// let _ = handle.reserve(id, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;
/// handle.fill(id, "30".parse()?)?;
/// let cancelled = handle.cancel(id)?;
/// assert_eq!((cancelled.returned, cancelled.held), ("70".parse()?, "30".parse()?));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct Cancellation {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// The unfilled remainder, back in the pool.
    pub returned: Amount,
    /// The filled part the order still holds until it is released.
    pub held: Amount,
}

/// A slot's balance after a command, with the sequence that shows it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// assert_eq!(handle.allocate(BookId::new(0), 2, "500".parse()?)?.amount, "500".parse()?);
/// assert_eq!(handle.release(BookId::new(0), 2, "200".parse()?)?.amount, "300".parse()?);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct Balance {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// The amount: the slot's balance (allocate, release), what went back to the pool (an
    /// order's release), or the strategy's accumulated alpha.
    pub amount: Amount,
}

/// A book's health after a command that moved its total, with the drift a `set` found.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, Health, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let reports = handle.set_totals(&[(BookId::new(0), "299870.25".parse()?)]);   // what the exchange says
/// let report = reports[0].as_ref().map_err(|e| e.to_string())?;
/// assert_eq!((report.drift, report.health), ("-129.75".parse()?, Health::Sound));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct HealthReport {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// For `set` and `set_totals`: the new amount minus the old.
    pub drift: Amount,
    /// Whether the book can still fund its strategies.
    pub health: Health,
}

/// What a reset did: the orders and capital it dropped (a forced reset only).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let _ = handle.reserve("1790000000000000001".parse()?, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;
/// let reset = handle.reset(BookId::new(0), "250000".parse()?, true)?;   // force: drop the live order
/// assert_eq!((reset.dropped_orders, reset.dropped_frozen), (1, "100".parse()?));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct ResetReport {
    /// The snapshot sequence that shows it.
    pub seq: u64,
    /// Live orders dropped.
    pub dropped_orders: u32,
    /// Their frozen capital, returned to the pool.
    pub dropped_frozen: Amount,
    /// Their used capital, returned to the pool.
    pub dropped_used: Amount,
    /// Direct allocations returned to the pool.
    pub dropped_direct: Amount,
    /// The book's health after the reset.
    pub health: Health,
}

/// What a cumulative fill report ([`Handle::fill_to`]) did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, CumulativeFill, LedgerConfig, OrderState, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let id = "1790000000000000001".parse()?;
/// let _ = handle.reserve(id, BookId::new(0), 2, Side::Buy, 1, "100".parse()?)?;
/// let first = handle.fill_to(id, "30".parse()?)?;    // the broker: 30 filled so far
/// let again = handle.fill_to(id, "30".parse()?)?;    // the same report, delivered twice
/// assert!(matches!(first, CumulativeFill::Applied(fill) if fill.remaining == "70".parse()?));
/// assert!(matches!(again, CumulativeFill::AlreadyApplied { state: OrderState::PartiallyFilled, .. }));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CumulativeFill {
    /// The report filled more than the ledger had: the difference moved from frozen to used.
    Applied(FillReport),
    /// The report asked for no more than the order has filled (a repeat, a late report):
    /// nothing changed.
    AlreadyApplied {
        /// The snapshot sequence when it was answered.
        seq: u64,
        /// Where the order is (or how it ended).
        state: OrderState,
        /// What the ledger holds as filled.
        filled: Amount,
    },
}

/// Where a signal is after a claim or a consumption (the executor bridge's idempotency step).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct SignalReport {
    /// The snapshot sequence when it was answered.
    pub seq: u64,
    /// The signal's status after the command.
    pub status: SignalStatus,
    /// `false` if the command found it so already and changed nothing.
    pub fresh: bool,
}

/// What [`Handle::reconcile_securities`] found and did.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct SecuritiesReport {
    /// Cash, what the positions cost by the vault, the capital and the mismatches.
    pub capital: SecuritiesCapital,
    /// The `set` of the total, or `None` when mismatches held it back ([`Mismatch::Hold`]).
    pub applied: Option<HealthReport>,
}

/// The typed helpers, on [`Handle`] and on the gateway's `Client` (the same API in another
/// process): each type has a `submit(&mut self, Command) -> Result<Receipt, SubmitError>`.
macro_rules! typed_helpers {
    ($ty:ty) => {
        impl $ty {
            /// Submits `command` and hands its outcome to `pick`, which knows the one outcome kind the
            /// ledger answers that command with (`docs/model.md`, the command table).
            fn typed<T>(
                &mut self,
                command: Command,
                pick: impl FnOnce(u64, Outcome) -> Option<T>,
            ) -> Result<T, SubmitError> {
                let Receipt { seq, outcome } = self.submit(command)?;
                // The ledger answers each command with its own outcome kind; anything else is a bug in
                // the ledger, not an input to handle.
                Ok(pick(seq, outcome)
                    .unwrap_or_else(|| unreachable!("{command:?} answered with {outcome:?}")))
            }

            /// Opens a book and returns its id.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn open_book(&mut self, spec: BookSpec) -> Result<BookId, SubmitError> {
                self.typed(Command::OpenBook { spec }, |_, o| match o {
                    Outcome::BookOpened { book } => Some(book),
                    _ => None,
                })
            }

            /// Sets a strategy's label, cap and loss limit; returns the sequence.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn configure_strategy(
                &mut self,
                book: BookId,
                slot: u8,
                config: StrategyConfig,
            ) -> Result<u64, SubmitError> {
                self.typed(Command::ConfigureStrategy { book, slot, config }, |seq, o| {
                    matches!(o, Outcome::StrategyConfigured).then_some(seq)
                })
            }

            /// Sets a currency's credit limit; returns how many of its books are now unrecoverable.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn set_credit_limit(
                &mut self,
                currency: Currency,
                limit: Amount,
            ) -> Result<u16, SubmitError> {
                self.typed(Command::SetCreditLimit { currency, limit }, |_, o| match o {
                    Outcome::CreditLimitSet { books_unrecoverable, .. } => Some(books_unrecoverable),
                    _ => None,
                })
            }

            /// Reserves `amount` for order `id` of strategy `slot` (frozen until filled or cancelled).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit): [`SubmitError::Rejected`] with the rule that refused it.
            pub fn reserve(
                &mut self,
                id: ClientOrderId,
                book: BookId,
                slot: u8,
                side: Side,
                layer: u32,
                amount: Amount,
            ) -> Result<Reservation, SubmitError> {
                self.typed(Command::Reserve { id, book, slot, side, layer, amount }, |seq, o| match o {
                    Outcome::Reserved { .. } => Some(Reservation { seq, repeated: None }),
                    Outcome::AlreadyReserved { state } => Some(Reservation { seq, repeated: Some(state) }),
                    _ => None,
                })
            }

            /// Moves `amount` of order `id` from frozen to used (a fill, partial or whole).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn fill(&mut self, id: ClientOrderId, amount: Amount) -> Result<FillReport, SubmitError> {
                self.typed(Command::Fill { id, amount }, |seq, o| match o {
                    Outcome::Filled { state, remaining } => Some(FillReport { seq, state, remaining }),
                    _ => None,
                })
            }

            /// A broker's cumulative fill report: the order has filled `filled` in all. Moves what
            /// the ledger has not yet seen from frozen to used; a report at or below what is filled
            /// (delivered twice, replayed, late) changes nothing. Feed broker reports here, not to
            /// [`fill`](Self::fill).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn fill_to(
                &mut self,
                id: ClientOrderId,
                filled: Amount,
            ) -> Result<CumulativeFill, SubmitError> {
                self.typed(Command::FillTo { id, filled }, |seq, o| match o {
                    Outcome::Filled { state, remaining } => {
                        Some(CumulativeFill::Applied(FillReport { seq, state, remaining }))
                    }
                    Outcome::FillAlreadyApplied { state, filled } => {
                        Some(CumulativeFill::AlreadyApplied { seq, state, filled })
                    }
                    _ => None,
                })
            }

            /// Expires order `id` (no broker report came in time): like a cancel, but a late fill is
            /// refused (`order_expired`) for the executor to resolve with the broker.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn expire(&mut self, id: ClientOrderId) -> Result<Cancellation, SubmitError> {
                self.typed(Command::Expire { id }, |seq, o| match o {
                    Outcome::Cancelled { returned, held } => Some(Cancellation { seq, returned, held }),
                    _ => None,
                })
            }

            /// Claims a signal for processing (its key is `ClientOrderId::from_text` of its id).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn claim_signal(&mut self, signal: ClientOrderId) -> Result<SignalReport, SubmitError> {
                self.typed(Command::ClaimSignal { signal }, |seq, o| match o {
                    Outcome::Signal { status, fresh } => Some(SignalReport { seq, status, fresh }),
                    _ => None,
                })
            }

            /// Marks a signal consumed, with or without an order placed; a repeat changes nothing.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn consume_signal(
                &mut self,
                signal: ClientOrderId,
                placed: bool,
            ) -> Result<SignalReport, SubmitError> {
                self.typed(Command::ConsumeSignal { signal, placed }, |seq, o| match o {
                    Outcome::Signal { status, fresh } => Some(SignalReport { seq, status, fresh }),
                    _ => None,
                })
            }

            /// Cancels order `id`: its unfilled remainder goes back to the pool.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn cancel(&mut self, id: ClientOrderId) -> Result<Cancellation, SubmitError> {
                self.typed(Command::Cancel { id }, |seq, o| match o {
                    Outcome::Cancelled { returned, held } => Some(Cancellation { seq, returned, held }),
                    _ => None,
                })
            }

            /// Releases exactly what order `id` holds back to the pool (after the position is closed).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn release_order(&mut self, id: ClientOrderId) -> Result<Balance, SubmitError> {
                self.typed(Command::ReleaseOrder { id }, |seq, o| match o {
                    Outcome::OrderReleased { returned } => Some(Balance { seq, amount: returned }),
                    _ => None,
                })
            }

            /// Moves `amount` from the pool to strategy `slot` outside any order; returns its balance.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn allocate(
                &mut self,
                book: BookId,
                slot: u8,
                amount: Amount,
            ) -> Result<Balance, SubmitError> {
                self.typed(Command::Allocate { book, slot, amount }, |seq, o| match o {
                    Outcome::Allocated { balance } => Some(Balance { seq, amount: balance }),
                    _ => None,
                })
            }

            /// Moves `amount` from strategy `slot` back to the pool; returns its balance.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn release(
                &mut self,
                book: BookId,
                slot: u8,
                amount: Amount,
            ) -> Result<Balance, SubmitError> {
                self.typed(Command::Release { book, slot, amount }, |seq, o| match o {
                    Outcome::Released { balance } => Some(Balance { seq, amount: balance }),
                    _ => None,
                })
            }

            /// Adds `delta` to slot `slot` (0: the total, which moves the pool with it).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn adjust(
                &mut self,
                book: BookId,
                slot: u8,
                delta: Amount,
            ) -> Result<HealthReport, SubmitError> {
                self.typed(Command::Adjust { book, slot, delta }, |seq, o| match o {
                    Outcome::Adjusted { health } => Some(HealthReport { seq, drift: delta, health }),
                    _ => None,
                })
            }

            /// Sets slot `slot` to `amount` (0: the total, as the exchange reports it).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn set(
                &mut self,
                book: BookId,
                slot: u8,
                amount: Amount,
            ) -> Result<HealthReport, SubmitError> {
                self.typed(Command::Set { book, slot, amount }, |seq, o| match o {
                    Outcome::Set { drift, health } => Some(HealthReport { seq, drift, health }),
                    _ => None,
                })
            }

            /// Sets each book's total to what the exchange reports (seed 004's error recovery, and the
            /// first thing to do after a restart): one `set` of slot 0 per book. Each answer carries the
            /// drift and the book's health; an unrecoverable book (`pool + credit_limit < 0`) is reported
            /// with its figures and left for the caller to `reset`, never reset here.
            ///
            /// For a crypto balance or a cash account: the total is the balance. A securities
            /// account's total is its cash plus what its positions cost: use
            /// [`Handle::reconcile_securities`](crate::Handle::reconcile_securities) with the broker's cash, never this.
            pub fn set_totals(
                &mut self,
                totals: &[(BookId, Amount)],
            ) -> Vec<Result<HealthReport, SubmitError>> {
                totals.iter().map(|&(book, amount)| self.set(book, SLOT_TOTAL, amount)).collect()
            }

            /// Sets a book's total to `balance` with everything in the pool; refused while orders
            /// are live (`LiveOrders`) unless `force`, which drops them. Direct allocations are
            /// dropped either way (seed 004's reset starts every strategy at zero); the report
            /// says what was dropped (`dropped_direct` among it).
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn reset(
                &mut self,
                book: BookId,
                balance: Amount,
                force: bool,
            ) -> Result<ResetReport, SubmitError> {
                self.typed(Command::Reset { book, balance, force }, |seq, o| match o {
                    Outcome::Reset {
                        dropped_orders,
                        dropped_frozen,
                        dropped_used,
                        dropped_direct,
                        health,
                    } => Some(ResetReport {
                        seq,
                        dropped_orders,
                        dropped_frozen,
                        dropped_used,
                        dropped_direct,
                        health,
                    }),
                    _ => None,
                })
            }

            /// Moves two books' totals at once (a conversion between currencies); returns both books'
            /// health.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn trade(
                &mut self,
                (book_a, delta_a): (BookId, Amount),
                (book_b, delta_b): (BookId, Amount),
            ) -> Result<(Health, Health), SubmitError> {
                self.typed(Command::Trade { book_a, delta_a, book_b, delta_b }, |_, o| match o {
                    Outcome::Traded { health_a, health_b } => Some((health_a, health_b)),
                    _ => None,
                })
            }

            /// Adds `amount` to strategy `slot`'s accumulated alpha; returns the new total.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn record_alpha(
                &mut self,
                book: BookId,
                slot: u8,
                amount: Amount,
            ) -> Result<Balance, SubmitError> {
                self.typed(Command::RecordAlpha { book, slot, amount }, |seq, o| match o {
                    Outcome::AlphaRecorded { acc_alpha } => Some(Balance { seq, amount: acc_alpha }),
                    _ => None,
                })
            }

            /// Records strategy `slot`'s floating loss; returns whether it is now in forced reduce.
            ///
            /// # Errors
            /// As [`Handle::submit`](crate::Handle::submit).
            pub fn mark_loss(&mut self, book: BookId, slot: u8, loss: Amount) -> Result<bool, SubmitError> {
                self.typed(Command::MarkLoss { book, slot, loss }, |_, o| match o {
                    Outcome::LossMarked { forced_reduce } => Some(forced_reduce),
                    _ => None,
                })
            }
        }
    };
}
pub(crate) use typed_helpers;

typed_helpers!(Handle);

impl Handle {
    /// Reconciles a securities account: the book's total becomes the broker's `cash` plus what
    /// the strategies' positions cost by the vault (their `used`), and the difference (realized
    /// profit, fees) goes to the pool. Each labelled strategy's `used` is compared with the cost
    /// of the broker's `holdings` of its codes; with [`Mismatch::Hold`] a disagreement leaves the
    /// total as it is (`applied: None`). The executor bridge's `reconcile` is this rule with the
    /// broker's reports drained first.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Builder, Holding, LedgerConfig, Mismatch, Side};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201" } ] } ] }"#)?;
    /// let mut handle = Builder::from_config(&config)?.spawn()?;
    /// let id = "1790000000000000001".parse()?;
    /// let _ = handle.reserve(id, BookId::new(0), 2, Side::Buy, 0, "69180".parse()?)?;
    /// handle.fill_to(id, "69180".parse()?)?;
    /// // The broker: 230,900 cash after the buy and a 100 CNY dividend; the position cost 69,180.
    /// let holdings = [Holding { code: "159201.SZ", cost: "69180".parse()? }];
    /// let report = handle.reconcile_securities(BookId::new(0), "230920".parse()?, &holdings, Mismatch::Hold)?;
    /// assert_eq!((report.capital.capital, report.capital.drift), ("300100".parse()?, "100".parse()?));
    /// assert!(report.applied.is_some());
    /// handle.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SubmitError::Rejected`] with `unknown_book`, or `overflow` if the capital leaves the
    /// amount range; as [`Handle::submit`] for the `set`.
    pub fn reconcile_securities(
        &mut self,
        book: BookId,
        cash: Amount,
        holdings: &[Holding<'_>],
        rule: Mismatch,
    ) -> Result<SecuritiesReport, SubmitError> {
        let capital = {
            let snapshot = self.snapshot();
            let found = snapshot.book(book).ok_or(SubmitError::Rejected(Rejection::UnknownBook { book }))?;
            securities_capital(found, cash, holdings).ok_or(SubmitError::Rejected(Rejection::Overflow))?
        };
        let applied =
            if capital.apply(rule) { Some(self.set(book, SLOT_TOTAL, capital.capital)?) } else { None };
        Ok(SecuritiesReport { capital, applied })
    }
}
