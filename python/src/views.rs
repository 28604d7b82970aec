//! What Python reads: outcomes, snapshots, the pool view, the step-penalty gate, the
//! shared-memory reader.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use capvault::{
    Amount, Book, PenaltyConfig, PoolView as LedgerPoolView, Ratio, Receipt, ShmReader as LedgerShmReader,
    Snapshot as LedgerSnapshot, StepPenalty as LedgerStepPenalty,
};
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt};

use crate::convert::{self, decimal};
use crate::errors;
use crate::figures::to_py;

/// What the ledger did with a command: `.kind` (`"allocated"`, `"reserved"`, ...), `.seq` (its
/// place in the ledger's history) and the outcome's figures as attributes (amounts as
/// `Decimal`).
#[pyclass(module = "capvault._capvault", frozen)]
pub struct Outcome {
    seq: u64,
    done: capvault::Outcome,
    fields: PyOnceLock<Py<PyDict>>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.done, self.seq)
    }
}

impl Outcome {
    pub fn new(receipt: Receipt) -> Outcome {
        Outcome { seq: receipt.seq, done: receipt.outcome, fields: PyOnceLock::new() }
    }

    fn fields<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyDict>> {
        let fields = self.fields.get_or_try_init(py, || {
            to_py(py, &self.done)?.cast_into::<PyDict>().map(Bound::unbind).map_err(PyErr::from)
        })?;
        Ok(fields.bind(py))
    }
}

#[pymethods]
impl Outcome {
    /// The command's place in the ledger's history: every snapshot with `seq >=` this shows it.
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// The outcome's name, as in Rust and JSON (`"reserved"`, `"already_reserved"`, ...).
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.fields(py)?.get_item("outcome")?.map_or_else(|| py.None(), Bound::unbind))
    }

    /// `{"outcome": kind, "seq": seq, ...figures}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let copy = self.fields(py)?.copy()?;
        copy.set_item("seq", self.seq)?;
        Ok(copy)
    }

    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        match self.fields(py)?.get_item(name)? {
            Some(value) if name != "outcome" => Ok(value.unbind()),
            _ => Err(PyAttributeError::new_err(format!("outcome {} has no figure {name:?}", self.done))),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Outcome({}, seq={})", self.to_dict(py)?.repr()?, self.seq))
    }

    fn __str__(&self) -> String {
        self.done.to_string()
    }
}

/// A book argument against a snapshot: its id, `"VENUE:CURRENCY"`, or a currency one book holds.
fn book_in<'s>(snapshot: &'s LedgerSnapshot, value: &Bound<'_, PyAny>) -> PyResult<&'s Book> {
    let py = value.py();
    let unknown = |what: String| errors::new(py, "UnknownName", (what,));
    if value.is_instance_of::<PyInt>() {
        let index: u16 =
            value.extract().map_err(|_| errors::invalid_input(py, format!("book {value}: not a book id")))?;
        return snapshot
            .book(capvault::BookId::new(index))
            .ok_or_else(|| unknown(format!("no book {index}")));
    }
    let text: String = value.extract()?;
    let (venue, currency) = match text.split_once([':', '/']) {
        Some((venue, currency)) => (Some(venue), currency),
        None => (None, text.as_str()),
    };
    let mut found = snapshot.books().iter().filter(|book| {
        book.currency().to_string() == currency && venue.is_none_or(|venue| book.venue().to_string() == venue)
    });
    match (found.next(), found.next()) {
        (Some(book), None) => Ok(book),
        (None, _) => Err(unknown(format!("no book {text:?} is open"))),
        (Some(_), Some(_)) => Err(unknown(format!("several books hold {currency:?}: name the venue"))),
    }
}

fn slot_in(book: &Book, value: &Bound<'_, PyAny>) -> PyResult<u8> {
    let py = value.py();
    if value.is_instance_of::<PyInt>() {
        return value.extract().map_err(|_| errors::invalid_input(py, format!("slot {value}: not 0..=255")));
    }
    let text: String = value.extract()?;
    let label =
        text.parse().map_err(|error| errors::invalid_input(py, format!("label {text:?}: {error}")))?;
    book.slot_of(label).ok_or_else(|| {
        errors::new(py, "UnknownName", (format!("no strategy labelled {text:?} in this book"),))
    })
}

/// The ledger as it was after `seq` accepted commands. Immutable.
#[pyclass(module = "capvault._capvault", frozen)]
#[derive(Debug)]
pub struct Snapshot {
    inner: Arc<LedgerSnapshot>,
}

impl Snapshot {
    pub fn new(inner: Arc<LedgerSnapshot>) -> Snapshot {
        Snapshot { inner }
    }
}

#[pymethods]
impl Snapshot {
    /// Accepted commands so far.
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq()
    }

    /// The one JSON schema (`{"seq", "stats", "books", "orders"}`) as text.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&*self.inner)
            .map_err(|error| pyo3::exceptions::PyValueError::new_err(error.to_string()))
    }

    /// The one JSON schema as Python objects (JSON numbers: `int`, or `float` where not whole).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (self.to_json()?,))
    }

    /// Every book as a dict, amounts as `Decimal`.
    #[getter]
    fn books<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let books: Vec<&Book> = self.inner.books().iter().map(|book| &**book).collect();
        to_py(py, &books)
    }

    /// One book as a dict, amounts as `Decimal`.
    fn book<'py>(&self, py: Python<'py>, book: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, book_in(&self.inner, book)?)
    }

    /// `(book id, slot)` of the strategy labelled `label`, or `None`.
    fn slot_of(&self, label: &str) -> Option<(u16, u8)> {
        let label = label.parse().ok()?;
        self.inner.slot_of(label).map(|(book, slot)| (book.index() as u16, slot))
    }

    /// `(book id, slot)` of the strategy trading the security `code` (`159201.SZ`): the one
    /// labelled with the code, else with its number (`159201`); `None` if none or several are.
    fn slot_of_security(&self, code: &str) -> Option<(u16, u8)> {
        self.inner.slot_of_security(code).map(|(book, slot)| (book.index() as u16, slot))
    }

    /// A slot's balance: 0 the total, 1 the pool, 2.. a strategy's committed capital.
    #[pyo3(signature = (book, slot=None))]
    fn balance<'py>(
        &self,
        py: Python<'py>,
        book: &Bound<'py, PyAny>,
        slot: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let found = book_in(&self.inner, book)?;
        let slot = slot.map(|slot| slot_in(found, slot)).transpose()?.unwrap_or(0);
        let amount = found.balance(slot).ok_or_else(|| {
            errors::invalid_input(
                py,
                format!("slot {slot} is outside the book's {} slots", found.slot_count()),
            )
        })?;
        decimal(py, amount)
    }

    /// The book's pool view (for the first-layer rule and the penalty).
    fn view(&self, book: &Bound<'_, PyAny>) -> PyResult<PoolView> {
        let found = book_in(&self.inner, book)?;
        Ok(PoolView { inner: found.view(), decimals: found.decimals() })
    }

    /// The book's step-penalty gate as the ledger keeps it.
    fn penalty(&self, book: &Bound<'_, PyAny>) -> PyResult<StepPenalty> {
        Ok(StepPenalty { inner: *book_in(&self.inner, book)?.penalty() })
    }

    /// An order as a dict, or `None` if the ledger has no such order.
    fn order<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let id = convert::order_id(id)?;
        self.inner.order(id).map(|order| to_py(py, order)).transpose()
    }

    /// Every live order as a dict (amounts as `Decimal`), of one book if `book` is given,
    /// in a fixed order (the same in every process).
    #[pyo3(signature = (book=None))]
    fn orders<'py>(&self, py: Python<'py>, book: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let book = book.map(|book| book_in(&self.inner, book).map(Book::id)).transpose()?;
        let orders: Vec<&capvault::Order> =
            self.inner.orders().filter(|order| book.is_none_or(|book| order.book() == book)).collect();
        to_py(py, &orders)
    }

    /// A securities account's capital by the broker's `cash` and the vault's positions in
    /// `book`: `cash + what the strategies' positions cost` (their `used` by orders), the drift
    /// from the total, and each labelled strategy whose `used` differs from the cost of the
    /// broker's `holdings` of its codes (`[(code, cost), ...]`). Reads only; the rule is the
    /// ledger's `securities_capital`.
    fn securities_capital<'py>(
        &self,
        py: Python<'py>,
        book: &Bound<'py, PyAny>,
        cash: &Bound<'py, PyAny>,
        holdings: Vec<(String, Bound<'py, PyAny>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let found = book_in(&self.inner, book)?;
        let decimals = found.decimals();
        let cash = convert::amount(cash, decimals)?;
        let costs = holdings
            .iter()
            .map(|(code, cost)| convert::amount(cost, decimals).map(|cost| (code.as_str(), cost)))
            .collect::<PyResult<Vec<_>>>()?;
        let holdings: Vec<capvault::Holding<'_>> =
            costs.iter().map(|&(code, cost)| capvault::Holding { code, cost }).collect();
        let plan = capvault::securities_capital(found, cash, &holdings)
            .ok_or_else(|| errors::invalid_input(py, "the capital leaves the amount range".to_owned()))?;
        to_py(py, &plan)
    }

    /// Counters: accepted, rejected, repeated, batches.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.inner.stats())
    }

    fn __repr__(&self) -> String {
        format!("<capvault.Snapshot seq={} books={}>", self.inner.seq(), self.inner.books().len())
    }
}

/// A book's figures as a strategy sees them: the first-layer rule and utilisation.
#[pyclass(module = "capvault._capvault", frozen)]
#[derive(Debug)]
pub struct PoolView {
    inner: LedgerPoolView,
    decimals: u8,
}

impl PoolView {
    pub fn inner(&self) -> &LedgerPoolView {
        &self.inner
    }
}

fn ratio(py: Python<'_>, name: &str, value: f64) -> PyResult<Ratio> {
    Ratio::from_f64(value).map_err(|error| errors::invalid_input(py, format!("{name} {value}: {error}")))
}

#[pymethods]
impl PoolView {
    /// A view from figures (a strategy node reading `shared_pool.json`): `pool` defaults to
    /// `total - frozen - used`.
    #[new]
    #[pyo3(signature = (total, frozen=None, used=None, pool=None, credit_limit=None, reserve_ratio=0.15, decimals=2))]
    fn py_new(
        py: Python<'_>,
        total: &Bound<'_, PyAny>,
        frozen: Option<&Bound<'_, PyAny>>,
        used: Option<&Bound<'_, PyAny>>,
        pool: Option<&Bound<'_, PyAny>>,
        credit_limit: Option<&Bound<'_, PyAny>>,
        reserve_ratio: f64,
        decimals: u8,
    ) -> PyResult<PoolView> {
        let amount = |value: Option<&Bound<'_, PyAny>>| {
            value.map_or(Ok(Amount::ZERO), |value| convert::amount(value, decimals))
        };
        let total = convert::amount(total, decimals)?;
        let (frozen, used) = (amount(frozen)?, amount(used)?);
        let pool = match pool {
            Some(pool) => convert::amount(pool, decimals)?,
            None => total.checked_sub(frozen).and_then(|rest| rest.checked_sub(used)).ok_or_else(|| {
                errors::invalid_amount(py, "total - frozen - used is out of range".to_owned())
            })?,
        };
        let reserve_ratio = ratio(py, "reserve_ratio", reserve_ratio)?;
        Ok(PoolView {
            inner: LedgerPoolView {
                total,
                pool,
                frozen,
                used,
                credit_limit: amount(credit_limit)?,
                reserve_ratio,
            },
            decimals,
        })
    }

    #[getter]
    fn total<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.total)
    }

    #[getter]
    fn pool<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.pool)
    }

    #[getter]
    fn frozen<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.frozen)
    }

    #[getter]
    fn used<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.used)
    }

    /// `frozen + used`.
    #[getter]
    fn committed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.committed())
    }

    #[getter]
    fn credit_limit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.credit_limit)
    }

    #[getter]
    fn reserve_ratio(&self) -> f64 {
        self.inner.reserve_ratio.to_f64()
    }

    /// `committed / total` as a float (for display), `None` when the total is not positive.
    #[getter]
    fn utilisation(&self) -> Option<f64> {
        self.inner.utilisation()
    }

    /// The most `committed` may reach through first layers: `floor(total × (1 - reserve_ratio))`.
    #[getter]
    fn first_layer_limit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.inner.first_layer_limit())
    }

    /// Whether a first layer of `amount` passes the reserve rule:
    /// `committed + amount <= total × (1 - reserve_ratio)` (seed 000 `can_open_new_layer`).
    fn can_open_first_layer(&self, amount: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.can_open_first_layer(convert::amount(amount, self.decimals)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "PoolView(total={}, pool={}, frozen={}, used={}, utilisation={})",
            self.inner.total,
            self.inner.pool,
            self.inner.frozen,
            self.inner.used,
            self.inner.utilisation().map_or_else(|| "None".to_owned(), |share| format!("{share:.4}"))
        )
    }
}

/// The step-penalty gate with hysteresis (seed 000 section 5.2): on when utilisation goes above
/// `enter`, off only when it falls below `leave`; while on, buy grid steps are multiplied.
#[pyclass(module = "capvault._capvault")]
#[derive(Debug)]
pub struct StepPenalty {
    inner: LedgerStepPenalty,
}

#[pymethods]
impl StepPenalty {
    #[new]
    #[pyo3(signature = (enter=0.90, leave=0.85, multiplier=1.5))]
    fn py_new(py: Python<'_>, enter: f64, leave: f64, multiplier: f64) -> PyResult<StepPenalty> {
        let config = PenaltyConfig {
            enter: ratio(py, "enter", enter)?,
            leave: ratio(py, "leave", leave)?,
            multiplier: ratio(py, "multiplier", multiplier)?,
        };
        if !config.is_valid() {
            return Err(errors::invalid_input(py, format!("leave {leave} is above enter {enter}")));
        }
        Ok(StepPenalty { inner: LedgerStepPenalty::new(config) })
    }

    /// Feeds the gate a pool view; returns whether the penalty is on afterwards (exact integer
    /// comparisons, as the ledger's own gate).
    fn update(&mut self, view: &PoolView) -> bool {
        self.inner.update(view.inner())
    }

    /// Whether the penalty is on.
    #[getter]
    fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// The factor for buy grid steps: the multiplier while on, 1.0 while off.
    #[getter]
    fn multiplier(&self) -> f64 {
        self.inner.multiplier().to_f64()
    }

    /// `base_step` times the factor (a float: grid steps are prices, not money).
    fn step(&self, base_step: f64) -> f64 {
        base_step * self.inner.multiplier().to_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "StepPenalty(active={}, multiplier={})",
            self.inner.is_active(),
            self.inner.multiplier().to_f64()
        )
    }
}

/// A reader of a vault's shared-memory mirror, from any process.
#[pyclass(module = "capvault._capvault", frozen)]
#[derive(Debug)]
pub struct ShmReader {
    inner: Mutex<LedgerShmReader>,
    path: String,
}

#[pymethods]
impl ShmReader {
    #[new]
    fn py_new(py: Python<'_>, path: &str) -> PyResult<ShmReader> {
        let inner = LedgerShmReader::open(path)
            .map_err(|error| errors::new(py, "MirrorError", (error.to_string(),)))?;
        Ok(ShmReader { inner: Mutex::new(inner), path: path.to_owned() })
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The latest snapshot the mirror holds (retried while the writer is mid-write).
    fn read(&self, py: Python<'_>) -> PyResult<Snapshot> {
        let read = py.detach(|| self.lock().read());
        read.map(|snapshot| Snapshot::new(Arc::new(snapshot)))
            .map_err(|error| errors::new(py, "MirrorError", (error.to_string(),)))
    }

    /// The mirror's `seq`, without copying the snapshot.
    fn seq(&self, py: Python<'_>) -> PyResult<u64> {
        let seq = py.detach(|| self.lock().seq());
        seq.map_err(|error| errors::new(py, "MirrorError", (error.to_string(),)))
    }

    /// The first snapshot with `seq >= seq`, waiting up to `timeout` seconds.
    #[pyo3(signature = (seq, timeout=5.0))]
    fn wait_for(&self, py: Python<'_>, seq: u64, timeout: f64) -> PyResult<Snapshot> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let read = py.detach(|| self.lock().wait_for(seq, timeout));
        read.map(|snapshot| Snapshot::new(Arc::new(snapshot)))
            .map_err(|error| errors::new(py, "MirrorError", (error.to_string(),)))
    }

    fn __repr__(&self) -> String {
        format!("ShmReader({:?})", self.path)
    }
}

impl ShmReader {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerShmReader> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
