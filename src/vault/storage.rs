//! The data directory: lock, recover (or first checkpoint), check the configuration against
//! what was recovered, open the journal as the owner's first stage and start the checkpoint
//! thread.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::journal::{self, Checkpointer, Durability, JournalError, JournalStage, JournalWriter, Recovery};
use crate::ledger::{Drift, DriftPolicy, Outcome};
use crate::platform::{self, ExclusiveLock, LockError, PathRefusal};
use crate::runtime::Handle;
use crate::vault::services::Services;
use crate::vault::{Builder, SpawnError};

fn io(path: &Path) -> impl Fn(std::io::Error) -> SpawnError + '_ {
    move |error| SpawnError::Journal(JournalError::Io { path: path.to_owned(), error })
}

fn unsafe_path(path: &Path, refusal: &PathRefusal) -> SpawnError {
    SpawnError::UnsafePath { path: path.to_owned(), reason: refusal.to_string() }
}

impl Builder {
    /// With a data directory: locks it, recovers from it (or writes its first checkpoint),
    /// checks the configuration against what was recovered, adds the journal stage and starts
    /// the checkpoint thread. Returns the configuration differences to apply once serving.
    pub(super) fn open_storage(&mut self, services: &mut Services) -> Result<Vec<Drift>, SpawnError> {
        let Some(dir) = self.storage.dir.clone() else { return Ok(Vec::new()) };
        if self.storage.durability == Durability::None {
            return Ok(Vec::new());
        }
        let access = self.storage.access;
        platform::private_dir(&dir, access).map_err(io(&dir))?.map_err(|r| unsafe_path(&dir, &r))?;
        // Taken before recovery reads anything, held by the checkpoint thread for the vault's life.
        let lock_path = dir.join(journal::LOCK_NAME);
        let lock = ExclusiveLock::try_take(&lock_path, access).map_err(|error| match error {
            LockError::Held { pid } => SpawnError::DataDirLocked { path: dir.clone(), pid },
            LockError::Refused(refusal) => unsafe_path(&lock_path, &refusal),
            LockError::Io(error) => io(&lock_path)(error),
        })?;
        let recovery = self.recover(&dir)?;
        let seq = recovery.as_ref().map_or(0, |r| r.seq);
        let journal = JournalWriter::open(&dir, self.storage.durability, access, seq + 1)
            .map_err(SpawnError::Journal)?;
        let (jobs, receiver) = std::sync::mpsc::sync_channel(1);
        let busy = Arc::new(AtomicBool::new(false));
        let stats = services.checkpoint_stats.clone();
        // The checkpoint thread's replica: copied once here, kept up by replaying the journal.
        let replica = self.core.ledger().clone();
        let checkpointer = Checkpointer {
            dir,
            access,
            jobs: receiver,
            busy: busy.clone(),
            stats,
            lock,
            replica,
            replica_seq: seq,
        };
        let thread = std::thread::Builder::new()
            .name("capvault-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(SpawnError::Spawn)?;
        // Replication commits first: a batch the stream refuses (fenced) never reaches the
        // local journal, so its callers are truthfully told it was not applied.
        #[cfg(feature = "nats")]
        if let Some(config) = self.replication.take() {
            let stage =
                crate::replication::ReplicationStage::start(&config, seq).map_err(SpawnError::Replication)?;
            self.core.stage(Box::new(stage));
        }
        self.core.stage(Box::new(JournalStage {
            journal,
            every: self.storage.checkpoint_every,
            interval: self.storage.checkpoint_interval,
            last_seq: seq,
            last_at: Instant::now(),
            jobs: Some(jobs),
            busy,
            checkpointer: Some(thread),
        }));
        let drift = match (&recovery, self.storage.drift) {
            (Some(recovery), DriftPolicy::Apply) => recovery.config_drift.clone(),
            _ => Vec::new(),
        };
        services.recovery = recovery;
        Ok(drift)
    }

    /// Recovers the ledger from `dir` into the core, or writes the first checkpoint of the
    /// builder's ledger into an empty `dir`.
    fn recover(&mut self, dir: &Path) -> Result<Option<Recovery>, SpawnError> {
        let access = self.storage.access;
        if let Some((ledger, mut recovery)) =
            journal::recover_with(dir, access).map_err(SpawnError::Journal)?
        {
            recovery.config_drift = crate::ledger::drift(self.core.ledger(), &ledger);
            self.check_drift(&recovery.config_drift)?;
            self.core.recovered(ledger, recovery.seq);
            Ok(Some(recovery))
        } else {
            journal::write_checkpoint(dir, access, 0, self.core.ledger()).map_err(SpawnError::Journal)?;
            Ok(None)
        }
    }

    /// Refuses to start on configuration drift unless the policy says otherwise; with `Apply`,
    /// refuses a difference no command can make.
    fn check_drift(&self, drifts: &[Drift]) -> Result<(), SpawnError> {
        let refuse = match self.storage.drift {
            DriftPolicy::Refuse => !drifts.is_empty(),
            DriftPolicy::Apply => drifts.iter().any(|drift| !drift.is_applicable()),
            DriftPolicy::KeepRecovered => false,
        };
        if refuse {
            return Err(SpawnError::ConfigDrift(drifts.to_vec()));
        }
        Ok(())
    }
}

/// Applies configuration differences as ordinary (journalled) commands, in order, and returns
/// once the published snapshot shows them all (a receipt comes before its snapshot).
pub(super) fn apply_drift(handle: &mut Handle, drifts: &[Drift]) -> Result<(), SpawnError> {
    let mut last_seq = 0;
    for drift in drifts {
        let refused = || SpawnError::ConfigDrift(vec![drift.clone()]);
        let mut opened = None;
        for command in drift.commands(None) {
            let receipt = handle.submit(command).map_err(|_| refused())?;
            last_seq = receipt.seq;
            if let Outcome::BookOpened { book } = receipt.outcome {
                opened = Some(book);
            }
        }
        if opened.is_some() {
            for command in drift.commands(opened) {
                last_seq = handle.submit(command).map_err(|_| refused())?.seq;
            }
        }
    }
    // The owner publishes right after answering; the wait is that long (or until it stops).
    let reader = handle.reader();
    while reader.snapshot().seq() < last_seq {
        if let Some(stopped) = reader.stopped() {
            return Err(SpawnError::Setting { name: "on_config_drift", reason: stopped.reason() });
        }
        std::thread::yield_now();
    }
    Ok(())
}
