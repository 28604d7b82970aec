//! Inboxes: commands from outside the process, polled by the owner beside its channel. The
//! runtime knows only this interface; the builder plugs in the gateway (`src/gateway/`), which
//! reads requests from shared memory and writes the answers back.

use crate::ledger::command::Command;
use crate::ledger::outcome::Outcome;
use crate::ledger::rejection::Rejection;
use crate::ledger::Ledger;
use crate::runtime::envelope::Envelope;
use crate::runtime::error::{LinkedError, SubmitError};
use crate::sync::channel::Receiver;

/// Where a remote command's answer goes: the inbox's own address for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RemoteReply {
    /// The client's place in the inbox.
    pub(crate) client: u32,
    /// The client's connection generation: an answer for an earlier connection of the place is
    /// dropped.
    pub(crate) generation: u32,
    /// The client's request id, echoed in the answer.
    pub(crate) request: u64,
}

/// What a parked owner woke up to.
pub(crate) enum Parked {
    /// An envelope from the channel.
    Envelope(Envelope),
    /// The inbox rang: poll it.
    Rang,
    /// Every handle is gone.
    Disconnected,
}

/// A source of commands the owner polls, on the owner thread only. Every method runs while
/// submitters wait: short, allocation-free on the steady path, never waiting for the owner.
pub(crate) trait Inbox: Send {
    /// The next command ready, as an envelope whose reply is `ReplyTo::Remote`. Requests that
    /// do not decode are answered by the inbox itself and never reach the ledger.
    fn poll(&mut self) -> Option<Envelope>;

    /// Whether the client behind `reply` may apply `command` to `ledger` as it stands.
    ///
    /// # Errors
    /// [`Rejection::NotGranted`]: the command is answered with it and changes nothing.
    fn check(&self, reply: &RemoteReply, command: &Command, ledger: &Ledger) -> Result<(), Rejection>;

    /// The previous round trip the client reported with the command `reply` answers (clock
    /// ticks, 0: none), while that command is the client's last one polled.
    fn round_trip(&self, reply: &RemoteReply) -> u64;

    /// Answers a command taken by [`Inbox::poll`].
    fn answer(&mut self, reply: RemoteReply, seq: u64, result: Result<Outcome, SubmitError>);

    /// Answers each of the `parts` requests of a linked reservation taken by [`Inbox::poll`]
    /// (numbered from `reply.request`): its own outcome when the chain stands, the same refusal
    /// or error for every part when it does not.
    fn answer_linked(
        &mut self,
        reply: RemoteReply,
        parts: u32,
        seq: u64,
        result: Result<&[Outcome], &LinkedError>,
    );

    /// The owner has nothing to do and parks: blocks on `commands` until an envelope arrives or
    /// the inbox rings. Before blocking, the inbox tells its clients to ring, and looks once
    /// more, so no request waits for a sleeping owner.
    fn park(&mut self, commands: &Receiver<Envelope>) -> Parked;

    /// The owner is leaving: clients are told, and none waits for an answer.
    fn close(&mut self);
}
