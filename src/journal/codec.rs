//! The binary encoding of commands (journal records) and of the whole ledger (checkpoints).
//! Little-endian, fixed-width fields, amounts as raw `i64`: exact, no float anywhere.

use std::fmt;

use crate::ledger::book::{Book, BookId, BookSpec, Strategy, StrategyConfig};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::Limits;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::ratio::Ratio;
use crate::ledger::view::{PenaltyConfig, StepPenalty};
use crate::ledger::{LedgerImage, LedgerParts};

/// Where and why bytes did not decode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CodecError {
    /// Byte offset in the decoded buffer.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

/// Appends fields to a buffer.
pub(crate) struct Enc<'a>(pub(crate) &'a mut Vec<u8>);

impl Enc<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn amount(&mut self, v: Amount) {
        self.0.extend_from_slice(&v.raw().to_le_bytes());
    }
    fn book(&mut self, v: BookId) {
        self.u16(v.index() as u16);
    }
    fn id(&mut self, v: ClientOrderId) {
        match v {
            ClientOrderId::Uuid(value) => {
                self.u8(1);
                self.0.extend_from_slice(&value.get().to_le_bytes());
            }
            ClientOrderId::Snowflake(value) => {
                self.u8(2);
                self.0.extend_from_slice(&u128::from(value.get()).to_le_bytes());
            }
        }
    }
    fn label(&mut self, v: Option<Label>) {
        let bytes: [u8; 16] = v.map_or([0; 16], |label| *label.as_bytes());
        self.0.extend_from_slice(&bytes);
    }
    /// The shape shared by the slot commands: a tag, the book, the slot, one amount.
    fn slot_amount(&mut self, tag: u8, book: BookId, slot: u8, amount: Amount) {
        self.u8(tag);
        self.book(book);
        self.u8(slot);
        self.amount(amount);
    }
    fn spec(&mut self, v: &BookSpec) {
        self.0.extend_from_slice(v.venue.as_bytes());
        self.0.extend_from_slice(v.currency.as_bytes());
        self.u8(v.slot_count);
        for ratio in [v.reserve_ratio, v.penalty.enter, v.penalty.leave, v.penalty.multiplier] {
            self.u32(ratio.ppm());
        }
        self.u8(v.decimals);
    }
    fn strategy_config(&mut self, v: &StrategyConfig) {
        self.label(v.label);
        self.u8(u8::from(v.cap.is_some()));
        self.amount(v.cap.unwrap_or(Amount::ZERO));
        self.amount(v.loss_limit);
    }
    fn side(&mut self, v: Side) {
        self.u8(v.code());
    }
    fn state(&mut self, v: OrderState) {
        self.u8(v.code());
    }
}

/// Reads fields from a buffer, naming the offset of anything wrong.
pub(crate) struct Dec<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The format version of the file the bytes come from: version 2 has no minor unit in a
    /// book's spec (it reads as the default, 2 decimal places).
    version: u32,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(bytes: &'a [u8], version: u32) -> Dec<'a> {
        Dec { bytes, pos: 0, version }
    }
    fn fail<T>(&self, what: &'static str) -> Result<T, CodecError> {
        Err(CodecError { offset: self.pos, what })
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        match self.bytes.get(self.pos..self.pos + N) {
            Some(slice) => {
                let mut out = [0; N];
                out.copy_from_slice(slice);
                self.pos += N;
                Ok(out)
            }
            None => self.fail("unexpected end"),
        }
    }
    pub(crate) fn finished(&self) -> Result<(), CodecError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            self.fail("trailing bytes")
        }
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn amount(&mut self) -> Result<Amount, CodecError> {
        let at = self.pos;
        Amount::from_raw(i64::from_le_bytes(self.take()?))
            .ok_or(CodecError { offset: at, what: "amount out of range" })
    }
    fn bool(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => self.fail("bad boolean"),
        }
    }
    fn book(&mut self) -> Result<BookId, CodecError> {
        Ok(BookId::new(self.u16()?))
    }
    fn id(&mut self) -> Result<ClientOrderId, CodecError> {
        let at = self.pos;
        let kind = self.u8()?;
        let value = u128::from_le_bytes(self.take()?);
        let id = match kind {
            1 => ClientOrderId::uuid(value),
            2 => u64::try_from(value)
                .map_err(|_| crate::ledger::OrderIdError::SnowflakeOutOfRange)
                .and_then(ClientOrderId::snowflake),
            _ => return Err(CodecError { offset: at, what: "bad order id kind" }),
        };
        id.map_err(|_| CodecError { offset: at, what: "bad order id" })
    }
    fn label(&mut self) -> Result<Option<Label>, CodecError> {
        let at = self.pos;
        let bytes: [u8; 16] = self.take()?;
        if bytes == [0; 16] {
            return Ok(None);
        }
        Label::from_bytes(&bytes).map(Some).map_err(|_| CodecError { offset: at, what: "bad label" })
    }
    fn spec(&mut self) -> Result<BookSpec, CodecError> {
        let at = self.pos;
        let venue =
            Venue::from_bytes(&self.take()?).map_err(|_| CodecError { offset: at, what: "bad venue" })?;
        let at = self.pos;
        let currency = Currency::from_bytes(&self.take()?)
            .map_err(|_| CodecError { offset: at, what: "bad currency" })?;
        let slot_count = self.u8()?;
        let reserve_ratio = Ratio::from_ppm(self.u32()?);
        let penalty = PenaltyConfig {
            enter: Ratio::from_ppm(self.u32()?),
            leave: Ratio::from_ppm(self.u32()?),
            multiplier: Ratio::from_ppm(self.u32()?),
        };
        let decimals = if self.version >= 3 { self.u8()? } else { BookSpec::DECIMALS_DEFAULT };
        Ok(BookSpec { venue, currency, slot_count, reserve_ratio, penalty, decimals })
    }
    /// One book of a checkpoint: its spec, figures and strategies.
    fn book_record(&mut self, index: usize) -> Result<Book, CodecError> {
        let at = self.pos;
        let spec = self.spec()?;
        if !(2..=64).contains(&spec.slot_count) {
            return Err(CodecError { offset: at, what: "bad slot count" });
        }
        let credit_limit = self.amount()?;
        let total = self.amount()?;
        let pool = self.amount()?;
        let active = self.bool()?;
        let orders_live = self.u32()?;
        let mut strategies = Vec::new();
        for _ in 2..spec.slot_count {
            let config = self.strategy_config()?;
            strategies.push(Strategy {
                config,
                frozen: self.amount()?,
                used: self.amount()?,
                direct: self.amount()?,
                acc_alpha: self.amount()?,
                float_loss: self.amount()?,
                orders_live: self.u32()?,
            });
        }
        let mut book = Book {
            id: BookId::new(index as u16),
            spec,
            credit_limit,
            total,
            pool,
            strategies,
            penalty: StepPenalty::restore(spec.penalty, active),
            orders_live,
            sums: (0, 0),
        };
        book.sums = book.recount();
        Ok(book)
    }
    fn strategy_config(&mut self) -> Result<StrategyConfig, CodecError> {
        let label = self.label()?;
        let has_cap = self.bool()?;
        let cap = self.amount()?;
        Ok(StrategyConfig { label, cap: has_cap.then_some(cap), loss_limit: self.amount()? })
    }
    fn side(&mut self) -> Result<Side, CodecError> {
        let at = self.pos;
        Side::from_code(self.u8()?).ok_or(CodecError { offset: at, what: "bad side" })
    }
    fn state(&mut self) -> Result<OrderState, CodecError> {
        let at = self.pos;
        OrderState::from_code(self.u8()?).ok_or(CodecError { offset: at, what: "bad order state" })
    }
}

/// Appends a command's encoding to `out`.
pub(crate) fn encode_command(command: &Command, out: &mut Vec<u8>) {
    let mut e = Enc(out);
    match *command {
        Command::OpenBook { spec } => {
            e.u8(1);
            e.spec(&spec);
        }
        Command::ConfigureStrategy { book, slot, config } => {
            e.u8(2);
            e.book(book);
            e.u8(slot);
            e.strategy_config(&config);
        }
        Command::SetCreditLimit { currency, limit } => {
            e.u8(3);
            e.0.extend_from_slice(currency.as_bytes());
            e.amount(limit);
        }
        Command::Reset { book, balance, force } => {
            e.u8(4);
            e.book(book);
            e.amount(balance);
            e.u8(u8::from(force));
        }
        Command::Set { book, slot, amount } => e.slot_amount(5, book, slot, amount),
        Command::Adjust { book, slot, delta } => e.slot_amount(6, book, slot, delta),
        Command::Allocate { book, slot, amount } => e.slot_amount(7, book, slot, amount),
        Command::Release { book, slot, amount } => e.slot_amount(8, book, slot, amount),
        Command::Trade { book_a, delta_a, book_b, delta_b } => {
            e.u8(9);
            e.book(book_a);
            e.amount(delta_a);
            e.book(book_b);
            e.amount(delta_b);
        }
        Command::Reserve { id, book, slot, side, layer, amount } => {
            e.u8(10);
            e.id(id);
            e.book(book);
            e.u8(slot);
            e.side(side);
            e.u32(layer);
            e.amount(amount);
        }
        Command::Fill { id, amount } => {
            e.u8(11);
            e.id(id);
            e.amount(amount);
        }
        Command::Cancel { id } => {
            e.u8(12);
            e.id(id);
        }
        Command::ReleaseOrder { id } => {
            e.u8(13);
            e.id(id);
        }
        Command::RecordAlpha { book, slot, amount } => e.slot_amount(14, book, slot, amount),
        Command::MarkLoss { book, slot, loss } => e.slot_amount(15, book, slot, loss),
    }
}

/// Decodes exactly one command from `bytes`.
pub(crate) fn decode_command(bytes: &[u8], version: u32) -> Result<Command, CodecError> {
    let mut d = Dec::new(bytes, version);
    let command = match d.u8()? {
        1 => Command::OpenBook { spec: d.spec()? },
        2 => Command::ConfigureStrategy { book: d.book()?, slot: d.u8()?, config: d.strategy_config()? },
        3 => {
            let at = d.pos;
            let currency = Currency::from_bytes(&d.take()?)
                .map_err(|_| CodecError { offset: at, what: "bad currency" })?;
            Command::SetCreditLimit { currency, limit: d.amount()? }
        }
        4 => Command::Reset { book: d.book()?, balance: d.amount()?, force: d.bool()? },
        5 => Command::Set { book: d.book()?, slot: d.u8()?, amount: d.amount()? },
        6 => Command::Adjust { book: d.book()?, slot: d.u8()?, delta: d.amount()? },
        7 => Command::Allocate { book: d.book()?, slot: d.u8()?, amount: d.amount()? },
        8 => Command::Release { book: d.book()?, slot: d.u8()?, amount: d.amount()? },
        9 => Command::Trade {
            book_a: d.book()?,
            delta_a: d.amount()?,
            book_b: d.book()?,
            delta_b: d.amount()?,
        },
        10 => Command::Reserve {
            id: d.id()?,
            book: d.book()?,
            slot: d.u8()?,
            side: d.side()?,
            layer: d.u32()?,
            amount: d.amount()?,
        },
        11 => Command::Fill { id: d.id()?, amount: d.amount()? },
        12 => Command::Cancel { id: d.id()? },
        13 => Command::ReleaseOrder { id: d.id()? },
        14 => Command::RecordAlpha { book: d.book()?, slot: d.u8()?, amount: d.amount()? },
        15 => Command::MarkLoss { book: d.book()?, slot: d.u8()?, loss: d.amount()? },
        _ => return Err(CodecError { offset: 0, what: "unknown command tag" }),
    };
    d.finished()?;
    Ok(command)
}

/// Appends a whole ledger's encoding to `out`.
pub(crate) fn encode_ledger(image: &LedgerImage<'_>, out: &mut Vec<u8>) {
    let mut e = Enc(out);
    let limits = image.limits;
    e.u16(limits.books_max);
    e.u16(limits.currencies_max);
    e.u32(limits.orders_max);
    e.u32(limits.resolved_max);
    e.u32(image.credit_limits.len() as u32);
    for (currency, limit) in image.credit_limits {
        e.0.extend_from_slice(currency.as_bytes());
        e.amount(*limit);
    }
    e.u32(image.books.len() as u32);
    for book in image.books {
        e.spec(&book.spec);
        e.amount(book.credit_limit);
        e.amount(book.total);
        e.amount(book.pool);
        e.u8(u8::from(book.penalty.is_active()));
        e.u32(book.orders_live);
        for s in &book.strategies {
            e.strategy_config(&s.config);
            for v in [s.frozen, s.used, s.direct, s.acc_alpha, s.float_loss] {
                e.amount(v);
            }
            e.u32(s.orders_live);
        }
    }
    e.u32(image.orders.len() as u32);
    for o in &image.orders {
        e.id(o.id);
        e.book(o.book);
        e.u8(o.slot);
        e.side(o.side);
        e.u32(o.layer);
        e.amount(o.amount);
        e.amount(o.frozen);
        e.amount(o.used);
        e.state(o.state);
    }
    e.u32(image.resolved.len() as u32);
    for (id, state) in &image.resolved {
        e.id(*id);
        e.state(*state);
    }
}

/// Decodes a whole ledger; counts are bounded by the limits read first.
pub(crate) fn decode_ledger(bytes: &[u8], version: u32) -> Result<LedgerParts, CodecError> {
    let mut d = Dec::new(bytes, version);
    let limits = Limits {
        books_max: d.u16()?,
        currencies_max: d.u16()?,
        orders_max: d.u32()?,
        resolved_max: d.u32()?,
    };
    let count = |d: &mut Dec<'_>, max: usize| -> Result<usize, CodecError> {
        let at = d.pos;
        let n = d.u32()? as usize;
        if n > max {
            return Err(CodecError { offset: at, what: "count above its limit" });
        }
        Ok(n)
    };
    let mut credit_limits = Vec::new();
    for _ in 0..count(&mut d, usize::from(limits.currencies_max))? {
        let at = d.pos;
        let currency =
            Currency::from_bytes(&d.take()?).map_err(|_| CodecError { offset: at, what: "bad currency" })?;
        credit_limits.push((currency, d.amount()?));
    }
    let mut books = Vec::new();
    for index in 0..count(&mut d, usize::from(limits.books_max))? {
        books.push(d.book_record(index)?);
    }
    let mut orders = Vec::new();
    for _ in 0..count(&mut d, limits.orders_max as usize)? {
        orders.push(Order {
            id: d.id()?,
            book: d.book()?,
            slot: d.u8()?,
            side: d.side()?,
            layer: d.u32()?,
            amount: d.amount()?,
            frozen: d.amount()?,
            used: d.amount()?,
            state: d.state()?,
        });
    }
    let mut resolved = Vec::new();
    for _ in 0..count(&mut d, limits.resolved_max as usize)? {
        resolved.push((d.id()?, d.state()?));
    }
    d.finished()?;
    Ok(LedgerParts { limits, credit_limits, books, orders, resolved })
}
