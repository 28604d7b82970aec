//! The journal replicated through NATS JetStream (`docs/distribution.md`, "Replication"): a
//! stage of the owner that publishes each batch's journal records to the vault's stream as one
//! message and waits for the stream's acknowledgement before the local journal writes the batch
//! and before any answer goes out.
//!
//! **Fencing.** Epoch E appends on `<subject>.E` and the stream takes only the leading epoch's
//! subject. A vault that takes over ([`fence`], or a leader starting) first moves the stream to
//! its new epoch's subject, then reads the head and appends an epoch marker after it. The old
//! leader's next batch then finds no stream: it was not stored, its callers are told it was not
//! applied (the local journal never saw it), and it stops. Within an epoch each message names the
//! previous one's id (`Nats-Expected-Last-Msg-Id`). A publish whose acknowledgement does not come
//! is in doubt (the stream may hold it): the vault stops and says so.
//!
//! JetStream replicates the stream (Raft, across the servers of a cluster); capvault writes no
//! consensus of its own.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use serde::Deserialize;

mod follow;
mod lease;

pub use follow::Follower;
pub use lease::Lease;

use crate::journal::codec::{decode_record, encode_record};
use crate::journal::FORMAT_VERSION;
use crate::ledger::{Command, Ledger, RequestKey};
use crate::runtime::{Stage, StageFailure};

/// The header naming a message's epoch: the leader's term that appended it.
pub const EPOCH_HEADER: &str = "Capvault-Epoch";
/// The header naming the vault process that appended a message (`PID.START`, its start in
/// nanoseconds since the Unix epoch): a checker finds which vault wrote each epoch's batches.
pub const WRITER_HEADER: &str = "Capvault-Writer";
/// The header naming the journal format its records are encoded in (`FORMAT_VERSION`; a message
/// without it is format 5, the format before it was written).
pub const FORMAT_HEADER: &str = "Capvault-Format";
/// The header naming the ledger sequences a message holds, `FIRST-LAST` (an epoch marker holds
/// none: `LAST-LAST` of the ledger it continues, and no records).
pub const SEQ_HEADER: &str = "Capvault-Seq";

/// Where and how a vault replicates its journal.
///
/// ```
/// let config: capvault::replication::ReplicationConfig = serde_json::from_str(r#"{
///     "servers": ["nats://127.0.0.1:4222"], "stream": "CAPVAULT_DESK", "subject": "capvault.desk.journal"
/// }"#).unwrap();
/// assert_eq!(config.replicas, 3);
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    /// The NATS servers (`nats://host:port`).
    pub servers: Vec<String>,
    /// The vault's NATS user.
    #[serde(default)]
    pub user: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
    /// The JetStream stream holding the journal (created if missing). `capvault serve`
    /// defaults it to `CAPVAULT_<NAME>`.
    #[serde(default)]
    pub stream: String,
    /// Its subjects' root: epoch E appends on `<subject>.E`, and the stream takes only the
    /// leading epoch's. `capvault serve` defaults it to `capvault.<name>.journal`.
    #[serde(default)]
    pub subject: String,
    /// The stream's replicas when this vault creates it: 3 survives the loss of one server.
    /// Default 3.
    #[serde(default = "ReplicationConfig::default_replicas")]
    pub replicas: usize,
    /// How long a batch waits for the stream's acknowledgement before the vault stops in doubt.
    /// Default 5 s.
    #[serde(default = "ReplicationConfig::default_ack_ms")]
    pub ack_timeout_ms: u64,
    /// The leader's lease (a JetStream key-value entry that lapses this long after the leader's
    /// last renewal): a standby takes over once it lapses. Default 3,000 ms.
    #[serde(default = "ReplicationConfig::default_lease_ms")]
    pub lease_ttl_ms: u64,
}

impl ReplicationConfig {
    fn default_replicas() -> usize {
        3
    }
    fn default_ack_ms() -> u64 {
        5_000
    }
    fn default_lease_ms() -> u64 {
        3_000
    }

    /// Fills the stream's and subject's defaults for vault `name`.
    #[must_use]
    pub fn for_vault(mut self, name: &str) -> ReplicationConfig {
        if self.stream.is_empty() {
            self.stream = format!("CAPVAULT_{}", name.to_uppercase().replace(['.', '-'], "_"));
        }
        if self.subject.is_empty() {
            self.subject = format!("capvault.{name}.journal");
        }
        self
    }

    /// How long a standby's or a lease's request to JetStream waits: short, so that a request
    /// lost while the cluster elects a stream leader is sent again soon (a takeover waits for
    /// it), and not below a second (a loaded cluster answers slowly).
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis((self.lease_ttl_ms / 2).clamp(1_000, 5_000))
    }

    /// Checks the settings; the message names the field.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("servers: at least one".into());
        }
        if self.stream.is_empty() || self.subject.is_empty() {
            return Err("stream and subject: not empty".into());
        }
        if !(1..=5).contains(&self.replicas) {
            return Err("replicas: 1..=5".into());
        }
        if self.ack_timeout_ms == 0 || self.lease_ttl_ms < 300 {
            return Err("ack_timeout_ms: at least 1; lease_ttl_ms: at least 300".into());
        }
        Ok(())
    }
}

/// Why replication could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplicationError {
    /// NATS or the stream could not be reached or created.
    Nats(String),
    /// The stream and the local ledger disagree: the stream holds up to `stream`, the local
    /// ledger up to `local`. A vault behind the stream must catch up from it first (as a
    /// standby); one ahead of it holds what the stream never acknowledged.
    Diverged {
        /// The last ledger sequence in the stream.
        stream: u64,
        /// The local ledger's.
        local: u64,
    },
    /// A message in the stream is not a capvault batch.
    Corrupt(String),
}

impl std::fmt::Display for ReplicationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicationError::Nats(why) => write!(f, "replication: {why}"),
            ReplicationError::Diverged { stream, local } => write!(
                f,
                "replication: the stream holds the ledger up to seq {stream}, this vault's journal up to {local}: \
                 start from the stream (a standby) or restore the journal that matches it"
            ),
            ReplicationError::Corrupt(why) => write!(f, "replication: the stream holds {why}"),
        }
    }
}

impl std::error::Error for ReplicationError {}

/// The end of the stream: the last message's id, its epoch and the last ledger sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last message's `Nats-Msg-Id`; `None` for an empty stream.
    pub id: Option<String>,
    /// Its epoch (0 for an empty stream).
    pub epoch: u64,
    /// The last ledger sequence the stream holds.
    pub seq: u64,
}

/// A connection to the stream, on a runtime of its own (the owner's thread blocks on it).
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) jetstream: jetstream::Context,
    pub(crate) config: ReplicationConfig,
    /// This process's name in [`WRITER_HEADER`].
    writer: String,
}

impl Link {
    /// Connects; `timeout` bounds each JetStream request and acknowledgement on this link.
    pub(crate) fn open(config: &ReplicationConfig, timeout: Duration) -> Result<Link, ReplicationError> {
        let nats = |e: &dyn std::fmt::Display| ReplicationError::Nats(e.to_string());
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| nats(&e))?;
        let mut options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        let servers: Vec<async_nats::ServerAddr> =
            config.servers.iter().map(|s| s.parse().map_err(|e| nats(&e))).collect::<Result<_, _>>()?;
        let client = runtime.block_on(options.connect(servers)).map_err(|e| nats(&e))?;
        let jetstream = {
            let _inside = runtime.enter();
            let mut jetstream = jetstream::new(client);
            jetstream.set_timeout(timeout);
            jetstream
        };
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let writer = format!("{}.{started}", std::process::id());
        Ok(Link { runtime, jetstream, config: config.clone(), writer })
    }

    /// Creates the stream if it is missing. Only here does the vault need JetStream's meta
    /// leader; appends and reads of one message go to the stream's own leader.
    fn ensure_stream(&self) -> Result<(), ReplicationError> {
        let config = &self.config;
        let stream_config = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.0", config.subject)],
            num_replicas: config.replicas,
            storage: stream::StorageType::File,
            // Reads of the head go to the stream's leader: a replica's direct answer may lag.
            allow_direct: false,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        self.runtime
            .block_on(self.jetstream.get_or_create_stream(stream_config))
            .map(|_| ())
            .map_err(|e| ReplicationError::Nats(format!("creating stream {}: {e}", config.stream)))
    }

    /// The head, creating the stream first if it is missing.
    fn head_or_create(&self) -> Result<Head, ReplicationError> {
        match self.head() {
            Ok(head) => Ok(head),
            Err(ReplicationError::Nats(_)) => {
                self.ensure_stream()?;
                self.head()
            }
            Err(error) => Err(error),
        }
    }

    fn head(&self) -> Result<Head, ReplicationError> {
        let nats = |what: &str, e: &dyn std::fmt::Display| ReplicationError::Nats(format!("{what}: {e}"));
        self.runtime.block_on(async {
            // The stream's last sequence, then that message by its sequence: both answered by
            // the stream's leader. (Asking for the last message of the subject instead was
            // answered "JetStream system temporarily unavailable" by a three-server cluster after
            // a takeover, run after run, while reads by sequence were served.)
            let mut stream = self
                .jetstream
                .get_stream(&self.config.stream)
                .await
                .map_err(|e| nats("the stream's info", &e))?;
            let last = stream.info().await.map_err(|e| nats("the stream's info", &e))?.state.last_sequence;
            if last == 0 {
                return Ok(Head { id: None, epoch: 0, seq: 0 });
            }
            let message =
                stream.get_raw_message(last).await.map_err(|e| nats("the stream's last message", &e))?;
            let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
            let id = header("Nats-Msg-Id")
                .ok_or_else(|| ReplicationError::Corrupt("a message without an id".into()))?;
            let epoch = header(EPOCH_HEADER).and_then(|e| e.parse().ok()).unwrap_or(0);
            let (_, seq) = seq_range(header(SEQ_HEADER).as_deref())?;
            Ok(Head { id: Some(id), epoch, seq })
        })
    }

    /// Appends one message chained on `head`; its acknowledgement, or why not.
    fn append(
        &self,
        head: &Head,
        id: &str,
        epoch: u64,
        seqs: (u64, u64),
        body: Vec<u8>,
    ) -> Result<(), Append> {
        let mut message = jetstream::message::PublishMessage::build()
            .payload(body.into())
            .message_id(id)
            .header(EPOCH_HEADER, epoch.to_string().as_str())
            .header(SEQ_HEADER, format!("{}-{}", seqs.0, seqs.1).as_str())
            .header(WRITER_HEADER, self.writer.as_str())
            .header(FORMAT_HEADER, FORMAT_VERSION.to_string().as_str());
        message = match &head.id {
            Some(previous) => message.expected_last_message_id(previous),
            None => message.expected_last_sequence(0),
        };
        let timeout = Duration::from_millis(self.config.ack_timeout_ms);
        let subject = self.epoch_subject(epoch);
        let result = self.runtime.block_on(async {
            let ack = self.jetstream.send_publish(subject, message).await?;
            tokio::time::timeout(timeout, ack)
                .await
                .map_err(|_| jetstream::context::PublishError::new(PublishErrorKind::TimedOut))?
        });
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.kind() {
                // Refused by the chain, or no stream takes this epoch's subject any more (another
                // vault took over): nothing was stored.
                PublishErrorKind::WrongLastMessageId
                | PublishErrorKind::WrongLastSequence
                | PublishErrorKind::StreamNotFound => Err(Append::Fenced(error.to_string())),
                _ => Err(Append::InDoubt(error.to_string())),
            },
        }
    }
}

impl Link {
    /// Appends the epoch marker after `head`: the next epoch, no records.
    /// Takes the stream for the epoch after `head`'s: first the stream's subject becomes the new
    /// epoch's (a change of the stream's configuration, ordered by JetStream's meta layer), so
    /// nothing the previous leader sends is stored any more; then the head is read again (what
    /// the previous leader appended before that), and the epoch marker is appended after it.
    ///
    /// Fencing by the subject, not by the chain alone: two writers racing on
    /// `Nats-Expected-Last-Msg-Id` both pass the stream leader's check while both are in flight,
    /// and a three-server cluster then fails the second at apply time as a critical write error
    /// that takes the stream offline (measured with nats-server 2.15.1). With one subject per
    /// epoch there is never more than one writer on it.
    fn take_over(&self, head: &Head, seq: Option<u64>) -> Result<Head, ReplicationError> {
        let epoch = head.epoch + 1;
        self.subject_for(epoch)?;
        let head = self.head()?;
        if let Some(local) = seq.filter(|local| *local != head.seq) {
            return Err(ReplicationError::Diverged { stream: head.seq, local });
        }
        let epoch = epoch.max(head.epoch + 1);
        let id = format!("{epoch}.{}.epoch", head.seq);
        match self.append(&head, &id, epoch, (head.seq, head.seq), Vec::new()) {
            Ok(()) => Ok(Head { id: Some(id), epoch, seq: head.seq }),
            Err(Append::Fenced(why) | Append::InDoubt(why)) => Err(ReplicationError::Nats(why)),
        }
    }

    /// The subject epoch `epoch` appends on.
    fn epoch_subject(&self, epoch: u64) -> String {
        format!("{}.{epoch}", self.config.subject)
    }

    /// Makes the stream take only epoch `epoch`'s subject.
    fn subject_for(&self, epoch: u64) -> Result<(), ReplicationError> {
        let nats = |e: &dyn std::fmt::Display| ReplicationError::Nats(format!("fencing the stream: {e}"));
        self.runtime.block_on(async {
            let mut stream = self.jetstream.get_stream(&self.config.stream).await.map_err(|e| nats(&e))?;
            let mut config = stream.info().await.map_err(|e| nats(&e))?.config.clone();
            config.subjects = vec![self.epoch_subject(epoch)];
            self.jetstream.update_stream(config).await.map(|_| ()).map_err(|e| nats(&e))
        })
    }
}

/// Why an append failed.
enum Append {
    /// The stream holds something this vault did not append: it was refused, nothing stored.
    Fenced(String),
    /// No acknowledgement: the stream may or may not hold it.
    InDoubt(String),
}

pub(crate) fn seq_range(header: Option<&str>) -> Result<(u64, u64), ReplicationError> {
    let corrupt = || ReplicationError::Corrupt(format!("a message with {SEQ_HEADER} {header:?}"));
    let (first, last) = header.and_then(|h| h.split_once('-')).ok_or_else(corrupt)?;
    Ok((first.parse().map_err(|_| corrupt())?, last.parse().map_err(|_| corrupt())?))
}

/// The owner's replication stage.
pub(crate) struct ReplicationStage {
    link: Link,
    head: Head,
    batch: Vec<u8>,
    first: u64,
    last: u64,
}

impl ReplicationStage {
    /// Connects, creates the stream if it is missing, checks that it ends where the local
    /// ledger (at `seq`) does, and takes it for a new epoch (an epoch marker: any vault that
    /// appended before can append nothing more).
    pub(crate) fn start(config: &ReplicationConfig, seq: u64) -> Result<ReplicationStage, ReplicationError> {
        config.validate().map_err(|why| ReplicationError::Nats(format!("replication.{why}")))?;
        let link = Link::open(config, Duration::from_millis(config.ack_timeout_ms))?;
        let head = link.head_or_create()?;
        if head.seq != seq {
            return Err(ReplicationError::Diverged { stream: head.seq, local: seq });
        }
        let head = link.take_over(&head, Some(seq))?;
        tracing::info!(stream = config.stream, epoch = head.epoch, seq, "replicating the journal");
        Ok(ReplicationStage { link, head, batch: Vec::with_capacity(64 * 1024), first: 0, last: 0 })
    }
}

impl ReplicationStage {
    /// Adds one record to the batch's message: its length, its sequence, the journal's encoding.
    fn record(&mut self, seq: u64, key: Option<RequestKey>, command: &Command, linked: bool) {
        if self.batch.is_empty() {
            self.first = seq;
        }
        self.last = seq;
        let at = self.batch.len();
        self.batch.extend_from_slice(&[0; 4]);
        self.batch.extend_from_slice(&seq.to_le_bytes());
        encode_record(key, command, linked, &mut self.batch);
        let len = u32::try_from(self.batch.len() - at - 4).unwrap_or(u32::MAX);
        self.batch[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

impl Stage for ReplicationStage {
    fn accepted(&mut self, seq: u64, key: Option<RequestKey>, command: &Command) {
        self.record(seq, key, command, false);
    }

    fn accepted_linked(&mut self, seq: u64, command: &Command, linked: bool) {
        self.record(seq, None, command, linked);
    }

    fn holds_answers(&self) -> bool {
        true
    }

    fn syncs(&self) -> bool {
        true
    }

    fn commit(&mut self) -> Result<(), StageFailure> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (epoch, seqs) = (self.head.epoch, (self.first, self.last));
        let id = format!("{epoch}.{}", self.last);
        let body = std::mem::replace(&mut self.batch, Vec::with_capacity(64 * 1024));
        match self.link.append(&self.head, &id, epoch, seqs, body) {
            Ok(()) => {
                self.head = Head { id: Some(id), epoch, seq: self.last };
                Ok(())
            }
            Err(Append::Fenced(why)) => Err(StageFailure {
                error: format!(
                    "replication: fenced: the stream holds a message this vault did not append (another vault took over): {why}"
                ),
                undone: true,
            }),
            Err(Append::InDoubt(why)) => Err(StageFailure {
                error: format!("replication: no acknowledgement for seq {}-{}: {why}", seqs.0, seqs.1),
                undone: false,
            }),
        }
    }
}

/// One batch read back from the stream.
#[derive(Debug)]
pub struct Batch {
    /// The message's epoch.
    pub epoch: u64,
    /// The vault process that appended it ([`WRITER_HEADER`]).
    pub writer: String,
    /// Its records: sequence, request key, command.
    pub records: Vec<(u64, Option<RequestKey>, Command)>,
}

/// Decodes a message's body into its records.
pub(crate) fn decode_batch(
    body: &[u8],
    format: Option<&str>,
) -> Result<Vec<(u64, Option<RequestKey>, Command)>, ReplicationError> {
    let version = match format.map(str::parse::<u32>) {
        None => 5,
        Some(Ok(version)) if (5..=FORMAT_VERSION).contains(&version) => version,
        Some(_) => return Err(ReplicationError::Corrupt(format!("a batch of format {format:?}"))),
    };
    let corrupt = |what: &str| ReplicationError::Corrupt(format!("a batch with {what}"));
    let mut records = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = rest.get(..4).ok_or_else(|| corrupt("a torn length"))?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| corrupt("a torn length"))?) as usize;
        let record = rest.get(4..4 + len).ok_or_else(|| corrupt("a torn record"))?;
        let seq = u64::from_le_bytes(
            record
                .get(..8)
                .ok_or_else(|| corrupt("no sequence"))?
                .try_into()
                .map_err(|_| corrupt("no sequence"))?,
        );
        let record = decode_record(&record[8..], version).map_err(|e| corrupt(&e.to_string()))?;
        let (key, command) = (record.key, record.command);
        records.push((seq, key, command));
        rest = &rest[4 + len..];
    }
    Ok(records)
}

/// Every batch in the stream, in order (epoch markers as batches without records).
///
/// # Errors
/// The stream could not be read, or holds something that is not a capvault batch.
pub fn read_stream(config: &ReplicationConfig) -> Result<Vec<Batch>, ReplicationError> {
    let link = Link::open(config, config.request_timeout())?;
    let nats = |e: &dyn std::fmt::Display| ReplicationError::Nats(e.to_string());
    link.runtime.block_on(async {
        let stream = link.jetstream.get_stream(&config.stream).await.map_err(|e| nats(&e))?;
        let last = stream.cached_info().state.last_sequence;
        let mut batches = Vec::new();
        for sequence in stream.cached_info().state.first_sequence..=last {
            let message = match stream.get_raw_message(sequence).await {
                Ok(message) => message,
                // Deleted from the stream (an operator's purge): not a batch.
                Err(error) if error.kind() == stream::RawMessageErrorKind::NoMessageFound => continue,
                Err(error) => return Err(nats(&format!("reading stream message {sequence}: {error}"))),
            };
            let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
            let epoch = header(EPOCH_HEADER).and_then(|v| v.parse().ok()).unwrap_or(0);
            let writer = header(WRITER_HEADER).unwrap_or_default();
            let records = decode_batch(&message.payload, header(FORMAT_HEADER).as_deref())?;
            batches.push(Batch { epoch, writer, records });
        }
        Ok(batches)
    })
}

/// Replays the stream's records on `ledger` (a plain ledger built from the vault's
/// configuration): the state every vault following the stream must equal. Returns the last
/// sequence applied.
///
/// # Errors
/// A record out of sequence, or one the ledger refuses to replay.
pub fn replay(batches: &[Batch], ledger: &mut Ledger) -> Result<u64, ReplicationError> {
    let mut last = 0;
    for (seq, key, command) in batches.iter().flat_map(|b| &b.records) {
        if *seq != last + 1 {
            return Err(ReplicationError::Corrupt(format!("seq {seq} after {last}")));
        }
        let applied = match key {
            Some(key) => ledger.apply_once(*key, *seq, command).map(|_| ()),
            None => ledger.apply(command).map(|_| ()),
        };
        applied.map_err(|rejection| {
            ReplicationError::Corrupt(format!("seq {seq} refused on replay: {rejection}"))
        })?;
        last = *seq;
    }
    Ok(last)
}

/// Takes the stream over for a new epoch: appends an epoch marker chained on the stream's last
/// message, after which the previous leader can append nothing. Returns the new head.
///
/// # Errors
/// NATS could not be reached, or something was appended between reading the head and the
/// marker (try again: read to the end first).
pub fn fence(config: &ReplicationConfig) -> Result<Head, ReplicationError> {
    let link = Link::open(config, config.request_timeout())?;
    let head = link.head_or_create()?;
    link.take_over(&head, None)
}
