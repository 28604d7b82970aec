//! The JSON of a remote request and its answer (`docs/wire.md`, "Remote requests over NATS").

use serde::{Deserialize, Serialize};

use crate::ledger::{Command, LinkedRejection, Outcome, Rejection};

/// The version of the remote encoding: `v` in every request and answer.
pub const REMOTE_VERSION: u32 = 1;

/// A request: the version, the client's request number (at least 1, increasing) and either the
/// command or a linked reservation's parts (`linked`).
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_field_names, reason = "the JSON's field names")]
pub(crate) struct Request {
    pub(crate) v: u32,
    pub(crate) request: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) command: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) linked: Option<Vec<Command>>,
}

/// Why the front refused a request before the ledger saw it; nothing changed.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    /// The body is not a request (bad JSON, an unknown field or command, request number 0).
    Malformed,
    /// Another `v`.
    Version,
    /// Larger than the front's `request_max_bytes`.
    TooLarge,
    /// The client has `in_flight_max` requests waiting, or the front's queue is full.
    Busy,
    /// The client's name has no grant.
    NoGrant,
    /// The vault stopped before applying it.
    Stopped,
    /// The vault stopped while making it durable: it may be applied; resend the same request
    /// number after the vault restarts to learn which.
    InDoubt,
}

/// An answer: an outcome with its sequence, a rejection, or an error (with the limit or version
/// that explains it).
#[derive(Serialize, Deserialize, Debug, Default)]
pub(crate) struct Answer {
    pub(crate) v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<Outcome>,
    /// A linked reservation's: every part's outcome, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) outcomes: Option<Vec<Outcome>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rejection: Option<Rejection>,
    /// A refused linked reservation's: the part refused (from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) part: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// For `too_large`: the largest body in bytes; for `busy`: the in-flight limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<u32>,
}

impl Answer {
    pub(crate) fn outcome(seq: u64, outcome: Outcome) -> Answer {
        Answer { v: REMOTE_VERSION, seq: Some(seq), outcome: Some(outcome), ..Answer::default() }
    }

    pub(crate) fn rejection(rejection: Rejection) -> Answer {
        Answer {
            v: REMOTE_VERSION,
            message: Some(rejection.to_string()),
            rejection: Some(rejection),
            ..Answer::default()
        }
    }

    pub(crate) fn outcomes(seq: u64, outcomes: Vec<Outcome>) -> Answer {
        Answer { v: REMOTE_VERSION, seq: Some(seq), outcomes: Some(outcomes), ..Answer::default() }
    }

    pub(crate) fn linked_rejection(refused: LinkedRejection) -> Answer {
        Answer {
            v: REMOTE_VERSION,
            message: Some(refused.to_string()),
            rejection: Some(refused.rejection),
            part: Some(u32::try_from(refused.part).unwrap_or(u32::MAX)),
            ..Answer::default()
        }
    }

    pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Answer {
        Answer { v: REMOTE_VERSION, error: Some(kind), message: Some(message.into()), ..Answer::default() }
    }

    /// An error with the limit that explains it.
    pub(crate) fn limited(kind: ErrorKind, message: impl Into<String>, limit: usize) -> Answer {
        Answer { limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)), ..Answer::error(kind, message) }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
