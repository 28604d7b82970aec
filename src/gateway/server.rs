//! The vault's end: the service folder, the inbox the owner polls, and the helper thread that
//! admits clients, notices the dead ones and wakes a sleeping owner.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Select, Sender};

use crate::gateway::config::ServeConfig;
use crate::gateway::layout::{
    self as l, ServiceMap, ACTIVE, CLAIMED, DEAD, FREE, KICKED, REFUSED, REQUEST_BYTES, SERVICE_CLOSED,
    SERVICE_OPEN,
};
use crate::gateway::wire;
use crate::ledger::{Command, GrantMask, Ledger, Outcome, Rejection, RequestKey, LINKED_MAX};
use crate::mirror::shm::map::WordMap;
use crate::platform;
use crate::runtime::{
    Envelope, Inbox, Keyed, LinkedError, LinkedReply, LinkedTo, Parked, RemoteReply, ReplyTo, SubmitError,
};

/// How often the helper looks for dead clients and new ones when nothing rings.
const HOUSEKEEPING: Duration = Duration::from_millis(20);

/// The longest an owner with a gateway parks before it looks at the rings again.
const PARK_MAX: Duration = Duration::from_millis(100);

/// The folder of the service `name`.
#[must_use]
pub fn service_dir(name: &str) -> PathBuf {
    platform::shm_dir().unwrap_or_else(std::env::temp_dir).join(format!("capvault-{name}"))
}

pub(crate) fn service_path(dir: &Path) -> PathBuf {
    dir.join("service")
}

pub(crate) fn vault_lock_path(dir: &Path) -> PathBuf {
    dir.join("vault.lock")
}

pub(crate) fn lease_path(dir: &Path, slot: usize) -> PathBuf {
    dir.join(format!("client-{slot}.lock"))
}

/// The owner thread's view of one connected client.
#[derive(Clone, Copy)]
struct Conn {
    active: bool,
    generation: u32,
    /// Requests read (the request ring's tail, ours).
    tail: u64,
    /// Answers written (the answer ring's head, ours).
    head: u64,
    /// Requests taken and not yet answered: they will need room in the answer ring.
    pending: u64,
    /// The round trip the client reported with its last request polled (clock ticks).
    round_trip: u64,
    grant: GrantMask,
    /// The client's tag for keyed requests (`RequestKey::client_tag` of its name).
    tag: u64,
}

/// What reading one entry gave.
enum Taken {
    Envelope(Envelope),
    /// No entry, or one answered without the owner (refused).
    Nothing,
    /// A part of a linked reservation that goes on.
    Part,
}

/// A linked reservation a client is sending, part by part.
#[derive(Default)]
struct Chain {
    parts: Vec<Command>,
    /// Entries taken (each is answered, whatever becomes of the chain).
    taken: u32,
    /// The first part's request number; the others follow it one by one.
    first: u64,
    sent: u64,
    /// A part that did not decode, or one too many: every part is answered `Malformed`.
    broken: bool,
}

/// The gateway as the owner sees it.
pub(crate) struct Gateway {
    map: Arc<ServiceMap>,
    conns: Vec<Conn>,
    /// Per place, the linked reservation under way (empty for almost every client).
    chains: Vec<Chain>,
    active: Vec<usize>,
    epoch: u64,
    cursor: usize,
    config: Arc<ServeConfig>,
    wake_rx: Receiver<()>,
    helper: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)>,
    scratch: Vec<u8>,
    path: PathBuf,
    /// Held for the vault's life: the "one vault per name" rule, and how clients tell a live
    /// vault from a dead one.
    vault_lock: File,
}

/// Opens a made service to clients: `Builder::spawn` calls it last, once recovery, the
/// mirrors and configuration drift are done, so no client command runs under the settings of
/// before.
pub(crate) struct Opener(Arc<ServiceMap>);

impl Opener {
    pub(crate) fn open(self) {
        // Release: a client that sees the service open (Acquire) sees the vault started.
        self.0.header(l::H_STATE).store(SERVICE_OPEN, Ordering::Release);
    }
}

impl Gateway {
    /// What opens the service to clients, kept by the builder while the gateway goes to the
    /// owner thread.
    pub(crate) fn opener(&self) -> Opener {
        Opener(self.map.clone())
    }
}

/// Why the service could not be opened.
pub(crate) enum OpenError {
    /// A file of the service folder, with the folder's path.
    Io(PathBuf, io::Error),
    /// Another running vault holds the name.
    Active,
}

/// Creates the service folder and file for `config` and starts the helper thread.
pub(crate) fn open(config: &ServeConfig, mirror: &Path) -> Result<Gateway, OpenError> {
    let dir = service_dir(&config.name);
    let io_error = |error: io::Error| OpenError::Io(dir.clone(), error);
    let (dir_mode, file_mode) = if config.group.is_some() { (0o770, 0o660) } else { (0o700, 0o600) };
    make_dir(&dir, dir_mode, config.group).map_err(io_error)?;
    let lock = open_file(&vault_lock_path(&dir), file_mode, config.group).map_err(io_error)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(OpenError::Active),
        Err(TryLockError::Error(error)) => return Err(io_error(error)),
    }
    // Leases belong to this vault instance: each lease file is made anew, so a client of an
    // earlier instance still holding its old lease (while it reconnects, or stuck) holds a lock
    // on a removed file and blocks no place of this one.
    for slot in 0..config.slots {
        let path = lease_path(&dir, slot);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(io_error(error)),
            _ => {}
        }
        open_file(&path, file_mode, config.group).map_err(io_error)?;
    }
    let map = create_service(&dir, config, mirror, file_mode).map_err(io_error)?;
    let map = Arc::new(map);
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let stop = Arc::new(AtomicBool::new(false));
    let helper =
        Helper { map: map.clone(), config: Arc::new(config.clone()), dir: dir.clone(), wake: wake_tx };
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("capvault-gateway".into())
        .spawn(move || helper.run(&flag))
        .map_err(io_error)?;
    let empty = Conn {
        active: false,
        generation: 0,
        tail: 0,
        head: 0,
        pending: 0,
        round_trip: 0,
        grant: GrantMask::NONE,
        tag: 0,
    };
    Ok(Gateway {
        conns: vec![empty; config.slots],
        chains: (0..config.slots).map(|_| Chain::default()).collect(),
        active: Vec::with_capacity(config.slots),
        epoch: 0,
        cursor: 0,
        config: Arc::new(config.clone()),
        wake_rx,
        helper: Some((thread, stop)),
        scratch: Vec::with_capacity(256),
        path: service_path(&dir),
        map,
        vault_lock: lock,
    })
}

/// Creates the folder (or checks the one there is ours and a folder) and sets its mode.
fn make_dir(dir: &Path, mode: u32, group: Option<u32>) -> io::Result<()> {
    match platform::create_dir_mode(dir, mode) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            let metadata = fs::symlink_metadata(dir)?;
            if !metadata.is_dir() {
                return Err(io::Error::other("not a folder (a symlink?)"));
            }
            platform::check_owner(&metadata).map_err(|refusal| io::Error::other(refusal.to_string()))?;
        }
        Err(error) => return Err(error),
    }
    match group {
        Some(gid) => platform::share_with_group(dir, gid, mode),
        None => platform::set_mode(dir, mode),
    }
}

/// Opens (creating) a file of ours in the service folder, with `mode`.
fn open_file(path: &Path, mode: u32, group: Option<u32>) -> io::Result<File> {
    let file = platform::open_rw(path, mode, true)?;
    platform::check_owner(&file.metadata()?).map_err(|refusal| io::Error::other(refusal.to_string()))?;
    match group {
        Some(gid) => platform::share_with_group(path, gid, mode)?,
        None => platform::set_mode(path, mode)?,
    }
    Ok(file)
}

/// Writes a new service file under a temporary name and renames it into place: a client never
/// maps a half-made one, and clients of an earlier vault see the file replaced.
fn create_service(dir: &Path, config: &ServeConfig, mirror: &Path, mode: u32) -> io::Result<ServiceMap> {
    let path = service_path(dir);
    let temporary = dir.join(format!("service.{}.tmp", platform::random_suffix()));
    let file = platform::create_new_rw(&temporary, mode)?;
    if let Some(gid) = config.group {
        platform::share_with_group(&temporary, gid, mode)?;
    }
    let words = l::total_words(config.slots, config.in_flight_max);
    file.set_len((words * 8) as u64)?;
    let map =
        ServiceMap { map: WordMap::read_write(&file)?, slots: config.slots, capacity: config.in_flight_max };
    let set = |index, value| map.header(index).store(value, Ordering::Relaxed);
    set(l::H_LAYOUT, l::LAYOUT_VERSION);
    set(l::H_WIRE, u64::from(l::WIRE_VERSION));
    set(l::H_SLOTS, config.slots as u64);
    set(l::H_CAPACITY, config.in_flight_max as u64);
    set(l::H_IN_FLIGHT, config.in_flight_max as u64);
    set(l::H_PID, u64::from(std::process::id()));
    set(l::H_INSTANCE, instance_id());
    let mirror_words: Vec<_> = (0..l::MIRROR_PATH_MAX / 8).map(|i| map.header(l::H_MIRROR + i)).collect();
    l::write_text(&mirror_words, &mirror.to_string_lossy());
    // Opened by `Opener::open` once the vault is what `spawn` returns.
    set(l::H_STATE, l::SERVICE_STARTING);
    // Release: a client that sees the magic sees every field above.
    map.header(l::H_MAGIC).store(l::MAGIC, Ordering::Release);
    if let Err(error) = fs::rename(&temporary, &path) {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    Ok(map)
}

/// A number that differs between two starts of a vault.
fn instance_id() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

impl Gateway {
    /// Brings the active list in step with the places' states after the epoch moved.
    fn rescan(&mut self) {
        self.active.clear();
        for slot in 0..self.map.slots {
            let (state, _) = self.map.state(slot);
            let conn = &mut self.conns[slot];
            match state {
                ACTIVE => {
                    let generation = self.map.control(slot, l::C_GENERATION).load(Ordering::Acquire) as u32;
                    if !conn.active || conn.generation != generation {
                        self.chains[slot] = Chain::default();
                        let name = self.map.name(slot);
                        let grant = self
                            .config
                            .grant_of(&name)
                            .map_or(GrantMask::NONE, crate::ledger::Grant::compile);
                        *conn = Conn {
                            active: true,
                            generation,
                            tail: 0,
                            head: 0,
                            pending: 0,
                            round_trip: 0,
                            grant,
                            tag: RequestKey::client_tag(&name),
                        };
                    }
                    self.active.push(slot);
                }
                DEAD => {
                    // The owner's acknowledgement: it will not touch the rings again; the helper
                    // may hand the place to the next client.
                    conn.active = false;
                    self.map.set_state(slot, FREE, 0);
                }
                _ => conn.active = false,
            }
        }
    }

    /// Stops serving a client that broke the protocol; it learns why from its state word.
    fn kick(&mut self, slot: usize) {
        self.conns[slot].active = false;
        self.active.retain(|&s| s != slot);
        self.map.set_state(slot, KICKED, l::REASON_PROTOCOL);
    }

    /// Reads one request from `slot`, if one is ready and its answer will have room; the parts
    /// of a linked reservation are read on until its last (the client published them together).
    fn take(&mut self, slot: usize) -> Result<Option<Envelope>, ()> {
        loop {
            match self.take_entry(slot)? {
                Taken::Envelope(envelope) => return Ok(Some(envelope)),
                Taken::Nothing => return Ok(None),
                Taken::Part => {}
            }
        }
    }

    /// Reads one entry from `slot`.
    fn take_entry(&mut self, slot: usize) -> Result<Taken, ()> {
        let conn = self.conns[slot];
        let answers = self.map.answers(slot);
        let unread = answers.in_flight(conn.head).map_err(|_| ())?;
        if unread + conn.pending >= answers.capacity() {
            // The client is not reading its answers: its requests wait.
            return Ok(Taken::Nothing);
        }
        let requests = self.map.requests(slot);
        let Some(entry) = requests.peek(conn.tail).map_err(|_| ())? else { return Ok(Taken::Nothing) };
        let head = entry[0].load(Ordering::Relaxed);
        let request = entry[1].load(Ordering::Relaxed);
        let sent = entry[2].load(Ordering::Relaxed);
        let round_trip = entry[3].load(Ordering::Relaxed);
        let len = ((head >> 16) & 0xffff) as usize;
        l::read_bytes(&entry[4..], len.min(REQUEST_BYTES), &mut self.scratch);
        requests.consume(conn.tail);
        let conn = &mut self.conns[slot];
        conn.tail += 1;
        conn.pending += 1;
        conn.round_trip = round_trip;
        let reply = RemoteReply { client: slot as u32, generation: conn.generation, request };
        let version = (head & 0xff) as u8;
        let flags = ((head >> 8) & 0xff) as u8;
        let keyed = flags == l::FLAG_KEYED;
        if version == l::WIRE_VERSION && flags & l::FLAG_LINK != 0 {
            return Ok(self.take_part(slot, flags, request, sent, len));
        }
        if self.chains[slot].taken > 0 {
            // Something else between the parts of a chain: the client broke the protocol.
            return Err(());
        }
        let decoded = if version != l::WIRE_VERSION {
            Err(crate::runtime::Refusal::WireVersion { found: version, expected: l::WIRE_VERSION })
        } else if len > REQUEST_BYTES || flags > l::FLAG_KEYED {
            Err(crate::runtime::Refusal::Malformed)
        } else {
            wire::decode_request(&self.scratch, keyed.then_some(conn.tag))
                .map_err(|_| crate::runtime::Refusal::Malformed)
        };
        match decoded {
            Ok((None, command)) => {
                Ok(Taken::Envelope(Envelope::Command { command, reply: ReplyTo::Remote(reply), sent }))
            }
            Ok((Some(key), command)) => Ok(Taken::Envelope(Envelope::Keyed {
                keyed: Box::new(Keyed { key, command, grant: None }),
                reply: ReplyTo::Remote(reply),
                sent,
            })),
            Err(refusal) => {
                self.answer(reply, 0, Err(SubmitError::Refused(refusal)));
                Ok(Taken::Nothing)
            }
        }
    }

    /// Adds a taken entry to the client's chain (in `self.scratch`): `Part` while the chain
    /// goes on; at its last part, the whole chain as one envelope (`Nothing` for a broken chain:
    /// every part is answered).
    #[inline(never)]
    fn take_part(&mut self, slot: usize, flags: u8, request: u64, sent: u64, len: usize) -> Taken {
        let generation = self.conns[slot].generation;
        let chain = &mut self.chains[slot];
        if chain.taken == 0 {
            chain.first = request;
            chain.sent = sent;
        }
        let in_order = request == chain.first.wrapping_add(u64::from(chain.taken));
        chain.taken += 1;
        let decoded = (len <= REQUEST_BYTES && flags & !(l::FLAG_LINK | l::FLAG_LINK_END) == 0 && in_order)
            .then(|| wire::decode_request(&self.scratch, None).ok())
            .flatten();
        match decoded {
            Some((_, command)) if chain.parts.len() < LINKED_MAX && !chain.broken => {
                chain.parts.push(command);
            }
            _ => chain.broken = true,
        }
        if flags & l::FLAG_LINK_END == 0 {
            return Taken::Part;
        }
        let chain = std::mem::take(&mut self.chains[slot]);
        let reply = RemoteReply { client: slot as u32, generation, request: chain.first };
        if chain.broken {
            let refused = LinkedError::Failed(SubmitError::Refused(crate::runtime::Refusal::Malformed));
            self.answer_linked(reply, chain.taken, 0, Err(&refused));
            return Taken::Nothing;
        }
        let to = LinkedTo::Remote { reply, parts: chain.taken };
        Taken::Envelope(Envelope::Linked {
            parts: chain.parts.into_boxed_slice(),
            reply: ReplyTo::Linked(Box::new(LinkedReply { to, result: Ok(Vec::new()) })),
            sent: chain.sent,
        })
    }

    /// Writes one answer into `slot`'s answer ring, from `self.scratch`.
    fn write_answer(&mut self, slot: usize, request: u64, seq: u64, (status, code): (u8, u8)) {
        let conn = &mut self.conns[slot];
        conn.pending = conn.pending.saturating_sub(1);
        let head = conn.head;
        conn.head += 1;
        let answers = self.map.answers(slot);
        let scratch = &self.scratch;
        answers.publish(head, |entry| {
            let first = u64::from(status) | (u64::from(code) << 8) | ((scratch.len() as u64) << 16);
            entry[0].store(first, Ordering::Relaxed);
            entry[1].store(request, Ordering::Relaxed);
            entry[2].store(seq, Ordering::Relaxed);
            l::write_bytes(&entry[3..], scratch);
        });
        self.map.control(slot, l::C_ANSWERED).fetch_add(1, Ordering::Relaxed);
    }

    /// Wakes the client if it waits for its answers.
    fn wake_client(&self, slot: usize) {
        // SeqCst: the head store of the answer and the client's "waiting" flag; one of the two
        // sides sees the other (`Ring::set_waiting`).
        fence(Ordering::SeqCst);
        let answers = self.map.answers(slot);
        if answers.consumer_waiting() {
            platform::futex_wake(answers.head_word());
        }
    }

    /// Whether `reply` is for the client now in its place.
    fn current(&self, reply: &RemoteReply) -> bool {
        self.conns
            .get(reply.client as usize)
            .is_some_and(|conn| conn.active && conn.generation == reply.generation)
    }
}

impl Inbox for Gateway {
    fn poll(&mut self) -> Option<Envelope> {
        // Acquire: the states and generations stored before the epoch moved are visible.
        let epoch = self.map.header(l::H_EPOCH).load(Ordering::Acquire);
        if epoch != self.epoch {
            self.epoch = epoch;
            self.rescan();
        }
        let count = self.active.len();
        for k in 0..count {
            let Some(&slot) = self.active.get((self.cursor + k) % count.max(1)) else { break };
            match self.take(slot) {
                Ok(Some(envelope)) => {
                    // The next poll starts after this client: no client can starve the others.
                    self.cursor = (self.cursor + k + 1) % count;
                    return Some(envelope);
                }
                Ok(None) => {}
                Err(()) => {
                    self.kick(slot);
                    return None;
                }
            }
        }
        None
    }

    fn check(&self, reply: &RemoteReply, command: &Command, ledger: &Ledger) -> Result<(), Rejection> {
        match self.conns.get(reply.client as usize) {
            Some(conn) if conn.active && conn.generation == reply.generation => {
                conn.grant.permits(command, ledger)
            }
            // The client left while its command waited: apply it under no grant at all.
            _ => GrantMask::NONE.permits(command, ledger),
        }
    }

    fn round_trip(&self, reply: &RemoteReply) -> u64 {
        self.conns
            .get(reply.client as usize)
            .filter(|conn| conn.generation == reply.generation)
            .map_or(0, |conn| conn.round_trip)
    }

    fn answer(&mut self, reply: RemoteReply, seq: u64, result: Result<Outcome, SubmitError>) {
        if !self.current(&reply) {
            return;
        }
        let slot = reply.client as usize;
        let status = wire::encode_answer(&result, &mut self.scratch);
        self.write_answer(slot, reply.request, seq, status);
        self.wake_client(slot);
    }

    fn answer_linked(
        &mut self,
        reply: RemoteReply,
        parts: u32,
        seq: u64,
        result: Result<&[Outcome], &LinkedError>,
    ) {
        if !self.current(&reply) {
            return;
        }
        let slot = reply.client as usize;
        for part in 0..parts {
            let status = wire::encode_linked_answer(part as usize, result, &mut self.scratch);
            self.write_answer(slot, reply.request.wrapping_add(u64::from(part)), seq, status);
        }
        self.wake_client(slot);
    }

    fn park(&mut self, commands: &crossbeam_channel::Receiver<Envelope>) -> Parked {
        while self.wake_rx.try_recv().is_ok() {}
        let map = self.map.clone();
        let sleeping = map.header(l::H_SLEEPING);
        sleeping.store(1, Ordering::SeqCst);
        // One more look after raising the flag: a request published before a client could see
        // it is found here.
        if let Some(envelope) = self.poll() {
            sleeping.store(0, Ordering::Relaxed);
            return Parked::Envelope(envelope);
        }
        let mut select = Select::new();
        let from_commands = select.recv(commands);
        select.recv(&self.wake_rx);
        // Bounded: a wake lost anywhere costs at most this, never a stuck client.
        let Ok(operation) = select.select_timeout(PARK_MAX) else {
            sleeping.store(0, Ordering::Relaxed);
            return Parked::Rang;
        };
        let parked = if operation.index() == from_commands {
            match operation.recv(commands) {
                Ok(envelope) => Parked::Envelope(envelope),
                Err(_) => Parked::Disconnected,
            }
        } else {
            let _ = operation.recv(&self.wake_rx);
            Parked::Rang
        };
        sleeping.store(0, Ordering::Relaxed);
        parked
    }

    fn close(&mut self) {
        self.map.header(l::H_STATE).store(SERVICE_CLOSED, Ordering::SeqCst);
        for slot in 0..self.map.slots {
            platform::futex_wake(self.map.answers(slot).head_word());
        }
        if let Some((thread, stop)) = self.helper.take() {
            stop.store(true, Ordering::Release);
            platform::futex_wake(self.map.header(l::H_DOORBELL));
            let _ = thread.join();
        }
        // Clients see the closed state in the file they have mapped; a new client finds no
        // service.
        let _ = fs::remove_file(&self.path);
        // Unlocked, not only closed: a child forked meanwhile shares the lock until it execs
        // (see `platform::ExclusiveLock`).
        let _ = self.vault_lock.unlock();
    }
}

impl Drop for Gateway {
    /// A gateway dropped without the owner closing it (the vault failed to start) still stops
    /// its helper thread.
    fn drop(&mut self) {
        if self.helper.is_some() {
            self.close();
        }
    }
}

/// The helper thread: the slow side of the gateway, off the owner thread.
struct Helper {
    map: Arc<ServiceMap>,
    config: Arc<ServeConfig>,
    dir: PathBuf,
    wake: Sender<()>,
}

impl Helper {
    fn run(&self, stop: &AtomicBool) {
        let doorbell = self.map.header(l::H_DOORBELL);
        let mut last = Instant::now();
        // Compared with the value seen last time round, not re-read before each wait: a ring
        // between two looks is still seen.
        let mut seen = doorbell.load(Ordering::Acquire) as u32;
        while !stop.load(Ordering::Acquire) {
            platform::futex_wait(doorbell, seen, HOUSEKEEPING);
            let now = doorbell.load(Ordering::Acquire) as u32;
            let rang = now != seen;
            seen = now;
            if rang {
                // A client found the owner asleep, or one is connecting.
                self.wake_owner();
            }
            if rang || last.elapsed() >= HOUSEKEEPING {
                last = Instant::now();
                self.housekeeping();
            }
        }
    }

    fn wake_owner(&self) {
        // Full: a wake is already on its way; disconnected: the owner is gone.
        let _ = self.wake.try_send(());
    }

    /// Admits claimed places, frees the places of clients that are gone.
    fn housekeeping(&self) {
        let mut changed = false;
        for slot in 0..self.map.slots {
            let (state, _) = self.map.state(slot);
            match state {
                CLAIMED if self.lease_held(slot) => changed |= self.admit(slot),
                ACTIVE if !self.lease_held(slot) => {
                    self.map.set_state(slot, DEAD, 0);
                    changed = true;
                }
                CLAIMED | REFUSED | KICKED if !self.lease_held(slot) => self.map.set_state(slot, FREE, 0),
                _ => {}
            }
        }
        if changed {
            // Release: the states stored above are visible to an owner that sees the epoch move.
            self.map.header(l::H_EPOCH).fetch_add(1, Ordering::Release);
            self.wake_owner();
        }
    }

    /// Whether a client process holds the place's lease (its lock file).
    fn lease_held(&self, slot: usize) -> bool {
        let Ok(file) = File::open(lease_path(&self.dir, slot)) else { return false };
        // Taken: nobody held it, the client is gone (the kernel drops a dead process's locks).
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// Checks a claimed place's client and makes its rings ready, or refuses it.
    fn admit(&self, slot: usize) -> bool {
        let name = self.map.name(slot);
        let pid = self.map.control(slot, l::C_PID).load(Ordering::Relaxed) as u32;
        let same_user = platform::uid_of_process(pid) == Some(platform::euid());
        if !same_user && self.config.group.is_none() {
            self.map.set_state(slot, REFUSED, l::REASON_USER);
            return false;
        }
        if self.config.grant_of(&name).is_none() {
            self.map.set_state(slot, REFUSED, l::REASON_NO_GRANT);
            return false;
        }
        self.map.requests(slot).reset();
        self.map.answers(slot).reset();
        self.map.control(slot, l::C_ANSWERED).store(0, Ordering::Relaxed);
        let since = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.map.control(slot, l::C_SINCE).store(since, Ordering::Relaxed);
        self.map.control(slot, l::C_GENERATION).fetch_add(1, Ordering::Relaxed);
        self.map.set_state(slot, ACTIVE, 0);
        true
    }
}
