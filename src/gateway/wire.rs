//! The wire encoding (`docs/ipc.md`): a request carries a command in the journal's own encoding;
//! an answer carries a status byte, a code byte and an outcome or rejection in the same codec.

use crate::journal::codec::{self, CodecError};
use crate::journal::store::FORMAT_VERSION;
use crate::ledger::{Command, LinkedRejection, Outcome, RequestKey};
use crate::runtime::{LinkedError, Refusal, Stopped, SubmitError};

/// An answer's status byte.
pub(crate) const OK: u8 = 0;
pub(crate) const REJECTED: u8 = 1;
pub(crate) const STOPPED: u8 = 2;
pub(crate) const IN_DOUBT: u8 = 3;
pub(crate) const MALFORMED: u8 = 4;
pub(crate) const WIRE_VERSION: u8 = 5;
pub(crate) const IN_FLIGHT: u8 = 6;
/// A linked reservation's part, not applied: the chain's part `code` was refused (the payload
/// is that part's rejection). Every part of a refused chain is answered the same.
pub(crate) const LINK_REFUSED: u8 = 7;

/// A command's bytes, as the journal writes them, after its request number if keyed.
pub(crate) fn encode_request(number: Option<u64>, command: &Command, out: &mut Vec<u8>) {
    out.clear();
    if let Some(number) = number {
        out.extend_from_slice(&number.to_le_bytes());
    }
    codec::encode_command(command, out);
}

/// Reads a request's command; every byte must be used. A keyed request (`tag` given: the
/// client's tag) starts with its request number.
pub(crate) fn decode_request(
    bytes: &[u8],
    tag: Option<u64>,
) -> Result<(Option<RequestKey>, Command), CodecError> {
    let Some(tag) = tag else { return Ok((None, codec::decode_command(bytes, FORMAT_VERSION)?)) };
    let number = bytes.get(..8).ok_or(CodecError { offset: 0, what: "no request number" })?;
    let key = RequestKey::from_parts(tag, u64::from_le_bytes(number.try_into().unwrap_or([0; 8])))
        .ok_or(CodecError { offset: 0, what: "request number 0" })?;
    Ok((Some(key), codec::decode_command(&bytes[8..], FORMAT_VERSION)?))
}

fn stop_code(stopped: Stopped) -> u8 {
    match stopped {
        Stopped::ShutDown => 0,
        Stopped::OwnerPanicked => 1,
        Stopped::JournalFailed => 2,
    }
}

fn stopped_of(code: u8) -> Stopped {
    match code {
        1 => Stopped::OwnerPanicked,
        2 => Stopped::JournalFailed,
        _ => Stopped::ShutDown,
    }
}

/// Encodes a result into `out`; returns the status and code bytes.
pub(crate) fn encode_answer(result: &Result<Outcome, SubmitError>, out: &mut Vec<u8>) -> (u8, u8) {
    out.clear();
    match result {
        Ok(outcome) => {
            codec::encode_outcome(outcome, out);
            (OK, 0)
        }
        Err(SubmitError::Rejected(rejection)) => {
            codec::encode_rejection(rejection, out);
            (REJECTED, 0)
        }
        Err(SubmitError::Stopped(stopped)) => (STOPPED, stop_code(*stopped)),
        Err(SubmitError::InDoubt(stopped)) => (IN_DOUBT, stop_code(*stopped)),
        Err(SubmitError::Refused(Refusal::WireVersion { found, .. })) => (WIRE_VERSION, *found),
        Err(SubmitError::Refused(Refusal::InFlightLimit { .. })) => (IN_FLIGHT, 0),
        // Not sent by a vault (a client's own errors), and a malformed request.
        Err(_) => (MALFORMED, 0),
    }
}

/// Encodes one part's answer of a linked reservation into `out`; returns the status and code
/// bytes.
pub(crate) fn encode_linked_answer(
    part: usize,
    result: Result<&[Outcome], &LinkedError>,
    out: &mut Vec<u8>,
) -> (u8, u8) {
    match result {
        Ok(outcomes) => match outcomes.get(part) {
            Some(outcome) => encode_answer(&Ok(*outcome), out),
            None => encode_answer(&Err(SubmitError::Refused(Refusal::Malformed)), out),
        },
        Err(LinkedError::Rejected(refused)) => {
            out.clear();
            codec::encode_rejection(&refused.rejection, out);
            // A chain has at most `LINKED_MAX` (64) parts: the part's number fits the code byte.
            (LINK_REFUSED, u8::try_from(refused.part).unwrap_or(u8::MAX))
        }
        Err(LinkedError::Failed(error)) => encode_answer(&Err(*error), out),
    }
}

/// Reads one part's answer of a linked reservation; `Err` of the outer result if its bytes do
/// not decode. `part` is the part it answers: a plain rejection names it.
pub(crate) fn decode_linked_answer(
    part: usize,
    status: u8,
    code: u8,
    bytes: &[u8],
) -> Result<Result<Outcome, LinkedError>, CodecError> {
    if status == LINK_REFUSED {
        let rejection = codec::decode_rejection(bytes)?;
        return Ok(Err(LinkedError::Rejected(LinkedRejection { part: usize::from(code), rejection })));
    }
    Ok(decode_answer(status, code, bytes)?.map_err(|error| match error {
        SubmitError::Rejected(rejection) => LinkedError::Rejected(LinkedRejection { part, rejection }),
        error => LinkedError::Failed(error),
    }))
}

/// Reads an answer; `Err` of the outer result if its bytes do not decode.
pub(crate) fn decode_answer(
    status: u8,
    code: u8,
    bytes: &[u8],
) -> Result<Result<Outcome, SubmitError>, CodecError> {
    Ok(match status {
        OK => Ok(codec::decode_outcome(bytes)?),
        REJECTED => Err(SubmitError::Rejected(codec::decode_rejection(bytes)?)),
        STOPPED => Err(SubmitError::Stopped(stopped_of(code))),
        IN_DOUBT => Err(SubmitError::InDoubt(stopped_of(code))),
        WIRE_VERSION => Err(SubmitError::Refused(Refusal::WireVersion {
            found: code,
            expected: super::layout::WIRE_VERSION,
        })),
        MALFORMED => Err(SubmitError::Refused(Refusal::Malformed)),
        _ => return Err(CodecError { offset: 0, what: "bad answer status" }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Rejection;

    /// Each part of a linked reservation is answered on its own: its outcome, or the chain's
    /// refusal naming the part at fault, or the same error.
    #[test]
    fn linked_answers_name_the_part_refused() {
        use crate::ledger::{BookId, LinkedRejection};
        let outcomes =
            [Outcome::Reserved { book: BookId::new(0) }, Outcome::Reserved { book: BookId::new(1) }];
        let refused = LinkedError::Rejected(LinkedRejection { part: 5, rejection: Rejection::Overflow });
        let stopped = LinkedError::Failed(SubmitError::InDoubt(Stopped::JournalFailed));
        let mut out = Vec::new();
        for part in 0..2 {
            let (status, code) = encode_linked_answer(part, Ok(&outcomes), &mut out);
            assert_eq!(decode_linked_answer(part, status, code, &out), Ok(Ok(outcomes[part])));
            let (status, code) = encode_linked_answer(part, Err(&refused), &mut out);
            assert_eq!(decode_linked_answer(part, status, code, &out), Ok(Err(refused)));
            let (status, code) = encode_linked_answer(part, Err(&stopped), &mut out);
            assert_eq!(decode_linked_answer(part, status, code, &out), Ok(Err(stopped)));
        }
        // A part past the outcomes given is a vault's mistake: refused, never another's outcome.
        let (status, code) = encode_linked_answer(2, Ok(&outcomes), &mut out);
        assert_eq!(
            decode_linked_answer(2, status, code, &out),
            Ok(Err(LinkedError::Failed(SubmitError::Refused(Refusal::Malformed))))
        );
    }

    /// The vectors of `docs/wire.md`: each `command`, `outcome` or `rejection` line gives a
    /// value in its JSON form and its bytes on the wire; both directions must hold.
    #[test]
    fn the_documented_vectors_encode_and_decode() {
        let doc = include_str!("../../docs/wire.md");
        let mut checked = [0_usize; 3];
        for line in doc.lines() {
            let Some((kind, rest)) = line.split_once(' ') else { continue };
            let index = match kind {
                "command" => 0,
                "outcome" => 1,
                "rejection" => 2,
                _ => continue,
            };
            let (json, hex) =
                rest.rsplit_once(" = ").unwrap_or_else(|| panic!("vector without bytes: {line}"));
            let bytes: Vec<u8> = hex
                .split_whitespace()
                .map(|pair| u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex in {line}")))
                .collect();
            let mut out = Vec::new();
            match index {
                0 => {
                    let command: Command =
                        serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}"));
                    encode_request(None, &command, &mut out);
                    assert_eq!(decode_request(&bytes, None), Ok((None, command)), "{line}");
                }
                1 => {
                    let outcome: Outcome =
                        serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}"));
                    encode_answer(&Ok(outcome), &mut out);
                    assert_eq!(codec::decode_outcome(&bytes), Ok(outcome), "{line}");
                }
                _ => {
                    let rejection: Rejection =
                        serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}"));
                    encode_answer(&Err(SubmitError::Rejected(rejection)), &mut out);
                    assert_eq!(codec::decode_rejection(&bytes), Ok(rejection), "{line}");
                }
            }
            let shown: Vec<String> = out.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(out, bytes, "{kind} {json} encodes as {}", shown.join(" "));
            checked[index] += 1;
        }
        assert!(checked.iter().all(|&n| n >= 3), "docs/wire.md has too few vectors: {checked:?}");
    }
}
