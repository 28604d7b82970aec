//! What travels over the command channel and back.

use crate::command::Command;
use crate::outcome::Outcome;
use crate::rejection::Rejection;
use crate::sync::channel::Sender;

/// A message to the owner thread.
pub(crate) enum Envelope {
    /// A command and where its outcome goes.
    Command { command: Command, reply: ReplyTo },
    /// Stop after draining everything queued.
    Shutdown,
}

/// Where the owner sends a command's outcome.
pub(crate) enum ReplyTo {
    /// A blocked submitter. The sender is the handle's only one: it travels with the command and
    /// comes back with the reply, so if the envelope is dropped unanswered (the owner stopped),
    /// the submitter's receive fails at once instead of hanging.
    Waiting(Sender<Reply>),
    /// A detached submission: the outcome goes to the handle's outcome queue, if there is room.
    Detached { ticket: u64, outcomes: Sender<DetachedOutcome> },
}

/// The answer to a blocked submitter.
pub(crate) struct Reply {
    pub(crate) seq: u64,
    pub(crate) result: Result<Outcome, Rejection>,
    /// The reply sender, returned to the handle for its next submit.
    pub(crate) back: Sender<Reply>,
}

/// The outcome of a detached submission.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DetachedOutcome {
    /// The ticket `try_submit` or `submit_detached` returned.
    pub ticket: u64,
    /// The snapshot sequence that reflects it (unchanged by a rejection).
    pub seq: u64,
    /// What the ledger answered.
    pub result: Result<Outcome, Rejection>,
}
