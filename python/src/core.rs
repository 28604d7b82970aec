//! `Core`: one way into a vault, embedded (the owner thread runs in this process) or a client of
//! a vault in another process (the gateway). Both answer the same commands; the Python classes
//! `capvault.Vault` and `capvault.connect` wrap it.
//!
//! Every submit releases the GIL while it waits. An embedded core keeps a pool of handles (one
//! blocking submit in flight per handle), so Python threads submitting at once reach the owner
//! together and share its batches (one `fdatasync` per batch under `FsyncBatch`). A client has one
//! place at the vault: its submits take turns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use capvault::{
    Amount, BookId, Builder, Client, Command, Currency, Durability, Grant, Handle, Label, LedgerConfig,
    LinkedError, Reader, Receipt, ServeConfig, Snapshot as LedgerSnapshot, StrategyConfig, SubmitError,
    WaitStrategy,
};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use crate::convert;
use crate::errors;
use crate::views::{Outcome, Snapshot};

/// Forks of this process so far, as seen from the child (`after_fork_in_child`, registered
/// with `os.register_at_fork` by the package). A core made before a fork belongs to the parent:
/// in the child its vault's owner thread does not exist and its client place is the parent's,
/// so every call there fails at once instead of hanging or reading the parent's answers.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Called in the child after `os.fork()` (and multiprocessing's "fork" start method).
pub fn after_fork_in_child() {
    // Relaxed: the child has one thread when this runs; later reads are on its threads.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// One book as the core resolves arguments against it.
#[derive(Clone)]
struct BookInfo {
    id: BookId,
    venue: String,
    currency: String,
    decimals: u8,
    labels: Vec<(String, u8)>,
}

enum Backend {
    Embedded {
        /// The first handle; `close` shuts the vault down through it.
        origin: Mutex<Option<Handle>>,
        /// Handles not in use, cloned from `origin` as concurrent submits need them.
        spare: Mutex<Vec<Handle>>,
        reader: Reader,
    },
    Remote {
        client: Mutex<Option<Client>>,
    },
}

/// A vault, embedded or connected. Not for direct use: see `capvault.Vault` and `capvault.connect`.
#[pyclass(module = "capvault._capvault", frozen)]
pub struct Core {
    backend: Backend,
    books: Mutex<Vec<BookInfo>>,
    /// The highest `seq` answered through this core: its own reads wait until they show it.
    seen: AtomicU64,
    description: String,
    /// `FORKS` when this core was made (or reconnected): another value means this is a forked
    /// child's copy.
    process: AtomicU64,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; carry on.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn durability(py: Python<'_>, name: Option<&str>) -> PyResult<Option<Durability>> {
    Ok(match name {
        None => None,
        Some("none") => Some(Durability::None),
        Some("write") => Some(Durability::Write),
        Some("fsync_batch" | "fsync") => Some(Durability::FsyncBatch),
        Some(other) => {
            return Err(errors::invalid_input(
                py,
                format!("durability {other:?}: expected \"none\", \"write\" or \"fsync_batch\""),
            ))
        }
    })
}

fn wait_strategy(py: Python<'_>, name: Option<&str>) -> PyResult<Option<WaitStrategy>> {
    Ok(match name {
        None => None,
        Some("spin_park") => Some(WaitStrategy::default()),
        Some("spin_yield") => Some(WaitStrategy::SpinYield { spin: Duration::from_micros(50) }),
        Some("busy_spin") => Some(WaitStrategy::BusySpin),
        Some("blocking") => Some(WaitStrategy::Blocking),
        Some(other) => {
            return Err(errors::invalid_input(
                py,
                format!(
                    "wait {other:?}: expected \"spin_park\", \"spin_yield\", \"busy_spin\" or \"blocking\""
                ),
            ))
        }
    })
}

fn serve_config(py: Python<'_>, text: &str) -> PyResult<ServeConfig> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|error| errors::new(py, "ConfigError", (format!("serve: {error}"),)))
    } else {
        // A bare name: any client name of this user may connect, with every command.
        Ok(ServeConfig::new(text).others(Some(Grant::all())))
    }
}

impl Core {
    /// Refuses a forked child's copy of the core, before any lock is taken (a lock held by
    /// another thread at the fork stays held in the child forever).
    fn check_process(&self, py: Python<'_>) -> PyResult<()> {
        if !self.forked() {
            return Ok(());
        }
        Err(match self.backend {
            Backend::Embedded { .. } => errors::new(
                py,
                "Stopped",
                ("this vault runs in the parent process: a forked child cannot use it (open a vault \
                  or connect in the child; docs/python.md, \"multiprocessing\")",),
            ),
            Backend::Remote { .. } => errors::new(
                py,
                "Disconnected",
                ("this connection belongs to the parent process: call reconnect() in the forked \
                  child, or connect there (docs/python.md, \"multiprocessing\")",),
            ),
        })
    }

    /// Whether this is a forked child's copy of the core.
    fn forked(&self) -> bool {
        // Relaxed: see `FORKS`.
        FORKS.load(Ordering::Relaxed) != self.process.load(Ordering::Relaxed)
    }

    fn submit(&self, py: Python<'_>, command: Command) -> PyResult<Outcome> {
        self.check_process(py)?;
        match py.detach(|| self.submit_released(command)) {
            Some(Ok(receipt)) => {
                self.seen.fetch_max(receipt.seq, Ordering::Relaxed);
                if matches!(command, Command::OpenBook { .. } | Command::ConfigureStrategy { .. }) {
                    lock(&self.books).clear();
                }
                Ok(Outcome::new(receipt))
            }
            Some(Err(error)) => Err(errors::submit(py, &error)),
            None => Err(match self.backend {
                Backend::Embedded { .. } => errors::new(py, "Stopped", ("the vault was closed",)),
                Backend::Remote { .. } => errors::new(py, "Disconnected", ("the client is closed",)),
            }),
        }
    }

    /// The submit itself, without the GIL; `None` once `close` has run.
    fn submit_released(&self, command: Command) -> Option<Result<Receipt, SubmitError>> {
        match &self.backend {
            Backend::Embedded { origin, spare, .. } => {
                // A handle taken before `close` answers `Stopped` itself; none is made after.
                let mut handle = lock(spare).pop().or_else(|| lock(origin).as_ref().map(Handle::clone))?;
                let result = handle.submit(command);
                lock(spare).push(handle);
                Some(result)
            }
            Backend::Remote { client } => lock(client).as_mut().map(|client| client.submit(command)),
        }
    }

    /// The latest snapshot that shows every command this core had answered.
    fn current(&self, py: Python<'_>) -> PyResult<Arc<LedgerSnapshot>> {
        self.at_least(py, self.seen.load(Ordering::Relaxed), 5.0)
    }

    fn at_least(&self, py: Python<'_>, seq: u64, timeout: f64) -> PyResult<Arc<LedgerSnapshot>> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let mut pause = Duration::from_micros(20);
        let mut tries = 0_u32;
        loop {
            let snapshot = self.latest(py)?;
            if snapshot.seq() >= seq {
                return Ok(snapshot);
            }
            // An embedded vault publishes about a microsecond after it answers: yield a few
            // times before sleeping (a sleep costs tens of microseconds).
            tries += 1;
            if tries < 64 {
                py.detach(std::thread::yield_now);
                continue;
            }
            if Instant::now() >= deadline {
                return Err(errors::new(
                    py,
                    "Timeout",
                    (format!("no snapshot with seq >= {seq} within {timeout} s (latest {})", snapshot.seq()),),
                ));
            }
            py.detach(|| std::thread::sleep(pause));
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    fn latest(&self, py: Python<'_>) -> PyResult<Arc<LedgerSnapshot>> {
        self.check_process(py)?;
        match &self.backend {
            Backend::Embedded { reader, .. } => Ok(reader.snapshot_arc()),
            Backend::Remote { client } => {
                let read = py.detach(|| lock(client).as_mut().map(Client::snapshot));
                match read {
                    Some(Ok(snapshot)) => Ok(Arc::new(snapshot)),
                    Some(Err(error)) => Err(errors::new(py, "Disconnected", (error.to_string(),))),
                    None => Err(errors::new(py, "Disconnected", ("the client is closed",))),
                }
            }
        }
    }

    /// The books, read again from the latest snapshot when `refresh` or never read.
    fn books(&self, py: Python<'_>, refresh: bool) -> PyResult<Vec<BookInfo>> {
        {
            let books = lock(&self.books);
            if !refresh && !books.is_empty() {
                return Ok(books.clone());
            }
        }
        let snapshot = self.current(py)?;
        let fresh: Vec<BookInfo> = snapshot
            .books()
            .iter()
            .map(|book| BookInfo {
                id: book.id(),
                venue: book.venue().to_string(),
                currency: book.currency().to_string(),
                decimals: book.decimals(),
                labels: book
                    .strategies()
                    .filter_map(|(slot, strategy)| {
                        strategy.config().label.map(|label| (label.to_string(), slot))
                    })
                    .collect(),
            })
            .collect();
        lock(&self.books).clone_from(&fresh);
        Ok(fresh)
    }

    fn find_book(
        &self,
        py: Python<'_>,
        matches: &dyn Fn(&BookInfo) -> bool,
    ) -> PyResult<(Option<BookInfo>, usize)> {
        for refresh in [false, true] {
            let books = self.books(py, refresh)?;
            let found: Vec<&BookInfo> = books.iter().filter(|book| matches(book)).collect();
            if found.len() == 1 || refresh {
                return Ok((found.first().map(|book| (*book).clone()), found.len()));
            }
        }
        Ok((None, 0))
    }

    /// A book argument: its id (`int`), `"VENUE:CURRENCY"` or a currency held by one book.
    fn book(&self, value: &Bound<'_, PyAny>) -> PyResult<BookInfo> {
        let py = value.py();
        if value.is_instance_of::<PyInt>() {
            let index: u16 = value
                .extract()
                .map_err(|_| errors::invalid_input(py, format!("book {value}: not a book id")))?;
            let (found, _) = self.find_book(py, &|book| book.id == BookId::new(index))?;
            // An unknown id still goes to the ledger, which answers `unknown_book`.
            return Ok(found.unwrap_or(BookInfo {
                id: BookId::new(index),
                venue: String::new(),
                currency: String::new(),
                decimals: Amount::DECIMALS as u8,
                labels: Vec::new(),
            }));
        }
        let text: String = value.extract().map_err(|_| {
            errors::invalid_input(py, format!("book {value}: expected an id or \"VENUE:CURRENCY\""))
        })?;
        let (venue, currency) = match text.split_once([':', '/']) {
            Some((venue, currency)) => (Some(venue.to_owned()), currency.to_owned()),
            None => (None, text.clone()),
        };
        let (found, count) = self.find_book(py, &|book| {
            book.currency == currency && venue.as_ref().is_none_or(|venue| *venue == book.venue)
        })?;
        match (found, count) {
            (Some(book), 1) => Ok(book),
            (_, 0) => Err(errors::new(py, "UnknownName", (format!("no book {text:?} is open"),))),
            _ => Err(errors::new(
                py,
                "UnknownName",
                (format!("{count} books hold {currency:?}: name the venue as \"VENUE:{currency}\""),),
            )),
        }
    }

    /// A slot argument: its number or a strategy's label in `book`.
    fn slot(&self, book: &BookInfo, value: &Bound<'_, PyAny>) -> PyResult<u8> {
        let py = value.py();
        if value.is_instance_of::<PyInt>() {
            return value
                .extract()
                .map_err(|_| errors::invalid_input(py, format!("slot {value}: not 0..=255")));
        }
        let label: String = value
            .extract()
            .map_err(|_| errors::invalid_input(py, format!("slot {value}: expected a number or a label")))?;
        if let Some((_, slot)) = book.labels.iter().find(|(name, _)| *name == label) {
            return Ok(*slot);
        }
        let (found, _) = self.find_book(py, &|candidate| candidate.id == book.id)?;
        found
            .and_then(|book| book.labels.iter().find(|(name, _)| *name == label).map(|(_, slot)| *slot))
            .ok_or_else(|| {
                errors::new(py, "UnknownName", (format!("no strategy labelled {label:?} in this book"),))
            })
    }

    fn book_slot(&self, book: &Bound<'_, PyAny>, slot: &Bound<'_, PyAny>) -> PyResult<(BookInfo, u8)> {
        let book = self.book(book)?;
        let slot = self.slot(&book, slot)?;
        Ok((book, slot))
    }

    /// The decimals of an order's book, for its amounts.
    fn order_decimals(&self, py: Python<'_>, id: capvault::ClientOrderId) -> PyResult<u8> {
        // Usually every book has the same minor unit: no need to find the order.
        let books = self.books(py, false)?;
        if let Some(first) = books.first() {
            if books.iter().all(|book| book.decimals == first.decimals) {
                return Ok(first.decimals);
            }
        }
        let snapshot = self.current(py)?;
        Ok(snapshot
            .order(id)
            .and_then(|order| snapshot.book(order.book()))
            .map_or(Amount::DECIMALS as u8, capvault::Book::decimals))
    }
}

#[pymethods]
impl Core {
    /// Starts a vault in this process.
    #[staticmethod]
    #[pyo3(signature = (config, data_dir=None, shm=None, json=None, serve=None, durability=None, wait=None))]
    fn embedded(
        py: Python<'_>,
        config: &str,
        data_dir: Option<String>,
        shm: Option<String>,
        json: Option<String>,
        serve: Option<String>,
        durability: Option<&str>,
        wait: Option<&str>,
    ) -> PyResult<Core> {
        let config = LedgerConfig::from_json(config)
            .map_err(|error| errors::new(py, "ConfigError", (error.to_string(),)))?;
        let mut builder = Builder::from_config(&config)
            .map_err(|error| errors::new(py, "ConfigError", (error.to_string(),)))?;
        if let Some(dir) = &data_dir {
            builder = builder.data_dir(dir);
        }
        if let Some(chosen) = self::durability(py, durability)? {
            builder = builder.durability(chosen);
        }
        if let Some(strategy) = wait_strategy(py, wait)? {
            builder = builder.reply_wait(strategy);
        }
        if let Some(path) = &shm {
            builder = builder.mirror_shm(path);
        }
        if let Some(path) = &json {
            builder = builder.mirror_json(path);
        }
        if let Some(text) = &serve {
            builder = builder.serve(serve_config(py, text)?);
        }
        let handle = py
            .detach(|| builder.spawn())
            .map_err(|error| errors::new(py, "StartError", (error.to_string(),)))?;
        let reader = handle.reader();
        let description = format!("embedded vault (data_dir={data_dir:?}, serve={serve:?})");
        Ok(Core {
            backend: Backend::Embedded {
                origin: Mutex::new(Some(handle)),
                spare: Mutex::new(Vec::new()),
                reader,
            },
            books: Mutex::new(Vec::new()),
            seen: AtomicU64::new(0),
            description,
            process: AtomicU64::new(FORKS.load(Ordering::Relaxed)),
        })
    }

    /// Connects to the vault serving `service` as the client `client`.
    #[staticmethod]
    #[pyo3(signature = (service, client="python", wait=None))]
    fn connect(py: Python<'_>, service: &str, client: &str, wait: Option<&str>) -> PyResult<Core> {
        let strategy = wait_strategy(py, wait)?.unwrap_or_default();
        let connected = py
            .detach(|| Client::connect_with(service, client, strategy))
            .map_err(|error| errors::connect(py, &error))?;
        Ok(Core {
            backend: Backend::Remote { client: Mutex::new(Some(connected)) },
            books: Mutex::new(Vec::new()),
            seen: AtomicU64::new(0),
            description: format!("client {client:?} of the vault serving {service:?}"),
            process: AtomicU64::new(FORKS.load(Ordering::Relaxed)),
        })
    }

    /// `"embedded"` or `"client"`.
    #[getter]
    fn mode(&self) -> &'static str {
        match self.backend {
            Backend::Embedded { .. } => "embedded",
            Backend::Remote { .. } => "client",
        }
    }

    fn __repr__(&self) -> String {
        format!("<capvault {}>", self.description)
    }

    /// Any command in its JSON form (`{"op": "allocate", "book": 0, "slot": 2, "amount": 100}`).
    fn submit_json(&self, py: Python<'_>, command: &str) -> PyResult<Outcome> {
        let command: Command = serde_json::from_str(command)
            .map_err(|error| errors::invalid_input(py, format!("command: {error}")))?;
        self.submit(py, command)
    }

    fn open_book(&self, py: Python<'_>, spec: &str) -> PyResult<Outcome> {
        let spec = serde_json::from_str(spec)
            .map_err(|error| errors::invalid_input(py, format!("book spec: {error}")))?;
        self.submit(py, Command::OpenBook { spec })
    }

    #[pyo3(signature = (book, slot, label=None, cap=None, loss_limit=None))]
    fn configure_strategy(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        label: Option<&str>,
        cap: Option<&Bound<'_, PyAny>>,
        loss_limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let py = book.py();
        let (book, slot) = self.book_slot(book, slot)?;
        let label = label
            .map(|text| {
                text.parse::<Label>()
                    .map_err(|error| errors::invalid_input(py, format!("label {text:?}: {error}")))
            })
            .transpose()?;
        let cap = cap.map(|cap| convert::amount(cap, book.decimals)).transpose()?;
        let loss_limit = loss_limit
            .map(|limit| convert::amount(limit, book.decimals))
            .transpose()?
            .unwrap_or(Amount::ZERO);
        let config = StrategyConfig { label, cap, loss_limit };
        self.submit(py, Command::ConfigureStrategy { book: book.id, slot, config })
    }

    fn set_credit_limit(
        &self,
        currency: &Bound<'_, PyString>,
        limit: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let py = currency.py();
        let text: String = currency.extract()?;
        let text = text.as_str();
        let currency: Currency =
            text.parse().map_err(|error| errors::invalid_input(py, format!("currency {text:?}: {error}")))?;
        let decimals = self
            .books(py, false)?
            .iter()
            .filter(|book| book.currency == text)
            .map(|book| book.decimals)
            .max()
            .unwrap_or(Amount::DECIMALS as u8);
        let limit = convert::amount(limit, decimals)?;
        self.submit(py, Command::SetCreditLimit { currency, limit })
    }

    #[pyo3(signature = (book, balance, force=false))]
    fn reset(&self, book: &Bound<'_, PyAny>, balance: &Bound<'_, PyAny>, force: bool) -> PyResult<Outcome> {
        let info = self.book(book)?;
        let balance = convert::amount(balance, info.decimals)?;
        self.submit(book.py(), Command::Reset { book: info.id, balance, force })
    }

    fn set(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let amount = convert::amount(amount, info.decimals)?;
        self.submit(book.py(), Command::Set { book: info.id, slot, amount })
    }

    fn adjust(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        delta: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let delta = convert::amount(delta, info.decimals)?;
        self.submit(book.py(), Command::Adjust { book: info.id, slot, delta })
    }

    fn allocate(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let amount = convert::amount(amount, info.decimals)?;
        self.submit(book.py(), Command::Allocate { book: info.id, slot, amount })
    }

    fn release(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let amount = convert::amount(amount, info.decimals)?;
        self.submit(book.py(), Command::Release { book: info.id, slot, amount })
    }

    fn trade(
        &self,
        book_a: &Bound<'_, PyAny>,
        delta_a: &Bound<'_, PyAny>,
        book_b: &Bound<'_, PyAny>,
        delta_b: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (a, b) = (self.book(book_a)?, self.book(book_b)?);
        let delta_a = convert::amount(delta_a, a.decimals)?;
        let delta_b = convert::amount(delta_b, b.decimals)?;
        self.submit(book_a.py(), Command::Trade { book_a: a.id, delta_a, book_b: b.id, delta_b })
    }

    #[pyo3(signature = (id, book, slot, amount, side="buy", layer=0))]
    fn reserve(
        &self,
        id: &Bound<'_, PyAny>,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        side: &str,
        layer: u32,
    ) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        let (info, slot) = self.book_slot(book, slot)?;
        let amount = convert::amount(amount, info.decimals)?;
        let side = convert::side(py, side)?;
        self.submit(py, Command::Reserve { id, book: info.id, slot, side, layer, amount })
    }

    /// Each part a dict of `reserve`'s arguments (`id`, `book`, `slot`, `amount`, and optionally
    /// `side` and `layer`); every order reserved or none.
    fn reserve_linked(&self, parts: &Bound<'_, PyAny>) -> PyResult<Vec<Outcome>> {
        let py = parts.py();
        let mut commands = Vec::new();
        for part in parts.try_iter()? {
            let part = part?;
            let field = |name: &str| -> PyResult<Bound<'_, PyAny>> {
                part.get_item(name).map_err(|_| {
                    errors::new(py, "InvalidInput", (format!("part {}: no {name:?}", commands.len()),))
                })
            };
            let optional = |name: &str| part.get_item(name).ok().filter(|value| !value.is_none());
            let id = convert::order_id(&field("id")?)?;
            let (info, slot) = self.book_slot(&field("book")?, &field("slot")?)?;
            let amount = convert::amount(&field("amount")?, info.decimals)?;
            let side = match optional("side") {
                Some(side) => convert::side(py, &side.extract::<String>()?)?,
                None => capvault::Side::Buy,
            };
            let layer = optional("layer").map(|layer| layer.extract::<u32>()).transpose()?.unwrap_or(0);
            commands.push(Command::Reserve { id, book: info.id, slot, side, layer, amount });
        }
        self.check_process(py)?;
        let answer = py.detach(|| match &self.backend {
            Backend::Embedded { origin, spare, .. } => {
                let mut handle = lock(spare).pop().or_else(|| lock(origin).as_ref().map(Handle::clone))?;
                let result = handle.submit_linked(&commands);
                lock(spare).push(handle);
                Some(result)
            }
            Backend::Remote { client } => lock(client).as_mut().map(|client| client.submit_linked(&commands)),
        });
        match answer {
            Some(Ok(receipt)) => {
                self.seen.fetch_max(receipt.seq, Ordering::Relaxed);
                let seq = receipt.seq;
                Ok(receipt
                    .outcomes
                    .into_iter()
                    .map(|outcome| Outcome::new(Receipt { seq, outcome }))
                    .collect())
            }
            Some(Err(LinkedError::Rejected(refused))) => Err(errors::rejected_part(py, &refused)),
            Some(Err(LinkedError::Failed(error))) => Err(errors::submit(py, &error)),
            Some(Err(error)) => Err(errors::new(py, "Error", (error.to_string(),))),
            None => Err(match self.backend {
                Backend::Embedded { .. } => errors::new(py, "Stopped", ("the vault was closed",)),
                Backend::Remote { .. } => errors::new(py, "Disconnected", ("the client is closed",)),
            }),
        }
    }

    fn fill(&self, id: &Bound<'_, PyAny>, amount: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        let amount = convert::amount(amount, self.order_decimals(py, id)?)?;
        self.submit(py, Command::Fill { id, amount })
    }

    fn fill_to(&self, id: &Bound<'_, PyAny>, filled: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        let filled = convert::amount(filled, self.order_decimals(py, id)?)?;
        self.submit(py, Command::FillTo { id, filled })
    }

    fn expire(&self, id: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        self.submit(py, Command::Expire { id })
    }

    fn cancel(&self, id: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        self.submit(py, Command::Cancel { id })
    }

    fn release_order(&self, id: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = id.py();
        let id = convert::order_id(id)?;
        self.submit(py, Command::ReleaseOrder { id })
    }

    fn record_alpha(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let amount = convert::amount(amount, info.decimals)?;
        self.submit(book.py(), Command::RecordAlpha { book: info.id, slot, amount })
    }

    fn mark_loss(
        &self,
        book: &Bound<'_, PyAny>,
        slot: &Bound<'_, PyAny>,
        loss: &Bound<'_, PyAny>,
    ) -> PyResult<Outcome> {
        let (info, slot) = self.book_slot(book, slot)?;
        let loss = convert::amount(loss, info.decimals)?;
        self.submit(book.py(), Command::MarkLoss { book: info.id, slot, loss })
    }

    /// The book id, decimals and slot of a book (and label) argument: `(book, decimals, slot)`.
    #[pyo3(signature = (book, slot=None))]
    fn resolve(
        &self,
        book: &Bound<'_, PyAny>,
        slot: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(u16, u8, Option<u8>)> {
        let info = self.book(book)?;
        let slot = slot.map(|slot| self.slot(&info, slot)).transpose()?;
        Ok((info.id.index() as u16, info.decimals, slot))
    }

    /// The latest published snapshot (an embedded vault's own; a client's read from the mirror).
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        Ok(Snapshot::new(self.latest(py)?))
    }

    /// The first snapshot with `seq >= seq`, waiting up to `timeout` seconds.
    #[pyo3(signature = (seq, timeout=5.0))]
    fn snapshot_at_least(&self, py: Python<'_>, seq: u64, timeout: f64) -> PyResult<Snapshot> {
        Ok(Snapshot::new(self.at_least(py, seq, timeout)?))
    }

    /// Stops an embedded vault (everything queued is applied, the mirrors write the last state)
    /// and returns its last snapshot; disconnects a client and returns `None`. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<Option<Snapshot>> {
        if self.forked() {
            // A forked child's copy: forget it without touching the parent's vault (no
            // shutdown sent, no lock taken that another thread may have held at the fork).
            match &self.backend {
                Backend::Embedded { origin, .. } => {
                    if let Ok(mut origin) = origin.try_lock() {
                        std::mem::forget(origin.take());
                    }
                }
                Backend::Remote { client } => {
                    if let Ok(mut client) = client.try_lock() {
                        drop(client.take());
                    }
                }
            }
            return Ok(None);
        }
        match &self.backend {
            Backend::Embedded { origin, spare, .. } => {
                let Some(handle) = lock(origin).take() else { return Ok(None) };
                lock(spare).clear();
                let last = py
                    .detach(|| handle.shutdown())
                    .map_err(|error| errors::new(py, "Stopped", (error.to_string(),)))?;
                Ok(Some(Snapshot::new(last)))
            }
            Backend::Remote { client } => {
                drop(lock(client).take());
                Ok(None)
            }
        }
    }

    /// A client: connects again under the same service and name, giving up its old place first
    /// (after the vault restarted, after `Disconnected`, or in a forked child, whose copy of
    /// the parent's connection is then its own). Retries for up to `timeout` seconds.
    #[pyo3(signature = (timeout=5.0))]
    fn reconnect(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let Backend::Remote { client } = &self.backend else {
            return Err(errors::invalid_input(
                py,
                "an embedded vault does not reconnect: open it again".to_owned(),
            ));
        };
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| {
            let mut guard = lock(client);
            let Some(connected) = guard.as_mut() else { return Err(None) };
            connected.reconnect_within(timeout).map_err(Some)
        })
        .map_err(|error| match error {
            Some(error) => errors::connect(py, &error),
            None => errors::new(py, "Disconnected", ("the client is closed",)),
        })?;
        // The new place's answers start from its own seq: reads wait for nothing older.
        self.seen.store(0, Ordering::Relaxed);
        lock(&self.books).clear();
        // Relaxed: see `FORKS`.
        self.process.store(FORKS.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(())
    }

    /// Whether `close` has run.
    #[getter]
    fn closed(&self) -> bool {
        match &self.backend {
            Backend::Embedded { origin, .. } => lock(origin).is_none(),
            Backend::Remote { client } => lock(client).is_none(),
        }
    }
}
