//! Read-only views for strategies: utilisation, the first-layer rule and the step penalty.
//!
//! These are pure functions of a book's figures, so a strategy can run them on any snapshot, in
//! any process, and get the answer the ledger would.

use serde::{Deserialize, Serialize};

use crate::ledger::money::Amount;
use crate::ledger::ratio::Ratio;

/// A book's figures, as a strategy sees them.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// let view = ledger.view(BookId::new(0)).ok_or("no book")?;
/// assert_eq!(view.utilisation(), Some(0.0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct PoolView {
    /// The account's real balance (slot 0).
    pub total: Amount,
    /// Unallocated cash (slot 1).
    pub pool: Amount,
    /// Sum of every strategy's `frozen`.
    pub frozen: Amount,
    /// Sum of every strategy's `used`.
    pub used: Amount,
    /// How far below zero the pool may go.
    pub credit_limit: Amount,
    /// The share of `total` a first layer may not eat into.
    pub reserve_ratio: Ratio,
}

impl PoolView {
    /// `frozen + used`: the capital promised to strategies.
    #[must_use]
    pub fn committed(&self) -> Amount {
        // total == pool + committed holds, and all three are in range.
        self.frozen.checked_add(self.used).unwrap_or(Amount::MAX)
    }

    /// `committed / total`, for display. `None` when `total <= 0`.
    #[must_use]
    pub fn utilisation(&self) -> Option<f64> {
        if self.total.is_positive() {
            Some(self.committed().to_f64() / self.total.to_f64())
        } else {
            None
        }
    }

    /// The most `committed` may reach through first-layer reservations:
    /// `floor(total × (1 - reserve_ratio))`. With `reserve_ratio <= 1` (which opening a book
    /// checks) its magnitude is at most the total's, so it is in range.
    pub fn first_layer_limit(&self) -> Amount {
        let limit = self.reserve_ratio.complement().floor_of(self.total);
        i64::try_from(limit).ok().and_then(Amount::from_raw).unwrap_or(Amount::ZERO)
    }

    /// Whether a first-layer reservation of `amount` passes the reserve rule:
    /// `committed + amount <= total × (1 - reserve_ratio)`.
    #[must_use]
    pub fn can_open_first_layer(&self, amount: Amount) -> bool {
        i128::from(self.committed().raw()) + i128::from(amount.raw())
            <= i128::from(self.first_layer_limit().raw())
    }
}

/// The step-penalty thresholds (seed 000 section 5.2): enter above `enter`, leave below `leave`,
/// and multiply buy grid steps by `multiplier` while active.
///
/// ```
/// use capvault::{PenaltyConfig, Ratio};
/// let penalty = PenaltyConfig::default();   // seed 000: on above 90%, off below 85%, steps x1.5
/// assert_eq!((penalty.enter, penalty.leave, penalty.multiplier), (Ratio::from_ppm(900_000), Ratio::from_ppm(850_000), Ratio::from_ppm(1_500_000)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyConfig {
    /// Utilisation above which the penalty switches on (default 0.90).
    pub enter: Ratio,
    /// Utilisation below which it switches off (default 0.85). At most `enter`.
    pub leave: Ratio,
    /// The step multiplier while on (default 1.5).
    pub multiplier: Ratio,
}

impl Default for PenaltyConfig {
    fn default() -> PenaltyConfig {
        PenaltyConfig {
            enter: Ratio::from_ppm(900_000),
            leave: Ratio::from_ppm(850_000),
            multiplier: Ratio::from_ppm(1_500_000),
        }
    }
}

impl PenaltyConfig {
    /// `true` if `leave <= enter`, which hysteresis needs.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.leave <= self.enter
    }
}

/// The step-penalty gate with hysteresis. Between `leave` and `enter` it keeps its state, so a
/// utilisation hovering near 90% does not flip the grid step back and forth.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Ledger, LedgerConfig};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let ledger = Ledger::from_config(&config)?;
/// assert!(!ledger.books()[0].penalty().is_active());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StepPenalty {
    config: PenaltyConfig,
    active: bool,
}

impl StepPenalty {
    /// An inactive gate.
    #[must_use]
    pub const fn new(config: PenaltyConfig) -> StepPenalty {
        StepPenalty { config, active: false }
    }

    /// Feeds the gate a view and returns whether the penalty is on afterwards. Exact integer
    /// comparisons: on when `committed > total × enter`, off when `committed < total × leave`.
    pub fn update(&mut self, view: &PoolView) -> bool {
        let committed = view.committed();
        if self.active {
            if self.config.leave.is_undercut_by(committed, view.total) {
                self.active = false;
            }
        } else if self.config.enter.is_exceeded_by(committed, view.total) {
            self.active = true;
        }
        self.active
    }

    /// A gate in a known state, as read back from a mirror.
    pub(crate) const fn restore(config: PenaltyConfig, active: bool) -> StepPenalty {
        StepPenalty { config, active }
    }

    /// Whether the penalty is on.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.active
    }

    /// The factor for buy grid steps: `multiplier` while on, 1 while off.
    #[must_use]
    pub const fn multiplier(&self) -> Ratio {
        if self.active {
            self.config.multiplier
        } else {
            Ratio::ONE
        }
    }

    /// The thresholds.
    #[must_use]
    pub const fn config(&self) -> PenaltyConfig {
        self.config
    }
}

/// `{"active", "enter", "leave", "multiplier"}`: whether the penalty is on, and its settings.
impl Serialize for StepPenalty {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("active", &self.active)?;
        map.serialize_entry("enter", &self.config.enter)?;
        map.serialize_entry("leave", &self.config.leave)?;
        map.serialize_entry("multiplier", &self.config.multiplier)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(n: i64) -> Amount {
        Amount::from_units(n).unwrap()
    }

    fn view(total: i64, committed: i64) -> PoolView {
        PoolView {
            total: units(total),
            pool: units(total - committed),
            frozen: Amount::ZERO,
            used: units(committed),
            credit_limit: Amount::ZERO,
            reserve_ratio: Ratio::from_ppm(150_000),
        }
    }

    #[test]
    fn seed_000_first_layer_rule_at_255000() {
        // 120,000 + 80,000 used, 22,000 frozen: 222,000 committed of 300,000.
        let mut v = view(300_000, 200_000);
        v.frozen = units(22_000);
        v.pool = units(78_000);
        assert_eq!(v.committed(), units(222_000));
        assert!(v.can_open_first_layer(units(33_000)));
        assert!(!v.can_open_first_layer(Amount::from_raw(3_300_000_000_001).unwrap()));
        assert_eq!(v.utilisation(), Some(0.74));
    }

    #[test]
    fn penalty_enters_above_90_and_leaves_below_85() {
        let mut gate = StepPenalty::new(PenaltyConfig::default());
        let steps = [
            (270_000, false), // exactly 90%: not above
            (270_001, true),
            (260_000, true), // inside the band: stays on
            (255_000, true), // exactly 85%: not below
            (254_999, false),
            (265_000, false), // inside the band: stays off
            (280_000, true),
        ];
        for (committed, expected) in steps {
            assert_eq!(gate.update(&view(300_000, committed)), expected, "{committed}");
            assert_eq!(gate.multiplier() == Ratio::from_ppm(1_500_000), expected);
        }
    }

    #[test]
    fn no_total_means_no_utilisation() {
        assert_eq!(view(0, 0).utilisation(), None);
        assert!(!view(0, 0).can_open_first_layer(units(1)));
    }
}
