//! Grants: what a client of the vault may do. A grant names command kinds, and optionally the
//! books and slots those commands may touch; an order command (fill, cancel, release) touches
//! the book and slot of the order it names, as the ledger holds it.

use serde::{Deserialize, Serialize};

use crate::ledger::book::BookId;
use crate::ledger::command::Command;
use crate::ledger::machine::Ledger;
use crate::ledger::rejection::Rejection;

/// The kind of a [`Command`], as grants name it (the same names as the commands' JSON `op`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// [`Command::OpenBook`].
    OpenBook,
    /// [`Command::ConfigureStrategy`].
    ConfigureStrategy,
    /// [`Command::SetCreditLimit`].
    SetCreditLimit,
    /// [`Command::Reset`].
    Reset,
    /// [`Command::Set`].
    Set,
    /// [`Command::Adjust`].
    Adjust,
    /// [`Command::Allocate`].
    Allocate,
    /// [`Command::Release`].
    Release,
    /// [`Command::Trade`].
    Trade,
    /// [`Command::Reserve`].
    Reserve,
    /// [`Command::Fill`].
    Fill,
    /// [`Command::Cancel`].
    Cancel,
    /// [`Command::ReleaseOrder`].
    ReleaseOrder,
    /// [`Command::RecordAlpha`].
    RecordAlpha,
    /// [`Command::MarkLoss`].
    MarkLoss,
    /// [`Command::FillTo`].
    FillTo,
    /// [`Command::Expire`].
    Expire,
    /// [`Command::ClaimSignal`].
    ClaimSignal,
    /// [`Command::ConsumeSignal`].
    ConsumeSignal,
}

impl CommandKind {
    /// Every kind, in declaration order.
    pub const ALL: [CommandKind; 19] = [
        CommandKind::OpenBook,
        CommandKind::ConfigureStrategy,
        CommandKind::SetCreditLimit,
        CommandKind::Reset,
        CommandKind::Set,
        CommandKind::Adjust,
        CommandKind::Allocate,
        CommandKind::Release,
        CommandKind::Trade,
        CommandKind::Reserve,
        CommandKind::Fill,
        CommandKind::Cancel,
        CommandKind::ReleaseOrder,
        CommandKind::RecordAlpha,
        CommandKind::MarkLoss,
        CommandKind::FillTo,
        CommandKind::Expire,
        CommandKind::ClaimSignal,
        CommandKind::ConsumeSignal,
    ];

    /// What a strategy process does with its own slot: reserve, fill (either way), cancel,
    /// release orders.
    pub const STRATEGY: [CommandKind; 5] = [
        CommandKind::Reserve,
        CommandKind::Fill,
        CommandKind::FillTo,
        CommandKind::Cancel,
        CommandKind::ReleaseOrder,
    ];

    /// The kind's name: the command's JSON `op` (`allocate`, `release_order`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            CommandKind::OpenBook => "open_book",
            CommandKind::ConfigureStrategy => "configure_strategy",
            CommandKind::SetCreditLimit => "set_credit_limit",
            CommandKind::Reset => "reset",
            CommandKind::Set => "set",
            CommandKind::Adjust => "adjust",
            CommandKind::Allocate => "allocate",
            CommandKind::Release => "release",
            CommandKind::Trade => "trade",
            CommandKind::Reserve => "reserve",
            CommandKind::Fill => "fill",
            CommandKind::Cancel => "cancel",
            CommandKind::ReleaseOrder => "release_order",
            CommandKind::RecordAlpha => "record_alpha",
            CommandKind::MarkLoss => "mark_loss",
            CommandKind::FillTo => "fill_to",
            CommandKind::Expire => "expire",
            CommandKind::ClaimSignal => "claim_signal",
            CommandKind::ConsumeSignal => "consume_signal",
        }
    }

    /// The kind of `command`.
    #[must_use]
    pub const fn of(command: &Command) -> CommandKind {
        match command {
            Command::OpenBook { .. } => CommandKind::OpenBook,
            Command::ConfigureStrategy { .. } => CommandKind::ConfigureStrategy,
            Command::SetCreditLimit { .. } => CommandKind::SetCreditLimit,
            Command::Reset { .. } => CommandKind::Reset,
            Command::Set { .. } => CommandKind::Set,
            Command::Adjust { .. } => CommandKind::Adjust,
            Command::Allocate { .. } => CommandKind::Allocate,
            Command::Release { .. } => CommandKind::Release,
            Command::Trade { .. } => CommandKind::Trade,
            Command::Reserve { .. } => CommandKind::Reserve,
            Command::Fill { .. } => CommandKind::Fill,
            Command::Cancel { .. } => CommandKind::Cancel,
            Command::ReleaseOrder { .. } => CommandKind::ReleaseOrder,
            Command::RecordAlpha { .. } => CommandKind::RecordAlpha,
            Command::MarkLoss { .. } => CommandKind::MarkLoss,
            Command::FillTo { .. } => CommandKind::FillTo,
            Command::Expire { .. } => CommandKind::Expire,
            Command::ClaimSignal { .. } => CommandKind::ClaimSignal,
            Command::ConsumeSignal { .. } => CommandKind::ConsumeSignal,
        }
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// What one client may do: which command kinds, on which books and slots.
///
/// A `None` book or slot set means "any". A command that names no book (set a credit limit,
/// open a book, a trade across two books) passes only a grant with no book restriction; a command that names no slot
/// (reset, trade) passes only a grant with no slot restriction.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Command, CommandKind, Grant, Ledger, LedgerConfig, Rejection, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 }, { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// let grid = Grant::strategy(BookId::new(0), 2);   // reserve, fill, cancel, release on slot 2
/// let reserve = |slot| Command::Reserve { id: "1790000000000000001".parse().unwrap(), book: BookId::new(0), slot, side: Side::Buy, layer: 1, amount: "10".parse().unwrap() };
/// assert_eq!(grid.permits(&reserve(2), &ledger), Ok(()));
/// assert!(matches!(grid.permits(&reserve(3), &ledger), Err(Rejection::NotGranted { kind: CommandKind::Reserve, .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The command kinds allowed.
    pub kinds: Vec<CommandKind>,
    /// The books allowed (`None`: every book).
    #[serde(default)]
    pub books: Option<Vec<BookId>>,
    /// The slots allowed in those books (`None`: every slot).
    #[serde(default)]
    pub slots: Option<Vec<u8>>,
}

impl Grant {
    /// Everything: an operator's tool.
    #[must_use]
    pub fn all() -> Grant {
        Grant { kinds: CommandKind::ALL.to_vec(), books: None, slots: None }
    }

    /// A strategy process: reserve, fill, cancel and release orders on its own slot only.
    #[must_use]
    pub fn strategy(book: BookId, slot: u8) -> Grant {
        Grant { kinds: CommandKind::STRATEGY.to_vec(), books: Some(vec![book]), slots: Some(vec![slot]) }
    }

    /// The grant in the form the owner checks: bit sets, no allocation.
    #[must_use]
    pub fn compile(&self) -> GrantMask {
        let mut mask = GrantMask { kinds: 0, books: None, slots: None };
        for kind in &self.kinds {
            mask.kinds |= kind.bit();
        }
        if let Some(books) = &self.books {
            // Books past 255 are refused outright (a mask of 256 bits); `Limits::books_max`
            // allows more only in configurations no grant names.
            let mut bits = [0_u64; 4];
            for book in books {
                if book.index() < 256 {
                    bits[book.index() / 64] |= 1 << (book.index() % 64);
                }
            }
            mask.books = Some(bits);
        }
        if let Some(slots) = &self.slots {
            mask.slots =
                Some(slots.iter().filter(|&&slot| slot < 64).fold(0, |bits, &slot| bits | (1 << slot)));
        }
        mask
    }

    /// `Ok` if this grant allows `command` against `ledger` as it stands.
    ///
    /// # Errors
    /// [`Rejection::NotGranted`] naming the kind and the book and slot it touches.
    pub fn permits(&self, command: &Command, ledger: &Ledger) -> Result<(), Rejection> {
        self.compile().permits(command, ledger)
    }
}

/// A compiled [`Grant`]: checked per command on the owner thread.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GrantMask {
    kinds: u32,
    books: Option<[u64; 4]>,
    slots: Option<u64>,
}

impl GrantMask {
    /// Allows nothing: a client whose grant is gone.
    pub const NONE: GrantMask = GrantMask { kinds: 0, books: Some([0; 4]), slots: Some(0) };

    /// See [`Grant::permits`].
    ///
    /// # Errors
    /// [`Rejection::NotGranted`].
    pub fn permits(&self, command: &Command, ledger: &Ledger) -> Result<(), Rejection> {
        let kind = CommandKind::of(command);
        let (book, slot) = target(command, ledger);
        let denied = || Rejection::NotGranted { kind, book, slot };
        if self.kinds & kind.bit() == 0 {
            return Err(denied());
        }
        if let Some(books) = self.books {
            let allowed = book.is_some_and(|book| {
                book.index() < 256 && books[book.index() / 64] & (1 << (book.index() % 64)) != 0
            });
            if !allowed {
                return Err(denied());
            }
        }
        if let Some(slots) = self.slots {
            if !slot.is_some_and(|slot| slot < 64 && slots & (1 << slot) != 0) {
                return Err(denied());
            }
        }
        Ok(())
    }
}

/// The book and slot a command touches. An order command touches its order's; an order the
/// ledger does not hold touches nothing, so only an unrestricted grant lets it through to be
/// rejected as unknown.
fn target(command: &Command, ledger: &Ledger) -> (Option<BookId>, Option<u8>) {
    match *command {
        Command::OpenBook { .. }
        | Command::SetCreditLimit { .. }
        | Command::ClaimSignal { .. }
        | Command::ConsumeSignal { .. } => (None, None),
        Command::Reset { book, .. } => (Some(book), None),
        Command::Trade { book_a, book_b, .. } => (if book_a == book_b { Some(book_a) } else { None }, None),
        Command::ConfigureStrategy { book, slot, .. }
        | Command::Set { book, slot, .. }
        | Command::Adjust { book, slot, .. }
        | Command::Allocate { book, slot, .. }
        | Command::Release { book, slot, .. }
        | Command::Reserve { book, slot, .. }
        | Command::RecordAlpha { book, slot, .. }
        | Command::MarkLoss { book, slot, .. } => (Some(book), Some(slot)),
        Command::Fill { id, .. }
        | Command::FillTo { id, .. }
        | Command::Cancel { id }
        | Command::Expire { id }
        | Command::ReleaseOrder { id } => {
            ledger.order(id).map_or((None, None), |order| (Some(order.book()), Some(order.slot())))
        }
    }
}
