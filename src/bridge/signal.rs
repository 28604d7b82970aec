//! Seed 000's `order_signal.json`: the signal format (section 6.3) and the file it arrives in.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ledger::{Amount, ClientOrderId, Side};

/// One signal as a strategy node writes it (seed 000 section 6.3). Only `signal_id`, `code`,
/// `direction`, `price` and `shares` are required; the rest take the seed's defaults. Other
/// fields are ignored: the seed's writers add their own (a timestamp, a reason), and the table
/// asks only that these be present.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Signal {
    /// The idempotency key: a signal is consumed once, whatever happens to it.
    pub signal_id: String,
    /// The order's id for the vault and the broker; `signal_id` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    /// The security, `159201.SZ` or `512890.SH`: its number is a strategy label in the config.
    pub code: String,
    /// `BUY` or `SELL`.
    pub direction: Side,
    /// The limit price.
    pub price: Amount,
    /// Shares, a positive multiple of 100.
    pub shares: u64,
    /// What a buy reserves; `price x shares` rounded half-even to the book's minor unit when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The grid layer: 0 opens a first layer (the 15% rule), more adds to a position.
    #[serde(default)]
    pub layer_index: u32,
    /// A sell's buy orders to release once it has filled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_client_order_ids: Vec<String>,
}

impl Signal {
    /// The order id this signal uses: its `client_order_id`, else its `signal_id`.
    #[must_use]
    pub fn order_text(&self) -> &str {
        self.client_order_id.as_deref().unwrap_or(&self.signal_id)
    }

    /// The ids of the buy orders a sell closes (`ClientOrderId::from_text` of each).
    #[must_use]
    pub fn closes(&self) -> Vec<ClientOrderId> {
        self.release_client_order_ids.iter().map(|text| ClientOrderId::from_text(text)).collect()
    }

    /// A fingerprint of every field, to tell a repeated signal from an id reused with other
    /// fields.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What one entry of a signal file became: a signal, or why it is not one (with its
/// `signal_id` when it has a readable one).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Entry {
    /// A well-formed signal.
    Signal(Signal),
    /// An entry that is not a signal.
    Malformed {
        /// Its `signal_id`, if it has a string one.
        signal_id: Option<String>,
        /// What is wrong, naming the field.
        reason: String,
    },
}

/// Reads the entries of a signal file's text: one object or a list of objects.
///
/// # Errors
/// The text is not JSON, or neither an object nor a list (a file still being written looks
/// like this: the caller retries it).
pub fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err("neither a signal object nor a list of them".into()),
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let signal_id = item.get("signal_id").and_then(Value::as_str).map(str::to_owned);
            match serde_path_to_error::deserialize::<_, Signal>(item) {
                Ok(signal) => Entry::Signal(signal),
                Err(error) => Entry::Malformed { signal_id, reason: error.to_string() },
            }
        })
        .collect())
}

/// The signal file, taken whole: `take` renames `order_signal.json` to a private name before
/// reading it, so a strategy writing its next file never races the executor's consumption,
/// and a file being written while it was taken is read again until it is whole.
#[derive(Debug)]
pub struct Inbox {
    path: PathBuf,
    taken: PathBuf,
    /// The bytes of the last unparseable read and how many reads in a row saw them.
    unsettled: Option<(Vec<u8>, u32)>,
    settle_reads: u32,
}

/// What `Inbox::take` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// No file.
    Nothing,
    /// A file still being written (not JSON yet): read again later.
    Incomplete,
    /// The entries of a whole file. Call `Inbox::done` once each is consumed.
    Entries(Vec<Entry>),
    /// A file that stayed unreadable: moved aside to `kept`, nothing applied.
    Malformed {
        /// Why it is not a signal file.
        reason: String,
        /// Where its bytes are kept.
        kept: PathBuf,
    },
}

impl Inbox {
    /// The inbox of `path` (`.../order_signal.json`). A file that stays unparseable over
    /// `settle_reads` reads in a row is malformed, not still being written.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, settle_reads: u32) -> Inbox {
        let path = path.into();
        let mut taken = path.clone().into_os_string();
        taken.push(".taking");
        Inbox { path, taken: taken.into(), unsettled: None, settle_reads: settle_reads.max(1) }
    }

    /// The file strategies write.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the signal file (or the one taken before a crash) and reads it.
    ///
    /// # Errors
    /// A file that cannot be renamed or read.
    pub fn take(&mut self) -> std::io::Result<Taken> {
        if !self.taken.exists() {
            let _lock = lock(&self.path)?;
            match fs::rename(&self.path, &self.taken) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Taken::Nothing),
                Err(e) => return Err(e),
            }
        }
        let bytes = fs::read(&self.taken)?;
        let text = String::from_utf8_lossy(&bytes);
        match parse_entries(&text) {
            Ok(entries) => {
                self.unsettled = None;
                Ok(Taken::Entries(entries))
            }
            Err(reason) => {
                let reads = match &self.unsettled {
                    Some((seen, reads)) if *seen == bytes => reads + 1,
                    _ => 1,
                };
                if reads < self.settle_reads {
                    self.unsettled = Some((bytes, reads));
                    return Ok(Taken::Incomplete);
                }
                self.unsettled = None;
                let kept = self.kept_name();
                fs::rename(&self.taken, &kept)?;
                Ok(Taken::Malformed { reason, kept })
            }
        }
    }

    /// Every entry of the taken file is consumed: the file goes.
    ///
    /// # Errors
    /// The file could not be removed.
    pub fn done(&mut self) -> std::io::Result<()> {
        match fs::remove_file(&self.taken) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn kept_name(&self) -> PathBuf {
        (1..100_000)
            .map(|n| {
                let mut name = self.path.clone().into_os_string();
                name.push(format!(".bad-{n}"));
                PathBuf::from(name)
            })
            .find(|candidate| !candidate.exists())
            .unwrap_or_else(|| self.path.with_extension("bad"))
    }
}

/// The lock file beside a signal file, `order_signal.json.lock`: writers hold it exclusively
/// for read-append-rename, and [`Inbox::take`] for its rename, so no writer's append is lost
/// to another writer's rename or to a take between a writer's read and its rename. It is
/// never removed (removing it would let two holders lock two different files).
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Holds the signal file's lock (an OS file lock: released when the file closes, also when
/// the process dies).
fn lock(path: &Path) -> std::io::Result<fs::File> {
    let file =
        fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(lock_path(path))?;
    file.lock()?;
    Ok(file)
}

/// Writes `signals` to `path` as a strategy node should: under the signal file's lock, the
/// signals not yet taken and these ones to a temporary file of this thread's own, synced, then
/// renamed over `path`, so a reader never sees half of it and no writer's signals are lost,
/// whatever the number of writer processes and threads on this host. Writers on other hosts
/// (a shared folder) must each write their own file (one inbox per node): file locks over a
/// network file system are not to be trusted.
///
/// # Errors
/// The file could not be locked, read, written or renamed; nothing was added.
pub fn write_signals(path: &Path, signals: &[Signal]) -> std::io::Result<()> {
    let _lock = lock(path)?;
    let mut all: Vec<Value> = match fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => items,
            Ok(object @ Value::Object(_)) => vec![object],
            // Bytes that are not signals (a writer that does not lock, mid-write) are not
            // thrown away: refuse, and let the caller try again.
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} holds bytes that are not a signal list", path.display()),
                ))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    all.extend(signals.iter().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)));
    // A name no other writer uses: this process and thread (one write at a time per thread).
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let mut temp = path.to_path_buf().into_os_string();
    temp.push(format!(".tmp-{}-{thread}", std::process::id()));
    let temp = PathBuf::from(temp);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(&serde_json::to_vec_pretty(&all).unwrap_or_default())?;
        file.sync_data()?;
        fs::rename(&temp, path)
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_or_a_list_and_each_bad_entry_names_its_field() {
        let one = r#"{ "signal_id": "sig-1", "code": "159201.SZ", "direction": "BUY", "price": 1.153, "shares": 8600 }"#;
        let Entry::Signal(signal) = &parse_entries(one).unwrap()[0] else { panic!("not a signal") };
        assert_eq!((signal.order_text(), signal.layer_index, signal.amount), ("sig-1", 0, None));
        let list = format!(
            r#"[{one}, {{ "signal_id": "sig-2", "code": "x", "direction": "HOLD", "price": 1, "shares": 1 }}, 7]"#
        );
        let entries = parse_entries(&list).unwrap();
        assert_eq!(entries.len(), 3);
        match &entries[1] {
            Entry::Malformed { signal_id, reason } => {
                assert_eq!(signal_id.as_deref(), Some("sig-2"));
                assert!(reason.contains("direction"), "{reason}");
            }
            other @ Entry::Signal(_) => panic!("{other:?}"),
        }
        assert!(matches!(&entries[2], Entry::Malformed { signal_id: None, .. }));
        assert!(parse_entries(r#"{ "signal_id": "sig-1", "co"#).is_err());
        let extra = r#"{ "signal_id": "s", "code": "159201.SZ", "direction": "SELL", "price": "1.2", "shares": 100, "timestamp": "2026-02-16T09:31:00" }"#;
        assert!(matches!(&parse_entries(extra).unwrap()[0], Entry::Signal(s) if s.direction == Side::Sell));
        assert!(parse_entries("3").is_err());
    }
}
