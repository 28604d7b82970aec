//! The library's errors as the package's exceptions (defined in Python, `capvault/errors.py`,
//! where their docstrings and attributes live).

use capvault::{ConnectError, LinkedRejection, Rejection, SubmitError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::figures::to_py;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module = MODULE.get_or_try_init(py, || py.import("capvault.errors").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

/// An instance of the exception class `name` built from `args`, as a `PyErr`.
pub fn new<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match class(py, name).and_then(|class| class.call1(args)) {
        Ok(instance) => PyErr::from_value(instance),
        Err(error) => error,
    }
}

/// `capvault.InvalidAmount` (a `ValueError`).
pub fn invalid_amount(py: Python<'_>, message: String) -> PyErr {
    new(py, "InvalidAmount", (message,))
}

/// `capvault.InvalidInput` (a `ValueError`).
pub fn invalid_input(py: Python<'_>, message: String) -> PyErr {
    new(py, "InvalidInput", (message,))
}

/// `capvault.Rejected` with the rejection's code and figures.
pub fn rejected(py: Python<'_>, rejection: &Rejection) -> PyErr {
    let figures =
        match to_py(py, rejection).and_then(|value| value.cast_into::<PyDict>().map_err(PyErr::from)) {
            Ok(figures) => figures,
            Err(error) => return error,
        };
    // The code is the tag; the rest are the figures.
    if let Err(error) = figures.del_item("rejection") {
        return error;
    }
    new(py, "Rejected", (rejection.to_string(), rejection.code(), figures))
}

/// A linked reservation's refusal: `Rejected`, its figures naming the part too.
pub fn rejected_part(py: Python<'_>, refused: &LinkedRejection) -> PyErr {
    let figures = match to_py(py, &refused.rejection)
        .and_then(|value| value.cast_into::<PyDict>().map_err(PyErr::from))
    {
        Ok(figures) => figures,
        Err(error) => return error,
    };
    if let Err(error) = figures.del_item("rejection").and_then(|()| figures.set_item("part", refused.part)) {
        return error;
    }
    new(py, "Rejected", (refused.to_string(), refused.rejection.code(), figures))
}

/// The exception for a failed submit.
pub fn submit(py: Python<'_>, error: &SubmitError) -> PyErr {
    match error {
        SubmitError::Rejected(rejection) => rejected(py, rejection),
        SubmitError::Stopped(stopped) => new(py, "Stopped", (stopped.to_string(),)),
        SubmitError::InDoubt(stopped) => new(py, "InDoubt", (stopped.to_string(),)),
        SubmitError::Disconnected | SubmitError::AnswersCorrupt => {
            new(py, "Disconnected", (error.to_string(),))
        }
        SubmitError::Refused(refusal) => new(py, "Refused", (refusal.to_string(),)),
        _ => new(py, "Error", (error.to_string(),)),
    }
}

/// The exception for a failed connect.
pub fn connect(py: Python<'_>, error: &ConnectError) -> PyErr {
    let kind = match error {
        ConnectError::NotServed { .. } => "not_served",
        ConnectError::PermissionDenied { .. } => "permission_denied",
        ConnectError::Version { .. } => "version",
        ConnectError::Full { .. } => "full",
        ConnectError::NoGrant { .. } => "no_grant",
        ConnectError::WrongUser => "wrong_user",
        ConnectError::InvalidName => "invalid_name",
        _ => "other",
    };
    new(py, "ConnectError", (error.to_string(), kind))
}
