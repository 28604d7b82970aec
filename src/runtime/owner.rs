//! The owner thread: the only thread that touches the ledger.

use crate::ledger::outcome::Outcome;
use crate::ledger::rejection::Rejection;
use crate::ledger::request::{changes, RequestKey};
use crate::ledger::Ledger;
use crate::ledger::{ClientOrderId, Command, LinkedRejection};
use crate::runtime::envelope::{DetachedOutcome, Envelope, Keyed, LinkedReply, LinkedTo, ReplyTo};
use crate::runtime::error::{LinkedError, Stopped, SubmitError};
use crate::runtime::inbox::Inbox;
use crate::runtime::latency::{BatchTimes, Recorder};
use crate::runtime::orders::OrderTable;
use crate::runtime::shared::{Shared, StopGuard};
use crate::runtime::snapshot::{PublishedBooks, Snapshot, Stats};
use crate::runtime::stage::{Stage, StageFailure};
use crate::runtime::wait::{self, WaitStrategy};
use crate::sync::channel::Receiver;
use crate::sync::{mutant, Arc, Ordering};

/// Empty polls the owner makes for a next command before it publishes a batch without a journal:
/// long enough for a submitter that has just been answered to send again from another core
/// (a cross-core hand-off costs 80-380 ns here), short enough that an idle vault publishes within
/// about a microsecond (docs/design.md, "Batching and publication").
const LINGER_POLLS: u32 = 32;

/// Old order-table nodes freed at each idle look (every few dozen empty polls).
const GARBAGE_PER_IDLE: usize = 8;

/// Old order-table nodes (or references) the owner lets wait before a publish frees the excess.
pub(crate) const GARBAGE_HELD: usize = 4096;

pub(crate) struct Owner {
    pub(crate) ledger: Ledger,
    pub(crate) commands: Receiver<Envelope>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) wait: WaitStrategy,
    pub(crate) batch_max: usize,
    pub(crate) seq: u64,
    pub(crate) stats: Stats,
    /// Run around each batch, in order (`runtime::stage`).
    pub(crate) stages: Vec<Box<dyn Stage>>,
    /// Whether answers wait for the stages' commit (a journal); fixed at start.
    pub(crate) holds_answers: bool,
    /// Answers held until the batch is committed; allocated for `batch_max` up front.
    pub(crate) pending: Vec<(ReplyTo, u64, Result<Outcome, Rejection>)>,
    /// Set when the serve loop returns after an orderly stop; never while a panic unwinds.
    pub(crate) orderly: bool,
    /// The books of the last snapshot, reused for every book a batch did not change.
    pub(crate) published_books: PublishedBooks,
    /// The live orders as a table shared with the snapshots, brought in step at each publish.
    pub(crate) orders: OrderTable,
    /// Orders the batch's accepted commands named, applied to `orders` at publish (allocated for
    /// `batch_max` up front); `orders_reset` when a forced reset dropped orders.
    pub(crate) orders_named: Vec<ClientOrderId>,
    pub(crate) orders_reset: bool,
    /// The owner's latency histograms.
    pub(crate) latency: Recorder,
    /// How long the last commit took, and how many synchronous submitters (not detached) the
    /// last two batches answered, the newest first: what `gather` waits for.
    pub(crate) commit_time: std::time::Duration,
    pub(crate) answered: [usize; 2],
    /// Old order tables, freed a few nodes at a time while the owner waits.
    pub(crate) garbage: crate::runtime::orders::Garbage,
    /// The snapshot the last publish replaced, for the next publish to reuse.
    pub(crate) retired: Option<Arc<Snapshot>>,
    /// Commands from other processes (the gateway), polled beside the channel.
    pub(crate) inbox: Option<Box<dyn Inbox>>,
}

/// Set while one command is applied: if applying it panics, this is dropped before the command's
/// reply, so the flag is up by the time the submitter learns it will get no answer, and it
/// reports `OwnerPanicked`, not `ShutDown`.
struct PanicFlag<'a>(&'a Shared);

impl Drop for PanicFlag<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.panicked.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for Owner {
    /// Closes the stages, also when a panic unwinds (then never orderly).
    fn drop(&mut self) {
        self.latency.close();
        if let Some(inbox) = &mut self.inbox {
            inbox.close();
        }
        for stage in &mut self.stages {
            stage.close(self.orderly);
        }
    }
}

impl Owner {
    /// Serves commands until every handle is gone or a shutdown has drained the queue.
    ///
    /// Each batch: wait for one envelope, take up to `batch_max - 1` more without waiting, apply
    /// each in order, commit the stages, answer, then publish one snapshot. Answering before
    /// publishing keeps the round trip short; the receipt's `seq` tells a submitter which
    /// snapshot shows its command.
    pub(crate) fn run(self) {
        let _guard = StopGuard(self.shared.clone());
        // Declared after the guard, so dropped before it: the stages close before the vault is
        // marked stopped.
        let mut owner = self;
        owner.shared.enter_owner_thread();
        owner.orderly = owner.serve();
    }

    /// The batch loop. Returns `true` after an orderly stop (shutdown, or every handle gone),
    /// `false` when a stage failed.
    fn serve(&mut self) -> bool {
        let mut draining = false;
        loop {
            let first = if draining {
                self.commands.try_recv().ok()
            } else {
                let (latency, garbage) = (&mut self.latency, &mut self.garbage);
                // Idle: old order-table nodes are freed a few at a time (all before parking).
                let idle = &mut |parking| {
                    garbage.free(if parking { usize::MAX } else { GARBAGE_PER_IDLE });
                    latency.idle(parking);
                };
                match &mut self.inbox {
                    Some(inbox) => wait::recv_with_inbox(&self.commands, self.wait, idle, inbox.as_mut()),
                    None => wait::recv_idle(&self.commands, self.wait, idle),
                }
            };
            let Some(first) = first else { return true };
            self.latency.batch_started();
            // A deliberately broken build for the loom models to catch (see docs/design.md).
            if mutant::PUBLISH_BEFORE_APPLY {
                self.publish();
            }
            let (taken, applied) = self.fill_batch(first, &mut draining);
            let mut times = BatchTimes { applied, ..BatchTimes::default() };
            let committing = self.holds_answers.then(std::time::Instant::now);
            if let Err(failure) = self.commit() {
                self.answer_failed(&failure);
                return false;
            }
            if let Some(started) = committing {
                self.committed(started.elapsed());
            }
            times.committed = if self.holds_answers { self.latency.now() } else { times.applied };
            // Taken out and put back, so the vector keeps its capacity: nothing is allocated.
            let mut pending = std::mem::take(&mut self.pending);
            for (reply, seq, result) in pending.drain(..) {
                self.answer(reply, seq, result);
            }
            self.pending = pending;
            times.answered = if self.holds_answers { self.latency.now() } else { times.committed };
            if !mutant::PUBLISH_BEFORE_APPLY {
                self.publish();
            }
            if self.latency.enabled() {
                // Only a full batch may have left commands queued; the channel's length is read
                // only then.
                let left = if taken == self.batch_max { self.commands.len() } else { 0 };
                self.latency.batch_ended(times, taken, left, self.holds_answers);
            }
            if let Err(failure) = self.after_batch() {
                self.fail(&failure);
                return false;
            }
        }
    }

    /// Applies `first` and the commands that follow it into one batch: what is queued, then, with
    /// a journal, what `gather` waits for, or without one what comes while the owner lingers.
    /// Returns how many it applied, and the clock when it had applied them.
    fn fill_batch(&mut self, first: Envelope, draining: &mut bool) -> (usize, u64) {
        *draining |= self.process(first);
        let mut taken = 1;
        loop {
            taken += self.take_queued(taken, draining);
            let applied = self.latency.now();
            // With a journal the answers wait for the commit: the batch ends here. Without one
            // they are out already, and a submitter that has its answer often sends its next
            // command within a few hundred nanoseconds: the owner lingers briefly for it, so a
            // tight request/response loop is not serialized behind a publish per command
            // (docs/design.md, "Batching and publication").
            if self.holds_answers || *draining || taken >= self.batch_max {
                if self.holds_answers && !*draining {
                    taken += self.gather(taken, draining);
                    return (taken, self.latency.now());
                }
                return (taken, applied);
            }
            let Some(envelope) = self.linger() else { return (taken, applied) };
            *draining |= self.process(envelope);
            taken += 1;
        }
    }

    /// Notes a commit's time and how many submitters it answered, for the next `gather`.
    fn committed(&mut self, took: std::time::Duration) {
        self.commit_time = took;
        let waiting =
            self.pending.iter().filter(|(reply, ..)| !matches!(reply, ReplyTo::Detached { .. })).count();
        self.answered = [waiting, self.answered[0]];
    }

    /// Takes what is queued, up to `batch_max` commands in the batch, without waiting; returns
    /// how many it took. Once a shutdown is seen, nothing more is taken from other processes.
    fn take_queued(&mut self, taken: usize, draining: &mut bool) -> usize {
        let mut more = 0;
        while taken + more < self.batch_max {
            let envelope = match self.commands.try_recv() {
                Ok(envelope) => envelope,
                Err(_) => match self.inbox.as_mut().filter(|_| !*draining).and_then(|inbox| inbox.poll()) {
                    Some(envelope) => envelope,
                    None => break,
                },
            };
            *draining |= self.process(envelope);
            more += 1;
        }
        more
    }

    /// Group commit: before a batch that waits for a journal sync is committed, the owner waits
    /// for the submitters the last batches answered to send again: until as many commands have
    /// come as the larger of the last two batches answered, or as long as the last commit took
    /// has passed (Python threads, serialized by the interpreter's lock, come back over most of
    /// it). N synchronous submitters then share one sync per round, instead of splitting into a
    /// batch of the first to come back and one of the rest; the larger of two batches gathers
    /// submitters that split once into one again. After batches that answered one submitter (a
    /// lone caller) it never waits. Returns how many commands it took.
    fn gather(&mut self, taken: usize, draining: &mut bool) -> usize {
        let expected = self.answered[0].max(self.answered[1]);
        if crate::sync::MODELLED || expected < 2 || self.commit_time.is_zero() {
            return 0;
        }
        let started = std::time::Instant::now();
        let deadline = started + self.commit_time;
        let mut more = 0;
        while taken + more < self.batch_max && !*draining {
            let got = self.take_queued(taken + more, draining);
            let now = std::time::Instant::now();
            if got > 0 {
                more += got;
                continue;
            }
            if now >= deadline || taken + more >= expected {
                break;
            }
            // The submitters need the cores to send: the owner gives its own up.
            crate::sync::thread::yield_now();
        }
        more
    }

    /// Polls for a next command for about `LINGER_POLLS` spins (well under a microsecond), before
    /// the batch is published. Not under loom, whose models need no timing.
    fn linger(&mut self) -> Option<Envelope> {
        if crate::sync::MODELLED {
            return None;
        }
        // The orders change now, while no snapshot shares the nodes a later command of the
        // batch changes again: those change in place.
        self.catch_up_orders();
        for _ in 0..LINGER_POLLS {
            if let Ok(envelope) = self.commands.try_recv() {
                return Some(envelope);
            }
            if let Some(envelope) = self.inbox.as_mut().and_then(|inbox| inbox.poll()) {
                return Some(envelope);
            }
            // The wait is put to use: one old order-table node freed instead of a pause.
            if !self.garbage.free(1) {
                crate::sync::spin_loop();
            }
        }
        None
    }

    /// Commits every stage (the journal writes, and syncs per its durability, the batch's
    /// records), before any answer of the batch goes out.
    /// A stage that fails after another made the batch durable (the stream acknowledged it,
    /// the local journal could not write it) cannot undo it: the batch is in doubt.
    fn commit(&mut self) -> Result<(), StageFailure> {
        let mut held = false;
        for stage in &mut self.stages {
            if let Err(mut failure) = stage.commit() {
                failure.undone &= !held;
                return Err(failure);
            }
            held |= stage.holds_answers();
        }
        Ok(())
    }

    fn after_batch(&mut self) -> Result<(), StageFailure> {
        let (seq, ledger) = (self.seq, &self.ledger);
        self.stages.iter_mut().try_for_each(|stage| stage.after_batch(seq, ledger))
    }

    /// Records why the vault stops. `SeqCst`: before any answer, so every later reader of the
    /// reason sees it.
    fn fail(&self, failure: &StageFailure) {
        self.shared.stage_failed.store(true, Ordering::SeqCst);
        self.shared.set_failure(failure.error.clone());
    }

    /// A batch that could not be made durable stops the vault: answering commands that would
    /// not survive a crash would break the journal's promise. Each waiting submitter is told the
    /// truth: a rejection stays a rejection; an accepted command is "not applied" if the batch
    /// was taken back out, "in doubt" if it could not be.
    fn answer_failed(&mut self, failure: &StageFailure) {
        self.fail(failure);
        let stopped = Stopped::JournalFailed;
        for (reply, seq, result) in self.pending.drain(..) {
            let answer = match result {
                Err(rejection) => Err(SubmitError::Rejected(rejection)),
                Ok(_) if failure.undone => Err(SubmitError::Stopped(stopped)),
                Ok(_) => Err(SubmitError::InDoubt(stopped)),
            };
            match reply {
                ReplyTo::Waiting(responder) => responder.answer((seq, answer)),
                ReplyTo::Notify(notified) => notified.answer((seq, answer)),
                ReplyTo::Remote(remote) => {
                    if let Some(inbox) = &mut self.inbox {
                        inbox.answer(remote, seq, answer);
                    }
                }
                ReplyTo::Linked(linked) => {
                    let LinkedReply { to, result } = *linked;
                    let error = match (result, answer) {
                        (Err(refused), _) => LinkedError::Rejected(refused),
                        (Ok(_), Err(error)) => LinkedError::Failed(error),
                        (Ok(_), Ok(_)) => LinkedError::Failed(SubmitError::InDoubt(stopped)),
                    };
                    answer_linked(&mut self.inbox, to, seq, Err(error));
                }
                ReplyTo::Detached { .. } => {}
            }
        }
    }

    /// Applies one envelope and answers it (or holds the answer for the commit). Returns `true`
    /// for a shutdown request. No locks and no heap allocation: the ledger is preallocated, a
    /// reply is one slot per handle and the outcome queues are bounded. (A parked submitter is
    /// woken through a mutex: the slow path.)
    fn process(&mut self, envelope: Envelope) -> bool {
        let (command, reply, sent) = match envelope {
            Envelope::Command { command, reply, sent } => (command, reply, sent),
            Envelope::Keyed { keyed, reply, sent } => {
                self.process_keyed(&keyed, reply, sent);
                return false;
            }
            Envelope::Linked { parts, reply, sent } => {
                self.process_linked(&parts, reply, sent);
                return false;
            }
            Envelope::RoundTrip(round_trip) => {
                self.latency.round_trip(round_trip);
                return false;
            }
            Envelope::Shutdown => return true,
        };
        let round_trip = self.round_trip_of(&reply);
        let flag = PanicFlag(&self.shared);
        crate::failpoint::panic_at("owner.apply");
        let result = match (&reply, &self.inbox) {
            // A command from another process passes its client's grant first.
            (ReplyTo::Remote(remote), Some(inbox)) => inbox
                .check(remote, &command, &self.ledger)
                .and_then(|()| self.ledger.apply_unchecked(&command)),
            _ => self.ledger.apply_unchecked(&command),
        };
        if self.holds_answers {
            // The answer waits for the commit anyway: the check comes first.
            if let Ok(outcome) = &result {
                self.ledger.check_moved(&command, outcome);
            }
        }
        drop(flag);
        self.settle(&command, None, reply, result, (sent, round_trip));
        false
    }

    /// A keyed command (`Handle::submit_once`, the gateway's keyed requests, the NATS front):
    /// one the request window holds is answered with its original outcome, nothing applied; a
    /// new one passes its grant, if it came with one, and is applied and remembered. Off the
    /// common path, so a plain command pays nothing for it.
    #[inline(never)]
    fn process_keyed(&mut self, keyed: &Keyed, reply: ReplyTo, sent: u64) {
        let round_trip = self.round_trip_of(&reply);
        let recalled = self.ledger.recall(keyed.key);
        if let Ok(Some((outcome, seq))) = recalled {
            self.stats.repeated += 1;
            if self.holds_answers {
                self.pending.push((reply, seq, Ok(outcome)));
            } else {
                self.answer(reply, seq, Ok(outcome));
            }
            self.latency.command(sent, round_trip);
            return;
        }
        let command = keyed.command;
        let flag = PanicFlag(&self.shared);
        crate::failpoint::panic_at("owner.apply");
        let granted = match (recalled, &keyed.grant, &reply, &self.inbox) {
            (Err(expired), ..) => Err(expired),
            (_, Some(grant), _, _) => grant.permits(&command, &self.ledger),
            (_, None, ReplyTo::Remote(remote), Some(inbox)) => inbox.check(remote, &command, &self.ledger),
            _ => Ok(()),
        };
        let result = granted.and_then(|()| self.ledger.apply_unchecked(&command));
        if self.holds_answers {
            if let Ok(outcome) = &result {
                self.ledger.check_moved(&command, outcome);
            }
        }
        drop(flag);
        self.settle(&command, Some(keyed.key), reply, result, (sent, round_trip));
    }

    /// A linked reservation (`Handle::submit_linked`): applied all or none by the ledger, each
    /// part that changed it given its own sequence and handed to the stages as a chain (the
    /// journal keeps it whole or not at all), then answered with every part's outcome.
    #[inline(never)]
    fn process_linked(&mut self, parts: &[Command], reply: ReplyTo, sent: u64) {
        let ReplyTo::Linked(mut linked) = reply else { return };
        let flag = PanicFlag(&self.shared);
        crate::failpoint::panic_at("owner.apply");
        // A chain from another process passes its client's grant first, every part of it.
        let granted = match (&linked.to, &self.inbox) {
            (LinkedTo::Remote { reply: remote, .. }, Some(inbox)) => {
                parts.iter().enumerate().try_for_each(|(part, command)| {
                    inbox
                        .check(remote, command, &self.ledger)
                        .map_err(|rejection| LinkedRejection { part, rejection })
                })
            }
            (LinkedTo::Notify { grant, .. }, _) => {
                parts.iter().enumerate().try_for_each(|(part, command)| {
                    grant
                        .permits(command, &self.ledger)
                        .map_err(|rejection| LinkedRejection { part, rejection })
                })
            }
            _ => Ok(()),
        };
        let result = granted.and_then(|()| self.ledger.reserve_linked(parts));
        drop(flag);
        // What `answer` and `answer_failed` read for the whole: the first part's outcome when
        // the chain stands, its rejection when it was refused.
        let whole = match &result {
            Ok(outcomes) => {
                let last_fresh = outcomes.iter().rposition(changes);
                for (n, (part, outcome)) in parts.iter().zip(outcomes).enumerate() {
                    if !changes(outcome) {
                        self.stats.repeated += 1;
                        continue;
                    }
                    self.seq += 1;
                    self.stats.accepted += 1;
                    self.track_orders(part, outcome);
                    let goes_on = last_fresh.is_some_and(|last| n < last);
                    for stage in &mut self.stages {
                        stage.accepted_linked(self.seq, part, goes_on);
                    }
                }
                Ok(outcomes[0])
            }
            Err(refused) => {
                self.stats.rejected += 1;
                Err(refused.rejection)
            }
        };
        linked.result = result;
        let reply = ReplyTo::Linked(linked);
        if self.holds_answers {
            self.pending.push((reply, self.seq, whole));
        } else {
            self.answer(reply, self.seq, whole);
        }
        self.latency.command(sent, 0);
    }

    /// The round trip the submitter reported with this command (clock ticks; 0 when not measured).
    fn round_trip_of(&self, reply: &ReplyTo) -> u64 {
        match reply {
            ReplyTo::Waiting(responder) if self.latency.enabled() => responder.round_trip(),
            ReplyTo::Remote(remote) if self.latency.enabled() => {
                self.inbox.as_ref().map_or(0, |inbox| inbox.round_trip(remote))
            }
            _ => 0,
        }
    }

    /// After a command was applied or refused: its sequence, the stages (with its key, if it
    /// came keyed: the journal keeps both), and its answer.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "the common path's second half: measured, as a call it cost 3% of a command's instructions (docs/performance.md)"
    )]
    fn settle(
        &mut self,
        command: &Command,
        key: Option<RequestKey>,
        reply: ReplyTo,
        result: Result<Outcome, Rejection>,
        (sent, round_trip): (u64, u64),
    ) {
        if result.as_ref().is_ok_and(|outcome| !changes(outcome)) {
            // An idempotent repeat changes nothing: no new sequence, nothing to journal.
            self.stats.repeated += 1;
        } else if let Ok(outcome) = &result {
            self.seq += 1;
            self.stats.accepted += 1;
            self.track_orders(command, outcome);
            if let Some(key) = key {
                self.ledger.remember(key, self.seq, *outcome);
            }
            for stage in &mut self.stages {
                stage.accepted(self.seq, key, command);
            }
        } else {
            self.stats.rejected += 1;
        }
        if self.holds_answers {
            self.pending.push((reply, self.seq, result));
        } else {
            let outcome = result.as_ref().ok().copied();
            self.answer(reply, self.seq, result);
            // The money check, off the round trip: without a journal an answer is no more durable
            // than memory, and a check that fails stops the vault before it applies anything
            // else (docs/design.md, "Batching and publication").
            if let Some(outcome) = outcome {
                let flag = PanicFlag(&self.shared);
                self.ledger.check_moved(command, &outcome);
                drop(flag);
            }
        }
        self.latency.command(sent, round_trip);
    }

    /// Notes the order an accepted command named (or that a forced reset dropped orders), for
    /// the shared order table to catch up at publish.
    fn track_orders(&mut self, command: &Command, outcome: &Outcome) {
        match *command {
            Command::Reserve { id, .. }
            | Command::Fill { id, .. }
            | Command::FillTo { id, .. }
            | Command::Cancel { id }
            | Command::Expire { id }
            | Command::ReleaseOrder { id } => {
                // An order named twice in a row (reserved and cancelled within the batch) is
                // caught up once.
                if self.orders_named.last() != Some(&id) {
                    self.orders_named.push(id);
                }
            }
            Command::Reset { .. } => {
                if matches!(outcome, Outcome::Reset { dropped_orders, .. } if *dropped_orders > 0) {
                    self.orders_reset = true;
                }
            }
            // Listed, not matched by a wildcard: a new order command must be added above.
            Command::OpenBook { .. }
            | Command::ConfigureStrategy { .. }
            | Command::SetCreditLimit { .. }
            | Command::Set { .. }
            | Command::Adjust { .. }
            | Command::Allocate { .. }
            | Command::Release { .. }
            | Command::Trade { .. }
            | Command::RecordAlpha { .. }
            | Command::MarkLoss { .. }
            | Command::ClaimSignal { .. }
            | Command::ConsumeSignal { .. } => {}
        }
    }

    /// Brings the shared order table to the ledger's orders: each named order as the batch left
    /// it (an order reserved and cancelled within one batch changes nothing), or the whole table
    /// after a forced reset.
    fn catch_up_orders(&mut self) {
        if std::mem::take(&mut self.orders_reset) {
            self.orders = OrderTable::from_orders(self.ledger.orders());
            self.orders_named.clear();
            return;
        }
        for id in self.orders_named.drain(..) {
            match self.ledger.order(id) {
                Some(order) => self.orders.insert(*order),
                None => self.orders.remove(id),
            }
        }
    }

    fn answer(&mut self, reply: ReplyTo, seq: u64, result: Result<Outcome, Rejection>) {
        match reply {
            ReplyTo::Waiting(responder) => responder.answer((seq, result.map_err(SubmitError::Rejected))),
            ReplyTo::Detached { ticket, outcomes } => {
                if outcomes.try_send(DetachedOutcome { ticket, seq, result }).is_err() {
                    self.stats.outcomes_dropped += 1;
                }
            }
            ReplyTo::Remote(remote) => {
                if let Some(inbox) = &mut self.inbox {
                    inbox.answer(remote, seq, result.map_err(SubmitError::Rejected));
                }
            }
            ReplyTo::Notify(notified) => notified.answer((seq, result.map_err(SubmitError::Rejected))),
            ReplyTo::Linked(linked) => {
                let LinkedReply { to, result } = *linked;
                answer_linked(&mut self.inbox, to, seq, result.map_err(LinkedError::Rejected));
            }
        }
    }

    /// Publishes one immutable snapshot of the batch's result, then hands it to the stages (the
    /// shared-memory mirror's thread follows it).
    fn publish(&mut self) {
        self.stats.batches += 1;
        if !mutant::ORDERS_AFTER_PUBLISH {
            self.catch_up_orders();
        }
        // The snapshot before the current one is refilled in place when no reader holds it any
        // more (a mirror keeps the last snapshot it copied to compare the next one with, so the
        // one before it is the first that may be free): no allocation, and no snapshot freed on
        // the owner thread (docs/design.md, "Batching and publication"). One held elsewhere is
        // let go: its last holder frees it.
        let mut retired = self.retired.take();
        let snapshot = match retired.as_mut().and_then(Arc::get_mut) {
            Some(copy) => {
                let old = copy.recapture(
                    &self.ledger,
                    self.seq,
                    self.stats,
                    &mut self.published_books,
                    &self.orders,
                );
                self.garbage.push(old);
                retired.take()
            }
            None => None,
        };
        let snapshot = snapshot.unwrap_or_else(|| {
            Arc::new(Snapshot::capture_reusing(
                &self.ledger,
                self.seq,
                self.stats,
                &mut self.published_books,
                &self.orders,
            ))
        });
        if mutant::ORDERS_AFTER_PUBLISH {
            self.catch_up_orders();
        }
        let replaced = self.shared.snapshot.swap(snapshot.clone());
        for stage in &mut self.stages {
            stage.published(&snapshot);
        }
        self.retired = Some(replaced);
        // Under a load that leaves no idle moment, the old nodes past `GARBAGE_HELD` are freed
        // here, so they cannot pile up; the others wait for an idle moment (each costs a publish
        // about 100 ns).
        self.garbage.free(self.garbage.len().saturating_sub(GARBAGE_HELD));
    }
}

/// Answers a linked reservation: a handle through its channel, an inbox's client part by part.
/// Off the common path: kept out of `answer`, which every command goes through.
#[cold]
#[inline(never)]
fn answer_linked(
    inbox: &mut Option<Box<dyn Inbox>>,
    to: LinkedTo,
    seq: u64,
    result: Result<Vec<Outcome>, LinkedError>,
) {
    match to {
        LinkedTo::Local(sender) => {
            let _ = sender.send(result.map(|outcomes| (seq, outcomes)));
        }
        LinkedTo::Remote { reply, parts } => {
            if let Some(inbox) = inbox {
                inbox.answer_linked(reply, parts, seq, result.as_deref());
            }
        }
        LinkedTo::Notify { notified, .. } => notified.answer_linked(result.map(|outcomes| (seq, outcomes))),
    }
}
