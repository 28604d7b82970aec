//! A securities account's reconciliation: the account's capital is its cash plus what the
//! strategies' positions cost, not its cash alone (buying shares moves cash into positions; the
//! vault's total must not fall by it). The executor bridge and `Handle::reconcile_securities`
//! both use this one rule; `docs/model.md` ("Reconciliation") explains it.

use serde::Serialize;

use crate::ledger::book::Book;
use crate::ledger::code::Label;
use crate::ledger::money::Amount;

/// What a reconciliation does when the broker's positions disagree with what the vault holds.
///
/// `capital = cash + held` is only the account's capital when `held` is what the positions
/// cost. A disagreement means a report the vault has not seen (a sell filled and not yet
/// reported moves its proceeds into the cash while the vault still holds its buys: counted
/// twice), or a fill above a reservation: setting the total then puts money in the pool that
/// does not exist, or takes away money that does.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Mismatch {
    /// Report the mismatches and leave the total as it is (the default): reconcile again once
    /// the reports are in, or resolve the position.
    #[default]
    Hold,
    /// Set the total anyway (the operator has checked that cash plus the vault's `used` is the
    /// capital, for example after booking a position by hand).
    Apply,
}

/// One position as the broker reports it: the security's code and what the shares held cost,
/// lot by lot (the sum of the unsold buy fills, not an average cost).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Holding<'a> {
    /// The security, such as `159201.SZ`.
    pub code: &'a str,
    /// What the shares held cost.
    pub cost: Amount,
}

/// A strategy whose broker cost differs from what the vault holds for it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct PositionMismatch {
    /// `label (slot n)`.
    pub strategy: String,
    /// What the broker's positions of its codes cost.
    pub broker: Amount,
    /// What the vault holds as used by its orders (direct allocations excluded).
    pub vault: Amount,
}

/// The capital a securities account has by the broker's cash and the vault's positions.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SecuritiesCapital {
    /// The broker's cash (including what working buys hold).
    pub cash: Amount,
    /// What the strategies' positions cost, as the vault holds it (its `used` by orders).
    pub held: Amount,
    /// `cash + held`: the account's capital, the total to set.
    pub capital: Amount,
    /// `capital - total now`.
    pub drift: Amount,
    /// Strategies whose broker cost differs from the vault's figure.
    pub mismatches: Vec<PositionMismatch>,
}

impl SecuritiesCapital {
    /// Whether the total should be set to `capital` under `rule`.
    #[must_use]
    pub fn apply(&self, rule: Mismatch) -> bool {
        self.mismatches.is_empty() || rule == Mismatch::Apply
    }
}

/// Whether `code` is the security of a strategy labelled `label`: the label is the code
/// (`159201.SZ`), or the code's number when the label has no exchange suffix (`159201`).
#[must_use]
pub fn label_matches(label: Label, code: &str) -> bool {
    let label = label.as_str();
    label == code || (!label.contains('.') && code.split('.').next() == Some(label))
}

/// The account's capital by `cash` and the vault's positions in `book`, with each labelled
/// strategy's `used` compared with the broker's cost of its codes. `None` if a sum leaves the
/// amount range.
#[must_use]
pub fn securities_capital(book: &Book, cash: Amount, holdings: &[Holding<'_>]) -> Option<SecuritiesCapital> {
    let mut held = Amount::ZERO;
    let mut mismatches = Vec::new();
    for (slot, strategy) in book.strategies() {
        let by_orders = strategy.used().checked_sub(strategy.direct())?;
        held = held.checked_add(by_orders)?;
        let Some(label) = strategy.config().label else { continue };
        let mut cost = Amount::ZERO;
        for holding in holdings.iter().filter(|h| label_matches(label, h.code)) {
            cost = cost.checked_add(holding.cost)?;
        }
        if cost != by_orders {
            mismatches.push(PositionMismatch {
                strategy: format!("{label} (slot {slot})"),
                broker: cost,
                vault: by_orders,
            });
        }
    }
    let capital = cash.checked_add(held)?;
    let drift = capital.checked_sub(book.total())?;
    Some(SecuritiesCapital { cash, held, capital, drift, mismatches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_matches_its_code_with_or_without_the_exchange() {
        let number: Label = "159201".parse().unwrap();
        let full: Label = "159201.SZ".parse().unwrap();
        assert!(label_matches(number, "159201.SZ"));
        assert!(label_matches(number, "159201"));
        assert!(label_matches(full, "159201.SZ"));
        assert!(!label_matches(full, "159201.SH"), "a suffixed label names one exchange");
        assert!(!label_matches(number, "1592010.SZ"));
    }
}
