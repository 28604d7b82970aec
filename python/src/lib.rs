//! The native module of the capvault Python package (`capvault._capvault`).
//!
//! It is thin: commands go to the Rust vault as they are, answers come back as small objects.
//! The seeds' facades (`StrategyBalanceManager`, `GlobalVault`) and the exceptions are Python,
//! in `capvault/`. Amounts cross as `int`/`str`/`Decimal`/`float` in (`convert.rs` has the
//! rule) and `Decimal` out; figures cross with no float between (`figures.rs`).

use pyo3::prelude::*;

mod convert;
mod core;
mod errors;
mod figures;
mod quotes;
mod views;

/// An amount as the ledger would hold it at `decimals` places, as a `Decimal` (the package's
/// conversion rule, for tests and display).
#[pyfunction]
#[pyo3(signature = (value, decimals=2))]
fn to_amount<'py>(value: &Bound<'py, PyAny>, decimals: u8) -> PyResult<Bound<'py, PyAny>> {
    convert::decimal(value.py(), convert::amount(value, decimals)?)
}

/// The order id a free text names (`ClientOrderId::from_text`): a text that parses as an id
/// (32 hex digits, a uuid, a decimal snowflake) is that id; any other text (a platform's order
/// id, a `signal_id`) is a `UUIDv8` of its SHA-256. Returned as the id's text, accepted wherever an
/// id is.
#[pyfunction]
fn order_id_from_text(text: &str) -> String {
    capvault::ClientOrderId::from_text(text).to_string()
}

/// The service folder of `service` (`/dev/shm/capvault-<service>`).
#[pyfunction]
fn service_dir(service: &str) -> String {
    capvault::service_dir(service).display().to_string()
}

/// The shared-memory path a vault named `name` mirrors into by default.
#[pyfunction]
fn shm_path(name: &str) -> String {
    capvault::shm_path(name).display().to_string()
}

/// Marks every vault and connection made before a fork as the parent's (registered with
/// `os.register_at_fork(after_in_child=...)` by the package).
#[pyfunction]
fn _after_fork_in_child() {
    core::after_fork_in_child();
}

#[pymodule]
fn _capvault(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<core::Core>()?;
    module.add_class::<views::Outcome>()?;
    module.add_class::<views::Snapshot>()?;
    module.add_class::<views::PoolView>()?;
    module.add_class::<views::StepPenalty>()?;
    module.add_class::<views::ShmReader>()?;
    module.add_class::<quotes::QuoteWriter>()?;
    module.add_class::<quotes::QuoteReader>()?;
    module.add_function(wrap_pyfunction!(to_amount, module)?)?;
    module.add_function(wrap_pyfunction!(order_id_from_text, module)?)?;
    module.add_function(wrap_pyfunction!(service_dir, module)?)?;
    module.add_function(wrap_pyfunction!(shm_path, module)?)?;
    module.add_function(wrap_pyfunction!(_after_fork_in_child, module)?)?;
    module.add("WIRE_VERSION", capvault::WIRE_VERSION)?;
    Ok(())
}
