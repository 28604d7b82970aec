//! Kills an executor (a child process running the bridge over a stream of signals) at random
//! points, restarts it until it finishes, and checks that every signal was consumed exactly
//! once, every reservation matches an order the broker has, and nothing was released twice: the
//! final vault equals an uninterrupted run's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use capvault::bridge::{
    write_signals, Account, Bridge, BridgeConfig, Broker, BrokerOrder, Inbox, PlaceError, Position, Report,
    Signal,
};
use capvault::{Amount, Builder, ClientOrderId, Command, Durability, Limits, Outcome, Side, SignalStatus};
use common::*;

const SIGNALS: usize = 120;
const CHILD: &str = "CAPVAULT_BRIDGE_CRASH_CHILD";

/// A broker whose orders survive the executor: each first placement is one appended line
/// (written before `place` returns), a second is `Duplicate`, every order fills at once at its
/// limit, and a restarted broker reports every order again (cumulative reports are harmless).
struct FileBroker {
    log: fs::File,
    orders: BTreeMap<ClientOrderId, BrokerOrder>,
    reports: Vec<Report>,
}

fn parse_line(line: &str) -> Option<BrokerOrder> {
    let mut parts = line.split(' ');
    let id = parts.next()?.parse().ok()?;
    let code = parts.next()?.to_owned();
    let side = if parts.next()? == "buy" { Side::Buy } else { Side::Sell };
    let price = parts.next()?.parse().ok()?;
    let shares = parts.next()?.parse().ok()?;
    let closes = parts.filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect();
    Some(BrokerOrder { id, code, side, price, shares, closes })
}

fn fill_report(order: &BrokerOrder) -> Report {
    let value = order.price.checked_mul_int(order.shares as i64).unwrap();
    Report::Fill { id: order.id, shares: order.shares, value, done: true }
}

impl FileBroker {
    fn open(path: &Path) -> FileBroker {
        let text = fs::read_to_string(path).unwrap_or_default();
        // A torn last line is an order the broker never acknowledged.
        let orders: BTreeMap<_, _> =
            text.lines().filter_map(parse_line).map(|order| (order.id, order)).collect();
        let reports = orders.values().map(fill_report).collect();
        let log = fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        FileBroker { log, orders, reports }
    }
}

impl Broker for FileBroker {
    fn place(&mut self, order: &BrokerOrder) -> Result<(), PlaceError> {
        if self.orders.contains_key(&order.id) {
            return Err(PlaceError::Duplicate);
        }
        let side = if order.side == Side::Buy { "buy" } else { "sell" };
        let closes: Vec<String> = order.closes.iter().map(ToString::to_string).collect();
        let line = format!(
            "{} {} {side} {} {} {}\n",
            order.id,
            order.code,
            order.price,
            order.shares,
            closes.join(" ")
        );
        self.log.write_all(line.as_bytes()).unwrap();
        self.orders.insert(order.id, order.clone());
        self.reports.push(fill_report(order));
        Ok(())
    }

    fn cancel(&mut self, _: ClientOrderId) {}

    fn reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    fn account(&mut self) -> Account {
        let closed: BTreeSet<ClientOrderId> = self.orders.values().flat_map(|o| o.closes.clone()).collect();
        let mut positions: BTreeMap<String, (u64, Amount)> = BTreeMap::new();
        for order in self.orders.values().filter(|o| o.side == Side::Buy && !closed.contains(&o.id)) {
            let p = positions.entry(order.code.clone()).or_insert((0, Amount::ZERO));
            p.0 += order.shares;
            p.1 = p.1.checked_add(order.price.checked_mul_int(order.shares as i64).unwrap()).unwrap();
        }
        Account {
            cash: units(10_000_000),
            available: units(10_000_000),
            positions: positions
                .into_iter()
                .map(|(code, (shares, cost))| Position { code, shares, cost })
                .collect(),
        }
    }
}

/// The stream: buys on both codes, and every third signal a sell closing the buy two before.
fn signals() -> Vec<Signal> {
    let code = |i: usize| if i.is_multiple_of(2) { ("159201.SZ", "1.153") } else { ("512890.SH", "1.02") };
    (0..SIGNALS)
        .map(|i| {
            let sell = i % 3 == 2;
            let (c, price) = code(if sell { i - 2 } else { i });
            Signal {
                signal_id: format!("sig-{i:04}"),
                client_order_id: None,
                code: c.into(),
                direction: if sell { Side::Sell } else { Side::Buy },
                price: price.parse().unwrap(),
                shares: 1000,
                amount: None,
                layer_index: 1,
                release_client_order_ids: if sell { vec![format!("sig-{:04}", i - 2)] } else { Vec::new() },
            }
        })
        .collect()
}

/// The executor: consumes the signal file entry by entry, pumping broker reports after each.
fn executor(dir: &Path) {
    let handle = Builder::new(seed_000(Limits::default()))
        .data_dir(dir.join("vault"))
        .durability(Durability::FsyncBatch)
        .spawn()
        .unwrap();
    let config = BridgeConfig { results: dir.join("order_result.jsonl"), expiry_ms: None, sync: true };
    let mut bridge = Bridge::new(handle, FileBroker::open(&dir.join("broker.log")), config, 0).unwrap();
    bridge.pump().unwrap();
    let mut inbox = Inbox::new(dir.join("order_signal.json"), 3);
    loop {
        match inbox.take().unwrap() {
            capvault::bridge::Taken::Entries(entries) => {
                for entry in entries {
                    bridge.consume(entry, 0).unwrap();
                    bridge.pump().unwrap();
                }
                inbox.done().unwrap();
            }
            capvault::bridge::Taken::Nothing => break,
            other => panic!("{other:?}"),
        }
    }
    let (handle, _) = bridge.into_parts();
    handle.shutdown().unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-bridge-crash-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    write_signals(&dir.join("order_signal.json"), &signals()).unwrap();
    dir
}

fn child(dir: &Path) -> std::process::Child {
    Process::new(std::env::current_exe().unwrap())
        .args(["--exact", "executor_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs as the child when `CHILD` names a folder; otherwise does nothing.
#[test]
fn executor_child() {
    if let Some(dir) = std::env::var_os(CHILD) {
        executor(Path::new(&dir));
    }
}

/// Each book's total, pool and per-strategy (frozen, used).
type Figures = Vec<(Amount, Amount, Vec<(Amount, Amount)>)>;

/// The books' figures, every signal's status and the live orders, read from a vault started on
/// `dir`.
fn outcome(dir: &Path) -> (Figures, Vec<SignalStatus>, usize) {
    let mut handle = Builder::new(seed_000(Limits::default())).data_dir(dir.join("vault")).spawn().unwrap();
    let statuses = signals()
        .iter()
        .map(|s| {
            let signal = ClientOrderId::from_text(&s.signal_id);
            match handle.submit(Command::ClaimSignal { signal }).unwrap().outcome {
                Outcome::Signal { status, .. } => status,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let last = handle.shutdown().unwrap();
    let books = last
        .books()
        .iter()
        .map(|b| (b.total(), b.pool(), b.strategies().map(|(_, s)| (s.frozen(), s.used())).collect()))
        .collect();
    // Every live reservation is an order the broker has.
    let broker = FileBroker::open(&dir.join("broker.log"));
    for order in last.orders() {
        assert!(broker.orders.contains_key(&order.id()), "reservation {} has no broker order", order.id());
    }
    (books, statuses, last.orders().count())
}

#[test]
fn every_signal_is_consumed_once_through_random_kills() {
    let clean = scratch("clean");
    assert!(child(&clean).wait().unwrap().success());
    let (books, statuses, live) = outcome(&clean);
    assert!(statuses.iter().all(|s| *s == SignalStatus::Placed), "{statuses:?}");
    assert_eq!(live, SIGNALS - 2 * (SIGNALS / 3), "the buys no sell closed are live");

    let dir = scratch("killed");
    let mut seed = 0x5EED_u64;
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..30 {
        let mut process = child(&dir);
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(Duration::from_micros(5_000 + (seed >> 33) % 60_000));
        if process.try_wait().unwrap().is_some_and(|status| status.success()) {
            finished = true;
            break;
        }
        process.kill().unwrap();
        process.wait().unwrap();
        kills += 1;
    }
    if !finished {
        assert!(child(&dir).wait().unwrap().success(), "the executor finishes after {kills} kills");
    }
    let (killed_books, killed_statuses, killed_live) = outcome(&dir);
    assert!(kills > 0, "no kill landed");
    assert_eq!(killed_statuses, statuses, "every signal consumed, placed once ({kills} kills)");
    assert_eq!(killed_books, books, "the same vault as an uninterrupted run ({kills} kills)");
    assert_eq!(killed_live, live);
    // The broker has each order once, and every buy it has is one the vault reserved.
    let log = fs::read_to_string(dir.join("broker.log")).unwrap();
    let ids: Vec<&str> = log.lines().filter_map(|l| l.split(' ').next()).collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (SIGNALS, SIGNALS));
    for dir in [clean, dir] {
        let _ = fs::remove_dir_all(dir);
    }
}
