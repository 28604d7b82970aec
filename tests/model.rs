//! Random command sequences, valid and invalid, over two books in two currencies (a securities
//! cash book whose sells hold nothing, and a crypto book whose sells spend it), checked after
//! every step against a reference model written separately from the ledger (plain maps, `i128`
//! arithmetic, the rules restated from `docs/model.md`). After each step: the same accept or
//! reject decision and rejection code, the same figures in every slot, order and resolved id, the
//! invariant and the ledger's own audit, and a rejected command leaves the ledger unchanged.

use std::collections::{BTreeMap, VecDeque};

use capvault::{Amount, BookId, ClientOrderId, Command, Currency, Ledger, LedgerConfig, OrderState, Side};
use proptest::prelude::*;

const MAX: i128 = 1_000_000_000_000_000_000;
const UNIT: i128 = 100_000_000;
const ORDERS_MAX: usize = 8;
const RESOLVED_MAX: usize = 6;

#[derive(Clone, Debug, Default)]
struct RefSlot {
    frozen: i128,
    used: i128,
    direct: i128,
    alpha: i128,
    loss: i128,
    cap: Option<i128>,
    loss_limit: i128,
}

#[derive(Clone, Debug)]
struct RefBook {
    currency: usize,
    total: i128,
    pool: i128,
    slots: BTreeMap<u8, RefSlot>,
    slot_count: u8,
    penalty: bool,
    /// The book's sells spend its currency (`"sells": "spend"`): reserved as buys are.
    sells_spend: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Pending,
    Partial,
    Filled,
    Cancelled,
    Expired,
}

#[derive(Clone, Debug)]
struct RefOrder {
    book: usize,
    slot: u8,
    sell: bool,
    layer: u32,
    amount: i128,
    frozen: i128,
    used: i128,
    st: St,
}

#[derive(Clone, Debug)]
struct Model {
    books: Vec<RefBook>,
    credit: [i128; 2],
    credit_set: [bool; 2],
    orders: BTreeMap<u64, RefOrder>,
    /// Resolved ids: how each ended and what it had filled.
    resolved: VecDeque<(u64, &'static str, i128)>,
}

type Step = Result<(), &'static str>;

fn in_range(v: i128) -> Result<i128, &'static str> {
    if (-MAX..=MAX).contains(&v) {
        Ok(v)
    } else {
        Err("overflow")
    }
}

impl Model {
    fn new() -> Model {
        let slot = |cap: Option<i128>| RefSlot { cap, loss_limit: 15_000 * UNIT, ..RefSlot::default() };
        let mut cny = BTreeMap::new();
        cny.insert(2, slot(Some(200_000 * UNIT)));
        cny.insert(3, slot(Some(200_000 * UNIT)));
        cny.insert(4, slot(None));
        let mut usdt = BTreeMap::new();
        usdt.insert(2, slot(Some(3_000 * UNIT)));
        usdt.insert(3, slot(None));
        Model {
            books: vec![
                RefBook {
                    currency: 0,
                    total: 300_000 * UNIT,
                    pool: 300_000 * UNIT,
                    slots: cny,
                    slot_count: 5,
                    penalty: false,
                    sells_spend: false,
                },
                RefBook {
                    currency: 1,
                    total: 10_000 * UNIT,
                    pool: 10_000 * UNIT,
                    slots: usdt,
                    slot_count: 4,
                    penalty: false,
                    sells_spend: true,
                },
            ],
            credit: [0, 0],
            credit_set: [false, false],
            orders: BTreeMap::new(),
            resolved: VecDeque::new(),
        }
    }

    fn book(&self, b: u16) -> Result<usize, &'static str> {
        if usize::from(b) < self.books.len() {
            Ok(usize::from(b))
        } else {
            Err("unknown_book")
        }
    }

    fn any_slot(&self, b: u16, slot: u8) -> Result<usize, &'static str> {
        let b = self.book(b)?;
        if slot >= self.books[b].slot_count {
            Err("slot_out_of_range")
        } else {
            Ok(b)
        }
    }

    fn strategy(&self, b: u16, slot: u8) -> Result<usize, &'static str> {
        let b = self.any_slot(b, slot)?;
        if slot < 2 {
            Err("slot_not_strategy")
        } else {
            Ok(b)
        }
    }

    fn committed(&self, b: usize) -> i128 {
        self.books[b].slots.values().map(|s| s.frozen + s.used).sum()
    }

    fn resolved_state(&self, id: u64) -> Option<&'static str> {
        self.resolved.iter().find(|(i, ..)| *i == id).map(|(_, s, _)| *s)
    }

    fn resolved_filled(&self, id: u64) -> Option<i128> {
        self.resolved.iter().find(|(i, ..)| *i == id).map(|(.., f)| *f)
    }

    fn resolve(&mut self, id: u64, state: &'static str, filled: i128) {
        if self.resolved.len() == RESOLVED_MAX {
            self.resolved.pop_front();
        }
        self.resolved.push_back((id, state, filled));
    }

    /// The checks for new exposure: forced-reduce, then the cap.
    fn buy_rules(&self, b: usize, slot: u8, amount: i128) -> Step {
        let s = &self.books[b].slots[&slot];
        if s.loss > s.loss_limit {
            return Err("forced_reduce");
        }
        if let Some(cap) = s.cap {
            if in_range(s.frozen + s.used + amount)? > cap {
                return Err("exceeds_nominal_cap");
            }
        }
        Ok(())
    }

    fn funds(&self, b: usize, amount: i128) -> Step {
        let book = &self.books[b];
        let after = book.pool - amount;
        if after < -self.credit[book.currency] {
            return Err("exceeds_credit_limit");
        }
        if book.total - after > MAX {
            return Err("overflow");
        }
        Ok(())
    }

    fn allocate(&mut self, b: usize, slot: u8, amount: i128) -> Step {
        self.buy_rules(b, slot, amount)?;
        self.funds(b, amount)?;
        let book = &mut self.books[b];
        book.pool -= amount;
        let s = book.slots.get_mut(&slot).unwrap();
        s.direct += amount;
        s.used += amount;
        Ok(())
    }

    fn release(&mut self, b: usize, slot: u8, amount: i128) -> Step {
        let book = &mut self.books[b];
        let s = book.slots.get_mut(&slot).unwrap();
        if amount > s.direct {
            return Err("exceeds_allocation");
        }
        s.direct -= amount;
        s.used -= amount;
        book.pool += amount;
        Ok(())
    }

    fn shift(&mut self, b: usize, delta: i128) -> Step {
        let book = &mut self.books[b];
        let (total, pool) = (in_range(book.total + delta)?, in_range(book.pool + delta)?);
        book.total = total;
        book.pool = pool;
        Ok(())
    }

    fn live(&self, id: u64) -> Result<RefOrder, &'static str> {
        match (self.orders.get(&id), self.resolved_state(id)) {
            (Some(o), _) => Ok(o.clone()),
            (None, Some("released")) => Err("order_released"),
            (None, Some("dropped")) => Err("order_dropped"),
            (None, Some("expired")) => Err("order_expired"),
            (None, Some(_)) => Err("order_cancelled"),
            (None, None) => Err("unknown_order"),
        }
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the reference model: one arm per command, written apart from the ledger"
    )]
    fn step(&mut self, op: &Op) -> Step {
        match *op {
            Op::Credit { currency, limit } => {
                if limit < 0 {
                    return Err("invalid_amount");
                }
                self.credit[currency] = limit;
                self.credit_set[currency] = true;
                Ok(())
            }
            Op::Reset { book, balance, force } => {
                let b = self.book(book)?;
                let live: Vec<u64> =
                    self.orders.iter().filter(|(_, o)| o.book == b).map(|(&id, _)| id).collect();
                if !live.is_empty() && !force {
                    return Err("live_orders");
                }
                for id in live {
                    let o = self.orders.remove(&id).unwrap();
                    self.resolve(id, "dropped", o.used);
                }
                let book = &mut self.books[b];
                book.total = balance;
                book.pool = balance;
                for s in book.slots.values_mut() {
                    s.frozen = 0;
                    s.used = 0;
                    s.direct = 0;
                }
                Ok(())
            }
            Op::Set { book, slot, amount } => {
                let b = self.any_slot(book, slot)?;
                match slot {
                    0 | 1 => {
                        let current = if slot == 0 { self.books[b].total } else { self.books[b].pool };
                        let drift = in_range(amount - current)?;
                        self.shift(b, drift)
                    }
                    _ => {
                        if amount < 0 {
                            return Err("invalid_amount");
                        }
                        let s = &self.books[b].slots[&slot];
                        let drift = in_range(amount - (s.frozen + s.used))?;
                        match drift.cmp(&0) {
                            std::cmp::Ordering::Greater => self.allocate(b, slot, drift),
                            std::cmp::Ordering::Less => self.release(b, slot, -drift),
                            std::cmp::Ordering::Equal => Ok(()),
                        }
                    }
                }
            }
            Op::Adjust { book, slot, delta } => {
                if delta == 0 {
                    return Err("invalid_amount");
                }
                let b = self.any_slot(book, slot)?;
                match slot {
                    0 | 1 => self.shift(b, delta),
                    _ if delta > 0 => self.allocate(b, slot, delta),
                    _ => self.release(b, slot, -delta),
                }
            }
            Op::Allocate { book, slot, amount } => {
                if amount <= 0 {
                    return Err("invalid_amount");
                }
                let b = self.strategy(book, slot)?;
                self.allocate(b, slot, amount)
            }
            Op::Release { book, slot, amount } => {
                if amount <= 0 {
                    return Err("invalid_amount");
                }
                let b = self.strategy(book, slot)?;
                self.release(b, slot, amount)
            }
            Op::Trade { delta_a, delta_b } => {
                if delta_a == 0 || delta_b == 0 {
                    return Err("invalid_amount");
                }
                if (delta_a > 0) == (delta_b > 0) {
                    return Err("trade_not_opposite");
                }
                in_range(self.books[0].total + delta_a)?;
                in_range(self.books[0].pool + delta_a)?;
                in_range(self.books[1].total + delta_b)?;
                in_range(self.books[1].pool + delta_b)?;
                self.shift(0, delta_a)?;
                self.shift(1, delta_b)
            }
            Op::Reserve { id, book, slot, sell, layer, amount } => {
                if amount <= 0 {
                    return Err("invalid_amount");
                }
                let b = self.strategy(book, slot)?;
                if let Some(o) = self.orders.get(&id) {
                    let same = o.book == b
                        && o.slot == slot
                        && o.sell == sell
                        && o.layer == layer
                        && o.amount == amount;
                    return if same { Ok(()) } else { Err("id_conflict") };
                }
                if self.resolved_state(id).is_some() {
                    return Err("id_resolved");
                }
                if sell && !self.books[b].sells_spend {
                    return Err("sell_not_reserved");
                }
                if self.orders.len() >= ORDERS_MAX {
                    return Err("orders_limit_reached");
                }
                self.buy_rules(b, slot, amount)?;
                if layer == 0 {
                    let limit = (self.books[b].total * 850_000).div_euclid(1_000_000);
                    if self.committed(b) + amount > limit {
                        return Err("exceeds_reserve_ratio");
                    }
                }
                self.funds(b, amount)?;
                self.books[b].pool -= amount;
                self.books[b].slots.get_mut(&slot).unwrap().frozen += amount;
                self.orders.insert(
                    id,
                    RefOrder { book: b, slot, sell, layer, amount, frozen: amount, used: 0, st: St::Pending },
                );
                Ok(())
            }
            Op::Fill { id, amount } => {
                if amount <= 0 {
                    return Err("invalid_amount");
                }
                let o = self.live(id)?;
                match o.st {
                    St::Cancelled => return Err("order_cancelled"),
                    St::Expired => return Err("order_expired"),
                    St::Filled => return Err("order_filled"),
                    _ => {}
                }
                if amount > o.frozen {
                    return Err("fill_exceeds_frozen");
                }
                let s = self.books[o.book].slots.get_mut(&o.slot).unwrap();
                s.frozen -= amount;
                s.used += amount;
                let o = self.orders.get_mut(&id).unwrap();
                o.frozen -= amount;
                o.used += amount;
                o.st = if o.frozen == 0 { St::Filled } else { St::Partial };
                Ok(())
            }
            Op::FillTo { id, filled } => {
                if filled <= 0 {
                    return Err("invalid_amount");
                }
                let (held, amount) = match self.orders.get(&id) {
                    Some(o) => (o.used, o.amount),
                    None => match self.resolved_filled(id) {
                        Some(f) if filled <= f => return Ok(()),
                        _ => return self.live(id).map(|_| ()),
                    },
                };
                if filled <= held {
                    return Ok(());
                }
                if filled > amount {
                    return Err("fill_exceeds_amount");
                }
                self.step(&Op::Fill { id, amount: filled - held })
            }
            Op::Cancel { id } | Op::Expire { id } => {
                let expire = matches!(op, Op::Expire { .. });
                let o = self.live(id)?;
                match o.st {
                    St::Cancelled => return Err("order_cancelled"),
                    St::Expired => return Err("order_expired"),
                    St::Filled => return Err("order_filled"),
                    _ => {}
                }
                self.books[o.book].pool += o.frozen;
                self.books[o.book].slots.get_mut(&o.slot).unwrap().frozen -= o.frozen;
                if o.used == 0 {
                    self.orders.remove(&id);
                    self.resolve(id, if expire { "expired" } else { "cancelled" }, 0);
                } else {
                    let o = self.orders.get_mut(&id).unwrap();
                    o.frozen = 0;
                    o.st = if expire { St::Expired } else { St::Cancelled };
                }
                Ok(())
            }
            Op::ReleaseOrder { id } => {
                let o = self.live(id)?;
                match o.st {
                    St::Pending => return Err("release_not_filled"),
                    St::Partial => return Err("release_working"),
                    _ => {}
                }
                self.books[o.book].pool += o.used;
                self.books[o.book].slots.get_mut(&o.slot).unwrap().used -= o.used;
                self.orders.remove(&id);
                self.resolve(id, "released", o.used);
                Ok(())
            }
            Op::Alpha { book, slot, amount } => {
                if amount == 0 {
                    return Err("invalid_amount");
                }
                let b = self.strategy(book, slot)?;
                let s = self.books[b].slots.get_mut(&slot).unwrap();
                s.alpha = in_range(s.alpha + amount)?;
                Ok(())
            }
            Op::Loss { book, slot, loss } => {
                if loss < 0 {
                    return Err("invalid_amount");
                }
                let b = self.strategy(book, slot)?;
                self.books[b].slots.get_mut(&slot).unwrap().loss = loss;
                Ok(())
            }
        }
    }

    /// The 90% / 85% gate, by its definition.
    /// A linked reservation: every part or none, the first refusal's part and code.
    fn linked(&mut self, parts: &[Op]) -> Result<(), (usize, &'static str)> {
        if parts.is_empty() || parts.len() > 64 {
            return Err((0, "link_length"));
        }
        if let Some(part) = parts.iter().position(|p| !matches!(p, Op::Reserve { .. })) {
            return Err((part, "not_linkable"));
        }
        let before = self.clone();
        for (part, op) in parts.iter().enumerate() {
            if let Err(code) = self.step(op) {
                *self = before;
                return Err((part, code));
            }
            self.update_penalties();
        }
        Ok(())
    }

    fn update_penalties(&mut self) {
        for b in 0..self.books.len() {
            let committed = self.committed(b);
            let book = &mut self.books[b];
            if book.penalty {
                if committed * 1_000_000 < book.total * 850_000 {
                    book.penalty = false;
                }
            } else if committed * 1_000_000 > book.total * 900_000 {
                book.penalty = true;
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Credit { currency: usize, limit: i128 },
    Reset { book: u16, balance: i128, force: bool },
    Set { book: u16, slot: u8, amount: i128 },
    Adjust { book: u16, slot: u8, delta: i128 },
    Allocate { book: u16, slot: u8, amount: i128 },
    Release { book: u16, slot: u8, amount: i128 },
    Trade { delta_a: i128, delta_b: i128 },
    Reserve { id: u64, book: u16, slot: u8, sell: bool, layer: u32, amount: i128 },
    Fill { id: u64, amount: i128 },
    FillTo { id: u64, filled: i128 },
    Cancel { id: u64 },
    Expire { id: u64 },
    ReleaseOrder { id: u64 },
    Alpha { book: u16, slot: u8, amount: i128 },
    Loss { book: u16, slot: u8, loss: i128 },
}

fn amt(v: i128) -> Amount {
    Amount::from_raw(v as i64).unwrap()
}

fn currency(index: usize) -> Currency {
    Currency::new(["CNY", "USDT"][index]).unwrap()
}

impl Op {
    fn to_command(&self) -> Command {
        let id = |n: u64| ClientOrderId::snowflake(n).unwrap();
        match *self {
            Op::Credit { currency: c, limit } => {
                Command::SetCreditLimit { currency: currency(c), limit: amt(limit) }
            }
            Op::Reset { book, balance, force } => {
                Command::Reset { book: BookId::new(book), balance: amt(balance), force }
            }
            Op::Set { book, slot, amount } => {
                Command::Set { book: BookId::new(book), slot, amount: amt(amount) }
            }
            Op::Adjust { book, slot, delta } => {
                Command::Adjust { book: BookId::new(book), slot, delta: amt(delta) }
            }
            Op::Allocate { book, slot, amount } => {
                Command::Allocate { book: BookId::new(book), slot, amount: amt(amount) }
            }
            Op::Release { book, slot, amount } => {
                Command::Release { book: BookId::new(book), slot, amount: amt(amount) }
            }
            Op::Trade { delta_a, delta_b } => Command::Trade {
                book_a: BookId::new(0),
                delta_a: amt(delta_a),
                book_b: BookId::new(1),
                delta_b: amt(delta_b),
            },
            Op::Reserve { id: n, book, slot, sell, layer, amount } => Command::Reserve {
                id: id(n),
                book: BookId::new(book),
                slot,
                side: if sell { Side::Sell } else { Side::Buy },
                layer,
                amount: amt(amount),
            },
            Op::Fill { id: n, amount } => Command::Fill { id: id(n), amount: amt(amount) },
            Op::FillTo { id: n, filled } => Command::FillTo { id: id(n), filled: amt(filled) },
            Op::Cancel { id: n } => Command::Cancel { id: id(n) },
            Op::Expire { id: n } => Command::Expire { id: id(n) },
            Op::ReleaseOrder { id: n } => Command::ReleaseOrder { id: id(n) },
            Op::Alpha { book, slot, amount } => {
                Command::RecordAlpha { book: BookId::new(book), slot, amount: amt(amount) }
            }
            Op::Loss { book, slot, loss } => {
                Command::MarkLoss { book: BookId::new(book), slot, loss: amt(loss) }
            }
        }
    }
}

/// Mostly everyday amounts, some zero, negative, tiny, at the edge of the range, or exactly at
/// the fixture's caps (200,000 and 3,000) and first-layer limits (255,000 and 8,500).
fn amount() -> impl Strategy<Value = i128> {
    prop_oneof![
        1 => prop_oneof![Just(200_000 * UNIT), Just(3_000 * UNIT), Just(255_000 * UNIT), Just(8_500 * UNIT)],
        6 => (1..=120_000_i128).prop_map(|u| u * UNIT),
        2 => 1..=1_000_000_i128,
        1 => Just(0_i128),
        1 => (1..=50_000_i128).prop_map(|u| -u * UNIT),
        1 => prop_oneof![Just(MAX), Just(-MAX), Just(MAX - 1)],
    ]
}

fn reserve_op() -> impl Strategy<Value = Op> {
    (1..12_u64, prop_oneof![8 => 0..2_u16, 1 => Just(2_u16)], 0..6_u8, any::<bool>(), 0..3_u32, amount())
        .prop_map(|(id, book, slot, sell, layer, amount)| Op::Reserve {
            id,
            book,
            slot,
            sell: sell && layer != 1,
            layer,
            amount,
        })
}

/// A step of a run: one command, or a linked reservation (mostly reservations, sometimes empty or
/// with another command among them).
#[derive(Clone, Debug)]
enum Turn {
    One(Op),
    Linked(Vec<Op>),
}

fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        3 => op().prop_map(Turn::One),
        1 => prop::collection::vec(prop_oneof![12 => reserve_op(), 1 => op()], 0..6).prop_map(Turn::Linked),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let book = prop_oneof![8 => 0..2_u16, 1 => Just(2_u16)];
    let slot = 0..6_u8;
    let id = 1..12_u64;
    prop_oneof![
        1 => (0..2_usize, amount()).prop_map(|(currency, limit)| Op::Credit { currency, limit }),
        1 => (book.clone(), amount(), any::<bool>()).prop_map(|(book, balance, force)| Op::Reset { book, balance, force }),
        2 => (book.clone(), slot.clone(), amount()).prop_map(|(book, slot, amount)| Op::Set { book, slot, amount }),
        2 => (book.clone(), slot.clone(), amount()).prop_map(|(book, slot, delta)| Op::Adjust { book, slot, delta }),
        3 => (book.clone(), slot.clone(), amount()).prop_map(|(book, slot, amount)| Op::Allocate { book, slot, amount }),
        2 => (book.clone(), slot.clone(), amount()).prop_map(|(book, slot, amount)| Op::Release { book, slot, amount }),
        1 => (amount(), amount()).prop_map(|(delta_a, delta_b)| Op::Trade { delta_a, delta_b }),
        10 => reserve_op(),
        8 => (id.clone(), amount()).prop_map(|(id, amount)| Op::Fill { id, amount }),
        4 => (id.clone(), amount()).prop_map(|(id, filled)| Op::FillTo { id, filled }),
        4 => id.clone().prop_map(|id| Op::Cancel { id }),
        2 => id.clone().prop_map(|id| Op::Expire { id }),
        4 => id.prop_map(|id| Op::ReleaseOrder { id }),
        1 => (book.clone(), slot.clone(), amount()).prop_map(|(book, slot, amount)| Op::Alpha { book, slot, amount }),
        1 => (book, slot, prop_oneof![Just(15_000 * UNIT), Just(15_000 * UNIT + 1), amount()])
            .prop_map(|(book, slot, loss)| Op::Loss { book, slot, loss }),
    ]
}

fn ledger() -> Ledger {
    let config = LedgerConfig::from_json(
        r#"{
          "limits": { "books_max": 2, "currencies_max": 2, "orders_max": 8, "resolved_max": 6 },
          "books": [
            { "venue": "SSE", "currency": "CNY", "slot_count": 5, "balance": 300000,
              "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 },
                              { "slot": 3, "label": "512890", "cap": 200000 } ] },
            { "venue": "KRAKEN", "currency": "USDT", "slot_count": 4, "balance": 10000, "sells": "spend",
              "strategies": [ { "slot": 2, "cap": 3000 } ] }
          ]
        }"#,
    )
    .unwrap();
    Ledger::from_config(&config).unwrap()
}

fn compare(ledger: &Ledger, model: &Model) {
    for (b, rb) in model.books.iter().enumerate() {
        let book = ledger.book(BookId::new(b as u16)).unwrap();
        assert_eq!(i128::from(book.total().raw()), rb.total, "book {b} total");
        assert_eq!(i128::from(book.pool().raw()), rb.pool, "book {b} pool");
        assert_eq!(i128::from(book.credit_limit().raw()), rb_credit(model, rb), "book {b} credit");
        assert_eq!(book.penalty().is_active(), rb.penalty, "book {b} penalty");
        for (&slot, rs) in &rb.slots {
            let s = book.strategy(slot).unwrap();
            assert_eq!(i128::from(s.frozen().raw()), rs.frozen, "book {b} slot {slot} frozen");
            assert_eq!(i128::from(s.used().raw()), rs.used, "book {b} slot {slot} used");
            assert_eq!(i128::from(s.direct().raw()), rs.direct, "book {b} slot {slot} direct");
            assert_eq!(i128::from(s.acc_alpha().raw()), rs.alpha, "book {b} slot {slot} alpha");
            assert_eq!(s.is_forced_reduce(), rs.loss > rs.loss_limit, "book {b} slot {slot} forced");
        }
        // The invariant, restated.
        let committed: i128 = rb.slots.values().map(|s| s.frozen + s.used).sum();
        assert_eq!(rb.total, rb.pool + committed);
    }
    assert_eq!(ledger.orders().len(), model.orders.len(), "live orders");
    for (&n, ro) in &model.orders {
        let o = ledger.order(ClientOrderId::snowflake(n).unwrap()).unwrap();
        let st = match o.state() {
            OrderState::Pending => St::Pending,
            OrderState::PartiallyFilled => St::Partial,
            OrderState::Filled => St::Filled,
            OrderState::Cancelled => St::Cancelled,
            OrderState::Expired => St::Expired,
            other => panic!("live order {n} in state {other:?}"),
        };
        assert_eq!(
            (st, i128::from(o.frozen().raw()), i128::from(o.used().raw())),
            (ro.st, ro.frozen, ro.used),
            "order {n}"
        );
    }
    for n in 1..12 {
        let state = ledger.resolved_state(ClientOrderId::snowflake(n).unwrap()).map(|s| match s {
            OrderState::Cancelled => "cancelled",
            OrderState::Released => "released",
            OrderState::Dropped => "dropped",
            OrderState::Expired => "expired",
            other => panic!("resolved id {n} in state {other:?}"),
        });
        assert_eq!(state, model.resolved_state(n), "resolved id {n}");
    }
    ledger.audit().unwrap();
}

fn rb_credit(model: &Model, rb: &RefBook) -> i128 {
    model.credit[rb.currency]
}

proptest! {
    // 4096 cases; `PROPTEST_CASES` lowers it for a mutation-testing run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4096),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_ledger_matches_the_reference_model(ops in prop::collection::vec(op(), 1..100)) {
        let mut ledger = ledger();
        let mut model = Model::new();
        compare(&ledger, &model);
        for op in &ops {
            one(&mut ledger, &mut model, op)?;
            compare(&ledger, &model);
        }
    }

    #[test]
    fn linked_reservations_match_the_reference_model(turns in prop::collection::vec(turn(), 1..60)) {
        let mut ledger = ledger();
        let mut model = Model::new();
        for turn in &turns {
            match turn {
                Turn::One(op) => one(&mut ledger, &mut model, op)?,
                Turn::Linked(parts) => {
                    let commands: Vec<Command> = parts.iter().map(Op::to_command).collect();
                    let before = ledger.clone();
                    let expected = model.clone().linked(parts);
                    let actual = ledger.reserve_linked(&commands);
                    match (&expected, &actual) {
                        (Ok(()), Ok(outcomes)) => {
                            prop_assert_eq!(outcomes.len(), parts.len());
                            model.linked(parts).unwrap();
                        }
                        (Err((part, code)), Err(refused)) => {
                            prop_assert_eq!((*part, *code), (refused.part, refused.rejection.code()), "{:?}", parts);
                            prop_assert!(ledger == before, "a refused chain {:?} changed the ledger", parts);
                        }
                        _ => prop_assert!(false, "{:?}: model {:?}, ledger {:?}", parts, expected, actual),
                    }
                }
            }
            compare(&ledger, &model);
        }
    }
}

/// One command on both: the same decision and code; a rejection changes nothing.
fn one(ledger: &mut Ledger, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let command = op.to_command();
    let before = ledger.clone();
    let expected = model.clone().step(op);
    let actual = ledger.apply(&command);
    match (&expected, &actual) {
        (Ok(()), Ok(_)) => {
            model.step(op).unwrap();
            model.update_penalties();
        }
        (Err(code), Err(rejection)) => {
            prop_assert_eq!(*code, rejection.code(), "{:?}", op);
            prop_assert!(*ledger == before, "rejected {:?} changed the ledger", op);
        }
        _ => prop_assert!(false, "{:?}: model {:?}, ledger {:?}", op, expected, actual),
    }
    Ok(())
}
