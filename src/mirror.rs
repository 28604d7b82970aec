//! The mirror thread: keeps `shared_pool.json` (seed 000 sections 7.1-7.2) and the shared-memory
//! heartbeat up to date, off the owner thread.
//!
//! Every `interval` it stamps the heartbeat and, if a new snapshot was published since its last
//! write, rewrites the JSON file atomically (temporary file, fsync, rename, fsync of the folder).
//! A failed write is counted, reported in [`MirrorStats`] and retried at the next interval; it
//! never touches the ledger. When the vault stops it writes once more, so the file never lags the
//! final state.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::runtime::Reader;
use crate::shm::ShmWriter;
use crate::snapshot::Snapshot;

/// What the JSON mirror has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Successful writes of the JSON file.
    pub json_writes: u64,
    /// Failed writes (each retried at the next interval).
    pub json_failures: u64,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// The snapshot `seq` in the file after the last successful write.
    pub json_seq: Option<u64>,
}

pub(crate) struct Mirror {
    pub(crate) reader: Reader,
    pub(crate) json: Option<PathBuf>,
    pub(crate) shm: Option<Arc<ShmWriter>>,
    pub(crate) interval: Duration,
    pub(crate) stats: Arc<Mutex<MirrorStats>>,
}

impl Mirror {
    /// Runs until `stop` says so or the owner has stopped, then writes a last time.
    pub(crate) fn run(self, stop: &dyn Fn() -> bool) {
        let mut last_batches = None;
        loop {
            let finishing = stop() || self.reader.stopped().is_some();
            if let Some(shm) = &self.shm {
                shm.heartbeat();
            }
            if let Some(path) = &self.json {
                let snapshot = self.reader.snapshot_arc();
                let batches = snapshot.stats().batches;
                if finishing || last_batches != Some(batches) {
                    let result = write_atomically(path, &shared_pool_json(&snapshot, SystemTime::now()));
                    let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(()) => {
                            stats.json_writes += 1;
                            stats.json_seq = Some(snapshot.seq());
                            stats.last_error = None;
                            last_batches = Some(batches);
                        }
                        Err(error) => {
                            stats.json_failures += 1;
                            stats.last_error = Some(format!("{}: {error}", path.display()));
                        }
                    }
                }
            }
            if finishing {
                return;
            }
            std::thread::park_timeout(self.interval);
        }
    }
}

/// The seed 000 schema: `used_<label>`, `frozen_<label>`, `acc_alpha_<label>` and
/// `allocations_<label>` (the live orders as `{client_order_id, amount}`) for every strategy, and
/// `updated_at`. A strategy without a label is named `slot<N>`; a label that occurs in more than
/// one book is suffixed `@<VENUE>/<CURRENCY>` so no key is written twice.
pub fn shared_pool_json(snapshot: &Snapshot, now: SystemTime) -> Value {
    let mut names: Vec<(String, &crate::Book, u8)> = Vec::new();
    for book in snapshot.books() {
        for (slot, strategy) in book.strategies() {
            let name =
                strategy.config().label.map_or_else(|| format!("slot{slot}"), |label| label.to_string());
            names.push((name, book, slot));
        }
    }
    let mut map = Map::new();
    for (name, book, slot) in &names {
        let clash = names.iter().filter(|(other, _, _)| other == name).count() > 1;
        let key = if clash { format!("{name}@{}/{}", book.venue(), book.currency()) } else { name.clone() };
        let Some(strategy) = book.strategy(*slot) else { continue };
        map.insert(format!("used_{key}"), json!(strategy.used()));
        map.insert(format!("frozen_{key}"), json!(strategy.frozen()));
        map.insert(format!("acc_alpha_{key}"), json!(strategy.acc_alpha()));
        let allocations: Vec<Value> = snapshot
            .orders()
            .iter()
            .filter(|o| o.book() == book.id() && o.slot() == *slot)
            .map(|o| json!({ "client_order_id": o.id().to_string(), "amount": o.amount() }))
            .collect();
        map.insert(format!("allocations_{key}"), Value::Array(allocations));
    }
    map.insert("updated_at".into(), Value::String(iso8601(now)));
    Value::Object(map)
}

/// Writes `value` to `path` so that a reader sees the old file or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, value: &Value) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    file.write_all(serde_json::to_string_pretty(value).map_err(std::io::Error::other)?.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

/// UTC time as ISO 8601 with milliseconds: `2026-02-16T12:00:00.000Z`.
pub fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        let at = |seconds: u64, millis: u64| UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis);
        assert_eq!(iso8601(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(at(1_771_243_200, 5)), "2026-02-16T12:00:00.005Z");
        assert_eq!(iso8601(at(951_782_400, 0)), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
    }
}
