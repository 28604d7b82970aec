//! The leader's lease: one JetStream key-value entry that lapses `lease_ttl_ms` after its last
//! renewal. Who holds it may serve; a standby takes it once it lapses. Safety does not rest on
//! it (a paused leader may still believe it holds the lease): the stream's chain fences a stale
//! leader's next batch. The lease only decides who should try.

use std::time::Duration;

use async_nats::jetstream::kv;

use crate::replication::{Link, ReplicationConfig, ReplicationError};

const KEY: &str = "leader";

/// The lease of one stream, held or not, on one connection.
#[derive(Debug)]
pub struct Lease {
    link: Link,
    store: kv::Store,
    holder: String,
    /// The revision of the entry this process wrote: `Some` while it holds the lease.
    revision: Option<u64>,
}

fn nats(error: &dyn std::fmt::Display) -> ReplicationError {
    ReplicationError::Nats(error.to_string())
}

/// The lease bucket of `config`'s stream: entries live `lease_ttl_ms` after their last write.
fn store(link: &Link) -> Result<kv::Store, ReplicationError> {
    let config = &link.config;
    let bucket = format!("{}_LEASE", config.stream);
    link.runtime.block_on(async {
        if let Ok(store) = link.jetstream.get_key_value(&bucket).await {
            return Ok(store);
        }
        link.jetstream
            .create_key_value(kv::Config {
                bucket: bucket.clone(),
                history: 1,
                max_age: Duration::from_millis(config.lease_ttl_ms),
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))
    })
}

impl Lease {
    /// The lease of `config`'s stream, for `holder` (its name as others read it), not yet held.
    ///
    /// # Errors
    /// NATS or the bucket could not be reached.
    pub fn open(config: &ReplicationConfig, holder: &str) -> Result<Lease, ReplicationError> {
        let link = Link::open(config, config.request_timeout())?;
        let store = store(&link)?;
        Ok(Lease { link, store, holder: holder.to_owned(), revision: None })
    }

    /// Takes the lease if no one holds it; `false` if someone does.
    ///
    /// # Errors
    /// NATS or the bucket could not be reached.
    pub fn try_take(&mut self) -> Result<bool, ReplicationError> {
        let value = self.holder.as_bytes().to_vec().into();
        match self.link.runtime.block_on(self.store.create(KEY, value)) {
            Ok(revision) => {
                self.revision = Some(revision);
                Ok(true)
            }
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(nats(&error)),
        }
    }

    /// Who holds the lease now, if anyone.
    ///
    /// # Errors
    /// NATS or the bucket could not be reached.
    pub fn holder(&self) -> Result<Option<String>, ReplicationError> {
        let value = self.link.runtime.block_on(self.store.get(KEY)).map_err(|e| nats(&e))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Renews the lease this process holds. Call it well within `lease_ttl_ms` (a third of it).
    ///
    /// # Errors
    /// The lease was lost (it lapsed and another took it, or it was never taken) or NATS could
    /// not be reached: stop serving.
    pub fn renew(&mut self) -> Result<(), ReplicationError> {
        let held = self.revision.ok_or_else(|| ReplicationError::Nats("the lease is not held".into()))?;
        let value: bytes::Bytes = self.holder.as_bytes().to_vec().into();
        match self.link.runtime.block_on(self.store.update(KEY, value, held)) {
            Ok(revision) => {
                self.revision = Some(revision);
                Ok(())
            }
            // The entry is gone while this process renewed it in time (seen right after a NATS
            // server restarted, within a third of the time to live): if no one took it since,
            // taking it again is taking a free lease, and safe. If another vault holds it, this
            // one has lost it.
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.revision = None;
                if self.try_take()? {
                    tracing::warn!(%error, "the lease entry vanished while held: taken again");
                    Ok(())
                } else {
                    Err(nats(&error))
                }
            }
            Err(error) => Err(nats(&error)),
        }
    }

    /// Gives the lease up at once (a clean stop): a standby need not wait for it to lapse.
    pub fn release(self) {
        if let Some(revision) = self.revision {
            let _ = self.link.runtime.block_on(self.store.delete_expect_revision(KEY, Some(revision)));
        }
    }
}
