//! Another process's end: connect to a served vault and command it like a [`Handle`].
//!
//! [`Handle`]: crate::Handle

use std::collections::VecDeque;
use std::fs::{File, TryLockError};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use crate::gateway::config::valid_name;
use crate::gateway::layout::{self as l, ServiceMap, ACTIVE, CLAIMED, FREE, REFUSED, REQUEST_BYTES};
use crate::gateway::server::{lease_path, service_dir, service_path, vault_lock_path};
use crate::gateway::wire;
use crate::ledger::{Command, Ledger, Outcome};
use crate::mirror::shm::map::WordMap;
use crate::mirror::shm::{ShmError, ShmReader};
use crate::platform;
use crate::runtime::{
    DetachedOutcome, LinkedError, LinkedReceipt, Receipt, Refusal, Snapshot, SubmitError, TrySubmitError,
    WaitStrategy,
};

/// How often a waiting client checks that its vault is still there.
const LIVENESS_EVERY: Duration = Duration::from_millis(10);
/// How long `connect` waits for the vault to admit it.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Outcomes of detached submissions kept for `try_outcome`; beyond, the oldest are dropped.
const OUTCOMES_MAX: usize = 65_536;

/// Why a client could not connect.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// No running vault serves that name.
    NotServed {
        /// The service's name.
        name: String,
    },
    /// The service's files are not this user's (nor shared with one of its groups).
    PermissionDenied {
        /// The file refused.
        path: PathBuf,
    },
    /// The service file has another layout version than this build reads.
    Version {
        /// The version found.
        found: u64,
    },
    /// Every place is taken: the vault's `slots` limit.
    Full {
        /// The limit.
        slots: usize,
    },
    /// The vault has no grant for this client's name.
    NoGrant {
        /// The client's name.
        name: String,
    },
    /// The vault refused this process's user.
    WrongUser,
    /// A service or client name with characters that cannot be a file name, or too long.
    InvalidName,
    /// The vault did not admit the client in time (it is stuck or stopping).
    TimedOut,
    /// Any other I/O error.
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NotServed { name } => write!(f, "no running vault serves \"{name}\""),
            ConnectError::PermissionDenied { path } => {
                write!(f, "{}: permission denied (not the vault's user or group)", path.display())
            }
            ConnectError::Version { found } => {
                write!(f, "service layout version {found}; this build reads {}", l::LAYOUT_VERSION)
            }
            ConnectError::Full { slots } => write!(f, "all {slots} client places are taken"),
            ConnectError::NoGrant { name } => {
                write!(f, "the vault has no grant for a client named \"{name}\"")
            }
            ConnectError::WrongUser => f.write_str("the vault refuses this process's user"),
            ConnectError::InvalidName => {
                f.write_str("names are letters, digits, '-', '_' and '.' (service ≤ 64 bytes, client ≤ 32)")
            }
            ConnectError::TimedOut => f.write_str("the vault did not admit the client within 2 s"),
            ConnectError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A connection from another process to a served vault (`Builder::serve`): the same command API
/// as a [`Handle`](crate::Handle) (blocking, try and detached submits, the typed helpers) over
/// shared memory, and snapshots from the vault's shared-memory mirror.
///
/// One client is one place in the vault's gateway, held until the client is dropped or its
/// process dies (the vault notices within 20 ms and frees it). Not `Clone`: connect again for
/// another place.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Client, Side};
/// let mut client = Client::connect("desk", "grid-159201")?;
/// let id = "1790000000000000001".parse()?;
/// let reserved = client.reserve(id, BookId::new(0), 2, Side::Buy, 1, "1000".parse()?)?;
/// assert!(reserved.repeated.is_none());
/// println!("pool now {}", client.snapshot()?.books()[0].pool());
/// # Ok(())
/// # }
/// ```
pub struct Client {
    map: ServiceMap,
    slot: usize,
    generation: u64,
    /// Requests published (ours).
    head: u64,
    /// Answers read (ours).
    tail: u64,
    next_request: u64,
    wait: WaitStrategy,
    outcomes: VecDeque<DetachedOutcome>,
    outcomes_dropped: u64,
    /// The answer to a blocking submit that arrived while draining for another purpose.
    scratch: Vec<u8>,
    /// The request numbers of the linked reservation waited for (`first`, parts; 0 parts: none)
    /// and its parts' answers as they arrive.
    chain: (u64, u64),
    chain_answers: Vec<PartAnswer>,
    clock: quanta::Clock,
    unreported: u64,
    service: String,
    name: String,
    dir: PathBuf,
    /// The service file's identity: a restarted vault replaces it.
    inode: u64,
    owner: u32,
    mirror: Option<ShmReader>,
    disconnected: bool,
    /// The answer ring was found corrupt: every call fails with `AnswersCorrupt` until a
    /// reconnect (`check_open` looks at it first, on every path).
    corrupt: bool,
    /// Held while connected: the vault sees the place's client alive. Dropped before a
    /// reconnect, so a reconnect never needs a second place.
    lease: Option<Lease>,
}

/// One part's answer of a linked reservation under way.
struct PartAnswer {
    request: u64,
    seq: u64,
    result: Result<Outcome, LinkedError>,
}

impl Client {
    /// Connects to the vault serving `service` as the client `name` (the name its grant is
    /// under), waiting with the default strategy (spin 50 µs, then block).
    ///
    /// # Errors
    /// [`ConnectError`]: no such service, not allowed, no place free, no grant.
    pub fn connect(service: &str, name: &str) -> Result<Client, ConnectError> {
        Client::connect_with(service, name, WaitStrategy::default())
    }

    /// [`Client::connect`], waiting for answers the way `wait` says: `BusySpin` for the lowest
    /// latency (a core of its own), `Blocking` for a script that must not burn a core.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn connect_with(service: &str, name: &str, wait: WaitStrategy) -> Result<Client, ConnectError> {
        if !valid_name(service, 64) || !valid_name(name, l::NAME_MAX) {
            return Err(ConnectError::InvalidName);
        }
        let dir = service_dir(service);
        let (map, inode, owner) = open_service(service, &dir)?;
        let (slot, lease) = claim(&map, &dir, name)?;
        let generation = admitted(&map, slot, service, name, &dir)?;
        Ok(Client {
            map,
            slot,
            generation,
            head: 0,
            tail: 0,
            next_request: 1,
            wait,
            outcomes: VecDeque::new(),
            outcomes_dropped: 0,
            scratch: Vec::with_capacity(128),
            chain: (0, 0),
            chain_answers: Vec::new(),
            clock: quanta::Clock::new(),
            unreported: 0,
            service: service.to_owned(),
            name: name.to_owned(),
            dir,
            inode,
            owner,
            mirror: None,
            disconnected: false,
            lease: Some(Lease { file: lease, pid: std::process::id() }),
            corrupt: false,
        })
    }

    /// Connects again after [`SubmitError::Disconnected`] (the vault restarted): a new place,
    /// the same name and wait strategy. Detached outcomes not yet taken are kept.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn reconnect(&mut self) -> Result<(), ConnectError> {
        // The old place is given up first: this client is disconnected from it either way.
        self.disconnected = true;
        self.lease = None;
        let mut fresh = Client::connect_with(&self.service, &self.name, self.wait)?;
        fresh.outcomes = std::mem::take(&mut self.outcomes);
        fresh.next_request = self.next_request;
        *self = fresh;
        Ok(())
    }

    /// [`Client::reconnect`], retrying with backoff (1 ms doubling to 100 ms) for up to
    /// `timeout`: for a vault that is restarting.
    ///
    /// # Errors
    /// The last [`ConnectError`] once `timeout` has passed.
    pub fn reconnect_within(&mut self, timeout: Duration) -> Result<(), ConnectError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.reconnect() {
                Ok(()) => return Ok(()),
                Err(error) if start.elapsed() >= timeout => return Err(error),
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// Applies `command` and waits for the answer.
    ///
    /// # Errors
    /// As [`Handle::submit`](crate::Handle::submit), and [`SubmitError::Disconnected`] if the
    /// vault went away (within 10 ms of noticing; reconnect, and resubmit what was not
    /// answered), [`SubmitError::Refused`] if the gateway refused the request.
    pub fn submit(&mut self, command: Command) -> Result<Receipt, SubmitError> {
        self.submit_numbered(None, command)
    }

    /// Applies `command` at most once under this client's request number `request` (at least
    /// 1; increasing, e.g. microseconds since the epoch) and waits: a number applied before is
    /// answered with its original outcome and sequence and applies nothing
    /// (`Handle::submit_once`; the key is this client's name and the number). After a
    /// `Disconnected`, reconnect and resend under the same number.
    ///
    /// # Errors
    /// As [`Client::submit`], and `Rejected(RequestExpired)` for a number older than the window.
    pub fn submit_once(&mut self, request: u64, command: Command) -> Result<Receipt, SubmitError> {
        if request == 0 {
            return Err(SubmitError::Refused(crate::runtime::Refusal::Malformed));
        }
        self.submit_numbered(Some(request), command)
    }

    fn submit_numbered(&mut self, number: Option<u64>, command: Command) -> Result<Receipt, SubmitError> {
        self.check_open()?;
        self.wait_for_room(1)?;
        let sent = self.clock.raw();
        let request = self.publish(number, &command, sent);
        let (seq, result) = self.wait_for(request)?;
        self.unreported = self.clock.raw().saturating_sub(sent).max(1);
        result.map(|outcome| Receipt { seq, outcome })
    }

    /// Reserves every part of `parts` or none, as one command (`Handle::submit_linked`), and
    /// waits for the answer. The parts travel as consecutive requests; the vault applies them
    /// when the last has arrived, checks each part against this client's grant and answers each.
    ///
    /// # Errors
    /// [`LinkedError::Rejected`] with the part refused (nothing changed): the ledger's
    /// rejection, `NotGranted`, or, found before sending, `LinkLength` and `NotLinkable`;
    /// [`LinkedError::Failed`] as [`Client::submit`], and `Refused(InFlightLimit)` for a chain
    /// longer than the vault's `in_flight_max`.
    pub fn submit_linked(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError> {
        Ledger::check_linked(parts).map_err(LinkedError::Rejected)?;
        self.chain_round_trip(parts.len(), |client, part, flags, sent| {
            client.write_request(flags, None, &parts[part], sent);
        })
    }

    /// Sends `count` entries as one chain (`write` writes part `n` with the flags given) and
    /// waits for every part's answer.
    fn chain_round_trip(
        &mut self,
        count: usize,
        mut write: impl FnMut(&mut Client, usize, u8, u64),
    ) -> Result<LinkedReceipt, LinkedError> {
        if count > self.map.capacity {
            let limit = u32::try_from(self.map.capacity).unwrap_or(u32::MAX);
            return Err(LinkedError::Failed(SubmitError::Refused(Refusal::InFlightLimit { limit })));
        }
        self.check_open().map_err(LinkedError::Failed)?;
        self.wait_for_room(count as u64).map_err(LinkedError::Failed)?;
        let sent = self.clock.raw();
        let first = self.next_request;
        for part in 0..count {
            let end = if part + 1 == count { l::FLAG_LINK_END } else { 0 };
            write(self, part, l::FLAG_LINK | end, sent);
        }
        self.ring_if_asleep();
        self.chain = (first, count as u64);
        self.chain_answers.clear();
        let waited = self.wait_for_chain();
        self.chain = (0, 0);
        waited.map_err(LinkedError::Failed)?;
        self.unreported = self.clock.raw().saturating_sub(sent).max(1);
        self.chain_answers.sort_unstable_by_key(|answer| answer.request);
        let mut seq = 0;
        let mut outcomes = Vec::with_capacity(count);
        for answer in self.chain_answers.drain(..) {
            seq = seq.max(answer.seq);
            outcomes.push(answer.result?);
        }
        Ok(LinkedReceipt { seq, outcomes })
    }

    /// Waits until every part of the chain in `self.chain` is answered.
    fn wait_for_chain(&mut self) -> Result<(), SubmitError> {
        let mut waiter = Waiter::new(self.wait);
        loop {
            self.drain(None);
            if self.chain_answers.len() as u64 >= self.chain.1 {
                return Ok(());
            }
            if self.tail == self.head {
                self.corrupt = true;
            }
            if waiter.pause(self)? {
                self.check_alive()?;
            }
        }
    }

    /// Enqueues `command` without blocking and returns its ticket; the outcome arrives through
    /// [`Client::try_outcome`].
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] when the client has `in_flight_max` requests unanswered,
    /// [`TrySubmitError::Disconnected`] when the vault is gone.
    pub fn try_submit(&mut self, command: Command) -> Result<u64, TrySubmitError> {
        if self.check_open().is_err() {
            return Err(TrySubmitError::Disconnected(command));
        }
        self.drain(None);
        if self.corrupt {
            return Err(TrySubmitError::Disconnected(command));
        }
        if self.head - self.tail >= self.map.capacity as u64 {
            return Err(TrySubmitError::Full(command));
        }
        Ok(self.publish(None, &command, self.clock.raw()))
    }

    /// Enqueues `command`, waiting only while `in_flight_max` requests are unanswered, and
    /// returns its ticket; the outcome arrives through [`Client::try_outcome`].
    ///
    /// # Errors
    /// [`SubmitError::Disconnected`] when the vault is gone.
    pub fn submit_detached(&mut self, command: Command) -> Result<u64, SubmitError> {
        self.check_open()?;
        self.wait_for_room(1)?;
        Ok(self.publish(None, &command, self.clock.raw()))
    }

    /// The next outcome of a detached submission, if one has arrived, in ticket order. Answers
    /// the vault could not give as an outcome or a rejection (it stopped) are not reported.
    pub fn try_outcome(&mut self) -> Option<DetachedOutcome> {
        if self.outcomes.is_empty() {
            self.drain(None);
        }
        self.outcomes.pop_front()
    }

    /// Outcomes of detached submissions dropped because `try_outcome` was not called.
    #[must_use]
    pub fn outcomes_dropped(&self) -> u64 {
        self.outcomes_dropped
    }

    /// Requests sent and not yet answered.
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.head - self.tail
    }

    /// This client's place in the gateway (what `capvault clients` lists).
    #[must_use]
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The latest snapshot, read from the vault's shared-memory mirror.
    ///
    /// # Errors
    /// [`ShmError`] if the mirror cannot be read.
    pub fn snapshot(&mut self) -> Result<Snapshot, ShmError> {
        if self.mirror.is_none() {
            self.mirror = Some(self.reader()?);
        }
        self.mirror.as_ref().map_or_else(|| Err(ShmError::Missing { path: PathBuf::new() }), ShmReader::read)
    }

    /// A reader of the vault's shared-memory mirror (its path is in the service file).
    ///
    /// # Errors
    /// [`ShmError`] if the mirror cannot be opened.
    pub fn reader(&self) -> Result<ShmReader, ShmError> {
        ShmReader::open_owned_by(self.map.mirror_path(), self.owner)
    }

    /// `Disconnected` if the vault closed the service or this client's place; cheap (two
    /// loads), so every submit starts with it.
    fn check_open(&mut self) -> Result<(), SubmitError> {
        if self.corrupt {
            return Err(SubmitError::AnswersCorrupt);
        }
        let (state, _) = self.map.state(self.slot);
        let open = !self.disconnected
            && self.map.header(l::H_STATE).load(Ordering::Acquire) == l::SERVICE_OPEN
            && state == ACTIVE
            && self.map.control(self.slot, l::C_GENERATION).load(Ordering::Relaxed) == self.generation;
        if open {
            Ok(())
        } else {
            self.disconnected = true;
            Err(SubmitError::Disconnected)
        }
    }

    /// [`Client::check_open`], and the system calls that tell a dead or replaced vault: its
    /// lock is free, or the service file at the path is another one.
    fn check_alive(&mut self) -> Result<(), SubmitError> {
        self.check_open()?;
        let replaced =
            std::fs::metadata(service_path(&self.dir)).map_or(true, |m| platform::file_id(&m) != self.inode);
        if replaced || !vault_alive(&self.dir) {
            self.disconnected = true;
            return Err(SubmitError::Disconnected);
        }
        Ok(())
    }

    /// Waits until `count` more requests fit under `in_flight_max` unanswered.
    fn wait_for_room(&mut self, count: u64) -> Result<(), SubmitError> {
        let mut waiter = Waiter::new(self.wait);
        loop {
            self.drain(None);
            if self.head - self.tail + count <= self.map.capacity as u64 {
                return Ok(());
            }
            if waiter.pause(self)? {
                self.check_alive()?;
            }
        }
    }

    /// Writes the request and rings the owner if it sleeps. The caller checked there is room.
    fn publish(&mut self, number: Option<u64>, command: &Command, sent: u64) -> u64 {
        let flags = if number.is_some() { l::FLAG_KEYED } else { 0 };
        let request = self.write_request(flags, number, command, sent);
        self.ring_if_asleep();
        request
    }

    /// Writes one request entry, without ringing. The caller checked there is room.
    fn write_request(&mut self, flags: u8, number: Option<u64>, command: &Command, sent: u64) -> u64 {
        wire::encode_request(number, command, &mut self.scratch);
        self.write_entry(flags, sent)
    }

    /// Writes `self.scratch` as one request entry, without ringing.
    fn write_entry(&mut self, flags: u8, sent: u64) -> u64 {
        let request = self.next_request;
        self.next_request += 1;
        let (scratch, round_trip) = (&self.scratch, std::mem::take(&mut self.unreported));
        let flags = u64::from(flags) << 8;
        self.map.requests(self.slot).publish(self.head, |entry| {
            let first = u64::from(l::WIRE_VERSION) | flags | ((scratch.len() as u64) << 16);
            entry[0].store(first, Ordering::Relaxed);
            entry[1].store(request, Ordering::Relaxed);
            entry[2].store(sent, Ordering::Relaxed);
            entry[3].store(round_trip, Ordering::Relaxed);
            l::write_bytes(&entry[4..4 + REQUEST_BYTES / 8], scratch);
        });
        self.head += 1;
        request
    }

    /// Rings the doorbell if the owner sleeps. `SeqCst`: the request's head store, then the
    /// owner's "sleeping" flag; the owner raises the flag and then looks at the rings, so one of
    /// the two sees the other.
    fn ring_if_asleep(&self) {
        fence(Ordering::SeqCst);
        let sleeping = self.map.header(l::H_SLEEPING);
        if sleeping.load(Ordering::Relaxed) != 0 && sleeping.swap(0, Ordering::SeqCst) != 0 {
            let doorbell = self.map.header(l::H_DOORBELL);
            doorbell.fetch_add(1, Ordering::Release);
            platform::futex_wake(doorbell);
        }
    }

    /// Reads every answer that has arrived. Returns the one for `request`, if it came; the
    /// others are detached outcomes.
    fn drain(&mut self, request: Option<u64>) -> Option<(u64, Result<Outcome, SubmitError>)> {
        let answers = self.map.answers(self.slot);
        let mut found = None;
        // Acquire: as in `Ring::peek`. More answers than requests sent is a head no vault wrote.
        let ring_head = answers.head_word().load(Ordering::Acquire);
        if ring_head.wrapping_sub(self.tail) > self.head - self.tail {
            self.corrupt = true;
            return None;
        }
        while self.tail < self.head {
            let entry = match answers.peek(self.tail) {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                // A head word no vault would write: waiting on would spin forever.
                Err(_) => {
                    self.corrupt = true;
                    break;
                }
            };
            let first = entry[0].load(Ordering::Relaxed);
            let id = entry[1].load(Ordering::Relaxed);
            let seq = entry[2].load(Ordering::Relaxed);
            let len = ((first >> 16) & 0xffff) as usize;
            l::read_bytes(&entry[3..], len.min(l::ANSWER_BYTES), &mut self.scratch);
            answers.consume(self.tail);
            self.tail += 1;
            let part = id.wrapping_sub(self.chain.0);
            if part < self.chain.1 {
                let result =
                    wire::decode_linked_answer(part as usize, first as u8, (first >> 8) as u8, &self.scratch)
                        .unwrap_or(Err(LinkedError::Failed(SubmitError::Refused(Refusal::Malformed))));
                self.chain_answers.push(PartAnswer { request: id, seq, result });
                continue;
            }
            let result = wire::decode_answer(first as u8, (first >> 8) as u8, &self.scratch)
                .unwrap_or(Err(SubmitError::Refused(crate::runtime::Refusal::Malformed)));
            if Some(id) == request {
                found = Some((seq, result));
                continue;
            }
            let result = match result {
                Ok(outcome) => Ok(outcome),
                Err(SubmitError::Rejected(rejection)) => Err(rejection),
                Err(_) => continue,
            };
            if self.outcomes.len() >= OUTCOMES_MAX {
                self.outcomes.pop_front();
                self.outcomes_dropped += 1;
            }
            self.outcomes.push_back(DetachedOutcome { ticket: id, seq, result });
        }
        found
    }

    /// Waits for the answer to `request`.
    fn wait_for(&mut self, request: u64) -> Result<(u64, Result<Outcome, SubmitError>), SubmitError> {
        let mut waiter = Waiter::new(self.wait);
        loop {
            if let Some(answer) = self.drain(Some(request)) {
                return Ok(answer);
            }
            // Every answer read and none was this request's: its answer was written over.
            if self.tail == self.head {
                self.corrupt = true;
            }
            if waiter.pause(self)? {
                self.check_alive()?;
            }
        }
    }
}

/// How a client spends a wait: spins, yields or blocks on the answer ring's head, and says
/// when it is time to check the vault is alive.
struct Waiter {
    strategy: WaitStrategy,
    started: Option<Instant>,
    last_check: Option<Instant>,
    polls: u32,
}

impl Waiter {
    fn new(strategy: WaitStrategy) -> Waiter {
        Waiter { strategy, started: None, last_check: None, polls: 0 }
    }

    /// One pause. `Ok(true)` when the liveness check is due.
    fn pause(&mut self, client: &mut Client) -> Result<bool, SubmitError> {
        self.polls = self.polls.wrapping_add(1);
        client.check_open()?;
        // The clock is read every 64 polls: a spin that ends within them costs none.
        if !self.polls.is_multiple_of(64) && !matches!(self.strategy, WaitStrategy::Blocking) {
            std::hint::spin_loop();
            return Ok(false);
        }
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let due = now.duration_since(*self.last_check.get_or_insert(now)) >= LIVENESS_EVERY;
        if due {
            self.last_check = Some(now);
        }
        let block = match self.strategy {
            WaitStrategy::BusySpin => false,
            WaitStrategy::SpinYield { spin } => {
                if now.duration_since(started) >= spin {
                    std::thread::yield_now();
                }
                false
            }
            WaitStrategy::SpinPark { spin } => now.duration_since(started) >= spin,
            WaitStrategy::Blocking => true,
        };
        if block {
            let answers = client.map.answers(client.slot);
            answers.set_waiting(true);
            let head = answers.head_word().load(Ordering::SeqCst);
            if head == client.tail {
                platform::futex_wait(answers.head_word(), head as u32, LIVENESS_EVERY);
            }
            answers.set_waiting(false);
            return Ok(true);
        }
        Ok(due)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .field("name", &self.name)
            .field("slot", &self.slot)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Whether a vault holds the service's lock.
fn vault_alive(dir: &std::path::Path) -> bool {
    let Ok(lock) = File::open(vault_lock_path(dir)) else { return false };
    // A shared lock taken means no vault holds its exclusive one.
    matches!(lock.try_lock_shared(), Err(TryLockError::WouldBlock))
}

/// Maps the service file and checks its header. Returns the map, the file's inode and owner.
fn open_service(service: &str, dir: &std::path::Path) -> Result<(ServiceMap, u64, u32), ConnectError> {
    let path = service_path(dir);
    let not_served = || ConnectError::NotServed { name: service.to_owned() };
    let file = match platform::open_rw(&path, 0, false) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(not_served()),
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            return Err(ConnectError::PermissionDenied { path })
        }
        Err(error) => return Err(ConnectError::Io { path, error }),
    };
    let io_error = |error| ConnectError::Io { path: path.clone(), error };
    let metadata = file.metadata().map_err(io_error)?;
    let map = WordMap::read_write(&file).map_err(io_error)?;
    let words = map.words();
    if words.len() < l::HEADER_WORDS || words[l::H_MAGIC].load(Ordering::Acquire) != l::MAGIC {
        return Err(not_served());
    }
    let layout = words[l::H_LAYOUT].load(Ordering::Relaxed);
    if layout != l::LAYOUT_VERSION {
        return Err(ConnectError::Version { found: layout });
    }
    let slots = words[l::H_SLOTS].load(Ordering::Relaxed) as usize;
    let capacity = words[l::H_CAPACITY].load(Ordering::Relaxed) as usize;
    let fits = capacity.is_power_of_two() && slots <= 256 && capacity <= 4096;
    if !fits || words.len() < l::total_words(slots, capacity) {
        return Err(not_served());
    }
    if words[l::H_STATE].load(Ordering::Acquire) != l::SERVICE_OPEN || !vault_alive(dir) {
        return Err(not_served());
    }
    Ok((ServiceMap { map, slots, capacity }, platform::file_id(&metadata), platform::owner_of(&metadata)))
}

/// A place's lease: a lock on its lease file, held while connected. Dropped by the process that
/// took it, it is unlocked, not only closed: a child forked meanwhile shares the lock until it
/// execs or exits, and would keep the place taken. Dropped in such a child (a forked copy of a
/// client, closed or reconnected there), it is only closed: the lock is the parent's.
struct Lease {
    file: File,
    pid: u32,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if std::process::id() == self.pid {
            let _ = self.file.unlock();
        }
    }
}

/// Takes the first free place: its lease lock, then its state word.
fn claim(map: &ServiceMap, dir: &std::path::Path, name: &str) -> Result<(usize, File), ConnectError> {
    for slot in 0..map.slots {
        let path = lease_path(dir, slot);
        let lease = match platform::open_rw(&path, 0, false) {
            Ok(lease) => lease,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                return Err(ConnectError::PermissionDenied { path })
            }
            Err(error) => return Err(ConnectError::Io { path, error }),
        };
        if lease.try_lock().is_err() || map.state(slot).0 != FREE {
            continue;
        }
        let words: Vec<_> = (0..l::NAME_MAX / 8).map(|i| map.control(slot, l::C_NAME + i)).collect();
        l::write_text(&words, name);
        map.control(slot, l::C_PID).store(u64::from(std::process::id()), Ordering::Relaxed);
        map.set_state(slot, CLAIMED, 0);
        let doorbell = map.header(l::H_DOORBELL);
        doorbell.fetch_add(1, Ordering::Release);
        platform::futex_wake(doorbell);
        return Ok((slot, lease));
    }
    Err(ConnectError::Full { slots: map.slots })
}

/// Waits for the vault to admit or refuse the claimed place; returns its generation.
fn admitted(
    map: &ServiceMap,
    slot: usize,
    service: &str,
    name: &str,
    dir: &std::path::Path,
) -> Result<u64, ConnectError> {
    let start = Instant::now();
    loop {
        match map.state(slot) {
            (ACTIVE, _) => return Ok(map.control(slot, l::C_GENERATION).load(Ordering::Relaxed)),
            (REFUSED, l::REASON_NO_GRANT) => return Err(ConnectError::NoGrant { name: name.to_owned() }),
            (REFUSED, _) => return Err(ConnectError::WrongUser),
            _ => {}
        }
        if map.header(l::H_STATE).load(Ordering::Acquire) != l::SERVICE_OPEN || !vault_alive(dir) {
            return Err(ConnectError::NotServed { name: service.to_owned() });
        }
        if start.elapsed() > ADMIT_TIMEOUT {
            return Err(ConnectError::TimedOut);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// One place of a served vault, as `capvault clients` lists it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct ClientInfo {
    /// The place.
    pub slot: usize,
    /// The client's name.
    pub name: String,
    /// Its process.
    pub pid: u32,
    /// `claimed`, `active`, `refused`, `dead` (gone, being freed) or `kicked`.
    pub state: &'static str,
    /// Commands answered on this connection.
    pub answered: u64,
    /// When it connected, milliseconds since the Unix epoch.
    pub since_ms: u64,
}

/// The places in use at the vault serving `service`.
///
/// # Errors
/// As [`Client::connect`] when the service cannot be opened.
pub fn clients(service: &str) -> Result<Vec<ClientInfo>, ConnectError> {
    if !valid_name(service, 64) {
        return Err(ConnectError::InvalidName);
    }
    let dir = service_dir(service);
    let (map, _, _) = open_service(service, &dir)?;
    let mut out = Vec::new();
    for slot in 0..map.slots {
        let state = match map.state(slot).0 {
            FREE => continue,
            CLAIMED => "claimed",
            ACTIVE => "active",
            REFUSED => "refused",
            l::DEAD => "dead",
            _ => "kicked",
        };
        out.push(ClientInfo {
            slot,
            name: map.name(slot),
            pid: map.control(slot, l::C_PID).load(Ordering::Relaxed) as u32,
            state,
            answered: map.control(slot, l::C_ANSWERED).load(Ordering::Relaxed),
            since_ms: map.control(slot, l::C_SINCE).load(Ordering::Relaxed),
        });
    }
    Ok(out)
}

impl Client {
    /// Sends raw request bytes with a wire version of the caller's choosing, and waits for the
    /// answer: for testing how the vault refuses what no correct client sends.
    ///
    /// # Errors
    /// As [`Client::submit`].
    #[doc(hidden)]
    pub fn submit_raw(&mut self, version: u8, bytes: &[u8]) -> Result<Receipt, SubmitError> {
        self.check_open()?;
        self.wait_for_room(1)?;
        let request = self.next_request;
        self.next_request += 1;
        let len = bytes.len().min(REQUEST_BYTES);
        self.map.requests(self.slot).publish(self.head, |entry| {
            entry[0].store(u64::from(version) | ((bytes.len() as u64) << 16), Ordering::Relaxed);
            entry[1].store(request, Ordering::Relaxed);
            entry[2].store(0, Ordering::Relaxed);
            entry[3].store(0, Ordering::Relaxed);
            l::write_bytes(&entry[4..], &bytes[..len]);
        });
        self.head += 1;
        self.ring_if_asleep();
        let (seq, result) = self.wait_for(request)?;
        result.map(|outcome| Receipt { seq, outcome })
    }

    /// A command's request bytes, as `submit` sends them: for building the raw requests of
    /// tests.
    #[doc(hidden)]
    #[must_use]
    pub fn request_bytes(command: &Command) -> Vec<u8> {
        let mut out = Vec::new();
        wire::encode_request(None, command, &mut out);
        out
    }

    /// Sends raw parts as one linked reservation, unchecked, and waits for the answers: for
    /// testing how the vault refuses a chain no correct client sends.
    ///
    /// # Errors
    /// As [`Client::submit_linked`].
    #[doc(hidden)]
    pub fn submit_linked_raw(&mut self, parts: &[Vec<u8>]) -> Result<LinkedReceipt, LinkedError> {
        self.chain_round_trip(parts.len(), |client, part, flags, sent| {
            client.scratch.clear();
            client.scratch.extend_from_slice(&parts[part]);
            client.write_entry(flags, sent);
        })
    }
}
