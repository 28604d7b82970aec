//! Handles: how other threads submit commands to the owner.

use crate::ledger::command::Command;
use crate::ledger::grant::GrantMask;
use crate::ledger::outcome::Outcome;
use crate::ledger::request::RequestKey;
use crate::runtime::envelope::{DetachedOutcome, Envelope, Keyed, LinkedReply, LinkedTo, ReplyTo};
use crate::runtime::error::{LinkedError, ShutdownError, Stopped, SubmitError, TrySubmitError};
use crate::runtime::latency::Stamper;
use crate::runtime::reader::Reader;
use crate::runtime::reply::ReplySlot;
use crate::runtime::shared::Shared;
use crate::runtime::snapshot::Snapshot;
use crate::runtime::wait::WaitStrategy;
use crate::sync::channel::{self, Receiver, Sender, TrySendError};
use crate::sync::{Arc, Ordering};

/// What an accepted command returns through a blocking submit.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{BookId, Builder, Command, LedgerConfig, Outcome};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let receipt = handle.submit(Command::Allocate { book: BookId::new(0), slot: 2, amount: "10".parse()? })?;
/// assert_eq!((receipt.seq, receipt.outcome), (1, Outcome::Allocated { balance: "10".parse()? }));
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct Receipt {
    /// The command's place in the ledger's history: every snapshot with `seq >= this` shows it.
    pub seq: u64,
    /// What the ledger did.
    pub outcome: Outcome,
}

/// A linked reservation's answer (`Handle::submit_linked`): every part's outcome, in order.
#[derive(Clone, PartialEq, Eq, Hash, Debug, serde::Serialize)]
pub struct LinkedReceipt {
    /// The first sequence whose snapshots show the whole chain.
    pub seq: u64,
    /// Each part's outcome: `Reserved`, or `AlreadyReserved` for a part whose order was live.
    pub outcomes: Vec<Outcome>,
}

/// Submits commands to the owner thread. `Clone` gives another handle with its own reply
/// channel (one blocking submit in flight per handle); `Send` moves it to another thread.
/// Dropping every handle stops the owner after it has applied what is queued.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, LedgerConfig, Side};
/// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000, "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#)?;
/// let mut handle = Builder::from_config(&config)?.spawn()?;
/// let mut other = handle.clone();   // for another thread: its own reply slot
/// std::thread::spawn(move || other.allocate(capvault::BookId::new(0), 2, "10".parse().unwrap())).join().unwrap()?;
/// let (book, slot) = handle.snapshot().slot_of("159201".parse()?).ok_or("no such code")?;
/// let reserved = handle.reserve("1790000000000000001".parse()?, book, slot, Side::Buy, 1, "100".parse()?)?;
/// assert!(reserved.repeated.is_none());
/// handle.shutdown()?;
/// # Ok(())
/// # }
/// ```
pub struct Handle {
    commands: Sender<Envelope>,
    /// Where blocking submits get their answers; boxed so its address stays put when the handle
    /// moves.
    reply: Box<ReplySlot>,
    outcomes_tx: Sender<DetachedOutcome>,
    outcomes_rx: Receiver<DetachedOutcome>,
    outcomes_max: usize,
    next_ticket: u64,
    reply_wait: WaitStrategy,
    stamper: Stamper,
    /// The sequence of the last answer a blocking submit got: `snapshot` shows at least that.
    seen: u64,
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(
        commands: Sender<Envelope>,
        shared: Arc<Shared>,
        outcomes_max: usize,
        reply_wait: WaitStrategy,
    ) -> Handle {
        let (outcomes_tx, outcomes_rx) = channel::bounded(outcomes_max);
        Handle {
            commands,
            // One reply in flight per handle: one slot, allocated once, reused by every submit.
            reply: Box::new(ReplySlot::new()),
            outcomes_tx,
            outcomes_rx,
            outcomes_max,
            next_ticket: 0,
            reply_wait,
            stamper: Stamper::new(shared.latency.clone()),
            seen: 0,
            shared,
        }
    }

    /// Applies `command` and waits for the answer.
    ///
    /// # Errors
    /// [`SubmitError::Rejected`] with the ledger's reason, or [`SubmitError::Stopped`] if the
    /// runtime stopped before applying it: either way the command changed nothing.
    /// [`SubmitError::InDoubt`] if the vault stopped while making it durable (see
    /// `docs/durability.md`), [`SubmitError::OwnerThread`] if called from an `on_publish` hook.
    pub fn submit(&mut self, command: Command) -> Result<Receipt, SubmitError> {
        self.send_waiting(command, None)
    }

    /// Applies `command` at most once for `key` and waits for the answer: a key applied before
    /// is answered with its original outcome and sequence and applies nothing
    /// (`Ledger::apply_once`). Front ends that carry commands over an unreliable link resend
    /// under the same key; the key and the command are journalled together, so this holds
    /// across a restart.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Builder, Command, LedgerConfig, RequestKey};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000 } ] }"#)?;
    /// let mut handle = Builder::from_config(&config)?.spawn()?;
    /// let key = RequestKey::new("ops", 1).unwrap();
    /// let allocate = Command::Allocate { book: BookId::new(0), slot: 2, amount: "1000".parse()? };
    /// let first = handle.submit_once(key, allocate)?;
    /// let resent = handle.submit_once(key, allocate)?;
    /// assert_eq!(first, resent, "the original outcome and sequence");
    /// assert_eq!(handle.snapshot().balance(BookId::new(0), 2), Some("1000".parse()?));
    /// handle.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Handle::submit`], and [`Rejection::RequestExpired`](crate::Rejection::RequestExpired)
    /// for a key older than the window.
    pub fn submit_once(&mut self, key: RequestKey, command: Command) -> Result<Receipt, SubmitError> {
        self.send_waiting(command, Some((key, None)))
    }

    /// [`Handle::submit_once`] for a front end's client, without waiting: the owner checks
    /// `grant` first (`Rejection::NotGranted`), as the gateway does for its clients, and hands
    /// the answer to `notify`, called once on its thread (with `Stopped` if the vault stops
    /// first). Never blocks.
    ///
    /// # Errors
    /// The channel is full (`Ok(false)` would lie): [`TrySubmitError::Full`]; the vault stopped:
    /// [`TrySubmitError::Stopped`]. Either way `notify` is not called.
    #[cfg(feature = "nats")]
    pub(crate) fn try_submit_notified(
        &mut self,
        grant: GrantMask,
        key: RequestKey,
        command: Command,
        notify: Arc<dyn crate::runtime::Notify>,
    ) -> Result<(), TrySubmitError> {
        // Acquire: see `submit`.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(TrySubmitError::Stopped(command, self.shared.stop_reason()));
        }
        let reply = ReplyTo::Notify(crate::runtime::Notified::new(notify));
        let sent = self.stamper.now();
        let keyed = Box::new(Keyed { key, command, grant: Some(grant) });
        self.try_enqueue_notified(Envelope::Keyed { keyed, reply, sent }).map_err(|stopped| match stopped {
            None => TrySubmitError::Full(command),
            Some(why) => TrySubmitError::Stopped(command, why),
        })
    }

    /// Enqueues a linked reservation from a front end's client without waiting: every part
    /// passes `grant`, and the answer is handed to `notify` on the owner's thread.
    ///
    /// # Errors
    /// `None` when the command channel is full, the reason when the vault stopped; `notify` is
    /// not called.
    #[cfg(feature = "nats")]
    pub(crate) fn try_submit_linked_notified(
        &mut self,
        grant: GrantMask,
        parts: Vec<Command>,
        notify: Arc<dyn crate::runtime::Notify>,
    ) -> Result<(), Option<Stopped>> {
        // Acquire: see `submit`.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(Some(self.shared.stop_reason()));
        }
        let to = LinkedTo::Notify { grant, notified: crate::runtime::Notified::new(notify) };
        let reply = ReplyTo::Linked(Box::new(LinkedReply { to, result: Ok(Vec::new()) }));
        self.try_enqueue_notified(Envelope::Linked {
            parts: parts.into_boxed_slice(),
            reply,
            sent: self.stamper.now(),
        })
    }

    /// Sends a notified envelope without waiting. Refused, its notification is disarmed (never
    /// called) and the error says why: `None` the channel is full, else the vault stopped.
    #[cfg(feature = "nats")]
    fn try_enqueue_notified(&mut self, envelope: Envelope) -> Result<(), Option<Stopped>> {
        match self.commands.try_send(envelope) {
            Ok(()) => {
                self.shared.after_enqueue();
                Ok(())
            }
            Err(refused) => {
                let full = matches!(refused, TrySendError::Full(_));
                let (TrySendError::Full(envelope) | TrySendError::Disconnected(envelope)) = refused;
                match envelope {
                    Envelope::Keyed { reply: ReplyTo::Notify(mut notified), .. } => notified.disarm(),
                    Envelope::Linked { reply: ReplyTo::Linked(linked), .. } => {
                        if let LinkedTo::Notify { mut notified, .. } = linked.to {
                            notified.disarm();
                        }
                    }
                    _ => {}
                }
                Err((!full).then(|| self.shared.stop_reason()))
            }
        }
    }

    /// Reserves every part of `parts` or none, as one command (`Ledger::reserve_linked`,
    /// `docs/model.md`, "Linked reservations"), and waits for the answer. The journal keeps the
    /// chain whole or not at all.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use capvault::{BookId, Builder, ClientOrderId, Command, LedgerConfig, LinkedError, Side};
    /// let config = LedgerConfig::from_json(r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 3, "balance": 10000 } ] }"#)?;
    /// let mut handle = Builder::from_config(&config)?.spawn()?;
    /// let layer = |n: u64, amount: &str| -> Result<Command, Box<dyn std::error::Error>> {
    ///     Ok(Command::Reserve { id: ClientOrderId::snowflake(n)?, book: BookId::new(0), slot: 2,
    ///         side: Side::Buy, layer: 1, amount: amount.parse()? })
    /// };
    /// let ladder = [layer(1, "3000")?, layer(2, "3000")?, layer(3, "3000")?];
    /// assert_eq!(handle.submit_linked(&ladder)?.outcomes.len(), 3);
    /// let refused = handle.submit_linked(&[layer(4, "500")?, layer(5, "800")?]);
    /// assert!(matches!(refused, Err(LinkedError::Rejected(r)) if r.part == 1));
    /// assert_eq!(handle.snapshot().balance(BookId::new(0), 1), Some("1000".parse()?));
    /// handle.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`LinkedError::Rejected`] with the part refused; [`LinkedError::Failed`] as
    /// [`Handle::submit`] fails.
    pub fn submit_linked(&mut self, parts: &[Command]) -> Result<LinkedReceipt, LinkedError> {
        // Acquire: see `submit`.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(LinkedError::Failed(SubmitError::Stopped(self.shared.stop_reason())));
        }
        if self.shared.on_owner_thread() {
            return Err(LinkedError::Failed(SubmitError::OwnerThread));
        }
        let (sender, answers) = channel::bounded(1);
        let reply =
            ReplyTo::Linked(Box::new(LinkedReply { to: LinkedTo::Local(sender), result: Ok(Vec::new()) }));
        let envelope = Envelope::Linked { parts: parts.into(), reply, sent: self.stamper.now() };
        match self.commands.send(envelope) {
            // Every receiver is gone; dropping the returned envelope abandons the reply.
            Err(returned) => drop(returned),
            Ok(()) => self.shared.after_enqueue(),
        }
        match answers.recv() {
            Ok(Ok((seq, outcomes))) => {
                self.seen = self.seen.max(seq);
                Ok(LinkedReceipt { seq, outcomes })
            }
            Ok(Err(error)) => Err(error),
            // The envelope was dropped unanswered: the owner stopped.
            Err(_) => Err(LinkedError::Failed(SubmitError::Stopped(self.shared.stop_reason()))),
        }
    }

    fn send_waiting(
        &mut self,
        command: Command,
        key: Option<(RequestKey, Option<GrantMask>)>,
    ) -> Result<Receipt, SubmitError> {
        let stopped = |shared: &Shared| SubmitError::Stopped(shared.stop_reason());
        // Acquire pairs with the SeqCst stores of `shutdown` and the owner's stop guard.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(stopped(&self.shared));
        }
        if self.shared.on_owner_thread() {
            return Err(SubmitError::OwnerThread);
        }
        let responder = self.reply.arm(self.stamper.take());
        let sent = self.stamper.now();
        let reply = ReplyTo::Waiting(responder);
        let envelope = match key {
            None => Envelope::Command { command, reply, sent },
            Some((key, grant)) => {
                Envelope::Keyed { keyed: Box::new(Keyed { key, command, grant }), reply, sent }
            }
        };
        match self.commands.send(envelope) {
            // Every receiver is gone; dropping the returned envelope abandons the reply.
            Err(returned) => drop(returned),
            Ok(()) => self.shared.after_enqueue(),
        }
        match self.reply.wait(self.reply_wait) {
            Some((seq, result)) => {
                self.stamper.answered(sent);
                self.seen = self.seen.max(seq);
                result.map(|outcome| Receipt { seq, outcome })
            }
            // The envelope was dropped unanswered: the owner stopped.
            None => Err(stopped(&self.shared)),
        }
    }

    /// Enqueues `command` without ever blocking and returns its ticket; the outcome arrives
    /// later through [`Handle::try_outcome`].
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] if the channel is full, [`TrySubmitError::Stopped`] if the
    /// runtime stopped; both hand the command back.
    pub fn try_submit(&mut self, command: Command) -> Result<u64, TrySubmitError> {
        // Acquire: see `submit`.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(TrySubmitError::Stopped(command, self.shared.stop_reason()));
        }
        let ticket = self.next_ticket;
        let reply = ReplyTo::Detached { ticket, outcomes: self.outcomes_tx.clone() };
        let sent = self.stamper.now();
        match self.commands.try_send(Envelope::Command { command, reply, sent }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(TrySubmitError::Full(command)),
            Err(TrySendError::Disconnected(_)) => {
                return Err(TrySubmitError::Stopped(command, self.shared.stop_reason()))
            }
        }
        self.shared.after_enqueue();
        self.next_ticket += 1;
        Ok(ticket)
    }

    /// Enqueues `command`, blocking only while the channel is full, and returns its ticket; the
    /// outcome arrives later through [`Handle::try_outcome`].
    ///
    /// # Errors
    /// [`SubmitError::Stopped`] if the runtime stopped (the command was not applied),
    /// [`SubmitError::OwnerThread`] if called from an `on_publish` hook, where waiting for room
    /// in the channel would wait for the owner itself (use `try_submit` there).
    pub fn submit_detached(&mut self, command: Command) -> Result<u64, SubmitError> {
        // Acquire: see `submit`.
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(SubmitError::Stopped(self.shared.stop_reason()));
        }
        if self.shared.on_owner_thread() {
            return Err(SubmitError::OwnerThread);
        }
        let ticket = self.next_ticket;
        let reply = ReplyTo::Detached { ticket, outcomes: self.outcomes_tx.clone() };
        let sent = self.stamper.now();
        if self.commands.send(Envelope::Command { command, reply, sent }).is_err() {
            return Err(SubmitError::Stopped(self.shared.stop_reason()));
        }
        self.shared.after_enqueue();
        self.next_ticket += 1;
        Ok(ticket)
    }

    /// The next outcome of a detached submission, if one has arrived. Outcomes arrive in ticket
    /// order. The queue holds `outcomes_max` of them; beyond that the owner drops the notice
    /// (not the command) and counts it in `Stats::outcomes_dropped`.
    #[must_use]
    pub fn try_outcome(&self) -> Option<DetachedOutcome> {
        self.outcomes_rx.try_recv().ok()
    }

    /// What the builder started beside the owner, for the layer that knows its type.
    pub(crate) fn companion(&self) -> Option<&dyn std::any::Any> {
        self.shared.companion.get().map(|companion| companion.as_any())
    }

    /// The error that stopped the vault (a journal write or rotation), if one did.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A reader sharing this vault.
    #[must_use]
    pub fn reader(&self) -> Reader {
        Reader::new(self.shared.clone())
    }

    /// The latest snapshot, at least as new as this handle's last answered blocking submit
    /// (read your own writes): wait-free when it is published already, as it nearly always is;
    /// otherwise it waits the moment the owner takes to publish (`Reader::wait_for`). Commands
    /// of other handles and processes show once published: wait for their `seq` with a
    /// [`Reader`].
    #[must_use]
    pub fn snapshot(&self) -> crate::runtime::SnapshotRef {
        let reader = self.reader();
        let latest = reader.snapshot();
        if latest.seq() >= self.seen {
            return latest;
        }
        // A stopped vault published its last snapshot already: the latest is all there is.
        reader.wait_for(self.seen, std::time::Duration::from_secs(5)).unwrap_or_else(|_| reader.snapshot())
    }

    /// Stops the vault: new submissions fail at once, everything already queued is applied and
    /// answered, the owner publishes its last snapshot and is joined, and the mirrors write the
    /// final state.
    ///
    /// # Errors
    /// [`ShutdownError::Stopped`] with the reason if the vault had stopped otherwise (the owner
    /// panicked, the journal failed), [`ShutdownError::OwnerThread`] if called from an
    /// `on_publish` hook (nothing is done: the owner cannot join itself).
    pub fn shutdown(mut self) -> Result<Arc<Snapshot>, ShutdownError> {
        if self.shared.on_owner_thread() {
            return Err(ShutdownError::OwnerThread);
        }
        // SeqCst: ordered before the shutdown envelope, so submitters that see the envelope's
        // effects also see `closing`.
        self.shared.closing.store(true, Ordering::SeqCst);
        if self.shared.stopped().is_none() {
            let round_trip = self.stamper.take();
            if round_trip > 0 {
                let _ = self.commands.send(Envelope::RoundTrip(round_trip));
            }
            let _ = self.commands.send(Envelope::Shutdown);
            self.shared.after_enqueue();
        }
        let thread = self.shared.join.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match thread {
            Some(thread) => {
                let _ = thread.join();
            }
            // Another handle is joining; wait until the owner has stopped.
            None => {
                while self.shared.stopped().is_none() {
                    crate::sync::thread::yield_now();
                }
            }
        }
        // The collector takes the owner's last figures before the mirrors write their last.
        self.shared.stop_collector();
        self.shared.stop_companion();
        match self.shared.stop_reason() {
            Stopped::ShutDown => Ok(self.shared.snapshot.load_full()),
            failed => Err(ShutdownError::Stopped(failed)),
        }
    }
}

impl Drop for Handle {
    /// Reports the last round trip, if the queue has room (never blocks).
    fn drop(&mut self) {
        let round_trip = self.stamper.take();
        if round_trip > 0 && !self.shared.closing.load(Ordering::Relaxed) {
            let _ = self.commands.try_send(Envelope::RoundTrip(round_trip));
        }
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        let mut handle =
            Handle::new(self.commands.clone(), self.shared.clone(), self.outcomes_max, self.reply_wait);
        handle.seen = self.seen;
        handle
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("next_ticket", &self.next_ticket).finish_non_exhaustive()
    }
}
