//! The binary encoding of commands (journal records) and of the whole ledger (checkpoints).
//! Little-endian, fixed-width fields, amounts as raw `i64`: exact, no float anywhere.

use std::fmt;

use crate::journal::store::FORMAT_VERSION;
use crate::ledger::book::{Book, BookId, BookSpec, Health, SellRule, Strategy, StrategyConfig};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::command::Command;
use crate::ledger::config::Limits;
use crate::ledger::grant::CommandKind;
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::{Outcome, SignalStatus};
use crate::ledger::ratio::Ratio;
use crate::ledger::rejection::{AmountRule, RatioSetting, Rejection, ReserveField};
use crate::ledger::request::RequestKey;
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
    fn u64(&mut self, v: u64) {
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
        self.u8(match v.sells {
            SellRule::HoldNothing => 0,
            SellRule::Spend => 1,
        });
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
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.take()?))
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
        let at = self.pos;
        let sells = match if self.version >= 6 { self.u8()? } else { 0 } {
            0 => SellRule::HoldNothing,
            1 => SellRule::Spend,
            _ => return Err(CodecError { offset: at, what: "bad sell rule" }),
        };
        Ok(BookSpec { venue, currency, slot_count, reserve_ratio, penalty, decimals, sells })
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
        Command::FillTo { id, filled } => {
            e.u8(16);
            e.id(id);
            e.amount(filled);
        }
        Command::Expire { id } => e.tag_id(17, id),
        Command::ClaimSignal { signal } => e.tag_id(18, signal),
        Command::ConsumeSignal { signal, placed } => {
            e.tag_id(19, signal);
            e.u8(u8::from(placed));
        }
    }
}

/// The tag of a keyed record (format 5): the client's tag and request number (`u64` each), then
/// the command's own encoding. Command tags stay below it.
const KEYED: u8 = 0x80;

/// The tag of a linked record (format 6): the record is a part of a linked reservation whose
/// chain goes on in the next record (`Ledger::reserve_linked`). The chain's last part has no tag:
/// a chain still open at the journal's end was never answered, and recovery cuts it off whole.
const LINKED: u8 = 0x81;

/// A journal record: a command, after its request key when it came keyed (`Ledger::apply_once`),
/// after the linked tag when a linked reservation's chain goes on in the next record.
pub(crate) fn encode_record(key: Option<RequestKey>, command: &Command, linked: bool, out: &mut Vec<u8>) {
    if linked {
        out.push(LINKED);
    }
    if let Some(key) = key {
        let mut e = Enc(out);
        e.u8(KEYED);
        e.u64(key.client());
        e.u64(key.request());
    }
    encode_command(command, out);
}

/// A decoded record: its request key, its command, and whether a linked chain goes on after it.
pub(crate) struct Record {
    pub(crate) key: Option<RequestKey>,
    pub(crate) command: Command,
    pub(crate) linked: bool,
}

/// Decodes exactly one record.
pub(crate) fn decode_record(bytes: &[u8], version: u32) -> Result<Record, CodecError> {
    if version >= 6 && bytes.first() == Some(&LINKED) {
        let (key, command) =
            decode_keyed(&bytes[1..], version).map_err(|e| CodecError { offset: e.offset + 1, ..e })?;
        return Ok(Record { key, command, linked: true });
    }
    let (key, command) = decode_keyed(bytes, version)?;
    Ok(Record { key, command, linked: false })
}

/// A command after its request key, if it has one.
fn decode_keyed(bytes: &[u8], version: u32) -> Result<(Option<RequestKey>, Command), CodecError> {
    if version >= 5 && bytes.first() == Some(&KEYED) {
        let mut d = Dec::new(bytes, version);
        d.pos = 1;
        let key = RequestKey::from_parts(d.u64()?, d.u64()?)
            .ok_or(CodecError { offset: 1, what: "zero client tag or request number" })?;
        let command = decode_command(&bytes[d.pos..], version)
            .map_err(|e| CodecError { offset: e.offset + d.pos, ..e })?;
        return Ok((Some(key), command));
    }
    Ok((None, decode_command(bytes, version)?))
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
        16 if d.version >= 4 => Command::FillTo { id: d.id()?, filled: d.amount()? },
        17 if d.version >= 4 => Command::Expire { id: d.id()? },
        18 if d.version >= 4 => Command::ClaimSignal { signal: d.id()? },
        19 if d.version >= 4 => Command::ConsumeSignal { signal: d.id()?, placed: d.bool()? },
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
    for (id, state, filled) in &image.resolved {
        e.id(*id);
        e.state(*state);
        e.amount(*filled);
    }
    e.u32(image.signals.len() as u32);
    for (id, status) in &image.signals {
        e.id(*id);
        e.u8(status.code());
    }
    e.u32(image.requests.len() as u32);
    for (key, seq, outcome) in &image.requests {
        e.u64(key.client());
        e.u64(key.request());
        e.u64(*seq);
        encode_outcome(outcome, e.0);
    }
    e.u32(image.watermarks.len() as u32);
    for (client, watermark) in &image.watermarks {
        e.u64(*client);
        e.u64(*watermark);
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
        let (id, state) = (d.id()?, d.state()?);
        // Before version 4 the filled part of a resolved order was not kept.
        let filled = if d.version >= 4 { d.amount()? } else { Amount::ZERO };
        resolved.push((id, state, filled));
    }
    let mut signals = Vec::new();
    if d.version >= 4 {
        for _ in 0..count(&mut d, limits.resolved_max as usize)? {
            let id = d.id()?;
            let at = d.pos;
            let status = SignalStatus::from_code(d.u8()?)
                .ok_or(CodecError { offset: at, what: "bad signal status" })?;
            signals.push((id, status));
        }
    }
    let (mut requests, mut watermarks) = (Vec::new(), Vec::new());
    if d.version >= 5 {
        for _ in 0..count(&mut d, limits.resolved_max as usize)? {
            let at = d.pos;
            let key = RequestKey::from_parts(d.u64()?, d.u64()?)
                .ok_or(CodecError { offset: at, what: "zero client tag or request number" })?;
            requests.push((key, d.u64()?, d.outcome()?));
        }
        for _ in 0..count(&mut d, 2 * limits.resolved_max as usize)? {
            watermarks.push((d.u64()?, d.u64()?));
        }
    }
    d.finished()?;
    Ok(LedgerParts { limits, credit_limits, books, orders, resolved, signals, requests, watermarks })
}

/// Outcomes and rejections, for the gateway's answers (`docs/ipc.md`): a tag byte per variant,
/// then the fields in declaration order, in the same field encodings as commands.
impl Enc<'_> {
    fn health(&mut self, v: Health) {
        match v {
            Health::Sound => self.u8(0),
            Health::Unrecoverable { pool, credit_limit } => {
                self.u8(1);
                self.amount(pool);
                self.amount(credit_limit);
            }
        }
    }
    fn opt_book(&mut self, v: Option<BookId>) {
        self.u8(u8::from(v.is_some()));
        self.book(v.unwrap_or(BookId::new(0)));
    }
    fn opt_u8(&mut self, v: Option<u8>) {
        self.u8(u8::from(v.is_some()));
        self.u8(v.unwrap_or(0));
    }
    fn field(&mut self, v: ReserveField) {
        match v {
            ReserveField::Book { existing, requested } => {
                self.u8(0);
                self.book(existing);
                self.book(requested);
            }
            ReserveField::Slot { existing, requested } => {
                self.u8(1);
                self.u8(existing);
                self.u8(requested);
            }
            ReserveField::Side { existing, requested } => {
                self.u8(2);
                self.side(existing);
                self.side(requested);
            }
            ReserveField::Layer { existing, requested } => {
                self.u8(3);
                self.u32(existing);
                self.u32(requested);
            }
            ReserveField::Amount { existing, requested } => {
                self.u8(4);
                self.amount(existing);
                self.amount(requested);
            }
        }
    }
}

impl Dec<'_> {
    fn health(&mut self) -> Result<Health, CodecError> {
        match self.u8()? {
            0 => Ok(Health::Sound),
            1 => Ok(Health::Unrecoverable { pool: self.amount()?, credit_limit: self.amount()? }),
            _ => self.fail("bad health"),
        }
    }
    fn opt_book(&mut self) -> Result<Option<BookId>, CodecError> {
        let some = self.bool()?;
        let book = self.book()?;
        Ok(some.then_some(book))
    }
    fn opt_u8(&mut self) -> Result<Option<u8>, CodecError> {
        let some = self.bool()?;
        let value = self.u8()?;
        Ok(some.then_some(value))
    }
    fn field(&mut self) -> Result<ReserveField, CodecError> {
        Ok(match self.u8()? {
            0 => ReserveField::Book { existing: self.book()?, requested: self.book()? },
            1 => ReserveField::Slot { existing: self.u8()?, requested: self.u8()? },
            2 => ReserveField::Side { existing: self.side()?, requested: self.side()? },
            3 => ReserveField::Layer { existing: self.u32()?, requested: self.u32()? },
            4 => ReserveField::Amount { existing: self.amount()?, requested: self.amount()? },
            _ => return self.fail("bad reserve field"),
        })
    }
}

/// Appends an outcome's encoding to `out`.
#[allow(clippy::too_many_lines, reason = "one arm per variant")]
pub(crate) fn encode_outcome(outcome: &Outcome, out: &mut Vec<u8>) {
    let mut e = Enc(out);
    match *outcome {
        Outcome::BookOpened { book } => {
            e.u8(1);
            e.book(book);
        }
        Outcome::StrategyConfigured => e.u8(2),
        Outcome::CreditLimitSet { books, books_unrecoverable } => {
            e.u8(3);
            e.u16(books);
            e.u16(books_unrecoverable);
        }
        Outcome::Reset { dropped_orders, dropped_frozen, dropped_used, dropped_direct, health } => {
            e.u8(4);
            e.u32(dropped_orders);
            e.amount(dropped_frozen);
            e.amount(dropped_used);
            e.amount(dropped_direct);
            e.health(health);
        }
        Outcome::Set { drift, health } => {
            e.u8(5);
            e.amount(drift);
            e.health(health);
        }
        Outcome::Adjusted { health } => {
            e.u8(6);
            e.health(health);
        }
        Outcome::Allocated { balance } => e.slot_free_amount(7, balance),
        Outcome::Released { balance } => e.slot_free_amount(8, balance),
        Outcome::Traded { health_a, health_b } => {
            e.u8(9);
            e.health(health_a);
            e.health(health_b);
        }
        Outcome::Reserved { book } => {
            e.u8(10);
            e.book(book);
        }
        Outcome::AlreadyReserved { state } => {
            e.u8(11);
            e.state(state);
        }
        Outcome::Filled { state, remaining } => {
            e.u8(12);
            e.state(state);
            e.amount(remaining);
        }
        Outcome::Cancelled { returned, held } => {
            e.u8(13);
            e.amount(returned);
            e.amount(held);
        }
        Outcome::OrderReleased { returned } => e.slot_free_amount(14, returned),
        Outcome::AlphaRecorded { acc_alpha } => e.slot_free_amount(15, acc_alpha),
        Outcome::LossMarked { forced_reduce } => {
            e.u8(16);
            e.u8(u8::from(forced_reduce));
        }
        Outcome::FillAlreadyApplied { state, filled } => {
            e.u8(17);
            e.state(state);
            e.amount(filled);
        }
        Outcome::Signal { status, fresh } => {
            e.u8(18);
            e.u8(status.code());
            e.u8(u8::from(fresh));
        }
    }
}

impl Enc<'_> {
    fn slot_free_amount(&mut self, tag: u8, amount: Amount) {
        self.u8(tag);
        self.amount(amount);
    }
}

/// Reads an outcome encoded by [`encode_outcome`].
pub(crate) fn decode_outcome(bytes: &[u8]) -> Result<Outcome, CodecError> {
    let mut d = Dec::new(bytes, FORMAT_VERSION);
    let outcome = d.outcome()?;
    d.finished()?;
    Ok(outcome)
}

impl Dec<'_> {
    fn outcome(&mut self) -> Result<Outcome, CodecError> {
        let d = self;
        Ok(match d.u8()? {
            1 => Outcome::BookOpened { book: d.book()? },
            2 => Outcome::StrategyConfigured,
            3 => Outcome::CreditLimitSet { books: d.u16()?, books_unrecoverable: d.u16()? },
            4 => Outcome::Reset {
                dropped_orders: d.u32()?,
                dropped_frozen: d.amount()?,
                dropped_used: d.amount()?,
                dropped_direct: d.amount()?,
                health: d.health()?,
            },
            5 => Outcome::Set { drift: d.amount()?, health: d.health()? },
            6 => Outcome::Adjusted { health: d.health()? },
            7 => Outcome::Allocated { balance: d.amount()? },
            8 => Outcome::Released { balance: d.amount()? },
            9 => Outcome::Traded { health_a: d.health()?, health_b: d.health()? },
            10 => Outcome::Reserved { book: d.book()? },
            11 => Outcome::AlreadyReserved { state: d.state()? },
            12 => Outcome::Filled { state: d.state()?, remaining: d.amount()? },
            13 => Outcome::Cancelled { returned: d.amount()?, held: d.amount()? },
            14 => Outcome::OrderReleased { returned: d.amount()? },
            15 => Outcome::AlphaRecorded { acc_alpha: d.amount()? },
            16 => Outcome::LossMarked { forced_reduce: d.bool()? },
            17 => Outcome::FillAlreadyApplied { state: d.state()?, filled: d.amount()? },
            18 => match SignalStatus::from_code(d.u8()?) {
                Some(status) => Outcome::Signal { status, fresh: d.bool()? },
                None => return d.fail("bad signal status"),
            },
            _ => return d.fail("bad outcome tag"),
        })
    }
}

/// Appends a rejection's encoding to `out`.
#[allow(clippy::too_many_lines, reason = "one arm per variant")]
pub(crate) fn encode_rejection(rejection: &Rejection, out: &mut Vec<u8>) {
    let mut e = Enc(out);
    let amounts = |e: &mut Enc<'_>, tag: u8, amounts: &[Amount]| {
        e.u8(tag);
        for &amount in amounts {
            e.amount(amount);
        }
    };
    match *rejection {
        Rejection::InvalidAmount { amount, rule } => {
            e.u8(1);
            e.amount(amount);
            e.u8(rule as u8);
        }
        Rejection::InvalidRatio { setting, ratio } => {
            e.u8(2);
            e.u8(setting as u8);
            e.u32(ratio.ppm());
        }
        Rejection::SlotCountOutOfRange { slot_count } => {
            e.u8(3);
            e.u8(slot_count);
        }
        Rejection::DecimalsOutOfRange { decimals } => {
            e.u8(4);
            e.u8(decimals);
        }
        Rejection::UnknownBook { book } => {
            e.u8(5);
            e.book(book);
        }
        Rejection::BookExists { venue, currency, book } => {
            e.u8(6);
            e.0.extend_from_slice(venue.as_bytes());
            e.0.extend_from_slice(currency.as_bytes());
            e.book(book);
        }
        Rejection::BooksLimitReached { books_max } => {
            e.u8(7);
            e.u16(books_max);
        }
        Rejection::CurrenciesLimitReached { currencies_max } => {
            e.u8(8);
            e.u16(currencies_max);
        }
        Rejection::SlotOutOfRange { slot, slot_count } => {
            e.u8(9);
            e.u8(slot);
            e.u8(slot_count);
        }
        Rejection::SlotNotStrategy { slot } => {
            e.u8(10);
            e.u8(slot);
        }
        Rejection::LabelTaken { label, slot } => {
            e.u8(11);
            e.label(Some(label));
            e.u8(slot);
        }
        Rejection::TradeSameBook { book } => {
            e.u8(12);
            e.book(book);
        }
        Rejection::TradeNotOpposite { delta_a, delta_b } => amounts(&mut e, 13, &[delta_a, delta_b]),
        Rejection::IdConflict { id, field } => {
            e.u8(14);
            e.id(id);
            e.field(field);
        }
        Rejection::IdResolved { id, state } => {
            e.u8(15);
            e.id(id);
            e.state(state);
        }
        Rejection::OrdersLimitReached { orders_max } => {
            e.u8(16);
            e.u32(orders_max);
        }
        Rejection::UnknownOrder { id } => e.tag_id(17, id),
        Rejection::OrderCancelled { id } => e.tag_id(18, id),
        Rejection::OrderFilled { id } => e.tag_id(19, id),
        Rejection::OrderReleased { id } => e.tag_id(20, id),
        Rejection::OrderDropped { id } => e.tag_id(21, id),
        Rejection::FillExceedsFrozen { id, frozen, fill } => {
            e.tag_id(22, id);
            e.amount(frozen);
            e.amount(fill);
        }
        Rejection::ReleaseNotFilled { id } => e.tag_id(23, id),
        Rejection::ReleaseWorking { id, frozen } => {
            e.tag_id(24, id);
            e.amount(frozen);
        }
        Rejection::LiveOrders { book, orders } => {
            e.u8(25);
            e.book(book);
            e.u32(orders);
        }
        Rejection::ExceedsAllocation { slot, direct, amount } => {
            e.u8(26);
            e.u8(slot);
            e.amount(direct);
            e.amount(amount);
        }
        Rejection::ForcedReduce { slot, loss, loss_limit } => {
            e.u8(27);
            e.u8(slot);
            e.amount(loss);
            e.amount(loss_limit);
        }
        Rejection::ExceedsNominalCap { committed, amount, cap } => {
            amounts(&mut e, 28, &[committed, amount, cap]);
        }
        Rejection::ExceedsReserveRatio { committed, amount, limit } => {
            amounts(&mut e, 29, &[committed, amount, limit]);
        }
        Rejection::ExceedsCreditLimit { pool, amount, credit_limit } => {
            amounts(&mut e, 30, &[pool, amount, credit_limit]);
        }
        Rejection::Overflow => e.u8(31),
        Rejection::NotGranted { kind, book, slot } => {
            e.u8(32);
            e.u8(kind as u8);
            e.opt_book(book);
            e.opt_u8(slot);
        }
        Rejection::SellNotReserved { id } => e.tag_id(33, id),
        Rejection::LinkLength { parts, max } => {
            e.u8(37);
            e.u32(parts);
            e.u32(max);
        }
        Rejection::NotLinkable { part } => {
            e.u8(38);
            e.u32(part);
        }
        Rejection::OrderExpired { id } => e.tag_id(34, id),
        Rejection::FillExceedsAmount { id, amount, filled } => {
            e.tag_id(35, id);
            e.amount(amount);
            e.amount(filled);
        }
        Rejection::RequestExpired { request, watermark } => {
            e.u8(36);
            e.u64(request);
            e.u64(watermark);
        }
    }
}

impl Enc<'_> {
    fn tag_id(&mut self, tag: u8, id: ClientOrderId) {
        self.u8(tag);
        self.id(id);
    }
}

/// Reads a rejection encoded by [`encode_rejection`].
#[allow(clippy::too_many_lines, reason = "one arm per variant")]
pub(crate) fn decode_rejection(bytes: &[u8]) -> Result<Rejection, CodecError> {
    let mut d = Dec::new(bytes, FORMAT_VERSION);
    let rejection = match d.u8()? {
        1 => Rejection::InvalidAmount {
            amount: d.amount()?,
            rule: match d.u8()? {
                0 => AmountRule::NonZero,
                1 => AmountRule::Positive,
                2 => AmountRule::NonNegative,
                _ => return d.fail("bad amount rule"),
            },
        },
        2 => Rejection::InvalidRatio {
            setting: match d.u8()? {
                0 => RatioSetting::ReserveRatio,
                1 => RatioSetting::PenaltyLeave,
                _ => return d.fail("bad ratio setting"),
            },
            ratio: Ratio::from_ppm(d.u32()?),
        },
        3 => Rejection::SlotCountOutOfRange { slot_count: d.u8()? },
        4 => Rejection::DecimalsOutOfRange { decimals: d.u8()? },
        5 => Rejection::UnknownBook { book: d.book()? },
        6 => {
            let at = d.pos;
            let venue =
                Venue::from_bytes(&d.take()?).map_err(|_| CodecError { offset: at, what: "bad venue" })?;
            let at = d.pos;
            let currency = Currency::from_bytes(&d.take()?)
                .map_err(|_| CodecError { offset: at, what: "bad currency" })?;
            Rejection::BookExists { venue, currency, book: d.book()? }
        }
        7 => Rejection::BooksLimitReached { books_max: d.u16()? },
        8 => Rejection::CurrenciesLimitReached { currencies_max: d.u16()? },
        9 => Rejection::SlotOutOfRange { slot: d.u8()?, slot_count: d.u8()? },
        10 => Rejection::SlotNotStrategy { slot: d.u8()? },
        11 => match d.label()? {
            Some(label) => Rejection::LabelTaken { label, slot: d.u8()? },
            None => return d.fail("empty label"),
        },
        12 => Rejection::TradeSameBook { book: d.book()? },
        13 => Rejection::TradeNotOpposite { delta_a: d.amount()?, delta_b: d.amount()? },
        14 => Rejection::IdConflict { id: d.id()?, field: d.field()? },
        15 => Rejection::IdResolved { id: d.id()?, state: d.state()? },
        16 => Rejection::OrdersLimitReached { orders_max: d.u32()? },
        17 => Rejection::UnknownOrder { id: d.id()? },
        18 => Rejection::OrderCancelled { id: d.id()? },
        19 => Rejection::OrderFilled { id: d.id()? },
        20 => Rejection::OrderReleased { id: d.id()? },
        21 => Rejection::OrderDropped { id: d.id()? },
        22 => Rejection::FillExceedsFrozen { id: d.id()?, frozen: d.amount()?, fill: d.amount()? },
        23 => Rejection::ReleaseNotFilled { id: d.id()? },
        24 => Rejection::ReleaseWorking { id: d.id()?, frozen: d.amount()? },
        25 => Rejection::LiveOrders { book: d.book()?, orders: d.u32()? },
        26 => Rejection::ExceedsAllocation { slot: d.u8()?, direct: d.amount()?, amount: d.amount()? },
        27 => Rejection::ForcedReduce { slot: d.u8()?, loss: d.amount()?, loss_limit: d.amount()? },
        28 => Rejection::ExceedsNominalCap { committed: d.amount()?, amount: d.amount()?, cap: d.amount()? },
        29 => {
            Rejection::ExceedsReserveRatio { committed: d.amount()?, amount: d.amount()?, limit: d.amount()? }
        }
        30 => Rejection::ExceedsCreditLimit {
            pool: d.amount()?,
            amount: d.amount()?,
            credit_limit: d.amount()?,
        },
        31 => Rejection::Overflow,
        32 => {
            let at = d.pos;
            let kind = *CommandKind::ALL
                .get(usize::from(d.u8()?))
                .ok_or(CodecError { offset: at, what: "bad command kind" })?;
            Rejection::NotGranted { kind, book: d.opt_book()?, slot: d.opt_u8()? }
        }
        33 => Rejection::SellNotReserved { id: d.id()? },
        34 => Rejection::OrderExpired { id: d.id()? },
        35 => Rejection::FillExceedsAmount { id: d.id()?, amount: d.amount()?, filled: d.amount()? },
        36 => Rejection::RequestExpired { request: d.u64()?, watermark: d.u64()? },
        37 => Rejection::LinkLength { parts: d.u32()?, max: d.u32()? },
        38 => Rejection::NotLinkable { part: d.u32()? },
        _ => return d.fail("bad rejection tag"),
    };
    d.finished()?;
    Ok(rejection)
}
