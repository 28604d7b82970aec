//! The broker the bridge sends orders to: a trait the user implements over QMT or an exchange,
//! a lot book for brokers that report average costs, and a simulated broker for tests and the
//! demo.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::ledger::{Amount, ClientOrderId, Side};

/// An order as the bridge sends it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BrokerOrder {
    /// The client order id; the broker must refuse a second order with it
    /// ([`PlaceError::Duplicate`]): that is what makes a resend after a crash safe.
    pub id: ClientOrderId,
    /// The security, as the signal names it.
    pub code: String,
    /// Buy or sell.
    pub side: Side,
    /// The limit price.
    pub price: Amount,
    /// Shares.
    pub shares: u64,
    /// For a sell: the buy orders whose lots it closes (a broker that keeps lots uses them).
    pub closes: Vec<ClientOrderId>,
}

/// Why a broker did not take an order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PlaceError {
    /// It already has an order with this id: the earlier send went through.
    Duplicate,
    /// It refused the order.
    Refused(String),
}

/// What the broker reports about an order. Fills are cumulative, as brokers report them, so a
/// report delivered twice is harmless.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Report {
    /// The order has filled `shares` for `value` in all so far; `done` when nothing more will
    /// fill.
    Fill {
        /// The order.
        id: ClientOrderId,
        /// Shares filled so far.
        shares: u64,
        /// Their cost (buy) or proceeds (sell) so far.
        value: Amount,
        /// The order is complete.
        done: bool,
    },
    /// The order was cancelled with `value` filled before.
    Cancelled {
        /// The order.
        id: ClientOrderId,
        /// What had filled.
        value: Amount,
    },
    /// The broker rejected the order after taking it.
    Rejected {
        /// The order.
        id: ClientOrderId,
        /// Why.
        reason: String,
    },
}

/// One position as the broker reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Position {
    /// The security.
    pub code: String,
    /// Shares held.
    pub shares: u64,
    /// What the shares held cost, lot by lot: the sum of the unsold buy fills (not an average
    /// cost, which a partial close changes; `docs/model.md`, "Reconciliation").
    pub cost: Amount,
}

/// The account as the broker reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Account {
    /// Cash, including what working buy orders hold at the broker.
    pub cash: Amount,
    /// Cash a new order may use.
    pub available: Amount,
    /// Positions.
    pub positions: Vec<Position>,
}

/// A broker: QMT, an exchange, or [`SimBroker`].
///
/// The bridge calls it from one thread, never concurrently: `place` when a signal's order passed
/// every check (after the vault reserved its capital), `cancel` when an order expired,
/// `reports` on every [`Bridge::pump`](crate::bridge::Bridge::pump) and `account` on every
/// [`Bridge::reconcile`](crate::bridge::Bridge::reconcile). It has no clock of its own: the
/// bridge's `now` arguments (`Bridge::new`, `consume`, `poll`, `expire`) are milliseconds on the
/// caller's clock, any origin (the start of the session, the Unix epoch), never going back, and
/// serve only to expire orders whose first report never came (`BridgeConfig::expiry_ms`).
///
/// Reports are cumulative, as brokers send them: [`Report::Fill`]'s `value` is what the order
/// has filled **in all so far** (cost for a buy, proceeds for a sell, in the book's currency),
/// `shares` likewise, and `done` says nothing more will fill. A report delivered twice is
/// harmless. A broker that reports each trade instead adds them up per order before reporting.
///
/// An average-cost broker such as QMT cannot give [`Position::cost`] lot by lot (a partial
/// close changes an average). Keep a [`LotBook`] of the broker's own fill reports instead:
///
/// ```
/// use capvault::bridge::{Account, Broker, BrokerOrder, LotBook, PlaceError, Report};
/// use capvault::{Amount, ClientOrderId, Side};
///
/// /// What QMT's callbacks deliver (`on_stock_trade`, `on_order_stock_async_response`, ...),
/// /// queued by the executor's callback thread.
/// enum Callback { Traded { id: ClientOrderId, shares: u64, value: Amount, done: bool }, Cancelled { id: ClientOrderId } }
///
/// struct Qmt { cash: Amount, sent: Vec<BrokerOrder>, callbacks: Vec<Callback>, lots: LotBook }
///
/// impl Broker for Qmt {
///     fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError> {
///         if self.sent.iter().any(|o| o.id == order.id) {
///             return Err(PlaceError::Duplicate); // the order_remark already carries this id
///         }
///         self.sent.push(order.clone()); // here: xt_trader.order_stock(..., order_remark = id)
///         Ok(())
///     }
///     fn cancel(&mut self, id: ClientOrderId) {
///         self.callbacks.push(Callback::Cancelled { id }); // here: xt_trader.cancel_order_stock(...)
///     }
///     fn reports(&mut self) -> Vec<Report> {
///         let mut reports = Vec::new();
///         for callback in self.callbacks.drain(..) {
///             match callback {
///                 Callback::Cancelled { id } => {
///                     let value = self.lots.filled(id).map_or(Amount::ZERO, |(_, value)| value);
///                     reports.push(Report::Cancelled { id, value });
///                 }
///                 Callback::Traded { id, shares, value, done } => {
///                     let order = self.sent.iter().find(|o| o.id == id).expect("an order we sent");
///                     if order.side == Side::Buy {
///                         let before = self.lots.filled(id).map_or(Amount::ZERO, |(_, value)| value);
///                         let spent = (value - before).expect("in range");
///                         self.cash = (self.cash - spent).expect("in range");
///                         self.lots.bought(&order.code, id, shares, value);
///                     } else {
///                         self.cash = (self.cash + value).expect("in range"); // a sell fills once, whole
///                         if done {
///                             self.lots.sold(&order.code, &order.closes);
///                         }
///                     }
///                     reports.push(Report::Fill { id, shares, value, done });
///                 }
///             }
///         }
///         reports
///     }
///     fn account(&mut self) -> Account {
///         // QMT's query_stock_asset gives the cash; the positions' cost comes from the lots.
///         Account { cash: self.cash, available: self.cash, positions: self.lots.positions() }
///     }
/// }
///
/// let id: ClientOrderId = "1790000000000000001".parse().unwrap();
/// let mut qmt = Qmt { cash: "300000".parse().unwrap(), sent: Vec::new(), callbacks: Vec::new(), lots: LotBook::default() };
/// let order = BrokerOrder { id, code: "159201.SZ".into(), side: Side::Buy, price: "1.153".parse().unwrap(), shares: 8600, closes: vec![] };
/// qmt.place(&order).unwrap();
/// assert_eq!(qmt.place(&order), Err(PlaceError::Duplicate));
/// qmt.callbacks.push(Callback::Traded { id, shares: 8600, value: "9915.80".parse().unwrap(), done: true });
/// assert_eq!(qmt.reports().len(), 1);
/// let account = qmt.account();
/// assert_eq!((account.positions[0].shares, account.positions[0].cost), (8600, "9915.8".parse().unwrap()));
/// assert_eq!(account.cash, "290084.2".parse().unwrap());
/// ```
pub trait Broker {
    /// Sends an order. The broker must remember its id and refuse it a second time: that is
    /// what makes a resend after a crash safe.
    ///
    /// # Errors
    /// [`PlaceError::Duplicate`] for an id it already has; [`PlaceError::Refused`] otherwise
    /// (the bridge returns the reservation to the pool and records the refusal).
    fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError>;
    /// Asks to cancel an order; its [`Report::Cancelled`] (or a last fill) comes later through
    /// `reports`.
    fn cancel(&mut self, id: ClientOrderId);
    /// The reports since the last call, in the order the broker made them.
    fn reports(&mut self) -> Vec<Report>;
    /// The account now: cash (including what working buys hold at the broker) and positions
    /// with their lot-exact cost.
    fn account(&mut self) -> Account;
}

/// The lots a broker's buys made, per security: each buy order's shares and cost, as its
/// cumulative fill reports say, until a sell closes it. [`LotBook::positions`] is the
/// lot-exact [`Position::cost`] reconciliation needs, for brokers that report average costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LotBook {
    lots: BTreeMap<String, BTreeMap<ClientOrderId, (u64, Amount)>>,
}

impl LotBook {
    /// Buy `id` of `code` has filled `shares` for `value` in all so far (cumulative: a repeated
    /// report changes nothing).
    pub fn bought(&mut self, code: &str, id: ClientOrderId, shares: u64, value: Amount) {
        self.lots.entry(code.to_owned()).or_default().insert(id, (shares, value));
    }

    /// A sell of `code` completed, closing the lots of the buys `closes` (its `BrokerOrder::closes`).
    pub fn sold(&mut self, code: &str, closes: &[ClientOrderId]) {
        if let Some(lots) = self.lots.get_mut(code) {
            for buy in closes {
                lots.remove(buy);
            }
        }
    }

    /// What buy `id` has filled, `(shares, value)`, while its lot is open.
    #[must_use]
    pub fn filled(&self, id: ClientOrderId) -> Option<(u64, Amount)> {
        self.lots.values().find_map(|lots| lots.get(&id).copied())
    }

    /// Shares held of `code`.
    #[must_use]
    pub fn held(&self, code: &str) -> u64 {
        self.lots.get(code).map_or(0, |lots| lots.values().map(|lot| lot.0).sum())
    }

    /// Every security held, with its shares and what they cost, lot by lot.
    #[must_use]
    pub fn positions(&self) -> Vec<Position> {
        self.lots
            .iter()
            .map(|(code, lots)| Position {
                code: code.clone(),
                shares: lots.values().map(|lot| lot.0).sum(),
                cost: Amount::checked_sum(lots.values().map(|lot| lot.1)).unwrap_or(Amount::MAX),
            })
            .filter(|position| position.shares > 0)
            .collect()
    }
}

/// One order inside the simulated broker.
#[derive(Clone, Debug)]
struct SimOrder {
    order: BrokerOrder,
    /// When it reaches the market (simulated milliseconds).
    live_at: u64,
    filled: u64,
    value: Amount,
    closed: bool,
}

/// A deterministic simulated broker: orders reach the market after a latency, fill against the
/// price the caller sets (a buy at or below its limit, a sell at or above), a buy sometimes in two
/// parts, and a few are rejected when sent; no fees. It keeps lots per buy order, so its positions' cost
/// is exact.
#[derive(Debug)]
pub struct SimBroker {
    rng: u64,
    now: u64,
    latency_ms: u64,
    reject_per_mille: u64,
    partial_per_mille: u64,
    cash: Amount,
    prices: BTreeMap<String, Amount>,
    orders: Vec<SimOrder>,
    index: HashMap<ClientOrderId, usize>,
    /// Each buy order's unsold shares and their cost.
    lots: LotBook,
    reports: VecDeque<Report>,
}

impl SimBroker {
    /// A broker holding `cash`, random choices drawn from `seed`.
    #[must_use]
    pub fn new(seed: u64, cash: Amount) -> SimBroker {
        SimBroker {
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            now: 0,
            latency_ms: 150,
            reject_per_mille: 15,
            partial_per_mille: 300,
            cash,
            prices: BTreeMap::new(),
            orders: Vec::new(),
            index: HashMap::new(),
            lots: LotBook::default(),
            reports: VecDeque::new(),
        }
    }

    /// Sets how long an order takes to reach the market, and how many in a thousand are
    /// rejected or fill in two parts.
    #[must_use]
    pub fn with_behaviour(
        mut self,
        latency_ms: u64,
        reject_per_mille: u64,
        partial_per_mille: u64,
    ) -> SimBroker {
        self.latency_ms = latency_ms;
        self.reject_per_mille = reject_per_mille;
        self.partial_per_mille = partial_per_mille;
        self
    }

    /// The current price of `code`.
    pub fn set_price(&mut self, code: &str, price: Amount) {
        self.prices.insert(code.to_owned(), price);
    }

    /// Moves the simulated clock to `now` (milliseconds) and fills what the prices allow.
    pub fn advance(&mut self, now: u64) {
        self.now = now;
        for index in 0..self.orders.len() {
            self.work(index);
        }
    }

    /// Orders not yet closed.
    #[must_use]
    pub fn working(&self) -> usize {
        self.orders.iter().filter(|o| !o.closed).count()
    }

    fn draw(&mut self) -> u64 {
        // SplitMix64: deterministic and well spread.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn work(&mut self, index: usize) {
        let o = &self.orders[index];
        if o.closed || o.live_at > self.now {
            return;
        }
        let Some(&market) = self.prices.get(&o.order.code) else { return };
        let crosses = match o.order.side {
            Side::Buy => market <= o.order.price,
            Side::Sell => market >= o.order.price,
        };
        if !crosses {
            return;
        }
        let remaining = o.order.shares - o.filled;
        let first = o.filled == 0;
        // A buy fills at the better of its limit and the market; a sell at its limit.
        let price = match o.order.side {
            Side::Buy => market.min(o.order.price),
            Side::Sell => o.order.price,
        };
        // Only buys fill in parts: a sell's lots are closed whole (see `Event::SellUnfinished`
        // for a real broker's partial sell).
        let split = first && o.order.side == Side::Buy && remaining >= 200;
        let part = if split && self.draw() % 1000 < self.partial_per_mille {
            (remaining / 200) * 100
        } else {
            remaining
        };
        let value = price.checked_mul_int(part as i64).unwrap_or(Amount::MAX);
        let o = &mut self.orders[index];
        o.filled += part;
        o.value = o.value.checked_add(value).unwrap_or(Amount::MAX);
        let done = o.filled == o.order.shares;
        o.closed = done;
        let (id, code, side, closes) =
            (o.order.id, o.order.code.clone(), o.order.side, o.order.closes.clone());
        let (filled, filled_value) = (o.filled, o.value);
        let report = Report::Fill { id, shares: filled, value: filled_value, done };
        match side {
            Side::Buy => {
                self.cash = self.cash.checked_sub(value).unwrap_or(Amount::ZERO);
                self.lots.bought(&code, id, filled, filled_value);
            }
            Side::Sell => {
                self.cash = self.cash.checked_add(value).unwrap_or(Amount::MAX);
                if done {
                    self.lots.sold(&code, &closes);
                }
            }
        }
        self.reports.push_back(report);
    }

    /// What working buy orders hold at the broker.
    fn held_by_buys(&self) -> Amount {
        let held = self.orders.iter().filter(|o| !o.closed && o.order.side == Side::Buy).map(|o| {
            let rest = o.order.price.checked_mul_int((o.order.shares - o.filled) as i64);
            rest.unwrap_or(Amount::ZERO)
        });
        Amount::checked_sum(held).unwrap_or(Amount::MAX)
    }
}

impl Broker for SimBroker {
    fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError> {
        if self.index.contains_key(&order.id) {
            return Err(PlaceError::Duplicate);
        }
        if order.shares == 0 || !order.shares.is_multiple_of(100) {
            return Err(PlaceError::Refused(format!("{} shares is not a board lot multiple", order.shares)));
        }
        if order.side == Side::Sell {
            let held = self.lots.held(&order.code);
            if held < order.shares {
                return Err(PlaceError::Refused(format!("{held} shares held, {} to sell", order.shares)));
            }
        }
        // A simulated reject answers the send itself, as an exchange's order entry does.
        if self.draw() % 1000 < self.reject_per_mille {
            return Err(PlaceError::Refused("simulated reject".into()));
        }
        self.index.insert(order.id, self.orders.len());
        self.orders.push(SimOrder {
            order: order.clone(),
            live_at: self.now + self.latency_ms,
            filled: 0,
            value: Amount::ZERO,
            closed: false,
        });
        Ok(())
    }

    fn cancel(&mut self, id: ClientOrderId) {
        if let Some(&index) = self.index.get(&id) {
            let o = &mut self.orders[index];
            if !o.closed {
                o.closed = true;
                self.reports.push_back(Report::Cancelled { id, value: o.value });
            }
        }
    }

    fn reports(&mut self) -> Vec<Report> {
        self.reports.drain(..).collect()
    }

    fn account(&mut self) -> Account {
        let held = self.held_by_buys();
        let positions = self.lots.positions();
        Account { cash: self.cash, available: self.cash.checked_sub(held).unwrap_or(Amount::ZERO), positions }
    }
}
