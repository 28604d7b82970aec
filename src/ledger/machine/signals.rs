//! The executor bridge's signals: claimed once, consumed once.

use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::{Outcome, SignalStatus};

use super::Ledger;

impl Ledger {
    pub(super) fn claim_signal(&mut self, signal: ClientOrderId) -> Outcome {
        if let Some(status) = self.signals.get(&signal) {
            return Outcome::Signal { status, fresh: false };
        }
        self.signals.insert(signal, SignalStatus::InFlight);
        Outcome::Signal { status: SignalStatus::InFlight, fresh: true }
    }

    pub(super) fn consume_signal(&mut self, signal: ClientOrderId, placed: bool) -> Outcome {
        let status = if placed { SignalStatus::Placed } else { SignalStatus::Refused };
        match self.signals.get(&signal) {
            Some(earlier) if earlier.is_consumed() => Outcome::Signal { status: earlier, fresh: false },
            Some(_) => {
                self.signals.update(signal, status);
                Outcome::Signal { status, fresh: true }
            }
            None => {
                self.signals.insert(signal, status);
                Outcome::Signal { status, fresh: true }
            }
        }
    }
}
