//! The edge between Python values and the ledger's types.
//!
//! Amounts in: `int`, `str`, `decimal.Decimal` exactly; `float` rounded half to even at the
//! book's minor unit (`Amount::from_f64_rounded`: the float's exact binary value, as
//! `round(x, decimals)` rounds it, so `1.153 * 8600` is 9,915.80). An exact value finer than the
//! minor unit is refused, never rounded silently. Amounts out: `decimal.Decimal`.

use capvault::{Amount, ClientOrderId, Side};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::errors;

static DECIMAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

/// `Decimal` of an amount's exact text.
pub fn decimal(py: Python<'_>, amount: Amount) -> PyResult<Bound<'_, PyAny>> {
    decimal_type(py)?.call1((amount.to_string(),))
}

/// `Decimal` of a fixed-point integer (`Amount::raw`).
pub fn decimal_from_raw(py: Python<'_>, raw: i64) -> PyResult<Bound<'_, PyAny>> {
    let amount = Amount::from_raw(raw)
        .ok_or_else(|| errors::invalid_amount(py, format!("fixed-point value {raw} is out of range")))?;
    decimal(py, amount)
}

/// An amount from a Python value, at `decimals` places (a book's minor unit).
pub fn amount(value: &Bound<'_, PyAny>, decimals: u8) -> PyResult<Amount> {
    let py = value.py();
    let decimals = u32::from(decimals).min(Amount::DECIMALS);
    let bad = |why: String| errors::invalid_amount(py, format!("{why}: {}", shown(value)));
    // `True` is an `int` to Python and `None` a missing value: neither is an amount a caller
    // meant, and both are refused as amounts (not as types), like every other bad amount.
    if value.is_instance_of::<PyBool>() || value.is_none() {
        return Err(bad("an amount is an int, str, Decimal or float".to_owned()));
    }
    let exact = if value.is_instance_of::<PyInt>() {
        let units: i64 = value.extract().map_err(|_| bad("out of range".to_owned()))?;
        Amount::from_units(units).ok_or_else(|| bad("out of range".to_owned()))?
    } else if value.is_instance_of::<PyFloat>() {
        let float: f64 = value.extract()?;
        return Amount::from_f64_rounded(float, decimals).map_err(|error| bad(error.to_string()));
    } else if value.is_instance_of::<PyString>() {
        let text: String = value.extract()?;
        text.trim().parse::<Amount>().map_err(|error| bad(error.to_string()))?
    } else if value.is_instance(decimal_type(py)?)? {
        // Fixed-point text whatever the exponent (`Decimal("1E+3")` is "1000").
        let text: String = value.call_method1("__format__", ("f",))?.extract()?;
        text.parse::<Amount>().map_err(|error| bad(error.to_string()))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "an amount is an int, str, Decimal or float, not {}",
            value.get_type().name()?
        )));
    };
    if exact.round_to(decimals) != Some(exact) {
        return Err(bad(format!("finer than the book's minor unit ({decimals} decimals)")));
    }
    Ok(exact)
}

fn shown(value: &Bound<'_, PyAny>) -> String {
    value.repr().map_or_else(|_| "?".to_owned(), |repr| repr.to_string())
}

/// A client order id from `str` (32 hex digits, a hyphenated UUID or a decimal snowflake), `int`
/// (a snowflake) or `uuid.UUID`.
pub fn order_id(value: &Bound<'_, PyAny>) -> PyResult<ClientOrderId> {
    let py = value.py();
    let text: String = if value.is_instance_of::<PyString>() {
        value.extract()?
    } else if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        value.str()?.to_string()
    } else if value.hasattr("hex")? && value.get_type().name()? == "UUID" {
        value.getattr("hex")?.extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "a client order id is a str, int or uuid.UUID, not {}",
            value.get_type().name()?
        )));
    };
    text.parse().map_err(|error| errors::invalid_input(py, format!("client order id {text:?}: {error}")))
}

/// `"buy"` or `"sell"`, any case.
pub fn side(py: Python<'_>, text: &str) -> PyResult<Side> {
    match text.to_ascii_lowercase().as_str() {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(errors::invalid_input(py, format!("side {text:?}: expected \"buy\" or \"sell\""))),
    }
}
