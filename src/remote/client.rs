//! A client of a served vault on any host, over NATS: the same typed commands as `Handle` and
//! `Client`, each sent under a request number and resent under the same number until it is
//! answered or the deadline passes, so a timeout, a NATS reconnect or a vault restart never
//! applies a command twice.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ledger::{Command, Ledger, LinkedRejection};
use futures_util::StreamExt;

use crate::remote::wire::{Answer, ErrorKind, Request, REMOTE_VERSION};
use crate::remote::{clients_subject, command_subject, read_subject, SERVICE_NAME};
use crate::runtime::{LinkedError, LinkedReceipt, Receipt, Refusal, Stopped, SubmitError};

/// How to reach a vault over NATS.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The NATS servers (`nats://host:port`).
    pub servers: Vec<String>,
    /// The vault's name (`capvault serve`'s `name`).
    pub vault: String,
    /// This client's NATS user, which is also its name on the vault (its grant).
    pub user: String,
    /// Its password (none: the server allows the user without one).
    pub password: Option<String>,
    /// The first subject token. Default `capvault`.
    pub prefix: String,
    /// How long one attempt waits for its answer before the request is sent again. Default 2 s.
    pub attempt: Duration,
    /// How long a command is retried (same request number) before `Disconnected`. Default 30 s.
    pub deadline: Duration,
}

impl RemoteOptions {
    /// Options for client `user` of vault `vault` on `server`, with the defaults.
    #[must_use]
    pub fn new(server: &str, vault: &str, user: &str) -> RemoteOptions {
        RemoteOptions {
            servers: vec![server.to_owned()],
            vault: vault.to_owned(),
            user: user.to_owned(),
            password: None,
            prefix: "capvault".into(),
            attempt: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }

    /// Options from a URL `nats://USER:PASSWORD@HOST:PORT[/VAULT]`: the user is the client's
    /// name; the path, if any, the vault's name.
    ///
    /// # Errors
    /// Not a NATS URL, or no user in it.
    pub fn from_url(url: &str) -> Result<RemoteOptions, String> {
        let address: async_nats::ServerAddr = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let user =
            address.username().ok_or_else(|| format!("{url}: no user (nats://USER:PASSWORD@HOST:PORT)"))?;
        let scheme = if address.tls_required() { "tls" } else { "nats" };
        let server = format!("{scheme}://{}:{}", address.host(), address.port());
        let vault = address.as_url_str().split_once("://").and_then(|(_, rest)| rest.split_once('/'));
        let vault = vault.map_or("", |(_, path)| path.trim_matches('/'));
        let mut options = RemoteOptions::new(&server, vault, user);
        options.password = address.password().map(str::to_owned);
        Ok(options)
    }

    /// With a password.
    #[must_use]
    pub fn password(mut self, password: &str) -> RemoteOptions {
        self.password = Some(password.to_owned());
        self
    }
}

/// A snapshot read over NATS: its sequence and the snapshot in the one JSON schema.
#[derive(Clone, Debug)]
pub struct RemoteSnapshot {
    /// The snapshot's sequence.
    pub seq: u64,
    /// The snapshot (`books`, `orders`, `stats`, ...).
    pub snapshot: serde_json::Value,
}

/// A vault announced on NATS (`capvault list --nats`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct VaultInfo {
    /// Its name.
    pub vault: String,
    /// Its subjects' first token.
    pub prefix: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started (milliseconds since the Unix epoch).
    pub started_ms: u64,
    /// capvault's version.
    pub version: String,
    /// Its NATS service instance id.
    pub id: String,
}

/// A client of a vault over NATS; typed helpers as on [`Handle`](crate::Handle).
#[derive(Debug)]
pub struct RemoteClient {
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    subject: String,
    options: RemoteOptions,
    last_request: u64,
}

impl RemoteClient {
    /// Connects to NATS as `options.user`.
    ///
    /// # Errors
    /// The servers could not be reached, or refused the credentials.
    pub fn connect(options: RemoteOptions) -> Result<RemoteClient, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let mut connect = async_nats::ConnectOptions::new()
            .name(format!("capvault-client-{}", options.user))
            .connection_timeout(options.attempt)
            .request_timeout(Some(options.attempt));
        connect = match &options.password {
            Some(password) => connect.user_and_password(options.user.clone(), password.clone()),
            None => connect,
        };
        let servers: Vec<async_nats::ServerAddr> = options
            .servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{s}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let client = runtime
            .block_on(connect.connect(servers))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string()))?;
        let subject = command_subject(&options.prefix, &options.vault, &options.user);
        Ok(RemoteClient { runtime, client, subject, options, last_request: 0 })
    }

    /// A new request number: microseconds since the Unix epoch, above every number this client
    /// used (numbers increase across restarts of the client while the clock does).
    pub fn next_request(&mut self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        self.last_request = now.max(self.last_request + 1);
        self.last_request
    }

    /// The number of the last request sent: after a `Disconnected`, resend the command with
    /// [`RemoteClient::submit_once`] under it to learn whether it was applied.
    #[must_use]
    pub fn last_request(&self) -> u64 {
        self.last_request
    }

    /// Applies `command` under a new request number and waits for the answer, resending it
    /// under the same number until the deadline.
    ///
    /// # Errors
    /// As [`Handle::submit`](crate::Handle::submit); [`SubmitError::Disconnected`] when no answer
    /// came before the deadline (the command may be applied: resend it under
    /// [`RemoteClient::last_request`]); [`SubmitError::Refused`] when the vault's front refused
    /// it (nothing changed).
    pub fn submit(&mut self, command: Command) -> Result<Receipt, SubmitError> {
        let request = self.next_request();
        self.submit_once(request, command)
    }

    /// Applies `command` at most once under `request` (this client's number, at least 1).
    ///
    /// # Errors
    /// As [`RemoteClient::submit`].
    pub fn submit_once(&mut self, request: u64, command: Command) -> Result<Receipt, SubmitError> {
        self.last_request = self.last_request.max(request);
        let body =
            serde_json::to_vec(&Request { v: REMOTE_VERSION, request, command: Some(command), linked: None })
                .map_err(|_| SubmitError::Refused(Refusal::Malformed))?;
        self.send(&body.into())
    }

    /// Reserves every part of `parts` or none, as one command (`Handle::submit_linked`), under a
    /// new request number, and waits for the answer, resending until the deadline. A linked
    /// reservation is not kept in the vault's request window; resending it is safe because each
    /// part already reserved is answered `AlreadyReserved` and reserves nothing twice (a part
    /// whose order has since resolved is refused `IdResolved`).
    ///
    /// # Errors
    /// [`LinkedError::Rejected`] with the part refused (nothing changed), its rejection the
    /// ledger's or `NotGranted`; `LinkLength` and `NotLinkable` found before sending;
    /// [`LinkedError::Failed`] as [`RemoteClient::submit`].
    pub fn submit_linked(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError> {
        Ledger::check_linked(parts).map_err(LinkedError::Rejected)?;
        let request = self.next_request();
        let body = Request { v: REMOTE_VERSION, request, command: None, linked: Some(parts.to_vec()) };
        let body = serde_json::to_vec(&body)
            .map_err(|_| LinkedError::Failed(SubmitError::Refused(Refusal::Malformed)))?;
        self.send_with(&body.into(), decode_linked, Err(LinkedError::Failed(SubmitError::Disconnected)))
    }

    /// Sends raw bytes as a request and waits for one answer (no resend): for tests of how the
    /// vault refuses what no correct client sends.
    ///
    /// # Errors
    /// As [`RemoteClient::submit`].
    #[doc(hidden)]
    pub fn submit_raw(&mut self, body: &[u8]) -> Result<Receipt, SubmitError> {
        let attempt = self.runtime.block_on(self.client.request(self.subject.clone(), body.to_vec().into()));
        match attempt {
            Ok(message) => {
                let sent = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("v")?.as_u64())
                    .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX));
                decode(&message.payload, sent).unwrap_or(Err(SubmitError::Disconnected))
            }
            Err(_) => Err(SubmitError::Disconnected),
        }
    }

    /// The vault's snapshot in its one JSON schema, the first whose sequence is at least
    /// `at_least` (0: the latest), waiting up to the vault's read wait (2 s) for it.
    ///
    /// # Errors
    /// As [`RemoteClient::submit`]: `Refused` when the vault refused the read (no grant, busy),
    /// `Disconnected` when no answer came within one attempt, `Stopped` when the vault had no
    /// such snapshot in time.
    pub fn read(&mut self, at_least: u64) -> Result<RemoteSnapshot, SubmitError> {
        #[derive(serde::Deserialize)]
        struct Read {
            seq: u64,
            snapshot: serde_json::Value,
        }
        let subject = read_subject(&self.options.prefix, &self.options.vault, &self.options.user);
        let body = serde_json::to_vec(&serde_json::json!({ "v": REMOTE_VERSION, "at_least": at_least }))
            .map_err(|_| SubmitError::Refused(Refusal::Malformed))?;
        let message = self
            .runtime
            .block_on(self.client.request(subject, body.into()))
            .map_err(|_| SubmitError::Disconnected)?;
        match serde_json::from_slice::<Read>(&message.payload) {
            Ok(read) => Ok(RemoteSnapshot { seq: read.seq, snapshot: read.snapshot }),
            Err(_) => match decode(&message.payload, REMOTE_VERSION) {
                Some(Err(error)) => Err(error),
                // An error asking for a retry (busy, stopped) or an outcome where a snapshot was due.
                _ => Err(SubmitError::Stopped(Stopped::ShutDown)),
            },
        }
    }

    /// The vault's counters of each client name it has seen (`capvault clients --nats`): the
    /// `clients` array of its answer.
    ///
    /// # Errors
    /// `Disconnected` when the vault did not answer within one attempt (not running, or this
    /// user may not publish on its `clients` subject); `AnswersCorrupt` for an answer that is
    /// not the expected JSON.
    pub fn clients(&mut self) -> Result<Vec<serde_json::Value>, SubmitError> {
        let subject = clients_subject(&self.options.prefix, &self.options.vault);
        let message = self
            .runtime
            .block_on(self.client.request(subject, bytes::Bytes::new()))
            .map_err(|_| SubmitError::Disconnected)?;
        let value: serde_json::Value =
            serde_json::from_slice(&message.payload).map_err(|_| SubmitError::AnswersCorrupt)?;
        match value.get("clients") {
            Some(serde_json::Value::Array(list)) => Ok(list.clone()),
            _ => Err(SubmitError::AnswersCorrupt),
        }
    }

    /// Every vault announced on these NATS servers (the NATS services protocol, `$SRV.INFO`),
    /// collected for `wait`: what `capvault list --nats` prints.
    ///
    /// # Errors
    /// The request could not be published (this user may not publish on `$SRV.INFO.capvault`).
    pub fn vaults(&mut self, wait: Duration) -> Result<Vec<VaultInfo>, std::io::Error> {
        let io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let client = self.client.clone();
        self.runtime.block_on(async move {
            let inbox = client.new_inbox();
            let mut answers = client.subscribe(inbox.clone()).await.map_err(|e| io(&e))?;
            let subject = format!("$SRV.INFO.{SERVICE_NAME}");
            client.publish_with_reply(subject, inbox, bytes::Bytes::new()).await.map_err(|e| io(&e))?;
            client.flush().await.map_err(|e| io(&e))?;
            let mut found = Vec::new();
            let until = tokio::time::Instant::now() + wait;
            while let Ok(Some(message)) = tokio::time::timeout_at(until, answers.next()).await {
                if let Ok(info) = serde_json::from_slice::<async_nats::service::Info>(&message.payload) {
                    let meta = |key: &str| info.metadata.get(key).cloned().unwrap_or_default();
                    found.push(VaultInfo {
                        vault: meta("vault"),
                        prefix: meta("prefix"),
                        host: meta("host"),
                        pid: meta("pid").parse().unwrap_or(0),
                        started_ms: meta("started_ms").parse().unwrap_or(0),
                        version: info.version,
                        id: info.id,
                    });
                }
            }
            found.sort_by(|a, b| (&a.vault, &a.host, a.pid).cmp(&(&b.vault, &b.host, b.pid)));
            Ok(found)
        })
    }

    fn send(&mut self, body: &bytes::Bytes) -> Result<Receipt, SubmitError> {
        self.send_with(body, |payload| decode(payload, REMOTE_VERSION), Err(SubmitError::Disconnected))
    }

    /// Sends `body` until `decode` makes an answer of a reply, or the deadline passes (then
    /// `disconnected`).
    fn send_with<T>(
        &mut self,
        body: &bytes::Bytes,
        decode: impl Fn(&[u8]) -> Option<T>,
        disconnected: T,
    ) -> T {
        let deadline = Instant::now() + self.options.deadline;
        loop {
            let attempt = self.runtime.block_on(self.client.request(self.subject.clone(), body.clone()));
            // `None`: not applied or not known yet; the same number is sent again.
            let answered = match attempt {
                Ok(message) => decode(&message.payload),
                Err(_) => None,
            };
            if let Some(result) = answered {
                return result;
            }
            if Instant::now() >= deadline {
                return disconnected;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An answer to a linked reservation, or `None` for one that asks for a resend.
fn decode_linked(payload: &[u8]) -> Option<Result<LinkedReceipt, LinkedError>> {
    let Ok(answer) = serde_json::from_slice::<Answer>(payload) else {
        return Some(Err(LinkedError::Failed(SubmitError::AnswersCorrupt)));
    };
    if let (Some(seq), Some(outcomes)) = (answer.seq, answer.outcomes) {
        return Some(Ok(LinkedReceipt { seq, outcomes }));
    }
    if let Some(rejection) = answer.rejection {
        let part = answer.part.map_or(0, |part| part as usize);
        return Some(Err(LinkedError::Rejected(LinkedRejection { part, rejection })));
    }
    match decode(payload, REMOTE_VERSION)? {
        Err(error) => Some(Err(LinkedError::Failed(error))),
        // One outcome where every part's was due.
        Ok(_) => Some(Err(LinkedError::Failed(SubmitError::AnswersCorrupt))),
    }
}

/// An answer to a request of version `sent` as the result of a submit, or `None` for one that
/// asks for a resend (busy, the vault stopped or in doubt: the same request number learns the
/// truth later).
fn decode(payload: &[u8], sent: u32) -> Option<Result<Receipt, SubmitError>> {
    let Ok(answer) = serde_json::from_slice::<Answer>(payload) else {
        return Some(Err(SubmitError::AnswersCorrupt));
    };
    if let (Some(seq), Some(outcome)) = (answer.seq, answer.outcome) {
        return Some(Ok(Receipt { seq, outcome }));
    }
    if let Some(rejection) = answer.rejection {
        return Some(Err(SubmitError::Rejected(rejection)));
    }
    let refused = |refusal| Some(Err(SubmitError::Refused(refusal)));
    match answer.error {
        Some(ErrorKind::Busy | ErrorKind::Stopped | ErrorKind::InDoubt) => None,
        Some(ErrorKind::Malformed) => refused(Refusal::Malformed),
        // The answer's own `v` is the version the vault reads.
        Some(ErrorKind::Version) => refused(Refusal::WireVersion {
            found: u8::try_from(sent).unwrap_or(u8::MAX),
            expected: u8::try_from(answer.v).unwrap_or(u8::MAX),
        }),
        Some(ErrorKind::TooLarge) => refused(Refusal::TooLarge { limit: answer.limit.unwrap_or(0) }),
        Some(ErrorKind::NoGrant) => refused(Refusal::NoGrant),
        None => Some(Err(SubmitError::Stopped(Stopped::ShutDown))),
    }
}
