//! Money as a fixed-point integer.
//!
//! Every balance inside the ledger is an [`Amount`]: a signed count of 10^-8 currency units in an
//! `i64`, kept within `±Amount::MAX`. Arithmetic is checked and returns `None` instead of wrapping
//! or leaving the range; `f64` and decimal strings are converted only at the edges (configuration,
//! JSON mirrors, display), and a conversion that would lose a digit is refused.

use std::fmt;
use std::str::FromStr;

/// A signed amount of one currency, held as an integer count of 10^-8 units.
///
/// The range is `-Amount::MAX ..= Amount::MAX` (10^10 currency units either way), narrower than
/// `i64` on purpose: negation never overflows, and a sum of two in-range amounts always fits in an
/// `i64` before it is range-checked.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::Amount;
/// let price: Amount = "1.153".parse()?;
/// let amount = price.checked_mul_int(8600).ok_or("out of range")?;      // 9915.8, exactly
/// assert_eq!(amount, Amount::from_f64_rounded(1.153 * 8600.0, 2)?);   // a float, rounded to cents
/// assert_eq!((amount + "0.2".parse()?).map(|a| a.to_string()), Some("9916".to_owned()));
/// assert_eq!(format!("{}", amount.grouped(2)), "9,915.80");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Amount(i64);

/// Why a value could not become an [`Amount`].
///
/// ```
/// use capvault::{Amount, AmountError};
/// assert_eq!("0.123456789".parse::<Amount>(), Err(AmountError::TooPrecise { decimals_needed: 9 }));
/// assert_eq!(Amount::from_f64(f64::NAN), Err(AmountError::NotFinite));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AmountError {
    /// The `f64` was NaN or infinite.
    NotFinite,
    /// The value lies outside `±Amount::MAX`.
    OutOfRange,
    /// The value has more significant fractional digits than the scale keeps (8).
    TooPrecise {
        /// How many fractional digits the value needs.
        decimals_needed: u32,
    },
    /// The text is not a plain decimal number (`-12.5`, `300000`, `0.00000001`).
    Malformed,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::NotFinite => f.write_str("amount is NaN or infinite"),
            AmountError::OutOfRange => write!(f, "amount is beyond ±{}", Amount::MAX),
            AmountError::TooPrecise { decimals_needed } => write!(
                f,
                "amount needs {decimals_needed} fractional digits, the scale keeps {}",
                Amount::DECIMALS
            ),
            AmountError::Malformed => f.write_str("amount is not a plain decimal number"),
        }
    }
}

impl std::error::Error for AmountError {}

impl Amount {
    /// Raw units per currency unit.
    pub const SCALE: i64 = 100_000_000;
    /// Fractional digits kept.
    pub const DECIMALS: u32 = 8;
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// The largest amount: 10^10 currency units.
    pub const MAX: Amount = Amount(1_000_000_000_000_000_000);

    /// An amount from its raw count of 10^-8 units, if within range.
    #[must_use]
    pub const fn from_raw(raw: i64) -> Option<Amount> {
        if raw > Self::MAX.0 || raw < -Self::MAX.0 {
            None
        } else {
            Some(Amount(raw))
        }
    }

    /// An amount of whole currency units, if within range.
    #[must_use]
    pub const fn from_units(units: i64) -> Option<Amount> {
        match units.checked_mul(Self::SCALE) {
            Some(raw) => Self::from_raw(raw),
            None => None,
        }
    }

    /// The raw count of 10^-8 units.
    #[must_use]
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// `true` if the amount is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `true` if the amount is strictly positive.
    #[must_use]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `true` if the amount is strictly negative.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self + rhs`, or `None` if the result leaves the range.
    #[must_use]
    pub const fn checked_add(self, rhs: Amount) -> Option<Amount> {
        // Both operands are within ±10^18, so the i64 sum cannot overflow; only the range can.
        Self::from_raw(self.0 + rhs.0)
    }

    /// `self - rhs`, or `None` if the result leaves the range.
    #[must_use]
    pub const fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        Self::from_raw(self.0 - rhs.0)
    }

    /// `self × n` (a price times a share count), or `None` if the result leaves the range.
    #[must_use]
    pub const fn checked_mul_int(self, n: i64) -> Option<Amount> {
        match self.0.checked_mul(n) {
            Some(raw) => Self::from_raw(raw),
            None => None,
        }
    }

    /// The sum of `amounts`, or `None` as soon as a partial sum leaves the range.
    #[must_use]
    pub fn checked_sum(amounts: impl IntoIterator<Item = Amount>) -> Option<Amount> {
        amounts.into_iter().try_fold(Amount::ZERO, Amount::checked_add)
    }

    /// `-self`; always in range because the range is symmetric.
    #[must_use]
    pub const fn neg(self) -> Amount {
        Amount(-self.0)
    }

    /// The magnitude.
    #[must_use]
    pub const fn abs(self) -> Amount {
        Amount(self.0.abs())
    }

    /// The amount as the nearest `f64`, for display and JSON only.
    #[must_use]
    pub fn to_f64(self) -> f64 {
        // Going through the exact decimal text gives the correctly rounded f64, which a
        // `raw as f64 / 1e8` (two roundings) does not always.
        let mut buf = DecimalBuf::new();
        self.write_decimal(&mut buf);
        buf.as_str().parse().unwrap_or(f64::NAN)
    }

    /// The amount an `f64` stands for at the edge (a JSON number, a Python float).
    ///
    /// The rule: the shortest decimal that reads back as the same `f64` (the text Rust prints
    /// for it) must need at most 8 fractional digits. So `0.1` and `3500.5` convert exactly,
    /// `0.123456789` is refused as [`AmountError::TooPrecise`].
    ///
    /// # Errors
    /// [`AmountError::NotFinite`] for NaN and ±inf, [`AmountError::OutOfRange`] beyond
    /// `±Amount::MAX`, [`AmountError::TooPrecise`] for a value finer than 10^-8.
    pub fn from_f64(value: f64) -> Result<Amount, AmountError> {
        if !value.is_finite() {
            return Err(AmountError::NotFinite);
        }
        if value.abs() > 1e10 * 2.0 {
            // Cheap early exit before formatting huge values; the exact bound is checked below.
            return Err(AmountError::OutOfRange);
        }
        value.to_string().parse()
    }

    /// The amount an `f64` stands for, rounded to `decimals` fractional digits (a currency's
    /// minor unit: 2 for CNY), for floats that carry binary noise: Python's `1.153 * 8600` is
    /// `9915.800000000001`, and this gives 9,915.80.
    ///
    /// The rule: the float's exact binary value is rounded half to even at `decimals` places,
    /// as Python's `round(x, decimals)` and `Decimal(x).quantize(...,
    /// ROUND_HALF_EVEN)` do (`0.125` → `0.12`, `0.375` → `0.38`; `2.675` is stored as
    /// 2.67499999... and becomes `2.67`). For input that must be exact, use
    /// [`Amount::from_f64`] or parse the text.
    ///
    /// # Errors
    /// [`AmountError::NotFinite`] for NaN and ±inf, [`AmountError::OutOfRange`] beyond
    /// `±Amount::MAX`, [`AmountError::TooPrecise`] if `decimals` exceeds the scale's 8.
    pub fn from_f64_rounded(value: f64, decimals: u32) -> Result<Amount, AmountError> {
        if !value.is_finite() {
            return Err(AmountError::NotFinite);
        }
        if decimals > Self::DECIMALS {
            return Err(AmountError::TooPrecise { decimals_needed: decimals });
        }
        if value.abs() > 1e10 * 2.0 {
            return Err(AmountError::OutOfRange);
        }
        let steps = round_half_even_scaled(value.abs(), 10_u128.pow(decimals));
        let raw = i64::try_from(steps)
            .ok()
            .and_then(|steps| steps.checked_mul(10_i64.pow(Self::DECIMALS - decimals)))
            .ok_or(AmountError::OutOfRange)?;
        Amount::from_raw(if value < 0.0 { -raw } else { raw }).ok_or(AmountError::OutOfRange)
    }

    /// This amount rounded half to even to `decimals` fractional digits (at most 8), or `None`
    /// if the rounded amount leaves the range.
    #[must_use]
    pub const fn round_to(self, decimals: u32) -> Option<Amount> {
        if decimals >= Self::DECIMALS {
            return Some(self);
        }
        let step = 10_i64.pow(Self::DECIMALS - decimals);
        let (quotient, remainder) = (self.0 / step, (self.0 % step).abs());
        let away = remainder * 2 > step || (remainder * 2 == step && quotient % 2 != 0);
        let steps = if !away {
            quotient
        } else if self.0 < 0 {
            quotient - 1
        } else {
            quotient + 1
        };
        Self::from_raw(steps * step)
    }

    /// Writes the exact decimal text: `-12.5`, `300000`, `0.00000001`.
    fn write_decimal(self, buf: &mut DecimalBuf) {
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / Self::SCALE as u64;
        let mut fraction = magnitude % Self::SCALE as u64;
        if self.0 < 0 {
            buf.push(b'-');
        }
        buf.push_u64(whole);
        if fraction != 0 {
            let mut digits = Self::DECIMALS;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                digits -= 1;
            }
            buf.push(b'.');
            buf.push_padded(fraction, digits);
        }
    }
}

/// `round_half_even(value × scale)` for a finite non-negative `value` below 2^35, computed
/// exactly from the float's mantissa and exponent (no second rounding).
fn round_half_even_scaled(value: f64, scale: u128) -> u128 {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = u128::from(bits & ((1 << 52) - 1));
    // value = mantissa × 2^shift exactly.
    let (mantissa, shift) =
        if exponent == 0 { (fraction, -1074) } else { (fraction | (1 << 52), exponent - 1075) };
    let numerator = mantissa * scale; // < 2^53 × 10^8 < 2^80: no overflow
    if shift >= 0 {
        return numerator << shift; // value < 2^35, so shift <= 0 in practice
    }
    let down = shift.unsigned_abs();
    if down >= 128 {
        return 0; // numerator < 2^80 is far below half of 2^128
    }
    let quotient = numerator >> down;
    let remainder = numerator & ((1_u128 << down) - 1);
    let half = 1_u128 << (down - 1);
    if remainder > half || (remainder == half && quotient % 2 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// Checked addition that reads as arithmetic: `a + b` is `Some(sum)` or `None` if the sum leaves
/// the range, and `None` stays `None` along a chain (`(a + b - c).ok_or(...)`).
impl std::ops::Add for Amount {
    type Output = Option<Amount>;
    fn add(self, rhs: Amount) -> Option<Amount> {
        self.checked_add(rhs)
    }
}

/// Checked subtraction: `a - b` is `None` if the difference leaves the range.
impl std::ops::Sub for Amount {
    type Output = Option<Amount>;
    fn sub(self, rhs: Amount) -> Option<Amount> {
        self.checked_sub(rhs)
    }
}

/// Continues a checked chain: `(a + b) + c`.
impl std::ops::Add<Amount> for Option<Amount> {
    type Output = Option<Amount>;
    fn add(self, rhs: Amount) -> Option<Amount> {
        self?.checked_add(rhs)
    }
}

/// Continues a checked chain: `(a + b) - c`.
impl std::ops::Sub<Amount> for Option<Amount> {
    type Output = Option<Amount>;
    fn sub(self, rhs: Amount) -> Option<Amount> {
        self?.checked_sub(rhs)
    }
}

/// Price times shares, exactly: `price * shares` is `Some(value)` or `None` if it leaves the
/// range. The way to value an order (never through `f64`, which loses a price's decimals):
///
/// ```
/// use capvault::Amount;
/// let price: Amount = "69.18".parse().unwrap();      // from the signal's text, exactly
/// assert_eq!(price * 1_000_u64, Some("69180".parse().unwrap()));
/// assert_eq!(1_000_u64 * price, price * 1_000_u64);
/// assert_eq!(Amount::MAX * 2_u64, None);
/// ```
impl std::ops::Mul<u64> for Amount {
    type Output = Option<Amount>;
    fn mul(self, shares: u64) -> Option<Amount> {
        self.checked_mul_int(i64::try_from(shares).ok()?)
    }
}

/// Shares times price: `shares * price`, as `price * shares`.
impl std::ops::Mul<Amount> for u64 {
    type Output = Option<Amount>;
    fn mul(self, price: Amount) -> Option<Amount> {
        price * self
    }
}

/// `amounts.into_iter().sum::<Option<Amount>>()`: `None` if any partial sum leaves the range.
impl std::iter::Sum<Amount> for Option<Amount> {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Option<Amount> {
        Amount::checked_sum(iter)
    }
}

impl fmt::Display for Amount {
    /// Exact decimal text, or rounded half away from zero when a precision is given
    /// (`{:.2}` prints `-0.13` for `-0.125`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = DecimalBuf::new();
        match f.precision() {
            Some(precision) if precision < Self::DECIMALS as usize => {
                let step = 10_i64.pow(Self::DECIMALS - precision as u32);
                let magnitude = (self.0.unsigned_abs() + step as u64 / 2) / step as u64;
                if self.0 < 0 && magnitude != 0 {
                    buf.push(b'-');
                }
                let unit = 10_u64.pow(precision as u32);
                buf.push_u64(magnitude / unit);
                if precision > 0 {
                    buf.push(b'.');
                    buf.push_padded(magnitude % unit, precision as u32);
                }
            }
            _ => self.write_decimal(&mut buf),
        }
        let text = buf.as_str();
        match (f.width(), f.align()) {
            (Some(width), Some(fmt::Alignment::Left)) => write!(f, "{text:<width$}"),
            (Some(width), Some(fmt::Alignment::Center)) => write!(f, "{text:^width$}"),
            (Some(width), _) => write!(f, "{text:>width$}"),
            (None, _) => f.write_str(text),
        }
    }
}

/// An amount displayed with thousands separators and a fixed number of decimals
/// (`1,234,567.50`), for tables. See [`Amount::grouped`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let amount: capvault::Amount = "1234567.5".parse()?;
/// assert_eq!(amount.grouped(2).to_string(), "1,234,567.50");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Grouped {
    amount: Amount,
    decimals: usize,
}

impl Amount {
    /// Displays with thousands separators and `decimals` decimals, rounded half away from zero.
    #[must_use]
    pub const fn grouped(self, decimals: usize) -> Grouped {
        Grouped { amount: self, decimals }
    }
}

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.*}", self.decimals.min(Amount::DECIMALS as usize), self.amount);
        let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |rest| ("-", rest));
        let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
        let mut out = String::with_capacity(text.len() + whole.len() / 3);
        out.push_str(sign);
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if let Some(fraction) = fraction {
            out.push('.');
            out.push_str(fraction);
        }
        f.pad(&out)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses a plain decimal: an optional sign, digits, and optionally a point followed by
    /// digits. Trailing zeros past the 8th fractional digit are accepted (they add no
    /// precision); any other digit there is [`AmountError::TooPrecise`]. No exponents, spaces
    /// or separators.
    fn from_str(text: &str) -> Result<Amount, AmountError> {
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (whole, fraction) = match body.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (body, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|fraction| !all_digits(fraction)) {
            return Err(AmountError::Malformed);
        }
        let fraction = fraction.unwrap_or("").trim_end_matches('0');
        if fraction.len() > Self::DECIMALS as usize {
            return Err(AmountError::TooPrecise {
                decimals_needed: u32::try_from(fraction.len()).unwrap_or(u32::MAX),
            });
        }
        let whole = whole.trim_start_matches('0');
        // More than 11 whole digits is beyond 10^10 whatever follows; this also keeps the
        // accumulation below from overflowing.
        if whole.len() > 11 {
            return Err(AmountError::OutOfRange);
        }
        let mut raw: i64 = 0;
        for digit in whole.bytes() {
            raw = raw * 10 + i64::from(digit - b'0');
        }
        let mut raw = raw.checked_mul(Self::SCALE).ok_or(AmountError::OutOfRange)?;
        let mut place = Self::SCALE / 10;
        for digit in fraction.bytes() {
            raw += i64::from(digit - b'0') * place;
            place /= 10;
        }
        Amount::from_raw(if negative { -raw } else { raw }).ok_or(AmountError::OutOfRange)
    }
}

impl serde::Serialize for Amount {
    /// A plain JSON number in currency units, as the JSON mirrors and the seeds' files use:
    /// an integer when the amount is whole (`120000`), otherwise the nearest `f64` (`3500.5`).
    ///
    /// A format that is not human-readable gets the exact fixed-point integer instead, as a
    /// newtype named `Amount` (the Python package reads figures this way, with no float between).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_newtype_struct("Amount", &self.0);
        }
        if self.0 % Self::SCALE == 0 {
            serializer.serialize_i64(self.0 / Self::SCALE)
        } else {
            serializer.serialize_f64(self.to_f64())
        }
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    /// Accepts a JSON number or a decimal string; either is refused if it would lose a digit.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount: a number or a decimal string with at most 8 decimals")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                Amount::from_units(v).ok_or_else(|| E::custom(AmountError::OutOfRange))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(Amount::from_units)
                    .ok_or_else(|| E::custom(AmountError::OutOfRange))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                Amount::from_f64(v).map_err(E::custom)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                v.parse().map_err(E::custom)
            }
        }
        if !deserializer.is_human_readable() {
            let raw = <i64 as serde::Deserialize>::deserialize(deserializer)?;
            return Amount::from_raw(raw).ok_or_else(|| serde::de::Error::custom(AmountError::OutOfRange));
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A stack buffer for decimal text: the longest amount is `-10000000000.00000001` (21 bytes).
struct DecimalBuf {
    bytes: [u8; 32],
    len: usize,
}

impl DecimalBuf {
    fn new() -> DecimalBuf {
        DecimalBuf { bytes: [0; 32], len: 0 }
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn push_u64(&mut self, mut value: u64) {
        let start = self.len;
        loop {
            self.push(b'0' + (value % 10) as u8);
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.bytes[start..self.len].reverse();
    }

    /// Pushes `value` as exactly `digits` digits, zero-padded on the left.
    fn push_padded(&mut self, mut value: u64, digits: u32) {
        let start = self.len;
        for _ in 0..digits {
            self.push(b'0' + (value % 10) as u8);
            value /= 10;
        }
        self.bytes[start..self.len].reverse();
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, '-' and '.' are ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> Amount {
        text.parse().unwrap()
    }

    #[test]
    fn edges_of_text_and_json() {
        let units = |n| Amount::from_units(n).unwrap();
        assert_eq!(Amount::from_f64(6e9), Ok(units(6_000_000_000)), "valid above half the range");
        assert_eq!(Amount::from_f64(1e10), Ok(Amount::MAX));
        assert_eq!(Amount::ZERO.to_string(), "0");
        assert_eq!(format!("{:.2}", Amount::ZERO), "0.00");
        let value: Amount = "1234.5678".parse().unwrap();
        assert_eq!(format!("{value:.2}"), "1234.57");
        assert_eq!(format!("{value:.8}"), "1234.5678", "from 8 decimals on, the exact text");
        assert_eq!(format!("{value:.10}"), "1234.5678");
        assert_eq!(format!("{value:?}"), "Amount(1234.5678)");
        assert_eq!(serde_json::from_str::<Amount>("-5").unwrap(), units(-5));
        let error = serde_json::from_str::<Amount>("true").unwrap_err().to_string();
        assert!(error.contains("an amount: a number or a decimal string"), "{error}");
    }

    fn amount(text: &str) -> Amount {
        text.parse().unwrap()
    }

    #[test]
    fn parses_plain_decimals_exactly() {
        assert_eq!(amount("300000").raw(), 300_000 * Amount::SCALE);
        assert_eq!(amount("-12.5").raw(), -1_250_000_000);
        assert_eq!(amount("+0.00000001").raw(), 1);
        assert_eq!(amount("007.10").raw(), 710_000_000);
        assert_eq!(amount("1.0000000000").raw(), Amount::SCALE);
        assert_eq!(amount("-0").raw(), 0);
        assert_eq!(amount("10000000000").raw(), Amount::MAX.raw());
    }

    #[test]
    fn refuses_malformed_text() {
        for text in ["", "-", "+", ".5", "1.", "1e5", " 1", "1 ", "1_000", "--1", "1.2.3", "0x10", "١"] {
            assert_eq!(text.parse::<Amount>(), Err(AmountError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn refuses_digits_beyond_the_scale() {
        assert_eq!("0.123456789".parse::<Amount>(), Err(AmountError::TooPrecise { decimals_needed: 9 }));
        assert_eq!("1.000000001".parse::<Amount>(), Err(AmountError::TooPrecise { decimals_needed: 9 }));
    }

    #[test]
    fn refuses_values_beyond_the_range() {
        assert_eq!("10000000000.00000001".parse::<Amount>(), Err(AmountError::OutOfRange));
        assert_eq!("-10000000001".parse::<Amount>(), Err(AmountError::OutOfRange));
        assert_eq!("99999999999999999999999".parse::<Amount>(), Err(AmountError::OutOfRange));
        assert_eq!(Amount::from_raw(Amount::MAX.raw() + 1), None);
        assert_eq!(Amount::from_units(i64::MAX), None);
    }

    #[test]
    fn converts_f64_by_the_shortest_round_trip_rule() {
        assert_eq!(Amount::from_f64(0.1), Ok(amount("0.1")));
        assert_eq!(Amount::from_f64(3500.5), Ok(amount("3500.5")));
        assert_eq!(Amount::from_f64(-2100.0), Ok(amount("-2100")));
        assert_eq!(Amount::from_f64(1e-8), Ok(Amount::from_raw(1).unwrap()));
        assert_eq!(Amount::from_f64(-0.0), Ok(Amount::ZERO));
        assert_eq!(Amount::from_f64(0.123_456_789), Err(AmountError::TooPrecise { decimals_needed: 9 }));
        assert_eq!(Amount::from_f64(f64::NAN), Err(AmountError::NotFinite));
        assert_eq!(Amount::from_f64(f64::INFINITY), Err(AmountError::NotFinite));
        assert_eq!(Amount::from_f64(f64::NEG_INFINITY), Err(AmountError::NotFinite));
        assert_eq!(Amount::from_f64(1e11), Err(AmountError::OutOfRange));
        assert_eq!(Amount::from_f64(f64::MAX), Err(AmountError::OutOfRange));
        assert!(matches!(Amount::from_f64(f64::MIN_POSITIVE), Err(AmountError::TooPrecise { .. })));
    }

    #[test]
    fn round_trips_through_text_and_f64() {
        for raw in [0, 1, -1, 12_345_678_901, -99, Amount::MAX.raw(), -Amount::MAX.raw()] {
            let a = Amount::from_raw(raw).unwrap();
            assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
        }
        for text in ["0.1", "3500.5", "300000", "-0.00000001", "123456.78901234"] {
            let a = amount(text);
            assert_eq!(Amount::from_f64(a.to_f64()), Ok(a), "{text}");
        }
    }

    #[test]
    fn displays_exact_and_rounded() {
        assert_eq!(amount("-12.50").to_string(), "-12.5");
        assert_eq!(amount("0.00000001").to_string(), "0.00000001");
        assert_eq!(format!("{:.2}", amount("-0.125")), "-0.13");
        assert_eq!(format!("{:.2}", amount("0.004")), "0.00");
        assert_eq!(format!("{:.0}", amount("2.5")), "3");
        assert_eq!(format!("{:>10.1}", amount("1.25")), "       1.3");
        assert_eq!(format!("{:<6}", amount("1")), "1     ");
    }

    #[test]
    fn groups_thousands_for_tables() {
        assert_eq!(amount("1234567.5").grouped(2).to_string(), "1,234,567.50");
        assert_eq!(amount("-999.994").grouped(2).to_string(), "-999.99");
        assert_eq!(amount("100000").grouped(0).to_string(), "100,000");
        assert_eq!(format!("{:>10}", amount("1000").grouped(1)), "   1,000.0");
    }

    #[test]
    fn arithmetic_is_checked_at_the_range() {
        let one = Amount::from_raw(1).unwrap();
        assert_eq!(Amount::MAX.checked_add(one), None);
        assert_eq!(Amount::MAX.neg().checked_sub(one), None);
        assert_eq!(Amount::MAX.checked_sub(one).map(Amount::raw), Some(Amount::MAX.raw() - 1));
        assert_eq!(Amount::MAX.neg().neg(), Amount::MAX);
    }

    #[test]
    fn serde_uses_plain_numbers_and_refuses_lossy_ones() {
        let a = amount("3500.5");
        assert_eq!(serde_json::to_string(&a).unwrap(), "3500.5");
        assert_eq!(serde_json::from_str::<Amount>("3500.5").unwrap(), a);
        assert_eq!(serde_json::from_str::<Amount>("\"3500.50\"").unwrap(), a);
        assert_eq!(serde_json::from_str::<Amount>("120000").unwrap(), amount("120000"));
        assert!(serde_json::from_str::<Amount>("0.123456789").is_err());
        assert!(serde_json::from_str::<Amount>("1e300").is_err());
        assert!(serde_json::from_str::<Amount>("true").is_err());
    }

    #[test]
    fn a_float_with_binary_noise_rounds_half_even_to_the_minor_unit() {
        let cents = |x: f64| Amount::from_f64_rounded(x, 2).unwrap();
        assert_eq!(cents(1.153 * 8600.0), a("9915.80"));
        assert_eq!(cents(0.125), a("0.12"));
        assert_eq!(cents(0.375), a("0.38"));
        assert_eq!(cents(2.675), a("2.67"), "2.675 is stored below the tie");
        assert_eq!(cents(-0.125), a("-0.12"));
        assert_eq!(cents(-1.153 * 8600.0), a("-9915.80"));
        assert_eq!(Amount::from_f64_rounded(2.5, 0).unwrap(), a("2"));
        assert_eq!(Amount::from_f64_rounded(3.5, 0).unwrap(), a("4"));
        assert_eq!(Amount::from_f64_rounded(1e-9, 8).unwrap(), Amount::ZERO);
        assert_eq!(Amount::from_f64_rounded(1.5e-8, 8).unwrap().raw(), 1, "1.5e-8 is stored below the tie");
        assert_eq!(Amount::from_f64_rounded(1e10, 2).unwrap(), Amount::MAX);
        assert_eq!(Amount::from_f64_rounded(1.5e10, 2), Err(AmountError::OutOfRange));
        assert_eq!(Amount::from_f64_rounded(f64::NAN, 2), Err(AmountError::NotFinite));
        assert_eq!(Amount::from_f64_rounded(1.0, 9), Err(AmountError::TooPrecise { decimals_needed: 9 }));
        // The strict conversion still refuses the noise.
        assert!(Amount::from_f64(1.153 * 8600.0).is_err());
    }

    #[test]
    fn rounding_an_amount_is_half_even() {
        assert_eq!(a("0.125").round_to(2), Some(a("0.12")));
        assert_eq!(a("0.135").round_to(2), Some(a("0.14")));
        assert_eq!(a("-0.125").round_to(2), Some(a("-0.12")));
        assert_eq!(a("-0.135").round_to(2), Some(a("-0.14")));
        assert_eq!(a("-0.126").round_to(2), Some(a("-0.13")));
        assert_eq!(a("7.00000001").round_to(8), Some(a("7.00000001")));
        assert_eq!(Amount::MAX.round_to(0), Some(Amount::MAX));
    }

    #[test]
    fn checked_operators_chain_and_stop_at_the_range() {
        let (x, y) = (a("100.5"), a("0.25"));
        assert_eq!(x + y, Some(a("100.75")));
        assert_eq!(x - y - y, Some(a("100")));
        assert_eq!(x + y + y - x, Some(a("0.5")));
        assert_eq!(Amount::MAX + a("0.00000001"), None);
        assert_eq!(Amount::MAX + a("1") - a("2"), None, "None stays None along a chain");
        assert_eq!(Amount::checked_sum([x, y, y]), Some(a("101")));
        assert_eq!([Amount::MAX, Amount::MAX, Amount::MAX.neg()].into_iter().sum::<Option<Amount>>(), None);
        assert_eq!(a("3.1").checked_mul_int(100), Some(a("310")));
        assert_eq!(a("1.153").checked_mul_int(8600), Some(a("9915.8")));
        assert_eq!(Amount::MAX.checked_mul_int(2), None);
        assert_eq!(a("2").checked_mul_int(i64::MAX), None);
    }
}
