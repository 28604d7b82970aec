//! Seed 004's simple case from Python: `SingleQuote`s per (exchange, data type, currency) in a
//! shared-memory table that one process writes and any reads (`capvault.hft` sits on top).

use std::sync::Mutex;

use capvault::{
    Currency, DataType, QuoteReader as LedgerQuoteReader, QuoteWriter as LedgerQuoteWriter, SingleQuote,
    Venue,
};
use pyo3::prelude::*;

use crate::errors;

fn key(
    py: Python<'_>,
    exchange: &str,
    data_type: &str,
    currency: &str,
) -> PyResult<(Venue, DataType, Currency)> {
    let invalid = |what: &str, value: &str, error: String| {
        errors::new(py, "InvalidInput", (format!("{what} {value:?}: {error}"),))
    };
    let venue = exchange.parse::<Venue>().map_err(|e| invalid("exchange", exchange, e.to_string()))?;
    let currency = currency.parse::<Currency>().map_err(|e| invalid("currency", currency, e.to_string()))?;
    let data_type = match data_type.to_ascii_uppercase().as_str() {
        "BALANCE" => DataType::Balance,
        "POSITION" => DataType::Position,
        "PRICE" => DataType::Price,
        _ => {
            return Err(invalid("data type", data_type, "expected BALANCE, POSITION or PRICE".to_owned()));
        }
    };
    Ok((venue, data_type, currency))
}

fn mirror_error(py: Python<'_>, error: &capvault::ShmError) -> PyErr {
    errors::new(py, "MirrorError", (error.to_string(),))
}

/// The writer of a quote table (one process per file: a second live writer is refused).
#[pyclass(module = "capvault._capvault", frozen)]
#[derive(Debug)]
pub struct QuoteWriter {
    inner: LedgerQuoteWriter,
    path: String,
}

#[pymethods]
impl QuoteWriter {
    /// Creates (or replaces, if no live process writes it) the table at `path`.
    #[new]
    #[pyo3(signature = (path, entries_max=4096))]
    fn py_new(py: Python<'_>, path: &str, entries_max: usize) -> PyResult<QuoteWriter> {
        let inner = LedgerQuoteWriter::create(path, entries_max).map_err(|e| mirror_error(py, &e))?;
        Ok(QuoteWriter { inner, path: path.to_owned() })
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Writes one quote; readers see the timestamps and `mid` of one write together.
    fn write(
        &self,
        py: Python<'_>,
        exchange: &str,
        data_type: &str,
        currency: &str,
        timestamp: i64,
        local_timestamp: i64,
        mid: f64,
    ) -> PyResult<()> {
        let (venue, data_type, currency) = key(py, exchange, data_type, currency)?;
        let quote = SingleQuote { timestamp, local_timestamp, mid };
        self.inner.write(venue, data_type, currency, quote).map_err(|e| mirror_error(py, &e))
    }

    fn __repr__(&self) -> String {
        format!("QuoteWriter({:?})", self.path)
    }
}

/// A reader of a quote table, from any process.
#[pyclass(module = "capvault._capvault", frozen)]
#[derive(Debug)]
pub struct QuoteReader {
    inner: Mutex<LedgerQuoteReader>,
    path: String,
}

#[pymethods]
impl QuoteReader {
    #[new]
    fn py_new(py: Python<'_>, path: &str) -> PyResult<QuoteReader> {
        let inner = LedgerQuoteReader::open(path).map_err(|e| mirror_error(py, &e))?;
        Ok(QuoteReader { inner: Mutex::new(inner), path: path.to_owned() })
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// `(timestamp, local_timestamp, mid)` of the latest write of the key, or `None`.
    fn get(
        &self,
        py: Python<'_>,
        exchange: &str,
        data_type: &str,
        currency: &str,
    ) -> PyResult<Option<(i64, i64, f64)>> {
        let (venue, data_type, currency) = key(py, exchange, data_type, currency)?;
        let reader = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let quote = reader.get(venue, data_type, currency).map_err(|e| mirror_error(py, &e))?;
        Ok(quote.map(|q| (q.timestamp, q.local_timestamp, q.mid)))
    }

    fn __repr__(&self) -> String {
        format!("QuoteReader({:?})", self.path)
    }
}
