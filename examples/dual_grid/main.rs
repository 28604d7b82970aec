//! Seed 000's whole system on a simulated session: two ETF grid strategies, 159201 and 512890,
//! share one 300,000 CNY account through the vault. Each minute they read the pool view (the
//! 1.5x step penalty above 90%, off below 85%), apply their grid (section 4: ATR factor 0.38 and
//! 0.32, step floor 0.12% and 0.10%, 9 equal layers, a cooling-off for 159201 only) and write
//! their `order_signal` file; the executor bridge consumes it (idempotency, validation, funds,
//! the vault, the simulated broker with latency, partial fills and rejects); the loss stop at
//! 15,000 forces a reduce; every hour the vault is reconciled with the broker's cash and
//! positions.
//!
//! Prints an hourly table and a summary, writes `shared_pool.json`, the shm mirror, the order
//! results and `dual_grid.svg` under `--out`, and ends with one JSON line of the summary. Every
//! figure but the latency percentiles is fixed by `--seed` and `--days`, with or without
//! `--processes` (each strategy in a process of its own, reading the pool view from the
//! shared-memory mirror and writing its signal file) or `--remote` (each strategy in a process
//! that reaches the vault through nats-server only: the pool view read over NATS, its minutes
//! and signals as NATS requests and replies).
//!
//! Run: `cargo run --release --example dual_grid -- --seed 7 --days 5 --processes`

mod chart;
mod remote;
mod strategy;

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};

use capvault::bridge::{
    write_signals, Bridge, BridgeConfig, Broker, Event, Inbox, Mismatch, OrderResult, ResultStatus, SimBroker,
};
use capvault::{
    Amount, BookId, Builder, ClientOrderId, Command, Durability, LedgerConfig, Metric, Snapshot, WaitStrategy,
};
use clap::Parser;
use strategy::{Grid, Msg, Reply, View, MINUTES_PER_DAY};

/// Seed 000's account: 300,000 CNY, 159201 and 512890 capped at 200,000 each with a 15,000
/// loss limit, the 15% reserve and the 90%/85% penalty.
const CONFIG: &str = include_str!("../seed_000.json");
const BOOK: BookId = BookId::new(0);
const LABELS: [&str; 2] = ["159201", "512890"];
const SLOTS: [u8; 2] = [2, 3];

/// The session's options.
#[derive(Parser, Debug)]
#[command(about = "Seed 000's dual-grid session on a simulated market")]
#[allow(clippy::struct_excessive_bools, reason = "command-line flags")]
struct Args {
    /// The seed of the price paths and the broker.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Trading days of 240 one-minute bars.
    #[arg(long, default_value_t = 5)]
    days: u64,
    /// Where the files go.
    #[arg(long, default_value = "target/dual_grid")]
    out: PathBuf,
    /// No hourly table.
    #[arg(long)]
    quiet: bool,
    /// Run each strategy in a process of its own.
    #[arg(long, conflicts_with = "remote")]
    processes: bool,
    /// Run each strategy in a process of its own that reaches the vault through NATS only (a
    /// nats-server this run starts: `$NATS_SERVER` or on `PATH`).
    #[arg(long)]
    remote: bool,
    /// With `--remote`: the strategies on a second host, a network namespace joined by a veth
    /// pair (needs root and `ip`); nats-server listens on this side's address only.
    #[arg(long, requires = "remote")]
    netns: bool,
    /// The vault's owner and this process spin (yielding) instead of parking when idle: lower
    /// round trips, a busy core.
    #[arg(long)]
    spin: bool,
    /// (Internal) run as the strategy process of this label, reading the mirror at `--shm`.
    #[arg(long, hide = true)]
    strategy: Option<String>,
    /// (Internal) the shared-memory mirror a strategy process reads.
    #[arg(long, hide = true)]
    shm: Option<PathBuf>,
    /// (Internal) the NATS URL a `--remote` strategy process connects with.
    #[arg(long, hide = true)]
    nats: Option<String>,
}

/// Figures kept per simulated hour for the table and the chart.
struct Hour {
    minute: u64,
    prices: [f64; 2],
    utilisation: f64,
    penalty: bool,
    committed: [f64; 2],
    trades: u64,
    refusals: u64,
    alpha: [Amount; 2],
}

/// Where a strategy runs: here, in a child process spoken to over its stdin and stdout, or in
/// a child process spoken to over NATS.
enum Port {
    Here { grid: Box<Grid>, path: Vec<f64>, signals: PathBuf },
    Process { child: Child, to: ChildStdin, from: BufReader<ChildStdout> },
    Remote { port: Box<remote::Port>, signals: PathBuf },
}

impl Port {
    fn step(&mut self, msg: &Msg, snapshot: &Snapshot) -> Result<Reply, Box<dyn Error>> {
        match self {
            Port::Here { grid, path, signals } => {
                let view = View::of(snapshot, grid.slot)?;
                let reply = strategy::step(grid, path, msg, &view)?;
                hand_over(signals, reply)
            }
            // The executor's end of the strategy's NATS link hands the signal to the bridge's
            // inbox, as the seed's file would.
            Port::Remote { port, signals } => hand_over(signals, port.step(msg)?),
            Port::Process { to, from, .. } => {
                writeln!(to, "{}", serde_json::to_string(msg)?)?;
                to.flush()?;
                let mut line = String::new();
                if from.read_line(&mut line)? == 0 {
                    return Err("a strategy process ended".into());
                }
                Ok(serde_json::from_str(&line)?)
            }
        }
    }
}

/// A reply's signal written to the strategy's `order_signal` file, where the executor bridge
/// takes it; the reply without it.
fn hand_over(signals: &Path, mut reply: Reply) -> Result<Reply, Box<dyn Error>> {
    if !reply.signals.is_empty() {
        write_signals(signals, &std::mem::take(&mut reply.signals))?;
    }
    Ok(reply)
}

/// The session: the strategies, the executor bridge over the vault and the simulated broker, and
/// what the summary reports.
struct Session {
    bridge: Bridge<SimBroker>,
    ports: Vec<Port>,
    inboxes: Vec<Inbox>,
    paths: [Vec<f64>; 2],
    /// The last minute's results and events, for the strategies.
    results: Vec<OrderResult>,
    events: Vec<Event>,
    replies: [Reply; 2],
    refusals: BTreeMap<String, u64>,
    penalty_switches: u64,
    penalty_was: bool,
    peak: f64,
    hours: Vec<Hour>,
    /// Each minute's utilisation and committed per strategy, for the chart.
    series: Vec<chart::Point>,
    expired: u64,
    late_fills: u64,
    reconciles: u64,
    /// `--remote`: the vault's NATS front, the nats-server it uses and the second host, stopped
    /// in that order.
    nats: Option<(capvault::remote::NatsFront, remote::Server, Option<remote::SecondHost>)>,
}

impl Session {
    /// Each strategy's step on the vault as it is now; their alpha and loss marks recorded.
    fn strategies(&mut self, minute: u64, finish: bool) -> Result<(), Box<dyn Error>> {
        let snapshot = self.bridge.snapshot();
        let msg = Msg {
            minute,
            seq: snapshot.seq(),
            results: std::mem::take(&mut self.results),
            events: std::mem::take(&mut self.events),
            finish,
        };
        for (index, port) in self.ports.iter_mut().enumerate() {
            self.replies[index] = port.step(&msg, &snapshot)?;
        }
        drop(snapshot);
        for (index, reply) in self.replies.iter().enumerate() {
            let slot = SLOTS[index];
            for &amount in reply.alpha.iter().filter(|a| !a.is_zero()) {
                self.bridge.handle().submit(Command::RecordAlpha { book: BOOK, slot, amount })?;
            }
            if let Some(loss) = reply.loss {
                self.bridge.handle().submit(Command::MarkLoss { book: BOOK, slot, loss })?;
            }
        }
        Ok(())
    }

    /// One simulated minute: prices, the strategies' signals, the executor, the broker.
    fn minute(&mut self, minute: u64) -> Result<(), Box<dyn Error>> {
        let now = minute * 60_000;
        for (code, path) in ["159201.SZ", "512890.SH"].iter().zip(&self.paths) {
            self.bridge.broker().set_price(code, Amount::from_f64_rounded(path[minute as usize], 3)?);
        }
        self.strategies(minute, false)?;
        // The executor consumes the signal files in a fixed order; the broker works.
        for inbox in &mut self.inboxes {
            self.results.extend(self.bridge.poll(inbox, now)?);
        }
        for result in self.results.iter().filter(|r| r.status != ResultStatus::Placed) {
            let key = result.rule.clone().unwrap_or_else(|| format!("{:?}", result.step).to_lowercase());
            *self.refusals.entry(key).or_default() += 1;
        }
        self.bridge.broker().advance(now + 30_000);
        self.events.extend(self.bridge.pump()?);
        self.events.extend(self.bridge.expire_due(now)?);
        for event in &self.events {
            match event {
                Event::Expired { .. } => self.expired += 1,
                Event::LateFill { .. } => self.late_fills += 1,
                _ => {}
            }
        }
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        let utilisation = book.view().utilisation().unwrap_or(0.0);
        self.peak = self.peak.max(utilisation);
        let committed = |slot| book.strategy(slot).map_or(0.0, |s| s.committed().to_f64());
        self.series.push(chart::Point { minute, utilisation, committed: [committed(2), committed(3)] });
        if book.penalty().is_active() != self.penalty_was {
            self.penalty_switches += 1;
            self.penalty_was = book.penalty().is_active();
        }
        Ok(())
    }

    /// Waits for the strategy processes to end (after their last minute), then stops the NATS
    /// front, nats-server and the second host.
    fn end_strategies(&mut self) -> Result<(), Box<dyn Error>> {
        for port in std::mem::take(&mut self.ports) {
            match port {
                Port::Process { mut child, .. } => drop(child.wait()?),
                Port::Remote { port, .. } => port.wait()?,
                Port::Here { .. } => {}
            }
        }
        if let Some((front, server, second)) = self.nats.take() {
            front.stop();
            drop(server);
            drop(second);
        }
        Ok(())
    }

    /// The hour's reconciliation and table row.
    fn hour(&mut self, minute: u64) -> Result<&Hour, Box<dyn Error>> {
        let r = self.bridge.reconcile(BOOK, Mismatch::Hold)?;
        self.events.extend(r.events);
        if !r.mismatches.is_empty() {
            return Err(
                format!("minute {minute}: positions differ from the vault: {:?}", r.mismatches).into()
            );
        }
        self.reconciles += 1;
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        let committed = |slot| book.strategy(slot).map_or(0.0, |s| s.committed().to_f64());
        self.hours.push(Hour {
            minute,
            prices: [self.paths[0][minute as usize], self.paths[1][minute as usize]],
            utilisation: book.view().utilisation().unwrap_or(0.0),
            penalty: book.penalty().is_active(),
            committed: [committed(2), committed(3)],
            trades: self.replies.iter().map(|r| r.trades).sum(),
            refusals: self.refusals.values().sum(),
            alpha: [self.replies[0].alpha_total, self.replies[1].alpha_total],
        });
        Ok(self.hours.last().ok_or("no hour")?)
    }

    /// The close: buys still working are cancelled (a sell holds nothing in the vault and stays
    /// at the broker), the strategies hear the last events, then
    /// the exact check against the broker: each strategy's used is its position's cost, the pool
    /// is the broker's available cash, nothing is frozen, and the capital grew by exactly the
    /// alpha recorded.
    fn close(&mut self, minutes: u64) -> Result<(bool, Amount), Box<dyn Error>> {
        let working: Vec<ClientOrderId> = self
            .bridge
            .snapshot()
            .orders()
            .filter(|o| o.frozen().is_positive())
            .map(capvault::Order::id)
            .collect();
        for id in working {
            self.bridge.broker().cancel(id);
        }
        self.events.extend(self.bridge.pump()?);
        self.strategies(minutes, true)?;
        let r = self.bridge.reconcile(BOOK, Mismatch::Hold)?;
        let account = self.bridge.broker().account();
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        let alpha =
            self.replies.iter().try_fold(Amount::ZERO, |a, r| a.checked_add(r.alpha_total)).ok_or("alpha")?;
        let recorded = book
            .strategies()
            .try_fold(Amount::ZERO, |a, (_, s)| a.checked_add(s.acc_alpha()))
            .ok_or("alpha")?;
        let exact = r.mismatches.is_empty()
            && book.pool() == account.available
            && book.view().frozen.is_zero()
            && recorded == alpha
            && book.total().checked_sub(Amount::from_units(300_000).ok_or("cash")?) == Some(alpha);
        Ok((exact, account.cash))
    }
}

fn print_hour(hour: &Hour) {
    let day_minute = hour.minute % MINUTES_PER_DAY + 1;
    // 240 minutes a day, 9:30-11:30 and 13:00-15:00.
    let clock = if day_minute <= 120 { 570 + day_minute } else { 780 + day_minute - 120 };
    println!(
        "{:>3} {:02}:{:02} {:>7.3} {:>7.3} {:>5.1}% {:>3} {:>9.0} {:>9.0} {:>6} {:>5} {:>10} {:>10}",
        hour.minute / MINUTES_PER_DAY + 1,
        clock / 60,
        clock % 60,
        hour.prices[0],
        hour.prices[1],
        hour.utilisation * 100.0,
        if hour.penalty { "on" } else { "-" },
        hour.committed[0],
        hour.committed[1],
        hour.trades,
        hour.refusals,
        hour.alpha[0].to_string(),
        hour.alpha[1].to_string(),
    );
}

/// The summary lines, and last one JSON line of the same figures.
fn print_summary(
    s: &Session,
    args: &Args,
    exact: bool,
    cash: Amount,
    latency: &capvault::LatencySummary,
    files: &[&Path],
) {
    let count = |of: fn(&Reply) -> u64| s.replies.iter().map(of).sum::<u64>();
    let (trades, buys, sells) = (count(|r| r.trades), count(|r| r.buys), count(|r| r.sells));
    let forced = count(|r| r.forced_sells);
    println!();
    println!(
        "trades {trades} (buys {buys}, sells {sells}, {forced} sell signals forced by the loss stop); refusals {:?}; \
         penalty switches {}; peak utilisation {:.1}%",
        s.refusals,
        s.penalty_switches,
        s.peak * 100.0
    );
    println!(
        "alpha 159201 {} · 512890 {}; expired {}, late fills {}; {} hourly reconciliations; strategies in {}",
        s.replies[0].alpha_total,
        s.replies[1].alpha_total,
        s.expired,
        s.late_fills,
        s.reconciles,
        if args.netns {
            "their own processes on a second host (a network namespace), over NATS"
        } else if args.remote {
            "their own processes, over NATS"
        } else if args.processes {
            "their own processes"
        } else {
            "this process"
        }
    );
    println!(
        "vault round trip p50 {} ns, p99 {} ns, p99.9 {} ns ({} commands)",
        latency.p50, latency.p99, latency.p999, latency.count
    );
    println!(
        "reconciled exactly with the broker's cash {cash} and positions: {}",
        if exact { "yes" } else { "NO" }
    );
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    println!("files: {}", files.join(", "));
    let summary = serde_json::json!({
        "seed": args.seed,
        "days": args.days,
        "processes": args.processes,
        "remote": args.remote,
        "netns": args.netns,
        "trades": trades,
        "buys": buys,
        "sells": sells,
        "forced_sells": forced,
        "refusals": s.refusals,
        "penalty_switches": s.penalty_switches,
        "peak_utilisation": (s.peak * 10_000.0).round() / 10_000.0,
        "alpha": { "159201": s.replies[0].alpha_total.to_string(), "512890": s.replies[1].alpha_total.to_string() },
        "expired": s.expired,
        "reconciled": exact,
        "latency_ns": { "p50": latency.p50, "p99": latency.p99, "p999": latency.p999 },
    });
    println!("{summary}");
}

/// The strategies' ports: here, or each a child process of this program.
fn ports(
    args: &Args,
    paths: &[Vec<f64>; 2],
    shm: &Path,
    signals: &[PathBuf],
    nats: Option<(&remote::Server, Option<&str>)>,
) -> Result<Vec<Port>, Box<dyn Error>> {
    let mut ports = Vec::new();
    for (index, label) in LABELS.iter().enumerate() {
        if let Some((server, netns)) = nats {
            let port = remote::Port::spawn(label, args.seed, args.days, server, netns)?;
            ports.push(Port::Remote { port: Box::new(port), signals: signals[index].clone() });
        } else if args.processes {
            let mut child = Process::new(std::env::current_exe()?)
                .args([
                    "--strategy",
                    label,
                    "--seed",
                    &args.seed.to_string(),
                    "--days",
                    &args.days.to_string(),
                ])
                .arg("--shm")
                .arg(shm)
                .arg("--out")
                .arg(&signals[index])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let to = child.stdin.take().ok_or("stdin")?;
            let from = BufReader::new(child.stdout.take().ok_or("stdout")?);
            ports.push(Port::Process { child, to, from });
        } else {
            let grid = Grid::for_label(label, paths[index][0]).ok_or("strategy")?;
            ports.push(Port::Here {
                grid: Box::new(grid),
                path: paths[index].clone(),
                signals: signals[index].clone(),
            });
        }
    }
    Ok(ports)
}

/// The vault (journalled, both mirrors, latency recorded), the broker, the bridge and the two
/// strategies on their price paths; the reader and the files `[json, shm, results]`.
fn open(args: &Args) -> Result<(Session, capvault::Reader, [PathBuf; 3]), Box<dyn Error>> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join("vault");
    let _ = std::fs::remove_dir_all(&data);
    let signals: Vec<PathBuf> =
        LABELS.iter().map(|l| args.out.join(format!("order_signal_{l}.json"))).collect();
    for file in signals.iter().chain([&args.out.join("order_result.jsonl")]) {
        let _ = std::fs::remove_file(file);
        let _ = std::fs::remove_file(file.with_extension("json.taking"));
    }
    // One name per machine: `capvault inspect dual_grid` finds it while it runs (the registry)
    // and after (the file keeps the last state, marked closed).
    let shm = capvault::shm_path("capvault-dual_grid");
    let json = args.out.join("shared_pool.json");
    let wait = if args.spin {
        WaitStrategy::SpinYield { spin: std::time::Duration::from_micros(50) }
    } else {
        WaitStrategy::default()
    };
    let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?
        .wait(wait)
        .reply_wait(wait)
        .data_dir(&data)
        .durability(Durability::Write)
        .mirror_shm(&shm)
        .mirror_json(&json)
        .record_latency(true)
        .name("dual_grid")
        .spawn()?;
    let reader = handle.reader();
    let nats = if args.remote {
        let second = if args.netns { Some(remote::SecondHost::create()?) } else { None };
        let host = second.as_ref().map_or("127.0.0.1", |s| s.here.as_str());
        let server = remote::start_server(&args.out, host)?;
        Some((remote::front(&server, &handle)?, server, second))
    } else {
        None
    };
    let paths = strategy::price_paths(args.seed, args.days * MINUTES_PER_DAY);
    let broker =
        SimBroker::new(args.seed, Amount::from_units(300_000).ok_or("cash")?).with_behaviour(400, 20, 250);
    let results = args.out.join("order_result.jsonl");
    let config = BridgeConfig { results: results.clone(), expiry_ms: Some(20 * 60_000), sync: false };
    let session = Session {
        bridge: Bridge::new(handle, broker, config, 0)?,
        ports: ports(
            args,
            &paths,
            &shm,
            &signals,
            nats.as_ref().map(|(_, server, second)| (server, second.as_ref().map(|s| s.name.as_str()))),
        )?,
        inboxes: signals.iter().map(|path| Inbox::new(path, 3)).collect(),
        paths,
        results: Vec::new(),
        events: Vec::new(),
        replies: [Reply::default(), Reply::default()],
        refusals: BTreeMap::new(),
        penalty_switches: 0,
        penalty_was: false,
        peak: 0.0,
        hours: Vec::new(),
        series: Vec::new(),
        expired: 0,
        late_fills: 0,
        reconciles: 0,
        nats,
    };
    Ok((session, reader, [json, shm, results]))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    if let (Some(label), Some(shm)) = (&args.strategy, &args.shm) {
        return strategy::child(label, args.seed, args.days, shm, &args.out);
    }
    if let (Some(label), Some(url)) = (&args.strategy, &args.nats) {
        return remote::child(label, args.seed, args.days, url);
    }
    let (mut session, reader, [json, shm, results]) = open(&args)?;
    // SIGTERM, SIGINT or SIGHUP end the session early, through the same close as its end: the
    // vault shuts down cleanly and its mirror reads `closed`.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let minutes = args.days * MINUTES_PER_DAY;
    println!(
        "the vault, while this runs: capvault list · capvault inspect dual_grid · capvault watch dual_grid \
         (cargo run --release --bin capvault -- inspect dual_grid)"
    );
    if !args.quiet {
        println!(
            "{:>9} {:>7} {:>7} {:>6} {:>3} {:>9} {:>9} {:>6} {:>5} {:>10} {:>10}",
            "day hh:mm",
            "159201",
            "512890",
            "util",
            "pen",
            "c.159201",
            "c.512890",
            "trades",
            "refus",
            "a.159201",
            "a.512890"
        );
    }
    let mut ran = minutes;
    for minute in 0..minutes {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            println!("stopped by a signal after {minute} minutes");
            ran = minute;
            break;
        }
        session.minute(minute)?;
        if minute % 60 == 59 {
            let hour = session.hour(minute)?;
            if !args.quiet {
                print_hour(hour);
            }
        }
    }
    let (exact, cash) = session.close(ran)?;
    let latency = reader.latency().summary(Metric::RoundTrip);
    let chart = args.out.join("dual_grid.svg");
    let fills = [session.replies[0].fills.clone(), session.replies[1].fills.clone()];
    chart::draw(&chart, &session.paths, &fills, &session.series)?;
    // Before the summary: its JSON line stays the last line (scripts and CI read it).
    println!(
        "the vault's last state, after this run too: capvault inspect dual_grid (reads {})",
        shm.display()
    );
    print_summary(&session, &args, exact, cash, &latency, &[&json, &shm, &results, &chart]);
    session.end_strategies()?;
    let (handle, _) = session.bridge.into_parts();
    handle.shutdown()?;
    if !exact {
        return Err("the vault does not reconcile with the broker".into());
    }
    Ok(())
}
