//! An accepted command's outcome as the C result's kind and figures, without allocating: the
//! hot path of every command. The names are the serde walk's (`figures::flatten`); a test holds
//! the two to each other for every outcome kind.

use vault::{Health, Outcome};

/// One figure's value, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// An amount's fixed-point integer.
    Amount(i64),
    /// A whole number.
    Int(i64),
    /// A name.
    Text(&'static str),
    /// A flag.
    Bool(bool),
}

/// Up to eight named figures, in the order the serde walk gives them.
pub struct Figures {
    pub list: [(&'static str, Figure); 8],
    pub len: usize,
}

impl Figures {
    fn new() -> Figures {
        Figures { list: [("", Figure::Int(0)); 8], len: 0 }
    }
    fn push(&mut self, name: &'static str, value: Figure) {
        self.list[self.len] = (name, value);
        self.len += 1;
    }
    fn health(&mut self, prefix: [&'static str; 3], health: Health) {
        match health {
            Health::Sound => self.push(prefix[0], Figure::Text("sound")),
            Health::Unrecoverable { pool, credit_limit } => {
                self.push(prefix[0], Figure::Text("unrecoverable"));
                self.push(prefix[1], Figure::Amount(pool.raw()));
                self.push(prefix[2], Figure::Amount(credit_limit.raw()));
            }
        }
    }
}

const HEALTH: [&str; 3] = ["health.state", "health.pool", "health.credit_limit"];

/// The outcome's kind and figures; `None` for a kind this table does not know yet (the caller
/// falls back to the serde walk).
#[allow(clippy::too_many_lines, reason = "one arm per outcome kind")]
pub fn describe(outcome: &Outcome) -> Option<(&'static str, Figures)> {
    let mut f = Figures::new();
    let kind = match *outcome {
        Outcome::BookOpened { book } => {
            f.push("book", Figure::Int(i64::try_from(book.index()).unwrap_or(i64::MAX)));
            "book_opened"
        }
        Outcome::StrategyConfigured => "strategy_configured",
        Outcome::CreditLimitSet { books, books_unrecoverable } => {
            f.push("books", Figure::Int(books.into()));
            f.push("books_unrecoverable", Figure::Int(books_unrecoverable.into()));
            "credit_limit_set"
        }
        Outcome::Reset { dropped_orders, dropped_frozen, dropped_used, dropped_direct, health } => {
            f.push("dropped_orders", Figure::Int(dropped_orders.into()));
            f.push("dropped_frozen", Figure::Amount(dropped_frozen.raw()));
            f.push("dropped_used", Figure::Amount(dropped_used.raw()));
            f.push("dropped_direct", Figure::Amount(dropped_direct.raw()));
            f.health(HEALTH, health);
            "reset"
        }
        Outcome::Set { drift, health } => {
            f.push("drift", Figure::Amount(drift.raw()));
            f.health(HEALTH, health);
            "set"
        }
        Outcome::Adjusted { health } => {
            f.health(HEALTH, health);
            "adjusted"
        }
        Outcome::Allocated { balance } => {
            f.push("balance", Figure::Amount(balance.raw()));
            "allocated"
        }
        Outcome::Released { balance } => {
            f.push("balance", Figure::Amount(balance.raw()));
            "released"
        }
        Outcome::Traded { health_a, health_b } => {
            f.health(["health_a.state", "health_a.pool", "health_a.credit_limit"], health_a);
            f.health(["health_b.state", "health_b.pool", "health_b.credit_limit"], health_b);
            "traded"
        }
        Outcome::Reserved { book } => {
            f.push("book", Figure::Int(i64::try_from(book.index()).unwrap_or(i64::MAX)));
            "reserved"
        }
        Outcome::AlreadyReserved { state: s } => {
            f.push("state", Figure::Text(s.name()));
            "already_reserved"
        }
        Outcome::Filled { state: s, remaining } => {
            f.push("state", Figure::Text(s.name()));
            f.push("remaining", Figure::Amount(remaining.raw()));
            "filled"
        }
        Outcome::FillAlreadyApplied { state: s, filled } => {
            f.push("state", Figure::Text(s.name()));
            f.push("filled", Figure::Amount(filled.raw()));
            "fill_already_applied"
        }
        Outcome::Signal { status: s, fresh } => {
            f.push("status", Figure::Text(s.name()));
            f.push("fresh", Figure::Bool(fresh));
            "signal"
        }
        Outcome::Cancelled { returned, held } => {
            f.push("returned", Figure::Amount(returned.raw()));
            f.push("held", Figure::Amount(held.raw()));
            "cancelled"
        }
        Outcome::OrderReleased { returned } => {
            f.push("returned", Figure::Amount(returned.raw()));
            "order_released"
        }
        Outcome::AlphaRecorded { acc_alpha } => {
            f.push("acc_alpha", Figure::Amount(acc_alpha.raw()));
            "alpha_recorded"
        }
        Outcome::LossMarked { forced_reduce } => {
            f.push("forced_reduce", Figure::Bool(forced_reduce));
            "loss_marked"
        }
        _ => return None,
    };
    Some((kind, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{flatten, Value};
    use vault::{Amount, BookId, OrderState, SignalStatus};

    /// Every outcome kind: the fast path names and values what the serde walk does.
    #[test]
    fn the_fast_path_agrees_with_the_serde_walk() {
        let a = |n: i64| Amount::from_units(n).unwrap();
        let sick = Health::Unrecoverable { pool: a(-10), credit_limit: a(5) };
        let outcomes = [
            Outcome::BookOpened { book: BookId::new(3) },
            Outcome::StrategyConfigured,
            Outcome::CreditLimitSet { books: 2, books_unrecoverable: 1 },
            Outcome::Reset {
                dropped_orders: 1,
                dropped_frozen: a(2),
                dropped_used: a(3),
                dropped_direct: a(4),
                health: sick,
            },
            Outcome::Set { drift: a(-5), health: Health::Sound },
            Outcome::Adjusted { health: sick },
            Outcome::Allocated { balance: a(7) },
            Outcome::Released { balance: a(8) },
            Outcome::Traded { health_a: Health::Sound, health_b: sick },
            Outcome::Reserved { book: BookId::new(1) },
            Outcome::AlreadyReserved { state: OrderState::PartiallyFilled },
            Outcome::Filled { state: OrderState::Filled, remaining: a(0) },
            Outcome::FillAlreadyApplied { state: OrderState::Expired, filled: a(9) },
            Outcome::Signal { status: SignalStatus::InFlight, fresh: true },
            Outcome::Cancelled { returned: a(1), held: a(2) },
            Outcome::OrderReleased { returned: a(3) },
            Outcome::AlphaRecorded { acc_alpha: a(-4) },
            Outcome::LossMarked { forced_reduce: true },
        ];
        for outcome in outcomes {
            let walked = flatten(&outcome);
            let (kind, figures) = describe(&outcome).expect("every outcome kind has a fast path");
            assert_eq!(walked[0], ("outcome".to_owned(), Value::Text(kind.to_owned())), "{outcome:?}");
            let fast: Vec<(String, Value)> = figures.list[..figures.len]
                .iter()
                .map(|&(name, value)| {
                    let value = match value {
                        Figure::Amount(raw) => Value::Amount(raw),
                        Figure::Int(n) => Value::Int(n.into()),
                        Figure::Text(text) => Value::Text(text.to_owned()),
                        Figure::Bool(b) => Value::Bool(b),
                    };
                    (name.to_owned(), value)
                })
                .collect();
            assert_eq!(fast, walked[1..], "{outcome:?}");
        }
    }
}
