//! What travels over the command channel and back.

use crate::ledger::command::Command;
use crate::ledger::grant::GrantMask;
use crate::ledger::outcome::Outcome;
use crate::ledger::rejection::Rejection;
use crate::ledger::request::RequestKey;
use crate::ledger::LinkedRejection;
use crate::runtime::error::{LinkedError, Stopped, SubmitError};
use crate::runtime::inbox::RemoteReply;
use crate::runtime::reply::{Answer, Responder};
use crate::sync::channel::Sender;

/// A message to the owner thread.
pub(crate) enum Envelope {
    /// A command and where its outcome goes, with when it was sent (clock ticks, 0: not
    /// stamped). A blocking submitter's previous round trip travels in its reply slot, a remote
    /// client's with its gateway connection: the envelope stays at 96 bytes, and every byte of it
    /// crosses between cores (`docs/performance.md`, "Issue 24").
    Command { command: Command, reply: ReplyTo, sent: u64 },
    /// A command under a request key (`Handle::submit_once`), and a grant to check it against
    /// for a front end's client: boxed, so the common envelope stays small.
    Keyed { keyed: Box<Keyed>, reply: ReplyTo, sent: u64 },
    /// A linked reservation (`Handle::submit_linked`): its parts, answered through
    /// `ReplyTo::Linked`. Boxed, so the common envelope stays small.
    Linked { parts: Box<[Command]>, reply: ReplyTo, sent: u64 },
    /// A dropped handle's last round trip (clock ticks).
    RoundTrip(u64),
    /// Stop after draining everything queued.
    Shutdown,
}

/// A keyed command: applied at most once under `key`, and only if `grant` (when given) permits it.
pub(crate) struct Keyed {
    pub(crate) key: RequestKey,
    pub(crate) command: Command,
    pub(crate) grant: Option<GrantMask>,
}

/// Where the owner sends a command's outcome.
pub(crate) enum ReplyTo {
    /// A blocked submitter, answered through its handle's reply slot. If the envelope is dropped
    /// unanswered (the owner stopped), the responder's drop tells the submitter at once.
    Waiting(Responder),
    /// A detached submission: the outcome goes to the handle's outcome queue, if there is room.
    Detached { ticket: u64, outcomes: Sender<DetachedOutcome> },
    /// A command from another process, answered through the inbox it came from.
    Remote(RemoteReply),
    /// A front end's command, answered by a call on the owner's thread (the NATS front's wakes
    /// the task that publishes the answer: no thread waits for it).
    #[cfg_attr(not(feature = "nats"), allow(dead_code, reason = "only the NATS front notifies"))]
    Notify(Notified),
    /// A linked reservation's submitter, answered with every part's outcome (the owner fills
    /// `result` when it applies the chain). Dropped unanswered, a handle sees the vault stopped
    /// (an inbox's client sees the service closed).
    Linked(Box<LinkedReply>),
}

/// Where a linked reservation's answer goes, and what the ledger answered it.
pub(crate) struct LinkedReply {
    pub(crate) to: LinkedTo,
    pub(crate) result: Result<Vec<Outcome>, LinkedRejection>,
}

/// Who waits for a linked reservation's answer.
pub(crate) enum LinkedTo {
    /// A handle of this process.
    Local(Sender<LinkedAnswer>),
    /// A client of the inbox: each part came as a request of its own, numbered from
    /// `reply.request`, and each is answered.
    Remote { reply: RemoteReply, parts: u32 },
    /// A front end's client (the NATS front): every part passes `grant` first, and the answer
    /// is handed to `notified` on the owner's thread.
    #[cfg_attr(not(feature = "nats"), allow(dead_code, reason = "only the NATS front notifies"))]
    Notify { grant: GrantMask, notified: Notified },
}

/// A linked reservation's answer: the snapshot sequence that reflects it and each part's
/// outcome, or why not.
pub(crate) type LinkedAnswer = Result<(u64, Vec<Outcome>), LinkedError>;

/// Receives a notified command's answer, on the owner's thread: it must only hand the answer on
/// (a channel send), never block or work.
pub(crate) trait Notify: Send + Sync {
    fn answer(&self, answer: Answer);

    /// A linked reservation's answer.
    fn answer_linked(&self, answer: LinkedAnswer);
}

/// A notified command's reply: answered once, or told `Stopped` when dropped unanswered (the
/// owner stopped with it queued).
pub(crate) struct Notified(Option<std::sync::Arc<dyn Notify>>);

impl Notified {
    #[cfg_attr(not(feature = "nats"), allow(dead_code, reason = "only the NATS front notifies"))]
    pub(crate) fn new(notify: std::sync::Arc<dyn Notify>) -> Notified {
        Notified(Some(notify))
    }

    pub(crate) fn answer(mut self, answer: Answer) {
        if let Some(notify) = self.0.take() {
            notify.answer(answer);
        }
    }

    pub(crate) fn answer_linked(mut self, answer: LinkedAnswer) {
        if let Some(notify) = self.0.take() {
            notify.answer_linked(answer);
        }
    }

    /// Never answered: its command was handed back before the owner saw it.
    #[cfg_attr(not(feature = "nats"), allow(dead_code, reason = "only the NATS front notifies"))]
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        if let Some(notify) = self.0.take() {
            notify.answer((0, Err(SubmitError::Stopped(Stopped::ShutDown))));
        }
    }
}

/// The outcome of a detached submission.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, Command, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let id = "1790000000000000001".parse()?;
/// let ticket = handle.try_submit(Command::Reserve { id, book: BookId::new(0), slot: 2, side: Side::Buy, layer: 1, amount: "10".parse()? })?;
/// let outcome = loop { if let Some(outcome) = handle.try_outcome() { break outcome; } };
/// assert_eq!(outcome.ticket, ticket);
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DetachedOutcome {
    /// The ticket `try_submit` or `submit_detached` returned.
    pub ticket: u64,
    /// The snapshot sequence that reflects it (unchanged by a rejection).
    pub seq: u64,
    /// What the ledger answered.
    pub result: Result<Outcome, Rejection>,
}

#[cfg(test)]
mod tests {
    /// Every byte of an envelope crosses between cores: 16 more bytes (two latency stamps) cost
    /// the fire-and-forget rate about 15% (`docs/performance.md`, "Issue 24").
    #[test]
    fn an_envelope_stays_at_96_bytes() {
        assert!(
            std::mem::size_of::<super::Envelope>() <= 96,
            "{} bytes",
            std::mem::size_of::<super::Envelope>()
        );
    }
}
