//! The JSON mirror thread: keeps `shared_pool.json` (seed 000 sections 7.1-7.2) up to date, off
//! the owner thread.
//!
//! Every `interval`, if a new snapshot was published since its last write, it rewrites the JSON file atomically (temporary file, fsync, rename, fsync of the folder).
//! A failed write is counted, reported in [`MirrorStats`] and retried at the next interval; it
//! never touches the ledger. When the vault stops it writes once more, so the file never lags the
//! final state.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::platform::{self, FileAccess};
use crate::runtime::snapshot::Snapshot;
use crate::runtime::Reader;

/// What the JSON mirror has done so far.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use capvault::{Builder, Ledger, Limits};
/// let path = std::env::temp_dir().join(format!("capvault-doc-pool-{}.json", std::process::id()));
/// let handle = Builder::new(Ledger::new(Limits::default())?).mirror_json(&path).spawn()?;
/// let reader = handle.reader();
/// handle.shutdown()?;   // the mirror writes a last time
/// assert_eq!(reader.mirror_stats().json_failures, 0);
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
    pub(crate) json: PathBuf,
    pub(crate) interval: Duration,
    pub(crate) access: FileAccess,
    pub(crate) stats: Arc<Mutex<MirrorStats>>,
    /// Run as a background thread (`Builder::mirrors_in_background`).
    pub(crate) background: bool,
}

impl Mirror {
    /// Runs until `stop` says so or the owner has stopped, then writes a last time.
    pub(crate) fn run(self, stop: &dyn Fn() -> bool) {
        if self.background {
            crate::platform::set_background(true);
        }
        let path = &self.json;
        let mut last_batches = None;
        loop {
            let finishing = stop() || self.reader.stopped().is_some();
            let snapshot = self.reader.snapshot_arc();
            let batches = snapshot.stats().batches;
            if finishing || last_batches != Some(batches) {
                let result =
                    write_atomically(path, &shared_pool_json(&snapshot, SystemTime::now()), self.access);
                let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
            if finishing {
                return;
            }
            std::thread::park_timeout(self.interval);
        }
    }
}

/// The seed 000 schema, every seed key unchanged: `used_<label>`, `frozen_<label>`,
/// `acc_alpha_<label>` and `allocations_<label>` for every strategy, and `updated_at`.
///
/// Each `allocations_<label>` entry is a live order as `{client_order_id, amount, frozen}`, where
/// `amount` is what the order holds now (its frozen part plus what was filled of it) and `frozen`
/// the part still frozen: exactly what `release` or `cancel` frees. With `direct_<label>` (capital
/// allocated to the strategy outside any order) the entries add up to the strategy's committed
/// amount: `Σ amount + direct == used + frozen`.
///
/// Per book, `total_<VENUE>/<CURRENCY>`, `pool_<...>`, `utilisation_<...>` and `penalty_<...>`;
/// with exactly one book also plain `total`, `pool`, `utilisation` and `penalty`, so a dashboard
/// reads the real figures instead of a hard-coded 300,000.
///
/// A strategy without a label is named `slot<N>` (the ledger refuses that name as a label of
/// another slot); a label that occurs in more than one book is suffixed `@<VENUE>/<CURRENCY>`, so
/// no key is written twice.
#[must_use]
pub fn shared_pool_json(snapshot: &Snapshot, now: SystemTime) -> Value {
    let mut names: Vec<(String, &crate::ledger::Book, u8)> = Vec::new();
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
        debug_assert!(!map.contains_key(&format!("used_{key}")), "strategy key {key} written twice");
        map.insert(format!("used_{key}"), json!(strategy.used()));
        map.insert(format!("frozen_{key}"), json!(strategy.frozen()));
        map.insert(format!("direct_{key}"), json!(strategy.direct()));
        map.insert(format!("acc_alpha_{key}"), json!(strategy.acc_alpha()));
        let allocations: Vec<Value> = snapshot
            .orders()
            .filter(|o| o.book() == book.id() && o.slot() == *slot)
            .map(|o| {
                // frozen + used of one order is at most its amount, which is in range.
                let holds = o.frozen().checked_add(o.used()).unwrap_or(o.amount());
                json!({ "client_order_id": o.id().to_string(), "amount": holds, "frozen": o.frozen() })
            })
            .collect();
        map.insert(format!("allocations_{key}"), Value::Array(allocations));
    }
    for book in snapshot.books() {
        let view = book.view();
        let name = format!("{}/{}", book.venue(), book.currency());
        let figures = [
            ("total", json!(book.total())),
            ("pool", json!(book.pool())),
            ("utilisation", json!(view.utilisation())),
            ("penalty", json!(book.penalty().is_active())),
        ];
        for (field, value) in figures {
            if snapshot.books().len() == 1 {
                map.insert(field.to_owned(), value.clone());
            }
            map.insert(format!("{field}_{name}"), value);
        }
    }
    map.insert("updated_at".into(), Value::String(iso8601(now)));
    Value::Object(map)
}

/// Writes `value` to `path` so that a reader sees the old file or the new one, never a part: a
/// new temporary file of its own (exclusive, unpredictable name, never through a symlink, with
/// `access`'s mode), fsync, rename, fsync of the folder. A failure removes the temporary file.
pub(crate) fn write_atomically(path: &Path, value: &Value, access: FileAccess) -> std::io::Result<()> {
    platform::check_replaceable(path)
        .map_err(|refusal| std::io::Error::other(format!("refused: {refusal}")))?;
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    platform::replace_file(path, access, |file| {
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    })?;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        platform::sync_dir(folder)?;
    }
    Ok(())
}

/// UTC time as ISO 8601 with milliseconds: `2026-02-16T12:00:00.000Z`.
#[must_use]
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
