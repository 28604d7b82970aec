//! A client of a served vault on any host, over NATS: the same typed commands as `Handle` and
//! `Client`, each sent under a request number and resent under the same number until it is
//! answered or the deadline passes, so a timeout, a NATS reconnect or a vault restart never
//! applies a command twice.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ledger::Command;
use crate::remote::command_subject;
use crate::remote::wire::{Answer, ErrorKind, Request, REMOTE_VERSION};
use crate::runtime::{Receipt, Refusal, Stopped, SubmitError};

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

    /// With a password.
    #[must_use]
    pub fn password(mut self, password: &str) -> RemoteOptions {
        self.password = Some(password.to_owned());
        self
    }
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
        let body = serde_json::to_vec(&Request { v: REMOTE_VERSION, request, command })
            .map_err(|_| SubmitError::Refused(Refusal::Malformed))?;
        self.send(&body.into())
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

    fn send(&mut self, body: &bytes::Bytes) -> Result<Receipt, SubmitError> {
        let deadline = Instant::now() + self.options.deadline;
        loop {
            let attempt = self.runtime.block_on(self.client.request(self.subject.clone(), body.clone()));
            // `None`: not applied or not known yet; the same number is sent again.
            let answered = match attempt {
                Ok(message) => decode(&message.payload, REMOTE_VERSION),
                Err(_) => None,
            };
            if let Some(result) = answered {
                return result;
            }
            if Instant::now() >= deadline {
                return Err(SubmitError::Disconnected);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
