//! The vault's NATS front: requests in, answers out, snapshots published and kept in a
//! JetStream key-value bucket.
//!
//! One subscription takes every request on `<prefix>.<vault>.cmd.*` and another every read on
//! `<prefix>.<vault>.read.*`, on a tokio runtime of one thread. The task that receives a command
//! hands it to the owner without waiting (a notified reply): concurrent commands reach the owner
//! together and share its batches (and a journal's group commit), and the owner's answer wakes
//! the task that publishes it. Reads, which may wait for a sequence, go through a bounded queue
//! to a few worker threads. A client over its in-flight limit, a full queue or a full command
//! channel is answered `busy` at once: a flooding client costs bounded memory and slows no one
//! else's answers more than the limits allow.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ledger::{Grant, GrantMask, RequestKey};
use crate::mirror::json::shared_pool_json;
use crate::remote::wire::{Answer, ErrorKind, Request, REMOTE_VERSION};
use crate::remote::{bucket, clients_subject, command_subject, read_subject, snapshot_subject, valid_token};
use crate::runtime::{Handle, LinkedError, Snapshot, SubmitError, TrySubmitError};

/// The NATS front of `capvault serve` (its CONFIG's `nats`).
///
/// ```
/// let config: capvault::remote::NatsConfig = serde_json::from_str(r#"{
///     "servers": ["nats://127.0.0.1:4222"], "user": "vault", "password": "s3cret",
///     "clients": { "grid-159201": { "kinds": ["reserve", "fill_to", "cancel", "release_order"], "books": [0], "slots": [2] } }
/// }"#).unwrap();
/// assert_eq!(config.prefix, "capvault");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// The NATS servers (`nats://host:port`), tried in order.
    #[serde(default = "NatsConfig::default_servers")]
    pub servers: Vec<String>,
    /// The vault's own NATS user (it needs to subscribe to `<prefix>.<vault>.cmd.*` and publish
    /// answers and snapshots).
    #[serde(default)]
    pub user: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
    /// The first subject token. Default `capvault`.
    #[serde(default = "NatsConfig::default_prefix")]
    pub prefix: String,
    /// Each client's name (its NATS user: the last token of the subject it may publish on) and
    /// its grant.
    #[serde(default)]
    pub clients: BTreeMap<String, Grant>,
    /// The grant of a client not in `clients`; none refuses it (`no_grant`).
    #[serde(default)]
    pub others: Option<Grant>,
    /// Threads answering reads. Default 8.
    #[serde(default = "NatsConfig::default_workers")]
    pub workers: usize,
    /// The largest request body accepted. Default 4,096 bytes.
    #[serde(default = "NatsConfig::default_request_max")]
    pub request_max_bytes: usize,
    /// Requests one client may have waiting. Default 64.
    #[serde(default = "NatsConfig::default_in_flight")]
    pub in_flight_max: u32,
    /// Reads waiting for a worker, all clients together; the busy answer's limit for a full
    /// command channel. Default 1,024.
    #[serde(default = "NatsConfig::default_queue")]
    pub queue_max: usize,
    /// Keep the latest snapshot in a JetStream key-value bucket (the server needs JetStream).
    /// Default true; without JetStream the front logs it and publishes on the subject only.
    #[serde(default = "NatsConfig::default_kv")]
    pub kv: bool,
}

impl NatsConfig {
    fn default_servers() -> Vec<String> {
        vec!["nats://127.0.0.1:4222".into()]
    }
    fn default_prefix() -> String {
        "capvault".into()
    }
    fn default_workers() -> usize {
        8
    }
    fn default_request_max() -> usize {
        4096
    }
    fn default_in_flight() -> u32 {
        64
    }
    fn default_queue() -> usize {
        1024
    }
    fn default_kv() -> bool {
        true
    }

    /// Checks the settings; the message names the field.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("servers: at least one".into());
        }
        if !valid_token(&self.prefix) {
            return Err(format!("prefix: {:?} is not one subject token of A-Z a-z 0-9 - _", self.prefix));
        }
        if let Some(name) = self.clients.keys().find(|name| !valid_token(name)) {
            return Err(format!("clients: {name:?} is not one subject token of A-Z a-z 0-9 - _"));
        }
        if !(1..=256).contains(&self.workers) {
            return Err("workers: 1..=256".into());
        }
        if !(64..=1 << 20).contains(&self.request_max_bytes) {
            return Err("request_max_bytes: 64..=1048576".into());
        }
        if self.in_flight_max == 0 || self.queue_max == 0 {
            return Err("in_flight_max and queue_max: at least 1".into());
        }
        Ok(())
    }

    fn grant_of(&self, name: &str) -> Option<GrantMask> {
        self.clients.get(name).or(self.others.as_ref()).map(Grant::compile)
    }
}

/// Why the NATS front did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum NatsStartError {
    /// A setting is out of range.
    Config(String),
    /// The NATS servers could not be reached or refused the vault's credentials.
    Connect(String),
    /// A thread or the async runtime could not be started.
    Io(std::io::Error),
}

impl std::fmt::Display for NatsStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsStartError::Config(why) => write!(f, "nats: {why}"),
            NatsStartError::Connect(why) => write!(f, "nats: cannot connect: {why}"),
            NatsStartError::Io(error) => write!(f, "nats: {error}"),
        }
    }
}

impl std::error::Error for NatsStartError {}

/// One request waiting for a worker.
struct Job {
    client: String,
    grant: GrantMask,
    payload: bytes::Bytes,
    reply: async_nats::Subject,
    counters: Arc<Counters>,
    /// A read of the snapshot, not a command.
    read: bool,
}

/// What the front counts per client name, for `capvault clients --nats`.
#[derive(Default, Debug)]
struct Counters {
    /// Requests queued or being answered.
    in_flight: AtomicU32,
    /// Requests taken off the subscription.
    requests: AtomicU64,
    /// Refused before the ledger (malformed, too large, busy, no grant, another version).
    refused: AtomicU64,
    /// Answered by a worker (an outcome, a rejection, a snapshot, or an error it found).
    answered: AtomicU64,
    /// When the last request came (milliseconds since the Unix epoch).
    last_ms: AtomicU64,
}

/// The counters of every client name seen, shared by the intake and the `clients` endpoint.
type Seen = Arc<Mutex<HashMap<String, Arc<Counters>>>>;

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A running NATS front; [`NatsFront::stop`] (or dropping it) ends it.
#[derive(Debug)]
pub struct NatsFront {
    runtime: Option<tokio::runtime::Runtime>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl NatsFront {
    /// Connects to NATS and serves vault `vault` through `handle`'s clones.
    ///
    /// # Errors
    /// [`NatsStartError`] naming the bad setting or why NATS could not be reached.
    pub fn start(vault: &str, config: &NatsConfig, handle: &Handle) -> Result<NatsFront, NatsStartError> {
        config.validate().map_err(NatsStartError::Config)?;
        if !valid_token(vault) {
            return Err(NatsStartError::Config(format!(
                "the vault's name {vault:?} is not one subject token"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("capvault-nats")
            .enable_all()
            .build()
            .map_err(NatsStartError::Io)?;
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("capvault-vault-{vault}"))
            .connection_timeout(Duration::from_secs(5));
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        let servers: Vec<async_nats::ServerAddr> = config
            .servers
            .iter()
            .map(|s| s.parse().map_err(|e| NatsStartError::Config(format!("servers: {s}: {e}"))))
            .collect::<Result<_, _>>()?;
        let client =
            runtime.block_on(options.connect(servers)).map_err(|e| NatsStartError::Connect(e.to_string()))?;
        let subscribe = |subject: String| {
            runtime.block_on(client.subscribe(subject)).map_err(|e| NatsStartError::Connect(e.to_string()))
        };
        let commands = subscribe(command_subject(&config.prefix, vault, "*"))?;
        let reads = subscribe(read_subject(&config.prefix, vault, "*"))?;
        let subscriber = futures_util::stream::select(commands, reads);
        let stop = Arc::new(AtomicBool::new(false));
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(config.queue_max);
        let seen = Seen::default();
        let (answers_tx, answers_rx) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(publish_answers(client.clone(), answers_rx));
        runtime.spawn(intake(
            subscriber,
            client.clone(),
            config.clone(),
            (jobs_tx, handle.clone()),
            seen.clone(),
            answers_tx,
        ));
        if let Err(error) = runtime.block_on(announce(&client, vault, config, seen)) {
            // Only `capvault list --nats` and `capvault clients --nats` miss it: commands and
            // reads are served either way.
            tracing::warn!(%error, "not announced as a NATS service ($SRV): check the vault user's permissions");
        }
        let mut threads = Vec::new();
        for n in 0..config.workers {
            let (handle, client, jobs, rt) =
                (handle.clone(), client.clone(), jobs_rx.clone(), runtime.handle().clone());
            let thread = std::thread::Builder::new()
                .name(format!("capvault-nats-{n}"))
                .spawn(move || work(&handle, &client, &jobs, &rt))
                .map_err(NatsStartError::Io)?;
            threads.push(thread);
        }
        let publisher = Publisher {
            client,
            subject: snapshot_subject(&config.prefix, vault),
            bucket: config.kv.then(|| bucket(&config.prefix, vault)),
        };
        let (reader, rt, flag) = (handle.reader(), runtime.handle().clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("capvault-nats-snapshots".into())
            .spawn(move || publisher.run(&reader, &rt, &flag))
            .map_err(NatsStartError::Io)?;
        threads.push(thread);
        tracing::info!(vault, subject = %command_subject(&config.prefix, vault, "*"), "nats front serving");
        Ok(NatsFront { runtime: Some(runtime), threads, stop })
    }

    /// Stops taking requests, lets the workers finish what they hold, and disconnects.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the runtime ends the intake task, which drops the queue's sender: the workers
        // drain the queue and leave.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for NatsFront {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Announces the vault as a NATS service named `capvault` (the NATS services protocol: `$SRV.PING`,
/// `$SRV.INFO`, `$SRV.STATS`, so `capvault list --nats` and `nats micro ls` find it), with its
/// name, prefix, host and pid as metadata, and serves its `clients` endpoint: the counters of
/// every client name it has seen.
async fn announce(
    client: &async_nats::Client,
    vault: &str,
    config: &NatsConfig,
    seen: Seen,
) -> Result<(), async_nats::Error> {
    use async_nats::service::ServiceExt;
    let started = SystemTime::now();
    let metadata = HashMap::from([
        ("vault".to_owned(), vault.to_owned()),
        ("prefix".to_owned(), config.prefix.clone()),
        ("host".to_owned(), crate::platform::host_name()),
        ("pid".to_owned(), std::process::id().to_string()),
        ("started_ms".to_owned(), unix_ms(started).to_string()),
    ]);
    let service = client
        .service_builder()
        .description(format!("capvault vault {vault}"))
        .metadata(metadata)
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await?;
    let mut endpoint = service.endpoint(clients_subject(&config.prefix, vault)).await?;
    let vault = vault.to_owned();
    tokio::spawn(async move {
        // The service lives as long as this task: dropping it would stop its `$SRV` answers.
        let _service = service;
        while let Some(request) = endpoint.next().await {
            let now = unix_ms(SystemTime::now());
            let list: Vec<Value> = {
                let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut names: Vec<&String> = seen.keys().collect();
                names.sort();
                names
                    .into_iter()
                    .map(|name| {
                        let c = &seen[name];
                        let last = c.last_ms.load(Ordering::Relaxed);
                        json!({
                            "name": name,
                            "in_flight": c.in_flight.load(Ordering::Relaxed),
                            "requests": c.requests.load(Ordering::Relaxed),
                            "refused": c.refused.load(Ordering::Relaxed),
                            "answered": c.answered.load(Ordering::Relaxed),
                            "idle_ms": now.saturating_sub(last),
                        })
                    })
                    .collect()
            };
            let body = json!({ "v": REMOTE_VERSION, "vault": vault, "clients": list });
            let _ = request.respond(Ok(serde_json::to_vec(&body).unwrap_or_default().into())).await;
        }
    });
    Ok(())
}

/// The NATS service name every vault announces itself under.
pub const SERVICE_NAME: &str = "capvault";

/// Takes each request off the subscription and checks what needs no ledger (a reply subject,
/// the size, the client's grant and in-flight count). A command goes to the owner from here,
/// without waiting: its answer wakes [`publish_answers`]. A read, which may wait for a sequence,
/// is queued for a worker.
async fn intake(
    mut subscriber: impl futures_util::Stream<Item = async_nats::Message> + Unpin,
    client: async_nats::Client,
    config: NatsConfig,
    (jobs, mut handle): (Sender<Job>, Handle),
    seen: Seen,
    answers: tokio::sync::mpsc::UnboundedSender<Answered>,
) {
    while let Some(message) = subscriber.next().await {
        let Some(reply) = message.reply.clone() else { continue };
        let admitted = {
            let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            admit(&config, &mut seen, message, reply.clone())
        };
        let queued = admitted.and_then(|job| {
            if !job.read {
                return submit(&mut handle, &job, &answers, config.queue_max);
            }
            jobs.try_send(job).map_err(|refused| {
                let job = refused.into_inner();
                job.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                job.counters.refused.fetch_add(1, Ordering::Relaxed);
                Answer::limited(ErrorKind::Busy, "the vault's queue is full", config.queue_max).to_bytes()
            })
        });
        if let Err(answer) = queued {
            let _ = client.publish(reply, answer.into()).await;
        }
    }
}

/// A command's answer on its way to the NATS runtime: the owner hands it over (a channel send
/// that wakes [`publish_answers`]), never a thread that waits for it.
struct Answered {
    reply: async_nats::Subject,
    counters: Arc<Counters>,
    answer: Replied,
}

/// What the owner answered: a command, or a linked reservation.
enum Replied {
    One(crate::runtime::ReplyAnswer),
    Linked(crate::runtime::LinkedAnswer),
}

/// Where the owner hands one command's answer.
struct Pending {
    reply: async_nats::Subject,
    counters: Arc<Counters>,
    answers: tokio::sync::mpsc::UnboundedSender<Answered>,
}

impl crate::runtime::Notify for Pending {
    fn answer(&self, answer: crate::runtime::ReplyAnswer) {
        // The channel is unbounded, but what it holds is bounded by the in-flight limits.
        let _ = self.answers.send(Answered {
            reply: self.reply.clone(),
            counters: self.counters.clone(),
            answer: Replied::One(answer),
        });
    }

    fn answer_linked(&self, answer: crate::runtime::LinkedAnswer) {
        let _ = self.answers.send(Answered {
            reply: self.reply.clone(),
            counters: self.counters.clone(),
            answer: Replied::Linked(answer),
        });
    }
}

/// Decodes a command and hands it to the owner under its key and grant; `Err` with the answer
/// that refuses it now (nothing applied).
fn submit(
    handle: &mut Handle,
    job: &Job,
    answers: &tokio::sync::mpsc::UnboundedSender<Answered>,
    queue_max: usize,
) -> Result<(), Vec<u8>> {
    let refuse = |answer: Answer| {
        job.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        job.counters.refused.fetch_add(1, Ordering::Relaxed);
        Err(answer.to_bytes())
    };
    if let Some(refusal) = version_refusal(&job.payload) {
        return refuse(refusal);
    }
    let request: Request = match serde_json::from_slice(&job.payload) {
        Ok(request) => request,
        Err(error) => return refuse(Answer::error(ErrorKind::Malformed, error.to_string())),
    };
    let Some(key) = RequestKey::new(&job.client, request.request) else {
        return refuse(Answer::error(ErrorKind::Malformed, "request numbers start at 1"));
    };
    let pending = Arc::new(Pending {
        reply: job.reply.clone(),
        counters: job.counters.clone(),
        answers: answers.clone(),
    });
    let full = || Answer::limited(ErrorKind::Busy, "the vault's command channel is full", queue_max);
    match (request.command, request.linked) {
        (Some(command), None) => match handle.try_submit_notified(job.grant, key, command, pending) {
            Ok(()) => Ok(()),
            Err(TrySubmitError::Full(_)) => refuse(full()),
            Err(stopped) => refuse(Answer::error(ErrorKind::Stopped, stopped.to_string())),
        },
        // A linked reservation is not kept in the request window: sent again, each part already
        // reserved is answered `already_reserved` and nothing is applied twice.
        (None, Some(parts)) => match handle.try_submit_linked_notified(job.grant, parts, pending) {
            Ok(()) => Ok(()),
            Err(None) => refuse(full()),
            Err(Some(stopped)) => refuse(Answer::error(ErrorKind::Stopped, stopped.to_string())),
        },
        _ => refuse(Answer::error(ErrorKind::Malformed, "a request has a command or linked parts, not both")),
    }
}

/// Publishes each command's answer as the owner hands it over.
async fn publish_answers(
    client: async_nats::Client,
    mut answers: tokio::sync::mpsc::UnboundedReceiver<Answered>,
) {
    while let Some(Answered { reply, counters, answer }) = answers.recv().await {
        let answer = match answer {
            Replied::One((seq, Ok(outcome))) => Answer::outcome(seq, outcome),
            Replied::One((_, Err(error))) | Replied::Linked(Err(LinkedError::Failed(error))) => {
                answer_of_error(error)
            }
            Replied::Linked(Ok((seq, outcomes))) => Answer::outcomes(seq, outcomes),
            Replied::Linked(Err(LinkedError::Rejected(refused))) => Answer::linked_rejection(refused),
        };
        counters.answered.fetch_add(1, Ordering::Relaxed);
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if client.publish(reply, answer.to_bytes().into()).await.is_err() {
            tracing::warn!("an answer could not be published");
        }
    }
}

/// A submit's error as the answer's: a rejection, in doubt, or stopped (nothing else reaches a
/// handle's submit).
fn answer_of_error(error: SubmitError) -> Answer {
    match error {
        SubmitError::Rejected(rejection) => Answer::rejection(rejection),
        SubmitError::InDoubt(why) => Answer::error(ErrorKind::InDoubt, why.to_string()),
        other => Answer::error(ErrorKind::Stopped, other.to_string()),
    }
}

/// A request as a job for a worker, counted in its client's in-flight requests, or the encoded
/// answer that refuses it.
fn admit(
    config: &NatsConfig,
    seen: &mut HashMap<String, Arc<Counters>>,
    message: async_nats::Message,
    reply: async_nats::Subject,
) -> Result<Job, Vec<u8>> {
    let mut tokens = message.subject.rsplit('.');
    let name = tokens.next().unwrap_or_default().to_owned();
    let read = tokens.next() == Some("read");
    let grant = config.grant_of(&name).ok_or_else(|| {
        Answer::error(ErrorKind::NoGrant, format!("client {name:?} has no grant")).to_bytes()
    })?;
    if seen.len() > 4 * config.clients.len() + 1024 {
        // Names seen once (an `others` grant) are forgotten once idle: the map stays bounded.
        seen.retain(|name, counters| {
            config.clients.contains_key(name) || counters.in_flight.load(Ordering::Relaxed) > 0
        });
    }
    let counters = seen.entry(name.clone()).or_default().clone();
    counters.requests.fetch_add(1, Ordering::Relaxed);
    counters.last_ms.store(unix_ms(SystemTime::now()), Ordering::Relaxed);
    let size = message.payload.len();
    let refusal = if size > config.request_max_bytes {
        Some(Answer::limited(ErrorKind::TooLarge, format!("{size} bytes"), config.request_max_bytes))
    } else if counters.in_flight.load(Ordering::Relaxed) >= config.in_flight_max {
        Some(Answer::limited(ErrorKind::Busy, "requests in flight", config.in_flight_max as usize))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return Err(refusal.to_bytes());
    }
    counters.in_flight.fetch_add(1, Ordering::Relaxed);
    Ok(Job { client: name, grant, payload: message.payload, reply, counters, read })
}

/// A worker: decodes a request, submits it under its key and the client's grant, answers.
fn work(handle: &Handle, client: &async_nats::Client, jobs: &Receiver<Job>, rt: &tokio::runtime::Handle) {
    for job in jobs {
        // Only reads come here: commands go to the owner from the intake.
        let bytes = match version_refusal(&job.payload) {
            Some(refusal) => {
                job.counters.refused.fetch_add(1, Ordering::Relaxed);
                refusal.to_bytes()
            }
            None => read(handle, &job),
        };
        job.counters.answered.fetch_add(1, Ordering::Relaxed);
        job.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if rt.block_on(client.publish(job.reply, bytes.into())).is_err() {
            tracing::warn!(client = job.client, "an answer could not be published");
        }
    }
}

/// A request of another version, commands and reads alike: `v` read loosely first, since a
/// request of another version need not parse as this one.
fn version_refusal(payload: &[u8]) -> Option<Answer> {
    let v = serde_json::from_slice::<Value>(payload).ok().and_then(|v| v.get("v")?.as_u64())?;
    (v != u64::from(REMOTE_VERSION)).then(|| {
        Answer::error(ErrorKind::Version, format!("version {v}; this vault reads version {REMOTE_VERSION}"))
    })
}

/// A read: `{"v": 1, "at_least": S}` (`at_least` optional) answered with the first snapshot
/// whose sequence is at least `S` in the one JSON schema, `{"v": 1, "seq": S, "snapshot": {...}}`,
/// or a `stopped` error when none comes within the wait (a read never waits on the ledger long).
fn read(handle: &Handle, job: &Job) -> Vec<u8> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Read {
        #[allow(dead_code, reason = "checked by version_refusal; a field so that it parses")]
        v: u32,
        #[serde(default)]
        at_least: u64,
    }
    let request: Read = match serde_json::from_slice(&job.payload) {
        Ok(request) => request,
        Err(error) => return Answer::error(ErrorKind::Malformed, error.to_string()).to_bytes(),
    };
    match handle.reader().wait_for(request.at_least, READ_WAIT) {
        Ok(snapshot) => {
            let body = json!({ "v": REMOTE_VERSION, "seq": snapshot.seq(), "snapshot": &*snapshot });
            serde_json::to_vec(&body).unwrap_or_default()
        }
        Err(error) => {
            let why = format!("no snapshot at {} within {READ_WAIT:?}: {error}", request.at_least);
            Answer::error(ErrorKind::Stopped, why).to_bytes()
        }
    }
}

/// How long a read waits for the sequence it asks for.
const READ_WAIT: Duration = Duration::from_secs(2);

/// Publishes each new snapshot (at most every 20 ms: a burst of commands costs one message).
struct Publisher {
    client: async_nats::Client,
    subject: String,
    bucket: Option<String>,
}

impl Publisher {
    fn run(self, reader: &crate::runtime::Reader, rt: &tokio::runtime::Handle, stop: &AtomicBool) {
        // The JetStream context spawns its acknowledgement task on the current runtime.
        let _runtime = rt.enter();
        let store = self.bucket.as_ref().and_then(|bucket| {
            let jetstream = async_nats::jetstream::new(self.client.clone());
            let config = async_nats::jetstream::kv::Config {
                bucket: bucket.clone(),
                history: 1,
                ..Default::default()
            };
            match rt.block_on(jetstream.create_key_value(config)) {
                Ok(store) => Some(store),
                Err(error) => {
                    tracing::warn!(%error, bucket, "no key-value bucket: snapshots go to the subject only");
                    None
                }
            }
        });
        let mut seq = None;
        while !stop.load(Ordering::Relaxed) {
            let next = seq.map_or(0, |s| s + 1);
            let Ok(snapshot) = reader.wait_for(next, Duration::from_millis(200)) else { continue };
            seq = Some(snapshot.seq());
            let now = SystemTime::now();
            let mut document = shared_pool_json(&snapshot, now);
            document["seq"] = json!(snapshot.seq());
            let bytes = serde_json::to_vec(&document).unwrap_or_default();
            let _ = rt.block_on(self.client.publish(self.subject.clone(), bytes.clone().into()));
            if let Some(store) = &store {
                let _ = rt.block_on(store.put("shared_pool", bytes.into()));
                for (key, value) in books(&snapshot) {
                    let _ =
                        rt.block_on(store.put(key, serde_json::to_vec(&value).unwrap_or_default().into()));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Each book's entry: `book.<VENUE>.<CURRENCY>` and its figures with its strategies'.
fn books(snapshot: &Snapshot) -> Vec<(String, Value)> {
    snapshot
        .books()
        .iter()
        .map(|book| {
            let strategies: serde_json::Map<String, Value> = book
                .strategies()
                .map(|(slot, s)| {
                    let name = s.config().label.map_or_else(|| format!("slot{slot}"), |l| l.to_string());
                    let figures = json!({ "slot": slot, "used": s.used(), "frozen": s.frozen(), "direct": s.direct(), "acc_alpha": s.acc_alpha() });
                    (name, figures)
                })
                .collect();
            let value = json!({
                "seq": snapshot.seq(), "venue": book.venue().to_string(), "currency": book.currency().to_string(),
                "total": book.total(), "pool": book.pool(), "utilisation": book.view().utilisation(),
                "penalty": book.penalty().is_active(), "strategies": strategies,
            });
            (format!("book.{}.{}", book.venue(), book.currency()), value)
        })
        .collect()
}
