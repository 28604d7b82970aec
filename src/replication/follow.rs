//! A standby's side of the stream: every batch appended since its ledger's sequence, applied to
//! its own vault in order, each record at the sequence the leader gave it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy, stream::RawMessageErrorKind};
use async_nats::HeaderMap;
use futures_util::StreamExt;

use crate::ledger::Command;
use crate::replication::{
    decode_batch, seq_range, Link, ReplicationConfig, ReplicationError, EPOCH_HEADER, FORMAT_HEADER,
    SEQ_HEADER,
};
use crate::runtime::{Handle, SubmitError};

/// Behind the stream's end by this many messages or more, a follower streams them through a
/// consumer instead of reading each by its sequence.
const BULK: u64 = 16;

/// Follows the stream into a vault (`capvault serve --standby`): its own ledger, journal,
/// checkpoints and mirrors, kept equal to the leader's.
#[derive(Debug)]
pub struct Follower {
    link: Link,
    /// The next stream message to read (0: the first).
    position: u64,
    /// The last ledger sequence applied.
    seq: u64,
    /// The highest epoch seen.
    epoch: u64,
}

impl Follower {
    /// A follower of `config`'s stream for a vault whose ledger is at `seq`.
    ///
    /// # Errors
    /// NATS or the stream could not be reached.
    pub fn start(config: &ReplicationConfig, seq: u64) -> Result<Follower, ReplicationError> {
        config.validate().map_err(|why| ReplicationError::Nats(format!("replication.{why}")))?;
        Ok(Follower { link: Link::open(config, config.request_timeout())?, position: 0, seq, epoch: 0 })
    }

    /// The last ledger sequence applied.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The highest epoch read from the stream.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Applies to `handle` every record the stream holds beyond the follower's sequence, and
    /// returns how many.
    ///
    /// # Errors
    /// The stream could not be read; it was trimmed past this vault's sequence (start from a
    /// newer checkpoint); or the vault answered a record differently from the leader (another
    /// sequence, a rejection): the two ledgers diverged, and following stops.
    pub fn catch_up(&mut self, handle: &mut Handle) -> Result<u64, ReplicationError> {
        let config = &self.link.config;
        let stream = self
            .link
            .runtime
            .block_on(self.link.jetstream.get_stream(&config.stream))
            .map_err(|e| nats(&e))?;
        let state = stream.cached_info().state.clone();
        if self.position == 0 {
            self.position = state.first_sequence.max(1);
        }
        let mut applied = 0;
        if state.last_sequence.saturating_sub(self.position) >= BULK {
            applied += self.stream_to(&stream, state.last_sequence, handle)?;
        }
        while self.position <= state.last_sequence {
            let message = match self.link.runtime.block_on(stream.get_raw_message(self.position)) {
                Ok(message) => message,
                // A message deleted from the stream (an operator's purge) is not a batch.
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                    self.position += 1;
                    continue;
                }
                // Anything else (a server restarting, the stream electing its leader) is not an
                // answer about this message: read it again on the next call.
                Err(error) => {
                    return Err(nats(&format!("reading stream message {}: {error}", self.position)))
                }
            };
            applied += self.apply_batch(Some(&message.headers), &message.payload, handle)?;
            self.position += 1;
        }
        Ok(applied)
    }

    /// Reads the stream from the follower's position to `last` through an ordered consumer
    /// (messages pushed in order, no request per message): a standby that fell behind, or one
    /// starting, catches up at the stream's pace instead of a round trip per batch.
    fn stream_to(
        &mut self,
        stream: &jetstream::stream::Stream,
        last: u64,
        handle: &mut Handle,
    ) -> Result<u64, ReplicationError> {
        let config = pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: self.position },
            ..Default::default()
        };
        let mut messages = self
            .link
            .runtime
            .block_on(async { stream.create_consumer(config).await?.messages().await.map_err(Into::into) })
            .map_err(|e: async_nats::Error| nats(&format!("a consumer of the stream: {e}")))?;
        let mut applied = 0;
        while self.position <= last {
            // The timer is made inside the runtime: it needs the runtime's clock.
            let next = self
                .link
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), messages.next()).await });
            let message = match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(error))) => return Err(nats(&format!("reading the stream: {error}"))),
                Ok(None) | Err(_) => return Err(nats(&"reading the stream: no message within 2 s")),
            };
            let sequence = message.info().map_err(|e| nats(&e))?.stream_sequence;
            applied += self.apply_batch(message.headers.as_ref(), &message.payload, handle)?;
            self.position = sequence + 1;
        }
        Ok(applied)
    }

    /// Applies one stream message's records beyond the follower's sequence; how many.
    fn apply_batch(
        &mut self,
        headers: Option<&HeaderMap>,
        payload: &[u8],
        handle: &mut Handle,
    ) -> Result<u64, ReplicationError> {
        let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
        self.epoch = self.epoch.max(header(EPOCH_HEADER).and_then(|e| e.parse().ok()).unwrap_or(0));
        let (first, last) = seq_range(header(SEQ_HEADER).as_deref())?;
        if last <= self.seq {
            return Ok(0);
        }
        if first > self.seq + 1 {
            return Err(ReplicationError::Corrupt(format!(
                "seq {first}-{last} after this vault's {}: the stream was trimmed past it (start from a newer checkpoint)",
                self.seq
            )));
        }
        let mut applied = 0;
        for (seq, key, command) in decode_batch(payload, header(FORMAT_HEADER).as_deref())? {
            if seq <= self.seq {
                continue;
            }
            apply(handle, seq, key, command)?;
            self.seq = seq;
            applied += 1;
        }
        Ok(applied)
    }
}

fn nats(e: &dyn std::fmt::Display) -> ReplicationError {
    ReplicationError::Nats(e.to_string())
}

/// Applies one record; the vault must give it the leader's sequence.
fn apply(
    handle: &mut Handle,
    seq: u64,
    key: Option<crate::ledger::RequestKey>,
    command: Command,
) -> Result<(), ReplicationError> {
    let receipt = match key {
        Some(key) => handle.submit_once(key, command),
        None => handle.submit(command),
    };
    match receipt {
        Ok(receipt) if receipt.seq == seq => Ok(()),
        Ok(receipt) => Err(ReplicationError::Corrupt(format!(
            "record {seq} applied here as seq {}: the ledgers diverged",
            receipt.seq
        ))),
        Err(SubmitError::Rejected(rejection)) => Err(ReplicationError::Corrupt(format!(
            "record {seq} refused here ({rejection}): the ledgers diverged"
        ))),
        Err(error) => Err(ReplicationError::Nats(format!("the standby's vault: {error}"))),
    }
}
