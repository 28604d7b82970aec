//! Any `Serialize` value of the library (an outcome, a rejection, an order) as Python objects,
//! with every amount an exact `decimal.Decimal`.
//!
//! The serializer says it is not human-readable, so `capvault::Amount` hands over its
//! fixed-point integer as a newtype named `Amount` instead of the JSON number (a float for a
//! non-whole amount); no float ever stands between the ledger and the Decimal.

use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::ser::{self, Serialize};

use crate::convert::decimal_from_raw;

/// A value as Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    value.serialize(Ser { py }).map_err(|error| error.0)
}

/// Why a value could not become Python objects (a Python error underneath).
pub struct Error(PyErr);

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error(pyo3::exceptions::PyValueError::new_err(msg.to_string()))
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Error {
        match never {}
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Error {
        Error(error)
    }
}

#[derive(Clone, Copy)]
struct Ser<'py> {
    py: Python<'py>,
}

/// A list or a dict being filled.
struct Compound<'py> {
    py: Python<'py>,
    list: Option<Bound<'py, PyList>>,
    dict: Option<Bound<'py, PyDict>>,
    key: Option<Bound<'py, PyAny>>,
    /// For a variant with content: the dict `{variant: content}` to wrap it in.
    variant: Option<&'static str>,
}

impl<'py> Compound<'py> {
    fn list(py: Python<'py>, variant: Option<&'static str>) -> Compound<'py> {
        Compound { py, list: Some(PyList::empty(py)), dict: None, key: None, variant }
    }

    fn dict(py: Python<'py>, variant: Option<&'static str>) -> Compound<'py> {
        Compound { py, list: None, dict: Some(PyDict::new(py)), key: None, variant }
    }

    fn push(&mut self, value: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        let value = value.serialize(Ser { py: self.py })?;
        if let Some(list) = &self.list {
            list.append(value)?;
        }
        Ok(())
    }

    fn field(&mut self, key: &str, value: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        let value = value.serialize(Ser { py: self.py })?;
        if let Some(dict) = &self.dict {
            dict.set_item(key, value)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Bound<'py, PyAny>, Error> {
        let value = match (self.list, self.dict) {
            (Some(list), _) => list.into_any(),
            (None, Some(dict)) => dict.into_any(),
            (None, None) => self.py.None().into_bound(self.py),
        };
        match self.variant {
            Some(name) => {
                let outer = PyDict::new(self.py);
                outer.set_item(name, value)?;
                Ok(outer.into_any())
            }
            None => Ok(value),
        }
    }
}

impl<'py> ser::Serializer for Ser<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;
    type SerializeSeq = Compound<'py>;
    type SerializeTuple = Compound<'py>;
    type SerializeTupleStruct = Compound<'py>;
    type SerializeTupleVariant = Compound<'py>;
    type SerializeMap = Compound<'py>;
    type SerializeStruct = Compound<'py>;
    type SerializeStructVariant = Compound<'py>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, Error> {
        Ok(v.into_pyobject(self.py)?.to_owned().into_any())
    }

    fn serialize_i8(self, v: i8) -> Result<Self::Ok, Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Self::Ok, Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Self::Ok, Error> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Self::Ok, Error> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn serialize_u8(self, v: u8) -> Result<Self::Ok, Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Self::Ok, Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Self::Ok, Error> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Self::Ok, Error> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn serialize_u128(self, v: u128) -> Result<Self::Ok, Error> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn serialize_f32(self, v: f32) -> Result<Self::Ok, Error> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<Self::Ok, Error> {
        Ok(v.into_pyobject(self.py)?.into_any())
    }

    fn serialize_char(self, v: char) -> Result<Self::Ok, Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<Self::Ok, Error> {
        Ok(PyString::new(self.py, v).into_any())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, Error> {
        Ok(pyo3::types::PyBytes::new(self.py, v).into_any())
    }

    fn serialize_none(self) -> Result<Self::Ok, Error> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Self::Ok, Error> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok, Error> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Error> {
        if name == "Amount" {
            let raw = value.serialize(RawAmount)?;
            return Ok(decimal_from_raw(self.py, raw)?);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Error> {
        let outer = PyDict::new(self.py);
        outer.set_item(variant, value.serialize(self)?)?;
        Ok(outer.into_any())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'py>, Error> {
        Ok(Compound::list(self.py, None))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'py>, Error> {
        Ok(Compound::list(self.py, None))
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'py>, Error> {
        Ok(Compound::list(self.py, None))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'py>, Error> {
        Ok(Compound::list(self.py, Some(variant)))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'py>, Error> {
        Ok(Compound::dict(self.py, None))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'py>, Error> {
        Ok(Compound::dict(self.py, None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'py>, Error> {
        Ok(Compound::dict(self.py, Some(variant)))
    }
}

impl<'py> ser::SerializeSeq for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeTuple for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeTupleStruct for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeTupleVariant for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeMap for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(Ser { py: self.py })?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let value = value.serialize(Ser { py: self.py })?;
        if let (Some(dict), Some(key)) = (&self.dict, self.key.take()) {
            // Decimal keys (none today) would not hash as the JSON text; keys are names.
            dict.set_item(key, value)?;
        }
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeStruct for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

impl<'py> ser::SerializeStructVariant for Compound<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<Self::Ok, Error> {
        self.finish()
    }
}

/// Takes the `i64` out of `Amount`'s newtype.
struct RawAmount;

impl ser::Serializer for RawAmount {
    type Ok = i64;
    type Error = Error;
    type SerializeSeq = ser::Impossible<i64, Error>;
    type SerializeTuple = ser::Impossible<i64, Error>;
    type SerializeTupleStruct = ser::Impossible<i64, Error>;
    type SerializeTupleVariant = ser::Impossible<i64, Error>;
    type SerializeMap = ser::Impossible<i64, Error>;
    type SerializeStruct = ser::Impossible<i64, Error>;
    type SerializeStructVariant = ser::Impossible<i64, Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_i64(self, v: i64) -> Result<i64, Error> {
        Ok(v)
    }

    fn serialize_bool(self, _: bool) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_i8(self, v: i8) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_u8(self, v: u8) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<i64, Error> {
        Ok(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<i64, Error> {
        i64::try_from(v).map_err(|_| not_raw())
    }

    fn serialize_f32(self, _: f32) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_f64(self, _: f64) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_char(self, _: char) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_str(self, _: &str) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_none(self) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_unit(self) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<i64, Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<i64, Error> {
        Err(not_raw())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_raw())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_raw())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_raw())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_raw())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_raw())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_raw())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_raw())
    }
}

fn not_raw() -> Error {
    ser::Error::custom("an Amount newtype that does not hold its fixed-point integer")
}
