//! The executor bridge of seed 000 (section 6): strategy nodes write `order_signal.json`, the
//! executor consumes each signal once through "idempotency -> validation -> funds precheck ->
//! vault approval -> order -> consume" (section 3.4), writes an order result, feeds broker
//! reports back as fills and cancels, releases what a sell closes, expires what never got a
//! report, and reconciles with the broker's cash and positions.
//!
//! A signal is consumed exactly once across crashes: its idempotency record is journalled with
//! the vault (`Command::ClaimSignal` before any step, `Command::ConsumeSignal` after the last),
//! its reservation is idempotent by client order id, and the broker refuses a second order
//! with the same id. A signal found claimed but not consumed after a restart resumes where it
//! stopped. `docs/model.md`, "The executor bridge", has the whole contract.

pub mod broker;
pub mod signal;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ledger::{
    securities_capital, Amount, BookId, ClientOrderId, Command, Holding, OrderState, Outcome, Rejection,
    SecuritiesCapital, Side, SignalStatus,
};
use crate::runtime::{Handle, SubmitError};

pub use broker::{Account, Broker, BrokerOrder, LotBook, PlaceError, Position, Report, SimBroker};
pub use signal::{parse_entries, write_signals, Entry, Inbox, Signal, Taken};

/// How a signal ended, as its result line says.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// The order was placed.
    Placed,
    /// A step refused it; no order.
    Refused,
    /// Already consumed (this line records the repeat; nothing was applied).
    Duplicate,
}

/// The pipeline step that decided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The `signal_id` check.
    Idempotency,
    /// The fields.
    Validation,
    /// The broker's available cash (a buy) or position (a sell).
    Funds,
    /// The vault's reservation (a buy).
    Vault,
    /// The broker's answer.
    Order,
}

/// One line of the order result file (JSON Lines).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OrderResult {
    /// The signal's id (empty when the entry had none).
    pub signal_id: String,
    /// The order id text.
    #[serde(default)]
    pub client_order_id: String,
    /// How it ended.
    pub status: ResultStatus,
    /// The step that decided.
    pub step: Step,
    /// Why, for a refusal or a repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The vault's rejection code (`exceeds_reserve_ratio`, ...), for a vault refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What a buy reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The signal as read, to tell a repeat from a reused id and to rebuild a sell's releases
    /// after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
}

/// What the bridge did with broker reports and expiries.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A fill report: capital moved from frozen to used, or (`repeat`) the ledger had already
    /// applied as much (a report delivered twice, or a cancel that repeats the filled value of an
    /// earlier fill report) and nothing changed.
    Filled {
        /// The order.
        id: ClientOrderId,
        /// Filled so far.
        value: Amount,
        /// `true` if this report changed nothing: the ledger had already filled `value`.
        #[serde(default)]
        repeat: bool,
    },
    /// A buy ended below its reservation (filled at a better price, cancelled or rejected):
    /// the rest went back to the pool.
    Returned {
        /// The order.
        id: ClientOrderId,
        /// What went back.
        amount: Amount,
    },
    /// A sell completed and released the buy orders it closed.
    Released {
        /// The sell.
        sell: ClientOrderId,
        /// What the buys returned to the pool.
        amount: Amount,
    },
    /// A sell's named buy could not be released (unknown, still working): the executor must look.
    ReleaseRefused {
        /// The buy.
        id: ClientOrderId,
        /// The vault's answer.
        rejection: Rejection,
    },
    /// A reservation's report did not come within the expiry: cancelled, journalled.
    Expired {
        /// The order.
        id: ClientOrderId,
        /// What went back to the pool.
        returned: Amount,
    },
    /// A sell ended (cancelled, rejected) after part of it filled: its buys are not released,
    /// and the position is smaller than the vault holds; the executor must resolve it (sell the
    /// rest, or reconcile the strategy's capital).
    SellUnfinished {
        /// The sell.
        sell: ClientOrderId,
        /// What had filled.
        value: Amount,
    },
    /// The broker reports more filled than the order reserved (a fill at a worse price than
    /// its limit, or a broker that does not keep to the order): the vault applied what was
    /// reserved, `value - reserved` was spent beyond it, and the pool shows that much more than
    /// the broker's cash. The executor must look; reconciliation reports the position's cost as
    /// a mismatch until it is resolved. Also written as a line of the result file.
    FillExceedsReservation {
        /// The order.
        id: ClientOrderId,
        /// What the broker says filled.
        value: Amount,
        /// What the vault reserved (and applied).
        reserved: Amount,
    },
    /// A fill for an order that had expired: refused; resolve it with the broker.
    LateFill {
        /// The order.
        id: ClientOrderId,
        /// What the broker says filled.
        value: Amount,
    },
}

impl Event {
    /// The order (or sell) the event is about.
    #[must_use]
    pub const fn id(&self) -> ClientOrderId {
        match *self {
            Event::Filled { id, .. }
            | Event::Returned { id, .. }
            | Event::ReleaseRefused { id, .. }
            | Event::Expired { id, .. }
            | Event::FillExceedsReservation { id, .. }
            | Event::LateFill { id, .. } => id,
            Event::Released { sell, .. } | Event::SellUnfinished { sell, .. } => sell,
        }
    }
}

/// What went wrong outside a signal's own refusal.
#[derive(Debug)]
pub enum BridgeError {
    /// The vault stopped or a command is in doubt: stop and restart the executor.
    Vault(SubmitError),
    /// The result file or the signal file failed.
    Io(PathBuf, std::io::Error),
    /// A reconciliation found a position the vault does not know how to book.
    Reconcile(String),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Vault(e) => write!(f, "vault: {e}"),
            BridgeError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            BridgeError::Reconcile(why) => write!(f, "reconcile: {why}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// The bridge's settings.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The order result file (JSON Lines, one appended and synced line per signal).
    pub results: PathBuf,
    /// How long a buy may wait for its first broker report before it expires; `None`: never.
    pub expiry_ms: Option<u64>,
    /// Sync each result line to disk before the signal is consumed.
    pub sync: bool,
}

/// The drift a reconciliation found, and what it changed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Reconciliation {
    /// The broker's cash (including what working buys hold).
    pub cash: Amount,
    /// What the strategies' positions cost, as the vault holds it (its `used`, direct allocations
    /// excluded).
    pub held: Amount,
    /// `cash + held`: the account's capital, the vault's total after this reconciliation.
    pub capital: Amount,
    /// `capital - total before`: realized profit and any drift, now in the pool.
    pub drift: Amount,
    /// Codes whose broker cost differs from what the vault holds for their strategy:
    /// `(code, broker cost, vault used)`.
    pub mismatches: Vec<(String, Amount, Amount)>,
    /// Whether the total was set to `capital`: `false` when positions disagree and the rule is
    /// [`Mismatch::Hold`] (the drift is then what the set would have moved).
    pub applied: bool,
    /// What the broker reports read before the account (see [`Bridge::pump`]) did.
    pub events: Vec<Event>,
}

pub use crate::ledger::Mismatch;

/// The executor bridge over a vault [`Handle`] and a [`Broker`].
pub struct Bridge<B> {
    handle: Handle,
    broker: B,
    config: BridgeConfig,
    results: fs::File,
    /// Texts mapped to order ids, to refuse a second text for an id.
    texts: HashMap<ClientOrderId, String>,
    /// Signal key -> the result line written for it (its signal's fields included), from this
    /// run and from the result file: a repeat is refused with it even after the vault's signal
    /// window has forgotten the key, and a crash between the line and the consumption does not
    /// write a second line.
    consumed: HashMap<ClientOrderId, OrderResult>,
    /// Order id -> the `signal_id` of the signal that placed it: an id is one signal's.
    owners: HashMap<ClientOrderId, String>,
    /// Sell order -> the buys it closes.
    sells: HashMap<ClientOrderId, Vec<ClientOrderId>>,
    /// Buy orders waiting for their first report, with the time they were placed.
    waiting: HashMap<ClientOrderId, u64>,
    /// The seq of the last accepted command: what a read must see (answers come before
    /// publication).
    seen: u64,
}

impl<B> std::fmt::Debug for Bridge<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("results", &self.config.results)
            .field("sells", &self.sells.len())
            .field("waiting", &self.waiting.len())
            .finish_non_exhaustive()
    }
}

/// The strategy label of a security code: `159201.SZ` -> `159201`.
impl<B: Broker> Bridge<B> {
    /// A bridge, reloading the result file: the sells' releases and the consumed signals'
    /// fingerprints survive a restart; buys still live in the vault wait for reports again
    /// from `now`.
    ///
    /// # Errors
    /// The result file cannot be opened or read.
    pub fn new(handle: Handle, broker: B, config: BridgeConfig, now: u64) -> Result<Bridge<B>, BridgeError> {
        let io = |e| BridgeError::Io(config.results.clone(), e);
        let text = match fs::read_to_string(&config.results) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let results = fs::OpenOptions::new().create(true).append(true).open(&config.results).map_err(io)?;
        let mut bridge = Bridge {
            handle,
            broker,
            config,
            results,
            texts: HashMap::new(),
            consumed: HashMap::new(),
            owners: HashMap::new(),
            sells: HashMap::new(),
            waiting: HashMap::new(),
            seen: 0,
        };
        // A torn last line (a crash mid-write) is skipped: its signal was not consumed.
        // Lines that are not results (events) are skipped too.
        for line in text.lines() {
            let Ok(result) = serde_json::from_str::<OrderResult>(line) else { continue };
            if result.status == ResultStatus::Duplicate || result.signal_id.is_empty() {
                continue;
            }
            let key = ClientOrderId::from_text(&result.signal_id);
            if let Some(signal) = &result.signal {
                let id = ClientOrderId::from_text(signal.order_text());
                bridge.texts.insert(id, signal.order_text().to_owned());
                if result.status == ResultStatus::Placed {
                    bridge.owners.insert(id, signal.signal_id.clone());
                    if signal.direction == Side::Sell {
                        bridge.sells.insert(id, signal.closes());
                    }
                }
            }
            bridge.consumed.insert(key, result);
        }
        let live: Vec<ClientOrderId> = bridge
            .handle
            .snapshot()
            .orders()
            .filter(|o| o.state() == OrderState::Pending)
            .map(crate::ledger::Order::id)
            .collect();
        for id in live {
            bridge.waiting.insert(id, now);
        }
        Ok(bridge)
    }

    /// The vault handle.
    pub fn handle(&mut self) -> &mut Handle {
        &mut self.handle
    }

    /// The broker.
    pub fn broker(&mut self) -> &mut B {
        &mut self.broker
    }

    /// The vault as of the bridge's last command, or later.
    ///
    /// # Panics
    /// If the vault stopped publishing (it stopped): the next command reports why.
    pub fn snapshot(&self) -> crate::runtime::SnapshotRef {
        let reader = self.handle.reader();
        match reader.wait_for(self.seen, std::time::Duration::from_secs(30)) {
            Ok(snapshot) => snapshot,
            Err(_) => reader.snapshot(),
        }
    }

    /// Takes the signal file of `inbox` and consumes each entry.
    ///
    /// # Errors
    /// The vault stopped, or a file failed.
    pub fn poll(&mut self, inbox: &mut Inbox, now: u64) -> Result<Vec<OrderResult>, BridgeError> {
        let taken = inbox.take().map_err(|e| BridgeError::Io(inbox.path().to_owned(), e))?;
        let results = match taken {
            Taken::Nothing | Taken::Incomplete => return Ok(Vec::new()),
            Taken::Malformed { reason, kept } => {
                let result = OrderResult {
                    signal_id: String::new(),
                    client_order_id: String::new(),
                    status: ResultStatus::Refused,
                    step: Step::Validation,
                    reason: Some(format!("unreadable signal file, kept as {}: {reason}", kept.display())),
                    rule: None,
                    amount: None,
                    signal: None,
                };
                self.write_line(&result)?;
                vec![result]
            }
            Taken::Entries(entries) => {
                let mut results = Vec::with_capacity(entries.len());
                for entry in entries {
                    results.push(self.consume(entry, now)?);
                }
                results
            }
        };
        inbox.done().map_err(|e| BridgeError::Io(inbox.path().to_owned(), e))?;
        Ok(results)
    }

    /// Consumes one entry through the seed's pipeline and writes its result line.
    ///
    /// # Errors
    /// The vault stopped (or a command is in doubt), or the result file failed.
    pub fn consume(&mut self, entry: Entry, now: u64) -> Result<OrderResult, BridgeError> {
        let signal = match entry {
            Entry::Signal(signal) => signal,
            Entry::Malformed { signal_id, reason } => return self.malformed(signal_id, reason),
        };
        let key = ClientOrderId::from_text(&signal.signal_id);
        if let Some(recorded) = self.consumed.get(&key).cloned() {
            return self.repeat(&signal, key, recorded);
        }
        let (claimed, fresh) = self.claim(key)?;
        if claimed.is_consumed() {
            // The vault consumed it, the result file lost the line (moved, or written elsewhere).
            let reason = format!("signal_id {} was already consumed ({claimed})", signal.signal_id);
            let result =
                Self::result(&signal, ResultStatus::Duplicate, Step::Idempotency, Some(reason), None, None);
            self.write_line(&result)?;
            return Ok(result);
        }
        // Found in flight, not claimed now: a crash interrupted it.
        let resuming = !fresh && claimed == SignalStatus::InFlight;
        let (status, step, reason, rule, amount) = self.run(&signal, key, resuming, now)?;
        let result = Self::result(&signal, status, step, reason, rule, amount);
        self.write_line(&result)?;
        if status == ResultStatus::Placed {
            self.owners.insert(ClientOrderId::from_text(signal.order_text()), signal.signal_id.clone());
        }
        self.consumed.insert(key, result.clone());
        self.submit(Command::ConsumeSignal { signal: key, placed: status == ResultStatus::Placed })?.ok();
        Ok(result)
    }

    fn claim(&mut self, key: ClientOrderId) -> Result<(SignalStatus, bool), BridgeError> {
        match self.submit(Command::ClaimSignal { signal: key })? {
            Ok(Outcome::Signal { status, fresh }) => Ok((status, fresh)),
            other => unreachable!("a claim answered {other:?}"),
        }
    }

    /// An entry that is not a signal: recorded as refused under its id (if it has one), so a
    /// corrected signal needs a new id and a repeat of the bad one is a duplicate.
    fn malformed(&mut self, signal_id: Option<String>, reason: String) -> Result<OrderResult, BridgeError> {
        let key = signal_id.as_deref().map(ClientOrderId::from_text);
        let (status, step, reason) = match key.and_then(|key| self.consumed.get(&key)) {
            Some(recorded) => (
                ResultStatus::Duplicate,
                Step::Idempotency,
                format!(
                    "signal_id was already consumed ({:?}); this entry is malformed: {reason}",
                    recorded.status
                ),
            ),
            None => (ResultStatus::Refused, Step::Validation, reason),
        };
        let result = OrderResult {
            signal_id: signal_id.unwrap_or_default(),
            client_order_id: String::new(),
            status,
            step,
            reason: Some(reason),
            rule: None,
            amount: None,
            signal: None,
        };
        self.write_line(&result)?;
        if let (Some(key), ResultStatus::Refused) = (key, status) {
            self.consumed.insert(key, result.clone());
            self.submit(Command::ConsumeSignal { signal: key, placed: false })?.ok();
        }
        Ok(result)
    }

    /// A signal whose key has a result line. If the vault still holds the key in flight and the
    /// signal is the one recorded, a crash came between the line and the consumption: the
    /// consumption is finished and the recorded line stands (one signal, one result line).
    /// Otherwise it is a repeat, with its own `duplicate` line.
    fn repeat(
        &mut self,
        signal: &Signal,
        key: ClientOrderId,
        recorded: OrderResult,
    ) -> Result<OrderResult, BridgeError> {
        let same = recorded.signal.as_ref().is_some_and(|seen| seen.fingerprint() == signal.fingerprint());
        let (claimed, fresh) = self.claim(key)?;
        if claimed == SignalStatus::InFlight {
            // Not consumed in the vault (a crash after the line, or a key its window forgot):
            // record what the line says.
            let placed = recorded.status == ResultStatus::Placed;
            self.submit(Command::ConsumeSignal { signal: key, placed })?.ok();
            if same && !fresh {
                return Ok(recorded);
            }
        }
        let reason = if same {
            format!("signal_id {} was already consumed ({:?})", signal.signal_id, recorded.status)
        } else {
            format!("signal_id {} was consumed with other fields; nothing applied", signal.signal_id)
        };
        let result =
            Self::result(signal, ResultStatus::Duplicate, Step::Idempotency, Some(reason), None, None);
        self.write_line(&result)?;
        Ok(result)
    }

    #[allow(clippy::type_complexity, reason = "the fields of one result line")]
    #[allow(clippy::too_many_lines, reason = "the seed's pipeline, step by step, in its order")]
    fn run(
        &mut self,
        signal: &Signal,
        key: ClientOrderId,
        resuming: bool,
        now: u64,
    ) -> Result<(ResultStatus, Step, Option<String>, Option<String>, Option<Amount>), BridgeError> {
        let refused = |step, reason: String| Ok((ResultStatus::Refused, step, Some(reason), None, None));
        // Validation, naming the field.
        let snapshot = self.snapshot();
        let Some((book, slot)) = snapshot.slot_of_security(&signal.code) else {
            return refused(Step::Validation, format!("code: {} is no strategy's label", signal.code));
        };
        if !signal.price.is_positive() {
            return refused(Step::Validation, format!("price: {} is not positive", signal.price));
        }
        if signal.shares == 0 || !signal.shares.is_multiple_of(100) {
            return refused(
                Step::Validation,
                format!("shares: {} is not a positive multiple of 100", signal.shares),
            );
        }
        if signal.direction == Side::Buy && !signal.release_client_order_ids.is_empty() {
            return refused(Step::Validation, "release_client_order_ids: only a sell releases".into());
        }
        let decimals = u32::from(snapshot.book(book).map_or(2, crate::ledger::Book::decimals));
        // What the broker will spend: price x shares, half-even at the book's minor unit.
        let Some(value) = i64::try_from(signal.shares)
            .ok()
            .and_then(|n| signal.price.checked_mul_int(n))
            .map(|value| value.round_to(decimals).unwrap_or(value))
        else {
            return refused(Step::Validation, "price x shares: out of range".into());
        };
        let amount = match signal.amount {
            Some(amount) if !amount.is_positive() => {
                return refused(Step::Validation, format!("amount: {amount} is not positive"));
            }
            // A buy reserves at least what it can spend: below it, the cap, the 15% rule and
            // the funds precheck would judge a smaller order than the broker fills.
            Some(amount) if signal.direction == Side::Buy && amount < value => {
                return refused(
                    Step::Validation,
                    format!("amount: {amount} is below price x shares = {value}"),
                );
            }
            Some(amount) => amount,
            None => value,
        };
        let text = signal.order_text();
        let id = ClientOrderId::from_text(text);
        if let Some(seen) = self.texts.get(&id) {
            if seen != text {
                return refused(
                    Step::Validation,
                    format!("client_order_id: {text} maps to the id of {seen}"),
                );
            }
        }
        // An order id is one signal's: a second signal naming it (as a buy or a sell) would
        // take the first order's reports and releases for its own.
        if let Some(owner) = self.owners.get(&id) {
            if ClientOrderId::from_text(owner) != key {
                return refused(
                    Step::Validation,
                    format!("client_order_id: {text} is the order of signal {owner}"),
                );
            }
        }
        if !resuming {
            if let Some(order) = snapshot.order(id) {
                return refused(
                    Step::Validation,
                    format!("client_order_id: {text} is already an order in the vault ({})", order.state()),
                );
            }
        }
        if signal.direction == Side::Sell {
            if let Some(reason) = self.sell_closes_refusal(signal, &snapshot, book, slot) {
                return refused(Step::Validation, reason);
            }
        }
        let closes = signal.closes();
        drop(snapshot);
        // A resumed signal (claimed, not consumed: a crash came between) may have been sent
        // already, which changes what the broker reports as available: its precheck is skipped
        // (the broker checks again, and refuses a second order with the same id). Its
        // reservation, if it was made, answers "already reserved".
        if !resuming {
            let account = self.broker.account();
            match signal.direction {
                Side::Buy if account.available < amount => {
                    return refused(Step::Funds, format!("available cash {} < {amount}", account.available));
                }
                Side::Sell => {
                    let held =
                        account.positions.iter().find(|p| p.code == signal.code).map_or(0, |p| p.shares);
                    if held < signal.shares {
                        return refused(
                            Step::Funds,
                            format!("{held} shares held, {} to sell", signal.shares),
                        );
                    }
                }
                Side::Buy => {}
            }
        }
        // Vault approval: a buy reserves; a sell holds no cash.
        if signal.direction == Side::Buy {
            let command =
                Command::Reserve { id, book, slot, side: Side::Buy, layer: signal.layer_index, amount };
            match self.submit(command)? {
                Err(rejection) => {
                    return Ok((
                        ResultStatus::Refused,
                        Step::Vault,
                        Some(rejection.to_string()),
                        Some(rejection.code().to_owned()),
                        Some(amount),
                    ));
                }
                // Reserved since the validation by another client of the vault: not this signal's.
                Ok(Outcome::AlreadyReserved { state }) if !resuming => {
                    let reason =
                        format!("client_order_id: {text} is already an order in the vault ({state})");
                    return Ok((ResultStatus::Refused, Step::Vault, Some(reason), None, None));
                }
                Ok(_) => {}
            }
        }
        self.texts.insert(id, text.to_owned());
        let order = BrokerOrder {
            id,
            code: signal.code.clone(),
            side: signal.direction,
            price: signal.price,
            shares: signal.shares,
            closes: closes.clone(),
        };
        // The broker's `Duplicate` is this signal's own earlier send only when resuming its
        // claim; otherwise the broker holds another order under the id, and it is not ours.
        let placed = match self.broker.place(&order) {
            Ok(()) => Ok(()),
            Err(PlaceError::Duplicate) if resuming => Ok(()),
            Err(PlaceError::Duplicate) => {
                Err(format!("client_order_id: {text}: the broker already has an order with this id"))
            }
            Err(PlaceError::Refused(reason)) => Err(reason),
        };
        match placed {
            Ok(()) => {}
            Err(reason) => {
                if signal.direction == Side::Buy {
                    self.submit(Command::Cancel { id })?.ok();
                }
                return Ok((ResultStatus::Refused, Step::Order, Some(reason), None, Some(amount)));
            }
        }
        match signal.direction {
            Side::Buy => {
                self.waiting.insert(id, now);
            }
            Side::Sell => {
                self.sells.insert(id, closes);
            }
        }
        Ok((ResultStatus::Placed, Step::Order, None, None, Some(amount)))
    }

    /// Why a sell's `release_client_order_ids` cannot be released by it: each must be a buy of
    /// the sell's own strategy that the vault holds (live or filled), named once, and not
    /// already closed by another working sell. Releasing another strategy's buy would hand
    /// its capital back while the broker still holds its position.
    fn sell_closes_refusal(
        &self,
        signal: &Signal,
        snapshot: &crate::runtime::Snapshot,
        book: BookId,
        slot: u8,
    ) -> Option<String> {
        let own = ClientOrderId::from_text(signal.order_text());
        let mut named = Vec::with_capacity(signal.release_client_order_ids.len());
        for text in &signal.release_client_order_ids {
            let id = ClientOrderId::from_text(text);
            if named.contains(&id) {
                return Some(format!("release_client_order_ids: {text} is named twice"));
            }
            named.push(id);
            let Some(order) = snapshot.order(id) else {
                return Some(format!("release_client_order_ids: {text} is no order the vault holds"));
            };
            if order.side() != Side::Buy || order.book() != book || order.slot() != slot {
                return Some(format!(
                    "release_client_order_ids: {text} is not a buy of this strategy (slot {slot} of {book})"
                ));
            }
            if order.used().is_zero() && order.frozen().is_zero() {
                return Some(format!("release_client_order_ids: {text} holds nothing ({})", order.state()));
            }
            let closer = self.sells.iter().find(|(sell, closes)| **sell != own && closes.contains(&id));
            if let Some((sell, _)) = closer {
                let by = self.texts.get(sell).map_or_else(|| sell.to_string(), Clone::clone);
                return Some(format!("release_client_order_ids: {text} is closed by the working sell {by}"));
            }
        }
        None
    }

    fn result(
        signal: &Signal,
        status: ResultStatus,
        step: Step,
        reason: Option<String>,
        rule: Option<String>,
        amount: Option<Amount>,
    ) -> OrderResult {
        OrderResult {
            signal_id: signal.signal_id.clone(),
            client_order_id: signal.order_text().to_owned(),
            status,
            step,
            reason,
            rule,
            amount,
            signal: Some(signal.clone()),
        }
    }

    fn write_line(&mut self, value: &impl Serialize) -> Result<(), BridgeError> {
        let io = |e| BridgeError::Io(self.config.results.clone(), e);
        let mut line = serde_json::to_vec(value).unwrap_or_default();
        line.push(b'\n');
        // One write per line: a reader sees whole lines, and a crash leaves at most a torn last
        // line, which the reload skips.
        self.results.write_all(&line).map_err(io)?;
        if self.config.sync {
            self.results.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Submits a command: `Ok(Ok(outcome))`, `Ok(Err(rejection))` for a ledger refusal, or
    /// the error that means the vault cannot go on.
    fn submit(&mut self, command: Command) -> Result<Result<Outcome, Rejection>, BridgeError> {
        match self.handle.submit(command) {
            Ok(receipt) => {
                self.seen = self.seen.max(receipt.seq);
                Ok(Ok(receipt.outcome))
            }
            Err(SubmitError::Rejected(rejection)) => Ok(Err(rejection)),
            Err(other) => Err(BridgeError::Vault(other)),
        }
    }

    /// Applies the broker's reports: cumulative fills (idempotent), the rest of a buy returned
    /// when it completes below its reservation or is cancelled or rejected, and a completed
    /// sell's releases.
    ///
    /// # Errors
    /// The vault stopped.
    pub fn pump(&mut self) -> Result<Vec<Event>, BridgeError> {
        let mut events = Vec::new();
        for report in self.broker.reports() {
            match report {
                Report::Fill { id, value, done, .. } => {
                    self.waiting.remove(&id);
                    if let Some(closes) = self.sells.get(&id).cloned() {
                        if done {
                            self.release_all(id, &closes, &mut events)?;
                            self.sells.remove(&id);
                        }
                        continue;
                    }
                    self.fill_to(id, value, &mut events)?;
                    if done {
                        self.return_rest(id, &mut events)?;
                    }
                }
                Report::Cancelled { id, value } => {
                    self.waiting.remove(&id);
                    if self.sells.remove(&id).is_some() {
                        if value.is_positive() {
                            events.push(Event::SellUnfinished { sell: id, value });
                        }
                        continue;
                    }
                    if value.is_positive() {
                        self.fill_to(id, value, &mut events)?;
                    }
                    self.return_rest(id, &mut events)?;
                }
                Report::Rejected { id, .. } => {
                    self.waiting.remove(&id);
                    if self.sells.remove(&id).is_none() {
                        self.return_rest(id, &mut events)?;
                    }
                }
            }
        }
        Ok(events)
    }

    fn fill_to(
        &mut self,
        id: ClientOrderId,
        value: Amount,
        events: &mut Vec<Event>,
    ) -> Result<(), BridgeError> {
        let reserved = self.snapshot().order(id).map(crate::ledger::Order::amount);
        let filled = match reserved {
            // The vault holds what was reserved; what the broker spent beyond it is an event
            // and a line of the result file, never a silent cap.
            Some(reserved) if value > reserved => {
                let event = Event::FillExceedsReservation { id, value, reserved };
                self.write_line(&event)?;
                events.push(event);
                reserved
            }
            _ => value,
        };
        match self.submit(Command::FillTo { id, filled })? {
            Ok(outcome) => events.push(Event::Filled {
                id,
                value: filled,
                repeat: matches!(outcome, Outcome::FillAlreadyApplied { .. }),
            }),
            Err(Rejection::OrderExpired { .. }) => events.push(Event::LateFill { id, value }),
            Err(_) => {}
        }
        Ok(())
    }

    fn return_rest(&mut self, id: ClientOrderId, events: &mut Vec<Event>) -> Result<(), BridgeError> {
        let frozen = self.snapshot().order(id).map(crate::ledger::Order::frozen);
        if frozen.is_some_and(Amount::is_positive) {
            if let Ok(Outcome::Cancelled { returned, .. }) = self.submit(Command::Cancel { id })? {
                events.push(Event::Returned { id, amount: returned });
            }
        }
        Ok(())
    }

    fn release_all(
        &mut self,
        sell: ClientOrderId,
        closes: &[ClientOrderId],
        events: &mut Vec<Event>,
    ) -> Result<(), BridgeError> {
        let mut amount = Amount::ZERO;
        for &id in closes {
            match self.submit(Command::ReleaseOrder { id })? {
                Ok(Outcome::OrderReleased { returned }) => {
                    amount = amount.checked_add(returned).unwrap_or(amount);
                }
                // Released before (a repeated report, a restart): nothing twice.
                Ok(_) | Err(Rejection::OrderReleased { .. }) => {}
                Err(rejection) => events.push(Event::ReleaseRefused { id, rejection }),
            }
        }
        events.push(Event::Released { sell, amount });
        Ok(())
    }

    /// Expires every buy placed more than the expiry before `now` with no report yet: the vault
    /// cancels it (`Command::Expire`, journalled) and the broker is asked to cancel it too.
    ///
    /// # Errors
    /// The vault stopped.
    pub fn expire_due(&mut self, now: u64) -> Result<Vec<Event>, BridgeError> {
        let Some(expiry) = self.config.expiry_ms else { return Ok(Vec::new()) };
        let mut due: Vec<ClientOrderId> = self
            .waiting
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= expiry)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        let mut events = Vec::new();
        for id in due {
            self.waiting.remove(&id);
            if let Ok(Outcome::Cancelled { returned, .. }) = self.submit(Command::Expire { id })? {
                self.broker.cancel(id);
                events.push(Event::Expired { id, returned });
            }
        }
        Ok(events)
    }

    /// Reconciles the book of `book` with the broker: its total becomes the account's capital,
    /// `cash + what the strategies' positions cost` (the vault's `used` for them), and the
    /// difference (realized profit, fees, anything the vault did not see) goes to the pool.
    ///
    /// The broker's reports are drained first ([`Bridge::pump`], returned in `events`), so a
    /// sell that filled is released before its proceeds are read as cash. Each strategy's `used`
    /// is then compared with the broker's cost for its code; with [`Mismatch::Hold`] a
    /// disagreement leaves the total as it is (`applied: false`), with [`Mismatch::Apply`] the
    /// total is set anyway. Mismatches are reported either way.
    ///
    /// # Errors
    /// The vault refused the new total (`Rejection` inside `BridgeError::Vault`), or it stopped.
    pub fn reconcile(&mut self, book: BookId, rule: Mismatch) -> Result<Reconciliation, BridgeError> {
        let events = self.pump()?;
        let account = self.broker.account();
        let holdings: Vec<Holding<'_>> =
            account.positions.iter().map(|p| Holding { code: &p.code, cost: p.cost }).collect();
        let snapshot = self.snapshot();
        let b =
            snapshot.book(book).ok_or_else(|| BridgeError::Reconcile(format!("{book} does not exist")))?;
        let plan = securities_capital(b, account.cash, &holdings)
            .ok_or_else(|| BridgeError::Reconcile("capital out of range".into()))?;
        drop(snapshot);
        let applied = plan.apply(rule);
        let drift = if applied {
            match self.submit(Command::Set { book, slot: 0, amount: plan.capital })? {
                Ok(Outcome::Set { drift, .. }) => drift,
                Ok(other) => unreachable!("a set answered {other:?}"),
                Err(rejection) => return Err(BridgeError::Vault(SubmitError::Rejected(rejection))),
            }
        } else {
            plan.drift
        };
        let SecuritiesCapital { cash, held, capital, mismatches, .. } = plan;
        let mismatches = mismatches.into_iter().map(|m| (m.strategy, m.broker, m.vault)).collect();
        Ok(Reconciliation { cash, held, capital, drift, mismatches, applied, events })
    }

    /// The text a signal named order `id` by (its `client_order_id`, or its `signal_id`), if a
    /// signal of this bridge (this run or a reloaded result file) did: the vault keys orders by
    /// `ClientOrderId::from_text` of it, which shows as a `UUIDv8`.
    #[must_use]
    pub fn text_of(&self, id: ClientOrderId) -> Option<&str> {
        self.texts.get(&id).map(String::as_str)
    }

    /// One line for `event`, naming orders by their signal's text where there is one.
    #[must_use]
    pub fn describe(&self, event: &Event) -> String {
        let name = |id: ClientOrderId| self.text_of(id).map_or_else(|| id.to_string(), str::to_owned);
        let id = name(event.id());
        match event {
            Event::Filled { value, repeat: false, .. } => format!("{id} filled {value} in all"),
            Event::Filled { value, repeat: true, .. } => {
                format!("{id} filled {value} in all (a repeat: already applied, nothing changed)")
            }
            Event::Returned { amount, .. } => format!("{id} ended: {amount} back to the pool"),
            Event::Released { amount, .. } => format!("sell {id} done: its buys released {amount}"),
            Event::ReleaseRefused { rejection, .. } => format!("{id} not released: {rejection}"),
            Event::Expired { returned, .. } => format!("{id} expired: {returned} back to the pool"),
            Event::SellUnfinished { value, .. } => {
                format!("sell {id} ended after {value} filled: resolve it")
            }
            Event::FillExceedsReservation { value, reserved, .. } => {
                format!("{id} filled {value}, above its reservation of {reserved}: look")
            }
            Event::LateFill { value, .. } => format!("{id} filled {value} after it expired: resolve it"),
        }
    }

    /// Gives the handle and the broker back.
    pub fn into_parts(self) -> (Handle, B) {
        (self.handle, self.broker)
    }
}

/// The result lines of a file, skipping a torn last line.
///
/// # Errors
/// The file cannot be read.
pub fn read_results(path: &Path) -> std::io::Result<Vec<OrderResult>> {
    Ok(fs::read_to_string(path)?.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
}
