//! Exact ratios for the ledger's rules: the reserve ratio, penalty thresholds and multipliers.

use std::fmt;

use crate::ledger::money::Amount;

/// A non-negative ratio in parts per million: `Ratio::from_ppm(150_000)` is 15%.
///
/// Rules compare `committed` with `total × ratio` in `i128` integers, so a threshold is hit
/// exactly where the seed's arithmetic puts it (255,000 of 300,000 at 85%), never a rounding
/// error away.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::Ratio;
/// let reserve = Ratio::from_f64(0.15)?;
/// assert_eq!(reserve.ppm(), 150_000);
/// assert_eq!(reserve.to_string(), "0.15");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ratio(u32);

/// Why a value could not become a [`Ratio`].
///
/// ```
/// assert!(capvault::Ratio::from_f64(0.1234567).is_err(), "finer than parts per million");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RatioError {
    /// NaN, infinite or negative.
    NotFiniteOrNegative,
    /// More than six decimal places.
    TooPrecise,
    /// Above the largest ratio the setting allows.
    AboveMax {
        /// The largest allowed ratio, in ppm.
        max_ppm: u32,
    },
}

impl fmt::Display for RatioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RatioError::NotFiniteOrNegative => f.write_str("ratio is NaN, infinite or negative"),
            RatioError::TooPrecise => f.write_str("ratio has more than 6 decimal places"),
            RatioError::AboveMax { max_ppm } => {
                write!(f, "ratio is above {}", Ratio(*max_ppm))
            }
        }
    }
}

impl std::error::Error for RatioError {}

impl Ratio {
    /// Parts per unit.
    pub const PPM: u32 = 1_000_000;
    /// 0.
    pub const ZERO: Ratio = Ratio(0);
    /// 1.
    pub const ONE: Ratio = Ratio(Self::PPM);

    /// A ratio of `ppm` parts per million.
    #[must_use]
    pub const fn from_ppm(ppm: u32) -> Ratio {
        Ratio(ppm)
    }

    /// Parts per million.
    #[must_use]
    pub const fn ppm(self) -> u32 {
        self.0
    }

    /// The ratio an `f64` stands for at the edge (`0.15`, `1.5`), with at most six decimals.
    ///
    /// # Errors
    /// [`RatioError`] for NaN, ±inf, negatives, more than six decimals, or values that do not
    /// fit.
    pub fn from_f64(value: f64) -> Result<Ratio, RatioError> {
        if !value.is_finite() || value < 0.0 {
            return Err(RatioError::NotFiniteOrNegative);
        }
        let scaled = value * f64::from(Self::PPM);
        if scaled > f64::from(u32::MAX) {
            return Err(RatioError::AboveMax { max_ppm: u32::MAX });
        }
        let ppm = scaled.round();
        // Refuse inputs like 0.1234567: the nearest ppm must read back as the same f64.
        if ppm / f64::from(Self::PPM) != value {
            return Err(RatioError::TooPrecise);
        }
        Ok(Ratio(ppm as u32))
    }

    /// The ratio as an `f64`, for display.
    #[must_use]
    pub fn to_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::PPM)
    }

    /// Checks that the ratio is at most `max`.
    ///
    /// # Errors
    /// [`RatioError::AboveMax`] otherwise.
    pub const fn at_most(self, max: Ratio) -> Result<Ratio, RatioError> {
        if self.0 > max.0 {
            Err(RatioError::AboveMax { max_ppm: max.0 })
        } else {
            Ok(self)
        }
    }

    /// `1 - self`, for a ratio of at most one.
    #[must_use]
    pub const fn complement(self) -> Ratio {
        Ratio(Self::PPM.saturating_sub(self.0))
    }

    /// `floor(amount × self)` in raw units, exact in `i128`. Flooring makes a limit derived from
    /// a balance never larger than the exact product.
    #[must_use]
    pub fn floor_of(self, amount: Amount) -> i128 {
        (i128::from(amount.raw()) * i128::from(self.0)).div_euclid(i128::from(Self::PPM))
    }

    /// `part > whole × self`, exactly.
    #[must_use]
    pub fn is_exceeded_by(self, part: Amount, whole: Amount) -> bool {
        i128::from(part.raw()) * i128::from(Self::PPM) > i128::from(whole.raw()) * i128::from(self.0)
    }

    /// `part < whole × self`, exactly.
    #[must_use]
    pub fn is_undercut_by(self, part: Amount, whole: Amount) -> bool {
        i128::from(part.raw()) * i128::from(Self::PPM) < i128::from(whole.raw()) * i128::from(self.0)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::PPM;
        let mut fraction = self.0 % Self::PPM;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let mut digits = 6;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            digits -= 1;
        }
        write!(f, "{whole}.{fraction:0digits$}")
    }
}

impl fmt::Debug for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ratio({self})")
    }
}

impl serde::Serialize for Ratio {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> serde::Deserialize<'de> for Ratio {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ratio, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Ratio::from_f64(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_edge_values_exactly() {
        assert_eq!(Ratio::from_f64(0.15), Ok(Ratio::from_ppm(150_000)));
        assert_eq!(Ratio::from_f64(0.9), Ok(Ratio::from_ppm(900_000)));
        assert_eq!(Ratio::from_f64(1.5), Ok(Ratio::from_ppm(1_500_000)));
        assert_eq!(Ratio::from_f64(0.123_456_7), Err(RatioError::TooPrecise));
        assert_eq!(Ratio::from_f64(-0.1), Err(RatioError::NotFiniteOrNegative));
        assert_eq!(Ratio::from_f64(f64::NAN), Err(RatioError::NotFiniteOrNegative));
        assert!(Ratio::from_f64(1e10).is_err());
        assert_eq!(Ratio::from_ppm(150_000).to_string(), "0.15");
        assert_eq!(Ratio::from_ppm(1_500_000).to_string(), "1.5");
    }

    #[test]
    fn the_seeds_thresholds_are_exact() {
        let total = Amount::from_units(300_000).unwrap();
        let reserve = Ratio::from_ppm(150_000);
        assert_eq!(reserve.complement().floor_of(total), 255_000 * i128::from(Amount::SCALE));
        let enter = Ratio::from_ppm(900_000);
        assert!(!enter.is_exceeded_by(Amount::from_units(270_000).unwrap(), total));
        assert!(enter.is_exceeded_by(Amount::from_raw(27_000_000_000_001).unwrap(), total));
        let leave = Ratio::from_ppm(850_000);
        assert!(!leave.is_undercut_by(Amount::from_units(255_000).unwrap(), total));
        assert!(leave.is_undercut_by(Amount::from_raw(25_499_999_999_999).unwrap(), total));
    }

    #[test]
    fn the_texts() {
        assert_eq!(format!("{:?}", Ratio::from_ppm(150_000)), "Ratio(0.15)");
        assert_eq!(RatioError::TooPrecise.to_string(), "ratio has more than 6 decimal places");
        assert_eq!(RatioError::AboveMax { max_ppm: 1_000_000 }.to_string(), "ratio is above 1");
        assert_eq!(RatioError::NotFiniteOrNegative.to_string(), "ratio is NaN, infinite or negative");
    }

    #[test]
    fn zero_bounds_and_json_are_exact() {
        assert_eq!(Ratio::from_f64(0.0), Ok(Ratio::from_ppm(0)));
        assert_eq!(Ratio::from_f64(-0.0), Ok(Ratio::from_ppm(0)));
        let one = Ratio::from_ppm(1_000_000);
        assert_eq!(Ratio::from_ppm(999_999).at_most(one), Ok(Ratio::from_ppm(999_999)));
        assert_eq!(one.at_most(one), Ok(one), "at most includes the bound");
        assert_eq!(Ratio::from_ppm(1_000_001).at_most(one), Err(RatioError::AboveMax { max_ppm: 1_000_000 }));
        assert_eq!(serde_json::to_string(&Ratio::from_ppm(150_000)).unwrap(), "0.15");
        assert_eq!(serde_json::to_string(&Ratio::from_ppm(1_500_000)).unwrap(), "1.5");
        assert_eq!(serde_json::to_string(&Ratio::from_ppm(0)).unwrap(), "0.0");
        let back: Ratio =
            serde_json::from_str(&serde_json::to_string(&Ratio::from_ppm(123_456)).unwrap()).unwrap();
        assert_eq!(back, Ratio::from_ppm(123_456));
    }

    #[test]
    fn floor_rounds_toward_negative_infinity() {
        let third = Ratio::from_ppm(333_333);
        assert_eq!(third.floor_of(Amount::from_raw(10).unwrap()), 3);
        assert_eq!(third.floor_of(Amount::from_raw(-10).unwrap()), -4);
    }
}
