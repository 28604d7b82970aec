//! The shared-memory layout: `#[repr(C)]` records of 64-bit words, documented byte by byte in
//! `docs/shm-layout.md`. The records are never built in memory; they fix the offsets and sizes
//! (checked at compile time) that encoding and decoding use, word by word.

use std::mem::{offset_of, size_of};

use crate::ledger::book::{
    Book, BookId, BookSpec, SellRule, Strategy, StrategyConfig, SLOTS_MAX, SLOT_FIRST_STRATEGY,
};
use crate::ledger::code::{Currency, Label, Venue};
use crate::ledger::money::Amount;
use crate::ledger::order::{Order, OrderState, Side};
use crate::ledger::order_id::ClientOrderId;
use crate::ledger::ratio::Ratio;
use crate::ledger::view::{PenaltyConfig, StepPenalty};
use crate::runtime::snapshot::{Snapshot, Stats};

/// `b"CAPVAULT"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"CAPVAULT");
/// The layout version this build writes and reads.
/// Version 2 added the `repeated` and `outcomes_dropped` counters and the failed flag; version 4
/// the latency summary (the header grew from 128 to 448 bytes).
pub const LAYOUT_VERSION: u32 = 4;
/// Strategy records per book: slots 2..64.
pub const STRATEGIES_PER_BOOK: usize = SLOTS_MAX as usize - SLOT_FIRST_STRATEGY as usize;

/// Metrics in the header's latency summary.
pub const LATENCY_METRICS: usize = crate::runtime::Metric::ALL.len();
/// Words per metric in the latency summary: count, p50, p99, p99.9, max.
pub const LATENCY_FIELDS: usize = 5;

/// The file header: 56 words, 448 bytes.
#[repr(C)]
pub struct Header {
    /// `MAGIC`.
    pub magic: u64,
    /// Low 32 bits: `LAYOUT_VERSION`; high 32 bits: header size in bytes (128).
    pub version_and_header_size: u64,
    /// The file's size in bytes.
    pub total_size: u64,
    /// The writer's process id.
    pub writer_pid: u64,
    /// Unix time in nanoseconds, refreshed by the writer's mirror thread. Outside the seqlock.
    pub heartbeat_ns: u64,
    /// The seqlock sequence: odd while a write is in progress.
    pub seq: u64,
    /// Low 32 bits: books the file holds; high 32 bits: strategy records per book (62).
    pub books_max_and_strategies: u64,
    /// Order records the file holds.
    pub orders_max: u64,
    /// Low 32 bits: books in use; high 32 bits: live orders in use. Seqlock-protected.
    pub books_and_orders: u64,
    /// The snapshot's `seq` (accepted commands). Seqlock-protected.
    pub snapshot_seq: u64,
    /// Commands accepted. Seqlock-protected.
    pub accepted: u64,
    /// Commands rejected. Seqlock-protected.
    pub rejected: u64,
    /// Batches published. Seqlock-protected.
    pub batches: u64,
    /// Bit 0: the writer closed the file cleanly (an orderly shutdown: the figures are final).
    /// Bit 1: the writer's vault failed (owner panic, journal failure): the figures are the last
    /// published before it. Outside the seqlock.
    pub flags: u64,
    /// Idempotent repeats answered. Seqlock-protected.
    pub repeated: u64,
    /// Detached outcomes dropped for a full queue. Seqlock-protected.
    pub outcomes_dropped: u64,
    /// The vault's latency summary, refreshed by the mirror thread at each heartbeat: per
    /// metric in `Metric::ALL` order (queue, apply, journal, publish, shm, `round_trip`, batch,
    /// depth) five words, count, p50, p99, p99.9 and max (nanoseconds, or commands for batch and
    /// depth). Seqlock-protected.
    pub latency: [[u64; LATENCY_FIELDS]; LATENCY_METRICS],
}

/// A strategy record: 10 words, 80 bytes.
#[repr(C)]
pub struct StrategyRecord {
    /// The label, ASCII, zero-padded; all zero for none.
    pub label: [u64; 2],
    /// Frozen, raw 10^-8 units.
    pub frozen: i64,
    /// Used.
    pub used: i64,
    /// Direct allocation (part of used).
    pub direct: i64,
    /// Accumulated alpha.
    pub acc_alpha: i64,
    /// Last marked floating loss.
    pub float_loss: i64,
    /// Nominal cap, or `i64::MIN` for none.
    pub cap: i64,
    /// Loss limit.
    pub loss_limit: i64,
    /// Low 32 bits: flags (bit 0 forced-reduce); high 32 bits: live orders.
    pub flags_and_orders: u64,
}

/// A book record: 630 words, 5040 bytes.
#[repr(C)]
pub struct BookRecord {
    /// The venue, ASCII, zero-padded.
    pub venue: [u64; 2],
    /// The currency, ASCII, zero-padded.
    pub currency: u64,
    /// Low 32 bits: slot count; high 32 bits: flags (bit 0 penalty on, bit 1 unrecoverable, bit 2
    /// sells spend the book's currency) and, in bits 8..16, the minor unit's decimal places.
    pub slot_count_and_flags: u64,
    /// Slot 0, raw units.
    pub total: i64,
    /// Slot 1.
    pub pool: i64,
    /// The currency's credit limit.
    pub credit_limit: i64,
    /// Low 32 bits: reserve ratio ppm; high 32 bits: penalty enter ppm.
    pub reserve_and_enter_ppm: u64,
    /// Low 32 bits: penalty leave ppm; high 32 bits: penalty multiplier ppm.
    pub leave_and_multiplier_ppm: u64,
    /// Live orders drawing on the book.
    pub orders_live: u64,
    /// Slots 2..64 in order; only the first `slot_count - 2` are meaningful.
    pub strategies: [StrategyRecord; STRATEGIES_PER_BOOK],
}

/// An order record: 8 words, 64 bytes.
#[repr(C)]
pub struct OrderRecord {
    /// Byte 0: id kind (1 uuid, 2 snowflake); byte 1: side (1 buy, 2 sell); byte 2: state
    /// (1 pending, 2 partially filled, 3 filled, 4 cancelled); byte 3: slot; bytes 4-5: book.
    pub tag: u64,
    /// Uuid: the high 64 bits; snowflake: 0.
    pub id_high: u64,
    /// Uuid: the low 64 bits; snowflake: the value.
    pub id_low: u64,
    /// The grid layer.
    pub layer: u64,
    /// The amount reserved.
    pub amount: i64,
    /// Still frozen.
    pub frozen: i64,
    /// Used.
    pub used: i64,
    /// Zero.
    pub reserved: u64,
}

const _: () = assert!(size_of::<Header>() == 448);
const _: () = assert!(size_of::<StrategyRecord>() == 80);
const _: () = assert!(size_of::<BookRecord>() == 80 + STRATEGIES_PER_BOOK * 80);
const _: () = assert!(size_of::<BookRecord>() == 5040);
const _: () = assert!(size_of::<OrderRecord>() == 64);
const _: () = assert!(offset_of!(Header, seq) == 40);
const _: () = assert!(offset_of!(BookRecord, strategies) == 80);

/// Words in the header.
pub const HEADER_WORDS: usize = size_of::<Header>() / 8;
const BOOK_WORDS: usize = size_of::<BookRecord>() / 8;
const STRATEGY_WORDS: usize = size_of::<StrategyRecord>() / 8;
const ORDER_WORDS: usize = size_of::<OrderRecord>() / 8;

/// The word index of a field.
macro_rules! word {
    ($record:ty, $field:ident) => {
        ::std::mem::offset_of!($record, $field) / 8
    };
}
pub(crate) use word;

/// The word index of the sequence in the header.
pub const SEQ_WORD: usize = word!(Header, seq);
/// The word index of the snapshot's `seq`.
pub const SNAPSHOT_SEQ_WORD: usize = word!(Header, snapshot_seq);
/// The word holding the writer's process id.
pub const WRITER_PID_WORD: usize = word!(Header, writer_pid);
/// The header's size in bytes.
pub const HEADER_BYTES: u64 = size_of::<Header>() as u64;
/// The word index of the heartbeat.
pub const HEARTBEAT_WORD: usize = word!(Header, heartbeat_ns);
/// The word index of the latency summary's first word.
pub const LATENCY_WORD: usize = word!(Header, latency);
/// The word index of the flags.
pub const FLAGS_WORD: usize = word!(Header, flags);
/// Flag: the writer closed the file cleanly.
pub const FLAG_CLOSED: u64 = 1;
/// Flag: the writer's vault failed.
pub const FLAG_FAILED: u64 = 2;

/// What a file holds, fixed when the writer creates it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Geometry, ShmWriter};
/// let path = std::env::temp_dir().join(format!("capvault-doc-geometry-{}", std::process::id()));
/// let writer = ShmWriter::create(&path, Geometry { books_max: 4, orders_max: 1024 })?;
/// assert_eq!(writer.geometry().orders_max, 1024);
/// # drop(writer); std::fs::remove_file(&path)?; let _ = std::fs::remove_file(format!("{}.lock", path.display()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Geometry {
    /// Book records.
    pub books_max: usize,
    /// Order records.
    pub orders_max: usize,
}

impl Geometry {
    /// The file size in bytes.
    #[must_use]
    pub const fn total_size(&self) -> usize {
        size_of::<Header>()
            + self.books_max * size_of::<BookRecord>()
            + self.orders_max * size_of::<OrderRecord>()
    }

    const fn book_word(book: usize) -> usize {
        HEADER_WORDS + book * BOOK_WORDS
    }

    const fn order_word(&self, order: usize) -> usize {
        HEADER_WORDS + self.books_max * BOOK_WORDS + order * ORDER_WORDS
    }

    /// The header words a writer sets once, at creation.
    pub(crate) fn header(&self, pid: u32) -> [(usize, u64); 6] {
        [
            (word!(Header, magic), MAGIC),
            (
                word!(Header, version_and_header_size),
                u64::from(LAYOUT_VERSION) | ((size_of::<Header>() as u64) << 32),
            ),
            (word!(Header, total_size), self.total_size() as u64),
            (word!(Header, writer_pid), u64::from(pid)),
            (
                word!(Header, books_max_and_strategies),
                self.books_max as u64 | ((STRATEGIES_PER_BOOK as u64) << 32),
            ),
            (word!(Header, orders_max), self.orders_max as u64),
        ]
    }
}

fn pack2(bytes: &[u8; 16]) -> [u64; 2] {
    let mut low = [0; 8];
    let mut high = [0; 8];
    low.copy_from_slice(&bytes[..8]);
    high.copy_from_slice(&bytes[8..]);
    [u64::from_le_bytes(low), u64::from_le_bytes(high)]
}

fn unpack2(words: [u64; 2]) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&words[0].to_le_bytes());
    bytes[8..].copy_from_slice(&words[1].to_le_bytes());
    bytes
}

fn low(word: u64) -> u32 {
    word as u32
}

fn high(word: u64) -> u32 {
    (word >> 32) as u32
}

fn pair(low: u32, high: u32) -> u64 {
    u64::from(low) | (u64::from(high) << 32)
}

/// Writes a snapshot's figures through `set(word, value)`, every book and every order, the
/// orders in the snapshot's order. Books beyond `books_max` and orders beyond `orders_max` cannot
/// occur: the file is sized from the ledger's limits.
pub(crate) fn encode(geometry: &Geometry, snapshot: &Snapshot, mut set: impl FnMut(usize, u64)) {
    let books = snapshot.books().len().min(geometry.books_max);
    let orders = snapshot.orders().len().min(geometry.orders_max);
    encode_header(snapshot, books, orders, &mut set);
    for (index, book) in snapshot.books().iter().take(books).enumerate() {
        encode_book(index, book, &mut set);
    }
    for (index, order) in snapshot.orders().take(orders).enumerate() {
        encode_order(geometry, index, order, &mut set);
    }
}

/// The header's seqlocked words: counts, `seq` and the counters.
pub(crate) fn encode_header(
    snapshot: &Snapshot,
    books: usize,
    orders: usize,
    set: &mut impl FnMut(usize, u64),
) {
    let stats = snapshot.stats();
    set(word!(Header, books_and_orders), pair(books as u32, orders as u32));
    set(word!(Header, snapshot_seq), snapshot.seq());
    set(word!(Header, accepted), stats.accepted);
    set(word!(Header, rejected), stats.rejected);
    set(word!(Header, batches), stats.batches);
    set(word!(Header, repeated), stats.repeated);
    set(word!(Header, outcomes_dropped), stats.outcomes_dropped);
}

/// The words of order record `index`, for moving a record.
pub(crate) fn order_words(geometry: &Geometry, index: usize) -> std::ops::Range<usize> {
    let base = geometry.order_word(index);
    base..base + ORDER_WORDS
}

/// Book record `index`, its strategies included.
pub(crate) fn encode_book(index: usize, book: &Book, set: &mut impl FnMut(usize, u64)) {
    let base = Geometry::book_word(index);
    let spec = book.spec();
    let [venue_low, venue_high] = pack2(spec.venue.as_bytes());
    set(base + word!(BookRecord, venue), venue_low);
    set(base + word!(BookRecord, venue) + 1, venue_high);
    set(base + word!(BookRecord, currency), u64::from_le_bytes(*spec.currency.as_bytes()));
    let flags = u32::from(book.penalty().is_active())
        | (u32::from(book.health() != crate::ledger::Health::Sound) << 1)
        | (u32::from(spec.sells == SellRule::Spend) << 2)
        | (u32::from(spec.decimals) << 8);
    set(base + word!(BookRecord, slot_count_and_flags), pair(u32::from(spec.slot_count), flags));
    set(base + word!(BookRecord, total), book.total().raw() as u64);
    set(base + word!(BookRecord, pool), book.pool().raw() as u64);
    set(base + word!(BookRecord, credit_limit), book.credit_limit().raw() as u64);
    set(
        base + word!(BookRecord, reserve_and_enter_ppm),
        pair(spec.reserve_ratio.ppm(), spec.penalty.enter.ppm()),
    );
    set(
        base + word!(BookRecord, leave_and_multiplier_ppm),
        pair(spec.penalty.leave.ppm(), spec.penalty.multiplier.ppm()),
    );
    set(base + word!(BookRecord, orders_live), u64::from(book.orders_live()));
    for (slot, strategy) in book.strategies() {
        let s =
            base + word!(BookRecord, strategies) + usize::from(slot - SLOT_FIRST_STRATEGY) * STRATEGY_WORDS;
        encode_strategy(s, strategy, set);
    }
}

/// One strategy's record, from word `s`.
fn encode_strategy(s: usize, strategy: &Strategy, set: &mut impl FnMut(usize, u64)) {
    let config = strategy.config();
    let [label_low, label_high] = config.label.map_or([0, 0], |label| pack2(label.as_bytes()));
    set(s + word!(StrategyRecord, label), label_low);
    set(s + word!(StrategyRecord, label) + 1, label_high);
    set(s + word!(StrategyRecord, frozen), strategy.frozen().raw() as u64);
    set(s + word!(StrategyRecord, used), strategy.used().raw() as u64);
    set(s + word!(StrategyRecord, direct), strategy.direct().raw() as u64);
    set(s + word!(StrategyRecord, acc_alpha), strategy.acc_alpha().raw() as u64);
    set(s + word!(StrategyRecord, float_loss), strategy.float_loss().raw() as u64);
    set(s + word!(StrategyRecord, cap), config.cap.map_or(i64::MIN, Amount::raw) as u64);
    set(s + word!(StrategyRecord, loss_limit), config.loss_limit.raw() as u64);
    set(
        s + word!(StrategyRecord, flags_and_orders),
        pair(u32::from(strategy.is_forced_reduce()), strategy.orders_live()),
    );
}

/// Order record `index`.
pub(crate) fn encode_order(
    geometry: &Geometry,
    index: usize,
    order: &Order,
    set: &mut impl FnMut(usize, u64),
) {
    let base = geometry.order_word(index);
    let kind = match order.id() {
        ClientOrderId::Uuid(_) => 1_u64,
        ClientOrderId::Snowflake(_) => 2,
    };
    let (id_high, id_low) = order.id().words();
    let side = u64::from(order.side().code());
    let state = u64::from(order.state().code());
    let tag = kind
        | (side << 8)
        | (state << 16)
        | (u64::from(order.slot()) << 24)
        | ((order.book().index() as u64) << 32);
    set(base + word!(OrderRecord, tag), tag);
    set(base + word!(OrderRecord, id_high), id_high);
    set(base + word!(OrderRecord, id_low), id_low);
    set(base + word!(OrderRecord, layer), u64::from(order.layer()));
    set(base + word!(OrderRecord, amount), order.amount().raw() as u64);
    set(base + word!(OrderRecord, frozen), order.frozen().raw() as u64);
    set(base + word!(OrderRecord, used), order.used().raw() as u64);
}

/// The words a reader copies: the header, the books in use and the order records in use, as
/// the counts word says (clamped to the file; `decode` rejects counts beyond it).
pub(crate) fn in_use(geometry: &Geometry, get: &dyn Fn(usize) -> u64) -> [std::ops::Range<usize>; 3] {
    let counts = get(word!(Header, books_and_orders));
    let books = (low(counts) as usize).min(geometry.books_max);
    let orders = (high(counts) as usize).min(geometry.orders_max);
    let orders_start = geometry.order_word(0);
    [
        0..HEADER_WORDS,
        Geometry::book_word(0)..Geometry::book_word(books),
        orders_start..orders_start + orders * ORDER_WORDS,
    ]
}

/// Why words did not decode into a snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DecodeError {
    /// The word that is out of range.
    pub word: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn bad(word: usize, reason: &'static str) -> DecodeError {
    DecodeError { word, reason }
}

fn amount(word: usize, value: u64) -> Result<Amount, DecodeError> {
    Amount::from_raw(value as i64).ok_or(bad(word, "amount out of range"))
}

/// The checks a reader makes on a book before trusting its figures: every strategy's frozen,
/// used and direct non-negative, `direct <= used`, and `total == pool + Σ(frozen + used)`, summed
/// in i128 so that no crafted figures can overflow. `examples/read_shm.py` makes the same checks.
fn check_book(base: usize, book: &Book) -> Result<(), DecodeError> {
    let mut sum = i128::from(book.pool.raw());
    for (index, s) in book.strategies.iter().enumerate() {
        let at = base + word!(BookRecord, strategies) + index * STRATEGY_WORDS;
        if s.frozen.is_negative() || s.used.is_negative() || s.direct.is_negative() {
            return Err(bad(at + word!(StrategyRecord, frozen), "negative frozen, used or direct"));
        }
        if s.direct > s.used {
            return Err(bad(at + word!(StrategyRecord, direct), "direct above used"));
        }
        sum += i128::from(s.frozen.raw()) + i128::from(s.used.raw());
    }
    if i128::from(book.total.raw()) != sum {
        return Err(bad(base + word!(BookRecord, total), "total != pool + committed"));
    }
    Ok(())
}

/// Reads a snapshot back through `get(word)`, checking every field.
pub(crate) fn decode(geometry: &Geometry, get: &dyn Fn(usize) -> u64) -> Result<Snapshot, DecodeError> {
    let counts_word = word!(Header, books_and_orders);
    let counts = get(counts_word);
    let (books_count, orders_count) = (low(counts) as usize, high(counts) as usize);
    if books_count > geometry.books_max || orders_count > geometry.orders_max {
        return Err(bad(counts_word, "more books or orders than the file holds"));
    }
    let stats = Stats {
        accepted: get(word!(Header, accepted)),
        rejected: get(word!(Header, rejected)),
        batches: get(word!(Header, batches)),
        repeated: get(word!(Header, repeated)),
        outcomes_dropped: get(word!(Header, outcomes_dropped)),
    };
    let books = (0..books_count).map(|index| decode_book(index, get)).collect::<Result<Vec<_>, _>>()?;
    let orders = (0..orders_count)
        .map(|index| decode_order(geometry.order_word(index), books_count, get))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot::from_parts(get(word!(Header, snapshot_seq)), books, &orders, stats))
}

/// The words a reader of book `index` alone copies under the seqlock: the header's, then the
/// book's record. Copied first and decoded after ([`decode_one_book`]), as whole snapshots are:
/// a try lasts as long as the copy, and decoding never sees a torn value.
pub(crate) fn one_book_words(index: usize) -> std::ops::Range<usize> {
    Geometry::book_word(index)..Geometry::book_word(index) + BOOK_WORDS
}

/// The snapshot's `seq` and book `index` alone (`None` past the books in use), from the header
/// and the book's record read through `get`: a reader that wants one book copies its record,
/// not every order.
pub(crate) fn decode_one_book(
    geometry: &Geometry,
    index: usize,
    get: &dyn Fn(usize) -> u64,
) -> Result<(u64, Option<Book>), DecodeError> {
    let counts_word = word!(Header, books_and_orders);
    let books_count = low(get(counts_word)) as usize;
    if books_count > geometry.books_max {
        return Err(bad(counts_word, "more books than the file holds"));
    }
    let seq = get(word!(Header, snapshot_seq));
    let book = if index < books_count { Some(decode_book(index, get)?) } else { None };
    Ok((seq, book))
}

/// Book `index`, its strategies included, checked against its invariant.
fn decode_book(index: usize, get: &dyn Fn(usize) -> u64) -> Result<Book, DecodeError> {
    let base = Geometry::book_word(index);
    let code = |offset: usize| bad(base + offset, "not a valid code");
    let venue = Venue::from_bytes(&unpack2([get(base), get(base + 1)])).map_err(|_| code(0))?;
    let currency_word = word!(BookRecord, currency);
    let currency =
        Currency::from_bytes(&get(base + currency_word).to_le_bytes()).map_err(|_| code(currency_word))?;
    let count_word = word!(BookRecord, slot_count_and_flags);
    let count_and_flags = get(base + count_word);
    let slot_count = u8::try_from(low(count_and_flags))
        .ok()
        .filter(|count| (SLOT_FIRST_STRATEGY..=SLOTS_MAX).contains(count))
        .ok_or(bad(base + count_word, "slot count out of range"))?;
    let ratios = get(base + word!(BookRecord, reserve_and_enter_ppm));
    let ratios2 = get(base + word!(BookRecord, leave_and_multiplier_ppm));
    let penalty = PenaltyConfig {
        enter: Ratio::from_ppm(high(ratios)),
        leave: Ratio::from_ppm(low(ratios2)),
        multiplier: Ratio::from_ppm(high(ratios2)),
    };
    let decimals = ((high(count_and_flags) >> 8) & 0xff) as u8;
    if u32::from(decimals) > Amount::DECIMALS {
        return Err(bad(base + count_word, "minor unit out of range"));
    }
    let reserve_ratio = Ratio::from_ppm(low(ratios));
    let sells = if high(count_and_flags) & 0b100 == 0 { SellRule::HoldNothing } else { SellRule::Spend };
    let spec = BookSpec { venue, currency, slot_count, reserve_ratio, penalty, decimals, sells };
    let field = |name: usize| amount(base + name, get(base + name));
    let strategies = (0..usize::from(slot_count - SLOT_FIRST_STRATEGY))
        .map(|slot| decode_strategy(base + word!(BookRecord, strategies) + slot * STRATEGY_WORDS, get))
        .collect::<Result<Vec<_>, _>>()?;
    let mut book = Book {
        id: BookId::new(index as u16),
        spec,
        credit_limit: field(word!(BookRecord, credit_limit))?,
        total: field(word!(BookRecord, total))?,
        pool: field(word!(BookRecord, pool))?,
        strategies,
        penalty: StepPenalty::restore(penalty, high(count_and_flags) & 1 == 1),
        orders_live: get(base + word!(BookRecord, orders_live)) as u32,
        sums: (0, 0),
    };
    book.sums = book.recount();
    check_book(base, &book)?;
    Ok(book)
}

/// The strategy whose record starts at word `s`.
fn decode_strategy(s: usize, get: &dyn Fn(usize) -> u64) -> Result<Strategy, DecodeError> {
    let field = |name: usize| amount(s + name, get(s + name));
    let label_words = [get(s), get(s + 1)];
    let label = if label_words == [0, 0] {
        None
    } else {
        Some(Label::from_bytes(&unpack2(label_words)).map_err(|_| bad(s, "not a valid label"))?)
    };
    let cap_word = word!(StrategyRecord, cap);
    let cap = match get(s + cap_word) as i64 {
        i64::MIN => None,
        _ => Some(field(cap_word)?),
    };
    let flags_and_orders = get(s + word!(StrategyRecord, flags_and_orders));
    Ok(Strategy {
        config: StrategyConfig { label, cap, loss_limit: field(word!(StrategyRecord, loss_limit))? },
        frozen: field(word!(StrategyRecord, frozen))?,
        used: field(word!(StrategyRecord, used))?,
        direct: field(word!(StrategyRecord, direct))?,
        acc_alpha: field(word!(StrategyRecord, acc_alpha))?,
        float_loss: field(word!(StrategyRecord, float_loss))?,
        orders_live: high(flags_and_orders),
    })
}

/// The order whose record starts at word `base`, in one of the `books_count` books.
fn decode_order(base: usize, books_count: usize, get: &dyn Fn(usize) -> u64) -> Result<Order, DecodeError> {
    let bad = bad(base, "bad order tag or id");
    let tag = get(base);
    let id = match tag & 0xff {
        1 => ClientOrderId::uuid((u128::from(get(base + 1)) << 64) | u128::from(get(base + 2))),
        2 => ClientOrderId::snowflake(get(base + 2)),
        _ => return Err(bad),
    }
    .map_err(|_| bad)?;
    let side = Side::from_code(((tag >> 8) & 0xff) as u8).ok_or(bad)?;
    let state = OrderState::from_code(((tag >> 16) & 0xff) as u8).ok_or(bad)?;
    let book = ((tag >> 32) & 0xffff) as u16;
    if usize::from(book) >= books_count {
        return Err(bad);
    }
    let field = |name: usize| amount(base + name, get(base + name));
    Ok(Order {
        id,
        book: BookId::new(book),
        slot: ((tag >> 24) & 0xff) as u8,
        side,
        layer: get(base + word!(OrderRecord, layer)) as u32,
        amount: field(word!(OrderRecord, amount))?,
        frozen: field(word!(OrderRecord, frozen))?,
        used: field(word!(OrderRecord, used))?,
        state,
    })
}
