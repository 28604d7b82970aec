//! Exactly once over an unreliable link: the request window.
//!
//! A client that sent a command and heard nothing (a timeout, a reconnect, a vault restart) does
//! not know whether it was applied. It resends the command under the same [`RequestKey`]: the
//! ledger remembers the outcome of every applied keyed command in a bounded window and answers a
//! repeat with the original outcome and sequence, applying nothing. Because the key travels in
//! the journal record with its command, the window is rebuilt by replay and kept in checkpoints:
//! a resend after a restart is answered the same way.
//!
//! Only applied commands are remembered: a refused command left no trace (as a refused
//! reservation leaves none, `docs/model.md`), so its resend is checked again and may now apply;
//! it still applies at most once.
//!
//! The window is bounded (`Limits::resolved_max` keys). When a key leaves it, the client's
//! *watermark* rises to that request number: a later request at or below the watermark that the
//! window no longer holds is refused ([`Rejection::RequestExpired`]) instead of being applied a
//! second time. Clients number their requests increasingly (the capvault clients use the time
//! in microseconds and a counter), so only a resend older than the whole window meets it.
//!
//! [`Rejection::RequestExpired`]: crate::Rejection::RequestExpired

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU128;

use crate::ledger::order_id::ClientOrderId;
use crate::ledger::outcome::Outcome;
use crate::ledger::resolved::Window;

/// Who sent a command and which of its requests it is: a client's tag (a hash of its name, which
/// the front end takes from the client's authenticated identity, never from the request) and the
/// client's request number.
///
/// ```
/// use capvault::RequestKey;
/// let key = RequestKey::new("grid-159201", 1_764_806_400_000_001).unwrap();
/// assert_eq!(key.client(), RequestKey::client_tag("grid-159201"));
/// assert_eq!(key.request(), 1_764_806_400_000_001);
/// assert!(RequestKey::new("grid-159201", 0).is_none(), "request numbers start at 1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestKey {
    client: u64,
    request: u64,
}

impl RequestKey {
    /// The key of request `request` (at least 1) of the client named `client`.
    #[must_use]
    pub fn new(client: &str, request: u64) -> Option<RequestKey> {
        RequestKey::from_parts(RequestKey::client_tag(client), request)
    }

    /// A key from a client tag (at least 1) and a request number (at least 1), as the journal
    /// stores them.
    #[must_use]
    pub fn from_parts(client: u64, request: u64) -> Option<RequestKey> {
        (client != 0 && request != 0).then_some(RequestKey { client, request })
    }

    /// A client name's tag: the first 64 bits of its SHA-256, never 0. Two names share a tag with
    /// a probability of 2^-64 per pair.
    #[must_use]
    pub fn client_tag(client: &str) -> u64 {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(client.as_bytes());
        let mut bytes = [0_u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(bytes).max(1)
    }

    /// The client's tag.
    #[must_use]
    pub fn client(&self) -> u64 {
        self.client
    }

    /// The request number.
    #[must_use]
    pub fn request(&self) -> u64 {
        self.request
    }

    /// The window's map key: both words in one 128-bit id (never zero: the tag is not).
    fn slot(self) -> ClientOrderId {
        let value = (u128::from(self.client) << 64) | u128::from(self.request);
        ClientOrderId::Uuid(NonZeroU128::new(value).unwrap_or(NonZeroU128::MIN))
    }

    fn of_slot(id: ClientOrderId) -> RequestKey {
        let (client, request) = id.words();
        RequestKey { client, request }
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {} of client {:016x}", self.request, self.client)
    }
}

/// What the window says about a key before its command is applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Recall {
    /// Not seen: apply the command, then remember it.
    New,
    /// Applied before: answer with this outcome and sequence, apply nothing.
    Applied {
        /// The original outcome.
        outcome: Outcome,
        /// The sequence the command was applied at.
        seq: u64,
    },
    /// At or below the client's watermark and no longer held: it may have been applied; refuse.
    Expired {
        /// The highest request number of this client that left the window.
        watermark: u64,
    },
}

/// What [`Ledger::apply_once`](crate::Ledger::apply_once) did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Once {
    /// Applied now.
    Applied(Outcome),
    /// Applied before under the same key: nothing applied now.
    Repeated {
        /// The original outcome.
        outcome: Outcome,
        /// The sequence it was applied at.
        seq: u64,
    },
}

impl Once {
    /// The outcome, now or the original one.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match *self {
            Once::Applied(outcome) | Once::Repeated { outcome, .. } => outcome,
        }
    }
}

/// Whether an accepted command's outcome changed the ledger (and so has a sequence and a journal
/// record): every outcome but an idempotent repeat of a reservation.
#[must_use]
pub(crate) fn changes(outcome: &Outcome) -> bool {
    !matches!(outcome, Outcome::AlreadyReserved { .. })
}

/// A remembered key with the sequence and outcome it was applied with.
pub(crate) type Held = (RequestKey, u64, Outcome);

/// The applied keyed commands the ledger remembers, and each client's watermark. The window is
/// allocated at the first keyed command: a ledger that never sees one (embedded, local handles)
/// pays nothing for it.
#[derive(Clone, Debug)]
pub(crate) struct Requests {
    capacity: usize,
    window: Option<Window<(Outcome, u64)>>,
    watermarks: HashMap<u64, u64>,
}

impl PartialEq for Requests {
    fn eq(&self, other: &Requests) -> bool {
        let held = |r: &Requests| r.window.as_ref().map_or(0, Window::len);
        self.capacity == other.capacity
            && self.watermarks == other.watermarks
            && held(self) == held(other)
            && (held(self) == 0 || self.window == other.window)
    }
}

impl Eq for Requests {}

impl Requests {
    pub(crate) fn new(capacity: usize) -> Requests {
        Requests { capacity, window: None, watermarks: HashMap::new() }
    }

    fn window(&mut self) -> &mut Window<(Outcome, u64)> {
        let capacity = self.capacity;
        self.window.get_or_insert_with(|| Window::new(capacity))
    }

    pub(crate) fn recall(&self, key: RequestKey) -> Recall {
        if let Some((outcome, seq)) = self.window.as_ref().and_then(|w| w.get(&key.slot())) {
            return Recall::Applied { outcome, seq };
        }
        match self.watermarks.get(&key.client) {
            Some(&watermark) if key.request <= watermark => Recall::Expired { watermark },
            _ => Recall::New,
        }
    }

    /// Remembers an applied command; the caller has had [`Recall::New`] for its key.
    pub(crate) fn remember(&mut self, key: RequestKey, seq: u64, outcome: Outcome) {
        if let Some(oldest) = self.window().insert_evicting(key.slot(), (outcome, seq)) {
            let oldest = RequestKey::of_slot(oldest);
            let watermark = self.watermarks.entry(oldest.client).or_insert(0);
            *watermark = (*watermark).max(oldest.request);
        }
    }

    /// The remembered keys oldest first, and the watermarks (sorted), for a checkpoint.
    pub(crate) fn image(&self) -> (Vec<Held>, Vec<(u64, u64)>) {
        let held = self
            .window
            .iter()
            .flat_map(Window::iter)
            .map(|(id, (outcome, seq))| (RequestKey::of_slot(id), seq, outcome))
            .collect();
        let mut watermarks: Vec<(u64, u64)> = self.watermarks.iter().map(|(&c, &w)| (c, w)).collect();
        watermarks.sort_unstable();
        (held, watermarks)
    }

    /// Rebuilds the window from a checkpoint's image.
    ///
    /// # Errors
    /// A repeated key, more keys than the window holds, or a zero tag or number.
    pub(crate) fn restore(
        capacity: usize,
        held: Vec<Held>,
        watermarks: Vec<(u64, u64)>,
    ) -> Result<Requests, String> {
        let mut requests = Requests::new(capacity);
        if held.len() > capacity || watermarks.len() > capacity.max(1) * 2 {
            return Err("more request keys than the window holds".into());
        }
        for (key, seq, outcome) in held {
            if key.client == 0 || key.request == 0 || requests.recall(key) != Recall::New {
                return Err(format!("{key} is zero or repeated"));
            }
            requests.window().insert(key.slot(), (outcome, seq));
        }
        for (client, watermark) in watermarks {
            if client == 0 || requests.watermarks.insert(client, watermark).is_some() {
                return Err(format!("the watermark of client {client:016x} is zero or repeated"));
            }
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::money::Amount;

    fn outcome(n: i64) -> Outcome {
        Outcome::Allocated { balance: Amount::from_units(n).unwrap() }
    }

    #[test]
    fn a_repeat_is_recalled_and_an_evicted_one_expires() {
        let mut requests = Requests::new(2);
        let key = |n| RequestKey::new("a", n).unwrap();
        assert_eq!(requests.recall(key(1)), Recall::New);
        requests.remember(key(1), 10, outcome(1));
        requests.remember(key(2), 11, outcome(2));
        assert_eq!(requests.recall(key(1)), Recall::Applied { outcome: outcome(1), seq: 10 });
        requests.remember(key(3), 12, outcome(3));
        assert_eq!(requests.recall(key(1)), Recall::Expired { watermark: 1 }, "left the window: refused");
        assert_eq!(requests.recall(key(4)), Recall::New);
        let other = RequestKey::new("b", 1).unwrap();
        assert_eq!(requests.recall(other), Recall::New, "watermarks are per client");
        let (held, watermarks) = requests.image();
        let restored = Requests::restore(2, held, watermarks).unwrap();
        assert_eq!(restored, requests);
    }
}
