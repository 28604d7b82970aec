//! Seed 000's whole system on a simulated session: two ETF grid strategies, 159201 and 512890,
//! share one 300,000 CNY account through the vault. Each minute they read the pool view (the
//! 1.5x step penalty above 90%, off below 85%), apply their grid (section 4: ATR factor 0.38 and
//! 0.32, step floor 0.12% and 0.10%, 9 equal layers, a cooling-off for 159201 only) and write
//! `order_signal.json`; the executor bridge consumes it (idempotency, validation, funds, the vault,
//! the simulated broker with latency, partial fills and rejects); the loss stop at 15,000 forces
//! a reduce; every hour the vault is reconciled with the broker's cash and positions.
//!
//! Prints an hourly table and a summary, writes `shared_pool.json`, the shm mirror, the order
//! results and `dual_grid.svg` under `--out`, and ends with one JSON line of the summary. Every
//! figure but the latency percentiles is fixed by `--seed` and `--days`.
//!
//! Run: `cargo run --release --example dual_grid -- --seed 7 --days 5`

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use capvault::bridge::{
    write_signals, Bridge, BridgeConfig, Broker, Event, Inbox, OrderResult, ResultStatus, Signal, SimBroker,
};
use capvault::{Amount, BookId, Builder, ClientOrderId, Command, Durability, LedgerConfig, Metric, Side};
use clap::Parser;

/// Seed 000's account: 300,000 CNY, 159201 and 512890 capped at 200,000 each with a 15,000
/// loss limit, the 15% reserve and the 90%/85% penalty.
const CONFIG: &str = include_str!("seed_000.json");
const BOOK: BookId = BookId::new(0);
const MINUTES_PER_DAY: u64 = 240;
const LAYERS: usize = 9;

/// The session's options.
#[derive(Parser, Debug)]
#[command(about = "Seed 000's dual-grid session on a simulated market")]
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
}

/// `SplitMix64` with a normal draw (Box-Muller): deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// Two mean-reverting one-minute paths whose anchors move each day by a shock both share
/// (correlation ~0.8), so that in a falling stretch both grids fill their layers together and
/// press on the pool. Prices are rounded to the 0.001 tick.
fn price_paths(rng: &mut Rng, minutes: u64) -> [Vec<f64>; 2] {
    let starts = [1.153_f64, 1.020];
    let vols = [0.0009, 0.0007];
    let mut log_p = starts.map(f64::ln);
    let mut anchor = log_p;
    let mut out = [Vec::with_capacity(minutes as usize), Vec::with_capacity(minutes as usize)];
    for minute in 0..minutes {
        if minute % 60 == 0 {
            let common = rng.normal();
            for a in &mut anchor {
                *a += 0.006 * (0.8 * common + 0.6 * rng.normal());
            }
        }
        for i in 0..2 {
            log_p[i] += 0.03 * (anchor[i] - log_p[i]) + vols[i] * rng.normal();
            out[i].push((log_p[i].exp() * 1000.0).round() / 1000.0);
        }
    }
    out
}

/// One layer held: its buy order and what it cost.
#[derive(Clone, Debug)]
struct Layer {
    buy: String,
    price: f64,
    shares: u64,
    cost: Amount,
    filled: bool,
}

/// A grid strategy node (seed 000 section 4).
struct Grid {
    label: &'static str,
    code: &'static str,
    slot: u8,
    factor: f64,
    floor: f64,
    cooling_minutes: u64,
    layers: Vec<Layer>,
    anchor: f64,
    last_buy: Option<u64>,
    pending: Option<String>,
    /// The sell working: its signal id, the buy it closes, its limit price.
    selling: Option<(String, String, Amount)>,
    next_id: u64,
    alpha: Amount,
    trades: u64,
    buys: u64,
    sells: u64,
    fills: Vec<(u64, f64, Side)>,
}

impl Grid {
    fn new(
        label: &'static str,
        code: &'static str,
        slot: u8,
        factor: f64,
        floor: f64,
        cooling: u64,
        start: f64,
    ) -> Grid {
        Grid {
            label,
            code,
            slot,
            factor,
            floor,
            cooling_minutes: cooling,
            layers: Vec::new(),
            anchor: start,
            last_buy: None,
            pending: None,
            selling: None,
            next_id: 0,
            alpha: Amount::ZERO,
            trades: 0,
            buys: 0,
            sells: 0,
            fills: Vec::new(),
        }
    }

    /// The grid step as a fraction of the price: `max(factor x ATR / price, floor)`, with a
    /// 30-minute ATR over the last four hours; x1.5 for buys while the penalty is on.
    fn step(&self, path: &[f64], minute: usize, price: f64) -> f64 {
        let from = minute.saturating_sub(240);
        let moves: Vec<f64> = (from.max(30)..=minute).map(|m| (path[m] - path[m - 30]).abs()).collect();
        let atr = if moves.is_empty() { 0.0 } else { moves.iter().sum::<f64>() / moves.len() as f64 };
        (self.factor * atr / price).max(self.floor)
    }

    fn signal(
        &mut self,
        minute: u64,
        direction: Side,
        price: f64,
        shares: u64,
        layer: u32,
        release: Vec<String>,
    ) -> Signal {
        self.next_id += 1;
        Signal {
            signal_id: format!("sig-{}-{minute:06}-{}", self.label, self.next_id),
            client_order_id: None,
            code: self.code.into(),
            direction,
            price: Amount::from_f64_rounded(price, 3).unwrap_or(Amount::ZERO),
            shares,
            amount: None,
            layer_index: layer,
            release_client_order_ids: release,
        }
    }

    /// The floating loss of the layers held at `price`.
    fn float_loss(&self, price: f64) -> Amount {
        let value = self.layers.iter().filter(|l| l.filled).map(|l| l.shares as f64 * price).sum::<f64>();
        let cost = self.layers.iter().filter(|l| l.filled).map(|l| l.cost.to_f64()).sum::<f64>();
        Amount::from_f64_rounded((cost - value).max(0.0), 2).unwrap_or(Amount::ZERO)
    }

    /// This minute's signal, if any: a sell of the top layer above its step, a forced sell of the
    /// oldest layer while in forced-reduce, or a buy below the anchor by the (penalised) step.
    fn decide(&mut self, minute: u64, path: &[f64], penalty: bool, forced: bool) -> Option<Signal> {
        if self.pending.is_some() {
            return None;
        }
        let price = path[minute as usize];
        let step = self.step(path, minute as usize, price);
        // One sell works at a time; buys go on below it.
        let selling = self.selling.is_some();
        if forced {
            if let Some(index) = self.layers.iter().position(|l| l.filled).filter(|_| !selling) {
                return Some(self.sell(minute, index, price));
            }
            return None;
        }
        if let Some(index) = self.layers.iter().rposition(|l| l.filled).filter(|_| !selling) {
            if price >= self.layers[index].price * (1.0 + step) {
                return Some(self.sell(minute, index, price));
            }
        }
        let buy_step = if penalty { step * 1.5 } else { step };
        let cooled = self.last_buy.is_none_or(|at| minute >= at + self.cooling_minutes);
        if self.layers.len() < LAYERS && cooled && price <= self.anchor * (1.0 - buy_step) {
            let budget = 200_000.0 / LAYERS as f64;
            let shares = ((budget / price) / 100.0).floor() as u64 * 100;
            let layer = self.layers.len() as u32;
            let signal = self.signal(minute, Side::Buy, price, shares, layer, Vec::new());
            self.pending = Some(signal.signal_id.clone());
            self.layers.push(Layer {
                buy: signal.signal_id.clone(),
                price,
                shares,
                cost: Amount::ZERO,
                filled: false,
            });
            self.last_buy = Some(minute);
            return Some(signal);
        }
        if self.layers.is_empty() && price > self.anchor {
            // Nothing held: the anchor follows the price up.
            self.anchor = price;
        }
        None
    }

    fn sell(&mut self, minute: u64, index: usize, price: f64) -> Signal {
        let layer = &self.layers[index];
        let (buy, shares) = (layer.buy.clone(), layer.shares);
        let signal = self.signal(minute, Side::Sell, price, shares, index as u32, vec![buy.clone()]);
        self.selling = Some((signal.signal_id.clone(), buy, signal.price));
        signal
    }
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

/// The session: the strategies, the executor bridge over the vault and the simulated broker, and
/// what the summary reports.
struct Session {
    bridge: Bridge<SimBroker>,
    grids: [Grid; 2],
    paths: [Vec<f64>; 2],
    inbox: Inbox,
    signal_path: PathBuf,
    refusals: BTreeMap<String, u64>,
    penalty_switches: u64,
    penalty_was: bool,
    peak: f64,
    hours: Vec<Hour>,
    expired: u64,
    late_fills: u64,
    reconciles: u64,
}

impl Session {
    /// One simulated minute: prices, the strategies' signals, the executor, the broker.
    fn minute(&mut self, minute: u64) -> Result<(), Box<dyn Error>> {
        let now = minute * 60_000;
        for (grid, path) in self.grids.iter().zip(&self.paths) {
            self.bridge.broker().set_price(grid.code, Amount::from_f64_rounded(path[minute as usize], 3)?);
        }
        // The strategies read the pool view and write their signals.
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        let penalty = book.penalty().is_active();
        let forced = self
            .grids
            .each_ref()
            .map(|g| book.strategy(g.slot).is_some_and(capvault::Strategy::is_forced_reduce));
        drop(snapshot);
        let mut signals = Vec::new();
        for (index, grid) in self.grids.iter_mut().enumerate() {
            signals.extend(grid.decide(minute, &self.paths[index], penalty, forced[index]));
        }
        if !signals.is_empty() {
            write_signals(&self.signal_path, &signals)?;
        }
        // The executor consumes them; the broker works; reports come back.
        for result in self.bridge.poll(&mut self.inbox, now)? {
            on_result(&mut self.grids, &result, &mut self.refusals);
        }
        self.bridge.broker().advance(now + 30_000);
        let mut events = self.bridge.pump()?;
        events.extend(self.bridge.expire_due(now)?);
        for event in events {
            match event {
                Event::Expired { .. } => self.expired += 1,
                Event::LateFill { .. } => self.late_fills += 1,
                _ => {}
            }
            on_event(&mut self.grids, &event, minute, &mut self.bridge)?;
        }
        // Loss marks every 15 minutes (seed 000 section 5.3).
        if minute % 15 == 14 {
            for (index, grid) in self.grids.iter().enumerate() {
                let loss = grid.float_loss(self.paths[index][minute as usize]);
                self.bridge.handle().submit(Command::MarkLoss { book: BOOK, slot: grid.slot, loss })?;
            }
        }
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        self.peak = self.peak.max(book.view().utilisation().unwrap_or(0.0));
        if book.penalty().is_active() != self.penalty_was {
            self.penalty_switches += 1;
            self.penalty_was = book.penalty().is_active();
        }
        Ok(())
    }

    /// The hour's reconciliation and table row.
    fn hour(&mut self, minute: u64) -> Result<&Hour, Box<dyn Error>> {
        let account = self.bridge.broker().account();
        let r = self.bridge.reconcile(BOOK, &account)?;
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
            trades: self.grids.iter().map(|g| g.trades).sum(),
            refusals: self.refusals.values().sum(),
            alpha: [self.grids[0].alpha, self.grids[1].alpha],
        });
        Ok(self.hours.last().ok_or("no hour")?)
    }

    /// The close: orders still working are cancelled, then the exact check against the broker:
    /// each strategy's used is its position's cost, the pool is the broker's available cash,
    /// nothing is frozen, and the capital grew by exactly the alpha recorded.
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
        for event in self.bridge.pump()? {
            on_event(&mut self.grids, &event, minutes, &mut self.bridge)?;
        }
        let account = self.bridge.broker().account();
        let r = self.bridge.reconcile(BOOK, &account)?;
        let snapshot = self.bridge.snapshot();
        let book = snapshot.book(BOOK).ok_or("no book")?;
        let alpha = self.grids.iter().try_fold(Amount::ZERO, |a, g| a.checked_add(g.alpha)).ok_or("alpha")?;
        let exact = r.mismatches.is_empty()
            && book.pool() == account.available
            && book.view().frozen.is_zero()
            && book.total().checked_sub(Amount::from_units(300_000).ok_or("cash")?) == Some(alpha);
        Ok((exact, account.cash))
    }

    fn count(&self, of: impl Fn(&Grid) -> u64) -> u64 {
        self.grids.iter().map(of).sum()
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
    let (trades, buys, sells) = (s.count(|g| g.trades), s.count(|g| g.buys), s.count(|g| g.sells));
    println!();
    println!(
        "trades {trades} (buys {buys}, sells {sells}); refusals {:?}; penalty switches {}; peak utilisation {:.1}%",
        s.refusals,
        s.penalty_switches,
        s.peak * 100.0
    );
    println!(
        "alpha 159201 {} · 512890 {}; expired {}, late fills {}; {} hourly reconciliations",
        s.grids[0].alpha, s.grids[1].alpha, s.expired, s.late_fills, s.reconciles
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
        "trades": trades,
        "buys": buys,
        "sells": sells,
        "refusals": s.refusals,
        "penalty_switches": s.penalty_switches,
        "peak_utilisation": (s.peak * 10_000.0).round() / 10_000.0,
        "alpha": { "159201": s.grids[0].alpha.to_string(), "512890": s.grids[1].alpha.to_string() },
        "expired": s.expired,
        "reconciled": exact,
        "latency_ns": { "p50": latency.p50, "p99": latency.p99, "p999": latency.p999 },
    });
    println!("{summary}");
}

/// The vault (journalled, both mirrors, latency recorded), the broker, the bridge and the two
/// strategies on their price paths; the reader and the files `[json, shm, results]`.
fn open(args: &Args) -> Result<(Session, capvault::Reader, [PathBuf; 3]), Box<dyn Error>> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join("vault");
    let _ = std::fs::remove_dir_all(&data);
    for file in ["order_result.jsonl", "order_signal.json", "order_signal.json.taking"] {
        let _ = std::fs::remove_file(args.out.join(file));
    }
    let shm = capvault::shm_path(&format!("capvault-dual-grid-{}", std::process::id()));
    let json = args.out.join("shared_pool.json");
    let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG)?)?
        .data_dir(&data)
        .durability(Durability::Write)
        .mirror_shm(&shm)
        .mirror_json(&json)
        .record_latency(true)
        .spawn()?;
    let reader = handle.reader();

    let minutes = args.days * MINUTES_PER_DAY;
    let paths = price_paths(&mut Rng(args.seed), minutes);
    let grids = [
        Grid::new("159201", "159201.SZ", 2, 0.38, 0.0012, 5, paths[0][0]),
        Grid::new("512890", "512890.SH", 3, 0.32, 0.0010, 0, paths[1][0]),
    ];
    let broker =
        SimBroker::new(args.seed, Amount::from_units(300_000).ok_or("cash")?).with_behaviour(400, 20, 250);
    let results = args.out.join("order_result.jsonl");
    let config = BridgeConfig { results: results.clone(), expiry_ms: Some(20 * 60_000), sync: false };
    let signal_path = args.out.join("order_signal.json");
    let session = Session {
        bridge: Bridge::new(handle, broker, config, 0)?,
        grids,
        paths,
        inbox: Inbox::new(&signal_path, 3),
        signal_path,
        refusals: BTreeMap::new(),
        penalty_switches: 0,
        penalty_was: false,
        peak: 0.0,
        hours: Vec::new(),
        expired: 0,
        late_fills: 0,
        reconciles: 0,
    };
    Ok((session, reader, [json, shm, results]))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let (mut session, reader, [json, shm, results]) = open(&args)?;
    let minutes = args.days * MINUTES_PER_DAY;
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
    for minute in 0..minutes {
        session.minute(minute)?;
        if minute % 60 == 59 {
            let hour = session.hour(minute)?;
            if !args.quiet {
                print_hour(hour);
            }
        }
    }
    let (exact, cash) = session.close(minutes)?;
    let latency = reader.latency().summary(Metric::RoundTrip);
    let chart = args.out.join("dual_grid.svg");
    draw(&chart, &session.paths, &session.grids, &session.hours)?;

    print_summary(&session, &args, exact, cash, &latency, &[&json, &shm, &results, &chart]);
    let (handle, _) = session.bridge.into_parts();
    handle.shutdown()?;
    let _ = std::fs::remove_file(&shm);
    if !exact {
        return Err("the vault does not reconcile with the broker".into());
    }
    Ok(())
}

/// A signal's result, back to its strategy.
fn on_result(grids: &mut [Grid; 2], result: &OrderResult, refusals: &mut BTreeMap<String, u64>) {
    let Some(grid) = grids.iter_mut().find(|g| result.signal.as_ref().is_some_and(|s| s.code == g.code))
    else {
        return;
    };
    if result.status == ResultStatus::Placed {
        return;
    }
    let key = result.rule.clone().unwrap_or_else(|| format!("{:?}", result.step).to_lowercase());
    *refusals.entry(key).or_default() += 1;
    if grid.pending.as_deref() == Some(&result.signal_id) {
        // A refused level is skipped: the next buy waits for a further step down.
        if let Some(layer) = grid.layers.iter().find(|l| l.buy == result.signal_id) {
            grid.anchor = layer.price;
        }
        grid.pending = None;
        grid.layers.retain(|l| l.buy != result.signal_id);
    }
    if grid.selling.as_ref().is_some_and(|(id, ..)| *id == result.signal_id) {
        grid.selling = None;
    }
}

/// A broker report's effect, back to its strategy.
fn on_event(
    grids: &mut [Grid; 2],
    event: &Event,
    minute: u64,
    bridge: &mut Bridge<SimBroker>,
) -> Result<(), Box<dyn Error>> {
    let id_of = |text: &str| ClientOrderId::from_text(text);
    for grid in grids.iter_mut() {
        match *event {
            Event::Filled { id, value } => {
                if let Some(layer) = grid.layers.iter_mut().find(|l| id_of(&l.buy) == id) {
                    layer.cost = value;
                    let order = bridge.snapshot().order(id).copied();
                    if order.is_some_and(|o| o.frozen().is_zero()) && !layer.filled {
                        layer.filled = true;
                        grid.pending = None;
                        grid.anchor = layer.price;
                        grid.trades += 1;
                        grid.buys += 1;
                        grid.fills.push((minute, layer.price, Side::Buy));
                    }
                }
            }
            Event::Returned { id, .. } => {
                if let Some(index) = grid.layers.iter().position(|l| id_of(&l.buy) == id) {
                    let layer = &mut grid.layers[index];
                    if layer.cost.is_zero() {
                        // Rejected or expired with nothing filled: the layer never existed.
                        grid.layers.remove(index);
                        grid.pending = None;
                        grid.last_buy = None;
                    } else if !layer.filled {
                        layer.filled = true;
                        grid.pending = None;
                        grid.trades += 1;
                        grid.buys += 1;
                        grid.fills.push((minute, layer.price, Side::Buy));
                    }
                }
            }
            Event::Expired { id, .. } => {
                if let Some(index) = grid.layers.iter().position(|l| id_of(&l.buy) == id && l.cost.is_zero())
                {
                    grid.layers.remove(index);
                    grid.pending = None;
                }
            }
            Event::Released { sell, amount } => {
                let Some((text, buy, price)) = grid.selling.clone() else { continue };
                if id_of(&text) != sell {
                    continue;
                }
                let index = grid.layers.iter().position(|l| l.buy == buy).ok_or("the sold layer")?;
                let layer = grid.layers.remove(index);
                // The simulated broker fills a sell at its limit: the proceeds less what the
                // layer cost (what the vault released) is the trade's alpha.
                let proceeds = price.checked_mul_int(layer.shares as i64).ok_or("proceeds")?;
                let pnl = proceeds.checked_sub(amount).ok_or("pnl")?;
                let signal_price = price.to_f64();
                if !pnl.is_zero() {
                    bridge.handle().submit(Command::RecordAlpha {
                        book: BOOK,
                        slot: grid.slot,
                        amount: pnl,
                    })?;
                }
                grid.alpha = grid.alpha.checked_add(pnl).ok_or("alpha")?;
                grid.selling = None;
                grid.anchor = signal_price;
                grid.trades += 1;
                grid.sells += 1;
                grid.fills.push((minute, signal_price, Side::Sell));
            }
            _ => {}
        }
    }
    Ok(())
}

fn draw(path: &Path, paths: &[Vec<f64>; 2], grids: &[Grid; 2], hours: &[Hour]) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((4, 1));
    let minutes = paths[0].len() as f64;
    for (index, grid) in grids.iter().enumerate() {
        let (lo, hi) = paths[index].iter().fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
        let mut chart = ChartBuilder::on(&panels[index])
            .caption(format!("{} price, buys (green) and sells (red)", grid.code), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..minutes, (lo * 0.998)..(hi * 1.002))?;
        chart.configure_mesh().x_desc("minute").draw()?;
        chart.draw_series(LineSeries::new(
            paths[index].iter().enumerate().map(|(m, &p)| (m as f64, p)),
            &BLUE,
        ))?;
        chart.draw_series(grid.fills.iter().map(|&(m, p, side)| {
            let color = if side == Side::Buy { GREEN } else { RED };
            Circle::new((m as f64, p), 3, color.filled())
        }))?;
    }
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(
            "pool utilisation (%): penalty band 85-90%, first layers stop at 85% committed",
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..minutes, 0.0..100.0)?;
    chart.configure_mesh().draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 85.0), (minutes, 90.0)],
        RGBColor(255, 200, 120).mix(0.4).filled(),
    )))?;
    chart.draw_series(LineSeries::new([(0.0, 85.0), (minutes, 85.0)], BLACK.stroke_width(1)))?;
    chart.draw_series(LineSeries::new(
        hours.iter().map(|h| (h.minute as f64, h.utilisation * 100.0)),
        &MAGENTA,
    ))?;
    let top = hours.iter().map(|h| h.committed[0].max(h.committed[1])).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&panels[3])
        .caption("committed per strategy (CNY): 159201 blue, 512890 red", ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..minutes, 0.0..top * 1.1)?;
    chart.configure_mesh().draw()?;
    chart.draw_series(LineSeries::new(hours.iter().map(|h| (h.minute as f64, h.committed[0])), &BLUE))?;
    chart.draw_series(LineSeries::new(hours.iter().map(|h| (h.minute as f64, h.committed[1])), &RED))?;
    root.present()?;
    Ok(())
}
